/* The coordinator's spool: one key=value file per job and per held
 * machine, written atomically, so that status and report read it with
 * or without a coordinator, and a restarted coordinator loses nothing.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batch.h"
#include "coord_proto.h"
#include "fileio.h"
#include "log.h"

const char *const batch_job_states[] = {
  P2V_JOB_PENDING, P2V_JOB_WAITING, P2V_JOB_RUNNING, P2V_JOB_INTERRUPTED,
  P2V_JOB_COMPLETE, P2V_JOB_FAILED, NULL
};

static void
copy (char *dst, size_t len, const struct p2v_kv *kv, const char *key)
{
  snprintf (dst, len, "%s", p2v_kv_str (kv, key, ""));
}

/* Write what fn puts into a memstream as DIR/NAME, atomically: 0, or
 * -1 (reported).
 */
static int
save (int spoolfd, const char *dir, const char *name,
      void (*fn) (FILE *, const void *), const void *what)
{
  char *buf = NULL, path[P2V_MAX_NAME + 16];
  size_t len = 0;
  FILE *fp = open_memstream (&buf, &len);
  int r = -1;

  snprintf (path, sizeof path, "%s/%s", dir, name);
  if (fp) {
    fn (fp, what);
    if (fclose (fp) == 0)
      r = p2v_write_data_at (spoolfd, path, buf, len);
  }
  free (buf);
  if (r == -1)
    p2v_error ("spool: cannot write %s: %m", path);
  return r;
}

static void
put_job (FILE *fp, const void *what)
{
  const struct batch_job *j = what;

  p2v_kv_put (fp, '\n', "name", j->name);
  p2v_kv_put (fp, '\n', "state", j->state);
  p2v_kv_put (fp, '\n', "storage", j->storage);
  p2v_kv_put (fp, '\n', "message", j->message);
  p2v_kv_put (fp, '\n', "agent", j->agent);
  p2v_kv_put (fp, '\n', "hostname", j->hostname);
  p2v_kv_put (fp, '\n', "serial", j->serial);
  p2v_kv_put (fp, '\n', "macs", j->macs);
  p2v_kv_put (fp, '\n', "conversion", j->conversion);
  p2v_kv_putf (fp, '\n', "size", "%" PRIu64, j->size);
  p2v_kv_putf (fp, '\n', "received", "%" PRIu64, j->received);
  p2v_kv_putf (fp, '\n', "wire", "%" PRIu64, j->wire);
  p2v_kv_putf (fp, '\n', "data", "%" PRIu64, j->data);
  p2v_kv_putf (fp, '\n', "allocated", "%" PRIu64, j->allocated);
  p2v_kv_putf (fp, '\n', "rate", "%" PRIu64, j->rate);
  p2v_kv_putf (fp, '\n', "first_seen", "%.3f", j->first_seen);
  p2v_kv_putf (fp, '\n', "started", "%.3f", j->started);
  p2v_kv_putf (fp, '\n', "finished", "%.3f", j->finished);
  p2v_kv_putf (fp, '\n', "running_seconds", "%.3f", j->running_seconds);
  p2v_kv_putf (fp, '\n', "sessions", "%" PRIu32, j->sessions);
  p2v_kv_putf (fp, '\n', "pid", "%ld", j->pid);
  p2v_kv_put (fp, '\n', "verification", j->verification);
  p2v_kv_put (fp, '\n', "fixup", j->fixup);
  p2v_kv_putf (fp, '\n', "fixup_changes", "%d", j->fixup_changes);
  p2v_kv_put (fp, '\n', "domain", j->domain);
  p2v_kv_put (fp, '\n', "uuid", j->uuid);
  p2v_kv_putf (fp, '\n', "defined", "%d", j->defined);
}

int
batch_job_save (int spoolfd, const struct batch_job *j)
{
  return save (spoolfd, "jobs", j->name, put_job, j);
}

int
batch_job_load (int spoolfd, const char *name, struct batch_job *j)
{
  struct p2v_kv kv = { 0 };
  char path[P2V_MAX_NAME + 16];

  snprintf (path, sizeof path, "jobs/%s", name);
  if (p2v_kv_load_at (&kv, spoolfd, path) == -1) {
    int e = errno;

    p2v_kv_free (&kv);
    errno = e;
    return -1;
  }
  *j = (struct batch_job) { .fixup_changes = -1, .defined = -1 };
  snprintf (j->name, sizeof j->name, "%s", name);
  copy (j->state, sizeof j->state, &kv, "state");
  copy (j->storage, sizeof j->storage, &kv, "storage");
  copy (j->message, sizeof j->message, &kv, "message");
  copy (j->agent, sizeof j->agent, &kv, "agent");
  copy (j->hostname, sizeof j->hostname, &kv, "hostname");
  copy (j->serial, sizeof j->serial, &kv, "serial");
  copy (j->macs, sizeof j->macs, &kv, "macs");
  copy (j->conversion, sizeof j->conversion, &kv, "conversion");
  j->size = p2v_kv_u64 (&kv, "size");
  j->received = p2v_kv_u64 (&kv, "received");
  j->wire = p2v_kv_u64 (&kv, "wire");
  j->data = p2v_kv_u64 (&kv, "data");
  j->allocated = p2v_kv_u64 (&kv, "allocated");
  j->rate = p2v_kv_u64 (&kv, "rate");
  j->first_seen = p2v_kv_double (&kv, "first_seen");
  j->started = p2v_kv_double (&kv, "started");
  j->finished = p2v_kv_double (&kv, "finished");
  j->running_seconds = p2v_kv_double (&kv, "running_seconds");
  j->sessions = p2v_kv_u64 (&kv, "sessions");
  j->pid = atol (p2v_kv_str (&kv, "pid", "0"));
  copy (j->verification, sizeof j->verification, &kv, "verification");
  copy (j->fixup, sizeof j->fixup, &kv, "fixup");
  j->fixup_changes = atoi (p2v_kv_str (&kv, "fixup_changes", "-1"));
  copy (j->domain, sizeof j->domain, &kv, "domain");
  copy (j->uuid, sizeof j->uuid, &kv, "uuid");
  j->defined = atoi (p2v_kv_str (&kv, "defined", "-1"));
  p2v_kv_free (&kv);
  if (*j->state == '\0')
    snprintf (j->state, sizeof j->state, P2V_JOB_PENDING);
  return 0;
}

static int
plain (const struct dirent *e)
{
  return strchr (e->d_name, '.') == NULL;
}

/* The plain names (no '.': samples and temporary files) in dir, in
 * order.
 */
static int
list (int spoolfd, const char *dir, struct dirent ***names)
{
  int n = scandirat (spoolfd, dir, names, plain, alphasort);

  if (n == -1)
    p2v_error ("spool: %s: %m", dir);
  return n;
}

int
batch_jobs_load_all (int spoolfd, struct batch_jobs *v)
{
  struct dirent **names;
  int n = list (spoolfd, "jobs", &names), r = n < 0 ? -1 : 0;

  for (int i = 0; i < n; ++i) {
    struct batch_job j;

    if (r == 0 && batch_job_load (spoolfd, names[i]->d_name, &j) == 0 &&
        batch_jobs_append (v, j) == -1) {
      p2v_error ("out of memory");
      r = -1;
    }
    free (names[i]);
  }
  if (n >= 0)
    free (names);
  return r;
}

int
batch_sample_append (int spoolfd, const char *name,
                     const struct batch_sample *s)
{
  char path[P2V_MAX_NAME + 16], line[128];
  int fd, n, r;

  snprintf (path, sizeof path, "jobs/%s.samples", name);
  fd = openat (spoolfd, path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
               0644);
  if (fd == -1)
    return -1;
  n = snprintf (line, sizeof line, "%.3f %" PRIu64 " %" PRIu64 "\n", s->t,
                s->wire, s->received);
  r = write (fd, line, n) == n ? 0 : -1;
  close (fd);
  return r;
}

int
batch_samples_load (int spoolfd, const char *name, struct batch_samples *v)
{
  char path[P2V_MAX_NAME + 16], line[128];
  int fd;
  FILE *fp;

  snprintf (path, sizeof path, "jobs/%s.samples", name);
  fd = openat (spoolfd, path, O_RDONLY | O_CLOEXEC);
  fp = fd >= 0 ? fdopen (fd, "r") : NULL;
  if (fp == NULL) {
    if (fd >= 0)
      close (fd);
    return errno == ENOENT ? 0 : -1;
  }
  while (fgets (line, sizeof line, fp)) {
    struct batch_sample s;

    if (sscanf (line, "%lf %" SCNu64 " %" SCNu64, &s.t, &s.wire,
                &s.received) == 3 && batch_samples_append (v, s) == -1) {
      fclose (fp);
      return -1;
    }
  }
  fclose (fp);
  return 0;
}

static void
put_held (FILE *fp, const void *what)
{
  const struct batch_held *h = what;

  p2v_kv_put (fp, '\n', "agent", h->agent);
  p2v_kv_put (fp, '\n', "hostname", h->hostname);
  p2v_kv_put (fp, '\n', "serial", h->serial);
  p2v_kv_put (fp, '\n', "macs", h->macs);
  p2v_kv_put (fp, '\n', "reason", h->reason);
  p2v_kv_putf (fp, '\n', "since", "%.3f", h->since);
  p2v_kv_putf (fp, '\n', "last", "%.3f", h->last);
  p2v_kv_put (fp, '\n', "connected", h->connected ? "yes" : "no");
}

int
batch_held_save (int spoolfd, const struct batch_held *h)
{
  return save (spoolfd, "held", h->agent, put_held, h);
}

int
batch_held_load_all (int spoolfd, struct batch_helds *v)
{
  struct dirent **names;
  int n = list (spoolfd, "held", &names), r = n < 0 ? -1 : 0;

  for (int i = 0; i < n; ++i) {
    struct p2v_kv kv = { 0 };
    char path[P2V_MAX_NAME + 300];
    struct batch_held h = { 0 };

    snprintf (path, sizeof path, "held/%s", names[i]->d_name);
    if (r == 0 && p2v_kv_load_at (&kv, spoolfd, path) == 0) {
      snprintf (h.agent, sizeof h.agent, "%.*s", P2V_MAX_NAME,
                names[i]->d_name);
      copy (h.hostname, sizeof h.hostname, &kv, "hostname");
      copy (h.serial, sizeof h.serial, &kv, "serial");
      copy (h.macs, sizeof h.macs, &kv, "macs");
      copy (h.reason, sizeof h.reason, &kv, "reason");
      h.since = p2v_kv_double (&kv, "since");
      h.last = p2v_kv_double (&kv, "last");
      h.connected = !strcmp (p2v_kv_str (&kv, "connected", ""), "yes");
      if (batch_helds_append (v, h) == -1) {
        p2v_error ("out of memory");
        r = -1;
      }
    }
    p2v_kv_free (&kv);
    free (names[i]);
  }
  if (n >= 0)
    free (names);
  return r;
}

int
batch_spool_open (const char *spool, bool create)
{
  int fd;

  if (create && mkdir (spool, 0750) == -1 && errno != EEXIST) {
    p2v_error ("spool %s: %m", spool);
    return -1;
  }
  fd = open (spool, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd == -1) {
    p2v_error ("spool %s: %m%s", spool, errno == ENOENT ? " (has a "
               "coordinator ever run with it? see p2v-batch run)" : "");
    return -1;
  }
  if (create && ((mkdirat (fd, "jobs", 0750) == -1 && errno != EEXIST) ||
                 (mkdirat (fd, "held", 0750) == -1 && errno != EEXIST))) {
    p2v_error ("spool %s: mkdir: %m", spool);
    close (fd);
    return -1;
  }
  return fd;
}

bool
batch_coordinator_running (int spoolfd)
{
  int fd = openat (spoolfd, BATCH_LOCK, O_RDONLY | O_CLOEXEC);
  bool running;

  if (fd == -1)
    return false;
  running = flock (fd, LOCK_SH | LOCK_NB) == -1 && errno == EWOULDBLOCK;
  close (fd);
  return running;
}
