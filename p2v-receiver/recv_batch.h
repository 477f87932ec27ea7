/* --batch (batch.c): admission by the coordinator, the bandwidth
 * share, progress and the outcome.
 */
#ifndef P2V_RECV_BATCH_H
#define P2V_RECV_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct p2v_inventory;

struct recv_batch;
/* Register the machine and wait for its turn, telling the agent (say)
 * why it waits: the handle, or NULL (reported) with *code for the
 * agent.
 */
struct recv_batch *recv_batch_admit (const char *spool,
                                     const struct p2v_inventory *inv,
                                     int agent_fd,
                                     void (*say) (void *opaque, bool warn,
                                                  const char *msg),
                                     void *opaque, uint32_t *code);
/* The server's conversion name and its receiver options (argv[0] is a
 * program name, for getopt).
 */
const char *recv_batch_name (const struct recv_batch *b);
char **recv_batch_args (const struct recv_batch *b, int *argc);
/* The manifest's disks (source path, its last part, or serial), or
 * none for all.
 */
char *const *recv_batch_disks (const struct recv_batch *b, size_t *n);
/* After each message: progress to the coordinator, its rate changes,
 * and the throttle.  -1 (reported) if the coordinator went away.
 */
int recv_batch_tick (struct recv_batch *b, uint64_t wire, uint64_t received,
                     uint64_t size);
/* The "done ..." line with the outcome; a completion goes to a new
 * coordinator if the old one has gone.
 */
void recv_batch_done (struct recv_batch *b, const char *line, bool complete);
void recv_batch_free (struct recv_batch *b);

#endif
