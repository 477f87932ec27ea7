/* Refuse a source with a filesystem mounted read-write: it would change
 * under the copy, and a map read from its bitmaps could be stale.
 *
 * "On the source" means the device itself, its partitions, and whatever
 * is stacked on them (holders: dm, md), found through sysfs; for an image
 * file, every loop device backed by it (at any offset) and their
 * partitions and holders.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "agent.h"
#include "log.h"

#define MAX_DEVS 256
#define MAX_DEPTH 8

struct devs {
  dev_t d[MAX_DEVS];
  size_t n;
};

static void
add_tree (struct devs *s, const char *sysdir, int depth)
{
  char path[PATH_MAX];
  unsigned maj, min;
  struct dirent *e;
  FILE *fp;
  DIR *dir;

  snprintf (path, sizeof path, "%s/dev", sysdir);
  if (depth > MAX_DEPTH || s->n == MAX_DEVS || (fp = fopen (path, "r")) == NULL)
    return;
  if (fscanf (fp, "%u:%u", &maj, &min) == 2)
    s->d[s->n++] = makedev (maj, min);
  fclose (fp);
  if ((dir = opendir (sysdir)) == NULL)
    return;
  while ((e = readdir (dir)) != NULL) {     /* partitions */
    struct stat st;

    snprintf (path, sizeof path, "%s/%s/partition", sysdir, e->d_name);
    if (e->d_name[0] != '.' && stat (path, &st) == 0) {
      snprintf (path, sizeof path, "%s/%s", sysdir, e->d_name);
      add_tree (s, path, depth + 1);
    }
  }
  closedir (dir);
  snprintf (path, sizeof path, "%s/holders", sysdir);
  if ((dir = opendir (path)) == NULL)
    return;
  while ((e = readdir (dir)) != NULL)       /* dm, md on top of it */
    if (e->d_name[0] != '.') {
      snprintf (path, sizeof path, "/sys/class/block/%s", e->d_name);
      add_tree (s, path, depth + 1);
    }
  closedir (dir);
}

/* Loop devices whose backing file is the source image. */
static void
add_loops (struct devs *s, const char *file)
{
  char real[PATH_MAX], back[PATH_MAX], path[PATH_MAX];
  struct dirent *e;
  DIR *dir = opendir ("/sys/block");

  if (dir == NULL || realpath (file, real) == NULL) {
    if (dir)
      closedir (dir);
    return;
  }
  while ((e = readdir (dir)) != NULL) {
    FILE *fp;

    if (strncmp (e->d_name, "loop", 4) != 0)
      continue;
    snprintf (path, sizeof path, "/sys/block/%s/loop/backing_file",
              e->d_name);
    if ((fp = fopen (path, "r")) == NULL)
      continue;
    if (fgets (back, sizeof back, fp)) {
      back[strcspn (back, "\n")] = '\0';
      if (strcmp (back, real) == 0) {
        snprintf (path, sizeof path, "/sys/block/%s", e->d_name);
        add_tree (s, path, 0);
      }
    }
    fclose (fp);
  }
  closedir (dir);
}

static bool
contains (const struct devs *s, dev_t d)
{
  for (size_t i = 0; i < s->n; ++i)
    if (s->d[i] == d)
      return true;
  return false;
}

/* One mountinfo line: is it a read-write superblock on one of ours? */
static bool
rw_mount_of (const struct devs *s, char *line, char **where, char **what)
{
  unsigned maj, min;
  char *sep = strstr (line, " - "), *save, *fstype, *opts;

  if (sep == NULL || sscanf (line, "%*s %*s %u:%u", &maj, &min) != 2 ||
      !contains (s, makedev (maj, min)))
    return false;
  *sep = '\0';
  strtok_r (line, " ", &save);              /* mount id, parent, dev, root */
  for (int i = 0; i < 3; ++i)
    strtok_r (NULL, " ", &save);
  *where = strtok_r (NULL, " ", &save);
  fstype = strtok_r (sep + 3, " ", &save);
  *what = strtok_r (NULL, " ", &save);
  opts = strtok_r (NULL, " \n", &save);
  (void) fstype;
  return *where && *what && opts && strncmp (opts, "rw", 2) == 0 &&
         (opts[2] == '\0' || opts[2] == ',');
}

int
agent_check_mounted (const struct agent_source *src, bool allow)
{
  struct devs s = { .n = 0 };
  char sysdir[64], *line = NULL, *where, *what;
  size_t cap = 0;
  int r = 0;
  FILE *fp;

  if (src->is_block) {
    snprintf (sysdir, sizeof sysdir, "/sys/dev/block/%u:%u",
              major (src->rdev), minor (src->rdev));
    add_tree (&s, sysdir, 0);
  }
  else
    add_loops (&s, src->path);
  if (s.n == 0 || (fp = fopen ("/proc/self/mountinfo", "r")) == NULL)
    return 0;
  while (r == 0 && getline (&line, &cap, fp) != -1) {
    if (!rw_mount_of (&s, line, &where, &what))
      continue;
    if (allow)
      p2v_warning ("%s: %s is mounted read-write on %s; copying it anyway "
                   "(--allow-mounted): files changing now may arrive "
                   "inconsistent", src->path, what, where);
    else {
      p2v_error ("%s: %s is mounted read-write on %s, so it would change "
                 "while being copied; unmount it or remount it read-only "
                 "(mount -o remount,ro %s), or boot the p2v live image "
                 "(--allow-mounted copies it anyway)", src->path, what,
                 where, where);
      r = -1;
    }
  }
  free (line);
  fclose (fp);
  return r;
}
