/* Assembled md arrays, as the kernel shows them in /sys/block/mdN/md:
 * level, metadata, state, members (each with its whole disk, so send
 * can tell which source disks hold which arrays).  The array's UUID and
 * name come from a member's superblock (libblkid).  Nothing here opens
 * an array for writing or changes its state.
 */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <blkid.h>

#include "agent.h"
#include "log.h"

/* dev-NAME/block is a link to the member in /sys/devices: a partition
 * (it has a "partition" file, its disk is the parent directory) or a
 * whole disk.
 */
static int
read_member (const char *mddir, const char *entry, struct agent_md_member *m)
{
  char path[PATH_MAX], real[PATH_MAX], buf[32];
  char *slash;

  snprintf (path, sizeof path, "%s/%s/block", mddir, entry);
  if (realpath (path, real) == NULL)
    return -1;
  slash = strrchr (real, '/');
  snprintf (m->name, sizeof m->name, "%s", slash + 1);
  m->dev = agent_read_dev (real);
  agent_read_attr (m->state, sizeof m->state, "%s/%s/state", mddir, entry);
  if (agent_read_attr (buf, sizeof buf, "%s/partition", real) == 0) {
    m->partno = atoi (buf);
    *slash = '\0';
    m->disk_dev = agent_read_dev (real);
  }
  else {
    m->partno = 0;
    m->disk_dev = m->dev;
  }
  for (char *c = m->name; *c; ++c)       /* cciss!c0d0p1 -> cciss/c0d0p1 */
    *c = *c == '!' ? '/' : *c;
  return 0;
}

/* UUID and name from the first member's superblock. */
static void
read_identity (struct agent_md *md)
{
  for (int i = 0; i < md->nmembers && !md->uuid[0]; ++i) {
    char dev[128];
    blkid_probe pr;
    const char *v;

    snprintf (dev, sizeof dev, "/dev/%s", md->members[i].name);
    if ((pr = blkid_new_probe_from_filename (dev)) == NULL)
      continue;
    blkid_probe_enable_superblocks (pr, 1);
    blkid_probe_set_superblocks_flags (pr, BLKID_SUBLKS_TYPE |
                                       BLKID_SUBLKS_UUID | BLKID_SUBLKS_LABEL);
    blkid_probe_enable_partitions (pr, 0);
    if (blkid_do_safeprobe (pr) == 0 &&
        blkid_probe_lookup_value (pr, "TYPE", &v, NULL) == 0 &&
        strcmp (v, "linux_raid_member") == 0) {
      if (blkid_probe_lookup_value (pr, "UUID", &v, NULL) == 0)
        snprintf (md->uuid, sizeof md->uuid, "%s", v);
      if (blkid_probe_lookup_value (pr, "LABEL", &v, NULL) == 0)
        snprintf (md->label, sizeof md->label, "%s", v);
      agent_clean_string (md->label);
    }
    blkid_free_probe (pr);
  }
}

/* Is the array itself part of another array (nested)? */
static void
read_holders (const char *dir, struct agent_md *md)
{
  char names[16][32];
  size_t n = agent_block_holders (dir, names, 16);

  for (size_t i = 0; i < n; ++i)
    if (strncmp (names[i], "md", 2) == 0)
      snprintf (md->nested, sizeof md->nested, "it is a member of %.32s",
                names[i]);
}

static int
read_array (const char *name, struct agent_md *md)
{
  char dir[64], mddir[80], buf[64];
  DIR *d;
  struct dirent *e;

  memset (md, 0, sizeof *md);
  snprintf (md->name, sizeof md->name, "%.31s", name);
  snprintf (md->path, sizeof md->path, "/dev/%s", md->name);
  snprintf (dir, sizeof dir, "/sys/block/%s", md->name);
  snprintf (mddir, sizeof mddir, "%s/md", dir);
  if (agent_read_attr (md->level, sizeof md->level, "%s/level", mddir) == -1)
    return -1;                  /* not an md device after all */
  agent_read_attr (md->metadata, sizeof md->metadata, "%s/metadata_version",
                   mddir);
  agent_read_attr (md->array_state, sizeof md->array_state, "%s/array_state",
                   mddir);
  agent_read_attr (md->sync_action, sizeof md->sync_action, "%s/sync_action",
                   mddir);
  if (agent_read_attr (buf, sizeof buf, "%s/raid_disks", mddir) == 0)
    md->raid_disks = atoi (buf);
  if (agent_read_attr (buf, sizeof buf, "%s/degraded", mddir) == 0)
    md->degraded = atoi (buf);
  if (agent_read_attr (buf, sizeof buf, "%s/size", dir) == 0)
    md->size = strtoull (buf, NULL, 10) * 512;
  read_holders (dir, md);
  if ((d = opendir (mddir)) == NULL)
    return -1;
  while ((e = readdir (d)) != NULL) {
    struct agent_md_member *m = &md->members[md->nmembers];

    if (strncmp (e->d_name, "dev-", 4) != 0)
      continue;
    if (md->nmembers == AGENT_MD_MAX_MEMBERS) {
      p2v_warning ("%s: more than %d members; only the first are listed",
                   md->path, AGENT_MD_MAX_MEMBERS);
      break;
    }
    if (read_member (mddir, e->d_name, m) == 0) {
      if (strncmp (m->name, "md", 2) == 0)
        snprintf (md->nested, sizeof md->nested, "its member %.32s is an array",
                  m->name);
      md->nmembers++;
    }
  }
  closedir (d);
  /* Partitions of the array itself: mdNp1 ... */
  if ((d = opendir (dir)) != NULL) {
    while ((e = readdir (d)) != NULL)
      if (strncmp (e->d_name, name, strlen (name)) == 0 &&
          agent_read_attr (buf, sizeof buf, "%s/%s/partition", dir,
                           e->d_name) == 0)
        md->partitioned = true;
    closedir (d);
  }
  read_identity (md);
  return 0;
}

static int
by_name (const void *a, const void *b)
{
  const struct agent_md *x = a, *y = b;

  return strverscmp (x->name, y->name);
}

int
agent_md_scan (struct agent_mds *v)
{
  DIR *d = opendir ("/sys/block");
  struct dirent *e;
  struct agent_md md;

  if (d == NULL)
    return 0;                   /* no sysfs: no arrays to see */
  while ((e = readdir (d)) != NULL) {
    if (strncmp (e->d_name, "md", 2) != 0 || strlen (e->d_name) >= 32 ||
        read_array (e->d_name, &md) == -1)
      continue;
    if (agent_mds_append (v, md) == -1) {
      closedir (d);
      p2v_error ("out of memory");
      return -1;
    }
  }
  closedir (d);
  if (v->len)
    qsort (v->ptr, v->len, sizeof *v->ptr, by_name);
  return 0;
}

bool
agent_md_active (const struct agent_md *md)
{
  return md->size > 0 && strcmp (md->array_state, "inactive") != 0 &&
         strcmp (md->array_state, "clear") != 0 &&
         strcmp (md->level, "container") != 0;
}

int
agent_md_in_sync (const struct agent_md *md)
{
  int n = 0;

  for (int i = 0; i < md->nmembers; ++i)
    n += strstr (md->members[i].state, "in_sync") != NULL;
  return n;
}

void
agent_md_state (const struct agent_md *md, char *buf, size_t len)
{
  size_t off = snprintf (buf, len, "%s", md->array_state);

  if (md->degraded > 0 && off < len)
    off += snprintf (buf + off, len - off, ", degraded: %d of %d members "
                     "missing", md->degraded, md->raid_disks);
  if (md->sync_action[0] && strcmp (md->sync_action, "idle") != 0 &&
      strcmp (md->sync_action, "frozen") != 0 && off < len)
    snprintf (buf + off, len - off, ", %s pending or running",
              md->sync_action);
}

void
agent_md_content (const struct agent_md *md, int fd, char *type, size_t len)
{
  type[0] = '\0';
  if (md->partitioned)
    snprintf (type, len, "partitioned");
  else if (fd >= 0)
    agent_probe_type (fd, 0, md->size, type, len);
}

void
agent_md_describe (const struct agent_md *md, char *buf, size_t len)
{
  char state[128];
  size_t off;

  agent_md_state (md, state, sizeof state);
  off = snprintf (buf, len, "%s, metadata %s, %d member%s (", md->level,
                  md->metadata[0] ? md->metadata : "?", md->nmembers,
                  md->nmembers == 1 ? "" : "s");
  for (int i = 0; i < md->nmembers && off < len; ++i)
    off += snprintf (buf + off, len - off, "%s%s %s", i ? ", " : "",
                     md->members[i].name, md->members[i].state);
  if (off < len)
    snprintf (buf + off, len - off, "), %s", state);
}
