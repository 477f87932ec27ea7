/* p2v-agent probe: what this machine is (facts.c) and what its disks
 * hold: it shows the host facts with every disk's
 * partitions (libparted), their content (libblkid), whether they are
 * mounted, and which used-block map send would try.  Nothing here writes:
 * sources are opened O_RDONLY, and libparted (which opens devices
 * read-write itself) is never asked to commit or to fix anything.
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

#include <blkid.h>
#include <parted/parted.h>

#include "agent.h"
#include "cleanup.h"
#include "fileio.h"
#include "json.h"
#include "log.h"
#include "map.h"
#include "options.h"

/* ---- Disks and partitions -------------------------------------------- */

struct probe_part {
  int number;                   /* 0: the whole disk, no table */
  const char *kind;             /* "primary", "logical", "extended", "" */
  uint64_t start, size;
  char flags[160];              /* "boot,esp" */
  char name[128];               /* GPT partition name */
  char type[32], version[64], uuid[64], label[256];
  bool ambiguous;               /* several signatures: blkid refuses */
  char map[96];                 /* the map send would try */
  dev_t dev;                    /* kernel device, for mounts; 0 unknown */
};
DEFINE_VECTOR_TYPE (probe_parts, struct probe_part);

struct probe_disk {
  struct agent_source src;
  dev_t dev;
  char sysdir[PATH_MAX];        /* the disk in sysfs, "" for files */
  unsigned physical_sector_size;
  char model[128], serial[128], wwid[128];
  int rotational, removable;    /* -1: unknown (image files) */
  char hwraid[32];              /* a hardware RAID volume: the driver */
  char table[16];               /* libparted's name, or "none" */
  struct probe_parts parts;
};

static void
lookup_value (blkid_probe pr, const char *name, char *buf, size_t len)
{
  const char *v;

  if (blkid_probe_lookup_value (pr, name, &v, NULL) == 0) {
    snprintf (buf, len, "%s", v);
    agent_clean_string (buf);
  }
}

/* Low-level libblkid probe of the partition's bytes, on our read-only
 * descriptor (like layout.c, so probe and send agree on TYPE).
 */
static void
probe_content (const struct probe_disk *d, struct probe_part *p)
{
  blkid_probe pr;
  uint64_t len = p->size;
  int r;

  if (p->start >= d->src.size)
    return;
  if (len > d->src.size - p->start)
    len = d->src.size - p->start;
  if ((pr = blkid_new_probe ()) == NULL)
    return;
  if (blkid_probe_set_device (pr, d->src.fd, p->start, len) == 0) {
    blkid_probe_enable_superblocks (pr, 1);
    blkid_probe_set_superblocks_flags (pr, BLKID_SUBLKS_TYPE |
                                       BLKID_SUBLKS_LABEL | BLKID_SUBLKS_UUID |
                                       BLKID_SUBLKS_VERSION);
    blkid_probe_enable_partitions (pr, 0);
    r = blkid_do_safeprobe (pr);
    p->ambiguous = r == -2;
    if (r == 0) {
      lookup_value (pr, "TYPE", p->type, sizeof p->type);
      lookup_value (pr, "VERSION", p->version, sizeof p->version);
      lookup_value (pr, "UUID", p->uuid, sizeof p->uuid);
      lookup_value (pr, "LABEL", p->label, sizeof p->label);
    }
  }
  blkid_free_probe (pr);
}

static void
choose_map (struct probe_part *p, bool bios_boot)
{
  const struct agent_map_ops *ops = agent_map_find (p->type);

  if (strcmp (p->kind, "extended") == 0)
    snprintf (p->map, sizeof p->map, "-");
  else if (bios_boot)
    snprintf (p->map, sizeof p->map, "zero detection (BIOS boot)");
  else
    snprintf (p->map, sizeof p->map, "%s", ops ? ops->name : "zero detection");
}

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

static int
add_part (struct probe_disk *d, struct probe_part *p)
{
  if (probe_parts_append (&d->parts, *p) == -1) {
    p2v_error ("out of memory");
    return -1;
  }
  return 0;
}

static void
part_flags (PedPartition *part, char *buf, size_t len)
{
  size_t off = 0;

  buf[0] = '\0';
  for (PedPartitionFlag f = ped_partition_flag_next (0); f;
       f = ped_partition_flag_next (f))
    if (ped_partition_is_flag_available (part, f) &&
        ped_partition_get_flag (part, f) && off < len)
      off += snprintf (buf + off, len - off, "%s%s", off ? "," : "",
                       ped_partition_flag_get_name (f));
}

static int
walk_table (struct probe_disk *d, PedDisk *disk)
{
  long long ss = disk->dev->sector_size;
  bool names = ped_disk_type_check_feature (disk->type,
                                            PED_DISK_TYPE_PARTITION_NAME);
  /* libparted's "loop" label: a filesystem on the whole disk. */
  bool whole = strcmp (disk->type->name, "loop") == 0;

  snprintf (d->table, sizeof d->table, "%s", disk->type->name);
  for (PedPartition *part = ped_disk_next_partition (disk, NULL); part;
       part = ped_disk_next_partition (disk, part)) {
    struct probe_part p = { .number = part->num };

    if (!ped_partition_is_active (part))
      continue;                 /* free space, metadata */
    p.kind = ped_partition_type_get_name (part->type);
    p.start = part->geom.start * ss;
    p.size = part->geom.length * ss;
    part_flags (part, p.flags, sizeof p.flags);
    if (names && ped_partition_get_name (part)) {
      snprintf (p.name, sizeof p.name, "%s", ped_partition_get_name (part));
      agent_clean_string (p.name);
    }
    if (!(part->type & PED_PARTITION_EXTENDED))
      probe_content (d, &p);
    choose_map (&p, ped_partition_is_flag_available (part,
                                                     PED_PARTITION_BIOS_GRUB)
                && ped_partition_get_flag (part, PED_PARTITION_BIOS_GRUB));
    p.dev = whole ? d->dev : part_dev (d, part->num);
    if (add_part (d, &p) == -1)
      return -1;
  }
  return 0;
}

/* Partitions, or the whole disk as one region without a table.  Nothing
 * is ever committed, so libparted writes nothing.
 */
static int
read_table (struct probe_disk *d)
{
  PedDevice *dev;
  PedDisk *disk = NULL;
  int r;

  agent_parted_quiet ();
  dev = ped_device_get (d->src.path);
  if (dev && ped_disk_probe (dev))
    disk = ped_disk_new (dev);
  if (disk)
    r = walk_table (d, disk);
  else {
    struct probe_part p = { .kind = "", .size = d->src.size, .dev = d->dev };

    snprintf (d->table, sizeof d->table, "none");
    probe_content (d, &p);
    choose_map (&p, false);
    r = add_part (d, &p);
  }
  if (disk)
    ped_disk_destroy (disk);
  if (dev)
    ped_device_destroy (dev);
  return r;
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
  return read_table (d);
}

static void
free_disk (struct probe_disk *d)
{
  probe_parts_reset (&d->parts);
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

      for (size_t j = 0; j < d->parts.len; ++j)
        if (d->parts.ptr[j].dev && d->parts.ptr[j].dev == m->dev)
          snprintf (d->parts.ptr[j].map, sizeof d->parts.ptr[j].map,
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

static void
mount_cell (const struct probe_disk *d, const struct probe_part *p,
            const struct agent_mounts *mt, char *buf, size_t len)
{
  size_t off = 0;

  buf[0] = '\0';
  if (!d->src.is_block) {
    snprintf (buf, len, "n/a");
    return;
  }
  for (size_t i = 0; i < mt->len && off < len; ++i)
    if (agent_mount_matches (&mt->ptr[i], p->dev))
      off += snprintf (buf + off, len - off, "%s%s (%s)", off ? ", " : "",
                       mt->ptr[i].target, mt->ptr[i].ro ? "ro" : "rw");
}

static void
cell (const struct probe_disk *d, const struct probe_part *p,
      const struct agent_mounts *mt, int col, char *buf, size_t len)
{
  buf[0] = '\0';
  switch (col) {
  case C_NUM: snprintf (buf, len, "%d", p->number); break;
  case C_START: p2v_human_size (p->start, buf, len); break;
  case C_SIZE: p2v_human_size (p->size, buf, len); break;
  case C_FLAGS: snprintf (buf, len, "%s", p->flags); break;
  case C_NAME: snprintf (buf, len, "%s", p->name); break;
  case C_TYPE:
    if (strcmp (p->kind, "extended") == 0)
      snprintf (buf, len, "(extended)");
    else
      snprintf (buf, len, "%s%s%s", p->ambiguous ? "(ambiguous)" : p->type,
                p->version[0] ? " " : "", p->version);
    break;
  case C_LABEL: snprintf (buf, len, "%s", p->label); break;
  case C_UUID: snprintf (buf, len, "%s", p->uuid); break;
  case C_MOUNT: mount_cell (d, p, mt, buf, len); break;
  case C_MAP: snprintf (buf, len, "%s", p->map); break;
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
    for (size_t i = 0; i < d->parts.len; ++i) {
      cell (d, &d->parts.ptr[i], mt, c, buf, sizeof buf);
      used[c] |= buf[0] != '\0';
      w[c] = text_width (buf) > w[c] ? text_width (buf) : w[c];
    }
  }
  used[C_MOUNT] = used[C_NUM] = used[C_SIZE] = used[C_MAP] = true;
  for (size_t i = 0; i <= d->parts.len; ++i) {
    for (int c = 0; c < NCOLS; ++c) {
      if (!used[c])
        continue;
      if (i == 0)
        snprintf (buf, sizeof buf, "%s", col_head[c]);
      else
        cell (d, &d->parts.ptr[i - 1], mt, c, buf, sizeof buf);
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
  printf ("\n  partition table: %s%s\n", d->table,
          strcmp (d->table, "loop") == 0 ? " (a filesystem on the whole disk)"
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
    { "mac", " ", "" }, { "driver", ", driver ", "" },
    { "speed", ", ", " Mb/s" },
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
json_mounts (const struct probe_disk *d, const struct probe_part *p,
             const struct agent_mounts *mt)
{
  const char *sep = "";

  if (!d->src.is_block) {
    printf (", \"mounts\": null");
    return;
  }
  printf (", \"mounts\": [");
  for (size_t i = 0; i < mt->len; ++i)
    if (agent_mount_matches (&mt->ptr[i], p->dev)) {
      printf ("%s{\"target\": ", sep);
      p2v_json_string (stdout, mt->ptr[i].target);
      printf (", \"mode\": \"%s\"}", mt->ptr[i].ro ? "ro" : "rw");
      sep = ", ";
    }
  printf ("]");
}

static void
json_part (const struct probe_disk *d, const struct probe_part *p,
           const struct agent_mounts *mt, const char *sep)
{
  char flags[sizeof p->flags];
  char *save = NULL;
  const char *fsep = "";

  printf ("%s\n        {\"number\": %d", sep, p->number);
  json_field (", ", "kind", p->kind);
  printf (", \"start\": %" PRIu64 ", \"size\": %" PRIu64 ", \"flags\": [",
          p->start, p->size);
  snprintf (flags, sizeof flags, "%s", p->flags);
  for (char *t = strtok_r (flags, ",", &save); t;
       t = strtok_r (NULL, ",", &save), fsep = ", ") {
    printf ("%s", fsep);
    p2v_json_string (stdout, t);
  }
  printf ("]");
  json_field (", ", "name", p->name);
  json_field (", ", "type", p->type);
  json_field (", ", "version", p->version);
  json_field (", ", "uuid", p->uuid);
  json_field (", ", "label", p->label);
  if (p->ambiguous)
    printf (", \"ambiguous\": true");
  json_mounts (d, p, mt);
  json_field (", ", "map", p->map);
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
  json_field (",\n     ", "table", d->table);
  printf (", \"partitions\": [");
  for (size_t i = 0; i < d->parts.len; ++i)
    json_part (d, &d->parts.ptr[i], mt, i ? "," : "");
  printf ("\n      ]}");
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

enum { OPT_JSON = 256 };

static const struct p2v_option probe_options[] = {
  { "json", no_argument, OPT_JSON, NULL,
    "print one JSON object instead of tables" },
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
           "p2v-agent send would try.  Writes nothing.\n"
           "\nOptions:\n");
  p2v_options_help (fp, probe_options, NPROBE_OPTS);
  fprintf (fp, "\nSee p2v-agent(1).\n");
}

/* Probes and prints each disk; 1 if any could not be read. */
static int
probe_all (char **paths, int n, bool json, const struct agent_mounts *mt,
           const struct agent_mds *mds)
{
  int failed = 0, shown = 0;

  for (int i = 0; i < n; ++i) {
    struct probe_disk d;

    if (probe_disk (&d, paths[i]) == 0) {
      annotate_members (&d, mds);
      if (json)
        json_disk (&d, mt, shown ? "," : "");
      else
        print_disk (&d, mt);
      shown++;
    }
    else
      failed = 1;
    free_disk (&d);
    fflush (stdout);
  }
  if (n == 0 && !json)
    printf ("\nNo disks found in /sys/block.\n");
  return failed;
}

static int
run_probe (char **paths, int n, bool json)
{
  struct agent_facts facts = { 0 };
  struct agent_mounts mt = { 0 };
  struct agent_mds mds = { 0 };
  int r = EXIT_FAILURE;

  if (agent_host_facts (&facts) == -1 || agent_mounts_load (&mt) == -1 ||
      agent_md_scan (&mds) == -1)
    goto out;
  if (json)
    json_host (&facts);
  else {
    print_host (&facts);
    print_mds (&mds);
  }
  r = probe_all (paths, n, json, &mt, &mds) ? EXIT_FAILURE : EXIT_SUCCESS;
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
  bool json = false;
  char **scanned = NULL;
  int c, n = 0, r;

  p2v_options_getopt (probe_options, NPROBE_OPTS, longopts, shortopts);
  while ((c = getopt_long (argc, argv, shortopts, longopts, NULL)) != -1) {
    switch (c) {
    case 'h': probe_usage (stdout); return EXIT_SUCCESS;
    case OPT_JSON: json = true; break;
    case 'v': p2v_verbose++; break;
    default:
      fprintf (stderr, "Try 'p2v-agent probe --help'.\n");
      return EXIT_FAILURE;
    }
  }
  if (optind < argc)
    return run_probe (argv + optind, argc - optind, json);
  r = scan_disks (&scanned, &n) == -1 ? EXIT_FAILURE
    : run_probe (scanned, n, json);
  for (int i = 0; i < n; ++i)
    free (scanned[i]);
  free (scanned);
  return r;
}
