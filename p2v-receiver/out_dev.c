/* Block device outputs: an existing device given with --device (one per
 * disk), or a logical volume created with --lvm VG[/THINPOOL].
 *
 * Unlike a new file, a device holds old data: every byte the conversion
 * does not write as data is zeroed (BLKZEROOUT, which the kernel turns
 * into WRITE ZEROES or unmap where the device can), except where the
 * device is known to read as zeros already: a new thin volume.  So a
 * resume needs no cut-back: everything past the committed offset is
 * written or zeroed again.  A device whose first MiB is not all zeros
 * is taken as holding someone's data and refused without --force.
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
#include <unistd.h>

#include "out.h"
#include "recv.h"
#include "fileio.h"
#include "log.h"
#include "lvm.h"
#include "convdir_layout.h"
#include "zero.h"

struct recv_output {
  int fd;
  char path[4200];
  bool block;                   /* else a regular file */
  uint64_t zero_from;           /* reads as zeros from here on */
};

/* The devices of the options: one per disk, or an LV each. */
static int
dev_configure (struct recv_target *t, const struct recv_options *o,
               const struct p2v_inventory *inv)
{
  if (!o->lvm && (uint32_t) o->ndevices != inv->ndisks) {
    p2v_error ("the agent sends %" PRIu32 " disk(s) but the receiver has "
               "%d --device; give one per disk, in order",
               inv->ndisks, o->ndevices);
    return P2V_ERR_REFUSED;
  }
  memcpy (t->devices, o->devices, sizeof t->devices);
  t->ndevices = o->ndevices;
  t->lvm = o->lvm;
  t->force = o->force;
  return 0;
}

/* Each disk's device is recorded as .deviceN in the conversion
 * directory, so that resume and p2v-receiver verify find the right one:
 * into path, or false if disk index has none.
 */
static bool
recorded (int dirfd, uint32_t index, char *path, size_t len)
{
  char name[32];

  p2v_convdir_device_name (name, sizeof name, index);
  return p2v_read_line_at (dirfd, name, path, len) != -1;
}

static bool
dev_written (const struct recv_target *t, int dirfd)
{
  char path[4200];

  (void) t;
  return recorded (dirfd, 0, path, sizeof path);
}

static int
dev_load (struct recv_target *t, int dirfd)
{
  char path[4200];
  int n = 0;

  for (; n < P2V_MAX_DISKS; ++n) {
    if (!recorded (dirfd, n, path, sizeof path))
      break;
    free (t->recorded[n]);
    if ((t->recorded[n] = strdup (path)) == NULL) {
      p2v_error ("out of memory");
      return -1;
    }
    t->devices[n] = t->recorded[n];
  }
  t->ndevices = n;
  t->lvm = NULL;
  return 0;
}

/* --lvm VG or VG/POOL: NAME-diskN, thin in POOL if given. */
static int
lv_path (const struct recv_target *t, uint32_t index, char *buf, size_t len,
         char *lv, size_t lvlen, char *vg, size_t vglen, const char **pool)
{
  const char *lvm = t->lvm, *slash = strchr (lvm, '/');

  snprintf (vg, vglen, "%.*s", slash ? (int) (slash - lvm)
            : (int) strlen (lvm), lvm);
  *pool = slash ? slash + 1 : NULL;
  p2v_lv_name (lv, lvlen, t->name, index);
  return snprintf (buf, len, "/dev/%s/%s", vg, lv) < (int) len ? 0 : -1;
}

static int
create_lv (const struct recv_target *t, uint32_t index, uint64_t size,
           char *path, size_t len, bool *thin)
{
  char lv[128], vg[128], sz[32], vgpool[300];
  const char *pool;

  if (lv_path (t, index, path, len, lv, sizeof lv, vg, sizeof vg,
               &pool) == -1)
    return -1;
  snprintf (sz, sizeof sz, "%" PRIu64 "b", size);
  if (pool) {
    snprintf (vgpool, sizeof vgpool, "%s/%s", vg, pool);
    char *argv[] = { "lvcreate", "-q", "-y", "-V", sz, "-T", vgpool, "-n",
                     lv, NULL };
    *thin = true;
    return recv_run (argv);
  }
  char *argv[] = { "lvcreate", "-q", "-y", "--wipesignatures", "n", "-L", sz,
                   "-n", lv, vg, NULL };
  *thin = false;
  return recv_run (argv);
}

/* Whether path is this conversion's own device: an earlier session of
 * it recorded it in .deviceN.
 */
static bool
recorded_at (int dirfd, uint32_t index, const char *path)
{
  char was[4200];

  return recorded (dirfd, index, was, sizeof was) && strcmp (was, path) == 0;
}

/* --lvm, before the session starts: each disk's LV must be new, this
 * conversion's own (an earlier session recorded it) or taken over with
 * --force, and the VG or thin pool must have room for what is to come.
 */
static int
dev_check (const struct recv_target *t, int dirfd,
           const struct p2v_inventory *inv, const uint64_t *have)
{
  char path[4200], lv[128], vg[128], why[512], a[32], b[32];
  const char *pool = NULL;
  struct p2v_lvm_space sp;
  uint64_t need = 0;

  if (t->lvm == NULL)
    return 0;
  if (p2v_lvm_space (t->lvm, &sp, why, sizeof why) < 0) {
    p2v_error ("--lvm %s: %s", t->lvm, why);
    return P2V_ERR_IO;
  }
  for (uint32_t i = 0; i < inv->ndisks; ++i) {
    const struct p2v_disk_info *d = &inv->disks[i];

    lv_path (t, i, path, sizeof path, lv, sizeof lv, vg, sizeof vg, &pool);
    if (access (path, F_OK) == 0) {
      if (!t->force && !recorded_at (dirfd, i, path)) {
        p2v_error ("%s already exists and is not this conversion's; "
                   "give another --name, remove it (lvremove %s/%s), or "
                   "run the receiver with --force to overwrite it", path,
                   vg, lv);
        return P2V_ERR_EXISTS;
      }
      if (pool && d->data_bytes > have[i])
        need += d->data_bytes - have[i];
    }
    else                        /* a thick LV takes whole extents */
      need += pool ? d->data_bytes : (d->size + sp.unit - 1) / sp.unit
                                     * sp.unit;
  }
  if (need > sp.free) {
    p2v_error ("%s %s has %s free, but the disks need %s (%s); extend it "
               "(%s) or give the receiver another --lvm", pool ? "thin pool"
               : "volume group", t->lvm,
               p2v_human_size (sp.free, a, sizeof a),
               p2v_human_size (need, b, sizeof b), pool
               ? "their data" : "each disk's whole size", pool
               ? "lvextend" : "vgextend");
    return P2V_ERR_IO;
  }
  return 0;
}

/* Disk index's device: its LV (--lvm) or its --device; "" if none. */
static void
device_path (const struct recv_target *t, uint32_t index, char *buf,
             size_t len)
{
  char lv[128], vg[128];
  const char *pool;

  if (t->lvm)
    lv_path (t, index, buf, len, lv, sizeof lv, vg, sizeof vg, &pool);
  else
    snprintf (buf, len, "%s", index < (uint32_t) t->ndevices
              ? t->devices[index] : "");
}

/* fresh: for a disk that has nothing durable yet, creating its LV;
 * ours: an earlier session of this conversion wrote to it already.
 */
static struct recv_output *
dev_open (const struct recv_target *t, uint32_t index, const char *path,
          uint64_t size, bool fresh, bool ours)
{
  struct recv_output *o = calloc (1, sizeof *o);
  bool thin = false;
  struct stat st;
  uint64_t dsize;

  if (o == NULL) {
    p2v_error ("out of memory");
    return NULL;
  }
  o->fd = -1;
  snprintf (o->path, sizeof o->path, "%s", path);
  if (t->lvm) {
    /* An LV left by a session that committed nothing is reused, but
     * not trusted to read as zeros.
     */
    if (fresh && access (o->path, F_OK) == -1 &&
        create_lv (t, index, size, o->path, sizeof o->path, &thin) == -1)
      goto err;
  }
  else if (!*o->path) {
    p2v_error ("disk %u has no --device (give one per disk, in order)",
               index);
    goto err;
  }
  /* O_EXCL on a block device: not while mounted or otherwise in use
   * (a regular file ignores it).
   */
  o->fd = open (o->path, O_RDWR | O_CLOEXEC | O_EXCL);
  if (o->fd == -1 || fstat (o->fd, &st) == -1) {
    p2v_error ("%s: %m%s", o->path, errno == EBUSY
               ? " (mounted or in use by someone else)" : "");
    goto err;
  }
  o->block = S_ISBLK (st.st_mode);
  if (!o->block && !S_ISREG (st.st_mode)) {
    p2v_error ("%s: not a block device or a file", o->path);
    goto err;
  }
  if (o->block ? ioctl (o->fd, BLKGETSIZE64, &dsize) == -1
               : (dsize = st.st_size, false)) {
    p2v_error ("%s: size: %m", o->path);
    goto err;
  }
  if (dsize < size) {
    p2v_error ("%s holds %" PRIu64 " bytes, the disk %u has %" PRIu64
               "; give a device at least that large", o->path, dsize,
               index, size);
    goto err;
  }
  if (fresh && !ours && !t->lvm && !t->force) {
    size_t n = size < (1 << 20) ? size : (1 << 20);
    uint8_t *buf = malloc (n);
    bool empty = buf && p2v_pread_full (o->fd, buf, n, 0) == (ssize_t) n &&
                 p2v_is_zero (buf, n);

    free (buf);
    if (!empty) {
      p2v_error ("%s holds data (its first MiB is not zeros); to overwrite "
                 "it, run the receiver with --force", o->path);
      goto err;
    }
  }
  o->zero_from = thin ? 0 : UINT64_MAX;
  return o;
 err:
  if (o->fd >= 0)
    close (o->fd);
  free (o);
  return NULL;
}

/* The device is recorded before an LV is created for it, so that an
 * LV of ours is known as ours even if this session ends right after.
 */
static struct recv_output *
dev_create (const struct recv_target *t, int dirfd, uint32_t index,
            uint64_t size)
{
  char name[32], path[4200];
  bool ours;

  device_path (t, index, path, sizeof path);
  p2v_convdir_device_name (name, sizeof name, index);
  ours = recorded_at (dirfd, index, path);
  if (!ours && *path && p2v_write_file_at (dirfd, name, path) == -1)
    return NULL;
  return dev_open (t, index, path, size, true, ours);
}

/* A resumed disk goes on in the device its data went to, as recorded
 * (whatever this session's --device says).
 */
static struct recv_output *
dev_reopen (const struct recv_target *t, int dirfd, uint32_t index,
            uint64_t size, uint64_t keep)
{
  char path[4200];

  (void) keep;                  /* all past keep is written again */
  if (!recorded (dirfd, index, path, sizeof path))
    device_path (t, index, path, sizeof path);
  return dev_open (t, index, path, size, false, true);
}

static struct recv_output *
dev_open_read (const struct recv_target *t, int dirfd, uint32_t index)
{
  char path[4200];

  (void) dirfd;
  device_path (t, index, path, sizeof path);
  return dev_open (t, index, path, 0, false, true);
}

static int
dev_write (struct recv_output *o, const void *buf, size_t len, uint64_t off)
{
  if (p2v_pwrite_full (o->fd, buf, len, off) == -1) {
    int e = errno;

    p2v_error ("%s: write of %zu bytes at offset %" PRIu64 ": %m", o->path,
               len, off);
    errno = e;
    return -1;
  }
  return 0;
}

static int
dev_zero (struct recv_output *o, uint64_t off, uint64_t len)
{
  uint64_t range[2] = { off, len };

  if (off >= o->zero_from)
    return 0;                   /* a new thin volume: zeros already */
  if (o->block ? ioctl (o->fd, BLKZEROOUT, range)
               : fallocate (o->fd, FALLOC_FL_ZERO_RANGE, off, len)) {
    int e = errno;

    p2v_error ("%s: zeroing %" PRIu64 " bytes at offset %" PRIu64 ": %m",
               o->path, len, off);
    errno = e;
    return -1;
  }
  return 0;
}

static int
dev_read (struct recv_output *o, void *buf, size_t len, uint64_t off)
{
  if (p2v_pread_full (o->fd, buf, len, off) == (ssize_t) len)
    return 0;
  p2v_error ("%s: read of %zu bytes at offset %" PRIu64 ": %m", o->path, len,
             off);
  return -1;
}

static uint64_t
dev_next_data (struct recv_output *o, uint64_t off)
{
  (void) o;
  return off;
}

static int
dev_sync (struct recv_output *o)
{
  if (fdatasync (o->fd) == -1) {
    p2v_error ("%s: fdatasync: %m", o->path);
    return -1;
  }
  return 0;
}

static int
dev_publish (struct recv_output *o)
{
  (void) o;                     /* a device has no name to change */
  return 0;
}

static void
dev_unpublish (struct recv_output *o)
{
  (void) o;
}

static uint64_t
dev_allocated (struct recv_output *o)
{
  struct stat st;

  return !o->block && fstat (o->fd, &st) == 0
         ? (uint64_t) st.st_blocks * 512 : 0;
}

static const char *
dev_file_name (struct recv_output *o)
{
  return o->path;
}

static void
dev_close (struct recv_output *o)
{
  if (o) {
    close (o->fd);
    free (o);
  }
}

const struct recv_output_ops recv_out_dev = {
  .name = "raw",
  .devices = true,
  .written_as = "raw onto a device",
  .configure = dev_configure,
  .check = dev_check,
  .written = dev_written,
  .load = dev_load,
  .create = dev_create,
  .reopen = dev_reopen,
  .open_read = dev_open_read,
  .read = dev_read,
  .next_data = dev_next_data,
  .write = dev_write,
  .zero = dev_zero,
  .sync = dev_sync,
  .publish = dev_publish,
  .unpublish = dev_unpublish,
  .allocated = dev_allocated,
  .file_name = dev_file_name,
  .close = dev_close,
};
