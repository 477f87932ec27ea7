/* Sources: the disks send reads.  Like nbdcopy's rw_ops, each kind of
 * source is one file behind one small struct of operations: a block
 * device or an image file (source_file.c), an NBD export
 * (source_nbd.c, in NBD=1 builds only), or a disk composed of pieces
 * of others (source_composed.c: a flattened md disk, flatten.c).
 * source.c opens them and reads through the operations: the rest of
 * the agent never asks which kind it has.
 *
 * Included by agent.h; the source_*.c files include it for the ops.
 */
#ifndef P2V_AGENT_SOURCE_H
#define P2V_AGENT_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "map.h"
#include "proto.h"
#include "vector.h"

struct agent_source;

struct agent_source_ops {
  /* All of [off, off+len): 0, or -1 with errno (EIO past the end). */
  int (*pread) (const struct agent_source *s, void *buf, size_t len,
                uint64_t off);
  /* Append to v what of [off, off+len) holds bytes of its own: the
   * rest reads as zeros and need not be read.  0, or -1 (reported).
   */
  int (*extents) (const struct agent_source *s, uint64_t off, uint64_t len,
                  struct agent_extents *v);
  /* Read past the page cache from now on (agent_source_direct); NULL
   * where the kind has no cache of its own to bypass.
   */
  int (*direct) (struct agent_source *s);
  void (*close) (struct agent_source *s);
  /* Why only pread can read it: libparted (by path), libblkid and the
   * maps (through fd) cannot.  NULL when they can.
   */
  const char *opaque;
};

/* A piece of a composed source: its bytes [offset, offset+length) are
 * from's bytes at from_offset.
 */
struct agent_segment {
  uint64_t offset, length;
  const struct agent_source *from;
  uint64_t from_offset;
};
DEFINE_VECTOR_TYPE (agent_segments, struct agent_segment);

struct agent_source {
  const struct agent_source_ops *ops;   /* NULL: not open */
  void *impl;                   /* the kind's own state */
  const char *path;             /* or what it is: "the new partition table" */
  int fd;                       /* for libraries that read the source
                                 * themselves (libblkid, the maps), or -1 */
  uint64_t size;
  uint32_t sector_size;
  bool is_block;
  dev_t rdev;                   /* for a block device */
  char id[256];                 /* serial (udev ID_SERIAL), or "" */
  uint8_t fingerprint[P2V_HASH_LEN];    /* of the first MiB */
};

bool agent_source_is_nbd (const char *path);
/* A block device, an image file or an NBD URI, by path; its
 * fingerprint set.  0, or -1 (reported).
 */
int agent_source_open (struct agent_source *s, const char *path);
/* Read s past the page cache from now on: the disk itself, not pages
 * cached earlier (a disk in use, written through a filesystem's own
 * cache).  Reads that are not sector-aligned, and every read where the
 * device takes no O_DIRECT, drop the cached pages of their range
 * first.  0, or -1 (reported).
 */
int agent_source_direct (struct agent_source *s);
/* Set s->fingerprint from the first MiB (read errors count as zeros). */
int agent_source_fingerprint (struct agent_source *s);
/* All of [off, off+len): 0, or -1 with errno (EIO past the end). */
int agent_source_pread (const struct agent_source *s, void *buf, size_t len,
                        uint64_t off);
/* Append to v what of [off, off+len) has bytes of its own. */
int agent_source_extents (const struct agent_source *s, uint64_t off,
                          uint64_t len, struct agent_extents *v);
/* Why libraries cannot read s themselves, or NULL. */
const char *agent_source_opaque (const struct agent_source *s);
/* Closes what s holds; s may be all zeros (never opened). */
void agent_source_close (struct agent_source *s);

/* The constructors, one per kind (source_*.c).  agent_source_open
 * calls the first two with s zeroed but for path (and fd -1); on
 * failure they report, and s is closed.
 */
int agent_source_open_file (struct agent_source *s);
int agent_source_open_nbd (struct agent_source *s);
/* ops->extents for a kind whose every byte is its own. */
int agent_source_all_extents (const struct agent_source *s, uint64_t off,
                              uint64_t len, struct agent_extents *v);
/* A source over fd, which it now owns (a file in memory: flatten.c's
 * new partition table).  0, or -1 (reported; fd closed).
 */
int agent_source_from_fd (struct agent_source *s, const char *path, int fd,
                          uint64_t size, uint32_t sector_size);
/* A disk of size bytes made of segs (sorted, not overlapping), which it
 * takes (segs is left empty); what no segment covers reads as zeros.
 * 0, or -1 (reported).
 */
int agent_source_compose (struct agent_source *s, const char *path,
                          uint64_t size, uint32_t sector_size,
                          struct agent_segments *segs);

#endif
