/* Logging to stderr, prefixed with the program name.  Errors are
 * reported once, where they happen; callers then return -1.
 */
#ifndef P2V_LOG_H
#define P2V_LOG_H

#include <stdbool.h>

extern const char *p2v_program;
extern int p2v_verbose;         /* -1 quiet, 0 normal, 1+ debug */

void p2v_error (const char *fmt, ...)
  __attribute__ ((format (printf, 1, 2)));
void p2v_warning (const char *fmt, ...)
  __attribute__ ((format (printf, 1, 2)));
void p2v_info (const char *fmt, ...)
  __attribute__ ((format (printf, 1, 2)));
void p2v_debug (const char *fmt, ...)
  __attribute__ ((format (printf, 1, 2)));

/* An outcome that ends the work but is no failure (nothing left to
 * do): printed like p2v_info, and kept as p2v_last_error () so that
 * the caller can pass it on to its peer.
 */
void p2v_outcome (const char *fmt, ...)
  __attribute__ ((format (printf, 1, 2)));

/* Between p2v_defer_errors () and p2v_flush_errors, errors are
 * kept (in order) instead of printed: for a failure whose caller
 * decides afterwards whether it is one (a lost link that will be
 * reconnected is a warning).  p2v_flush_errors prints them, as errors
 * or as warnings, and stops deferring.
 */
void p2v_defer_errors (void);
void p2v_flush_errors (bool as_warnings);
/* Stop deferring and forget those errors (the caller reports them in
 * its own words; p2v_last_error () is still the last one).
 */
void p2v_drop_errors (void);

/* The most recent error message, for callers that pass it on. */
const char *p2v_last_error (void);

#endif
