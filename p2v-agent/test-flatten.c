/* The flattened disk's geometry: arrays' partitions sized to the
 * arrays, later partitions moved right by whole alignment units, an
 * extended partition grown with its logical ones, removed members
 * leaving their space.
 */
#include <stdlib.h>

#include "agent.h"
#include "test.h"

#define K AGENT_FLAT_KEEP
#define R AGENT_FLAT_REPLACE
#define X AGENT_FLAT_REMOVE

/* RAID1: the array is smaller than its partition: nothing moves. */
static void
test_shrink (void)
{
  struct agent_flat_part p[] = {
    { .num = 1, .start = 2048, .len = 786432, .action = R, .new_len = 784384 },
    { .num = 2, .start = 788480, .len = 5500000, .action = R,
      .new_len = 5490000 },
  };

  CHECK (agent_flatten_geometry (p, 2, 6291456, 2048) == 6291456);
  CHECK (p[0].new_start == 2048 && p[0].new_len == 784384);
  CHECK (p[1].new_start == 788480 && p[1].new_len == 5490000);
}

/* RAID5 of three: the array is twice its partition; the partition after
 * it moves right by the growth rounded up to the alignment, the disk
 * grows by as much.
 */
static void
test_grow (void)
{
  struct agent_flat_part p[] = {
    { .num = 1, .start = 2048, .len = 245760, .action = R, .new_len = 491264 },
    { .num = 2, .start = 247808, .len = 81920, .action = K },
  };
  uint64_t shift = (491264 - 245760 + 2047) / 2048 * 2048;

  CHECK (agent_flatten_geometry (p, 2, 409600, 2048) == 409600 + shift);
  CHECK (p[0].new_start == 2048 && p[0].new_len == 491264);
  CHECK (p[1].new_start == 247808 + shift && p[1].new_len == 81920);
  CHECK (p[0].new_start + p[0].new_len <= p[1].new_start);
  CHECK (p[1].new_start % 2048 == 0);
}

/* msdos: a removed primary keeps its place empty; a logical partition
 * that grows grows the extended one and moves what follows it.
 */
static void
test_extended (void)
{
  struct agent_flat_part p[] = {
    { .num = 1, .start = 2048, .len = 100000, .action = X },
    { .num = 2, .start = 104448, .len = 300000, .extended = true,
      .action = K },
    { .num = 5, .start = 106496, .len = 100000, .logical = true,
      .action = R, .new_len = 150000 },
    { .num = 6, .start = 208896, .len = 100000, .logical = true,
      .action = K },
    { .num = 3, .start = 405504, .len = 10000, .action = K },
  };
  uint64_t shift = (50000 + 2047) / 2048 * 2048;

  CHECK (agent_flatten_geometry (p, 5, 500000, 2048) == 500000 + shift);
  CHECK (p[0].new_start == 2048);
  CHECK (p[1].new_start == 104448 && p[1].new_len == 300000 + shift);
  CHECK (p[2].new_start == 106496 && p[2].new_len == 150000);
  CHECK (p[3].new_start == 208896 + shift && p[3].new_len == 100000);
  CHECK (p[4].new_start == 405504 + shift);
  /* Everything inside the extended partition still is. */
  CHECK (p[3].new_start + p[3].new_len <= p[1].new_start + p[1].new_len);
  CHECK (p[1].new_start + p[1].new_len <= p[4].new_start);
}

int
main (void)
{
  test_shrink ();
  test_grow ();
  test_extended ();
  return TEST_DONE ();
}
