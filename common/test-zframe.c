/* Decompression accepts exactly one frame of exactly the declared
 * length, so a hostile frame can neither overflow nor "bomb".
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "zframe.h"
#include "test.h"

int
main (void)
{
  enum { LEN = 1 << 20 };
  uint8_t *src = malloc (LEN), *dst = malloc (LEN), *frame, *two;
  void *c = p2v_zframe_cctx_new (), *d = p2v_zframe_dctx_new ();
  size_t bound = p2v_zframe_bound (LEN), n;
  const char *why;

  for (size_t i = 0; i < LEN; ++i)
    src[i] = (uint8_t) (i * 7 / 13);
  frame = malloc (bound);
  n = p2v_zframe_compress (c, frame, bound, src, LEN, 3);
  CHECK (n > 0 && n < LEN);
  CHECK (p2v_zframe_decompress (d, dst, LEN, frame, n, &why) == 0);
  CHECK (memcmp (src, dst, LEN) == 0);

  /* Declared length differs from the chunk length (both ways). */
  CHECK (p2v_zframe_decompress (d, dst, LEN - 1, frame, n, &why) == -1);
  CHECK (p2v_zframe_decompress (d, dst, 4096, frame, n, &why) == -1);
  /* Truncated frame, trailing bytes, a second frame, garbage. */
  CHECK (p2v_zframe_decompress (d, dst, LEN, frame, n - 1, &why) == -1);
  two = malloc (2 * n);
  memcpy (two, frame, n);
  memcpy (two + n, frame, n);
  CHECK (p2v_zframe_decompress (d, dst, LEN, two, n + 1, &why) == -1);
  CHECK (p2v_zframe_decompress (d, dst, LEN, two, 2 * n, &why) == -1);
  memset (two, 0x55, n);
  CHECK (p2v_zframe_decompress (d, dst, LEN, two, n, &why) == -1);
  /* Corrupted body: zstd's own checks or the length check catch it. */
  memcpy (two, frame, n);
  two[n / 2] ^= 0xff;
  if (p2v_zframe_decompress (d, dst, LEN, two, n, &why) == 0)
    CHECK (memcmp (src, dst, LEN) != 0);   /* caught by the chunk hash */

  /* A frame without a declared size is refused. */
  ZSTD_CCtx *z = ZSTD_createCCtx ();
  ZSTD_CCtx_setParameter (z, ZSTD_c_contentSizeFlag, 0);
  n = ZSTD_compress2 (z, frame, bound, src, LEN);
  CHECK (!ZSTD_isError (n));
  CHECK (p2v_zframe_decompress (d, dst, LEN, frame, n, &why) == -1);
  ZSTD_freeCCtx (z);

  p2v_zframe_cctx_free (c);
  p2v_zframe_dctx_free (d);
  free (src); free (dst); free (frame); free (two);
  return TEST_DONE ();
}
