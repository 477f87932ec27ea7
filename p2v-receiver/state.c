/* A disk's state after hot clone's passes: the chunks of pass 1 with
 * the chunks of later passes applied over them, as a sorted list of
 * pieces that tile the disk.  A pass chunk may replace a whole DATA
 * piece or any part of a ZERO piece, never part of a DATA piece (whose
 * hash would then cover bytes it no longer describes): that keeps
 * every piece verifiable by its hash.  Pure; test-state.c.
 */
#include <string.h>

#include "state.h"
#include "hash.h"
#include "journal.h"

/* The index of the piece holding off (st tiles the disk). */
static size_t
find (const struct recv_pieces *st, uint64_t off)
{
  size_t lo = 0, hi = st->len;

  while (hi - lo > 1) {
    size_t mid = lo + (hi - lo) / 2;

    if (st->ptr[mid].offset <= off)
      lo = mid;
    else
      hi = mid;
  }
  return lo;
}

bool
recv_state_fits (const struct recv_pieces *st, uint64_t off, uint64_t len)
{
  uint64_t end = off + len;

  if (st->len == 0 || len == 0)
    return false;
  for (size_t i = find (st, off); i < st->len && st->ptr[i].offset < end; ++i) {
    const struct recv_piece *p = &st->ptr[i];

    if (p->kind == P2V_CHUNK_DATA &&
        (p->offset < off || p->offset + p->length > end))
      return false;
  }
  return true;
}

static int
put (struct recv_pieces *out, struct recv_piece p)
{
  struct recv_piece *last = out->len ? &out->ptr[out->len - 1] : NULL;

  if (p.length == 0)
    return 0;
  if (last && last->kind == P2V_CHUNK_ZERO && p.kind == P2V_CHUNK_ZERO &&
      last->offset + last->length == p.offset) {
    last->length += p.length;   /* adjacent ZERO ranges are one */
    return 0;
  }
  return recv_pieces_append (out, p);
}

int
recv_state_apply (struct recv_pieces *st, const struct recv_pieces *pass)
{
  struct recv_pieces out = { 0 };
  struct recv_piece cur = { 0 };  /* what is left of old piece i */
  size_t i = 0;

  if (st->len)
    cur = st->ptr[0];
  for (size_t k = 0; k < pass->len; ++k) {
    const struct recv_piece *q = &pass->ptr[k];
    uint64_t qend = q->offset + q->length;

    /* Old pieces before q, and the head of the one q starts in. */
    for (; i < st->len && cur.offset + cur.length <= q->offset;
         cur = ++i < st->len ? st->ptr[i] : cur)
      if (put (&out, cur) == -1)
        goto oom;
    if (i < st->len && cur.offset < q->offset) {
      struct recv_piece head = cur;

      head.length = q->offset - cur.offset;
      if (put (&out, head) == -1)
        goto oom;
    }
    if (put (&out, *q) == -1)
      goto oom;
    /* Skip what q covers; keep the tail of the one it ends in. */
    for (; i < st->len && cur.offset + cur.length <= qend;
         cur = ++i < st->len ? st->ptr[i] : cur)
      ;
    if (i < st->len && cur.offset < qend) {
      cur.length -= qend - cur.offset;    /* a ZERO piece: only its range */
      cur.offset = qend;
    }
  }
  for (; i < st->len; cur = ++i < st->len ? st->ptr[i] : cur)
    if (put (&out, cur) == -1)
      goto oom;
  recv_pieces_reset (st);
  *st = out;
  return 0;
 oom:
  recv_pieces_reset (&out);
  return -1;
}

int
recv_state_digest (const struct recv_pieces *st, uint8_t out[P2V_HASH_LEN])
{
  struct p2v_digest *d = p2v_digest_new ();

  if (d == NULL)
    return -1;
  for (size_t i = 0; i < st->len; ++i) {
    const struct recv_piece *p = &st->ptr[i];
    struct p2v_chunk c = { 0, p->offset, p->length, p->kind };

    /* Adjacent ZERO pieces count as one range. */
    if (p->kind == P2V_CHUNK_ZERO)
      while (i + 1 < st->len && st->ptr[i + 1].kind == P2V_CHUNK_ZERO)
        c.length += st->ptr[++i].length;
    else
      memcpy (c.hash, p->hash, P2V_HASH_LEN);
    p2v_digest_add (d, &c);
  }
  p2v_digest_final (d, out);
  p2v_digest_free (d);
  return 0;
}

struct loader {
  struct recv_pieces *st, pending;
  uint64_t pending_end;
  uint32_t passes;
  bool failed;
};

static int
flush_pass (struct loader *l)
{
  if (l->pending.len == 0)
    return 0;
  if (recv_state_apply (l->st, &l->pending) == -1)
    return -1;
  l->pending.len = 0;
  l->passes++;
  return 0;
}

static int
load_record (void *opaque, const struct recv_journal_rec *r)
{
  struct loader *l = opaque;
  struct recv_piece p = { r->offset, r->length, r->kind, { 0 } };

  memcpy (p.hash, r->hash, P2V_HASH_LEN);
  switch (r->tag) {
  case RECV_J_CHUNK:
    if (recv_pieces_append (l->st, p) == -1)
      goto failed;
    return 0;
  case RECV_J_PASS_CHUNK:
    if (r->offset < l->pending_end && flush_pass (l) == -1)
      goto failed;
    if (!recv_state_fits (l->st, r->offset, r->length) ||
        recv_pieces_append (&l->pending, p) == -1)
      goto failed;
    l->pending_end = r->offset + r->length;
    return 0;
  default:
    return 0;
  }
 failed:
  l->failed = true;
  return -1;
}

int
recv_state_load (struct recv_journal *j, struct recv_pieces *st,
                  uint32_t *passes)
{
  struct loader l = { .st = st, .passes = 1 };
  int r;

  st->len = 0;
  r = recv_journal_load (j, load_record, &l);
  if (r == 0 && (l.failed || flush_pass (&l) == -1))
    r = -1;
  recv_pieces_reset (&l.pending);
  *passes = l.passes;
  return r;
}
