/* The receiver's side of a conversion: validate every message, write
 * chunks in order, commit (fdatasync) before acknowledging, publish the
 * images only when every disk verified.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "recv.h"
#include "buf.h"
#include "cleanup.h"
#include "fileio.h"
#include "hash.h"
#include "log.h"
#include "zero.h"
#include "zframe.h"

#define COMMIT_BYTES (64ULL << 20)  /* commit at least every 64 MiB ... */
#define COMMIT_SECONDS 2.0          /* ... or every 2 seconds */
#define HOLE_BLOCK 4096             /* zero blocks inside data stay holes */

struct recv_disk {
  struct recv_output *out;
  uint64_t size;
  uint32_t chunk_size;
  uint64_t next;                /* chunks must arrive in order */
  uint64_t chunks, data_bytes, zero_bytes;
  uint64_t committed, committed_chunks;
  double commit_time;
  struct p2v_digest *digest;
  bool complete;
  uint8_t final_digest[P2V_HASH_LEN];
};

struct session {
  const struct recv_options *opts;
  const struct recv_output_ops *ops;
  struct p2v_chan *ch;
  struct p2v_wbuf out;
  struct p2v_inventory inv;
  int dirfd;
  struct recv_disk *disks;
  int cur;                      /* disk being received, or -1 */
  void *dctx;
  uint8_t *data;                /* decompression buffer, chunk_size bytes */
  size_t data_cap;
  double start;
  uint32_t err_code;            /* what to tell the agent on failure */
  bool published;               /* images renamed, status complete */
};

static int
send_msg (struct session *s)
{
  if (p2v_msg_finish (&s->out) == -1) {
    p2v_error ("internal error: building a message failed");
    return -1;
  }
  return p2v_chan_send (s->ch, s->out.p, s->out.len);
}

static int
fail (struct session *s, uint32_t code)
{
  s->err_code = code;
  return -1;
}

/* p2v_chan_recv failed: only a malformed frame is worth answering. */
static int
recv_failed (struct session *s)
{
  s->err_code = errno == EPROTO ? P2V_ERR_PROTOCOL : 0;
  return -1;
}

static int
do_hello (struct session *s)
{
  struct p2v_msg m;
  struct p2v_hello theirs, ours = {
    P2V_PROTO_MIN, P2V_PROTO_MAX, P2V_CAP_ZSTD, "p2v-receiver " P2V_VERSION
  };
  int v;

  if (p2v_chan_recv (s->ch, &m, true) != 1) {
    if (errno == EPIPE)
      p2v_error ("the agent closed the connection before saying hello");
    return recv_failed (s);
  }
  if (m.type != P2V_MSG_HELLO ||
      p2v_parse_hello (m.payload, m.len, &theirs) == -1) {
    p2v_error ("expected a p2v HELLO, got %s (%zu bytes): is this a p2v "
               "agent?", p2v_msg_name (m.type), m.len);
    return fail (s, P2V_ERR_PROTOCOL);
  }
  p2v_wbuf_reset (&s->out);
  p2v_msg_start (&s->out, P2V_MSG_HELLO);
  p2v_put_hello (&s->out, &ours);
  if (send_msg (s) == -1) {
    p2v_hello_free (&theirs);
    return -1;
  }
  if (!(theirs.caps & P2V_CAP_ZSTD)) {
    p2v_error ("the agent (%s) does not send zstd frames", theirs.software);
    p2v_hello_free (&theirs);
    return fail (s, P2V_ERR_VERSION);
  }
  v = p2v_version_choose (&ours, &theirs);
  if (v == -1) {
    p2v_error ("no common protocol version: agent (%s) speaks %" PRIu32
               "-%" PRIu32 ", this receiver %d-%d; install matching "
               "versions", theirs.software, theirs.version_min,
               theirs.version_max, P2V_PROTO_MIN, P2V_PROTO_MAX);
    p2v_hello_free (&theirs);
    return fail (s, P2V_ERR_VERSION);
  }
  p2v_debug ("agent %s, protocol %d", theirs.software, v);
  p2v_hello_free (&theirs);
  return 0;
}

/* Only files a conversion directory can hold are removed by --force;
 * anything else means the directory is not ours to empty.
 */
static bool
ours (const char *n)
{
  return strncmp (n, "disk", 4) == 0 || strcmp (n, "status") == 0 ||
         strcmp (n, "report.json") == 0 ||
         strcmp (n, "inventory.json") == 0 || n[0] == '.';
}

static int
empty_dir (const char *path, int dirfd)
{
  DIR *d = fdopendir (dup (dirfd));
  struct dirent *e;
  int r = 0;

  if (d == NULL) {
    p2v_error ("%s: %m", path);
    return -1;
  }
  while (r == 0 && (e = readdir (d)) != NULL) {
    if (strcmp (e->d_name, ".") == 0 || strcmp (e->d_name, "..") == 0)
      continue;
    if (!ours (e->d_name) || unlinkat (dirfd, e->d_name, 0) == -1) {
      p2v_error ("%s/%s: cannot remove%s: %m", path, e->d_name,
                 ours (e->d_name) ? "" : " (not a p2v file; remove it by "
                 "hand)");
      r = -1;
    }
  }
  closedir (d);
  return r;
}

static void
describe_existing (int dirfd, char *buf, size_t len)
{
  int fd = openat (dirfd, "status", O_RDONLY | O_CLOEXEC);
  ssize_t n = fd >= 0 ? read (fd, buf, len - 1) : -1;

  if (fd >= 0)
    close (fd);
  buf[n > 0 ? n : 0] = '\0';
  buf[strcspn (buf, "\n")] = '\0';
  if (n <= 0)
    snprintf (buf, len, "no status file");
}

static int
open_conversion_dir (struct session *s)
{
  const char *dir = s->opts->output_dir, *name = s->inv.name;
  CLEANUP_FREE char *path = NULL;
  int top;

  if (asprintf (&path, "%s/%s", dir, name) == -1)
    return -1;
  if (mkdir (dir, 0755) == -1 && errno != EEXIST) {
    p2v_error ("output directory %s: %m", dir);
    return fail (s, P2V_ERR_IO);
  }
  top = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (top == -1) {
    p2v_error ("output directory %s: %m", dir);
    return fail (s, P2V_ERR_IO);
  }
  bool existed = mkdirat (top, name, 0750) == -1;
  if (existed && errno != EEXIST) {
    p2v_error ("%s: mkdir: %m", path);
    close (top);
    return fail (s, P2V_ERR_IO);
  }
  s->dirfd = openat (top, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
                     O_CLOEXEC);
  close (top);
  if (s->dirfd == -1) {
    p2v_error ("%s: %m", path);
    return fail (s, P2V_ERR_IO);
  }
  if (existed && !s->opts->force) {
    char st[128];

    describe_existing (s->dirfd, st, sizeof st);
    close (s->dirfd);
    s->dirfd = -1;
    p2v_error ("conversion '%s' already exists in %s (%s); choose another "
               "--name, or run the receiver with --force to replace it",
               name, dir, st);
    return fail (s, P2V_ERR_EXISTS);
  }
  if (existed && empty_dir (path, s->dirfd) == -1)
    return fail (s, P2V_ERR_IO);
  return 0;
}

static int
do_inventory (struct session *s)
{
  struct p2v_msg m;
  uint32_t i;

  if (p2v_chan_recv (s->ch, &m, true) != 1) {
    if (errno == EPIPE)
      p2v_error ("the agent disconnected before sending its inventory");
    return recv_failed (s);
  }
  if (m.type != P2V_MSG_INVENTORY) {
    p2v_error ("expected an INVENTORY, got %s", p2v_msg_name (m.type));
    return fail (s, P2V_ERR_PROTOCOL);
  }
  if (p2v_parse_inventory (m.payload, m.len, &s->inv) == -1) {
    p2v_error ("malformed INVENTORY (%zu bytes)", m.len);
    return fail (s, P2V_ERR_PROTOCOL);
  }
  if (!p2v_name_valid (s->inv.name)) {
    p2v_error ("refusing conversion name '%s': use 1-%d letters, digits, "
               "'.', '_' or '-', starting with a letter or digit",
               s->inv.name, P2V_MAX_NAME);
    return fail (s, P2V_ERR_REFUSED);
  }
  for (i = 0; i < s->inv.ndisks; ++i)
    if (s->inv.disks[i].size == 0 || s->inv.disks[i].size > INT64_MAX) {
      p2v_error ("disk %" PRIu32 " declares an impossible size %" PRIu64,
                 i, s->inv.disks[i].size);
      return fail (s, P2V_ERR_REFUSED);
    }
  if (open_conversion_dir (s) == -1)
    return -1;
  s->disks = calloc (s->inv.ndisks, sizeof *s->disks);
  if (s->disks == NULL) {
    p2v_error ("out of memory");
    return fail (s, P2V_ERR_INTERNAL);
  }
  if (p2v_write_file_at (s->dirfd, "status", "receiving\n") == -1 ||
      recv_write_inventory (s->dirfd, &s->inv) == -1)
    return fail (s, P2V_ERR_IO);
  p2v_info ("receiving '%s' from %s: %" PRIu32 " disk(s) into %s/%s",
            s->inv.name, s->inv.hostname, s->inv.ndisks,
            s->opts->output_dir, s->inv.name);
  return 0;
}

static int
send_ack (struct session *s, uint32_t disk, uint32_t flags)
{
  struct recv_disk *d = &s->disks[disk];
  struct p2v_ack a = { disk, d->committed, d->committed_chunks, flags };

  p2v_wbuf_reset (&s->out);
  p2v_msg_start (&s->out, P2V_MSG_ACK);
  p2v_put_ack (&s->out, &a);
  return send_msg (s);
}

/* Make everything received so far durable, then say so. */
static int
commit (struct session *s, uint32_t disk, uint32_t flags)
{
  struct recv_disk *d = &s->disks[disk];

  if (s->ops->sync (d->out) == -1)
    return fail (s, P2V_ERR_IO);
  d->committed = d->next;
  d->committed_chunks = d->chunks;
  d->commit_time = p2v_now ();
  return send_ack (s, disk, flags);
}

static int
do_disk_begin (struct session *s, const struct p2v_msg *m)
{
  struct p2v_disk_begin b;
  struct recv_disk *d;

  if (p2v_parse_disk_begin (m->payload, m->len, &b) == -1 || s->cur != -1 ||
      b.disk >= s->inv.ndisks) {
    p2v_error ("malformed or unexpected DISK_BEGIN");
    return fail (s, P2V_ERR_PROTOCOL);
  }
  d = &s->disks[b.disk];
  if (d->out || b.size != s->inv.disks[b.disk].size ||
      b.chunk_size < P2V_MIN_CHUNK || b.chunk_size > P2V_MAX_CHUNK) {
    p2v_error ("refusing DISK_BEGIN for disk %" PRIu32 " (size %" PRIu64
               ", chunk size %" PRIu32 "): already sent, size differs from "
               "the inventory, or chunk size out of range", b.disk, b.size,
               b.chunk_size);
    return fail (s, P2V_ERR_REFUSED);
  }
  if (b.chunk_size > s->data_cap) {
    free (s->data);
    s->data = malloc (b.chunk_size);
    s->data_cap = s->data ? b.chunk_size : 0;
  }
  d->digest = p2v_digest_new ();
  if (s->data == NULL || d->digest == NULL) {
    p2v_error ("out of memory for a %" PRIu32 "-byte chunk", b.chunk_size);
    return fail (s, P2V_ERR_INTERNAL);
  }
  d->size = b.size;
  d->chunk_size = b.chunk_size;
  d->commit_time = p2v_now ();
  d->out = s->ops->create (s->dirfd, b.disk, b.size);
  if (d->out == NULL)
    return fail (s, P2V_ERR_IO);
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
      return fail (s, P2V_ERR_IO);
    p += n;
    off += n;
    len -= n;
  }
  return 0;
}

static int
check_chunk (struct session *s, const struct p2v_chunk *c)
{
  struct recv_disk *d;

  if (s->cur == -1 || c->disk != (uint32_t) s->cur) {
    p2v_error ("chunk for disk %" PRIu32 " outside its DISK_BEGIN/END",
               c->disk);
    return fail (s, P2V_ERR_PROTOCOL);
  }
  d = &s->disks[c->disk];
  if (c->length == 0 || c->offset != d->next ||
      c->length > d->size - c->offset) {
    p2v_error ("refusing chunk at offset %" PRIu64 " length %" PRIu64
               " on disk %" PRIu32 " (size %" PRIu64 ", next expected "
               "offset %" PRIu64 ")", c->offset, c->length, c->disk,
               d->size, d->next);
    return fail (s, P2V_ERR_REFUSED);
  }
  if (c->kind == P2V_CHUNK_DATA && c->length > d->chunk_size) {
    p2v_error ("refusing data chunk of %" PRIu64 " bytes at offset %" PRIu64
               ": longer than the declared chunk size %" PRIu32,
               c->length, c->offset, d->chunk_size);
    return fail (s, P2V_ERR_REFUSED);
  }
  return 0;
}

static int
do_chunk (struct session *s, const struct p2v_msg *m)
{
  struct p2v_chunk c;
  struct recv_disk *d;

  if (p2v_parse_chunk (m->payload, m->len, &c) == -1) {
    p2v_error ("malformed CHUNK message (%zu bytes)", m->len);
    return fail (s, P2V_ERR_PROTOCOL);
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
      return fail (s, P2V_ERR_VERIFY);
    }
    p2v_hash_chunk (s->data, c.length, h);
    if (memcmp (h, c.hash, P2V_HASH_LEN) != 0) {
      p2v_error ("disk %" PRIu32 " chunk at offset %" PRIu64 " length %"
                 PRIu64 ": hash mismatch (data corrupted in transit)",
                 c.disk, c.offset, c.length);
      return fail (s, P2V_ERR_VERIFY);
    }
    if (write_data (s, d, c.offset, s->data, c.length) == -1)
      return -1;
    d->data_bytes += c.length;
  }
  else {
    if (s->ops->zero (d->out, c.offset, c.length) == -1)
      return fail (s, P2V_ERR_IO);
    d->zero_bytes += c.length;
  }
  p2v_digest_add (d->digest, &c);
  d->next += c.length;
  d->chunks++;
  if (d->next - d->committed >= COMMIT_BYTES ||
      p2v_now () - d->commit_time >= COMMIT_SECONDS)
    return commit (s, c.disk, 0);
  return 0;
}

static int
do_disk_end (struct session *s, const struct p2v_msg *m)
{
  struct p2v_disk_end e;
  struct recv_disk *d;
  char want[2 * P2V_HASH_LEN + 1], got[2 * P2V_HASH_LEN + 1];

  if (p2v_parse_disk_end (m->payload, m->len, &e) == -1 || s->cur == -1 ||
      e.disk != (uint32_t) s->cur) {
    p2v_error ("malformed or unexpected DISK_END");
    return fail (s, P2V_ERR_PROTOCOL);
  }
  d = &s->disks[e.disk];
  if (d->next != d->size || e.chunks != d->chunks) {
    p2v_error ("disk %" PRIu32 " ended after %" PRIu64 " of %" PRIu64
               " bytes in %" PRIu64 " chunks, the agent sent %" PRIu64,
               e.disk, d->next, d->size, d->chunks, e.chunks);
    return fail (s, P2V_ERR_VERIFY);
  }
  p2v_digest_final (d->digest, d->final_digest);
  if (memcmp (d->final_digest, e.digest, P2V_HASH_LEN) != 0) {
    p2v_hash_hex (e.digest, want);
    p2v_hash_hex (d->final_digest, got);
    p2v_error ("disk %" PRIu32 ": digest mismatch: agent %s, received %s",
               e.disk, want, got);
    return fail (s, P2V_ERR_VERIFY);
  }
  d->complete = true;
  s->cur = -1;
  return commit (s, e.disk, P2V_ACK_DISK_COMPLETE);
}

static int
publish (struct session *s)
{
  struct recv_disk_report *r;
  uint32_t i;
  int ret = -1;

  r = calloc (s->inv.ndisks, sizeof *r);
  if (r == NULL)
    return -1;
  for (i = 0; i < s->inv.ndisks; ++i) {
    struct recv_disk *d = &s->disks[i];

    if (s->ops->publish (d->out) == -1) {
      while (i-- > 0)
        s->ops->unpublish (s->disks[i].out);
      goto out;
    }
    r[i] = (struct recv_disk_report) {
      d->size, d->data_bytes, d->zero_bytes, s->ops->allocated (d->out),
      d->chunks, "", s->ops->file_name (d->out)
    };
    p2v_hash_hex (d->final_digest, r[i].digest);
  }
  if (recv_write_report (s->dirfd, s->inv.name, r, s->inv.ndisks,
                         s->ch->bytes_in, p2v_now () - s->start) == -1 ||
      p2v_write_file_at (s->dirfd, "status", "complete\n") == -1 ||
      fsync (s->dirfd) == -1) {
    for (i = 0; i < s->inv.ndisks; ++i)
      s->ops->unpublish (s->disks[i].out);
    goto out;
  }
  ret = 0;
 out:
  free (r);
  return ret;
}

static int
do_done (struct session *s, const struct p2v_msg *m)
{
  uint32_t i;

  for (i = 0; i < s->inv.ndisks; ++i)
    if (!s->disks[i].complete) {
      p2v_error ("the agent finished but disk %" PRIu32 " is incomplete", i);
      return fail (s, P2V_ERR_PROTOCOL);
    }
  if (m->len != 0) {
    p2v_error ("malformed DONE");
    return fail (s, P2V_ERR_PROTOCOL);
  }
  if (publish (s) == -1)
    return fail (s, P2V_ERR_IO);
  s->published = true;
  p2v_info ("conversion '%s' complete in %s/%s", s->inv.name,
            s->opts->output_dir, s->inv.name);
  if (send_ack (s, s->inv.ndisks - 1, P2V_ACK_ALL_COMPLETE) == -1)
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
    case P2V_MSG_DISK_BEGIN: r = do_disk_begin (s, &m); break;
    case P2V_MSG_DISK_END: r = do_disk_end (s, &m); break;
    case P2V_MSG_ERROR: return do_agent_error (s, &m);
    case P2V_MSG_DONE: return do_done (s, &m);
    default:
      p2v_error ("unexpected %s message (type %" PRIu32 ")",
                 p2v_msg_name (m.type), m.type);
      return fail (s, P2V_ERR_PROTOCOL);
    }
    if (r == -1)
      return -1;
  }
}

/* On failure: tell the agent, mark the directory, keep partial files
 * under names that never look finished.
 */
static void
record_failure (struct session *s)
{
  CLEANUP_FREE char *status = NULL;
  const char *why = p2v_last_error ();

  if (s->err_code) {
    p2v_wbuf_reset (&s->out);
    p2v_msg_start (&s->out, P2V_MSG_ERROR);
    p2v_put_error (&s->out, s->err_code, why);
    if (p2v_msg_finish (&s->out) == 0)
      p2v_chan_send (s->ch, s->out.p, s->out.len);
  }
  if (s->dirfd >= 0 && asprintf (&status, "failed: %s\n", why) > 0)
    p2v_write_file_at (s->dirfd, "status", status);
}

int
recv_session (const struct recv_options *opts, struct p2v_chan *ch)
{
  struct session s = {
    .opts = opts, .ops = &recv_out_raw, .ch = ch, .dirfd = -1, .cur = -1,
    .start = p2v_now (), .err_code = P2V_ERR_INTERNAL,
  };
  uint32_t i;
  int r;

  s.dctx = p2v_zframe_dctx_new ();
  if (s.dctx == NULL) {
    p2v_error ("cannot create a zstd decompression context");
    r = -1;
  }
  else
    r = do_hello (&s) == 0 && do_inventory (&s) == 0 ? receive_loop (&s) : -1;
  if (r == -1)
    record_failure (&s);
  for (i = 0; s.disks && i < s.inv.ndisks; ++i) {
    s.ops->close (s.disks[i].out);
    p2v_digest_free (s.disks[i].digest);
  }
  free (s.disks);
  free (s.data);
  p2v_zframe_dctx_free (s.dctx);
  p2v_inventory_free (&s.inv);
  p2v_wbuf_free (&s.out);
  if (s.dirfd >= 0)
    close (s.dirfd);
  return r;
}
