/* What a run did (send_stats.c): the counters the send files keep, the
 * summary at the end and the --stats file.  Private to the send*.c
 * files.
 */
#ifndef P2V_SEND_STATS_H
#define P2V_SEND_STATS_H

#include <stdint.h>

#include "pipeline.h"
#include "vector.h"

struct sender;

DEFINE_VECTOR_TYPE (u64s, uint64_t);

/* Across reconnects. */
struct send_stats {
  unsigned sessions;
  unsigned streams;             /* most connections that carried data */
  uint64_t resent;              /* DATA bytes sent again after a cut */
  struct u64s resends;          /* ... per reconnect */
  struct agent_bad_ranges bad;  /* unreadable ranges found by this run */
  uint32_t earlier_errors;      /* recorded by earlier runs */
  uint64_t source_bytes, data_bytes, zero_bytes, chunks, wire_bytes;
  uint64_t mapped_bytes;        /* what the maps said to read */
  double level_sum;             /* levels of the data chunks, summed */
  uint64_t data_chunks;
  double start;
};

/* mapped_bytes, for the disks s sends. */
void agent_stats_mapped (struct sender *s);
/* The end of a run that returned r (agent_send's value) after secs:
 * the summary, the read errors, the --stats file.
 */
void agent_report_end (const struct sender *s, int r, double secs);
void agent_stats_free (struct send_stats *st);

#endif
