/* A small generic growable array, so callers never hand-write realloc
 * loops.  DEFINE_VECTOR_TYPE (name, type) defines struct name with
 * ptr/len/cap and name_append / name_reserve / name_reset.
 */
#ifndef P2V_VECTOR_H
#define P2V_VECTOR_H

#include <stdlib.h>
#include <string.h>
#include <errno.h>

int p2v_vector_reserve (void **ptr, size_t *cap, size_t len, size_t n,
                        size_t elemsize);

#define DEFINE_VECTOR_TYPE(name, type)                                  \
  struct name { type *ptr; size_t len; size_t cap; };                  \
  static inline int __attribute__ ((unused))                            \
  name##_reserve (struct name *v, size_t n)                             \
  {                                                                     \
    return p2v_vector_reserve ((void **) &v->ptr, &v->cap, v->len, n,   \
                               sizeof (type));                          \
  }                                                                     \
  static inline int __attribute__ ((unused))                            \
  name##_append (struct name *v, type elem)                             \
  {                                                                     \
    if (name##_reserve (v, 1) == -1)                                    \
      return -1;                                                        \
    v->ptr[v->len++] = elem;                                            \
    return 0;                                                           \
  }                                                                     \
  static inline void __attribute__ ((unused))                           \
  name##_reset (struct name *v)                                         \
  {                                                                     \
    free (v->ptr);                                                      \
    v->ptr = NULL;                                                      \
    v->len = v->cap = 0;                                                \
  }

#endif
