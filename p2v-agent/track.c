/* p2v-agent track: watch which blocks of the disks are written, with
 * the tracker hot-clone uses, and print the dirty ranges.  A check
 * that tracking works on this server before a hot clone.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "agent.h"
#include "log.h"
#include "tracker.h"

static volatile sig_atomic_t interrupted;

static void
on_signal (int sig)
{
  (void) sig;
  interrupted = 1;
}

static void
usage (FILE *fp)
{
  fprintf (fp,
           "Usage: p2v-agent track [OPTION]... DISK...\n"
           "Watch which blocks of the DISKs (block devices) are written, with\n"
           "the kernel's block trace events, as hot-clone does, and print the\n"
           "written ranges and any lost events at the end.\n\n"
           "  -s, --seconds=N   watch for N seconds (default: until interrupted)\n"
           "  -g, --grain=BYTES the tracking unit, a power of two (default 65536)\n"
           "  -h, --help        this help\n");
}

int
agent_track (int argc, char *argv[])
{
  static const struct option longopts[] = {
    { "seconds", required_argument, NULL, 's' },
    { "grain", required_argument, NULL, 'g' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  struct agent_tracker t;
  struct agent_source src[AGENT_TRACKER_MAX_DISKS];
  dev_t devs[AGENT_TRACKER_MAX_DISKS];
  uint64_t sizes[AGENT_TRACKER_MAX_DISKS];
  long seconds = -1;
  unsigned long grain = 65536;
  int c, n, r = EXIT_SUCCESS;
  char *end;

  while ((c = getopt_long (argc, argv, "s:g:h", longopts, NULL)) != -1)
    switch (c) {
    case 's':
      errno = 0;
      seconds = strtol (optarg, &end, 10);
      if (errno || *end || seconds < 0) {
        p2v_error ("--seconds: '%s' is not a number of seconds", optarg);
        return EXIT_FAILURE;
      }
      break;
    case 'g':
      errno = 0;
      grain = strtoul (optarg, &end, 10);
      if (errno || *end || grain < 512 || grain > (1UL << 30) ||
          (grain & (grain - 1))) {
        p2v_error ("--grain: '%s' is not a power of two from 512 to 1 GiB",
                   optarg);
        return EXIT_FAILURE;
      }
      break;
    case 'h':
      usage (stdout);
      return EXIT_SUCCESS;
    default:
      fprintf (stderr, "Try 'p2v-agent track --help'.\n");
      return EXIT_FAILURE;
    }
  n = argc - optind;
  if (n < 1 || n > AGENT_TRACKER_MAX_DISKS) {
    p2v_error ("track: give 1 to %d disks; try 'p2v-agent track --help'",
               AGENT_TRACKER_MAX_DISKS);
    return EXIT_FAILURE;
  }
  for (int i = 0; i < n; ++i) {
    if (agent_source_open (&src[i], argv[optind + i]) == -1)
      return EXIT_FAILURE;
    if (!src[i].is_block) {
      p2v_error ("%s: not a block device: only the kernel's block devices "
                 "can be tracked", src[i].path);
      return EXIT_FAILURE;
    }
    devs[i] = src[i].rdev;
    sizes[i] = src[i].size;
  }
  if (agent_tracker_start (&t, devs, sizes, n, grain) == -1) {
    p2v_error ("cannot track writes: %s", t.why);
    agent_tracker_stop (&t);
    return EXIT_FAILURE;
  }
  signal (SIGINT, on_signal);
  signal (SIGTERM, on_signal);
  p2v_info ("tracking writes to %d disk(s) in %s (%s)", n, t.dir,
            seconds >= 0 ? "for the given seconds" : "until interrupted");
  for (long s = 0; !interrupted && (seconds < 0 || s < seconds * 10); ++s) {
    struct timespec ts = { 0, 100000000 };

    nanosleep (&ts, NULL);
  }
  for (int i = 0; i < n && r == EXIT_SUCCESS; ++i) {
    struct agent_dirty d;
    uint64_t off = 0, len = 0;

    if (agent_dirty_init (&d, sizes[i], grain) == -1 ||
        agent_tracker_take (&t, i, &d) == -1) {
      p2v_error ("%s: %s", src[i].path, t.why[0] ? t.why : "out of memory");
      r = EXIT_FAILURE;
    }
    else {
      printf ("%s: %" PRIu64 " bytes written to\n", src[i].path,
              agent_dirty_bytes (&d));
      while (agent_dirty_next (&d, off + len, &off, &len))
        printf ("  %" PRIu64 " +%" PRIu64 "\n", off, len);
    }
    agent_dirty_free (&d);
  }
  printf ("events: %" PRIu64 ", lost: %" PRIu64 "\n", t.events,
          agent_tracker_lost (&t));
  if (agent_tracker_lost (&t) > 0) {
    p2v_error ("the trace lost events: the ranges above are incomplete");
    r = EXIT_FAILURE;
  }
  agent_tracker_stop (&t);
  for (int i = 0; i < n; ++i)
    agent_source_close (&src[i]);
  return r;
}
