/* Hot clone's later passes (protocol 3) on a complete disk: a pass
 * re-sends chunks (CHUNK messages: do_chunk in recv.c) that replace
 * pieces of the disk's state (state.c) at PASS_END; HASH_REQUEST asks
 * for the hashes of chunks as the image holds them.
 */
#include <inttypes.h>
#include <string.h>

#include "pass.h"
#include "session.h"
#include "convdir.h"
#include "out.h"
#include "state.h"
#include "fileio.h"
#include "hash.h"
#include "log.h"

/* Hot clone: a later pass re-sends chunks of a complete disk. */
int
recv_do_pass_begin (struct session *s, const struct p2v_msg *m)
{
  struct p2v_pass_begin b;
  struct recv_disk *d;

  if (p2v_parse_pass_begin (m->payload, m->len, &b) == -1 || s->cur != -1 ||
      b.disk >= s->inv.ndisks) {
    p2v_error ("malformed or unexpected PASS_BEGIN");
    return recv_fail (s, P2V_ERR_PROTOCOL);
  }
  d = &s->disks[b.disk];
  if (!d->complete || d->out == NULL || b.pass < 2 ||
      b.ack_bytes < P2V_MIN_CHUNK || b.chunk_size < P2V_MIN_CHUNK ||
      b.chunk_size > P2V_MAX_CHUNK) {
    p2v_error ("refusing PASS_BEGIN %" PRIu32 " for disk %" PRIu32
               " (chunk size %" PRIu32 ", ack every %" PRIu64 "): the disk "
               "is not complete yet, or a value out of range", b.pass,
               b.disk, b.chunk_size, b.ack_bytes);
    return recv_fail (s, P2V_ERR_REFUSED);
  }
  if (!d->have_state && recv_load_state (s, d, b.disk) == -1)
    return -1;
  if (recv_session_digest (s, d, b.chunk_size) == -1)
    return -1;
  d->pending.len = 0;
  d->pass = b.pass;
  d->pass_next = d->pass_committed = d->pass_uncommitted = 0;
  d->chunk_size = b.chunk_size;
  d->ack_bytes = b.ack_bytes < COMMIT_BYTES ? b.ack_bytes : COMMIT_BYTES;
  d->commit_time = p2v_now ();
  s->cur = b.disk;
  return 0;
}

int
recv_do_pass_end (struct session *s, const struct p2v_msg *m)
{
  struct p2v_disk_end e;
  struct recv_disk *d;
  uint8_t sd[P2V_HASH_LEN];
  char want[2 * P2V_HASH_LEN + 1], got[2 * P2V_HASH_LEN + 1];

  if (p2v_parse_disk_end (m->payload, m->len, &e) == -1 || s->cur == -1 ||
      e.disk != (uint32_t) s->cur || s->disks[e.disk].pass == 0) {
    p2v_error ("malformed or unexpected PASS_END");
    return recv_fail (s, P2V_ERR_PROTOCOL);
  }
  d = &s->disks[e.disk];
  p2v_digest_final (d->sdigest, sd);
  if (e.chunks != d->schunks || memcmp (sd, e.digest, P2V_HASH_LEN) != 0) {
    p2v_hash_hex (e.digest, want);
    p2v_hash_hex (sd, got);
    p2v_error ("disk %" PRIu32 " pass %" PRIu32 ": the agent sent %" PRIu64
               " chunks (digest %s), %" PRIu64 " arrived (digest %s)",
               e.disk, d->pass, e.chunks, want, d->schunks, got);
    return recv_fail (s, P2V_ERR_VERIFY);
  }
  if (recv_make_durable (s, d) == -1)
    return -1;
  if (recv_state_apply (&d->state, &d->pending) == -1 ||
      recv_state_digest (&d->state, d->final_digest) == -1)
    return recv_fail (s, P2V_ERR_INTERNAL);
  d->pending.len = 0;
  d->passes = d->pass;
  d->pass_committed = d->size;
  if (recv_send_ack (s, e.disk, P2V_ACK_DISK_COMPLETE) == -1)
    return -1;
  d->pass = 0;
  s->cur = -1;
  return 0;
}

/* The hashes of chunks as the image holds them, for a hash compare. */
int
recv_do_hash_request (struct session *s, const struct p2v_msg *m)
{
  struct p2v_hash_request q;
  struct p2v_hashes h;
  struct recv_disk *d;

  if (p2v_parse_hash_request (m->payload, m->len, &q) == -1 ||
      s->cur != -1 || q.disk >= s->inv.ndisks) {
    p2v_error ("malformed or unexpected HASH_REQUEST");
    return recv_fail (s, P2V_ERR_PROTOCOL);
  }
  d = &s->disks[q.disk];
  if (!d->complete || d->out == NULL || q.chunk_size < P2V_MIN_CHUNK ||
      q.chunk_size > P2V_MAX_CHUNK || q.offset >= d->size ||
      (uint64_t) (q.count - 1) * q.chunk_size >= d->size - q.offset) {
    p2v_error ("refusing HASH_REQUEST for disk %" PRIu32 " (%" PRIu32
               " chunks of %" PRIu32 " bytes from %" PRIu64 "): the disk is "
               "not complete, or the range is outside it", q.disk, q.count,
               q.chunk_size, q.offset);
    return recv_fail (s, P2V_ERR_REFUSED);
  }
  if (recv_session_digest (s, d, q.chunk_size) == -1)
    return -1;
  h = (struct p2v_hashes) { q.disk, q.offset, q.count, NULL };
  p2v_wbuf_reset (&s->out);
  p2v_msg_start (&s->out, P2V_MSG_HASHES);
  p2v_put_hashes_header (&s->out, &h);
  for (uint32_t i = 0; i < q.count; ++i) {
    uint64_t off = q.offset + (uint64_t) i * q.chunk_size;
    size_t len = d->size - off < q.chunk_size ? d->size - off : q.chunk_size;
    uint8_t hash[P2V_HASH_LEN];

    if (s->ops->read (d->out, s->data, len, off) == -1) {
      p2v_error ("disk %" PRIu32 ": reading the image at %" PRIu64
                 " for a hash compare failed", q.disk, off);
      return recv_fail (s, P2V_ERR_IO);
    }
    p2v_hash_chunk (s->data, len, hash);
    p2v_put_bytes (&s->out, hash, P2V_HASH_LEN);
  }
  return recv_send_msg (s);
}
