/* The map registry, the step that maps one region or falls back, and
 * extent list helpers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "map.h"
#include "log.h"

#define MAX_MAPS 32

/* At most this many extents (16 bytes each) are kept: beyond it the
 * smallest gaps are read too, which costs a little stale data on the
 * wire instead of unbounded memory on a 128 MB server.
 */
#define MAX_EXTENTS (256 * 1024)

static const struct agent_map_ops *maps[MAX_MAPS];
static size_t nmaps;

void
agent_map_register (const struct agent_map_ops *ops)
{
  if (nmaps == MAX_MAPS)
    abort ();                   /* a build with too many maps: fix MAX_MAPS */
  maps[nmaps++] = ops;
}

const struct agent_map_ops *
agent_map_find (const char *type)
{
  for (size_t i = 0; i < nmaps; ++i)
    for (const char *const *t = maps[i]->types; *t; ++t)
      if (strcmp (*t, type) == 0)
        return maps[i];
  return NULL;
}

int
agent_map_step (const struct agent_region *r, const char *skip, uint64_t at,
                struct agent_extents *out, struct agent_map_outcome *o)
{
  struct agent_region to = *r;          /* where out's extents go */
  struct agent_extents mine = { 0 };    /* kept only if the map succeeds */
  enum agent_map_result res = AGENT_MAP_FALLBACK;

  to.offset = at;
  memset (o, 0, sizeof *o);
  o->ops = agent_map_find (r->type);
  if (skip) {
    o->how = AGENT_MAP_SKIPPED;
    snprintf (o->why, sizeof o->why, "%s", skip);
  }
  else if (o->ops == NULL) {
    o->how = AGENT_MAP_NONE;
    snprintf (o->why, sizeof o->why, "no map for %s",
              r->type[0] ? r->type : "unrecognised content");
  }
  else {
    res = o->ops->map (r, &mine, o->why, sizeof o->why);
    o->how = res == AGENT_MAP_OK ? AGENT_MAPPED : AGENT_MAP_DECLINED;
  }
  for (size_t i = 0; res == AGENT_MAP_OK && i < mine.len; ++i)
    if (agent_extent_add (out, &to, mine.ptr[i].offset - r->offset + at,
                          mine.ptr[i].length) == -1)
      res = AGENT_MAP_ERROR;
  agent_extents_reset (&mine);
  if (res == AGENT_MAP_ERROR)
    return -1;
  if (res == AGENT_MAP_FALLBACK &&
      agent_extent_add (out, &to, at, r->length) == -1)
    return -1;
  return 0;
}

int
agent_extent_add (struct agent_extents *v, const struct agent_region *r,
                  uint64_t offset, uint64_t length)
{
  uint64_t end = r->offset + r->length;

  /* A map computes offsets from on-disk numbers: never trust them past
   * its region.
   */
  if (offset >= end || length == 0)
    return 0;
  if (offset < r->offset) {
    if (offset + length <= r->offset)
      return 0;
    length -= r->offset - offset;
    offset = r->offset;
  }
  if (length > end - offset)
    length = end - offset;
  /* Maps emit runs in order: extend the last one when they touch. */
  if (v->len && v->ptr[v->len - 1].offset + v->ptr[v->len - 1].length ==
      offset) {
    v->ptr[v->len - 1].length += length;
    return 0;
  }
  if (v->len >= 2 * MAX_EXTENTS)
    agent_extents_merge (v);
  if (agent_extents_append (v, (struct agent_extent) { offset, length })) {
    p2v_error ("out of memory mapping %s", r->name);
    return -1;
  }
  return 0;
}

static int
by_offset (const void *a, const void *b)
{
  const struct agent_extent *x = a, *y = b;

  return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Merge extents whose gap is at most gap bytes; v is sorted. */
static void
merge_gaps (struct agent_extents *v, uint64_t gap)
{
  size_t i, n = 0;

  for (i = 1; i < v->len; ++i) {
    struct agent_extent *last = &v->ptr[n], *e = &v->ptr[i];

    if (e->offset <= last->offset + last->length + gap) {
      uint64_t end = e->offset + e->length;
      if (end > last->offset + last->length)
        last->length = end - last->offset;
    }
    else
      v->ptr[++n] = *e;
  }
  v->len = n + 1;
}

void
agent_extents_merge (struct agent_extents *v)
{
  uint64_t gap = 4096;

  if (v->len == 0)
    return;
  qsort (v->ptr, v->len, sizeof *v->ptr, by_offset);
  merge_gaps (v, 0);
  while (v->len > MAX_EXTENTS) {
    merge_gaps (v, gap);
    gap *= 2;
  }
}

size_t
agent_extents_find (const struct agent_extents *v, uint64_t offset)
{
  size_t lo = 0, hi = v->len;

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;

    if (v->ptr[mid].offset + v->ptr[mid].length <= offset)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

uint64_t
agent_extents_bytes (const struct agent_extents *v, uint64_t offset,
                     uint64_t length)
{
  uint64_t total = 0, end = offset + length;

  for (size_t i = agent_extents_find (v, offset);
       i < v->len && v->ptr[i].offset < end; ++i) {
    uint64_t s = v->ptr[i].offset > offset ? v->ptr[i].offset : offset;
    uint64_t e = v->ptr[i].offset + v->ptr[i].length;

    total += (e < end ? e : end) - s;
  }
  return total;
}
