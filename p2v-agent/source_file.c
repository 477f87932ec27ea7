/* Sources that are block devices or image files: read with pread(2),
 * on a block device optionally past the page cache (O_DIRECT).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "agent.h"
#include "fileio.h"
#include "log.h"

struct file_source {
  bool direct;                  /* read through dfd (agent_source_direct) */
  int dfd;                      /* O_DIRECT, when direct (-1: none) */
};

static int
file_pread (const struct agent_source *s, void *buf, size_t len,
            uint64_t off)
{
  const struct file_source *f = s->impl;
  int fd = s->fd;
  ssize_t n;

  if (f->direct) {
    uint32_t a = s->sector_size;

    if (f->dfd >= 0 && off % a == 0 && len % a == 0 &&
        (uintptr_t) buf % a == 0)
      fd = f->dfd;
    else
      posix_fadvise (s->fd, off, len, POSIX_FADV_DONTNEED);
  }
  n = p2v_pread_full (fd, buf, len, off);
  if (n == (ssize_t) len)
    return 0;
  if (n >= 0)
    errno = EIO;                /* the device ended early */
  return -1;
}

static int
file_direct (struct agent_source *s)
{
  struct file_source *f = s->impl;

  if (!s->is_block || f->direct)
    return 0;
  f->dfd = open (s->path, O_RDONLY | O_DIRECT | O_CLOEXEC);
  if (f->dfd == -1 && errno == EINVAL)
    p2v_info ("%s: no direct reads here (O_DIRECT: %m): each read drops "
              "the device's cached pages of its range first", s->path);
  else if (f->dfd == -1) {
    p2v_error ("%s: cannot open it for direct reads: %m", s->path);
    return -1;
  }
  f->direct = true;
  posix_fadvise (s->fd, 0, 0, POSIX_FADV_DONTNEED);
  return 0;
}

static void
file_close (struct agent_source *s)
{
  struct file_source *f = s->impl;

  if (s->fd >= 0)
    close (s->fd);
  if (f && f->dfd >= 0)
    close (f->dfd);
  free (f);
}

static const struct agent_source_ops file_ops = {
  .pread = file_pread,
  .extents = agent_source_all_extents,
  .direct = file_direct,
  .close = file_close,
};

/* What udev calls the disk (model_serial), else the kernel's serial. */
static void
block_id (struct agent_source *s)
{
  char path[64], line[512];
  FILE *fp;

  snprintf (path, sizeof path, "/run/udev/data/b%u:%u", major (s->rdev),
            minor (s->rdev));
  fp = fopen (path, "re");
  while (fp && fgets (line, sizeof line, fp))
    if (strncmp (line, "E:ID_SERIAL=", 12) == 0) {
      line[strcspn (line, "\n")] = '\0';
      line[sizeof s->id - 1] = '\0';
      memcpy (s->id, line + 12, strlen (line + 12) + 1);
      break;
    }
  if (fp)
    fclose (fp);
  if (!*s->id)
    agent_read_attr (s->id, sizeof s->id, "/sys/dev/block/%u:%u/device/serial",
                     major (s->rdev), minor (s->rdev));
}

/* s takes fd and the file ops; 0, or -1 (reported; fd closed). */
static int
file_init (struct agent_source *s, int fd)
{
  struct file_source *f = calloc (1, sizeof *f);

  if (f == NULL) {
    p2v_error ("out of memory");
    close (fd);
    return -1;
  }
  s->fd = fd;
  f->dfd = -1;
  s->impl = f;
  s->ops = &file_ops;
  return 0;
}

int
agent_source_open_file (struct agent_source *s)
{
  struct stat st;
  int ssz = 512, fd = open (s->path, O_RDONLY | O_CLOEXEC);

  if (fd == -1) {
    p2v_error ("%s: %m", s->path);
    return -1;
  }
  if (file_init (s, fd) == -1)
    return -1;
  if (fstat (s->fd, &st) == -1) {
    p2v_error ("%s: stat: %m", s->path);
    return -1;
  }
  s->is_block = S_ISBLK (st.st_mode);
  s->rdev = st.st_rdev;
  if (s->is_block) {
    if (ioctl (s->fd, BLKGETSIZE64, &s->size) == -1) {
      p2v_error ("%s: cannot get the device size: %m", s->path);
      return -1;
    }
    if (ioctl (s->fd, BLKSSZGET, &ssz) == -1)
      ssz = 512;
    block_id (s);
  }
  else if (S_ISREG (st.st_mode))
    s->size = st.st_size;
  else {
    p2v_error ("%s: not a block device or a disk image file", s->path);
    return -1;
  }
  s->sector_size = ssz;
  posix_fadvise (s->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  return 0;
}

int
agent_source_from_fd (struct agent_source *s, const char *path, int fd,
                      uint64_t size, uint32_t sector_size)
{
  memset (s, 0, sizeof *s);
  s->path = path;
  s->size = size;
  s->sector_size = sector_size;
  return file_init (s, fd);
}
