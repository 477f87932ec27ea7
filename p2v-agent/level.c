/* Adaptive compression level: follow whichever is the bottleneck.
 *
 * The sender measures, per window of about half a second, how long it
 * sat blocked on the network (the transport would not take more bytes)
 * and how long it sat waiting for the compression workers.  Waiting on
 * the network means CPU is to spare: compress harder and send fewer
 * bytes.  Waiting on the workers means the CPU is the bottleneck:
 * compress less.  One step per window, within --min-level and
 * --max-level, so the level settles instead of oscillating wildly.
 */
#include "agent.h"
#include "fileio.h"
#include "level.h"
#include "log.h"

#define WINDOW 0.5              /* seconds */
#define DOMINANT 0.15           /* share of a window that decides */

void
agent_level_init (struct agent_level *l, const struct agent_options *o)
{
  *l = (struct agent_level) {
    .cur = o->level, .min = o->min_level, .max = o->max_level,
    .adaptive = o->adaptive, .start = p2v_now (),
  };
}

int
agent_level_update (struct agent_level *l, double net_wait, double cpu_wait)
{
  double now = p2v_now (), span = now - l->start;

  l->net_wait += net_wait;
  l->cpu_wait += cpu_wait;
  if (!l->adaptive || span < WINDOW)
    return l->cur;
  if (l->net_wait > DOMINANT * span && l->net_wait > 2 * l->cpu_wait &&
      l->cur < l->max)
    l->cur++;
  else if (l->cpu_wait > DOMINANT * span && l->cpu_wait > 2 * l->net_wait &&
           l->cur > l->min)
    l->cur--;
  p2v_debug ("level %d (window %.2f s: waited %.2f s on the network, "
             "%.2f s on compression)", l->cur, span, l->net_wait,
             l->cpu_wait);
  l->start = now;
  l->net_wait = l->cpu_wait = 0;
  return l->cur;
}
