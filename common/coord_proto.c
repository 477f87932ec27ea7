/* The coordinator's words that carry a decision: refusals and results,
 * read the same way by the receiver and p2v-batch.
 */
#include <string.h>

#include "coord_proto.h"
#include "proto.h"

uint32_t
p2v_coord_refuse_error (const char *code)
{
  return !strcmp (code, P2V_COORD_REFUSE_COMPLETE) ? P2V_ERR_COMPLETE
    : !strcmp (code, P2V_COORD_REFUSE_RETRY) ? P2V_ERR_RETRY
    : P2V_ERR_REFUSED;
}

const char *
p2v_coord_result_of (int r, uint32_t err_code)
{
  return r == 0 ? P2V_JOB_COMPLETE
    : err_code == 0 || err_code == P2V_ERR_BUSY ||
      err_code == P2V_ERR_RETRY ? P2V_JOB_INTERRUPTED : P2V_JOB_FAILED;
}

const char *
p2v_coord_result (const char *result)
{
  if (result && (!strcmp (result, P2V_JOB_COMPLETE) ||
                 !strcmp (result, P2V_JOB_INTERRUPTED)))
    return result;
  return P2V_JOB_FAILED;
}
