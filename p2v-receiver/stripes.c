/* Striped sessions (protocol 6, docs/protocol.md 4.17): one conversion's
 * messages from the agent over several SSH connections.
 *
 * Each connection runs a receiver of its own.  The first is the session
 * (main).  After HELLO the agent sends STRIPES with a random token; the
 * session listens on an abstract Unix socket named after it.  A further
 * connection's receiver gets JOIN as its first message: it connects to
 * that socket and hands over its standard input and output (SCM_RIGHTS),
 * then waits until the session ends (sshd stops feeding a connection
 * whose command has exited).
 *
 * From its STRIPES reply on, the session reads the agent's messages
 * from every connection, each prefixed with a sequence number, and
 * hands them to p2v_chan in that order: to everything above the
 * transport (journal, acknowledgements, verification) a striped session
 * is one stream.  A connection whose next message is not the one due
 * is not read further until it is, so at most one message per
 * connection waits here.  Replies go over the first connection only.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "chan.h"
#include "fileio.h"
#include "log.h"
#include "proto.h"
#include "stripes.h"

#define STEP (256 * 1024)       /* bytes read from a connection at once */

struct stream {
  int rfd;                      /* the agent's bytes */
  int out_fd;                   /* its standard output, kept open; -1 */
  int helper;                   /* the joined receiver's socket; -1 */
  unsigned index;               /* as the agent numbered it: 0 is main */
  uint8_t *buf;                 /* read, not yet handed out */
  size_t start, len, cap;
  bool eof;
};

struct stripes {
  int listen_fd;
  uint8_t token[P2V_TOKEN_LEN];
  unsigned max, n;
  struct stream s[P2V_MAX_STREAMS];
  int wfd;                      /* replies: the first connection's stdout */
  uint64_t next;                /* sequence number due */
  int cur;                      /* stream handing it out, or -1 */
  size_t cur_left;              /* its bytes still to hand out */
};

static uint64_t
get_u64 (const uint8_t *p)
{
  uint64_t v = 0;

  for (int i = 0; i < 8; ++i)
    v = v << 8 | p[i];
  return v;
}

static socklen_t
sock_name (struct sockaddr_un *a, const uint8_t *token)
{
  int n;

  memset (a, 0, sizeof *a);
  a->sun_family = AF_UNIX;
  n = snprintf (a->sun_path + 1, sizeof a->sun_path - 1, "p2v-stripes/");
  for (int i = 0; i < P2V_TOKEN_LEN; ++i)
    n += snprintf (a->sun_path + 1 + n, sizeof a->sun_path - 1 - n, "%02x",
                   token[i]);
  return offsetof (struct sockaddr_un, sun_path) + 1 + n;
}

/* The peer of a Unix socket runs as us (the token is no secret from
 * /proc/net/unix; the uid is what keeps other users out).
 */
static bool
same_user (int fd)
{
  struct ucred cr;
  socklen_t len = sizeof cr;

  return getsockopt (fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0 &&
         cr.uid == getuid ();
}

/* The bytes of stream x's head message, if its header is in: 16 + the
 * message's length; else 0.
 */
static size_t
head_size (const struct stream *x)
{
  const uint8_t *p = x->buf + x->start;

  if (x->len - x->start < P2V_STRIPE_HEADER + P2V_HEADER_LEN)
    return 0;
  return P2V_STRIPE_HEADER + P2V_HEADER_LEN +
         ((size_t) p[12] << 24 | (size_t) p[13] << 16 |
          (size_t) p[14] << 8 | p[15]);
}

/* Holding a whole message that is not due: read no more from it. */
static bool
stream_full (const struct stripes *st, unsigned i)
{
  const struct stream *x = &st->s[i];
  size_t h = head_size (x);

  return (int) i != st->cur && h && x->len - x->start >= h;
}

/* What a joining receiver sends the session: the token and its index,
 * with its standard input and output attached.
 */
struct handover {
  struct { uint8_t token[P2V_TOKEN_LEN]; uint32_t index; } req;
  /* Room for two descriptors, aligned as a cmsghdr (whose flexible
   * data member would make a union with it a variable-sized type).
   */
  union { size_t align; char b[CMSG_SPACE (2 * sizeof (int))]; } u;
  struct iovec iov;
  struct msghdr mh;
};

static void
handover_init (struct handover *h)
{
  h->iov = (struct iovec) { &h->req, sizeof h->req };
  h->mh = (struct msghdr) {
    .msg_iov = &h->iov, .msg_iovlen = 1,
    .msg_control = h->u.b, .msg_controllen = sizeof h->u.b,
  };
}

static void
accept_joins (struct stripes *st)
{
  while (st->listen_fd >= 0) {
    struct handover h;
    struct cmsghdr *c;
    int fd = accept4 (st->listen_fd, NULL, NULL,
                      SOCK_CLOEXEC | SOCK_NONBLOCK), fds[2] = { -1, -1 };
    uint8_t no = 1;
    ssize_t n;

    if (fd == -1)
      return;
    /* The joining receiver sends as soon as it has connected. */
    struct pollfd p = { .fd = fd, .events = POLLIN };
    handover_init (&h);
    n = poll (&p, 1, 5000) == 1 ? recvmsg (fd, &h.mh, MSG_CMSG_CLOEXEC) : -1;
    c = n == sizeof h.req ? CMSG_FIRSTHDR (&h.mh) : NULL;
    if (c && c->cmsg_type == SCM_RIGHTS &&
        c->cmsg_len == CMSG_LEN (2 * sizeof (int)))
      memcpy (fds, CMSG_DATA (c), sizeof fds);
    if (fds[0] < 0 || !same_user (fd) ||
        memcmp (h.req.token, st->token, P2V_TOKEN_LEN) ||
        h.req.index == 0 || h.req.index >= st->max || st->n >= st->max) {
      p2v_error ("refused a connection joining this session (%s)",
                 fds[0] < 0 ? "no descriptors" : !same_user (fd)
                 ? "another user" : st->n >= st->max ? "one too many"
                 : "wrong token or index");
      if (write (fd, &no, 1) != 1)
        { /* it gives up by itself */ }
      close (fd);
      for (int k = 0; k < 2; ++k)
        if (fds[k] >= 0)
          close (fds[k]);
      continue;
    }
    no = 0;
    if (write (fd, &no, 1) != 1) {
      close (fd);
      close (fds[0]);
      close (fds[1]);
      continue;
    }
    st->s[st->n++] = (struct stream) {
      .rfd = fds[0], .out_fd = fds[1], .helper = fd, .index = h.req.index,
    };
    /* The agent sends on it once told, on it, that it joined: until then
     * its bytes would have gone to the joining receiver.
     */
    struct p2v_wbuf b = { 0 };
    struct p2v_join ok = { .index = h.req.index };
    struct p2v_fd_pair out = { -1, fds[1] };
    struct p2v_chan oc;

    memcpy (ok.token, h.req.token, P2V_TOKEN_LEN);
    p2v_msg_start (&b, P2V_MSG_JOIN);
    p2v_put_join (&b, &ok);
    p2v_chan_init (&oc, &p2v_fd_ops, &out, "agent", 5000);
    if (p2v_msg_finish (&b) == -1 || p2v_chan_send (&oc, b.p, b.len) == -1)
      p2v_error ("cannot confirm connection %" PRIu32 " to the agent",
                 h.req.index + 1);
    p2v_chan_free (&oc);
    p2v_wbuf_free (&b);
    p2v_debug ("connection %" PRIu32 " joined the session (%u of at most "
               "%u)", h.req.index + 1, st->n, st->max);
  }
}

/* Read what stream i has for us.  -1 on a read error (reported). */
static int
fill (struct stripes *st, unsigned i)
{
  struct stream *x = &st->s[i];
  ssize_t n;

  if (x->start > 0 && (x->start == x->len || x->start > x->cap / 2)) {
    memmove (x->buf, x->buf + x->start, x->len - x->start);
    x->len -= x->start;
    x->start = 0;
  }
  if (x->cap - x->len < STEP) {
    size_t cap = x->len + STEP;
    uint8_t *b = realloc (x->buf, cap);

    if (b == NULL) {
      p2v_error ("out of memory reading from the agent");
      return -1;
    }
    x->buf = b;
    x->cap = cap;
  }
  n = read (x->rfd, x->buf + x->len, x->cap - x->len);
  if (n > 0)
    x->len += n;
  else if (n == 0 || errno == ECONNRESET)
    x->eof = true;
  else if (errno != EAGAIN && errno != EINTR) {
    p2v_error ("reading connection %u from the agent: %m", x->index + 1);
    return -1;
  }
  return 0;
}

static ssize_t
st_read_some (void *h, void *buf, size_t len)
{
  struct stripes *st = h;
  struct pollfd p[P2V_MAX_STREAMS];
  bool eof = false;
  size_t got = 0;

  accept_joins (st);
  for (unsigned i = 0; i < st->n; ++i)
    p[i] = (struct pollfd) {
      .fd = st->s[i].eof || stream_full (st, i) ? -1 : st->s[i].rfd,
      .events = POLLIN,
    };
  if (poll (p, st->n, 0) > 0)
    for (unsigned i = 0; i < st->n; ++i)
      if (p[i].revents && fill (st, i) == -1)
        return -1;
  while (got < len) {
    if (st->cur < 0) {          /* which stream holds the message due? */
      unsigned waiting = 0;

      for (unsigned i = 0; i < st->n && st->cur < 0; ++i) {
        struct stream *x = &st->s[i];
        uint64_t seq;

        if (head_size (x) == 0) {
          eof |= x->eof;
          continue;
        }
        seq = get_u64 (x->buf + x->start);
        if (head_size (x) > P2V_STRIPE_HEADER + P2V_HEADER_LEN + P2V_MAX_MSG) {
          p2v_error ("message from the agent on connection %u declares %zu "
                     "bytes, more than the protocol allows (%d)", x->index + 1,
                     head_size (x) - P2V_STRIPE_HEADER - P2V_HEADER_LEN,
                     P2V_MAX_MSG);
          errno = EPROTO;
          return -1;
        }
        if (seq == st->next) {
          st->cur = i;
          st->cur_left = head_size (x) - P2V_STRIPE_HEADER;
          x->start += P2V_STRIPE_HEADER;
        }
        else if (seq < st->next) {
          p2v_error ("connection %u from the agent repeats message %" PRIu64
                     " (%" PRIu64 " is due)", x->index + 1, seq, st->next);
          errno = EPROTO;
          return -1;
        }
        else
          waiting++;
      }
      if (st->cur < 0) {
        if (waiting == st->n && st->n == st->max) {
          p2v_error ("every connection from the agent holds a later message "
                     "than %" PRIu64 ", which none brought", st->next);
          errno = EPROTO;
          return -1;
        }
        break;
      }
    }
    struct stream *x = &st->s[st->cur];
    size_t n = x->len - x->start;

    if (n > st->cur_left)
      n = st->cur_left;
    if (n > len - got)
      n = len - got;
    if (n == 0) {
      eof |= x->eof;
      break;
    }
    memcpy ((uint8_t *) buf + got, x->buf + x->start, n);
    x->start += n;
    got += n;
    if ((st->cur_left -= n) == 0) {
      st->cur = -1;
      st->next++;
    }
  }
  if (got)
    return got;
  /* A connection that ended has taken the session with it: the agent
   * closes them all only after the last acknowledgement.
   */
  if (eof)
    return 0;
  errno = EAGAIN;
  return -1;
}

static ssize_t
st_write_some (void *h, const void *buf, size_t len)
{
  struct stripes *st = h;
  struct p2v_fd_pair fds = { -1, st->wfd };

  return p2v_fd_ops.write_some (&fds, buf, len);
}

static int
st_wait (void *h, bool want_read, bool want_write, int timeout_ms)
{
  struct stripes *st = h;
  struct pollfd p[P2V_MAX_STREAMS + 2];
  unsigned n = 0;

  p[n++] = (struct pollfd) { .fd = st->listen_fd, .events = POLLIN };
  p[n++] = (struct pollfd) { .fd = want_write ? st->wfd : -1,
                             .events = POLLOUT };
  for (unsigned i = 0; want_read && i < st->n; ++i)
    p[n++] = (struct pollfd) {
      .fd = st->s[i].eof || stream_full (st, i) ? -1 : st->s[i].rfd,
      .events = POLLIN,
    };
  return p2v_poll (p, n, timeout_ms);
}

static const struct p2v_chan_ops stripes_ops = {
  .read_some = st_read_some,
  .write_some = st_write_some,
  .wait = st_wait,
};

int
recv_stripes_open (struct p2v_chan *ch, const struct p2v_stripes *req,
                   uint32_t *streams)
{
  struct p2v_fd_pair *fds = ch->h;
  struct stripes *st;
  struct sockaddr_un a;
  socklen_t alen = sock_name (&a, req->token);

  if (ch->ops != &p2v_fd_ops) {
    p2v_error ("a striped session needs the agent on standard input and "
               "output");
    return -1;
  }
  st = calloc (1, sizeof *st);
  if (st == NULL) {
    p2v_error ("out of memory");
    return -1;
  }
  memcpy (st->token, req->token, P2V_TOKEN_LEN);
  st->max = req->streams;
  st->listen_fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
                          0);
  if (st->max > 1 &&
      (st->listen_fd == -1 || bind (st->listen_fd, (struct sockaddr *) &a,
                                    alen) == -1 ||
       listen (st->listen_fd, P2V_MAX_STREAMS) == -1)) {
    /* The messages are numbered all the same: the agent did not wait. */
    p2v_warning ("cannot listen for the agent's further connections on "
                 "the abstract socket @%s (%m); going on with one",
                 a.sun_path + 1);
    st->max = 1;
  }
  if (st->max <= 1 && st->listen_fd >= 0) {
    close (st->listen_fd);
    st->listen_fd = -1;
  }
  st->n = 1;
  st->s[0] = (struct stream) { .rfd = fds->rfd, .out_fd = -1, .helper = -1 };
  st->wfd = fds->wfd;
  st->cur = -1;
  /* The agent did not wait for our answer: what it sent after STRIPES
   * may be in the channel's buffer already.  It is numbered: the first
   * connection's.
   */
  size_t left = ch->in_len - ch->in_start;
  if (left) {
    st->s[0].buf = malloc (left);
    if (st->s[0].buf == NULL) {
      p2v_error ("out of memory");
      if (st->listen_fd >= 0)
        close (st->listen_fd);
      free (st);
      return -1;
    }
    memcpy (st->s[0].buf, ch->in + ch->in_start, left);
    st->s[0].len = st->s[0].cap = left;
  }
  p2v_chan_free (ch);
  ch->ops = &stripes_ops;
  ch->h = st;
  *streams = st->max > 1 ? st->max : 0;
  p2v_debug ("striped session: up to %u connections, listening on @%s",
             st->max, a.sun_path + 1);
  return 0;
}

void
recv_stripes_close (struct p2v_chan *ch)
{
  struct stripes *st = ch->h;

  if (ch->ops != &stripes_ops)
    return;
  for (unsigned i = 1; i < st->n; ++i) {
    close (st->s[i].rfd);
    close (st->s[i].out_fd);
    close (st->s[i].helper);   /* the joined receiver exits */
  }
  for (unsigned i = 0; i < st->n; ++i)
    free (st->s[i].buf);
  if (st->listen_fd >= 0)
    close (st->listen_fd);
  free (st);
  ch->ops = NULL;
  ch->h = NULL;
}

int
recv_stripes_join (struct p2v_chan *ch, const struct p2v_join *j)
{
  struct p2v_fd_pair *fds = ch->h;
  int timeout_ms = ch->timeout_ms;
  struct sockaddr_un a;
  socklen_t alen = sock_name (&a, j->token);
  double until = p2v_now () + (timeout_ms > 0 ? timeout_ms / 1000.0 : 120);
  struct handover h;
  struct cmsghdr *c;
  uint8_t answer = 1, byte;
  int fd;

  if (ch->ops != &p2v_fd_ops) {
    p2v_error ("a JOIN needs the agent on standard input and output");
    return -1;
  }
  /* The session may not listen yet: the agent opens its connections at
   * once.  Try until it does, or the timeout.
   */
  for (;;) {
    fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd == -1) {
      p2v_error ("socket: %m");
      return -1;
    }
    if (connect (fd, (struct sockaddr *) &a, alen) == 0)
      break;
    close (fd);
    if (errno != ECONNREFUSED && errno != ENOENT) {
      p2v_error ("cannot join the session @%s: %m", a.sun_path + 1);
      return -1;
    }
    if (p2v_now () > until) {
      p2v_error ("no session of this agent is waiting for connection %"
                 PRIu32 " on this host (@%s); was the first connection "
                 "refused, or does it run on another hypervisor?",
                 j->index + 1, a.sun_path + 1);
      return -1;
    }
    /* The agent sends nothing more until we have joined: anything on
     * standard input now is its close (its session ended meanwhile).
     */
    struct pollfd in = { .fd = fds->rfd, .events = POLLIN };
    if (poll (&in, 1, 20) == 1) {
      p2v_error ("the agent gave up connection %" PRIu32 " before its "
                 "session was there to join", j->index + 1);
      return -1;
    }
  }
  if (!same_user (fd)) {
    p2v_error ("@%s belongs to another user: not joining it",
               a.sun_path + 1);
    close (fd);
    return -1;
  }
  handover_init (&h);
  memcpy (h.req.token, j->token, P2V_TOKEN_LEN);
  h.req.index = j->index;
  c = CMSG_FIRSTHDR (&h.mh);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN (2 * sizeof (int));
  memcpy (CMSG_DATA (c), (int[]) { fds->rfd, fds->wfd }, 2 * sizeof (int));
  ssize_t got = sendmsg (fd, &h.mh, MSG_NOSIGNAL) == sizeof h.req
                ? read (fd, &answer, 1) : -1;
  if (got != 1 || answer != 0) {
    p2v_error (got == 1 ? "the session on @%s refused connection %" PRIu32
               " (see its log)" : "the session on @%s ended before it took "
               "connection %" PRIu32, a.sun_path + 1, j->index + 1);
    close (fd);
    return -1;
  }
  p2v_debug ("connection %" PRIu32 " handed to the session", j->index + 1);
  /* sshd stops feeding a connection whose command has exited: wait,
   * without the descriptors, until the session lets us go.
   */
  int null = open ("/dev/null", O_RDWR | O_CLOEXEC);
  if (null >= 0) {
    dup2 (null, fds->rfd);
    dup2 (null, fds->wfd);
    close (null);
  }
  while (read (fd, &byte, 1) == -1 && errno == EINTR)
    ;
  close (fd);
  return 0;
}
