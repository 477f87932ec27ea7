/* Key=value records (kv.h). */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "kv.h"

static bool
must_encode (unsigned char c)
{
  return c == '%' || c == ' ' || c == '=' || c < 0x20 || c == 0x7f;
}

static int
hexval (char c)
{
  return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
    : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Decode [s, s+n) into a new string; NULL with errno. */
static char *
decode (const char *s, size_t n)
{
  char *out = malloc (n + 1), *o = out;

  if (out == NULL)
    return NULL;
  for (size_t i = 0; i < n; ++i) {
    if (s[i] != '%') {
      *o++ = s[i];
      continue;
    }
    int hi = i + 2 < n ? hexval (s[i + 1]) : -1;
    int lo = hi >= 0 ? hexval (s[i + 2]) : -1;

    if (lo < 0 || (hi == 0 && lo == 0)) {
      free (out);
      errno = EINVAL;
      return NULL;
    }
    *o++ = (char) (hi << 4 | lo);
    i += 2;
  }
  *o = '\0';
  return out;
}

int
p2v_kv_parse (struct p2v_kv *kv, const char *line)
{
  const char *p = line;
  bool first = true;

  while (*p && *p != '\n') {
    size_t n = strcspn (p, " \n");
    const char *eq = memchr (p, '=', n);

    if (n == 0) {               /* runs of spaces */
      p++;
      continue;
    }
    if (eq == NULL) {
      if (!first || kv->verb) {
        errno = EINVAL;
        return -1;
      }
      if ((kv->verb = decode (p, n)) == NULL)
        return -1;
    }
    else {
      struct p2v_kv_pair pr = { decode (p, eq - p), NULL };

      if (pr.key == NULL || *pr.key == '\0' ||
          (pr.value = decode (eq + 1, p + n - eq - 1)) == NULL ||
          p2v_kv_pairs_append (&kv->pairs, pr) == -1) {
        free (pr.key);
        free (pr.value);
        errno = errno ? errno : EINVAL;
        return -1;
      }
    }
    first = false;
    p += n;
  }
  return 0;
}

int
p2v_kv_load_at (struct p2v_kv *kv, int dirfd, const char *name)
{
  int fd = openat (dirfd, name, O_RDONLY | O_CLOEXEC);
  FILE *fp = fd >= 0 ? fdopen (fd, "r") : NULL;
  char *line = NULL;
  size_t cap = 0;
  int r = 0;

  if (fp == NULL) {
    if (fd >= 0)
      close (fd);
    return -1;
  }
  while (r == 0 && getline (&line, &cap, fp) != -1)
    r = p2v_kv_parse (kv, line);
  free (line);
  fclose (fp);
  return r;
}

void
p2v_kv_free (struct p2v_kv *kv)
{
  for (size_t i = 0; i < kv->pairs.len; ++i) {
    free (kv->pairs.ptr[i].key);
    free (kv->pairs.ptr[i].value);
  }
  p2v_kv_pairs_reset (&kv->pairs);
  free (kv->verb);
  kv->verb = NULL;
}

const char *
p2v_kv_get (const struct p2v_kv *kv, const char *key)
{
  for (size_t i = kv->pairs.len; i-- > 0;)
    if (strcmp (kv->pairs.ptr[i].key, key) == 0)
      return kv->pairs.ptr[i].value;
  return NULL;
}

const char *
p2v_kv_str (const struct p2v_kv *kv, const char *key, const char *def)
{
  const char *v = p2v_kv_get (kv, key);

  return v ? v : def;
}

uint64_t
p2v_kv_u64 (const struct p2v_kv *kv, const char *key)
{
  const char *v = p2v_kv_get (kv, key);

  return v ? strtoull (v, NULL, 10) : 0;
}

double
p2v_kv_double (const struct p2v_kv *kv, const char *key)
{
  const char *v = p2v_kv_get (kv, key);

  return v ? strtod (v, NULL) : 0;
}

void
p2v_kv_put (FILE *fp, char sep, const char *key, const char *value)
{
  if (sep == ' ')
    fputc (' ', fp);
  fprintf (fp, "%s=", key);
  for (const unsigned char *p = (const unsigned char *) value; *p; ++p)
    if (must_encode (*p))
      fprintf (fp, "%%%02X", *p);
    else
      fputc (*p, fp);
  if (sep == '\n')
    fputc ('\n', fp);
}

void
p2v_kv_putf (FILE *fp, char sep, const char *key, const char *fmt, ...)
{
  va_list ap;
  char *v;

  va_start (ap, fmt);
  if (vasprintf (&v, fmt, ap) >= 0) {
    p2v_kv_put (fp, sep, key, v);
    free (v);
  }
  va_end (ap);
}
