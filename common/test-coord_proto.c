/* The coordinator's decisions as words: a refusal's code for the agent,
 * a session's result, and a result read back as a job state.
 */
#include <string.h>

#include "coord_proto.h"
#include "proto.h"
#include "test.h"

int
main (void)
{
  CHECK (p2v_coord_refuse_error (P2V_COORD_REFUSE_COMPLETE)
         == P2V_ERR_COMPLETE);
  CHECK (p2v_coord_refuse_error (P2V_COORD_REFUSE_RETRY) == P2V_ERR_RETRY);
  CHECK (p2v_coord_refuse_error (P2V_COORD_REFUSE_REFUSED)
         == P2V_ERR_REFUSED);
  CHECK (p2v_coord_refuse_error ("") == P2V_ERR_REFUSED);
  CHECK (p2v_coord_refuse_error ("Complete") == P2V_ERR_REFUSED);

  CHECK (strcmp (p2v_coord_result_of (0, 0), "complete") == 0);
  CHECK (strcmp (p2v_coord_result_of (0, P2V_ERR_IO), "complete") == 0);
  CHECK (strcmp (p2v_coord_result_of (-1, 0), "interrupted") == 0);
  CHECK (strcmp (p2v_coord_result_of (-1, P2V_ERR_BUSY), "interrupted")
         == 0);
  CHECK (strcmp (p2v_coord_result_of (-1, P2V_ERR_RETRY), "interrupted")
         == 0);
  CHECK (strcmp (p2v_coord_result_of (-1, P2V_ERR_IO), "failed") == 0);
  CHECK (strcmp (p2v_coord_result_of (-1, P2V_ERR_COMPLETE), "failed") == 0);

  CHECK (strcmp (p2v_coord_result ("complete"), "complete") == 0);
  CHECK (strcmp (p2v_coord_result ("interrupted"), "interrupted") == 0);
  CHECK (strcmp (p2v_coord_result ("failed"), "failed") == 0);
  CHECK (strcmp (p2v_coord_result ("running"), "failed") == 0);
  CHECK (strcmp (p2v_coord_result (""), "failed") == 0);
  CHECK (strcmp (p2v_coord_result (NULL), "failed") == 0);

  /* The words on the wire and in the spool never change. */
  CHECK (strcmp (P2V_COORD_SOCKET, "coordinator.sock") == 0);
  CHECK (strcmp (P2V_JOB_PENDING " " P2V_JOB_WAITING " " P2V_JOB_RUNNING
                 " " P2V_JOB_INTERRUPTED " " P2V_JOB_COMPLETE " "
                 P2V_JOB_FAILED, "pending waiting running interrupted "
                 "complete failed") == 0);
  return TEST_DONE ();
}
