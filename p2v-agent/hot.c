/* Hot clone's parts around the passes (send.c runs them): the tracker,
 * started before anything reads the disks and tested with a write of
 * our own; and the final step that holds the filesystems still while
 * the last pass is sent (freeze, read-only remount, or stopping the
 * services with the operator's command).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "fileio.h"
#include "freeze.h"
#include "hot.h"
#include "log.h"

/* The disk index that dev is, or is a partition of (at *start bytes). */
static int
disk_of (const struct agent_hot *h, dev_t dev, uint64_t *start)
{
  char attr[64];
  unsigned ma, mi;
  unsigned long long st = 0;
  dev_t disk = dev;

  /* A partition's sysfs directory sits in its disk's. */
  if (agent_read_attr (attr, sizeof attr, "/sys/dev/block/%u:%u/partition",
                       major (dev), minor (dev)) == 0) {
    if (agent_read_attr (attr, sizeof attr, "/sys/dev/block/%u:%u/../dev",
                         major (dev), minor (dev)) != 0 ||
        sscanf (attr, "%u:%u", &ma, &mi) != 2 ||
        agent_read_attr (attr, sizeof attr, "/sys/dev/block/%u:%u/start",
                         major (dev), minor (dev)) != 0 ||
        sscanf (attr, "%llu", &st) != 1)
      return -1;
    disk = makedev (ma, mi);
  }
  for (int i = 0; i < h->ndisks; ++i)
    if (h->devs[i] == disk) {
      *start = st * 512;
      return i;
    }
  return -1;
}

/* A write of our own must reach the dirty map where FIEMAP says it
 * went: a file on a writable filesystem of the disk, written with
 * O_DIRECT (or, where the filesystem has none, plainly) and synced,
 * then removed.
 */
static int
self_test (struct agent_hot *h, const struct agent_frozen *fs, int disk,
           uint64_t part_start)
{
  char path[600];
  /* A fiemap with room for one extent. */
  uint64_t fmbuf[(sizeof (struct fiemap) + sizeof (struct fiemap_extent)) / 8 + 1];
  struct fiemap *fm = (struct fiemap *) fmbuf;
  void *buf = NULL;
  int fd, r = -1;
  struct agent_dirty d;
  uint64_t off = 0, len = 0, phys;
  bool seen = false;

  snprintf (path, sizeof path, "%s/.p2v-tracker-test.%ld", fs->target,
            (long) getpid ());
  fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_DIRECT | O_CLOEXEC, 0600);
  if (fd == -1 && errno == EINVAL)      /* no O_DIRECT here: fsync below */
    fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd == -1 || posix_memalign (&buf, 4096, 65536) != 0) {
    snprintf (h->why, sizeof h->why, "the tracker's self-test cannot write "
              "%s: %s", path, strerror (errno));
    goto out;
  }
  memset (buf, 0x5a, 65536);
  if (write (fd, buf, 65536) != 65536 || fsync (fd) == -1) {
    snprintf (h->why, sizeof h->why, "the tracker's self-test write to %s "
              "failed: %s", path, strerror (errno));
    goto out;
  }
  memset (fmbuf, 0, sizeof fmbuf);
  fm->fm_length = 65536;
  fm->fm_flags = FIEMAP_FLAG_SYNC;
  fm->fm_extent_count = 1;
  if (ioctl (fd, FS_IOC_FIEMAP, fm) == -1 || fm->fm_mapped_extents < 1) {
    snprintf (h->why, sizeof h->why, "FIEMAP on the self-test file %s "
              "failed: %s", path, strerror (errno));
    goto out;
  }
  phys = part_start + fm->fm_extents[0].fe_physical;
  if (agent_dirty_init (&d, h->sizes[disk], h->t.dirty[disk].grain) == -1 ||
      agent_tracker_take (&h->t, disk, &d) == -1) {
    snprintf (h->why, sizeof h->why, "the tracker failed: %s", h->t.why);
    goto out;
  }
  while (agent_dirty_next (&d, off + len, &off, &len))
    seen |= off <= phys && phys < off + len;
  /* Give the rest back: it is real work for pass 2. */
  pthread_mutex_lock (&h->t.lock);
  agent_dirty_merge (&h->t.dirty[disk], &d);
  pthread_mutex_unlock (&h->t.lock);
  agent_dirty_free (&d);
  if (!seen)
    snprintf (h->why, sizeof h->why, "the tracker did not see the "
              "self-test write at offset %" PRIu64 " of disk %d",
              phys, disk);
  else
    r = 0;
 out:
  free (buf);
  if (fd >= 0) {
    close (fd);
    unlink (path);
  }
  return r;
}

int
agent_hot_start (struct agent_hot *h, const struct agent_options *o)
{
  memset (h, 0, sizeof *h);
  h->tracker = "none";
  for (int i = 0; i < o->nsources; ++i) {
    struct stat st;
    int fd;

    if (stat (o->sources[i], &st) == -1 || !S_ISBLK (st.st_mode)) {
      p2v_error ("%s: hot-clone copies block devices in use; this is not "
                 "one (%s)", o->sources[i],
                 errno ? strerror (errno) : "not a block device");
      return -1;
    }
    if ((fd = open (o->sources[i], O_RDONLY | O_CLOEXEC)) == -1 ||
        ioctl (fd, BLKGETSIZE64, &h->sizes[i]) == -1) {
      p2v_error ("%s: %m", o->sources[i]);
      if (fd >= 0)
        close (fd);
      return -1;
    }
    close (fd);
    h->devs[i] = st.st_rdev;
  }
  h->ndisks = o->nsources;
  if (strcmp (o->tracker, "none") == 0) {
    snprintf (h->why, sizeof h->why, "--tracker=none");
    return 0;
  }
  if (agent_tracker_start (&h->t, h->devs, h->sizes, h->ndisks,
                           o->chunk_size) == -1) {
    snprintf (h->why, sizeof h->why, "%s", h->t.why);
    agent_tracker_stop (&h->t);
    if (strcmp (o->tracker, "trace") == 0) {
      p2v_error ("cannot track writes: %s", h->why);
      return -1;
    }
    p2v_warning ("cannot track writes (%s): every later pass compares "
                 "hashes with the receiver instead", h->why);
    return 0;
  }
  h->tracking = true;
  h->tracker = "trace";
  p2v_info ("tracking writes with the kernel's block trace events: %s", h->t.how);
  /* Tests: as if the ring buffer had overflowed. */
  if (getenv ("P2V_TEST_TRACKER_LOSS"))
    h->t.injected_loss = strtoull (getenv ("P2V_TEST_TRACKER_LOSS"), NULL, 10);
  return 0;
}

int
agent_hot_prepare (struct agent_hot *h, const struct agent_options *o,
                   struct agent_source *const *src, int n)
{
  bool tested[P2V_MAX_DISKS] = { false };

  if (agent_freeze_find (&h->z, src, n) == -1)
    return -1;
  if (agent_freeze_check_fd (&h->z, 1, "standard output") == -1 ||
      agent_freeze_check_fd (&h->z, 2, "standard error") == -1)
    return -1;
  if (o->stats && strcmp (o->stats, "-") != 0) {
    int fd = open (o->stats, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    int r = fd == -1 ? 0 : agent_freeze_check_fd (&h->z, fd, o->stats);

    if (fd >= 0)
      close (fd);
    if (r == -1)
      return -1;
  }
  for (size_t i = 0; h->tracking && i < h->z.n; ++i) {
    uint64_t start;
    int disk = disk_of (h, h->z.fs[i].dev, &start);

    if (disk < 0 || tested[disk])
      continue;                 /* stacked (LVM, md): not mapped here */
    if (self_test (h, &h->z.fs[i], disk, start) == -1) {
      p2v_warning ("%s: every later pass compares hashes with the "
                   "receiver instead", h->why);
      agent_tracker_stop (&h->t);
      h->tracking = false;
      h->tracker = "none";
      return 0;
    }
    tested[disk] = true;
    p2v_info ("tracking writes to %s: the self-test write on %s was seen",
              o->sources[disk], h->z.fs[i].target);
  }
  return 0;
}

static int
run_command (const char *what, const char *cmd)
{
  int st = system (cmd);

  if (st == -1)
    p2v_error ("%s '%s' could not run: %m", what, cmd);
  else if (!WIFEXITED (st))
    p2v_error ("%s '%s' was killed by signal %d", what, cmd, WTERMSIG (st));
  else if (WEXITSTATUS (st) != 0)
    p2v_error ("%s '%s' failed (exit status %d)", what, cmd, WEXITSTATUS (st));
  else
    return 0;
  return -1;
}

static int
remount (struct agent_hot *h, bool ro)
{
  int r = 0;

  for (size_t i = 0; i < h->z.n; ++i)
    if (mount (NULL, h->z.fs[i].target, NULL,
               MS_REMOUNT | (ro ? MS_RDONLY : 0), NULL) == -1) {
      p2v_error ("%s: remounting %s failed: %m", h->z.fs[i].target,
                 ro ? "read-only" : "read-write");
      r = -1;
      if (ro)
        break;
    }
  return r;
}

int
agent_hot_final_begin (struct agent_hot *h, const struct agent_options *o)
{
  h->final_start = p2v_now ();
  if (strcmp (o->final, "stop") == 0) {
    p2v_info ("final pass: stopping the services (%s)", o->stop_command);
    if (run_command ("--stop-command", o->stop_command) == -1)
      return -1;
    sync ();
  }
  else if (strcmp (o->final, "readonly") == 0) {
    sync ();
    if (remount (h, true) == -1) {
      remount (h, false);
      return -1;
    }
  }
  else if (agent_freeze_begin (&h->z, o->max_freeze) == -1)
    return -1;
  h->held = true;
  if (o->frozen_command && run_command ("--frozen-command",
                                        o->frozen_command) == -1) {
    agent_hot_final_end (h, o);
    return -1;
  }
  return 0;
}

int
agent_hot_final_end (struct agent_hot *h, const struct agent_options *o)
{
  int r = 0;

  if (!h->held)
    return 0;
  if (strcmp (o->final, "stop") == 0)
    r = run_command ("--start-command", o->start_command);
  else if (strcmp (o->final, "readonly") == 0)
    r = remount (h, false);
  else
    r = agent_freeze_end (&h->z);
  h->held = false;
  h->downtime = p2v_now () - h->final_start;
  return r;
}

void
agent_hot_stop (struct agent_hot *h)
{
  if (h->tracking)
    agent_tracker_stop (&h->t);
  h->tracking = false;
  agent_freeze_close (&h->z);
}
