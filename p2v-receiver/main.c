/* p2v-receiver: the hypervisor side.  Speaks the p2v protocol on
 * stdin/stdout, so it runs as an SSH exec or forced command, or as the
 * agent's child in --local mode.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recv.h"
#include "chan.h"
#include "log.h"
#include "options.h"

enum { OPT_FORCE = 256, OPT_OUTPUT_DIR };

static const struct p2v_option options[] = {
  { "output-dir", required_argument, OPT_OUTPUT_DIR, "DIR",
    "write conversions under DIR/NAME (default /var/lib/p2v)" },
  { "force", no_argument, OPT_FORCE, NULL,
    "replace an existing conversion of the same name" },
  { "verbose", no_argument, 'v', NULL, "print debugging messages" },
  { "quiet", no_argument, 'q', NULL, "print only errors" },
  { "help", no_argument, 'h', NULL, "show this help and exit" },
  { "version", no_argument, 'V', NULL, "show the version and exit" },
};
#define NOPTS (sizeof options / sizeof options[0])

static void
usage (FILE *fp)
{
  fprintf (fp,
           "Usage: p2v-receiver [OPTION]...\n"
           "Receive a conversion from p2v-agent on standard input/output and\n"
           "write verified sparse images to DIR/NAME/diskN.raw.\n"
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
  struct p2v_fd_pair fds = { 0, 1 };
  struct p2v_chan ch;
  int c, r;

  p2v_program = "p2v-receiver";
  p2v_options_getopt (options, NOPTS, longopts, shortopts);
  while ((c = getopt_long (argc, argv, shortopts, longopts, NULL)) != -1) {
    switch (c) {
    case OPT_OUTPUT_DIR: opts.output_dir = optarg; break;
    case OPT_FORCE: opts.force = true; break;
    case 'v': p2v_verbose++; break;
    case 'q': p2v_verbose = -1; break;
    case 'h': usage (stdout); return EXIT_SUCCESS;
    case 'V': printf ("p2v-receiver %s\n", P2V_VERSION); return EXIT_SUCCESS;
    default: usage (stderr); return EXIT_FAILURE;
    }
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
  p2v_chan_init (&ch, &p2v_fd_ops, &fds, "agent", -1);
  r = recv_session (&opts, &ch);
  p2v_chan_free (&ch);
  return r == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
