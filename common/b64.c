#include "b64.h"

void
p2v_base64_nopad (const unsigned char *in, size_t len, char *out)
{
  static const char tbl[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t i;

  for (i = 0; i + 2 < len; i += 3) {
    *out++ = tbl[in[i] >> 2];
    *out++ = tbl[(in[i] & 3) << 4 | in[i + 1] >> 4];
    *out++ = tbl[(in[i + 1] & 15) << 2 | in[i + 2] >> 6];
    *out++ = tbl[in[i + 2] & 63];
  }
  if (i < len) {
    *out++ = tbl[in[i] >> 2];
    if (i + 1 < len) {
      *out++ = tbl[(in[i] & 3) << 4 | in[i + 1] >> 4];
      *out++ = tbl[(in[i + 1] & 15) << 2];
    }
    else
      *out++ = tbl[(in[i] & 3) << 4];
  }
  *out = '\0';
}
