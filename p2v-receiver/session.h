/* The receiver's session (recv_session, recv.c): its state, and the
 * helpers (session.c) that the files working on it share.  Internal to
 * the receiver.
 */
#ifndef P2V_SESSION_H
#define P2V_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "journal.h"
#include "out.h"
#include "proto.h"
#include "recv.h"
#include "report.h"
#include "state.h"

#define COMMIT_BYTES (64ULL << 20)  /* commit at least every 64 MiB ... */
#define COMMIT_SECONDS 2.0          /* ... or every 2 seconds */

struct recv_disk {
  struct recv_output *out;
  struct recv_journal j;        /* fd -1 until the disk is begun */
  uint64_t size;
  uint32_t chunk_size;
  uint64_t next;                /* chunks must arrive in order */
  uint64_t chunks, data_bytes, zero_bytes;      /* whole disk */
  uint64_t committed, committed_chunks;
  uint64_t ack_bytes;           /* commit after this many bytes */
  double commit_time;
  struct p2v_digest *digest;    /* whole disk, seeded from the journal */
  struct p2v_digest *sdigest;   /* this session's chunks, for DISK_END */
  uint64_t schunks;             /* this session's chunks */
  uint64_t session_start;       /* committed at this session's DISK_BEGIN */
  bool begun;                   /* DISK_BEGIN seen in this session */
  bool complete;
  uint8_t final_digest[P2V_HASH_LEN];
  struct recv_read_errors errs; /* in offset order */
  size_t errs_journaled;
  /* Hot clone's later passes (protocol 3). */
  bool has_passes;              /* the journal holds pass chunks */
  bool have_state;
  struct recv_pieces state;     /* what the disk holds, passes applied */
  uint32_t pass;                /* the pass being received, 0 if none */
  uint32_t passes;              /* passes in the state (1: pass 1 only) */
  struct recv_pieces pending;   /* this pass's chunks, for PASS_END */
  uint64_t pass_next;           /* its next chunk starts here or later */
  uint64_t pass_committed;      /* the end of its last durable chunk */
  uint64_t pass_uncommitted;    /* bytes received since its last commit */
  uint64_t pass_bytes;          /* bytes of later passes, all sessions */
};

struct session {
  const struct recv_options *opts;
  const struct recv_output_ops *ops;
  struct recv_target target;    /* where ops writes the images */
  struct p2v_chan *ch;
  struct p2v_wbuf out;
  struct p2v_inventory inv;
  int dirfd, lockfd;
  struct recv_disk *disks;
  int cur;                      /* disk being received, or -1 */
  void *dctx;
  uint8_t *data;                /* decompression buffer, chunk_size bytes */
  size_t data_cap;
  double start;
  uint32_t err_code;            /* what to tell the agent on failure */
  bool resumed;                 /* continuing an earlier session */
  bool published;               /* images renamed, status complete */
  uint32_t keepalive_ms;        /* while publishing (DONE, version 5) */
  double keepalive_last;
  char *path;                   /* absolute DIR/NAME, once published */
  struct recv_domain *domain;   /* NULL if no XML could be written */
  char *domain_error;           /* why not, or why it was not defined */
  const struct recv_domain_disk *ddisks;        /* while the domain is built */
  char *fixup;                  /* p2v-fixup's report (JSON), or NULL */
  char *fixup_error;            /* why there is none, or why it failed */
  struct recv_batch *batch;     /* --batch: the coordinator */
  struct recv_options own;      /* --batch: the options it gave */
  struct p2v_wbuf saved_inv;    /* --batch: the INVENTORY, renamed */
  uint64_t allocated;           /* bytes on disk, once published */
};

/* Send the message built in s->out: 0, or -1 (reported, unless the
 * agent has gone).
 */
int recv_send_msg (struct session *s);
/* Fail with code, what to tell the agent (0: nothing): -1. */
int recv_fail (struct session *s, uint32_t code);
/* p2v_chan_recv failed: only a malformed frame is worth answering. */
int recv_failed (struct session *s);
/* Tell the operator at the agent (and our own log). */
void recv_notice (struct session *s, uint32_t level, const char *fmt, ...)
  __attribute__ ((format (printf, 3, 4)));
/* ACK how far disk is durable (within a pass: the pass). */
int recv_send_ack (struct session *s, uint32_t disk, uint32_t flags);
/* Make what d received durable: the image first, then the journal
 * that vouches for it.
 */
int recv_make_durable (struct session *s, struct recv_disk *d);
/* Room for chunk_size bytes of data, and a new session (or pass)
 * digest for d.
 */
int recv_session_digest (struct session *s, struct recv_disk *d,
                         uint32_t chunk_size);

#endif
