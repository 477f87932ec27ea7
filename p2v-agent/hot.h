/* Hot clone around the passes (hot.c): the tracker and the final step. */
#ifndef P2V_HOT_H
#define P2V_HOT_H

#include "freeze.h"
#include "proto.h"
#include "tracker.h"

struct agent_options;
struct agent_source;

struct agent_hot {
  struct agent_tracker t;
  bool tracking;                /* t runs; otherwise passes compare hashes */
  const char *tracker;          /* "trace" or "none", for the report */
  char why[1024];               /* why not tracking */
  dev_t devs[P2V_MAX_DISKS];
  uint64_t sizes[P2V_MAX_DISKS];
  int ndisks;
  struct agent_freeze z;        /* the filesystems the final step holds */
  bool held;
  double final_start, downtime; /* the last final step, in seconds */
};

/* Before anything reads the disks: the sources must be block devices;
 * start the tracker (unless --tracker=none).  0, or -1 (reported).
 */
int agent_hot_start (struct agent_hot *h, const struct agent_options *o);
/* After the plan: the filesystems on the sources, the checks that the
 * agent writes nothing there, the tracker's self-test.
 */
int agent_hot_prepare (struct agent_hot *h, const struct agent_options *o,
                       struct agent_source *const *src, int n);
/* Hold the filesystems still (--final); end releases them. */
int agent_hot_final_begin (struct agent_hot *h, const struct agent_options *o);
int agent_hot_final_end (struct agent_hot *h, const struct agent_options *o);
void agent_hot_stop (struct agent_hot *h);

#endif
