/* Boot configuration rewritten for the virtual machine: fstab,
 * mdadm.conf, kernel command lines in /etc/default/grub and GRUB
 * legacy's menu.lst.  Pure functions of the text.
 */
#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixup.h"

#define P2V_MARK "#p2v: "       /* how a line we disabled starts */

char *
fixup_close_mem (FILE *fp, char **out)
{
  if (fclose (fp) != 0) {
    free (*out);
    return NULL;
  }
  return *out;
}

static const char *
line_end (const char *line)
{
  return line + strcspn (line, "\n");
}

static const char *
next_line (const char *end)
{
  return end + (*end == '\n');
}

bool
fixup_same_uuid (const char *a, const char *b)
{
  for (;; ++a, ++b) {
    while (*a == ':' || *a == '-' || *a == '.')
      a++;
    while (*b == ':' || *b == '-' || *b == '.')
      b++;
    if (tolower ((unsigned char) *a) != tolower ((unsigned char) *b))
      return false;
    if (*a == '\0')
      return true;
  }
}

static const struct fixup_subst *
subst_of (const char *p, size_t n, const struct fixup_subst *s, size_t ns)
{
  for (size_t i = 0; i < ns; ++i)
    if (strlen (s[i].from) == n && strncmp (p, s[i].from, n) == 0)
      return &s[i];
  return NULL;
}

char *
fixup_fstab (const char *text, const struct fixup_subst *s, size_t n)
{
  char *out = NULL;
  size_t len = 0;
  FILE *fp = open_memstream (&out, &len);

  if (fp == NULL)
    return NULL;
  for (const char *line = text; *line;) {
    const char *end = line_end (line), *p = line + strspn (line, " \t");
    size_t k = strcspn (p, " \t\n");
    const struct fixup_subst *x = *p == '#' ? NULL : subst_of (p, k, s, n);

    if (x) {
      fwrite (line, 1, p - line, fp);
      fputs (x->to, fp);
      p += k;
    }
    else
      p = line;
    fwrite (p, 1, next_line (end) - p, fp);
    line = next_line (end);
  }
  return fixup_close_mem (fp, &out);
}

int
fixup_fstab_specs (const char *text, struct fixup_names *out)
{
  for (const char *line = text; *line;) {
    const char *end = line_end (line), *p = line + strspn (line, " \t");
    size_t k = strcspn (p, " \t\n");

    if (*p != '#' && k && fixup_names_add (out, p, k) == -1)
      return -1;
    line = next_line (end);
  }
  return 0;
}

/* ARRAY DEV ... UUID=U: a flattened array by its UUID or its device. */
static bool
flattened_array (const char *line, const char *end, const struct fixup_md *md,
                 size_t nmd)
{
  const char *p = line + 5 + strspn (line + 5, " \t");
  size_t k = strcspn (p, " \t\n");
  const char *u = strstr (line, "UUID=");
  char uuid[64] = "";

  if (u && u < end) {
    size_t n = strcspn (u + 5, " \t\n");
    snprintf (uuid, sizeof uuid, "%.*s", (int) (n < 63 ? n : 63), u + 5);
  }
  for (size_t i = 0; i < nmd; ++i)
    if ((*uuid && fixup_same_uuid (uuid, md[i].uuid)) ||
        (!*uuid && strlen (md[i].device) == k &&
         strncmp (p, md[i].device, k) == 0))
      return true;
  return false;
}

char *
fixup_mdadm_conf (const char *text, const struct fixup_md *md, size_t nmd)
{
  char *out = NULL;
  size_t len = 0;
  FILE *fp = open_memstream (&out, &len);
  bool off = false;             /* continuation lines of a disabled ARRAY */

  if (fp == NULL)
    return NULL;
  for (const char *line = text; *line;) {
    const char *end = line_end (line);

    if (strncmp (line, "ARRAY", 5) == 0 && isspace ((unsigned char) line[5]))
      off = flattened_array (line, end, md, nmd);
    else if (!(*line == ' ' || *line == '\t') || end == line)
      off = false;
    if (off)
      fputs (P2V_MARK, fp);
    fwrite (line, 1, next_line (end) - line, fp);
    line = next_line (end);
  }
  return fixup_close_mem (fp, &out);
}

/* rd.md.uuid=U of a flattened array, or md=N,... of one. */
static bool
flattened_arg (const char *p, size_t k, const struct fixup_md *md, size_t nmd)
{
  char v[128];

  if (k >= sizeof v)
    return false;
  memcpy (v, p, k);
  v[k] = '\0';
  for (size_t i = 0; i < nmd; ++i) {
    const char *dev = strrchr (md[i].device, '/');
    const char *num = dev ? dev + 1 + strcspn (dev + 1, "0123456789") : "";

    if (strncmp (v, "rd.md.uuid=", 11) == 0 && fixup_same_uuid (v + 11, md[i].uuid))
      return true;
    if (strncmp (v, "md=", 3) == 0 && *num &&
        strncmp (v + 3, num, strlen (num)) == 0 && v[3 + strlen (num)] == ',')
      return true;
  }
  return false;
}

char *
fixup_cmdline (const char *args, const struct fixup_subst *s, size_t n,
               const struct fixup_md *md, size_t nmd, bool serial)
{
  char *out = NULL;
  size_t len = 0;
  FILE *fp = open_memstream (&out, &len);
  bool first = true, has_serial = false;

  if (fp == NULL)
    return NULL;
  for (const char *p = args + strspn (args, " "); *p; p += strspn (p, " ")) {
    size_t k = strcspn (p, " ");
    const struct fixup_subst *x = strncmp (p, "root=", 5) == 0 ?
      subst_of (p + 5, k - 5, s, n) : NULL;

    has_serial |= strncmp (p, "console=ttyS", 12) == 0;
    if (!flattened_arg (p, k, md, nmd)) {
      fputs (first ? "" : " ", fp);
      if (x)
        fprintf (fp, "root=%s", x->to);
      else
        fwrite (p, 1, k, fp);
      first = false;
    }
    p += k;
  }
  if (serial && !has_serial)
    fprintf (fp, "%sconsole=tty0 console=ttyS0,115200n8", first ? "" : " ");
  return fixup_close_mem (fp, &out);
}

/* KEY="ARGS" (or unquoted) through fixup_cmdline. */
static void
put_cmdline_var (FILE *fp, const char *line, const char *end, size_t keylen,
                 const struct fixup_subst *s, size_t n,
                 const struct fixup_md *md, size_t nmd, bool serial)
{
  const char *v = line + keylen;
  char q = *v == '"' || *v == '\'' ? *v : 0;
  const char *ve = q ? memchr (v + 1, q, end - v - 1) : end;
  char *args, *fixed;

  if (ve == NULL || (args = strndup (v + !!q, ve - v - !!q)) == NULL) {
    fwrite (line, 1, next_line (end) - line, fp);
    return;
  }
  fixed = fixup_cmdline (args, s, n, md, nmd, serial);
  fprintf (fp, "%.*s\"%s\"", (int) keylen, line, fixed ? fixed : args);
  fwrite (ve + !!q, 1, next_line (end) - ve - !!q, fp);
  free (args);
  free (fixed);
}

char *
fixup_grub_default (const char *text, const struct fixup_subst *s, size_t n,
                    const struct fixup_md *md, size_t nmd, bool serial)
{
  char *out = NULL;
  size_t len = 0;
  FILE *fp = open_memstream (&out, &len);
  bool has_cmdline = false, has_terminal = false;
  const char *key = "GRUB_CMDLINE_LINUX=", *dkey = "GRUB_CMDLINE_LINUX_DEFAULT=";

  if (fp == NULL)
    return NULL;
  for (const char *line = text; *line;) {
    const char *end = line_end (line);

    if (strncmp (line, key, strlen (key)) == 0) {
      put_cmdline_var (fp, line, end, strlen (key), s, n, md, nmd, serial);
      has_cmdline = true;
    }
    else if (strncmp (line, dkey, strlen (dkey)) == 0)
      put_cmdline_var (fp, line, end, strlen (dkey), s, n, md, nmd, false);
    else {
      if (strncmp (line, "GRUB_DISABLE_LINUX_UUID=true", 28) == 0)
        fputs (P2V_MARK, fp);   /* root= by UUID: device names change */
      has_terminal |= strncmp (line, "GRUB_TERMINAL", 13) == 0;
      fwrite (line, 1, next_line (end) - line, fp);
    }
    line = next_line (end);
  }
  if (len && out[len - 1] != '\n')
    fputc ('\n', fp);
  if (serial && !has_cmdline)
    fputs ("GRUB_CMDLINE_LINUX=\"console=tty0 console=ttyS0,115200n8\"\n", fp);
  if (serial && !has_terminal)
    fputs ("GRUB_TERMINAL=\"console serial\"\n"
           "GRUB_SERIAL_COMMAND=\"serial --unit=0 --speed=115200\"\n", fp);
  return fixup_close_mem (fp, &out);
}

char *
fixup_grub_legacy (const char *text, const struct fixup_subst *s, size_t n,
                   const struct fixup_md *md, size_t nmd, bool serial)
{
  char *out = NULL;
  size_t len = 0;
  FILE *fp = open_memstream (&out, &len);

  if (fp == NULL)
    return NULL;
  for (const char *line = text; *line;) {
    const char *end = line_end (line), *p = line + strspn (line, " \t");
    const char *img = p + 6 + strspn (p + 6, " \t");
    const char *args = img + strcspn (img, " \t\n");

    if (strncmp (p, "kernel", 6) == 0 && (p[6] == ' ' || p[6] == '\t') &&
        args < end) {
      char *a = strndup (args, end - args);
      char *fixed = a ? fixup_cmdline (a, s, n, md, nmd, serial) : NULL;

      if (fixed) {
        fprintf (fp, "%.*s %s", (int) (args - line), line, fixed);
        fwrite (end, 1, next_line (end) - end, fp);
      }
      else
        fwrite (line, 1, next_line (end) - line, fp);
      free (a);
      free (fixed);
    }
    else
      fwrite (line, 1, next_line (end) - line, fp);
    line = next_line (end);
  }
  return fixup_close_mem (fp, &out);
}

bool
fixup_old_name (const char *s, int *disk, int *part)
{
  static const char *const prefix[] = { "/dev/sd", "/dev/hd", "/dev/vd",
                                        "/dev/xvd" };
  int c, n = 0;
  char *end;

  *disk = -1;
  if (sscanf (s, "/dev/cciss/c%dd%d%n", &c, disk, &n) == 2 && *disk >= 0) {
    s += n;
    if (*s == 'p')
      s++;
    else if (*s)
      return false;
  }
  for (size_t i = 0; i < 4 && *disk < 0; ++i)
    if (strncmp (s, prefix[i], strlen (prefix[i])) == 0) {
      s += strlen (prefix[i]);
      for (*disk = 0; *s >= 'a' && *s <= 'z' && *disk < 1000; ++s)
        *disk = *disk * 26 + (*s - 'a' + 1);
      *disk -= 1;               /* sda is 0, sdz 25, sdaa 26 */
    }
  if (*disk < 0)
    return false;
  *part = *s ? (int) strtol (s, &end, 10) : 0;
  return *s == '\0' || (*end == '\0' && *part > 0 && isdigit ((unsigned char) *s));
}

char *
fixup_shell_var (const char *text, const char *name, char *value, size_t size)
{
  size_t n = strlen (name);
  char *found = NULL;

  for (const char *line = text, *end; *line; line = next_line (end)) {
    end = line_end (line);
    line += strspn (line, " \t");
    if (strncmp (line, "export ", 7) == 0)
      line += 7 + strspn (line + 7, " \t");
    if (end - line > (ptrdiff_t) n && strncmp (line, name, n) == 0 &&
        line[n] == '=') {
      const char *v = line + n + 1;
      size_t len = strcspn (v, " \t#;\n");

      if (*v == '"' || *v == '\'') {
        const char *close = memchr (v + 1, *v, end - v - 1);

        len = close ? (size_t) (close - v - 1) : 0;
        v++;
      }
      if (len >= size)
        len = size - 1;
      memcpy (value, v, len);
      value[len] = '\0';
      found = value;
    }
  }
  return found;
}
