/* One table per program drives getopt_long and --help, so the two never
 * disagree; tests/test-docs-options.sh checks the man pages against
 * --help.
 */
#ifndef P2V_OPTIONS_H
#define P2V_OPTIONS_H

#include <getopt.h>
#include <stdio.h>

struct p2v_option {
  const char *name;
  int has_arg;                  /* no_argument / required_argument */
  int val;                      /* short option char or a code >= 256 */
  const char *argname;          /* "DIR" etc., or NULL */
  const char *help;
};

/* Fills longopts (n + 1 entries, zero-terminated) and shortopts
 * (at least 2 * n + 1 bytes).
 */
void p2v_options_getopt (const struct p2v_option *t, size_t n,
                         struct option *longopts, char *shortopts);
void p2v_options_help (FILE *fp, const struct p2v_option *t, size_t n);

/* Parse a decimal option value into [min, max]; -1 with message. */
int p2v_parse_int (const char *opt, const char *s, long long min,
                   long long max, long long *out);
/* Accepts a K/M/G suffix (powers of 1024). */
int p2v_parse_size (const char *opt, const char *s, long long min,
                    long long max, long long *out);

#endif
