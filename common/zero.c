#include <stdint.h>
#include <string.h>

#include "zero.h"

bool
p2v_is_zero (const void *buf, size_t len)
{
  const unsigned char *p = buf;

  /* The first 16 bytes byte by byte, then the buffer against itself:
   * memcmp is vectorised and this needs no zero page.
   */
  while (len > 0 && len % 16 != 0) {
    if (*p)
      return false;
    p++, len--;
  }
  if (len == 0)
    return true;
  for (size_t i = 0; i < 16; ++i)
    if (p[i])
      return false;
  return memcmp (p, p + 16, len - 16) == 0;
}

size_t
p2v_zero_run (const void *buf, size_t len, size_t blksize, bool *zero)
{
  const unsigned char *p = buf;
  size_t off = 0;

  if (len == 0) {
    *zero = true;
    return 0;
  }
  *zero = p2v_is_zero (p, len < blksize ? len : blksize);
  while (off < len) {
    size_t n = len - off < blksize ? len - off : blksize;

    if (p2v_is_zero (p + off, n) != *zero)
      break;
    off += n;
  }
  return off;
}
