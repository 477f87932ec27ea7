/* NTFS: the cluster bitmap ($Bitmap), read through libntfs-3g on a
 * device of our own that preads the region from the source: the volume
 * starts at an offset inside the disk, which libntfs-3g's unix device
 * cannot express, and ours refuses every write, so nothing libntfs-3g
 * does can change the source.  The $Boot area and everything past the
 * last cluster inside the partition (the backup boot sector lives
 * there) are always read.
 *
 * The bitmap is trusted only on a volume Windows closed cleanly: not
 * marked dirty, no hibernation or fast-startup image in hiberfil.sys,
 * and a clean $LogFile.  libntfs-3g skips the last two checks on a
 * read-only mount, so they are done here.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <ntfs-3g/types.h>
#include <ntfs-3g/attrib.h>
#include <ntfs-3g/bitmap.h>
#include <ntfs-3g/device.h>
#include <ntfs-3g/inode.h>
#include <ntfs-3g/logfile.h>
#include <ntfs-3g/logging.h>
#include <ntfs-3g/runlist.h>
#include <ntfs-3g/volume.h>

#include "cleanup.h"
#include "fileio.h"
#include "log.h"
#include "map.h"

#define BOOT_BYTES 8192                 /* $Boot: boot sector + loader */
#define PIECE (64 * 1024)               /* bitmap bytes read at once */

/* The device: the region, read-only.  d_private is this. */
struct ntfs_src {
  const struct agent_region *r;
  s64 pos;                              /* for seek + read */
};

static int
src_open (struct ntfs_device *dev, int flags)
{
  if ((flags & O_ACCMODE) != O_RDONLY) {
    errno = EROFS;
    return -1;
  }
  NDevSetOpen (dev);
  NDevSetReadOnly (dev);
  return 0;
}

static int
src_close (struct ntfs_device *dev)
{
  NDevClearOpen (dev);
  return 0;
}

static s64
src_pread (struct ntfs_device *dev, void *buf, s64 count, s64 offset)
{
  struct ntfs_src *s = dev->d_private;
  uint64_t len = s->r->length;

  if (count < 0 || offset < 0) {
    errno = EINVAL;
    return -1;
  }
  if ((uint64_t) offset >= len)
    return 0;                           /* the region ends here */
  if ((uint64_t) count > len - offset)
    count = len - offset;
  return p2v_pread_full (s->r->fd, buf, count, s->r->offset + offset);
}

static s64
src_read (struct ntfs_device *dev, void *buf, s64 count)
{
  struct ntfs_src *s = dev->d_private;
  s64 n = src_pread (dev, buf, count, s->pos);

  if (n > 0)
    s->pos += n;
  return n;
}

static s64
src_seek (struct ntfs_device *dev, s64 offset, int whence)
{
  struct ntfs_src *s = dev->d_private;
  s64 base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? s->pos
             : whence == SEEK_END ? (s64) s->r->length : -1;

  if (base < 0 || offset < -base || offset > INT64_MAX - base) {
    errno = EINVAL;
    return -1;
  }
  return s->pos = base + offset;
}

/* Nothing of libntfs-3g may change the source. */
static s64
src_write (struct ntfs_device *dev, const void *buf, s64 count)
{
  (void) dev; (void) buf; (void) count;
  errno = EROFS;
  return -1;
}

static s64
src_pwrite (struct ntfs_device *dev, const void *buf, s64 count, s64 offset)
{
  (void) offset;
  return src_write (dev, buf, count);
}

static int
src_sync (struct ntfs_device *dev)
{
  (void) dev;
  return 0;
}

static int
src_stat (struct ntfs_device *dev, struct stat *st)
{
  struct ntfs_src *s = dev->d_private;

  memset (st, 0, sizeof *st);
  st->st_mode = S_IFREG | 0400;
  st->st_size = s->r->length;
  return 0;
}

static int
src_ioctl (struct ntfs_device *dev, unsigned long request, void *argp)
{
  (void) dev; (void) request; (void) argp;
  errno = ENOTTY;
  return -1;
}

static struct ntfs_device_operations src_ops = {
  .open = src_open, .close = src_close, .seek = src_seek,
  .read = src_read, .write = src_write, .pread = src_pread,
  .pwrite = src_pwrite, .sync = src_sync, .stat = src_stat,
  .ioctl = src_ioctl,
};

/* libntfs-3g's messages are ours to word: they go to debug only. */
static int __attribute__ ((format (printf, 6, 0)))
log_to_debug (const char *function, const char *file, int line, u32 level,
              void *data, const char *format, va_list args)
{
  int saved = errno;
  char msg[512];
  size_t n;

  (void) function; (void) file; (void) line; (void) data;
  if (p2v_verbose < 1)
    return 0;
  vsnprintf (msg, sizeof msg, format, args);
  n = strlen (msg);
  while (n > 0 && msg[n - 1] == '\n')
    msg[--n] = '\0';
  if (level & NTFS_LOG_LEVEL_PERROR)
    p2v_debug ("libntfs-3g: %s: %s", msg, strerror (saved));
  else
    p2v_debug ("libntfs-3g: %s", msg);
  errno = saved;
  return n;
}

/* Is $LogFile clean?  Fast startup leaves metadata in it (and in RAM). */
static bool
logfile_clean (ntfs_volume *vol)
{
  ntfs_inode *ni = ntfs_inode_open (vol, FILE_LogFile);
  ntfs_attr *na;
  RESTART_PAGE_HEADER *rp = NULL;
  bool clean = false;

  if (ni == NULL)
    return false;
  if ((na = ntfs_attr_open (ni, AT_DATA, AT_UNNAMED, 0)) != NULL) {
    clean = ntfs_check_logfile (na, &rp) && ntfs_is_logfile_clean (na, rp);
    free (rp);
    ntfs_attr_close (na);
  }
  ntfs_inode_close (ni);
  return clean;
}

/* A volume whose $Bitmap may not describe what is on disk. */
static const char *
distrust (ntfs_volume *vol)
{
  if (ntfs_version_is_supported (vol) != 0)
    return "its NTFS version is not one libntfs-3g knows";
  if (vol->flags & VOLUME_IS_DIRTY)
    return "it is marked dirty (Windows would run chkdsk on it)";
  if (vol->flags & VOLUME_CHKDSK_UNDERWAY)
    return "a chkdsk of it was interrupted";
  if (ntfs_volume_check_hiberfile (vol, 0) < 0)
    return errno == EPERM
      ? "Windows is hibernated on it (hiberfil.sys holds an image)"
      : "its hiberfil.sys cannot be checked";
  if (!logfile_clean (vol))
    return "its $LogFile is not clean (not shut down cleanly, or Windows "
      "fast startup is on)";
  return NULL;
}

/* $Bitmap must cover every cluster, and every byte we read of it must
 * come from disk: no holes, no compression, nothing past the initialised
 * size (all of which libntfs-3g would return as zeros, i.e. "free").
 * Bits past the last cluster are ignored; a bitmap for twice as many
 * clusters (ntfsfix's own limit) says the cluster count is wrong.
 */
static const char *
bitmap_unfit (ntfs_volume *vol, uint64_t nclusters)
{
  ntfs_attr *na = vol->lcnbmp_na;
  uint64_t need = (nclusters + 7) / 8;

  if (na->data_size < 0 || (uint64_t) na->data_size < need ||
      ((uint64_t) na->data_size > (need + 7) / 8 * 8 &&
       (uint64_t) na->data_size / 2 >= need))
    return "the size of its $Bitmap does not match its cluster count";
  if (na->initialized_size < 0 || (uint64_t) na->initialized_size < need ||
      na->data_size > na->allocated_size)
    return "its $Bitmap sizes are inconsistent";
  if (NAttrCompressed (na) || NAttrEncrypted (na) || NAttrSparse (na) ||
      (na->data_flags & (ATTR_COMPRESSION_MASK | ATTR_IS_SPARSE |
                         ATTR_IS_ENCRYPTED)))
    return "its $Bitmap is compressed, sparse or encrypted";
  if (!NAttrNonResident (na))
    return NULL;
  if (ntfs_attr_map_whole_runlist (na) == -1 || na->rl == NULL)
    return "the runlist of its $Bitmap cannot be read";
  for (const runlist_element *rl = na->rl; rl->length > 0; ++rl)
    if (rl->lcn < 0 &&
        (uint64_t) rl->vcn < (need + vol->cluster_size - 1) /
                             vol->cluster_size)
      return "its $Bitmap has holes";
  return NULL;
}

/* A run of used clusters [start, end): one extent. */
static int
add_clusters (const struct agent_region *r, struct agent_extents *out,
              uint64_t cs, uint64_t start, uint64_t end)
{
  return agent_extent_add (out, r, r->offset + start * cs, (end - start) * cs);
}

/* Walk nbits bits of a bitmap piece describing clusters first, first+1,
 * ...; *run is the first cluster of a run still open from an earlier
 * piece (or -1), and is left open at the end for the next one.
 */
static int
add_runs (const struct agent_region *r, struct agent_extents *out,
          uint64_t cs, const uint8_t *bits, uint64_t first, uint64_t nbits,
          int64_t *run)
{
  uint64_t i = 0;

  while (i < nbits) {
    uint8_t byte = bits[i / 8];

    /* Whole bytes that do not end or start a run: skip them. */
    if (i % 8 == 0 && nbits - i >= 8 &&
        ((byte == 0xff && *run >= 0) || (byte == 0 && *run < 0))) {
      i += 8;
      continue;
    }
    if ((byte >> (i % 8) & 1) != 0) {
      if (*run < 0)
        *run = first + i;
    }
    else if (*run >= 0) {
      if (add_clusters (r, out, cs, *run, first + i) == -1)
        return -1;
      *run = -1;
    }
    ++i;
  }
  return 0;
}

/* Read $Bitmap in pieces and append the used clusters.  Returns 0, -1
 * (reported) on out of memory, or 1 when the bitmap cannot be read.
 */
static int
add_used_clusters (ntfs_volume *vol, const struct agent_region *r,
                   struct agent_extents *out)
{
  CLEANUP_FREE uint8_t *buf = malloc (PIECE);
  uint64_t nclusters = vol->nr_clusters, cs = vol->cluster_size;
  int64_t run = -1;

  if (buf == NULL) {
    p2v_error ("out of memory mapping %s", r->name);
    return -1;
  }
  for (uint64_t c = 0; c < nclusters; c += PIECE * 8) {
    uint64_t nbits = nclusters - c < PIECE * 8 ? nclusters - c : PIECE * 8;
    s64 want = (nbits + 7) / 8;

    if (ntfs_attr_pread (vol->lcnbmp_na, c / 8, want, buf) != want)
      return 1;
    if (add_runs (r, out, cs, buf, c, nbits, &run) == -1)
      return -1;
  }
  if (run >= 0 && add_clusters (r, out, cs, run, nclusters) == -1)
    return -1;
  return 0;
}

/* The backup boot sector is the partition's last sector, read with the
 * tail past the last cluster; but when the volume fills the partition,
 * chkdsk puts it in the middle sector instead (ntfsfix's notes), which
 * no file owns.  One sector: always read it.
 */
static uint64_t
middle_sector (const ntfs_volume *vol, const struct agent_region *r)
{
  uint64_t ss = vol->sector_size, sectors = r->length / ss;

  return (sectors + 1) / 2 * ss;
}

/* The checks and the map, on a mounted volume. */
static enum agent_map_result
map_volume (ntfs_volume *vol, const struct agent_region *r,
            struct agent_extents *out, char *why, size_t whylen)
{
  uint64_t cs = vol->cluster_size, ss = vol->sector_size, nclusters;
  uint64_t vol_bytes;
  const char *bad;
  int res;

  if (vol->nr_clusters <= 0 || cs < ss || cs > 2 * 1024 * 1024 ||
      (cs & (cs - 1)) != 0 || ss < 256 || ss > 4096 || (ss & (ss - 1)) != 0) {
    snprintf (why, whylen, "its geometry is implausible (%" PRId64
              " clusters of %" PRIu64 " bytes, %" PRIu64 "-byte sectors)",
              (int64_t) vol->nr_clusters, cs, ss);
    return AGENT_MAP_FALLBACK;
  }
  nclusters = vol->nr_clusters;
  if (nclusters > r->length / cs) {
    snprintf (why, whylen, "the volume (%" PRIu64 " clusters of %" PRIu64
              " bytes) is larger than its partition", nclusters, cs);
    return AGENT_MAP_FALLBACK;
  }
  vol_bytes = nclusters * cs;
  if ((bad = distrust (vol)) != NULL ||
      (bad = bitmap_unfit (vol, nclusters)) != NULL) {
    snprintf (why, whylen, "%s", bad);
    return AGENT_MAP_FALLBACK;
  }
  if (agent_extent_add (out, r, r->offset, BOOT_BYTES) == -1)
    return AGENT_MAP_ERROR;
  if ((res = add_used_clusters (vol, r, out)) == 1) {
    snprintf (why, whylen, "its $Bitmap cannot be read");
    return AGENT_MAP_FALLBACK;
  }
  if (res == -1 ||
      agent_extent_add (out, r, r->offset + vol_bytes,
                        r->length - vol_bytes) == -1 ||
      agent_extent_add (out, r, r->offset + middle_sector (vol, r),
                        vol->sector_size) == -1)
    return AGENT_MAP_ERROR;
  return AGENT_MAP_OK;
}

static enum agent_map_result
map_ntfs (const struct agent_region *r, struct agent_extents *out,
          char *why, size_t whylen)
{
  struct ntfs_src src = { r, 0 };
  struct ntfs_device *dev;
  ntfs_volume *vol;
  enum agent_map_result res;

  ntfs_log_set_handler (log_to_debug);
  dev = ntfs_device_alloc (r->name, 0, &src_ops, &src);
  if (dev == NULL) {
    p2v_error ("out of memory mapping %s", r->name);
    return AGENT_MAP_ERROR;
  }
  vol = ntfs_device_mount (dev, NTFS_MNT_RDONLY);
  if (vol == NULL) {
    snprintf (why, whylen, "libntfs-3g cannot mount it read-only: %s "
              "(-v shows its messages)", strerror (errno));
    ntfs_device_free (dev);
    return AGENT_MAP_FALLBACK;
  }
  res = map_volume (vol, r, out, why, whylen);
  ntfs_umount (vol, FALSE);             /* frees dev */
  return res;
}

static const char *const ntfs_types[] = { "ntfs", NULL };
static const struct agent_map_ops ntfs_map = {
  .name = "ntfs bitmap", .types = ntfs_types, .map = map_ntfs,
};
AGENT_MAP_REGISTER (ntfs_map)
