/* tests/old-kernel: run a command as an old kernel would answer it, for
 * the portable agent's syscall audit (test-portable-agent).
 *
 *   old-kernel [--kernel VERSION] [--log FILE] [--no-odirect]
 *              [--no-fifreeze] [--no-mountinfo] COMMAND [ARG]...
 *
 * A seccomp filter (libseccomp) makes every system call that Linux
 * VERSION (default 2.6.32) did not have fail with ENOSYS, as it would
 * there; the command and its children inherit it.  The refused calls
 * reach this program through the filter's notifications (SECCOMP
 * user notification, Linux 5.0) and are answered ENOSYS; with --log,
 * each refused call is listed in FILE once per program, as
 * "NAME (Linux VERSION) refused to COMM, N times".  uname(2) says
 * Linux VERSION.
 * --no-odirect: opens with O_DIRECT fail with EINVAL (a device or
 * filesystem without direct I/O); --no-fifreeze: FIFREEZE fails with
 * ENOTTY (a kernel before 2.6.29); --no-mountinfo: the command's
 * /proc/self/mountinfo reads empty (before 2.6.26 there was none), in
 * a mount namespace of its own.
 * The filter covers both x86_64 and i386 programs (a 32-bit agent and
 * the 64-bit /bin/sh it starts).  On i386 the direct socket and System
 * V IPC calls are refused, not the same operations through
 * socketcall(2) and ipc(2), which 2.6.32 had.
 * Exit status: the command's (128 + N for signal N), 125 for a usage
 * or set-up error.
 *
 * The table: each x86 system call that came after 2.6.32, with the
 * version that added it.  Sources: syscalls(2) of man-pages 6.03 (the
 * "Kernel" column), the kernel's arch/x86/entry/syscalls/syscall_32.tbl
 * and syscall_64.tbl (which calls exist on which of the two); for
 * i386 alone, socketcall(2) and ipc(2) (direct socket calls from 4.3,
 * direct System V IPC calls from 5.1) and the 64-bit time calls
 * (*_time64, clock_*64: 5.1).  Those syscalls(2) lacks are taken from
 * the kernel's commits: mount_setattr 5.12, process_mrelease 5.15,
 * futex_waitv 5.16, set_mempolicy_home_node 5.17.  (i386's arch_prctl,
 * 4.12, is left out: x86_64's, under the same name, is old.)
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/fs.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

static const struct call {
  const char *name, *version;
} table[] = {
  { "recvmmsg", "2.6.33" },
  { "prlimit64", "2.6.36" },
  { "fanotify_init", "2.6.37" },
  { "fanotify_mark", "2.6.37" },
  { "clock_adjtime", "2.6.39" },
  { "name_to_handle_at", "2.6.39" },
  { "open_by_handle_at", "2.6.39" },
  { "syncfs", "2.6.39" },
  { "sendmmsg", "3.0" },
  { "setns", "3.0" },
  { "process_vm_readv", "3.2" },
  { "process_vm_writev", "3.2" },
  { "kcmp", "3.5" },
  { "finit_module", "3.8" },
  { "sched_getattr", "3.14" },
  { "sched_setattr", "3.14" },
  { "renameat2", "3.15" },
  { "getrandom", "3.17" },
  { "kexec_file_load", "3.17" },
  { "membarrier", "3.17" },
  { "memfd_create", "3.17" },
  { "seccomp", "3.17" },
  { "bpf", "3.18" },
  { "execveat", "3.19" },
  { "userfaultfd", "4.3" },
  { "mlock2", "4.4" },
  { "copy_file_range", "4.5" },
  { "preadv2", "4.6" },
  { "pwritev2", "4.6" },
  { "pkey_alloc", "4.8" },
  { "pkey_free", "4.8" },
  { "pkey_mprotect", "4.8" },
  { "statx", "4.11" },
  { "io_pgetevents", "4.18" },
  { "rseq", "4.18" },
  { "clock_adjtime64", "5.1" },
  { "clock_getres_time64", "5.1" },
  { "clock_gettime64", "5.1" },
  { "clock_nanosleep_time64", "5.1" },
  { "clock_settime64", "5.1" },
  { "futex_time64", "5.1" },
  { "io_pgetevents_time64", "5.1" },
  { "io_uring_enter", "5.1" },
  { "io_uring_register", "5.1" },
  { "io_uring_setup", "5.1" },
  { "mq_timedreceive_time64", "5.1" },
  { "mq_timedsend_time64", "5.1" },
  { "pidfd_send_signal", "5.1" },
  { "ppoll_time64", "5.1" },
  { "pselect6_time64", "5.1" },
  { "recvmmsg_time64", "5.1" },
  { "rt_sigtimedwait_time64", "5.1" },
  { "sched_rr_get_interval_time64", "5.1" },
  { "semtimedop_time64", "5.1" },
  { "timer_gettime64", "5.1" },
  { "timer_settime64", "5.1" },
  { "timerfd_gettime64", "5.1" },
  { "timerfd_settime64", "5.1" },
  { "utimensat_time64", "5.1" },
  { "fsconfig", "5.2" },
  { "fsmount", "5.2" },
  { "fsopen", "5.2" },
  { "fspick", "5.2" },
  { "move_mount", "5.2" },
  { "open_tree", "5.2" },
  { "clone3", "5.3" },
  { "pidfd_open", "5.3" },
  { "openat2", "5.6" },
  { "pidfd_getfd", "5.6" },
  { "faccessat2", "5.8" },
  { "close_range", "5.9" },
  { "process_madvise", "5.10" },
  { "epoll_pwait2", "5.11" },
  { "mount_setattr", "5.12" },
  { "landlock_add_rule", "5.13" },
  { "landlock_create_ruleset", "5.13" },
  { "landlock_restrict_self", "5.13" },
  { "memfd_secret", "5.14" },
  { "quotactl_fd", "5.14" },
  { "process_mrelease", "5.15" },
  { "futex_waitv", "5.16" },
  { "set_mempolicy_home_node", "5.17" },
};
#define NCALLS (sizeof table / sizeof table[0])

/* What was refused, to whom, how often. */
static struct refused {
  const struct call *call;
  char comm[17];
  unsigned long n;
} refused[512];
static size_t nrefused;

static void
usage (void)
{
  fprintf (stderr, "usage: old-kernel [--kernel VERSION] [--log FILE] "
           "[--no-odirect] [--no-fifreeze] [--no-mountinfo] COMMAND [ARG]...\n");
  exit (125);
}

/* a.b.c compared with x.y.z: <0, 0, >0. */
static int
vercmp (const char *a, const char *b)
{
  while (*a || *b) {
    long x = strtol (a, (char **) &a, 10), y = strtol (b, (char **) &b, 10);

    if (x != y)
      return x < y ? -1 : 1;
    a += *a == '.';
    b += *b == '.';
  }
  return 0;
}

static void
die (const char *what, int r)
{
  fprintf (stderr, "old-kernel: %s: %s\n", what, strerror (r < 0 ? -r : r));
  exit (125);
}

/* On i386, the direct socket calls (Linux 4.3: 359-373) and System V
 * IPC calls (5.1: 393-402) fail with ENOSYS; the same operations
 * through socketcall(2) and ipc(2), which 2.6.32 had, pass.  libseccomp
 * takes a name for both forms, so this is a filter of its own, loaded
 * first (not counted in the log). */
static void
refuse_direct_i386 (void)
{
  struct sock_filter f[] = {
    BPF_STMT (BPF_LD | BPF_W | BPF_ABS, offsetof (struct seccomp_data, arch)),
    BPF_JUMP (BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_I386, 0, 5),
    BPF_STMT (BPF_LD | BPF_W | BPF_ABS, offsetof (struct seccomp_data, nr)),
    BPF_JUMP (BPF_JMP | BPF_JGE | BPF_K, 359, 0, 3),
    BPF_JUMP (BPF_JMP | BPF_JGT | BPF_K, 373, 0, 3),
    BPF_JUMP (BPF_JMP | BPF_JGE | BPF_K, 393, 0, 1),
    BPF_JUMP (BPF_JMP | BPF_JGT | BPF_K, 402, 0, 1),
    BPF_STMT (BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    BPF_STMT (BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
  };
  struct sock_fprog prog = { sizeof f / sizeof f[0], f };

  if (prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1 ||
      prctl (PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == -1)
    die ("the i386 socket and IPC filter", errno);
}

/* The filters, loaded in this process; the notification fd. */
static int
load (const char *kernel, int no_odirect, int no_fifreeze)
{
  scmp_filter_ctx ctx = seccomp_init (SCMP_ACT_ALLOW);
  int r;

  if (ctx == NULL)
    die ("seccomp_init", ENOMEM);
  if ((r = seccomp_arch_add (ctx, SCMP_ARCH_X86)) < 0 && r != -EEXIST)
    die ("seccomp_arch_add", r);
  /* Each call by its number here, which libseccomp translates for the
   * other architecture (a pseudo-number for a call only i386 has). */
  for (size_t i = 0; i < NCALLS; ++i) {
    int nr = seccomp_syscall_resolve_name (table[i].name);

    if (nr == __NR_SCMP_ERROR) {
      fprintf (stderr, "old-kernel: %s is not a system call of x86\n", table[i].name);
      exit (125);
    }
    if (vercmp (table[i].version, kernel) > 0 &&
        (r = seccomp_rule_add (ctx, SCMP_ACT_NOTIFY, nr, 0)) < 0)
      die (table[i].name, r);
  }
  if ((r = seccomp_rule_add (ctx, SCMP_ACT_NOTIFY, SCMP_SYS (uname), 0)) < 0)
    die ("uname", r);
  if (no_odirect) {
    /* The flags: open's second argument, openat's third. */
    if ((r = seccomp_rule_add (ctx, SCMP_ACT_ERRNO (EINVAL), SCMP_SYS (open), 1,
                               SCMP_A1 (SCMP_CMP_MASKED_EQ, O_DIRECT, O_DIRECT))) < 0 ||
        (r = seccomp_rule_add (ctx, SCMP_ACT_ERRNO (EINVAL), SCMP_SYS (openat), 1,
                               SCMP_A2 (SCMP_CMP_MASKED_EQ, O_DIRECT, O_DIRECT))) < 0)
      die ("seccomp_rule_add (O_DIRECT)", r);
  }
  /* ioctl's request is an int: compare its low 32 bits. */
  if (no_fifreeze &&
      (r = seccomp_rule_add (ctx, SCMP_ACT_ERRNO (ENOTTY), SCMP_SYS (ioctl), 1,
                             SCMP_A1 (SCMP_CMP_MASKED_EQ, 0xffffffff, FIFREEZE))) < 0)
    die ("seccomp_rule_add (FIFREEZE)", r);
  if (vercmp (kernel, "4.3") < 0)
    refuse_direct_i386 ();
  if ((r = seccomp_load (ctx)) < 0)
    die ("seccomp_load", r);
  if ((r = seccomp_notify_fd (ctx)) < 0)
    die ("seccomp_notify_fd", r);
  return r;
}

static void
note (const struct call *c, pid_t pid)
{
  char path[64], comm[17] = "?";
  FILE *fp;
  size_t i;

  snprintf (path, sizeof path, "/proc/%d/comm", (int) pid);
  if ((fp = fopen (path, "re")) != NULL) {
    if (fgets (comm, sizeof comm, fp))
      comm[strcspn (comm, "\n")] = '\0';
    fclose (fp);
  }
  for (i = 0; i < nrefused; ++i)
    if (refused[i].call == c && strcmp (refused[i].comm, comm) == 0)
      break;
  if (i == nrefused) {
    if (nrefused == sizeof refused / sizeof refused[0])
      return;
    refused[nrefused++] = (struct refused) { .call = c };
    snprintf (refused[i].comm, sizeof refused[i].comm, "%s", comm);
  }
  refused[i].n++;
}

/* uname(2) for the caller: this machine's, but Linux VERSION, as
 * programs that read the version (OpenSSL: whether /dev/urandom may
 * stand in for getrandom) must see it.  0, or -errno. */
static int
fake_uname (const struct seccomp_notif *req, const char *kernel)
{
  struct utsname u;
  char path[64];
  int mem, r = 0;

  snprintf (path, sizeof path, "/proc/%d/mem", (int) req->pid);
  if (uname (&u) == -1 || (mem = open (path, O_WRONLY | O_CLOEXEC)) == -1)
    return -errno;
  snprintf (u.release, sizeof u.release, "%s", kernel);
  if (pwrite (mem, &u, sizeof u, req->data.args[0]) != sizeof u)
    r = -EFAULT;
  close (mem);
  return r;
}

/* Answers the notifications until the command exits: ENOSYS, or for
 * uname the old version. */
static int
supervise (int fd, pid_t child, const char *kernel)
{
  struct seccomp_notif *req;
  struct seccomp_notif_resp *resp;
  int status;

  if (seccomp_notify_alloc (&req, &resp) != 0)
    die ("seccomp_notify_alloc", ENOMEM);
  for (;;) {
    struct pollfd p = { .fd = fd, .events = POLLIN };
    pid_t w = waitpid (child, &status, WNOHANG);

    if (w == child)
      break;
    if (w == -1 && errno != EINTR)
      die ("waitpid", errno);
    if (poll (&p, 1, 50) <= 0 || !(p.revents & POLLIN))
      continue;
    memset (req, 0, sizeof *req);
    if (seccomp_notify_receive (fd, req) != 0)
      continue;                 /* the caller died meanwhile */
    resp->id = req->id;
    resp->val = 0;
    resp->error = -ENOSYS;
    resp->flags = 0;
    {
      char *name = seccomp_syscall_resolve_num_arch (req->data.arch, req->data.nr);

      if (name && strcmp (name, "uname") == 0)
        resp->error = fake_uname (req, kernel);
      for (size_t i = 0; name && i < NCALLS; ++i)
        if (strcmp (table[i].name, name) == 0) {
          note (&table[i], req->pid);
          break;
        }
      free (name);
    }
    seccomp_notify_respond (fd, resp);
  }
  seccomp_notify_free (req, resp);
  return WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
}

int
main (int argc, char **argv)
{
  const char *kernel = "2.6.32", *log = NULL;
  int no_odirect = 0, no_fifreeze = 0, no_mountinfo = 0, sv[2], fd, rc, i;
  char cbuf[CMSG_SPACE (sizeof (int))], byte = 0;
  struct iovec iov = { &byte, 1 };
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
                        .msg_control = cbuf, .msg_controllen = sizeof cbuf };
  pid_t child;

  for (i = 1; i < argc && argv[i][0] == '-'; ++i) {
    if (strcmp (argv[i], "--kernel") == 0 && i + 1 < argc)
      kernel = argv[++i];
    else if (strcmp (argv[i], "--log") == 0 && i + 1 < argc)
      log = argv[++i];
    else if (strcmp (argv[i], "--no-odirect") == 0)
      no_odirect = 1;
    else if (strcmp (argv[i], "--no-fifreeze") == 0)
      no_fifreeze = 1;
    else if (strcmp (argv[i], "--no-mountinfo") == 0)
      no_mountinfo = 1;
    else
      usage ();
  }
  if (i == argc)
    usage ();
  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
    die ("socketpair", errno);
  if ((child = fork ()) == -1)
    die ("fork", errno);
  if (child == 0) {
    struct cmsghdr *c = CMSG_FIRSTHDR (&msg);

    close (sv[0]);
    /* (The command keeps this process's pid, so /proc/self stays its.) */
    if (no_mountinfo &&
        (unshare (CLONE_NEWNS) == -1 ||
         mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1 ||
         mount ("/dev/null", "/proc/self/mountinfo", NULL, MS_BIND, NULL) == -1))
      die ("hiding /proc/self/mountinfo", errno);
    fd = load (kernel, no_odirect, no_fifreeze);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN (sizeof (int));
    memcpy (CMSG_DATA (c), &fd, sizeof fd);
    if (sendmsg (sv[1], &msg, 0) != 1)
      _exit (125);
    close (fd);
    close (sv[1]);
    execvp (argv[i], argv + i);
    fprintf (stderr, "old-kernel: %s: %s\n", argv[i], strerror (errno));
    _exit (127);
  }
  close (sv[1]);
  if (recvmsg (sv[0], &msg, 0) != 1 || CMSG_FIRSTHDR (&msg) == NULL) {
    waitpid (child, &rc, 0);
    fprintf (stderr, "old-kernel: the filter could not be set up\n");
    return 125;
  }
  memcpy (&fd, CMSG_DATA (CMSG_FIRSTHDR (&msg)), sizeof fd);
  close (sv[0]);
  signal (SIGINT, SIG_IGN);     /* the command gets it and exits */
  rc = supervise (fd, child, kernel);
  if (log) {
    FILE *fp = fopen (log, "w");

    if (fp == NULL)
      die (log, errno);
    for (size_t k = 0; k < nrefused; ++k)
      fprintf (fp, "%s (Linux %s) refused to %s, %lu times\n",
               refused[k].call->name, refused[k].call->version,
               refused[k].comm, refused[k].n);
    if (fclose (fp) != 0)
      die (log, errno);
  }
  return rc;
}
