/* The striped transport (protocol 6; docs/protocol.md 4.17): the
 * agent's messages spread over several SSH connections, so that a long
 * link is not held to one channel's window per round trip (OpenSSH's
 * sshd advertises 2 MB: 80 Mbit/s at 200 ms, whatever the link).
 *
 * Threads open the further connections as soon as the first one's
 * handshake gives a round trip (agent_conv_early): each runs the
 * receiver command, sends JOIN with the session's token, and is used
 * once the session has confirmed it on that connection.  After HELLO the
 * agent sends STRIPES (the token, the count) and, without waiting for
 * the answer, numbers every message from then on.  Each goes, whole, to
 * the connection with the most window left, written from the caller's
 * buffer; the receiver hands them on in order.  Replies come over the
 * first connection only.
 *
 * A connection that fails, or holds bytes it cannot move for --timeout,
 * fails the session, which the receiver's journal resumes like any lost
 * link.
 */
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <inttypes.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent.h"
#include "conn.h"
#include "fileio.h"
#include "log.h"
#include "proto.h"
#include "stripes.h"

#define AUTO_MAX 8              /* connections chosen by themselves, at most */
#define DEFAULT_RATE 1e9        /* bits/s when the NIC does not say */
#define DEFAULT_WINDOW (2 << 20)        /* OpenSSH's session channel */

struct sub {
  struct agent_conn *conn;      /* its connection (the first: the main one) */
  const struct p2v_chan_ops *ops;
  void *h;
  unsigned index;
  bool ended;                   /* the receiver closed it */
};

struct agent_stripes {
  /* Shared with the connecting threads, under lock. */
  pthread_mutex_t lock;
  int refs;
  bool closed;
  struct agent_conn *ready[P2V_MAX_STREAMS];
  unsigned ready_index[P2V_MAX_STREAMS], nready;
  int wake[2];                  /* a thread is done: a byte */
  /* Only the sending thread's. */
  const struct agent_options *o;
  uint8_t token[P2V_TOKEN_LEN];
  unsigned want;                /* connections asked for */
  struct sub s[P2V_MAX_STREAMS];
  unsigned n;
  int cur;                      /* the connection taking the message being
                                   sent, or -1 between messages */
  uint8_t hdr[P2V_STRIPE_HEADER];       /* its sequence number */
  size_t hdr_pos, cur_left;     /* what of it and of the message is left */
  double moved;                 /* when cur last took bytes */
  uint64_t seq;
  int timeout_ms;
  bool broken;                  /* a connection failed (reported) */
};

struct job {
  struct agent_stripes *st;
  unsigned index;
};

static void
unref (struct agent_stripes *st)
{
  bool last;

  pthread_mutex_lock (&st->lock);
  last = --st->refs == 0;
  pthread_mutex_unlock (&st->lock);
  if (!last)
    return;
  for (unsigned i = 0; i < st->nready; ++i)
    agent_conn_close (st->ready[i], false);
  close (st->wake[0]);
  close (st->wake[1]);
  pthread_mutex_destroy (&st->lock);
  free (st);
}

/* The rate to fill, in bits/s: the speed of the NIC the connection
 * leaves by, if it says (sysfs), else 1 Gbit/s.
 */
static double
link_rate (int sock)
{
  struct sockaddr_storage me;
  socklen_t len = sizeof me;
  struct ifaddrs *ifs, *i;
  double rate = DEFAULT_RATE;

  if (sock < 0 || getsockname (sock, (struct sockaddr *) &me, &len) == -1 ||
      getifaddrs (&ifs) == -1)
    return rate;
  for (i = ifs; i; i = i->ifa_next) {
    char path[64 + IF_NAMESIZE];
    long mbit = 0;
    FILE *fp;

    if (i->ifa_addr == NULL || i->ifa_addr->sa_family != me.ss_family ||
        (me.ss_family == AF_INET &&
         ((struct sockaddr_in *) i->ifa_addr)->sin_addr.s_addr !=
         ((struct sockaddr_in *) &me)->sin_addr.s_addr) ||
        (me.ss_family == AF_INET6 &&
         memcmp (&((struct sockaddr_in6 *) i->ifa_addr)->sin6_addr,
                 &((struct sockaddr_in6 *) &me)->sin6_addr,
                 sizeof (struct in6_addr))))
      continue;
    snprintf (path, sizeof path, "/sys/class/net/%s/speed", i->ifa_name);
    if ((fp = fopen (path, "re")) != NULL) {
      if (fscanf (fp, "%ld", &mbit) == 1 && mbit > 0)
        rate = mbit * 1e6;
      fclose (fp);
    }
    break;
  }
  freeifaddrs (ifs);
  return rate;
}

unsigned
agent_stripes_wanted (const struct agent_options *o, struct agent_conn *c)
{
  double rate, window, n;

  if (o->local)
    return 1;
  if (o->streams)
    return o->streams;
  if (c->rtt <= 0)
    return 1;
  rate = link_rate (agent_ssh_socket (c));
  window = c->window ? c->window : DEFAULT_WINDOW;
  /* Enough windows in flight to cover the link for one round trip. */
  n = rate / 8 * c->rtt / window;
  p2v_debug ("round trip %.1f ms, link %.0f Mbit/s, channel window %.0f "
             "bytes: %.2f windows in flight", c->rtt * 1000, rate / 1e6,
             window, n);
  /* One connection while it fills two thirds of the link: a noisy
   * round trip on a LAN must not open a second one for nothing.
   */
  return n <= 1.5 ? 1 : n >= AUTO_MAX ? AUTO_MAX : (unsigned) n + 1;
}

/* A further connection: connect, JOIN, wait for the session's word. */
static void *
joiner (void *arg)
{
  struct job *job = arg;
  struct agent_stripes *st = job->st;
  struct agent_conn *c = agent_connect_ssh (st->o, NULL, NULL);
  struct p2v_wbuf b = { 0 };
  struct p2v_join j = { .index = job->index }, got;
  struct p2v_msg m;
  struct p2v_errmsg e = { 0 };
  bool ok = false, closed;

  memcpy (j.token, st->token, P2V_TOKEN_LEN);
  p2v_msg_start (&b, P2V_MSG_JOIN);
  p2v_put_join (&b, &j);
  if (c && p2v_msg_finish (&b) == 0 &&
      p2v_chan_send (&c->chan, b.p, b.len) == 0 &&
      p2v_chan_recv (&c->chan, &m, true) == 1) {
    if (m.type == P2V_MSG_JOIN && p2v_parse_join (m.payload, m.len, &got) == 0
        && got.index == j.index && !memcmp (got.token, j.token,
                                            P2V_TOKEN_LEN))
      ok = true;
    else if (m.type == P2V_MSG_ERROR &&
             p2v_parse_error (m.payload, m.len, &e) == -1)
      e.message = NULL;
  }
  p2v_wbuf_free (&b);
  pthread_mutex_lock (&st->lock);
  closed = st->closed;
  if (ok && !closed) {
    st->ready_index[st->nready] = j.index;
    st->ready[st->nready++] = c;
    c = NULL;
  }
  if (write (st->wake[1], "", 1) != 1)
    { /* the pipe is full: the sender is awake anyway */ }
  pthread_mutex_unlock (&st->lock);
  /* A connection that comes too late for its session (a short one, or
   * one that failed meanwhile) is no news.
   */
  if (c) {
    if (!ok && !closed)
      p2v_warning ("connection %u could not join the session%s%s%s; going "
                   "on without it", j.index + 1,
                   e.message ? " (the receiver said: " : "",
                   e.message ? e.message : "", e.message ? ")" : "");
    agent_conn_close (c, !ok && !closed);
  }
  free (e.message);
  free (job);
  unref (st);
  return NULL;
}

/* Take the connections the threads have made, once the receiver's
 * STRIPES answer is in (until then the sender is not striping).
 */
static void
adopt (struct agent_stripes *st)
{
  char b[64];

  while (read (st->wake[0], b, sizeof b) > 0)
    ;
  pthread_mutex_lock (&st->lock);
  for (unsigned i = 0; i < st->nready; ++i) {
    struct agent_conn *c = st->ready[i];

    st->s[st->n++] = (struct sub) {
      .conn = c, .ops = c->chan.ops, .h = c->chan.h,
      .index = st->ready_index[i],
    };
    p2v_debug ("connection %u joined: %u of %u carry data",
               st->ready_index[i] + 1, st->n, st->want);
  }
  st->nready = 0;
  pthread_mutex_unlock (&st->lock);
}

/* Let libssh2 read what each further connection has received (window
 * adjustments, the receiver's stderr).  One that has ended is not
 * written to again: the receiver closes them when its session ends,
 * which the first connection then says (its last reply, or its end).
 */
static void
drain (struct agent_stripes *st)
{
  uint8_t scratch[256];

  for (unsigned i = 1; i < st->n; ++i) {
    struct sub *x = &st->s[i];
    ssize_t n;

    if (x->ended)
      continue;
    n = x->ops->read_some (x->h, scratch, sizeof scratch);
    if (n == 0 || (n == -1 && errno != EAGAIN))
      x->ended = true;
  }
}

/* Which connection is stuck: the one whose socket holds the most bytes
 * the network has not taken.  The others stop too (the receiver stops
 * reading them while it waits for the message on the stuck one), but
 * their sshd has read all they were sent: SSH's window guarantees it
 * room.
 */
static unsigned
stuck (const struct agent_stripes *st)
{
  unsigned k = st->cur >= 0 ? st->cur : 0;
  int most = 0;

  for (unsigned i = 0; i < st->n; ++i) {
    int q = agent_ssh_unsent (st->s[i].conn);

    if (q > most) {
      most = q;
      k = i;
    }
  }
  return k;
}

/* Each message goes, after its sequence number, to the connection with
 * the most window left, written straight from the caller's buffer: no
 * copy, and a connection that is full is not given more.
 */
static ssize_t
stripes_write_some (void *h, const void *buf, size_t len)
{
  struct agent_stripes *st = h;
  struct sub *x;
  ssize_t n;

  if (st->broken) {
    errno = ECONNRESET;
    return -1;
  }
  adopt (st);
  drain (st);
  if (st->cur < 0) {            /* a new message */
    const uint8_t *p = buf;
    unsigned long best = 0;

    st->cur = 0;
    for (unsigned i = 0; i < st->n; ++i) {
      unsigned long w = st->s[i].ended ? 0 : agent_ssh_window (st->s[i].conn);
      if (w > best) {
        best = w;
        st->cur = i;
      }
    }
    for (int i = 0; i < 8; ++i)
      st->hdr[i] = st->seq >> (56 - 8 * i);
    st->seq++;
    st->hdr_pos = 0;
    st->cur_left = P2V_HEADER_LEN + ((size_t) p[4] << 24 |
                                     (size_t) p[5] << 16 |
                                     (size_t) p[6] << 8 | p[7]);
    st->moved = p2v_now ();
  }
  x = &st->s[st->cur];
  while (st->hdr_pos < P2V_STRIPE_HEADER) {
    n = x->ops->write_some (x->h, st->hdr + st->hdr_pos,
                            P2V_STRIPE_HEADER - st->hdr_pos);
    if (n <= 0)
      goto failed;
    st->hdr_pos += n;
    st->moved = p2v_now ();
  }
  n = x->ops->write_some (x->h, buf, len < st->cur_left ? len : st->cur_left);
  if (n <= 0)
    goto failed;
  st->moved = p2v_now ();
  if ((st->cur_left -= n) == 0)
    st->cur = -1;
  return n;
 failed:
  if (errno != EAGAIN) {
    p2v_error ("connection %u of %u to the receiver failed while sending "
               "(%s)", x->index + 1, st->n,
               errno == EPIPE ? "closed" : "reset");
    st->broken = true;
    errno = ECONNRESET;
  }
  return -1;
}

static ssize_t
stripes_read_some (void *h, void *buf, size_t len)
{
  struct agent_stripes *st = h;

  adopt (st);
  drain (st);
  return st->s[0].ops->read_some (st->s[0].h, buf, len);
}

static int
stripes_wait (void *h, bool want_read, bool want_write, int timeout_ms)
{
  struct agent_stripes *st = h;
  struct pollfd p[P2V_MAX_STREAMS + 1];
  double due = 0;
  int r, t = timeout_ms;

  (void) want_read; (void) want_write;
  p[0] = (struct pollfd) { .fd = st->wake[0], .events = POLLIN };
  for (unsigned i = 0; i < st->n; ++i) {
    agent_ssh_pollfd (st->s[i].conn, &p[i + 1]);
    if (st->s[i].ended)
      p[i + 1].fd = -1;
  }
  if (st->cur >= 0 && st->timeout_ms > 0) {
    double left = st->moved + st->timeout_ms / 1000.0 - p2v_now ();

    due = st->moved + st->timeout_ms / 1000.0;
    if (t < 0 || left * 1000 < t)
      t = left > 0 ? (int) (left * 1000) + 1 : 0;
  }
  r = p2v_poll (p, st->n + 1, t);
  if (r == 0 && due && p2v_now () >= due) {
    p2v_error ("connection %u of %u to the receiver moved no data for %d "
               "seconds", st->s[stuck (st)].index + 1, st->n,
               st->timeout_ms / 1000);
  }
  return r;
}

static const struct p2v_chan_ops stripes_ops = {
  .read_some = stripes_read_some,
  .write_some = stripes_write_some,
  .wait = stripes_wait,
};

int
agent_stripes_start (struct agent_conn *c, const struct agent_options *o,
                     unsigned want)
{
  struct agent_stripes *st = calloc (1, sizeof *st);

  if (st == NULL || pipe2 (st->wake, O_CLOEXEC | O_NONBLOCK) == -1) {
    p2v_error ("cannot start a striped session: %m");
    free (st);
    return -1;
  }
  if (getrandom (st->token, P2V_TOKEN_LEN, 0) != P2V_TOKEN_LEN) {
    p2v_error ("getrandom: %m");
    close (st->wake[0]);
    close (st->wake[1]);
    free (st);
    return -1;
  }
  pthread_mutex_init (&st->lock, NULL);
  st->refs = 1;
  st->o = o;
  st->want = want;
  st->cur = -1;
  st->timeout_ms = o->timeout > 0 ? o->timeout * 1000 : -1;
  st->s[0] = (struct sub) { .conn = c };
  st->n = 1;
  c->stripes = st;
  /* The further connections start now, as early as the first one's
   * handshake: they take as many round trips as it does.  Their
   * receivers wait for the session to listen.
   */
  for (unsigned i = 1; i < want; ++i) {
    struct job *job = malloc (sizeof *job);
    pthread_t t;
    int e;

    if (job == NULL)
      break;
    *job = (struct job) { st, i };
    pthread_mutex_lock (&st->lock);
    st->refs++;
    pthread_mutex_unlock (&st->lock);
    /* Its own stack size: musl's default (128 KiB, the portable agent)
     * is too little for an SSH handshake.
     */
    pthread_attr_t attr;
    pthread_attr_init (&attr);
    pthread_attr_setstacksize (&attr, 1 << 20);
    e = pthread_create (&t, &attr, joiner, job);
    pthread_attr_destroy (&attr);
    if (e) {
      free (job);
      unref (st);
      errno = e;
      p2v_error ("cannot start a thread for connection %u: %m", i + 1);
      break;
    }
    pthread_detach (t);
  }
  return 0;
}

void
agent_stripes_request (const struct agent_conn *c, struct p2v_stripes *req)
{
  memcpy (req->token, c->stripes->token, P2V_TOKEN_LEN);
  req->streams = c->stripes->want;
}

void
agent_stripes_begin (struct agent_conn *c)
{
  struct agent_stripes *st = c->stripes;

  st->s[0].ops = c->chan.ops;
  st->s[0].h = c->chan.h;
  c->chan.ops = &stripes_ops;
  c->chan.h = st;
}

/* Close the further connections, or leave them to join and be closed. */
static void
close_further (struct agent_stripes *st, struct agent_conn *c, bool cut)
{
  pthread_mutex_lock (&st->lock);
  st->closed = true;
  pthread_mutex_unlock (&st->lock);
  adopt (st);                   /* made while we were busy: close them too */
  for (unsigned i = 1; i < st->n; ++i) {
    struct agent_conn *x = st->s[i].conn;

    x->chan.timed_out |= cut;   /* a dead link: do not wait on it */
    if (x->tail_len && p2v_verbose <= 0)        /* else shown already */
      agent_conn_stderr (c, x->tail, x->tail_len);
    x->tail_len = 0;
    agent_conn_close (x, false);
  }
  st->n = 1;
}

void
agent_stripes_taken (struct agent_conn *c, unsigned taken)
{
  struct agent_stripes *st = c->stripes;

  p2v_debug ("striped session: the receiver takes %u connections", taken);
  if (taken <= 1)
    close_further (st, c, false);
}

unsigned
agent_stripes_count (const struct agent_conn *c)
{
  return c->stripes ? c->stripes->n : 1;
}

void
agent_stripes_close (struct agent_conn *c, bool cut)
{
  struct agent_stripes *st = c->stripes;

  if (st == NULL)
    return;
  close_further (st, c, cut);
  if (c->chan.ops == &stripes_ops) {
    c->chan.ops = st->s[0].ops;
    c->chan.h = st->s[0].h;
  }
  c->stripes = NULL;
  unref (st);
}
