/* p2v-agent: the source side of a physical-to-virtual conversion. */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "json.h"
#include "log.h"
#include "options.h"
#include "proto.h"

/* Which build this is: the portable one (make portable) says so. */
#ifndef P2V_BUILD
#define P2V_BUILD "dynamically linked for this distribution; for old " \
  "servers, see the portable agent (make portable)"
#endif

/* How the agent gets onto an old server (PORTABLE AGENT in the manual). */
#define PORTABLE_HINT \
  "On an old server (kernels from 2.6.32, any libc), run the portable agent:\n" \
  "copy the one file p2v-agent-x86_64 or p2v-agent-i686 (make portable;\n" \
  "installed beside this one) to /dev/shm there, run it, then remove it.\n"

static int
print_version (void)
{
  printf ("p2v-agent %s (%s)\n", P2V_VERSION, P2V_BUILD);
  return EXIT_SUCCESS;
}

enum {
  OPT_TO = 256, OPT_PORT, OPT_IDENTITY, OPT_KNOWN_HOSTS, OPT_HOST_KEY,
  OPT_ACCEPT_NEW, OPT_RECEIVER_COMMAND, OPT_LOCAL, OPT_HOST_FACTS, OPT_LEVEL,
  OPT_CHUNK_SIZE, OPT_STATS, OPT_MACHINE_READABLE, OPT_TIMEOUT, OPT_THREADS, OPT_NO_MAPS,
  OPT_MIN_LEVEL, OPT_MAX_LEVEL, OPT_ALLOW_MOUNTED, OPT_RETRIES,
  OPT_RETRY_WAIT, OPT_WINDOW, OPT_MAX_READ_ERRORS, OPT_NO_FLATTEN, OPT_DRY_RUN,
  OPT_MAX_PASSES, OPT_CONVERGE_BYTES, OPT_MAX_FREEZE, OPT_FINAL,
  OPT_STOP_COMMAND, OPT_START_COMMAND, OPT_FROZEN_COMMAND, OPT_TRACKER,
  OPT_STREAMS,
};

enum mode { MODE_SEND, MODE_PLAN, MODE_HOT };

static const struct p2v_option send_options[] = {
  { "to", required_argument, OPT_TO, "USER@HOST",
    "send to the receiver on HOST over SSH" },
  { "port", required_argument, OPT_PORT, "PORT", "SSH port (default 22)" },
  { "identity", required_argument, OPT_IDENTITY, "KEY",
    "SSH private key (default: ssh-agent, then ~/.ssh/id_*)" },
  { "known-hosts", required_argument, OPT_KNOWN_HOSTS, "FILE",
    "verify the host key against FILE (default ~/.ssh/known_hosts)" },
  { "host-key", required_argument, OPT_HOST_KEY, "SHA256:FP",
    "accept only this host key fingerprint" },
  { "accept-new-host-key", no_argument, OPT_ACCEPT_NEW, NULL,
    "trust an unknown host key and add it to the known-hosts file" },
  { "receiver-command", required_argument, OPT_RECEIVER_COMMAND, "CMD",
    "command that runs the receiver (default p2v-receiver)" },
  { "name", required_argument, 'n', "NAME",
    "conversion name on the receiver (default: this host's name; needed "
    "with --local)" },
  { "local", no_argument, OPT_LOCAL, NULL,
    "run the receiver here as a child process, without SSH (direct attach: "
    "the disks are another machine's, whose facts come from the guest)" },
  { "host-facts", no_argument, OPT_HOST_FACTS, NULL,
    "with --local: the disks are this host's own, so the VM gets this "
    "host's CPUs, memory, NICs and firmware" },
  { "level", required_argument, OPT_LEVEL, "N",
    "fix the zstd level, -7 to 19 (default: adaptive)" },
  { "min-level", required_argument, OPT_MIN_LEVEL, "N",
    "lowest level while adapting (default 1)" },
  { "max-level", required_argument, OPT_MAX_LEVEL, "N",
    "highest level while adapting (default 6)" },
  { "chunk-size", required_argument, OPT_CHUNK_SIZE, "SIZE",
    "bytes per chunk, 64K to 32M, a power of two (default 1M)" },
  { "threads", required_argument, OPT_THREADS, "N",
    "compression threads, 1 to 64 (default: one per CPU the agent may "
    "use, at most 8)" },
  { "allow-mounted", no_argument, OPT_ALLOW_MOUNTED, NULL,
    "copy a disk even if a filesystem on it is mounted read-write" },
  { "no-maps", no_argument, OPT_NO_MAPS, NULL,
    "read every byte (zero detection only), not just what filesystems use" },
  { "stats", required_argument, OPT_STATS, "FILE",
    "write a JSON summary to FILE ('-' for stdout)" },
  { "machine-readable", no_argument, OPT_MACHINE_READABLE, NULL,
    "print JSON-lines progress events on stdout" },
  { "timeout", required_argument, OPT_TIMEOUT, "SECONDS",
    "count the link as lost after SECONDS without progress (default 60, "
    "0 = never)" },
  { "retries", required_argument, OPT_RETRIES, "N",
    "reconnect and resume up to N times in a row after a lost link "
    "(default 10, 0 = never)" },
  { "retry-wait", required_argument, OPT_RETRY_WAIT, "SECONDS",
    "wait before the first reconnect, doubling each time up to 60 s "
    "(default 5)" },
  { "streams", required_argument, OPT_STREAMS, "N",
    "SSH connections to stripe the data over, 1 to 16 (default: enough to "
    "fill the link through one channel window per round trip, at most 8)" },
  { "window", required_argument, OPT_WINDOW, "SIZE",
    "most data sent ahead of the receiver's last acknowledgement, so the "
    "most sent again after a lost link (default 128M)" },
  { "max-read-errors", required_argument, OPT_MAX_READ_ERRORS, "N",
    "give up after N unreadable source ranges (default 1000); each is "
    "retried, narrowed to its bad sectors and sent as zeros" },
  { "no-flatten", no_argument, OPT_NO_FLATTEN, NULL,
    "send md RAID members as they are instead of each assembled array "
    "once, flattened into a plain partition" },
  { "dry-run", no_argument, OPT_DRY_RUN, NULL,
    "show the layout plan (target disks, partitions, bytes to read) and "
    "stop; the same as p2v-agent plan" },
  { "verbose", no_argument, 'v', NULL,
    "print debugging messages and the receiver's log" },
  { "quiet", no_argument, 'q', NULL, "print only errors, no progress bar" },
  { "help", no_argument, 'h', NULL, "show this help and exit" },
  { "version", no_argument, 'V', NULL, "show the version and exit" },
};
#define NOPTS (sizeof send_options / sizeof send_options[0])

static const struct p2v_option hot_options[] = {
  { "max-passes", required_argument, OPT_MAX_PASSES, "N",
    "passes at most, the first and the final one included, 2 to 100 "
    "(default 8)" },
  { "converge-bytes", required_argument, OPT_CONVERGE_BYTES, "SIZE",
    "go to the final pass once this little is left to send again "
    "(default 64M)" },
  { "final", required_argument, OPT_FINAL, "HOW",
    "how the final pass holds the filesystems still: freeze (default), "
    "readonly (remount them read-only) or stop (--stop-command)" },
  { "max-freeze", required_argument, OPT_MAX_FREEZE, "SECONDS",
    "a watchdog thaws the filesystems after SECONDS (default 30)" },
  { "stop-command", required_argument, OPT_STOP_COMMAND, "CMD",
    "with --final=stop: the shell command that stops the services" },
  { "start-command", required_argument, OPT_START_COMMAND, "CMD",
    "with --final=stop: the shell command that starts them again" },
  { "frozen-command", required_argument, OPT_FROZEN_COMMAND, "CMD",
    "a shell command to run while the filesystems are held" },
  { "tracker", required_argument, OPT_TRACKER, "HOW",
    "how changed blocks are found: auto (default: the kernel's block "
    "trace events, else comparing hashes), trace or none (compare hashes)" },
};
#define NHOT (sizeof hot_options / sizeof hot_options[0])

static void
usage (FILE *fp, enum mode mode)
{
  if (mode == MODE_HOT) {
    fprintf (fp,
             "Usage: p2v-agent hot-clone [OPTION]... (--to USER@HOST | "
             "--local) DISK...\n"
             "Copy disks of this running server: pass 1 sends them as send "
             "does while the\nkernel's block trace records what is "
             "written; later passes send that again\nuntil little is left; "
             "the final pass holds the filesystems still (freeze)\nfor the "
             "last changes.  Takes send's options and these:\n\n");
    p2v_options_help (fp, hot_options, NHOT);
    fprintf (fp, "\nsend's options:\n");
    p2v_options_help (fp, send_options, NOPTS);
    fprintf (fp, "\nExample:\n"
             "  p2v-agent hot-clone --to root@hv1 --name db01 /dev/sda\n"
             "\n%s"
             "\nSee p2v-agent(1).\n", PORTABLE_HINT);
    return;
  }
  if (mode == MODE_PLAN)
    fprintf (fp, "Usage: p2v-agent plan [OPTION]... DISK...\n"
             "Show what p2v-agent send would send, and stop: the target "
             "disks, md RAID\narrays flattened, partitions and the bytes "
             "to read.  Takes send's options\n(--to and --local are not "
             "needed).\n\nOptions:\n");
  else
    fprintf (fp,
             "Usage: p2v-agent send [OPTION]... (--to USER@HOST | --local) "
             "DISK...\n"
             "Copy whole disks (block devices or image files) to a p2v "
             "receiver,\nwhich writes DIR/NAME/disk0.raw, disk1.raw, ... "
             "as verified sparse images.\nmd RAID arrays are read once "
             "and flattened (see p2v-agent plan).\n\nOptions:\n");
  p2v_options_help (fp, send_options, NOPTS);
  fprintf (fp, "\nExample:\n"
           "  p2v-agent send --to root@hv1 --name web01 /dev/sda /dev/sdb\n"
           "\nSee p2v-agent(1).\n");
}

static int
parse_option (struct agent_options *o, int c)
{
  long long v;

  switch (c) {
  case OPT_TO: o->to = optarg; break;
  case OPT_PORT:
    if (p2v_parse_int ("--port", optarg, 1, 65535, &v) == -1)
      return -1;
    o->port = v;
    break;
  case OPT_IDENTITY: o->identity = optarg; break;
  case OPT_KNOWN_HOSTS: o->known_hosts = optarg; break;
  case OPT_HOST_KEY:
    if (strncmp (optarg, "SHA256:", 7) != 0 || optarg[7] == '\0') {
      p2v_error ("--host-key: expected SHA256:<fingerprint> as printed by "
                 "ssh-keygen -lf, got '%s'", optarg);
      return -1;
    }
    o->host_key = optarg;
    break;
  case OPT_ACCEPT_NEW: o->accept_new_host_key = true; break;
  case OPT_RECEIVER_COMMAND: o->receiver_command = optarg; break;
  case 'n': o->name = optarg; break;
  case OPT_LOCAL: o->local = true; break;
  case OPT_HOST_FACTS: o->host_facts = true; break;
  case OPT_LEVEL:
    if (p2v_parse_int ("--level", optarg, -7, 19, &v) == -1)
      return -1;
    o->level = v;
    o->adaptive = false;
    break;
  case OPT_MIN_LEVEL:
  case OPT_MAX_LEVEL:
    if (p2v_parse_int (c == OPT_MIN_LEVEL ? "--min-level" : "--max-level",
                       optarg, -7, 19, &v) == -1)
      return -1;
    *(c == OPT_MIN_LEVEL ? &o->min_level : &o->max_level) = v;
    break;
  case OPT_CHUNK_SIZE:
    if (p2v_parse_size ("--chunk-size", optarg, P2V_MIN_CHUNK,
                        P2V_MAX_CHUNK, &v) == -1)
      return -1;
    if (v & (v - 1)) {
      p2v_error ("--chunk-size %s: must be a power of two", optarg);
      return -1;
    }
    o->chunk_size = v;
    break;
  case OPT_THREADS:
    if (p2v_parse_int ("--threads", optarg, 1, 64, &v) == -1)
      return -1;
    o->threads = v;
    break;
  case OPT_STREAMS:
    if (p2v_parse_int ("--streams", optarg, 1, P2V_MAX_STREAMS, &v) == -1)
      return -1;
    o->streams = v;
    break;
  case OPT_STATS: o->stats = optarg; break;
  case OPT_NO_MAPS: o->no_maps = true; break;
  case OPT_ALLOW_MOUNTED: o->allow_mounted = true; break;
  case OPT_NO_FLATTEN: o->no_flatten = true; break;
  case OPT_DRY_RUN: o->dry_run = true; break;
  case OPT_MACHINE_READABLE: o->machine_readable = true; break;
  case OPT_TIMEOUT:
    if (p2v_parse_int ("--timeout", optarg, 0, 86400, &v) == -1)
      return -1;
    o->timeout = v;
    break;
  case OPT_RETRIES:
    if (p2v_parse_int ("--retries", optarg, 0, 1000, &v) == -1)
      return -1;
    o->retries = v;
    break;
  case OPT_RETRY_WAIT:
    if (p2v_parse_int ("--retry-wait", optarg, 0, 3600, &v) == -1)
      return -1;
    o->retry_wait = v;
    break;
  case OPT_WINDOW:
    if (p2v_parse_size ("--window", optarg, 2 * P2V_MIN_CHUNK,
                        INT64_C (1) << 40, &v) == -1)
      return -1;
    o->window = v;
    break;
  case OPT_MAX_READ_ERRORS:
    if (p2v_parse_int ("--max-read-errors", optarg, 0, P2V_MAX_READ_ERRORS,
                       &v) == -1)
      return -1;
    o->max_read_errors = v;
    break;
  case OPT_MAX_PASSES:
    if (p2v_parse_int ("--max-passes", optarg, 2, 100, &v) == -1)
      return -1;
    o->max_passes = v;
    break;
  case OPT_CONVERGE_BYTES:
    if (p2v_parse_size ("--converge-bytes", optarg, 0, INT64_C (1) << 50,
                        &v) == -1)
      return -1;
    o->converge_bytes = v;
    break;
  case OPT_MAX_FREEZE:
    if (p2v_parse_int ("--max-freeze", optarg, 1, 3600, &v) == -1)
      return -1;
    o->max_freeze = v;
    break;
  case OPT_FINAL:
    if (strcmp (optarg, "freeze") && strcmp (optarg, "readonly") &&
        strcmp (optarg, "stop")) {
      p2v_error ("--final: '%s' is not freeze, readonly or stop", optarg);
      return -1;
    }
    o->final = optarg;
    break;
  case OPT_TRACKER:
    if (strcmp (optarg, "auto") && strcmp (optarg, "trace") &&
        strcmp (optarg, "none")) {
      p2v_error ("--tracker: '%s' is not auto, trace or none", optarg);
      return -1;
    }
    o->tracker = optarg;
    break;
  case OPT_STOP_COMMAND: o->stop_command = optarg; break;
  case OPT_START_COMMAND: o->start_command = optarg; break;
  case OPT_FROZEN_COMMAND: o->frozen_command = optarg; break;
  case 'v': p2v_verbose++; break;
  case 'q': p2v_verbose = -1; break;
  default: return -1;
  }
  return 0;
}

static char default_name[P2V_MAX_NAME + 1];
static char default_known_hosts[4096];

static int
check_options (struct agent_options *o)
{
  const char *home = getenv ("HOME");

  if (o->to && o->local) {
    p2v_error ("--to and --local exclude each other: --to sends over SSH "
               "to the hypervisor, --local runs the receiver on this "
               "machine (disks attached to it); give one");
    return -1;
  }
  if (o->identity && !o->dry_run && agent_check_identity (o->identity) == -1)
    return -1;
  if (!o->dry_run && !o->to && !o->local) {
    p2v_error ("say where to send: --to USER@HOST or --local (try --help)");
    return -1;
  }
  if (o->nsources == 0 || o->nsources > P2V_MAX_DISKS) {
    p2v_error ("give 1 to %d disks or image files to send (try --help)",
               P2V_MAX_DISKS);
    return -1;
  }
  if (o->streams && o->local) {
    p2v_error ("--streams applies to --to (SSH connections), not --local");
    return -1;
  }
  if (o->host_facts && !o->local) {
    p2v_error ("--host-facts goes with --local (over --to the facts are "
               "always this host's)");
    return -1;
  }
  if (o->name == NULL && o->local && !o->host_facts && !o->hot &&
      !o->dry_run) {
    p2v_error ("--local: give --name (the disks attached here are another "
               "machine's, so this host's name is not theirs; or "
               "--host-facts if they are this host's own)");
    return -1;
  }
  if (o->name == NULL) {
    gethostname (default_name, sizeof default_name - 1);
    default_name[strcspn (default_name, ".")] = '\0';
    o->name = default_name;
  }
  if (!p2v_name_valid (o->name)) {
    p2v_error ("conversion name '%s' is not usable: give --name with 1-%d "
               "letters, digits, '.', '_' or '-', starting with a letter or "
               "digit", o->name, P2V_MAX_NAME);
    return -1;
  }
  if (o->min_level > o->max_level) {
    p2v_error ("--min-level %d is above --max-level %d", o->min_level,
               o->max_level);
    return -1;
  }
  if (o->adaptive && (o->level < o->min_level || o->level > o->max_level))
    o->level = o->level < o->min_level ? o->min_level : o->max_level;
  if (o->window < 2 * (uint64_t) o->chunk_size) {
    p2v_error ("--window must be at least two chunks (%" PRIu32 " bytes "
               "with this --chunk-size)", 2 * o->chunk_size);
    return -1;
  }
  if (o->threads == 0) {        /* one per CPU it may use, at most 8 */
    int n = (int) (agent_cpus_available () + 0.999);
    o->threads = n < 1 ? 1 : n > 8 ? 8 : n;
  }
  if (o->hot && strcmp (o->final, "stop") == 0 &&
      (o->stop_command == NULL || o->start_command == NULL)) {
    p2v_error ("--final=stop needs --stop-command and --start-command");
    return -1;
  }
  if (o->known_hosts == NULL) {
    snprintf (default_known_hosts, sizeof default_known_hosts,
              "%s/.ssh/known_hosts", home ? home : "");
    o->known_hosts = default_known_hosts;
  }
  return 0;
}

/* With --machine-readable anywhere among the options, a bad option
 * is an error event too (what a wrapper reads), besides the message.
 */
static int
option_error (int argc, char *argv[], const char *why)
{
  for (int i = 1; i < argc && strcmp (argv[i], "--"); ++i)
    if (!strcmp (argv[i], "--machine-readable")) {
      printf ("{\"event\":\"error\",\"message\":");
      p2v_json_string (stdout, why);
      printf ("}\n");
      fflush (stdout);
      break;
    }
  return EXIT_FAILURE;
}

/* send, plan (send --dry-run) or hot-clone. */
static int
cmd_send (int argc, char *argv[], enum mode mode)
{
  static struct p2v_option all[NOPTS + NHOT];
  struct option longopts[NOPTS + NHOT + 1];
  char shortopts[2 * (NOPTS + NHOT) + 1];
  struct agent_options o = {
    .port = 22, .receiver_command = "p2v-receiver", .level = 3,
    .adaptive = true, .min_level = 1, .max_level = 6,
    .chunk_size = 1 << 20, .timeout = 60, .retries = 10, .retry_wait = 5,
    .window = 128 << 20, .max_read_errors = 1000,
    .dry_run = mode == MODE_PLAN, .hot = mode == MODE_HOT,
    .max_passes = 8, .converge_bytes = 64 << 20, .max_freeze = 30,
    .final = "freeze", .tracker = "auto",
  };
  size_t n = NOPTS;
  const char *cmd = mode == MODE_HOT ? "hot-clone"
                    : mode == MODE_PLAN ? "plan" : "send";
  int c;

  memcpy (all, send_options, sizeof send_options);
  if (mode == MODE_HOT) {
    memcpy (all + NOPTS, hot_options, sizeof hot_options);
    n += NHOT;
    o.chunk_size = 256 << 10;   /* the tracking unit too */
    /* A mounted filesystem's maps on disk lag behind it (XFS keeps its
     * metadata in its own cache): read every block, zero detection.
     */
    o.no_maps = true;
  }
  p2v_options_getopt (all, n, longopts, shortopts);
  while ((c = getopt_long (argc, argv, shortopts, longopts, NULL)) != -1) {
    if (c == 'h') {
      usage (stdout, mode);
      return EXIT_SUCCESS;
    }
    if (c == 'V')
      return print_version ();
    if (parse_option (&o, c) == -1) {
      char why[300];

      if (c != '?')
        return option_error (argc, argv, p2v_last_error ());
      fprintf (stderr, "Try 'p2v-agent %s --help'.\n", cmd);
      snprintf (why, sizeof why, "bad option %s (see p2v-agent %s --help)",
                argv[optind - 1], cmd);
      return option_error (argc, argv, why);
    }
  }
  o.sources = argv + optind;
  o.nsources = argc - optind;
  if (check_options (&o) == -1)
    return option_error (argc, argv, p2v_last_error ());
  return agent_send (&o);
}

int
main (int argc, char *argv[])
{
  p2v_program = "p2v-agent";
  signal (SIGPIPE, SIG_IGN);
  if (argc >= 2 && strcmp (argv[1], "send") == 0)
    return cmd_send (argc - 1, argv + 1, MODE_SEND);
  if (argc >= 2 && strcmp (argv[1], "plan") == 0)
    return cmd_send (argc - 1, argv + 1, MODE_PLAN);
  if (argc >= 2 && strcmp (argv[1], "hot-clone") == 0)
    return cmd_send (argc - 1, argv + 1, MODE_HOT);
  if (argc >= 2 && strcmp (argv[1], "probe") == 0)
    return agent_probe (argc - 1, argv + 1);
  if (argc >= 2 && strcmp (argv[1], "track") == 0)
    return agent_track (argc - 1, argv + 1);
  if (argc >= 2 && (strcmp (argv[1], "--version") == 0 ||
                    strcmp (argv[1], "-V") == 0)) {
    return print_version ();
  }
  if (argc >= 2 && (strcmp (argv[1], "--help") == 0 ||
                    strcmp (argv[1], "-h") == 0 ||
                    strcmp (argv[1], "help") == 0)) {
    printf ("Usage: p2v-agent COMMAND [OPTION]...\n\nCommands:\n"
            "  send    copy disks to a p2v receiver (see p2v-agent send "
            "--help)\n"
            "  plan    show what send would send: target disks, md RAID "
            "flattened\n          (see p2v-agent plan --help)\n"
            "  probe   show this host and what its disks hold (see "
            "p2v-agent probe --help)\n"
            "  hot-clone  copy the disks of this running server, stopping "
            "it only for\n          seconds (see p2v-agent hot-clone --help)\n"
            "  track   watch which blocks of disks are written, as hot-clone "
            "does\n          (see p2v-agent track --help)\n\n%s"
            "\nSee p2v-agent(1).\n", PORTABLE_HINT);
    return EXIT_SUCCESS;
  }
  p2v_error ("%s; try 'p2v-agent --help'", argc < 2 ? "no command given"
             : "unknown command");
  return EXIT_FAILURE;
}
