/* Zero detection, zero runs, and base64 for SSH fingerprints. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "zero.h"
#include "test.h"

static void
test_is_zero (void)
{
  uint8_t buf[8192] = { 0 };

  CHECK (p2v_is_zero (buf, 0));
  for (size_t len = 1; len <= 70; ++len)
    for (size_t pos = 0; pos < len; ++pos) {
      CHECK (p2v_is_zero (buf, len));
      buf[pos] = 1;
      CHECK (!p2v_is_zero (buf, len));
      buf[pos] = 0;
    }
  buf[8191] = 0x80;
  CHECK (!p2v_is_zero (buf, sizeof buf));
  CHECK (p2v_is_zero (buf, 8191));
}

static void
test_runs (void)
{
  uint8_t buf[5 * 4096 + 100] = { 0 };
  bool zero;

  buf[2 * 4096 + 5] = 1;             /* blocks: Z Z D Z Z short-Z */
  CHECK (p2v_zero_run (buf, sizeof buf, 4096, &zero) == 2 * 4096 && zero);
  CHECK (p2v_zero_run (buf + 8192, sizeof buf - 8192, 4096, &zero) == 4096
         && !zero);
  CHECK (p2v_zero_run (buf + 12288, sizeof buf - 12288, 4096, &zero)
         == sizeof buf - 12288 && zero);
  buf[sizeof buf - 1] = 1;            /* the short tail block holds data */
  CHECK (p2v_zero_run (buf + 12288, sizeof buf - 12288, 4096, &zero)
         == 2 * 4096 && zero);
  CHECK (p2v_zero_run (buf, 0, 4096, &zero) == 0);
}

static void
test_base64 (void)
{
  char out[64];

  /* RFC 4648 test vectors, padding removed. */
  p2v_base64_nopad ((const unsigned char *) "", 0, out);
  CHECK (strcmp (out, "") == 0);
  p2v_base64_nopad ((const unsigned char *) "f", 1, out);
  CHECK (strcmp (out, "Zg") == 0);
  p2v_base64_nopad ((const unsigned char *) "fo", 2, out);
  CHECK (strcmp (out, "Zm8") == 0);
  p2v_base64_nopad ((const unsigned char *) "foo", 3, out);
  CHECK (strcmp (out, "Zm9v") == 0);
  p2v_base64_nopad ((const unsigned char *) "foobar", 6, out);
  CHECK (strcmp (out, "Zm9vYmFy") == 0);
  p2v_base64_nopad ((const unsigned char *) "\xff\xfe", 2, out);
  CHECK (strcmp (out, "//4") == 0);
}

int
main (void)
{
  test_is_zero ();
  test_runs ();
  test_base64 ();
  return TEST_DONE ();
}
