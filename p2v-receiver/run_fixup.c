/* Running p2v-fixup on the published images, once the new MACs are
 * chosen and before the domain XML is written (its hints choose the
 * disk bus and NIC model).  Its output goes to DIR/NAME/fixup.log and,
 * line by line, to the operator at the agent, which also keeps the
 * link alive through the minutes an initramfs rebuild takes.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "run_fixup.h"
#include "domain.h"
#include "cleanup.h"
#include "convdir_layout.h"
#include "log.h"
#include "proto.h"
#include "vector.h"

DEFINE_VECTOR_TYPE (args, char *);

static int
add (struct args *a, const char *fmt, ...)
  __attribute__ ((format (printf, 2, 3)));

static int
add (struct args *a, const char *fmt, ...)
{
  va_list ap;
  char *s;
  int r;

  va_start (ap, fmt);
  r = vasprintf (&s, fmt, ap);
  va_end (ap);
  if (r == -1)
    return -1;
  if (args_append (a, s) == 0)
    return 0;
  free (s);
  return -1;
}

/* Next to our own executable, else from PATH. */
const char *
recv_beside (const char *name, char *buf, size_t len)
{
  ssize_t n = readlink ("/proc/self/exe", buf, len - 1);
  char *slash;

  if (n > 0) {
    buf[n] = '\0';
    if ((slash = strrchr (buf, '/')) != NULL &&
        (size_t) (slash + 1 - buf) + strlen (name) < len) {
      strcpy (slash + 1, name);
      if (access (buf, X_OK) == 0)
        return buf;
    }
  }
  return name;
}

static int
program (const struct recv_fixup_opts *o, struct args *a)
{
  char self[PATH_MAX];

  return add (a, "%s", o->program ? o->program
              : recv_beside ("p2v-fixup", self, sizeof self));
}

/* The md arrays the agent flattened: --md DEV,UUID,DISK,PART[,NAME]. */
static int
md_args (const struct p2v_inventory *inv, struct args *a)
{
  const char *dev;

  for (int j = 0; (dev = p2v_fact_nth (inv, "md", j, "device")) != NULL;
       ++j) {
    const char *uuid = p2v_fact_nth (inv, "md", j, "uuid");
    const char *name = p2v_fact_nth (inv, "md", j, "name");
    const char *target = p2v_fact_nth (inv, "md", j, "target");
    int disk, part = 0;

    if (target == NULL ||
        (sscanf (target, "disk %d partition %d", &disk, &part) < 1))
      continue;                 /* "not flattened" */
    if (add (a, "--md") == -1 ||
        add (a, "%s,%s,%d,%d%s%s", dev, uuid ? uuid : "", disk, part,
             name && *name
             ? "," : "", name ? name : "") == -1)
      return -1;
  }
  return 0;
}

static int
build_args (const struct recv_fixup_opts *o, const char *dir,
            const struct p2v_inventory *inv,
            const struct recv_domain_disk *disks, uint32_t ndisks,
            const struct recv_domain *d, struct args *a)
{
  const char *fw = p2v_fact (inv, "firmware");

  if (program (o, a) == -1 ||
      add (a, "--format") == -1 || add (a, "%s", disks[0].format) == -1 ||
      add (a, "--report") == -1 ||
      add (a, "%s/" P2V_CONVDIR_FIXUP_REPORT, dir) == -1 ||
      add (a, "--hints") == -1 ||
      add (a, "%s/" P2V_CONVDIR_HINTS, dir) == -1 ||
      (fw && (strcmp (fw, "bios") == 0 || strcmp (fw, "uefi") == 0) &&
       (add (a, "--firmware") == -1 || add (a, "%s", fw) == -1)) ||
      md_args (inv, a) == -1)
    return -1;
  if (d->direct) {               /* the NICs from the guest, these MACs */
    char pool[RECV_MAC_POOL * 18] = "";

    for (size_t i = 0; i < d->npool; ++i)
      snprintf (pool + strlen (pool), sizeof pool - strlen (pool), "%s%s",
                i ? "," : "", d->pool[i]);
    if (add (a, "--new-macs") == -1 || add (a, "%s", pool) == -1)
      return -1;
  }
  for (size_t i = 0; i < d->nnics; ++i)
    if (*d->nics[i].old_mac &&
        (add (a, "--mac") == -1 ||
         add (a, "%s=%s,%s%s%s", d->nics[i].old_mac, d->nics[i].new_mac,
             d->nics[i].name, *d->nics[i].predictable ? "," : "",
             d->nics[i].predictable) == -1))
      return -1;
  for (size_t i = 0; i < d->nvlans; ++i)
    if (add (a, "--vlan") == -1 ||
        add (a, "%u=%s", d->vlans[i].vid, d->vlans[i].mac) == -1)
      return -1;
  for (uint32_t i = 0; i < ndisks; ++i)
    if (add (a, "%s", disks[i].path) == -1)
      return -1;
  return args_append (a, NULL);
}

static volatile sig_atomic_t guard_child, guard_stop;

static void
guard_signal (int sig)
{
  (void) sig;
  guard_stop = 1;
  if (guard_child > 0)
    kill (-guard_child, SIGKILL);
}

/* The guard, in the child of the receiver: it runs argv in a process
 * group of its own (so that one kill reaches the appliance too) and
 * waits for every process of it, also those orphaned to it (a child
 * subreaper), while holding lockfd: the conversion stays locked until
 * nothing writes its images.  SIGTERM, or the receiver's death, kills
 * that group.  Exits with p2v-fixup's status (128 + signal if killed).
 */
static void __attribute__ ((noreturn))
guard (char **argv, int lockfd, int out, pid_t receiver)
{
  struct sigaction sa = { .sa_handler = guard_signal };
  sigset_t block, old;
  int null = open ("/dev/null", O_RDONLY), status = 0, st;
  pid_t pid, w;

  setpgid (0, 0);               /* no terminal signal meant for the receiver */
  dup2 (null, 0);               /* stdin and stdout carry the protocol */
  dup2 (out, 1);
  dup2 (out, 2);
  if (lockfd > 2) {             /* nothing else of the receiver's */
    close_range (3, lockfd - 1, 0);
    close_range (lockfd + 1, ~0U, 0);
  }
  else
    close_range (3, ~0U, 0);
  sigemptyset (&block);
  sigaddset (&block, SIGTERM);
  sigprocmask (SIG_BLOCK, &block, &old);
  sigaction (SIGTERM, &sa, NULL);
  signal (SIGINT, SIG_IGN);
  signal (SIGHUP, SIG_IGN);
  prctl (PR_SET_CHILD_SUBREAPER, 1);
  prctl (PR_SET_PDEATHSIG, SIGTERM);
  if (getppid () != receiver)   /* it died before prctl */
    guard_stop = 1;
  pid = fork ();
  if (pid == 0) {
    setpgid (0, 0);
    signal (SIGINT, SIG_DFL);
    signal (SIGHUP, SIG_DFL);
    sigprocmask (SIG_SETMASK, &old, NULL);
    execvp (argv[0], argv);
    dprintf (2, "cannot run %s: %s\n", argv[0], strerror (errno));
    _exit (127);
  }
  if (pid == -1)
    _exit (126);
  setpgid (pid, pid);           /* before any kill of the group */
  guard_child = pid;
  if (guard_stop)
    kill (-pid, SIGKILL);
  sigprocmask (SIG_UNBLOCK, &block, NULL);
  while ((w = waitpid (-1, &st, 0)) != -1 || errno == EINTR)
    if (w == pid) {
      status = WIFEXITED (st) ? WEXITSTATUS (st) : 128 + WTERMSIG (st);
      guard_child = 0;
      kill (-pid, SIGKILL);     /* whatever of its group is left */
    }
  _exit (status);
}

/* The guard, with p2v-fixup's output on *out. */
static pid_t
start (char **argv, int lockfd, int *out)
{
  pid_t receiver = getpid ();
  int p[2];
  pid_t pid;

  if (pipe2 (p, O_CLOEXEC) == -1)
    return -1;
  pid = fork ();
  if (pid == 0)
    guard (argv, lockfd, p[1], receiver);
  close (p[1]);
  if (pid == -1)
    close (p[0]);
  *out = p[0];
  return pid;
}

static double
now (void)
{
  struct timespec t;

  clock_gettime (CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

/* Relay the child's lines until it exits or the time runs out. */
static int
relay (pid_t pid, int fd, int logfd, const struct recv_fixup_opts *o,
       void (*say) (void *, const char *), recv_busy_fn *busy, void *opaque)
{
  char line[1024], buf[4096];
  size_t len = 0;
  double t0 = now (), quiet = t0;
  ssize_t n = 1;

  while (n > 0) {
    struct pollfd p = { fd, POLLIN, 0 };
    char msg[128];

    if (recv_stop_signal || (o->timeout > 0 && now () - t0 > o->timeout)) {
      kill (pid, SIGTERM);      /* the guard kills p2v-fixup's group */
      p2v_error ("p2v-fixup %s after %.0f s; see fixup.log, and run it "
                 "again by hand (it is safe to repeat)",
                 recv_stop_signal ? "interrupted" : "timed out (--fixup-timeout)",
                 now () - t0);
      return -1;
    }
    snprintf (msg, sizeof msg, "running p2v-fixup (%.0f s)", now () - t0);
    busy (opaque, msg);
    if (poll (&p, 1, 250) <= 0) {
      if (now () - quiet >= 30) {
        snprintf (msg, sizeof msg, "p2v-fixup is still working (%.0f s)",
                  now () - t0);
        say (opaque, msg);
        quiet = now ();
      }
      continue;
    }
    if ((n = read (fd, buf, sizeof buf)) > 0 && write (logfd, buf, n) != n)
      p2v_warning ("fixup.log: %m");
    for (ssize_t i = 0; i < n; ++i) {
      if (buf[i] != '\n' && len < sizeof line - 1) {
        line[len++] = buf[i];
        continue;
      }
      line[len] = '\0';
      if (buf[i] == '\n' && len > 0 && strncmp (line, "p2v-fixup: ", 11) == 0)
        say (opaque, line);
      len = 0;
      quiet = now ();
    }
  }
  return 0;
}

int
recv_run_fixup (int dirfd, int lockfd, const char *dir,
                const struct p2v_inventory *inv,
                const struct recv_domain_disk *disks, uint32_t ndisks,
                const struct recv_domain *d, const struct recv_fixup_opts *o,
                void (*say) (void *, const char *), recv_busy_fn *busy,
                void *opaque)
{
  struct args a = { 0 };
  CLEANUP_CLOSE int logfd = openat (dirfd, P2V_CONVDIR_FIXUP_LOG, O_WRONLY |
                                    O_CREAT | O_TRUNC | O_CLOEXEC,
                                    0644);
  int fd = -1, status = 0, r = -1;
  pid_t pid = -1;

  unlinkat (dirfd, P2V_CONVDIR_FIXUP_REPORT, 0); /* nothing stale survives */
  unlinkat (dirfd, P2V_CONVDIR_HINTS, 0);
  if (logfd == -1 || build_args (o, dir, inv, disks, ndisks, d, &a) == -1) {
    p2v_error ("%s/fixup.log: %m", dir);
    goto out;
  }
  if ((pid = start (a.ptr, lockfd, &fd)) == -1) {
    p2v_error ("cannot run %s: %m", a.ptr[0]);
    goto out;
  }
  r = relay (pid, fd, logfd, o, say, busy, opaque);
  if (waitpid (pid, &status, 0) == -1 || r == -1)
    r = -1;
  else if (!WIFEXITED (status) || WEXITSTATUS (status) != 0) {
    p2v_error ("p2v-fixup failed (exit %d); see %s/fixup.log (files it "
               "changed are listed in fixup.json, their originals kept as "
               "FILE.p2v-orig)", WIFEXITED (status) ? WEXITSTATUS (status)
               : -1, dir);
    r = -1;
  }
 out:
  if (fd >= 0)
    close (fd);
  for (size_t i = 0; i < a.len; ++i)
    free (a.ptr[i]);
  args_reset (&a);
  return r;
}
