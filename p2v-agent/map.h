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
