/* p2v-agent send: read each source disk in chunks, send all-zero runs
 * as zero extents and everything else as hashed zstd frames, then wait
 * until the receiver says the conversion is durable and verified.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "buf.h"
#include "hot.h"
#include "fileio.h"
#include "hash.h"
#include "json.h"
#include "log.h"
#include "proto.h"

struct p2v_progress agent_progress;

#define MAX_RETRY_WAIT 60       /* seconds between reconnects, at most */

/* A DATA chunk sent but not yet acknowledged: where it ends, and the
 * data bytes sent on this disk up to and including it.
 */
struct inflight {
  uint64_t end, cum;
};
DEFINE_VECTOR_TYPE (inflights, struct inflight);

/* What a pass of hot clone did. */
struct hot_pass {
  uint32_t pass;
  bool compare, final;          /* hashes compared; the filesystems held */
  uint64_t dirty;               /* bytes to send */
  uint64_t chunks, data_bytes, wire_bytes;
  double seconds;
};
DEFINE_VECTOR_TYPE (hot_passes, struct hot_pass);
DEFINE_VECTOR_TYPE (u64s, uint64_t);

struct sender {
  const struct agent_options *o;
  struct agent_conn *conn;
  struct agent_plan *plan;
  struct agent_source *src[P2V_MAX_DISKS];      /* the plan's targets */
  struct agent_layout *layout[P2V_MAX_DISKS];
  int target[P2V_MAX_DISKS];    /* each one's index in the plan */
  int nsrc;
  struct p2v_wbuf msg;

  /* This connection. */
  struct p2v_session sess;      /* the receiver's view at its start */
  bool have_session;
  bool selected;                /* a SELECT was answered */
  bool done_sent;               /* DONE is on its way */
  bool complete;                /* receiver acknowledged everything */
  bool receiver_error;          /* receiver sent ERROR (already shown) */
  uint32_t receiver_code;       /* ... with this code */
  bool fatal;                   /* a failure no reconnect can fix */
  uint32_t acked_disks;         /* disks the receiver verified */
  int cur;                      /* disk being sent, or -1 */
  struct inflights inflight;    /* unacknowledged DATA chunks of cur */
  size_t inflight_head;
  uint64_t sent_cum, acked_cum; /* DATA bytes of cur, sent and acked */
  uint64_t resent;              /* DATA bytes sent again after a cut */

  /* The whole run, across reconnects. */
  unsigned sessions;
  bool established;             /* a session got as far as SESSION */
  bool finished_before;         /* an earlier session sent DONE */
  bool was_complete;            /* complete before this run: none sent */
  uint64_t high[P2V_MAX_DISKS]; /* highest offset sent, per disk */
  uint64_t committed[P2V_MAX_DISKS];    /* durable on the receiver */
  struct agent_bad_ranges bad;  /* unreadable ranges found by this run */
  uint32_t earlier_errors;      /* recorded by earlier runs */
  struct u64s resends;          /* DATA bytes sent again, per reconnect */
  uint64_t source_bytes, data_bytes, zero_bytes, chunks, wire_bytes;
  uint64_t mapped_bytes;        /* what the maps said to read */
  struct agent_level level;
  double level_sum;             /* levels of the data chunks, summed */
  uint64_t data_chunks;
  double start;

  /* Hot clone (protocol 3). */
  struct agent_hot *hot;        /* NULL for send */
  struct agent_dirty todo[P2V_MAX_DISKS];       /* to send in a pass */
  bool pass_done[P2V_MAX_DISKS];        /* the receiver completed it */
  uint32_t pass;                /* the last pass begun */
  struct hot_passes stats;      /* one entry per pass */
  bool sent[P2V_MAX_DISKS];     /* pass 1 of the disk sent by this run */
  uint8_t *hashes;              /* a HASHES reply */
  uint64_t hashes_off;
  uint32_t hashes_count;
  bool have_hashes;
};

static int poll_replies (struct sender *s, bool wait);
static int handle_select (struct sender *s, const struct p2v_msg *m);
static int send_inventory (struct sender *s);

static int
send_msg (struct sender *s)
{
  if (p2v_msg_finish (&s->msg) == -1) {
    p2v_error ("internal error: building a message failed");
    s->fatal = true;
    return -1;
  }
  if (p2v_chan_send (&s->conn->chan, s->msg.p, s->msg.len) == -1) {
    /* The receiver went away: show its ERROR if it sent one. */
    if (errno == EPIPE)
      poll_replies (s, true);
    return -1;
  }
  agent_progress.wire = s->conn->chan.bytes_out;
  return 0;
}

/* Workers stuck on a failing or busy disk: keep the link alive. */
static int
send_keepalive (struct sender *s)
{
  p2v_wbuf_reset (&s->msg);
  p2v_msg_start (&s->msg, P2V_MSG_KEEPALIVE);
  return send_msg (s);
}

static int
protocol_error (struct sender *s, const char *what)
{
  p2v_error ("the receiver sent %s; is it a matching p2v-receiver?", what);
  s->fatal = true;
  return -1;
}

static int
handle_session (struct sender *s, const struct p2v_msg *m)
{
  if (s->have_session || p2v_parse_session (m->payload, m->len,
                                            &s->sess) == -1 ||
      s->sess.ndisks != (uint32_t) s->nsrc)
    return protocol_error (s, "a malformed or unexpected SESSION");
  for (int i = 0; i < s->nsrc; ++i) {
    const struct p2v_session_disk *d = &s->sess.disks[i];

    if (d->committed > s->src[i]->size ||
        (d->flags & P2V_DISK_COMPLETE && d->committed != s->src[i]->size))
      return protocol_error (s, "an impossible committed offset");
  }
  s->have_session = true;
  s->established = true;
  return 0;
}

/* Chunks the receiver made durable leave the window. */
static void
handle_ack (struct sender *s, const struct p2v_ack *a)
{
  agent_progress.committed = a->committed;
  if (a->disk < (uint32_t) s->nsrc && a->committed > s->committed[a->disk])
    s->committed[a->disk] = a->committed;
  if (a->flags & P2V_ACK_PASS) {
    if (a->disk < (uint32_t) s->nsrc && (a->flags & P2V_ACK_DISK_COMPLETE))
      s->pass_done[a->disk] = true;
  }
  else if (a->flags & P2V_ACK_DISK_COMPLETE)
    s->acked_disks++;
  if (s->cur < 0 || a->disk != (uint32_t) s->cur)
    return;
  while (s->inflight_head < s->inflight.len &&
         s->inflight.ptr[s->inflight_head].end <= a->committed)
    s->acked_cum = s->inflight.ptr[s->inflight_head++].cum;
  /* Keep only the window's worth of entries. */
  if (s->inflight_head >= 1024 && s->inflight_head * 2 >= s->inflight.len) {
    s->inflight.len -= s->inflight_head;
    memmove (s->inflight.ptr, s->inflight.ptr + s->inflight_head,
             s->inflight.len * sizeof *s->inflight.ptr);
    s->inflight_head = 0;
  }
}

static int
handle_reply (struct sender *s, const struct p2v_msg *m)
{
  struct p2v_ack a;
  struct p2v_errmsg e = { 0 };
  char *note;
  uint32_t level;

  switch (m->type) {
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
    if (s->conn->chan.version < 5 || !s->done_sent ||
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
        (!s->done_sent || s->acked_disks != s->sess.ndisks)) {
      p2v_error ("the receiver claims completion after verifying %" PRIu32
                 " of %d disks%s", s->acked_disks, s->nsrc,
                 s->done_sent ? "" : ", before the agent finished");
      s->fatal = true;
      return -1;
    }
    if (a.flags & P2V_ACK_ALL_COMPLETE)
      s->complete = true;
    return 0;
  case P2V_MSG_HASHES: {
    struct p2v_hashes h;

    if (p2v_parse_hashes (m->payload, m->len, &h) == -1 || s->have_hashes ||
        h.count > s->hashes_count)
      break;
    memcpy (s->hashes, h.hashes, (size_t) h.count * P2V_HASH_LEN);
    s->hashes_off = h.offset;
    s->hashes_count = h.count;
    s->have_hashes = true;
    return 0;
  }
  case P2V_MSG_ERROR:
    if (p2v_parse_error (m->payload, m->len, &e) == -1)
      break;
    p2v_progress_clear (&agent_progress);
    s->receiver_error = true;
    s->receiver_code = e.code;
    if (e.code == P2V_ERR_COMPLETE) {
      /* Only the final acknowledgement was lost with the link; or the
       * same command again (the agent died after DONE, say): the
       * result is there, nothing is left to do.
       */
      if (s->finished_before)
        p2v_info ("the receiver had completed the conversion before the "
                  "link was lost");
      else {
        p2v_info ("receiver: %s", e.message);
        s->was_complete = true;
      }
      s->complete = true;
    }
    else
      p2v_error ("the receiver stopped: %s", e.message);
    free (e.message);
    return -1;
  }
  p2v_error ("the receiver sent a malformed or unexpected %s message",
             p2v_msg_name (m->type));
  s->fatal = true;
  return -1;
}

/* Handle whatever the receiver has sent; with wait, block for one. */
static int
poll_replies (struct sender *s, bool wait)
{
  struct p2v_msg m;
  int r;

  while ((r = p2v_chan_recv (&s->conn->chan, &m, wait)) == 1) {
    if (handle_reply (s, &m) == -1)
      return -1;
    if (wait)
      return 0;
  }
  if (r == -1 && errno == EPIPE && !s->receiver_error)
    p2v_error ("the receiver closed the connection unexpectedly");
  if (r == -1 && errno == EPROTO)
    s->fatal = true;            /* garbage, not a lost link */
  return r;
}

static int
hello (struct sender *s)
{
  struct p2v_hello ours = {
    P2V_PROTO_MIN, P2V_PROTO_MAX, P2V_CAP_ZSTD, "p2v-agent " P2V_VERSION
  }, theirs;
  struct p2v_msg m;
  int v;

  p2v_wbuf_reset (&s->msg);
  p2v_msg_start (&s->msg, P2V_MSG_HELLO);
  p2v_put_hello (&s->msg, &ours);
  if (p2v_msg_finish (&s->msg) == -1)
    return -1;
  /* A peer that has already gone fails the send, but what it said
   * before going (a refusal, or some other program's text) is in the
   * buffer: read it either way, so the message names the real cause.
   */
  if ((p2v_chan_send (&s->conn->chan, s->msg.p, s->msg.len) == -1 &&
       errno != EPIPE) ||
      p2v_chan_recv (&s->conn->chan, &m, true) != 1) {
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
  s->conn->chan.version = v;
  p2v_debug ("receiver: %s, protocol %d", theirs.software, v);
  p2v_hello_free (&theirs);
  return 0;
}

/* SELECT (protocol 4): the receiver (a batch coordinator's manifest)
 * wants only some of the disks; this run sends only those from now on.
 */
static int
handle_select (struct sender *s, const struct p2v_msg *m)
{
  struct p2v_select sel;
  uint64_t total = 0;
  char names[1024] = "";
  size_t n = 0;

  if (s->have_session || s->selected ||
      p2v_parse_select (m->payload, m->len, &sel) == -1 ||
      sel.disks[sel.count - 1] >= (uint32_t) s->nsrc)
    return protocol_error (s, "a malformed or unexpected SELECT");
  if (s->established) {
    p2v_error ("the receiver now wants %" PRIu32 " of the %d disks this "
               "conversion has been sending; finish it with the same disks, "
               "or start over", sel.count, s->nsrc);
    s->fatal = true;
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
    s->fatal = true;
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
  s->mapped_bytes = 0;
  for (int i = 0; i < s->nsrc; ++i)
    s->mapped_bytes += agent_extents_bytes (&s->layout[i]->read, 0,
                                            s->src[i]->size);
  agent_progress.total = total;
  s->selected = true;
  return send_inventory (s);
}

/* The inventory carries the same host facts p2v-agent probe shows. */
static int
send_inventory (struct sender *s)
{
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
  if (s->o->local && !s->o->host_facts && !s->hot) {
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
      s->fatal = true;
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
  p2v_wbuf_reset (&s->msg);
  p2v_msg_start (&s->msg, P2V_MSG_INVENTORY);
  p2v_put_inventory (&s->msg, &inv);
  r = send_msg (s);
  agent_facts_free (&f);
  return r;
}

static int
send_zero (struct sender *s, struct p2v_digest *dg, uint32_t disk,
           uint64_t off, uint64_t len)
{
  struct p2v_chunk c = { disk, off, len, P2V_CHUNK_ZERO };

  p2v_wbuf_reset (&s->msg);
  p2v_msg_start (&s->msg, P2V_MSG_CHUNK);
  p2v_put_chunk_header (&s->msg, &c);
  p2v_digest_add (dg, &c);
  s->zero_bytes += len;
  s->chunks++;
  return send_msg (s);
}

/* A chunk the pipeline built: its message is complete.  It waits until
 * the receiver has acknowledged enough to keep the window.
 */
static int
send_data (struct sender *s, struct p2v_digest *dg, uint32_t disk,
           struct agent_chunk *ch)
{
  struct p2v_chunk c = { disk, ch->offset, ch->length, P2V_CHUNK_DATA };

  while (s->sent_cum > s->acked_cum &&
         s->sent_cum - s->acked_cum + ch->length > s->o->window)
    if (poll_replies (s, true) == -1)
      return -1;
  memcpy (c.hash, ch->hash, P2V_HASH_LEN);
  p2v_digest_add (dg, &c);
  s->data_bytes += ch->read_bytes;
  s->chunks++;
  if (ch->offset < s->high[disk])
    s->resent += ch->length;
  if (p2v_chan_send (&s->conn->chan, ch->msg.p, ch->msg.len) == -1) {
    if (errno == EPIPE)
      poll_replies (s, true);   /* show the receiver's ERROR, if any */
    return -1;
  }
  s->sent_cum += ch->length;
  if (inflights_append (&s->inflight, (struct inflight) {
        ch->offset + ch->length, s->sent_cum }) == -1) {
    p2v_error ("out of memory");
    s->fatal = true;
    return -1;
  }
  agent_progress.wire = s->conn->chan.bytes_out;
  return 0;
}

/* Unreadable ranges go to the receiver before the chunk that holds
 * them as zeros; each is counted once, however often it is sent.
 */
static int
send_read_errors (struct sender *s, uint32_t disk, struct agent_chunk *ch)
{
  for (size_t i = 0; i < ch->bad.len; ++i) {
    struct p2v_read_error e = ch->bad.ptr[i];
    const struct p2v_read_error *last = NULL;

    e.disk = disk;
    for (size_t k = s->bad.len; k-- > 0;)
      if (s->bad.ptr[k].disk == disk) {
        last = &s->bad.ptr[k];
        break;
      }
    if (last == NULL || e.offset >= last->offset + last->length) {
      p2v_progress_clear (&agent_progress);
      p2v_warning ("%s: cannot read %" PRIu64 " bytes at offset %" PRIu64
                   " (%s); sending zeros there", s->src[disk]->path,
                   e.length, e.offset, strerror (e.err));
      if (agent_bad_ranges_append (&s->bad, e) == -1) {
        p2v_error ("out of memory");
        s->fatal = true;
        return -1;
      }
      if (s->bad.len > (size_t) s->o->max_read_errors) {
        p2v_error ("%s: more than %d unreadable ranges; the disk is "
                   "failing badly: image it with ddrescue first, or raise "
                   "--max-read-errors", s->src[disk]->path,
                   s->o->max_read_errors);
        s->fatal = true;
        return -1;
      }
    }
    p2v_wbuf_reset (&s->msg);
    p2v_msg_start (&s->msg, P2V_MSG_READ_ERROR);
    p2v_put_read_error (&s->msg, &e);
    if (send_msg (s) == -1)
      return -1;
  }
  return 0;
}

static int
disk_begin (struct sender *s, uint32_t disk, uint64_t start)
{
  struct p2v_disk_begin b = {
    disk, s->src[disk]->size, s->o->chunk_size, start, s->o->window / 2
  };

  if (s->o->machine_readable) {
    printf ("{\"event\":\"disk\",\"disk\":%" PRIu32 ",\"source\":", disk);
    p2v_json_string (stdout, s->src[disk]->path);
    printf (",\"size\":%" PRIu64 ",\"start\":%" PRIu64 "}\n",
            s->src[disk]->size, start);
    fflush (stdout);
  }
  p2v_wbuf_reset (&s->msg);
  p2v_msg_start (&s->msg, P2V_MSG_DISK_BEGIN);
  p2v_put_disk_begin (&s->msg, &b);
  return send_msg (s);
}

static int
disk_end (struct sender *s, uint32_t disk, struct p2v_digest *dg,
          uint64_t chunks)
{
  struct p2v_disk_end e = { disk, chunks };

  p2v_digest_final (dg, e.digest);
  p2v_wbuf_reset (&s->msg);
  p2v_msg_start (&s->msg, P2V_MSG_DISK_END);
  p2v_put_disk_end (&s->msg, &e);
  return send_msg (s);
}

/* Zero chunks are merged into one extent until data interrupts them. */
static int
send_chunks (struct sender *s, uint32_t disk, struct p2v_digest *dg,
             struct agent_pipeline *p)
{
  struct agent_chunk *c;
  uint64_t zstart = 0, zlen = 0;
  double t = p2v_now (), net = s->conn->chan.wait_seconds, cpu;
  int r;

  while ((r = agent_pipeline_next (p, &c)) >= 1) {
    if (r == AGENT_PIPELINE_SLOW) {
      if (send_keepalive (s) == -1)
        return -1;
      continue;
    }
    cpu = p2v_now () - t;       /* waited for the workers */
    if (send_read_errors (s, disk, c) == -1)
      return -1;
    if (c->zero) {
      zstart = zlen ? zstart : c->offset;
      zlen += c->length;
    }
    else {
      if (zlen && send_zero (s, dg, disk, zstart, zlen) == -1)
        return -1;
      zlen = 0;
      if (send_data (s, dg, disk, c) == -1)
        return -1;
    }
    s->source_bytes += c->length;
    agent_progress.done += c->length;
    if (!c->zero) {
      s->level_sum += s->level.cur;
      s->data_chunks++;
    }
    if (c->offset + c->length > s->high[disk])
      s->high[disk] = c->offset + c->length;
    agent_pipeline_release (p);
    agent_pipeline_set_level (p, agent_level_update (&s->level,
                              s->conn->chan.wait_seconds - net, cpu));
    net = s->conn->chan.wait_seconds;
    t = p2v_now ();
    if (poll_replies (s, false) == -1)
      return -1;
    p2v_progress_update (&agent_progress, false);
  }
  if (r == -1)
    s->fatal = true;            /* the pipeline failed here, not the link */
  if (r == 0 && zlen && send_zero (s, dg, disk, zstart, zlen) == -1)
    return -1;
  return r;
}

static int
send_disk (struct sender *s, uint32_t disk)
{
  struct agent_pipeline *p;
  struct p2v_digest *dg;
  uint64_t chunks0 = s->chunks, start = s->sess.disks[disk].committed;
  char a[32];
  int r;

  if (start < s->high[disk])
    p2v_info ("%s: resuming at offset %" PRIu64 "; %s sent before the link "
              "was lost is sent again", s->src[disk]->path, start,
              p2v_human_size (s->high[disk] - start, a, sizeof a));
  else if (start > 0)
    p2v_info ("%s: the receiver already holds %.1f%%; continuing at offset "
              "%" PRIu64, s->src[disk]->path,
              100.0 * start / s->src[disk]->size, start);
  if (disk_begin (s, disk, start) == -1)
    return -1;
  s->cur = disk;
  s->inflight.len = s->inflight_head = 0;
  s->sent_cum = s->acked_cum = 0;
  dg = p2v_digest_new ();
  p = dg ? agent_pipeline_start (s->src[disk], &s->layout[disk]->read, disk,
                                 s->o->chunk_size, start, s->level.cur,
                                 s->o->threads) : NULL;
  if (p == NULL) {
    if (dg == NULL)
      p2v_error ("out of memory");
    p2v_digest_free (dg);
    s->fatal = true;
    return -1;
  }
  r = send_chunks (s, disk, dg, p);
  agent_pipeline_stop (p);
  if (r == 0)
    r = disk_end (s, disk, dg, s->chunks - chunks0);
  s->sent[disk] |= r == 0;
  p2v_digest_free (dg);
  s->cur = -1;
  return r;
}

/* ---- Hot clone: the passes after the first ---- */

/* The dirty grains of todo as the pipeline's read list. */
static int
dirty_extents (const struct agent_dirty *d, struct agent_extents *v)
{
  uint64_t off = 0, len = 0;

  v->len = 0;
  while (agent_dirty_next (d, off + len, &off, &len))
    if (agent_extents_append (v, (struct agent_extent) { off, len }) == -1)
      return -1;
  return 0;
}

/* Send pass n of disk: the chunks todo holds, each on the chunk grid:
 * DATA, or ZERO where the disk now reads as zeros.
 */
static int
send_pass (struct sender *s, uint32_t disk, uint32_t n,
           struct hot_pass *st)
{
  struct p2v_pass_begin b = { disk, n, s->o->chunk_size, s->o->window / 2 };
  struct agent_extents read = { 0 };
  struct agent_pipeline *p = NULL;
  struct p2v_digest *dg = p2v_digest_new ();
  struct p2v_disk_end e = { disk, 0 };
  struct agent_chunk *c;
  int r = -1;

  if (dg == NULL || dirty_extents (&s->todo[disk], &read) == -1) {
    p2v_error ("out of memory");
    s->fatal = true;
    goto out;
  }
  p2v_wbuf_reset (&s->msg);
  p2v_msg_start (&s->msg, P2V_MSG_PASS_BEGIN);
  p2v_put_pass_begin (&s->msg, &b);
  if (send_msg (s) == -1)
    goto out;
  s->pass_done[disk] = false;
  s->cur = disk;
  s->inflight.len = s->inflight_head = 0;
  s->sent_cum = s->acked_cum = 0;
  p = agent_pipeline_start (s->src[disk], &read, disk, s->o->chunk_size, 0,
                            s->level.cur, s->o->threads);
  if (p == NULL) {
    s->fatal = true;
    goto out;
  }
  while ((r = agent_pipeline_next (p, &c)) >= 1) {
    if (r == AGENT_PIPELINE_SLOW) {
      if (send_keepalive (s) == -1)
        goto out;
      continue;
    }
    if (c->bad.len) {
      p2v_error ("%s: cannot read %" PRIu64 " bytes at offset %" PRIu64
                 " in pass %" PRIu32 " (%s): a disk in use that fails "
                 "cannot be hot-cloned; boot the live image", s->src[disk]->path,
                 c->bad.ptr[0].length, c->bad.ptr[0].offset, n,
                 strerror (c->bad.ptr[0].err));
      s->fatal = true;
      r = -1;
      goto out;
    }
    if (c->read_bytes > 0) {    /* dirty: send it again */
      uint64_t chunks0 = s->chunks;

      if ((c->zero ? send_zero (s, dg, disk, c->offset, c->length)
                   : send_data (s, dg, disk, c)) == -1) {
        r = -1;
        goto out;
      }
      e.chunks += s->chunks - chunks0;
      st->chunks++;
      st->data_bytes += c->zero ? 0 : c->length;
    }
    agent_pipeline_release (p);
    if (poll_replies (s, false) == -1) {
      r = -1;
      goto out;
    }
  }
  if (r == -1) {
    s->fatal = true;
    goto out;
  }
  p2v_digest_final (dg, e.digest);
  p2v_wbuf_reset (&s->msg);
  p2v_msg_start (&s->msg, P2V_MSG_PASS_END);
  p2v_put_disk_end (&s->msg, &e);
  if ((r = send_msg (s)) == -1)
    goto out;
  while (!s->pass_done[disk])
    if ((r = poll_replies (s, true)) == -1)
      goto out;
  agent_dirty_clear (&s->todo[disk]);
 out:
  if (p)
    agent_pipeline_stop (p);
  p2v_digest_free (dg);
  agent_extents_reset (&read);
  s->cur = -1;
  return r == -1 ? -1 : 0;
}

/* The receiver's hashes of count chunks from off. */
static int
fetch_hashes (struct sender *s, uint32_t disk, uint64_t off, uint32_t count)
{
  struct p2v_hash_request q = { disk, off, s->o->chunk_size, count };

  s->have_hashes = false;
  s->hashes_count = count;
  p2v_wbuf_reset (&s->msg);
  p2v_msg_start (&s->msg, P2V_MSG_HASH_REQUEST);
  p2v_put_hash_request (&s->msg, &q);
  if (send_msg (s) == -1)
    return -1;
  while (!s->have_hashes)
    if (poll_replies (s, true) == -1)
      return -1;
  if (s->hashes_off != off || s->hashes_count != count)
    return protocol_error (s, "HASHES for another range");
  return 0;
}

#define HASH_BATCH 4096

/* Without tracking: read what the filesystems use now, hash it, and
 * mark what differs from the receiver's image in todo.
 */
static int
compare_disk (struct sender *s, uint32_t disk)
{
  const struct agent_source *src = s->src[disk];
  uint32_t cs = s->o->chunk_size;
  uint64_t nchunks = (src->size + cs - 1) / cs, batch0 = UINT64_MAX;
  struct agent_layout l = { 0 };
  struct agent_pipeline *p;
  struct agent_chunk *c;
  uint8_t zero_hash[P2V_HASH_LEN], last_zero_hash[P2V_HASH_LEN];
  uint8_t *zeros = calloc (1, cs);
  int r;

  if (zeros == NULL) {
    p2v_error ("out of memory");
    return -1;
  }
  p2v_hash_chunk (zeros, cs, zero_hash);
  p2v_hash_chunk (zeros, src->size - (nchunks - 1) * cs, last_zero_hash);
  free (zeros);
  if (agent_layout_build (s->src[disk], !s->o->no_maps, &l) == -1)
    return -1;
  p = agent_pipeline_start (src, &l.read, disk, cs, 0, s->level.cur,
                            s->o->threads);
  if (p == NULL) {
    agent_layout_free (&l);
    return -1;
  }
  while ((r = agent_pipeline_next (p, &c)) >= 1) {
    uint64_t k;
    const uint8_t *ours;

    if (r == AGENT_PIPELINE_SLOW) {
      if (send_keepalive (s) == -1) {
        r = -1;
        break;
      }
      continue;
    }
    k = c->offset / cs;
    ours = c->zero ? (k == nchunks - 1 ? last_zero_hash : zero_hash) : c->hash;
    if (c->read_bytes > 0) {
      if (batch0 == UINT64_MAX || k >= batch0 + HASH_BATCH) {
        batch0 = k;
        if (fetch_hashes (s, disk, k * cs, nchunks - k < HASH_BATCH
                          ? nchunks - k : HASH_BATCH) == -1) {
          r = -1;
          break;
        }
      }
      if (memcmp (ours, s->hashes + (k - batch0) * P2V_HASH_LEN,
                  P2V_HASH_LEN) != 0)
        agent_dirty_mark (&s->todo[disk], c->offset, c->length);
    }
    agent_pipeline_release (p);
  }
  agent_pipeline_stop (p);
  agent_layout_free (&l);
  return r;
}

static uint64_t
todo_bytes (struct sender *s)
{
  uint64_t n = 0;

  for (int i = 0; i < s->nsrc; ++i)
    n += agent_dirty_bytes (&s->todo[i]);
  return n;
}

/* Move what the tracker saw into todo; false if it lost events. */
static bool
take_dirty (struct sender *s)
{
  struct agent_hot *h = s->hot;

  if (!h->tracking)
    return false;
  for (int i = 0; i < s->nsrc; ++i)
    if (agent_tracker_take (&h->t, i, &s->todo[i]) == -1) {
      p2v_warning ("the tracker failed (%s): comparing hashes instead",
                   h->t.why);
      agent_tracker_stop (&h->t);
      h->tracking = false;
      h->tracker = "none";
      return false;
    }
  if (agent_tracker_lost (&h->t) > 0) {
    p2v_warning ("the tracker lost %" PRIu64 " events: comparing hashes "
                 "instead", agent_tracker_lost (&h->t));
    agent_tracker_stop (&h->t);
    h->tracking = false;
    h->tracker = "lost";
    return false;
  }
  return true;
}

/* One pass over every disk.  A disk whose pass 1 an earlier run sent
 * is compared by hashes first: what changed before this run's tracker
 * started is known to nobody.
 */
static int
one_pass (struct sender *s, bool final)
{
  struct hot_pass st = { .pass = ++s->pass, .final = final };
  uint64_t wire0 = s->conn->chan.bytes_out;
  double t0 = p2v_now ();
  char a[32];
  int r = 0;

  st.compare = !take_dirty (s);
  for (int i = 0; i < s->nsrc; ++i)
    if ((st.compare || !s->sent[i]) && compare_disk (s, i) == -1)
      return -1;
    else if (!s->sent[i]) {
      st.compare = true;
      s->sent[i] = true;        /* compared once is enough */
    }
  st.dirty = todo_bytes (s);
  p2v_info ("pass %" PRIu32 "%s: %s to send again%s", st.pass,
            final ? " (final)" : "", p2v_human_size (st.dirty, a, sizeof a),
            st.compare ? " (found by comparing hashes)" : "");
  for (int i = 0; r == 0 && i < s->nsrc; ++i)
    if (agent_dirty_bytes (&s->todo[i]) > 0)
      r = send_pass (s, i, st.pass, &st);
  st.seconds = p2v_now () - t0;
  st.wire_bytes = s->conn->chan.bytes_out - wire0;
  if (r == 0 && hot_passes_append (&s->stats, st) == -1) {
    p2v_error ("out of memory");
    return -1;
  }
  return r;
}

static int
hot_passes (struct sender *s)
{
  const struct agent_options *o = s->o;
  struct agent_hot *h = s->hot;
  uint64_t prev = UINT64_MAX;
  int r;

  if (s->conn->chan.version < 3) {
    p2v_error ("the receiver speaks protocol %" PRIu32 ": hot clone needs "
               "version 3; install a matching p2v-receiver",
               s->conn->chan.version);
    s->fatal = true;
    return -1;
  }
  if (s->pass < 1)
    s->pass = 1;                /* pass 1 is what send_disk sent */
  for (;;) {
    uint64_t dirty;
    bool unsent = false;        /* an earlier run's disk: compare it first */

    for (int i = 0; i < s->nsrc; ++i)
      unsent |= !s->sent[i];
    if (h->tracking) {
      if (agent_tracker_sync (&h->t, 10000) == -1)
        return -1;
      pthread_mutex_lock (&h->t.lock);
      dirty = 0;
      for (int i = 0; i < s->nsrc; ++i)
        dirty += agent_dirty_bytes (&h->t.dirty[i]);
      pthread_mutex_unlock (&h->t.lock);
      dirty += todo_bytes (s);
    }
    else
      dirty = UINT64_MAX;       /* unknown until compared */
    /* Not while frozen: a compare reads the whole disk. */
    if ((int) s->pass + 1 >= o->max_passes ||
        (!unsent && (dirty <= o->converge_bytes || !h->tracking ||
                     (prev != UINT64_MAX && dirty > prev / 10 * 9))))
      break;
    if (one_pass (s, false) == -1)
      return -1;
    prev = s->stats.ptr[s->stats.len - 1].dirty;
  }
  /* The final pass, the filesystems held still. */
  if (agent_hot_final_begin (h, o) == -1) {
    s->fatal = true;
    return -1;
  }
  r = one_pass (s, true);
  if (agent_hot_final_end (h, o) == -1) {
    s->fatal = true;
    r = -1;
  }
  p2v_info ("the filesystems were held (%s) for %.2f s", o->final,
            h->downtime);
  return r;
}

/* One connection: handshake, learn what the receiver holds, send the
 * rest.
 */
static int
session (struct sender *s)
{
  uint64_t done = 0;

  s->have_session = s->done_sent = s->complete = s->selected = false;
  s->receiver_error = s->fatal = false;
  s->acked_disks = 0;
  s->resent = 0;
  if (hello (s) == -1 || send_inventory (s) == -1)
    return -1;
  while (!s->have_session)
    if (poll_replies (s, true) == -1)
      return s->complete ? 0 : -1;
  s->earlier_errors = 0;
  for (int i = 0; i < s->nsrc; ++i) {
    const struct p2v_session_disk *d = &s->sess.disks[i];
    uint32_t ours = 0;

    for (size_t k = 0; k < s->bad.len; ++k)
      ours += s->bad.ptr[k].disk == (uint32_t) i &&
              s->bad.ptr[k].offset < d->committed;
    if (d->read_errors > ours)
      s->earlier_errors += d->read_errors - ours;
    if (d->flags & P2V_DISK_COMPLETE)
      s->acked_disks++;
    done += d->committed;
    s->committed[i] = d->committed;
  }
  agent_progress.done = done;
  if (s->sess.flags & P2V_SESSION_RESUMED && s->sessions == 1)
    p2v_info ("resuming the unfinished conversion '%s' (%.1f%% already on "
              "the receiver)", s->o->name, 100.0 * done / agent_progress.total);
  for (int i = 0; i < s->nsrc; ++i)
    if (!(s->sess.disks[i].flags & P2V_DISK_COMPLETE) &&
        send_disk (s, i) == -1)
      return -1;
  if (s->hot && hot_passes (s) == -1)
    return -1;
  /* The last bar, before the receiver's summary (not after it). */
  p2v_progress_end (&agent_progress);
  p2v_wbuf_reset (&s->msg);
  p2v_msg_start (&s->msg, P2V_MSG_DONE);
  /* Four signs of life from the publishing receiver per --timeout. */
  p2v_put_done (&s->msg, s->conn->chan.version,
                s->o->timeout > 0 ? s->o->timeout * 250 : 0);
  s->done_sent = true;
  if (send_msg (s) == -1)
    return -1;
  while (!s->complete)
    if (poll_replies (s, true) == -1)
      return -1;
  return 0;
}

static void
write_stats (struct sender *s, bool ok, double seconds)
{
  FILE *fp = strcmp (s->o->stats, "-") == 0 ? stdout
                                             : fopen (s->o->stats, "w");

  if (fp == NULL) {
    p2v_error ("--stats %s: %m", s->o->stats);
    return;
  }
  fprintf (fp, "{\"result\":\"%s\",\"name\":", ok ? "complete" : "failed");
  p2v_json_string (fp, s->o->name);
  fprintf (fp, ",\"disks\":%d,\"source_bytes\":%" PRIu64
           ",\"mapped_bytes\":%" PRIu64 ",\"data_bytes\":%" PRIu64
           ",\"zero_bytes\":%" PRIu64 ",\"chunks\":%" PRIu64
           ",\"wire_bytes\":%" PRIu64 ",\"seconds\":%.3f",
           s->nsrc, s->source_bytes, s->mapped_bytes, s->data_bytes,
           s->zero_bytes, s->chunks, s->wire_bytes, seconds);
  fprintf (fp, ",\"level\":%d,\"level_mean\":%.2f,\"adaptive\":%s,"
           "\"chunk_size\":%" PRIu32 ",\"window\":%" PRIu64
           ",\"sessions\":%u,\"resent_bytes\":[", s->level.cur,
           s->data_chunks ? s->level_sum / s->data_chunks : s->level.cur,
           s->o->adaptive ? "true" : "false", s->o->chunk_size,
           s->o->window, s->sessions);
  for (size_t i = 0; i < s->resends.len; ++i)
    fprintf (fp, "%s%" PRIu64, i ? "," : "", s->resends.ptr[i]);
  fprintf (fp, "],\"read_errors\":[");
  for (size_t i = 0; i < s->bad.len; ++i)
    fprintf (fp, "%s{\"disk\":%" PRIu32 ",\"offset\":%" PRIu64 ",\"length\":%"
             PRIu64 ",\"errno\":%" PRIu32 "}", i ? "," : "",
             s->bad.ptr[i].disk, s->bad.ptr[i].offset, s->bad.ptr[i].length,
             s->bad.ptr[i].err);
  fprintf (fp, "]");
  if (s->hot) {
    fprintf (fp, ",\"hot_clone\":{\"tracker\":\"%s\",\"events\":%" PRIu64
             ",\"final\":\"%s\",\"downtime_seconds\":%.3f,\"passes\":[",
             s->hot->tracker, s->hot->t.events, s->o->final,
             s->hot->downtime);
    for (size_t i = 0; i < s->stats.len; ++i) {
      const struct hot_pass *p = &s->stats.ptr[i];

      fprintf (fp, "%s{\"pass\":%" PRIu32 ",\"final\":%s,\"compare\":%s,"
               "\"dirty_bytes\":%" PRIu64 ",\"chunks\":%" PRIu64
               ",\"data_bytes\":%" PRIu64 ",\"wire_bytes\":%" PRIu64
               ",\"seconds\":%.3f}", i ? "," : "", p->pass,
               p->final ? "true" : "false", p->compare ? "true" : "false",
               p->dirty, p->chunks, p->data_bytes, p->wire_bytes, p->seconds);
    }
    fprintf (fp, "]}");
  }
  fprintf (fp, "}\n");
  if (fp != stdout && fclose (fp) != 0)
    p2v_error ("--stats %s: %m", s->o->stats);
}

/* Done, but not everything could be read: say exactly what. */
static void
report_read_errors (struct sender *s)
{
  uint64_t bytes = 0;
  char h[32];

  for (size_t i = 0; i < s->bad.len; ++i)
    bytes += s->bad.ptr[i].length;
  p2v_error ("'%s' converted, but %zu source range(s) (%s) could not be "
             "read and were written as zeros%s:", s->o->name, s->bad.len,
             p2v_human_size (bytes, h, sizeof h), s->earlier_errors ?
             "; more were recorded by an earlier run (see the receiver's "
             "report.json)" : "");
  for (size_t i = 0; i < s->bad.len; ++i)
    fprintf (stderr, "  %s: offset %" PRIu64 ", %" PRIu64 " bytes: %s\n",
             s->src[s->bad.ptr[i].disk]->path, s->bad.ptr[i].offset,
             s->bad.ptr[i].length, strerror (s->bad.ptr[i].err));
  if (s->bad.len == 0)
    fprintf (stderr, "  %" PRIu32 " range(s) recorded by an earlier run, "
             "listed in report.json\n", s->earlier_errors);
}

static void
report_end (struct sender *s, int r, double secs)
{
  char src[32], wire[32], data[32];
  bool ok = r != -1;

  p2v_progress_clear (&agent_progress);  /* no bar after the end */
  if (s->o->machine_readable) {
    printf ("{\"event\":\"%s\",\"source_bytes\":%" PRIu64 ",\"wire_bytes\":%"
            PRIu64 ",\"seconds\":%.3f,\"read_errors\":%zu", ok ? "done"
            : "error", s->source_bytes, s->wire_bytes, secs, s->bad.len);
    if (!ok)
      printf (",\"message\":"), p2v_json_string (stdout, p2v_last_error ());
    printf ("}\n");
    fflush (stdout);
  }
  if (ok && s->was_complete)
    p2v_info ("'%s' was already complete on the receiver: nothing sent",
              s->o->name);
  else if (ok) {
    uint64_t total = agent_progress.total;      /* the disks sent */
    char earlier[80] = "", held[32];

    /* A resumed run reads only what the receiver did not hold yet. */
    if (s->source_bytes < total)
      snprintf (earlier, sizeof earlier, " (%s of it on the receiver "
                "already)", p2v_human_size (total - s->source_bytes, held,
                                            sizeof held));
    p2v_info ("'%s' converted: %s of disks%s, %s holding data, %s sent in "
              "%.1f s; images verified by the receiver", s->o->name,
              p2v_human_size (total > s->source_bytes ? total
                              : s->source_bytes, src, sizeof src), earlier,
              p2v_human_size (s->data_bytes, data, sizeof data),
              p2v_human_size (s->wire_bytes, wire, sizeof wire), secs);
  }
  if (r == AGENT_EXIT_READ_ERRORS)
    report_read_errors (s);
  if (s->o->stats)
    write_stats (s, ok, secs);
}

/* Tell the receiver why we stop, so its status file says so. */
static void
send_error (struct sender *s)
{
  p2v_wbuf_reset (&s->msg);
  p2v_msg_start (&s->msg, P2V_MSG_ERROR);
  p2v_put_error (&s->msg, P2V_ERR_IO, p2v_last_error ());
  if (p2v_msg_finish (&s->msg) == 0)
    p2v_chan_send (&s->conn->chan, s->msg.p, s->msg.len);
}

/* One connection from connect to close; 0, or -1 with *retry saying
 * whether a new connection could get further.
 */
static int
attempt (struct sender *s, bool *retry)
{
  uint64_t wire0;
  int status, r;

  s->conn = s->o->local ? agent_connect_local (s->o)
                        : agent_connect_ssh (s->o);
  if (s->conn == NULL) {
    *retry = s->established;    /* it worked before: the link is down */
    return -1;
  }
  s->sessions++;
  wire0 = s->conn->chan.bytes_out;
  r = session (s);
  s->finished_before |= s->done_sent;
  if (r == -1 && !s->receiver_error && !s->conn->chan.eof && s->fatal)
    send_error (s);
  s->wire_bytes += s->conn->chan.bytes_out - wire0;
  if (s->sessions > 1 && u64s_append (&s->resends, s->resent) == -1)
    s->fatal = true;
  /* The receiver's own words explain a dropped connection; after an
   * ERROR message they would only repeat it.
   */
  status = agent_conn_close (s->conn, r == -1 && !s->receiver_error);
  s->conn = NULL;
  if (r == 0 && status > 0 && !s->receiver_error) {
    p2v_error ("the receiver exited with status %d after completing", status);
    r = -1;
  }
  /* Until one session has worked, a failure is more likely a mistake
   * (wrong host, no receiver, another agent on the name) than a link;
   * but RETRY is the hypervisor side asking for it (a batch
   * coordinator restarting).
   */
  *retry = r == -1 && !s->fatal &&
           ((s->established && (!s->receiver_error ||
                                s->receiver_code == P2V_ERR_BUSY)) ||
            (s->receiver_error && s->receiver_code == P2V_ERR_RETRY));
  return r;
}

static uint64_t
durable (const struct sender *s)
{
  uint64_t n = 0;

  for (int i = 0; i < s->nsrc; ++i)
    n += s->committed[i];
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
      return s->bad.len || s->earlier_errors ? AGENT_EXIT_READ_ERRORS : 0;
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

/* hot-clone: every target is a source disk as it is (no md flattened). */
static int
hot_setup (struct sender *s, struct agent_hot *h)
{
  for (int i = 0; i < s->nsrc; ++i)
    if (!s->src[i]->is_block ||
        s->src[i]->rdev != h->devs[i] || s->nsrc != h->ndisks) {
      p2v_error ("hot-clone copies each disk as it is; the plan changes "
                 "them (md RAID flattened?): give --no-flatten, or the "
                 "array devices themselves");
      return -1;
    }
  if (agent_hot_prepare (h, s->o, s->src, s->nsrc) == -1)
    return -1;
  /* A disk in use changes in its first MiB too: for a resume it is
   * known by its path, serial and size (and the first later pass of a
   * resumed run compares every chunk, so nothing rests on this).
   */
  for (int i = 0; i < s->nsrc; ++i) {
    char key[600];
    int n = snprintf (key, sizeof key, "p2v hot-clone %s %s %" PRIu64,
                      s->src[i]->path, s->src[i]->id, s->src[i]->size);

    p2v_hash_chunk (key, n < (int) sizeof key ? n : (int) sizeof key - 1,
                    s->src[i]->fingerprint);
  }
  for (int i = 0; i < s->nsrc; ++i)
    if (agent_source_direct (s->src[i]) == -1)
      return -1;
  s->hashes = malloc (HASH_BATCH * P2V_HASH_LEN);
  for (int i = 0; s->hashes && i < s->nsrc; ++i)
    if (agent_dirty_init (&s->todo[i], s->src[i]->size, s->o->chunk_size) == -1) {
      free (s->hashes);
      s->hashes = NULL;
    }
  if (s->hashes == NULL) {
    p2v_error ("out of memory");
    return -1;
  }
  s->hot = h;
  return 0;
}

int
agent_send (const struct agent_options *o)
{
  struct agent_plan *plan = calloc (1, sizeof *plan);
  struct sender s = { .o = o, .plan = plan, .cur = -1, .start = p2v_now () };
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
      s.mapped_bytes += agent_extents_bytes (&s.layout[i]->read, 0,
                                             s.src[i]->size);
    }
    s.nsrc = plan->nt;
    if (o->dry_run)
      r = 0;
    else if (o->hot && hot_setup (&s, &hot) == -1)
      r = -1;
    else {
      agent_level_init (&s.level, o);
      r = run (&s);
    }
  }
  if (!o->dry_run || r == -1)
    report_end (&s, r, p2v_now () - s.start);
  if (plan)
    agent_plan_free (plan);
  free (plan);
  p2v_wbuf_free (&s.msg);
  inflights_reset (&s.inflight);
  agent_bad_ranges_reset (&s.bad);
  u64s_reset (&s.resends);
  if (o->hot) {
    agent_hot_stop (&hot);
    for (int i = 0; i < P2V_MAX_DISKS; ++i)
      agent_dirty_free (&s.todo[i]);
    hot_passes_reset (&s.stats);
    free (s.hashes);
  }
  return r == -1 ? EXIT_FAILURE : r;
}
