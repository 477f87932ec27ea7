#include <stdlib.h>
#include <string.h>
#include <errno.h>

#include "buf.h"
#include "vector.h"

void
p2v_rbuf_init (struct p2v_rbuf *b, const void *p, size_t len)
{
  b->p = p;
  b->len = len;
  b->off = 0;
  b->failed = false;
}

size_t
p2v_rbuf_remaining (const struct p2v_rbuf *b)
{
  return b->failed ? 0 : b->len - b->off;
}

int
p2v_get_span (struct p2v_rbuf *b, const uint8_t **p, size_t n)
{
  if (b->failed || n > b->len - b->off) {
    b->failed = true;
    *p = NULL;
    return -1;
  }
  *p = b->p + b->off;
  b->off += n;
  return 0;
}

int
p2v_get_bytes (struct p2v_rbuf *b, void *dst, size_t n)
{
  const uint8_t *p;

  if (p2v_get_span (b, &p, n) == -1) {
    memset (dst, 0, n);
    return -1;
  }
  memcpy (dst, p, n);
  return 0;
}

int
p2v_get_u8 (struct p2v_rbuf *b, uint8_t *v)
{
  return p2v_get_bytes (b, v, 1);
}

int
p2v_get_u32 (struct p2v_rbuf *b, uint32_t *v)
{
  uint8_t x[4];

  *v = 0;
  if (p2v_get_bytes (b, x, 4) == -1)
    return -1;
  *v = (uint32_t) x[0] << 24 | (uint32_t) x[1] << 16 |
       (uint32_t) x[2] << 8 | x[3];
  return 0;
}

int
p2v_get_u64 (struct p2v_rbuf *b, uint64_t *v)
{
  uint32_t hi, lo;

  *v = 0;
  if (p2v_get_u32 (b, &hi) == -1 || p2v_get_u32 (b, &lo) == -1)
    return -1;
  *v = (uint64_t) hi << 32 | lo;
  return 0;
}

int
p2v_get_string (struct p2v_rbuf *b, char **s, size_t maxlen)
{
  uint32_t n;
  const uint8_t *p;

  *s = NULL;
  if (p2v_get_u32 (b, &n) == -1)
    return -1;
  if (n > maxlen || p2v_get_span (b, &p, n) == -1 ||
      memchr (p, 0, n) != NULL) {
    b->failed = true;
    return -1;
  }
  *s = malloc (n + 1);
  if (*s == NULL) {
    b->failed = true;
    return -1;
  }
  memcpy (*s, p, n);
  (*s)[n] = '\0';
  return 0;
}

int
p2v_rbuf_done (const struct p2v_rbuf *b)
{
  return b->failed || b->off != b->len ? -1 : 0;
}

int
p2v_wbuf_reserve (struct p2v_wbuf *b, size_t n)
{
  if (b->failed)
    return -1;
  if (p2v_vector_reserve ((void **) &b->p, &b->cap, b->len, n, 1) == -1) {
    b->failed = true;
    return -1;
  }
  return 0;
}

void
p2v_put_bytes (struct p2v_wbuf *b, const void *p, size_t n)
{
  if (n == 0 || p2v_wbuf_reserve (b, n) == -1)
    return;
  memcpy (b->p + b->len, p, n);
  b->len += n;
}

void
p2v_be32 (uint8_t *p, uint32_t v)
{
  p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v;
}

void
p2v_be64 (uint8_t *p, uint64_t v)
{
  p2v_be32 (p, v >> 32);
  p2v_be32 (p + 4, (uint32_t) v);
}

void
p2v_put_u8 (struct p2v_wbuf *b, uint8_t v)
{
  p2v_put_bytes (b, &v, 1);
}

void
p2v_put_u32 (struct p2v_wbuf *b, uint32_t v)
{
  uint8_t x[4];

  p2v_be32 (x, v);
  p2v_put_bytes (b, x, 4);
}

void
p2v_put_u64 (struct p2v_wbuf *b, uint64_t v)
{
  uint8_t x[8];

  p2v_be64 (x, v);
  p2v_put_bytes (b, x, 8);
}

void
p2v_put_string (struct p2v_wbuf *b, const char *s)
{
  size_t n = s ? strlen (s) : 0;

  if (n > P2V_MAX_STRING)
    n = P2V_MAX_STRING;         /* never emit what a peer must refuse */
  p2v_put_u32 (b, (uint32_t) n);
  p2v_put_bytes (b, s, n);
}

void
p2v_wbuf_reset (struct p2v_wbuf *b)
{
  b->len = 0;
  b->failed = false;
}

void
p2v_wbuf_free (struct p2v_wbuf *b)
{
  free (b->p);
  b->p = NULL;
  b->len = b->cap = 0;
  b->failed = false;
}
