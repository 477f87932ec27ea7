/* The dirty map and the parser of tracefs block event lines (lines as
 * a 6.18 kernel printed them for writes to an ext4 on /dev/loop0).
 */
#include <string.h>

#include "test.h"
#include "tracker.h"

static void
test_parse (void)
{
  struct agent_trace_event ev;

  CHECK (agent_trace_parse ("              dd-25649   [001] ..... 51157.154510: "
                            "block_bio_queue: 7,0 WS 32770 + 384 [dd]", &ev));
  CHECK (ev.major == 7 && ev.minor == 0 && strcmp (ev.rwbs, "WS") == 0 &&
         ev.sector == 32770 && ev.nr == 384 && agent_trace_changes (&ev));
  CHECK (agent_trace_parse ("     ksoftirqd/1-22      [001] ..s.. 51157.154601: "
                            "block_rq_complete: 7,0 WS () 32770 + 384 be,0,4 [0]", &ev));
  CHECK (ev.sector == 32770 && ev.nr == 384 && agent_trace_changes (&ev));
  CHECK (agent_trace_parse ("    jbd2/loop0-8-25640   [001] ..... 51157.154688: "
                            "block_bio_queue: 7,0 FWFSM 229396 + 2 [jbd2/loop0-8]", &ev));
  CHECK (strcmp (ev.rwbs, "FWFSM") == 0 && agent_trace_changes (&ev));
  /* The flush that ends a journal commit covers no sector. */
  CHECK (agent_trace_parse ("     ksoftirqd/1-22      [001] d.s1. 51157.155115: "
                            "block_rq_complete: 7,0 WSM () 229396 + 0 be,0,3 [0]", &ev));
  CHECK (!agent_trace_changes (&ev));
  CHECK (agent_trace_parse ("  cat-1 [000] ..... 1.0: block_bio_complete: 259,3 RA 8 + 8 [0]", &ev));
  CHECK (ev.major == 259 && ev.minor == 3 && !agent_trace_changes (&ev));
  CHECK (agent_trace_parse ("  fstrim-9 [000] ..... 1.0: block_bio_queue: 8,0 DS 2048 + 4096 [fstrim]", &ev));
  CHECK (agent_trace_changes (&ev));
  CHECK (agent_trace_parse ("  x-9 [000] ..... 1.0: block_bio_queue: 8,0 N 0 + 8 [x]", &ev));
  CHECK (agent_trace_changes (&ev));    /* write zeroes and the like */
  CHECK (!agent_trace_parse ("# tracer: nop", &ev));
  CHECK (!agent_trace_parse ("  x-9 [000] ..... 1.0: block_plug: [x]", &ev));
  CHECK (!agent_trace_parse ("  x-9 [000] ..... 1.0: block_rq_complete: 8,0 W (", &ev));
}

static void
test_dirty (void)
{
  struct agent_dirty d, e;
  uint64_t off, len;

  CHECK (agent_dirty_init (&d, 1000000, 3000) == -1);  /* not a power of 2 */
  CHECK (agent_dirty_init (&d, 10 * 65536 + 100, 65536) == 0);
  CHECK (d.nbits == 11 && !agent_dirty_next (&d, 0, &off, &len));
  agent_dirty_mark (&d, 65536 + 10, 1);                 /* one byte: grain 1 */
  agent_dirty_mark (&d, 2 * 65536 - 1, 2);              /* straddles 1 and 2 */
  CHECK (d.count == 2 && agent_dirty_bytes (&d) == 2 * 65536);
  CHECK (agent_dirty_next (&d, 0, &off, &len) && off == 65536 && len == 2 * 65536);
  CHECK (!agent_dirty_next (&d, 3 * 65536, &off, &len));
  agent_dirty_mark (&d, 10 * 65536 + 50, 1000);         /* clipped to the end */
  CHECK (agent_dirty_next (&d, 3 * 65536, &off, &len) &&
         off == 10 * 65536 && len == 100);
  CHECK (agent_dirty_bytes (&d) == 2 * 65536 + 100);
  agent_dirty_mark (&d, 20 * 65536, 5);                 /* past the end */
  agent_dirty_mark (&d, 0, 0);
  CHECK (d.count == 3);

  CHECK (agent_dirty_init (&e, d.size, d.grain) == 0);
  agent_dirty_mark (&e, 0, 1);
  agent_dirty_mark (&e, 65536, 1);
  agent_dirty_merge (&e, &d);
  CHECK (e.count == 4 && agent_dirty_next (&e, 0, &off, &len) && off == 0 &&
         len == 3 * 65536);
  agent_dirty_clear (&e);
  CHECK (e.count == 0 && !agent_dirty_next (&e, 0, &off, &len));
  agent_dirty_mark_all (&e);
  CHECK (e.count == 11 && agent_dirty_bytes (&e) == e.size);
  agent_dirty_free (&e);
  agent_dirty_free (&d);

  /* Many words: the scan skips empty ones. */
  CHECK (agent_dirty_init (&d, (uint64_t) 1 << 40, 65536) == 0);
  agent_dirty_mark (&d, ((uint64_t) 1 << 40) - 65536, 65536);
  CHECK (agent_dirty_next (&d, 0, &off, &len) &&
         off == ((uint64_t) 1 << 40) - 65536 && len == 65536);
  agent_dirty_free (&d);
}

int
main (void)
{
  test_parse ();
  test_dirty ();
  return TEST_DONE ();
}
