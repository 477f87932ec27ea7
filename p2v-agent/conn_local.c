/* --local: the receiver runs here as a child on a socketpair (the source
 * disk is attached to the hypervisor itself).  Same protocol, no SSH.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"
#include "conn.h"
#include "log.h"

struct local {
  struct agent_conn *conn;
  int sock, err;                /* protocol socket, child's stderr pipe */
  pid_t pid;
};

static void
drain_stderr (struct local *l)
{
  char buf[1024];
  ssize_t n;

  while (l->err >= 0 && (n = read (l->err, buf, sizeof buf)) != 0) {
    if (n == -1) {
      if (errno != EINTR && errno != EAGAIN)
        break;
      if (errno == EAGAIN)
        return;
      continue;
    }
    agent_conn_stderr (l->conn, buf, n);
  }
  if (l->err >= 0)
    close (l->err);
  l->err = -1;
}

static ssize_t
local_read_some (void *h, void *buf, size_t len)
{
  struct local *l = h;

  drain_stderr (l);
  return read (l->sock, buf, len);
}

static ssize_t
local_write_some (void *h, const void *buf, size_t len)
{
  struct local *l = h;

  return send (l->sock, buf, len, MSG_NOSIGNAL);
}

static int
local_wait (void *h, bool want_read, bool want_write, int timeout_ms)
{
  struct local *l = h;
  struct pollfd p[3] = {
    { .fd = want_read ? l->sock : -1, .events = POLLIN },
    { .fd = want_write ? l->sock : -1, .events = POLLOUT },
    { .fd = l->err, .events = POLLIN },
  };
  int r = p2v_poll (p, 3, timeout_ms);

  if (r == 1 && p[2].revents)
    drain_stderr (l);
  return r;
}

static const struct p2v_chan_ops local_ops = {
  .read_some = local_read_some,
  .write_some = local_write_some,
  .wait = local_wait,
};

static int
local_finish (struct agent_conn *c)
{
  struct local *l = c->impl;
  int status;
  pid_t r;

  shutdown (l->sock, SHUT_WR);
  /* Give the receiver 5 s to exit on end of input, then stop its whole
   * process group (the shell of --receiver-command and what it runs).
   */
  for (int i = 0; (r = waitpid (l->pid, &status, WNOHANG)) == 0; ++i) {
    if (i == 100)
      kill (-l->pid, SIGTERM);
    if (i == 200)
      kill (-l->pid, SIGKILL);
    usleep (50000);
  }
  /* Read what it printed last, but not forever: a grandchild may
   * still hold the pipe.
   */
  for (int i = 0; i < 10 && l->err >= 0; ++i) {
    struct pollfd p = { .fd = l->err, .events = POLLIN };

    if (p2v_poll (&p, 1, 100) != 1)
      break;
    drain_stderr (l);
  }
  if (l->err >= 0)
    close (l->err);
  close (l->sock);
  free (l);
  if (r == -1 || !WIFEXITED (status))
    return -1;
  return WEXITSTATUS (status);
}

static void
exec_receiver (const char *cmd, int sock, int err)
{
  setpgid (0, 0);               /* so teardown can stop all of it */
  if (dup2 (sock, 0) == -1 || dup2 (sock, 1) == -1 || dup2 (err, 2) == -1)
    _exit (126);
  signal (SIGPIPE, SIG_DFL);
  execl ("/bin/sh", "sh", "-c", cmd, (char *) NULL);
  _exit (127);
}

struct agent_conn *
agent_connect_local (const struct agent_options *o)
{
  struct agent_conn *c = calloc (1, sizeof *c);
  struct local *l = calloc (1, sizeof *l);
  int sv[2], ep[2];

  if (c == NULL || l == NULL) {
    p2v_error ("out of memory");
    goto err;
  }
  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1 ||
      pipe2 (ep, O_CLOEXEC) == -1) {
    p2v_error ("socketpair/pipe: %m");
    goto err;
  }
  l->pid = fork ();
  if (l->pid == -1) {
    p2v_error ("fork: %m");
    goto err;
  }
  if (l->pid == 0)
    exec_receiver (o->receiver_command, sv[1], ep[1]);
  setpgid (l->pid, l->pid);     /* also here: no race with kill */
  close (sv[1]);
  close (ep[1]);
  l->sock = sv[0];
  l->err = ep[0];
  l->conn = c;
  fcntl (l->sock, F_SETFL, O_NONBLOCK);
  fcntl (l->err, F_SETFL, O_NONBLOCK);
  c->impl = l;
  c->finish = local_finish;
  p2v_chan_init (&c->chan, &local_ops, l, "receiver",
                 o->timeout > 0 ? o->timeout * 1000 : -1);
  p2v_debug ("started local receiver: %s (pid %d)", o->receiver_command,
             (int) l->pid);
  return c;
 err:
  free (c);
  free (l);
  return NULL;
}
