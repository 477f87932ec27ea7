/* Adaptive compression level: follow whichever is the bottleneck.
 *
 * The sender measures, per window of about half a second, how long it
 * sat blocked on the network (the transport would not take more bytes)
 * and how long it sat waiting for the compression workers, and how
 * much CPU the whole process used.  Waiting on the network means CPU is
 * to spare: compress harder and send fewer bytes.  Waiting on the
 * workers, or using nearly all the CPU the agent may have, means the
 * CPU is the bottleneck: compress less.  One step per window, within
 * --min-level and --max-level, so the level settles instead of
 * oscillating wildly.
 *
 * The CPU test is what sees a starved source: under a cgroup quota (or
 * on one slow core shared with the encryption) every thread stalls
 * together, so both waits grow and neither dominates, but the CPU used
 * stays pinned at what the machine allows.
 */
#include <dirent.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "agent.h"
#include "fileio.h"
#include "level.h"
#include "log.h"

#define WINDOW 0.5              /* seconds */
#define DOMINANT 0.15           /* share of a window that decides */
#define CPU_BOUND 0.85          /* share of the CPUs available that does */

/* The quota of the cgroup at PATH under ROOT, in CPUs, or 0 if none:
 * cgroup v2's cpu.max ("max 100000" or "25000 100000") or v1's
 * cpu.cfs_quota_us over cpu.cfs_period_us.  The smallest along the
 * path, since a parent's quota binds its children.
 */
static double
cgroup_quota (const char *root, char *path, bool v2)
{
  double best = 0;

  for (;;) {
    char f[4096];
    long long q = -1, p = 0;
    FILE *fp;

    snprintf (f, sizeof f, "%s%s/%s", root, path,
              v2 ? "cpu.max" : "cpu.cfs_quota_us");
    if ((fp = fopen (f, "re")) != NULL) {
      if (v2 ? fscanf (fp, "%lld %lld", &q, &p) != 2
             : fscanf (fp, "%lld", &q) != 1)
        q = -1;
      fclose (fp);
    }
    if (!v2 && q > 0) {
      snprintf (f, sizeof f, "%s%s/cpu.cfs_period_us", root, path);
      if ((fp = fopen (f, "re")) != NULL) {
        if (fscanf (fp, "%lld", &p) != 1)
          p = 0;
        fclose (fp);
      }
    }
    if (q > 0 && p > 0 && (best == 0 || (double) q / p < best))
      best = (double) q / p;
    char *slash = strrchr (path, '/');
    if (slash == NULL || (slash == path && path[1] == '\0'))
      return best;
    slash[slash == path] = '\0';        /* "/a/b" -> "/a" -> "/" */
  }
}

/* Is "cpu" one of the comma-separated controllers? */
static bool
has_cpu (const char *controllers)
{
  size_t n;

  for (const char *p = controllers; *p; p += n + (p[n] == ',')) {
    n = strcspn (p, ",");
    if (n == 3 && strncmp (p, "cpu", 3) == 0)
      return true;
  }
  return false;
}

double
agent_cpus_available (void)
{
  cpu_set_t set;
  double cpus = 0, quota = 0;
  char line[4096];
  FILE *fp;

  if (sched_getaffinity (0, sizeof set, &set) == 0)
    cpus = CPU_COUNT (&set);
  if (cpus < 1)
    cpus = 1;
  /* /proc/self/cgroup: "ID:CONTROLLERS:PATH"; v2 is "0::PATH". */
  if ((fp = fopen ("/proc/self/cgroup", "re")) == NULL)
    return cpus;
  while (fgets (line, sizeof line, fp)) {
    char *c = strchr (line, ':'), *p = c ? strchr (c + 1, ':') : NULL;
    double q = 0;

    if (p == NULL)
      continue;
    *p++ = '\0';
    p[strcspn (p, "\n")] = '\0';
    if (c[1] == '\0')
      q = cgroup_quota ("/sys/fs/cgroup", p, true);
    else if (has_cpu (c + 1)) {
      char root[64];
      snprintf (root, sizeof root, "/sys/fs/cgroup/%s", c + 1);
      q = cgroup_quota (root, p, false);
      if (q == 0)               /* mounted as cpu, linked as cpu,cpuacct */
        q = cgroup_quota ("/sys/fs/cgroup/cpu", p, false);
    }
    if (q > 0 && (quota == 0 || q < quota))
      quota = q;
  }
  fclose (fp);
  return quota > 0 && quota < cpus ? quota : cpus;
}

/* Seconds the process's threads have spent runnable but waiting for a
 * CPU (the second field of /proc/self/task/TID/schedstat): contention,
 * and the time a cgroup quota throttles them.  0 without schedstats.
 */
static double
wait_seconds (void)
{
  DIR *d = opendir ("/proc/self/task");
  struct dirent *e;
  double total = 0;

  if (d == NULL)
    return 0;
  while ((e = readdir (d)) != NULL) {
    char path[300];
    unsigned long long run, delay;
    FILE *fp;

    if (e->d_name[0] == '.')
      continue;
    snprintf (path, sizeof path, "/proc/self/task/%s/schedstat", e->d_name);
    if ((fp = fopen (path, "re")) == NULL)
      continue;
    if (fscanf (fp, "%llu %llu", &run, &delay) == 2)
      total += delay / 1e9;
    fclose (fp);
  }
  closedir (d);
  return total;
}

void
agent_level_init (struct agent_level *l, const struct agent_options *o)
{
  *l = (struct agent_level) {
    .cur = o->level, .min = o->min_level, .max = o->max_level,
    .adaptive = o->adaptive, .start = p2v_now (),
    .cpus = agent_cpus_available (),
    .cpu_start = p2v_clock (CLOCK_PROCESS_CPUTIME_ID),
    .wait_start = wait_seconds (),
  };
}

int
agent_level_update (struct agent_level *l, double net_wait, double cpu_wait)
{
  double now = p2v_now (), span = now - l->start, used, waited, starved;

  l->net_wait += net_wait;
  l->cpu_wait += cpu_wait;
  if (!l->adaptive || span < WINDOW)
    return l->cur;
  used = (p2v_clock (CLOCK_PROCESS_CPUTIME_ID) - l->cpu_start) / span;
                                /* CPUs busy */
  /* Threads (exited ones drop out of the sum) that waited for a CPU
   * longer than they ran: starved, whatever the quota says.
   */
  waited = (wait_seconds () - l->wait_start) / span;
  starved = used >= CPU_BOUND * l->cpus || (waited > 0 && waited >= used);
  if (starved && l->cur > l->min)
    l->cur--;
  else if (!starved &&
           l->net_wait > DOMINANT * span && l->net_wait > 2 * l->cpu_wait &&
           l->cur < l->max)
    l->cur++;
  else if (l->cpu_wait > DOMINANT * span && l->cpu_wait > 2 * l->net_wait &&
           l->cur > l->min)
    l->cur--;
  p2v_debug ("level %d (window %.2f s: waited %.2f s on the network, "
             "%.2f s on compression; %.2f of %.2f CPUs busy, %.2f waiting "
             "for one)", l->cur, span, l->net_wait, l->cpu_wait, used,
             l->cpus, waited);
  l->start = now;
  l->cpu_start = p2v_clock (CLOCK_PROCESS_CPUTIME_ID);
  l->wait_start = wait_seconds ();
  l->net_wait = l->cpu_wait = 0;
  return l->cur;
}
