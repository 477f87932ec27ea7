#include <stdio.h>
#include <stdarg.h>
#include <errno.h>
#include <string.h>

#include "log.h"

const char *p2v_program = "p2v";
int p2v_verbose;

static char last_error[1024];
static bool deferring;
static char deferred[4096];     /* lines; the first ones if more */
static size_t deferred_len;

static void __attribute__ ((format (printf, 2, 0)))
vlog (const char *level, const char *fmt, va_list ap)
{
  fprintf (stderr, "%s: %s", p2v_program, level);
  vfprintf (stderr, fmt, ap);
  fputc ('\n', stderr);
}

void
p2v_error (const char *fmt, ...)
{
  va_list ap;
  int saved = errno;   /* so "%m" in fmt names the caller's errno */

  va_start (ap, fmt);
  errno = saved;
  vsnprintf (last_error, sizeof last_error, fmt, ap);
  va_end (ap);
  if (deferring) {
    int n = snprintf (deferred + deferred_len,
                      sizeof deferred - deferred_len, "%s\n", last_error);

    if (n > 0 && (size_t) n < sizeof deferred - deferred_len)
      deferred_len += n;
  }
  else
    fprintf (stderr, "%s: error: %s\n", p2v_program, last_error);
  errno = saved;
}

void
p2v_defer_errors (void)
{
  deferring = true;
  deferred_len = 0;
}

void
p2v_drop_errors (void)
{
  deferring = false;
  deferred_len = 0;
}

void
p2v_flush_errors (bool as_warnings)
{
  char *line = deferred, *nl;

  deferring = false;
  deferred[deferred_len] = '\0';
  for (; (nl = strchr (line, '\n')) != NULL; line = nl + 1) {
    *nl = '\0';
    if (!as_warnings)
      fprintf (stderr, "%s: error: %s\n", p2v_program, line);
    else if (p2v_verbose >= 0)
      fprintf (stderr, "%s: warning: %s\n", p2v_program, line);
  }
  deferred_len = 0;
}

void
p2v_outcome (const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (last_error, sizeof last_error, fmt, ap);
  va_end (ap);
  if (p2v_verbose >= 0)
    fprintf (stderr, "%s: %s\n", p2v_program, last_error);
}

const char *
p2v_last_error (void)
{
  return last_error;
}

void
p2v_warning (const char *fmt, ...)
{
  va_list ap;

  if (p2v_verbose < 0)
    return;
  va_start (ap, fmt);
  vlog ("warning: ", fmt, ap);
  va_end (ap);
}

void
p2v_info (const char *fmt, ...)
{
  va_list ap;

  if (p2v_verbose < 0)
    return;
  va_start (ap, fmt);
  vlog ("", fmt, ap);
  va_end (ap);
}

void
p2v_debug (const char *fmt, ...)
{
  va_list ap;

  if (p2v_verbose < 1)
    return;
  va_start (ap, fmt);
  vlog ("debug: ", fmt, ap);
  va_end (ap);
}
