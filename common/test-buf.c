/* The bounds-checked reader must never read past its buffer, must zero
 * outputs on failure, and must stay failed once it failed.
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "test.h"

static void
test_integers (void)
{
  const uint8_t in[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13 };
  struct p2v_rbuf b;
  uint8_t u8;
  uint32_t u32;
  uint64_t u64;

  p2v_rbuf_init (&b, in, sizeof in);
  CHECK (p2v_get_u8 (&b, &u8) == 0 && u8 == 1);
  CHECK (p2v_get_u32 (&b, &u32) == 0 && u32 == 0x02030405);
  CHECK (p2v_get_u64 (&b, &u64) == 0 && u64 == 0x060708090a0b0c0dULL);
  CHECK (p2v_rbuf_done (&b) == 0);
  CHECK (p2v_get_u8 (&b, &u8) == -1 && u8 == 0);
  CHECK (p2v_rbuf_done (&b) == -1);
}

static void
test_underflow_is_sticky (void)
{
  const uint8_t in[] = { 0xff, 0xff, 0xff };
  struct p2v_rbuf b;
  uint32_t u32 = 99;
  uint8_t u8 = 99;

  p2v_rbuf_init (&b, in, sizeof in);
  CHECK (p2v_get_u32 (&b, &u32) == -1 && u32 == 0);
  /* Bytes remain, but a failed reader never yields them. */
  CHECK (p2v_get_u8 (&b, &u8) == -1 && u8 == 0);
  CHECK (p2v_rbuf_remaining (&b) == 0);
}

static void
test_strings (void)
{
  struct p2v_wbuf w = { 0 };
  struct p2v_rbuf b;
  char *s;
  const uint8_t huge[] = { 0xff, 0xff, 0xff, 0xf0, 'a' };
  const uint8_t nul[] = { 0, 0, 0, 3, 'a', 0, 'b' };

  p2v_put_string (&w, "hello");
  p2v_put_string (&w, "");
  p2v_rbuf_init (&b, w.p, w.len);
  CHECK (p2v_get_string (&b, &s, 16) == 0 && strcmp (s, "hello") == 0);
  free (s);
  CHECK (p2v_get_string (&b, &s, 16) == 0 && strcmp (s, "") == 0);
  free (s);
  CHECK (p2v_rbuf_done (&b) == 0);

  p2v_rbuf_init (&b, w.p, w.len);
  CHECK (p2v_get_string (&b, &s, 4) == -1 && s == NULL);   /* too long */
  p2v_rbuf_init (&b, huge, sizeof huge);
  CHECK (p2v_get_string (&b, &s, 1 << 30) == -1 && s == NULL);
  p2v_rbuf_init (&b, nul, sizeof nul);
  CHECK (p2v_get_string (&b, &s, 16) == -1 && s == NULL);  /* NUL inside */
  p2v_wbuf_free (&w);
}

static void
test_writer (void)
{
  struct p2v_wbuf w = { 0 };
  const uint8_t want[] = { 0xab, 0, 0, 0x12, 0x34, 0, 0, 0, 0, 0, 0, 0, 9 };

  p2v_put_u8 (&w, 0xab);
  p2v_put_u32 (&w, 0x1234);
  p2v_put_u64 (&w, 9);
  CHECK (!w.failed && w.len == sizeof want &&
         memcmp (w.p, want, sizeof want) == 0);
  p2v_wbuf_reset (&w);
  CHECK (w.len == 0);
  for (int i = 0; i < 100000; ++i)
    p2v_put_u32 (&w, i);
  CHECK (!w.failed && w.len == 400000);
  p2v_wbuf_free (&w);
}

int
main (void)
{
  test_integers ();
  test_underflow_is_sticky ();
  test_strings ();
  test_writer ();
  return TEST_DONE ();
}
