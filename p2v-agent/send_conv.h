/* The conversation with the receiver (send_conv.c): the handshake, the
 * inventory, messages out, replies in, and the window of DATA chunks in
 * flight.  Private to the send*.c files.
 */
#ifndef P2V_SEND_CONV_H
#define P2V_SEND_CONV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "proto.h"
#include "vector.h"

struct agent_conn;
struct sender;

/* A DATA chunk sent but not yet acknowledged: where it ends, and the
 * data bytes sent on this disk up to and including it.
 */
struct inflight {
  uint64_t end, cum;
};
DEFINE_VECTOR_TYPE (inflights, struct inflight);

struct send_conv {
  struct agent_conn *conn;
  struct p2v_wbuf msg;

  /* This connection. */
  struct p2v_session sess;      /* the receiver's view at its start */
  bool have_session;
  uint32_t stripes_asked;       /* STRIPES sent for this many (or 0) */
  bool stripes_answered;        /* ... and the receiver's answer came */
  bool selected;                /* a SELECT was answered */
  bool done_sent;               /* DONE is on its way */
  bool complete;                /* receiver acknowledged everything */
  bool receiver_error;          /* receiver sent ERROR (already shown) */
  uint32_t receiver_code;       /* ... with this code */
  bool fatal;                   /* a failure no reconnect can fix */
  uint32_t acked_disks;         /* disks the receiver verified */

  /* The window. */
  int cur;                      /* disk being sent, or -1 */
  struct inflights inflight;    /* unacknowledged DATA chunks of cur */
  size_t inflight_head;
  uint64_t sent_cum, acked_cum; /* DATA bytes of cur, sent and acked */

  /* Hot clone's replies (protocol 3). */
  bool pass_done[P2V_MAX_DISKS];        /* the receiver completed it */
  uint8_t *hashes;              /* a HASHES reply; send_pass.c's buffer */
  uint64_t hashes_off;
  uint32_t hashes_count;
  bool have_hashes;

  /* The whole run, across reconnects. */
  bool established;             /* a session got as far as SESSION */
  bool finished_before;         /* an earlier session sent DONE */
  bool was_complete;            /* complete before this run: none sent */
  uint64_t committed[P2V_MAX_DISKS];    /* durable on the receiver */
};

/* HELLO both ways: the protocol version.  0, or -1 (reported). */
/* agent_connect_ssh's early hook: start the further connections of a
 * striped session once the first one's handshake gives a round trip.
 */
struct agent_conn;
void agent_conv_early (struct agent_conn *conn, void *arg);
int agent_conv_hello (struct sender *s);
/* The disks and the host's facts. */
int agent_conv_inventory (struct sender *s);
/* Start a message of type in c->msg: put its fields there, then
 * agent_conv_send.
 */
void agent_conv_start (struct send_conv *c, uint32_t type);
/* Finish s->conv.msg and send it.  0, or -1 (reported). */
int agent_conv_send (struct sender *s);
int agent_conv_keepalive (struct sender *s);
/* Handle whatever the receiver has sent; with wait, block for one. */
int agent_conv_poll (struct sender *s, bool wait);
/* The receiver said what: fatal, -1. */
int agent_conv_protocol_error (struct sender *s, const char *what);
/* Tell the receiver why we stop (ERROR), best effort. */
void agent_conv_send_error (struct sender *s);
void agent_conv_free (struct send_conv *c);

/* The window: DATA chunks of one disk from open to close.  wait blocks
 * until length more bytes fit in --window; add records one sent.
 */
void agent_conv_window_open (struct send_conv *c, int disk);
int agent_conv_window_wait (struct sender *s, uint64_t length);
int agent_conv_window_add (struct send_conv *c, uint64_t end,
                           uint64_t length);
void agent_conv_window_close (struct send_conv *c);

#endif
