/* Message framing over any byte transport.
 *
 * A transport supplies non-blocking read_some/write_some and a wait.
 * Sending never deadlocks against a peer that is itself blocked writing
 * to us: while our write would block, incoming bytes are drained into
 * the channel's input buffer and handed out by later p2v_chan_recv calls.
 */
#ifndef P2V_CHAN_H
#define P2V_CHAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct p2v_chan_ops {
  /* >0 bytes, 0 at end of stream, -1 with errno (EAGAIN: nothing yet). */
  ssize_t (*read_some) (void *h, void *buf, size_t len);
  ssize_t (*write_some) (void *h, const void *buf, size_t len);
  /* Wait until the transport may make progress: 1, 0 on timeout, -1. */
  int (*wait) (void *h, bool want_read, bool want_write, int timeout_ms);
};

struct p2v_chan {
  const struct p2v_chan_ops *ops;
  void *h;
  const char *peer;             /* "receiver" or "agent", for messages */
  uint32_t version;             /* negotiated; 0 until HELLO is done */
  int timeout_ms;               /* for blocking operations; -1 = forever */
  uint8_t *in;                  /* input buffer */
  size_t in_start, in_len, in_cap;
  bool eof;
  bool timed_out;               /* a wait ran out: the link may be dead */
  uint64_t bytes_out, bytes_in; /* counted on the wire */
  double wait_seconds;          /* blocked on the transport, in total */
};

struct p2v_msg {
  uint32_t type;
  const uint8_t *payload;       /* valid until the next recv or send */
  size_t len;
};

void p2v_chan_init (struct p2v_chan *ch, const struct p2v_chan_ops *ops,
                    void *h, const char *peer, int timeout_ms);
void p2v_chan_free (struct p2v_chan *ch);

/* Send a whole, finished message.  0, or -1: reported, except when the
 * peer has gone (errno EPIPE), where what it sent last (an ERROR, say)
 * is still there for p2v_chan_recv and the caller words the message.
 */
int p2v_chan_send (struct p2v_chan *ch, const void *buf, size_t len);

/* 1 with a message, 0 if wait is false and none is complete yet,
 * -1 on error or end of stream (reported unless at a clean message
 * boundary, when errno is EPIPE and nothing is printed).  errno EPROTO
 * means the peer sent something that is not the protocol; ECONNRESET,
 * that the stream ended inside a message.
 */
int p2v_chan_recv (struct p2v_chan *ch, struct p2v_msg *m, bool wait);

/* poll(2) for transports' wait: retries EINTR, reports failure.
 * 1 if something is ready, 0 on timeout, -1.
 */
struct pollfd;
int p2v_poll (struct pollfd *fds, unsigned n, int timeout_ms);

/* Transport over a pair of file descriptors (pipes, a socketpair,
 * stdin/stdout).
 */
struct p2v_fd_pair {
  int rfd, wfd;
};
extern const struct p2v_chan_ops p2v_fd_ops;

#endif
