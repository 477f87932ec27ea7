/* count-nonzero FILE: bytes in 4 KiB blocks that are not all zero.  The
 * tests compare this with what the receiver allocated.
 */
#include <stdio.h>
#include <string.h>

int
main (int argc, char *argv[])
{
  static unsigned char buf[4096], zero[4096];
  unsigned long long total = 0;
  size_t n;
  FILE *fp;

  if (argc != 2 || (fp = fopen (argv[1], "rb")) == NULL) {
    perror (argc == 2 ? argv[1] : "usage: count-nonzero FILE");
    return 1;
  }
  while ((n = fread (buf, 1, sizeof buf, fp)) > 0)
    if (memcmp (buf, zero, n) != 0)
      total += n;
  if (ferror (fp)) {
    perror (argv[1]);
    return 1;
  }
  printf ("%llu\n", total);
  return 0;
}
