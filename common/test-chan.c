/* Both ends send large messages at once over a socketpair, whose buffer
 * holds a small fraction of one: without draining input while blocked
 * on output, each would wait for the other forever.  Also: an oversize
 * header and a stream cut mid-message are refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "chan.h"
#include "proto.h"
#include "test.h"

enum { NMSG = 4, MSGLEN = 4 << 20 };

static int
exchange (int fd, uint8_t fill)
{
  struct p2v_fd_pair fds = { fd, fd };
  struct p2v_chan ch;
  struct p2v_wbuf w = { 0 };
  struct p2v_msg m;
  uint8_t other = 0xff ^ fill;
  int i, bad = 0;

  fcntl (fd, F_SETFL, O_NONBLOCK);
  p2v_chan_init (&ch, &p2v_fd_ops, &fds, "peer", 10000);
  p2v_msg_start (&w, P2V_MSG_CHUNK);
  p2v_wbuf_reserve (&w, MSGLEN);
  memset (w.p + w.len, fill, MSGLEN);
  w.len += MSGLEN;
  p2v_msg_finish (&w);
  for (i = 0; i < NMSG; ++i)
    if (p2v_chan_send (&ch, w.p, w.len) == -1)
      bad++;
  for (i = 0; i < NMSG; ++i) {
    if (p2v_chan_recv (&ch, &m, true) != 1 || m.len != MSGLEN ||
        m.payload[0] != other || m.payload[MSGLEN - 1] != other)
      bad++;
  }
  p2v_wbuf_free (&w);
  p2v_chan_free (&ch);
  return bad;
}

static void
test_no_deadlock (void)
{
  int sv[2], status;
  pid_t pid;

  CHECK (socketpair (AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  pid = fork ();
  if (pid == 0) {
    close (sv[0]);
    _exit (exchange (sv[1], 0x0f) ? 1 : 0);
  }
  close (sv[1]);
  CHECK (exchange (sv[0], 0xf0) == 0);
  CHECK (waitpid (pid, &status, 0) == pid && WIFEXITED (status) &&
         WEXITSTATUS (status) == 0);
  close (sv[0]);
}

static int
recv_from_bytes (const uint8_t *bytes, size_t len)
{
  int sv[2];
  struct p2v_fd_pair fds;
  struct p2v_chan ch;
  struct p2v_msg m;
  int r;

  socketpair (AF_UNIX, SOCK_STREAM, 0, sv);
  fds = (struct p2v_fd_pair) { sv[0], sv[0] };
  write (sv[1], bytes, len);
  close (sv[1]);
  p2v_chan_init (&ch, &p2v_fd_ops, &fds, "peer", 5000);
  r = p2v_chan_recv (&ch, &m, true);
  p2v_chan_free (&ch);
  close (sv[0]);
  return r;
}

static void
test_bad_streams (void)
{
  const uint8_t oversize[] = { 0, 0, 0, 4, 0x7f, 0xff, 0xff, 0xff };
  const uint8_t cut[] = { 0, 0, 0, 4, 0, 0, 0, 10, 1, 2, 3 };
  const uint8_t empty_ok[] = { 0, 0, 0, 6, 0, 0, 0, 0 };
  const uint8_t bad_type[] = { 0x53, 0x53, 0x48, 0x2d, 0, 0, 0, 0 };

  CHECK (recv_from_bytes (oversize, sizeof oversize) == -1 &&
         errno == EPROTO);
  CHECK (recv_from_bytes (cut, sizeof cut) == -1 && errno == ECONNRESET);
  CHECK (recv_from_bytes (cut, 0) == -1 && errno == EPIPE);
  CHECK (recv_from_bytes (empty_ok, sizeof empty_ok) == 1);
  CHECK (recv_from_bytes (bad_type, sizeof bad_type) == -1 && errno == EPROTO);
}

int
main (void)
{
  test_no_deadlock ();
  test_bad_streams ();
  return TEST_DONE ();
}
