/* SSH transport: libssh2 exec channel running the receiver command on
 * the hypervisor.  Handshake and authentication run in blocking mode
 * (bounded by --timeout); the data phase is non-blocking so p2v_chan can
 * interleave reading acknowledgements with sending.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <linux/sockios.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libssh2.h>

#include "agent.h"
#include "cleanup.h"
#include "conn.h"
#include "fileio.h"
#include "log.h"

struct ssh {
  struct agent_conn *conn;
  int sock;
  LIBSSH2_SESSION *session;
  LIBSSH2_CHANNEL *channel;
};

static int ssh_finish (struct agent_conn *c);

static const char *
ssh_err (LIBSSH2_SESSION *s)
{
  char *msg = NULL;

  libssh2_session_last_error (s, &msg, NULL, 0);
  return msg && *msg ? msg : "unknown libssh2 error";
}

/* Split USER@HOST; HOST may be [v6addr].  Returns malloc'd strings. */
static int
parse_to (const char *to, char **user, char **host)
{
  const char *at = strrchr (to, '@');
  const char *h = at ? at + 1 : to;
  size_t hl = strlen (h);

  if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']')
    h++, hl -= 2;
  if (hl == 0 || (at && at == to)) {
    p2v_error ("--to '%s': expected USER@HOST", to);
    return -1;
  }
  if (at)
    *user = strndup (to, at - to);
  else {
    struct passwd *pw = getpwuid (getuid ());
    *user = strdup (pw ? pw->pw_name : "root");
  }
  *host = strndup (h, hl);
  return *user && *host ? 0 : -1;
}

static int
connect_tcp (const char *host, int port, int timeout_ms)
{
  struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
  char portstr[16];
  int fd = -1, r, err = 0;

  snprintf (portstr, sizeof portstr, "%d", port);
  r = getaddrinfo (host, portstr, &hints, &res);
  if (r != 0) {
    p2v_error ("%s: %s", host, gai_strerror (r));
    return -1;
  }
  for (ai = res; ai && fd == -1; ai = ai->ai_next) {
    struct pollfd p;
    socklen_t len = sizeof err;

    fd = socket (ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC |
                 SOCK_NONBLOCK, ai->ai_protocol);
    if (fd == -1)
      continue;
    if (connect (fd, ai->ai_addr, ai->ai_addrlen) == -1) {
      err = errno;
      if (errno == EINPROGRESS) {
        p = (struct pollfd) { .fd = fd, .events = POLLOUT };
        r = poll (&p, 1, timeout_ms);
        err = r == 0 ? ETIMEDOUT : 0;
        if (r > 0)
          getsockopt (fd, SOL_SOCKET, SO_ERROR, &err, &len);
      }
      if (err) {
        close (fd);
        fd = -1;
      }
    }
  }
  freeaddrinfo (res);
  if (fd == -1) {
    errno = err;
    p2v_error ("cannot connect to %s port %d: %m", host, port);
    return -1;
  }
  fcntl (fd, F_SETFL, 0);
  setsockopt (fd, SOL_SOCKET, SO_KEEPALIVE, &(int) { 1 }, sizeof (int));
  return fd;
}

static int
auth_agent (LIBSSH2_SESSION *s, const char *user)
{
  LIBSSH2_AGENT *a = libssh2_agent_init (s);
  struct libssh2_agent_publickey *id = NULL, *prev = NULL;
  int r = -1;

  if (a == NULL || getenv ("SSH_AUTH_SOCK") == NULL ||
      libssh2_agent_connect (a) != 0 || libssh2_agent_list_identities (a))
    goto out;
  while (libssh2_agent_get_identity (a, &id, prev) == 0) {
    if (libssh2_agent_userauth (a, user, id) == 0) {
      r = 0;
      break;
    }
    prev = id;
  }
  libssh2_agent_disconnect (a);
 out:
  if (a)
    libssh2_agent_free (a);
  return r;
}

int
agent_check_identity (const char *path)
{
  /* An OpenSSH key without a passphrase: "openssh-key-v1\0", then
   * the cipher "none" (and the first byte of the KDF's name).
   */
  static const char plain_openssh[] = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmU";
  char buf[8192];
  ssize_t n;
  CLEANUP_CLOSE int fd = open (path, O_RDONLY | O_CLOEXEC);
  const char *body;

  if (fd == -1 || (n = read (fd, buf, sizeof buf - 1)) == -1) {
    p2v_error ("--identity %s: %m", path);
    return -1;
  }
  buf[n] = '\0';
  if (!strncmp (buf, "ssh-", 4) || !strncmp (buf, "ecdsa-", 6) ||
      !strncmp (buf, "sk-", 3)) {
    p2v_error ("--identity %s is a public key; give the private key (the "
               "same name without .pub)", path);
    return -1;
  }
  if (strncmp (buf, "-----BEGIN ", 11) || !strstr (buf, "PRIVATE KEY-----")) {
    p2v_error ("--identity %s is not an SSH private key (it does not begin "
               "with a '-----BEGIN ... PRIVATE KEY-----' line)", path);
    return -1;
  }
  body = strchr (buf, '\n');
  if (strstr (buf, "\nProc-Type: 4,ENCRYPTED") ||
      !strncmp (buf, "-----BEGIN ENCRYPTED PRIVATE KEY-----", 37) ||
      (!strncmp (buf, "-----BEGIN OPENSSH PRIVATE KEY-----", 35) &&
       (body == NULL || strncmp (body + 1, plain_openssh,
                                 sizeof plain_openssh - 1)))) {
    p2v_error ("--identity %s is protected by a passphrase, which p2v-agent "
               "cannot ask for: use a key without one (ssh-keygen -p -N '' "
               "-f %s on a copy), or leave out --identity and load the key "
               "into ssh-agent", path, path);
    return -1;
  }
  return 0;
}

static int
authenticate (LIBSSH2_SESSION *s, const char *user, const char *host,
              const char *identity)
{
  static const char *const defaults[] = { "id_ed25519", "id_ecdsa", "id_rsa" };
  const char *home = getenv ("HOME");
  char path[4096];

  if (identity) {                /* checked by agent_check_identity */
    if (libssh2_userauth_publickey_fromfile (s, user, NULL, identity,
                                             NULL) == 0)
      return 0;
    p2v_error ("%s@%s did not accept the key %s (%s); is its .pub in that "
               "user's authorized_keys on the hypervisor?", user, host,
               identity, ssh_err (s));
    return -1;
  }
  if (auth_agent (s, user) == 0)
    return 0;
  for (size_t i = 0; home && i < 3; ++i) {
    snprintf (path, sizeof path, "%s/.ssh/%s", home, defaults[i]);
    if (access (path, R_OK) == 0 &&
        libssh2_userauth_publickey_fromfile (s, user, NULL, path, NULL) == 0)
      return 0;
  }
  p2v_error ("%s@%s: no key was accepted (tried ssh-agent and ~/.ssh/id_*); "
             "pass --identity KEY", user, host);
  return -1;
}

static void
drain_stderr (struct ssh *x)
{
  char buf[1024];
  ssize_t n;

  while ((n = libssh2_channel_read_stderr (x->channel, buf, sizeof buf)) > 0)
    agent_conn_stderr (x->conn, buf, n);
}

static int
map_error (struct ssh *x, ssize_t n)
{
  if (n == LIBSSH2_ERROR_EAGAIN) {
    errno = EAGAIN;
    return -1;
  }
  p2v_debug ("libssh2: %s", ssh_err (x->session));
  errno = n == LIBSSH2_ERROR_CHANNEL_CLOSED || n == LIBSSH2_ERROR_CHANNEL_EOF_SENT
          ? EPIPE : ECONNRESET;
  return -1;
}

static ssize_t
ssh_read_some (void *h, void *buf, size_t len)
{
  struct ssh *x = h;
  ssize_t n;

  drain_stderr (x);
  n = libssh2_channel_read (x->channel, buf, len);
  if (n > 0)
    return n;
  if ((n == 0 || n == LIBSSH2_ERROR_EAGAIN) && libssh2_channel_eof (x->channel))
    return 0;
  return map_error (x, n == 0 ? LIBSSH2_ERROR_EAGAIN : n);
}

static ssize_t
ssh_write_some (void *h, const void *buf, size_t len)
{
  struct ssh *x = h;
  ssize_t n = libssh2_channel_write (x->channel, buf, len);

  if (n > 0)
    return n;
  return map_error (x, n == 0 ? LIBSSH2_ERROR_EAGAIN : n);
}

static void
ssh_pollfd (const struct ssh *x, struct pollfd *p)
{
  int dirs = libssh2_session_block_directions (x->session);

  /* libssh2 may need to read (window adjustments) even to write, and
   * knows better than the caller which way it is blocked.
   */
  *p = (struct pollfd) { .fd = x->sock, .events = POLLIN };
  if (dirs & LIBSSH2_SESSION_BLOCK_OUTBOUND)
    p->events |= POLLOUT;
}

static int
ssh_wait (void *h, bool want_read, bool want_write, int timeout_ms)
{
  struct pollfd p;

  (void) want_read; (void) want_write;
  ssh_pollfd (h, &p);
  return p2v_poll (&p, 1, timeout_ms);
}

int
agent_ssh_socket (const struct agent_conn *c)
{
  return c->finish == ssh_finish ? ((struct ssh *) c->impl)->sock : -1;
}

void
agent_ssh_pollfd (const struct agent_conn *c, struct pollfd *p)
{
  ssh_pollfd (c->impl, p);
}

unsigned long
agent_ssh_window (const struct agent_conn *c)
{
  return libssh2_channel_window_write (((struct ssh *) c->impl)->channel);
}

int
agent_ssh_unsent (const struct agent_conn *c)
{
  int n = 0;

  if (ioctl (((struct ssh *) c->impl)->sock, SIOCOUTQ, &n) == -1)
    return 0;
  return n;
}

static const struct p2v_chan_ops ssh_ops = {
  .read_some = ssh_read_some,
  .write_some = ssh_write_some,
  .wait = ssh_wait,
};

static int
ssh_finish (struct agent_conn *c)
{
  struct ssh *x = c->impl;
  int status = -1;

  /* A link that stopped moving bytes would stall every step of SSH's
   * close handshake for its whole timeout: cut it, so that each step
   * fails at once (what the receiver said is already collected).
   */
  if (c->chan.timed_out && x->sock >= 0)
    shutdown (x->sock, SHUT_RDWR);
  if (x->channel) {
    libssh2_session_set_blocking (x->session, 1);
    libssh2_session_set_timeout (x->session, 10000);
    libssh2_channel_send_eof (x->channel);
    drain_stderr (x);
    if (libssh2_channel_wait_closed (x->channel) == 0)
      status = libssh2_channel_get_exit_status (x->channel);
    drain_stderr (x);
    libssh2_channel_free (x->channel);
  }
  if (x->session) {
    libssh2_session_disconnect (x->session, "p2v-agent done");
    libssh2_session_free (x->session);
  }
  if (x->sock >= 0)
    close (x->sock);
  free (x);
  return status;
}

static int
open_channel (struct ssh *x, const struct agent_options *o, const char *user,
              const char *host, void (*early) (struct agent_conn *, void *),
              void *arg)
{
  LIBSSH2_SESSION *s = x->session;
  double t = p2v_now (), cpu = p2v_clock (CLOCK_THREAD_CPUTIME_ID);

  libssh2_session_set_blocking (s, 1);
  libssh2_session_set_timeout (s, o->timeout > 0 ? o->timeout * 1000L : 0);
  if (libssh2_session_handshake (s, x->sock) != 0) {
    p2v_error ("SSH handshake with %s port %d failed: %s", host, o->port,
               ssh_err (s));
    return -1;
  }
  /* About three round trips, and the key exchange's arithmetic, which on
   * an old or emulated CPU can take longer than the network.
   */
  x->conn->rtt = (p2v_now () - t -
                  (p2v_clock (CLOCK_THREAD_CPUTIME_ID) - cpu)) / 3;
  if (early)
    early (x->conn, arg);
  if (agent_check_host_key (o, s, host) == -1 ||
      authenticate (s, user, host, o->identity) == -1)
    return -1;
  /* Each of the next two is one round trip: the shorter measures the
   * link (the striped transport sizes itself by it).
   */
  double t0 = p2v_now (), t1;
  x->channel = libssh2_channel_open_session (s);
  if (x->channel == NULL) {
    p2v_error ("%s: cannot open an SSH session channel: %s", host,
               ssh_err (s));
    return -1;
  }
  t1 = p2v_now ();
  if (libssh2_channel_exec (x->channel, o->receiver_command) != 0) {
    p2v_error ("%s: cannot run '%s': %s", host, o->receiver_command,
               ssh_err (s));
    return -1;
  }
  x->conn->rtt = t1 - t0 < p2v_now () - t1 ? t1 - t0 : p2v_now () - t1;
  unsigned long initial = 0;
  libssh2_channel_window_write_ex (x->channel, &initial);
  x->conn->window = initial;
  libssh2_session_set_blocking (s, 0);
  return 0;
}

struct agent_conn *
agent_connect_ssh (const struct agent_options *o,
                   void (*early) (struct agent_conn *, void *), void *arg)
{
  CLEANUP_FREE char *user = NULL, *host = NULL;
  struct agent_conn *c = calloc (1, sizeof *c);
  struct ssh *x = calloc (1, sizeof *x);
  static bool initialised;

  if (c == NULL || x == NULL || parse_to (o->to, &user, &host) == -1)
    goto err;
  if (!initialised && libssh2_init (0) != 0) {
    p2v_error ("libssh2_init failed");
    goto err;
  }
  initialised = true;
  x->conn = c;
  c->impl = x;
  c->finish = ssh_finish;
  x->sock = connect_tcp (host, o->port, o->timeout > 0 ? o->timeout * 1000
                                                        : -1);
  if (x->sock == -1)
    goto err_conn;
  x->session = libssh2_session_init ();
  if (x->session == NULL) {
    p2v_error ("cannot create an SSH session");
    goto err_conn;
  }
  if (open_channel (x, o, user, host, early, arg) == -1)
    goto err_conn;
  p2v_chan_init (&c->chan, &ssh_ops, x, "receiver",
                 o->timeout > 0 ? o->timeout * 1000 : -1);
  p2v_debug ("connected to %s@%s:%d, running %s", user, host, o->port,
             o->receiver_command);
  return c;
 err_conn:
  agent_conn_close (c, false);  /* (and what early started) */
  return NULL;
 err:
  free (c);
  free (x);
  return NULL;
}
