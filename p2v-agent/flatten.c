/* The layout plan: which target disks send makes of the source disks.
 *
 * A disk that holds no member of an assembled md array is sent as it
 * is.  A disk with md member partitions becomes a flattened disk: its
 * partition table is recreated (libparted, on an in-memory copy of the
 * disk's first sectors) with each member partition replaced by one
 * holding the assembled array's data, sized to the array; partitions
 * after a grown one move right by whole MiBs; the other partitions and
 * the boot-loader gap come from the disk itself.  Each array is placed
 * on the first source disk holding one of its in-sync members, so its
 * data is read once, from the array; a disk left with nothing of its
 * own is not sent.  An array on whole disks is sent as a disk itself.
 * The target is a composed source: segments of the disk, of the arrays
 * and of the new table, so the pipeline reads it like any other disk.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <parted/parted.h>

#include "agent.h"
#include "fileio.h"
#include "log.h"

#define SECTOR 512
#define ALIGN_SECTORS 2048              /* moves are whole MiBs */
#define MAX_HEAD (16 << 20)             /* boot-loader gap copied, at most */
#define MAX_EBR_AREA (1 << 20)

/* ---- Geometry (pure, unit-tested) ------------------------------------ */

static uint64_t
round_up (uint64_t v, uint64_t a)
{
  return (v + a - 1) / a * a;
}

uint64_t
agent_flatten_geometry (struct agent_flat_part *p, size_t n,
                        uint64_t disk_sectors, uint64_t align)
{
  uint64_t delta = 0;

  for (size_t i = 0; i < n; ++i) {
    p[i].new_start = p[i].start + delta;
    if (p[i].extended)
      continue;
    if (p[i].action != AGENT_FLAT_REPLACE)
      p[i].new_len = p[i].len;
    if (p[i].action != AGENT_FLAT_REMOVE && p[i].new_len > p[i].len)
      delta += round_up (p[i].new_len - p[i].len, align);
  }
  /* An extended partition grows by what grew inside it. */
  for (size_t i = 0; i < n; ++i) {
    uint64_t grown = 0;

    if (!p[i].extended)
      continue;
    for (size_t k = 0; k < n; ++k)
      if (p[k].logical && p[k].action != AGENT_FLAT_REMOVE &&
          p[k].new_len > p[k].len)
        grown += round_up (p[k].new_len - p[k].len, align);
    p[i].new_len = p[i].len + grown;
  }
  return disk_sectors + delta;
}

/* ---- The new partition table ---------------------------------------- */

/* While reading our own copy of a table: answer libparted's "fix it?"
 * questions (a GPT whose backup was not copied, a disk that grew).
 */
static PedExceptionOption
parted_fix (PedException *ex)
{
  static const PedExceptionOption order[] = {
    PED_EXCEPTION_FIX, PED_EXCEPTION_OK, PED_EXCEPTION_IGNORE,
    PED_EXCEPTION_YES,
  };

  p2v_debug ("libparted (new table): %s", ex->message);
  for (size_t i = 0; i < sizeof order / sizeof order[0]; ++i)
    if (ex->options & order[i])
      return order[i];
  p2v_warning ("libparted: %s", ex->message);
  return PED_EXCEPTION_CANCEL;
}

/* Copy [off, off+len) of the source disk into the table file, leaving
 * all-zero blocks as holes.
 */
static int
copy_area (const struct agent_source *disk, int fd, uint64_t off,
           uint64_t len)
{
  static const uint8_t zero[4096];
  uint8_t buf[4096];

  for (uint64_t pos = off; pos < off + len; pos += sizeof buf) {
    size_t n = off + len - pos < sizeof buf ? off + len - pos : sizeof buf;

    if (agent_source_pread (disk, buf, n, pos) == -1) {
      p2v_error ("%s: cannot read offset %" PRIu64 " (the partition table "
                 "area): %m", disk->path, pos);
      return -1;
    }
    if (memcmp (buf, zero, n) != 0 &&
        p2v_pwrite_full (fd, buf, n, pos) == -1) {
      p2v_error ("writing the new partition table in memory: %m");
      return -1;
    }
  }
  return 0;
}

static PedPartition *
find_part (PedDisk *d, int num)
{
  PedPartition *p = ped_disk_get_partition (d, num);

  if (p == NULL)
    p2v_error ("internal error: partition %d is missing from the new table",
               num);
  return p;
}

static int
set_geom (PedDisk *d, PedPartition *part, uint64_t start, uint64_t len)
{
  PedGeometry g;
  PedConstraint *c;
  int ok;

  if ((uint64_t) part->geom.start == start &&
      (uint64_t) part->geom.length == len)
    return 0;
  if (!ped_geometry_init (&g, d->dev, start, len))
    return -1;
  c = ped_constraint_exact (&g);
  ok = c && ped_disk_set_partition_geom (d, part, c, start, start + len - 1);
  ped_constraint_destroy (c);
  if (!ok)
    p2v_error ("cannot place partition %d at sectors %" PRIu64 "-%" PRIu64
               " in the new table", part->num, start, start + len - 1);
  return ok ? 0 : -1;
}

/* A partition holding an array's data: no longer "Linux RAID", but
 * Linux (or LVM, or swap) by what it holds.
 */
static int
set_type (PedPartition *part, const char *content)
{
  PedFileSystemType *t = ped_file_system_type_get
    (strcmp (content, "swap") == 0 ? "linux-swap" : content);

  if (ped_partition_is_flag_available (part, PED_PARTITION_RAID) &&
      !ped_partition_set_flag (part, PED_PARTITION_RAID, 0))
    return -1;
  if (strcmp (content, "LVM2_member") == 0)
    return ped_partition_set_flag (part, PED_PARTITION_LVM, 1) ? 0 : -1;
  if (t == NULL)
    t = ped_file_system_type_get ("ext2");       /* plain Linux data */
  return ped_partition_set_system (part, t) ? 0 : -1;
}

/* Apply the new geometry to the copy of the table, last partition
 * first, so nothing overlaps on the way (moves are only to the right).
 */
static int
edit_table (PedDisk *d, const struct agent_flat_part *fp, size_t n,
            const struct agent_plan *pl)
{
  int ext = -1;
  bool widened = false;

  for (size_t i = 0; i < n; ++i)
    ext = fp[i].extended ? (int) i : ext;
  for (size_t i = n; i-- > 0;) {
    PedPartition *part = find_part (d, fp[i].num);

    if (part == NULL)
      return -1;
    if (fp[i].logical && ext >= 0 && !widened) {
      /* Logical partitions need room in the extended one: it covers
       * their old and new places until they have all moved.
       */
      const struct agent_flat_part *e = &fp[ext];
      uint64_t end = e->new_start + e->new_len > e->start + e->len
                     ? e->new_start + e->new_len : e->start + e->len;
      PedPartition *ep = find_part (d, e->num);

      if (ep == NULL || set_geom (d, ep, e->start, end - e->start) == -1)
        return -1;
      widened = true;
    }
    if (fp[i].action == AGENT_FLAT_REMOVE) {
      if (!ped_disk_delete_partition (d, part))
        return -1;
      continue;
    }
    if (set_geom (d, part, fp[i].new_start, fp[i].new_len) == -1)
      return -1;
    if (fp[i].action == AGENT_FLAT_REPLACE &&
        set_type (part, pl->md[fp[i].md].content) == -1) {
      p2v_error ("cannot set the type of partition %d in the new table",
                 fp[i].num);
      return -1;
    }
  }
  return 0;
}

/* The committed table must read back as planned. */
static int
check_table (const char *path, const struct agent_flat_part *fp, size_t n)
{
  PedDevice *dev = ped_device_get (path);
  PedDisk *d = dev ? ped_disk_new (dev) : NULL;
  int r = d ? 0 : -1;

  for (size_t i = 0; r == 0 && i < n; ++i) {
    PedPartition *p = ped_disk_get_partition (d, fp[i].num);

    if (fp[i].action == AGENT_FLAT_REMOVE ? p != NULL
        : p == NULL || (uint64_t) p->geom.start != fp[i].new_start ||
          (uint64_t) p->geom.length != fp[i].new_len)
      r = -1;
  }
  if (r == -1)
    p2v_error ("internal error: the new partition table does not read back "
               "as planned");
  if (d)
    ped_disk_destroy (d);
  if (dev)
    ped_device_destroy (dev);
  return r;
}

/* The new table, in a memory file of the target's size: the source's
 * boot-loader gap and EBRs copied, then edited by libparted.
 */
static int
make_table (struct agent_target *t, uint64_t size,
            const struct agent_source *disk, PedDisk *sdisk,
            const struct agent_flat_part *fp, size_t n,
            const struct agent_plan *pl)
{
  uint64_t head = UINT64_MAX;
  uint8_t sig[4];
  char path[64];
  PedDevice *dev = NULL;
  PedDisk *d = NULL;
  int r = -1, fd;

  for (size_t i = 0; i < n; ++i)
    head = fp[i].start * SECTOR < head ? fp[i].start * SECTOR : head;
  if (head > MAX_HEAD) {
    p2v_warning ("%s: %" PRIu64 " MiB before the first partition; only the "
                 "first %d MiB of it (the boot-loader area) are carried",
                 disk->path, head >> 20, MAX_HEAD >> 20);
    head = MAX_HEAD;
  }
  if ((fd = p2v_memfd ("p2v-table")) == -1) {
    p2v_error ("cannot make the new partition table in memory: %m");
    return -1;
  }
  if (agent_source_from_fd (&t->table, "the new partition table", fd, size,
                            SECTOR) == -1)
    return -1;
  if (ftruncate (t->table.fd, size) == -1) {
    p2v_error ("cannot make the new partition table in memory: %m");
    return -1;
  }
  if (copy_area (disk, t->table.fd, 0, head) == -1)
    return -1;
  for (PedPartition *p = ped_disk_next_partition (sdisk, NULL); p;
       p = ped_disk_next_partition (sdisk, p))
    if ((p->type & PED_PARTITION_METADATA) &&
        (p->type & PED_PARTITION_LOGICAL) &&
        copy_area (disk, t->table.fd, p->geom.start * SECTOR,
                   p->geom.length * SECTOR < MAX_EBR_AREA
                   ? p->geom.length * SECTOR : MAX_EBR_AREA) == -1)
      return -1;
  if (p2v_pread_full (t->table.fd, sig, sizeof sig, 440) != sizeof sig) {
    p2v_error ("reading the partition table copy in memory: %m");
    return -1;
  }
  snprintf (path, sizeof path, "/proc/self/fd/%d", t->table.fd);
  ped_exception_set_handler (parted_fix);
  if ((dev = ped_device_get (path)) != NULL &&
      (d = ped_disk_new (dev)) != NULL && edit_table (d, fp, n, pl) == 0 &&
      ped_disk_commit_to_dev (d))
    r = 0;
  agent_parted_quiet ();
  if (d)
    ped_disk_destroy (d);
  if (dev)
    ped_device_destroy (dev);
  if (r == -1) {
    p2v_error ("%s: cannot recreate its partition table with the arrays "
               "flattened (see above); send with --no-flatten to copy the "
               "RAID members as they are", disk->path);
    return -1;
  }
  /* libparted invents an MBR signature where there was none: keep the
   * old one, so a resumed run sees the same disk.
   */
  if (strcmp (sdisk->type->name, "msdos") == 0 &&
      p2v_pwrite_full (t->table.fd, sig, sizeof sig, 440) == -1) {
    p2v_error ("writing the new partition table in memory: %m");
    return -1;
  }
  return check_table (path, fp, n);
}

/* ---- Composed targets ------------------------------------------------ */

static int
by_seg_offset (const void *a, const void *b)
{
  const struct agent_segment *x = a, *y = b;

  return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static int
add_seg (struct agent_segments *segs, uint64_t off, uint64_t len,
         const struct agent_source *from, uint64_t from_off)
{
  if (agent_segments_append (segs, (struct agent_segment) { off, len, from,
                                                            from_off })) {
    p2v_error ("out of memory");
    return -1;
  }
  return 0;
}

/* The table file's data, where no partition is. */
static int
add_table_segs (struct agent_target *t, struct agent_segments *segs)
{
  size_t nparts = segs->len;
  off_t pos = 0, data, hole;

  while ((data = lseek (t->table.fd, pos, SEEK_DATA)) >= 0 &&
         (hole = lseek (t->table.fd, data, SEEK_HOLE)) > data) {
    for (uint64_t a = data, b; a < (uint64_t) hole; a = b) {
      b = hole;
      for (size_t i = 0; i < nparts; ++i) {
        const struct agent_segment *g = &segs->ptr[i];

        if (a >= g->offset && a < g->offset + g->length)
          a = g->offset + g->length;         /* inside one: skip it */
        else if (g->offset > a && g->offset < b)
          b = g->offset;                     /* up to the next one */
      }
      if (a >= b)
        b = a;
      else if (add_seg (segs, a, b - a, &t->table, a) == -1)
        return -1;
    }
    pos = hole;
  }
  qsort (segs->ptr, segs->len, sizeof *segs->ptr, by_seg_offset);
  return 0;
}

static struct agent_target *
add_target (struct agent_plan *pl)
{
  struct agent_target *t;

  if (pl->nt == P2V_MAX_DISKS) {
    p2v_error ("more than %d target disks", P2V_MAX_DISKS);
    return NULL;
  }
  t = &pl->t[pl->nt++];
  memset (t, 0, sizeof *t);
  return t;
}

static void
part_name (char *buf, size_t len, int target, int num, const char *from)
{
  snprintf (buf, len, "disk %d partition %d (%s)", target, num, from);
}

/* Where a partition of the flattened disk comes from: its array, or
 * the disk itself; false for what holds no data of its own (extended,
 * removed).
 */
static bool
part_source (const struct agent_plan *pl, const struct agent_source *disk,
             const struct agent_flat_part *f,
             const struct agent_source **from, uint64_t *from_off,
             uint64_t *len)
{
  if (f->extended || f->action == AGENT_FLAT_REMOVE)
    return false;
  if (f->action == AGENT_FLAT_REPLACE) {
    *from = &pl->md[f->md].src;
    *from_off = 0;
    *len = (*from)->size;
  }
  else {
    *from = disk;
    *from_off = f->start * SECTOR;
    *len = f->len * SECTOR;
  }
  return true;
}

/* Member partitions of arrays not running here are copied as they are:
 * worth a warning, unless asked for (--no-flatten).
 */
static void
warn_members (const struct agent_layout *l)
{
  for (size_t i = 0; i < l->nparts; ++i)
    if (strcmp (l->parts[i].content.type, "linux_raid_member") == 0)
      p2v_warning ("%s: an md RAID member whose array is not running here; "
                   "copied as it is, and the guest will assemble it (to "
                   "flatten it, assemble it first: mdadm --assemble --scan "
                   "--readonly)", l->parts[i].name);
}

/* The flattened disk, composed: the partitions' segments first, the
 * new table's fill what is left.
 */
static int
compose_target (struct agent_target *t, uint64_t size,
                const struct agent_plan *pl, const struct agent_source *disk,
                PedDisk *sdisk, const struct agent_flat_part *fp, size_t n)
{
  struct agent_segments segs = { 0 };
  int r = 0;

  for (size_t i = 0; r == 0 && i < n; ++i) {
    const struct agent_source *from;
    uint64_t from_off, len;

    if (part_source (pl, disk, &fp[i], &from, &from_off, &len))
      r = add_seg (&segs, fp[i].new_start * SECTOR, len, from, from_off);
  }
  if (r == 0 && (make_table (t, size, disk, sdisk, fp, n, pl) == -1 ||
                 add_table_segs (t, &segs) == -1 ||
                 agent_source_compose (&t->own, t->desc, size, SECTOR,
                                       &segs) == -1))
    r = -1;
  agent_segments_reset (&segs);
  return r;
}

/* A source disk with member partitions, flattened. */
static int
flatten_disk (struct agent_plan *pl, int di, PedDisk *sdisk,
              struct agent_flat_part *fp, size_t n, bool use_maps)
{
  struct agent_source *disk = &pl->disks[di];
  struct agent_target *t;
  size_t off, k = 0;
  uint64_t size;
  int idx = pl->nt;

  if (disk->sector_size != SECTOR) {
    p2v_error ("%s: %" PRIu32 "-byte sectors: flattening its RAID needs "
               "512-byte sectors; send with --no-flatten", disk->path,
               disk->sector_size);
    return -1;
  }
  for (size_t i = 0; i < n; ++i)
    if (fp[i].action == AGENT_FLAT_REPLACE)
      fp[i].new_len = round_up (pl->md[fp[i].md].src.size, SECTOR) / SECTOR;
  if ((t = add_target (pl)) == NULL)
    return -1;
  t->src = &t->own;
  off = snprintf (t->desc, sizeof t->desc, "%s", disk->path);
  for (size_t i = 0; i < n; ++i)
    if (fp[i].action == AGENT_FLAT_REPLACE && off < sizeof t->desc)
      off += snprintf (t->desc + off, sizeof t->desc - off, "%s %s",
                       k++ ? "," : " with", pl->mds.ptr[fp[i].md].path);
  if (off < sizeof t->desc)
    snprintf (t->desc + off, sizeof t->desc - off, "%s",
              k ? " flattened" : " without its md members");
  size = agent_flatten_geometry (fp, n, disk->size / SECTOR,
                                 ALIGN_SECTORS) * SECTOR;
  if (compose_target (t, size, pl, disk, sdisk, fp, n) == -1)
    return -1;
  for (size_t i = 0; i < n; ++i) {
    struct agent_layout_part p = { .number = fp[i].num,
                                   .offset = fp[i].new_start * SECTOR };
    const struct agent_source *from;
    uint64_t from_off;
    char src[48];

    if (!part_source (pl, disk, &fp[i], &from, &from_off, &p.length))
      continue;
    if (fp[i].action == AGENT_FLAT_REPLACE) {
      snprintf (src, sizeof src, "%s", from->path);
      pl->md[fp[i].md].target = idx;
      pl->md[fp[i].md].part = fp[i].num;
    }
    else
      snprintf (src, sizeof src, "%s partition %d", disk->path, fp[i].num);
    part_name (p.name, sizeof p.name, idx, fp[i].num, src);
    if (agent_layout_add (&t->layout, from, from_off, use_maps, &p) == -1)
      return -1;
  }
  snprintf (t->layout.table, sizeof t->layout.table, "%s", sdisk->type->name);
  if (agent_layout_finish (t->src, &t->layout) == -1)
    return -1;
  warn_members (&t->layout);
  return agent_source_fingerprint (t->src);
}

/* ---- The plan -------------------------------------------------------- */

static int
fact (struct agent_plan *pl, const char *key, const char *fmt, ...)
  __attribute__ ((format (printf, 3, 4)));

static int
fact (struct agent_plan *pl, const char *key, const char *fmt, ...)
{
  struct agent_fact f = { strdup (key), NULL };
  va_list ap;
  int r;

  va_start (ap, fmt);
  r = vasprintf (&f.value, fmt, ap);
  va_end (ap);
  if (f.key == NULL || r == -1 || agent_facts_append (&pl->facts, f) == -1) {
    free (f.key);
    if (r != -1)
      free (f.value);
    p2v_error ("out of memory");
    return -1;
  }
  return 0;
}

static int
disk_index (const struct agent_plan *pl, dev_t dev)
{
  for (int i = 0; i < pl->ndisks; ++i)
    if (pl->disks[i].is_block && pl->disks[i].rdev == dev)
      return i;
  return -1;
}

/* The running array with member (disk, partno), or -1. */
static int
md_of (const struct agent_plan *pl, dev_t disk, int partno)
{
  for (size_t k = 0; k < pl->mds.len; ++k) {
    const struct agent_md *md = &pl->mds.ptr[k];

    for (int i = 0; agent_md_active (md) && i < md->nmembers; ++i)
      if (md->members[i].disk_dev == disk && md->members[i].partno == partno)
        return k;
  }
  return -1;
}

/* Where an array goes: the first source disk with an in-sync member
 * (any member if none is in sync).
 */
static int
home_of (const struct agent_plan *pl, const struct agent_md *md, int *partno)
{
  int best = -1;

  for (int pass = 0; pass < 2 && best == -1; ++pass)
    for (int i = 0; i < md->nmembers; ++i) {
      int d = disk_index (pl, md->members[i].disk_dev);

      if (d == -1 || (pass == 0 && !strstr (md->members[i].state, "in_sync")))
        continue;
      if (best == -1 || d < best) {
        best = d;
        *partno = md->members[i].partno;
      }
    }
  return best;
}

/* An array the plan flattens: refuse what cannot be, open it. */
static int
use_array (struct agent_plan *pl, int k)
{
  struct agent_md *md = &pl->mds.ptr[k];
  struct agent_plan_md *pm = &pl->md[k];
  char desc[1024];
  int partno = 0;

  if (pm->src.path)
    return 0;                   /* done already */
  home_of (pl, md, &partno);
  agent_md_describe (md, desc, sizeof desc);
  if (md->nested[0]) {
    p2v_error ("%s (%s): %s; nested arrays are not flattened: send with "
               "--no-flatten to copy the members as they are", md->path,
               desc, md->nested);
    return -1;
  }
  if (md->partitioned && partno > 0) {
    p2v_error ("%s holds a partition table of its own but lives on "
               "partitions (%s): flattened, its table would sit inside a "
               "partition; send with --no-flatten", md->path, desc);
    return -1;
  }
  for (int i = 0; i < md->nmembers; ++i)
    for (int j = i + 1; j < md->nmembers; ++j)
      if (md->members[i].disk_dev == md->members[j].disk_dev) {
        p2v_error ("%s has two members on one disk (%s and %s); not "
                   "flattened: send with --no-flatten", md->path,
                   md->members[i].name, md->members[j].name);
        return -1;
      }
  if (agent_source_open (&pm->src, md->path) == -1)
    return -1;
  agent_md_content (md, pm->src.fd, pm->content, sizeof pm->content);
  if (md->degraded > 0)
    p2v_warning ("%s (%s) is degraded: %d of %d members missing; converting "
                 "what is left, which is everything the server itself reads",
                 md->path, md->level, md->degraded, md->raid_disks);
  else if (md->sync_action[0] && strcmp (md->sync_action, "idle") != 0 &&
           strcmp (md->sync_action, "frozen") != 0)
    p2v_warning ("%s: %s not finished; converting the assembled view, "
                 "which is what the server itself reads", md->path,
                 md->sync_action);
  return 0;
}

/* A target that is one source read as it is: a disk, or an array. */
static struct agent_target *
source_target (struct agent_plan *pl, struct agent_source *src,
               bool use_maps)
{
  struct agent_target *t = add_target (pl);

  if (t == NULL)
    return NULL;
  t->src = src;
  snprintf (t->desc, sizeof t->desc, "%s", src->path);
  return agent_layout_build (src, use_maps, &t->layout) == -1 ? NULL : t;
}

static int
plain_disk (struct agent_plan *pl, int di, bool use_maps, bool warn)
{
  struct agent_target *t = source_target (pl, &pl->disks[di], use_maps);

  if (t == NULL)
    return -1;
  if (warn)
    warn_members (&t->layout);
  return 0;
}

static int
drop_disk (struct agent_plan *pl, int di, const char *why)
{
  char key[32];

  p2v_info ("%s is not sent: %s", pl->disks[di].path, why);
  snprintf (key, sizeof key, "layout.dropped.%d", pl->ndropped++);
  return fact (pl, key, "%s: %s", pl->disks[di].path, why);
}

/* An array on whole disks is a disk itself. */
static int
whole_disk_member (struct agent_plan *pl, int di, int k, bool use_maps)
{
  char why[256];
  int partno = 0, home;

  if (use_array (pl, k) == -1)
    return -1;
  if ((home = home_of (pl, &pl->mds.ptr[k], &partno)) != di) {
    snprintf (why, sizeof why, "a member of %s, which is sent in place of "
              "%s", pl->mds.ptr[k].path, pl->disks[home].path);
    return drop_disk (pl, di, why);
  }
  pl->md[k].target = pl->nt;
  pl->md[k].part = 0;
  return source_target (pl, &pl->md[k].src, use_maps) ? 0 : -1;
}

/* Each partition: kept, replaced by its array, or removed (a member of
 * an array placed elsewhere).
 */
static int
classify (struct agent_plan *pl, int di, PedDisk *d,
          struct agent_flat_part *fp, size_t *n, int *nmd)
{
  *n = *nmd = 0;
  for (PedPartition *p = ped_disk_next_partition (d, NULL); p;
       p = ped_disk_next_partition (d, p)) {
    struct agent_flat_part f = { .num = p->num, .start = p->geom.start,
                                 .len = p->geom.length, .md = -1 };
    int partno;

    if (!ped_partition_is_active (p))
      continue;
    if (*n == AGENT_MAX_PARTS) {
      p2v_error ("%s: more than %d partitions", pl->disks[di].path,
                 AGENT_MAX_PARTS);
      return -1;
    }
    f.extended = p->type & PED_PARTITION_EXTENDED;
    f.logical = p->type & PED_PARTITION_LOGICAL;
    if (!f.extended && (f.md = md_of (pl, pl->disks[di].rdev, p->num)) >= 0) {
      if (use_array (pl, f.md) == -1)
        return -1;
      f.action = home_of (pl, &pl->mds.ptr[f.md], &partno) == di &&
                 partno == p->num ? AGENT_FLAT_REPLACE : AGENT_FLAT_REMOVE;
      (*nmd)++;
    }
    fp[(*n)++] = f;
  }
  /* Removing a logical partition would renumber the ones after it. */
  for (size_t i = 0; i < *n; ++i)
    for (size_t k = i + 1; k < *n; ++k)
      if (fp[i].logical && fp[i].action == AGENT_FLAT_REMOVE &&
          fp[k].logical && fp[k].action != AGENT_FLAT_REMOVE) {
        p2v_error ("%s: partition %d (a member of %s, which is placed on "
                   "another disk) is a logical partition before others: "
                   "removing it would renumber them; send with "
                   "--no-flatten", pl->disks[di].path, fp[i].num,
                   pl->mds.ptr[fp[i].md].path);
        return -1;
      }
  return 0;
}

static int
plan_disk (struct agent_plan *pl, int di, bool use_maps)
{
  struct agent_source *disk = &pl->disks[di];
  struct agent_flat_part fp[AGENT_MAX_PARTS];
  PedDevice *dev = NULL;
  PedDisk *d = NULL;
  size_t n = 0;
  int k, nmd = 0, r;
  bool own = false;

  if (!disk->is_block)
    return plain_disk (pl, di, use_maps, true);
  if ((k = md_of (pl, disk->rdev, 0)) >= 0)
    return whole_disk_member (pl, di, k, use_maps);
  agent_parted_quiet ();
  if ((dev = ped_device_get (disk->path)) != NULL && ped_disk_probe (dev))
    d = ped_disk_new (dev);
  r = d ? classify (pl, di, d, fp, &n, &nmd) : 0;
  for (size_t i = 0; i < n; ++i)
    own |= !fp[i].extended && fp[i].action != AGENT_FLAT_REMOVE;
  if (r == 0 && nmd > 0 && own)
    r = flatten_disk (pl, di, d, fp, n, use_maps);
  /* libparted shares one PedDevice per path: done with it before
   * agent_layout_build takes it again.
   */
  if (d)
    ped_disk_destroy (d);
  if (dev)
    ped_device_destroy (dev);
  if (r == 0 && nmd == 0)
    r = plain_disk (pl, di, use_maps, true);
  else if (r == 0 && !own)
    r = drop_disk (pl, di, "every partition on it is a member of an array "
                   "sent with another disk");
  return r;
}

/* "disk 0 partition 1", "disk 2" (an array on whole disks). */
static const char *
target_text (const struct agent_plan_md *pm, char *buf, size_t len)
{
  if (pm->target < 0)
    snprintf (buf, len, "not flattened");
  else if (pm->part)
    snprintf (buf, len, "disk %d partition %d", pm->target, pm->part);
  else
    snprintf (buf, len, "disk %d", pm->target);
  return buf;
}

/* What the receiver records (report.json) and the fixup relies on. */
static int
plan_facts (struct agent_plan *pl, bool flatten)
{
  char key[64], desc[1024], state[128], where[64];
  int j = 0;

  if (fact (pl, "layout.flatten", "%s", flatten ? "yes" : "no") == -1)
    return -1;
  for (int i = 0; i < pl->nt; ++i) {
    snprintf (key, sizeof key, "layout.disk.%d", i);
    if (fact (pl, key, "%s", pl->t[i].desc) == -1)
      return -1;
  }
  for (size_t k = 0; k < pl->mds.len; ++k) {
    const struct agent_md *md = &pl->mds.ptr[k];
    const struct agent_plan_md *pm = &pl->md[k];
    int partno;

    if (home_of (pl, md, &partno) == -1)
      continue;                 /* on no disk sent */
    agent_md_describe (md, desc, sizeof desc);
    agent_md_state (md, state, sizeof state);
#define MDFACT(name, ...) \
    (snprintf (key, sizeof key, "md.%d." name, j), \
     fact (pl, key, __VA_ARGS__) == -1)
    if (MDFACT ("device", "%s", md->path) ||
        MDFACT ("uuid", "%s", md->uuid) || MDFACT ("name", "%s", md->label) ||
        MDFACT ("level", "%s", md->level) ||
        MDFACT ("metadata", "%s", md->metadata) ||
        MDFACT ("size", "%" PRIu64, md->size) ||
        MDFACT ("state", "%s", state) || MDFACT ("description", "%s", desc) ||
        MDFACT ("content", "%s", pm->content) ||
        MDFACT ("target", "%s", target_text (pm, where, sizeof where)))
      return -1;
#undef MDFACT
    j++;
  }
  return 0;
}

int
agent_plan_build (const struct agent_options *o, struct agent_plan *pl)
{
  int i;

  memset (pl, 0, sizeof *pl);
  for (i = 0; i < o->nsources; ++i) {
    if (agent_source_open (&pl->disks[i], o->sources[i]) == -1)
      return -1;
    pl->ndisks++;
    /* hot-clone copies disks in use on purpose. */
    if (!o->hot && agent_check_mounted (&pl->disks[i], o->allow_mounted) == -1)
      return -1;
  }
  if (agent_md_scan (&pl->mds) == -1)
    return -1;
  if ((pl->md = calloc (pl->mds.len + 1, sizeof *pl->md)) == NULL) {
    p2v_error ("out of memory");
    return -1;
  }
  for (size_t k = 0; k < pl->mds.len; ++k)
    pl->md[k].target = -1;
  for (i = 0; i < pl->ndisks; ++i)
    if ((o->no_flatten ? plain_disk (pl, i, !o->no_maps, false)
         : plan_disk (pl, i, !o->no_maps)) == -1)
      return -1;
  if (pl->nt == 0) {
    p2v_error ("nothing to send");
    return -1;
  }
  return plan_facts (pl, !o->no_flatten);
}

void
agent_plan_print (const struct agent_plan *pl)
{
  char desc[1024], where[64];

  for (size_t k = 0; k < pl->mds.len; ++k)
    if (pl->md[k].target >= 0) {
      agent_md_describe (&pl->mds.ptr[k], desc, sizeof desc);
      p2v_info ("%s (%s): flattened into %s: %s", pl->mds.ptr[k].path,
                pl->md[k].content[0] ? pl->md[k].content
                : "unrecognised content", target_text (&pl->md[k], where,
                                                       sizeof where), desc);
    }
  for (int i = 0; i < pl->nt; ++i)
    agent_layout_print (i, pl->t[i].src, &pl->t[i].layout);
}

void
agent_plan_free (struct agent_plan *pl)
{
  for (int i = 0; i < pl->nt; ++i) {
    agent_layout_free (&pl->t[i].layout);
    agent_source_close (&pl->t[i].own);
    agent_source_close (&pl->t[i].table);
  }
  for (size_t k = 0; pl->md && k < pl->mds.len; ++k)
    agent_source_close (&pl->md[k].src);
  free (pl->md);
  for (int i = 0; i < pl->ndisks; ++i)
    agent_source_close (&pl->disks[i]);
  agent_mds_reset (&pl->mds);
  agent_facts_free (&pl->facts);
  memset (pl, 0, sizeof *pl);
}
