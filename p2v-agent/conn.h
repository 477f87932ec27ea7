/* A connection to a receiver (conn.c, conn_ssh.c, conn_local.c).
 * Private to the sender: the conn*.c and send*.c files include it.
 */
#ifndef P2V_CONN_H
#define P2V_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chan.h"

struct agent_options;

/* The message channel plus the transport's teardown.  The receiver's
 * stderr is kept (last few lines) and shown when the conversation ends
 * abnormally, or live with --verbose.
 */
struct agent_conn {
  struct p2v_chan chan;
  void *impl;
  /* Close; returns the receiver's exit status, or -1 if unknown. */
  int (*finish) (struct agent_conn *c);
  char tail[2048];
  size_t tail_len;
  /* SSH: the round trip of the channel's open and exec requests
   * (seconds, the shorter), and the receiver side's channel window.
   */
  double rtt;
  uint32_t window;
  struct agent_stripes *stripes;        /* striped (stripes.c), or NULL */
};

/* early, if not NULL, is called once the SSH handshake is done, before
 * authentication, with rtt a first estimate (the handshake's time, less
 * its CPU time, over three: it takes about three round trips); rtt is
 * measured again once the channel is open.
 */
struct agent_conn *agent_connect_ssh (const struct agent_options *o,
                                      void (*early) (struct agent_conn *c,
                                                     void *arg),
                                      void *arg);
/* An SSH connection's socket, and what to poll it for now. */
int agent_ssh_socket (const struct agent_conn *c);
struct pollfd;
void agent_ssh_pollfd (const struct agent_conn *c, struct pollfd *p);
/* Bytes the receiver's side of the channel will take now. */
unsigned long agent_ssh_window (const struct agent_conn *c);
/* Bytes in the socket's send queue the network has not taken. */
int agent_ssh_unsent (const struct agent_conn *c);
struct agent_conn *agent_connect_local (const struct agent_options *o);
/* Frees c, first showing the receiver's recent stderr if asked;
 * returns the receiver's exit status or -1.
 */
int agent_conn_close (struct agent_conn *c, bool show_stderr);
/* Record (and with --verbose print) receiver stderr output. */
void agent_conn_stderr (struct agent_conn *c, const char *buf, size_t len);

#endif
