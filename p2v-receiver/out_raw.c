/* Sparse raw image: diskN.raw.partial while receiving, diskN.raw once
 * published.  Zero ranges are left as holes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "out.h"
#include "fileio.h"
#include "log.h"
#include "names.h"
#include "proto.h"

struct recv_output {
  int dirfd, fd;
  char part[P2V_MAX_NAME + 40], final[P2V_MAX_NAME + 40];
  bool published;
};

/* Where image files go: the conversion directory, as diskN.EXT, or
 * with --storage another directory, as NAME-diskN.EXT.
 */
static int storage_fd = -1;
static char storage_name[P2V_MAX_NAME + 1];

void
recv_storage_configure (int dirfd, const char *name)
{
  storage_fd = dirfd;
  snprintf (storage_name, sizeof storage_name, "%s", name);
}

int
recv_storage_load (int dirfd, const char *name)
{
  char path[4096];
  int fd;

  if (p2v_read_line_at (dirfd, ".storage", path, sizeof path) <= 0)
    return 0;
  fd = open (path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd == -1) {
    p2v_error ("the conversion's storage directory %s: %m", path);
    return -1;
  }
  recv_storage_configure (fd, name);
  return 0;
}

int
recv_image_dirfd (int dirfd)
{
  return storage_fd >= 0 ? storage_fd : dirfd;
}

void
recv_image_name (char *buf, size_t len, uint32_t index, const char *ext,
                 bool partial)
{
  p2v_image_name (buf, len, storage_fd >= 0 ? storage_name : NULL, index,
                  ext, partial);
}

static const char *
raw_file_name (struct recv_output *o)
{
  return o->published ? o->final : o->part;
}

static struct recv_output *
raw_new (int dirfd, uint32_t index)
{
  struct recv_output *o = calloc (1, sizeof *o);

  if (o == NULL) {
    p2v_error ("out of memory");
    return NULL;
  }
  o->dirfd = recv_image_dirfd (dirfd);
  o->fd = -1;
  recv_image_name (o->final, sizeof o->final, index, "raw", false);
  recv_image_name (o->part, sizeof o->part, index, "raw", true);
  return o;
}

static struct recv_output *
raw_create (int dirfd, uint32_t index, uint64_t size)
{
  struct recv_output *o = raw_new (dirfd, index);

  if (o == NULL)
    return NULL;
  o->fd = openat (o->dirfd, o->part, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW |
                  O_CLOEXEC, 0600);
  if (o->fd == -1) {
    p2v_error ("%s: create: %m", o->part);
    free (o);
    return NULL;
  }
  /* The name must survive a crash as well as the data, or an ACK that
   * says "durable" would be a lie.
   */
  if (ftruncate (o->fd, size) == -1 || fsync (o->dirfd) == -1) {
    p2v_error ("%s: set size to %llu bytes: %m", o->part,
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
raw_reopen (int dirfd, uint32_t index, uint64_t size, uint64_t keep)
{
  struct recv_output *o = raw_new (dirfd, index);

  if (o == NULL)
    return NULL;
  o->fd = openat (o->dirfd, o->part, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
  if (o->fd == -1 && errno == ENOENT &&       /* publish was interrupted */
      renameat (o->dirfd, o->final, o->dirfd, o->part) == 0)
    o->fd = openat (o->dirfd, o->part, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
  if (o->fd == -1) {
    p2v_error ("%s: %m", o->part);
    free (o);
    return NULL;
  }
  if (ftruncate (o->fd, keep) == -1 || ftruncate (o->fd, size) == -1 ||
      fsync (o->fd) == -1) {
    p2v_error ("%s: discard after offset %llu: %m", o->part,
               (unsigned long long) keep);
    close (o->fd);
    free (o);
    return NULL;
  }
  return o;
}

static struct recv_output *
raw_open_read (int dirfd, uint32_t index)
{
  struct recv_output *o = raw_new (dirfd, index);

  if (o == NULL)
    return NULL;
  o->fd = openat (o->dirfd, o->final, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  o->published = o->fd >= 0;
  if (o->fd == -1)
    o->fd = openat (o->dirfd, o->part, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (o->fd == -1) {
    p2v_error ("%s: %m", o->final);
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
             raw_file_name (o), len, (unsigned long long) off);
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

    p2v_error ("%s: write of %zu bytes at offset %llu: %m", o->part, len,
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
    p2v_error ("%s: fdatasync: %m", o->part);
    return -1;
  }
  return 0;
}

int
recv_image_rename (int dirfd, const char *from, const char *to)
{
  if (renameat (dirfd, from, dirfd, to) == -1) {
    p2v_error ("%s: rename to %s: %m", from, to);
    return -1;
  }
  return 0;
}

static int
raw_publish (struct recv_output *o)
{
  if (recv_image_rename (o->dirfd, o->part, o->final) == -1)
    return -1;
  o->published = true;
  return 0;
}

static void
raw_unpublish (struct recv_output *o)
{
  if (o && o->published && recv_image_rename (o->dirfd, o->final,
                                              o->part) == 0)
    o->published = false;
}

static uint64_t
raw_allocated (struct recv_output *o)
{
  struct stat st;

  return fstat (o->fd, &st) == 0 ? (uint64_t) st.st_blocks * 512 : 0;
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
  .create = raw_create,
  .reopen = raw_reopen,
  .open_read = raw_open_read,
  .read = raw_read,
  .next_data = raw_next_data,
  .write = raw_write,
  .zero = raw_zero,
  .sync = raw_sync,
  .publish = raw_publish,
  .unpublish = raw_unpublish,
  .allocated = raw_allocated,
  .file_name = raw_file_name,
  .close = raw_close,
};
