/* p2v-agent send: what the run did.  The summary line at the end (or
 * the machine-readable event), the list of unreadable ranges, and the
 * --stats file.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "agent.h"
#include "fileio.h"
#include "json.h"
#include "log.h"
#include "send.h"
#include "send_pass.h"
#include "send_stats.h"

static void
write_stats (const struct sender *s, bool ok, double seconds)
{
  const struct send_stats *st = &s->stats;
  FILE *fp = strcmp (s->o->stats, "-") == 0 ? stdout
                                             : fopen (s->o->stats, "w");

  if (fp == NULL) {
    p2v_error ("--stats %s: %m", s->o->stats);
    return;
  }
  fprintf (fp, "{\"result\":\"%s\",\"name\":", ok ? "complete" : "failed");
  p2v_json_string (fp, s->o->name);
  fprintf (fp, ",\"disks\":%d,\"source_bytes\":%" PRIu64
           ",\"mapped_bytes\":%" PRIu64 ",\"data_bytes\":%" PRIu64
           ",\"zero_bytes\":%" PRIu64 ",\"chunks\":%" PRIu64
           ",\"wire_bytes\":%" PRIu64 ",\"seconds\":%.3f",
           s->nsrc, st->source_bytes, st->mapped_bytes, st->data_bytes,
           st->zero_bytes, st->chunks, st->wire_bytes, seconds);
  fprintf (fp, ",\"level\":%d,\"level_mean\":%.2f,\"adaptive\":%s,"
           "\"chunk_size\":%" PRIu32 ",\"window\":%" PRIu64
           ",\"sessions\":%u,\"streams\":%u,\"resent_bytes\":[",
           s->level.cur,
           st->data_chunks ? st->level_sum / st->data_chunks : s->level.cur,
           s->o->adaptive ? "true" : "false", s->o->chunk_size,
           s->o->window, st->sessions, st->streams ? st->streams : 1);
  for (size_t i = 0; i < st->resends.len; ++i)
    fprintf (fp, "%s%" PRIu64, i ? "," : "", st->resends.ptr[i]);
  fprintf (fp, "],\"read_errors\":[");
  for (size_t i = 0; i < st->bad.len; ++i)
    fprintf (fp, "%s{\"disk\":%" PRIu32 ",\"offset\":%" PRIu64 ",\"length\":%"
             PRIu64 ",\"errno\":%" PRIu32 "}", i ? "," : "",
             st->bad.ptr[i].disk, st->bad.ptr[i].offset, st->bad.ptr[i].length,
             st->bad.ptr[i].err);
  fprintf (fp, "]");
  if (s->hot.h)
    agent_pass_write_stats (s, fp);
  fprintf (fp, "}\n");
  if (fp != stdout && fclose (fp) != 0)
    p2v_error ("--stats %s: %m", s->o->stats);
}

/* Done, but not everything could be read: say exactly what. */
static void
report_read_errors (const struct sender *s)
{
  const struct send_stats *st = &s->stats;
  uint64_t bytes = 0;
  char h[32];

  for (size_t i = 0; i < st->bad.len; ++i)
    bytes += st->bad.ptr[i].length;
  p2v_error ("'%s' converted, but %zu source range(s) (%s) could not be "
             "read and were written as zeros%s:", s->o->name, st->bad.len,
             p2v_human_size (bytes, h, sizeof h), st->earlier_errors ?
             "; more were recorded by an earlier run (see the receiver's "
             "report.json)" : "");
  for (size_t i = 0; i < st->bad.len; ++i)
    fprintf (stderr, "  %s: offset %" PRIu64 ", %" PRIu64 " bytes: %s\n",
             s->src[st->bad.ptr[i].disk]->path, st->bad.ptr[i].offset,
             st->bad.ptr[i].length, strerror (st->bad.ptr[i].err));
  if (st->bad.len == 0)
    fprintf (stderr, "  %" PRIu32 " range(s) recorded by an earlier run, "
             "listed in report.json\n", st->earlier_errors);
}

void
agent_report_end (const struct sender *s, int r, double secs)
{
  const struct send_stats *st = &s->stats;
  char src[32], wire[32], data[32];
  bool ok = r != -1;

  p2v_progress_clear (&agent_progress);  /* no bar after the end */
  if (s->o->machine_readable) {
    printf ("{\"event\":\"%s\",\"source_bytes\":%" PRIu64 ",\"wire_bytes\":%"
            PRIu64 ",\"seconds\":%.3f,\"read_errors\":%zu", ok ? "done"
            : "error", st->source_bytes, st->wire_bytes, secs, st->bad.len);
    if (!ok)
      printf (",\"message\":"), p2v_json_string (stdout, p2v_last_error ());
    printf ("}\n");
    fflush (stdout);
  }
  if (ok && s->conv.was_complete)
    p2v_info ("'%s' was already complete on the receiver: nothing sent",
              s->o->name);
  else if (ok) {
    uint64_t total = agent_progress.total;      /* the disks sent */
    char earlier[80] = "", held[32];

    /* A resumed run reads only what the receiver did not hold yet. */
    if (st->source_bytes < total)
      snprintf (earlier, sizeof earlier, " (%s of it on the receiver "
                "already)", p2v_human_size (total - st->source_bytes, held,
                                            sizeof held));
    p2v_info ("'%s' converted: %s of disks%s, %s holding data, %s sent in "
              "%.1f s; images verified by the receiver", s->o->name,
              p2v_human_size (total > st->source_bytes ? total
                              : st->source_bytes, src, sizeof src), earlier,
              p2v_human_size (st->data_bytes, data, sizeof data),
              p2v_human_size (st->wire_bytes, wire, sizeof wire), secs);
  }
  if (r == AGENT_EXIT_READ_ERRORS)
    report_read_errors (s);
  if (s->o->stats)
    write_stats (s, ok, secs);
}

void
agent_stats_mapped (struct sender *s)
{
  s->stats.mapped_bytes = 0;
  for (int i = 0; i < s->nsrc; ++i)
    s->stats.mapped_bytes += agent_extents_bytes (&s->layout[i]->read, 0,
                                                  s->src[i]->size);
}

void
agent_stats_free (struct send_stats *st)
{
  agent_bad_ranges_reset (&st->bad);
  u64s_reset (&st->resends);
}
