/* Adaptive zstd level (level.c).  Private to the agent's sender:
 * level.c and the send*.c files include it.
 */
#ifndef P2V_LEVEL_H
#define P2V_LEVEL_H

#include <stdbool.h>

struct agent_options;

struct agent_level {
  int cur, min, max;
  bool adaptive;
  double cpus;                  /* CPUs it may use (agent_cpus_available) */
  double start, net_wait, cpu_wait, cpu_start, wait_start;
                                /* the current window */
};
void agent_level_init (struct agent_level *l,
                       const struct agent_options *o);
/* Account seconds blocked on each side; returns the level to use. */
int agent_level_update (struct agent_level *l, double net_wait,
                        double cpu_wait);

#endif
