/* FAT12, FAT16, FAT32: the boot sector's BPB and the FAT, parsed here
 * (no library).  The reserved sectors (boot sector, FSInfo, backup boot
 * sector), every FAT copy and the FAT12/16 root directory are always
 * read; in the data area, a cluster is read when its FAT entry is
 * non-zero (bad-cluster marks included: harmless).  Sectors past the
 * last whole cluster, up to the partition's end, are read too.
 *
 * The FAT type comes from the cluster count, as Microsoft's
 * specification says, and must agree with the BPB's FAT32 fields (Linux
 * takes FATSz16 == 0 to mean FAT32): if the two readings could differ,
 * we decline.  So we do for a set dirty bit (boot sector or FAT[1]), a
 * FAT[1] "hard error" bit, a FAT[0] not matching the media byte, and any
 * BPB number out of range.
 *
 * The FAT is read in pieces of PIECE bytes, so memory stays at two
 * pieces whatever the volume's size.  With mirrored FATs every copy is
 * read and a cluster counts as used if any copy says so: the copies of a
 * clean volume are identical, and if a crash left them different, the
 * union keeps every cluster either one points to.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "fileio.h"
#include "log.h"
#include "map.h"

/* A multiple of 3 and 4, so a piece holds whole FAT12 entry pairs and
 * whole FAT16/32 entries.
 */
#define PIECE (3 * 32768)

#define FAT12_MAX_CLUSTERS 4084         /* fewer than 4085 */
#define FAT16_MAX_CLUSTERS 65524        /* fewer than 65525 */
#define FAT32_MAX_CLUSTERS 0x0FFFFFF5   /* entries above are markers */

struct fat_geom {
  unsigned bits;                /* 12, 16 or 32 */
  uint32_t cluster_bytes;
  uint32_t clusters;            /* data clusters, numbered 2..clusters+1 */
  uint64_t fat_offset;          /* the first FAT copy, from the region start */
  uint64_t fat_bytes;           /* one copy, as the BPB says */
  unsigned first_copy, ncopies; /* the copies that describe the volume */
  uint64_t data_offset;         /* cluster 2 */
  uint64_t fs_bytes;            /* total sectors × sector size */
  uint8_t media;
  uint32_t root_cluster;        /* FAT32; 0 otherwise */
};

/* Fixed offsets into the 512-byte boot sector buffer only. */
static uint16_t
le16 (const uint8_t *p)
{
  return p[0] | (uint16_t) p[1] << 8;
}

static uint32_t
le32 (const uint8_t *p)
{
  return le16 (p) | (uint32_t) le16 (p + 2) << 16;
}

static bool
power_of_two (uint32_t v)
{
  return v != 0 && (v & (v - 1)) == 0;
}

/* The BPB fields every FAT type has; NULL if sane, else why not. */
static const char *
check_common (const uint8_t *bs)
{
  uint16_t sector = le16 (bs + 11);
  uint8_t media = bs[21];

  if (bs[510] != 0x55 || bs[511] != 0xaa)
    return "no boot sector signature";
  if (sector != 512 && sector != 1024 && sector != 2048 && sector != 4096)
    return "unsupported bytes per sector";
  if (!power_of_two (bs[13]))
    return "sectors per cluster is not a power of two";
  if (le16 (bs + 14) == 0)
    return "no reserved sectors";
  if (bs[16] < 1 || bs[16] > 4)
    return "unusual number of FATs";
  if (media != 0xf0 && media < 0xf8)
    return "invalid media byte";
  if (le16 (bs + 19) != 0 && le32 (bs + 32) != 0 &&
      le16 (bs + 19) != le32 (bs + 32))
    return "the two total sector counts disagree";
  return NULL;
}

/* The fields only FAT32 has, once the cluster count says FAT32. */
static const char *
check_fat32 (const uint8_t *bs, struct fat_geom *g, uint32_t reserved)
{
  uint16_t ext_flags = le16 (bs + 40);
  uint16_t fsinfo = le16 (bs + 48), backup = le16 (bs + 50);

  if (le16 (bs + 22) != 0 || le16 (bs + 17) != 0 || le16 (bs + 19) != 0)
    return "FAT32 by cluster count, but the BPB has FAT12/16 fields";
  if (le16 (bs + 42) != 0)
    return "unsupported FAT32 version";
  g->root_cluster = le32 (bs + 44);
  if (g->root_cluster < 2 || g->root_cluster > g->clusters + 1)
    return "the root directory cluster is out of range";
  if ((fsinfo != 0 && fsinfo != 0xffff && fsinfo >= reserved) ||
      (backup != 0 && backup != 0xffff && backup >= reserved))
    return "FSInfo or backup boot sector outside the reserved sectors";
  if (ext_flags & 0x80) {       /* mirroring off: one active FAT */
    if ((ext_flags & 0x0f) >= g->ncopies)
      return "the active FAT does not exist";
    g->first_copy = ext_flags & 0x0f;
    g->ncopies = 1;
  }
  return NULL;
}

/* Geometry from the boot sector; NULL if usable, else why not. */
static const char *
parse_bpb (const uint8_t *bs, uint64_t region_bytes, struct fat_geom *g)
{
  const char *bad = check_common (bs);
  uint32_t sector, per_cluster, reserved, root_sectors, fat_sectors, total;
  uint64_t meta_sectors;

  if (bad)
    return bad;
  sector = le16 (bs + 11);
  per_cluster = bs[13];
  reserved = le16 (bs + 14);
  root_sectors = (le16 (bs + 17) * 32u + sector - 1) / sector;
  fat_sectors = le16 (bs + 22) ? le16 (bs + 22) : le32 (bs + 36);
  total = le16 (bs + 19) ? le16 (bs + 19) : le32 (bs + 32);
  meta_sectors = reserved + (uint64_t) bs[16] * fat_sectors + root_sectors;
  if (fat_sectors == 0 || meta_sectors >= total)
    return "the FATs and root directory do not fit in the volume";
  if ((uint64_t) total * sector > region_bytes)
    return "the filesystem is larger than its partition";

  *g = (struct fat_geom) {
    .cluster_bytes = sector * per_cluster,
    .clusters = (total - meta_sectors) / per_cluster,
    .fat_offset = (uint64_t) reserved * sector,
    .fat_bytes = (uint64_t) fat_sectors * sector,
    .ncopies = bs[16],
    .data_offset = meta_sectors * sector,
    .fs_bytes = (uint64_t) total * sector,
    .media = bs[21],
  };
  if (g->clusters == 0)
    return "no data clusters";
  if (g->clusters <= FAT12_MAX_CLUSTERS)
    g->bits = 12;
  else if (g->clusters <= FAT16_MAX_CLUSTERS)
    g->bits = 16;
  else if (g->clusters <= FAT32_MAX_CLUSTERS)
    g->bits = 32;
  else
    return "too many clusters";
  if (g->bits == 32)
    bad = check_fat32 (bs, g, reserved);
  else if (le16 (bs + 22) == 0)
    bad = "FAT12/16 by cluster count, but the BPB has FAT32 fields";
  else if (root_sectors == 0)
    bad = "FAT12/16 without a root directory";
  if (bad)
    return bad;
  if (((uint64_t) g->clusters + 2) * g->bits > g->fat_bytes * 8)
    return "the FAT is too small for the cluster count";
  /* Windows and Linux keep a "dirty" bit in BS_Reserved1 (fsck.fat:
   * "Dirty bit is set"); it is at a different offset on FAT32.
   */
  if (bs[g->bits == 32 ? 65 : 37] & 0x01)
    return "its dirty bit is set (not cleanly unmounted)";
  return NULL;
}

/* Entry i (counted from the piece start, which is entry-pair aligned). */
static uint32_t
fat_entry (const uint8_t *p, unsigned bits, size_t i)
{
  switch (bits) {
  case 12: {
    const uint8_t *e = p + i * 3 / 2;
    uint16_t v = e[0] | (uint16_t) e[1] << 8;
    return i & 1 ? v >> 4 : v & 0x0fff;
  }
  case 16:
    return p[i * 2] | (uint32_t) p[i * 2 + 1] << 8;
  default:
    return (p[i * 4] | (uint32_t) p[i * 4 + 1] << 8 |
            (uint32_t) p[i * 4 + 2] << 16 |
            (uint32_t) p[i * 4 + 3] << 24) & 0x0fffffff;
  }
}

/* FAT[0] and FAT[1] of one copy; NULL if clean. */
static const char *
check_reserved_entries (const uint8_t *p, const struct fat_geom *g)
{
  uint32_t e1 = fat_entry (p, g->bits, 1);

  if ((fat_entry (p, g->bits, 0) & 0xff) != g->media)
    return "FAT[0] does not match the media byte";
  if (g->bits == 16 && !(e1 & 0x8000))
    return "FAT[1] says it was not cleanly shut down";
  if (g->bits == 16 && !(e1 & 0x4000))
    return "FAT[1] records disk errors";
  if (g->bits == 32 && !(e1 & 0x08000000))
    return "FAT[1] says it was not cleanly shut down";
  if (g->bits == 32 && !(e1 & 0x04000000))
    return "FAT[1] records disk errors";
  return NULL;
}

/* Bytes [off, off+len) of every FAT copy in use, ORed into acc: an
 * entry is then non-zero if it is in any copy.  0, 1 to fall back
 * (why set), or -1 on a read error (reported).
 */
static int
read_piece (const struct agent_region *r, const struct fat_geom *g,
            uint64_t off, size_t len, uint8_t *acc, uint8_t *tmp,
            char *why, size_t whylen)
{
  for (unsigned c = 0; c < g->ncopies; ++c) {
    uint64_t at = r->offset + g->fat_offset +
                  (g->first_copy + c) * g->fat_bytes + off;
    uint8_t *dst = c == 0 ? acc : tmp;
    ssize_t n = p2v_pread_full (r->fd, dst, len, at);
    const char *bad;

    if (n == -1) {
      p2v_error ("%s: read of the FAT at offset %" PRIu64 ": %m",
                 r->name, at);
      return -1;
    }
    if ((size_t) n != len) {
      snprintf (why, whylen, "the FAT ends early (short read)");
      return 1;
    }
    if (off == 0 && (bad = check_reserved_entries (dst, g)) != NULL) {
      snprintf (why, whylen, "%s", bad);
      return 1;
    }
    for (size_t i = 0; c > 0 && i < len; ++i)
      acc[i] |= tmp[i];
  }
  return 0;
}

/* Runs of used clusters, carried across pieces. */
struct runs {
  const struct agent_region *r;
  const struct fat_geom *g;
  struct agent_extents *out;
  uint64_t start;               /* first cluster of the open run, 0 if none */
  bool root_used;               /* FAT32: the root directory's cluster */
};

static int
end_run (struct runs *s, uint64_t cluster)
{
  uint64_t start = s->start;

  s->start = 0;
  if (start == 0)
    return 0;
  return agent_extent_add (s->out, s->r, s->r->offset + s->g->data_offset +
                           (start - 2) * s->g->cluster_bytes,
                           (cluster - start) * s->g->cluster_bytes);
}

/* Entries [first, first+count) from a piece starting at entry first. */
static int
scan_entries (struct runs *s, const uint8_t *p, uint64_t first, size_t count)
{
  for (size_t i = 0; i < count; ++i) {
    uint64_t n = first + i;
    bool used = fat_entry (p, s->g->bits, i) != 0;

    if (n < 2)
      continue;
    if (n == s->g->root_cluster)
      s->root_used = used;
    if (used && s->start == 0)
      s->start = n;
    else if (!used && end_run (s, n) == -1)
      return -1;
  }
  return 0;
}

/* Every data cluster some FAT copy marks used.  0, 1 to fall back, -1. */
static int
add_used_clusters (const struct agent_region *r, const struct fat_geom *g,
                   struct agent_extents *out, char *why, size_t whylen)
{
  CLEANUP_FREE uint8_t *acc = malloc (PIECE);
  CLEANUP_FREE uint8_t *tmp = g->ncopies > 1 ? malloc (PIECE) : NULL;
  uint64_t entries = (uint64_t) g->clusters + 2;
  uint64_t bytes = (entries * g->bits + 7) / 8;
  const uint64_t per_piece = PIECE * 8 / g->bits;
  struct runs s = { .r = r, .g = g, .out = out };
  int res;

  if (acc == NULL || (g->ncopies > 1 && tmp == NULL)) {
    p2v_error ("out of memory mapping %s", r->name);
    return -1;
  }
  for (uint64_t piece = 0; piece * PIECE < bytes; ++piece) {
    uint64_t off = piece * PIECE, first = piece * per_piece;
    size_t len = bytes - off < PIECE ? bytes - off : PIECE;
    uint64_t count = entries - first < per_piece ? entries - first
                                                  : per_piece;

    /* A FAT12 entry may end one nibble into the next byte: the tail
     * of the last piece reads as zero padding.
     */
    memset (acc + len, 0, PIECE - len);
    if ((res = read_piece (r, g, off, len, acc, tmp, why, whylen)) != 0)
      return res;
    if (scan_entries (&s, acc, first, count) == -1)
      return -1;
  }
  if (end_run (&s, entries) == -1)
    return -1;
  if (g->bits == 32 && !s.root_used) {
    snprintf (why, whylen, "the root directory's cluster is free in the FAT");
    return 1;
  }
  return 0;
}

static enum agent_map_result
map_fat (const struct agent_region *r, struct agent_extents *out, char *why,
         size_t whylen)
{
  uint8_t bs[512];
  struct fat_geom g;
  const char *bad;
  int res;

  if (r->length < sizeof bs ||
      p2v_pread_full (r->fd, bs, sizeof bs, r->offset) != sizeof bs) {
    snprintf (why, whylen, "cannot read its boot sector");
    return AGENT_MAP_FALLBACK;
  }
  if ((bad = parse_bpb (bs, r->length, &g)) != NULL) {
    snprintf (why, whylen, "%s", bad);
    return AGENT_MAP_FALLBACK;
  }
  if (agent_extent_add (out, r, r->offset, g.data_offset) == -1)
    return AGENT_MAP_ERROR;
  res = add_used_clusters (r, &g, out, why, whylen);
  if (res != 0)
    return res == -1 ? AGENT_MAP_ERROR : AGENT_MAP_FALLBACK;
  /* Sectors after the last whole cluster, and the rest of the
   * partition after the filesystem, are not described by the FAT.
   */
  if (agent_extent_add (out, r, r->offset + g.data_offset +
                        (uint64_t) g.clusters * g.cluster_bytes,
                        r->length) == -1)
    return AGENT_MAP_ERROR;
  p2v_debug ("%s: FAT%u, %" PRIu32 " clusters of %" PRIu32 " bytes",
             r->name, g.bits, g.clusters, g.cluster_bytes);
  return AGENT_MAP_OK;
}

static const char *const fat_types[] = { "vfat", "msdos", NULL };
static const struct agent_map_ops fat_map = {
  .name = "FAT table", .types = fat_types, .map = map_fat,
};
AGENT_MAP_REGISTER (fat_map)
