#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>

#include "options.h"
#include "log.h"

void
p2v_options_getopt (const struct p2v_option *t, size_t n,
                    struct option *longopts, char *shortopts)
{
  size_t i;

  for (i = 0; i < n; ++i) {
    longopts[i] = (struct option) { t[i].name, t[i].has_arg, NULL, t[i].val };
    if (t[i].val < 256) {
      *shortopts++ = (char) t[i].val;
      if (t[i].has_arg)
        *shortopts++ = ':';
    }
  }
  longopts[n] = (struct option) { 0 };
  *shortopts = '\0';
}

void
p2v_options_help (FILE *fp, const struct p2v_option *t, size_t n)
{
  size_t i;

  for (i = 0; i < n; ++i) {
    char left[64];
    int off = 0;

    if (t[i].val < 256)
      off = snprintf (left, sizeof left, "-%c, ", t[i].val);
    snprintf (left + off, sizeof left - off, "--%s%s%s", t[i].name,
              t[i].argname ? " " : "", t[i].argname ? t[i].argname : "");
    fprintf (fp, "  %-28s %s\n", left, t[i].help);
  }
}

static int
parse_scaled (const char *opt, const char *s, long long min, long long max,
              long long *out, bool allow_suffix)
{
  char *end;
  long long v, mult = 1;

  errno = 0;
  v = strtoll (s, &end, 10);
  if (allow_suffix && end != s && *end && !end[1]) {
    switch (toupper ((unsigned char) *end)) {
    case 'K': mult = 1LL << 10; end++; break;
    case 'M': mult = 1LL << 20; end++; break;
    case 'G': mult = 1LL << 30; end++; break;
    }
  }
  if (errno || end == s || *end || v > max / mult || v * mult < min ||
      v * mult > max) {
    p2v_error ("%s: '%s' is not a number between %lld and %lld", opt, s,
               min, max);
    return -1;
  }
  *out = v * mult;
  return 0;
}

int
p2v_parse_int (const char *opt, const char *s, long long min, long long max,
               long long *out)
{
  return parse_scaled (opt, s, min, max, out, false);
}

int
p2v_parse_size (const char *opt, const char *s, long long min,
                long long max, long long *out)
{
  return parse_scaled (opt, s, min, max, out, true);
}
