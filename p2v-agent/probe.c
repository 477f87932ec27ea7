/* p2v-agent probe: what this machine is (facts.c) and what its disks
 * hold: it shows the host facts with every disk's layout as send builds
 * it (layout.c: partitions, their content, which used-block map reads
 * each or why none does), and whether they are mounted.  Nothing here
 * writes: sources are opened O_RDONLY, the maps only read, and
 * libparted (which opens devices read-write itself) is never asked to
 * commit or to fix anything.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "agent.h"
#include "cleanup.h"
#include "fileio.h"
#include "json.h"
#include "log.h"
#include "map.h"
#include "options.h"

/* ---- Disks and partitions -------------------------------------------- */

/* A partition as this host sees it, beside the layout's model. */
struct probe_host {
  dev_t dev;                    /* kernel device, for mounts; 0 unknown */
  char member[96];              /* an md member: what send reads instead */
};

struct probe_disk {
  struct agent_source src;
  dev_t dev;
  char sysdir[PATH_MAX];        /* the disk in sysfs, "" for files */
  unsigned physical_sector_size;
  char model[128], serial[128], wwid[128];
  int rotational, removable;    /* -1: unknown (image files) */
  char hwraid[32];              /* a hardware RAID volume: the driver */
  struct agent_layout layout;   /* what send reads, and how */
  struct probe_host *host;      /* one per layout part */
};

/* The kernel's device for partition number of the disk in sysfs. */
static dev_t
part_dev (const struct probe_disk *d, int number)
{
  DIR *dir;
  struct dirent *e;
  char buf[32], path[PATH_MAX + 256];
  dev_t r = 0;

  if (d->sysdir[0] == '\0' || (dir = opendir (d->sysdir)) == NULL)
    return 0;
  while (r == 0 && (e = readdir (dir)) != NULL) {
    if (e->d_name[0] == '.' ||
        agent_read_attr (buf, sizeof buf, "%s/%s/partition", d->sysdir,
                   e->d_name) == -1 || atoi (buf) != number)
      continue;
    snprintf (path, sizeof path, "%s/%s", d->sysdir, e->d_name);
    r = agent_read_dev (path);
  }
  closedir (dir);
  return r;
}

/* Where each partition is on this host. */
static int
find_devs (struct probe_disk *d)
{
  const struct agent_layout *l = &d->layout;
  /* libparted's "loop" label: a filesystem on the whole disk. */
  bool whole = strcmp (l->table, "loop") == 0;

  d->host = calloc (l->nparts ? l->nparts : 1, sizeof *d->host);
  if (d->host == NULL) {
    p2v_error ("out of memory");
    return -1;
  }
  for (size_t i = 0; i < l->nparts; ++i)
    d->host[i].dev = whole || l->parts[i].number == 0 ? d->dev
      : part_dev (d, l->parts[i].number);
  return 0;
}

/* A volume of a hardware RAID controller is a plain disk to p2v (the
 * controller assembles it); known by the SCSI host's driver.
 */
static void
hardware_raid (struct probe_disk *d, const char *dir)
{
  static const char *const drivers[] = {
    "megaraid_sas", "megaraid", "megaraid_mbox", "hpsa", "cciss", "aacraid",
    "3w-9xxx", "3w-sas", "3w-xxxx", "arcmsr", "ips", "gdth", "smartpqi",
    "mptraid",
  };
  char path[PATH_MAX + 16], real[PATH_MAX], drv[32] = "";
  const char *host;

  if (strstr (dir, "/cciss"))
    snprintf (drv, sizeof drv, "cciss");
  snprintf (path, sizeof path, "%s/device", dir);
  if (!drv[0] && realpath (path, real) && (host = strstr (real, "/host")))
    agent_read_attr (drv, sizeof drv, "/sys/class/scsi_host/%.*s/proc_name",
                     (int) strcspn (host + 1, "/"), host + 1);
  for (size_t i = 0; i < sizeof drivers / sizeof drivers[0]; ++i)
    if (strcmp (drv, drivers[i]) == 0)
      snprintf (d->hwraid, sizeof d->hwraid, "%s", drv);
}

/* Model, serial, rotational... of a block device: /sys/dev/block/M:m is
 * the device itself; a partition's disk-wide attributes are its parent's.
 */
static void
read_sysfs_info (struct probe_disk *d)
{
  char path[64], real[PATH_MAX], buf[32];
  const char *dir = real;

  snprintf (path, sizeof path, "/sys/dev/block/%u:%u", major (d->dev),
            minor (d->dev));
  if (realpath (path, real) == NULL)
    return;
  snprintf (d->sysdir, sizeof d->sysdir, "%s", real);
  if (agent_read_attr (buf, sizeof buf, "%s/partition", real) == 0)
    *strrchr (real, '/') = '\0';
  agent_read_attr (d->model, sizeof d->model, "%s/device/model", dir);
  if (agent_read_attr (d->serial, sizeof d->serial, "%s/device/serial", dir) == -1)
    agent_read_attr (d->serial, sizeof d->serial, "%s/serial", dir);
  if (agent_read_attr (d->wwid, sizeof d->wwid, "%s/device/wwid", dir) == -1)
    agent_read_attr (d->wwid, sizeof d->wwid, "%s/wwid", dir);
  if (agent_read_attr (buf, sizeof buf, "%s/queue/rotational", dir) == 0)
    d->rotational = buf[0] == '1';
  if (agent_read_attr (buf, sizeof buf, "%s/removable", dir) == 0)
    d->removable = buf[0] == '1';
  hardware_raid (d, dir);
}

static int
probe_disk (struct probe_disk *d, const char *path)
{
  struct stat st;

  memset (d, 0, sizeof *d);
  d->rotational = d->removable = -1;
  d->physical_sector_size = 512;
  if (agent_source_open (&d->src, path) == -1)
    return -1;
  if (d->src.is_block && fstat (d->src.fd, &st) == 0) {
    unsigned pss;

    d->dev = st.st_rdev;
    if (ioctl (d->src.fd, BLKPBSZGET, &pss) == 0 && pss > 0)
      d->physical_sector_size = pss;
    read_sysfs_info (d);
  }
  d->physical_sector_size = d->physical_sector_size < d->src.sector_size
    ? d->src.sector_size : d->physical_sector_size;
  if (agent_layout_build (&d->src, true, &d->layout) == -1)
    return -1;
  return find_devs (d);
}

static void
free_disk (struct probe_disk *d)
{
  agent_layout_free (&d->layout);
  free (d->host);
  agent_source_close (&d->src);
}

static void json_field (const char *sep, const char *key, const char *value);

/* ---- md arrays ------------------------------------------------------- */

/* What an array holds, from its assembled device. */
static void
md_content (const struct agent_md *md, char *type, size_t len)
{
  int fd = open (md->path, O_RDONLY | O_CLOEXEC);

  agent_md_content (md, fd, type, len);
  if (fd >= 0)
    close (fd);
}

/* Member partitions say which array send reads instead. */
static void
annotate_members (struct probe_disk *d, const struct agent_mds *mds)
{
  for (size_t k = 0; k < mds->len; ++k)
    for (int i = 0; i < mds->ptr[k].nmembers; ++i) {
      const struct agent_md_member *m = &mds->ptr[k].members[i];

      for (size_t j = 0; j < d->layout.nparts; ++j)
        if (d->host[j].dev && d->host[j].dev == m->dev)
          snprintf (d->host[j].member, sizeof d->host[j].member,
                    "%s member: %s", mds->ptr[k].name,
                    agent_md_active (&mds->ptr[k]) ? "send reads the array"
                    : "array not running, copied as is");
    }
}

static void
print_mds (const struct agent_mds *mds)
{
  char desc[1024], size[32], type[32];

  if (mds->len == 0)
    return;
  printf ("\nmd arrays (flattened by send: each read once, from the "
          "array):\n");
  for (size_t k = 0; k < mds->len; ++k) {
    const struct agent_md *md = &mds->ptr[k];

    agent_md_describe (md, desc, sizeof desc);
    md_content (md, type, sizeof type);
    printf ("  %s%s%s%s: %s, %s\n    %s\n", md->path, md->label[0] ? " (" : "",
            md->label, md->label[0] ? ")" : "",
            p2v_human_size (md->size, size, sizeof size),
            type[0] ? type : "unrecognised content", desc);
    if (md->nested[0])
      printf ("    nested: %s (send refuses to flatten it)\n", md->nested);
  }
}

static void
json_mds (const struct agent_mds *mds)
{
  char state[128], type[32];

  printf (",\n  \"md\": [");
  for (size_t k = 0; k < mds->len; ++k) {
    const struct agent_md *md = &mds->ptr[k];

    agent_md_state (md, state, sizeof state);
    md_content (md, type, sizeof type);
    printf ("%s\n    {", k ? "," : "");
    json_field ("", "device", md->path);
    json_field (", ", "name", md->label);
    json_field (", ", "uuid", md->uuid);
    json_field (", ", "level", md->level);
    json_field (", ", "metadata", md->metadata);
    json_field (", ", "state", state);
    printf (", \"size\": %" PRIu64 ", \"partitioned\": %s", md->size,
            md->partitioned ? "true" : "false");
    json_field (", ", "content", type);
    json_field (", ", "nested", md->nested);
    printf (", \"members\": [");
    for (int i = 0; i < md->nmembers; ++i) {
      printf ("%s{", i ? ", " : "");
      json_field ("", "device", md->members[i].name);
      json_field (", ", "state", md->members[i].state);
      printf ("}");
    }
    printf ("]}");
  }
  printf ("\n  ]");
}

/* ---- Human output ---------------------------------------------------- */

enum { C_NUM, C_START, C_SIZE, C_FLAGS, C_NAME, C_TYPE, C_LABEL, C_UUID,
       C_MOUNT, C_MAP, NCOLS };
static const char *const col_head[NCOLS] = {
  "#", "START", "SIZE", "FLAGS", "NAME", "TYPE", "LABEL", "UUID", "MOUNTED",
  "MAP",
};

/* Which map reads the partition, or why it is read whole; or what send
 * reads instead (an md member).
 */
static void
map_cell (const struct probe_disk *d, size_t i, char *buf, size_t len)
{
  const struct agent_layout_part *p = &d->layout.parts[i];
  const struct agent_map_outcome *o = &p->map;

  if (d->host[i].member[0])
    snprintf (buf, len, "%s", d->host[i].member);
  else if (p->skipped)
    snprintf (buf, len, "-");
  else if (o->how == AGENT_MAPPED)
    snprintf (buf, len, "%s", o->ops->name);
  else if (o->how == AGENT_MAP_NONE)
    snprintf (buf, len, "zero detection");
  else if (o->how == AGENT_MAP_DECLINED)
    snprintf (buf, len, "zero detection (%s declined: %s)", o->ops->name,
              o->why);
  else
    snprintf (buf, len, "zero detection (%s)", o->why);
}

static void
mount_cell (const struct probe_disk *d, dev_t dev,
            const struct agent_mounts *mt, char *buf, size_t len)
{
  size_t off = 0;

  buf[0] = '\0';
  if (!d->src.is_block) {
    snprintf (buf, len, "n/a");
    return;
  }
  for (size_t i = 0; i < mt->len && off < len; ++i)
    if (agent_mount_matches (&mt->ptr[i], dev))
      off += snprintf (buf + off, len - off, "%s%s (%s)", off ? ", " : "",
                       mt->ptr[i].target, mt->ptr[i].ro ? "ro" : "rw");
}

static void
cell (const struct probe_disk *d, size_t i, const struct agent_mounts *mt,
      int col, char *buf, size_t len)
{
  const struct agent_layout_part *p = &d->layout.parts[i];
  const struct agent_content *c = &p->content;

  buf[0] = '\0';
  switch (col) {
  case C_NUM: snprintf (buf, len, "%d", p->number); break;
  case C_START: p2v_human_size (p->offset, buf, len); break;
  case C_SIZE: p2v_human_size (p->length, buf, len); break;
  case C_FLAGS: snprintf (buf, len, "%s", p->flags); break;
  case C_NAME: snprintf (buf, len, "%s", p->part_name); break;
  case C_TYPE:
    if (strcmp (p->kind, "extended") == 0)
      snprintf (buf, len, "(extended)");
    else
      snprintf (buf, len, "%s%s%s", c->ambiguous ? "(ambiguous)" : c->type,
                c->version[0] ? " " : "", c->version);
    break;
  case C_LABEL: snprintf (buf, len, "%s", c->label); break;
  case C_UUID: snprintf (buf, len, "%s", c->uuid); break;
  case C_MOUNT: mount_cell (d, d->host[i].dev, mt, buf, len); break;
  case C_MAP: map_cell (d, i, buf, len); break;
  }
}

/* Characters, not bytes, so UTF-8 labels line up. */
static size_t
text_width (const char *s)
{
  size_t n = 0;

  for (; *s; ++s)
    n += ((unsigned char) *s & 0xc0) != 0x80;
  return n;
}

/* Columns sized to their content; a column empty on every row is left
 * out (NAME outside GPT, UUID and LABEL on blank disks).
 */
static void
print_parts (const struct probe_disk *d, const struct agent_mounts *mt)
{
  size_t w[NCOLS] = { 0 };
  bool used[NCOLS] = { false };
  char buf[1024];

  for (int c = 0; c < NCOLS; ++c) {
    w[c] = text_width (col_head[c]);
    for (size_t i = 0; i < d->layout.nparts; ++i) {
      cell (d, i, mt, c, buf, sizeof buf);
      used[c] |= buf[0] != '\0';
      w[c] = text_width (buf) > w[c] ? text_width (buf) : w[c];
    }
  }
  used[C_MOUNT] = used[C_NUM] = used[C_SIZE] = used[C_MAP] = true;
  for (size_t i = 0; i <= d->layout.nparts; ++i) {
    for (int c = 0; c < NCOLS; ++c) {
      if (!used[c])
        continue;
      if (i == 0)
        snprintf (buf, sizeof buf, "%s", col_head[c]);
      else
        cell (d, i - 1, mt, c, buf, sizeof buf);
      if (buf[0] == '\0')
        snprintf (buf, sizeof buf, "-");
      printf ("  %s%*s", buf, c == C_MAP ? 0 : (int) (w[c] - text_width (buf)),
              "");
    }
    fputs ("\n", stdout);
  }
}

static void
print_disk (const struct probe_disk *d, const struct agent_mounts *mt)
{
  char size[32];

  printf ("\n%s: %s, %s, sectors %" PRIu32 "/%u", d->src.path,
          p2v_human_size (d->src.size, size, sizeof size),
          d->src.is_block ? "block device" : "image file",
          d->src.sector_size, d->physical_sector_size);
  if (d->model[0])
    printf (", model \"%s\"", d->model);
  if (d->serial[0] || d->wwid[0])
    printf (", %s %s", d->serial[0] ? "serial" : "wwid",
            d->serial[0] ? d->serial : d->wwid);
  if (d->rotational >= 0)
    printf (", %s", d->rotational ? "rotational" : "non-rotational");
  if (d->removable == 1)
    printf (", removable");
  if (d->hwraid[0])
    printf (",\n  a hardware RAID volume (%s): one plain disk to p2v", d->hwraid);
  printf ("\n  partition table: %s%s\n", d->layout.table,
          strcmp (d->layout.table, "loop") == 0 ? " (a filesystem on the whole disk)"
          : "");
  print_parts (d, mt);
}

static const char *
fact_or (const struct agent_facts *f, const char *key, const char *dflt)
{
  const char *v = agent_fact_get (f, key);

  return v ? v : dflt;
}

static void
print_nic (const struct agent_facts *f, int i)
{
  static const char *const fields[][3] = {
    { "mac", " ", "" }, { "predictable", ", udev's name ", "" },
    { "driver", ", driver ", "" }, { "speed", ", ", " Mb/s" },
  };
  char key[64];
  const char *v;

  snprintf (key, sizeof key, "nic.%d.name", i);
  printf ("  nic %s", fact_or (f, key, "?"));
  for (size_t j = 0; j < sizeof fields / sizeof fields[0]; ++j) {
    snprintf (key, sizeof key, "nic.%d.%s", i, fields[j][0]);
    if ((v = agent_fact_get (f, key)) != NULL)
      printf ("%s%s%s", fields[j][1], v, fields[j][2]);
  }
  printf ("\n");
}

static void
print_host (const struct agent_facts *f)
{
  const char *model = agent_fact_get (f, "cpu.model");
  const char *serial = agent_fact_get (f, "dmi.serial");
  char mem[32] = "?", key[64];

  if (agent_fact_get (f, "memory"))
    p2v_human_size (strtoull (agent_fact_get (f, "memory"), NULL, 10), mem,
                    sizeof mem);
  printf ("Host %s: %s CPUs%s%s%s, %s RAM, %s firmware, %s %s\n",
          fact_or (f, "hostname", "?"), fact_or (f, "cpus", "?"),
          model ? " (" : "", model ? model : "", model ? ")" : "", mem,
          fact_or (f, "firmware", "?"), fact_or (f, "kernel", "?"),
          fact_or (f, "arch", "?"));
  if (agent_fact_get (f, "dmi.vendor") || agent_fact_get (f, "dmi.product"))
    printf ("  system: %s %s%s%s\n", fact_or (f, "dmi.vendor", ""),
            fact_or (f, "dmi.product", ""), serial ? ", serial " : "",
            serial ? serial : "");
  for (int i = 0; i < AGENT_MAX_NICS; ++i) {
    snprintf (key, sizeof key, "nic.%d.name", i);
    if (agent_fact_get (f, key) == NULL)
      break;
    print_nic (f, i);
  }
}

/* ---- JSON output ----------------------------------------------------- */

static void
json_field (const char *sep, const char *key, const char *value)
{
  printf ("%s", sep);
  p2v_json_string (stdout, key);
  printf (": ");
  p2v_json_string (stdout, value);
}

static void
json_host (const struct agent_facts *f)
{
  printf ("{\n  \"host\": {");
  for (size_t i = 0; i < f->len; ++i)
    json_field (i ? ",\n    " : "\n    ", f->ptr[i].key, f->ptr[i].value);
  printf ("\n  },\n  \"disks\": [");
}

static void
json_mounts (const struct probe_disk *d, dev_t dev,
             const struct agent_mounts *mt)
{
  const char *sep = "";

  if (!d->src.is_block) {
    printf (", \"mounts\": null");
    return;
  }
  printf (", \"mounts\": [");
  for (size_t i = 0; i < mt->len; ++i)
    if (agent_mount_matches (&mt->ptr[i], dev)) {
      printf ("%s{\"target\": ", sep);
      p2v_json_string (stdout, mt->ptr[i].target);
      printf (", \"mode\": \"%s\"}", mt->ptr[i].ro ? "ro" : "rw");
      sep = ", ";
    }
  printf ("]");
}

static void
json_part (const struct probe_disk *d, size_t i,
           const struct agent_mounts *mt, const char *sep)
{
  const struct agent_layout_part *p = &d->layout.parts[i];
  const struct agent_content *c = &p->content;
  char flags[sizeof p->flags], map[512];
  char *save = NULL;
  const char *fsep = "";

  printf ("%s\n        {\"number\": %d", sep, p->number);
  json_field (", ", "kind", p->kind);
  printf (", \"start\": %" PRIu64 ", \"size\": %" PRIu64 ", \"flags\": [",
          p->offset, p->length);
  snprintf (flags, sizeof flags, "%s", p->flags);
  for (char *t = strtok_r (flags, ",", &save); t;
       t = strtok_r (NULL, ",", &save), fsep = ", ") {
    printf ("%s", fsep);
    p2v_json_string (stdout, t);
  }
  printf ("]");
  json_field (", ", "name", p->part_name);
  json_field (", ", "type", c->type);
  json_field (", ", "version", c->version);
  json_field (", ", "uuid", c->uuid);
  json_field (", ", "label", c->label);
  if (c->ambiguous)
    printf (", \"ambiguous\": true");
  json_mounts (d, d->host[i].dev, mt);
  map_cell (d, i, map, sizeof map);
  json_field (", ", "map", map);
  printf (", \"read\": %" PRIu64, p->read);
  json_field (", ", "why", p->skipped ? p->skipped
              : p->map.how == AGENT_MAPPED ? "" : p->map.why);
  printf ("}");
}

static void
json_disk (const struct probe_disk *d, const struct agent_mounts *mt,
           const char *sep)
{
  printf ("%s\n    {", sep);
  json_field ("", "path", d->src.path);
  printf (", \"size\": %" PRIu64 ", \"block_device\": %s,\n"
          "     \"logical_sector_size\": %" PRIu32
          ", \"physical_sector_size\": %u",
          d->src.size, d->src.is_block ? "true" : "false",
          d->src.sector_size, d->physical_sector_size);
  json_field (", ", "model", d->model);
  json_field (", ", "serial", d->serial);
  json_field (", ", "wwid", d->wwid);
  json_field (", ", "hardware_raid", d->hwraid);
  if (d->rotational >= 0)
    printf (", \"rotational\": %s, \"removable\": %s",
            d->rotational ? "true" : "false",
            d->removable == 1 ? "true" : "false");
  json_field (",\n     ", "table", d->layout.table);
  printf (", \"partitions\": [");
  for (size_t i = 0; i < d->layout.nparts; ++i)
    json_part (d, i, mt, i ? "," : "");
  printf ("\n      ]}");
}

/* --extents: what send reads of the disk, as "OFFSET LENGTH" lines in
 * bytes (everything else is free space), after "#" lines saying what
 * each region holds and how it is mapped.
 */
static void
print_extents (const struct probe_disk *d)
{
  const struct agent_layout *l = &d->layout;
  char map[512];

  printf ("# %s: %" PRIu64 " bytes, table %s, %" PRIu64 " bytes to read\n",
          d->src.path, d->src.size, l->table,
          agent_extents_bytes (&l->read, 0, d->src.size));
  for (size_t i = 0; i < l->nparts; ++i) {
    const struct agent_layout_part *p = &l->parts[i];

    map_cell (d, i, map, sizeof map);
    printf ("# %s: %s, %" PRIu64 " bytes at %" PRIu64 ", %s\n", p->name,
            *p->content.type ? p->content.type : "unrecognised", p->length,
            p->offset, p->skipped ? p->skipped : map);
  }
  for (size_t i = 0; i < l->read.len; ++i)
    printf ("%" PRIu64 " %" PRIu64 "\n", l->read.ptr[i].offset,
            l->read.ptr[i].length);
}

/* ---- The command ----------------------------------------------------- */

/* Real disks in /sys/block: not loop devices, RAM disks, optical or
 * floppy drives.
 */
static int
is_scanned_disk (const struct dirent *e)
{
  static const char *const skip[] = { "loop", "ram", "zram", "sr", "fd" };

  if (e->d_name[0] == '.')
    return 0;
  for (size_t i = 0; i < sizeof skip / sizeof skip[0]; ++i)
    if (strncmp (e->d_name, skip[i], strlen (skip[i])) == 0 &&
        (isdigit ((unsigned char) e->d_name[strlen (skip[i])])))
      return 0;
  return 1;
}

/* /dev/NAME for every disk in /sys/block; a disk without a device node
 * (containers) or with no medium (size 0) is left out.
 */
static int
scan_disks (char ***paths, int *n)
{
  struct dirent **names = NULL;
  int count = scandir ("/sys/block", &names, is_scanned_disk, alphasort);
  char buf[32];
  int r = 0;

  *n = 0;
  *paths = calloc (count > 0 ? count : 1, sizeof (char *));
  if (*paths == NULL)
    r = -1;
  for (int i = 0; i < count; ++i) {
    const char *name = names[i]->d_name;
    char *dev;

    if (r == 0 &&
        agent_read_attr (buf, sizeof buf, "/sys/block/%s/size", name) == 0 &&
        strcmp (buf, "0") != 0) {
      if (asprintf (&dev, "/dev/%s", name) == -1)
        r = -1;
      else if (access (dev, F_OK) == 0)
        (*paths)[(*n)++] = dev;
      else {
        p2v_warning ("%s: listed in /sys/block but there is no device "
                     "node; left out", dev);
        free (dev);
      }
    }
    free (names[i]);
  }
  free (names);
  if (r == -1)
    p2v_error ("out of memory");
  return r;
}

enum { OPT_JSON = 256, OPT_EXTENTS };

static const struct p2v_option probe_options[] = {
  { "json", no_argument, OPT_JSON, NULL,
    "print one JSON object instead of tables" },
  { "extents", no_argument, OPT_EXTENTS, NULL,
    "print only what send reads of each DISK: \"OFFSET LENGTH\" lines "
    "in bytes, after \"#\" lines naming its regions (p2v-receiver "
    "attach reads them)" },
  { "verbose", no_argument, 'v', NULL, "print debugging messages" },
  { "help", no_argument, 'h', NULL, "show this help and exit" },
};
#define NPROBE_OPTS (sizeof probe_options / sizeof probe_options[0])

static void
probe_usage (FILE *fp)
{
  fprintf (fp,
           "Usage: p2v-agent probe [OPTION]... [DISK...]\n"
           "Show this host (CPUs, memory, firmware, NICs) and what each DISK\n"
           "(block device or image file; default: every disk in /sys/block)\n"
           "holds: partitions, filesystems, mounts, and the used-block map\n"
           "p2v-agent send uses (or why it reads all).  Writes nothing.\n"
           "\nOptions:\n");
  p2v_options_help (fp, probe_options, NPROBE_OPTS);
  fprintf (fp, "\nSee p2v-agent(1).\n");
}

enum probe_format { PROBE_TABLES, PROBE_JSON, PROBE_EXTENTS };

/* Probes and prints each disk; 1 if any could not be read. */
static int
probe_all (char **paths, int n, enum probe_format fmt,
           const struct agent_mounts *mt, const struct agent_mds *mds)
{
  int failed = 0, shown = 0;

  for (int i = 0; i < n; ++i) {
    struct probe_disk d;

    if (probe_disk (&d, paths[i]) == 0) {
      annotate_members (&d, mds);
      if (fmt == PROBE_JSON)
        json_disk (&d, mt, shown ? "," : "");
      else if (fmt == PROBE_EXTENTS)
        print_extents (&d);
      else
        print_disk (&d, mt);
      shown++;
    }
    else
      failed = 1;
    free_disk (&d);
    fflush (stdout);
  }
  if (n == 0 && fmt == PROBE_TABLES)
    printf ("\nNo disks found in /sys/block.\n");
  return failed;
}

static int
run_probe (char **paths, int n, enum probe_format fmt)
{
  bool json = fmt == PROBE_JSON;
  struct agent_facts facts = { 0 };
  struct agent_mounts mt = { 0 };
  struct agent_mds mds = { 0 };
  int r = EXIT_FAILURE;

  if (agent_host_facts (&facts) == -1 || agent_mounts_load (&mt) == -1 ||
      agent_md_scan (&mds) == -1)
    goto out;
  if (json)
    json_host (&facts);
  else if (fmt == PROBE_TABLES) {
    print_host (&facts);
    print_mds (&mds);
  }
  r = probe_all (paths, n, fmt, &mt, &mds) ? EXIT_FAILURE : EXIT_SUCCESS;
  if (json) {
    printf ("\n  ]");
    json_mds (&mds);
    printf ("\n}\n");
  }
  if (r != EXIT_SUCCESS && geteuid () != 0)
    p2v_info ("reading disks usually needs root: try again as root");
 out:
  agent_facts_free (&facts);
  agent_mounts_free (&mt);
  agent_mds_reset (&mds);
  return fflush (stdout) == 0 ? r : EXIT_FAILURE;
}

int
agent_probe (int argc, char *argv[])
{
  struct option longopts[NPROBE_OPTS + 1];
  char shortopts[2 * NPROBE_OPTS + 1];
  enum probe_format fmt = PROBE_TABLES;
  char **scanned = NULL;
  int c, n = 0, r;

  p2v_options_getopt (probe_options, NPROBE_OPTS, longopts, shortopts);
  while ((c = getopt_long (argc, argv, shortopts, longopts, NULL)) != -1) {
    switch (c) {
    case 'h': probe_usage (stdout); return EXIT_SUCCESS;
    case OPT_JSON: fmt = PROBE_JSON; break;
    case OPT_EXTENTS: fmt = PROBE_EXTENTS; break;
    case 'v': p2v_verbose++; break;
    default:
      fprintf (stderr, "Try 'p2v-agent probe --help'.\n");
      return EXIT_FAILURE;
    }
  }
  if (optind < argc)
    return run_probe (argv + optind, argc - optind, fmt);
  r = scan_disks (&scanned, &n) == -1 ? EXIT_FAILURE
    : run_probe (scanned, n, fmt);
  for (int i = 0; i < n; ++i)
    free (scanned[i]);
  free (scanned);
  return r;
}
