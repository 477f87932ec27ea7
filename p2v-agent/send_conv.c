/* p2v-agent send: the conversation with the receiver.  HELLO both
 * ways, then the INVENTORY; the receiver answers with SESSION (what it
 * holds already), perhaps a SELECT first (the disks it wants), and
 * from then on ACKs, NOTICEs, HASHES and at most one ERROR, handled
 * here whenever the sender polls.  The window keeps the DATA bytes not
 * yet durable on the receiver within --window.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "conn.h"
#include "log.h"
#include "proto.h"
#include "send.h"
#include "send_conv.h"
#include "send_stats.h"
#include "stripes.h"

static int handle_select (struct sender *s, const struct p2v_msg *m);

/* A new message of type in c->msg, for agent_conv_send. */
void
agent_conv_start (struct send_conv *c, uint32_t type)
{
  p2v_wbuf_reset (&c->msg);
  p2v_msg_start (&c->msg, type);
}

int
agent_conv_send (struct sender *s)
{
  struct send_conv *c = &s->conv;

  if (p2v_msg_finish (&c->msg) == -1) {
    p2v_error ("internal error: building a message failed");
    c->fatal = true;
    return -1;
  }
  if (p2v_chan_send (&c->conn->chan, c->msg.p, c->msg.len) == -1) {
    /* The receiver went away: show its ERROR if it sent one. */
    if (errno == EPIPE)
      agent_conv_poll (s, true);
    return -1;
  }
  agent_progress.wire = c->conn->chan.bytes_out;
  return 0;
}

/* Workers stuck on a failing or busy disk: keep the link alive. */
int
agent_conv_keepalive (struct sender *s)
{
  agent_conv_start (&s->conv, P2V_MSG_KEEPALIVE);
  return agent_conv_send (s);
}

int
agent_conv_protocol_error (struct sender *s, const char *what)
{
  p2v_error ("the receiver sent %s; is it a matching p2v-receiver?", what);
  s->conv.fatal = true;
  return -1;
}

static int
handle_session (struct sender *s, const struct p2v_msg *m)
{
  struct send_conv *c = &s->conv;

  if (c->have_session || (c->stripes_asked && !c->stripes_answered) ||
      p2v_parse_session (m->payload, m->len,
                                         &c->sess) == -1 ||
      c->sess.ndisks != (uint32_t) s->nsrc)
    return agent_conv_protocol_error (s, "a malformed or unexpected SESSION");
  for (int i = 0; i < s->nsrc; ++i) {
    const struct p2v_session_disk *d = &c->sess.disks[i];

    if (d->committed > s->src[i]->size ||
        (d->flags & P2V_DISK_COMPLETE && d->committed != s->src[i]->size))
      return agent_conv_protocol_error (s, "an impossible committed offset");
  }
  c->have_session = true;
  c->established = true;
  return 0;
}

/* Chunks the receiver made durable leave the window. */
static void
handle_ack (struct sender *s, const struct p2v_ack *a)
{
  struct send_conv *c = &s->conv;

  agent_progress.committed = a->committed;
  if (a->disk < (uint32_t) s->nsrc && a->committed > c->committed[a->disk])
    c->committed[a->disk] = a->committed;
  if (a->flags & P2V_ACK_PASS) {
    if (a->disk < (uint32_t) s->nsrc && (a->flags & P2V_ACK_DISK_COMPLETE))
      c->pass_done[a->disk] = true;
  }
  else if (a->flags & P2V_ACK_DISK_COMPLETE)
    c->acked_disks++;
  if (c->cur < 0 || a->disk != (uint32_t) c->cur)
    return;
  while (c->inflight_head < c->inflight.len &&
         c->inflight.ptr[c->inflight_head].end <= a->committed)
    c->acked_cum = c->inflight.ptr[c->inflight_head++].cum;
  /* Keep only the window's worth of entries. */
  if (c->inflight_head >= 1024 && c->inflight_head * 2 >= c->inflight.len) {
    c->inflight.len -= c->inflight_head;
    memmove (c->inflight.ptr, c->inflight.ptr + c->inflight_head,
             c->inflight.len * sizeof *c->inflight.ptr);
    c->inflight_head = 0;
  }
}

static int
handle_reply (struct sender *s, const struct p2v_msg *m)
{
  struct send_conv *c = &s->conv;
  struct p2v_ack a;
  struct p2v_errmsg e = { 0 };
  char *note;
  uint32_t level;

  switch (m->type) {
  case P2V_MSG_STRIPES: {       /* the answer to ours, before SESSION */
    struct p2v_stripes got;

    if (!c->conn->stripes || c->stripes_answered ||
        p2v_parse_stripes (m->payload, m->len, &got) == -1 ||
        got.streams > c->stripes_asked)
      break;
    c->stripes_answered = true;
    if (got.streams <= 1)
      p2v_info ("the receiver takes no further connection; sending over "
                "one");
    agent_stripes_taken (c->conn, got.streams);
    return 0;
  }
  case P2V_MSG_SESSION:
    return handle_session (s, m);
  case P2V_MSG_SELECT:
    return handle_select (s, m);
  case P2V_MSG_NOTICE:
    if (p2v_parse_notice (m->payload, m->len, &level, &note) == -1)
      break;
    p2v_progress_clear (&agent_progress);
    if (level == P2V_NOTICE_INFO)
      p2v_info ("receiver: %s", note);
    else
      p2v_warning ("receiver: %s", note);
    free (note);
    return 0;
  case P2V_MSG_KEEPALIVE:       /* the receiver publishes (version 5) */
    if (c->conn->chan.version < 5 || !c->done_sent ||
        p2v_parse_activity (m->payload, m->len, &note) == -1)
      break;
    p2v_progress_activity (&agent_progress, "receiver", note);
    free (note);
    return 0;
  case P2V_MSG_ACK:
    if (p2v_parse_ack (m->payload, m->len, &a) == -1)
      break;
    handle_ack (s, &a);
    if ((a.flags & P2V_ACK_ALL_COMPLETE) &&
        (!c->done_sent || c->acked_disks != c->sess.ndisks)) {
      p2v_error ("the receiver claims completion after verifying %" PRIu32
                 " of %d disks%s", c->acked_disks, s->nsrc,
                 c->done_sent ? "" : ", before the agent finished");
      c->fatal = true;
      return -1;
    }
    if (a.flags & P2V_ACK_ALL_COMPLETE)
      c->complete = true;
    return 0;
  case P2V_MSG_HASHES: {
    struct p2v_hashes h;

    if (p2v_parse_hashes (m->payload, m->len, &h) == -1 || c->have_hashes ||
        h.count > c->hashes_count)
      break;
    memcpy (c->hashes, h.hashes, (size_t) h.count * P2V_HASH_LEN);
    c->hashes_off = h.offset;
    c->hashes_count = h.count;
    c->have_hashes = true;
    return 0;
  }
  case P2V_MSG_ERROR:
    if (p2v_parse_error (m->payload, m->len, &e) == -1)
      break;
    p2v_progress_clear (&agent_progress);
    c->receiver_error = true;
    c->receiver_code = e.code;
    if (e.code == P2V_ERR_COMPLETE) {
      /* Only the final acknowledgement was lost with the link; or the
       * same command again (the agent died after DONE, say): the
       * result is there, nothing is left to do.
       */
      if (c->finished_before)
        p2v_info ("the receiver had completed the conversion before the "
                  "link was lost");
      else {
        p2v_info ("receiver: %s", e.message);
        c->was_complete = true;
      }
      c->complete = true;
    }
    else
      p2v_error ("the receiver stopped: %s", e.message);
    free (e.message);
    return -1;
  }
  p2v_error ("the receiver sent a malformed or unexpected %s message",
             p2v_msg_name (m->type));
  c->fatal = true;
  return -1;
}

/* Handle whatever the receiver has sent; with wait, block for one. */
int
agent_conv_poll (struct sender *s, bool wait)
{
  struct send_conv *c = &s->conv;
  struct p2v_msg m;
  int r;

  while ((r = p2v_chan_recv (&c->conn->chan, &m, wait)) == 1) {
    if (handle_reply (s, &m) == -1)
      return -1;
    if (wait)
      return 0;
  }
  if (r == -1 && errno == EPIPE && !c->receiver_error)
    p2v_error ("the receiver closed the connection unexpectedly");
  if (r == -1 && errno == EPROTO)
    c->fatal = true;            /* garbage, not a lost link */
  return r;
}

/* STRIPES: ask for the connections.  Its answer is not waited for:
 * from here on every message is numbered (protocol.md 4.17), and the
 * answer, which comes before SESSION, says how many the receiver takes.
 */
static int
stripes (struct sender *s, struct p2v_stripes *req)
{
  struct send_conv *c = &s->conv;

  agent_conv_start (c, P2V_MSG_STRIPES);
  p2v_put_stripes (&c->msg, req);
  if (agent_conv_send (s) == -1)
    return -1;
  c->stripes_asked = req->streams;
  agent_stripes_begin (c->conn);
  return 0;
}

void
agent_conv_early (struct agent_conn *conn, void *arg)
{
  struct sender *s = arg;
  unsigned want = agent_stripes_wanted (s->o, conn);

  if (want > 1)
    agent_stripes_start (conn, s->o, want);     /* or one connection */
}

int
agent_conv_hello (struct sender *s)
{
  struct send_conv *c = &s->conv;
  unsigned want = agent_stripes_wanted (s->o, c->conn);
  struct p2v_hello ours = {
    P2V_PROTO_MIN, P2V_PROTO_MAX, P2V_CAP_ZSTD, "p2v-agent " P2V_VERSION
  }, theirs;
  struct p2v_stripes req;
  struct p2v_msg m;
  int v;

  c->stripes_asked = 0;
  c->stripes_answered = false;
  /* The round trip measured on the open channel decides: the early
   * guess (agent_conv_early) may have started connections for nothing,
   * or started none.
   */
  if (c->conn->stripes && want <= 1)
    agent_stripes_close (c->conn, false);
  else if (!c->conn->stripes && want > 1)
    agent_stripes_start (c->conn, s->o, want);
  if (c->conn->stripes) {
    agent_stripes_request (c->conn, &req);
    ours.caps |= P2V_CAP_STRIPES;
  }

  agent_conv_start (c, P2V_MSG_HELLO);
  p2v_put_hello (&c->msg, &ours);
  if (p2v_msg_finish (&c->msg) == -1)
    return -1;
  /* A peer that has already gone fails the send, but what it said
   * before going (a refusal, or some other program's text) is in the
   * buffer: read it either way, so the message names the real cause.
   */
  if ((p2v_chan_send (&c->conn->chan, c->msg.p, c->msg.len) == -1 &&
       errno != EPIPE) ||
      p2v_chan_recv (&c->conn->chan, &m, true) != 1) {
    if (errno == EPIPE)
      p2v_error ("the receiver ('%s') ended without answering; is it "
                 "installed on the hypervisor? (see --receiver-command)",
                 s->o->receiver_command);
    return -1;
  }
  if (m.type == P2V_MSG_ERROR)
    return handle_reply (s, &m);
  if (m.type != P2V_MSG_HELLO || p2v_parse_hello (m.payload, m.len,
                                                  &theirs) == -1) {
    p2v_error ("'%s' did not answer like a p2v receiver",
               s->o->receiver_command);
    return -1;
  }
  if (!(theirs.caps & P2V_CAP_ZSTD)) {
    p2v_error ("the receiver (%s) cannot decompress zstd; install a "
               "matching p2v-receiver", theirs.software);
    p2v_hello_free (&theirs);
    return -1;
  }
  if ((v = p2v_version_choose (&ours, &theirs)) == -1) {
    p2v_error ("the receiver (%s) speaks protocol %" PRIu32 "-%" PRIu32
               ", this agent %d-%d; install matching versions",
               theirs.software, theirs.version_min, theirs.version_max,
               P2V_PROTO_MIN, P2V_PROTO_MAX);
    p2v_hello_free (&theirs);
    return -1;
  }
  c->conn->chan.version = v;
  p2v_debug ("receiver: %s, protocol %d", theirs.software, v);
  v = v >= 6 && c->conn->stripes && (theirs.caps & P2V_CAP_STRIPES);
  if (c->conn->stripes && !v) {
    if (s->o->streams)
      p2v_info ("the receiver (%s) cannot take several connections; "
                "sending over one", theirs.software);
    agent_stripes_close (c->conn, false);
  }
  p2v_hello_free (&theirs);
  return v ? stripes (s, &req) : 0;
}

/* SELECT (protocol 4): the receiver (a batch coordinator's manifest)
 * wants only some of the disks; this run sends only those from now on.
 */
static int
handle_select (struct sender *s, const struct p2v_msg *m)
{
  struct send_conv *c = &s->conv;
  struct p2v_select sel;
  uint64_t total = 0;
  char names[1024] = "";
  size_t n = 0;

  if (c->have_session || c->selected ||
      p2v_parse_select (m->payload, m->len, &sel) == -1 ||
      sel.disks[sel.count - 1] >= (uint32_t) s->nsrc)
    return agent_conv_protocol_error (s, "a malformed or unexpected SELECT");
  if (c->established) {
    p2v_error ("the receiver now wants %" PRIu32 " of the %d disks this "
               "conversion has been sending; finish it with the same disks, "
               "or start over", sel.count, s->nsrc);
    c->fatal = true;
    return -1;
  }
  bool md = false;

  for (size_t i = 0; i < s->plan->facts.len; ++i)
    md |= strncmp (s->plan->facts.ptr[i].key, "md.", 3) == 0;
  if (md || s->o->hot) {
    p2v_error ("the receiver wants %" PRIu32 " of the %d disks, but %s; "
               "choose the disks on the agent (p2v.disks=, or its "
               "arguments) instead", sel.count, s->nsrc, s->o->hot
               ? "hot-clone copies every disk it tracks"
               : "md arrays span them in this plan");
    c->fatal = true;
    return -1;
  }
  for (uint32_t k = 0; k < sel.count; ++k) {
    uint32_t i = sel.disks[k];

    s->src[k] = s->src[i];
    s->layout[k] = s->layout[i];
    s->target[k] = s->target[i];
    total += s->src[k]->size;
    if (n < sizeof names)
      n += snprintf (names + n, sizeof names - n, "%s%s", k ? ", " : "",
                     s->src[k]->path);
  }
  p2v_info ("the receiver wants %" PRIu32 " of the %d disks: %s",
            sel.count, s->nsrc, names);
  s->nsrc = sel.count;
  agent_stats_mapped (s);
  agent_progress.total = total;
  c->selected = true;
  return agent_conv_inventory (s);
}

/* The inventory carries the same host facts p2v-agent probe shows. */
int
agent_conv_inventory (struct sender *s)
{
  struct send_conv *c = &s->conv;
  struct p2v_disk_info disks[P2V_MAX_DISKS];
  struct agent_facts f = { 0 };
  char host[256] = "unknown";
  char *keys[P2V_MAX_FACTS], *values[P2V_MAX_FACTS];
  char disk_keys[P2V_MAX_DISKS][32];
  struct p2v_inventory inv = {
    .name = (char *) s->o->name, .hostname = host,
    .cpus = (uint32_t) sysconf (_SC_NPROCESSORS_ONLN),
    .memory = (uint64_t) sysconf (_SC_PHYS_PAGES) * sysconf (_SC_PAGESIZE),
    .ndisks = s->nsrc, .disks = disks, .keys = keys, .values = values,
  };
  int r;

  keys[0] = "agent";
  values[0] = "p2v-agent " P2V_VERSION;
  inv.nfacts = 1;
  if (s->o->local && !s->o->host_facts && !s->hot.h) {
    /* Direct attach: nothing of this hypervisor's describes the VM. */
    keys[inv.nfacts] = "attach";
    values[inv.nfacts++] = "direct";
    inv.cpus = 0;
    inv.memory = 0;
    host[0] = '\0';
  }
  else {
    gethostname (host, sizeof host - 1);
    if (agent_host_facts (&f) == -1) {
      agent_facts_free (&f);
      c->fatal = true;
      return -1;
    }
  }
  for (size_t i = 0; i < f.len + s->plan->facts.len &&
       inv.nfacts < P2V_MAX_FACTS; ++i) {
    const struct agent_fact *x = i < f.len ? &f.ptr[i]
                                           : &s->plan->facts.ptr[i - f.len];
    int t, k, end = 0;

    keys[inv.nfacts] = x->key;
    values[inv.nfacts] = x->value;
    /* After a SELECT: the plan's disks by their new numbers. */
    if (sscanf (x->key, "layout.disk.%d%n", &t, &end) == 1 &&
        x->key[end] == '\0') {
      for (k = 0; k < s->nsrc && s->target[k] != t; ++k)
        ;
      if (k == s->nsrc)
        continue;
      snprintf (disk_keys[k], sizeof disk_keys[k], "layout.disk.%d", k);
      keys[inv.nfacts] = disk_keys[k];
    }
    inv.nfacts++;
  }
  for (int i = 0; i < s->nsrc; ++i) {
    disks[i] = (struct p2v_disk_info) {
      s->src[i]->size, s->src[i]->sector_size, (char *) s->src[i]->path,
      s->src[i]->id, { 0 },
      agent_extents_bytes (&s->layout[i]->read, 0, s->src[i]->size)
    };
    memcpy (disks[i].fingerprint, s->src[i]->fingerprint, P2V_HASH_LEN);
  }
  agent_conv_start (c, P2V_MSG_INVENTORY);
  p2v_put_inventory (&c->msg, &inv);
  r = agent_conv_send (s);
  agent_facts_free (&f);
  return r;
}

/* Tell the receiver why we stop, so its status file says so. */
void
agent_conv_send_error (struct sender *s)
{
  struct send_conv *c = &s->conv;

  agent_conv_start (c, P2V_MSG_ERROR);
  p2v_put_error (&c->msg, P2V_ERR_IO, p2v_last_error ());
  if (p2v_msg_finish (&c->msg) == 0)
    p2v_chan_send (&c->conn->chan, c->msg.p, c->msg.len);
}

void
agent_conv_free (struct send_conv *c)
{
  p2v_wbuf_free (&c->msg);
  inflights_reset (&c->inflight);
}

/* ---- The window ---- */

void
agent_conv_window_open (struct send_conv *c, int disk)
{
  c->cur = disk;
  c->inflight.len = c->inflight_head = 0;
  c->sent_cum = c->acked_cum = 0;
}

int
agent_conv_window_wait (struct sender *s, uint64_t length)
{
  struct send_conv *c = &s->conv;

  while (c->sent_cum > c->acked_cum &&
         c->sent_cum - c->acked_cum + length > s->o->window)
    if (agent_conv_poll (s, true) == -1)
      return -1;
  return 0;
}

int
agent_conv_window_add (struct send_conv *c, uint64_t end, uint64_t length)
{
  c->sent_cum += length;
  if (inflights_append (&c->inflight, (struct inflight) {
        end, c->sent_cum }) == -1) {
    p2v_error ("out of memory");
    c->fatal = true;
    return -1;
  }
  return 0;
}

void
agent_conv_window_close (struct send_conv *c)
{
  c->cur = -1;
}
