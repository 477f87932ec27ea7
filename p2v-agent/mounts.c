/* The mount table, and refusing a source with a filesystem mounted
 * read-write: it would change
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
#include <unistd.h>

#include "agent.h"
#include "cleanup.h"
#include "log.h"

/* ---- The mount table ---- */

static dev_t
path_rdev (const char *path)
{
  struct stat st;

  if (path[0] != '/' || stat (path, &st) == -1 || !S_ISBLK (st.st_mode))
    return 0;
  return st.st_rdev;
}

/* mountinfo escapes blanks and backslashes as \ooo. */
static void
unescape_octal (char *s)
{
  char *w = s;

  for (; *s; ++s, ++w) {
    if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' &&
        s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
      *w = (s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0');
      s += 3;
    }
    else
      *w = *s;
  }
  *w = '\0';
}

static bool
has_opt (const char *opts, const char *opt)
{
  size_t n = strlen (opt);

  return strncmp (opts, opt, n) == 0 && (opts[n] == ',' || !opts[n]);
}

static int
add_mount (struct agent_mounts *t, struct agent_mount e)
{
  e.src = path_rdev (e.source);
  e.source = strdup (e.source);
  e.target = strdup (e.target);
  if (e.source == NULL || e.target == NULL ||
      agent_mounts_append (t, e) == -1) {
    free (e.source);
    free (e.target);
    p2v_error ("out of memory reading the mount table");
    return -1;
  }
  return 0;
}

/* One /proc/self/mountinfo line:
 * ID PARENT MAJ:MIN ROOT TARGET OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER
 */
static int
parse_mountinfo_line (struct agent_mounts *t, char *line)
{
  char *f[6], *sep, *save = NULL, *src, *super;
  unsigned maj, min;

  line[strcspn (line, "\n")] = '\0';
  sep = strstr (line, " - ");
  if (sep == NULL)
    return 0;
  *sep = '\0';
  for (int i = 0; i < 6; ++i)
    if ((f[i] = strtok_r (i ? NULL : line, " ", &save)) == NULL)
      return 0;
  save = NULL;
  if (sscanf (f[2], "%u:%u", &maj, &min) != 2 ||
      strtok_r (sep + 3, " ", &save) == NULL ||
      (src = strtok_r (NULL, " ", &save)) == NULL)
    return 0;
  super = strtok_r (NULL, " ", &save);
  unescape_octal (f[4]);
  unescape_octal (src);
  return add_mount (t, (struct agent_mount) {
    .dev = makedev (maj, min), .source = src, .target = f[4],
    .ro = has_opt (f[5], "ro") || (super && has_opt (super, "ro")),
    .super_rw = super && has_opt (super, "rw"),
  });
}

/* One /proc/mounts line, for kernels without mountinfo (before
 * 2.6.26): SOURCE TARGET FSTYPE OPTIONS 0 0.  The options are the
 * mount's and its superblock's together, and the filesystem's device
 * is what its mount point is on (stat), for a source that is a path.
 */
static int
parse_mounts_line (struct agent_mounts *t, char *line)
{
  char *f[4], *save = NULL;
  struct stat st;
  dev_t dev = 0;

  for (int i = 0; i < 4; ++i)
    if ((f[i] = strtok_r (i ? NULL : line, " \n", &save)) == NULL)
      return 0;
  unescape_octal (f[0]);
  unescape_octal (f[1]);
  if (f[0][0] == '/' && stat (f[1], &st) == 0)
    dev = st.st_dev;
  return add_mount (t, (struct agent_mount) {
    .dev = dev, .source = f[0], .target = f[1],
    .ro = has_opt (f[3], "ro"), .super_rw = has_opt (f[3], "rw"),
  });
}

/* The table from fp, with parse, line by line: 0, or -1 (reported). */
static int
parse_table (struct agent_mounts *t, FILE *fp,
             int (*parse) (struct agent_mounts *, char *))
{
  CLEANUP_FREE char *line = NULL;
  size_t cap = 0;
  int r = 0;

  while (r == 0 && getline (&line, &cap, fp) > 0)
    r = parse (t, line);
  fclose (fp);
  return r;
}

int
agent_mounts_load (struct agent_mounts *t)
{
  FILE *fp = fopen ("/proc/self/mountinfo", "re");
  CLEANUP_FREE char *line = NULL;
  size_t cap = 0;
  int r = 0;

  if (fp != NULL)
    r = parse_table (t, fp, parse_mountinfo_line);
  /* Never empty where it exists: / is mounted. */
  if (r == 0 && t->len == 0) {
    static bool said;

    if (!said)
      p2v_info ("no usable /proc/self/mountinfo (Linux before 2.6.26?): "
                "reading /proc/mounts instead");
    said = true;
    if ((fp = fopen ("/proc/mounts", "re")) == NULL) {
      p2v_warning ("/proc/mounts: %m; mount states are unknown");
      return 0;
    }
    r = parse_table (t, fp, parse_mounts_line);
  }
  if (r == 0 && (fp = fopen ("/proc/swaps", "re")) != NULL) {
    if (getline (&line, &cap, fp) > 0)      /* the heading */
      while (r == 0 && getline (&line, &cap, fp) > 0) {
        line[strcspn (line, " \t\n")] = '\0';
        unescape_octal (line);
        if (line[0])
          r = add_mount (t, (struct agent_mount) {
            .source = line, .target = "[SWAP]", .swap = true });
      }
    fclose (fp);
  }
  return r;
}

void
agent_mounts_free (struct agent_mounts *t)
{
  for (size_t i = 0; i < t->len; ++i) {
    free (t->ptr[i].source);
    free (t->ptr[i].target);
  }
  agent_mounts_reset (t);
}

bool
agent_mount_matches (const struct agent_mount *m, dev_t dev)
{
  return dev != 0 && (m->dev == dev || m->src == dev);
}

/* ---- Refusing sources mounted read-write ---- */

#define MAX_DEVS 256
#define MAX_DEPTH 8
#define MAX_HOLDERS 16

struct devs {
  dev_t d[MAX_DEVS];
  size_t n;
};

size_t
agent_block_holders (const char *sysdir, char (*names)[32], size_t max)
{
  char path[PATH_MAX], real[PATH_MAX];
  const char *base;
  struct dirent *e;
  size_t n = 0;
  DIR *dir;

  snprintf (path, sizeof path, "%s/holders", sysdir);
  if ((dir = opendir (path)) != NULL) {
    while ((e = readdir (dir)) != NULL && n < max)
      if (e->d_name[0] != '.')
        snprintf (names[n++], 32, "%.31s", e->d_name);
    closedir (dir);
    return n;
  }
  if (errno != ENOENT || realpath (sysdir, real) == NULL ||
      (dir = opendir ("/sys/block")) == NULL)
    return 0;
  base = strrchr (real, '/') + 1;
  while ((e = readdir (dir)) != NULL && n < max) {
    snprintf (path, sizeof path, "/sys/block/%s/slaves/%s", e->d_name, base);
    if (e->d_name[0] != '.' && access (path, F_OK) == 0)
      snprintf (names[n++], 32, "%.31s", e->d_name);
  }
  closedir (dir);
  return n;
}

static void
add_tree (struct devs *s, const char *sysdir, int depth)
{
  char path[PATH_MAX], names[MAX_HOLDERS][32];
  size_t n;
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
  n = agent_block_holders (sysdir, names, MAX_HOLDERS);
  for (size_t i = 0; i < n; ++i) {          /* dm, md on top of it */
    snprintf (path, sizeof path, "/sys/class/block/%s", names[i]);
    add_tree (s, path, depth + 1);
  }
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

/* A mount of a filesystem that can change: a read-write superblock on
 * one of the source's devices.  Active swap is not: only its header is
 * copied.
 */
static bool
changes (const struct agent_mount *m, const struct devs *s)
{
  if (m->swap || !m->super_rw)
    return false;
  for (size_t i = 0; i < s->n; ++i)
    if (agent_mount_matches (m, s->d[i]))
      return true;
  return false;
}

int
agent_source_mounts (const struct agent_source *src, struct agent_mounts *out)
{
  struct devs s = { .n = 0 };
  struct agent_mounts t = { 0 };
  char sysdir[64];
  int r = 0;

  if (src->is_block) {
    snprintf (sysdir, sizeof sysdir, "/sys/dev/block/%u:%u",
              major (src->rdev), minor (src->rdev));
    add_tree (&s, sysdir, 0);
  }
  else
    add_loops (&s, src->path);
  if (s.n == 0 || agent_mounts_load (&t) == -1)
    return s.n == 0 ? 0 : -1;
  for (size_t i = 0; r == 0 && i < t.len; ++i)
    if (changes (&t.ptr[i], &s)) {
      if (agent_mounts_append (out, t.ptr[i]) == -1) {
        p2v_error ("out of memory reading the mount table");
        r = -1;
      }
      else
        t.ptr[i].source = t.ptr[i].target = NULL;     /* moved */
    }
  agent_mounts_free (&t);
  return r;
}

int
agent_check_mounted (const struct agent_source *src, bool allow)
{
  struct agent_mounts t = { 0 };
  int r = agent_source_mounts (src, &t);

  for (size_t i = 0; r == 0 && i < t.len; ++i) {
    const struct agent_mount *m = &t.ptr[i];

    if (allow)
      p2v_warning ("%s: %s is mounted read-write on %s; copying it anyway "
                   "(--allow-mounted): files changing now may arrive "
                   "inconsistent", src->path, m->source, m->target);
    else {
      p2v_error ("%s: %s is mounted read-write on %s, so it would change "
                 "while being copied; unmount it or remount it read-only "
                 "(mount -o remount,ro %s), or boot the p2v live image "
                 "(--allow-mounted copies it anyway)", src->path, m->source,
                 m->target, m->target);
      r = -1;
    }
  }
  agent_mounts_free (&t);
  return r;
}
