/* The whole source: partition table (libparted), what each partition
 * holds (libblkid), and the bytes to read.  Every byte outside a mapped
 * filesystem is read, with zero detection: sector 0 up to the first
 * partition, gaps, the GPT backup, EBRs, BIOS boot partitions, anything
 * with no map or whose map declines.  The result is the disk's one
 * model (layout.h): send reads and prints it, probe shows it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <blkid.h>
#include <parted/parted.h>

#include "agent.h"
#include "fileio.h"
#include "log.h"
#include "map.h"

/* libparted asks questions (fix this GPT?) on stderr and stdin: never
 * let it, and never agree to change anything.
 */
static PedExceptionOption
parted_exception (PedException *ex)
{
  if (ex->type >= PED_EXCEPTION_ERROR)
    p2v_warning ("libparted: %s", ex->message);
  else
    p2v_debug ("libparted: %s", ex->message);
  return ex->options & PED_EXCEPTION_IGNORE ? PED_EXCEPTION_IGNORE
                                            : PED_EXCEPTION_CANCEL;
}

void
agent_parted_quiet (void)
{
  ped_exception_set_handler (parted_exception);
}

static void
lookup_value (blkid_probe pr, const char *name, char *buf, size_t len)
{
  const char *v;

  if (blkid_probe_lookup_value (pr, name, &v, NULL) == 0) {
    snprintf (buf, len, "%s", v);
    agent_clean_string (buf);
  }
}

/* Low-level libblkid probe of the bytes, on our read-only descriptor. */
void
agent_probe_content (int fd, uint64_t offset, uint64_t length,
                     struct agent_content *c)
{
  blkid_probe pr = blkid_new_probe ();
  int r;

  memset (c, 0, sizeof *c);
  if (pr == NULL)
    return;
  if (blkid_probe_set_device (pr, fd, offset, length) == 0) {
    blkid_probe_enable_superblocks (pr, 1);
    blkid_probe_set_superblocks_flags (pr, BLKID_SUBLKS_TYPE |
                                       BLKID_SUBLKS_LABEL | BLKID_SUBLKS_UUID |
                                       BLKID_SUBLKS_VERSION);
    blkid_probe_enable_partitions (pr, 0);
    r = blkid_do_safeprobe (pr);
    c->ambiguous = r == -2;
    if (r == 0) {
      lookup_value (pr, "TYPE", c->type, sizeof c->type);
      lookup_value (pr, "VERSION", c->version, sizeof c->version);
      lookup_value (pr, "UUID", c->uuid, sizeof c->uuid);
      lookup_value (pr, "LABEL", c->label, sizeof c->label);
    }
  }
  blkid_free_probe (pr);
}

void
agent_probe_type (int fd, uint64_t offset, uint64_t length, char *type,
                  size_t len)
{
  struct agent_content c;

  agent_probe_content (fd, offset, length, &c);
  snprintf (type, len, "%s", c.type);
}

static int
add_part (struct agent_layout *l, const struct agent_layout_part *p)
{
  struct agent_layout_part *n = realloc (l->parts,
                                         (l->nparts + 1) * sizeof *n);

  if (n == NULL) {
    p2v_error ("out of memory");
    return -1;
  }
  l->parts = n;
  l->parts[l->nparts++] = *p;
  return 0;
}

/* Map one region of the target (a partition, or the whole source
 * without a table): p's bytes are from's at from_off.  The map runs on
 * from; its extents move to the target's offsets.
 */
static int
map_region (struct agent_layout *l, const struct agent_source *from,
            uint64_t from_off, struct agent_layout_part *p, bool use_maps,
            bool bios_boot)
{
  struct agent_region r = { from->fd, from->path, p->name, from_off,
                            p->length, p->content.type };
  const char *skip = agent_source_opaque (from);

  if (skip == NULL)
    agent_probe_content (from->fd, from_off, p->length, &p->content);
  if (skip == NULL && bios_boot)
    skip = "BIOS boot partition";
  else if (skip == NULL && !use_maps)
    skip = "--no-maps";
  if (p->kind == NULL)
    p->kind = "";
  if (agent_map_step (&r, skip, p->offset, &l->read, &p->map) == -1)
    return -1;
  if (p->map.how == AGENT_MAP_DECLINED)
    p2v_warning ("%s (%s): %s; reading it all with zero detection "
                 "instead", p->name, p->content.type, p->map.why);
  return add_part (l, p);
}

int
agent_layout_add (struct agent_layout *l, const struct agent_source *from,
                  uint64_t from_offset, bool use_maps,
                  struct agent_layout_part *p)
{
  return map_region (l, from, from_offset, p, use_maps, false);
}

/* Everything not inside a mappable partition is read: on a composed
 * source only where a segment has bytes (the rest reads as zeros).
 */
static int
add_gaps (const struct agent_source *src, struct agent_layout *l)
{
  uint64_t pos = 0;

  for (size_t i = 0; i < l->nparts; ++i) {
    const struct agent_layout_part *p = &l->parts[i];

    if (p->skipped)
      continue;
    if (p->offset > pos &&
        agent_source_extents (src, pos, p->offset - pos, &l->read) == -1)
      return -1;
    if (p->offset + p->length > pos)
      pos = p->offset + p->length;
  }
  if (pos < src->size &&
      agent_source_extents (src, pos, src->size - pos, &l->read) == -1)
    return -1;
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

/* A partition as the table describes it, before anything is read. */
static void
describe_part (const struct agent_source *src, PedDisk *disk,
               PedPartition *part, struct agent_layout_part *p)
{
  long long ss = disk->dev->sector_size;

  p->number = part->num;
  p->kind = ped_partition_type_get_name (part->type);
  p->offset = part->geom.start * ss;
  p->length = part->geom.length * ss;
  part_flags (part, p->flags, sizeof p->flags);
  if (ped_disk_type_check_feature (disk->type, PED_DISK_TYPE_PARTITION_NAME)
      && ped_partition_get_name (part)) {
    snprintf (p->part_name, sizeof p->part_name, "%s",
              ped_partition_get_name (part));
    agent_clean_string (p->part_name);
  }
  snprintf (p->name, sizeof p->name, "%s partition %d", src->path, part->num);
}

/* Free space and metadata are gaps; an extended partition is only a
 * container (its EBRs lie outside the logical ones: gaps too), and
 * kept in the model as the table has it.
 */
static int
walk_partitions (struct agent_source *src, struct agent_layout *l,
                 bool use_maps, PedDisk *disk)
{
  PedPartition *part;

  snprintf (l->table, sizeof l->table, "%s", disk->type->name);
  for (part = ped_disk_next_partition (disk, NULL); part;
       part = ped_disk_next_partition (disk, part)) {
    struct agent_layout_part p = { .number = 0 };
    int r;

    if (!ped_partition_is_active (part))
      continue;
    describe_part (src, disk, part, &p);
    if (part->type & PED_PARTITION_EXTENDED)
      p.skipped = "an extended partition: holds the logical ones";
    else if (p.offset >= src->size)
      p.skipped = "past the end of the disk";
    if (p.skipped)
      r = add_part (l, &p);
    else {
      if (p.length > src->size - p.offset)
        p.length = src->size - p.offset;  /* a table larger than the disk */
      r = map_region (l, src, p.offset, &p, use_maps,
                      ped_partition_is_flag_available (part,
                                                       PED_PARTITION_BIOS_GRUB)
                      && ped_partition_get_flag (part,
                                                 PED_PARTITION_BIOS_GRUB));
    }
    if (r == -1)
      return -1;
  }
  return 0;
}

static int
by_part_offset (const void *a, const void *b)
{
  const struct agent_layout_part *x = a, *y = b;

  return x->offset < y->offset ? -1 : x->offset > y->offset;
}

int
agent_layout_build (struct agent_source *src, bool use_maps,
                    struct agent_layout *l)
{
  PedDevice *dev;
  PedDisk *disk = NULL;
  int r = 0;

  memset (l, 0, sizeof *l);
  agent_parted_quiet ();
  dev = agent_source_opaque (src) ? NULL : ped_device_get (src->path);
  if (dev && ped_disk_probe (dev))
    disk = ped_disk_new (dev);
  if (disk)
    r = walk_partitions (src, l, use_maps, disk);
  else {
    struct agent_layout_part p = { .offset = 0, .length = src->size };

    snprintf (l->table, sizeof l->table, "none");
    snprintf (p.name, sizeof p.name, "%s", src->path);
    r = map_region (l, src, 0, &p, use_maps, false);
  }
  if (disk)
    ped_disk_destroy (disk);
  if (dev)
    ped_device_destroy (dev);
  return r == -1 ? -1 : agent_layout_finish (src, l);
}

int
agent_layout_finish (const struct agent_source *src, struct agent_layout *l)
{
  if (l->nparts)
    qsort (l->parts, l->nparts, sizeof *l->parts, by_part_offset);
  if (add_gaps (src, l) == -1)
    return -1;
  agent_extents_merge (&l->read);
  for (size_t i = 0; i < l->nparts; ++i)
    if (!l->parts[i].skipped)
      l->parts[i].read = agent_extents_bytes (&l->read, l->parts[i].offset,
                                              l->parts[i].length);
  return 0;
}

void
agent_layout_print (int disk, const struct agent_source *src,
                    const struct agent_layout *l)
{
  char a[32], b[32];

  p2v_info ("disk %d, %s: %s, partition table: %s; %s of %s to read",
            disk, src->path, p2v_human_size (src->size, a, sizeof a), l->table,
            p2v_human_size (agent_extents_bytes (&l->read, 0, src->size), b,
                            sizeof b), p2v_human_size (src->size, a, sizeof a));
  for (size_t i = 0; i < l->nparts; ++i) {
    const struct agent_layout_part *p = &l->parts[i];

    if (p->skipped)
      continue;
    p2v_info ("  %s: %s, %s, %s to read; %s%s", p->name,
              p2v_human_size (p->length, a, sizeof a),
              p->content.type[0] ? p->content.type : "unrecognised",
              p2v_human_size (p->read, b, sizeof b),
              p->map.how == AGENT_MAPPED ? p->map.ops->name
              : "zero detection: ",
              p->map.how == AGENT_MAPPED ? "" : p->map.why);
  }
}

void
agent_layout_free (struct agent_layout *l)
{
  agent_extents_reset (&l->read);
  free (l->parts);
  l->parts = NULL;
  l->nparts = 0;
}
