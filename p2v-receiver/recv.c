/* The receiver's side of a conversion: validate every message, write
 * chunks in order, commit (fdatasync) before acknowledging, publish the
 * images (publish.c) only when every disk verified.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "recv.h"
#include "session.h"
#include "batch_session.h"
#include "busy.h"
#include "convdir.h"
#include "journal.h"
#include "out.h"
#include "pass.h"
#include "publish.h"
#include "recv_batch.h"
#include "report.h"
#include "state.h"
#include "buf.h"
#include "cleanup.h"
#include "convdir_layout.h"
#include "fileio.h"
#include "hash.h"
#include "log.h"
#include "stripes.h"
#include "zero.h"
#include "zframe.h"

#define HOLE_BLOCK 4096             /* zero blocks inside data stay holes */

/* STRIPES, after HELLO when both sides can stripe: listen for the
 * agent's further connections, and say how many it may open.
 */
static int
do_stripes (struct session *s)
{
  struct p2v_msg m;
  struct p2v_stripes st;

  if (p2v_chan_recv (s->ch, &m, true) != 1)
    return recv_failed (s);
  if (m.type != P2V_MSG_STRIPES ||
      p2v_parse_stripes (m.payload, m.len, &st) == -1 || st.streams == 0) {
    p2v_error ("expected STRIPES after the agent's HELLO, got %s (%zu "
               "bytes)", p2v_msg_name (m.type), m.len);
    return recv_fail (s, P2V_ERR_PROTOCOL);
  }
  if (recv_stripes_open (s->ch, &st, &st.streams) == -1)
    return recv_fail (s, P2V_ERR_INTERNAL);
  p2v_wbuf_reset (&s->out);
  p2v_msg_start (&s->out, P2V_MSG_STRIPES);
  p2v_put_stripes (&s->out, &st);
  return recv_send_msg (s);
}

/* HELLO; 1 if the connection was a striped session's further one
 * (JOIN), handed over and done with.
 */
static int
do_hello (struct session *s)
{
  struct p2v_msg m;
  struct p2v_hello theirs, ours = {
    P2V_PROTO_MIN, P2V_PROTO_MAX, P2V_CAP_ZSTD | P2V_CAP_STRIPES,
    "p2v-receiver " P2V_VERSION
  };
  struct p2v_join j;
  int v;

  if (p2v_chan_recv (s->ch, &m, true) != 1) {
    if (errno == EPIPE)
      p2v_error ("the agent closed the connection before saying hello");
    return recv_failed (s);
  }
  if (m.type == P2V_MSG_JOIN) {
    if (p2v_parse_join (m.payload, m.len, &j) == -1) {
      p2v_error ("malformed JOIN (%zu bytes)", m.len);
      return recv_fail (s, P2V_ERR_PROTOCOL);
    }
    if (recv_stripes_join (s->ch, &j) == -1)
      return recv_fail (s, P2V_ERR_REFUSED);
    return 1;
  }
  if (m.type != P2V_MSG_HELLO ||
      p2v_parse_hello (m.payload, m.len, &theirs) == -1) {
    p2v_error ("expected a p2v HELLO, got %s (%zu bytes): is this a p2v "
               "agent?", p2v_msg_name (m.type), m.len);
    return recv_fail (s, P2V_ERR_PROTOCOL);
  }
  p2v_wbuf_reset (&s->out);
  p2v_msg_start (&s->out, P2V_MSG_HELLO);
  p2v_put_hello (&s->out, &ours);
  if (recv_send_msg (s) == -1) {
    p2v_hello_free (&theirs);
    return -1;
  }
  if (!(theirs.caps & P2V_CAP_ZSTD)) {
    p2v_error ("the agent (%s) does not send zstd frames", theirs.software);
    p2v_hello_free (&theirs);
    return recv_fail (s, P2V_ERR_VERSION);
  }
  v = p2v_version_choose (&ours, &theirs);
  if (v == -1) {
    p2v_error ("no common protocol version: agent (%s) speaks %" PRIu32
               "-%" PRIu32 ", this receiver %d-%d; install matching "
               "versions", theirs.software, theirs.version_min,
               theirs.version_max, P2V_PROTO_MIN, P2V_PROTO_MAX);
    p2v_hello_free (&theirs);
    return recv_fail (s, P2V_ERR_VERSION);
  }
  s->ch->version = v;
  p2v_debug ("agent %s, protocol %d", theirs.software, v);
  v = v >= 6 && (theirs.caps & P2V_CAP_STRIPES);
  p2v_hello_free (&theirs);
  return v ? do_stripes (s) : 0;
}

/* Warn early if the data cannot fit (zero blocks never take space). */
static void
check_space (struct session *s)
{
  struct statvfs v;
  uint64_t need = 0, avail;
  char a[32], b[32];

  for (uint32_t i = 0; i < s->inv.ndisks; ++i)
    if (s->inv.disks[i].data_bytes > s->disks[i].data_bytes)
      need += s->inv.disks[i].data_bytes - s->disks[i].data_bytes;
  if (fstatvfs (s->dirfd, &v) == -1)
    return;
  avail = (uint64_t) v.f_bavail * v.f_frsize;
  if (need > avail)
    recv_notice (s, P2V_NOTICE_WARNING,
                 "%s has %s free, but up to %s of data is to come; the copy "
                 "stops with 'disk full' unless the data has many zero blocks "
                 "(free space, and re-run the same send to resume)",
                 s->opts->output_dir, p2v_human_size (avail, a, sizeof a),
                 p2v_human_size (need, b, sizeof b));
}

static int
send_session (struct session *s)
{
  struct p2v_session ss = {
    s->resumed ? P2V_SESSION_RESUMED : 0, s->inv.ndisks
  };

  for (uint32_t i = 0; i < s->inv.ndisks; ++i)
    ss.disks[i] = (struct p2v_session_disk) {
      s->disks[i].committed, s->disks[i].committed_chunks,
      s->disks[i].complete ? P2V_DISK_COMPLETE : 0,
      (uint32_t) s->disks[i].errs.len
    };
  p2v_wbuf_reset (&s->out);
  p2v_msg_start (&s->out, P2V_MSG_SESSION);
  p2v_put_session (&s->out, &ss);
  return recv_send_msg (s);
}

/* A new conversion records where its images are; a resumed one must
 * find them where they were.
 */
static int
check_storage (struct session *s)
{
  const char *storage = s->target.storage;
  char was[4096];

  p2v_read_line_at (s->dirfd, P2V_CONVDIR_STORAGE, was, sizeof was);
  if (!s->resumed)
    return storage && p2v_write_file_at (s->dirfd, P2V_CONVDIR_STORAGE,
                                         storage) == -1
           ? recv_fail (s, P2V_ERR_IO) : 0;
  if (strcmp (was, storage ? storage : "") != 0) {
    p2v_error ("%s/%s keeps its images %s%s; resume it with %s%s",
               s->opts->output_dir, s->inv.name, *was ? "in " : "in itself",
               was, *was ? "--storage " : "no --storage", was);
    return recv_fail (s, P2V_ERR_EXISTS);
  }
  return 0;
}

static int
do_inventory (struct session *s)
{
  struct p2v_msg m;
  uint32_t i, code;
  uint64_t have = 0, total = 0;
  char status[128];
  const char *host;

  if (p2v_chan_recv (s->ch, &m, true) != 1) {
    if (errno == EPIPE)
      p2v_error ("the agent disconnected before sending its inventory");
    return recv_failed (s);
  }
  if (m.type != P2V_MSG_INVENTORY) {
    p2v_error ("expected an INVENTORY, got %s", p2v_msg_name (m.type));
    return recv_fail (s, P2V_ERR_PROTOCOL);
  }
  if (p2v_parse_inventory (m.payload, m.len, &s->inv) == -1) {
    p2v_error ("malformed INVENTORY (%zu bytes)", m.len);
    return recv_fail (s, P2V_ERR_PROTOCOL);
  }
  if (!p2v_name_valid (s->inv.name)) {
    p2v_error ("refusing conversion name '%s': use 1-%d letters, digits, "
               "'.', '_' or '-', starting with a letter or digit",
               s->inv.name, P2V_MAX_NAME);
    return recv_fail (s, P2V_ERR_REFUSED);
  }
  for (i = 0; i < s->inv.ndisks; ++i)
    if (s->inv.disks[i].size == 0 || s->inv.disks[i].size > INT64_MAX) {
      p2v_error ("disk %" PRIu32 " declares an impossible size %" PRIu64,
                 i, s->inv.disks[i].size);
      return recv_fail (s, P2V_ERR_REFUSED);
    }
  if (s->opts->batch && recv_batch_session_admit (s, &s->saved_inv) == -1)
    return -1;
  s->disks = calloc (s->inv.ndisks, sizeof *s->disks);
  if (s->disks == NULL) {
    p2v_error ("out of memory");
    return recv_fail (s, P2V_ERR_INTERNAL);
  }
  for (i = 0; i < s->inv.ndisks; ++i) {
    s->disks[i].j.fd = -1;
    s->disks[i].size = s->inv.disks[i].size;
    s->disks[i].digest = p2v_digest_new ();
    if (s->disks[i].digest == NULL) {
      p2v_error ("out of memory");
      return recv_fail (s, P2V_ERR_INTERNAL);
    }
  }
  recv_target_init (&s->target, s->inv.name);
  if (s->ops->configure &&
      (code = s->ops->configure (&s->target, s->opts, &s->inv)) != 0)
    return recv_fail (s, code);
  if (recv_open_conversion_dir (s, s->batch ? s->saved_inv.p : m.payload,
                                s->batch ? s->saved_inv.len : m.len) == -1 ||
      check_storage (s) == -1 || (s->resumed && recv_load_disks (s) == -1))
    return -1;
  if (s->ops->check) {
    uint64_t got[P2V_MAX_DISKS];

    for (i = 0; i < s->inv.ndisks; ++i)
      got[i] = s->disks[i].data_bytes;
    if ((code = s->ops->check (&s->target, s->dirfd, &s->inv, got)) != 0)
      return recv_fail (s, code);
  }
  for (i = 0; i < s->inv.ndisks; ++i) {
    have += s->disks[i].committed;
    total += s->disks[i].size;
  }
  snprintf (status, sizeof status, s->resumed ? "receiving (resumed at "
            "%.1f%%)\n" : "receiving\n", 100.0 * have / total);
  if (p2v_write_file_at (s->dirfd, P2V_CONVDIR_STATUS, status) == -1 ||
      recv_write_inventory (s->dirfd, &s->inv) == -1)
    return recv_fail (s, P2V_ERR_IO);
  /* Disks attached here (send --local) come from no host. */
  host = *s->inv.hostname ? s->inv.hostname : "disks attached here";
  if (s->resumed)
    p2v_info ("resuming '%s' from %s: %.1f%% of %" PRIu32 " disk(s) "
              "already in %s/%s", s->inv.name, host, 100.0 * have / total,
              s->inv.ndisks, s->opts->output_dir, s->inv.name);
  else
    p2v_info ("receiving '%s' from %s: %" PRIu32 " disk(s) into %s/%s",
              s->inv.name, host, s->inv.ndisks, s->opts->output_dir,
              s->inv.name);
  check_space (s);
  return send_session (s);
}

/* Make everything received so far durable, then say so. */
static int
commit (struct session *s, uint32_t disk, uint32_t flags)
{
  if (recv_make_durable (s, &s->disks[disk]) == -1)
    return -1;
  return recv_send_ack (s, disk, flags);
}

static int
do_disk_begin (struct session *s, const struct p2v_msg *m)
{
  struct p2v_disk_begin b;
  struct recv_disk *d;

  if (p2v_parse_disk_begin (m->payload, m->len, &b) == -1 || s->cur != -1 ||
      b.disk >= s->inv.ndisks) {
    p2v_error ("malformed or unexpected DISK_BEGIN");
    return recv_fail (s, P2V_ERR_PROTOCOL);
  }
  d = &s->disks[b.disk];
  if (d->begun || d->complete || b.size != d->size ||
      b.start != d->committed || b.ack_bytes < P2V_MIN_CHUNK ||
      b.chunk_size < P2V_MIN_CHUNK || b.chunk_size > P2V_MAX_CHUNK) {
    p2v_error ("refusing DISK_BEGIN for disk %" PRIu32 " (size %" PRIu64
               ", start %" PRIu64 ", chunk size %" PRIu32 ", ack every %"
               PRIu64 "): already sent or complete, size differs from the "
               "inventory, start is not the committed offset %" PRIu64
               ", or a size out of range", b.disk, b.size, b.start,
               b.chunk_size, b.ack_bytes, d->committed);
    return recv_fail (s, P2V_ERR_REFUSED);
  }
  if (recv_session_digest (s, d, b.chunk_size) == -1)
    return -1;
  d->chunk_size = b.chunk_size;
  d->session_start = b.start;
  d->ack_bytes = b.ack_bytes < COMMIT_BYTES ? b.ack_bytes : COMMIT_BYTES;
  d->commit_time = p2v_now ();
  if (d->out == NULL) {
    /* Never begun, or nothing of it durable: any old image is junk. */
    if (s->ops->discard)
      s->ops->discard (&s->target, s->dirfd, b.disk, false);
    if (recv_journal_create (s->dirfd, b.disk, &d->j) == -1)
      return recv_fail (s, P2V_ERR_IO);
    d->out = s->ops->create (&s->target, s->dirfd, b.disk, b.size);
    if (d->out == NULL)
      return recv_fail (s, P2V_ERR_IO);
  }
  d->begun = true;
  s->cur = b.disk;
  return 0;
}

/* Write a decompressed chunk, leaving whole zero blocks as holes. */
static int
write_data (struct session *s, struct recv_disk *d, uint64_t off,
            const uint8_t *p, size_t len)
{
  while (len > 0) {
    bool zero;
    size_t n = p2v_zero_run (p, len, HOLE_BLOCK, &zero);

    if (zero ? s->ops->zero (d->out, off, n)
             : s->ops->write (d->out, p, n, off))
      return -1;
    p += n;
    off += n;
    len -= n;
  }
  return 0;
}

/* A full output filesystem: say what is needed and how to go on. */
static int
write_failed (struct session *s, uint32_t disk)
{
  CLEANUP_FREE char *why = strdup (p2v_last_error ());
  uint64_t need = 0;
  struct statvfs v;
  char a[32], b[32];

  if (errno != ENOSPC || why == NULL)
    return recv_fail (s, P2V_ERR_IO);
  for (uint32_t i = 0; i < s->inv.ndisks; ++i)
    if (s->inv.disks[i].data_bytes > s->disks[i].data_bytes)
      need += s->inv.disks[i].data_bytes - s->disks[i].data_bytes;
  p2v_error ("%s/%s: %s; the first %" PRIu64 " bytes of disk %" PRIu32
             " arrived intact and are kept; up to %s of data is still to "
             "come and %s is free: free space, then run the same p2v-agent "
             "send again to resume", s->opts->output_dir, s->inv.name, why,
             s->disks[disk].next, disk, p2v_human_size (need, a, sizeof a),
             p2v_human_size (fstatvfs (s->dirfd, &v) == 0
                             ? (uint64_t) v.f_bavail * v.f_frsize : 0,
                             b, sizeof b));
  return recv_fail (s, P2V_ERR_IO);
}

static int
check_chunk (struct session *s, const struct p2v_chunk *c)
{
  struct recv_disk *d;

  if (s->cur == -1 || c->disk != (uint32_t) s->cur) {
    p2v_error ("chunk for disk %" PRIu32 " outside its DISK_BEGIN/END",
               c->disk);
    return recv_fail (s, P2V_ERR_PROTOCOL);
  }
  d = &s->disks[c->disk];
  if (d->pass && (c->length == 0 || c->offset < d->pass_next ||
                  c->offset >= d->size || c->length > d->size - c->offset ||
                  !recv_state_fits (&d->state, c->offset, c->length))) {
    p2v_error ("refusing pass %" PRIu32 " chunk at offset %" PRIu64
               " length %" PRIu64 " on disk %" PRIu32 " (size %" PRIu64
               "): before the pass's previous chunk (%" PRIu64 "), past "
               "the end, or cutting a data chunk the disk holds", d->pass,
               c->offset, c->length, c->disk, d->size, d->pass_next);
    return recv_fail (s, P2V_ERR_REFUSED);
  }
  if (!d->pass && (c->length == 0 || c->offset != d->next ||
                   c->length > d->size - c->offset)) {
    p2v_error ("refusing chunk at offset %" PRIu64 " length %" PRIu64
               " on disk %" PRIu32 " (size %" PRIu64 ", next expected "
               "offset %" PRIu64 ")", c->offset, c->length, c->disk,
               d->size, d->next);
    return recv_fail (s, P2V_ERR_REFUSED);
  }
  if (c->kind == P2V_CHUNK_DATA && c->length > d->chunk_size) {
    p2v_error ("refusing data chunk of %" PRIu64 " bytes at offset %" PRIu64
               ": longer than the declared chunk size %" PRIu32,
               c->length, c->offset, d->chunk_size);
    return recv_fail (s, P2V_ERR_REFUSED);
  }
  return 0;
}

static int
do_chunk (struct session *s, const struct p2v_msg *m)
{
  struct p2v_chunk c;
  struct recv_disk *d;
  struct recv_journal_rec r;

  if (p2v_parse_chunk (m->payload, m->len, &c) == -1) {
    p2v_error ("malformed CHUNK message (%zu bytes)", m->len);
    return recv_fail (s, P2V_ERR_PROTOCOL);
  }
  if (check_chunk (s, &c) == -1)
    return -1;
  d = &s->disks[c.disk];
  if (c.kind == P2V_CHUNK_DATA) {
    const char *why;
    uint8_t h[P2V_HASH_LEN];

    if (p2v_zframe_decompress (s->dctx, s->data, c.length, c.frame,
                               c.frame_len, &why) == -1) {
      p2v_error ("disk %" PRIu32 " chunk at offset %" PRIu64 ": %s",
                 c.disk, c.offset, why);
      return recv_fail (s, P2V_ERR_VERIFY);
    }
    p2v_hash_chunk (s->data, c.length, h);
    if (memcmp (h, c.hash, P2V_HASH_LEN) != 0) {
      p2v_error ("disk %" PRIu32 " chunk at offset %" PRIu64 " length %"
                 PRIu64 ": hash mismatch (data corrupted in transit)",
                 c.disk, c.offset, c.length);
      return recv_fail (s, P2V_ERR_VERIFY);
    }
    if (write_data (s, d, c.offset, s->data, c.length) == -1)
      return write_failed (s, c.disk);
    if (!d->pass)
      d->data_bytes += c.length;
  }
  else {
    if (s->ops->zero (d->out, c.offset, c.length) == -1)
      return write_failed (s, c.disk);
    if (!d->pass)
      d->zero_bytes += c.length;
  }
  r = (struct recv_journal_rec) {
    d->pass ? RECV_J_PASS_CHUNK : RECV_J_CHUNK, c.kind, 0, c.offset,
    c.length, { 0 }
  };
  memcpy (r.hash, c.hash, P2V_HASH_LEN);
  if (recv_journal_add (&d->j, &r) == -1)
    return recv_fail (s, P2V_ERR_INTERNAL);
  if (d->pass) {
    struct recv_piece p = { c.offset, c.length, c.kind, { 0 } };

    memcpy (p.hash, c.hash, P2V_HASH_LEN);
    if (recv_pieces_append (&d->pending, p) == -1)
      return recv_fail (s, P2V_ERR_INTERNAL);
    p2v_digest_add (d->sdigest, &c);
    d->pass_next = c.offset + c.length;
    d->pass_uncommitted += c.length;
    d->pass_bytes += c.length;
    d->schunks++;
    if (d->pass_uncommitted >= d->ack_bytes ||
        p2v_now () - d->commit_time >= COMMIT_SECONDS)
      return commit (s, c.disk, 0);
    return 0;
  }
  p2v_digest_add (d->digest, &c);
  p2v_digest_add (d->sdigest, &c);
  d->next += c.length;
  d->chunks++;
  d->schunks++;
  if (d->next - d->committed >= d->ack_bytes ||
      p2v_now () - d->commit_time >= COMMIT_SECONDS)
    return commit (s, c.disk, 0);
  return 0;
}

/* An unreadable source range: it arrives as zeros in the next chunks. */
static int
do_read_error (struct session *s, const struct p2v_msg *m)
{
  struct p2v_read_error e;
  struct recv_disk *d;

  if (p2v_parse_read_error (m->payload, m->len, &e) == -1 || s->cur == -1 ||
      e.disk != (uint32_t) s->cur || s->disks[e.disk].pass) {
    p2v_error ("malformed or unexpected READ_ERROR");
    return recv_fail (s, P2V_ERR_PROTOCOL);
  }
  d = &s->disks[e.disk];
  if (e.length == 0 || e.offset < d->next || e.offset >= d->size ||
      e.length > d->size - e.offset ||
      (d->errs.len && e.offset < d->errs.ptr[d->errs.len - 1].offset +
                                 d->errs.ptr[d->errs.len - 1].length)) {
    p2v_error ("refusing READ_ERROR at offset %" PRIu64 " length %" PRIu64
               " on disk %" PRIu32 ": outside the disk, before the next "
               "chunk or overlapping the previous one", e.offset, e.length,
               e.disk);
    return recv_fail (s, P2V_ERR_REFUSED);
  }
  if (d->errs.len >= P2V_MAX_READ_ERRORS) {
    p2v_error ("disk %" PRIu32 ": more than %d unreadable ranges",
               e.disk, P2V_MAX_READ_ERRORS);
    return recv_fail (s, P2V_ERR_REFUSED);
  }
  if (recv_read_errors_append (&d->errs, e) == -1)
    return recv_fail (s, P2V_ERR_INTERNAL);
  p2v_warning ("disk %" PRIu32 ": source bytes %" PRIu64 "-%" PRIu64
               " unreadable (%s); they will read as zeros", e.disk,
               e.offset, e.offset + e.length - 1, strerror (e.err));
  return 0;
}

static int
do_disk_end (struct session *s, const struct p2v_msg *m)
{
  struct p2v_disk_end e;
  struct recv_disk *d;
  struct recv_journal_rec r;
  uint8_t sd[P2V_HASH_LEN];
  char want[2 * P2V_HASH_LEN + 1], got[2 * P2V_HASH_LEN + 1];

  if (p2v_parse_disk_end (m->payload, m->len, &e) == -1 || s->cur == -1 ||
      e.disk != (uint32_t) s->cur || s->disks[e.disk].pass) {
    p2v_error ("malformed or unexpected DISK_END");
    return recv_fail (s, P2V_ERR_PROTOCOL);
  }
  d = &s->disks[e.disk];
  if (d->next != d->size || e.chunks != d->schunks) {
    p2v_error ("disk %" PRIu32 " ended after %" PRIu64 " of %" PRIu64
               " bytes in %" PRIu64 " chunks, the agent sent %" PRIu64,
               e.disk, d->next, d->size, d->schunks, e.chunks);
    return recv_fail (s, P2V_ERR_VERIFY);
  }
  p2v_digest_final (d->sdigest, sd);
  if (memcmp (sd, e.digest, P2V_HASH_LEN) != 0) {
    p2v_hash_hex (e.digest, want);
    p2v_hash_hex (sd, got);
    /* Which of this session's chunks is wrong is unknown: none of
     * them is trusted, and a resume sends them all again.
     */
    recv_journal_cut (s->dirfd, e.disk, d->session_start);
    p2v_error ("disk %" PRIu32 ": digest mismatch: agent %s, received %s; "
               "nothing this session received of it (from offset %" PRIu64
               ") is kept: a new send sends it again", e.disk, want, got,
               d->session_start);
    return recv_fail (s, P2V_ERR_VERIFY);
  }
  p2v_digest_final (d->digest, d->final_digest);
  r = (struct recv_journal_rec) {
    RECV_J_DISK_DONE, 0, 0, d->size, d->chunks, { 0 }
  };
  memcpy (r.hash, d->final_digest, P2V_HASH_LEN);
  if (recv_journal_add (&d->j, &r) == -1)
    return recv_fail (s, P2V_ERR_INTERNAL);
  d->complete = true;
  s->cur = -1;
  return commit (s, e.disk, P2V_ACK_DISK_COMPLETE);
}

static int
do_done (struct session *s, const struct p2v_msg *m)
{
  uint32_t i;

  for (i = 0; i < s->inv.ndisks; ++i)
    if (!s->disks[i].complete) {
      p2v_error ("the agent finished but disk %" PRIu32 " is incomplete", i);
      return recv_fail (s, P2V_ERR_PROTOCOL);
    }
  if (s->cur != -1) {
    p2v_error ("DONE in the middle of disk %d", s->cur);
    return recv_fail (s, P2V_ERR_PROTOCOL);
  }
  if (p2v_parse_done (m->payload, m->len, s->ch->version,
                      &s->keepalive_ms) == -1) {
    p2v_error ("malformed DONE");
    return recv_fail (s, P2V_ERR_PROTOCOL);
  }
  s->keepalive_last = p2v_now ();
  if (recv_publish (s) == -1)
    return s->err_code == P2V_ERR_INTERNAL ? recv_fail (s, P2V_ERR_IO) : -1;
  s->published = true;
  p2v_info ("conversion '%s' complete in %s/%s", s->inv.name,
            s->opts->output_dir, s->inv.name);
  if (recv_send_ack (s, s->inv.ndisks - 1, P2V_ACK_ALL_COMPLETE) == -1)
    p2v_warning ("the agent left before the final acknowledgement; the "
                 "conversion itself is complete and verified");
  return 0;
}

static int
do_agent_error (struct session *s, const struct p2v_msg *m)
{
  struct p2v_errmsg e = { 0 };

  if (p2v_parse_error (m->payload, m->len, &e) == -1)
    p2v_error ("the agent sent a malformed ERROR");
  else
    p2v_error ("the agent gave up: %s", e.message);
  free (e.message);
  s->err_code = 0;              /* nothing to tell the agent back */
  return -1;
}

/* Bytes of the disks durable so far, and of them all. */
static uint64_t
covered (const struct session *s, uint64_t *size)
{
  uint64_t n = 0;

  *size = 0;
  for (uint32_t i = 0; i < s->inv.ndisks; ++i) {
    n += s->disks[i].committed;
    *size += s->disks[i].size;
  }
  return n;
}

static int
receive_loop (struct session *s)
{
  for (;;) {
    struct p2v_msg m;
    int r;

    if (p2v_chan_recv (s->ch, &m, true) != 1) {
      if (errno == EPIPE)
        p2v_error ("the agent disconnected before the conversion finished"
                   "%s", s->cur >= 0 ? " (in the middle of a disk)" : "");
      return recv_failed (s);
    }
    switch (m.type) {
    case P2V_MSG_CHUNK: r = do_chunk (s, &m); break;
    case P2V_MSG_READ_ERROR: r = do_read_error (s, &m); break;
    case P2V_MSG_KEEPALIVE:     /* the agent is busy with a bad disk */
      r = m.len == 0 ? 0 : (p2v_error ("malformed KEEPALIVE"),
                            recv_fail (s, P2V_ERR_PROTOCOL));
      break;
    case P2V_MSG_DISK_BEGIN: r = do_disk_begin (s, &m); break;
    case P2V_MSG_DISK_END: r = do_disk_end (s, &m); break;
    case P2V_MSG_PASS_BEGIN: r = recv_do_pass_begin (s, &m); break;
    case P2V_MSG_PASS_END: r = recv_do_pass_end (s, &m); break;
    case P2V_MSG_HASH_REQUEST: r = recv_do_hash_request (s, &m); break;
    case P2V_MSG_ERROR: return do_agent_error (s, &m);
    case P2V_MSG_DONE: return do_done (s, &m);
    default:
      p2v_error ("unexpected %s message (type %" PRIu32 ")",
                 p2v_msg_name (m.type), m.type);
      return recv_fail (s, P2V_ERR_PROTOCOL);
    }
    if (r == -1)
      return -1;
    if (s->batch) {
      uint64_t size, done = covered (s, &size);

      if (recv_batch_tick (s->batch, s->ch->bytes_in, done, size) == -1)
        return recv_fail (s, P2V_ERR_RETRY);
    }
  }
}

/* On failure: keep what arrived intact for a resume, tell the agent,
 * mark the directory, and leave partial files under names that never
 * look finished.
 */
static void
record_failure (struct session *s)
{
  CLEANUP_FREE char *status = NULL, *why = strdup (p2v_last_error ());
  struct recv_disk *d = s->cur >= 0 ? &s->disks[s->cur] : NULL;
  uint32_t code = s->err_code;

  if (recv_stop_signal) {
    p2v_error ("stopped by signal %d (%s)", (int) recv_stop_signal,
               strsignal (recv_stop_signal));
    free (why);
    why = strdup (p2v_last_error ());
    code = 0;                   /* our input is closed: nobody to tell */
  }

  /* After a verification failure nothing more is trusted; otherwise
   * every chunk written so far was checked and is worth keeping.
   */
  if (d && d->out && d->j.fd >= 0 && d->next > d->committed &&
      code != P2V_ERR_VERIFY) {
    uint64_t before = d->committed;

    if (recv_make_durable (s, d) == 0)
      p2v_info ("kept disk %d up to offset %" PRIu64 " (%" PRIu64 " bytes "
                "more than the last acknowledgement) for a resume", s->cur,
                d->committed, d->committed - before);
  }
  if (code) {
    p2v_wbuf_reset (&s->out);
    p2v_msg_start (&s->out, P2V_MSG_ERROR);
    p2v_put_error (&s->out, code, why ? why : "out of memory");
    if (p2v_msg_finish (&s->out) == 0)
      p2v_chan_send (s->ch, s->out.p, s->out.len);
  }
  if (s->dirfd >= 0 && asprintf (&status, "failed: %s\n",
                                 why ? why : "out of memory") > 0)
    p2v_write_file_at (s->dirfd, P2V_CONVDIR_STATUS, status);
}

int
recv_session (const struct recv_options *opts, struct p2v_chan *ch)
{
  struct session s = {
    .opts = opts, .ops = recv_output_chosen (opts),
    .target = { .storagefd = -1 }, .ch = ch, .dirfd = -1, .lockfd = -1,
    .cur = -1, .start = p2v_now (), .err_code = P2V_ERR_INTERNAL,
  };
  uint32_t i;
  int r;

  s.dctx = p2v_zframe_dctx_new ();
  if (s.dctx == NULL) {
    p2v_error ("cannot create a zstd decompression context");
    r = -1;
  }
  else if ((r = do_hello (&s)) == 1)
    r = 0;                      /* a striped session's further connection */
  else
    r = r == 0 && do_inventory (&s) == 0 ? receive_loop (&s) : -1;
  if (r == -1)
    record_failure (&s);
  if (s.batch)
    recv_batch_session_done (&s, r);
  /* Already complete, from this source: the agent was told where; a
   * re-run after a lost final acknowledgement is no failure.
   */
  if (r == -1 && s.err_code == P2V_ERR_COMPLETE && !recv_stop_signal)
    r = 0;
  recv_batch_free (s.batch);
  for (i = 0; s.disks && i < s.inv.ndisks; ++i) {
    s.ops->close (s.disks[i].out);
    recv_journal_close (&s.disks[i].j);
    p2v_digest_free (s.disks[i].digest);
    p2v_digest_free (s.disks[i].sdigest);
    recv_pieces_reset (&s.disks[i].state);
    recv_pieces_reset (&s.disks[i].pending);
    recv_read_errors_reset (&s.disks[i].errs);
  }
  free (s.disks);
  free (s.data);
  p2v_zframe_dctx_free (s.dctx);
  p2v_inventory_free (&s.inv);
  p2v_wbuf_free (&s.out);
  p2v_wbuf_free (&s.saved_inv);
  recv_target_free (&s.target);
  free (s.path);
  free (s.domain);
  free (s.domain_error);
  free (s.fixup);
  free (s.fixup_error);
  if (s.dirfd >= 0)
    close (s.dirfd);
  if (s.lockfd >= 0)
    close (s.lockfd);
  recv_stripes_close (ch);
  return r;
}
