/* Unit tests for key=value records. */
#include <stdlib.h>
#include <string.h>

#include "kv.h"
#include "test.h"

int
main (void)
{
  struct p2v_kv kv = { 0 };
  char *buf = NULL;
  size_t len = 0;
  FILE *fp;

  /* Round trip of awkward values. */
  fp = open_memstream (&buf, &len);
  fputs ("go", fp);
  p2v_kv_put (fp, ' ', "msg", "50% done = a b\tc\nd");
  p2v_kv_put (fp, ' ', "empty", "");
  p2v_kv_putf (fp, ' ', "n", "%d", 42);
  p2v_kv_put (fp, ' ', "utf8", "d\xc3\xa9j\xc3\xa0");
  fclose (fp);
  CHECK (strchr (buf, '\n') == NULL && strchr (buf, '\t') == NULL);
  CHECK (p2v_kv_parse (&kv, buf) == 0);
  CHECK (kv.verb && strcmp (kv.verb, "go") == 0);
  CHECK (strcmp (p2v_kv_str (&kv, "msg", ""), "50% done = a b\tc\nd") == 0);
  CHECK (strcmp (p2v_kv_str (&kv, "empty", "x"), "") == 0);
  CHECK (p2v_kv_u64 (&kv, "n") == 42);
  CHECK (strcmp (p2v_kv_str (&kv, "utf8", ""), "d\xc3\xa9j\xc3\xa0") == 0);
  CHECK (p2v_kv_get (&kv, "missing") == NULL);
  CHECK (strcmp (p2v_kv_str (&kv, "missing", "def"), "def") == 0);
  p2v_kv_free (&kv);
  free (buf);

  /* A file's lines accumulate; a later value wins; no verb. */
  CHECK (p2v_kv_parse (&kv, "state=waiting\n") == 0);
  CHECK (p2v_kv_parse (&kv, "state=running  wire=7\n") == 0);
  CHECK (kv.verb == NULL);
  CHECK (strcmp (p2v_kv_get (&kv, "state"), "running") == 0);
  CHECK (p2v_kv_double (&kv, "wire") == 7);
  p2v_kv_free (&kv);

  /* Malformed: a second bare word, bad or NUL escapes, an empty key. */
  CHECK (p2v_kv_parse (&kv, "go now") == -1);
  p2v_kv_free (&kv);
  CHECK (p2v_kv_parse (&kv, "go a=%4") == -1);
  p2v_kv_free (&kv);
  CHECK (p2v_kv_parse (&kv, "a=%zz") == -1);
  p2v_kv_free (&kv);
  CHECK (p2v_kv_parse (&kv, "a=%00") == -1);
  p2v_kv_free (&kv);
  CHECK (p2v_kv_parse (&kv, "=v") == -1);
  p2v_kv_free (&kv);
  CHECK (p2v_kv_parse (&kv, "") == 0 && kv.verb == NULL && kv.pairs.len == 0);
  p2v_kv_free (&kv);
  return TEST_DONE ();
}
