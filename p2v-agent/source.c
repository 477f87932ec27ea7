/* Sources: opened by path, then read only through their operations
 * (source.h).  Block devices and image files are source_file.c, NBD
 * exports (libnbd: nbd://HOST[:PORT]/EXPORT, nbd+unix:///EXPORT?
 * socket=PATH) source_nbd.c, composed disks source_composed.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "hash.h"
#include "log.h"

#define FINGERPRINT_BYTES (1 << 20)

bool
agent_source_is_nbd (const char *path)
{
  return strncmp (path, "nbd://", 6) == 0 ||
         strncmp (path, "nbd+unix://", 11) == 0 ||
         strncmp (path, "nbds://", 7) == 0;
}

/* XXH3-128 of the first MiB: a resume must not mix two sources.  A
 * sector that cannot be read counts as zeros here.
 */
int
agent_source_fingerprint (struct agent_source *s)
{
  size_t len = s->size < FINGERPRINT_BYTES ? s->size : FINGERPRINT_BYTES;
  uint8_t *buf = calloc (1, len);

  if (buf == NULL) {
    p2v_error ("out of memory");
    return -1;
  }
  if (agent_source_pread (s, buf, len, 0) == -1)
    for (size_t off = 0; off < len; off += s->sector_size)
      if (agent_source_pread (s, buf + off, s->sector_size, off) == -1)
        memset (buf + off, 0, s->sector_size);
  p2v_hash_chunk (buf, len, s->fingerprint);
  free (buf);
  return 0;
}

#ifdef P2V_NO_NBD
int
agent_source_open_nbd (struct agent_source *s)
{
  p2v_error ("%s: this p2v-agent was built without NBD support", s->path);
  return -1;
}
#endif

int
agent_source_open (struct agent_source *s, const char *path)
{
  memset (s, 0, sizeof *s);
  s->path = path;
  s->fd = -1;
  if ((agent_source_is_nbd (path) ? agent_source_open_nbd (s)
       : agent_source_open_file (s)) == -1)
    goto err;
  if (s->size == 0) {
    p2v_error ("%s: is empty (0 bytes); nothing to convert", path);
    goto err;
  }
  if (s->size % s->sector_size != 0)
    s->sector_size = 512;
  if (agent_source_fingerprint (s) == 0)
    return 0;
 err:
  agent_source_close (s);
  return -1;
}

int
agent_source_direct (struct agent_source *s)
{
  return s->ops->direct ? s->ops->direct (s) : 0;
}

int
agent_source_pread (const struct agent_source *s, void *buf, size_t len,
                    uint64_t off)
{
  return s->ops->pread (s, buf, len, off);
}

int
agent_source_extents (const struct agent_source *s, uint64_t off,
                      uint64_t len, struct agent_extents *v)
{
  return s->ops->extents (s, off, len, v);
}

int
agent_source_all_extents (const struct agent_source *s, uint64_t off,
                          uint64_t len, struct agent_extents *v)
{
  struct agent_region whole = { s->fd, s->path, s->path, off, len, "" };

  return agent_extent_add (v, &whole, off, len);
}

const char *
agent_source_opaque (const struct agent_source *s)
{
  return s->ops->opaque;
}

void
agent_source_close (struct agent_source *s)
{
  if (s->ops)
    s->ops->close (s);
  s->ops = NULL;
  s->impl = NULL;
  s->fd = -1;
}
