/* Extent list helpers: clipping to the region, merging, counting, and
 * the bound on memory for badly fragmented filesystems.
 */
#include <stdlib.h>

#include "map.h"
#include "test.h"

static void
test_add_clip_merge (void)
{
  struct agent_region r = { .offset = 1000, .length = 1000, .name = "t" };
  struct agent_extents v = { 0 };

  CHECK (agent_extent_add (&v, &r, 0, 500) == 0 && v.len == 0);   /* before */
  CHECK (agent_extent_add (&v, &r, 2000, 10) == 0 && v.len == 0); /* after */
  agent_extent_add (&v, &r, 900, 200);                 /* clipped start */
  CHECK (v.len == 1 && v.ptr[0].offset == 1000 && v.ptr[0].length == 100);
  agent_extent_add (&v, &r, 1100, 50);                 /* touches: extends */
  CHECK (v.len == 1 && v.ptr[0].length == 150);
  agent_extent_add (&v, &r, 1900, 500);                /* clipped end */
  CHECK (v.len == 2 && v.ptr[1].length == 100);
  agent_extent_add (&v, &r, 1120, 300);                /* overlaps */
  agent_extents_merge (&v);
  CHECK (v.len == 2 && v.ptr[0].offset == 1000 && v.ptr[0].length == 420);
  CHECK (agent_extents_bytes (&v, 0, 5000) == 520);
  CHECK (agent_extents_bytes (&v, 1100, 100) == 100);
  CHECK (agent_extents_bytes (&v, 1420, 480) == 0);
  CHECK (agent_extents_find (&v, 0) == 0);
  CHECK (agent_extents_find (&v, 1420) == 1);
  CHECK (agent_extents_find (&v, 2000) == 2);
  agent_extents_reset (&v);
}

static void
test_bounded (void)
{
  /* Every other 4 KiB block used: a million extents, merged down. */
  struct agent_region r = { .offset = 0, .length = 1ULL << 40, .name = "t" };
  struct agent_extents v = { 0 };
  uint64_t n = 1000000;

  for (uint64_t i = 0; i < n; ++i)
    if (agent_extent_add (&v, &r, i * 8192, 4096) == -1)
      test_failures++;
  agent_extents_merge (&v);
  CHECK (v.len <= 256 * 1024);
  /* Nothing used was dropped. */
  CHECK (agent_extents_bytes (&v, 0, n * 8192) >= n * 4096);
  CHECK (v.ptr[0].offset == 0);
  CHECK (v.ptr[v.len - 1].offset + v.ptr[v.len - 1].length >= (n - 1) * 8192 + 4096);
  agent_extents_reset (&v);
}

int
main (void)
{
  test_add_clip_merge ();
  test_bounded ();
  return TEST_DONE ();
}
