/* Streaming a disk (send_disk.c): its chunks from the pipeline as ZERO
 * extents and DATA frames, between DISK_BEGIN and DISK_END, with the
 * ranges that could not be read.  Private to the send*.c files.
 */
#ifndef P2V_SEND_DISK_H
#define P2V_SEND_DISK_H

#include <stdint.h>

struct agent_chunk;
struct p2v_digest;
struct sender;

/* Pass 1 of disk, from where the receiver's session says it stopped. */
int agent_send_disk (struct sender *s, uint32_t disk);
/* One ZERO extent, one DATA chunk (waiting for room in the window);
 * each added to dg.
 */
int agent_send_zero (struct sender *s, struct p2v_digest *dg, uint32_t disk,
                     uint64_t off, uint64_t len);
int agent_send_data (struct sender *s, struct p2v_digest *dg, uint32_t disk,
                     struct agent_chunk *ch);

#endif
