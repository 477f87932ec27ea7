/* Source disks: block devices or image files. */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "log.h"

int
agent_source_open (struct agent_source *s, const char *path)
{
  struct stat st;
  int ssz = 512;

  s->path = path;
  s->fd = open (path, O_RDONLY | O_CLOEXEC);
  if (s->fd == -1) {
    p2v_error ("%s: %m", path);
    return -1;
  }
  if (fstat (s->fd, &st) == -1) {
    p2v_error ("%s: stat: %m", path);
    goto err;
  }
  s->is_block = S_ISBLK (st.st_mode);
  s->rdev = st.st_rdev;
  if (s->is_block) {
    if (ioctl (s->fd, BLKGETSIZE64, &s->size) == -1) {
      p2v_error ("%s: cannot get the device size: %m", path);
      goto err;
    }
    if (ioctl (s->fd, BLKSSZGET, &ssz) == -1)
      ssz = 512;
  }
  else if (S_ISREG (st.st_mode))
    s->size = st.st_size;
  else {
    p2v_error ("%s: not a block device or a disk image file", path);
    goto err;
  }
  if (s->size == 0) {
    p2v_error ("%s: is empty (0 bytes); nothing to convert", path);
    goto err;
  }
  s->sector_size = ssz;
  posix_fadvise (s->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  return 0;
 err:
  close (s->fd);
  s->fd = -1;
  return -1;
}

void
agent_source_close (struct agent_source *s)
{
  if (s->fd >= 0)
    close (s->fd);
  s->fd = -1;
}
