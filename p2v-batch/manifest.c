/* The manifest: an INI-like list of storage targets and servers
 * (docs/p2v-batch.pod, MANIFEST), and matching a machine to its entry.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "batch.h"
#include "convdir_layout.h"
#include "fileio.h"
#include "log.h"
#include "options.h"
#include "proto.h"

#define UNSET_PRIORITY (-1000000)

struct parser {
  struct batch_manifest *m;
  const char *path;
  int line;
  struct batch_settings *set;   /* [defaults] or a [server] */
  struct batch_storage *st;     /* a [storage] */
  bool in_defaults;
};

static int
bad (struct parser *p, const char *fmt, ...)
  __attribute__ ((format (printf, 2, 3)));

static int
bad (struct parser *p, const char *fmt, ...)
{
  char msg[512];
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);
  p2v_error ("%s:%d: %s", p->path, p->line, msg);
  return -1;
}

static void
settings_init (struct batch_settings *s)
{
  *s = (struct batch_settings) {
    .define = -1, .verify = -1, .fixup = -1, .priority = UNSET_PRIORITY,
  };
}

static void
settings_free (struct batch_settings *s)
{
  free (s->storage);
  free (s->format);
  free (s->hypervisor);
  free (s->connect);
  for (size_t i = 0; i < s->nnets; ++i)
    free (s->nets[i]);
  for (size_t i = 0; i < s->ndisks; ++i)
    free (s->disks[i]);
}

static char *
trim (char *s)
{
  char *e;

  while (isspace ((unsigned char) *s))
    s++;
  e = s + strlen (s);
  while (e > s && isspace ((unsigned char) e[-1]))
    *--e = '\0';
  return s;
}

static int
set_string (struct parser *p, char **dst, const char *v)
{
  free (*dst);
  if ((*dst = strdup (v)) == NULL)
    return bad (p, "out of memory");
  return 0;
}

static int
parse_bool (struct parser *p, const char *key, const char *v, int *out)
{
  if (!strcasecmp (v, "yes") || !strcasecmp (v, "true") || !strcmp (v, "1"))
    *out = 1;
  else if (!strcasecmp (v, "no") || !strcasecmp (v, "false") ||
           !strcmp (v, "0"))
    *out = 0;
  else
    return bad (p, "%s = %s: expected yes or no", key, v);
  return 0;
}

static int
parse_number (struct parser *p, const char *key, const char *v, bool size,
              long long min, long long max, long long *out)
{
  char opt[300];

  snprintf (opt, sizeof opt, "%s:%d: %s", p->path, p->line, key);
  return size ? p2v_parse_size (opt, v, min, max, out)
              : p2v_parse_int (opt, v, min, max, out);
}

/* A rate: bytes per second with K/M/G (1024s), or bits with Kbit/Mbit/
 * Gbit (1000s).
 */
static int
parse_rate (struct parser *p, const char *key, const char *v, uint64_t *out)
{
  size_t n = strlen (v);
  long long r;

  if (n > 3 && strcasecmp (v + n - 3, "bit") == 0) {
    char num[64], *end;
    double bits;

    snprintf (num, sizeof num, "%.*s", (int) (n - 3), v);
    errno = 0;
    bits = strtod (num, &end);
    if (end != num && *end) {
      switch (toupper ((unsigned char) *end)) {
      case 'K': bits *= 1e3; end++; break;
      case 'M': bits *= 1e6; end++; break;
      case 'G': bits *= 1e9; end++; break;
      }
    }
    if (errno || end == num || *end || bits < 0 || bits > 1e15)
      return bad (p, "%s = %s: expected a rate like 100Mbit or 12M", key, v);
    r = (long long) (bits / 8);
  }
  else if (parse_number (p, key, v, true, 0, 1LL << 50, &r) == -1)
    return -1;
  if (r != 0 && r < BATCH_MIN_RATE)
    return bad (p, "%s = %s: below %d KiB/s, agents' links would time "
                "out; use 0 for no cap", key, v, BATCH_MIN_RATE / 1024);
  *out = r;
  return 0;
}

static int
parse_setting (struct parser *p, struct batch_settings *s, const char *key,
               const char *v)
{
  long long n;

  if (!strcmp (key, "storage")) {
    s->storage_line = p->line;
    return set_string (p, &s->storage, v);
  }
  if (!strcmp (key, "format")) {
    for (const char *const *f = p2v_image_formats; *f; ++f)
      if (strcmp (v, *f) == 0)
        return set_string (p, &s->format, v);
    return bad (p, "format = %s: expected raw or qcow2", v);
  }
  if (!strcmp (key, "hypervisor")) {
    if (strcmp (v, "kvm") && strcmp (v, "qemu") && strcmp (v, "xen"))
      return bad (p, "hypervisor = %s: expected kvm, qemu or xen", v);
    return set_string (p, &s->hypervisor, v);
  }
  if (!strcmp (key, "connect"))
    return set_string (p, &s->connect, v);
  if (!strcmp (key, "define"))
    return parse_bool (p, key, v, &s->define);
  if (!strcmp (key, "verify"))
    return parse_bool (p, key, v, &s->verify);
  if (!strcmp (key, "fixup"))
    return parse_bool (p, key, v, &s->fixup);
  if (!strcmp (key, "priority")) {
    if (parse_number (p, key, v, false, -1000, 1000, &n) == -1)
      return -1;
    s->priority = n;
    return 0;
  }
  if (!strcmp (key, "vcpus")) {
    if (parse_number (p, key, v, false, 1, 4096, &n) == -1)
      return -1;
    s->vcpus = n;
    return 0;
  }
  if (!strcmp (key, "memory") || !strcmp (key, "expect")) {
    if (parse_number (p, key, v, true, *key == 'm' ? 128 << 20 : 0,
                      1LL << 50, &n) == -1)
      return -1;
    *(*key == 'm' ? &s->memory : &s->expect) = n;
    return 0;
  }
  if (!strcmp (key, "agent-bandwidth"))
    return parse_rate (p, key, v, &s->agent_bandwidth);
  if (!strcmp (key, "disks")) {
    char *copy = strdup (v);

    if (copy == NULL)
      return bad (p, "out of memory");
    for (char *w = strtok (copy, " ,\t"); w; w = strtok (NULL, " ,\t")) {
      if (s->ndisks == P2V_MAX_DISKS) {
        free (copy);
        return bad (p, "more than %d disks", P2V_MAX_DISKS);
      }
      if ((s->disks[s->ndisks++] = strdup (w)) == NULL) {
        free (copy);
        return bad (p, "out of memory");
      }
    }
    free (copy);
    return s->ndisks ? 0 : bad (p, "disks = : name at least one disk "
                                "(sda, /dev/sda or its serial)");
  }
  if (!strcmp (key, "bridge") || !strcmp (key, "network")) {
    if (s->nnets == BATCH_MAX_NETS)
      return bad (p, "more than %d bridge/network lines", BATCH_MAX_NETS);
    if (*v == '\0' || strchr (v, ' '))
      return bad (p, "%s = %s: expected [NIC=]NAME", key, v);
    s->net_bridge[s->nnets] = *key == 'b';
    return set_string (p, &s->nets[s->nnets++], v);
  }
  return bad (p, "unknown key '%s'", key);
}

/* "mac:00:11:22:33:44:55" etc.; MACs lowercased. */
static int
add_match (struct parser *p, struct batch_server *sv, char *word)
{
  char *colon = strchr (word, ':');

  if (colon == NULL || colon[1] == '\0')
    return bad (p, "match %s: expected serial:S, mac:M, name:N or "
                "hostname:H", word);
  *colon = '\0';
  if (strcmp (word, "serial") && strcmp (word, "mac") &&
      strcmp (word, "name") && strcmp (word, "hostname"))
    return bad (p, "match %s:...: expected serial, mac, name or hostname",
                word);
  *colon = ':';
  if (!strncmp (word, "mac:", 4)) {
    unsigned b[6];
    char end;

    if (sscanf (word + 4, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2],
                &b[3], &b[4], &b[5], &end) != 6 || strlen (word + 4) != 17)
      return bad (p, "match %s: expected mac:xx:xx:xx:xx:xx:xx", word);
    for (char *c = word + 4; *c; ++c)
      *c = tolower ((unsigned char) *c);
  }
  char *copy = strdup (word);

  if (copy == NULL || batch_strings_append (&sv->match, copy) == -1) {
    free (copy);
    return bad (p, "out of memory");
  }
  return 0;
}

static int
begin_section (struct parser *p, char *head)
{
  struct batch_manifest *m = p->m;
  char *kind = trim (head), *name = kind + strcspn (kind, " \t");

  if (*name)
    *name++ = '\0';
  name = trim (name);
  p->set = NULL;
  p->st = NULL;
  p->in_defaults = false;
  if (!strcmp (kind, "defaults") && !*name) {
    p->set = &m->defaults;
    p->in_defaults = true;
    return 0;
  }
  if (strcmp (kind, "server") && strcmp (kind, "storage"))
    return bad (p, "[%s]: expected [defaults], [storage NAME] or "
                "[server NAME]", kind);
  if (!p2v_name_valid (name))
    return bad (p, "[%s %s]: a name is 1-%d letters, digits, '.', '_' or "
                "'-', starting with a letter or digit", kind, name,
                P2V_MAX_NAME);
  if (*kind == 's' && kind[1] == 't') {
    struct batch_storage st = { strdup (name), .max_writers = 1,
                                .line = p->line };

    for (size_t i = 0; i < m->storages.len; ++i)
      if (!strcmp (m->storages.ptr[i].name, name)) {
        free (st.name);
        return bad (p, "storage '%s' is already defined on line %d", name,
                    m->storages.ptr[i].line);
      }
    if (st.name == NULL || batch_storages_append (&m->storages, st) == -1) {
      free (st.name);
      return bad (p, "out of memory");
    }
    p->st = &m->storages.ptr[m->storages.len - 1];
    return 0;
  }
  struct batch_server sv = { strdup (name), .storage = -1, .line = p->line };

  settings_init (&sv.set);
  for (size_t i = 0; i < m->servers.len; ++i)
    if (!strcmp (m->servers.ptr[i].name, name)) {
      free (sv.name);
      return bad (p, "server '%s' is already defined on line %d", name,
                  m->servers.ptr[i].line);
    }
  if (sv.name == NULL || batch_servers_append (&m->servers, sv) == -1) {
    free (sv.name);
    return bad (p, "out of memory");
  }
  p->set = &m->servers.ptr[m->servers.len - 1].set;
  return 0;
}

static int
parse_line (struct parser *p, char *line)
{
  struct batch_manifest *m = p->m;
  char *key, *v, *hash;

  if ((hash = strstr (line, " #")) != NULL || (hash = strstr (line, "\t#")))
    *hash = '\0';
  line = trim (line);
  if (*line == '\0' || *line == '#' || *line == ';')
    return 0;
  if (*line == '[') {
    size_t n = strlen (line);

    if (line[n - 1] != ']')
      return bad (p, "expected ']' at the end of the section line");
    line[n - 1] = '\0';
    return begin_section (p, line + 1);
  }
  v = strchr (line, '=');
  if (v == NULL)
    return bad (p, "expected KEY = VALUE or [SECTION]");
  *v++ = '\0';
  key = trim (line);
  v = trim (v);
  if (p->st) {
    long long n;

    if (!strcmp (key, "path") || !strcmp (key, "lvm")) {
      if (p->st->path || p->st->lvm)
        return bad (p, "storage '%s' has a path or lvm already",
                    p->st->name);
      if (*key == 'p' && *v != '/')
        return bad (p, "path = %s: expected an absolute path", v);
      if (*key == 'l' && (*v == '\0' || *v == '/' || strchr (v, ' ')))
        return bad (p, "lvm = %s: expected VG or VG/THINPOOL", v);
      return set_string (p, *key == 'p' ? &p->st->path : &p->st->lvm, v);
    }
    if (!strcmp (key, "max-writers")) {
      if (parse_number (p, key, v, false, 1, 64, &n) == -1)
        return -1;
      p->st->max_writers = n;
      return 0;
    }
    return bad (p, "unknown key '%s' in [storage %s] (path, lvm, "
                "max-writers)", key, p->st->name);
  }
  if (p->set == NULL)
    return bad (p, "'%s' before any section", key);
  if (p->in_defaults && !strcmp (key, "output-dir")) {
    if (*v != '/')
      return bad (p, "output-dir = %s: expected an absolute path", v);
    return set_string (p, &m->output_dir, v);
  }
  if (p->in_defaults && !strcmp (key, "bandwidth"))
    return parse_rate (p, key, v, &m->bandwidth);
  if (!p->in_defaults && !strcmp (key, "match")) {
    for (char *w = strtok (v, " ,\t"); w; w = strtok (NULL, " ,\t"))
      if (add_match (p, &m->servers.ptr[m->servers.len - 1], w) == -1)
        return -1;
    return 0;
  }
  return parse_setting (p, p->set, key, v);
}

/* [defaults] under each server's own settings. */
static int
merge_defaults (struct batch_manifest *m, struct batch_server *sv)
{
  struct batch_settings *s = &sv->set, *d = &m->defaults;
  char **strs[] = { &s->storage, &s->format, &s->hypervisor, &s->connect };
  char *const dstrs[] = { d->storage, d->format, d->hypervisor, d->connect };

  if (s->storage == NULL)
    s->storage_line = d->storage_line;
  for (size_t i = 0; i < 4; ++i)
    if (*strs[i] == NULL && dstrs[i] && (*strs[i] = strdup (dstrs[i])) == NULL)
      return -1;
  s->define = s->define >= 0 ? s->define : d->define;
  s->verify = s->verify >= 0 ? s->verify : d->verify;
  s->fixup = s->fixup >= 0 ? s->fixup : d->fixup;
  s->priority = s->priority != UNSET_PRIORITY ? s->priority
    : d->priority != UNSET_PRIORITY ? d->priority : 0;
  s->vcpus = s->vcpus ? s->vcpus : d->vcpus;
  s->memory = s->memory ? s->memory : d->memory;
  s->expect = s->expect ? s->expect : d->expect;
  s->agent_bandwidth = s->agent_bandwidth ? s->agent_bandwidth
                                          : d->agent_bandwidth;
  if (s->ndisks == 0)
    for (size_t i = 0; i < d->ndisks; ++i)
      if ((s->disks[s->ndisks++] = strdup (d->disks[i])) == NULL)
        return -1;
  if (s->nnets == 0)
    for (size_t i = 0; i < d->nnets; ++i) {
      if ((s->nets[i] = strdup (d->nets[i])) == NULL)
        return -1;
      s->net_bridge[i] = d->net_bridge[i];
      s->nnets++;
    }
  return 0;
}

/* Every server complete and unambiguous; each problem is reported,
 * at the line that causes it.
 */
static int
check (struct parser *p)
{
  struct batch_manifest *m = p->m;
  int r = 0;

  if (m->servers.len == 0) {
    p2v_error ("%s: no [server NAME] sections", p->path);
    return -1;
  }
  if (m->storages.len == 0) {      /* images in the conversion directories */
    struct batch_storage st = { strdup ("default"), .max_writers = 1 };

    if (st.name == NULL || batch_storages_append (&m->storages, st) == -1) {
      free (st.name);
      return bad (p, "out of memory");
    }
  }
  for (size_t i = 0; i < m->servers.len; ++i) {
    struct batch_server *sv = &m->servers.ptr[i];

    p->line = sv->line;
    if (merge_defaults (m, sv) == -1)
      return bad (p, "out of memory");
    if (sv->match.len == 0)
      r = bad (p, "server '%s' has no 'match' (serial:, mac:, name: or "
               "hostname:)", sv->name);
    for (size_t k = 0; k < m->storages.len; ++k)
      if (sv->set.storage == NULL ? m->storages.len == 1
                                  : !strcmp (sv->set.storage,
                                             m->storages.ptr[k].name))
        sv->storage = k;
    if (sv->set.storage)
      p->line = sv->set.storage_line;
    if (sv->storage < 0)
      r = bad (p, sv->set.storage ? "server '%s': no [storage %s]"
               : "server '%s': say which storage (there are several)%s",
               sv->name, sv->set.storage ? sv->set.storage : "");
    else if (m->storages.ptr[sv->storage].lvm && sv->set.format &&
             strcmp (sv->set.format, "raw"))
      r = bad (p, "server '%s': storage '%s' is LVM, which takes raw "
               "data, not %s", sv->name, m->storages.ptr[sv->storage].name,
               sv->set.format);
    p->line = sv->line;
    for (size_t j = 0; j < i; ++j)
      for (size_t a = 0; a < sv->match.len; ++a)
        for (size_t b = 0; b < m->servers.ptr[j].match.len; ++b)
          if (!strcasecmp (sv->match.ptr[a], m->servers.ptr[j].match.ptr[b]))
            r = bad (p, "server '%s': match %s is server '%s''s too "
                     "(line %d)", sv->name, sv->match.ptr[a],
                     m->servers.ptr[j].name, m->servers.ptr[j].line);
  }
  return r;
}

int
batch_manifest_load (const char *path, struct batch_manifest *m)
{
  struct parser p = { m, path, 0, NULL, NULL, false };
  FILE *fp = fopen (path, "re");
  char *line = NULL;
  size_t cap = 0;
  int r = 0;

  *m = (struct batch_manifest) { 0 };
  settings_init (&m->defaults);
  if (fp == NULL) {
    p2v_error ("manifest %s: %m", path);
    return -1;
  }
  m->path = strdup (path);
  /* Every line, so that every mistake is reported at once. */
  while (getline (&line, &cap, fp) != -1) {
    p.line++;
    if (parse_line (&p, line) == -1)
      r = -1;
  }
  free (line);
  fclose (fp);
  if (r == 0 && m->output_dir == NULL &&
      (m->output_dir = strdup ("/var/lib/p2v")) == NULL)
    r = bad (&p, "out of memory");
  if (r == 0)
    r = check (&p);
  if (r == -1)
    batch_manifest_free (m);
  return r;
}

void
batch_manifest_free (struct batch_manifest *m)
{
  for (size_t i = 0; i < m->servers.len; ++i) {
    free (m->servers.ptr[i].name);
    for (size_t k = 0; k < m->servers.ptr[i].match.len; ++k)
      free (m->servers.ptr[i].match.ptr[k]);
    batch_strings_reset (&m->servers.ptr[i].match);
    settings_free (&m->servers.ptr[i].set);
  }
  for (size_t i = 0; i < m->storages.len; ++i) {
    free (m->storages.ptr[i].name);
    free (m->storages.ptr[i].path);
    free (m->storages.ptr[i].lvm);
  }
  settings_free (&m->defaults);
  batch_servers_reset (&m->servers);
  batch_storages_reset (&m->storages);
  free (m->output_dir);
  free (m->path);
  *m = (struct batch_manifest) { 0 };
}

static bool
meets (const struct batch_identity *id, const char *key)
{
  const char *v = strchr (key, ':') + 1;

  if (!strncmp (key, "serial:", 7))
    return id->serial && !strcmp (id->serial, v);
  if (!strncmp (key, "name:", 5))
    return id->agent_name && !strcmp (id->agent_name, v);
  if (!strncmp (key, "hostname:", 9))
    return id->hostname && !strcasecmp (id->hostname, v);
  for (size_t i = 0; i < id->nmacs; ++i)
    if (!strcasecmp (id->macs[i], v))
      return true;
  return false;
}

int
batch_match (const struct batch_manifest *m, const struct batch_identity *id,
             char *why, size_t len)
{
  int found = -1;
  char desc[512];

  *why = '\0';
  for (size_t i = 0; i < m->servers.len; ++i)
    for (size_t k = 0; k < m->servers.ptr[i].match.len; ++k)
      if (meets (id, m->servers.ptr[i].match.ptr[k])) {
        if (found >= 0 && (size_t) found != i) {
          snprintf (why, len, "it matches server '%s' (%s) and server "
                    "'%s' (%s) of %s; make the match keys tell them apart",
                    m->servers.ptr[found].name,
                    m->servers.ptr[found].match.ptr[0], m->servers.ptr[i].name,
                    m->servers.ptr[i].match.ptr[k], m->path);
          return -2;
        }
        found = i;
        break;
      }
  if (found == -1) {
    batch_identity_describe (id, desc, sizeof desc);
    snprintf (why, len, "no server in %s matches it (%s); add a [server] "
              "entry and reload the coordinator", m->path, desc);
  }
  return found;
}

void
batch_identity_describe (const struct batch_identity *id, char *buf,
                         size_t len)
{
  size_t n = 0;

#define ADD(...) \
  (n < len ? n += snprintf (buf + n, len - n, __VA_ARGS__) : 0)
  *buf = '\0';
  ADD ("name %s", id->agent_name ? id->agent_name : "?");
  if (id->hostname)
    ADD (", hostname %s", id->hostname);
  ADD (", serial %s", id->serial && *id->serial ? id->serial : "unknown");
  for (size_t i = 0; i < id->nmacs; ++i)
    ADD ("%s%s", i ? " " : ", MACs ", id->macs[i]);
#undef ADD
}

static void
arg (FILE *fp, const char *a, const char *b)
{
  p2v_kv_put (fp, ' ', "arg", a);
  if (b)
    p2v_kv_put (fp, ' ', "arg", b);
}

void
batch_server_args (const struct batch_manifest *m, int server, FILE *fp)
{
  const struct batch_server *sv = &m->servers.ptr[server];
  const struct batch_settings *s = &sv->set;
  const struct batch_storage *st = &m->storages.ptr[sv->storage];
  char num[32];

  arg (fp, "--output-dir", m->output_dir);
  if (st->path)
    arg (fp, "--storage", st->path);
  if (st->lvm)
    arg (fp, "--lvm", st->lvm);
  if (s->format && !st->lvm)
    arg (fp, "--format", s->format);
  if (s->hypervisor)
    arg (fp, "--hypervisor", s->hypervisor);
  if (s->connect)
    arg (fp, "--connect", s->connect);
  if (s->define == 1)
    arg (fp, "--define", NULL);
  if (s->verify == 1)
    arg (fp, "--verify", NULL);
  if (s->fixup == 0)
    arg (fp, "--no-fixup", NULL);
  if (s->vcpus) {
    snprintf (num, sizeof num, "%ld", s->vcpus);
    arg (fp, "--vcpus", num);
  }
  if (s->memory) {
    snprintf (num, sizeof num, "%" PRIu64, s->memory);
    arg (fp, "--memory", num);
  }
  for (size_t i = 0; i < s->nnets; ++i)
    arg (fp, s->net_bridge[i] ? "--bridge" : "--network", s->nets[i]);
  for (size_t i = 0; i < s->ndisks; ++i)
    p2v_kv_put (fp, ' ', "disk", s->disks[i]);
}

uint64_t
batch_server_rate (const struct batch_manifest *m, int server)
{
  return m->servers.ptr[server].set.agent_bandwidth;
}

const char *
batch_human_rate (double bps, char *buf, size_t len)
{
  char a[32];

  snprintf (buf, len, "%s/s", p2v_human_size ((uint64_t) bps, a, sizeof a));
  return buf;
}
