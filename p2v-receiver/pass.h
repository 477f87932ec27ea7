/* Hot clone's later passes (pass.c). */
#ifndef P2V_PASS_H
#define P2V_PASS_H

struct p2v_msg;
struct session;

/* PASS_BEGIN, PASS_END and HASH_REQUEST: 0, or -1 (reported, with the
 * code for the agent).
 */
int recv_do_pass_begin (struct session *s, const struct p2v_msg *m);
int recv_do_pass_end (struct session *s, const struct p2v_msg *m);
int recv_do_hash_request (struct session *s, const struct p2v_msg *m);

#endif
