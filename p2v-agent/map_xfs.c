/* XFS: every block that is not in a free extent.  The free extents
 * come from each allocation group's free-space B+trees, read and
 * checked here, so the live image needs no xfsprogs.  The tree by block
 * number (bnobt) gives the extents; the tree by size (cntbt) must list
 * the same set, and the AGF the same block count.  Both formats are
 * handled: v4 ("ABTB"/"ABTC" blocks) and v5 ("AB3B"/"AB3C", with the
 * CRC32c, block number, owner and UUID of every block checked).
 * Superblocks, AG headers, free lists, the other B+trees, inodes and
 * the internal log all lie outside the free extents, so they are read,
 * and so is anything in the partition after the filesystem's end.
 *
 * It declines (the region is read with zero detection) unless the log
 * is clean: a log that needs recovery may hold allocations the b-trees
 * do not show yet, so a mounted filesystem is read in full.  It also
 * declines on unknown features, an external log (its state cannot be
 * seen from here), and any superblock, AGF or b-tree block that fails a
 * check.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/types.h>          /* ext2fs.h needs it first */
#include <ext2fs/ext2fs.h>      /* ext2fs_crc32c_le */

#include "buf.h"
#include "fileio.h"
#include "log.h"
#include "map.h"

#define SB_MAGIC     0x58465342u        /* "XFSB" */
#define AGF_MAGIC    0x58414746u        /* "XAGF" */
#define LOG_MAGIC    0xfeedbabeu        /* log record header */
#define NULLAGBLOCK  0xffffffffu
#define BBSIZE       512u               /* the log's cycle-stamped unit */

#define SB_CRC_OFF   224
#define AGF_CRC_OFF  216
#define BT_CRC_OFF   52
#define BT_HDR_V4    16                 /* short-form b-tree block header */
#define BT_HDR_V5    56

/* Superblock feature bits we know do not change where free space is
 * recorded.  Anything else: decline.
 */
#define V4_OKBITS       0xbdffu         /* XFS_SB_VERSION_OKBITS */
#define V4_MOREBITS     0x8000u
#define V4_LOGV2        0x0400u
#define V4_F2_OKBITS    0x028au         /* lazysbcount attr2 projid32 ftype */
#define V5_RO_OK        0x0fu           /* finobt rmapbt reflink inobtcount */
#define V5_INCOMPAT_OK  0xefu           /* ftype spinodes meta_uuid bigtime
                                           nrext64 exchrange parent */
#define V5_META_UUID    0x04u
#define V5_NEEDSREPAIR  0x10u

/* Deeper than any free-space tree can grow (XFS_BTREE_MAXLEVELS was 9). */
#define MAX_LEVELS 9
/* Bounds the extent list (16 bytes each) on a badly fragmented disk. */
#define MAX_FREE_EXTENTS (1u << 20)
/* Log blocks checked either side of the head: 8 in-core logs of
 * 256 KiB, the most that can be in flight when a system stops.
 */
#define LOG_WINDOW 4096u
#define LOG_MAX_RECORD (256u * 1024)
#define LOG_UNMOUNT_TRANS 0x20

struct xfs {
  const struct agent_region *r;
  struct agent_extents *out;
  char *why;
  size_t whylen;
  bool error;                   /* out of memory: reported, stop */
  uint32_t bs, sectsize, agblocks, agcount, logblocks;
  uint8_t agblklog;
  uint64_t dblocks;
  uint64_t logoff, logbbs;      /* the internal log: byte offset, 512 B units */
  bool crc, logv2;
  uint8_t uuid[16];             /* the UUID stamped in v5 metadata */
  uint8_t *bufs;                /* one block per b-tree level */
  uint64_t nfree;               /* free extents seen */
  uint64_t next;                /* blocks before it are added or free */
};

/* One walk of one AG's free-space b-tree: by block number (bnobt), or
 * by size (cntbt).  Both must describe the same set of extents.
 */
struct walk {
  struct xfs *x;
  bool by_size;                 /* the cntbt */
  uint32_t agno, aglen, root, levels;
  uint32_t prev[MAX_LEVELS];    /* last block seen at each level */
  uint32_t right[MAX_LEVELS];   /* and its right sibling pointer */
  uint32_t blocks;              /* tree blocks visited */
  uint32_t start, count;        /* the previous record */
  uint64_t free, nrecs, hash;   /* blocks, records, a hash of the set */
};

/* A b-tree key: the first record of the block it points to. */
struct key {
  uint32_t start, count;
};

static int __attribute__ ((format (printf, 2, 3)))
decline (struct xfs *x, const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (x->why, x->whylen, fmt, ap);
  va_end (ap);
  return -1;
}

/* A reader over buf[off, len): every field is read through it. */
static struct p2v_rbuf
reader (const uint8_t *buf, size_t len, size_t off)
{
  struct p2v_rbuf b;
  const uint8_t *skipped;

  p2v_rbuf_init (&b, buf, len);
  p2v_get_span (&b, &skipped, off);
  return b;
}

static void
skip (struct p2v_rbuf *b, size_t n)
{
  const uint8_t *skipped;

  p2v_get_span (b, &skipped, n);
}

static void
get_u16 (struct p2v_rbuf *b, uint16_t *v)
{
  uint8_t x[2];

  p2v_get_bytes (b, x, 2);
  *v = (uint16_t) (x[0] << 8 | x[1]);
}

/* v5 metadata: CRC32c of the whole structure with its own CRC field as
 * zero, stored inverted and little-endian.  libext2fs, linked already
 * for the ext map, has the raw Castagnoli CRC.
 */
static bool
crc_ok (const uint8_t *buf, size_t len, size_t off)
{
  static const uint8_t zero[4];
  struct p2v_rbuf b = reader (buf, len, off);
  uint8_t s[4];
  uint32_t c;

  if (p2v_get_bytes (&b, s, 4) == -1)
    return false;
  c = ext2fs_crc32c_le (~0u, buf, off);
  c = ext2fs_crc32c_le (c, zero, 4);
  c = ext2fs_crc32c_le (c, buf + off + 4, len - off - 4);
  return ~c == ((uint32_t) s[3] << 24 | (uint32_t) s[2] << 16 |
                (uint32_t) s[1] << 8 | s[0]);
}

/* Read len bytes at off from the filesystem's start. */
static int
read_at (struct xfs *x, void *buf, size_t len, uint64_t off)
{
  if (off > x->r->length || len > x->r->length - off)
    return decline (x, "a structure at offset %" PRIu64 " lies past the "
                    "partition's end", off);
  if (p2v_pread_full (x->r->fd, buf, len, x->r->offset + off) !=
      (ssize_t) len)
    return decline (x, "cannot read %zu bytes at offset %" PRIu64, len, off);
  return 0;
}

static uint32_t
ag_length (const struct xfs *x, uint32_t agno)
{
  return agno + 1 < x->agcount ? x->agblocks
                               : (uint32_t) (x->dblocks -
                                             (uint64_t) agno * x->agblocks);
}

static uint64_t
ag_offset (const struct xfs *x, uint32_t agno, uint32_t agbno)
{
  return ((uint64_t) agno * x->agblocks + agbno) * x->bs;
}

static bool
pow2_in (uint32_t v, uint32_t lo, uint32_t hi)
{
  return v >= lo && v <= hi && (v & (v - 1)) == 0;
}

/* Versions and features: the ones whose free space we understand. */
static int
check_features (struct xfs *x, uint16_t version, uint32_t features2,
                uint32_t ro, uint32_t incompat, uint32_t log_incompat)
{
  if ((version & 0xf) == 4) {
    if ((version & ~V4_OKBITS) ||
        ((version & V4_MOREBITS) && (features2 & ~V4_F2_OKBITS)))
      return decline (x, "unknown v4 feature bits (0x%x, 0x%x)", version,
                      features2);
    x->logv2 = version & V4_LOGV2;
    return 0;
  }
  if ((version & 0xf) != 5)
    return decline (x, "unsupported superblock version %u", version & 0xf);
  if (incompat & V5_NEEDSREPAIR)
    return decline (x, "it is marked as needing xfs_repair");
  if ((incompat & ~V5_INCOMPAT_OK) || (ro & ~V5_RO_OK))
    return decline (x, "unknown features (incompat 0x%x, ro_compat 0x%x)",
                    incompat, ro);
  if (log_incompat)
    return decline (x, "its log holds incompatible items (0x%x): it "
                    "needs recovery", log_incompat);
  x->crc = x->logv2 = true;
  return 0;
}

/* Sizes, counts and the log's place: every later offset derives from
 * these, so each is checked against the others and the partition.
 */
static int
check_geometry (struct xfs *x, uint8_t blocklog, uint8_t sectlog,
                uint64_t logstart)
{
  uint32_t agno, agbno;

  if (!pow2_in (x->bs, 512, 65536) || x->bs != 1u << (blocklog & 31) ||
      !pow2_in (x->sectsize, 512, 32768) ||
      x->sectsize != 1u << (sectlog & 31) || x->sectsize > x->bs)
    return decline (x, "the superblock's block or sector size is invalid");
  if (x->agblocks < 16 || x->agblklog > 31 || x->agcount == 0 ||
      (1ull << x->agblklog) < x->agblocks ||
      (1ull << x->agblklog) >= 2ull * x->agblocks ||
      x->dblocks <= (uint64_t) (x->agcount - 1) * x->agblocks ||
      x->dblocks > (uint64_t) x->agcount * x->agblocks)
    return decline (x, "the superblock's allocation group geometry is "
                    "invalid");
  if (x->dblocks > x->r->length / x->bs)
    return decline (x, "the filesystem (%" PRIu64 " blocks of %" PRIu32
                    " bytes) is larger than its partition", x->dblocks,
                    x->bs);
  if (logstart == 0)
    return decline (x, "its log is external");
  agno = logstart >> x->agblklog;
  agbno = logstart & ((1ull << x->agblklog) - 1);
  if (agno >= x->agcount || x->logblocks == 0 ||
      agbno >= ag_length (x, agno) ||
      x->logblocks > ag_length (x, agno) - agbno)
    return decline (x, "the superblock's log position is invalid");
  x->logoff = ag_offset (x, agno, agbno);
  x->logbbs = (uint64_t) x->logblocks * x->bs / BBSIZE;
  return 0;
}

static int
read_sb (struct xfs *x)
{
  uint8_t sb[512], uuid[16], meta_uuid[16];
  struct p2v_rbuf b;
  uint32_t magic, features2, ro, incompat, log_incompat;
  uint64_t logstart;
  uint16_t version, sectsize;
  uint8_t blocklog, sectlog, inprogress;

  if (read_at (x, sb, sizeof sb, 0) == -1)
    return -1;
  b = reader (sb, sizeof sb, 0);
  p2v_get_u32 (&b, &magic);
  p2v_get_u32 (&b, &x->bs);
  p2v_get_u64 (&b, &x->dblocks);
  skip (&b, 16);                /* realtime blocks, extents */
  p2v_get_bytes (&b, uuid, 16);
  p2v_get_u64 (&b, &logstart);
  skip (&b, 28);                /* root, rt inodes, rt extent size */
  p2v_get_u32 (&b, &x->agblocks);
  p2v_get_u32 (&b, &x->agcount);
  skip (&b, 4);                 /* rt bitmap blocks */
  p2v_get_u32 (&b, &x->logblocks);
  get_u16 (&b, &version);
  get_u16 (&b, &sectsize);
  skip (&b, 16);                /* inode size, per block, label */
  p2v_get_u8 (&b, &blocklog);
  p2v_get_u8 (&b, &sectlog);
  skip (&b, 2);                 /* inode logs */
  p2v_get_u8 (&b, &x->agblklog);
  skip (&b, 1);                 /* rt extent log */
  p2v_get_u8 (&b, &inprogress);
  skip (&b, 73);                /* counters, quota, alignment, log sunit */
  p2v_get_u32 (&b, &features2);
  skip (&b, 8);                 /* bad_features2, compat */
  p2v_get_u32 (&b, &ro);
  p2v_get_u32 (&b, &incompat);
  p2v_get_u32 (&b, &log_incompat);
  skip (&b, 24);                /* crc, sparse inode align, pquota, lsn */
  p2v_get_bytes (&b, meta_uuid, 16);
  if (b.failed || magic != SB_MAGIC)
    return decline (x, "no XFS superblock");
  x->sectsize = sectsize;
  if (inprogress)
    return decline (x, "mkfs.xfs did not finish");
  if (check_features (x, version, features2, ro, incompat, log_incompat) ==
      -1 || check_geometry (x, blocklog, sectlog, logstart) == -1)
    return -1;
  memcpy (x->uuid, incompat & V5_META_UUID ? meta_uuid : uuid, 16);
  return 0;
}

/* The superblock's own CRC, over its sector (v5). */
static int
check_sb_crc (struct xfs *x)
{
  if (!x->crc)
    return 0;
  if (read_at (x, x->bufs, x->sectsize, 0) == -1)
    return -1;
  if (!crc_ok (x->bufs, x->sectsize, SB_CRC_OFF))
    return decline (x, "the superblock fails its checksum");
  return 0;
}

/* The cycle number stamped on one 512-byte block of the log. */
static int
log_cycle (struct xfs *x, uint64_t bb, uint32_t *cycle)
{
  uint8_t w[8];
  struct p2v_rbuf b;
  uint32_t w0, w1;

  if (read_at (x, w, sizeof w, x->logoff + bb % x->logbbs * BBSIZE) == -1)
    return -1;
  b = reader (w, sizeof w, 0);
  p2v_get_u32 (&b, &w0);
  p2v_get_u32 (&b, &w1);
  *cycle = w0 == LOG_MAGIC ? w1 : w0;   /* a header holds it in h_cycle */
  return 0;
}

/* Every block in [from, to) of the log has cycle number want. */
static int
log_cycles_are (struct xfs *x, uint64_t from, uint64_t to, uint32_t want)
{
  uint32_t c;

  for (uint64_t bb = from; bb < to; ++bb) {
    if (log_cycle (x, bb, &c) == -1)
      return -1;
    if (c != want)
      return decline (x, "its log needs recovery (a torn write near "
                      "block %" PRIu64 ")", bb);
  }
  return 0;
}

/* The head: where writing stopped.  Blocks before it carry the cycle
 * of block 0, blocks after it one less (the previous pass); a log
 * written to its very end in one cycle has its head at logbbs.
 */
static int
log_head (struct xfs *x, uint64_t *head, uint32_t *cycle)
{
  uint64_t n = x->logbbs, lo = 0, hi = n - 1, w = LOG_WINDOW;
  uint32_t c0, cl, c;

  if (log_cycle (x, 0, &c0) == -1 || log_cycle (x, n - 1, &cl) == -1)
    return -1;
  if (c0 == 0 || (c0 != cl && c0 != cl + 1))
    return decline (x, "its log's cycle numbers (%" PRIu32 ", %" PRIu32
                    ") are inconsistent", c0, cl);
  if (c0 == cl)
    hi = n;
  while (hi - lo > 1) {
    uint64_t mid = lo + (hi - lo) / 2;

    if (log_cycle (x, mid, &c) == -1)
      return -1;
    if (c != c0 && c != cl)
      return decline (x, "its log needs recovery (a torn write at block %"
                      PRIu64 ")", mid);
    if (c == c0)
      lo = mid;
    else
      hi = mid;
  }
  *head = hi;
  *cycle = c0;
  /* A torn write (a later block finished before an earlier one) would
   * show as a block of the wrong cycle near the head.  After a head at
   * the log's end come blocks 0... of the same cycle.
   */
  if (w > n)
    w = n;
  if (log_cycles_are (x, hi > w ? hi - w : 0, hi, c0) == -1)
    return -1;
  if (hi < n)
    return log_cycles_are (x, hi, hi + w < n ? hi + w : n, c0 - 1);
  return log_cycles_are (x, 0, w, c0);
}

/* The last record header before the head (within one record's reach). */
static int
log_last_record (struct xfs *x, uint64_t head, uint64_t *rec)
{
  uint64_t n = x->logbbs;
  uint32_t magic;

  for (uint64_t i = 1; i <= LOG_WINDOW && i <= n; ++i) {
    uint8_t w[4];
    struct p2v_rbuf b;

    *rec = (head + n - i) % n;
    if (read_at (x, w, sizeof w, x->logoff + *rec * BBSIZE) == -1)
      return -1;
    b = reader (w, sizeof w, 0);
    p2v_get_u32 (&b, &magic);
    if (magic == LOG_MAGIC)
      return 0;
  }
  return decline (x, "no log record before the log's head");
}

/* Clean means what the kernel's xlog_check_unmount_rec means: the
 * last record before the head is an unmount record (one operation,
 * flagged XLOG_UNMOUNT_TRANS), so nothing needs replaying.
 */
static int
check_log (struct xfs *x)
{
  uint8_t h[BBSIZE];
  struct p2v_rbuf b;
  uint64_t head = 0, rec = 0, lsn, n = x->logbbs, hblks = 1, after;
  uint32_t cycle = 0, magic, hcycle, version, len, nops, size;
  uint8_t flags;

  if (log_head (x, &head, &cycle) == -1 ||
      log_last_record (x, head, &rec) == -1 ||
      read_at (x, h, sizeof h, x->logoff + rec * BBSIZE) == -1)
    return -1;
  b = reader (h, sizeof h, 0);
  p2v_get_u32 (&b, &magic);
  p2v_get_u32 (&b, &hcycle);
  p2v_get_u32 (&b, &version);
  p2v_get_u32 (&b, &len);
  p2v_get_u64 (&b, &lsn);
  skip (&b, 16);                /* tail lsn, crc, previous block */
  p2v_get_u32 (&b, &nops);
  skip (&b, 256 + 4 + 16);      /* cycle data, format, uuid */
  p2v_get_u32 (&b, &size);
  /* A header written just before the log wrapped is a cycle older. */
  if (b.failed || lsn != ((uint64_t) hcycle << 32 | rec) ||
      hcycle != (rec < head ? cycle : cycle - 1) ||
      (version != 1 && !(version == 2 && x->logv2)) ||
      len > n * BBSIZE || (version == 2 && size > LOG_MAX_RECORD))
    return decline (x, "the log record at block %" PRIu64 " is invalid", rec);
  if (version == 2 && size > 32768)
    hblks = (size + 32767) / 32768;     /* extended headers */
  after = (rec + hblks + (len + BBSIZE - 1) / BBSIZE) % n;
  if (after == head % n && nops == 1) {
    if (read_at (x, h, 16, x->logoff + (rec + hblks) % n * BBSIZE) == -1)
      return -1;
    b = reader (h, 16, 9);      /* the operation header's flags */
    p2v_get_u8 (&b, &flags);
    if (flags & LOG_UNMOUNT_TRANS)
      return 0;
  }
  return decline (x, "its log needs recovery (mounted, or not cleanly "
                  "unmounted)");
}

static int
add_used (struct xfs *x, uint64_t upto)
{
  if (upto > x->next &&
      agent_extent_add (x->out, x->r, x->r->offset + x->next * x->bs,
                        (upto - x->next) * x->bs) == -1) {
    x->error = true;
    return -1;
  }
  return 0;
}

/* Read one b-tree block and check its header; b is left at its body. */
static int
read_node (struct walk *w, uint32_t agbno, uint32_t level, bool root,
           struct p2v_rbuf *b, uint16_t *nrecs)
{
  static const uint32_t magics[2][2] = {
    { 0x41425442, 0x41425443 },   /* v4: "ABTB", "ABTC" */
    { 0x41423342, 0x41423343 },   /* v5: "AB3B", "AB3C" */
  };
  struct xfs *x = w->x;
  uint8_t *buf = x->bufs + (size_t) level * x->bs;
  uint32_t magic, left, right, owner, hdr = x->crc ? BT_HDR_V5 : BT_HDR_V4;
  uint64_t blkno;
  uint8_t uuid[16];
  uint16_t lvl;

  if (agbno == 0 || agbno >= w->aglen || ++w->blocks > w->aglen)
    return decline (x, "AG %" PRIu32 "'s free-space b-tree points outside "
                    "it", w->agno);
  if (read_at (x, buf, x->bs, ag_offset (x, w->agno, agbno)) == -1)
    return -1;
  *b = reader (buf, x->bs, 0);
  p2v_get_u32 (b, &magic);
  get_u16 (b, &lvl);
  get_u16 (b, nrecs);
  p2v_get_u32 (b, &left);
  p2v_get_u32 (b, &right);
  if (x->crc) {
    p2v_get_u64 (b, &blkno);
    skip (b, 8);                /* lsn */
    p2v_get_bytes (b, uuid, 16);
    p2v_get_u32 (b, &owner);
    skip (b, 4);                /* crc */
    if (blkno != ag_offset (x, w->agno, agbno) / 512 ||
        memcmp (uuid, x->uuid, 16) != 0 || owner != w->agno ||
        !crc_ok (buf, x->bs, BT_CRC_OFF))
      return decline (x, "AG %" PRIu32 " block %" PRIu32 " fails its "
                      "checksum or owner checks", w->agno, agbno);
  }
  if (magic != magics[x->crc][w->by_size] || lvl != level ||
      *nrecs > (x->bs - hdr) / (level ? 12 : 8) || (*nrecs == 0 && !root))
    return decline (x, "AG %" PRIu32 " block %" PRIu32 " is not a valid "
                    "free-space b-tree block", w->agno, agbno);
  /* Each level, read left to right, must be one sibling chain. */
  if (left != w->prev[level] ||
      (w->prev[level] != NULLAGBLOCK && w->right[level] != agbno))
    return decline (x, "AG %" PRIu32 "'s free-space b-tree has broken "
                    "sibling pointers at block %" PRIu32, w->agno, agbno);
  w->prev[level] = agbno;
  w->right[level] = right;
  return 0;
}

/* Keys: by block number the start alone, by size (count, start). */
static bool
key_matches (const struct walk *w, struct key k, uint32_t start,
             uint32_t count)
{
  return k.start == start && (!w->by_size || k.count == count);
}

/* Strictly after the previous record; by block number, not overlapping. */
static bool
in_order (const struct walk *w, uint32_t start, uint32_t count)
{
  if (w->by_size)
    return count > w->count || (count == w->count && start > w->start);
  return start >= (uint64_t) w->start + w->count;
}

/* An order-independent fingerprint of the set of extents. */
static uint64_t
mix (uint32_t start, uint32_t count)
{
  uint64_t z = ((uint64_t) start << 32 | count) + 0x9e3779b97f4a7c15ull;

  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* Leaf records: free extents inside the AG, in the tree's order.  The
 * bnobt walk also adds the blocks between them as used.
 */
static int
walk_leaf (struct walk *w, struct p2v_rbuf *b, uint16_t n, bool root,
           struct key key)
{
  struct xfs *x = w->x;
  uint64_t ag0 = (uint64_t) w->agno * x->agblocks;
  uint32_t start, count;

  for (uint16_t i = 0; i < n; ++i) {
    p2v_get_u32 (b, &start);
    p2v_get_u32 (b, &count);
    if ((i == 0 && !root && !key_matches (w, key, start, count)) ||
        count == 0 || start >= w->aglen || count > w->aglen - start ||
        !in_order (w, start, count))
      return decline (x, "AG %" PRIu32 "'s free-space b-tree has a bad "
                      "record (%" PRIu32 "+%" PRIu32 ")", w->agno, start,
                      count);
    w->start = start;
    w->count = count;
    w->free += count;
    w->nrecs++;
    w->hash += mix (start, count);
    if (w->by_size)
      continue;
    if (++x->nfree > MAX_FREE_EXTENTS)
      return decline (x, "more than %u free extents: too fragmented to map "
                      "in bounded memory", MAX_FREE_EXTENTS);
    if (add_used (x, ag0 + start) == -1)
      return -1;
    x->next = ag0 + start + count;
  }
  return 0;
}

/* Depth first, left to right: records come out in the tree's order.
 * key is the parent's key for this block, which must be its first
 * record's.
 */
static int
walk_node (struct walk *w, uint32_t agbno, uint32_t level, bool root,
           struct key key)
{
  struct xfs *x = w->x;
  uint32_t hdr = x->crc ? BT_HDR_V5 : BT_HDR_V4;
  struct p2v_rbuf b, ptrs;
  uint16_t n = 0;

  if (read_node (w, agbno, level, root, &b, &n) == -1)
    return -1;
  if (level == 0)
    return walk_leaf (w, &b, n, root, key);
  /* Pointers follow the largest possible array of keys. */
  ptrs = reader (x->bufs + (size_t) level * x->bs, x->bs,
                 hdr + (x->bs - hdr) / 12 * 8);
  for (uint16_t i = 0; i < n; ++i) {
    struct key k;
    uint32_t ptr;

    p2v_get_u32 (&b, &k.start);
    p2v_get_u32 (&b, &k.count);
    p2v_get_u32 (&ptrs, &ptr);
    if (i == 0 && !root && !key_matches (w, key, k.start, k.count))
      return decline (x, "AG %" PRIu32 "'s free-space b-tree has a bad key "
                      "in block %" PRIu32, w->agno, agbno);
    if (walk_node (w, ptr, level - 1, false, k) == -1)
      return -1;
  }
  return 0;
}

static int
walk_tree (struct walk *w)
{
  for (int i = 0; i < MAX_LEVELS; ++i)
    w->prev[i] = w->right[i] = NULLAGBLOCK;
  if (walk_node (w, w->root, w->levels - 1, true, (struct key) { 0, 0 })
      == -1)
    return -1;
  for (uint32_t l = 0; l < w->levels; ++l)
    if (w->right[l] != NULLAGBLOCK)
      return decline (w->x, "AG %" PRIu32 "'s free-space b-tree ends early "
                      "at level %" PRIu32, w->agno, l);
  return 0;
}

/* Read and check one AG's AGF: the two trees' roots and levels, and
 * its free block count.
 */
static int
read_agf (struct xfs *x, struct walk *bno, struct walk *cnt,
          uint32_t *freeblks)
{
  uint8_t *buf = x->bufs, uuid[16];
  struct p2v_rbuf b;
  uint32_t magic, version, seqno, length, agno = bno->agno;

  if (read_at (x, buf, x->sectsize, ag_offset (x, agno, 0) + x->sectsize)
      == -1)
    return -1;
  b = reader (buf, x->sectsize, 0);
  p2v_get_u32 (&b, &magic);
  p2v_get_u32 (&b, &version);
  p2v_get_u32 (&b, &seqno);
  p2v_get_u32 (&b, &length);
  p2v_get_u32 (&b, &bno->root);
  p2v_get_u32 (&b, &cnt->root);
  skip (&b, 4);                 /* rmap root */
  p2v_get_u32 (&b, &bno->levels);
  p2v_get_u32 (&b, &cnt->levels);
  skip (&b, 16);                /* rmap level; free list */
  p2v_get_u32 (&b, freeblks);
  skip (&b, 8);                 /* longest, btreeblks */
  p2v_get_bytes (&b, uuid, 16);
  if (b.failed || magic != AGF_MAGIC || version != 1 || seqno != agno ||
      length != bno->aglen || *freeblks > length ||
      bno->levels == 0 || bno->levels > MAX_LEVELS ||
      cnt->levels == 0 || cnt->levels > MAX_LEVELS ||
      (x->crc && (memcmp (uuid, x->uuid, 16) != 0 ||
                  !crc_ok (buf, x->sectsize, AGF_CRC_OFF))))
    return decline (x, "the AGF of AG %" PRIu32 " fails its checks", agno);
  return 0;
}

static int
map_ag (struct xfs *x, uint32_t agno)
{
  struct walk bno = { .x = x, .agno = agno, .aglen = ag_length (x, agno),
                      .count = 1 };
  struct walk cnt = { .x = x, .agno = agno, .aglen = bno.aglen,
                      .by_size = true };
  uint32_t freeblks;

  if (read_agf (x, &bno, &cnt, &freeblks) == -1 || walk_tree (&bno) == -1 ||
      walk_tree (&cnt) == -1)
    return -1;
  if (bno.free != freeblks)
    return decline (x, "AG %" PRIu32 "'s free-space b-tree holds %" PRIu64
                    " free blocks, its AGF says %" PRIu32, agno, bno.free,
                    freeblks);
  if (cnt.free != bno.free || cnt.nrecs != bno.nrecs || cnt.hash != bno.hash)
    return decline (x, "AG %" PRIu32 "'s two free-space b-trees (by block "
                    "number, by size) list different extents", agno);
  return 0;
}

static enum agent_map_result
map_xfs (const struct agent_region *r, struct agent_extents *out, char *why,
         size_t whylen)
{
  struct xfs x = { .r = r, .out = out, .why = why, .whylen = whylen };
  uint64_t fs_bytes;
  int res = 0;

  if (read_sb (&x) == -1)
    return AGENT_MAP_FALLBACK;
  x.bufs = malloc ((size_t) MAX_LEVELS * x.bs);
  if (x.bufs == NULL) {
    p2v_error ("out of memory mapping %s", r->name);
    return AGENT_MAP_ERROR;
  }
  if (check_sb_crc (&x) == -1 || check_log (&x) == -1)
    res = -1;
  for (uint32_t agno = 0; res == 0 && agno < x.agcount; ++agno)
    res = map_ag (&x, agno);
  fs_bytes = x.dblocks * x.bs;
  if (res == 0 &&
      (add_used (&x, x.dblocks) == -1 ||
       agent_extent_add (out, r, r->offset + fs_bytes,
                         r->length - fs_bytes) == -1))
    x.error = true;
  free (x.bufs);
  if (x.error)
    return AGENT_MAP_ERROR;
  if (res == -1)
    return AGENT_MAP_FALLBACK;
  p2v_debug ("%s: XFS v%d, %" PRIu32 " AGs, %" PRIu64 " free extents",
             r->name, x.crc ? 5 : 4, x.agcount, x.nfree);
  return AGENT_MAP_OK;
}

static const char *const xfs_types[] = { "xfs", NULL };
static const struct agent_map_ops xfs_map = {
  .name = "xfs bnobt", .types = xfs_types, .map = map_xfs,
};
AGENT_MAP_REGISTER (xfs_map)
