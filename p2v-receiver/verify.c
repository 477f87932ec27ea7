/* Verification: re-read the written images and check the state their
 * journals record (recv_state_load: the chunks, with hot clone's later
 * passes applied) against them: data chunks by their XXH3-128 hash,
 * zero ranges by reading as zeros, holes skipped without reading.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "verify.h"
#include "convdir.h"
#include "journal.h"
#include "out.h"
#include "state.h"
#include "cleanup.h"
#include "convdir_layout.h"
#include "fileio.h"
#include "hash.h"
#include "log.h"
#include "zero.h"

#define ZERO_STEP (1 << 20)

struct check {
  const struct recv_output_ops *ops;
  struct recv_output *out;
  uint32_t disk;
  uint8_t *buf;
  size_t cap;
  struct recv_bad_ranges *bad;
  uint64_t checked;
  int err;                      /* -1 after a failure to allocate */
  recv_busy_fn *busy;
  void *opaque;
};

static void
tell_busy (const struct check *c, uint64_t more)
{
  char what[64], h[32];

  if (c->busy == NULL)
    return;
  snprintf (what, sizeof what, "verifying the images (%s checked)",
            p2v_human_size (c->checked + more, h, sizeof h));
  c->busy (c->opaque, what);
}

static int
add_bad (struct check *c, uint64_t off, uint64_t len)
{
  struct recv_bad_ranges *b = c->bad;

  if (b->len && b->ptr[b->len - 1].disk == c->disk &&
      b->ptr[b->len - 1].offset + b->ptr[b->len - 1].length == off) {
    b->ptr[b->len - 1].length += len;
    return 0;
  }
  if (recv_bad_ranges_append (b, (struct recv_bad_range) { c->disk, off,
                                                           len }) == -1) {
    c->err = -1;
    return -1;
  }
  return 0;
}

static bool
reads_as_zeros (struct check *c, uint64_t off, uint64_t len)
{
  uint64_t start = off, end = off + len;

  while (off < end) {
    uint64_t d = c->ops->next_data (c->out, off);
    size_t n;

    if (d >= end)
      break;
    off = d;
    n = end - off < ZERO_STEP ? end - off : ZERO_STEP;
    if (c->ops->read (c->out, c->buf, n, off) == -1 ||
        !p2v_is_zero (c->buf, n))
      return false;
    off += n;
    tell_busy (c, off - start);
  }
  return true;
}

static int
check_piece (struct check *c, const struct recv_piece *p)
{
  uint8_t h[P2V_HASH_LEN];
  bool good;

  if (p->kind == P2V_CHUNK_ZERO)
    good = reads_as_zeros (c, p->offset, p->length);
  else if (p->length > P2V_MAX_CHUNK)
    good = false;
  else {
    if (p->length > c->cap) {
      uint8_t *q = realloc (c->buf, p->length);

      if (q == NULL) {
        c->err = -1;
        return -1;
      }
      c->buf = q;
      c->cap = p->length;
    }
    good = c->ops->read (c->out, c->buf, p->length, p->offset) == 0;
    if (good) {
      p2v_hash_chunk (c->buf, p->length, h);
      good = memcmp (h, p->hash, P2V_HASH_LEN) == 0;
    }
  }
  c->checked += p->length;
  tell_busy (c, 0);
  if (!good)
    return add_bad (c, p->offset, p->length);
  return 0;
}

int
recv_verify (int dirfd, uint32_t ndisks, const struct recv_output_ops *ops,
             const struct recv_target *t, struct recv_output *const *outs,
             struct recv_bad_ranges *bad, uint64_t *checked,
             recv_busy_fn *busy, void *opaque)
{
  struct check c = { .ops = ops, .bad = bad, .busy = busy, .opaque = opaque };
  struct recv_pieces state = { 0 };
  uint32_t passes;
  int r = 0;

  c.buf = malloc (ZERO_STEP);
  c.cap = ZERO_STEP;
  if (c.buf == NULL) {
    p2v_error ("out of memory");
    return -1;
  }
  for (c.disk = 0; r == 0 && c.disk < ndisks; ++c.disk) {
    struct recv_journal j;

    if (recv_journal_open (dirfd, c.disk, false, &j) == -1) {
      if (errno == ENOENT)
        continue;               /* never begun: nothing written */
      r = -1;
      break;
    }
    c.out = outs ? outs[c.disk] : ops->open_read (t, dirfd, c.disk);
    if (c.out == NULL || recv_state_load (&j, &state, &passes) == -1)
      r = -1;
    for (size_t i = 0; r == 0 && i < state.len; ++i)
      if (check_piece (&c, &state.ptr[i]) == -1)
        r = -1;
    if (!outs)
      ops->close (c.out);
    recv_journal_close (&j);
  }
  free (c.buf);
  recv_pieces_reset (&state);
  if (r == -1 && c.err == -1)
    p2v_error ("out of memory while verifying");
  *checked = c.checked;
  return r == -1 ? -1 : bad->len ? 1 : 0;
}

char *
recv_verify_json (int result, const struct recv_bad_ranges *bad)
{
  char *s = NULL;
  size_t len = 0;
  FILE *fp = open_memstream (&s, &len);

  if (fp == NULL)
    return NULL;
  fprintf (fp, "{ \"result\": \"%s\"", result == 0 ? "verified" : "failed");
  if (result != 0) {
    fputs (", \"bad_ranges\": [", fp);
    for (size_t i = 0; i < bad->len; ++i)
      fprintf (fp, "%s{ \"disk\": %" PRIu32 ", \"offset\": %" PRIu64
               ", \"length\": %" PRIu64 " }", i ? ", " : " ",
               bad->ptr[i].disk, bad->ptr[i].offset, bad->ptr[i].length);
    fputs (" ]", fp);
  }
  fputs (" }", fp);
  if (fclose (fp) != 0) {
    free (s);
    return NULL;
  }
  return s;
}

/* Replace the "verification" line of our own report.json. */
static int
update_report (int dirfd, const char *json)
{
  static const char key[] = "  \"verification\": ";
  CLEANUP_FREE char *old = NULL, *new = NULL;
  ssize_t n;
  int fd = openat (dirfd, P2V_CONVDIR_REPORT, O_RDONLY | O_CLOEXEC);
  char *line, *eol;

  if (fd == -1)
    return errno == ENOENT ? 0 : -1;      /* not finished: no report */
  old = malloc (1 << 20);
  n = old ? p2v_pread_full (fd, old, (1 << 20) - 1, 0) : -1;
  close (fd);
  if (n <= 0)
    return -1;
  old[n] = '\0';
  line = strstr (old, key);
  if (line == NULL || (eol = strchr (line, '\n')) == NULL)
    return -1;
  *line = '\0';
  if (asprintf (&new, "%s%s%s%s", old, key, json, eol) == -1)
    return -1;
  return p2v_write_file_at (dirfd, P2V_CONVDIR_REPORT, new);
}

/* The conversion's lock is DIR/.NAME.lock: verifying while a session
 * writes would report chunks that are merely in flight.
 */
static int
lock_parent (const char *path)
{
  CLEANUP_FREE char *a = strdup (path), *b = strdup (path), *lock = NULL;
  char name[NAME_MAX + 1];
  int fd;

  if (a == NULL || b == NULL ||
      !p2v_convdir_lock_name (name, sizeof name, basename (b)) ||
      asprintf (&lock, "%s/%s", dirname (a), name) == -1)
    return -1;
  fd = open (lock, O_RDONLY | O_CLOEXEC);
  if (fd >= 0 && flock (fd, LOCK_EX | LOCK_NB) == -1) {
    p2v_error ("%s: a receiver is still writing this conversion; verify "
               "it when the session has ended", path);
    close (fd);
    return -2;
  }
  return fd;
}

/* Whether p2v-fixup changed the images after they were received. */
static bool
fixed_up (int dirfd)
{
  char head[256] = "";
  int fd = openat (dirfd, P2V_CONVDIR_FIXUP_REPORT, O_RDONLY | O_CLOEXEC);
  ssize_t n = fd >= 0 ? p2v_pread_full (fd, head, sizeof head - 1, 0) : -1;

  if (fd >= 0)
    close (fd);
  if (n > 0)
    head[n] = '\0';
  return strstr (head, "\"status\": \"fixed\"") &&
         !strstr (head, "\"changed\": 0,");
}

int
recv_verify_command (const char *path)
{
  struct recv_bad_ranges bad = { 0 };
  struct p2v_inventory inv;
  struct recv_target t;
  const struct recv_output_ops *ops;
  CLEANUP_FREE char *json = NULL;
  uint64_t checked = 0;
  int dirfd = -1, lock, r = -1;
  char h[32];

  lock = lock_parent (path);
  if (lock == -2)
    return 2;
  dirfd = open (path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirfd == -1) {
    p2v_error ("%s: %m", path);
    goto out;
  }
  if (recv_load_inventory (dirfd, &inv) == -1) {
    p2v_error ("%s: not a p2v conversion directory (no readable "
               ".inventory)", path);
    goto out;
  }
  recv_target_init (&t, inv.name);
  ops = recv_output_load (&t, dirfd);
  if (ops)
    r = recv_verify (dirfd, inv.ndisks, ops, &t, NULL, &bad, &checked, NULL,
                     NULL);
  recv_target_free (&t);
  if (ops == NULL) {
    p2v_inventory_free (&inv);
    goto out;
  }
  if (r >= 0 && (json = recv_verify_json (r, &bad)) != NULL &&
      update_report (dirfd, json) == -1)
    p2v_warning ("%s/report.json: could not record the result", path);
  if (r == 0)
    p2v_info ("%s: verified: %s of %" PRIu32 " disk image(s) match the "
              "journal", path, p2v_human_size (checked, h, sizeof h),
              inv.ndisks);
  else if (r == 1) {
    p2v_error ("%s: %zu range(s) of the images differ from what was "
               "received:", path, bad.len);
    for (size_t i = 0; i < bad.len; ++i)
      fprintf (stderr, "  disk %" PRIu32 " offset %" PRIu64 " length %"
               PRIu64 "\n", bad.ptr[i].disk, bad.ptr[i].offset,
               bad.ptr[i].length);
    if (fixed_up (dirfd))
      p2v_info ("%s: p2v-fixup changed files in these images after they "
                "were received (fixup.json lists them), so the blocks it "
                "wrote differ; the images as received were verified before "
                "it ran if the receiver had --verify", path);
  }
  p2v_inventory_free (&inv);
 out:
  recv_bad_ranges_reset (&bad);
  if (dirfd >= 0)
    close (dirfd);
  if (lock >= 0)
    close (lock);
  return r == 0 ? 0 : r == 1 ? 1 : 2;
}
