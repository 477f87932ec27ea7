/* What both transports share: receiver stderr handling and teardown. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "conn.h"
#include "log.h"
#include "stripes.h"

void
agent_conn_stderr (struct agent_conn *c, const char *buf, size_t len)
{
  size_t keep = sizeof c->tail;

  if (p2v_verbose > 0) {
    p2v_progress_clear (&agent_progress);
    fwrite (buf, 1, len, stderr);
  }
  if (len >= keep) {
    memcpy (c->tail, buf + len - keep, keep);
    c->tail_len = keep;
    return;
  }
  if (c->tail_len + len > keep) {
    size_t drop = c->tail_len + len - keep;
    memmove (c->tail, c->tail + drop, c->tail_len - drop);
    c->tail_len -= drop;
  }
  memcpy (c->tail + c->tail_len, buf, len);
  c->tail_len += len;
}

static void
show_stderr (struct agent_conn *c)
{
  if (c->tail_len == 0 || p2v_verbose > 0)
    return;
  p2v_progress_clear (&agent_progress);
  fprintf (stderr, "%s: the receiver's last messages:\n", p2v_program);
  fwrite (c->tail, 1, c->tail_len, stderr);
  if (c->tail[c->tail_len - 1] != '\n')
    fputc ('\n', stderr);
  c->tail_len = 0;
}

int
agent_conn_close (struct agent_conn *c, bool show)
{
  int status;

  if (c == NULL)
    return -1;
  status = c->finish (c);
  agent_stripes_close (c, c->chan.timed_out);
  if (show)
    show_stderr (c);
  p2v_chan_free (&c->chan);
  free (c);
  return status;
}
