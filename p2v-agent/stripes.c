/* The striped transport (protocol 6; docs/protocol.md 4.17): the
 * agent's messages spread over several SSH connections, so that a long
 * link is not held to one channel's window per round trip (OpenSSH's
 * sshd advertises 2 MB: 80 Mbit/s at 200 ms, whatever the link).
 *
 * After HELLO the agent sends STRIPES (a random token and the most
 * connections it will use) and the receiver says how many it takes.
 * From then on every message goes, prefixed with its sequence number,
 * to whichever connection has finished writing its last one; the
 * receiver hands them on in order.  The further connections are opened
 * by threads while the first already carries data: each runs the
 * receiver command, sends JOIN with the token, and is used once the
 * session has confirmed it on that connection.  Replies come over the
 * first connection only.
 *
 * A connection that fails or stops moving for --timeout fails the
 * session, which the receiver's journal resumes like any lost link.
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
  uint8_t *buf;                 /* sequence number + one message */
  size_t pos, len, cap;
  double moved;                 /* when it last took bytes */
  unsigned index;
  bool dead;                    /* ended (the receiver closed it) */
};

struct agent_stripes {
  /* Shared with the connecting threads, under lock. */
  pthread_mutex_t lock;
  int refs;
  bool closed;
  struct agent_conn *ready[P2V_MAX_STREAMS];
  unsigned ready_index[P2V_MAX_STREAMS], nready, failed;
  int wake[2];                  /* a thread is done: a byte */
  /* Only the sending thread's. */
  const struct agent_options *o;
  uint8_t token[P2V_TOKEN_LEN];
  unsigned want;
  struct sub s[P2V_MAX_STREAMS];
  unsigned n, next_sub;
  struct sub *cur;              /* taking the message being sent */
  size_t cur_left;
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

  if (o->streams)
    return o->streams;
  if (o->local || c->rtt <= 0)
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
  struct agent_conn *c = agent_connect_ssh (st->o);
  struct p2v_wbuf b = { 0 };
  struct p2v_join j = { .index = job->index }, got;
  struct p2v_msg m;
  bool ok = false;

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
    else if (m.type == P2V_MSG_ERROR) {
      struct p2v_errmsg e = { 0 };

      if (p2v_parse_error (m.payload, m.len, &e) == 0)
        p2v_error ("connection %u: the receiver said: %s", j.index + 1,
                   e.message);
      free (e.message);
    }
  }
  p2v_wbuf_free (&b);
  pthread_mutex_lock (&st->lock);
  if (ok && !st->closed) {
    st->ready_index[st->nready] = j.index;
    st->ready[st->nready++] = c;
    c = NULL;
  }
  else
    st->failed++;
  if (write (st->wake[1], "", 1) != 1)
    { /* the pipe is full: the sender is awake anyway */ }
  pthread_mutex_unlock (&st->lock);
  if (c) {
    if (!ok && !st->closed)
      p2v_info ("connection %u of %u could not join; going on with the "
                "others", j.index + 1, st->want);
    agent_conn_close (c, !ok);
  }
  free (job);
  unref (st);
  return NULL;
}

/* Take the connections the threads have made. */
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
      .moved = p2v_now (), .index = st->ready_index[i],
    };
    p2v_debug ("connection %u joined: %u of %u carry data",
               st->ready_index[i] + 1, st->n, st->want);
  }
  st->nready = 0;
  pthread_mutex_unlock (&st->lock);
}

/* Write what each connection will take.  -1 (reported) if one failed. */
static int
pump (struct agent_stripes *st)
{
  if (st->broken) {
    errno = ECONNRESET;
    return -1;
  }
  for (unsigned i = 0; i < st->n; ++i) {
    struct sub *x = &st->s[i];
    uint8_t scratch[256];
    ssize_t n;

    while (x->pos < x->len) {
      n = x->ops->write_some (x->h, x->buf + x->pos, x->len - x->pos);
      if (n > 0) {
        x->pos += n;
        x->moved = p2v_now ();
        continue;
      }
      if (errno == EAGAIN)
        break;
      p2v_error ("connection %u of %u to the receiver failed while "
                 "sending (%s)", x->index + 1, st->n,
                 errno == EPIPE ? "closed" : "reset");
      st->broken = true;
      errno = ECONNRESET;
      return -1;
    }
    /* Further connections carry nothing back but the receiver's stderr
     * (read as a side effect) and, at the end, their close.
     */
    if (i > 0 && !x->dead) {
      n = x->ops->read_some (x->h, scratch, sizeof scratch);
      if (n == 0 || (n == -1 && errno != EAGAIN)) {
        x->dead = true;
        if (x->pos < x->len) {
          p2v_error ("connection %u of %u was closed by the receiver",
                     x->index + 1, st->n);
          st->broken = true;
          errno = ECONNRESET;
          return -1;
        }
      }
    }
  }
  return 0;
}

static ssize_t
stripes_write_some (void *h, const void *buf, size_t len)
{
  struct agent_stripes *st = h;
  size_t n;

  adopt (st);
  if (pump (st) == -1)
    return -1;
  if (st->cur_left == 0) {       /* a new message: who takes it? */
    const uint8_t *p = buf;
    struct sub *x = NULL;

    for (unsigned k = 0; k < st->n && x == NULL; ++k) {
      struct sub *y = &st->s[(st->next_sub + k) % st->n];
      if (y->pos == y->len && !y->dead) {
        x = y;
        st->next_sub = (st->next_sub + k + 1) % st->n;
      }
    }
    if (x == NULL) {
      errno = EAGAIN;
      return -1;
    }
    st->cur_left = P2V_HEADER_LEN + ((size_t) p[4] << 24 |
                                     (size_t) p[5] << 16 |
                                     (size_t) p[6] << 8 | p[7]);
    if (x->cap < P2V_STRIPE_HEADER + st->cur_left) {
      uint8_t *b = realloc (x->buf, P2V_STRIPE_HEADER + st->cur_left);
      if (b == NULL) {
        p2v_error ("out of memory");
        return -1;
      }
      x->buf = b;
      x->cap = P2V_STRIPE_HEADER + st->cur_left;
    }
    for (int i = 0; i < 8; ++i)
      x->buf[i] = st->seq >> (56 - 8 * i);
    x->pos = 0;
    x->len = P2V_STRIPE_HEADER;
    st->seq++;
    st->cur = x;
  }
  n = len < st->cur_left ? len : st->cur_left;
  memcpy (st->cur->buf + st->cur->len, buf, n);
  st->cur->len += n;
  st->cur_left -= n;
  if (st->cur_left == 0)
    st->cur->moved = p2v_now ();
  return pump (st) == -1 ? -1 : (ssize_t) n;
}

static ssize_t
stripes_read_some (void *h, void *buf, size_t len)
{
  struct agent_stripes *st = h;

  adopt (st);
  if (pump (st) == -1)
    return -1;
  return st->s[0].ops->read_some (st->s[0].h, buf, len);
}

static int
stripes_wait (void *h, bool want_read, bool want_write, int timeout_ms)
{
  struct agent_stripes *st = h;
  struct pollfd p[P2V_MAX_STREAMS + 1];
  double now = p2v_now (), due = 0;
  unsigned n = 0, late = 0;
  int r, t = timeout_ms;

  (void) want_read; (void) want_write;
  p[n++] = (struct pollfd) { .fd = st->wake[0], .events = POLLIN };
  for (unsigned i = 0; i < st->n; ++i) {
    struct sub *x = &st->s[i];
    bool pending = x->pos < x->len;

    if (i > 0 && !pending)
      continue;                 /* nothing to send, nothing to hear */
    agent_ssh_pollfd (x->conn, &p[n++]);
    if (pending && st->timeout_ms > 0 &&
        (due == 0 || x->moved + st->timeout_ms / 1000.0 < due)) {
      due = x->moved + st->timeout_ms / 1000.0;
      late = i;
    }
  }
  if (due) {
    int left = due > now ? (int) ((due - now) * 1000) + 1 : 0;
    if (t < 0 || left < t)
      t = left;
  }
  r = p2v_poll (p, n, t);
  if (r == 0 && due && p2v_now () >= due)
    p2v_error ("connection %u of %u to the receiver moved no data for %d "
               "seconds", st->s[late].index + 1, st->n,
               st->timeout_ms / 1000);
  return r;
}

static const struct p2v_chan_ops stripes_ops = {
  .read_some = stripes_read_some,
  .write_some = stripes_write_some,
  .wait = stripes_wait,
};

int
agent_stripes_request (struct agent_conn *c, unsigned want,
                       struct p2v_stripes *req)
{
  (void) c;
  if (getrandom (req->token, P2V_TOKEN_LEN, 0) != P2V_TOKEN_LEN) {
    p2v_error ("getrandom: %m");
    return -1;
  }
  req->streams = want;
  return 0;
}

int
agent_stripes_start (struct agent_conn *c, const struct agent_options *o,
                     const struct p2v_stripes *req, unsigned taken)
{
  struct agent_stripes *st = calloc (1, sizeof *st);

  if (st == NULL || pipe2 (st->wake, O_CLOEXEC | O_NONBLOCK) == -1) {
    p2v_error ("cannot start a striped session: %m");
    free (st);
    return -1;
  }
  pthread_mutex_init (&st->lock, NULL);
  st->refs = 1;
  st->o = o;
  st->want = taken;
  st->timeout_ms = c->chan.timeout_ms;
  memcpy (st->token, req->token, P2V_TOKEN_LEN);
  st->s[0] = (struct sub) {
    .conn = c, .ops = c->chan.ops, .h = c->chan.h, .moved = p2v_now (),
  };
  st->n = 1;
  for (unsigned i = 1; i < taken; ++i) {
    struct job *job = malloc (sizeof *job);
    pthread_t t;
    int e;

    if (job == NULL)
      break;
    *job = (struct job) { st, i };
    pthread_mutex_lock (&st->lock);
    st->refs++;
    pthread_mutex_unlock (&st->lock);
    e = pthread_create (&t, NULL, joiner, job);
    if (e) {
      free (job);
      unref (st);
      errno = e;
      p2v_error ("cannot start a thread for connection %u: %m", i);
      break;
    }
    pthread_detach (t);
  }
  c->stripes = st;
  c->chan.ops = &stripes_ops;
  c->chan.h = st;
  p2v_debug ("striped session: %u connections asked for", taken);
  return 0;
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
  for (unsigned i = 0; i < st->n; ++i)
    free (st->s[i].buf);
  c->chan.ops = st->s[0].ops;
  c->chan.h = st->s[0].h;
  c->stripes = NULL;
  unref (st);
}
