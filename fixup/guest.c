/* Reading and changing the guest through libguestfs: every change is
 * recorded, the original file kept, and --dry-run prints diffs instead.
 */
#include <errno.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <guestfs.h>

#include "fixup.h"
#include "cleanup.h"
#include "log.h"

void
fixup_warn (struct fixup *f, const char *fmt, ...)
{
  va_list ap;
  const char *msg;

  va_start (ap, fmt);
  msg = fixup_names_vadd (&f->warnings, fmt, ap);
  va_end (ap);
  if (msg)
    p2v_warning ("%s", msg);
}

static void
guest_error (struct fixup *f, const char *what)
{
  const char *m = guestfs_last_error (f->g);

  p2v_error ("%s: %s", what, m ? m : "libguestfs failed");
}

bool
fixup_exists (struct fixup *f, const char *path)
{
  return guestfs_is_file (f->g, path) > 0;
}

char *
fixup_read (struct fixup *f, const char *path)
{
  size_t len;
  char *data, *text;

  if (!fixup_exists (f, path))
    return NULL;
  data = guestfs_read_file (f->g, path, &len);
  if (data == NULL || (text = realloc (data, len + 1)) == NULL) {
    free (data);
    return NULL;
  }
  text[len] = '\0';
  if (strlen (text) != len) {      /* not a text file: not ours to edit */
    free (text);
    return NULL;
  }
  return text;
}

char **
fixup_glob (struct fixup *f, const char *pattern)
{
  char **all = guestfs_glob_expand (f->g, pattern), **out = all;

  if (all == NULL)
    return NULL;
  for (char **p = all; *p; ++p)
    if (strstr (*p, ".p2v-orig") || fnmatch ("*~", *p, 0) == 0 ||
        guestfs_is_file (f->g, *p) <= 0)
      free (*p);
    else
      *out++ = *p;
  *out = NULL;
  return all;
}

void
fixup_free_list (char **list)
{
  for (char **p = list; p && *p; ++p)
    free (*p);
  free (list);
}

/* Where the original of path is kept: FILE.p2v-orig beside it, except
 * in directories whose every file is read as configuration, where a
 * visible copy would bring the old settings back (ifcfg-eth0.p2v-orig
 * is an interface to the RHEL scripts): there .FILE.p2v-orig.
 */
static char *
kept_name (const char *path)
{
  static const char *const scanned[] = {
    "/etc/sysconfig/network-scripts/", "/etc/sysconfig/network/",
    "/etc/NetworkManager/system-connections/", "/etc/network/interfaces.d/",
  };
  const char *base = strrchr (path, '/') + 1;
  char *kept;

  for (size_t i = 0; i < sizeof scanned / sizeof scanned[0]; ++i)
    if (strncmp (path, scanned[i], strlen (scanned[i])) == 0 &&
        strchr (path + strlen (scanned[i]), '/') == NULL) {
      if (asprintf (&kept, "%.*s.%s.p2v-orig", (int) (base - path), path,
                    base) == -1)
        return NULL;
      return kept;
    }
  return asprintf (&kept, "%s.p2v-orig", path) == -1 ? NULL : kept;
}

static int
write_tmp (char *tmpl, const char *text)
{
  int fd = mkstemp (tmpl);
  size_t len = text ? strlen (text) : 0;

  if (fd == -1 || write (fd, text ? text : "", len) != (ssize_t) len) {
    p2v_error ("%s: %m", tmpl);
    if (fd >= 0)
      close (fd);
    return -1;
  }
  close (fd);
  return 0;
}

/* diff -u of the change, on standard output. */
static int
print_diff (const char *path, const char *old, const char *new)
{
  char a[] = "/tmp/p2v-fixup-a.XXXXXX", b[] = "/tmp/p2v-fixup-b.XXXXXX";
  CLEANUP_FREE char *la = NULL, *lb = NULL;
  pid_t pid;
  int status = -1;

  if (asprintf (&la, "%s%s", old ? "a" : "/dev/null", old ? path : "") == -1 ||
      asprintf (&lb, "b%s", path) == -1 || write_tmp (a, old) == -1)
    return -1;
  if (write_tmp (b, new) == -1) {
    unlink (a);
    return -1;
  }
  fflush (stdout);
  pid = fork ();
  if (pid == 0) {
    execlp ("diff", "diff", "-u", "--label", la, "--label", lb, a, b, NULL);
    _exit (127);
  }
  if (pid > 0)
    waitpid (pid, &status, 0);
  unlink (a);
  unlink (b);
  if (!WIFEXITED (status) || WEXITSTATUS (status) > 1) {
    p2v_error ("diff of %s failed (is diffutils installed?)", path);
    return -1;
  }
  return 0;
}

static int
record (struct fixup *f, const char *file, const char *cmd, const char *why)
{
  struct fixup_change c = {
    file ? strdup (file) : NULL, cmd ? strdup (cmd) : NULL, strdup (why)
  };

  if ((file && !c.file) || (cmd && !c.command) || !c.why ||
      fixup_changes_append (&f->changes, c) == -1) {
    free (c.file);
    free (c.command);
    free (c.why);
    p2v_error ("out of memory");
    return -1;
  }
  return 0;
}

void
fixup_record_command (struct fixup *f, const char *cmd, const char *why)
{
  record (f, NULL, cmd, why);
}

int
fixup_replace (struct fixup *f, const char *path, const char *old,
               const char *new, const char *why)
{
  CLEANUP_FREE char *kept = NULL;

  if (old && strcmp (old, new) == 0)
    return 0;
  p2v_info ("%s %s: %s", f->dry_run ? "would change" : "changing", path, why);
  if (f->dry_run)
    return print_diff (path, old, new) == -1 ? -1 : record (f, path, NULL, why);
  if (old) {
    /* The first original stays: a re-run must not keep our own edit. */
    if ((kept = kept_name (path)) == NULL)
      return -1;
    if (!fixup_exists (f, kept) && guestfs_cp_a (f->g, path, kept) == -1) {
      guest_error (f, kept);
      return -1;
    }
  }
  if (guestfs_write (f->g, path, new, strlen (new)) == -1) {
    guest_error (f, path);
    return -1;
  }
  return record (f, path, NULL, why);
}

int
fixup_run (struct fixup *f, const char *cmd, const char *why)
{
  char *out;

  p2v_info ("%s %s (%s)", f->dry_run ? "would run" : "running", cmd, why);
  if (!f->dry_run) {
    out = guestfs_sh (f->g, cmd);
    if (out == NULL) {
      fixup_warn (f, "in the guest, '%s' failed: %s", cmd,
                  guestfs_last_error (f->g) ? guestfs_last_error (f->g) : "?");
      return -1;
    }
    if (p2v_verbose > 0)
      fputs (out, stderr);
    free (out);
  }
  return record (f, NULL, cmd, why);
}

const char *
fixup_disk_label (size_t i)
{
  static const char labels[FIXUP_MAX_DISKS][4] = {
    "pva", "pvb", "pvc", "pvd", "pve", "pvf", "pvg", "pvh", "pvi", "pvj",
    "pvk", "pvl", "pvm", "pvn", "pvo", "pvp", "pvq", "pvr", "pvs", "pvt",
    "pvu", "pvv", "pvw", "pvx", "pvy", "pvz",
  };

  return i < FIXUP_MAX_DISKS ? labels[i] : NULL;
}

const struct fixup_dev *
fixup_dev_of (const struct fixup *f, const char *from)
{
  for (size_t i = 0; i < f->devs.len; ++i)
    if (strcmp (f->devs.ptr[i].from, from) == 0)
      return &f->devs.ptr[i];
  return NULL;
}
