/* Striped sessions (stripes.c, protocol 6). */
#ifndef P2V_RECV_STRIPES_H
#define P2V_RECV_STRIPES_H

#include <stdint.h>

#include "chan.h"
#include "proto.h"

/* The session's side: listen for the agent's further connections, and
 * read the agent's messages from all of them in order from now on.
 * *streams is the most this session takes.  0, or -1 (reported).
 */
int recv_stripes_open (struct p2v_chan *ch, const struct p2v_stripes *req,
                       uint32_t *streams);
/* Close the joined connections (their receivers exit); a no-op for a
 * channel that is not striped.
 */
void recv_stripes_close (struct p2v_chan *ch);
/* A further connection's side: hand standard input and output to the
 * session, then wait until it ends.  0, or -1 (reported).
 */
int recv_stripes_join (struct p2v_chan *ch, const struct p2v_join *j);

#endif
