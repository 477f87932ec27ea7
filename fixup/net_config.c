/* Network configuration files that tie a NIC to its MAC, rewritten for
 * the new MAC: udev rules, ifcfg, Debian interfaces, netplan,
 * NetworkManager keyfiles, systemd .link/.network.  Pure functions of
 * the text.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fixup.h"

bool
fixup_is_mac (const char *s)
{
  for (int i = 0; i < 17; ++i)
    if (i % 3 == 2 ? s[i] != ':' && s[i] != '-' : !isxdigit ((unsigned char) s[i]))
      return false;
  return !isxdigit ((unsigned char) s[17]);
}

/* Two MACs are the same whatever the case and separator. */
static bool
same_mac (const char *a, const char *b)
{
  for (int i = 0; i < 17; ++i)
    if (i % 3 != 2 && tolower ((unsigned char) a[i]) != tolower ((unsigned char) b[i]))
      return false;
  return true;
}

/* Skip blanks; then whether the line starts with key (case as given). */
static const char *
after_key (const char *line, const char *key)
{
  while (*line == ' ' || *line == '\t')
    line++;
  return strncmp (line, key, strlen (key)) == 0 ? line + strlen (key) : NULL;
}

static bool
is_comment (const char *line)
{
  while (*line == ' ' || *line == '\t')
    line++;
  return *line == '#' || *line == ';';
}

/* Where a MAC setting's value starts on this line, or NULL. */
static const char *
mac_value (enum fixup_netfmt f, const char *line)
{
  static const char *const keys[][3] = {
    [NET_UDEV] = { NULL },
    [NET_IFCFG] = { "HWADDR=", "MACADDR=" },
    [NET_INTERFACES] = { "hwaddress " , "hwaddress\t" },
    [NET_NETPLAN] = { "macaddress:" },
    [NET_NM] = { "mac-address=" },
    [NET_SYSTEMD] = { "MACAddress=", "PermanentMACAddress=" },
  };
  const char *p;

  if (is_comment (line))
    return NULL;
  if (f == NET_UDEV)            /* ATTR{address}, ATTRS{}, old SYSFS{} */
    return (p = strstr (line, "{address}==")) ? p + 11 : NULL;
  for (int i = 0; i < 3 && keys[f][i]; ++i)
    if ((p = after_key (line, keys[f][i])) != NULL)
      return p;
  return NULL;
}

/* The new MAC written like the old one: same case, same separator. */
static void
put_mac (FILE *fp, const char *old, const char *new)
{
  bool upper = false;

  for (int i = 0; i < 17; ++i)
    upper |= isupper ((unsigned char) old[i]) != 0;
  for (int i = 0; i < 17; ++i)
    fputc (i % 3 == 2 ? old[i] : upper ? toupper ((unsigned char) new[i])
           : tolower ((unsigned char) new[i]), fp);
}

static const struct fixup_nic *
nic_of (const char *mac, const struct fixup_nic *nics, size_t n)
{
  for (size_t i = 0; i < n; ++i)
    if (*nics[i].old_mac && same_mac (mac, nics[i].old_mac))
      return &nics[i];
  return NULL;
}

char *
fixup_net_rewrite (enum fixup_netfmt f, const char *text,
                   const struct fixup_nic *nics, size_t n)
{
  char *out = NULL;
  size_t len = 0;
  FILE *fp = open_memstream (&out, &len);
  const char *line = text;

  if (fp == NULL)
    return NULL;
  while (*line) {
    const char *end = line + strcspn (line, "\n");
    const char *v = mac_value (f, line), *p = line;

    for (; v && v < end && v + 17 <= end; ++v) {
      const struct fixup_nic *x;

      if ((v == line || !isxdigit ((unsigned char) v[-1])) && fixup_is_mac (v) &&
          (x = nic_of (v, nics, n)) != NULL) {
        fwrite (p, 1, v - p, fp);
        put_mac (fp, v, x->new_mac);
        p = v + 17;
        v += 16;
      }
    }
    fwrite (p, 1, end - p + (*end == '\n'), fp);
    line = end + (*end == '\n');
  }
  if (fclose (fp) != 0) {
    free (out);
    return NULL;
  }
  return out;
}

/* The value after key on a line, up to a quote, blank or end: into buf. */
static bool
value_of (const char *line, const char *key, char *buf, size_t size)
{
  const char *p = after_key (line, key);
  size_t n;

  if (p == NULL)
    return false;
  p += strspn (p, " \t\"'");
  n = strcspn (p, "\"' \t\n;");
  if (n == 0 || n >= size)
    return false;
  memcpy (buf, p, n);
  buf[n] = '\0';
  return true;
}

/* A MAC setting of this line matches mac. */
static bool
line_has_mac (enum fixup_netfmt f, const char *line, const char *end,
              const char *mac)
{
  for (const char *v = mac_value (f, line); v && v + 17 <= end; ++v)
    if (fixup_is_mac (v) && same_mac (v, mac))
      return true;
  return false;
}

bool
fixup_net_binds (enum fixup_netfmt f, const char *text, const char *mac,
                 char name[64])
{
  static const char *const name_key[] = {
    [NET_UDEV] = NULL, [NET_IFCFG] = "DEVICE=", [NET_INTERFACES] = NULL,
    [NET_NETPLAN] = "set-name:", [NET_NM] = "interface-name=",
    [NET_SYSTEMD] = "Name=",
  };
  bool bound = false, ambiguous = false;
  char found[64] = "", other[64], iface[64] = "";

  for (const char *line = text; *line;) {
    const char *end = line + strcspn (line, "\n");
    const char *q;

    if (f == NET_INTERFACES && !is_comment (line))
      value_of (line, "iface ", iface, sizeof iface);
    if (line_has_mac (f, line, end, mac)) {
      bound = true;
      /* udev: NAME="eth0" on the rule's own line. */
      if (f == NET_UDEV && (q = strstr (line, "NAME=\"")) && q < end)
        value_of (q, "NAME=", found, sizeof found);
      /* interfaces: hwaddress in the stanza of its iface. */
      if (f == NET_INTERFACES)
        memcpy (found, iface, sizeof found);
    }
    else if (f != NET_UDEV && !is_comment (line) && name_key[f] &&
             value_of (line, name_key[f], other, sizeof other)) {
      /* Two entries naming two NICs: which is ours is not known here. */
      ambiguous |= *found && strcmp (found, other) != 0;
      memcpy (found, other, sizeof found);
    }
    line = end + (*end == '\n');
  }
  if (bound && *found && !ambiguous && strpbrk (found, "*?[") == NULL)
    snprintf (name, 64, "%s", found);
  return bound;
}

int
fixup_net_macs (enum fixup_netfmt f, const char *text, struct fixup_nic *nics,
                size_t *n, size_t max)
{
  for (const char *line = text; *line;) {
    const char *end = line + strcspn (line, "\n");
    const char *v = mac_value (f, line);
    bool known = false;

    for (; v && v + 17 <= end && !fixup_is_mac (v); ++v)
      ;
    if (v && v + 17 <= end) {
      for (size_t i = 0; i < *n && !known; ++i)
        known = same_mac (nics[i].old_mac, v);
      if (!known && *n == max)
        return -1;
      if (!known) {
        struct fixup_nic *x = &nics[(*n)++];

        memset (x, 0, sizeof *x);
        for (int i = 0; i < 17; ++i)
          x->old_mac[i] = i % 3 == 2 ? ':' : tolower ((unsigned char) v[i]);
        fixup_net_binds (f, text, x->old_mac, x->name);
      }
    }
    line = end + (*end == '\n');
  }
  return 0;
}

bool
fixup_names_has (const struct fixup_names *v, const char *s)
{
  for (size_t i = 0; i < v->len; ++i)
    if (strcmp (v->ptr[i], s) == 0)
      return true;
  return false;
}

int
fixup_names_add (struct fixup_names *v, const char *s, size_t len)
{
  char *c = strndup (s, len);

  if (c == NULL)
    return -1;
  if (fixup_names_has (v, c)) {
    free (c);
    return 0;
  }
  if (fixup_names_append (v, c) == 0)
    return 0;
  free (c);
  return -1;
}

char *
fixup_names_vadd (struct fixup_names *v, const char *fmt, va_list ap)
{
  char *s;

  if (vasprintf (&s, fmt, ap) == -1)
    return NULL;
  if (fixup_names_append (v, s) == 0)
    return s;
  free (s);
  return NULL;
}

void
fixup_names_free (struct fixup_names *v)
{
  for (size_t i = 0; i < v->len; ++i)
    free (v->ptr[i]);
  fixup_names_reset (v);
}

/* An interface name: not lo, no glob, no variable. */
static int
add_name (struct fixup_names *out, const char *p, size_t n)
{
  if (n == 0 || n >= 16 || (n == 2 && strncmp (p, "lo", 2) == 0))
    return 0;
  for (size_t i = 0; i < n; ++i)
    if (strchr ("*?[]$%:/\"'", p[i]))
      return 0;
  return fixup_names_add (out, p, n);
}

/* Names after a keyword, each word up to the end of the line. */
static int
words_after (const char *line, const char *end, const char *key,
             struct fixup_names *out)
{
  const char *p = after_key (line, key);

  while (p && p < end) {
    size_t n;

    p += strspn (p, " \t");
    n = strcspn (p, " \t\n");
    if (p + n > end)
      n = end - p;
    if (add_name (out, p, n) == -1)
      return -1;
    p += n ? n : 1;
  }
  return 0;
}

/* netplan: the keys one level under "ethernets:". */
static int
netplan_name (const char *line, const char *end, int st[3],
              struct fixup_names *out)
{
  int in = strspn (line, " ");
  const char *p = line + in;
  size_t n = strcspn (p, ":\n");

  if (p >= end || *p == '#' || p[n] != ':')
    return 0;
  if (st[0] && in <= st[1])
    st[0] = 0;                  /* the ethernets block ended */
  if (st[0] == 0) {
    if (strncmp (p, "ethernets:", 10) == 0) {
      st[0] = 1;
      st[1] = in;
    }
    return 0;
  }
  if (st[0] == 1) {             /* its first entry sets the indent */
    st[0] = 2;
    st[2] = in;
  }
  return in == st[2] ? add_name (out, p, n) : 0;
}

int
fixup_net_names (enum fixup_netfmt f, const char *text,
                 struct fixup_names *out)
{
  int st[3] = { 0 }, r = 0;
  char buf[64];

  for (const char *line = text; *line && r == 0;) {
    const char *end = line + strcspn (line, "\n");

    if (is_comment (line))
      ;
    else if (f == NET_INTERFACES)
      r = words_after (line, end, "auto ", out) |
          words_after (line, end, "allow-hotplug ", out) |
          (value_of (line, "iface ", buf, sizeof buf) ?
           add_name (out, buf, strlen (buf)) : 0);
    else if (f == NET_SYSTEMD)
      r = words_after (line, end, "Name=", out);
    else if (f == NET_IFCFG && value_of (line, "DEVICE=", buf, sizeof buf))
      r = add_name (out, buf, strlen (buf));
    else if (f == NET_NM && value_of (line, "interface-name=", buf, sizeof buf))
      r = add_name (out, buf, strlen (buf));
    else if (f == NET_NETPLAN)
      r = netplan_name (line, end, st, out);
    line = end + (*end == '\n');
  }
  return r;
}
