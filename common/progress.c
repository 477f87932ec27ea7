#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <inttypes.h>

#include "progress.h"
#include "fileio.h"
#include "json.h"
#include "log.h"

void
p2v_progress_init (struct p2v_progress *p, bool json, bool quiet,
                   uint64_t total)
{
  p->mode = json ? P2V_PROGRESS_JSON
            : quiet ? P2V_PROGRESS_NONE
            : isatty (2) ? P2V_PROGRESS_TTY
            : P2V_PROGRESS_LINES;
  p->total = total;
  p->done = p->wire = p->committed = 0;
  p->start = p->last = p2v_now ();
  p->drawn = false;
  p->activity[0] = '\0';
}

/* "34% 1.2 GiB / 3.5 GiB  wire 300 MiB  40 MiB/s  ETA 0:01:00" */
static void
draw (struct p2v_progress *p, double elapsed, const char *start,
      const char *end)
{
  char done[32], total[32], wire[32], rate[32], eta[32] = "--:--";
  double bps = elapsed > 0 ? p->done / elapsed : 0;
  int pct = p->total ? (int) (100.0 * p->done / p->total) : 100;

  if (bps > 0 && p->done < p->total) {
    uint64_t s = (uint64_t) ((p->total - p->done) / bps);
    snprintf (eta, sizeof eta, "%" PRIu64 ":%02" PRIu64 ":%02" PRIu64,
              s / 3600, s / 60 % 60, s % 60);
  }
  p2v_human_size (p->done, done, sizeof done);
  p2v_human_size (p->total, total, sizeof total);
  p2v_human_size (p->wire, wire, sizeof wire);
  p2v_human_size ((uint64_t) bps, rate, sizeof rate);
  fprintf (stderr, "%s%3d%% %s / %s  %s%s%s%s/s  ETA %s%s",
           start, pct, done, total, p->no_wire ? "" : "wire ",
           p->no_wire ? "" : wire, p->no_wire ? "" : "  ", rate, eta, end);
}

void
p2v_progress_update (struct p2v_progress *p, bool force)
{
  double now = p2v_now ();

  if (p->mode == P2V_PROGRESS_NONE ||
      (!force && now - p->last < (p->mode == P2V_PROGRESS_LINES ? 10 : 0.25)))
    return;
  p->last = now;
  if (p->mode == P2V_PROGRESS_TTY) {
    draw (p, now - p->start, "\r\033[K", "");
    p->drawn = true;
  } else if (p->mode == P2V_PROGRESS_LINES) {
    if (!force) {               /* the summary follows the end */
      fprintf (stderr, "%s: ", p2v_program);
      draw (p, now - p->start, "", "\n");
    }
  } else {
    printf ("{\"event\":\"progress\",\"done\":%" PRIu64 ",\"total\":%"
            PRIu64 ",\"wire_bytes\":%" PRIu64 ",\"committed\":%" PRIu64
            ",\"seconds\":%.3f}\n", p->done, p->total, p->wire,
            p->committed, now - p->start);
    fflush (stdout);
  }
}

void
p2v_progress_clear (struct p2v_progress *p)
{
  if (p->mode == P2V_PROGRESS_TTY && p->drawn) {
    fputs ("\r\033[K", stderr);
    p->drawn = false;
  }
}

void
p2v_progress_end (struct p2v_progress *p)
{
  p2v_progress_update (p, true);
  if (p->mode == P2V_PROGRESS_TTY && p->drawn) {
    fputc ('\n', stderr);
    p->drawn = false;
  }
}

void
p2v_progress_activity (struct p2v_progress *p, const char *who,
                       const char *what)
{
  double now = p2v_now ();
  size_t stem = strcspn (what, "(");

  switch (p->mode) {
  case P2V_PROGRESS_NONE:
    return;
  case P2V_PROGRESS_TTY:
    if (now - p->last < 0.25)
      return;
    fprintf (stderr, "\r\033[K%s is %s", who, what);
    p->drawn = true;
    break;
  case P2V_PROGRESS_LINES:
    if (now - p->last < 10 && strlen (p->activity) == stem &&
        strncmp (p->activity, what, stem) == 0)
      return;
    fprintf (stderr, "%s: %s is %s\n", p2v_program, who, what);
    snprintf (p->activity, sizeof p->activity, "%.*s", (int) stem, what);
    break;
  case P2V_PROGRESS_JSON:
    printf ("{\"event\":\"%s\",\"activity\":", who);
    p2v_json_string (stdout, what);
    printf (",\"seconds\":%.3f}\n", now - p->start);
    fflush (stdout);
    break;
  }
  p->last = now;
}
