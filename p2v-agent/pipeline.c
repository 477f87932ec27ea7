/* The read → zero-detect → hash → compress stage, on worker threads.
 *
 * Workers claim chunks in disk order and each fills a slot of a small
 * ring (two slots per worker, so memory stays bounded on small
 * machines); the caller takes finished slots strictly in order and
 * sends them, so compression overlaps reading and the SSH encryption
 * done by the sending thread.
 *
 * A read that fails is retried, then narrowed by halving down to single
 * sectors; sectors that still fail are recorded (the chunk's bad list)
 * and read as zeros, ddrescue-style, so one bad sector costs one sector.  A worker never reports errors itself: it
 * records errno in the slot and the caller reports it, in order.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent.h"
#include "fileio.h"
#include "hash.h"
#include "log.h"
#include "pipeline.h"
#include "zero.h"
#include "zframe.h"

#define READ_RETRIES 2          /* more attempts for a whole read or a sector */

struct slot {
  struct agent_chunk c;
  uint8_t *buf;
  bool ready;
  int err;                      /* errno of a failed read, or -1 */
};

struct agent_pipeline {
  const struct agent_source *src;
  const struct agent_extents *read;     /* the bytes worth reading */
  uint32_t disk, chunk_size;
  int level, nthreads;
  uint64_t start;               /* first offset; chunk first covers from it */
  uint64_t nchunks;
  struct slot *slots;
  unsigned nslots;
  pthread_t *threads;
  pthread_mutex_t lock;
  pthread_cond_t work, done;
  uint64_t next;                /* next chunk a worker may claim */
  uint64_t consumed;            /* chunks the caller has released */
  bool stop;
};

static int
add_bad (struct slot *s, uint64_t off, uint64_t len, int err)
{
  struct agent_bad_ranges *b = &s->c.bad;
  struct p2v_read_error *last = b->len ? &b->ptr[b->len - 1] : NULL;

  if (last && last->offset + last->length == off &&
      last->err == (uint32_t) err) {
    last->length += len;
    return 0;
  }
  return agent_bad_ranges_append (b, (struct p2v_read_error) {
    0, off, len, err });
}

static int
read_retry (struct agent_pipeline *p, uint8_t *buf, size_t len,
            uint64_t off, int tries)
{
  while (tries-- > 0)
    if (agent_source_pread (p->src, buf, len, off) == 0)
      return 0;
  return -1;
}

/* Narrow a failing read down to its bad sectors. */
static int
read_narrow (struct agent_pipeline *p, struct slot *s, uint8_t *buf,
             size_t len, uint64_t off, bool top)
{
  size_t sector = p->src->sector_size, half;

  if (read_retry (p, buf, len, off, top || len <= sector
                                    ? 1 + READ_RETRIES : 1) == 0)
    return 0;
  if (len <= sector) {
    int err = errno;

    memset (buf, 0, len);
    if (add_bad (s, off, len, err) == -1) {
      s->err = ENOMEM;
      return -1;
    }
    return 0;
  }
  /* Halves on sector boundaries of the disk. */
  half = ((off + len / 2) / sector * sector) - off;
  if (half == 0 || half >= len)
    half = sector - off % sector;
  if (half >= len)
    half = len / 2;
  if (read_narrow (p, s, buf, half, off, false) == -1)
    return -1;
  return read_narrow (p, s, buf + half, len - half, off + half, false);
}

/* Read the mapped parts of [off, off+len) into a zeroed buffer; the
 * rest is what the maps say holds nothing.  Returns bytes read or -1.
 */
static int64_t
read_mapped (struct agent_pipeline *p, struct slot *s, uint64_t off,
             size_t len)
{
  uint64_t end = off + len, total = 0;
  size_t i = agent_extents_find (p->read, off);

  if (i >= p->read->len || p->read->ptr[i].offset >= end)
    return 0;                   /* nothing here: not even read */
  memset (s->buf, 0, len);
  for (; i < p->read->len && p->read->ptr[i].offset < end; ++i) {
    const struct agent_extent *e = &p->read->ptr[i];
    uint64_t a = e->offset > off ? e->offset : off;
    uint64_t b = e->offset + e->length < end ? e->offset + e->length : end;
    if (read_narrow (p, s, s->buf + (a - off), b - a, a, true) == -1)
      return -1;
    total += b - a;
  }
  return total;
}

/* Fill one slot: read, then either mark it zero or build its CHUNK. */
static void
fill_slot (struct agent_pipeline *p, struct slot *s, void *cctx,
           uint64_t seq)
{
  uint64_t grid = seq * p->chunk_size;
  struct p2v_chunk c = { p->disk, grid > p->start ? grid : p->start };
  uint64_t end = grid + p->chunk_size < p->src->size
                 ? grid + p->chunk_size : p->src->size;
  size_t len = end - c.offset, bound, n;
  int64_t got;

  s->c.offset = c.offset;       /* (s->c.msg keeps its memory) */
  s->c.length = len;
  s->c.zero = true;
  s->c.bad.len = 0;
  s->err = 0;
  got = read_mapped (p, s, c.offset, len);
  if (got == -1)
    return;
  s->c.read_bytes = got;
  if (got == 0)
    return;
  s->c.zero = p2v_is_zero (s->buf, len);
  if (s->c.zero)
    return;
  c.length = len;
  c.kind = P2V_CHUNK_DATA;
  p2v_hash_chunk (s->buf, len, c.hash);
  memcpy (s->c.hash, c.hash, P2V_HASH_LEN);
  bound = p2v_zframe_bound (len);
  p2v_wbuf_reset (&s->c.msg);
  p2v_msg_start (&s->c.msg, P2V_MSG_CHUNK);
  p2v_put_chunk_header (&s->c.msg, &c);
  if (p2v_wbuf_reserve (&s->c.msg, bound) == -1) {
    s->err = ENOMEM;
    return;
  }
  n = p2v_zframe_compress (cctx, s->c.msg.p + s->c.msg.len, bound, s->buf,
                           len, __atomic_load_n (&p->level,
                                                 __ATOMIC_RELAXED));
  if (n == 0) {
    s->err = -1;
    return;
  }
  s->c.msg.len += n;
  if (p2v_msg_finish (&s->c.msg) == -1)
    s->err = -1;
}

static void *
worker (void *arg)
{
  struct agent_pipeline *p = arg;
  void *cctx = p2v_zframe_cctx_new ();

  pthread_mutex_lock (&p->lock);
  for (;;) {
    while (!p->stop && p->next < p->nchunks &&
           p->next >= p->consumed + p->nslots)
      pthread_cond_wait (&p->work, &p->lock);
    if (p->stop || p->next >= p->nchunks)
      break;
    uint64_t seq = p->next++;
    struct slot *s = &p->slots[seq % p->nslots];

    pthread_mutex_unlock (&p->lock);
    if (cctx)
      fill_slot (p, s, cctx, seq);
    else
      s->err = ENOMEM;
    pthread_mutex_lock (&p->lock);
    s->ready = true;
    pthread_cond_broadcast (&p->done);
  }
  pthread_mutex_unlock (&p->lock);
  p2v_zframe_cctx_free (cctx);
  return NULL;
}

static void
free_slots (struct agent_pipeline *p)
{
  for (unsigned i = 0; p->slots && i < p->nslots; ++i) {
    free (p->slots[i].buf);
    p2v_wbuf_free (&p->slots[i].c.msg);
    agent_bad_ranges_reset (&p->slots[i].c.bad);
  }
  free (p->slots);
  free (p->threads);
  free (p);
}

struct agent_pipeline *
agent_pipeline_start (const struct agent_source *src,
                      const struct agent_extents *read, uint32_t disk,
                      uint32_t chunk_size, uint64_t start, int level,
                      int nthreads)
{
  struct agent_pipeline *p = calloc (1, sizeof *p);
  int i;

  if (p == NULL)
    goto oom;
  *p = (struct agent_pipeline) {
    .src = src, .read = read, .disk = disk, .chunk_size = chunk_size,
    .level = level, .start = start,
    .next = start / chunk_size, .consumed = start / chunk_size,
    .nchunks = start >= src->size ? start / chunk_size
               : (src->size + chunk_size - 1) / chunk_size,
    .nslots = 2 * nthreads,
  };
  pthread_mutex_init (&p->lock, NULL);
  pthread_cond_init (&p->work, NULL);
  pthread_cond_init (&p->done, NULL);
  p->slots = calloc (p->nslots, sizeof *p->slots);
  p->threads = calloc (nthreads, sizeof *p->threads);
  if (p->slots == NULL || p->threads == NULL)
    goto oom;
  for (unsigned j = 0; j < p->nslots; ++j)
    /* Page-aligned: a source may be read with O_DIRECT. */
    if (posix_memalign ((void **) &p->slots[j].buf, 4096, chunk_size) != 0) {
      p->slots[j].buf = NULL;
      goto oom;
    }
  for (i = 0; i < nthreads; ++i) {
    int e = pthread_create (&p->threads[i], NULL, worker, p);
    if (e) {
      errno = e;
      p2v_error ("cannot start a compression thread: %m");
      p->nthreads = i;
      agent_pipeline_stop (p);
      return NULL;
    }
    p->nthreads = i + 1;
  }
  return p;
 oom:
  p2v_error ("out of memory for %d threads with %" PRIu32 "-byte chunks; "
             "try fewer --threads or a smaller --chunk-size", nthreads,
             chunk_size);
  if (p)
    free_slots (p);
  return NULL;
}

int
agent_pipeline_next (struct agent_pipeline *p, struct agent_chunk **c)
{
  struct slot *s;

  if (p->consumed >= p->nchunks)
    return 0;
  s = &p->slots[p->consumed % p->nslots];
  struct timespec until;
  clock_gettime (CLOCK_REALTIME, &until);
  until.tv_sec += AGENT_PIPELINE_WAIT;
  pthread_mutex_lock (&p->lock);
  while (!s->ready)
    if (pthread_cond_timedwait (&p->done, &p->lock, &until) == ETIMEDOUT &&
        !s->ready) {
      pthread_mutex_unlock (&p->lock);
      return AGENT_PIPELINE_SLOW;
    }
  pthread_mutex_unlock (&p->lock);
  if (s->err) {
    if (s->err > 0) {
      errno = s->err;
      p2v_error ("%s: read of %zu bytes at offset %" PRIu64 ": %s",
                 p->src->path, s->c.length, s->c.offset,
                 s->err == EIO ? "input/output error or unexpected end of "
                 "device" : strerror (s->err));
    }
    return -1;                  /* compression errors are reported */
  }
  *c = &s->c;
  return 1;
}

void
agent_pipeline_set_level (struct agent_pipeline *p, int level)
{
  __atomic_store_n (&p->level, level, __ATOMIC_RELAXED);
}

void
agent_pipeline_release (struct agent_pipeline *p)
{
  pthread_mutex_lock (&p->lock);
  p->slots[p->consumed % p->nslots].ready = false;
  p->consumed++;
  pthread_cond_broadcast (&p->work);
  pthread_mutex_unlock (&p->lock);
}

void
agent_pipeline_stop (struct agent_pipeline *p)
{
  if (p == NULL)
    return;
  pthread_mutex_lock (&p->lock);
  p->stop = true;
  pthread_cond_broadcast (&p->work);
  pthread_mutex_unlock (&p->lock);
  for (int i = 0; i < p->nthreads; ++i)
    pthread_join (p->threads[i], NULL);
  pthread_mutex_destroy (&p->lock);
  pthread_cond_destroy (&p->work);
  pthread_cond_destroy (&p->done);
  free_slots (p);
}
