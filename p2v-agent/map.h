/* Used-block maps: which bytes of a source hold data.
 *
 * A map is one file (map_ext.c, map_swap.c, ...) with a struct
 * agent_map_ops that registers itself at start-up, so adding a
 * filesystem touches nothing else.  Given a region of the source (a
 * partition, or the whole disk) whose blkid TYPE it handles, a map
 * appends the byte ranges that hold data.  Everything a map leaves out
 * is sent as a hole and never read.  A map that cannot be sure (dirty
 * journal, a bitmap failing its own checks) says so and the whole region
 * is read with zero detection instead: never a map that could drop live
 * data.
 */
#ifndef P2V_AGENT_MAP_H
#define P2V_AGENT_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vector.h"

struct agent_extent {
  uint64_t offset, length;      /* bytes, absolute on the source */
};
DEFINE_VECTOR_TYPE (agent_extents, struct agent_extent);

struct agent_region {
  int fd;                       /* the whole source, read-only */
  const char *path;             /* the source, for libraries that open it */
  const char *name;             /* for messages: "disk.img partition 1" */
  uint64_t offset, length;      /* the region on the source */
  const char *type;             /* blkid TYPE, never NULL */
};

enum agent_map_result {
  AGENT_MAP_ERROR = -1,         /* reported; the conversion stops */
  AGENT_MAP_OK = 0,             /* extents appended */
  AGENT_MAP_FALLBACK = 1,       /* read it all with zero detection; why set */
};

struct agent_map_ops {
  const char *name;             /* "ext4 bitmap", "swap header", ... */
  const char *const *types;     /* blkid TYPEs handled, NULL-terminated */
  enum agent_map_result (*map) (const struct agent_region *r,
                                struct agent_extents *out,
                                char *why, size_t whylen);
};

void agent_map_register (const struct agent_map_ops *ops);
const struct agent_map_ops *agent_map_find (const char *type);

#define AGENT_MAP_REGISTER(ops)                                         \
  static void __attribute__ ((constructor)) register_##ops (void)       \
  {                                                                     \
    agent_map_register (&ops);                                          \
  }

/* What became of one region (agent_map_step). */
enum agent_map_how {
  AGENT_MAPPED,                 /* ops chose the bytes to read */
  AGENT_MAP_NONE,               /* no map for the type: read all (why) */
  AGENT_MAP_SKIPPED,            /* maps not used here: read all (why) */
  AGENT_MAP_DECLINED,           /* ops declined: read all (why) */
};
struct agent_map_outcome {
  enum agent_map_how how;
  const struct agent_map_ops *ops;      /* the map for the type, or NULL */
  char why[256];                /* unless AGENT_MAPPED */
};

/* The one step from a region's content to the bytes to read: the map
 * for r->type (probed by the caller) unless skip says why maps are not
 * used here; where none applies or it declines, the whole region, to
 * be read with zero detection.  Appends what to read to out, moved so
 * that r->offset lands at at (r's place on the disk out describes: a
 * composed disk holds its pieces elsewhere).  0, or -1 (reported).
 */
int agent_map_step (const struct agent_region *r, const char *skip,
                    uint64_t at, struct agent_extents *out,
                    struct agent_map_outcome *o);

/* Append [offset, offset+length) clipped to the region; -1 on ENOMEM. */
int agent_extent_add (struct agent_extents *v, const struct agent_region *r,
                      uint64_t offset, uint64_t length);

/* Sort and merge overlapping or adjacent extents, in place; beyond a
 * fixed count, also the closest ones (bounded memory).
 */
void agent_extents_merge (struct agent_extents *v);

/* Bytes covered by v within [offset, offset+length). */
uint64_t agent_extents_bytes (const struct agent_extents *v, uint64_t offset,
                              uint64_t length);

/* Index of the first extent ending after offset (v sorted, merged). */
size_t agent_extents_find (const struct agent_extents *v, uint64_t offset);

#endif
