/* A disk's state after passes: which pass chunks fit, applying them,
 * and the digest (adjacent ZERO ranges as one).
 */
#include <string.h>

#include "hash.h"
#include "state.h"
#include "test.h"

#define K 65536ULL

static struct recv_piece
data (uint64_t off, uint64_t len, uint8_t tag)
{
  struct recv_piece p = { off, len, P2V_CHUNK_DATA, { 0 } };

  memset (p.hash, tag, P2V_HASH_LEN);
  return p;
}

static struct recv_piece
zero (uint64_t off, uint64_t len)
{
  return (struct recv_piece) { off, len, P2V_CHUNK_ZERO, { 0 } };
}

/* Pass 1 of a 10-chunk disk: D D Z Z Z Z D Z Z D(short) */
static void
pass1 (struct recv_pieces *st)
{
  recv_pieces_reset (st);
  recv_pieces_append (st, data (0, K, 1));
  recv_pieces_append (st, data (K, K, 2));
  recv_pieces_append (st, zero (2 * K, 4 * K));
  recv_pieces_append (st, data (6 * K, K, 3));
  recv_pieces_append (st, zero (7 * K, 2 * K));
  recv_pieces_append (st, data (9 * K, 100, 4));
}

static bool
tiles (const struct recv_pieces *st, uint64_t size)
{
  uint64_t next = 0;

  for (size_t i = 0; i < st->len; ++i) {
    if (st->ptr[i].offset != next || st->ptr[i].length == 0)
      return false;
    next += st->ptr[i].length;
  }
  return next == size;
}

static void
test_fits (void)
{
  struct recv_pieces st = { 0 };

  pass1 (&st);
  CHECK (recv_state_fits (&st, 0, K));                  /* a whole DATA */
  CHECK (recv_state_fits (&st, 0, 2 * K));              /* two whole DATA */
  CHECK (recv_state_fits (&st, 3 * K, K));              /* inside ZERO */
  CHECK (recv_state_fits (&st, 2 * K, 5 * K));          /* ZERO + DATA */
  CHECK (recv_state_fits (&st, 9 * K, 100));            /* the short end */
  CHECK (!recv_state_fits (&st, K / 2, K));             /* splits DATA */
  CHECK (!recv_state_fits (&st, 5 * K, K + 10));        /* DATA's head */
  CHECK (!recv_state_fits (&st, 0, 0));
  recv_pieces_reset (&st);
}

static void
test_apply_and_digest (void)
{
  struct recv_pieces st = { 0 }, pass = { 0 }, again = { 0 };
  uint8_t d1[P2V_HASH_LEN], d2[P2V_HASH_LEN];

  pass1 (&st);
  recv_pieces_append (&pass, data (K, K, 9));           /* replaces D2 */
  recv_pieces_append (&pass, data (3 * K, K, 8));       /* inside ZERO */
  recv_pieces_append (&pass, zero (6 * K, K));          /* D3 now zeros */
  CHECK (recv_state_apply (&st, &pass) == 0);
  CHECK (tiles (&st, 9 * K + 100));
  CHECK (st.len == 6);
  CHECK (st.ptr[1].hash[0] == 9 && st.ptr[2].kind == P2V_CHUNK_ZERO &&
         st.ptr[2].length == K && st.ptr[3].hash[0] == 8);
  /* The old ZERO tail, the new ZERO and the old ZERO after it merge. */
  CHECK (st.ptr[4].kind == P2V_CHUNK_ZERO && st.ptr[4].offset == 4 * K &&
         st.ptr[4].length == 5 * K);

  /* The digest is that of the same state sent in one pass. */
  recv_pieces_append (&again, data (0, K, 1));
  recv_pieces_append (&again, data (K, K, 9));
  recv_pieces_append (&again, zero (2 * K, K));
  recv_pieces_append (&again, data (3 * K, K, 8));
  recv_pieces_append (&again, zero (4 * K, 3 * K));
  recv_pieces_append (&again, zero (7 * K, 2 * K));   /* unmerged here */
  recv_pieces_append (&again, data (9 * K, 100, 4));
  CHECK (recv_state_digest (&st, d1) == 0 && recv_state_digest (&again, d2) == 0);
  CHECK (memcmp (d1, d2, P2V_HASH_LEN) == 0);
  again.ptr[1].hash[5] ^= 1;
  CHECK (recv_state_digest (&again, d2) == 0 && memcmp (d1, d2, P2V_HASH_LEN) != 0);

  /* An empty pass changes nothing; a pass at the very end. */
  recv_pieces_reset (&pass);
  CHECK (recv_state_apply (&st, &pass) == 0 && st.len == 6);
  recv_pieces_append (&pass, data (9 * K, 100, 7));
  CHECK (recv_state_apply (&st, &pass) == 0 && tiles (&st, 9 * K + 100) &&
         st.ptr[st.len - 1].hash[0] == 7);
  recv_pieces_reset (&pass);
  recv_pieces_reset (&again);
  recv_pieces_reset (&st);
}

int
main (void)
{
  test_fits ();
  test_apply_and_digest ();
  return TEST_DONE ();
}
