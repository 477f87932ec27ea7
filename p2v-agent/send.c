/* p2v-agent send: read each source disk in chunks, send all-zero runs
 * as zero extents and everything else as hashed zstd frames, then wait
 * until the receiver says the conversion is durable and verified.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "buf.h"
#include "fileio.h"
#include "hash.h"
#include "json.h"
#include "log.h"
#include "proto.h"

struct p2v_progress agent_progress;

struct sender {
  const struct agent_options *o;
  struct agent_conn *conn;
  struct agent_source *src;
  struct agent_layout *layout;  /* per source */
  int nsrc;
  struct p2v_wbuf msg;
  bool done_sent;               /* DONE is on its way */
  bool complete;                /* receiver acknowledged everything */
  bool receiver_error;          /* receiver sent ERROR (already shown) */
  uint32_t acked_disks;         /* disks the receiver verified */
  uint64_t source_bytes, data_bytes, zero_bytes, chunks, wire_bytes;
  uint64_t mapped_bytes;        /* what the maps said to read */
  struct agent_level level;
  double level_sum;             /* levels of the data chunks, summed */
  uint64_t data_chunks;
  double start;
};

static int poll_replies (struct sender *s, bool wait);

static int
send_msg (struct sender *s)
{
  if (p2v_msg_finish (&s->msg) == -1) {
    p2v_error ("internal error: building a message failed");
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

static int
handle_reply (struct sender *s, const struct p2v_msg *m)
{
  struct p2v_ack a;
  struct p2v_errmsg e = { 0 };

  switch (m->type) {
  case P2V_MSG_ACK:
    if (p2v_parse_ack (m->payload, m->len, &a) == -1)
      break;
    agent_progress.committed = a.committed;
    if (a.flags & P2V_ACK_DISK_COMPLETE)
      s->acked_disks++;
    if ((a.flags & P2V_ACK_ALL_COMPLETE) &&
        (!s->done_sent || s->acked_disks != (uint32_t) s->nsrc)) {
      p2v_error ("the receiver claims completion after verifying %" PRIu32
                 " of %d disks%s", s->acked_disks, s->nsrc,
                 s->done_sent ? "" : ", before the agent finished");
      return -1;
    }
    if (a.flags & P2V_ACK_ALL_COMPLETE)
      s->complete = true;
    return 0;
  case P2V_MSG_ERROR:
    if (p2v_parse_error (m->payload, m->len, &e) == -1)
      break;
    p2v_progress_clear (&agent_progress);
    p2v_error ("the receiver stopped: %s", e.message);
    free (e.message);
    s->receiver_error = true;
    return -1;
  }
  p2v_error ("the receiver sent a malformed or unexpected %s message",
             p2v_msg_name (m->type));
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
  return r;
}

static int
hello (struct sender *s)
{
  struct p2v_hello ours = {
    P2V_PROTO_MIN, P2V_PROTO_MAX, P2V_CAP_ZSTD, "p2v-agent " P2V_VERSION
  }, theirs;
  struct p2v_msg m;

  p2v_wbuf_reset (&s->msg);
  p2v_msg_start (&s->msg, P2V_MSG_HELLO);
  p2v_put_hello (&s->msg, &ours);
  if (p2v_msg_finish (&s->msg) == -1 ||
      p2v_chan_send (&s->conn->chan, s->msg.p, s->msg.len) == -1 ||
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
  if (p2v_version_choose (&ours, &theirs) == -1) {
    p2v_error ("the receiver (%s) speaks protocol %" PRIu32 "-%" PRIu32
               ", this agent %d-%d; install matching versions",
               theirs.software, theirs.version_min, theirs.version_max,
               P2V_PROTO_MIN, P2V_PROTO_MAX);
    p2v_hello_free (&theirs);
    return -1;
  }
  p2v_debug ("receiver: %s", theirs.software);
  p2v_hello_free (&theirs);
  return 0;
}

/* The inventory carries the same host facts p2v-agent probe shows. */
static int
send_inventory (struct sender *s)
{
  struct p2v_disk_info disks[P2V_MAX_DISKS];
  struct agent_facts f = { 0 };
  char host[256] = "unknown";
  char *keys[P2V_MAX_FACTS], *values[P2V_MAX_FACTS];
  struct p2v_inventory inv = {
    .name = (char *) s->o->name, .hostname = host,
    .cpus = (uint32_t) sysconf (_SC_NPROCESSORS_ONLN),
    .memory = (uint64_t) sysconf (_SC_PHYS_PAGES) * sysconf (_SC_PAGESIZE),
    .ndisks = s->nsrc, .disks = disks, .keys = keys, .values = values,
  };
  int r;

  gethostname (host, sizeof host - 1);
  if (agent_host_facts (&f) == -1) {
    agent_facts_free (&f);
    return -1;
  }
  keys[0] = "agent";
  values[0] = "p2v-agent " P2V_VERSION;
  for (inv.nfacts = 1; inv.nfacts <= f.len && inv.nfacts < P2V_MAX_FACTS;
       ++inv.nfacts) {
    keys[inv.nfacts] = f.ptr[inv.nfacts - 1].key;
    values[inv.nfacts] = f.ptr[inv.nfacts - 1].value;
  }
  for (int i = 0; i < s->nsrc; ++i)
    disks[i] = (struct p2v_disk_info) {
      s->src[i].size, s->src[i].sector_size, (char *) s->src[i].path, ""
    };
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

/* A chunk the pipeline built: its message is complete. */
static int
send_data (struct sender *s, struct p2v_digest *dg, uint32_t disk,
           struct agent_chunk *ch)
{
  struct p2v_chunk c = { disk, ch->offset, ch->length, P2V_CHUNK_DATA };

  memcpy (c.hash, ch->hash, P2V_HASH_LEN);
  p2v_digest_add (dg, &c);
  s->data_bytes += ch->read_bytes;
  s->chunks++;
  if (p2v_chan_send (&s->conn->chan, ch->msg.p, ch->msg.len) == -1) {
    if (errno == EPIPE)
      poll_replies (s, true);   /* show the receiver's ERROR, if any */
    return -1;
  }
  agent_progress.wire = s->conn->chan.bytes_out;
  return 0;
}

static int
disk_begin (struct sender *s, uint32_t disk)
{
  struct p2v_disk_begin b = { disk, s->src[disk].size, s->o->chunk_size };

  if (s->o->machine_readable) {
    printf ("{\"event\":\"disk\",\"disk\":%" PRIu32 ",\"source\":", disk);
    p2v_json_string (stdout, s->src[disk].path);
    printf (",\"size\":%" PRIu64 "}\n", s->src[disk].size);
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

  while ((r = agent_pipeline_next (p, &c)) == 1) {
    cpu = p2v_now () - t;       /* waited for the workers */
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
    agent_pipeline_release (p);
    agent_pipeline_set_level (p, agent_level_update (&s->level,
                              s->conn->chan.wait_seconds - net, cpu));
    net = s->conn->chan.wait_seconds;
    t = p2v_now ();
    if (poll_replies (s, false) == -1)
      return -1;
    p2v_progress_update (&agent_progress, false);
  }
  if (r == 0 && zlen && send_zero (s, dg, disk, zstart, zlen) == -1)
    return -1;
  return r;
}

static int
send_disk (struct sender *s, uint32_t disk, struct p2v_digest *dg)
{
  struct agent_pipeline *p;
  uint64_t chunks0 = s->chunks;
  int r;

  if (disk_begin (s, disk) == -1)
    return -1;
  p = agent_pipeline_start (&s->src[disk], &s->layout[disk].read, disk,
                            s->o->chunk_size, s->level.cur, s->o->threads);
  if (p == NULL)
    return -1;
  r = send_chunks (s, disk, dg, p);
  agent_pipeline_stop (p);
  if (r == -1)
    return -1;
  return disk_end (s, disk, dg, s->chunks - chunks0);
}

static int
send_all (struct sender *s)
{
  int i;

  if (hello (s) == -1 || send_inventory (s) == -1)
    return -1;
  for (i = 0; i < s->nsrc; ++i) {
    struct p2v_digest *dg = p2v_digest_new ();
    int r;

    if (dg == NULL) {
      p2v_error ("out of memory");
      return -1;
    }
    r = send_disk (s, i, dg);
    p2v_digest_free (dg);
    if (r == -1)
      return -1;
  }
  p2v_wbuf_reset (&s->msg);
  p2v_msg_start (&s->msg, P2V_MSG_DONE);
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
           "\"chunk_size\":%" PRIu32 "}\n", s->level.cur,
           s->data_chunks ? s->level_sum / s->data_chunks : s->level.cur,
           s->o->adaptive ? "true" : "false", s->o->chunk_size);
  if (fp != stdout && fclose (fp) != 0)
    p2v_error ("--stats %s: %m", s->o->stats);
}

static void
report_end (struct sender *s, bool ok, double secs)
{
  char src[32], wire[32], data[32];
  uint64_t w = s->wire_bytes;

  p2v_progress_end (&agent_progress);
  if (s->o->machine_readable) {
    printf ("{\"event\":\"%s\",\"source_bytes\":%" PRIu64 ",\"wire_bytes\":%"
            PRIu64 ",\"seconds\":%.3f", ok ? "done" : "error",
            s->source_bytes, w, secs);
    if (!ok)
      printf (",\"message\":"), p2v_json_string (stdout, p2v_last_error ());
    printf ("}\n");
    fflush (stdout);
  }
  if (ok)
    p2v_info ("'%s' converted: %s of disks, %s holding data, %s sent in "
              "%.1f s; images verified by the receiver", s->o->name,
              p2v_human_size (s->source_bytes, src, sizeof src),
              p2v_human_size (s->data_bytes, data, sizeof data),
              p2v_human_size (w, wire, sizeof wire), secs);
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

static int
run (struct sender *s)
{
  const struct agent_options *o = s->o;
  uint64_t total = 0;
  int status, r;

  for (int i = 0; i < s->nsrc; ++i)
    total += s->src[i].size;
  s->conn = o->local ? agent_connect_local (o) : agent_connect_ssh (o);
  if (s->conn == NULL)
    return -1;
  p2v_progress_init (&agent_progress, o->machine_readable, p2v_verbose < 0,
                     total);
  r = send_all (s);
  if (r == -1 && !s->receiver_error && !s->conn->chan.eof)
    send_error (s);
  s->wire_bytes = s->conn->chan.bytes_out;
  /* The receiver's own words explain a dropped connection; after an
   * ERROR message they would only repeat it.
   */
  status = agent_conn_close (s->conn, r == -1 && !s->receiver_error);
  s->conn = NULL;
  if (r == 0 && status > 0) {
    p2v_error ("the receiver exited with status %d after completing", status);
    r = -1;
  }
  return r;
}

int
agent_send (const struct agent_options *o)
{
  struct agent_source src[P2V_MAX_DISKS];
  struct agent_layout layout[P2V_MAX_DISKS] = { 0 };
  struct sender s = { .o = o, .src = src, .layout = layout,
                      .start = p2v_now () };
  int i, r = -1;

  for (i = 0; i < o->nsources; ++i) {
    if (agent_source_open (&src[i], o->sources[i]) == -1)
      goto out;
    if (agent_check_mounted (&src[i], o->allow_mounted) == -1) {
      agent_source_close (&src[i]);
      goto out;
    }
    if (agent_layout_build (&src[i], !o->no_maps, &layout[i]) == -1) {
      agent_source_close (&src[i]);
      goto out;
    }
    agent_layout_print (&src[i], &layout[i]);
    s.mapped_bytes += agent_extents_bytes (&layout[i].read, 0, src[i].size);
  }
  s.nsrc = o->nsources;
  agent_level_init (&s.level, o);
  r = run (&s);
 out:
  report_end (&s, r == 0, p2v_now () - s.start);
  while (--i >= 0) {
    agent_layout_free (&layout[i]);
    agent_source_close (&src[i]);
  }
  p2v_wbuf_free (&s.msg);
  return r;
}
