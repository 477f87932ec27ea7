/* p2v-agent send: read each source disk in chunks, send all-zero runs
 * as zero extents and everything else as hashed zstd frames, then wait
 * until the receiver says the conversion is durable and verified.
 *
 * This file is the run: sessions over one connection each, reconnects
 * after a lost link, and agent_send.  The conversation with the
 * receiver is send_conv.c, streaming a disk send_disk.c, hot clone's
 * later passes send_pass.c, the report and --stats send_stats.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "agent.h"
#include "conn.h"
#include "fileio.h"
#include "hot.h"
#include "level.h"
#include "log.h"
#include "proto.h"
#include "send.h"
#include "send_conv.h"
#include "send_disk.h"
#include "send_pass.h"
#include "send_stats.h"
#include "stripes.h"

struct p2v_progress agent_progress;

#define MAX_RETRY_WAIT 60       /* seconds between reconnects, at most */

/* One connection: handshake, learn what the receiver holds, send the
 * rest.
 */
static int
session (struct sender *s)
{
  struct send_conv *c = &s->conv;
  uint64_t done = 0;

  c->have_session = c->done_sent = c->complete = c->selected = false;
  c->receiver_error = c->fatal = false;
  c->acked_disks = 0;
  s->stats.resent = 0;
  if (agent_conv_hello (s) == -1 || agent_conv_inventory (s) == -1)
    return -1;
  while (!c->have_session)
    if (agent_conv_poll (s, true) == -1)
      return c->complete ? 0 : -1;
  s->stats.earlier_errors = 0;
  for (int i = 0; i < s->nsrc; ++i) {
    const struct p2v_session_disk *d = &c->sess.disks[i];
    uint32_t ours = 0;

    for (size_t k = 0; k < s->stats.bad.len; ++k)
      ours += s->stats.bad.ptr[k].disk == (uint32_t) i &&
              s->stats.bad.ptr[k].offset < d->committed;
    if (d->read_errors > ours)
      s->stats.earlier_errors += d->read_errors - ours;
    if (d->flags & P2V_DISK_COMPLETE)
      c->acked_disks++;
    done += d->committed;
    c->committed[i] = d->committed;
  }
  agent_progress.done = done;
  if (c->sess.flags & P2V_SESSION_RESUMED && s->stats.sessions == 1)
    p2v_info ("resuming the unfinished conversion '%s' (%.1f%% already on "
              "the receiver)", s->o->name,
              100.0 * done / agent_progress.total);
  for (int i = 0; i < s->nsrc; ++i)
    if (!(c->sess.disks[i].flags & P2V_DISK_COMPLETE) &&
        agent_send_disk (s, i) == -1)
      return -1;
  if (s->hot.h && agent_pass_run (s) == -1)
    return -1;
  /* The last bar, before the receiver's summary (not after it). */
  p2v_progress_end (&agent_progress);
  agent_conv_start (c, P2V_MSG_DONE);
  /* Four signs of life from the publishing receiver per --timeout. */
  p2v_put_done (&c->msg, c->conn->chan.version,
                s->o->timeout > 0 ? s->o->timeout * 250 : 0);
  c->done_sent = true;
  if (agent_conv_send (s) == -1)
    return -1;
  while (!c->complete)
    if (agent_conv_poll (s, true) == -1)
      return -1;
  return 0;
}

/* One connection from connect to close; 0, or -1 with *retry saying
 * whether a new connection could get further.
 */
static int
attempt (struct sender *s, bool *retry)
{
  struct send_conv *c = &s->conv;
  uint64_t wire0;
  int status, r;

  c->conn = s->o->local ? agent_connect_local (s->o)
                         : agent_connect_ssh (s->o, agent_conv_early, s);
  if (c->conn == NULL) {
    *retry = c->established;    /* it worked before: the link is down */
    return -1;
  }
  s->stats.sessions++;
  wire0 = c->conn->chan.bytes_out;
  r = session (s);
  c->finished_before |= c->done_sent;
  if (r == -1 && !c->receiver_error && !c->conn->chan.eof && c->fatal)
    agent_conv_send_error (s);
  s->stats.wire_bytes += c->conn->chan.bytes_out - wire0;
  if (agent_stripes_count (c->conn) > s->stats.streams)
    s->stats.streams = agent_stripes_count (c->conn);
  if (s->stats.sessions > 1 &&
      u64s_append (&s->stats.resends, s->stats.resent) == -1)
    c->fatal = true;
  /* The receiver's own words explain a dropped connection; after an
   * ERROR message they would only repeat it.
   */
  status = agent_conn_close (c->conn, r == -1 && !c->receiver_error);
  c->conn = NULL;
  if (r == 0 && status > 0 && !c->receiver_error) {
    p2v_error ("the receiver exited with status %d after completing", status);
    r = -1;
  }
  /* Until one session has worked, a failure is more likely a mistake
   * (wrong host, no receiver, another agent on the name) than a link;
   * but RETRY is the hypervisor side asking for it (a batch
   * coordinator restarting).
   */
  *retry = r == -1 && !c->fatal &&
           ((c->established && (!c->receiver_error ||
                                c->receiver_code == P2V_ERR_BUSY)) ||
            (c->receiver_error && c->receiver_code == P2V_ERR_RETRY));
  return r;
}

static uint64_t
durable (const struct sender *s)
{
  uint64_t n = 0;

  for (int i = 0; i < s->nsrc; ++i)
    n += s->conv.committed[i];
  return n;
}

static int
run (struct sender *s)
{
  const struct agent_options *o = s->o;
  uint64_t total = 0, before;
  int failures = 0;
  bool retry;

  for (int i = 0; i < s->nsrc; ++i)
    total += s->src[i]->size;
  p2v_progress_init (&agent_progress, o->machine_readable, p2v_verbose < 0,
                     total);
  for (;;) {
    int r;

    before = durable (s);
    /* What went wrong is an error only if no reconnect follows. */
    p2v_defer_errors ();
    r = attempt (s, &retry);
    if (r != 0 && durable (s) != before)
      failures = 0;             /* it got further: start counting again */
    p2v_flush_errors (r != 0 && retry && failures < o->retries);
    if (r == 0)
      return s->stats.bad.len || s->stats.earlier_errors
             ? AGENT_EXIT_READ_ERRORS : 0;
    if (!retry || failures >= o->retries) {
      if (retry)
        p2v_error ("giving up after %d reconnect(s) in a row; run the same "
                   "command again to resume", failures);
      return -1;
    }
    int wait = o->retry_wait << (failures < 6 ? failures : 6);
    wait = wait > MAX_RETRY_WAIT ? MAX_RETRY_WAIT : wait;
    failures++;
    p2v_progress_clear (&agent_progress);
    p2v_warning ("reconnecting in %d s to resume (attempt %d of %d)", wait,
                 failures, o->retries);
    if (o->machine_readable) {
      printf ("{\"event\":\"reconnect\",\"attempt\":%d,\"wait\":%d}\n",
              failures, wait);
      fflush (stdout);
    }
    sleep (wait);
  }
}

int
agent_send (const struct agent_options *o)
{
  struct agent_plan *plan = calloc (1, sizeof *plan);
  struct sender s = { .o = o, .plan = plan, .conv.cur = -1,
                      .stats.start = p2v_now () };
  struct agent_hot hot;
  int r = -1;

  /* Tracking starts before anything reads the disks' maps. */
  if (o->hot && agent_hot_start (&hot, o) == -1) {
    free (plan);
    return EXIT_FAILURE;
  }
  if (plan == NULL)
    p2v_error ("out of memory");
  else if (agent_plan_build (o, plan) == 0) {
    agent_plan_print (plan);
    for (int i = 0; i < plan->nt; ++i) {
      s.src[i] = plan->t[i].src;
      s.layout[i] = &plan->t[i].layout;
      s.target[i] = i;
    }
    s.nsrc = plan->nt;
    agent_stats_mapped (&s);
    if (o->dry_run)
      r = 0;
    else if (o->hot && agent_pass_setup (&s, &hot) == -1)
      r = -1;
    else {
      agent_level_init (&s.level, o);
      r = run (&s);
    }
  }
  if (!o->dry_run || r == -1)
    agent_report_end (&s, r, p2v_now () - s.stats.start);
  if (plan)
    agent_plan_free (plan);
  free (plan);
  agent_conv_free (&s.conv);
  agent_stats_free (&s.stats);
  if (o->hot) {
    agent_hot_stop (&hot);
    agent_pass_free (&s);
  }
  return r == -1 ? EXIT_FAILURE : r;
}
