#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "log.h"

ssize_t
p2v_pread_full (int fd, void *buf, size_t len, uint64_t off)
{
  size_t done = 0;

  while (done < len) {
    ssize_t n = pread (fd, (char *) buf + done, len - done, off + done);

    if (n == -1 && errno == EINTR)
      continue;
    if (n == -1)
      return -1;
    if (n == 0)
      break;
    done += n;
  }
  return done;
}

int
p2v_pwrite_full (int fd, const void *buf, size_t len, uint64_t off)
{
  while (len > 0) {
    ssize_t n = pwrite (fd, buf, len, off);

    if (n == -1 && errno == EINTR)
      continue;
    if (n == -1)
      return -1;
    buf = (const char *) buf + n;
    len -= n;
    off += n;
  }
  return 0;
}

/* Overwrite an existing small file in place: its first block is already
 * allocated, so this works when the filesystem is full.
 */
static int
overwrite_at (int dirfd, const char *name, const char *content, size_t len)
{
  int fd = openat (dirfd, name, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
  int r;

  if (fd == -1)
    return -1;
  r = p2v_pwrite_full (fd, content, len, 0) == 0 &&
      ftruncate (fd, len) == 0 && fsync (fd) == 0 ? 0 : -1;
  close (fd);
  return r;
}

int
p2v_write_file_at (int dirfd, const char *name, const char *content)
{
  return p2v_write_data_at (dirfd, name, content, strlen (content));
}

int
p2v_write_data_at (int dirfd, const char *name, const void *content,
                   size_t len)
{
  const char *base = strrchr (name, '/');
  char tmp[256];
  int fd;

  /* "dir/.name.tmp": beside the file, in its own directory. */
  base = base ? base + 1 : name;
  snprintf (tmp, sizeof tmp, "%.*s.%s.tmp", (int) (base - name), name, base);
  fd = openat (dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
               O_CLOEXEC, 0644);
  if (fd == -1) {
    p2v_error ("%s: create: %m", tmp);
    return -1;
  }
  if (p2v_pwrite_full (fd, content, len, 0) == -1 || fsync (fd) == -1) {
    int saved = errno;

    close (fd);
    unlinkat (dirfd, tmp, 0);
    if (saved == ENOSPC && len < 4096 &&
        overwrite_at (dirfd, name, content, len) == 0)
      return 0;
    errno = saved;
    p2v_error ("%s: write: %m", tmp);
    return -1;
  }
  close (fd);
  if (renameat (dirfd, tmp, dirfd, name) == -1) {
    p2v_error ("%s: rename to %s: %m", tmp, name);
    unlinkat (dirfd, tmp, 0);
    return -1;
  }
  return 0;
}

ssize_t
p2v_read_line_at (int dirfd, const char *name, char *buf, size_t len)
{
  int fd = openat (dirfd, name, O_RDONLY | O_CLOEXEC);
  ssize_t n = fd >= 0 ? read (fd, buf, len - 1) : -1;

  if (fd >= 0)
    close (fd);
  buf[n > 0 ? n : 0] = '\0';
  buf[strcspn (buf, "\n")] = '\0';
  return fd >= 0 ? (ssize_t) strlen (buf) : -1;
}

double
p2v_now (void)
{
  return p2v_clock (CLOCK_MONOTONIC);
}

double
p2v_clock (clockid_t clock)
{
  struct timespec ts;

  if (clock_gettime (clock, &ts) == -1)
    return 0;
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

const char *
p2v_human_size (uint64_t bytes, char *buf, size_t len)
{
  static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
  double v = bytes;
  int u = 0;

  while (v >= 1024 && u < 4) {
    v /= 1024;
    u++;
  }
  if (u == 0)
    snprintf (buf, len, "%llu B", (unsigned long long) bytes);
  else
    snprintf (buf, len, "%.1f %s", v, units[u]);
  return buf;
}

int
p2v_memfd (const char *name)
{
  static const char *const dirs[] = { "/dev/shm", "/tmp" };
  char path[64];
  int fd = memfd_create (name, MFD_CLOEXEC);

  if (fd >= 0 || errno != ENOSYS)
    return fd;
  for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; ++i) {
    snprintf (path, sizeof path, "%s/%.20s.XXXXXX", dirs[i], name);
    if ((fd = mkostemp (path, O_CLOEXEC)) >= 0) {
      unlink (path);
      break;
    }
  }
  return fd;
}
