#include <zstd.h>
#include <zstd_errors.h>

#include "zframe.h"
#include "log.h"
#include "proto.h"

/* 2^26 = 64 MiB covers the largest chunk; nothing legitimate needs more. */
#define WINDOW_LOG_MAX 26

size_t
p2v_zframe_bound (size_t len)
{
  return ZSTD_compressBound (len);
}

void *
p2v_zframe_cctx_new (void)
{
  return ZSTD_createCCtx ();
}

void *
p2v_zframe_dctx_new (void)
{
  ZSTD_DCtx *d = ZSTD_createDCtx ();

  if (d && ZSTD_isError (ZSTD_DCtx_setParameter (d, ZSTD_d_windowLogMax,
                                                 WINDOW_LOG_MAX))) {
    ZSTD_freeDCtx (d);
    return NULL;
  }
  return d;
}

void
p2v_zframe_cctx_free (void *cctx)
{
  ZSTD_freeCCtx (cctx);
}

void
p2v_zframe_dctx_free (void *dctx)
{
  ZSTD_freeDCtx (dctx);
}

size_t
p2v_zframe_compress (void *cctx, void *dst, size_t cap,
                     const void *src, size_t len, int level)
{
  size_t r = ZSTD_compressCCtx (cctx, dst, cap, src, len, level);

  if (ZSTD_isError (r)) {
    p2v_error ("zstd compression failed: %s", ZSTD_getErrorName (r));
    return 0;
  }
  return r;
}

int
p2v_zframe_decompress (void *dctx, void *dst, size_t len,
                       const void *frame, size_t frame_len,
                       const char **why)
{
  unsigned long long declared = ZSTD_getFrameContentSize (frame, frame_len);
  size_t fsize, r;

  if (declared == ZSTD_CONTENTSIZE_ERROR) {
    *why = "not a zstd frame";
    return -1;
  }
  if (declared != len) {        /* also refuses frames without a size */
    *why = "frame content size differs from the chunk length";
    return -1;
  }
  fsize = ZSTD_findFrameCompressedSize (frame, frame_len);
  if (ZSTD_isError (fsize) || fsize != frame_len) {
    *why = "truncated frame or bytes after the frame";
    return -1;
  }
  r = ZSTD_decompressDCtx (dctx, dst, len, frame, frame_len);
  if (ZSTD_isError (r)) {
    *why = ZSTD_getErrorCode (r) == ZSTD_error_dstSize_tooSmall
           ? "frame expands beyond its declared length (a decompression "
             "bomb)" : ZSTD_getErrorName (r);
    return -1;
  }
  if (r != len) {
    *why = "frame decompressed to a different length";
    return -1;
  }
  return 0;
}
