/* A disk's state after hot clone's passes (state.c): pieces in offset
 * order that tile the disk.
 */
#ifndef P2V_STATE_H
#define P2V_STATE_H

#include <stdbool.h>
#include <stdint.h>

#include "proto.h"
#include "vector.h"

struct recv_journal;

struct recv_piece {
  uint64_t offset, length;
  uint8_t kind;                 /* P2V_CHUNK_DATA or P2V_CHUNK_ZERO */
  uint8_t hash[P2V_HASH_LEN];   /* DATA: the chunk hash */
};
DEFINE_VECTOR_TYPE (recv_pieces, struct recv_piece);
/* Whether a pass chunk [off, off+len) replaces whole DATA pieces and
 * parts of ZERO pieces only.
 */
bool recv_state_fits (const struct recv_pieces *st, uint64_t off,
                      uint64_t len);
/* Apply a pass's chunks (sorted, not overlapping, each fitting). */
int recv_state_apply (struct recv_pieces *st, const struct recv_pieces *pass);
/* Section 8's digest over the pieces, adjacent ZERO pieces as one. */
int recv_state_digest (const struct recv_pieces *st,
                       uint8_t out[P2V_HASH_LEN]);
/* The state a journal records: its chunks, with the pass chunks
 * applied (a pass begins where a chunk overlaps the pass before);
 * passes gets the number of passes, 1 for a plain conversion.  -1 if
 * out of memory or a pass chunk does not fit (a damaged journal).
 */
int recv_state_load (struct recv_journal *j, struct recv_pieces *st,
                     uint32_t *passes);

#endif
