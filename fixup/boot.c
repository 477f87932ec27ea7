/* RAID removal and boot fixups: names of devices that no longer exist
 * (flattened md arrays, the physical disks') replaced by filesystem
 * UUIDs in fstab and on the kernel command line, the arrays dropped
 * from mdadm.conf, virtio drivers and a serial console added; then the
 * initramfs rebuilt and GRUB regenerated and reinstalled, by the
 * guest's own tools, so they no longer look for the arrays.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <guestfs.h>

#include "fixup.h"
#include "cleanup.h"
#include "log.h"

/* Replacements for the names that changed, where a UUID can stand in. */
static size_t
substitutions (struct fixup *f, struct fixup_subst *s, size_t max)
{
  size_t n = 0;

  for (size_t i = 0; i < f->devs.len && n < max; ++i) {
    const struct fixup_dev *d = &f->devs.ptr[i];

    if (*d->uuid == '\0' || strcmp (d->type, "LVM2_member") == 0 ||
        strcmp (d->type, "linux_raid_member") == 0)
      continue;
    snprintf (s[n].from, sizeof s[n].from, "%s", d->from);
    snprintf (s[n].to, sizeof s[n].to, "UUID=%s", d->uuid);
    n++;
  }
  return n;
}

/* Apply a rewriter to a guest file, if it is there. */
static int
edit (struct fixup *f, const char *path,
      char *(*fn) (const char *, const struct fixup_subst *, size_t,
                   const struct fixup_md *, size_t, bool),
      const struct fixup_subst *s, size_t n, const char *why, bool *stale)
{
  CLEANUP_FREE char *old = fixup_read (f, path), *new = NULL;

  if (old == NULL)
    return 0;
  if ((new = fn (old, s, n, f->md, f->nmd, f->serial)) == NULL) {
    p2v_error ("%s: out of memory", path);
    return -1;
  }
  if (strcmp (old, new) != 0 && stale)
    *stale = true;
  return fixup_replace (f, path, old, new, why);
}

int
fixup_raid (struct fixup *f)
{
  static const char *const conf[] = { "/etc/mdadm/mdadm.conf",
                                      "/etc/mdadm.conf" };

  static const char *const cfg[] = { "/boot/grub/grub.cfg",
                                      "/boot/grub2/grub.cfg" };

  if (f->nmd == 0)
    return 0;
  for (size_t i = 0; i < 2; ++i) {
    CLEANUP_FREE char *old = fixup_read (f, conf[i]), *new = NULL;

    if (old == NULL)
      continue;
    if ((new = fixup_mdadm_conf (old, f->md, f->nmd)) == NULL ||
        fixup_replace (f, conf[i], old, new, "the arrays were flattened "
                       "into plain partitions: none to assemble") == -1)
      return -1;
    /* The initramfs holds mdadm.conf and waits for its arrays. */
    f->initramfs_stale |= strcmp (old, new) != 0;
  }
  /* grub.cfg, and the core image that found it, look for the arrays
   * while they name one (a re-run finds none).
   */
  for (size_t i = 0; i < 2; ++i) {
    CLEANUP_FREE char *text = fixup_read (f, cfg[i]);

    if (text && (strstr (text, "mduuid/") || strstr (text, "insmod mdraid")))
      f->grub_stale = f->reinstall_grub = true;
  }
  return 0;
}

static char *
fstab_fn (const char *text, const struct fixup_subst *s, size_t n,
          const struct fixup_md *md, size_t nmd, bool serial)
{
  (void) md; (void) nmd; (void) serial;
  return fixup_fstab (text, s, n);
}

/* Whether conf sets var, into value (overwriting an earlier one). */
static void
shell_var_of (struct fixup *f, const char *conf, const char *var,
              char *value, size_t size)
{
  CLEANUP_FREE char *text = fixup_read (f, conf);

  if (text)
    fixup_shell_var (text, var, value, size);
}

/* initramfs-tools' MODULES as mkinitramfs sees it: initramfs.conf, then
 * the conf.d files in name order (those of /etc masking /usr/share's),
 * default "most".  false if the guest has no initramfs.conf.
 */
static bool
initramfs_tools_modules (struct fixup *f, char *value, size_t size)
{
  static const char *const dirs[] = { "/usr/share/initramfs-tools/conf.d",
                                      "/etc/initramfs-tools/conf.d" };
  CLEANUP_FREE char *conf = fixup_read (f, "/etc/initramfs-tools/initramfs.conf");
  char pattern[64];

  if (conf == NULL)
    return false;
  snprintf (value, size, "most");
  fixup_shell_var (conf, "MODULES", value, size);
  for (size_t d = 0; d < 2; ++d) {
    char **files;

    snprintf (pattern, sizeof pattern, "%s/*", dirs[d]);
    if ((files = fixup_glob (f, pattern)) == NULL)
      continue;
    for (char **p = files; *p; ++p) {
      const char *base = strrchr (*p, '/') + 1;
      char masking[128];

      /* mkinitramfs reads names of [[:alnum:]._-] only, not .dpkg-*. */
      if (!isalnum ((unsigned char) *base) ||
          base[strspn (base, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                       "0123456789._-")] != '\0' || strstr (base, ".dpkg-"))
        continue;
      snprintf (masking, sizeof masking, "%s/%s", dirs[1], base);
      if (d == 0 && fixup_exists (f, masking))
        continue;
      shell_var_of (f, *p, "MODULES", value, size);
    }
    fixup_free_list (files);
  }
  return true;
}

/* The first of these tools the guest has, or NULL. */
static const char *
tool (struct fixup *f, const char *const *paths)
{
  for (; *paths; ++paths)
    if (fixup_exists (f, *paths))
      return strrchr (*paths, '/') + 1;
  return NULL;
}

/* The guest's initramfs generators.  A Debian guest that changed to
 * dracut may keep initramfs-tools' configuration files.
 */
static const char *const uir[] = { "/usr/sbin/update-initramfs",
                                   "/sbin/update-initramfs", NULL };
static const char *const dracut[] = { "/usr/bin/dracut", "/usr/sbin/dracut",
                                      "/sbin/dracut", NULL };
static const char *const mkinitrd[] = { "/sbin/mkinitrd",
                                        "/usr/sbin/mkinitrd", NULL };

/* Kernels with virtio as modules need them in the initramfs. */
static int
virtio_initramfs (struct fixup *f)
{
  static const char mods[] = "virtio_pci\nvirtio_blk\nvirtio_scsi\nvirtio_net\n";
  CLEANUP_FREE char *old = NULL, *new = NULL;
  const char *why = "the virtual disk's and NIC's drivers in the initramfs";
  char modules[32];

  if (!f->virtio_modules)
    return 0;
  if (tool (f, uir) && initramfs_tools_modules (f, modules, sizeof modules)) {
    if (strcmp (modules, "most") == 0)
      return 0;                 /* "most" holds every block driver */
    old = fixup_read (f, "/etc/initramfs-tools/modules");
    if (old && strstr (old, "\nvirtio_blk\n"))
      return 0;
    if (asprintf (&new, "%s%s# Added by p2v-fixup:\n%s", old ? old : "",
                  old && *old && old[strlen (old) - 1] != '\n' ? "\n" : "",
                  mods) == -1)
      return -1;
    f->initramfs_stale = true;
    return fixup_replace (f, "/etc/initramfs-tools/modules", old, new, why);
  }
  if (tool (f, dracut)) {
    const char *path = "/etc/dracut.conf.d/60-p2v-virtio.conf";
    const char *text = "# Added by p2v-fixup\n"
                       "add_drivers+=\" virtio_pci virtio_blk virtio_scsi \"\n";

    old = fixup_read (f, path);
    if (old == NULL || strcmp (old, text) != 0)
      f->initramfs_stale = true;
    guestfs_mkdir_p (f->g, "/etc/dracut.conf.d");
    return fixup_replace (f, path, old, text, why);
  }
  return 0;
}

static int
rebuild_initramfs (struct fixup *f)
{
  const char *why = "so that the initramfs no longer waits for md arrays "
                    "and has the virtual machine's drivers";
  char cmd[512];
  int r = 0;

  if (tool (f, uir))
    return fixup_run (f, "update-initramfs -u -k all", why);
  for (size_t i = 0; i < f->kernels.len; ++i) {
    const char *v = f->kernels.ptr[i].version;

    if (tool (f, dracut)) {
      /* Where the guest keeps it: Debian's name, else RHEL's. */
      char debian[192];

      snprintf (debian, sizeof debian, "/boot/initrd.img-%s", v);
      if (fixup_exists (f, debian))
        snprintf (cmd, sizeof cmd, "dracut -f %s %s", debian, v);
      else
        snprintf (cmd, sizeof cmd, "dracut -f /boot/initramfs-%s.img %s", v, v);
    }
    else if (tool (f, mkinitrd))
      snprintf (cmd, sizeof cmd, "mkinitrd -f%s /boot/initrd-%s.img %s",
                f->virtio_modules ? " --with=virtio_pci --with=virtio_blk" : "",
                v, v);
    else {
      fixup_warn (f, "no update-initramfs, dracut or mkinitrd in the guest: "
                  "its initramfs was not rebuilt and may still look for "
                  "the old devices");
      return -1;
    }
    r |= fixup_run (f, cmd, why);
  }
  return r;
}

static int
regenerate_grub (struct fixup *f)
{
  static const char *const update[] = { "/usr/sbin/update-grub",
                                        "/sbin/update-grub", NULL };
  static const char *const install[] = { "/usr/sbin/grub-install",
                                         "/usr/sbin/grub2-install",
                                         "/sbin/grub-install", NULL };
  const char *inst = tool (f, install);
  char cmd[512];
  int r = 0;

  if (strcmp (f->bootloader, "grub2") != 0)
    return 0;                   /* GRUB legacy: menu.lst was edited */
  if (f->grub_stale) {
    if (tool (f, update))
      r |= fixup_run (f, "update-grub", "the kernel command line and the "
                      "boot disk changed");
    else
      r |= fixup_run (f, fixup_exists (f, "/boot/grub2/grub.cfg")
                      ? "grub2-mkconfig -o /boot/grub2/grub.cfg"
                      : "grub-mkconfig -o /boot/grub/grub.cfg",
                      "the kernel command line and the boot disk changed");
  }
  if (!f->reinstall_grub)
    return r;
  if (inst == NULL) {
    fixup_warn (f, "no grub-install in the guest: its boot sector still "
                "looks for the md arrays");
    return -1;
  }
  if (strcmp (f->firmware, "uefi") == 0)
    snprintf (cmd, sizeof cmd, "%s --target=x86_64-efi --efi-directory=/boot/efi "
              "--removable --no-nvram", inst);
  else
    snprintf (cmd, sizeof cmd, "%s --target=i386-pc "
              "\"$(readlink -f /dev/disk/guestfs/%s)\"", inst, fixup_disk_label (0));
  return r | fixup_run (f, cmd, "the boot loader looked for the /boot "
                        "array; now it finds the plain partition");
}

int
fixup_boot (struct fixup *f)
{
  struct fixup_subst s[64];
  size_t n = substitutions (f, s, 64);
  bool fstab_changed = false;

  if (edit (f, "/etc/fstab", fstab_fn, s, n, "names of devices that no "
            "longer exist (md arrays, the physical disks') replaced by "
            "filesystem UUIDs", &fstab_changed) == -1 ||
      edit (f, "/etc/default/grub", fixup_grub_default, s, n, "root by "
            "UUID, no md arrays to assemble, a serial console",
            &f->grub_stale) == -1 ||
      edit (f, "/boot/grub/menu.lst", fixup_grub_legacy, s, n, "root by "
            "UUID, no md arrays, a serial console", NULL) == -1 ||
      edit (f, "/boot/grub/grub.conf", fixup_grub_legacy, s, n, "root by "
            "UUID, no md arrays, a serial console", NULL) == -1 ||
      virtio_initramfs (f) == -1)
    return -1;
  /* The initramfs mounts / as fstab says; a new fstab must be in it. */
  f->initramfs_stale |= fstab_changed;
  /* Failures here are warnings (reported): the files are fixed. */
  if (f->initramfs_stale)
    rebuild_initramfs (f);
  regenerate_grub (f);
  return 0;
}
