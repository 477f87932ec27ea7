/* Sources that are NBD exports, read with libnbd: nbd://HOST[:PORT]/
 * EXPORT, nbds://..., nbd+unix:///EXPORT?socket=PATH.  Built only
 * with NBD=1 (the Makefile leaves this file out otherwise, and
 * source.c refuses NBD URIs).  libblkid, libparted and the maps cannot
 * read an export themselves: it is read whole, with zero detection.
 */
#include <errno.h>
#include <stdio.h>

#include <libnbd.h>

#include "agent.h"
#include "log.h"

static int
nbd_source_pread (const struct agent_source *s, void *buf, size_t len,
                  uint64_t off)
{
  if (nbd_pread (s->impl, buf, len, off, 0) == 0)
    return 0;
  errno = nbd_get_errno () ? nbd_get_errno () : EIO;
  return -1;
}

static void
nbd_source_close (struct agent_source *s)
{
  nbd_close (s->impl);
}

static const struct agent_source_ops nbd_ops = {
  .pread = nbd_source_pread,
  .extents = agent_source_all_extents,
  .close = nbd_source_close,
  .opaque = "NBD source: zero detection only",
};

int
agent_source_open_nbd (struct agent_source *s)
{
  struct nbd_handle *h = nbd_create ();
  int64_t size;

  if (h == NULL || nbd_connect_uri (h, s->path) == -1 ||
      (size = nbd_get_size (h)) == -1) {
    p2v_error ("%s: %s", s->path, nbd_get_error ());
    nbd_close (h);
    return -1;
  }
  s->ops = &nbd_ops;
  s->impl = h;
  s->size = size;
  s->sector_size = 512;
  snprintf (s->id, sizeof s->id, "nbd");
  return 0;
}
