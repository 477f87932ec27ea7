/* Changed-block tracking for hot clone: a dirty map per source disk,
 * filled from the kernel's block trace events (tracefs).
 */
#ifndef P2V_TRACKER_H
#define P2V_TRACKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* The dirty blocks of one disk: one bit per grain bytes. */
struct agent_dirty {
  uint64_t *bits;
  uint64_t size;                /* the disk's size in bytes */
  uint64_t nbits;
  uint32_t grain;               /* a power of two */
  uint64_t count;               /* bits set */
};

int agent_dirty_init (struct agent_dirty *d, uint64_t size, uint32_t grain);
void agent_dirty_free (struct agent_dirty *d);
/* Mark every grain that [off, off+len) touches (clipped to the disk). */
void agent_dirty_mark (struct agent_dirty *d, uint64_t off, uint64_t len);
/* Everything dirty, as after a lost event. */
void agent_dirty_mark_all (struct agent_dirty *d);
/* The next dirty run at or after from: true with [*off, *off+*len). */
bool agent_dirty_next (const struct agent_dirty *d, uint64_t from,
                       uint64_t *off, uint64_t *len);
/* The bytes the dirty grains cover (the last grain may be short). */
uint64_t agent_dirty_bytes (const struct agent_dirty *d);
/* OR src into dst (same size and grain). */
void agent_dirty_merge (struct agent_dirty *dst, const struct agent_dirty *src);
void agent_dirty_clear (struct agent_dirty *d);

/* One line of a tracefs block event, as trace_pipe prints it:
 *   dd-25649 [001] ..... 51157.154510: block_bio_queue: 7,0 WS 32770 + 384 [dd]
 *   ksoftirqd/1-22 [001] ..s.. 51157.154601: block_rq_complete: 7,0 WS () 32770 + 384 be,0,4 [0]
 */
struct agent_trace_event {
  unsigned major, minor;
  char rwbs[16];                /* R, W, D (discard), F (flush), S (sync)... */
  uint64_t sector, nr;          /* 512-byte units */
};

bool agent_trace_parse (const char *line, struct agent_trace_event *ev);
/* Whether the event may change the disk's contents: anything but a
 * read (or read-ahead) that covers sectors: writes, discards, write
 * zeroes and operations the tracer does not name.
 */
bool agent_trace_changes (const struct agent_trace_event *ev);

/* The tracker: the dirty maps of up to 64 disks, kept by a thread. */
#define AGENT_TRACKER_MAX_DISKS 64
#define AGENT_TRACKER_MAX_DEVS 256      /* disks and their partitions */

struct agent_tracked_dev {
  dev_t dev;
  int disk;                     /* index into dirty */
  uint64_t start;               /* a partition's offset in the disk */
};

struct agent_tracker {
  char dir[128];                /* the trace buffer's directory, "" if none */
  bool global;                  /* the top-level buffer (no instances) */
  char old_size[32];            /* its buffer_size_kb, put back at the end */
  char mounted[64];             /* what the agent mounted for it, or "" */
  char how[384];                /* the above, for the operator */
  char why[512];                /* why starting or syncing failed */
  int pipe_fd;
  pthread_t thread;
  bool running, stopping, failed;
  pthread_mutex_t lock;         /* the maps, the counters below */
  pthread_cond_t cond;
  unsigned long long sync_seq, synced;
  uint64_t events;              /* parsed, all kinds */
  uint64_t injected_loss;       /* tests: counted as lost events */
  struct agent_tracked_dev devs[AGENT_TRACKER_MAX_DEVS];
  size_t ndevs;
  struct agent_dirty dirty[AGENT_TRACKER_MAX_DISKS];
  int ndisks;
};

/* Start tracking writes to the n disks (whole-disk devices, sizes in
 * bytes) at grain bytes.  -1 with t->why set if the kernel cannot.
 */
int agent_tracker_start (struct agent_tracker *t, const dev_t *disks,
                         const uint64_t *sizes, int n, uint32_t grain);
/* Wait until every event recorded so far is in the maps. */
int agent_tracker_sync (struct agent_tracker *t, int timeout_ms);
/* Move disk's dirty map into (OR) into, after a sync. */
int agent_tracker_take (struct agent_tracker *t, int disk,
                        struct agent_dirty *into);
/* Events lost since the start (ring buffer overruns and drops). */
uint64_t agent_tracker_lost (struct agent_tracker *t);
void agent_tracker_stop (struct agent_tracker *t);

#endif
