/* The unit tests' samples: fixup/samples/NAME+EXT as a string (NULL if
 * there is none).  FIXUP_SAMPLES is the directory (the Makefile).
 */
#ifndef P2V_FIXUP_SAMPLES_H
#define P2V_FIXUP_SAMPLES_H

#include <stdio.h>
#include <stdlib.h>

static inline char *
slurp (const char *name, const char *ext)
{
  char path[512];
  FILE *fp;
  char *buf;
  long n;

  snprintf (path, sizeof path, "%s/%s%s", FIXUP_SAMPLES, name, ext);
  if ((fp = fopen (path, "r")) == NULL)
    return NULL;
  fseek (fp, 0, SEEK_END);
  n = ftell (fp);
  rewind (fp);
  buf = calloc (1, n + 1);
  if (buf && fread (buf, 1, n, fp) != (size_t) n) {
    free (buf);
    buf = NULL;
  }
  fclose (fp);
  return buf;
}

#endif
