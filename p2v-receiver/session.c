/* What the parts of a session share: sending a message, failing with
 * a code for the agent, NOTICE, ACK, the commit that comes before it,
 * and the chunk buffer.  recv_stop_signal, which main's handler sets,
 * is defined here: the unit tests and the fuzz target link the
 * receiver without main.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "session.h"
#include "busy.h"
#include "journal.h"
#include "out.h"
#include "fileio.h"
#include "hash.h"
#include "log.h"

volatile sig_atomic_t recv_stop_signal;

int
recv_send_msg (struct session *s)
{
  if (p2v_msg_finish (&s->out) == -1) {
    p2v_error ("internal error: building a message failed");
    return -1;
  }
  return p2v_chan_send (s->ch, s->out.p, s->out.len);
}

int
recv_fail (struct session *s, uint32_t code)
{
  s->err_code = code;
  return -1;
}

/* p2v_chan_recv failed: only a malformed frame is worth answering. */
int
recv_failed (struct session *s)
{
  s->err_code = errno == EPROTO ? P2V_ERR_PROTOCOL : 0;
  return -1;
}

/* Tell the operator at the agent (and our own log). */
void
recv_notice (struct session *s, uint32_t level, const char *fmt, ...)
{
  va_list ap;
  char msg[P2V_MAX_STRING];

  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);
  if (level == P2V_NOTICE_INFO)
    p2v_info ("%s", msg);
  else
    p2v_warning ("%s", msg);
  p2v_wbuf_reset (&s->out);
  p2v_msg_start (&s->out, P2V_MSG_NOTICE);
  p2v_put_notice (&s->out, level, msg);
  recv_send_msg (s);            /* a lost link shows up on the next read */
}

int
recv_send_ack (struct session *s, uint32_t disk, uint32_t flags)
{
  struct recv_disk *d = &s->disks[disk];
  struct p2v_ack a = { disk, d->committed, d->committed_chunks, flags };

  if (d->pass) {                /* within a pass: how far it is durable */
    a.committed = d->pass_committed;
    a.chunks = d->schunks;
    a.flags |= P2V_ACK_PASS;
  }

  p2v_wbuf_reset (&s->out);
  p2v_msg_start (&s->out, P2V_MSG_ACK);
  p2v_put_ack (&s->out, &a);
  return recv_send_msg (s);
}

/* Image first, then the journal that vouches for it. */
int
recv_make_durable (struct session *s, struct recv_disk *d)
{
  for (; d->errs_journaled < d->errs.len; d->errs_journaled++) {
    const struct p2v_read_error *e = &d->errs.ptr[d->errs_journaled];
    struct recv_journal_rec r = {
      RECV_J_READ_ERROR, 0, e->err, e->offset, e->length, { 0 }
    };

    if (e->offset >= d->next)
      break;                    /* its chunk has not arrived */
    if (recv_journal_add (&d->j, &r) == -1)
      return recv_fail (s, P2V_ERR_INTERNAL);
  }
  if (s->ops->sync (d->out) == -1 || recv_journal_sync (&d->j) == -1)
    return recv_fail (s, P2V_ERR_IO);
  d->committed = d->next;
  d->committed_chunks = d->chunks;
  d->pass_committed = d->pass_next;
  d->pass_uncommitted = 0;
  d->commit_time = p2v_now ();
  futimens (s->lockfd, NULL);   /* "last commit" for a refused agent */
  return 0;
}

/* Room for chunk_size bytes of data, and a new session (or pass)
 * digest for d.
 */
int
recv_session_digest (struct session *s, struct recv_disk *d,
                     uint32_t chunk_size)
{
  if (chunk_size > s->data_cap) {
    free (s->data);
    s->data = malloc (chunk_size);
    s->data_cap = s->data ? chunk_size : 0;
  }
  p2v_digest_free (d->sdigest);
  d->sdigest = p2v_digest_new ();
  d->schunks = 0;
  if (s->data == NULL || d->sdigest == NULL) {
    p2v_error ("out of memory for a %" PRIu32 "-byte chunk", chunk_size);
    return recv_fail (s, P2V_ERR_INTERNAL);
  }
  return 0;
}
