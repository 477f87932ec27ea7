#ifndef P2V_B64_H
#define P2V_B64_H

#include <stddef.h>

/* Base64 without '=' padding, as OpenSSH prints SHA256 fingerprints.
 * out must hold 4 * ((len + 2) / 3) + 1 bytes.
 */
void p2v_base64_nopad (const unsigned char *in, size_t len, char *out);

#endif
