/* The striped transport (stripes.c, protocol 6).  Private to the
 * sender: stripes.c, conn.c and the send*.c files include it.
 */
#ifndef P2V_STRIPES_H
#define P2V_STRIPES_H

#include <stdbool.h>

#include "proto.h"

struct agent_conn;
struct agent_options;

/* How many connections to ask for: --streams, or enough channel windows
 * to cover the link's rate for one measured round trip (at most 8).
 */
unsigned agent_stripes_wanted (const struct agent_options *o,
                               struct agent_conn *c);
/* Draw the token and start opening want - 1 further connections (c
 * may still be connecting itself).  0, or -1 (reported).
 */
int agent_stripes_start (struct agent_conn *c, const struct agent_options *o,
                         unsigned want);
/* The STRIPES to send for them. */
void agent_stripes_request (const struct agent_conn *c,
                            struct p2v_stripes *req);
/* Right after STRIPES: c->chan sends every message, numbered, over c
 * and the further connections as they join.
 */
void agent_stripes_begin (struct agent_conn *c);
/* The receiver's answer: with 1 or 0, no further connection (the
 * messages stay numbered).
 */
void agent_stripes_taken (struct agent_conn *c, unsigned taken);
/* Connections carrying data now (1 when not striped). */
unsigned agent_stripes_count (const struct agent_conn *c);
/* Close the further connections (after c's own close, so that the
 * receiver has ended and released them); cut: the link is dead, do not
 * wait on them.
 */
void agent_stripes_close (struct agent_conn *c, bool cut);

#endif
