/* The dirty map and the trace line parser: pure, unit-tested
 * (test-tracker.c); tracker.c feeds them from tracefs.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tracker.h"

int
agent_dirty_init (struct agent_dirty *d, uint64_t size, uint32_t grain)
{
  memset (d, 0, sizeof *d);
  if (grain == 0 || (grain & (grain - 1)) != 0)
    return -1;
  d->size = size;
  d->grain = grain;
  d->nbits = (size + grain - 1) / grain;
  d->bits = calloc ((d->nbits + 63) / 64 + 1, sizeof *d->bits);
  return d->bits ? 0 : -1;
}

void
agent_dirty_free (struct agent_dirty *d)
{
  free (d->bits);
  d->bits = NULL;
}

static bool
test_bit (const struct agent_dirty *d, uint64_t i)
{
  return d->bits[i / 64] >> (i % 64) & 1;
}

void
agent_dirty_mark (struct agent_dirty *d, uint64_t off, uint64_t len)
{
  uint64_t first, last;

  if (len == 0 || off >= d->size)
    return;
  if (len > d->size - off)
    len = d->size - off;
  first = off / d->grain;
  last = (off + len - 1) / d->grain;
  for (uint64_t i = first; i <= last; ++i)
    if (!test_bit (d, i)) {
      d->bits[i / 64] |= 1ULL << (i % 64);
      d->count++;
    }
}

void
agent_dirty_mark_all (struct agent_dirty *d)
{
  agent_dirty_mark (d, 0, d->size);
}

bool
agent_dirty_next (const struct agent_dirty *d, uint64_t from, uint64_t *off,
                  uint64_t *len)
{
  uint64_t i = from / d->grain, j;

  while (i < d->nbits && !test_bit (d, i)) {
    if (i % 64 == 0 && d->bits[i / 64] == 0)
      i += 64;
    else
      i++;
  }
  if (i >= d->nbits)
    return false;
  for (j = i; j < d->nbits && test_bit (d, j); ++j)
    ;
  *off = i * d->grain;
  *len = (j == d->nbits ? d->size : j * d->grain) - *off;
  return true;
}

uint64_t
agent_dirty_bytes (const struct agent_dirty *d)
{
  uint64_t bytes = d->count * d->grain;

  if (d->nbits && test_bit (d, d->nbits - 1))
    bytes -= d->nbits * d->grain - d->size;
  return bytes;
}

void
agent_dirty_merge (struct agent_dirty *dst, const struct agent_dirty *src)
{
  dst->count = 0;
  for (uint64_t w = 0; w < (dst->nbits + 63) / 64; ++w) {
    dst->bits[w] |= src->bits[w];
    dst->count += (uint64_t) __builtin_popcountll (dst->bits[w]);
  }
}

void
agent_dirty_clear (struct agent_dirty *d)
{
  memset (d->bits, 0, ((d->nbits + 63) / 64 + 1) * sizeof *d->bits);
  d->count = 0;
}

bool
agent_trace_parse (const char *line, struct agent_trace_event *ev)
{
  const char *p = strstr (line, ": block_");
  int n = 0;

  if (p == NULL || (p = strchr (p + 2, ':')) == NULL)
    return false;
  if (sscanf (p + 1, " %u,%u %15s %n", &ev->major, &ev->minor, ev->rwbs, &n) != 3)
    return false;
  p += 1 + n;
  if (*p == '(') {              /* block_rq_*: the command, "()" for I/O */
    if ((p = strchr (p, ')')) == NULL)
      return false;
    p++;
  }
  return sscanf (p, " %" SCNu64 " + %" SCNu64, &ev->sector, &ev->nr) == 2;
}

bool
agent_trace_changes (const struct agent_trace_event *ev)
{
  const char *op = ev->rwbs + (ev->rwbs[0] == 'F' && ev->rwbs[1] != '\0');

  return ev->nr > 0 && *op != 'R';
}
