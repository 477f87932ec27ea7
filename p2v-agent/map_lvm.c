/* LVM2 physical volumes.  The label, the metadata areas and everything
 * before the first extent are always read.  The VG's text metadata (its
 * checksums verified) then says which extents of this PV each LV uses:
 * extents no LV uses are holes; a plain linear LV lying in one piece on
 * this PV is mapped like a partition, by the map for what it holds (ext4,
 * swap, ...); every other LV segment on this PV (striped, mirrored, raid
 * images, thin pool data, cache, snapshot origins and COW stores) is
 * read whole with zero detection.
 *
 * Every PV carries a copy of its whole VG's metadata, so a PV of a VG
 * spanning several PVs is mapped the same way, but only LVs wholly on one
 * PV get a filesystem map.  Any doubt (a checksum, an ignored or
 * precommitted metadata area, two areas that disagree, text we cannot
 * parse, a segment type that refers to this PV in a way not known here)
 * falls back to reading the whole PV.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#include "buf.h"
#include "cleanup.h"
#include "fileio.h"
#include "log.h"
#include "agent.h"
#include "map.h"
#include "vector.h"

#define SECTOR 512
#define LABEL_SCAN_SECTORS 4
#define MDA_HEADER_SIZE 512
#define MAX_METADATA (4 * 1024 * 1024)
#define MAX_NODES (256 * 1024)   /* 10 MiB; real metadata needs far fewer */
#define MAX_DEPTH 16
#define MAX_LOCNS 8             /* areas of one kind listed in a label */
#define LVM_INITIAL_CRC 0xf597a6cfU
#define RAW_LOCN_IGNORED 0x1U
#define FMTT_MAGIC " LVM2 x[5A%r0N*>"  /* 16 bytes */

/* Decline with a reason. */
static enum agent_map_result __attribute__ ((format (printf, 3, 4)))
decline (char *why, size_t whylen, const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (why, whylen, fmt, ap);
  va_end (ap);
  return AGENT_MAP_FALLBACK;
}

/* CRC-32 (reflected, polynomial 0xedb88320) without the final
 * inversion, seeded with LVM_INITIAL_CRC: LVM's calc_crc.
 */
static uint32_t
lvm_crc (uint32_t crc, const uint8_t *p, size_t n)
{
  while (n--) {
    crc ^= *p++;
    for (int k = 0; k < 8; ++k)
      crc = (crc >> 1) ^ (0xedb88320U & -(crc & 1));
  }
  return crc;
}

/* LVM's on-disk integers are little-endian; p2v_rbuf's are big-endian. */
static int
get_le32 (struct p2v_rbuf *b, uint32_t *v)
{
  const uint8_t *p;

  *v = 0;
  if (p2v_get_span (b, &p, 4) == -1)
    return -1;
  *v = p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 |
       (uint32_t) p[3] << 24;
  return 0;
}

static int
get_le64 (struct p2v_rbuf *b, uint64_t *v)
{
  uint32_t lo, hi;

  *v = 0;
  if (get_le32 (b, &lo) == -1 || get_le32 (b, &hi) == -1)
    return -1;
  *v = (uint64_t) hi << 32 | lo;
  return 0;
}

/* ---- The label and the metadata area headers ---- */

struct disk_locn {
  uint64_t offset, size;        /* bytes from the PV's start */
};

struct pv_label {
  uint8_t uuid[32];
  struct disk_locn da[MAX_LOCNS], mda[MAX_LOCNS], ba[MAX_LOCNS];
  size_t nda, nmda, nba;
};

/* A list of disk_locn ended by one with offset 0. */
static int
get_locns (struct p2v_rbuf *b, struct disk_locn *l, size_t *n)
{
  for (*n = 0;;) {
    uint64_t offset, size;

    if (get_le64 (b, &offset) == -1 || get_le64 (b, &size) == -1)
      return -1;
    if (offset == 0)
      return 0;
    if (*n == MAX_LOCNS)
      return -1;
    l[(*n)++] = (struct disk_locn) { offset, size };
  }
}

/* label_header (LABELONE, sector, crc, offset, "LVM2 001") and the
 * pv_header it points to: uuid, size, data areas, metadata areas, then
 * the extension with bootloader areas.  All inside one sector.
 */
static enum agent_map_result
parse_label (const uint8_t *s, uint64_t sector, struct pv_label *pv,
             char *why, size_t whylen)
{
  struct p2v_rbuf b;
  uint64_t where, dev_size;
  uint32_t crc, offset, version = 0, flags;

  p2v_rbuf_init (&b, s + 8, SECTOR - 8);
  get_le64 (&b, &where);
  get_le32 (&b, &crc);
  get_le32 (&b, &offset);
  if (where != sector || memcmp (s + 24, "LVM2 001", 8) != 0)
    return decline (why, whylen, "the LVM2 label in sector %" PRIu64
                    " is not an LVM2 label for that sector", sector);
  if (crc != lvm_crc (LVM_INITIAL_CRC, s + 20, SECTOR - 20))
    return decline (why, whylen, "the LVM2 label fails its checksum");
  if (offset < 32 || offset >= SECTOR)
    return decline (why, whylen, "the LVM2 label points outside itself");
  p2v_rbuf_init (&b, s + offset, SECTOR - offset);
  pv->nba = 0;
  if (p2v_get_bytes (&b, pv->uuid, sizeof pv->uuid) == -1 ||
      get_le64 (&b, &dev_size) == -1 ||
      get_locns (&b, pv->da, &pv->nda) == -1 ||
      get_locns (&b, pv->mda, &pv->nmda) == -1 ||
      get_le32 (&b, &version) == -1 || get_le32 (&b, &flags) == -1 ||
      (version > 0 && get_locns (&b, pv->ba, &pv->nba) == -1))
    return decline (why, whylen, "the LVM2 PV header does not fit its label");
  return AGENT_MAP_OK;
}

static enum agent_map_result
read_label (const struct agent_region *r, struct pv_label *pv, char *why,
            size_t whylen)
{
  uint8_t buf[LABEL_SCAN_SECTORS * SECTOR];

  if (r->length < sizeof buf ||
      p2v_pread_full (r->fd, buf, sizeof buf, r->offset) != sizeof buf)
    return decline (why, whylen, "cannot read the LVM2 label");
  for (unsigned i = 0; i < LABEL_SCAN_SECTORS; ++i)
    if (memcmp (buf + i * SECTOR, "LABELONE", 8) == 0)
      return parse_label (buf + i * SECTOR, i, pv, why, whylen);
  return decline (why, whylen, "no LVM2 label in the first 4 sectors");
}

struct raw_locn {
  uint64_t offset, size;        /* from the start of the metadata area */
  uint32_t checksum, flags;
};

struct mda {
  uint64_t start, size;
  struct raw_locn rl[2];        /* committed, precommitted */
};

static void
get_raw_locn (struct p2v_rbuf *b, struct raw_locn *l)
{
  get_le64 (b, &l->offset);
  get_le64 (b, &l->size);
  get_le32 (b, &l->checksum);
  get_le32 (b, &l->flags);
}

static enum agent_map_result
read_mda_header (const struct agent_region *r, const struct disk_locn *where,
                 struct mda *m, char *why, size_t whylen)
{
  uint8_t h[MDA_HEADER_SIZE];
  struct p2v_rbuf b;
  uint32_t crc, version;

  if (where->offset >= r->length || where->size <= MDA_HEADER_SIZE ||
      where->size > r->length - where->offset ||
      p2v_pread_full (r->fd, h, sizeof h, r->offset + where->offset)
      != sizeof h)
    return decline (why, whylen, "the metadata area at %" PRIu64
                    " lies outside the PV", where->offset);
  p2v_rbuf_init (&b, h, sizeof h);
  get_le32 (&b, &crc);
  if (crc != lvm_crc (LVM_INITIAL_CRC, h + 4, sizeof h - 4))
    return decline (why, whylen, "the metadata area header at %" PRIu64
                    " fails its checksum", where->offset);
  p2v_rbuf_init (&b, h + 20, sizeof h - 20);
  get_le32 (&b, &version);
  get_le64 (&b, &m->start);
  get_le64 (&b, &m->size);
  get_raw_locn (&b, &m->rl[0]);
  get_raw_locn (&b, &m->rl[1]);
  if (memcmp (h + 4, FMTT_MAGIC, 16) != 0 || version != 1 ||
      m->start != where->offset || m->size != where->size)
    return decline (why, whylen, "the metadata area header at %" PRIu64
                    " is not one this map knows", where->offset);
  if (m->rl[0].flags & RAW_LOCN_IGNORED)
    return decline (why, whylen, "a metadata area is marked ignored (its "
                    "copy may be out of date)");
  if (m->rl[1].offset != 0 || m->rl[1].size != 0)
    return decline (why, whylen, "a metadata update was interrupted "
                    "(precommitted metadata present)");
  if (m->rl[0].offset == 0 && m->rl[0].size == 0)
    return decline (why, whylen, "no VG metadata on this PV");
  return AGENT_MAP_OK;
}

/* The committed metadata text of one area, which wraps around to just
 * after the header when it reaches the end of the area.
 */
static enum agent_map_result
read_text (const struct agent_region *r, const struct mda *m, char **text,
           size_t *len, char *why, size_t whylen)
{
  const struct raw_locn *rl = &m->rl[0];
  uint64_t first, wrap;
  char *t;

  if (rl->size == 0 || rl->size > MAX_METADATA)
    return decline (why, whylen, "the VG metadata size (%" PRIu64 " bytes) "
                    "is out of range", rl->size);
  if (rl->offset < MDA_HEADER_SIZE || rl->offset >= m->size)
    return decline (why, whylen, "the VG metadata lies outside its area");
  first = rl->size < m->size - rl->offset ? rl->size : m->size - rl->offset;
  wrap = rl->size - first;
  if (wrap > rl->offset - MDA_HEADER_SIZE)
    return decline (why, whylen, "the VG metadata overlaps itself");
  if ((t = malloc (rl->size + 1)) == NULL) {
    p2v_error ("out of memory reading the LVM metadata of %s", r->name);
    return AGENT_MAP_ERROR;
  }
  if (p2v_pread_full (r->fd, t, first, r->offset + m->start + rl->offset)
      != (ssize_t) first ||
      p2v_pread_full (r->fd, t + first, wrap,
                      r->offset + m->start + MDA_HEADER_SIZE)
      != (ssize_t) wrap) {
    free (t);
    return decline (why, whylen, "cannot read the VG metadata");
  }
  if (lvm_crc (LVM_INITIAL_CRC, (uint8_t *) t, rl->size) != rl->checksum) {
    free (t);
    return decline (why, whylen, "the VG metadata fails its checksum");
  }
  t[rl->size] = '\0';
  *text = t;
  *len = strlen (t);
  return AGENT_MAP_OK;
}

/* Read the metadata of the first area; any other area must hold the
 * same (same size and checksum), or we do not know which is current.
 */
static enum agent_map_result
read_metadata (const struct agent_region *r, const struct pv_label *pv,
               char **text, size_t *len, char *why, size_t whylen)
{
  struct mda m[MAX_LOCNS];
  enum agent_map_result res;

  if (pv->nmda == 0)
    return decline (why, whylen, "no metadata area on this PV (its VG's "
                    "metadata is only on other PVs)");
  for (size_t i = 0; i < pv->nmda; ++i) {
    if ((res = read_mda_header (r, &pv->mda[i], &m[i], why, whylen))
        != AGENT_MAP_OK)
      return res;
    if (m[i].rl[0].size != m[0].rl[0].size ||
        m[i].rl[0].checksum != m[0].rl[0].checksum)
      return decline (why, whylen, "its metadata areas disagree");
  }
  return read_text (r, &m[0], text, len, why, whylen);
}

/* ---- The text format: name { key = value ... }, values are numbers,
 * "strings" or [lists]; # comments.  Parsed into a flat array of
 * nodes in document order, so a node's subtree is [i, end).
 */

enum kind { K_SECTION, K_NUMBER, K_STRING, K_LIST };

struct node {
  uint32_t name, namelen;       /* in the text; namelen 0 in lists */
  uint32_t str, strlen;         /* K_STRING: decoded in place, NUL-ended */
  int64_t num;                  /* K_NUMBER */
  uint32_t next;                /* next sibling, 0 if none */
  uint32_t end;                 /* one past the last descendant */
  enum kind kind;
};
DEFINE_VECTOR_TYPE (lvm_nodes, struct node);

struct parser {
  char *t;
  size_t len, pos;
  struct lvm_nodes n;
  bool oom;
};

static int
peek (const struct parser *p)
{
  return p->pos < p->len ? (unsigned char) p->t[p->pos] : -1;
}

static void
skip_space (struct parser *p)
{
  for (int c; (c = peek (p)) != -1; p->pos++)
    if (c == '#')
      while (peek (p) != -1 && peek (p) != '\n')
        p->pos++;
    else if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
      return;
}

static bool
ident_char (int c)
{
  return c != -1 && (isalnum (c) || c == '_' || c == '.' || c == '+' ||
                     c == '-');
}

static int
new_node (struct parser *p, enum kind kind, uint32_t *idx)
{
  if (p->n.len >= MAX_NODES)
    return -1;
  if (lvm_nodes_append (&p->n, (struct node) { .kind = kind }) == -1) {
    p->oom = true;
    return -1;
  }
  *idx = p->n.len - 1;
  return 0;
}

static int
parse_string (struct parser *p, uint32_t idx)
{
  size_t out = ++p->pos, start = out;

  for (int c;;) {
    if ((c = peek (p)) == -1)
      return -1;
    p->pos++;
    if (c == '"')
      break;
    if (c == '\\' && (c = peek (p)) != -1)
      p->pos++;
    if (c == -1)
      return -1;
    p->t[out++] = c;
  }
  p->t[out] = '\0';             /* out < pos: the closing quote is behind */
  p->n.ptr[idx].str = start;
  p->n.ptr[idx].strlen = out - start;
  return 0;
}

static int
parse_number (struct parser *p, uint32_t idx)
{
  bool neg = peek (p) == '-';
  int64_t v = 0;
  size_t digits = 0;

  if (neg)
    p->pos++;
  for (int c; (c = peek (p)) != -1 && isdigit (c); p->pos++, digits++) {
    if (v > (INT64_MAX - (c - '0')) / 10)
      return -1;
    v = v * 10 + (c - '0');
  }
  if (digits == 0 || ident_char (peek (p)))    /* a float, 12abc */
    return -1;
  p->n.ptr[idx].num = neg ? -v : v;
  return 0;
}

static int
parse_scalar (struct parser *p, uint32_t idx)
{
  int c = peek (p);

  if (c == '"') {
    p->n.ptr[idx].kind = K_STRING;
    return parse_string (p, idx);
  }
  if (c == '-' || (c != -1 && isdigit (c))) {
    p->n.ptr[idx].kind = K_NUMBER;
    return parse_number (p, idx);
  }
  return -1;
}

static int
parse_list (struct parser *p)
{
  uint32_t prev = 0, idx;

  p->pos++;
  skip_space (p);
  if (peek (p) == ']') {
    p->pos++;
    return 0;
  }
  for (;;) {
    if (new_node (p, K_NUMBER, &idx) == -1 || parse_scalar (p, idx) == -1)
      return -1;
    p->n.ptr[idx].end = idx + 1;
    if (prev)
      p->n.ptr[prev].next = idx;
    prev = idx;
    skip_space (p);
    if (peek (p) == ']')
      break;
    if (peek (p) != ',')
      return -1;
    p->pos++;
    skip_space (p);
  }
  p->pos++;
  return 0;
}

/* The items of a section, up to its '}' (or the end, at the top). */
static int
parse_body (struct parser *p, unsigned depth, bool braced)
{
  uint32_t prev = 0, idx;

  for (;;) {
    size_t start;
    int c;

    skip_space (p);
    if ((c = peek (p)) == -1 || c == '}') {
      if ((c == -1) == braced)
        return -1;
      p->pos++;
      return 0;
    }
    if (!ident_char (c) || new_node (p, K_SECTION, &idx) == -1)
      return -1;
    for (start = p->pos; ident_char (peek (p)); p->pos++)
      ;
    p->n.ptr[idx].name = start;
    p->n.ptr[idx].namelen = p->pos - start;
    if (prev)
      p->n.ptr[prev].next = idx;
    prev = idx;
    skip_space (p);
    c = peek (p);
    if (c == '{' && depth < MAX_DEPTH) {
      p->pos++;
      if (parse_body (p, depth + 1, true) == -1)
        return -1;
    }
    else if (c == '=') {
      p->pos++;
      skip_space (p);
      if (peek (p) == '[') {
        p->n.ptr[idx].kind = K_LIST;
        if (parse_list (p) == -1)
          return -1;
      }
      else if (parse_scalar (p, idx) == -1)
        return -1;
    }
    else
      return -1;
    p->n.ptr[idx].end = p->n.len;
  }
}

static int
parse_text (struct parser *p, char *text, size_t len)
{
  uint32_t root;

  p->t = text;
  p->len = len;
  p->pos = 0;
  if (new_node (p, K_SECTION, &root) == -1 || parse_body (p, 0, false) == -1)
    return -1;
  p->n.ptr[root].end = p->n.len;
  return 0;
}

static const struct node *
node (const struct parser *p, uint32_t i)
{
  return &p->n.ptr[i];
}

static uint32_t
first_child (const struct parser *p, uint32_t i)
{
  return i + 1 < node (p, i)->end ? i + 1 : 0;
}

static bool
name_is (const struct parser *p, uint32_t i, const char *s, size_t len)
{
  return node (p, i)->namelen == len &&
         memcmp (p->t + node (p, i)->name, s, len) == 0;
}

/* Is string node s equal to the name of node named? */
static bool
names (const struct parser *p, uint32_t s, uint32_t named)
{
  return node (p, s)->kind == K_STRING &&
         name_is (p, named, p->t + node (p, s)->str, node (p, s)->strlen);
}

/* The one child of section i called name, of that kind; 0 if there is
 * none, or more than one (a duplicate key is a reason for doubt).
 */
static uint32_t
child (const struct parser *p, uint32_t i, const char *name, enum kind kind)
{
  uint32_t found = 0;

  for (uint32_t c = first_child (p, i); c; c = node (p, c)->next)
    if (name_is (p, c, name, strlen (name))) {
      if (found)
        return 0;
      found = c;
    }
  return found && node (p, found)->kind == kind ? found : 0;
}

static bool
get_num (const struct parser *p, uint32_t i, const char *name, uint64_t *v)
{
  uint32_t c = child (p, i, name, K_NUMBER);

  *v = c && node (p, c)->num >= 0 ? (uint64_t) node (p, c)->num : 0;
  return c && node (p, c)->num >= 0;
}

static const char *
get_str (const struct parser *p, uint32_t i, const char *name)
{
  uint32_t c = child (p, i, name, K_STRING);

  return c ? p->t + node (p, c)->str : NULL;
}

static bool
list_has (const struct parser *p, uint32_t i, const char *name,
          const char *s)
{
  uint32_t l = child (p, i, name, K_LIST);

  for (uint32_t c = l ? first_child (p, l) : 0; c; c = node (p, c)->next)
    if (node (p, c)->kind == K_STRING && strcmp (p->t + node (p, c)->str,
                                                 s) == 0)
      return true;
  return false;
}

/* The only subsection of i (the VG in the text, ...). */
static uint32_t
only_section (const struct parser *p, uint32_t i)
{
  uint32_t found = 0;

  for (uint32_t c = first_child (p, i); c; c = node (p, c)->next)
    if (node (p, c)->kind == K_SECTION) {
      if (found)
        return 0;
      found = c;
    }
  return found;
}

/* ---- What the metadata says about this PV ---- */

struct lvm_area {
  uint64_t pe, count;           /* extents on this PV */
  uint32_t lv;                  /* its LV's node */
  bool plain;                   /* the whole of a plain linear LV */
};
DEFINE_VECTOR_TYPE (lvm_areas, struct lvm_area);

struct pvmap {
  const struct agent_region *r;
  struct agent_extents *out;
  struct parser p;
  uint32_t vg, pv;              /* nodes */
  uint64_t ext, pe_start, pe_count;     /* bytes, bytes, extents */
  struct lvm_areas areas;
  char *why;
  size_t whylen;
};

static enum agent_map_result
find_pv (struct pvmap *m, const struct pv_label *pv)
{
  const struct parser *p = &m->p;
  uint32_t pvs;

  if ((m->vg = only_section (p, 0)) == 0 ||
      (pvs = child (p, m->vg, "physical_volumes", K_SECTION)) == 0)
    return decline (m->why, m->whylen, "the VG metadata has no single VG "
                    "with physical volumes");
  m->pv = 0;
  for (uint32_t c = first_child (p, pvs); c; c = node (p, c)->next) {
    const char *id = get_str (p, c, "id");
    char flat[33];
    size_t n = 0;

    for (; id && *id && n < sizeof flat - 1; ++id)
      if (*id != '-')
        flat[n++] = *id;
    if (node (p, c)->kind != K_SECTION || id == NULL || *id || n != 32 ||
        memcmp (flat, pv->uuid, 32) != 0)
      continue;
    if (m->pv)
      return decline (m->why, m->whylen, "this PV is listed twice");
    m->pv = c;
  }
  if (m->pv == 0)
    return decline (m->why, m->whylen, "this PV is not in the VG metadata "
                    "it carries");
  return AGENT_MAP_OK;
}

/* extent_size, pe_start, pe_count, checked against the region. */
static enum agent_map_result
pv_geometry (struct pvmap *m, const struct pv_label *pv)
{
  const struct parser *p = &m->p;
  uint64_t ext, start;

  if (!get_num (p, m->vg, "extent_size", &ext) || ext == 0 ||
      ext > UINT32_MAX || !get_num (p, m->pv, "pe_start", &start) ||
      start > m->r->length / SECTOR ||
      !get_num (p, m->pv, "pe_count", &m->pe_count))
    return decline (m->why, m->whylen, "the VG metadata lacks or has bad "
                    "extent_size, pe_start or pe_count");
  m->ext = ext * SECTOR;
  m->pe_start = start * SECTOR;
  if (m->pe_count > (m->r->length - m->pe_start) / m->ext)
    return decline (m->why, m->whylen, "the PV's extents reach past the "
                    "end of its partition");
  if (pv->nda != 1 || pv->da[0].offset != m->pe_start)
    return decline (m->why, m->whylen, "the label's data area does not "
                    "start at pe_start");
  if (list_has (p, m->pv, "flags", "MISSING"))
    return decline (m->why, m->whylen, "the VG metadata marks this PV "
                    "missing");
  for (size_t i = 0; i < pv->nmda; ++i)
    if (pv->mda[i].offset < m->pe_start + m->pe_count * m->ext &&
        pv->mda[i].offset + pv->mda[i].size > m->pe_start)
      return decline (m->why, m->whylen, "a metadata area overlaps the "
                      "extents");
  return AGENT_MAP_OK;
}

/* The areas of segment s (of LV lv) on this PV.  A segment is simple if
 * it is linear (striped, one stripe) on this PV.  Segments of other
 * types have no areas on PVs (they stack on hidden LVs), except mirrors
 * (pvmove): anything else naming this PV is a reason for doubt.
 */
static enum agent_map_result
segment_areas (struct pvmap *m, uint32_t lv, uint32_t s, bool *simple)
{
  const struct parser *p = &m->p;
  const char *type = get_str (p, s, "type");
  bool striped = type && strcmp (type, "striped") == 0;
  uint64_t count, nareas, len, pairs = 0, refs = 0, found = 0;
  uint32_t l, a, b;

  *simple = false;
  for (uint32_t i = s + 1; i < node (p, s)->end; ++i)
    refs += names (p, i, m->pv);
  if (refs == 0)
    return AGENT_MAP_OK;        /* on other PVs, or stacked on LVs */
  if (!striped && !(type && strcmp (type, "mirror") == 0))
    return decline (m->why, m->whylen, "LV %.*s: a segment of type %s "
                    "refers to this PV", (int) node (p, lv)->namelen,
                    p->t + node (p, lv)->name, type ? type : "(none)");
  if (!get_num (p, s, "extent_count", &count) || count == 0 ||
      !get_num (p, s, striped ? "stripe_count" : "mirror_count", &nareas) ||
      nareas == 0 || (striped && count % nareas != 0) ||
      (l = child (p, s, striped ? "stripes" : "mirrors", K_LIST)) == 0)
    return decline (m->why, m->whylen, "LV %.*s: a %s segment this map does "
                    "not understand", (int) node (p, lv)->namelen,
                    p->t + node (p, lv)->name, type);
  len = striped ? count / nareas : count;
  for (a = first_child (p, l); a; a = node (p, b)->next, ++pairs) {
    if ((b = node (p, a)->next) == 0 || node (p, a)->kind != K_STRING ||
        node (p, b)->kind != K_NUMBER || node (p, b)->num < 0)
      return decline (m->why, m->whylen, "LV %.*s: a bad area list",
                      (int) node (p, lv)->namelen, p->t + node (p, lv)->name);
    if (names (p, a, m->pv)) {
      if (lvm_areas_append (&m->areas, (struct lvm_area) {
            (uint64_t) node (p, b)->num, len, lv, false }) == -1) {
        p2v_error ("out of memory mapping %s", m->r->name);
        return AGENT_MAP_ERROR;
      }
      found++;
    }
  }
  if (pairs != nareas || found != refs)
    return decline (m->why, m->whylen, "LV %.*s: its area list does not "
                    "match its segment", (int) node (p, lv)->namelen,
                    p->t + node (p, lv)->name);
  *simple = striped && nareas == 1 && found == 1;
  return AGENT_MAP_OK;
}

/* Does any string in the VG other than inside LV lv name it (as a
 * snapshot origin, thin pool, cache, raid or mirror image, ...)?
 */
static bool
referenced (const struct parser *p, uint32_t vg, uint32_t lv)
{
  for (uint32_t i = vg + 1; i < node (p, vg)->end; ++i) {
    if (i == lv)
      i = node (p, lv)->end - 1;
    else if (names (p, i, lv))
      return true;
  }
  return false;
}

/* All areas of one LV on this PV; plain if it is one visible linear
 * piece on this PV, in order, used by nothing else.
 */
static enum agent_map_result
lv_areas (struct pvmap *m, uint32_t lv)
{
  const struct parser *p = &m->p;
  size_t first = m->areas.len;
  uint64_t nsegs, le = 0, segs = 0;
  bool plain = list_has (p, lv, "status", "VISIBLE");
  enum agent_map_result res;

  if (!get_num (p, lv, "segment_count", &nsegs))
    return decline (m->why, m->whylen, "LV %.*s has no segment_count",
                    (int) node (p, lv)->namelen, p->t + node (p, lv)->name);
  for (uint32_t s = first_child (p, lv); s; s = node (p, s)->next) {
    uint64_t start, count;
    bool simple;
    size_t n = m->areas.len;

    if (node (p, s)->kind != K_SECTION)
      continue;
    if ((res = segment_areas (m, lv, s, &simple)) != AGENT_MAP_OK)
      return res;
    if (!get_num (p, s, "start_extent", &start) ||
        !get_num (p, s, "extent_count", &count))
      return decline (m->why, m->whylen, "LV %.*s: a segment without its "
                      "extents", (int) node (p, lv)->namelen,
                      p->t + node (p, lv)->name);
    plain = plain && simple && start == le &&
            (n == first || m->areas.ptr[n - 1].pe + m->areas.ptr[n - 1].count
             == m->areas.ptr[n].pe);
    le += count;
    segs++;
  }
  if (segs != nsegs)
    return decline (m->why, m->whylen, "LV %.*s: segment_count is wrong",
                    (int) node (p, lv)->namelen, p->t + node (p, lv)->name);
  plain = plain && m->areas.len > first && !referenced (p, m->vg, lv);
  for (size_t i = first; i < m->areas.len; ++i)
    m->areas.ptr[i].plain = plain;
  return AGENT_MAP_OK;
}

static int
by_pe (const void *a, const void *b)
{
  const struct lvm_area *x = a, *y = b;

  return x->pe < y->pe ? -1 : x->pe > y->pe;
}

static enum agent_map_result
collect_areas (struct pvmap *m)
{
  const struct parser *p = &m->p;
  uint32_t lvs = child (p, m->vg, "logical_volumes", K_SECTION);
  enum agent_map_result res;

  /* No LVs at all, or a logical_volumes we cannot read? */
  for (uint32_t c = first_child (p, m->vg); c && lvs == 0;
       c = node (p, c)->next)
    if (name_is (p, c, "logical_volumes", 15))
      return decline (m->why, m->whylen, "logical_volumes is not one "
                      "section");

  for (uint32_t lv = lvs ? first_child (p, lvs) : 0; lv;
       lv = node (p, lv)->next)
    if (node (p, lv)->kind == K_SECTION &&
        (res = lv_areas (m, lv)) != AGENT_MAP_OK)
      return res;
  for (size_t i = 0; i < m->areas.len; ++i) {
    const struct lvm_area *a = &m->areas.ptr[i];

    if (a->pe > m->pe_count || a->count > m->pe_count - a->pe)
      return decline (m->why, m->whylen, "an LV's extents lie past the "
                      "PV's last extent");
  }
  if (m->areas.len > 1)
    qsort (m->areas.ptr, m->areas.len, sizeof *m->areas.ptr, by_pe);
  for (size_t i = 1; i < m->areas.len; ++i)
    if (m->areas.ptr[i - 1].pe + m->areas.ptr[i - 1].count >
        m->areas.ptr[i].pe)
      return decline (m->why, m->whylen, "two LVs claim the same extents");
  return AGENT_MAP_OK;
}

/* ---- Adding extents ---- */

/* Extents of the LV's own map, added to out. */
static int
add_all (struct agent_extents *out, const struct agent_region *sub,
         const struct agent_extents *v)
{
  for (size_t i = 0; i < v->len; ++i)
    if (agent_extent_add (out, sub, v->ptr[i].offset, v->ptr[i].length)
        == -1)
      return -1;
  return 0;
}

/* A plain LV is a region of its own, mapped by the map for its content;
 * if there is none, or it declines, the LV is read whole.  An LV holding
 * another PV is read whole rather than recursing.  The LV's extents go
 * to a list of their own, then to out clipped to the LV (agent_extent_add
 * may sort and merge the list it adds to).
 */
static enum agent_map_result
map_lv (struct pvmap *m, uint32_t lv, uint64_t pe, uint64_t count)
{
  const struct parser *p = &m->p;
  char name[256], type[32], size[32], bytes[32];
  struct agent_region sub = {
    m->r->fd, m->r->path, name, m->r->offset + m->pe_start + pe * m->ext,
    count * m->ext, type
  };
  struct agent_map_outcome o;
  struct agent_extents v = { 0 };
  enum agent_map_result res = AGENT_MAP_OK;

  snprintf (name, sizeof name, "%s LV %.*s", m->r->name,
            (int) node (p, lv)->namelen, p->t + node (p, lv)->name);
  agent_probe_type (sub.fd, sub.offset, sub.length, type, sizeof type);
  if (agent_map_step (&sub, strcmp (type, "LVM2_member") == 0
                      ? "a PV inside an LV" : NULL, sub.offset, &v, &o) == -1)
    res = AGENT_MAP_ERROR;
  else if (o.how != AGENT_MAPPED)
    p2v_info ("  %s: %s, %s; zero detection: %s", name,
              p2v_human_size (sub.length, size, sizeof size),
              type[0] ? type : "unrecognised", o.why);
  else {
    agent_extents_merge (&v);
    p2v_info ("  %s: %s, %s; %s, %s to read", name,
              p2v_human_size (sub.length, size, sizeof size), type,
              o.ops->name,
              p2v_human_size (agent_extents_bytes (&v, sub.offset,
                                                   sub.length),
                              bytes, sizeof bytes));
  }
  if (res == AGENT_MAP_OK && add_all (m->out, &sub, &v) == -1)
    res = AGENT_MAP_ERROR;
  agent_extents_reset (&v);
  return res;
}

static enum agent_map_result
add_extents (struct pvmap *m, const struct pv_label *pv)
{
  const struct agent_region *r = m->r;
  uint64_t data_end = m->pe_start + m->pe_count * m->ext;
  int e = 0;

  /* Label, metadata areas, bootloader area: all before pe_start, except
   * a second metadata area at the end, after the last extent.
   */
  e |= agent_extent_add (m->out, r, r->offset, m->pe_start);
  e |= agent_extent_add (m->out, r, r->offset + data_end,
                         r->length - data_end);
  for (size_t i = 0; i < pv->nmda; ++i)
    e |= agent_extent_add (m->out, r, r->offset + pv->mda[i].offset,
                           pv->mda[i].size);
  for (size_t i = 0; i < pv->nba; ++i)
    if (pv->ba[i].offset < r->length)
      e |= agent_extent_add (m->out, r, r->offset + pv->ba[i].offset,
                             pv->ba[i].size);
  if (e)
    return AGENT_MAP_ERROR;
  for (size_t i = 0; i < m->areas.len; ++i) {
    const struct lvm_area *a = &m->areas.ptr[i];

    if (a->plain) {
      uint64_t count = a->count;
      enum agent_map_result res;

      /* Its later segments follow on the PV (lv_areas checked). */
      while (i + 1 < m->areas.len && m->areas.ptr[i + 1].lv == a->lv)
        count += m->areas.ptr[++i].count;
      if ((res = map_lv (m, a->lv, a->pe, count)) != AGENT_MAP_OK)
        return res;
    }
    else if (agent_extent_add (m->out, r, r->offset + m->pe_start +
                               a->pe * m->ext, a->count * m->ext) == -1)
      return AGENT_MAP_ERROR;
  }
  return AGENT_MAP_OK;
}

static enum agent_map_result
map_lvm (const struct agent_region *r, struct agent_extents *out, char *why,
         size_t whylen)
{
  struct pvmap m = { .r = r, .out = out, .why = why, .whylen = whylen };
  struct pv_label pv;
  CLEANUP_FREE char *text = NULL;
  size_t len = 0;
  enum agent_map_result res;

  if ((res = read_label (r, &pv, why, whylen)) != AGENT_MAP_OK ||
      (res = read_metadata (r, &pv, &text, &len, why, whylen))
      != AGENT_MAP_OK)
    return res;
  if (parse_text (&m.p, text, len) == -1) {
    if (m.p.oom)
      p2v_error ("out of memory parsing the LVM metadata of %s", r->name);
    res = m.p.oom ? AGENT_MAP_ERROR
      : decline (why, whylen, "cannot parse the VG metadata (near byte %zu)",
                 m.p.pos);
  }
  else if ((res = find_pv (&m, &pv)) == AGENT_MAP_OK &&
           (res = pv_geometry (&m, &pv)) == AGENT_MAP_OK &&
           (res = collect_areas (&m)) == AGENT_MAP_OK)
    res = add_extents (&m, &pv);
  lvm_nodes_reset (&m.p.n);
  lvm_areas_reset (&m.areas);
  return res;
}

static const char *const lvm_types[] = { "LVM2_member", NULL };
static const struct agent_map_ops lvm_map = {
  .name = "LVM2 PV extents", .types = lvm_types, .map = map_lvm,
};
AGENT_MAP_REGISTER (lvm_map)
