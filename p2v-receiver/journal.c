/* The per-disk journal (diskN.journal): what is durable in the image.
 *
 * A 16-byte header, then fixed 48-byte records, each with its own
 * checksum.  Records are appended only at a commit, after the image
 * has been fdatasync'd, and synced before the ACK that announces them:
 * the journal never claims a byte the image may not hold.  A crash can
 * leave a torn last record; loading trusts the journal up to the first
 * record that fails its checksum and discards the rest (those chunks
 * are simply sent again).
 *
 * Record layout (big-endian):
 *   0  u8  tag ('C' chunk, 'E' read error, 'D' disk complete)
 *   1  u8  kind (chunk kind)
 *   2  u16 zero
 *   4  u32 errno ('E')
 *   8  u64 offset ('D': disk size)
 *  16  u64 length ('D': number of chunks)
 *  24  16  hash ('C': chunk hash, 'D': whole-disk digest)
 *  40  u32 zero
 *  44  u32 XXH32 (seed 0) of bytes 0-43
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xxhash.h>

#include "journal.h"
#include "buf.h"
#include "convdir_layout.h"
#include "fileio.h"
#include "log.h"

#define MAGIC "p2v-journal v1\n"         /* 15 chars + NUL = 16 bytes */
#define HEADER_LEN 16
#define REC_LEN 48
#define RESERVE (1 << 20)       /* preallocated ahead, for a full disk */

/* Reserve room for the next records, so that a filesystem the image
 * has filled can still take the journal of what was written.
 */
static void
reserve (struct recv_journal *j, size_t more)
{
  if (j->size + more <= j->reserved)
    return;
  if (fallocate (j->fd, FALLOC_FL_KEEP_SIZE, j->size, more + RESERVE) == 0)
    j->reserved = j->size + more + RESERVE;
}

static void
encode (uint8_t *p, const struct recv_journal_rec *r)
{
  memset (p, 0, REC_LEN);
  p[0] = r->tag;
  p[1] = r->kind;
  p2v_be32 (p + 4, r->err);
  p2v_be64 (p + 8, r->offset);
  p2v_be64 (p + 16, r->length);
  memcpy (p + 24, r->hash, P2V_HASH_LEN);
  p2v_be32 (p + 44, XXH32 (p, 44, 0));
}

static bool
decode (const uint8_t *p, struct recv_journal_rec *r)
{
  struct p2v_rbuf b;
  uint8_t pad[2];
  uint32_t pad2, sum;

  p2v_rbuf_init (&b, p, REC_LEN);
  p2v_get_u8 (&b, &r->tag);
  p2v_get_u8 (&b, &r->kind);
  p2v_get_bytes (&b, pad, 2);
  p2v_get_u32 (&b, &r->err);
  p2v_get_u64 (&b, &r->offset);
  p2v_get_u64 (&b, &r->length);
  p2v_get_bytes (&b, r->hash, P2V_HASH_LEN);
  p2v_get_u32 (&b, &pad2);
  p2v_get_u32 (&b, &sum);
  return p2v_rbuf_done (&b) == 0 && pad[0] == 0 && pad[1] == 0 &&
         pad2 == 0 &&
         sum == XXH32 (p, 44, 0) &&
         (r->tag == RECV_J_CHUNK || r->tag == RECV_J_READ_ERROR ||
          r->tag == RECV_J_DISK_DONE || r->tag == RECV_J_PASS_CHUNK);
}

int
recv_journal_create (int dirfd, uint32_t disk, struct recv_journal *j)
{
  char hdr[HEADER_LEN] = MAGIC;

  memset (j, 0, sizeof *j);
  p2v_convdir_journal_name (j->name, sizeof j->name, disk);
  j->fd = openat (dirfd, j->name, O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW |
                  O_CLOEXEC, 0600);
  if (j->fd == -1) {
    p2v_error ("%s: create: %m", j->name);
    return -1;
  }
  if (p2v_pwrite_full (j->fd, hdr, HEADER_LEN, 0) == -1 ||
      fdatasync (j->fd) == -1) {
    p2v_error ("%s: write: %m", j->name);
    recv_journal_close (j);
    return -1;
  }
  j->size = HEADER_LEN;
  reserve (j, 0);
  return 0;
}

int
recv_journal_open (int dirfd, uint32_t disk, bool writable,
                   struct recv_journal *j)
{
  char hdr[HEADER_LEN];

  memset (j, 0, sizeof *j);
  p2v_convdir_journal_name (j->name, sizeof j->name, disk);
  j->fd = openat (dirfd, j->name, (writable ? O_RDWR : O_RDONLY) |
                  O_NOFOLLOW | O_CLOEXEC);
  if (j->fd == -1) {
    if (errno != ENOENT)
      p2v_error ("%s: %m", j->name);
    return -1;
  }
  if (p2v_pread_full (j->fd, hdr, HEADER_LEN, 0) != HEADER_LEN ||
      memcmp (hdr, MAGIC, HEADER_LEN) != 0) {
    p2v_error ("%s: not a p2v journal (or from another version)", j->name);
    recv_journal_close (j);
    errno = EINVAL;
    return -1;
  }
  j->size = HEADER_LEN;
  j->writable = writable;
  return 0;
}

int
recv_journal_load (struct recv_journal *j,
                   int (*fn) (void *opaque, const struct recv_journal_rec *r),
                   void *opaque)
{
  uint8_t buf[REC_LEN * 256];
  uint64_t off = HEADER_LEN;
  ssize_t n;

  bool damaged = false;

  for (;;) {
    n = p2v_pread_full (j->fd, buf, sizeof buf, off);
    if (n == -1) {
      p2v_error ("%s: read at offset %llu: %m", j->name,
                 (unsigned long long) off);
      return -1;
    }
    for (ssize_t i = 0; i + REC_LEN <= n; i += REC_LEN) {
      struct recv_journal_rec r;

      if (!decode (buf + i, &r)) {
        damaged = true;
        goto end;
      }
      if (fn (opaque, &r) == -1)
        goto end;
      off += REC_LEN;
    }
    if (n < (ssize_t) sizeof buf)
      break;
  }
 end:
  j->size = off;
  n = lseek (j->fd, 0, SEEK_END);
  if (n > (ssize_t) off) {
    if (!j->quiet)
      p2v_warning ("%s: ignoring %lld bytes after record %llu (%s)%s",
                   j->name, (long long) (n - off),
                   (unsigned long long) (off - HEADER_LEN) / REC_LEN,
                   damaged ? "torn by a crash, or damaged"
                           : "not consistent with the records before",
                   j->writable ? "; that part is sent again" : "");
    if (j->writable && (ftruncate (j->fd, off) == -1 ||
                        fdatasync (j->fd) == -1)) {
      p2v_error ("%s: truncate: %m", j->name);
      return -1;
    }
  }
  return 0;
}

int
recv_journal_add (struct recv_journal *j, const struct recv_journal_rec *r)
{
  if (j->pend_len + REC_LEN > j->pend_cap) {
    size_t cap = j->pend_cap ? 2 * j->pend_cap : 64 * REC_LEN;
    uint8_t *p = realloc (j->pend, cap);

    if (p == NULL) {
      p2v_error ("out of memory for the journal");
      return -1;
    }
    j->pend = p;
    j->pend_cap = cap;
  }
  encode (j->pend + j->pend_len, r);
  j->pend_len += REC_LEN;
  return 0;
}

int
recv_journal_sync (struct recv_journal *j)
{
  if (j->pend_len == 0)
    return 0;
  reserve (j, j->pend_len);
  if (p2v_pwrite_full (j->fd, j->pend, j->pend_len, j->size) == -1 ||
      fdatasync (j->fd) == -1) {
    p2v_error ("%s: write: %m%s", j->name, errno == ENOSPC ?
               " (the output filesystem is full)" : "");
    return -1;
  }
  j->size += j->pend_len;
  j->pend_len = 0;
  return 0;
}

static int
before_cut (void *opaque, const struct recv_journal_rec *r)
{
  uint64_t cut = *(const uint64_t *) opaque;

  return r->tag == RECV_J_DISK_DONE || r->offset + r->length > cut ? -1 : 0;
}

int
recv_journal_cut (int dirfd, uint32_t disk, uint64_t offset)
{
  struct recv_journal j;
  int r;

  if (recv_journal_open (dirfd, disk, true, &j) == -1)
    return -1;
  j.quiet = true;
  r = recv_journal_load (&j, before_cut, &offset);
  recv_journal_close (&j);
  return r;
}

void
recv_journal_close (struct recv_journal *j)
{
  if (j->fd >= 0)
    close (j->fd);
  free (j->pend);
  memset (j, 0, sizeof *j);
  j->fd = -1;
}
