#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

void
p2v_msg_start (struct p2v_wbuf *b, uint32_t type)
{
  p2v_put_u32 (b, type);
  p2v_put_u32 (b, 0);
}

int
p2v_msg_finish (struct p2v_wbuf *b)
{
  if (b->failed || b->len < P2V_HEADER_LEN ||
      b->len - P2V_HEADER_LEN > P2V_MAX_MSG)
    return -1;
  p2v_be32 (b->p + 4, (uint32_t) (b->len - P2V_HEADER_LEN));
  return 0;
}

void
p2v_put_hello (struct p2v_wbuf *b, const struct p2v_hello *h)
{
  p2v_put_bytes (b, P2V_MAGIC, 8);
  p2v_put_u32 (b, h->version_min);
  p2v_put_u32 (b, h->version_max);
  p2v_put_u64 (b, h->caps);
  p2v_put_string (b, h->software);
}

int
p2v_parse_hello (const void *p, size_t len, struct p2v_hello *h)
{
  struct p2v_rbuf b;
  char magic[8];

  memset (h, 0, sizeof *h);
  p2v_rbuf_init (&b, p, len);
  p2v_get_bytes (&b, magic, 8);
  p2v_get_u32 (&b, &h->version_min);
  p2v_get_u32 (&b, &h->version_max);
  p2v_get_u64 (&b, &h->caps);
  p2v_get_string (&b, &h->software, 256);
  if (p2v_rbuf_done (&b) == -1 || memcmp (magic, P2V_MAGIC, 8) != 0 ||
      h->version_min > h->version_max) {
    p2v_hello_free (h);
    return -1;
  }
  return 0;
}

void
p2v_hello_free (struct p2v_hello *h)
{
  free (h->software);
  h->software = NULL;
}

int
p2v_version_choose (const struct p2v_hello *a, const struct p2v_hello *b)
{
  uint32_t lo = a->version_min > b->version_min ? a->version_min
                                                : b->version_min;
  uint32_t hi = a->version_max < b->version_max ? a->version_max
                                                : b->version_max;
  return lo <= hi ? (int) hi : -1;
}

uint32_t
p2v_msg_last (uint32_t version)
{
  return version >= 6 ? P2V_MSG_JOIN : version >= 4 ? P2V_MSG_SELECT
    : version >= 3 ? P2V_MSG_HASHES : P2V_MSG_KEEPALIVE;
}

void
p2v_put_inventory (struct p2v_wbuf *b, const struct p2v_inventory *inv)
{
  uint32_t i;

  p2v_put_string (b, inv->name);
  p2v_put_string (b, inv->hostname);
  p2v_put_u32 (b, inv->cpus);
  p2v_put_u64 (b, inv->memory);
  p2v_put_u32 (b, inv->ndisks);
  for (i = 0; i < inv->ndisks; ++i) {
    p2v_put_u64 (b, inv->disks[i].size);
    p2v_put_u32 (b, inv->disks[i].sector_size);
    p2v_put_string (b, inv->disks[i].source);
    p2v_put_string (b, inv->disks[i].id);
    p2v_put_bytes (b, inv->disks[i].fingerprint, P2V_HASH_LEN);
    p2v_put_u64 (b, inv->disks[i].data_bytes);
  }
  p2v_put_u32 (b, inv->nfacts);
  for (i = 0; i < inv->nfacts; ++i) {
    p2v_put_string (b, inv->keys[i]);
    p2v_put_string (b, inv->values[i]);
  }
}

/* Counts are stored only once their arrays exist, so that
 * p2v_inventory_free never walks a count it was never given memory for.
 */
static int
parse_disks (struct p2v_rbuf *b, struct p2v_inventory *inv)
{
  uint32_t i, n;

  if (p2v_get_u32 (b, &n) == -1 || n == 0 || n > P2V_MAX_DISKS)
    return -1;
  inv->disks = calloc (n, sizeof *inv->disks);
  if (inv->disks == NULL)
    return -1;
  inv->ndisks = n;
  for (i = 0; i < n; ++i) {
    struct p2v_disk_info *d = &inv->disks[i];

    p2v_get_u64 (b, &d->size);
    p2v_get_u32 (b, &d->sector_size);
    p2v_get_string (b, &d->source, P2V_MAX_STRING);
    p2v_get_string (b, &d->id, P2V_MAX_STRING);
    p2v_get_bytes (b, d->fingerprint, P2V_HASH_LEN);
    if (p2v_get_u64 (b, &d->data_bytes) == -1)
      return -1;
  }
  return 0;
}

static int
parse_facts (struct p2v_rbuf *b, struct p2v_inventory *inv)
{
  uint32_t i, n;

  if (p2v_get_u32 (b, &n) == -1 || n > P2V_MAX_FACTS)
    return -1;
  if (n == 0)
    return 0;
  inv->keys = calloc (n, sizeof (char *));
  inv->values = calloc (n, sizeof (char *));
  if (inv->keys == NULL || inv->values == NULL)
    return -1;
  inv->nfacts = n;
  for (i = 0; i < n; ++i) {
    p2v_get_string (b, &inv->keys[i], 256);
    if (p2v_get_string (b, &inv->values[i], P2V_MAX_STRING) == -1)
      return -1;
  }
  return 0;
}

int
p2v_parse_inventory (const void *p, size_t len, struct p2v_inventory *inv)
{
  struct p2v_rbuf b;

  memset (inv, 0, sizeof *inv);
  p2v_rbuf_init (&b, p, len);
  p2v_get_string (&b, &inv->name, P2V_MAX_NAME);
  p2v_get_string (&b, &inv->hostname, 256);
  p2v_get_u32 (&b, &inv->cpus);
  p2v_get_u64 (&b, &inv->memory);
  if (b.failed || parse_disks (&b, inv) == -1 ||
      parse_facts (&b, inv) == -1 || p2v_rbuf_done (&b) == -1) {
    p2v_inventory_free (inv);
    return -1;
  }
  return 0;
}

void
p2v_inventory_free (struct p2v_inventory *inv)
{
  uint32_t i;

  if (inv->disks)
    for (i = 0; i < inv->ndisks; ++i) {
      free (inv->disks[i].source);
      free (inv->disks[i].id);
    }
  for (i = 0; inv->keys && inv->values && i < inv->nfacts; ++i) {
    free (inv->keys[i]);
    free (inv->values[i]);
  }
  free (inv->name);
  free (inv->hostname);
  free (inv->disks);
  free (inv->keys);
  free (inv->values);
  memset (inv, 0, sizeof *inv);
}

const char *
p2v_fact (const struct p2v_inventory *inv, const char *key)
{
  for (uint32_t i = 0; i < inv->nfacts; ++i)
    if (strcmp (inv->keys[i], key) == 0)
      return inv->values[i];
  return NULL;
}

const char *
p2v_fact_nth (const struct p2v_inventory *inv, const char *prefix, int n,
              const char *field)
{
  char key[64];

  if ((size_t) snprintf (key, sizeof key, "%s.%d.%s", prefix, n, field)
      >= sizeof key)
    return NULL;                /* no such key is made */
  return p2v_fact (inv, key);
}

void
p2v_put_disk_begin (struct p2v_wbuf *b, const struct p2v_disk_begin *d)
{
  p2v_put_u32 (b, d->disk);
  p2v_put_u64 (b, d->size);
  p2v_put_u32 (b, d->chunk_size);
  p2v_put_u64 (b, d->start);
  p2v_put_u64 (b, d->ack_bytes);
}

int
p2v_parse_disk_begin (const void *p, size_t len, struct p2v_disk_begin *d)
{
  struct p2v_rbuf b;

  p2v_rbuf_init (&b, p, len);
  p2v_get_u32 (&b, &d->disk);
  p2v_get_u64 (&b, &d->size);
  p2v_get_u32 (&b, &d->chunk_size);
  p2v_get_u64 (&b, &d->start);
  p2v_get_u64 (&b, &d->ack_bytes);
  return p2v_rbuf_done (&b);
}

void
p2v_put_chunk_header (struct p2v_wbuf *b, const struct p2v_chunk *c)
{
  p2v_put_u32 (b, c->disk);
  p2v_put_u64 (b, c->offset);
  p2v_put_u64 (b, c->length);
  p2v_put_u8 (b, c->kind);
  p2v_put_bytes (b, c->hash, P2V_HASH_LEN);
}

int
p2v_parse_chunk (const void *p, size_t len, struct p2v_chunk *c)
{
  struct p2v_rbuf b;

  p2v_rbuf_init (&b, p, len);
  p2v_get_u32 (&b, &c->disk);
  p2v_get_u64 (&b, &c->offset);
  p2v_get_u64 (&b, &c->length);
  p2v_get_u8 (&b, &c->kind);
  p2v_get_bytes (&b, c->hash, P2V_HASH_LEN);
  c->frame_len = p2v_rbuf_remaining (&b);
  if (p2v_get_span (&b, &c->frame, c->frame_len) == -1 ||
      p2v_rbuf_done (&b) == -1)
    return -1;
  if (c->kind == P2V_CHUNK_ZERO) {
    static const uint8_t zeros[P2V_HASH_LEN];

    /* ZERO: no frame, and the hash field all zeros (nothing checks a
     * hash there, so nothing may be carried into the journal).
     */
    return c->frame_len == 0 && !memcmp (c->hash, zeros, P2V_HASH_LEN)
      ? 0 : -1;
  }
  return c->kind == P2V_CHUNK_DATA && c->frame_len > 0 ? 0 : -1;
}

void
p2v_put_disk_end (struct p2v_wbuf *b, const struct p2v_disk_end *d)
{
  p2v_put_u32 (b, d->disk);
  p2v_put_u64 (b, d->chunks);
  p2v_put_bytes (b, d->digest, P2V_HASH_LEN);
}

int
p2v_parse_disk_end (const void *p, size_t len, struct p2v_disk_end *d)
{
  struct p2v_rbuf b;

  p2v_rbuf_init (&b, p, len);
  p2v_get_u32 (&b, &d->disk);
  p2v_get_u64 (&b, &d->chunks);
  p2v_get_bytes (&b, d->digest, P2V_HASH_LEN);
  return p2v_rbuf_done (&b);
}

void
p2v_put_pass_begin (struct p2v_wbuf *b, const struct p2v_pass_begin *p)
{
  p2v_put_u32 (b, p->disk);
  p2v_put_u32 (b, p->pass);
  p2v_put_u32 (b, p->chunk_size);
  p2v_put_u64 (b, p->ack_bytes);
}

int
p2v_parse_pass_begin (const void *p, size_t len, struct p2v_pass_begin *pb)
{
  struct p2v_rbuf b;

  p2v_rbuf_init (&b, p, len);
  p2v_get_u32 (&b, &pb->disk);
  p2v_get_u32 (&b, &pb->pass);
  p2v_get_u32 (&b, &pb->chunk_size);
  p2v_get_u64 (&b, &pb->ack_bytes);
  return p2v_rbuf_done (&b);
}

void
p2v_put_hash_request (struct p2v_wbuf *b, const struct p2v_hash_request *r)
{
  p2v_put_u32 (b, r->disk);
  p2v_put_u64 (b, r->offset);
  p2v_put_u32 (b, r->chunk_size);
  p2v_put_u32 (b, r->count);
}

int
p2v_parse_hash_request (const void *p, size_t len, struct p2v_hash_request *r)
{
  struct p2v_rbuf b;

  p2v_rbuf_init (&b, p, len);
  p2v_get_u32 (&b, &r->disk);
  p2v_get_u64 (&b, &r->offset);
  p2v_get_u32 (&b, &r->chunk_size);
  p2v_get_u32 (&b, &r->count);
  if (p2v_rbuf_done (&b) == -1 || r->count == 0 || r->count > P2V_MAX_HASHES)
    return -1;
  return 0;
}

void
p2v_put_hashes_header (struct p2v_wbuf *b, const struct p2v_hashes *h)
{
  p2v_put_u32 (b, h->disk);
  p2v_put_u64 (b, h->offset);
  p2v_put_u32 (b, h->count);
}

int
p2v_parse_hashes (const void *p, size_t len, struct p2v_hashes *h)
{
  struct p2v_rbuf b;

  p2v_rbuf_init (&b, p, len);
  p2v_get_u32 (&b, &h->disk);
  p2v_get_u64 (&b, &h->offset);
  p2v_get_u32 (&b, &h->count);
  if (h->count == 0 || h->count > P2V_MAX_HASHES ||
      p2v_get_span (&b, &h->hashes, (size_t) h->count * P2V_HASH_LEN) == -1 ||
      p2v_rbuf_done (&b) == -1)
    return -1;
  return 0;
}

void
p2v_put_select (struct p2v_wbuf *b, const struct p2v_select *sel)
{
  p2v_put_u32 (b, sel->count);
  for (uint32_t i = 0; i < sel->count; ++i)
    p2v_put_u32 (b, sel->disks[i]);
}

int
p2v_parse_select (const void *p, size_t len, struct p2v_select *sel)
{
  struct p2v_rbuf b;

  p2v_rbuf_init (&b, p, len);
  if (p2v_get_u32 (&b, &sel->count) == -1 || sel->count == 0 ||
      sel->count > P2V_MAX_DISKS)
    return -1;
  for (uint32_t i = 0; i < sel->count; ++i)
    if (p2v_get_u32 (&b, &sel->disks[i]) == -1 ||
        sel->disks[i] >= P2V_MAX_DISKS ||
        (i > 0 && sel->disks[i] <= sel->disks[i - 1]))
      return -1;
  return p2v_rbuf_done (&b);
}

void
p2v_put_stripes (struct p2v_wbuf *b, const struct p2v_stripes *st)
{
  p2v_put_bytes (b, st->token, P2V_TOKEN_LEN);
  p2v_put_u32 (b, st->streams);
}

int
p2v_parse_stripes (const void *p, size_t len, struct p2v_stripes *st)
{
  struct p2v_rbuf b;

  p2v_rbuf_init (&b, p, len);
  if (p2v_get_bytes (&b, st->token, P2V_TOKEN_LEN) == -1 ||
      p2v_get_u32 (&b, &st->streams) == -1 ||
      st->streams > P2V_MAX_STREAMS)
    return -1;
  return p2v_rbuf_done (&b);
}

void
p2v_put_join (struct p2v_wbuf *b, const struct p2v_join *j)
{
  p2v_put_bytes (b, j->token, P2V_TOKEN_LEN);
  p2v_put_u32 (b, j->index);
}

int
p2v_parse_join (const void *p, size_t len, struct p2v_join *j)
{
  struct p2v_rbuf b;

  p2v_rbuf_init (&b, p, len);
  if (p2v_get_bytes (&b, j->token, P2V_TOKEN_LEN) == -1 ||
      p2v_get_u32 (&b, &j->index) == -1 || j->index == 0 ||
      j->index >= P2V_MAX_STREAMS)
    return -1;
  return p2v_rbuf_done (&b);
}

void
p2v_put_ack (struct p2v_wbuf *b, const struct p2v_ack *a)
{
  p2v_put_u32 (b, a->disk);
  p2v_put_u64 (b, a->committed);
  p2v_put_u64 (b, a->chunks);
  p2v_put_u32 (b, a->flags);
}

int
p2v_parse_ack (const void *p, size_t len, struct p2v_ack *a)
{
  struct p2v_rbuf b;

  p2v_rbuf_init (&b, p, len);
  p2v_get_u32 (&b, &a->disk);
  p2v_get_u64 (&b, &a->committed);
  p2v_get_u64 (&b, &a->chunks);
  p2v_get_u32 (&b, &a->flags);
  return p2v_rbuf_done (&b);
}

void
p2v_put_error (struct p2v_wbuf *b, uint32_t code, const char *msg)
{
  p2v_put_u32 (b, code);
  p2v_put_string (b, msg);
}

int
p2v_parse_error (const void *p, size_t len, struct p2v_errmsg *e)
{
  struct p2v_rbuf b;

  p2v_rbuf_init (&b, p, len);
  p2v_get_u32 (&b, &e->code);
  p2v_get_string (&b, &e->message, P2V_MAX_STRING);
  if (p2v_rbuf_done (&b) == -1) {
    free (e->message);
    e->message = NULL;
    return -1;
  }
  return 0;
}

void
p2v_put_session (struct p2v_wbuf *b, const struct p2v_session *s)
{
  p2v_put_u32 (b, s->flags);
  p2v_put_u32 (b, s->ndisks);
  for (uint32_t i = 0; i < s->ndisks && i < P2V_MAX_DISKS; ++i) {
    p2v_put_u64 (b, s->disks[i].committed);
    p2v_put_u64 (b, s->disks[i].chunks);
    p2v_put_u32 (b, s->disks[i].flags);
    p2v_put_u32 (b, s->disks[i].read_errors);
  }
}

int
p2v_parse_session (const void *p, size_t len, struct p2v_session *s)
{
  struct p2v_rbuf b;

  memset (s, 0, sizeof *s);
  p2v_rbuf_init (&b, p, len);
  p2v_get_u32 (&b, &s->flags);
  if (p2v_get_u32 (&b, &s->ndisks) == -1 || s->ndisks == 0 ||
      s->ndisks > P2V_MAX_DISKS)
    return -1;
  for (uint32_t i = 0; i < s->ndisks; ++i) {
    p2v_get_u64 (&b, &s->disks[i].committed);
    p2v_get_u64 (&b, &s->disks[i].chunks);
    p2v_get_u32 (&b, &s->disks[i].flags);
    p2v_get_u32 (&b, &s->disks[i].read_errors);
  }
  return p2v_rbuf_done (&b);
}

void
p2v_put_read_error (struct p2v_wbuf *b, const struct p2v_read_error *e)
{
  p2v_put_u32 (b, e->disk);
  p2v_put_u64 (b, e->offset);
  p2v_put_u64 (b, e->length);
  p2v_put_u32 (b, e->err);
}

int
p2v_parse_read_error (const void *p, size_t len, struct p2v_read_error *e)
{
  struct p2v_rbuf b;

  p2v_rbuf_init (&b, p, len);
  p2v_get_u32 (&b, &e->disk);
  p2v_get_u64 (&b, &e->offset);
  p2v_get_u64 (&b, &e->length);
  p2v_get_u32 (&b, &e->err);
  return p2v_rbuf_done (&b);
}

void
p2v_put_notice (struct p2v_wbuf *b, uint32_t level, const char *msg)
{
  p2v_put_u32 (b, level);
  p2v_put_string (b, msg);
}

int
p2v_parse_notice (const void *p, size_t len, uint32_t *level, char **msg)
{
  struct p2v_rbuf b;

  *msg = NULL;
  p2v_rbuf_init (&b, p, len);
  p2v_get_u32 (&b, level);
  p2v_get_string (&b, msg, P2V_MAX_STRING);
  if (p2v_rbuf_done (&b) == -1) {
    free (*msg);
    *msg = NULL;
    return -1;
  }
  return 0;
}

void
p2v_put_done (struct p2v_wbuf *b, uint32_t version, uint32_t keepalive_ms)
{
  if (version >= 5)
    p2v_put_u32 (b, keepalive_ms);
}

int
p2v_parse_done (const void *p, size_t len, uint32_t version,
                uint32_t *keepalive_ms)
{
  struct p2v_rbuf b;

  *keepalive_ms = 0;
  p2v_rbuf_init (&b, p, len);
  if (version >= 5)
    p2v_get_u32 (&b, keepalive_ms);
  return p2v_rbuf_done (&b) == -1 || *keepalive_ms > P2V_MAX_KEEPALIVE_MS
    ? -1 : 0;
}

void
p2v_put_activity (struct p2v_wbuf *b, const char *what)
{
  p2v_put_string (b, what);
}

int
p2v_parse_activity (const void *p, size_t len, char **what)
{
  struct p2v_rbuf b;

  *what = NULL;
  p2v_rbuf_init (&b, p, len);
  p2v_get_string (&b, what, P2V_MAX_ACTIVITY);
  if (p2v_rbuf_done (&b) == -1) {
    free (*what);
    *what = NULL;
    return -1;
  }
  return 0;
}

bool
p2v_name_valid (const char *name)
{
  size_t i, n = strlen (name);

  if (n == 0 || n > P2V_MAX_NAME)
    return false;
  for (i = 0; i < n; ++i) {
    char c = name[i];
    bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                 (c >= '0' && c <= '9');

    if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
      return false;
  }
  return true;
}

const char *
p2v_msg_name (uint32_t type)
{
  static const char *const names[] = {
    [P2V_MSG_HELLO] = "HELLO", [P2V_MSG_INVENTORY] = "INVENTORY",
    [P2V_MSG_DISK_BEGIN] = "DISK_BEGIN", [P2V_MSG_CHUNK] = "CHUNK",
    [P2V_MSG_DISK_END] = "DISK_END", [P2V_MSG_DONE] = "DONE",
    [P2V_MSG_ACK] = "ACK", [P2V_MSG_ERROR] = "ERROR",
    [P2V_MSG_SESSION] = "SESSION", [P2V_MSG_READ_ERROR] = "READ_ERROR",
    [P2V_MSG_NOTICE] = "NOTICE", [P2V_MSG_KEEPALIVE] = "KEEPALIVE",
    [P2V_MSG_PASS_BEGIN] = "PASS_BEGIN", [P2V_MSG_PASS_END] = "PASS_END",
    [P2V_MSG_HASH_REQUEST] = "HASH_REQUEST", [P2V_MSG_HASHES] = "HASHES",
    [P2V_MSG_SELECT] = "SELECT", [P2V_MSG_STRIPES] = "STRIPES",
    [P2V_MSG_JOIN] = "JOIN",
  };

  if (type < sizeof names / sizeof names[0] && names[type])
    return names[type];
  return "unknown";
}
