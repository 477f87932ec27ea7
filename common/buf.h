/* Bounds-checked buffers.  All parsing of bytes that came from the
 * network goes through struct p2v_rbuf: every getter fails cleanly
 * (returns -1 and zeroes its output) instead of reading past the end,
 * and once a getter fails all later ones fail too, so a parser may check
 * once at the end.  Integers on the wire are big-endian.
 */
#ifndef P2V_BUF_H
#define P2V_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct p2v_rbuf {
  const uint8_t *p;
  size_t len;
  size_t off;
  bool failed;
};

#define P2V_MAX_STRING 4096     /* longest string any message may carry */

void p2v_rbuf_init (struct p2v_rbuf *b, const void *p, size_t len);
int p2v_get_u8 (struct p2v_rbuf *b, uint8_t *v);
int p2v_get_u32 (struct p2v_rbuf *b, uint32_t *v);
int p2v_get_u64 (struct p2v_rbuf *b, uint64_t *v);
int p2v_get_bytes (struct p2v_rbuf *b, void *dst, size_t n);
/* Returns a pointer into the buffer without copying. */
int p2v_get_span (struct p2v_rbuf *b, const uint8_t **p, size_t n);
/* A u32 length then that many bytes, at most maxlen, with no NUL byte;
 * copied into a new NUL-terminated string the caller frees.
 */
int p2v_get_string (struct p2v_rbuf *b, char **s, size_t maxlen);
size_t p2v_rbuf_remaining (const struct p2v_rbuf *b);
/* 0 if everything parsed and nothing is left over, else -1. */
int p2v_rbuf_done (const struct p2v_rbuf *b);

/* Growable output buffer.  Errors are sticky: check p2v_wbuf_failed
 * once after building a message.
 */
struct p2v_wbuf {
  uint8_t *p;
  size_t len;
  size_t cap;
  bool failed;
};

int p2v_wbuf_reserve (struct p2v_wbuf *b, size_t n);
void p2v_put_u8 (struct p2v_wbuf *b, uint8_t v);
void p2v_put_u32 (struct p2v_wbuf *b, uint32_t v);
void p2v_put_u64 (struct p2v_wbuf *b, uint64_t v);
void p2v_put_bytes (struct p2v_wbuf *b, const void *p, size_t n);
void p2v_put_string (struct p2v_wbuf *b, const char *s);
void p2v_wbuf_reset (struct p2v_wbuf *b);   /* len = 0, keeps memory */
void p2v_wbuf_free (struct p2v_wbuf *b);

void p2v_be32 (uint8_t *p, uint32_t v);
void p2v_be64 (uint8_t *p, uint64_t v);

#endif
