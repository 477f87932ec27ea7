#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chan.h"
#include "fileio.h"
#include "log.h"
#include "proto.h"
#include "vector.h"

#define READ_STEP (256 * 1024)

void
p2v_chan_init (struct p2v_chan *ch, const struct p2v_chan_ops *ops,
               void *h, const char *peer, int timeout_ms)
{
  memset (ch, 0, sizeof *ch);
  ch->ops = ops;
  ch->h = h;
  ch->peer = peer;
  ch->timeout_ms = timeout_ms;
}

void
p2v_chan_free (struct p2v_chan *ch)
{
  free (ch->in);
  ch->in = NULL;
  ch->in_start = ch->in_len = ch->in_cap = 0;
}

/* Read whatever is available into the input buffer.  1 if bytes came,
 * 0 if none were ready, -1 on error.  End of stream sets ch->eof.
 */
static int
fill (struct p2v_chan *ch, size_t want)
{
  ssize_t n;

  if (ch->in_start > 0 && ch->in_start == ch->in_len)
    ch->in_start = ch->in_len = 0;
  if (want < READ_STEP)
    want = READ_STEP;
  if (p2v_vector_reserve ((void **) &ch->in, &ch->in_cap, ch->in_len,
                          want, 1) == -1) {
    p2v_error ("out of memory reading from %s", ch->peer);
    return -1;
  }
  n = ch->ops->read_some (ch->h, ch->in + ch->in_len, want);
  if (n > 0) {
    ch->in_len += n;
    ch->bytes_in += n;
    return 1;
  }
  /* A reset means the peer is gone, like end of stream: what it sent
   * before going is already in the buffer.
   */
  if (n == 0 || (n == -1 && errno == ECONNRESET)) {
    ch->eof = true;
    return 0;
  }
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
    return 0;
  p2v_error ("reading from %s: %m", ch->peer);
  return -1;
}

static int
wait_for (struct p2v_chan *ch, bool rd, bool wr)
{
  double t0 = p2v_now ();
  int r = ch->ops->wait (ch->h, rd, wr, ch->timeout_ms);

  ch->wait_seconds += p2v_now () - t0;
  if (r == 0) {
    ch->timed_out = true;
    p2v_error ("no progress talking to the %s for %d seconds; "
               "the link may be down (see --timeout)",
               ch->peer, ch->timeout_ms / 1000);
    errno = ETIMEDOUT;
    return -1;
  }
  return r == 1 ? 0 : -1;
}

int
p2v_chan_send (struct p2v_chan *ch, const void *buf, size_t len)
{
  const uint8_t *p = buf;

  while (len > 0) {
    ssize_t n = ch->ops->write_some (ch->h, p, len);

    if (n > 0) {
      p += n;
      len -= n;
      ch->bytes_out += n;
      continue;
    }
    if (n == -1 && (errno == EPIPE || errno == ECONNRESET)) {
      /* The peer is gone; it may have said why first.  Collect that
       * for p2v_chan_recv and let the caller report it.
       */
      while (!ch->eof && fill (ch, 0) == 1)
        ;
      ch->eof = true;
      errno = EPIPE;
      return -1;
    }
    if (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK &&
        errno != EINTR) {
      p2v_error ("writing to %s: %m", ch->peer);
      return -1;
    }
    /* Blocked: keep the other direction moving, then wait.  A peer
     * that ended its stream while we cannot write has gone (it read
     * nothing more either): do not wait for a window it never opens.
     */
    if (!ch->eof && fill (ch, 0) == -1)
      return -1;
    if (ch->eof) {
      errno = EPIPE;
      return -1;
    }
    if (wait_for (ch, true, true) == -1)
      return -1;
  }
  return 0;
}

/* Consume the previous message and return how many bytes are buffered. */
static size_t
buffered (struct p2v_chan *ch)
{
  if (ch->in_start > 0) {
    memmove (ch->in, ch->in + ch->in_start, ch->in_len - ch->in_start);
    ch->in_len -= ch->in_start;
    ch->in_start = 0;
  }
  return ch->in_len;
}

/* The peer's first line, if its bytes read as text (a shell's or a
 * program's message instead of the protocol); true if so.
 */
static bool
as_text (const uint8_t *p, size_t len, char *out, size_t outlen)
{
  size_t n = 0;

  for (size_t i = 0; i < len && p[i] != '\n' && p[i] != '\r'; ++i) {
    if ((p[i] < 0x20 && p[i] != '\t') || p[i] > 0x7e)
      return false;
    if (n < outlen - 1)
      out[n++] = p[i];
  }
  out[n] = '\0';
  return n >= 4;
}

int
p2v_chan_recv (struct p2v_chan *ch, struct p2v_msg *m, bool wait)
{
  size_t need = P2V_HEADER_LEN;
  uint32_t len;

  buffered (ch);
  for (;;) {
    if (ch->in_len >= P2V_HEADER_LEN) {
      uint32_t type = (uint32_t) ch->in[0] << 24 |
                      (uint32_t) ch->in[1] << 16 |
                      (uint32_t) ch->in[2] << 8 | ch->in[3];
      len = (uint32_t) ch->in[4] << 24 | (uint32_t) ch->in[5] << 16 |
            (uint32_t) ch->in[6] << 8 | ch->in[7];
      if (type == 0 ||
          type > (ch->version ? p2v_msg_last (ch->version) : P2V_MSG_LAST)) {
        char text[121];

        if (as_text (ch->in, ch->in_len, text, sizeof text))
          p2v_error ("data from %s is not p2v protocol: it says \"%s\"; "
                     "is a p2v %s at the other end (not a login shell or "
                     "another program)?", ch->peer, text, ch->peer);
        else
          p2v_error ("data from %s is not p2v protocol v%d (message type "
                     "%" PRIu32 "); is the other side a p2v %s of the same "
                     "version?", ch->peer, ch->version ? (int) ch->version
                     : P2V_PROTO_MAX, type, ch->peer);
        errno = EPROTO;
        return -1;
      }
      if (len > P2V_MAX_MSG) {
        p2v_error ("message from %s declares %" PRIu32 " bytes, more than "
                   "the protocol allows (%d)", ch->peer, len, P2V_MAX_MSG);
        errno = EPROTO;
        return -1;
      }
      need = P2V_HEADER_LEN + len;
      if (ch->in_len >= need)
        break;
    }
    if (ch->eof) {
      if (ch->in_len == 0) {
        errno = EPIPE;
        return -1;
      }
      /* A lost link, not garbage: the caller may reconnect. */
      p2v_error ("connection to %s closed in the middle of a message "
                 "(%zu of %zu bytes)", ch->peer, ch->in_len, need);
      errno = ECONNRESET;
      return -1;
    }
    int r = fill (ch, need - ch->in_len);
    if (r == -1)
      return -1;
    if (r == 0 && !ch->eof) {
      if (!wait)
        return 0;
      if (wait_for (ch, true, false) == -1)
        return -1;
    }
  }
  m->type = (uint32_t) ch->in[0] << 24 | (uint32_t) ch->in[1] << 16 |
            (uint32_t) ch->in[2] << 8 | ch->in[3];
  m->payload = ch->in + P2V_HEADER_LEN;
  m->len = len;
  ch->in_start = need;
  return 1;
}

static ssize_t
fd_read_some (void *h, void *buf, size_t len)
{
  struct p2v_fd_pair *fds = h;
  struct pollfd pfd = { .fd = fds->rfd, .events = POLLIN };

  /* Poll first so a blocking descriptor (stdin) never blocks here. */
  if (poll (&pfd, 1, 0) == 0) {
    errno = EAGAIN;
    return -1;
  }
  return read (fds->rfd, buf, len);
}

static ssize_t
fd_write_some (void *h, const void *buf, size_t len)
{
  struct p2v_fd_pair *fds = h;
  struct pollfd pfd = { .fd = fds->wfd, .events = POLLOUT };

  if (poll (&pfd, 1, 0) == 0) {
    errno = EAGAIN;
    return -1;
  }
  return write (fds->wfd, buf, len);
}

int
p2v_poll (struct pollfd *fds, unsigned n, int timeout_ms)
{
  int r;

  do
    r = poll (fds, n, timeout_ms);
  while (r == -1 && errno == EINTR);
  if (r == -1) {
    p2v_error ("poll: %m");
    return -1;
  }
  return r > 0 ? 1 : 0;
}

static int
fd_wait (void *h, bool want_read, bool want_write, int timeout_ms)
{
  struct p2v_fd_pair *fds = h;
  struct pollfd pfd[2] = {
    { .fd = want_read ? fds->rfd : -1, .events = POLLIN },
    { .fd = want_write ? fds->wfd : -1, .events = POLLOUT },
  };

  return p2v_poll (pfd, 2, timeout_ms);
}

const struct p2v_chan_ops p2v_fd_ops = {
  .read_some = fd_read_some,
  .write_some = fd_write_some,
  .wait = fd_wait,
};
