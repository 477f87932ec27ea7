/* Hot clone's passes after the first (send_pass.c): what changed since
 * the last pass, found by the tracker or by comparing hashes with the
 * receiver, sent again until little is left, then once more with the
 * filesystems held.  Private to the send*.c files; hot.h is what is
 * around the passes (tracker, freeze).
 */
#ifndef P2V_SEND_PASS_H
#define P2V_SEND_PASS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "proto.h"
#include "tracker.h"
#include "vector.h"

struct agent_hot;
struct sender;

/* What a pass of hot clone did. */
struct hot_pass {
  uint32_t pass;
  bool compare, final;          /* hashes compared; the filesystems held */
  uint64_t dirty;               /* bytes to send */
  uint64_t chunks, data_bytes, wire_bytes;
  double seconds;
};
DEFINE_VECTOR_TYPE (hot_passes, struct hot_pass);

struct send_hot {
  struct agent_hot *h;          /* NULL for send */
  struct agent_dirty todo[P2V_MAX_DISKS];       /* to send in a pass */
  uint32_t pass;                /* the last pass begun */
  struct hot_passes passes;     /* one entry per pass */
  bool sent[P2V_MAX_DISKS];     /* pass 1 of the disk sent by this run */
};

/* Before the first session: check the plan, prepare h.  0, or -1
 * (reported).
 */
int agent_pass_setup (struct sender *s, struct agent_hot *h);
/* After pass 1 (every disk sent): the later passes and the final one. */
int agent_pass_run (struct sender *s);
/* The "hot_clone" member of the --stats object. */
void agent_pass_write_stats (const struct sender *s, FILE *fp);
void agent_pass_free (struct sender *s);

#endif
