#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <xxhash.h>

#include "hash.h"
#include "buf.h"

struct p2v_digest {
  XXH3_state_t *st;
};

void
p2v_hash_chunk (const void *data, size_t len, uint8_t out[P2V_HASH_LEN])
{
  XXH128_canonical_t c;

  XXH128_canonicalFromHash (&c, XXH3_128bits (data, len));
  memcpy (out, c.digest, P2V_HASH_LEN);
}

struct p2v_digest *
p2v_digest_new (void)
{
  struct p2v_digest *d = malloc (sizeof *d);

  if (d == NULL)
    return NULL;
  d->st = XXH3_createState ();
  if (d->st == NULL) {
    free (d);
    return NULL;
  }
  XXH3_128bits_reset (d->st);
  return d;
}

void
p2v_digest_add (struct p2v_digest *d, const struct p2v_chunk *c)
{
  uint8_t rec[8 + 8 + 1 + P2V_HASH_LEN];

  p2v_be64 (rec, c->offset);
  p2v_be64 (rec + 8, c->length);
  rec[16] = c->kind;
  memcpy (rec + 17, c->hash, P2V_HASH_LEN);
  XXH3_128bits_update (d->st, rec, sizeof rec);
}

void
p2v_digest_final (struct p2v_digest *d, uint8_t out[P2V_HASH_LEN])
{
  XXH128_canonical_t c;

  XXH128_canonicalFromHash (&c, XXH3_128bits_digest (d->st));
  memcpy (out, c.digest, P2V_HASH_LEN);
}

void
p2v_digest_free (struct p2v_digest *d)
{
  if (d) {
    XXH3_freeState (d->st);
    free (d);
  }
}

void
p2v_hash_hex (const uint8_t h[P2V_HASH_LEN], char out[2 * P2V_HASH_LEN + 1])
{
  int i;

  for (i = 0; i < P2V_HASH_LEN; ++i)
    snprintf (out + 2 * i, 3, "%02x", h[i]);
}
