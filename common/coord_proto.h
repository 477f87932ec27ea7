/* The lines p2v-receiver --batch and the batch coordinator (p2v-batch
 * run) exchange over SPOOL/coordinator.sock, and the job states the
 * spool records (coord_proto.c).  Each line is a verb and key=value
 * words (kv.h); docs/p2v-batch.pod, PROTOCOL, is the specification.
 * Both sides take the words from here.
 *
 * Receiver to coordinator:
 *   hello agent= hostname= serial= macs=A,B,.. size= data= disks=
 *   progress wire= received= size=
 *   done name= result=RESULT message= wire= data= allocated=, and when
 *     complete verification= fixup= fixup_changes= domain= uuid=
 *     defined= path=
 * Coordinator to receiver:
 *   go name= arg=... disk=... rate=     its turn, with its options
 *   wait message=  /  held message=    not yet (said to the agent)
 *   refuse code=CODE message=
 *   rate bps=                          a new bandwidth share
 * p2v-batch reload / stop to the coordinator: reload, stop; answered
 * ok or error.
 */
#ifndef P2V_COORD_PROTO_H
#define P2V_COORD_PROTO_H

#include <stdint.h>

#define P2V_COORD_SOCKET "coordinator.sock"     /* in the spool */

#define P2V_COORD_HELLO "hello"
#define P2V_COORD_PROGRESS "progress"
#define P2V_COORD_DONE "done"
#define P2V_COORD_GO "go"
#define P2V_COORD_WAIT "wait"
#define P2V_COORD_HELD "held"
#define P2V_COORD_REFUSE "refuse"
#define P2V_COORD_RATE "rate"
#define P2V_COORD_RELOAD "reload"
#define P2V_COORD_STOP "stop"
#define P2V_COORD_OK "ok"
#define P2V_COORD_ERROR "error"

/* refuse code=: converted already, come back later, or never. */
#define P2V_COORD_REFUSE_COMPLETE "complete"
#define P2V_COORD_REFUSE_RETRY "retry"
#define P2V_COORD_REFUSE_REFUSED "refused"

/* A job's state in SPOOL/jobs/NAME.  The last three are also the
 * results a done line gives.
 */
#define P2V_JOB_PENDING "pending"       /* in the manifest, not seen */
#define P2V_JOB_WAITING "waiting"       /* for a writer slot */
#define P2V_JOB_RUNNING "running"
#define P2V_JOB_INTERRUPTED "interrupted"       /* the agent resumes it */
#define P2V_JOB_COMPLETE "complete"
#define P2V_JOB_FAILED "failed"

/* The protocol error (P2V_ERR_*) the agent gets for a refuse code. */
uint32_t p2v_coord_refuse_error (const char *code);

/* A session's result for its done line: complete if r is 0, else
 * interrupted if its error (P2V_ERR_*, 0 for a lost link) lets the
 * agent resume, else failed.
 */
const char *p2v_coord_result_of (int r, uint32_t err_code);

/* A done line's result= as a job state: complete, interrupted, or
 * (anything else, or missing) failed.
 */
const char *p2v_coord_result (const char *result);

#endif
