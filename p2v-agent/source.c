/* Source disks: block devices, image files, or NBD exports (libnbd:
 * nbd://HOST[:PORT]/EXPORT, nbd+unix:///EXPORT?socket=PATH).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#ifndef P2V_NO_NBD
#include <libnbd.h>
#endif

#include "agent.h"
#include "fileio.h"
#include "hash.h"
#include "log.h"

#define FINGERPRINT_BYTES (1 << 20)

bool
agent_source_is_nbd (const char *path)
{
  return strncmp (path, "nbd://", 6) == 0 ||
         strncmp (path, "nbd+unix://", 11) == 0 ||
         strncmp (path, "nbds://", 7) == 0;
}

static int
open_nbd (struct agent_source *s)
{
#ifdef P2V_NO_NBD
  p2v_error ("%s: this p2v-agent was built without NBD support", s->path);
  return -1;
#else
  struct nbd_handle *h = nbd_create ();
  int64_t size;

  if (h == NULL || nbd_connect_uri (h, s->path) == -1 ||
      (size = nbd_get_size (h)) == -1) {
    p2v_error ("%s: %s", s->path, nbd_get_error ());
    nbd_close (h);
    return -1;
  }
  s->nbd = h;
  s->size = size;
  s->sector_size = 512;
  snprintf (s->id, sizeof s->id, "nbd");
  return 0;
#endif
}

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

static int
open_local (struct agent_source *s)
{
  struct stat st;
  int ssz = 512;

  s->fd = open (s->path, O_RDONLY | O_CLOEXEC);
  if (s->fd == -1) {
    p2v_error ("%s: %m", s->path);
    return -1;
  }
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

/* XXH3-128 of the first MiB: a resume must not mix two sources.  A
 * sector that cannot be read counts as zeros here.
 */
int
agent_source_fingerprint (struct agent_source *s)
{
  size_t len = s->size < FINGERPRINT_BYTES ? s->size : FINGERPRINT_BYTES;
  uint8_t *buf = calloc (1, len);

  if (buf == NULL) {
    p2v_error ("out of memory");
    return -1;
  }
  if (agent_source_pread (s, buf, len, 0) == -1)
    for (size_t off = 0; off < len; off += s->sector_size)
      if (agent_source_pread (s, buf + off, s->sector_size, off) == -1)
        memset (buf + off, 0, s->sector_size);
  p2v_hash_chunk (buf, len, s->fingerprint);
  free (buf);
  return 0;
}

int
agent_source_open (struct agent_source *s, const char *path)
{
  memset (s, 0, sizeof *s);
  s->path = path;
  s->fd = -1;
  if ((agent_source_is_nbd (path) ? open_nbd (s) : open_local (s)) == -1)
    goto err;
  if (s->size == 0) {
    p2v_error ("%s: is empty (0 bytes); nothing to convert", path);
    goto err;
  }
  if (s->size % s->sector_size != 0)
    s->sector_size = 512;
  if (agent_source_fingerprint (s) == 0)
    return 0;
 err:
  agent_source_close (s);
  return -1;
}

/* A composed source: each segment from its own source, zeros between. */
static int
pread_segments (const struct agent_source *s, uint8_t *buf, size_t len,
                uint64_t off)
{
  uint64_t end = off + len;

  if (end > s->size) {
    errno = EIO;
    return -1;
  }
  memset (buf, 0, len);
  for (size_t i = 0; i < s->nsegs; ++i) {
    const struct agent_segment *g = &s->segs[i];
    uint64_t a = g->offset > off ? g->offset : off;
    uint64_t b = g->offset + g->length < end ? g->offset + g->length : end;

    if (a < b && agent_source_pread (g->from, buf + (a - off), b - a,
                                     g->from_offset + (a - g->offset)) == -1)
      return -1;
  }
  return 0;
}

int
agent_source_direct (struct agent_source *s)
{
  if (!s->is_block || s->segs || s->direct)
    return 0;
  s->dfd = open (s->path, O_RDONLY | O_DIRECT | O_CLOEXEC);
  if (s->dfd == -1 && errno == EINVAL)
    p2v_info ("%s: no direct reads here (O_DIRECT: %m): each read drops "
              "the device's cached pages of its range first", s->path);
  else if (s->dfd == -1) {
    p2v_error ("%s: cannot open it for direct reads: %m", s->path);
    return -1;
  }
  s->direct = true;
  posix_fadvise (s->fd, 0, 0, POSIX_FADV_DONTNEED);
  return 0;
}

int
agent_source_pread (const struct agent_source *s, void *buf, size_t len,
                    uint64_t off)
{
  int fd = s->fd;
  ssize_t n;

  if (s->segs)
    return pread_segments (s, buf, len, off);
#ifndef P2V_NO_NBD
  if (s->nbd) {
    if (nbd_pread (s->nbd, buf, len, off, 0) == 0)
      return 0;
    errno = nbd_get_errno () ? nbd_get_errno () : EIO;
    return -1;
  }
#endif
  if (s->direct) {
    uint32_t a = s->sector_size;

    if (s->dfd >= 0 && off % a == 0 && len % a == 0 && (uintptr_t) buf % a == 0)
      fd = s->dfd;
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

void
agent_source_close (struct agent_source *s)
{
  if (s->fd >= 0)
    close (s->fd);
  s->fd = -1;
  if (s->direct && s->dfd >= 0)
    close (s->dfd);
  s->direct = false;
#ifndef P2V_NO_NBD
  nbd_close (s->nbd);
#endif
  s->nbd = NULL;
  free (s->segs);
  s->segs = NULL;
  s->nsegs = 0;
}
