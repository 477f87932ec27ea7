/* Chunk hashes and the whole-disk digest (XXH3-128 via libxxhash).
 *
 * The disk digest is a hash over the ordered list of chunks, each as
 * (offset u64, length u64, kind u8, chunk hash).  Since each chunk hash
 * covers its data and the chunks must tile the disk, this covers every
 * byte, yet a receiver can recompute it from a journal of chunk records
 * without re-reading the image.
 */
#ifndef P2V_HASH_H
#define P2V_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

struct p2v_digest;

void p2v_hash_chunk (const void *data, size_t len, uint8_t out[P2V_HASH_LEN]);

struct p2v_digest *p2v_digest_new (void);
void p2v_digest_add (struct p2v_digest *d, const struct p2v_chunk *c);
void p2v_digest_final (struct p2v_digest *d, uint8_t out[P2V_HASH_LEN]);
void p2v_digest_free (struct p2v_digest *d);

/* Lower-case hex, 2*P2V_HASH_LEN chars + NUL. */
void p2v_hash_hex (const uint8_t h[P2V_HASH_LEN],
                   char out[2 * P2V_HASH_LEN + 1]);

#endif
