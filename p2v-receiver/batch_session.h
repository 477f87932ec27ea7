/* The session's side of --batch (batch_session.c). */
#ifndef P2V_BATCH_SESSION_H
#define P2V_BATCH_SESSION_H

struct p2v_wbuf;
struct session;

/* At INVENTORY: wait for the coordinator's turn, take the server's name
 * and options from it and the manifest's disks (SELECT); saved gets the
 * INVENTORY to keep under that name.  0, or -1 (reported, with the code
 * for the agent).
 */
int recv_batch_session_admit (struct session *s, struct p2v_wbuf *saved);
/* The session's outcome r (0 or -1), for the coordinator's report. */
void recv_batch_session_done (struct session *s, int r);

#endif
