/* VLANs to virtual NICs: the VLANs and bonds of Debian's ifupdown files,
 * the ifupdown text with each VLAN a plain interface, and interfaces
 * renamed in any other configuration text (iptables, nftables, shell
 * variables).  Pure functions of the text; net.c chooses the names.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fixup.h"

static bool
in_names (const struct fixup_names *v, const char *w, size_t n)
{
  for (size_t i = 0; v && i < v->len; ++i)
    if (strlen (v->ptr[i]) == n && memcmp (v->ptr[i], w, n) == 0)
      return true;
  return false;
}

/* What an interface name is made of: anything else ends it, so that
 * bond0.10 is found in bond0.10:1, "bond0.10" and conf/bond0.10/, but
 * not in bond0.100.
 */
static bool
is_word_char (char c)
{
  return isalnum ((unsigned char) c) || c == '_' || c == '.' || c == '-';
}

static size_t
word_run (const char *p, const char *end)
{
  size_t n = 0;

  while (p + n < end && is_word_char (p[n]))
    n++;
  return n;
}

static const struct fixup_rename *
rename_of (const char *w, size_t n, const struct fixup_rename *r, size_t nr)
{
  for (size_t i = 0; i < nr; ++i)
    if (strlen (r[i].from) == n && memcmp (r[i].from, w, n) == 0)
      return &r[i];
  return NULL;
}

/* [p, end) with each whole word that is a FROM written as its TO. */
static void
put_renamed (FILE *fp, const char *p, const char *end,
             const struct fixup_rename *r, size_t nr)
{
  while (p < end) {
    size_t n = word_run (p, end);
    const struct fixup_rename *x = n ? rename_of (p, n, r, nr) : NULL;

    if (n == 0)
      while (p + n < end && !is_word_char (p[n]))
        n++;
    if (x)
      fputs (x->to, fp);
    else
      fwrite (p, 1, n, fp);
    p += n;
  }
}

/* ifupdown's lines, as it reads them: a line ending in a backslash goes
 * on in the next one, but a comment line (first non-blank '#') is
 * always one line.  Words are split by blanks; a backslash-newline
 * counts as a blank (ifupdown joins the lines, and files put blanks
 * around it).
 */
enum ifkind { IF_BLANK, IF_COMMENT, IF_KEYWORD, IF_OPTION };
struct ifline {
  const char *start, *end;      /* end: after its last newline */
  const char *word;             /* its first word, wlen long */
  size_t wlen;
  enum ifkind kind;
};

static bool
is_blank (char c)
{
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' ||
    c == '\f';
}

static bool
continues (const char *p, const char *end)
{
  return p + 1 < end && p[0] == '\\' && p[1] == '\n';
}

static const char *
skip_blanks (const char *p, const char *end)
{
  while (p < end && (is_blank (*p) || continues (p, end)))
    p += *p == '\\' ? 2 : 1;
  return p;
}

/* The next word at or after *p: its start in *w, its length (0: none). */
static size_t
next_word (const char **p, const char *end, const char **w)
{
  const char *q = *w = skip_blanks (*p, end);

  while (q < end && !is_blank (*q) && !continues (q, end))
    q++;
  *p = q;
  return q - *w;
}

static bool
word_is (const char *w, size_t n, const char *s)
{
  return strlen (s) == n && memcmp (w, s, n) == 0;
}

/* Lines at the start of which ifupdown ends a stanza. */
static bool
is_keyword (const char *w, size_t n)
{
  static const char *const kw[] = {
    "iface", "mapping", "auto", "source", "source-directory", "source-dir",
    "no-auto-down", "no-scripts", "rename",
  };

  if (n > 6 && strncmp (w, "allow-", 6) == 0)
    return true;
  for (size_t i = 0; i < sizeof kw / sizeof kw[0]; ++i)
    if (word_is (w, n, kw[i]))
      return true;
  return false;
}

static const char *
logical_end (const char *p)
{
  for (;;) {
    const char *nl = p + strcspn (p, "\n");

    if (*nl == '\0')
      return nl;
    if (nl == p || nl[-1] != '\\')
      return nl + 1;
    p = nl + 1;
  }
}

/* The line at p into l; the next line's start. */
static const char *
ifline_read (const char *p, struct ifline *l)
{
  const char *q = p + strspn (p, " \t\r\v\f"), *w;

  l->start = p;
  if (*q == '#') {
    l->end = q + strcspn (q, "\n");
    l->end += *l->end == '\n';
    l->word = q;
    l->wlen = 0;
    l->kind = IF_COMMENT;
    return l->end;
  }
  l->end = logical_end (p);
  w = p;
  l->wlen = next_word (&w, l->end, &l->word);
  l->kind = l->wlen == 0 ? IF_BLANK :
    is_keyword (l->word, l->wlen) ? IF_KEYWORD : IF_OPTION;
  return l->end;
}

/* The nth word after the line's first (0: the one after it) into buf;
 * false (buf "") if there is none or it does not fit.
 */
static bool
arg_of (const struct ifline *l, int nth, char *buf, size_t size)
{
  const char *p = l->word + l->wlen, *w = p;
  size_t n = 0;

  for (int i = 0; i <= nth; ++i)
    n = next_word (&p, l->end, &w);
  buf[0] = '\0';
  if (n == 0 || n >= size)
    return false;
  memcpy (buf, w, n);
  buf[n] = '\0';
  return true;
}

/* An option's name: ifupdown exports IF_VLAN_RAW_DEVICE for both
 * vlan-raw-device and vlan_raw_device, whatever the case.
 */
static bool
option_is (const struct ifline *l, const char *name)
{
  if (strlen (name) != l->wlen)
    return false;
  for (size_t i = 0; i < l->wlen; ++i) {
    char c = tolower ((unsigned char) l->word[i]);

    if (c != name[i] && !(c == '_' && name[i] == '-'))
      return false;
  }
  return true;
}

/* An option whose name starts with prefix and a '-' or '_'. */
static bool
option_family (const struct ifline *l, const char *prefix)
{
  size_t k = strlen (prefix);

  return l->wlen > k + 1 && strncasecmp (l->word, prefix, k) == 0 &&
    (l->word[k] == '-' || l->word[k] == '_');
}

/* What an iface stanza says about VLANs and bonds. */
struct stanza {
  char name[64];                /* "": not in an iface stanza (or too long) */
  bool manual;                  /* its method */
  bool has_raw, has_vid, has_master, has_slaves, bond_opts;
  char raw[64], vid[16], master[64];
  struct ifline slaves;         /* its bond-slaves line */
};

static void
stanza_option (struct stanza *s, const struct ifline *l)
{
  if (option_is (l, "vlan-raw-device")) {
    s->has_raw = true;
    arg_of (l, 0, s->raw, sizeof s->raw);
  }
  else if (option_is (l, "vlan-id")) {
    s->has_vid = true;
    arg_of (l, 0, s->vid, sizeof s->vid);
  }
  else if (option_is (l, "bond-master")) {
    s->has_master = true;
    arg_of (l, 0, s->master, sizeof s->master);
  }
  else if (option_is (l, "bond-slaves") || option_is (l, "slaves") ||
           option_is (l, "bond-ports")) {
    s->has_slaves = true;
    s->slaves = *l;
  }
  else if (option_family (l, "bond"))
    s->bond_opts = true;
}

/* fn on each iface stanza of the text, until it returns -1. */
static int
walk_stanzas (const char *text, int (*fn) (const struct stanza *, void *),
              void *data)
{
  struct stanza s;
  struct ifline l;
  int r = 0;

  memset (&s, 0, sizeof s);
  for (const char *p = text; *p && r == 0; p = l.end) {
    ifline_read (p, &l);
    if (l.kind == IF_KEYWORD) {
      char method[16];

      if (*s.name)
        r = fn (&s, data);
      memset (&s, 0, sizeof s);
      if (word_is (l.word, l.wlen, "iface") &&
          arg_of (&l, 0, s.name, sizeof s.name))
        s.manual = arg_of (&l, 2, method, sizeof method) &&
          strcmp (method, "manual") == 0;
    }
    else if (l.kind == IF_OPTION && *s.name)
      stanza_option (&s, &l);
  }
  if (r == 0 && *s.name)
    r = fn (&s, data);
  return r;
}

/* A VLAN ID in decimal (leading zeros allowed). */
static bool
parse_vid (const char *s, unsigned *vid)
{
  unsigned v = 0;

  if (*s == '\0')
    return false;
  for (; *s; ++s) {
    if (!isdigit ((unsigned char) *s))
      return false;
    v = v * 10 + (*s - '0');
    if (v > 4094)
      return false;
  }
  *vid = v;
  return v > 0;
}

/* Whether the stanza makes a VLAN, and which: its raw device from
 * vlan-raw-device or from a RAW.VID name, its VID from vlan-id or the
 * digits ending the name.
 */
static bool
stanza_vlan (const struct stanza *s, struct fixup_vlan *x)
{
  size_t len = strlen (s->name), d = len;

  while (d > 0 && isdigit ((unsigned char) s->name[d - 1]))
    d--;
  memset (x, 0, sizeof *x);
  if (s->has_raw)
    memcpy (x->raw, s->raw, sizeof x->raw);
  else if (d >= 2 && d < len && s->name[d - 1] == '.')
    memcpy (x->raw, s->name, d - 1);
  if (*x->raw == '\0')
    return false;
  memcpy (x->name, s->name, sizeof x->name);
  return parse_vid (s->has_vid ? s->vid : s->name + d, &x->vid);
}

struct vlan_list {
  struct fixup_vlan *out;
  size_t *n, max;
};

static int
add_vlan (const struct stanza *s, void *data)
{
  struct vlan_list *v = data;
  struct fixup_vlan x;

  if (!stanza_vlan (s, &x))
    return 0;
  for (size_t i = 0; i < *v->n; ++i)
    if (strcmp (v->out[i].name, x.name) == 0)
      return 0;                 /* its inet6 stanza, or another file's */
  if (*v->n == v->max)
    return -1;
  v->out[(*v->n)++] = x;
  return 0;
}

int
fixup_ifupdown_vlans (const char *text, struct fixup_vlan *out, size_t *n,
                      size_t max)
{
  struct vlan_list v = { out, n, max };

  return walk_stanzas (text, add_vlan, &v);
}

struct bond_list {
  struct fixup_bond *out;
  size_t *n, max;
};

/* The bond of that name, added if new; NULL if there is no room. */
static struct fixup_bond *
bond_named (struct bond_list *b, const char *name)
{
  struct fixup_bond *x;

  for (size_t i = 0; i < *b->n; ++i)
    if (strcmp (b->out[i].name, name) == 0)
      return &b->out[i];
  if (*b->n == b->max)
    return NULL;
  x = &b->out[(*b->n)++];
  memset (x, 0, sizeof *x);
  snprintf (x->name, sizeof x->name, "%s", name);
  return x;
}

static int
add_slave (struct fixup_bond *x, const char *name, size_t len)
{
  if (len == 0 || len >= sizeof x->slaves[0])
    return 0;                   /* no interface has a name that long */
  for (size_t i = 0; i < x->nslaves; ++i)
    if (word_is (name, len, x->slaves[i]))
      return 0;
  if (x->nslaves == FIXUP_MAX_SLAVES)
    return -1;
  memcpy (x->slaves[x->nslaves], name, len);
  x->slaves[x->nslaves++][len] = '\0';
  return 0;
}

/* The names of a bond-slaves line; "none": the slaves name the bond. */
static int
add_slaves (struct fixup_bond *x, const struct ifline *l)
{
  const char *p = l->word + l->wlen, *w;
  size_t n;

  while ((n = next_word (&p, l->end, &w)) > 0)
    if (!word_is (w, n, "none") && add_slave (x, w, n) == -1)
      return -1;
  return 0;
}

/* A bond's own stanza (its slaves listed, or bond options of a bond
 * whose slaves name it), or a slave naming its bond.
 */
static int
note_bond (const struct stanza *s, void *data)
{
  struct bond_list *b = data;
  struct fixup_bond *x;

  if (s->has_master && *s->master &&
      ((x = bond_named (b, s->master)) == NULL ||
       add_slave (x, s->name, strlen (s->name)) == -1))
    return -1;
  if (s->has_slaves || (s->bond_opts && !s->has_master)) {
    if ((x = bond_named (b, s->name)) == NULL)
      return -1;
    if (s->has_slaves && add_slaves (x, &s->slaves) == -1)
      return -1;
  }
  return 0;
}

/* A bond with an address, on its own stanza or an alias's (bond0:1),
 * carries more than VLANs.
 */
static int
note_addressed (const struct stanza *s, void *data)
{
  struct bond_list *b = data;
  size_t len = strcspn (s->name, ":");

  for (size_t i = 0; i < *b->n && !s->manual; ++i)
    if (word_is (s->name, len, b->out[i].name))
      b->out[i].addressed = true;
  return 0;
}

int
fixup_ifupdown_bonds (const char *text, struct fixup_bond *out, size_t *n,
                      size_t max)
{
  struct bond_list b = { out, n, max };

  /* A bond's stanza may come before or after its slaves' (or in an
   * earlier file): the bonds first, then their stanzas' methods.
   */
  if (walk_stanzas (text, note_bond, &b) == -1)
    return -1;
  return walk_stanzas (text, note_addressed, &b);
}

/* The rewrite of an ifupdown file, line by line. */
struct unvlan {
  FILE *fp;
  const struct fixup_rename *r;
  size_t nr;
  const struct fixup_names *drop;
  enum { ST_OTHER, ST_DROPPED, ST_RENAMED } st;   /* the current stanza */
  const char *held;             /* comments and blank lines in a dropped
                                   stanza: kept if no option follows */
};

/* auto, allow-*, no-auto-down, no-scripts: lists of interfaces. */
static bool
lists_names (const struct ifline *l)
{
  return word_is (l->word, l->wlen, "auto") ||
    (l->wlen > 6 && strncmp (l->word, "allow-", 6) == 0) ||
    word_is (l->word, l->wlen, "no-auto-down") ||
    word_is (l->word, l->wlen, "no-scripts");
}

/* A list of interfaces without the dropped ones (and their blanks
 * before them), the others renamed; nothing if it named only dropped
 * ones.
 */
static void
put_list (struct unvlan *u, const struct ifline *l)
{
  const char *p = l->word + l->wlen, *q, *w;
  size_t n, names = 0, kept = 0;

  for (q = p; (n = next_word (&q, l->end, &w)) > 0; names++)
    kept += !in_names (u->drop, w, n);
  if (names > 0 && kept == 0)
    return;
  fwrite (l->start, 1, p - l->start, u->fp);
  for (q = p; (n = next_word (&q, l->end, &w)) > 0; p = q)
    if (!in_names (u->drop, w, n)) {
      fwrite (p, 1, w - p, u->fp);
      put_renamed (u->fp, w, q, u->r, u->nr);
    }
  fwrite (p, 1, l->end - p, u->fp);
}

static void
unvlan_keyword (struct unvlan *u, const struct ifline *l)
{
  char name[64];

  u->st = ST_OTHER;
  if (word_is (l->word, l->wlen, "iface") &&
      arg_of (l, 0, name, sizeof name)) {
    if (in_names (u->drop, name, strlen (name))) {
      u->st = ST_DROPPED;
      return;
    }
    if (rename_of (name, strlen (name), u->r, u->nr))
      u->st = ST_RENAMED;
  }
  if (lists_names (l))
    put_list (u, l);
  else if (word_is (l->word, l->wlen, "source") ||
           word_is (l->word, l->wlen, "source-directory") ||
           word_is (l->word, l->wlen, "source-dir"))
    /* Paths: interfaces.d/bond0.10 is a file, whose name stays. */
    fwrite (l->start, 1, l->end - l->start, u->fp);
  else
    put_renamed (u->fp, l->start, l->end, u->r, u->nr);
}

static void
unvlan_line (struct unvlan *u, const struct ifline *l)
{
  if (u->st == ST_DROPPED && l->kind != IF_KEYWORD) {
    if (l->kind == IF_OPTION)
      u->held = NULL;           /* within the stanza: they go with it */
    else if (u->held == NULL)
      u->held = l->start;
    return;
  }
  if (u->held) {
    fwrite (u->held, 1, l->start - u->held, u->fp);
    u->held = NULL;
  }
  if (l->kind == IF_KEYWORD)
    unvlan_keyword (u, l);
  else if (l->kind == IF_OPTION && u->st == ST_RENAMED &&
           (option_family (l, "vlan") || option_family (l, "bond") ||
            option_is (l, "slaves")))
    ;                           /* a plain NIC now: no tagging, no bond */
  else if (l->kind == IF_OPTION && (option_is (l, "bond-slaves") ||
                                    option_is (l, "slaves") ||
                                    option_is (l, "bond-ports")))
    put_list (u, l);            /* a dropped NIC is no slave */
  else if (l->kind == IF_OPTION)
    put_renamed (u->fp, l->start, l->end, u->r, u->nr);
  else
    fwrite (l->start, 1, l->end - l->start, u->fp);
}

char *
fixup_ifupdown_unvlan (const char *text, const struct fixup_rename *r,
                       size_t nr, const struct fixup_names *drop)
{
  char *out = NULL;
  size_t len = 0;
  struct unvlan u = { open_memstream (&out, &len), r, nr, drop, ST_OTHER,
                      NULL };
  struct ifline l;

  if (u.fp == NULL)
    return NULL;
  for (const char *p = text; *p; p = l.end) {
    ifline_read (p, &l);
    unvlan_line (&u, &l);
  }
  if (u.held)
    fputs (u.held, u.fp);
  return fixup_close_mem (u.fp, &out);
}

/* A wildcard, the prefix [p, p + n) then '+' (iptables) or '*'
 * (nftables): whether it matched a gone interface, or a renamed one
 * that it will not match under its new name.
 */
static bool
wildcard_unsafe (const char *p, size_t n, const struct fixup_rename *r,
                 size_t nr, const struct fixup_names *gone, char *why,
                 size_t size)
{
  for (size_t i = 0; i < nr; ++i)
    if (strncmp (r[i].from, p, n) == 0 && strncmp (r[i].to, p, n) != 0) {
      snprintf (why, size, "the wildcard %.*s%c matches %s, now %s",
                (int) n, p, p[n], r[i].from, r[i].to);
      return true;
    }
  for (size_t i = 0; gone && i < gone->len; ++i)
    if (strncmp (gone->ptr[i], p, n) == 0) {
      snprintf (why, size, "the wildcard %.*s%c matches %s, which is gone",
                (int) n, p, p[n], gone->ptr[i]);
      return true;
    }
  return false;
}

/* Why the line [p, end) cannot be renamed safely, into why; false if
 * it can.
 */
static bool
line_unsafe (const char *p, const char *end, const struct fixup_rename *r,
             size_t nr, const struct fixup_names *gone, char *why,
             size_t size)
{
  while (p < end) {
    size_t n = word_run (p, end);

    if (n == 0) {
      p++;
      continue;
    }
    if (p + n < end && (p[n] == '+' || p[n] == '*')) {
      if (wildcard_unsafe (p, n, r, nr, gone, why, size))
        return true;
    }
    else if (in_names (gone, p, n)) {
      snprintf (why, size, "names %.*s, which is gone", (int) n, p);
      return true;
    }
    p += n;
  }
  return false;
}

char *
fixup_rename_ifaces (const char *text, const struct fixup_rename *r,
                     size_t nr, const struct fixup_names *gone,
                     struct fixup_names *unsafe)
{
  char *out = NULL;
  size_t len = 0, lineno = 0;
  FILE *fp = open_memstream (&out, &len);
  bool failed = false;

  if (fp == NULL)
    return NULL;
  for (const char *line = text; *line; ++lineno) {
    const char *end = line + strcspn (line, "\n");
    const char *next = end + (*end == '\n');
    char why[256], note[288];

    if (line[strspn (line, " \t")] == '#')
      fwrite (line, 1, next - line, fp);
    else if (!line_unsafe (line, end, r, nr, gone, why, sizeof why))
      put_renamed (fp, line, next, r, nr);
    else {
      fwrite (line, 1, next - line, fp);
      snprintf (note, sizeof note, "%zu: %s", lineno + 1, why);
      failed |= unsafe && fixup_names_add (unsafe, note, strlen (note)) == -1;
    }
    line = next;
  }
  if (failed) {
    fclose (fp);
    free (out);
    return NULL;
  }
  return fixup_close_mem (fp, &out);
}
