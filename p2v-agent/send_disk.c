/* p2v-agent send: stream one disk.  The pipeline's chunks go out in
 * disk order, all-zero runs merged into ZERO extents and everything
 * else as hashed zstd frames, between DISK_BEGIN and DISK_END (whose
 * digest covers every chunk); ranges that could not be read go first,
 * as READ_ERROR.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "agent.h"
#include "conn.h"
#include "fileio.h"
#include "hash.h"
#include "json.h"
#include "level.h"
#include "log.h"
#include "pipeline.h"
#include "proto.h"
#include "send.h"
#include "send_conv.h"
#include "send_disk.h"
#include "send_pass.h"
#include "send_stats.h"

int
agent_send_zero (struct sender *s, struct p2v_digest *dg, uint32_t disk,
                 uint64_t off, uint64_t len)
{
  struct p2v_chunk c = { disk, off, len, P2V_CHUNK_ZERO };

  agent_conv_start (&s->conv, P2V_MSG_CHUNK);
  p2v_put_chunk_header (&s->conv.msg, &c);
  p2v_digest_add (dg, &c);
  s->stats.zero_bytes += len;
  s->stats.chunks++;
  return agent_conv_send (s);
}

/* A chunk the pipeline built: its message is complete.  It waits until
 * the receiver has acknowledged enough to keep the window.
 */
int
agent_send_data (struct sender *s, struct p2v_digest *dg, uint32_t disk,
                 struct agent_chunk *ch)
{
  struct p2v_chunk c = { disk, ch->offset, ch->length, P2V_CHUNK_DATA };

  if (agent_conv_window_wait (s, ch->length) == -1)
    return -1;
  memcpy (c.hash, ch->hash, P2V_HASH_LEN);
  p2v_digest_add (dg, &c);
  s->stats.data_bytes += ch->read_bytes;
  s->stats.chunks++;
  if (ch->offset < s->high[disk])
    s->stats.resent += ch->length;
  if (p2v_chan_send (&s->conv.conn->chan, ch->msg.p, ch->msg.len) == -1) {
    if (errno == EPIPE)
      agent_conv_poll (s, true);        /* show the receiver's ERROR, if any */
    return -1;
  }
  if (agent_conv_window_add (&s->conv, ch->offset + ch->length,
                             ch->length) == -1)
    return -1;
  agent_progress.wire = s->conv.conn->chan.bytes_out;
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
    for (size_t k = s->stats.bad.len; k-- > 0;)
      if (s->stats.bad.ptr[k].disk == disk) {
        last = &s->stats.bad.ptr[k];
        break;
      }
    if (last == NULL || e.offset >= last->offset + last->length) {
      p2v_progress_clear (&agent_progress);
      p2v_warning ("%s: cannot read %" PRIu64 " bytes at offset %" PRIu64
                   " (%s); sending zeros there", s->src[disk]->path,
                   e.length, e.offset, strerror (e.err));
      if (agent_bad_ranges_append (&s->stats.bad, e) == -1) {
        p2v_error ("out of memory");
        s->conv.fatal = true;
        return -1;
      }
      if (s->stats.bad.len > (size_t) s->o->max_read_errors) {
        p2v_error ("%s: more than %d unreadable ranges; the disk is "
                   "failing badly: image it with ddrescue first, or raise "
                   "--max-read-errors", s->src[disk]->path,
                   s->o->max_read_errors);
        s->conv.fatal = true;
        return -1;
      }
    }
    agent_conv_start (&s->conv, P2V_MSG_READ_ERROR);
    p2v_put_read_error (&s->conv.msg, &e);
    if (agent_conv_send (s) == -1)
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
  agent_conv_start (&s->conv, P2V_MSG_DISK_BEGIN);
  p2v_put_disk_begin (&s->conv.msg, &b);
  return agent_conv_send (s);
}

static int
disk_end (struct sender *s, uint32_t disk, struct p2v_digest *dg,
          uint64_t chunks)
{
  struct p2v_disk_end e = { disk, chunks };

  p2v_digest_final (dg, e.digest);
  agent_conv_start (&s->conv, P2V_MSG_DISK_END);
  p2v_put_disk_end (&s->conv.msg, &e);
  return agent_conv_send (s);
}

/* Zero chunks are merged into one extent until data interrupts them. */
static int
send_chunks (struct sender *s, uint32_t disk, struct p2v_digest *dg,
             struct agent_pipeline *p)
{
  struct agent_chunk *c;
  uint64_t zstart = 0, zlen = 0;
  double t = p2v_now (), net = s->conv.conn->chan.wait_seconds, cpu;
  int r;

  while ((r = agent_pipeline_next (p, &c)) >= 1) {
    if (r == AGENT_PIPELINE_SLOW) {
      if (agent_conv_keepalive (s) == -1)
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
      if (zlen && agent_send_zero (s, dg, disk, zstart, zlen) == -1)
        return -1;
      zlen = 0;
      if (agent_send_data (s, dg, disk, c) == -1)
        return -1;
    }
    s->stats.source_bytes += c->length;
    agent_progress.done += c->length;
    if (!c->zero) {
      s->stats.level_sum += s->level.cur;
      s->stats.data_chunks++;
    }
    if (c->offset + c->length > s->high[disk])
      s->high[disk] = c->offset + c->length;
    agent_pipeline_release (p);
    agent_pipeline_set_level (p, agent_level_update (&s->level,
                              s->conv.conn->chan.wait_seconds - net, cpu));
    net = s->conv.conn->chan.wait_seconds;
    t = p2v_now ();
    if (agent_conv_poll (s, false) == -1)
      return -1;
    p2v_progress_update (&agent_progress, false);
  }
  if (r == -1)
    s->conv.fatal = true;       /* the pipeline failed here, not the link */
  if (r == 0 && zlen && agent_send_zero (s, dg, disk, zstart, zlen) == -1)
    return -1;
  return r;
}

int
agent_send_disk (struct sender *s, uint32_t disk)
{
  struct agent_pipeline *p;
  struct p2v_digest *dg;
  uint64_t chunks0 = s->stats.chunks;
  uint64_t start = s->conv.sess.disks[disk].committed;
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
  agent_conv_window_open (&s->conv, disk);
  dg = p2v_digest_new ();
  p = dg ? agent_pipeline_start (s->src[disk], &s->layout[disk]->read, disk,
                                 s->o->chunk_size, start, s->level.cur,
                                 s->o->threads) : NULL;
  if (p == NULL) {
    if (dg == NULL)
      p2v_error ("out of memory");
    p2v_digest_free (dg);
    s->conv.fatal = true;
    return -1;
  }
  r = send_chunks (s, disk, dg, p);
  agent_pipeline_stop (p);
  if (r == 0)
    r = disk_end (s, disk, dg, s->stats.chunks - chunks0);
  s->hot.sent[disk] |= r == 0;
  p2v_digest_free (dg);
  agent_conv_window_close (&s->conv);
  return r;
}
