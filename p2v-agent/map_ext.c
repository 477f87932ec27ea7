/* ext2/3/4: the block bitmaps, read through libext2fs (which handles
 * uninitialised groups, flex_bg, 64-bit and bigalloc cluster bitmaps).
 * The first 64 KiB of the region (boot code, superblock) and anything
 * past the filesystem's end inside the partition are always read.
 */
#include <inttypes.h>
#include <stdio.h>

#include <sys/types.h>              /* ext2fs.h needs it first */
#include <ext2fs/ext2fs.h>
#include <et/com_err.h>

#include "map.h"

#define HEAD_BYTES (64 * 1024)

/* A filesystem whose bitmaps may not describe what is on disk. */
static const char *
distrust (ext2_filsys fs)
{
  if (ext2fs_has_feature_journal_needs_recovery (fs->super))
    return "its journal needs recovery (not cleanly unmounted)";
  if (fs->super->s_state & EXT2_ERROR_FS)
    return "it is marked as having errors";
  if (!(fs->super->s_state & EXT2_VALID_FS))
    return "it was not cleanly unmounted";
  return NULL;
}

static int
add_used_runs (ext2_filsys fs, const struct agent_region *r,
               struct agent_extents *out)
{
  uint64_t bs = fs->blocksize;
  blk64_t b = fs->super->s_first_data_block;
  blk64_t end = ext2fs_blocks_count (fs->super) - 1;
  blk64_t set, zero;

  while (b <= end &&
         ext2fs_find_first_set_block_bitmap2 (fs->block_map, b, end,
                                              &set) == 0) {
    if (ext2fs_find_first_zero_block_bitmap2 (fs->block_map, set, end,
                                              &zero) != 0)
      zero = end + 1;
    if (agent_extent_add (out, r, r->offset + set * bs,
                          (zero - set) * bs) == -1)
      return -1;
    b = zero;
  }
  return 0;
}

static enum agent_map_result
map_ext (const struct agent_region *r, struct agent_extents *out, char *why,
         size_t whylen)
{
  ext2_filsys fs;
  char opts[64];
  const char *bad;
  errcode_t e;
  uint64_t fs_bytes;
  enum agent_map_result res = AGENT_MAP_FALLBACK;

  snprintf (opts, sizeof opts, "offset=%" PRIu64, r->offset);
  e = ext2fs_open2 (r->path, opts, EXT2_FLAG_64BITS | EXT2_FLAG_SKIP_MMP, 0,
                    0, unix_io_manager, &fs);
  if (e) {
    snprintf (why, whylen, "libext2fs cannot open it: %s", error_message (e));
    return AGENT_MAP_FALLBACK;
  }
  fs_bytes = ext2fs_blocks_count (fs->super) * (uint64_t) fs->blocksize;
  if ((bad = distrust (fs)) != NULL)
    snprintf (why, whylen, "%s", bad);
  else if (fs_bytes > r->length)
    snprintf (why, whylen, "the filesystem (%" PRIu64 " bytes) is larger "
              "than its partition", fs_bytes);
  else if ((e = ext2fs_read_block_bitmap (fs)) != 0)
    snprintf (why, whylen, "its block bitmap fails its checks: %s",
              error_message (e));
  else if (agent_extent_add (out, r, r->offset, HEAD_BYTES) == -1 ||
           add_used_runs (fs, r, out) == -1 ||
           agent_extent_add (out, r, r->offset + fs_bytes,
                             r->length - fs_bytes) == -1)
    res = AGENT_MAP_ERROR;
  else
    res = AGENT_MAP_OK;
  ext2fs_close_free (&fs);
  return res;
}

static const char *const ext_types[] = { "ext2", "ext3", "ext4", "ext4dev",
                                         NULL };
static const struct agent_map_ops ext_map = {
  .name = "ext bitmap", .types = ext_types, .map = map_ext,
};
AGENT_MAP_REGISTER (ext_map)
