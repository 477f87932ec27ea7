/* p2v-batch run: the coordinator.  One process, one poll loop: the
 * receivers (p2v-receiver --batch) connect to SPOOL/coordinator.sock,
 * say which machine they serve, and wait for a writer slot on their
 * storage; the coordinator hands out slots by priority and arrival,
 * shares the bandwidth cap among the running ones, and records every
 * step in the spool (jobs/, held/, coordinator.log) so that a restart
 * loses nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "convdir_layout.h"
#include "coord_proto.h"
#include "fileio.h"
#include "log.h"

#define MAX_CLIENTS 256
#define SAVE_EVERY 2.0          /* running jobs' files and samples */

enum cstate { C_NEW, C_HELD, C_WAITING, C_RUNNING, C_DONE, C_CONTROL };

struct client {
  int fd;
  enum cstate st;
  long pid;
  char in[8192];
  size_t in_len;
  int job;                      /* index into co->jobs, or -1 */
  uint64_t seq;                 /* arrival, for the queue */
  uint64_t rate;                /* last sent */
  uint64_t wire_base;           /* the job's wire bytes before this session */
  double accounted;             /* running time counted up to here */
  double sampled;               /* last throughput sample */
  char *go_args;                /* its slot's options, until sent */
  char said[1024];              /* last wait/held message */
  struct batch_held held;
};

struct coord {
  const char *spool, *manifest_path;
  struct batch_manifest m;
  int spoolfd, lockfd, lfd, sigfd;
  FILE *log;
  struct client *c[MAX_CLIENTS];
  size_t nc;
  struct batch_jobs jobs;       /* every job known, by name, never shrinks */
  uint64_t seq;
  double last_save;
  bool stop;
};

static double
wall (void)
{
  struct timeval tv;

  gettimeofday (&tv, NULL);
  return tv.tv_sec + tv.tv_usec / 1e6;
}

static void logf_ (struct coord *co, const char *fmt, ...)
  __attribute__ ((format (printf, 2, 3)));

/* coordinator.log: "TIME event key=value ...", and stderr. */
static void
logf_ (struct coord *co, const char *fmt, ...)
{
  char stamp[64], msg[2048];
  struct timeval tv;
  struct tm tm;
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);
  gettimeofday (&tv, NULL);
  localtime_r (&tv.tv_sec, &tm);
  strftime (stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
  fprintf (co->log, "%s.%03ld %s\n", stamp, (long) tv.tv_usec / 1000, msg);
  fflush (co->log);
  p2v_info ("%s", msg);
}

/* A value for a log line, encoded like the spool's. */
static const char *
enc (const char *v, char *buf, size_t len)
{
  FILE *fp = fmemopen (buf, len, "w");

  *buf = '\0';
  if (fp) {
    p2v_kv_put (fp, '\0', "", v);
    fclose (fp);
  }
  return buf + (*buf == '=');
}

static int
job_index (struct coord *co, const char *name)
{
  for (size_t i = 0; i < co->jobs.len; ++i)
    if (!strcmp (co->jobs.ptr[i].name, name))
      return i;
  return -1;
}

static int
server_of (struct coord *co, const struct batch_job *j)
{
  for (size_t i = 0; i < co->m.servers.len; ++i)
    if (!strcmp (co->m.servers.ptr[i].name, j->name))
      return i;
  return -1;
}

static void
save_job (struct coord *co, int j)
{
  batch_job_save (co->spoolfd, &co->jobs.ptr[j]);
}

/* The job of every manifest server, from the spool or new. */
static struct client *client_of_job (struct coord *co, int j);

static int
load_jobs (struct coord *co)
{
  for (size_t i = 0; i < co->m.servers.len; ++i) {
    const struct batch_server *sv = &co->m.servers.ptr[i];
    struct batch_job j;
    int k = job_index (co, sv->name);
    char path[P2V_MAX_NAME + 16];

    /* Known: keep it, unless idle and its file was removed (to
     * convert it again).
     */
    snprintf (path, sizeof path, "jobs/%s", sv->name);
    if (k >= 0 && (client_of_job (co, k) ||
                   !strcmp (co->jobs.ptr[k].state, P2V_JOB_RUNNING) ||
                   faccessat (co->spoolfd, path, F_OK, 0) == 0)) {
      snprintf (co->jobs.ptr[k].storage, sizeof co->jobs.ptr[k].storage,
                "%s", co->m.storages.ptr[sv->storage].name);
      continue;
    }
    if (batch_job_load (co->spoolfd, sv->name, &j) == -1) {
      j = (struct batch_job) { .fixup_changes = -1, .defined = -1 };
      snprintf (j.name, sizeof j.name, "%s", sv->name);
      snprintf (j.state, sizeof j.state, P2V_JOB_PENDING);
    }
    snprintf (j.storage, sizeof j.storage, "%s",
              co->m.storages.ptr[sv->storage].name);
    snprintf (j.conversion, sizeof j.conversion, "%s/%s", co->m.output_dir,
              sv->name);
    if (k >= 0)
      co->jobs.ptr[k] = j;
    else if (batch_jobs_append (&co->jobs, j) == -1) {
      p2v_error ("out of memory");
      return -1;
    }
    save_job (co, k >= 0 ? k : (int) co->jobs.len - 1);
  }
  return 0;
}

/* Whether pid is a receiver still at work (from before a restart). */
static bool
receiver_alive (long pid)
{
  char path[64], comm[64] = "";
  FILE *fp;

  if (pid <= 0)
    return false;
  snprintf (path, sizeof path, "/proc/%ld/comm", pid);
  if ((fp = fopen (path, "re")) == NULL)
    return false;
  if (fgets (comm, sizeof comm, fp) == NULL)
    comm[0] = '\0';
  fclose (fp);
  return !strncmp (comm, "p2v-receiver", 12);
}

/* A job a previous coordinator left running or waiting: its receiver
 * may still be finishing (then it counts as a writer until it ends);
 * otherwise the conversion directory says whether it completed.
 */
static void
settle (struct coord *co, int j)
{
  struct batch_job *b = &co->jobs.ptr[j];
  char status[256] = "", path[4200];

  if (strcmp (b->state, P2V_JOB_RUNNING) &&
      strcmp (b->state, P2V_JOB_WAITING))
    return;
  if (!strcmp (b->state, P2V_JOB_RUNNING) && receiver_alive (b->pid))
    return;                     /* an orphan: still writing */
  snprintf (path, sizeof path, "%s/" P2V_CONVDIR_STATUS, b->conversion);
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ssize_t n = read (fd, status, sizeof status - 1);

    status[n > 0 ? n : 0] = '\0';
    close (fd);
  }
  if (p2v_convdir_complete (status)) {
    snprintf (b->state, sizeof b->state, P2V_JOB_COMPLETE);
    b->finished = b->finished ? b->finished : wall ();
    *b->message = '\0';
  }
  else {
    snprintf (b->message, sizeof b->message, "the coordinator stopped while "
              "it %s; it resumes when its agent reconnects",
              !strcmp (b->state, P2V_JOB_RUNNING) ? "ran" : "waited");
    snprintf (b->state, sizeof b->state, P2V_JOB_INTERRUPTED);
  }
  b->pid = 0;
  b->rate = 0;
  logf_ (co, "end name=%s result=%s orphan=yes", b->name, b->state);
  save_job (co, j);
}

/* ---- Talking to receivers ---- */

static void
drop (struct coord *co, size_t i);

/* Add c's running time since the last call to its job's. */
static void
account (struct coord *co, struct client *c)
{
  double now = wall ();

  co->jobs.ptr[c->job].running_seconds += now - c->accounted;
  c->accounted = now;
}

static void
say (struct client *c, const char *verb, const char *fmt, ...)
  __attribute__ ((format (printf, 3, 4)));

/* One line to a receiver: verb and key=value words (fmt gives them
 * ready-encoded).  A receiver that cannot take it within the socket's
 * send timeout is dropped on its next poll.
 */
static void
say (struct client *c, const char *verb, const char *fmt, ...)
{
  char *words = NULL, *line = NULL;
  va_list ap;
  int n;

  va_start (ap, fmt);
  if (vasprintf (&words, fmt, ap) >= 0 &&
      (n = asprintf (&line, "%s%s\n", verb, words)) > 0) {
    const char *p = line;

    while (n > 0) {
      ssize_t w = send (c->fd, p, n, MSG_NOSIGNAL);

      if (w == -1 && errno == EINTR)
        continue;
      if (w <= 0) {
        shutdown (c->fd, SHUT_RDWR);    /* poll reports it */
        break;
      }
      p += w;
      n -= w;
    }
  }
  va_end (ap);
  free (words);
  free (line);
}

static void
say_msg (struct client *c, const char *verb, const char *msg)
{
  char e[2048];

  if (!strcmp (c->said, msg))
    return;
  snprintf (c->said, sizeof c->said, "%s", msg);
  say (c, verb, " message=%s", enc (msg, e, sizeof e));
}

static struct client *
client_of_job (struct coord *co, int j)
{
  for (size_t i = 0; i < co->nc; ++i)
    if (co->c[i]->job == j && (co->c[i]->st == C_WAITING ||
                               co->c[i]->st == C_RUNNING))
      return co->c[i];
  return NULL;
}

static int
writers (struct coord *co, const char *storage)
{
  int n = 0;

  for (size_t j = 0; j < co->jobs.len; ++j)
    n += !strcmp (co->jobs.ptr[j].state, P2V_JOB_RUNNING) &&
         !strcmp (co->jobs.ptr[j].storage, storage);
  return n;
}

static const struct batch_storage *
storage_named (struct coord *co, const char *name)
{
  for (size_t i = 0; i < co->m.storages.len; ++i)
    if (!strcmp (co->m.storages.ptr[i].name, name))
      return &co->m.storages.ptr[i];
  return NULL;
}

static int
priority (struct coord *co, const struct client *c)
{
  int s = server_of (co, &co->jobs.ptr[c->job]);

  return s >= 0 ? co->m.servers.ptr[s].set.priority : 0;
}

/* Give a slot to c's job. */
static void
start (struct coord *co, struct client *c, int server)
{
  struct batch_job *j = &co->jobs.ptr[c->job];
  const struct batch_storage *st =
    &co->m.storages.ptr[co->m.servers.ptr[server].storage];
  char *args = NULL;
  size_t len = 0;
  FILE *fp = open_memstream (&args, &len);

  if (fp == NULL)
    return;
  batch_server_args (&co->m, server, fp);
  fclose (fp);
  c->st = C_RUNNING;
  c->accounted = wall ();
  c->wire_base = j->wire;
  c->rate = 0;
  snprintf (j->state, sizeof j->state, P2V_JOB_RUNNING);
  *j->message = '\0';
  j->started = j->started ? j->started : wall ();
  j->sessions++;
  j->pid = c->pid;
  j->rate = 0;
  logf_ (co, "begin name=%s storage=%s writers=%d/%d session=%" PRIu32,
         j->name, st->name, writers (co, st->name), st->max_writers,
         j->sessions);
  c->go_args = args;            /* sent with its share, which is next */
  save_job (co, c->job);
}

/* Each running agent's share: its own cap, and the total cap split
 * evenly.
 */
static void
share_bandwidth (struct coord *co)
{
  size_t running = 0;

  for (size_t i = 0; i < co->nc; ++i)
    running += co->c[i]->st == C_RUNNING;
  for (size_t i = 0; i < co->nc; ++i) {
    struct client *c = co->c[i];
    struct batch_job *j;
    int s;
    uint64_t r = 0, own;

    if (c->st != C_RUNNING)
      continue;
    j = &co->jobs.ptr[c->job];
    s = server_of (co, j);
    own = s >= 0 ? batch_server_rate (&co->m, s) : 0;
    if (co->m.bandwidth)
      r = co->m.bandwidth / running;
    if (own && (r == 0 || own < r))
      r = own;
    if (r && r < BATCH_MIN_RATE)
      r = BATCH_MIN_RATE;
    if (c->go_args) {           /* paced from its first byte */
      say (c, P2V_COORD_GO, " name=%s%s rate=%" PRIu64, j->name, c->go_args,
           r);
      free (c->go_args);
      c->go_args = NULL;
    }
    else if (r == c->rate)
      continue;
    else
      say (c, P2V_COORD_RATE, " bps=%" PRIu64, r);
    c->rate = j->rate = r;
    logf_ (co, "rate name=%s bps=%" PRIu64 " running=%zu", j->name, r,
           running);
  }
}

/* Fill free slots, best first; tell the others where they stand. */
static void
schedule (struct coord *co)
{
  while (!co->stop) {           /* no new slots while stopping */
    struct client *best = NULL;
    int bs = -1;

    for (size_t i = 0; i < co->nc; ++i) {
      struct client *c = co->c[i];
      int s;

      if (c->st != C_WAITING || (s = server_of (co, &co->jobs.ptr[c->job]))
          < 0)
        continue;
      const struct batch_storage *st =
        &co->m.storages.ptr[co->m.servers.ptr[s].storage];
      if (writers (co, st->name) >= st->max_writers)
        continue;
      if (best == NULL || priority (co, c) > priority (co, best) ||
          (priority (co, c) == priority (co, best) && c->seq < best->seq)) {
        best = c;
        bs = s;
      }
    }
    if (best == NULL)
      break;
    start (co, best, bs);
  }
  share_bandwidth (co);
  for (size_t i = 0; i < co->nc; ++i) {
    struct client *c = co->c[i];
    const struct batch_job *j;
    const struct batch_storage *st;
    char msg[1024], names[512] = "";
    size_t ahead = 0, n = 0;

    if (c->st != C_WAITING)
      continue;
    j = &co->jobs.ptr[c->job];
    st = storage_named (co, j->storage);
    for (size_t k = 0; k < co->jobs.len; ++k)
      if (!strcmp (co->jobs.ptr[k].state, P2V_JOB_RUNNING) &&
          !strcmp (co->jobs.ptr[k].storage, j->storage))
        if (n < sizeof names)
          n += snprintf (names + n, sizeof names - n, "%s%s", n ? ", " : "",
                         co->jobs.ptr[k].name);
    for (size_t k = 0; k < co->nc; ++k)
      ahead += co->c[k]->st == C_WAITING && co->c[k] != c &&
               !strcmp (co->jobs.ptr[co->c[k]->job].storage, j->storage) &&
               (priority (co, co->c[k]) > priority (co, c) ||
                (priority (co, co->c[k]) == priority (co, c) &&
                 co->c[k]->seq < c->seq));
    snprintf (msg, sizeof msg, "'%s' waits for storage '%s': %d of %d "
              "writer(s) busy (%s), %zu ahead in the queue", j->name,
              j->storage, writers (co, j->storage),
              st ? st->max_writers : 0, names, ahead);
    say_msg (c, P2V_COORD_WAIT, msg);
  }
}

/* Match c's machine against the manifest: wait for a slot, or hold. */
static void
admit (struct coord *co, struct client *c)
{
  struct batch_identity id;
  struct batch_held *h = &c->held;
  char macs[1024], why[1024];
  int s, j;

  snprintf (macs, sizeof macs, "%s", h->macs);
  id = (struct batch_identity) { h->agent, h->hostname, h->serial };
  for (char *p = strtok (macs, ","); p && id.nmacs < BATCH_MAX_MACS;
       p = strtok (NULL, ","))
    id.macs[id.nmacs++] = p;
  s = batch_match (&co->m, &id, why, sizeof why);
  if (s < 0) {
    char e[2048];

    c->st = C_HELD;
    snprintf (h->reason, sizeof h->reason, "%s", why);
    h->last = wall ();
    h->since = h->since ? h->since : h->last;
    h->connected = true;
    batch_held_save (co->spoolfd, h);
    logf_ (co, "held agent=%s reason=%s", h->agent, enc (why, e, sizeof e));
    say_msg (c, P2V_COORD_HELD, why);
    return;
  }
  char path[P2V_MAX_NAME + 16];

  snprintf (path, sizeof path, "held/%s", h->agent);
  unlinkat (co->spoolfd, path, 0);      /* held before, known now */
  j = job_index (co, co->m.servers.ptr[s].name);
  struct batch_job *b = &co->jobs.ptr[j];
  if (!strcmp (b->state, P2V_JOB_COMPLETE)) {
    char e[16384], msg[5000];

    snprintf (msg, sizeof msg, "server '%s' was converted already (%s); "
              "to convert it again, remove that directory and %s/jobs/%s, "
              "then run p2v-batch reload",
              b->name, b->conversion, co->spool, b->name);
    logf_ (co, "refuse name=%s agent=%s reason=complete", b->name, h->agent);
    say (c, P2V_COORD_REFUSE,
         " code=" P2V_COORD_REFUSE_COMPLETE " message=%s",
         enc (msg, e, sizeof e));
    c->st = C_DONE;
    return;
  }
  if (client_of_job (co, j) || !strcmp (b->state, P2V_JOB_RUNNING)) {
    char e[2048], msg[1024];

    snprintf (msg, sizeof msg, "server '%s' has a session open already "
              "(receiver pid %ld), an old one that has not yet noticed its "
              "agent left; the agent retries", b->name, b->pid);
    logf_ (co, "refuse name=%s agent=%s reason=busy", b->name, h->agent);
    say (c, P2V_COORD_REFUSE, " code=" P2V_COORD_REFUSE_RETRY " message=%s",
         enc (msg, e, sizeof e));
    c->st = C_DONE;
    return;
  }
  c->job = j;
  c->st = C_WAITING;
  c->seq = ++co->seq;
  snprintf (b->state, sizeof b->state, P2V_JOB_WAITING);
  snprintf (b->agent, sizeof b->agent, "%s", h->agent);
  snprintf (b->hostname, sizeof b->hostname, "%s", h->hostname);
  snprintf (b->serial, sizeof b->serial, "%s", h->serial);
  snprintf (b->macs, sizeof b->macs, "%s", h->macs);
  b->first_seen = b->first_seen ? b->first_seen : wall ();
  logf_ (co, "queued name=%s agent=%s storage=%s priority=%d", b->name,
         h->agent, b->storage, priority (co, c));
  save_job (co, j);
}

static void
on_hello (struct coord *co, struct client *c, const struct p2v_kv *kv)
{
  struct batch_held *h = &c->held;
  const char *agent = p2v_kv_str (kv, "agent", "");

  if (!p2v_name_valid (agent)) {
    say (c, P2V_COORD_REFUSE, " code=" P2V_COORD_REFUSE_REFUSED
         " message=the%%20agent's%%20name%%20"
         "is%%20not%%20valid");
    c->st = C_DONE;
    return;
  }
  snprintf (h->agent, sizeof h->agent, "%s", agent);
  snprintf (h->hostname, sizeof h->hostname, "%s",
            p2v_kv_str (kv, "hostname", ""));
  snprintf (h->serial, sizeof h->serial, "%s", p2v_kv_str (kv, "serial", ""));
  snprintf (h->macs, sizeof h->macs, "%s", p2v_kv_str (kv, "macs", ""));
  logf_ (co, "hello agent=%s pid=%ld size=%s", agent, c->pid,
         p2v_kv_str (kv, "size", "0"));
  admit (co, c);
  if (c->st == C_WAITING)
    co->jobs.ptr[c->job].size = p2v_kv_u64 (kv, "size");
  schedule (co);
}

static void
on_progress (struct coord *co, struct client *c, const struct p2v_kv *kv)
{
  struct batch_job *j;

  if (c->st != C_RUNNING)
    return;
  j = &co->jobs.ptr[c->job];
  j->wire = c->wire_base + p2v_kv_u64 (kv, "wire");
  j->received = p2v_kv_u64 (kv, "received");
  if (p2v_kv_get (kv, "size"))          /* the disks it sends */
    j->size = p2v_kv_u64 (kv, "size");
  /* Sampled as the figures arrive, so time and bytes agree. */
  double now = wall ();
  if (now - c->sampled >= SAVE_EVERY) {
    batch_sample_append (co->spoolfd, j->name, &(struct batch_sample) {
                           now, j->wire, j->received });
    c->sampled = now;
  }
}

/* The outcome: from the running receiver, or (after a restart) from one
 * that finished on its own.
 */
static void
on_done (struct coord *co, struct client *c, const struct p2v_kv *kv)
{
  const char *name = p2v_kv_str (kv, "name", ""), *res;
  int j = c->st == C_RUNNING ? c->job : job_index (co, name);
  struct batch_job *b;
  char e[2048];

  if (j < 0 || (c->st != C_RUNNING && client_of_job (co, j)))
    return;
  b = &co->jobs.ptr[j];
  res = p2v_coord_result (p2v_kv_get (kv, "result"));
  if (c->st == C_RUNNING) {
    b->wire = c->wire_base + p2v_kv_u64 (kv, "wire");
    account (co, c);
  }
  snprintf (b->state, sizeof b->state, "%s", res);
  snprintf (b->message, sizeof b->message, "%s",
            p2v_kv_str (kv, "message", ""));
  b->data = p2v_kv_u64 (kv, "data");
  b->allocated = p2v_kv_u64 (kv, "allocated");
  if (!strcmp (res, P2V_JOB_COMPLETE)) {
    b->finished = wall ();
    b->received = b->size;
    snprintf (b->verification, sizeof b->verification, "%s",
              p2v_kv_str (kv, "verification", ""));
    snprintf (b->fixup, sizeof b->fixup, "%s", p2v_kv_str (kv, "fixup", ""));
    b->fixup_changes = atoi (p2v_kv_str (kv, "fixup_changes", "-1"));
    snprintf (b->domain, sizeof b->domain, "%s",
              p2v_kv_str (kv, "domain", ""));
    snprintf (b->uuid, sizeof b->uuid, "%s", p2v_kv_str (kv, "uuid", ""));
    b->defined = atoi (p2v_kv_str (kv, "defined", "-1"));
    if (*p2v_kv_str (kv, "path", ""))
      snprintf (b->conversion, sizeof b->conversion, "%s",
                p2v_kv_str (kv, "path", ""));
  }
  b->pid = 0;
  b->rate = 0;
  if (c->st == C_RUNNING)
    c->st = C_DONE;
  logf_ (co, "end name=%s result=%s writers=%d message=%s", b->name, res,
         writers (co, b->storage), enc (b->message, e, sizeof e));
  save_job (co, j);
  schedule (co);
}

/* reload: the manifest again; held machines are matched again. */
static int
reload (struct coord *co)
{
  struct batch_manifest m;

  if (batch_manifest_load (co->manifest_path, &m) == -1) {
    logf_ (co, "reload failed: %s; keeping the manifest loaded before",
           p2v_last_error ());
    return -1;
  }
  batch_manifest_free (&co->m);
  co->m = m;
  if (load_jobs (co) == -1)
    return -1;
  logf_ (co, "reload manifest=%s servers=%zu", co->manifest_path,
         co->m.servers.len);
  for (size_t i = 0; i < co->nc; ++i)
    if (co->c[i]->st == C_HELD)
      admit (co, co->c[i]);
  schedule (co);
  return 0;
}

static void
handle_line (struct coord *co, struct client *c, const struct p2v_kv *kv)
{
  const char *v = kv->verb;

  if (!strcmp (v, P2V_COORD_HELLO) && c->st == C_NEW)
    on_hello (co, c, kv);
  else if (!strcmp (v, P2V_COORD_PROGRESS))
    on_progress (co, c, kv);
  else if (!strcmp (v, P2V_COORD_DONE))
    on_done (co, c, kv);
  else if (!strcmp (v, P2V_COORD_RELOAD) && c->st == C_NEW) {
    c->st = C_CONTROL;
    say (c, reload (co) == 0 ? P2V_COORD_OK : P2V_COORD_ERROR, "%s", "");
  }
  else if (!strcmp (v, P2V_COORD_STOP) && c->st == C_NEW) {
    c->st = C_CONTROL;
    co->stop = true;
    say (c, P2V_COORD_OK, "%s", "");
  }
}

/* A receiver went away: what it was doing is interrupted. */
static void
drop (struct coord *co, size_t i)
{
  struct client *c = co->c[i];

  if (c->st == C_RUNNING || c->st == C_WAITING) {
    struct batch_job *b = &co->jobs.ptr[c->job];

    if (c->st == C_RUNNING)
      account (co, c);
    snprintf (b->state, sizeof b->state, P2V_JOB_INTERRUPTED);
    snprintf (b->message, sizeof b->message, "%s", co->stop
              ? "the coordinator stopped; it resumes when its agent "
                "reconnects" : c->st == C_RUNNING
              ? "the receiver ended without an outcome"
              : "the agent went away while it waited");
    b->pid = 0;
    b->rate = 0;
    logf_ (co, "end name=%s result=interrupted writers=%d", b->name,
           writers (co, b->storage) - (c->st == C_RUNNING));
    c->st = C_DONE;
    save_job (co, c->job);
  }
  if (c->st == C_HELD) {
    c->held.connected = false;
    c->held.last = wall ();
    batch_held_save (co->spoolfd, &c->held);
  }
  close (c->fd);
  free (c->go_args);
  free (c);
  co->c[i] = co->c[--co->nc];
  schedule (co);
}

static void
read_client (struct coord *co, size_t i)
{
  struct client *c = co->c[i];
  ssize_t n = recv (c->fd, c->in + c->in_len, sizeof c->in - c->in_len,
                    MSG_DONTWAIT);
  char *nl;

  if (n == -1 && (errno == EAGAIN || errno == EINTR))
    return;
  if (n <= 0 || (c->in_len += n) == sizeof c->in) {
    drop (co, i);
    return;
  }
  while ((nl = memchr (c->in, '\n', c->in_len)) != NULL) {
    struct p2v_kv kv = { 0 };
    size_t len = nl - c->in + 1;

    *nl = '\0';
    if (p2v_kv_parse (&kv, c->in) == 0 && kv.verb)
      handle_line (co, c, &kv);
    else
      logf_ (co, "malformed line from pid %ld ignored", c->pid);
    p2v_kv_free (&kv);
    memmove (c->in, c->in + len, c->in_len - len);
    c->in_len -= len;
  }
}

static void
accept_client (struct coord *co)
{
  int fd = accept4 (co->lfd, NULL, NULL, SOCK_CLOEXEC);
  struct ucred cr;
  socklen_t len = sizeof cr;
  struct timeval tv = { 5, 0 };
  struct client *c;

  if (fd == -1)
    return;
  if (co->nc == MAX_CLIENTS || (c = calloc (1, sizeof *c)) == NULL) {
    close (fd);
    return;
  }
  setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  c->fd = fd;
  c->job = -1;
  c->pid = getsockopt (fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0
           ? cr.pid : 0;
  co->c[co->nc++] = c;
}

/* Every SAVE_EVERY seconds: running jobs' files, and orphans from
 * before a restart.
 */
static void
tick (struct coord *co)
{
  double now = wall ();

  if (now - co->last_save < SAVE_EVERY)
    return;
  for (size_t i = 0; i < co->nc; ++i) {
    struct client *c = co->c[i];

    if (c->st != C_RUNNING)
      continue;
    account (co, c);
    save_job (co, c->job);
  }
  for (size_t j = 0; j < co->jobs.len; ++j)
    if (!client_of_job (co, j) &&
        !strcmp (co->jobs.ptr[j].state, P2V_JOB_RUNNING)) {
      settle (co, j);
      if (strcmp (co->jobs.ptr[j].state, P2V_JOB_RUNNING))
        schedule (co);
    }
  co->last_save = now;
}

static int
listen_socket (struct coord *co)
{
  struct sockaddr_un sa = { .sun_family = AF_UNIX };

  if ((size_t) snprintf (sa.sun_path, sizeof sa.sun_path, "%s/%s",
                         co->spool, P2V_COORD_SOCKET) >= sizeof sa.sun_path) {
    p2v_error ("spool %s: the path is too long for a socket", co->spool);
    return -1;
  }
  unlink (sa.sun_path);         /* ours: we hold the lock */
  co->lfd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (co->lfd == -1 || bind (co->lfd, (struct sockaddr *) &sa, sizeof sa)
      == -1 || chmod (sa.sun_path, 0660) == -1 || listen (co->lfd, 64) == -1) {
    p2v_error ("%s: %m", sa.sun_path);
    return -1;
  }
  return 0;
}

static int
take_lock (struct coord *co)
{
  char pid[32];

  co->lockfd = openat (co->spoolfd, BATCH_LOCK, O_RDWR | O_CREAT | O_CLOEXEC,
                       0644);
  if (co->lockfd == -1) {
    p2v_error ("spool %s: %s: %m", co->spool, BATCH_LOCK);
    return -1;
  }
  if (flock (co->lockfd, LOCK_EX | LOCK_NB) == -1) {
    ssize_t n = pread (co->lockfd, pid, sizeof pid - 1, 0);

    pid[n > 0 ? n : 0] = '\0';
    p2v_error ("a coordinator (pid %s) already runs on the spool %s",
               *pid ? pid : "?", co->spool);
    return -1;
  }
  snprintf (pid, sizeof pid, "%ld\n", (long) getpid ());
  if (ftruncate (co->lockfd, 0) == -1 ||
      pwrite (co->lockfd, pid, strlen (pid), 0) == -1)
    return -1;
  return 0;
}

int
batch_run (const char *spool, const char *manifest)
{
  struct coord co = { spool, manifest, .spoolfd = -1, .lockfd = -1,
                      .lfd = -1, .sigfd = -1 };
  sigset_t set;
  int r = -1;

  if (batch_manifest_load (manifest, &co.m) == -1)
    return -1;
  if ((co.spoolfd = batch_spool_open (spool, true)) == -1 ||
      take_lock (&co) == -1)
    goto out;
  int lfd = openat (co.spoolfd, BATCH_LOG, O_WRONLY | O_APPEND | O_CREAT |
                    O_CLOEXEC, 0644);
  if (lfd == -1 || (co.log = fdopen (lfd, "a")) == NULL) {
    p2v_error ("spool %s: %s: %m", spool, BATCH_LOG);
    if (lfd >= 0)
      close (lfd);
    goto out;
  }
  if (load_jobs (&co) == -1)
    goto out;
  /* The jobs of servers no longer in the manifest, for status. */
  struct batch_jobs all = { 0 };
  if (batch_jobs_load_all (co.spoolfd, &all) == 0)
    for (size_t i = 0; i < all.len; ++i)
      if (job_index (&co, all.ptr[i].name) < 0)
        batch_jobs_append (&co.jobs, all.ptr[i]);
  batch_jobs_reset (&all);
  sigemptyset (&set);
  sigaddset (&set, SIGTERM);
  sigaddset (&set, SIGINT);
  sigaddset (&set, SIGHUP);
  sigprocmask (SIG_BLOCK, &set, NULL);
  signal (SIGPIPE, SIG_IGN);
  if ((co.sigfd = signalfd (-1, &set, SFD_CLOEXEC)) == -1 ||
      listen_socket (&co) == -1)
    goto out;
  logf_ (&co, "start pid=%ld manifest=%s servers=%zu bandwidth=%" PRIu64,
         (long) getpid (), manifest, co.m.servers.len, co.m.bandwidth);
  for (size_t j = 0; j < co.jobs.len; ++j)
    settle (&co, j);
  while (!co.stop) {
    struct pollfd p[MAX_CLIENTS + 2];
    struct signalfd_siginfo si;
    size_t n = co.nc;

    p[0] = (struct pollfd) { co.lfd, POLLIN, 0 };
    p[1] = (struct pollfd) { co.sigfd, POLLIN, 0 };
    for (size_t i = 0; i < n; ++i)
      p[i + 2] = (struct pollfd) { co.c[i]->fd, POLLIN, 0 };
    if (poll (p, n + 2, 1000) == -1 && errno != EINTR) {
      p2v_error ("poll: %m");
      goto out;
    }
    /* Clients from the back: drop() moves the last one into a hole. */
    for (size_t i = n; i-- > 0;)
      if (p[i + 2].revents)
        read_client (&co, i);
    if (p[0].revents)
      accept_client (&co);
    if (p[1].revents && read (co.sigfd, &si, sizeof si) == sizeof si) {
      if (si.ssi_signo == SIGHUP)
        reload (&co);
      else
        co.stop = true;
    }
    tick (&co);
  }
  r = 0;
 out:
  if (co.log) {
    /* The receivers end their sessions (RETRY); agents come back. */
    for (size_t i = co.nc; i-- > 0;)
      drop (&co, i);
    logf_ (&co, "stop");
    fclose (co.log);
  }
  if (co.lfd >= 0) {
    char path[4200];

    snprintf (path, sizeof path, "%s/%s", spool, P2V_COORD_SOCKET);
    unlink (path);
    close (co.lfd);
  }
  if (co.sigfd >= 0)
    close (co.sigfd);
  if (co.lockfd >= 0)
    close (co.lockfd);
  if (co.spoolfd >= 0)
    close (co.spoolfd);
  batch_jobs_reset (&co.jobs);
  batch_manifest_free (&co.m);
  return r;
}
