/* Sparse raw image: diskN.raw.partial while receiving, diskN.raw once
 * published.  Zero ranges are left as holes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "recv.h"
#include "fileio.h"
#include "log.h"

struct recv_output {
  int dirfd, fd;
  char part[32], final[32];
  bool published;
};

static struct recv_output *
raw_create (int dirfd, uint32_t index, uint64_t size)
{
  struct recv_output *o = calloc (1, sizeof *o);

  if (o == NULL) {
    p2v_error ("out of memory");
    return NULL;
  }
  o->dirfd = dirfd;
  snprintf (o->final, sizeof o->final, "disk%u.raw", index);
  snprintf (o->part, sizeof o->part, "disk%u.raw.partial", index);
  o->fd = openat (dirfd, o->part, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW |
                  O_CLOEXEC, 0600);
  if (o->fd == -1) {
    p2v_error ("%s: create: %m", o->part);
    free (o);
    return NULL;
  }
  /* The name must survive a crash as well as the data, or an ACK that
   * says "durable" would be a lie.
   */
  if (ftruncate (o->fd, size) == -1 || fsync (dirfd) == -1) {
    p2v_error ("%s: set size to %llu bytes: %m", o->part,
               (unsigned long long) size);
    close (o->fd);
    free (o);
    return NULL;
  }
  return o;
}

static int
raw_write (struct recv_output *o, const void *buf, size_t len, uint64_t off)
{
  if (p2v_pwrite_full (o->fd, buf, len, off) == -1) {
    p2v_error ("%s: write of %zu bytes at offset %llu: %m%s", o->part, len,
               (unsigned long long) off,
               errno == ENOSPC ? " (free space in the output directory or "
                                 "choose another --output-dir)" : "");
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

static int
raw_publish (struct recv_output *o)
{
  if (renameat (o->dirfd, o->part, o->dirfd, o->final) == -1) {
    p2v_error ("%s: rename to %s: %m", o->part, o->final);
    return -1;
  }
  o->published = true;
  return 0;
}

static void
raw_unpublish (struct recv_output *o)
{
  if (o && o->published && renameat (o->dirfd, o->final, o->dirfd,
                                     o->part) == 0)
    o->published = false;
}

static uint64_t
raw_allocated (struct recv_output *o)
{
  struct stat st;

  return fstat (o->fd, &st) == 0 ? (uint64_t) st.st_blocks * 512 : 0;
}

static const char *
raw_file_name (struct recv_output *o)
{
  return o->published ? o->final : o->part;
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
  .write = raw_write,
  .zero = raw_zero,
  .sync = raw_sync,
  .publish = raw_publish,
  .unpublish = raw_unpublish,
  .allocated = raw_allocated,
  .file_name = raw_file_name,
  .close = raw_close,
};
