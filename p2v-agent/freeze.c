/* Freezing the source's filesystems for hot clone's final pass
 * (FIFREEZE), with a watchdog process that thaws them if the agent
 * dies (its end of a socket pair closes) or the freeze lasts too long.
 *
 * One freeze per superblock (a bind mount is the same filesystem: a
 * second FIFREEZE fails with EBUSY), deepest mount point first, so
 * that a filesystem is frozen before the one its mount point is on;
 * thawed in the reverse order.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "freeze.h"
#include "log.h"

static int
depth (const char *path)
{
  int d = 0;

  for (; *path; ++path)
    d += *path == '/';
  return d;
}

static int
deeper_first (const void *a, const void *b)
{
  const struct agent_frozen *x = a, *y = b;

  return depth (y->target) - depth (x->target);
}

int
agent_freeze_find (struct agent_freeze *z, struct agent_source *const *src,
                   int n)
{
  struct agent_mounts t = { 0 };
  int r = 0;

  memset (z, 0, sizeof *z);
  z->watchdog = -1;
  z->pipe_w = -1;
  for (int i = 0; r == 0 && i < n; ++i)
    r = agent_source_mounts (src[i], &t);
  for (size_t i = 0; r == 0 && i < t.len; ++i) {
    const struct agent_mount *m = &t.ptr[i];
    bool seen = false;

    for (size_t j = 0; j < z->n; ++j)
      seen |= z->fs[j].dev == m->dev;
    if (seen)
      continue;
    if (z->n == AGENT_FREEZE_MAX) {
      p2v_error ("more than %d filesystems to freeze", AGENT_FREEZE_MAX);
      r = -1;
      break;
    }
    z->fs[z->n].dev = m->dev;
    z->fs[z->n].fd = -1;
    if (snprintf (z->fs[z->n].target, sizeof z->fs[z->n].target, "%s",
                  m->target) >= (int) sizeof z->fs[z->n].target) {
      p2v_error ("%s: mount point path too long", m->target);
      r = -1;
      break;
    }
    z->n++;
  }
  agent_mounts_free (&t);
  qsort (z->fs, z->n, sizeof z->fs[0], deeper_first);
  for (size_t i = 0; r == 0 && i < z->n; ++i)
    if ((z->fs[i].fd = open (z->fs[i].target, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
      p2v_error ("%s: cannot open the mount point to freeze it: %m",
                 z->fs[i].target);
      r = -1;
    }
  return r;
}

int
agent_freeze_check_fd (const struct agent_freeze *z, int fd, const char *what)
{
  struct stat st;

  if (fstat (fd, &st) == -1 || !S_ISREG (st.st_mode))
    return 0;
  for (size_t i = 0; i < z->n; ++i)
    if (st.st_dev == z->fs[i].dev) {
      p2v_error ("%s is a file on %s, which the final pass freezes: "
                 "writing to it would hang the agent; put it on another "
                 "filesystem (/dev/shm, /run)", what, z->fs[i].target);
      return -1;
    }
  return 0;
}

/* Thaw in reverse order; EINVAL means it was not frozen. */
static int
thaw_all (struct agent_freeze *z, bool quiet)
{
  int r = 0;

  for (size_t i = z->n; i-- > 0;)
    if (ioctl (z->fs[i].fd, FITHAW, 0) == -1 && errno != EINVAL) {
      if (!quiet)
        p2v_error ("%s: thawing failed: %m", z->fs[i].target);
      r = -1;
    }
    else
      z->fs[i].frozen = false;
  return r;
}

/* Close every descriptor above top: close_range (Linux 5.9), else one
 * by one up to the descriptor limit.
 */
static void
close_above (int top)
{
  long max = sysconf (_SC_OPEN_MAX);

#ifdef SYS_close_range
  if (syscall (SYS_close_range, top + 1, ~0U, 0) == 0)
    return;
#endif
  for (long f = top + 1; f < (max > 0 && max < (1 << 20) ? max : (1 << 20));
       ++f)
    close (f);
}

/* The watchdog: waits for the agent's word (or the pipe's end, if the
 * agent died) at most max_seconds, then thaws everything.  It writes
 * nothing anywhere until then.
 */
static void
watchdog (struct agent_freeze *z, int fd, int max_seconds)
{
  struct pollfd p = { .fd = fd, .events = POLLIN };
  char c;
  int r, top = fd;

  /* Hold nothing of the agent's open (its trace instance, its link):
   * only the socket and the mount points.
   */
  for (size_t i = 0; i < z->n; ++i)
    top = z->fs[i].fd > top ? z->fs[i].fd : top;
  for (int f = 3; f <= top; ++f) {
    bool keep = f == fd;

    for (size_t i = 0; i < z->n; ++i)
      keep |= f == z->fs[i].fd;
    if (!keep)
      close (f);
  }
  close_above (top);
  r = poll (&p, 1, max_seconds * 1000);

  if (r == 1 && read (fd, &c, 1) == 1 && c == 'T')
    _exit (0);                  /* the agent thawed */
  thaw_all (z, true);
  if (r == 0)
    p2v_warning ("the freeze lasted more than %d s (--max-freeze): "
                 "the watchdog thawed the filesystems", max_seconds);
  else
    p2v_warning ("the agent went away during the freeze: the watchdog "
                 "thawed the filesystems");
  _exit (2);
}

int
agent_freeze_begin (struct agent_freeze *z, int max_seconds)
{
  int fds[2];

  /* A socket pair, not a pipe: the word to a watchdog that has already
   * given up must not raise SIGPIPE (MSG_NOSIGNAL).
   */
  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == -1) {
    p2v_error ("socketpair: %m");
    return -1;
  }
  if ((z->watchdog = fork ()) == -1) {
    p2v_error ("fork: %m");
    close (fds[0]);
    close (fds[1]);
    return -1;
  }
  if (z->watchdog == 0) {
    close (fds[1]);
    watchdog (z, fds[0], max_seconds);
  }
  close (fds[0]);
  z->pipe_w = fds[1];
  sync ();
  for (size_t i = 0; i < z->n; ++i) {
    if (ioctl (z->fs[i].fd, FIFREEZE, 0) == -1) {
      int e = errno;

      p2v_error ("%s: cannot freeze it: %s%s", z->fs[i].target, strerror (e),
                 e == EOPNOTSUPP || e == ENOTTY || e == EINVAL
                 ? " (the kernel or this filesystem has no freeze: nothing is "
                   "published; run hot-clone again with --final=readonly, "
                   "which remounts the filesystems read-only for the last "
                   "pass, or --final=stop with the services' commands, and it "
                   "resumes)" : "");
      agent_freeze_end (z);
      return -1;
    }
    z->fs[i].frozen = true;
  }
  return 0;
}

int
agent_freeze_end (struct agent_freeze *z)
{
  int r = thaw_all (z, false), status;

  if (z->pipe_w >= 0) {
    send (z->pipe_w, "T", 1, MSG_NOSIGNAL);   /* the status tells */
    close (z->pipe_w);
    z->pipe_w = -1;
  }
  if (z->watchdog > 0) {
    while (waitpid (z->watchdog, &status, 0) == -1 && errno == EINTR)
      ;
    if (!WIFEXITED (status) || WEXITSTATUS (status) != 0) {
      p2v_error ("the freeze watchdog thawed the filesystems before the "
                 "final pass ended: the copy may not be consistent");
      r = -1;
    }
    z->watchdog = -1;
  }
  return r;
}

void
agent_freeze_close (struct agent_freeze *z)
{
  for (size_t i = 0; i < z->n; ++i)
    if (z->fs[i].fd >= 0)
      close (z->fs[i].fd);
  z->n = 0;
}
