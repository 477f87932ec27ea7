/* p2v-agent hot-clone: the passes after the first.  Each pass sends
 * again what changed since the last one: what the tracker saw, or
 * without one (or after it lost events) what differs from the
 * receiver's hashes.  Passes repeat while they converge, then the
 * final one runs with the filesystems held (hot.c).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "conn.h"
#include "fileio.h"
#include "hash.h"
#include "hot.h"
#include "level.h"
#include "log.h"
#include "pipeline.h"
#include "proto.h"
#include "send.h"
#include "send_conv.h"
#include "send_disk.h"
#include "send_pass.h"
#include "send_stats.h"

#define HASH_BATCH 4096         /* chunk hashes asked for at once */

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

  if (dg == NULL || dirty_extents (&s->hot.todo[disk], &read) == -1) {
    p2v_error ("out of memory");
    s->conv.fatal = true;
    goto out;
  }
  agent_conv_start (&s->conv, P2V_MSG_PASS_BEGIN);
  p2v_put_pass_begin (&s->conv.msg, &b);
  if (agent_conv_send (s) == -1)
    goto out;
  s->conv.pass_done[disk] = false;
  agent_conv_window_open (&s->conv, disk);
  p = agent_pipeline_start (s->src[disk], &read, disk, s->o->chunk_size, 0,
                            s->level.cur, s->o->threads);
  if (p == NULL) {
    s->conv.fatal = true;
    goto out;
  }
  while ((r = agent_pipeline_next (p, &c)) >= 1) {
    if (r == AGENT_PIPELINE_SLOW) {
      if (agent_conv_keepalive (s) == -1)
        goto out;
      continue;
    }
    if (c->bad.len) {
      p2v_error ("%s: cannot read %" PRIu64 " bytes at offset %" PRIu64
                 " in pass %" PRIu32 " (%s): a disk in use that fails "
                 "cannot be hot-cloned; boot the live image",
                 s->src[disk]->path, c->bad.ptr[0].length,
                 c->bad.ptr[0].offset, n, strerror (c->bad.ptr[0].err));
      s->conv.fatal = true;
      r = -1;
      goto out;
    }
    if (c->read_bytes > 0) {    /* dirty: send it again */
      uint64_t chunks0 = s->stats.chunks;

      if ((c->zero ? agent_send_zero (s, dg, disk, c->offset, c->length)
                   : agent_send_data (s, dg, disk, c)) == -1) {
        r = -1;
        goto out;
      }
      e.chunks += s->stats.chunks - chunks0;
      st->chunks++;
      st->data_bytes += c->zero ? 0 : c->length;
    }
    agent_pipeline_release (p);
    if (agent_conv_poll (s, false) == -1) {
      r = -1;
      goto out;
    }
  }
  if (r == -1) {
    s->conv.fatal = true;
    goto out;
  }
  p2v_digest_final (dg, e.digest);
  agent_conv_start (&s->conv, P2V_MSG_PASS_END);
  p2v_put_disk_end (&s->conv.msg, &e);
  if ((r = agent_conv_send (s)) == -1)
    goto out;
  while (!s->conv.pass_done[disk])
    if ((r = agent_conv_poll (s, true)) == -1)
      goto out;
  agent_dirty_clear (&s->hot.todo[disk]);
 out:
  if (p)
    agent_pipeline_stop (p);
  p2v_digest_free (dg);
  agent_extents_reset (&read);
  agent_conv_window_close (&s->conv);
  return r == -1 ? -1 : 0;
}

/* The receiver's hashes of count chunks from off. */
static int
fetch_hashes (struct sender *s, uint32_t disk, uint64_t off, uint32_t count)
{
  struct p2v_hash_request q = { disk, off, s->o->chunk_size, count };

  s->conv.have_hashes = false;
  s->conv.hashes_count = count;
  agent_conv_start (&s->conv, P2V_MSG_HASH_REQUEST);
  p2v_put_hash_request (&s->conv.msg, &q);
  if (agent_conv_send (s) == -1)
    return -1;
  while (!s->conv.have_hashes)
    if (agent_conv_poll (s, true) == -1)
      return -1;
  if (s->conv.hashes_off != off || s->conv.hashes_count != count)
    return agent_conv_protocol_error (s, "HASHES for another range");
  return 0;
}

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
      if (agent_conv_keepalive (s) == -1) {
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
      if (memcmp (ours, s->conv.hashes + (k - batch0) * P2V_HASH_LEN,
                  P2V_HASH_LEN) != 0)
        agent_dirty_mark (&s->hot.todo[disk], c->offset, c->length);
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
    n += agent_dirty_bytes (&s->hot.todo[i]);
  return n;
}

/* Move what the tracker saw into todo; false if it lost events. */
static bool
take_dirty (struct sender *s)
{
  struct agent_hot *h = s->hot.h;

  if (!h->tracking)
    return false;
  for (int i = 0; i < s->nsrc; ++i)
    if (agent_tracker_take (&h->t, i, &s->hot.todo[i]) == -1) {
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
  struct hot_pass st = { .pass = ++s->hot.pass, .final = final };
  uint64_t wire0 = s->conv.conn->chan.bytes_out;
  double t0 = p2v_now ();
  char a[32];
  int r = 0;

  st.compare = !take_dirty (s);
  for (int i = 0; i < s->nsrc; ++i)
    if ((st.compare || !s->hot.sent[i]) && compare_disk (s, i) == -1)
      return -1;
    else if (!s->hot.sent[i]) {
      st.compare = true;
      s->hot.sent[i] = true;    /* compared once is enough */
    }
  st.dirty = todo_bytes (s);
  p2v_info ("pass %" PRIu32 "%s: %s to send again%s", st.pass,
            final ? " (final)" : "", p2v_human_size (st.dirty, a, sizeof a),
            st.compare ? " (found by comparing hashes)" : "");
  for (int i = 0; r == 0 && i < s->nsrc; ++i)
    if (agent_dirty_bytes (&s->hot.todo[i]) > 0)
      r = send_pass (s, i, st.pass, &st);
  st.seconds = p2v_now () - t0;
  st.wire_bytes = s->conv.conn->chan.bytes_out - wire0;
  if (r == 0 && hot_passes_append (&s->hot.passes, st) == -1) {
    p2v_error ("out of memory");
    return -1;
  }
  return r;
}

int
agent_pass_run (struct sender *s)
{
  const struct agent_options *o = s->o;
  struct agent_hot *h = s->hot.h;
  uint64_t prev = UINT64_MAX;
  int r;

  if (s->conv.conn->chan.version < 3) {
    p2v_error ("the receiver speaks protocol %" PRIu32 ": hot clone needs "
               "version 3; install a matching p2v-receiver",
               s->conv.conn->chan.version);
    s->conv.fatal = true;
    return -1;
  }
  if (s->hot.pass < 1)
    s->hot.pass = 1;            /* pass 1 is what agent_send_disk sent */
  for (;;) {
    uint64_t dirty;
    bool unsent = false;        /* an earlier run's disk: compare it first */

    for (int i = 0; i < s->nsrc; ++i)
      unsent |= !s->hot.sent[i];
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
    if ((int) s->hot.pass + 1 >= o->max_passes ||
        (!unsent && (dirty <= o->converge_bytes || !h->tracking ||
                     (prev != UINT64_MAX && dirty > prev / 10 * 9))))
      break;
    if (one_pass (s, false) == -1)
      return -1;
    prev = s->hot.passes.ptr[s->hot.passes.len - 1].dirty;
  }
  /* The final pass, the filesystems held still. */
  if (agent_hot_final_begin (h, o) == -1) {
    s->conv.fatal = true;
    return -1;
  }
  r = one_pass (s, true);
  if (agent_hot_final_end (h, o) == -1) {
    s->conv.fatal = true;
    r = -1;
  }
  p2v_info ("the filesystems were held (%s) for %.2f s", o->final,
            h->downtime);
  return r;
}

/* hot-clone: every target is a source disk as it is (no md flattened). */
int
agent_pass_setup (struct sender *s, struct agent_hot *h)
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
  s->conv.hashes = malloc (HASH_BATCH * P2V_HASH_LEN);
  for (int i = 0; s->conv.hashes && i < s->nsrc; ++i)
    if (agent_dirty_init (&s->hot.todo[i], s->src[i]->size,
                          s->o->chunk_size) == -1) {
      free (s->conv.hashes);
      s->conv.hashes = NULL;
    }
  if (s->conv.hashes == NULL) {
    p2v_error ("out of memory");
    return -1;
  }
  s->hot.h = h;
  return 0;
}

void
agent_pass_write_stats (const struct sender *s, FILE *fp)
{
  fprintf (fp, ",\"hot_clone\":{\"tracker\":\"%s\",\"events\":%" PRIu64
           ",\"final\":\"%s\",\"downtime_seconds\":%.3f,\"passes\":[",
           s->hot.h->tracker, s->hot.h->t.events, s->o->final,
           s->hot.h->downtime);
  for (size_t i = 0; i < s->hot.passes.len; ++i) {
    const struct hot_pass *p = &s->hot.passes.ptr[i];

    fprintf (fp, "%s{\"pass\":%" PRIu32 ",\"final\":%s,\"compare\":%s,"
             "\"dirty_bytes\":%" PRIu64 ",\"chunks\":%" PRIu64
             ",\"data_bytes\":%" PRIu64 ",\"wire_bytes\":%" PRIu64
             ",\"seconds\":%.3f}", i ? "," : "", p->pass,
             p->final ? "true" : "false", p->compare ? "true" : "false",
             p->dirty, p->chunks, p->data_bytes, p->wire_bytes, p->seconds);
  }
  fprintf (fp, "]}");
}

void
agent_pass_free (struct sender *s)
{
  for (int i = 0; i < P2V_MAX_DISKS; ++i)
    agent_dirty_free (&s->hot.todo[i]);
  hot_passes_reset (&s->hot.passes);
  free (s->conv.hashes);
}
