/* Key=value records: the batch coordinator's spool files and the lines
 * it exchanges with receivers (docs/p2v-batch.pod, FILES and PROTOCOL).
 *
 * A record is one line of words separated by single spaces: an
 * optional bare first word (the verb), then key=value words.  Values
 * are percent-encoded: '%', space, '=', control bytes and DEL become
 * %XX, so a value may hold anything but a NUL byte.
 */
#ifndef P2V_KV_H
#define P2V_KV_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "vector.h"

struct p2v_kv_pair {
  char *key, *value;
};
DEFINE_VECTOR_TYPE (p2v_kv_pairs, struct p2v_kv_pair);

struct p2v_kv {
  char *verb;                   /* NULL if the line has none */
  struct p2v_kv_pairs pairs;
};

/* Add a line's words to kv (a file's lines accumulate); a bare word
 * after the first, or a bad %XX, is malformed: -1 with errno EINVAL.
 */
int p2v_kv_parse (struct p2v_kv *kv, const char *line);
/* Every line of the file name inside dirfd into kv: 0, or -1 with
 * errno.
 */
int p2v_kv_load_at (struct p2v_kv *kv, int dirfd, const char *name);
void p2v_kv_free (struct p2v_kv *kv);

/* The last value of key (a later line overrides), or NULL / def. */
const char *p2v_kv_get (const struct p2v_kv *kv, const char *key);
const char *p2v_kv_str (const struct p2v_kv *kv, const char *key,
                        const char *def);
uint64_t p2v_kv_u64 (const struct p2v_kv *kv, const char *key);
double p2v_kv_double (const struct p2v_kv *kv, const char *key);

/* Write " key=value" (sep ' ') or "key=value\n" (sep '\n'), the value
 * encoded.
 */
void p2v_kv_put (FILE *fp, char sep, const char *key, const char *value);
void p2v_kv_putf (FILE *fp, char sep, const char *key, const char *fmt, ...)
  __attribute__ ((format (printf, 4, 5)));

#endif
