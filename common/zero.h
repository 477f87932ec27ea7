#ifndef P2V_ZERO_H
#define P2V_ZERO_H

#include <stdbool.h>
#include <stddef.h>

bool p2v_is_zero (const void *buf, size_t len);

/* Length of the run starting at buf that is all zero (*zero = true) or
 * holds data (*zero = false), measured in whole blocks of blksize
 * (the last block may be short).
 */
size_t p2v_zero_run (const void *buf, size_t len, size_t blksize, bool *zero);

#endif
