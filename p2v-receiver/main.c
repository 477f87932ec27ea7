/* p2v-receiver: the hypervisor side.  Speaks the p2v protocol on
 * stdin/stdout, so it runs as an SSH exec or forced command, or as the
 * agent's child in --local mode.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "recv.h"
#include "chan.h"
#include "log.h"
#include "options.h"

enum { OPT_FORCE = 256, OPT_OUTPUT_DIR, OPT_TIMEOUT, OPT_VERIFY };

static const struct p2v_option options[] = {
  { "output-dir", required_argument, OPT_OUTPUT_DIR, "DIR",
    "write conversions under DIR/NAME (default /var/lib/p2v)" },
  { "force", no_argument, OPT_FORCE, NULL,
    "replace an existing conversion of the same name (finished, or "
    "unfinished from another source) instead of refusing or resuming" },
  { "verify", no_argument, OPT_VERIFY, NULL,
    "re-read the images against the journal before calling the "
    "conversion complete" },
  { "timeout", required_argument, OPT_TIMEOUT, "SECONDS",
    "give up when the agent sends nothing for SECONDS, keeping what "
    "arrived for a resume (default 120; 0 = never)" },
  { "verbose", no_argument, 'v', NULL, "print debugging messages" },
  { "quiet", no_argument, 'q', NULL, "print only errors" },
  { "help", no_argument, 'h', NULL, "show this help and exit" },
  { "version", no_argument, 'V', NULL, "show the version and exit" },
};
#define NOPTS (sizeof options / sizeof options[0])

/* A signal ends the session like a lost link: closing our input makes
 * the next read fail, and the session keeps what arrived for a resume.
 */
static void
on_signal (int sig)
{
  recv_stop_signal = sig;
  close (0);
}

static void
usage (FILE *fp)
{
  fprintf (fp,
           "Usage: p2v-receiver [OPTION]...\n"
           "       p2v-receiver verify DIR/NAME\n"
           "Receive a conversion from p2v-agent on standard input/output and\n"
           "write verified sparse images to DIR/NAME/diskN.raw.  An\n"
           "unfinished conversion of the same source is resumed.\n"
           "'verify' re-reads a conversion's images and checks them against\n"
           "its journal (exit 0 verified, 1 differences, 2 could not check).\n"
           "Normally started by the agent over SSH (or by a forced command\n"
           "in authorized_keys), not by hand.\n\nOptions:\n");
  p2v_options_help (fp, options, NOPTS);
  fprintf (fp, "\nSee p2v-receiver(1).\n");
}

int
main (int argc, char *argv[])
{
  struct option longopts[NOPTS + 1];
  char shortopts[2 * NOPTS + 1];
  struct recv_options opts = { .output_dir = "/var/lib/p2v" };
  int timeout = 120;
  char *end;
  struct p2v_fd_pair fds = { 0, 1 };
  struct p2v_chan ch;
  int c, r;

  p2v_program = "p2v-receiver";
  p2v_options_getopt (options, NOPTS, longopts, shortopts);
  while ((c = getopt_long (argc, argv, shortopts, longopts, NULL)) != -1) {
    switch (c) {
    case OPT_OUTPUT_DIR: opts.output_dir = optarg; break;
    case OPT_FORCE: opts.force = true; break;
    case OPT_VERIFY: opts.verify = true; break;
    case OPT_TIMEOUT:
      errno = 0;
      timeout = strtol (optarg, &end, 10);
      if (errno || *end || end == optarg || timeout < 0 ||
          timeout > 86400) {
        p2v_error ("--timeout %s: expected 0 to 86400 seconds", optarg);
        return EXIT_FAILURE;
      }
      break;
    case 'v': p2v_verbose++; break;
    case 'q': p2v_verbose = -1; break;
    case 'h': usage (stdout); return EXIT_SUCCESS;
    case 'V': printf ("p2v-receiver %s\n", P2V_VERSION); return EXIT_SUCCESS;
    default: usage (stderr); return EXIT_FAILURE;
    }
  }
  if (optind < argc && strcmp (argv[optind], "verify") == 0) {
    if (argc - optind != 2) {
      p2v_error ("usage: p2v-receiver verify DIR/NAME");
      return 2;
    }
    return recv_verify_command (argv[optind + 1]);
  }
  if (optind != argc) {
    p2v_error ("unexpected argument '%s' (try --help)", argv[optind]);
    return EXIT_FAILURE;
  }
  if (*opts.output_dir == '\0') {
    p2v_error ("--output-dir must not be empty");
    return EXIT_FAILURE;
  }
  signal (SIGPIPE, SIG_IGN);
  struct sigaction sa = { .sa_handler = on_signal };
  sigaction (SIGTERM, &sa, NULL);
  sigaction (SIGHUP, &sa, NULL);
  sigaction (SIGINT, &sa, NULL);
  p2v_chan_init (&ch, &p2v_fd_ops, &fds, "agent",
                 timeout ? timeout * 1000 : -1);
  r = recv_session (&opts, &ch);
  p2v_chan_free (&ch);
  return r == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
