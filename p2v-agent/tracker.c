/* The block-trace tracker: a tracefs instance of our own
 * (instances/p2v-PID) with the block events of the source disks and
 * their partitions enabled, filtered in the kernel by device, read from
 * its trace_pipe by a thread that marks the dirty maps.
 *
 * A write is marked twice: when it is queued (block_bio_queue) and when
 * it completes (block_rq_complete, block_bio_complete).  A pass that
 * takes the map between the two reads the old or the new data, and the
 * completion marks the block again for the next pass, so no write is
 * missed whichever way the read and the write race.
 *
 * Partition events: block_bio_queue may name the partition's device;
 * its sector is taken both as it is and as relative to the
 * partition's start.  Marking too much costs a re-read, too little
 * loses data.
 *
 * Loss: the ring buffer counts what it overwrote or dropped (per_cpu
 * stats); any loss makes the caller treat the whole disk as dirty for
 * the pass (or fall back to comparing hashes).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "log.h"
#include "tracker.h"

static const char *const events[] = {
  "block_bio_queue", "block_rq_complete", "block_bio_complete",
};
#define NEVENTS (sizeof events / sizeof events[0])

static void
why (struct agent_tracker *t, const char *fmt, ...)
  __attribute__ ((format (printf, 2, 3)));

static void
why (struct agent_tracker *t, const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (t->why, sizeof t->why, fmt, ap);
  va_end (ap);
}

/* Write text to the instance's file name. */
static int
put (struct agent_tracker *t, const char *name, const char *text)
{
  char path[sizeof t->dir + 128];
  int fd, r = 0;

  snprintf (path, sizeof path, "%s/%s", t->dir, name);
  if ((fd = open (path, O_WRONLY | O_TRUNC | O_CLOEXEC)) == -1)
    return -1;
  if (write (fd, text, strlen (text)) != (ssize_t) strlen (text))
    r = -1;
  if (close (fd) == -1)
    r = -1;
  return r;
}

/* Where the tracing files are: tracefs at /sys/kernel/tracing (Linux
 * 4.1 on), or the tracing directory of debugfs (older kernels, which
 * call it /sys/kernel/debug/tracing).  If neither is mounted, tracefs is
 * mounted, else debugfs (read-write: in a read-only one the tracing
 * files are read-only too); what the agent mounted it unmounts at the
 * end.
 */
static const char *
tracefs (struct agent_tracker *t)
{
  static const char *const places[] = { "/sys/kernel/tracing",
                                        "/sys/kernel/debug/tracing" };
  char tried[2][160];
  struct stat st;

  for (size_t i = 0; i < 2; ++i) {
    char pipe[64];

    snprintf (pipe, sizeof pipe, "%s/trace_pipe", places[i]);
    if (stat (pipe, &st) == 0)
      return places[i];
  }
  if (mount ("nodev", places[0], "tracefs", 0, NULL) == 0) {
    snprintf (t->mounted, sizeof t->mounted, "%s", places[0]);
    return places[0];
  }
  snprintf (tried[0], sizeof tried[0], "tracefs on %s: %s", places[0], strerror (errno));
  if (mount ("nodev", "/sys/kernel/debug", "debugfs", 0, NULL) == 0) {
    snprintf (t->mounted, sizeof t->mounted, "/sys/kernel/debug");
    if (stat (places[1], &st) == 0)
      return places[1];
    snprintf (tried[1], sizeof tried[1], "debugfs has no tracing directory");
  }
  else
    snprintf (tried[1], sizeof tried[1], "debugfs on /sys/kernel/debug: %s",
              strerror (errno));
  why (t, "the kernel's tracing files are not available (mounting %s; %s)",
       tried[0], tried[1]);
  return NULL;
}

/* The trace buffer to use: an instance of our own (Linux 3.10 on), else
 * the top-level buffer if nothing else uses it (its events off, no
 * tracer), whose size is put back at the end.
 */
static int
buffer (struct agent_tracker *t, const char *fs)
{
  char inst[160], text[256], size[64];
  const char *expanded;
  int err;

  snprintf (t->dir, sizeof t->dir, "%s/instances/p2v-%ld", fs, (long) getpid ());
  if (mkdir (t->dir, 0700) == 0) {
    snprintf (t->how, sizeof t->how, "trace instance %s", t->dir);
    return 0;
  }
  err = errno;
  snprintf (inst, sizeof inst, "%s/instances", fs);
  snprintf (t->dir, sizeof t->dir, "%s", fs);
  if (err != ENOENT && err != EROFS && err != EPERM && err != EACCES) {
    why (t, "cannot make the trace instance %s/p2v-%ld: %s", inst,
         (long) getpid (), strerror (err));
    t->dir[0] = '\0';
    return -1;
  }
  if (agent_read_attr (text, sizeof text, "%s/current_tracer", fs) != 0 ||
      strcmp (text, "nop") != 0 ||
      agent_read_attr (text, sizeof text, "%s/set_event", fs) == 0 ||
      agent_read_attr (size, sizeof size, "%s/buffer_size_kb", fs) != 0) {
    why (t, "no trace instance of its own (%s: %s) and the kernel's trace "
         "buffer %s is in use (a tracer or events are on)", inst,
         strerror (err), fs);
    t->dir[0] = '\0';
    return -1;
  }
  /* "7 (expanded: 1408)": a buffer never used yet, whose size is 1408. */
  expanded = strstr (size, "(expanded: ");
  snprintf (t->old_size, sizeof t->old_size, "%lu",
            strtoul (expanded ? expanded + 11 : size, NULL, 10));
  t->global = true;
  snprintf (t->how, sizeof t->how, "the top-level trace buffer %s (no instance "
            "of its own: %s)", fs, strerror (err));
  return 0;
}

/* The kernel's dev_t as trace filters compare it (MKDEV: 20 bits minor). */
static unsigned long long
kdev (dev_t d)
{
  return ((unsigned long long) major (d) << 20) | minor (d);
}

/* The partitions of disk i (sysfs), for the filter and the offsets. */
static int
add_partitions (struct agent_tracker *t, int disk, dev_t rdev)
{
  char dirpath[128], attr[64];
  DIR *dir;
  struct dirent *e;

  snprintf (dirpath, sizeof dirpath, "/sys/dev/block/%u:%u", major (rdev),
            minor (rdev));
  if ((dir = opendir (dirpath)) == NULL)
    return 0;
  while ((e = readdir (dir)) != NULL) {
    unsigned ma, mi;
    unsigned long long start;

    if (e->d_name[0] == '.' ||
        agent_read_attr (attr, sizeof attr, "%s/%s/partition", dirpath, e->d_name) != 0 ||
        agent_read_attr (attr, sizeof attr, "%s/%s/dev", dirpath, e->d_name) != 0 ||
        sscanf (attr, "%u:%u", &ma, &mi) != 2 ||
        agent_read_attr (attr, sizeof attr, "%s/%s/start", dirpath, e->d_name) != 0 ||
        sscanf (attr, "%llu", &start) != 1)
      continue;
    if (t->ndevs == AGENT_TRACKER_MAX_DEVS) {
      closedir (dir);
      why (t, "too many partitions to track");
      return -1;
    }
    t->devs[t->ndevs++] = (struct agent_tracked_dev) {
      .dev = makedev (ma, mi), .disk = disk, .start = start * 512,
    };
  }
  closedir (dir);
  return 0;
}

static void
mark (struct agent_tracker *t, const struct agent_trace_event *ev)
{
  dev_t dev = makedev (ev->major, ev->minor);

  t->events++;
  if (!agent_trace_changes (ev))
    return;
  for (size_t i = 0; i < t->ndevs; ++i) {
    const struct agent_tracked_dev *d = &t->devs[i];

    if (d->dev != dev)
      continue;
    pthread_mutex_lock (&t->lock);
    agent_dirty_mark (&t->dirty[d->disk], ev->sector * 512, ev->nr * 512);
    if (d->start)
      agent_dirty_mark (&t->dirty[d->disk], d->start + ev->sector * 512,
                        ev->nr * 512);
    pthread_mutex_unlock (&t->lock);
  }
}

/* The reader: trace_pipe, line by line, until told to stop. */
static void *
reader (void *arg)
{
  struct agent_tracker *t = arg;
  char buf[65536];
  size_t have = 0;

  for (;;) {
    struct pollfd p = { .fd = t->pipe_fd, .events = POLLIN };
    ssize_t n;
    char *line, *nl;

    pthread_mutex_lock (&t->lock);
    if (t->stopping) {
      pthread_mutex_unlock (&t->lock);
      break;
    }
    pthread_mutex_unlock (&t->lock);
    if (poll (&p, 1, 100) <= 0)
      continue;
    n = read (t->pipe_fd, buf + have, sizeof buf - 1 - have);
    if (n <= 0) {
      if (n == -1 && (errno == EINTR || errno == EAGAIN))
        continue;
      pthread_mutex_lock (&t->lock);
      t->failed = true;
      pthread_mutex_unlock (&t->lock);
      break;
    }
    have += n;
    buf[have] = '\0';
    for (line = buf; (nl = strchr (line, '\n')) != NULL; line = nl + 1) {
      struct agent_trace_event ev;

      *nl = '\0';
      if (agent_trace_parse (line, &ev))
        mark (t, &ev);
      else if (strstr (line, "tracing_mark_write: p2v-sync ")) {
        unsigned long long seq = strtoull (strstr (line, "p2v-sync ") + 9, NULL, 10);

        pthread_mutex_lock (&t->lock);
        if (seq > t->synced)
          t->synced = seq;
        pthread_cond_broadcast (&t->cond);
        pthread_mutex_unlock (&t->lock);
      }
    }
    have = buf + have - line;
    memmove (buf, line, have);
    if (have == sizeof buf - 1)         /* a line longer than the buffer */
      have = 0;
  }
  return NULL;
}

int
agent_tracker_start (struct agent_tracker *t, const dev_t *disks,
                     const uint64_t *sizes, int n, uint32_t grain)
{
  const char *fs;
  char filter[4096], name[sizeof t->dir + 64];
  size_t len = 0;

  memset (t, 0, sizeof *t);
  t->pipe_fd = -1;
  pthread_mutex_init (&t->lock, NULL);
  pthread_cond_init (&t->cond, NULL);
  if ((fs = tracefs (t)) == NULL)
    return -1;
  for (int i = 0; i < n; ++i) {
    if (agent_dirty_init (&t->dirty[i], sizes[i], grain) == -1) {
      why (t, "out of memory for the dirty maps");
      return -1;
    }
    t->ndisks = i + 1;
    t->devs[t->ndevs++] = (struct agent_tracked_dev) { .dev = disks[i], .disk = i };
    if (add_partitions (t, i, disks[i]) == -1)
      return -1;
  }
  for (size_t i = 0; i < t->ndevs; ++i) {
    int k = snprintf (filter + len, sizeof filter - len, "%sdev == %llu",
                      i ? " || " : "", kdev (t->devs[i].dev));

    if (k < 0 || (size_t) k >= sizeof filter - len) {
      why (t, "too many devices for one trace filter");
      return -1;
    }
    len += k;
  }
  if (buffer (t, fs) == -1)
    return -1;
  if (t->mounted[0]) {
    size_t k = strlen (t->how);

    snprintf (t->how + k, sizeof t->how - k, ", %s mounted by the agent", t->mounted);
  }
  /* 4 MiB a CPU: at 60 bytes an event, tens of thousands of writes
   * between two reads of the thread.
   */
  if (put (t, "buffer_size_kb", "4096") == -1) {
    why (t, "cannot size the trace buffer: %s", strerror (errno));
    return -1;
  }
  for (size_t i = 0; i < NEVENTS; ++i) {
    snprintf (name, sizeof name, "events/block/%s/filter", events[i]);
    if (put (t, name, filter) == -1) {
      why (t, "cannot set the filter of %s: %s", events[i], strerror (errno));
      return -1;
    }
    snprintf (name, sizeof name, "events/block/%s/enable", events[i]);
    if (put (t, name, "1") == -1) {
      why (t, "cannot enable the %s trace event: %s", events[i], strerror (errno));
      return -1;
    }
  }
  snprintf (name, sizeof name, "%s/trace_pipe", t->dir);
  if ((t->pipe_fd = open (name, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) == -1) {
    why (t, "cannot open %s: %s", name, strerror (errno));
    return -1;
  }
  if (pthread_create (&t->thread, NULL, reader, t) != 0) {
    why (t, "cannot start the trace reader");
    return -1;
  }
  t->running = true;
  return 0;
}

/* Events the ring buffer overwrote or dropped since the start. */
uint64_t
agent_tracker_lost (struct agent_tracker *t)
{
  char path[sizeof t->dir + 64], line[256];
  uint64_t lost = 0;

  for (int cpu = 0;; ++cpu) {
    FILE *fp;

    snprintf (path, sizeof path, "%s/per_cpu/cpu%d/stats", t->dir, cpu);
    if ((fp = fopen (path, "re")) == NULL)
      break;
    while (fgets (line, sizeof line, fp)) {
      unsigned long long v;

      if (sscanf (line, "overrun: %llu", &v) == 1 ||
          sscanf (line, "dropped events: %llu", &v) == 1)
        lost += v;
    }
    fclose (fp);
  }
  return lost + t->injected_loss;
}

int
agent_tracker_sync (struct agent_tracker *t, int timeout_ms)
{
  char mark[64];
  struct timespec until;
  unsigned long long seq;
  int r = 0;

  pthread_mutex_lock (&t->lock);
  seq = ++t->sync_seq;
  pthread_mutex_unlock (&t->lock);
  snprintf (mark, sizeof mark, "p2v-sync %llu\n", seq);
  if (put (t, "trace_marker", mark) == -1) {
    why (t, "cannot write to the trace: %s", strerror (errno));
    return -1;
  }
  clock_gettime (CLOCK_REALTIME, &until);
  until.tv_sec += timeout_ms / 1000;
  until.tv_nsec += (long) (timeout_ms % 1000) * 1000000;
  if (until.tv_nsec >= 1000000000) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000;
  }
  pthread_mutex_lock (&t->lock);
  while (t->synced < seq && !t->failed && r == 0)
    r = pthread_cond_timedwait (&t->cond, &t->lock, &until);
  if (t->failed || t->synced < seq) {
    why (t, t->failed ? "reading the trace failed" : "the trace reader is behind");
    r = -1;
  }
  pthread_mutex_unlock (&t->lock);
  return r == 0 ? 0 : -1;
}

int
agent_tracker_take (struct agent_tracker *t, int disk, struct agent_dirty *into)
{
  if (agent_tracker_sync (t, 10000) == -1)
    return -1;
  pthread_mutex_lock (&t->lock);
  agent_dirty_merge (into, &t->dirty[disk]);
  agent_dirty_clear (&t->dirty[disk]);
  pthread_mutex_unlock (&t->lock);
  return 0;
}

void
agent_tracker_stop (struct agent_tracker *t)
{
  char name[128];

  if (t->running) {
    pthread_mutex_lock (&t->lock);
    t->stopping = true;
    pthread_mutex_unlock (&t->lock);
    pthread_join (t->thread, NULL);
    t->running = false;
  }
  if (t->pipe_fd >= 0)
    close (t->pipe_fd);
  t->pipe_fd = -1;
  if (t->dir[0]) {
    for (size_t i = 0; i < NEVENTS; ++i) {
      snprintf (name, sizeof name, "events/block/%s/enable", events[i]);
      put (t, name, "0");
      snprintf (name, sizeof name, "events/block/%s/filter", events[i]);
      put (t, name, "0");
    }
  }
  if (t->global) {
    put (t, "buffer_size_kb", t->old_size);
    t->global = false;
    t->dir[0] = '\0';
  }
  if (t->dir[0]) {
    /* The instance may stay busy for a moment after its pipe closes. */
    for (int i = 0; rmdir (t->dir) == -1; ++i) {
      struct timespec ts = { 0, 50000000 };

      if (errno != EBUSY || i == 40) {
        p2v_warning ("could not remove the trace instance %s: %s", t->dir,
                     strerror (errno));
        break;
      }
      nanosleep (&ts, NULL);
    }
    t->dir[0] = '\0';
  }
  if (t->mounted[0]) {
    if (umount2 (t->mounted, MNT_DETACH) == -1)
      p2v_warning ("could not unmount %s, which the agent mounted: %s",
                   t->mounted, strerror (errno));
    t->mounted[0] = '\0';
  }
  for (int i = 0; i < t->ndisks; ++i)
    agent_dirty_free (&t->dirty[i]);
  t->ndisks = 0;
}
