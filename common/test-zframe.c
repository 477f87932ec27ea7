/* Decompression accepts exactly one frame of exactly the declared
 * length, so a hostile frame can neither overflow nor "bomb".
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "zframe.h"
#include "test.h"

/* Rewrite a frame header's content size field in place (RFC 8878
 * 3.1.1.1): keep its width, change its value.
 */
static int
patch_content_size (uint8_t *f, size_t n, uint64_t size)
{
  uint8_t fhd = f[4];
  unsigned fcs_flag = fhd >> 6, single = (fhd >> 5) & 1, did = fhd & 3;
  static const unsigned did_len[] = { 0, 1, 2, 4 };
  size_t at = 5 + !single + did_len[did];
  unsigned width = fcs_flag == 0 ? single : fcs_flag == 1 ? 2
                   : fcs_flag == 2 ? 4 : 8;

  if (width < 2 || at + width > n)
    return -1;
  if (width == 2)
    size -= 256;
  for (unsigned i = 0; i < width; ++i)
    f[at + i] = (uint8_t) (size >> (8 * i));
  return 0;
}

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
  /* A bomb: a frame that declares LEN but expands to twice that. */
  uint8_t *zeros = calloc (2, LEN);
  ZSTD_CCtx_reset (z, ZSTD_reset_session_and_parameters);
  ZSTD_CCtx_setParameter (z, ZSTD_c_contentSizeFlag, 1);
  n = ZSTD_compress2 (z, frame, bound, zeros, 2 * LEN);
  CHECK (!ZSTD_isError (n) && n < 100);
  CHECK (patch_content_size (frame, n, LEN) == 0);
  CHECK (ZSTD_getFrameContentSize (frame, n) == LEN);
  CHECK (p2v_zframe_decompress (d, dst, LEN, frame, n, &why) == -1);
  free (zeros);
  ZSTD_freeCCtx (z);

  p2v_zframe_cctx_free (c);
  p2v_zframe_dctx_free (d);
  free (src); free (dst); free (frame); free (two);
  return TEST_DONE ();
}
