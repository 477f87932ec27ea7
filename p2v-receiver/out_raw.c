/* Sparse raw image: diskN.raw.partial while receiving, diskN.raw once
 * published.  Zero ranges are left as holes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "out_file.h"
#include "fileio.h"
#include "log.h"
#include "proto.h"

struct recv_output {
  struct recv_file file;        /* first: out_file.c's ops take it */
  int fd;
};
_Static_assert (offsetof (struct recv_output, file) == 0, "file first");

static struct recv_output *
raw_new (const struct recv_target *t, int dirfd, uint32_t index)
{
  struct recv_output *o = calloc (1, sizeof *o);

  if (o == NULL) {
    p2v_error ("out of memory");
    return NULL;
  }
  recv_file_init (&o->file, t, dirfd, index, "raw");
  o->fd = -1;
  return o;
}

static struct recv_output *
raw_create (const struct recv_target *t, int dirfd, uint32_t index,
            uint64_t size)
{
  struct recv_output *o = raw_new (t, dirfd, index);

  if (o == NULL)
    return NULL;
  o->fd = openat (o->file.dirfd, o->file.part, O_RDWR | O_CREAT | O_EXCL |
                  O_NOFOLLOW | O_CLOEXEC, 0600);
  if (o->fd == -1) {
    p2v_error ("%s: create: %m", o->file.part);
    free (o);
    return NULL;
  }
  /* The name must survive a crash as well as the data, or an ACK that
   * says "durable" would be a lie.
   */
  if (ftruncate (o->fd, size) == -1 || fsync (o->file.dirfd) == -1) {
    p2v_error ("%s: set size to %llu bytes: %m", o->file.part,
               (unsigned long long) size);
    close (o->fd);
    free (o);
    return NULL;
  }
  return o;
}

/* Whatever was written after the last commit is not vouched for by the
 * journal: cut it off, so that it reads as a hole again.
 */
static struct recv_output *
raw_reopen (const struct recv_target *t, int dirfd, uint32_t index,
            uint64_t size, uint64_t keep)
{
  struct recv_output *o = raw_new (t, dirfd, index);
  struct recv_file *f;

  if (o == NULL)
    return NULL;
  f = &o->file;
  o->fd = openat (f->dirfd, f->part, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
  if (o->fd == -1 && errno == ENOENT &&       /* publish was interrupted */
      renameat (f->dirfd, f->final, f->dirfd, f->part) == 0)
    o->fd = openat (f->dirfd, f->part, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
  if (o->fd == -1) {
    p2v_error ("%s: %m", f->part);
    free (o);
    return NULL;
  }
  if (ftruncate (o->fd, keep) == -1 || ftruncate (o->fd, size) == -1 ||
      fsync (o->fd) == -1) {
    p2v_error ("%s: discard after offset %llu: %m", f->part,
               (unsigned long long) keep);
    close (o->fd);
    free (o);
    return NULL;
  }
  return o;
}

static struct recv_output *
raw_open_read (const struct recv_target *t, int dirfd, uint32_t index)
{
  struct recv_output *o = raw_new (t, dirfd, index);
  struct recv_file *f;

  if (o == NULL)
    return NULL;
  f = &o->file;
  o->fd = openat (f->dirfd, f->final, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  f->published = o->fd >= 0;
  if (o->fd == -1)
    o->fd = openat (f->dirfd, f->part, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (o->fd == -1) {
    p2v_error ("%s: %m", f->final);
    free (o);
    return NULL;
  }
  return o;
}

static int
raw_read (struct recv_output *o, void *buf, size_t len, uint64_t off)
{
  ssize_t n = p2v_pread_full (o->fd, buf, len, off);

  if (n == (ssize_t) len)
    return 0;
  if (n >= 0)
    errno = EIO;                /* shorter than the journal says */
  p2v_error ("%s: read of %zu bytes at offset %llu: %m",
             recv_file_name (o), len, (unsigned long long) off);
  return -1;
}

static uint64_t
raw_next_data (struct recv_output *o, uint64_t off)
{
  off_t r = lseek (o->fd, off, SEEK_DATA);
  struct stat st;

  if (r >= 0)
    return r;
  return fstat (o->fd, &st) == 0 ? (uint64_t) st.st_size : off;
}

static int
raw_write (struct recv_output *o, const void *buf, size_t len, uint64_t off)
{
  if (p2v_pwrite_full (o->fd, buf, len, off) == -1) {
    int e = errno;

    p2v_error ("%s: write of %zu bytes at offset %llu: %m", o->file.part, len,
               (unsigned long long) off);
    errno = e;
    return -1;
  }
  return 0;
}

static int
raw_zero (struct recv_output *o, uint64_t off, uint64_t len)
{
  /* The file was created empty and chunks arrive in order, so anything
   * not yet written is already a hole.
   */
  (void) o; (void) off; (void) len;
  return 0;
}

static int
raw_sync (struct recv_output *o)
{
  if (fdatasync (o->fd) == -1) {
    p2v_error ("%s: fdatasync: %m", o->file.part);
    return -1;
  }
  return 0;
}

static void
raw_discard (const struct recv_target *t, int dirfd, uint32_t index,
             bool published)
{
  recv_file_discard (t, dirfd, index, "raw", published);
}

static void
raw_close (struct recv_output *o)
{
  if (o) {
    close (o->fd);
    free (o);
  }
}

const struct recv_output_ops recv_out_raw = {
  .name = "raw",
  .written_as = "raw files",
  .configure = recv_file_configure,
  .discard = raw_discard,
  .create = raw_create,
  .reopen = raw_reopen,
  .open_read = raw_open_read,
  .read = raw_read,
  .next_data = raw_next_data,
  .write = raw_write,
  .zero = raw_zero,
  .sync = raw_sync,
  .publish = recv_file_publish,
  .unpublish = recv_file_unpublish,
  .allocated = recv_file_allocated,
  .file_name = recv_file_name,
  .close = raw_close,
};
