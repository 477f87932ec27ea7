/* What the guest is (libguestfs inspection plus a look at its kernels
 * and boot loader), the names its configuration may use for devices
 * that changed, and mounting its filesystems as its fstab says.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <guestfs.h>

#include "fixup.h"
#include "cleanup.h"
#include "log.h"

static char *
first_of (struct fixup *f, const char *const *paths, const char *const *what)
{
  for (size_t i = 0; paths[i]; ++i)
    if (guestfs_exists (f->g, paths[i]) > 0)
      return strdup (what[i]);
  return strdup ("unknown");
}

static void
init_and_bootloader (struct fixup *f)
{
  static const char *const init[] = {
    "/lib/systemd/systemd", "/usr/lib/systemd/systemd", "/sbin/initctl",
    "/sbin/init", NULL };
  static const char *const init_what[] = {
    "systemd", "systemd", "upstart", "sysvinit" };
  static const char *const boot[] = {
    "/boot/grub/grub.cfg", "/boot/grub2/grub.cfg", "/boot/grub/menu.lst",
    "/boot/grub/grub.conf", "/etc/lilo.conf", NULL };
  static const char *const boot_what[] = {
    "grub2", "grub2", "grub-legacy", "grub-legacy", "lilo" };

  f->init = first_of (f, init, init_what);
  f->bootloader = first_of (f, boot, boot_what);
}

#define ESP_GUID "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"

/* An EFI system partition: GPT type ESP, or MBR type 0xef. */
static bool
find_esp (struct fixup *f, char esp[64])
{
  char **parts = guestfs_list_partitions (f->g);
  bool found = false;

  for (char **p = parts; p && *p && !found; ++p) {
    CLEANUP_FREE char *dev = guestfs_part_to_dev (f->g, *p);
    CLEANUP_FREE char *table = dev ? guestfs_part_get_parttype (f->g, dev)
                                   : NULL;
    int n = guestfs_part_to_partnum (f->g, *p);

    if (table && n > 0 && strcmp (table, "gpt") == 0) {
      CLEANUP_FREE char *guid = guestfs_part_get_gpt_type (f->g, dev, n);

      found = guid && strcasecmp (guid, ESP_GUID) == 0;
    }
    else if (table && n > 0 && strcmp (table, "msdos") == 0)
      found = guestfs_part_get_mbr_id (f->g, dev, n) == 0xef;
    if (found)
      snprintf (esp, 64, "%s", *p);
  }
  fixup_free_list (parts);
  return found;
}

static bool
any_dir (struct fixup *f, const char *a, const char *b)
{
  return guestfs_is_dir (f->g, a) > 0 || guestfs_is_dir (f->g, b) > 0;
}

/* Unless given: the firmware the guest boots with, from its disks.  An
 * EFI system partition with a boot loader on it (/boot/efi/EFI/x/y.efi)
 * means UEFI, unless GRUB was installed for BIOS alone; else BIOS.
 * firmware_from says why, for the report.
 */
static void
guess_firmware (struct fixup *f)
{
  char esp[64] = "";
  char **loaders = guestfs_glob_expand (f->g, "/boot/efi/[Ee][Ff][Ii]/*/"
                                        "*.[Ee][Ff][Ii]");
  /* Named from the ESP's root: EFI/debian/grubx64.efi. */
  const char *loader = loaders && loaders[0] ? loaders[0] + 10 : NULL;
  bool has_esp = find_esp (f, esp);
  bool bios_grub = any_dir (f, "/boot/grub/i386-pc", "/boot/grub2/i386-pc");
  bool efi_grub = any_dir (f, "/boot/grub/x86_64-efi",
                           "/boot/grub2/x86_64-efi");

  if (f->firmware)
    snprintf (f->firmware_from, sizeof f->firmware_from, "given");
  else if (loader && (!bios_grub || efi_grub)) {
    f->firmware = "uefi";
    snprintf (f->firmware_from, sizeof f->firmware_from, "%s%s with %s",
              has_esp ? "the EFI system partition " : "/boot/efi",
              has_esp ? esp : "", loader);
  }
  else {
    f->firmware = "bios";
    snprintf (f->firmware_from, sizeof f->firmware_from, "%s",
              bios_grub ? "GRUB installed for BIOS"
              : !has_esp ? "no EFI system partition"
              : "no boot loader on the EFI system partition");
  }
  fixup_free_list (loaders);
}

/* Whether a kernel has this driver as a module or built in. */
static int
has_driver (struct fixup *f, const char *v, const char *dir, const char *mod,
            const char *builtin)
{
  char pattern[512];
  char **found;
  int r = 0;

  snprintf (pattern, sizeof pattern, "/lib/modules/%s/kernel/%s/%s.ko*", v,
            dir, mod);
  if ((found = guestfs_glob_expand (f->g, pattern)) && found[0])
    r = 1;
  fixup_free_list (found);
  snprintf (pattern, sizeof pattern, "kernel/%s/%s.ko", dir, mod);
  if (r == 0 && builtin && strstr (builtin, pattern))
    r = 2;
  return r;
}

static int
kernels (struct fixup *f)
{
  char **versions = guestfs_ls (f->g, "/lib/modules");

  for (char **v = versions; v && *v; ++v) {
    char path[512];
    CLEANUP_FREE char *builtin = NULL;
    struct fixup_kernel k = { "", "no" };
    int blk, net;

    snprintf (path, sizeof path, "/boot/vmlinuz-%s", *v);
    if (!fixup_exists (f, path))
      continue;                 /* modules left behind by a removed kernel */
    snprintf (path, sizeof path, "/lib/modules/%s/modules.builtin", *v);
    builtin = fixup_read (f, path);
    blk = has_driver (f, *v, "drivers/block", "virtio_blk", builtin);
    net = has_driver (f, *v, "drivers/net", "virtio_net", builtin);
    snprintf (k.version, sizeof k.version, "%s", *v);
    if (blk && net) {
      k.virtio = blk == 2 && net == 2 ? "built in" : "modules";
      f->virtio = true;
      f->virtio_modules |= blk == 1;
    }
    if (fixup_kernels_append (&f->kernels, k) == -1) {
      fixup_free_list (versions);
      return -1;
    }
  }
  fixup_free_list (versions);
  return 0;
}

int
fixup_inspect (struct fixup *f)
{
  char **roots = guestfs_inspect_os (f->g);
  CLEANUP_FREE char *type = NULL;
  size_t n = 0;
  int major, minor;

  if (roots == NULL)
    return -1;
  for (char **r = roots; *r; ++r, ++n)
    if (f->root == NULL) {
      free (type);
      type = guestfs_inspect_get_type (f->g, *r);
      if (type && strcmp (type, "linux") == 0)
        f->root = strdup (*r);
    }
  if (n > 1)
    fixup_warn (f, "%zu operating systems found; fixing up the Linux on %s "
                "only", n, f->root ? f->root : "?");
  fixup_free_list (roots);
  if (f->root == NULL)
    return 1;
  f->distro = guestfs_inspect_get_distro (f->g, f->root);
  f->product = guestfs_inspect_get_product_name (f->g, f->root);
  f->pkgs = guestfs_inspect_get_package_format (f->g, f->root);
  major = guestfs_inspect_get_major_version (f->g, f->root);
  minor = guestfs_inspect_get_minor_version (f->g, f->root);
  if (asprintf (&f->version, "%d.%d", major, minor) == -1)
    f->version = NULL;
  return 0;
}

/* The md arrays' names, as a guest's fstab or kernel command line may
 * write them, for the partition (or disk) that now holds each.
 */
static int
md_names (struct fixup *f, const struct fixup_md *m, char names[6][128])
{
  const char *num = m->device + strcspn (m->device, "0123456789");
  const char *short_name = strchr (m->name, ':') ? strchr (m->name, ':') + 1
                           : m->name;
  char hex[33] = "", colon[40] = "";
  int n = 0;

  for (const char *p = m->uuid; *p && strlen (hex) < 32; ++p)
    if (*p != ':' && *p != '-' && *p != '.')
      strncat (hex, p, 1);
  if (strlen (hex) == 32)
    snprintf (colon, sizeof colon, "%.8s:%.8s:%.8s:%.8s", hex, hex + 8,
              hex + 16, hex + 24);
  (void) f;
  snprintf (names[n++], 128, "%s", m->device);
  if (*num) {
    snprintf (names[n++], 128, "/dev/md%s", num);
    snprintf (names[n++], 128, "/dev/md/%s", num);
  }
  if (*short_name)
    snprintf (names[n++], 128, "/dev/md/%s", short_name);
  if (*colon)
    snprintf (names[n++], 128, "/dev/disk/by-id/md-uuid-%s", colon);
  if (*m->name)
    snprintf (names[n++], 128, "/dev/disk/by-id/md-name-%s", m->name);
  return n;
}

static int
add_dev (struct fixup *f, const char *from, const char *dev)
{
  struct fixup_dev d = { "" };
  CLEANUP_FREE char *uuid = NULL, *type = NULL;

  if (fixup_dev_of (f, from))
    return 0;
  /* Errors only mean nothing is there: no UUID to use. */
  guestfs_push_error_handler (f->g, NULL, NULL);
  type = guestfs_vfs_type (f->g, dev);
  uuid = guestfs_vfs_uuid (f->g, dev);
  guestfs_pop_error_handler (f->g);
  snprintf (d.from, sizeof d.from, "%s", from);
  snprintf (d.dev, sizeof d.dev, "%s", dev);
  snprintf (d.uuid, sizeof d.uuid, "%s", uuid ? uuid : "");
  snprintf (d.type, sizeof d.type, "%s", type ? type : "");
  return fixup_devs_append (&f->devs, d);
}

static void
part_dev (const struct fixup *f, int disk, int part, char *buf, size_t len)
{
  if (part > 0)
    snprintf (buf, len, "%s%d", f->disks[disk], part);
  else
    snprintf (buf, len, "%s", f->disks[disk]);
}

/* The names to replace: the flattened arrays', and old kernels' disk
 * names that fstab uses (/dev/sda1, /dev/hda2, /dev/cciss/c0d0p1), by
 * disk order.
 */
static int
changed_names (struct fixup *f, const struct fixup_names *specs)
{
  char dev[80], names[6][128];

  for (size_t i = 0; i < f->nmd; ++i) {
    const struct fixup_md *m = &f->md[i];
    int n = md_names (f, m, names);

    if (m->disk < 0 || (size_t) m->disk >= f->ndisks)
      continue;
    part_dev (f, m->disk, m->part, dev, sizeof dev);
    for (int k = 0; k < n; ++k)
      if (add_dev (f, names[k], dev) == -1)
        return -1;
  }
  for (size_t i = 0; i < specs->len; ++i) {
    int disk, part;

    if (fixup_old_name (specs->ptr[i], &disk, &part) &&
        (size_t) disk < f->ndisks) {
      part_dev (f, disk, part, dev, sizeof dev);
      if (add_dev (f, specs->ptr[i], dev) == -1)
        return -1;
    }
  }
  return 0;
}

static bool
mountable (const char *type)
{
  static const char *const t[] = { "ext2", "ext3", "ext4", "xfs", "vfat",
                                   "btrfs", "reiserfs", "jfs", "auto" };

  for (size_t i = 0; i < sizeof t / sizeof t[0]; ++i)
    if (strcmp (type, t[i]) == 0)
      return true;
  return false;
}

/* Mount what fstab names under "/" (a mounted root), by libguestfs's
 * resolution or ours (md arrays, old disk names).
 */
static int
mount_fstab (struct fixup *f, char **mps)
{
  CLEANUP_FREE char *fstab = fixup_read (f, "/etc/fstab");
  struct { char mp[256], dev[128]; } want[32];
  size_t n = 0;

  for (const char *line = fstab ? fstab : ""; *line && n < 32;) {
    char spec[256], mp[256], type[32];
    const struct fixup_dev *d;
    const char *dev = NULL;

    if (sscanf (line, "%255s %255s %31s", spec, mp, type) == 3 &&
        spec[0] != '#' && mp[0] == '/' && strcmp (mp, "/") != 0 &&
        mountable (type)) {
      /* Ours first: libguestfs passes names it cannot resolve (a
       * flattened /dev/md0) through as they are.
       */
      if ((d = fixup_dev_of (f, spec)) != NULL)
        dev = d->dev;
      for (char **p = mps; dev == NULL && *p && p[1]; p += 2)
        if (strcmp (p[0], mp) == 0)
          dev = p[1];
      if (dev) {
        snprintf (want[n].mp, sizeof want[n].mp, "%s", mp);
        snprintf (want[n++].dev, sizeof want[0].dev, "%s", dev);
      }
      else
        fixup_warn (f, "fstab: cannot tell which device '%s' (%s) is now; "
                    "not mounted for the fixups", spec, mp);
    }
    line += strcspn (line, "\n");
    line += *line == '\n';
  }
  /* Parents before children: by the number of path components. */
  for (int depth = 1; depth < 16; ++depth)
    for (size_t i = 0; i < n; ++i) {
      int d = 0;

      for (const char *c = want[i].mp; *c; ++c)
        d += *c == '/';
      if (d == depth && guestfs_mkdir_p (f->g, want[i].mp) == 0 &&
          guestfs_mount (f->g, want[i].dev, want[i].mp) == -1)
        fixup_warn (f, "mounting %s on %s failed: %s", want[i].dev,
                    want[i].mp, guestfs_last_error (f->g));
    }
  return 0;
}

int
fixup_mount (struct fixup *f)
{
  char **mps = guestfs_inspect_get_mountpoints (f->g, f->root);
  CLEANUP_FREE char *fstab = NULL;
  struct fixup_names specs = { 0 };
  int r = -1;

  if (mps == NULL || guestfs_mount (f->g, f->root, "/") == -1)
    goto out;
  fstab = fixup_read (f, "/etc/fstab");
  if (fixup_fstab_specs (fstab ? fstab : "", &specs) == -1 ||
      changed_names (f, &specs) == -1 || mount_fstab (f, mps) == -1)
    goto out;
  init_and_bootloader (f);
  guess_firmware (f);
  f->hostname = guestfs_inspect_get_hostname (f->g, f->root);
  r = kernels (f);
 out:
  fixup_names_free (&specs);
  fixup_free_list (mps);
  return r;
}
