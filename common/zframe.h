/* One independent zstd frame per data chunk. */
#ifndef P2V_ZFRAME_H
#define P2V_ZFRAME_H

#include <stddef.h>
#include <stdint.h>

size_t p2v_zframe_bound (size_t len);

/* Compress src into dst (capacity from p2v_zframe_bound); returns the
 * frame length or 0 with an error reported.
 */
size_t p2v_zframe_compress (void *cctx, void *dst, size_t cap,
                            const void *src, size_t len, int level);

/* Decompress one frame that must hold exactly len bytes: a frame that
 * declares or yields any other size, holds trailing bytes, or would
 * need a larger window is refused, so a hostile frame cannot expand
 * past the buffer the caller sized from the chunk header.
 * Returns 0, or -1 with a reason in *why.
 */
int p2v_zframe_decompress (void *dctx, void *dst, size_t len,
                           const void *frame, size_t frame_len,
                           const char **why);

void *p2v_zframe_cctx_new (void);
void *p2v_zframe_dctx_new (void);
void p2v_zframe_cctx_free (void *cctx);
void p2v_zframe_dctx_free (void *dctx);

#endif
