/* p2v-batch report: what the batch did, for the operators' manager, as
 * Markdown and as a self-contained HTML page with a throughput chart,
 * read from the spool (and the manifest, for servers never seen).
 */
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "coord_proto.h"
#include "fileio.h"
#include "log.h"

int batch_report (int spoolfd, const struct batch_manifest *m,
                  const char *md, const char *html);

#define DASH "\xe2\x80\x94"     /* an em dash: unknown, not yet, none */
#define MIB 1048576.0
#define NCOLS 12
#define MAX_BUCKETS 150         /* of the chart's time grid */
/* The chart: its width, the plot's left, top, width and height. */
#define CW 760
#define CL 70
#define CT 20
#define PW (CW - CL - 20)
#define PH 260

struct report {
  struct batch_jobs jobs;       /* with the manifest's unseen servers */
  struct batch_samples *samples; /* each job's */
  struct batch_helds helds;
};

/* Wire bytes, and seconds with samples, of each job (rows 0 to n-1)
 * and of all (row n) in nb buckets of w seconds from t0.
 */
struct grid {
  double t0, span, w;
  size_t nb, jobs;              /* jobs: with a rate to show */
  double *bytes, *secs;
};

static const char *const job_head[NCOLS] = {
  "Server", "State", "Storage", "Source size", "On disk", "On the wire",
  "Duration", "Downtime", "Verification", "Fixup", "Domain", "Message",
};
static const char *const held_head[] = {
  "Agent", "Hostname", "Serial", "MACs", "Reason", "Since", "Still waiting",
};
static const char *const colours[] = {
  "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
  "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
};
static const char *const dashes[] = {
  "", " stroke-dasharray=\"6 3\"", " stroke-dasharray=\"2 2\"",
};

/* s escaped for a Markdown table cell, or for HTML. */
static void
put (FILE *fp, bool html, const char *s)
{
  static const char *const ent[] = {
    ['&'] = "&amp;", ['<'] = "&lt;", ['>'] = "&gt;", ['"'] = "&quot;",
    ['\''] = "&#39;",
  };

  for (; *s; s++) {
    unsigned char c = *s;

    if (c < 0x20 || c == 0x7f)
      fputc (' ', fp);
    else if (html && c < sizeof ent / sizeof *ent && ent[c])
      fputs (ent[c], fp);
    else if (!html && strchr ("|\\<", c))
      fprintf (fp, "\\%c", c);
    else
      fputc (c, fp);
  }
}

static const char *
or_dash (const char *s)
{
  return *s ? s : DASH;
}

static const char *
size_str (uint64_t n, char *buf, size_t len)
{
  return n ? p2v_human_size (n, buf, len) : DASH;
}

/* "12.3 s", "3 min 05 s", "1 h 02 min"; DASH if none. */
static const char *
duration_str (double s, char *buf, size_t len)
{
  long t, mn;

  if (!(s > 0 && s < 1e12))     /* none, or a corrupt spool */
    return DASH;
  t = s + 0.5;
  mn = (s + 30) / 60;
  if (s < 59.95)
    snprintf (buf, len, "%.1f s", s);
  else if (t < 3600)
    snprintf (buf, len, "%ld min %02ld s", t / 60, t % 60);
  else
    snprintf (buf, len, "%ld h %02ld min", mn / 60, mn % 60);
  return buf;
}

/* Local time, "2024-05-01 14:03:22"; DASH if t is 0. */
static const char *
time_str (double t, char *buf, size_t len)
{
  time_t tt = t > 0 && t < 1e15 ? t : 0;
  struct tm tm;

  if (tt == 0 || localtime_r (&tt, &tm) == NULL ||
      strftime (buf, len, "%Y-%m-%d %H:%M:%S", &tm) == 0)
    return DASH;
  return buf;
}

struct cells {
  const char *c[NCOLS];
  char buf[NCOLS][96];
};

/* A server's row: what each column of job_head shows. */
static void
job_cells (const struct batch_job *j, struct cells *x)
{
  x->c[0] = j->name;
  x->c[1] = j->state;
  x->c[2] = or_dash (j->storage);
  x->c[3] = size_str (j->size, x->buf[3], sizeof x->buf[3]);
  x->c[4] = size_str (j->allocated, x->buf[4], sizeof x->buf[4]);
  x->c[5] = size_str (j->wire, x->buf[5], sizeof x->buf[5]);
  x->c[6] = duration_str (j->running_seconds, x->buf[6], sizeof x->buf[6]);
  /* Live-booted, the source is down from first seen to finished. */
  x->c[7] = j->first_seen <= 0 || j->finished < j->first_seen ? DASH
    : duration_str (j->finished - j->first_seen, x->buf[7], sizeof x->buf[7]);
  x->c[8] = or_dash (j->verification);
  x->c[9] = or_dash (j->fixup);
  if (!strcmp (j->fixup, "complete") && j->fixup_changes >= 0) {
    snprintf (x->buf[9], sizeof x->buf[9], "complete, %d change%s",
              j->fixup_changes, j->fixup_changes == 1 ? "" : "s");
    x->c[9] = x->buf[9];
  }
  x->c[10] = or_dash (j->domain);
  if (*j->domain && j->defined == 1) {
    snprintf (x->buf[10], sizeof x->buf[10], "%s (defined)", j->domain);
    x->c[10] = x->buf[10];
  }
  x->c[11] = strcmp (j->state, P2V_JOB_COMPLETE) ? j->message : "";
}

/* A table row (head: the header, which opens the table); align 'r'
 * right-aligns a column; cls, a job's state, styles an HTML row.
 */
static void
table_row (FILE *fp, bool html, size_t n, const char *const *c,
           const char *align, const char *cls, bool head)
{
  const char *tag = head ? "th" : "td";

  if (html) {
    fputs (head ? "<table>\n<thead><tr" : "<tr", fp);
    if (cls) {
      fputs (" class=\"s-", fp);
      put (fp, true, cls);
      fputc ('"', fp);
    }
    fputc ('>', fp);
  }
  for (size_t i = 0; i < n; i++) {
    if (html)
      fprintf (fp, "<%s%s>", tag, align[i] == 'r' ? " class=\"n\"" : "");
    else
      fputs ("| ", fp);
    put (fp, html, c[i]);
    if (html)
      fprintf (fp, "</%s>", tag);
    else
      fputc (' ', fp);
  }
  fputs (html ? (head ? "</tr></thead>\n<tbody>\n" : "</tr>\n") : "|\n", fp);
  for (size_t i = 0; !html && head && i < n; i++)
    fputs (align[i] == 'r' ? "|---:" : "|---", fp);
  fputs (!html && head ? "|\n" : "", fp);
}

/* The counts by state, data totals and wall time, as list items. */
static void
summary (FILE *fp, bool html, const struct batch_jobs *v)
{
  const char *li = html ? "<li>" : "- ", *eli = html ? "</li>\n" : "\n";
  size_t complete = 0, failed = 0;
  uint64_t size = 0, wire = 0, allocated = 0;
  double first = 0, last = 0;
  char a[32], b[32], c[32], ratio[32], t1[64], t2[64], d[64];

  for (size_t i = 0; i < v->len; i++) {
    const struct batch_job *j = &v->ptr[i];

    complete += !strcmp (j->state, P2V_JOB_COMPLETE);
    failed += !strcmp (j->state, P2V_JOB_FAILED);
    size += j->size;
    wire += j->wire;
    allocated += j->allocated;
    if (j->first_seen > 0 && (first == 0 || j->first_seen < first))
      first = j->first_seen;
    if (j->finished > last)
      last = j->finished;
  }
  fprintf (fp, "%s%zu server%s: %zu complete, %zu failed, %zu other%s", li,
           v->len, v->len == 1 ? "" : "s", complete, failed,
           v->len - complete - failed, eli);
  snprintf (ratio, sizeof ratio, "%.1f %%", size ? 100.0 * wire / size : 0);
  fprintf (fp, "%sData: source %s, on the wire %s (wire/source %s), "
           "on disk (allocated) %s%s", li, size_str (size, a, sizeof a),
           size_str (wire, b, sizeof b), size ? ratio : DASH,
           size_str (allocated, c, sizeof c), eli);
  if (first > 0 && last >= first)
    fprintf (fp, "%sWall time: %s, from %s to %s%s", li,
             duration_str (last - first, d, sizeof d),
             time_str (first, t1, sizeof t1), time_str (last, t2, sizeof t2),
             eli);
  else
    fprintf (fp, "%sWall time: " DASH " (no server finished yet)%s", li, eli);
}

/* Whether sample s and the one before it tell a rate. */
static bool
pair_ok (const struct batch_sample *s)
{
  return s[-1].t > 0 && s->t > s[-1].t && s->t < 1e15;
}

/* Spread rate (bytes/s) from ta to tb over row's buckets. */
static void
grid_add (struct grid *g, size_t row, double ta, double tb, double rate)
{
  for (size_t k = (ta - g->t0) / g->w; k < g->nb; k++) {
    double lo = g->t0 + k * g->w, from = ta > lo ? ta : lo;
    double to = tb < lo + g->w ? tb : lo + g->w;

    if (lo >= tb)
      break;
    if (to > from) {
      g->bytes[row * g->nb + k] += rate * (to - from);
      g->secs[row * g->nb + k] += to - from;
    }
  }
}

/* The jobs' throughput on a common grid (none, nb 0, if no two samples
 * tell a rate): 0, or -1 (reported).
 */
static int
grid_build (const struct report *r, struct grid *g)
{
  size_t n = r->jobs.len;
  double t1 = 0;

  for (size_t i = 0; i < n; i++) {
    bool has = false;

    for (size_t k = 1; k < r->samples[i].len; k++) {
      const struct batch_sample *s = &r->samples[i].ptr[k];

      if (!pair_ok (s))
        continue;
      if (g->jobs == 0 || s[-1].t < g->t0)
        g->t0 = s[-1].t;
      t1 = s->t > t1 ? s->t : t1;
      g->jobs += !has;
      has = true;
    }
  }
  if (g->jobs == 0)
    return 0;
  g->span = t1 - g->t0;
  g->nb = g->span < 4 ? 1 : g->span / 2 > MAX_BUCKETS ? MAX_BUCKETS
    : (size_t) (g->span / 2);
  g->w = g->span / g->nb;
  g->bytes = calloc ((n + 1) * g->nb, sizeof *g->bytes);
  g->secs = calloc ((n + 1) * g->nb, sizeof *g->secs);
  if (g->bytes == NULL || g->secs == NULL) {
    p2v_error ("out of memory");
    return -1;
  }
  for (size_t i = 0; i < n; i++)
    for (size_t k = 1; k < r->samples[i].len; k++) {
      const struct batch_sample *s = &r->samples[i].ptr[k];

      /* Less wire than before: a new session, counting afresh. */
      if (pair_ok (s))
        grid_add (g, i, s[-1].t, s->t, s->wire < s[-1].wire ? 0
                  : (s->wire - s[-1].wire) / (s->t - s[-1].t));
    }
  for (size_t k = 0; k < g->nb; k++) {
    g->secs[n * g->nb + k] = g->w;
    for (size_t i = 0; i < n; i++)
      g->bytes[n * g->nb + k] += g->bytes[i * g->nb + k];
  }
  return 0;
}

/* The smallest 1, 2 or 5 x 10^k step of which ticks reach max. */
static double
nice_step (double max, int ticks)
{
  static const double m[] = { 1, 2, 5 };
  double p;

  for (p = 0.001; p < 1e300; p *= 10)
    for (int i = 0; i < 3; i++)
      if (p * m[i] * ticks >= max)
        return p * m[i];
  return p;
}

/* A grid row as a polyline, and its legend entry number pos. */
static void
series (FILE *fp, const struct grid *g, size_t row, double ymax,
        const char *style, const char *name, size_t pos)
{
  const double *b = g->bytes + row * g->nb, *s = g->secs + row * g->nb;
  int x = CL + pos % 3 * 220, y = CT + PH + 50 + pos / 3 * 18;

  fprintf (fp, "<polyline fill=\"none\" %s points=\"", style);
  for (size_t k = 0; k < g->nb; k++) {
    double py;

    if (s[k] <= 0)
      continue;
    py = CT + PH - b[k] / s[k] / MIB / ymax * PH;
    /* Alone in its bucket: a level segment across the bucket. */
    if ((k == 0 || s[k - 1] <= 0) && (k + 1 == g->nb || s[k + 1] <= 0))
      fprintf (fp, "%.1f,%.1f %.1f,%.1f ", CL + (double) k / g->nb * PW,
               py, CL + (k + 1.0) / g->nb * PW, py);
    else
      fprintf (fp, "%.1f,%.1f ", CL + (k + 0.5) / g->nb * PW, py);
  }
  fputs ("\"><title>", fp);
  put (fp, true, name);
  fprintf (fp, "</title></polyline>\n<line x1=\"%d\" y1=\"%d\" x2=\"%d\" "
           "y2=\"%d\" %s/><text x=\"%d\" y=\"%d\">", x, y - 4, x + 24, y - 4,
           style, x + 30, y);
  put (fp, true, name);
  fputs ("</text>\n", fp);
}

/* The "Throughput over time" chart, as inline SVG. */
static void
chart (FILE *fp, const struct report *r, const struct grid *g)
{
  size_t n = r->jobs.len, pos = 1, nc = sizeof colours / sizeof *colours;
  size_t height = CT + PH + 50 + (g->jobs + 3) / 3 * 18;
  /* Time ticks in seconds, minutes or hours. */
  double unit = g->span <= 360 ? 1 : g->span <= 7200 ? 60 : 3600;
  double max = 0, ystep, xstep = nice_step (g->span / unit, 6) * unit;
  int nt = 1;
  char style[128], t[64];

  for (size_t k = 0; k < (n + 1) * g->nb; k++)
    if (g->secs[k] > 0 && g->bytes[k] / g->secs[k] / MIB > max)
      max = g->bytes[k] / g->secs[k] / MIB;
  ystep = nice_step (max, 5);
  while (nt * ystep < max)
    nt++;
  fprintf (fp, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
           "height=\"%zu\" viewBox=\"0 0 %d %zu\" font-family=\"sans-serif\""
           " font-size=\"11\">\n<rect x=\"%d\" y=\"%d\" width=\"%d\" "
           "height=\"%d\" fill=\"#fff\" stroke=\"#999\"/>\n", CW, height, CW,
           height, CL, CT, PW, PH);
  for (int k = 0; k <= nt; k++) {
    double y = CT + PH - (double) k / nt * PH;

    fprintf (fp, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" "
             "stroke=\"#ddd\"/><text x=\"%d\" y=\"%.1f\" "
             "text-anchor=\"end\">%g</text>\n", CL, y, CL + PW, y, CL - 6,
             y + 4, k * ystep);
  }
  for (int k = 0; k * xstep <= g->span; k++) {
    double x = CL + k * xstep / g->span * PW;

    fprintf (fp, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" "
             "stroke=\"#ddd\"/><text x=\"%.1f\" y=\"%d\" "
             "text-anchor=\"middle\">+%g %s</text>\n", x, CT, x, CT + PH, x,
             CT + PH + 15, k * xstep / unit,
             unit == 1 ? "s" : unit == 60 ? "min" : "h");
  }
  fprintf (fp, "<text x=\"16\" y=\"%d\" text-anchor=\"middle\" "
           "transform=\"rotate(-90 16 %d)\">MiB/s</text>\n<text x=\"%d\" "
           "y=\"%d\" text-anchor=\"middle\">time since %s</text>\n",
           CT + PH / 2, CT + PH / 2, CL + PW / 2, CT + PH + 32,
           time_str (g->t0, t, sizeof t));
  series (fp, g, n, nt * ystep, "stroke=\"#000\" stroke-width=\"3\"",
          "total", 0);
  for (size_t j = 0; j < n; j++) {
    size_t k = 0;

    while (k < g->nb && g->secs[j * g->nb + k] <= 0)
      k++;
    if (k == g->nb)
      continue;
    snprintf (style, sizeof style, "stroke=\"%s\" stroke-width=\"1.5\"%s",
              colours[(pos - 1) % nc], dashes[(pos - 1) / nc % 3]);
    series (fp, g, j, nt * ystep, style, r->jobs.ptr[j].name, pos++);
  }
  fprintf (fp, "</svg>\n<p class=\"note\">Bytes on the wire per second, "
           "averaged over %s intervals; the thick line is the total.</p>\n",
           duration_str (g->w, t, sizeof t));
}

/* The whole report, as Markdown or HTML. */
static void
write_report (FILE *fp, bool html, const struct report *r,
              const struct grid *g)
{
  time_t now = time (NULL);
  struct tm tm;
  char gen[64] = DASH;

  if (localtime_r (&now, &tm))
    strftime (gen, sizeof gen, "%Y-%m-%d %H:%M:%S %z", &tm);
  if (html)
    fprintf (fp, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
             "<meta charset=\"utf-8\">\n<title>p2v batch report</title>\n"
             "<style>\nbody { font-family: sans-serif; margin: 2em; "
             "color: #222; }\ntable { border-collapse: collapse; "
             "font-size: 90%%; }\nth, td { border: 1px solid #ccc; "
             "padding: 0.2em 0.5em; text-align: left; vertical-align: top; }"
             "\nth { background: #eee; }\ntd.n { text-align: right; "
             "white-space: nowrap; }\ntr.s-complete td:nth-child(2) "
             "{ color: #080; }\ntr.s-failed td { background: #fee; }\n"
             ".note { color: #666; font-size: 90%%; }\n</style>\n</head>\n"
             "<body>\n<h1>p2v batch report</h1>\n<p>Generated %s.</p>\n"
             "<ul>\n", gen);
  else
    fprintf (fp, "# p2v batch report\n\nGenerated %s.\n\n", gen);
  summary (fp, html, &r->jobs);
  fputs (html ? "</ul>\n<h2>Servers</h2>\n" : "\n## Servers\n\n", fp);
  if (r->jobs.len == 0)
    fputs (html ? "<p>None.</p>\n" : "None.\n", fp);
  for (size_t i = 0; i < r->jobs.len; i++) {
    struct cells x;

    if (i == 0)
      table_row (fp, html, NCOLS, job_head, "lllrrrrrllll", NULL, true);
    job_cells (&r->jobs.ptr[i], &x);
    table_row (fp, html, NCOLS, x.c, "lllrrrrrllll", r->jobs.ptr[i].state,
               false);
  }
  fputs (html && r->jobs.len ? "</tbody>\n</table>\n" : "", fp);
  for (size_t i = 0; i < r->helds.len; i++) {
    const struct batch_held *h = &r->helds.ptr[i];
    char since[64];
    const char *c[] = { h->agent, or_dash (h->hostname), or_dash (h->serial),
      or_dash (h->macs), or_dash (h->reason),
      time_str (h->since, since, sizeof since), h->connected ? "yes" : "no",
    };

    if (i == 0) {
      fputs (html ? "<h2>Held machines</h2>\n" : "\n## Held machines\n\n",
             fp);
      table_row (fp, html, 7, held_head, "lllllll", NULL, true);
    }
    table_row (fp, html, 7, c, "lllllll", NULL, false);
  }
  fputs (html && r->helds.len ? "</tbody>\n</table>\n" : "", fp);
  if (!html)
    return;
  fputs ("<h2>Throughput over time</h2>\n", fp);
  if (g->nb > 0)
    chart (fp, r, g);
  else
    fputs ("<p>No throughput samples.</p>\n", fp);
  fputs ("</body>\n</html>\n", fp);
}

/* Write the report to path ("-": stdout), atomically: 0, or -1. */
static int
output (const char *path, bool html, const struct report *r,
        const struct grid *g)
{
  char *buf = NULL, *dir = NULL, *base = NULL;
  size_t len = 0;
  FILE *fp = open_memstream (&buf, &len);
  int dirfd = -1, ret = -1;

  if (fp == NULL) {
    p2v_error ("report: %m");
    return -1;
  }
  write_report (fp, html, r, g);
  if (fclose (fp) != 0)
    p2v_error ("report: %m");
  else if (!strcmp (path, "-")) {
    if (fwrite (buf, 1, len, stdout) == len && fflush (stdout) == 0)
      ret = 0;
    else
      p2v_error ("report: stdout: %m");
  }
  /* p2v_write_data_at puts its temporary file beside a plain name. */
  else if ((dir = strdup (path)) == NULL || (base = strdup (path)) == NULL ||
           (dirfd = open (dirname (dir), O_RDONLY | O_DIRECTORY |
                          O_CLOEXEC)) == -1 ||
           p2v_write_data_at (dirfd, basename (base), buf, len) == -1)
    p2v_error ("report: cannot write %s: %m", path);
  else
    ret = 0;
  if (dirfd >= 0)
    close (dirfd);
  free (dir);
  free (base);
  free (buf);
  return ret;
}

static int
by_name (const void *a, const void *b)
{
  return strcmp (((const struct batch_job *) a)->name,
                 ((const struct batch_job *) b)->name);
}

/* The jobs (the manifest's unseen servers pending), samples, helds. */
static int
load (int spoolfd, const struct batch_manifest *m, struct report *r)
{
  if (batch_jobs_load_all (spoolfd, &r->jobs) == -1 ||
      batch_held_load_all (spoolfd, &r->helds) == -1)
    return -1;
  for (size_t i = 0; m && i < m->servers.len; i++) {
    const struct batch_server *s = &m->servers.ptr[i];
    struct batch_job j = { .fixup_changes = -1, .defined = -1 };
    size_t k = 0;

    while (k < r->jobs.len && strcmp (r->jobs.ptr[k].name, s->name))
      k++;
    if (k < r->jobs.len)
      continue;
    snprintf (j.name, sizeof j.name, "%s", s->name);
    snprintf (j.state, sizeof j.state, P2V_JOB_PENDING);
    if (s->storage >= 0 && (size_t) s->storage < m->storages.len)
      snprintf (j.storage, sizeof j.storage, "%s",
                m->storages.ptr[s->storage].name);
    if (batch_jobs_append (&r->jobs, j) == -1) {
      p2v_error ("out of memory");
      return -1;
    }
  }
  if (r->jobs.len > 0)
    qsort (r->jobs.ptr, r->jobs.len, sizeof *r->jobs.ptr, by_name);
  r->samples = calloc (r->jobs.len + 1, sizeof *r->samples);
  if (r->samples == NULL) {
    p2v_error ("out of memory");
    return -1;
  }
  for (size_t i = 0; i < r->jobs.len; i++)
    if (batch_samples_load (spoolfd, r->jobs.ptr[i].name,
                            &r->samples[i]) == -1) {
      p2v_error ("report: jobs/%s.samples: %m", r->jobs.ptr[i].name);
      return -1;
    }
  return 0;
}

int
batch_report (int spoolfd, const struct batch_manifest *m,
              const char *md, const char *html)
{
  struct report r = { 0 };
  struct grid g = { 0 };
  int ret = -1;

  if (load (spoolfd, m, &r) == 0 && (html == NULL || grid_build (&r, &g) == 0)
      && (md == NULL || output (md, false, &r, &g) == 0)
      && (html == NULL || output (html, true, &r, &g) == 0))
    ret = 0;
  for (size_t i = 0; r.samples && i < r.jobs.len; i++)
    batch_samples_reset (&r.samples[i]);
  free (r.samples);
  batch_jobs_reset (&r.jobs);
  batch_helds_reset (&r.helds);
  free (g.bytes);
  free (g.secs);
  return ret;
}
