/* p2v-receiver --batch SPOOL: the receiver asks the batch coordinator
 * (p2v-batch run) which server this is, waits for its turn, takes the
 * manifest's options, and reports progress and the outcome.  The
 * coordinator's bandwidth share is applied here, on the data path: the
 * receiver reads the agent's stream no faster than its rate, and TCP
 * holds the agent back.  docs/p2v-batch.pod, PROTOCOL, has the lines.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "recv_batch.h"
#include "domain.h"
#include "coord_proto.h"
#include "fileio.h"
#include "kv.h"
#include "log.h"
#include "proto.h"

#define SAY_EVERY 20.0          /* repeat the status: the agent's keepalive */
#define PROGRESS_EVERY 1.0

struct recv_batch {
  const char *spool;
  int fd;                       /* the coordinator, -1 once gone */
  char in[8192];
  size_t in_len;
  char *name;
  int argc;
  char **argv;
  char **disks;                 /* the manifest's disks=, NULL-ended */
  size_t ndisks;
  uint64_t rate;                /* bytes/s, 0: no cap */
  double t0;                    /* the rate's window: since t0 ... */
  uint64_t w0;                  /* ... from w0 bytes on */
  double last_progress;
};

static int
connect_coordinator (struct recv_batch *b)
{
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  int fd;

  if ((size_t) snprintf (sa.sun_path, sizeof sa.sun_path, "%s/%s", b->spool,
                         P2V_COORD_SOCKET) >= sizeof sa.sun_path) {
    p2v_error ("--batch %s: the path is too long for a socket", b->spool);
    return -1;
  }
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd == -1 || connect (fd, (struct sockaddr *) &sa, sizeof sa) == -1) {
    p2v_error ("the batch coordinator is not running (%s: %m); start it "
               "with p2v-batch run --spool %s", sa.sun_path, b->spool);
    if (fd >= 0)
      close (fd);
    return -1;
  }
  b->fd = fd;
  return 0;
}

/* Send one line built in a memstream; -1 if the coordinator is gone. */
static int
send_line (struct recv_batch *b, const char *line, size_t len)
{
  while (len > 0 && b->fd >= 0) {
    ssize_t n = send (b->fd, line, len, MSG_NOSIGNAL);

    if (n == -1 && errno == EINTR)
      continue;
    if (n <= 0) {
      close (b->fd);
      b->fd = -1;
      break;
    }
    line += n;
    len -= n;
  }
  return b->fd >= 0 ? 0 : -1;
}

/* Read what is there (wait: at least one line, up to timeout_ms); the
 * next complete line into kv: 1, 0 if none yet, -1 if the coordinator
 * went away or sent garbage.
 */
static int
next_line (struct recv_batch *b, struct p2v_kv *kv, int timeout_ms)
{
  char *nl;

  for (;;) {
    nl = memchr (b->in, '\n', b->in_len);
    if (nl) {
      size_t n = nl - b->in + 1;
      int r;

      *nl = '\0';
      r = p2v_kv_parse (kv, b->in);
      memmove (b->in, b->in + n, b->in_len - n);
      b->in_len -= n;
      if (r == -1 || kv->verb == NULL) {
        p2v_error ("the batch coordinator sent a malformed line");
        return -1;
      }
      return 1;
    }
    if (b->in_len == sizeof b->in) {
      p2v_error ("the batch coordinator sent an overlong line");
      return -1;
    }
    struct pollfd p = { b->fd, POLLIN, 0 };
    int r = poll (&p, 1, timeout_ms);

    if (r == 0 || (r == -1 && errno == EINTR))
      return 0;
    ssize_t n = recv (b->fd, b->in + b->in_len, sizeof b->in - b->in_len,
                      MSG_DONTWAIT);
    if (n == -1 && (errno == EAGAIN || errno == EINTR))
      return 0;
    if (n <= 0) {
      close (b->fd);
      b->fd = -1;
      return -1;
    }
    b->in_len += n;
    timeout_ms = 0;
  }
}

static void
hello (const struct p2v_inventory *inv, FILE *fp)
{
  uint64_t size = 0, data = 0;
  const char *serial = p2v_fact (inv, "dmi.serial");
  bool first = true;

  for (uint32_t i = 0; i < inv->ndisks; ++i) {
    size += inv->disks[i].size;
    data += inv->disks[i].data_bytes;
  }
  fputs (P2V_COORD_HELLO, fp);
  p2v_kv_put (fp, ' ', "agent", inv->name);
  p2v_kv_put (fp, ' ', "hostname", inv->hostname);
  p2v_kv_put (fp, ' ', "serial", serial ? serial : "");
  fputs (" macs=", fp);
  for (int i = 0; i < RECV_MAX_NICS; ++i) {
    const char *mac;

    if ((mac = p2v_fact_nth (inv, "nic", i, "mac")) == NULL)
      continue;
    fprintf (fp, "%s%s", first ? "" : ",", mac);
    first = false;
  }
  fprintf (fp, " size=%" PRIu64 " data=%" PRIu64 " disks=%" PRIu32 "\n",
           size, data, inv->ndisks);
}

static int
send_hello (struct recv_batch *b, const struct p2v_inventory *inv)
{
  char *buf = NULL;
  size_t len = 0;
  FILE *fp = open_memstream (&buf, &len);
  int r;

  if (fp == NULL)
    return -1;
  hello (inv, fp);
  if (fclose (fp) != 0) {
    free (buf);
    return -1;
  }
  r = send_line (b, buf, len);
  free (buf);
  return r;
}

/* go name=NAME arg=... rate=N: this session's name and options. */
static int
take_go (struct recv_batch *b, const struct p2v_kv *kv)
{
  const char *name = p2v_kv_get (kv, "name");
  size_t n = 1;

  if (name == NULL || !p2v_name_valid (name)) {
    p2v_error ("the batch coordinator gave no valid conversion name");
    return -1;
  }
  for (size_t i = 0; i < kv->pairs.len; ++i)
    n += !strcmp (kv->pairs.ptr[i].key, "arg") ||
         !strcmp (kv->pairs.ptr[i].key, "disk");
  b->argv = calloc (n + 1, sizeof *b->argv);
  b->disks = calloc (n + 1, sizeof *b->disks);
  if (b->argv == NULL || b->disks == NULL ||
      (b->name = strdup (name)) == NULL ||
      (b->argv[0] = strdup ("p2v-receiver")) == NULL)
    return -1;
  b->argc = 1;
  for (size_t i = 0; i < kv->pairs.len; ++i) {
    const struct p2v_kv_pair *p = &kv->pairs.ptr[i];

    if ((!strcmp (p->key, "arg") &&
         (b->argv[b->argc++] = strdup (p->value)) == NULL) ||
        (!strcmp (p->key, "disk") &&
         (b->disks[b->ndisks++] = strdup (p->value)) == NULL))
      return -1;
  }
  b->rate = p2v_kv_u64 (kv, "rate");
  return 0;
}

struct recv_batch *
recv_batch_admit (const char *spool, const struct p2v_inventory *inv,
                  int agent_fd,
                  void (*say) (void *opaque, bool warn, const char *msg),
                  void *opaque, uint32_t *code)
{
  struct recv_batch *b = calloc (1, sizeof *b);
  char last[P2V_MAX_STRING] = "";
  double said = 0;
  bool warn = false;

  *code = P2V_ERR_RETRY;
  if (b == NULL) {
    p2v_error ("out of memory");
    *code = P2V_ERR_INTERNAL;
    return NULL;
  }
  b->spool = spool;
  b->fd = -1;
  if (connect_coordinator (b) == -1 || send_hello (b, inv) == -1)
    goto fail;
  for (;;) {
    struct p2v_kv kv = { 0 };
    struct pollfd p = { agent_fd, POLLIN, 0 };
    int r;

    if (poll (&p, 1, 0) == 1) {
      char c;

      if (p.revents & POLLNVAL || read (agent_fd, &c, 1) <= 0)
        p2v_error ("the agent disconnected while waiting for its turn");
      else
        p2v_error ("the agent sent data before the session began");
      *code = p.revents & POLLNVAL ? 0 : P2V_ERR_PROTOCOL;
      goto fail;
    }
    r = next_line (b, &kv, 1000);
    if (r == -1) {
      p2v_kv_free (&kv);
      if (b->fd == -1)
        p2v_error ("the batch coordinator stopped while this machine "
                   "waited; the agent reconnects to try again");
      goto fail;
    }
    if (r == 1 && !strcmp (kv.verb, P2V_COORD_GO)) {
      r = take_go (b, &kv);
      p2v_kv_free (&kv);
      if (r == -1) {
        *code = P2V_ERR_INTERNAL;
        goto fail;
      }
      return b;
    }
    if (r == 1 && (!strcmp (kv.verb, P2V_COORD_WAIT) ||
                   !strcmp (kv.verb, P2V_COORD_HELD))) {
      snprintf (last, sizeof last, "%s", p2v_kv_str (&kv, "message", ""));
      warn = !strcmp (kv.verb, P2V_COORD_HELD);
      said = 0;
    }
    else if (r == 1 && !strcmp (kv.verb, P2V_COORD_REFUSE)) {
      const char *why = p2v_kv_str (&kv, "message", "refused by the batch "
                                    "coordinator");

      *code = p2v_coord_refuse_error (p2v_kv_str (&kv, "code", ""));
      if (*code == P2V_ERR_COMPLETE)
        p2v_outcome ("%s", why);
      else
        p2v_error ("%s", why);
      p2v_kv_free (&kv);
      goto fail;
    }
    p2v_kv_free (&kv);
    if (*last && p2v_now () - said >= SAY_EVERY) {
      say (opaque, warn, last);
      said = p2v_now ();
    }
  }
 fail:
  recv_batch_free (b);
  return NULL;
}

const char *
recv_batch_name (const struct recv_batch *b)
{
  return b->name;
}

char **
recv_batch_args (const struct recv_batch *b, int *argc)
{
  *argc = b->argc;
  return b->argv;
}

char *const *
recv_batch_disks (const struct recv_batch *b, size_t *n)
{
  *n = b->ndisks;
  return b->disks;
}

/* Read no more than rate bytes a second, with bursts of a second. */
static void
throttle (struct recv_batch *b, uint64_t wire, double now)
{
  if (b->t0 == 0 || wire < b->w0) {
    b->t0 = now;
    b->w0 = wire;
  }
  double allowed = (now - b->t0) * b->rate, used = wire - b->w0;

  if (used + b->rate < allowed) {       /* idle a while: no saving up */
    b->t0 = now;
    b->w0 = wire;
  }
  else if (used > allowed) {
    double s = (used - allowed) / b->rate;
    struct timespec ts = { (time_t) s, (long) ((s - (time_t) s) * 1e9) };

    nanosleep (&ts, NULL);
  }
}

int
recv_batch_tick (struct recv_batch *b, uint64_t wire, uint64_t received,
                 uint64_t size)
{
  double now = p2v_now ();

  if (b->rate)
    throttle (b, wire, now);
  /* After the throttle: the figures then stand at the rate's pace. */
  if (now - b->last_progress >= PROGRESS_EVERY) {
    struct p2v_kv kv = { 0 };
    char line[128];
    int r, n;

    b->last_progress = now;
    n = snprintf (line, sizeof line, P2V_COORD_PROGRESS " wire=%" PRIu64
                  " received=%" PRIu64 " size=%" PRIu64 "\n", wire, received,
                  size);
    send_line (b, line, n);
    while ((r = next_line (b, &kv, 0)) == 1) {
      if (!strcmp (kv.verb, P2V_COORD_RATE)) {
        b->rate = p2v_kv_u64 (&kv, "bps");
        b->t0 = 0;
      }
      p2v_kv_free (&kv);
    }
    p2v_kv_free (&kv);
    if (r == -1 || b->fd == -1) {
      p2v_error ("the batch coordinator (%s) stopped; the agent reconnects "
                 "and resumes what is not yet acknowledged", b->spool);
      return -1;
    }
  }
  return 0;
}

void
recv_batch_done (struct recv_batch *b, const char *line, bool complete)
{
  size_t len = strlen (line);

  if (send_line (b, line, len) == 0 || !complete)
    return;                     /* a new coordinator sees the rest */
  /* The coordinator restarted while the conversion finished: tell the
   * new one.
   */
  if (connect_coordinator (b) == 0 && send_line (b, line, len) == 0)
    return;
  p2v_warning ("the batch coordinator did not get this conversion's "
               "outcome; p2v-batch status reads it from the conversion "
               "directory");
}

void
recv_batch_free (struct recv_batch *b)
{
  if (b == NULL)
    return;
  if (b->fd >= 0)
    close (b->fd);
  for (int i = 0; i < b->argc; ++i)
    free (b->argv[i]);
  free (b->argv);
  for (size_t i = 0; i < b->ndisks; ++i)
    free (b->disks[i]);
  free (b->disks);
  free (b->name);
  free (b);
}
