/* Host facts: CPUs, memory, firmware, DMI, NICs.  Sent in the
 * INVENTORY (send.c) and shown by p2v-agent probe.  A fact that cannot
 * be read is left out; only running out of memory is an error.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "agent.h"
#include "cleanup.h"
#include "log.h"

#define MAX_NICS AGENT_MAX_NICS  /* 4 facts each: far below P2V_MAX_FACTS */
#define MAX_VALUE 4096          /* P2V_MAX_STRING */

/* Strings from firmware, sysfs and on-disk labels go into JSON and onto
 * the wire: keep valid UTF-8 only, replace control characters and bad
 * bytes by '?', and trim surrounding blanks.
 */
static size_t
utf8_len (const unsigned char *s)
{
  size_t n = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3
    : s[0] >= 0xc2 && s[0] <= 0xdf ? 2 : 0;

  if (n == 0 || s[0] >= 0xf5)
    return 0;
  for (size_t i = 1; i < n; ++i)
    if ((s[i] & 0xc0) != 0x80)
      return 0;
  if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0) ||
      (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90))
    return 0;                   /* overlong, surrogate, above U+10FFFF */
  return n;
}

void
agent_clean_string (char *str)
{
  unsigned char *s = (unsigned char *) str;
  size_t i = 0, n, start, end;

  while (s[i]) {
    if (s[i] < 0x80) {
      if (s[i] < 0x20 || s[i] == 0x7f)
        s[i] = '?';
      i++;
    }
    else if ((n = utf8_len (s + i)) > 0)
      i += n;
    else
      s[i++] = '?';
  }
  for (start = 0; s[start] == ' '; ++start)
    ;
  for (end = i; end > start && s[end - 1] == ' '; --end)
    ;
  memmove (s, s + start, end - start);
  s[end - start] = '\0';
}

/* The first line of a small file (sysfs attribute), cleaned; -1 and ""
 * if it cannot be read or is empty.
 */
dev_t
agent_read_dev (const char *dir)
{
  char buf[32];
  unsigned maj, min;

  if (agent_read_attr (buf, sizeof buf, "%s/dev", dir) == 0 &&
      sscanf (buf, "%u:%u", &maj, &min) == 2)
    return makedev (maj, min);
  return 0;
}

int
agent_read_attr (char *buf, size_t len, const char *fmt, ...)
{
  char path[PATH_MAX];
  CLEANUP_CLOSE int fd = -1;
  va_list ap;
  ssize_t n;

  buf[0] = '\0';
  va_start (ap, fmt);
  n = vsnprintf (path, sizeof path, fmt, ap);
  va_end (ap);
  if (n < 0 || (size_t) n >= sizeof path ||
      (fd = open (path, O_RDONLY | O_CLOEXEC)) == -1)
    return -1;
  n = read (fd, buf, len - 1);
  buf[n > 0 ? n : 0] = '\0';
  buf[strcspn (buf, "\n")] = '\0';
  agent_clean_string (buf);
  return buf[0] ? 0 : -1;
}

/* "name: value" from /proc/cpuinfo or /proc/meminfo; the first match. */
static int
read_proc_field (const char *file, const char *name, char *buf, size_t len)
{
  FILE *fp = fopen (file, "re");
  CLEANUP_FREE char *line = NULL;
  size_t cap = 0, nlen = strlen (name);
  int r = -1;

  buf[0] = '\0';
  if (fp == NULL)
    return -1;
  while (r == -1 && getline (&line, &cap, fp) > 0) {
    char *p = line + nlen;

    if (strncmp (line, name, nlen) != 0 || (*p != ' ' && *p != '\t' &&
                                            *p != ':'))
      continue;
    p += strspn (p, " \t");
    if (*p++ != ':')
      continue;
    snprintf (buf, len, "%s", p);
    buf[strcspn (buf, "\n")] = '\0';
    agent_clean_string (buf);
    r = 0;
  }
  fclose (fp);
  return r;
}

/* Appends key=value; an empty value (a fact we could not read) is left
 * out.  -1 only when out of memory.
 */
static int
add_fact (struct agent_facts *f, const char *key, const char *value)
{
  char *k, *v;

  if (f->len >= P2V_MAX_FACTS / 2)  /* leave room for the caller's */
    return 0;
  k = strndup (key, 256);
  v = strndup (value, MAX_VALUE);
  if (k == NULL || v == NULL)
    goto oom;
  agent_clean_string (v);
  if (v[0] == '\0') {
    free (k);
    free (v);
    return 0;
  }
  if (agent_facts_append (f, (struct agent_fact) { k, v }) == -1)
    goto oom;
  return 0;
 oom:
  free (k);
  free (v);
  p2v_error ("out of memory collecting host facts");
  return -1;
}

static int
add_fact_u64 (struct agent_facts *f, const char *key, uint64_t v)
{
  char buf[32];

  snprintf (buf, sizeof buf, "%" PRIu64, v);
  return add_fact (f, key, buf);
}

static int
facts_system (struct agent_facts *f)
{
  char buf[MAX_VALUE];
  struct utsname u;
  unsigned long long kb;
  struct stat st;
  long n = sysconf (_SC_NPROCESSORS_ONLN);
  int r = 0;

  if (gethostname (buf, sizeof buf - 1) == 0) {
    buf[sizeof buf - 1] = '\0';
    r |= add_fact (f, "hostname", buf);
  }
  if (n > 0)
    r |= add_fact_u64 (f, "cpus", n);
  if (read_proc_field ("/proc/cpuinfo", "model name", buf, sizeof buf) == 0)
    r |= add_fact (f, "cpu.model", buf);
  if (read_proc_field ("/proc/meminfo", "MemTotal", buf, sizeof buf) == 0 &&
      sscanf (buf, "%llu kB", &kb) == 1 && kb > 0 && kb <= UINT64_MAX / 1024)
    r |= add_fact_u64 (f, "memory", kb * 1024);
  r |= add_fact (f, "firmware",
                 stat ("/sys/firmware/efi", &st) == 0 ? "uefi" : "bios");
  if (uname (&u) == 0) {
    r |= add_fact (f, "kernel", u.release);
    r |= add_fact (f, "arch", u.machine);
  }
  return r ? -1 : 0;
}

static int
facts_dmi (struct agent_facts *f)
{
  static const char *const attrs[][2] = {
    { "dmi.vendor", "sys_vendor" },
    { "dmi.product", "product_name" },
    { "dmi.serial", "product_serial" },   /* root only */
  };
  char buf[MAX_VALUE];

  for (size_t i = 0; i < sizeof attrs / sizeof attrs[0]; ++i)
    if (agent_read_attr (buf, sizeof buf, "/sys/class/dmi/id/%s", attrs[i][1]) == 0
        && add_fact (f, attrs[i][0], buf) == -1)
      return -1;
  return 0;
}

/* Physical NICs only: bridges, bonds, VLANs, tunnels and lo have no
 * device/ link.
 */
static int
is_physical_nic (const struct dirent *d)
{
  char path[PATH_MAX];
  struct stat st;

  if (d->d_name[0] == '.' || strcmp (d->d_name, "lo") == 0)
    return 0;
  snprintf (path, sizeof path, "/sys/class/net/%s/device", d->d_name);
  return stat (path, &st) == 0;
}

static int
fact_nic (struct agent_facts *f, int i, const char *nic)
{
  char key[64], buf[256], link[PATH_MAX], path[PATH_MAX];
  const char *base;
  long speed;
  ssize_t n;
  int r = 0;

#define KEY(what) (snprintf (key, sizeof key, "nic.%d." what, i), key)
  r |= add_fact (f, KEY ("name"), nic);
  if (agent_read_attr (buf, sizeof buf, "/sys/class/net/%s/address", nic) == 0)
    r |= add_fact (f, KEY ("mac"), buf);
  if (agent_predictable_name ("/sys", nic, buf, sizeof buf) == 0)
    r |= add_fact (f, KEY ("predictable"), buf);
  snprintf (path, sizeof path, "/sys/class/net/%s/device/driver", nic);
  n = readlink (path, link, sizeof link - 1);
  if (n > 0) {
    link[n] = '\0';
    base = strrchr (link, '/');
    r |= add_fact (f, KEY ("driver"), base ? base + 1 : link);
  }
  /* Unreadable (EINVAL) or -1 while the link is down. */
  if (agent_read_attr (buf, sizeof buf, "/sys/class/net/%s/speed", nic) == 0 &&
      (speed = strtol (buf, NULL, 10)) > 0)
    r |= add_fact_u64 (f, KEY ("speed"), speed);
#undef KEY
  return r ? -1 : 0;
}

static int
facts_nics (struct agent_facts *f)
{
  struct dirent **names = NULL;
  int n = scandir ("/sys/class/net", &names, is_physical_nic, alphasort);
  int r = 0;

  for (int i = 0; i < n; ++i) {
    if (r == 0 && i < MAX_NICS)
      r = fact_nic (f, i, names[i]->d_name);
    free (names[i]);
  }
  free (names);
  return r;
}

/* For tests (p2v-agent(1), ENVIRONMENT): P2V_TEST_FACTS="KEY=VALUE ..."
 * replaces those facts, or adds them, so that one machine can pose as
 * several servers (a DMI serial, a NIC's MAC).
 */
static int
facts_test_override (struct agent_facts *f)
{
  const char *env = getenv ("P2V_TEST_FACTS");
  CLEANUP_FREE char *copy = env ? strdup (env) : NULL;
  char *save = NULL, *eq;

  if (env && copy == NULL)
    return -1;
  for (char *w = copy ? strtok_r (copy, " \t\n", &save) : NULL; w;
       w = strtok_r (NULL, " \t\n", &save)) {
    if ((eq = strchr (w, '=')) == NULL || eq == w) {
      p2v_error ("P2V_TEST_FACTS: '%s' is not KEY=VALUE", w);
      return -1;
    }
    *eq = '\0';
    for (size_t i = 0; i < f->len; ++i)
      if (strcmp (f->ptr[i].key, w) == 0) {
        free (f->ptr[i].key);
        free (f->ptr[i].value);
        f->ptr[i--] = f->ptr[--f->len];
      }
    if (add_fact (f, w, eq + 1) == -1)
      return -1;
    p2v_debug ("P2V_TEST_FACTS: %s = %s", w, eq + 1);
  }
  return 0;
}

int
agent_host_facts (struct agent_facts *f)
{
  if (facts_system (f) == -1 || facts_dmi (f) == -1 || facts_nics (f) == -1 ||
      facts_test_override (f) == -1)
    return -1;
  return 0;
}

void
agent_facts_free (struct agent_facts *f)
{
  for (size_t i = 0; i < f->len; ++i) {
    free (f->ptr[i].key);
    free (f->ptr[i].value);
  }
  agent_facts_reset (f);
}

const char *
agent_fact_get (const struct agent_facts *f, const char *key)
{
  for (size_t i = 0; i < f->len; ++i)
    if (strcmp (f->ptr[i].key, key) == 0)
      return f->ptr[i].value;
  return NULL;
}

