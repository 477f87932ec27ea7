/* p2v-batch: convert a server room.  A manifest lists the servers; the
 * coordinator (run) queues the receivers of agents that boot on them;
 * status, report and preflight read the spool and the manifest.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "coord_proto.h"
#include "cleanup.h"
#include "fileio.h"
#include "json.h"
#include "log.h"
#include "options.h"

enum {
  OPT_SPOOL = 256, OPT_MANIFEST, OPT_JSON, OPT_MARKDOWN, OPT_HTML, OPT_SSH,
};

static const struct p2v_option options[] = {
  { "manifest", required_argument, OPT_MANIFEST, "FILE",
    "the servers to convert (run, preflight, check; report: list servers "
    "not yet seen)" },
  { "spool", required_argument, OPT_SPOOL, "DIR",
    "the coordinator's state (default /var/lib/p2v/batch)" },
  { "json", no_argument, OPT_JSON, NULL,
    "status, preflight: JSON on standard output" },
  { "markdown", required_argument, OPT_MARKDOWN, "FILE",
    "report: the Markdown report (default SPOOL/report.md; '-' stdout)" },
  { "html", required_argument, OPT_HTML, "FILE",
    "report: the HTML report (default SPOOL/report.html; '-' stdout)" },
  { "ssh", required_argument, OPT_SSH, "HOST[:PORT]",
    "preflight: check that agents can reach this SSH server" },
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
           "Usage: p2v-batch COMMAND [OPTION]...\n"
           "Convert many servers: agents booted on them (p2v.server=) reach\n"
           "p2v-receiver --batch SPOOL, and the coordinator recognises each\n"
           "machine from the manifest, queues it (writers per storage,\n"
           "bandwidth caps) and records everything in SPOOL.\n\n"
           "Commands:\n"
           "  run --manifest FILE   run the coordinator (in the foreground)\n"
           "  status                the servers and held machines, now\n"
           "  report                write the Markdown and HTML reports\n"
           "  preflight --manifest FILE  check storage, names, MACs, networks\n"
           "  check --manifest FILE  check the manifest alone (its syntax)\n"
           "  reload                make the coordinator re-read its manifest\n"
           "  stop                  stop the coordinator (agents reconnect)\n"
           "\nOptions:\n");
  p2v_options_help (fp, options, NOPTS);
  fprintf (fp, "\nSee p2v-batch(1) and docs/runbook.md.\n");
}

/* reload, stop: one line to the coordinator, one answer. */
static int
control (const char *spool, const char *verb)
{
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  char answer[256] = "";
  int fd;
  ssize_t n;

  snprintf (sa.sun_path, sizeof sa.sun_path, "%s/%s", spool,
            P2V_COORD_SOCKET);
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd == -1 || connect (fd, (struct sockaddr *) &sa, sizeof sa) == -1) {
    p2v_error ("no coordinator runs on %s (%s: %m)", spool, sa.sun_path);
    if (fd >= 0)
      close (fd);
    return -1;
  }
  struct timeval tv = { 30, 0 };
  setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  dprintf (fd, "%s\n", verb);
  n = read (fd, answer, sizeof answer - 1);
  close (fd);
  answer[n > 0 ? n : 0] = '\0';
  if (strncmp (answer, P2V_COORD_OK, strlen (P2V_COORD_OK)) != 0) {
    p2v_error ("the coordinator refused '%s'%s", verb, !strcmp (verb,
               "reload") ? "; see coordinator.log in the spool for the "
               "manifest's error" : "");
    return -1;
  }
  p2v_info ("%s: done", verb);
  return 0;
}

static const char *
when (double t, char *buf, size_t len)
{
  time_t s = (time_t) t;
  struct tm tm;

  if (t <= 0)
    return "-";
  localtime_r (&s, &tm);
  strftime (buf, len, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

/* The recent throughput of a running job, from its last samples. */
static double
recent_rate (int spoolfd, const struct batch_job *j)
{
  struct batch_samples v = { 0 };
  double r = 0;

  if (batch_samples_load (spoolfd, j->name, &v) == 0 && v.len >= 2) {
    const struct batch_sample *a = &v.ptr[v.len - 2], *b = &v.ptr[v.len - 1];

    if (b->t > a->t && b->wire >= a->wire)
      r = (b->wire - a->wire) / (b->t - a->t);
  }
  batch_samples_reset (&v);
  return r;
}

/* ,"key":"value" (or the first field, with its brace). */
static void
json_str (FILE *fp, const char *key, const char *value)
{
  fprintf (fp, "%s\"%s\":", *key == '{' ? "{" : ",", key + (*key == '{'));
  p2v_json_string (fp, value);
}

static void
json_job (FILE *fp, int spoolfd, const struct batch_job *j)
{
  json_str (fp, "{name", j->name);
  json_str (fp, "state", j->state);
  json_str (fp, "storage", j->storage);
  json_str (fp, "agent", j->agent);
  json_str (fp, "message", j->message);
  json_str (fp, "conversion", j->conversion);
  fprintf (fp, ",\"size\":%" PRIu64 ",\"received\":%" PRIu64 ",\"wire\":%"
           PRIu64 ",\"allocated\":%" PRIu64 ",\"rate_cap\":%" PRIu64
           ",\"rate\":%.0f,\"sessions\":%" PRIu32 ",\"first_seen\":%.3f,"
           "\"started\":%.3f,\"finished\":%.3f,\"running_seconds\":%.3f,"
           "\"fixup_changes\":%d,\"defined\":%d",
           j->size, j->received, j->wire, j->allocated, j->rate,
           !strcmp (j->state, P2V_JOB_RUNNING) ? recent_rate (spoolfd, j) : 0,
           j->sessions, j->first_seen, j->started, j->finished,
           j->running_seconds, j->fixup_changes, j->defined);
  json_str (fp, "verification", j->verification);
  json_str (fp, "fixup", j->fixup);
  json_str (fp, "domain", j->domain);
  fputs ("}", fp);
}

static int
status (const char *spool, bool json)
{
  struct batch_jobs jobs = { 0 };
  struct batch_helds held = { 0 };
  int fd = batch_spool_open (spool, false);
  bool running;
  char a[32], b[32], c[32], t[64];

  if (fd == -1 || batch_jobs_load_all (fd, &jobs) == -1 ||
      batch_held_load_all (fd, &held) == -1) {
    if (fd >= 0)
      close (fd);
    return -1;
  }
  running = batch_coordinator_running (fd);
  if (json) {
    printf ("{\"coordinator\":%s,\"jobs\":[", running ? "true" : "false");
    for (size_t i = 0; i < jobs.len; ++i) {
      fputs (i ? "," : "", stdout);
      json_job (stdout, fd, &jobs.ptr[i]);
    }
    fputs ("],\"held\":[", stdout);
    for (size_t i = 0; i < held.len; ++i) {
      fputs (i ? "," : "", stdout);
      json_str (stdout, "{agent", held.ptr[i].agent);
      json_str (stdout, "hostname", held.ptr[i].hostname);
      json_str (stdout, "serial", held.ptr[i].serial);
      json_str (stdout, "macs", held.ptr[i].macs);
      json_str (stdout, "reason", held.ptr[i].reason);
      printf (",\"since\":%.3f,\"connected\":%s}", held.ptr[i].since,
              held.ptr[i].connected ? "true" : "false");
    }
    puts ("]}");
  }
  else {
    printf ("coordinator: %s (spool %s)\n\n", running ? "running"
            : "not running", spool);
    printf ("%-16s %-11s %-10s %9s %10s %10s %11s  %s\n", "SERVER", "STATE",
            "STORAGE", "PROGRESS", "SIZE", "WIRE", "RATE", "MESSAGE");
    for (size_t i = 0; i < jobs.len; ++i) {
      const struct batch_job *j = &jobs.ptr[i];
      char pct[16] = "-";

      if (j->size)
        snprintf (pct, sizeof pct, "%.1f%%", 100.0 * j->received / j->size);
      printf ("%-16s %-11s %-10s %9s %10s %10s %11s  %s\n", j->name,
              j->state, j->storage, pct,
              j->size ? p2v_human_size (j->size, a, sizeof a) : "-",
              p2v_human_size (j->wire, b, sizeof b),
              !strcmp (j->state, P2V_JOB_RUNNING)
              ? batch_human_rate (recent_rate (fd, j), c, sizeof c) : "-",
              j->message);
    }
    if (held.len)
      printf ("\nheld (no manifest entry; add one, then p2v-batch reload):"
              "\n");
    for (size_t i = 0; i < held.len; ++i)
      printf ("  %s%s since %s: hostname %s, serial %s, MACs %s\n    %s\n",
              held.ptr[i].agent, held.ptr[i].connected ? " (waiting)"
              : " (gone)", when (held.ptr[i].since, t, sizeof t),
              held.ptr[i].hostname, *held.ptr[i].serial ? held.ptr[i].serial
              : "unknown", held.ptr[i].macs, held.ptr[i].reason);
  }
  batch_jobs_reset (&jobs);
  batch_helds_reset (&held);
  close (fd);
  return 0;
}

static int
report (const char *spool, const char *manifest, const char *md,
        const char *html)
{
  struct batch_manifest m;
  CLEANUP_FREE char *dmd = NULL, *dhtml = NULL;
  int fd, r;

  if (manifest && batch_manifest_load (manifest, &m) == -1)
    return -1;
  fd = batch_spool_open (spool, false);
  if (fd >= 0 && (md || asprintf (&dmd, "%s/report.md", spool) > 0) &&
      (html || asprintf (&dhtml, "%s/report.html", spool) > 0)) {
    r = batch_report (fd, manifest ? &m : NULL, md ? md : dmd,
                      html ? html : dhtml);
    if (r == 0 && (md == NULL || html == NULL))
      p2v_info ("wrote %s and %s", md ? md : dmd, html ? html : dhtml);
  }
  else
    r = -1;
  if (fd >= 0)
    close (fd);
  if (manifest)
    batch_manifest_free (&m);
  return r;
}

int
main (int argc, char *argv[])
{
  struct option longopts[NOPTS + 1];
  char shortopts[2 * NOPTS + 1];
  const char *spool = "/var/lib/p2v/batch", *manifest = NULL, *cmd;
  const char *md = NULL, *html = NULL;
  struct batch_preflight_opts pf = { 0 };
  int c, r;

  p2v_program = "p2v-batch";
  p2v_options_getopt (options, NOPTS, longopts, shortopts);
  while ((c = getopt_long (argc, argv, shortopts, longopts, NULL)) != -1) {
    switch (c) {
    case OPT_SPOOL: spool = optarg; break;
    case OPT_MANIFEST: manifest = optarg; break;
    case OPT_JSON: pf.json = true; break;
    case OPT_MARKDOWN: md = optarg; break;
    case OPT_HTML: html = optarg; break;
    case OPT_SSH: pf.ssh = optarg; break;
    case 'v': p2v_verbose++; break;
    case 'q': p2v_verbose = -1; break;
    case 'h': usage (stdout); return EXIT_SUCCESS;
    case 'V': printf ("p2v-batch %s\n", P2V_VERSION); return EXIT_SUCCESS;
    default: usage (stderr); return EXIT_FAILURE;
    }
  }
  if (optind + 1 != argc) {
    p2v_error ("%s; try 'p2v-batch --help'", optind == argc
               ? "no command given" : "one command at a time");
    return EXIT_FAILURE;
  }
  cmd = argv[optind];
  if ((!strcmp (cmd, "run") || !strcmp (cmd, "preflight") ||
       !strcmp (cmd, "check")) && !manifest) {
    p2v_error ("%s needs --manifest FILE", cmd);
    return EXIT_FAILURE;
  }
  if (*spool == '\0') {
    p2v_error ("--spool must not be empty");
    return EXIT_FAILURE;
  }
  if (!strcmp (cmd, "run"))
    r = batch_run (spool, manifest);
  else if (!strcmp (cmd, "status"))
    r = status (spool, pf.json);
  else if (!strcmp (cmd, "report"))
    r = report (spool, manifest, md, html);
  else if (!strcmp (cmd, "reload") || !strcmp (cmd, "stop"))
    r = control (spool, cmd);
  else if (!strcmp (cmd, "check") || !strcmp (cmd, "preflight")) {
    struct batch_manifest m;

    if (batch_manifest_load (manifest, &m) == -1)
      return EXIT_FAILURE;
    if (!strcmp (cmd, "check")) {
      p2v_info ("%s: %zu server(s), %zu storage(s)", manifest,
                m.servers.len, m.storages.len);
      r = 0;
    }
    else {
      pf.spool = spool;
      r = batch_preflight (&m, &pf);
    }
    batch_manifest_free (&m);
    return r == 0 ? EXIT_SUCCESS : r == 1 ? 1 : 2;
  }
  else {
    p2v_error ("unknown command '%s'; try 'p2v-batch --help'", cmd);
    return EXIT_FAILURE;
  }
  return r == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
