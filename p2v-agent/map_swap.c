/* Linux swap: only the header page (signature, UUID, label, bad-page
 * list) holds anything worth keeping; the rest becomes a hole.  Not
 * used for "swsuspend" (a hibernation image lives in that swap).
 */
#include <stdio.h>
#include <string.h>

#include "fileio.h"
#include "map.h"

static enum agent_map_result
map_swap (const struct agent_region *r, struct agent_extents *out, char *why,
          size_t whylen)
{
  /* The header is one page; the signature ends it.  Page sizes differ
   * between architectures, so look for the signature.
   */
  static const unsigned pages[] = { 4096, 8192, 16384, 65536 };
  char sig[10];

  for (size_t i = 0; i < sizeof pages / sizeof pages[0]; ++i) {
    if (pages[i] > r->length)
      break;
    if (p2v_pread_full (r->fd, sig, 10, r->offset + pages[i] - 10) == 10 &&
        (memcmp (sig, "SWAPSPACE2", 10) == 0 ||
         memcmp (sig, "SWAP-SPACE", 10) == 0))
      return agent_extent_add (out, r, r->offset, pages[i]) == -1
             ? AGENT_MAP_ERROR : AGENT_MAP_OK;
  }
  snprintf (why, whylen, "no swap signature at a page boundary");
  return AGENT_MAP_FALLBACK;
}

static const char *const swap_types[] = { "swap", NULL };
static const struct agent_map_ops swap_map = {
  .name = "swap header", .types = swap_types, .map = map_swap,
};
AGENT_MAP_REGISTER (swap_map)
