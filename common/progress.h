/* Progress on long work: a bar with rate and ETA on a terminal's
 * stderr, a line every 10 s when stderr is a file or a pipe (logs, the
 * live image's consoles), or JSON-lines events on stdout for programs
 * driving us.
 */
#ifndef P2V_PROGRESS_H
#define P2V_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

enum p2v_progress_mode { P2V_PROGRESS_NONE, P2V_PROGRESS_TTY,
                         P2V_PROGRESS_LINES, P2V_PROGRESS_JSON };

struct p2v_progress {
  enum p2v_progress_mode mode;
  uint64_t total;               /* source bytes to process */
  uint64_t done;                /* source bytes processed */
  uint64_t wire;                /* bytes sent */
  bool no_wire;                 /* nothing is sent: no "wire" figure */
  uint64_t committed;           /* bytes durable on the current disk */
  double start, last;
  bool drawn;
  char activity[257];           /* the last activity logged, up to "(" */
};

/* Picks TTY when stderr is a terminal, else LINES, unless JSON is asked
 * for or quiet. */
void p2v_progress_init (struct p2v_progress *p, bool json, bool quiet,
                        uint64_t total);
/* Redraws at most a few times a second unless force. */
void p2v_progress_update (struct p2v_progress *p, bool force);
/* Clears the bar line so a message can be printed. */
void p2v_progress_clear (struct p2v_progress *p);
void p2v_progress_end (struct p2v_progress *p);
/* After the end, while waiting for another program: what it says it is
 * doing ("receiver", "running p2v-fixup (12 s)").  A status line on a
 * terminal; as lines, when the activity changes or every 10 s; as JSON,
 * a "receiver" event each time. */
void p2v_progress_activity (struct p2v_progress *p, const char *who,
                            const char *what);

#endif
