#include <stdint.h>
#include "vector.h"

/* Make room for n more elements after len, growing geometrically. */
int
p2v_vector_reserve (void **ptr, size_t *cap, size_t len, size_t n,
                    size_t elemsize)
{
  size_t want, newcap;
  void *p;

  if (n > SIZE_MAX / elemsize - len) {
    errno = ENOMEM;
    return -1;
  }
  want = len + n;
  if (want <= *cap)
    return 0;
  newcap = *cap ? *cap : 16;
  while (newcap < want)
    newcap = newcap > SIZE_MAX / 2 ? want : newcap * 2;
  if (newcap > SIZE_MAX / elemsize) {
    errno = ENOMEM;
    return -1;
  }
  p = realloc (*ptr, newcap * elemsize);
  if (p == NULL)
    return -1;
  *ptr = p;
  *cap = newcap;
  return 0;
}
