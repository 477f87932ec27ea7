/* Composed sources: a disk made of segments of other sources, zeros
 * between them (flatten.c's flattened disks: pieces of the disk, of
 * the arrays, and of the new partition table in memory).  Only pread
 * reads one; the sources it is made of stay open as long as it does.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "log.h"

static int
composed_pread (const struct agent_source *s, void *buf, size_t len,
                uint64_t off)
{
  const struct agent_segments *segs = s->impl;
  uint8_t *b = buf;
  uint64_t end = off + len;

  if (end > s->size) {
    errno = EIO;
    return -1;
  }
  memset (b, 0, len);
  for (size_t i = 0; i < segs->len; ++i) {
    const struct agent_segment *g = &segs->ptr[i];
    uint64_t x = g->offset > off ? g->offset : off;
    uint64_t y = g->offset + g->length < end ? g->offset + g->length : end;

    if (x < y && agent_source_pread (g->from, b + (x - off), y - x,
                                     g->from_offset + (x - g->offset)) == -1)
      return -1;
  }
  return 0;
}

/* Only where a segment has bytes: the rest reads as zeros anyway. */
static int
composed_extents (const struct agent_source *s, uint64_t off, uint64_t len,
                  struct agent_extents *v)
{
  const struct agent_segments *segs = s->impl;
  struct agent_region r = { -1, s->path, s->path, off, len, "" };

  for (size_t i = 0; i < segs->len; ++i)
    if (agent_extent_add (v, &r, segs->ptr[i].offset,
                          segs->ptr[i].length) == -1)
      return -1;
  return 0;
}

static void
composed_close (struct agent_source *s)
{
  struct agent_segments *segs = s->impl;

  if (segs)
    agent_segments_reset (segs);
  free (segs);
}

static const struct agent_source_ops composed_ops = {
  .pread = composed_pread,
  .extents = composed_extents,
  .close = composed_close,
  .opaque = "a composed disk: zero detection only",
};

int
agent_source_compose (struct agent_source *s, const char *path,
                      uint64_t size, uint32_t sector_size,
                      struct agent_segments *segs)
{
  struct agent_segments *mine = malloc (sizeof *mine);

  if (mine == NULL) {
    p2v_error ("out of memory");
    return -1;
  }
  memset (s, 0, sizeof *s);
  *mine = *segs;
  memset (segs, 0, sizeof *segs);
  s->ops = &composed_ops;
  s->impl = mine;
  s->path = path;
  s->fd = -1;
  s->size = size;
  s->sector_size = sector_size;
  return 0;
}
