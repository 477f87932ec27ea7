/* The sender: what agent_send keeps for one run, across reconnects.
 * Private to the send*.c files.  Each concept owns its part and its
 * header: the conversation with the receiver (send_conv.h), what the
 * run did (send_stats.h), hot clone's later passes (send_pass.h);
 * streaming a disk (send_disk.h) keeps no state of its own.
 */
#ifndef P2V_SEND_H
#define P2V_SEND_H

#include <stdint.h>

#include "level.h"
#include "proto.h"
#include "send_conv.h"
#include "send_pass.h"
#include "send_stats.h"

struct agent_options;
struct agent_plan;
struct agent_source;
struct agent_layout;

struct sender {
  const struct agent_options *o;
  struct agent_plan *plan;
  struct agent_source *src[P2V_MAX_DISKS];      /* the plan's targets */
  struct agent_layout *layout[P2V_MAX_DISKS];
  int target[P2V_MAX_DISKS];    /* each one's index in the plan */
  int nsrc;
  struct agent_level level;
  uint64_t high[P2V_MAX_DISKS]; /* highest offset sent, per disk */
  struct send_conv conv;
  struct send_stats stats;
  struct send_hot hot;
};

#endif
