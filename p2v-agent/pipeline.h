/* Read, hash and compress one disk's chunks on worker threads; the
 * caller takes them in disk order (pipeline.c).  Private to the agent's
 * sender: pipeline.c and the send*.c files include it.
 */
#ifndef P2V_PIPELINE_H
#define P2V_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "proto.h"
#include "vector.h"

struct agent_source;
struct agent_extents;

DEFINE_VECTOR_TYPE (agent_bad_ranges, struct p2v_read_error);
struct agent_chunk {
  uint64_t offset;
  size_t length;
  bool zero;                    /* all zero: no message built */
  size_t read_bytes;            /* mapped bytes read; the rest is zeros */
  uint8_t hash[P2V_HASH_LEN];
  struct p2v_wbuf msg;          /* the finished CHUNK message */
  struct agent_bad_ranges bad;  /* unreadable ranges, sent as zeros */
};
struct agent_pipeline;
/* Change the level for chunks not yet compressed. */
void agent_pipeline_set_level (struct agent_pipeline *p, int level);
/* Chunks from start (the receiver's committed offset) to the end;
 * after start they follow the chunk_size grid.
 */
struct agent_pipeline *agent_pipeline_start (const struct agent_source *src,
                                             const struct agent_extents *read,
                                             uint32_t disk,
                                             uint32_t chunk_size,
                                             uint64_t start, int level,
                                             int threads);
/* 1 with the next chunk, 0 at the end of the disk, -1 (reported), or
 * AGENT_PIPELINE_SLOW when nothing came for AGENT_PIPELINE_WAIT seconds
 * (call again).
 */
#define AGENT_PIPELINE_SLOW 2
#define AGENT_PIPELINE_WAIT 5
int agent_pipeline_next (struct agent_pipeline *p, struct agent_chunk **c);
void agent_pipeline_release (struct agent_pipeline *p);
void agent_pipeline_stop (struct agent_pipeline *p);

#endif
