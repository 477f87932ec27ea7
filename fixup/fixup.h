/* p2v-fixup: the converted guest's configuration, made to fit the
 * virtual machine.  The rewriters (net_config.c, boot_config.c) are
 * pure functions of a file's text, unit-tested on real samples; the
 * guest side (guest.c, inspect.c, net.c, boot.c) reads and writes the
 * files through libguestfs.
 */
#ifndef P2V_FIXUP_H
#define P2V_FIXUP_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "vector.h"

/* A source NIC: the name the agent saw, the physical MAC, the new one;
 * the name the server's own udev gives it (systemd's predictable
 * names), if the agent could tell.
 */
struct fixup_nic {
  char name[64], old_mac[18], new_mac[18], predictable[64];
};

/* A flattened md array: what the guest may call it, and where its
 * content now lives (disk index, partition number, 0 for the whole disk).
 */
struct fixup_md {
  char device[64];              /* /dev/md1, /dev/md/1 ... */
  char uuid[64];                /* as mdadm prints it, any separators */
  char name[64];                /* host:name, or empty */
  int disk, part;
};

/* One replacement of a device name, in fstab or on a kernel command line. */
struct fixup_subst {
  char from[128], to[128];
};

DEFINE_VECTOR_TYPE (fixup_names, char *);
void fixup_names_free (struct fixup_names *v);
bool fixup_names_has (const struct fixup_names *v, const char *s);
int fixup_names_add (struct fixup_names *v, const char *s, size_t len);
/* A formatted line appended to v (duplicates too): the line, or NULL. */
char *fixup_names_vadd (struct fixup_names *v, const char *fmt, va_list ap)
  __attribute__ ((format (printf, 2, 0)));

/* Network configuration formats that name a NIC by its MAC. */
enum fixup_netfmt {
  NET_UDEV,                     /* udev rules: ATTR{address}=="..." */
  NET_IFCFG,                    /* RHEL ifcfg-*: HWADDR=, MACADDR= */
  NET_INTERFACES,               /* Debian interfaces: hwaddress */
  NET_NETPLAN,                  /* netplan: macaddress: */
  NET_NM,                       /* NetworkManager keyfile: mac-address= */
  NET_SYSTEMD,                  /* .link / .network: MACAddress= */
};

/* The text with every old MAC in a MAC setting replaced by its new MAC
 * (in the same letter case and separator); comments and MACs outside
 * those settings are left alone.  A new string; NULL if out of memory.
 */
char *fixup_net_rewrite (enum fixup_netfmt f, const char *text,
                         const struct fixup_nic *nics, size_t n);
/* Whether the file matches mac in a MAC setting; if it also names the
 * interface (udev NAME=, .link Name=, ifcfg DEVICE=, netplan set-name,
 * NM interface-name), that name goes into name.
 */
bool fixup_net_binds (enum fixup_netfmt f, const char *text, const char *mac,
                      char name[64]);
/* The interface names the file configures by name (not lo, no globs). */
int fixup_net_names (enum fixup_netfmt f, const char *text,
                     struct fixup_names *out);
/* The MACs the file ties a NIC to, each with the name it gives that
 * NIC there (as fixup_net_binds, or ""), added to nics[*n...] (old_mac
 * lower case, with colons) unless already there.  -1 if more than max.
 */
int fixup_net_macs (enum fixup_netfmt f, const char *text,
                    struct fixup_nic *nics, size_t *n, size_t max);
/* An open_memstream's text, out, once fp is closed; NULL (out freed)
 * if closing failed.
 */
char *fixup_close_mem (FILE *fp, char **out);
/* Whether s holds a MAC address at its start (17 characters). */
bool fixup_is_mac (const char *s);

/* fstab with each first field equal to a from replaced by its to. */
char *fixup_fstab (const char *text, const struct fixup_subst *s, size_t n);
/* The first fields of fstab's entries, for the caller to resolve. */
int fixup_fstab_specs (const char *text, struct fixup_names *out);
/* mdadm.conf with the flattened arrays' ARRAY lines commented out. */
char *fixup_mdadm_conf (const char *text, const struct fixup_md *md,
                        size_t nmd);
/* A kernel command line: root= substituted, the flattened arrays'
 * rd.md.uuid= dropped, a serial console added if asked and none is there.
 */
char *fixup_cmdline (const char *args, const struct fixup_subst *s, size_t n,
                     const struct fixup_md *md, size_t nmd, bool serial);
/* /etc/default/grub: GRUB_CMDLINE_LINUX* through fixup_cmdline,
 * GRUB_DISABLE_LINUX_UUID=true commented out (device names change), a
 * serial terminal if asked.
 */
char *fixup_grub_default (const char *text, const struct fixup_subst *s,
                          size_t n, const struct fixup_md *md, size_t nmd,
                          bool serial);
/* GRUB legacy's menu.lst / grub.conf: each kernel line's arguments
 * through fixup_cmdline.
 */
char *fixup_grub_legacy (const char *text, const struct fixup_subst *s,
                         size_t n, const struct fixup_md *md, size_t nmd,
                         bool serial);
/* Whether an md UUID matches another, whatever the separators. */
bool fixup_same_uuid (const char *a, const char *b);
/* An old kernel's name for a disk or partition (/dev/sdb2, /dev/hda1,
 * /dev/cciss/c0d1p2, /dev/xvda1...): its disk index (in name order) and
 * partition number (0: the whole disk).
 */
bool fixup_old_name (const char *s, int *disk, int *part);
/* The last value a shell configuration file (initramfs.conf) assigns to
 * name, unquoted, in value; NULL if it assigns none.
 */
char *fixup_shell_var (const char *text, const char *name, char *value,
                       size_t size);

/* VLANs and bonds (vlan_config.c). */
/* After P2V a guest's VLANs end at the hypervisor's bridges: each VLAN
 * interface becomes a plain virtual NIC (net.c names it), and the bonds
 * and ports that only carried VLANs go.
 */
struct fixup_vlan {
  unsigned vid;                 /* 1 to 4094 */
  char name[64];                /* the guest's interface: bond0.10, vlan20 */
  char raw[64];                 /* the interface it is tagged on: bond0 */
};
/* The VLAN interfaces an ifupdown file configures, added to out[*n...]
 * unless one of that name is there: "iface RAW.VID ..." (VID decimal),
 * or "iface NAME ..." with a vlan-raw-device option, whose VID is a
 * vlan-id option (ifupdown2) or the digits ending NAME (vlan10,
 * vlan0010).  Names too long for the fields are left out.  -1 if more
 * than max.
 */
int fixup_ifupdown_vlans (const char *text, struct fixup_vlan *out,
                          size_t *n, size_t max);

#define FIXUP_MAX_SLAVES 8
struct fixup_bond {
  char name[64];
  char slaves[FIXUP_MAX_SLAVES][64];
  size_t nslaves;
  bool addressed;               /* a stanza of its own (or of an alias,
                                   bond0:1) has a method other than manual */
};
/* Bonds an ifupdown file configures: an iface stanza with a bond-slaves
 * (slaves, bond-ports) option, a list of names where "none" means the
 * slaves name the bond in a bond-master option of their own stanzas;
 * or with other bond-* options and no bond-master (a bond whose slaves
 * name it); or a name in another stanza's bond-master.  Merged into
 * out[*n...] by name (a bond split over several files).  -1 if more
 * than max bonds, or more than FIXUP_MAX_SLAVES slaves in one.
 */
int fixup_ifupdown_bonds (const char *text, struct fixup_bond *out,
                          size_t *n, size_t max);

struct fixup_rename {
  char from[64], to[64];
};
/* ifupdown text with each renamed VLAN a plain interface: in its own
 * stanzas (inet and inet6) "iface FROM" becomes "iface TO" and its
 * vlan-* options (vlan-raw-device, vlan-id...) go; a whole word FROM
 * becomes TO in every other line too (auto, allow-*, up commands,
 * bridge-ports, an alias FROM:1), but for comments and source lines.
 * Each interface in drop loses its stanzas (the iface line through its
 * last option; comments and blank lines after that stay) and its name
 * in auto, allow-*, no-auto-down and no-scripts lines (the line goes
 * if it names nothing else), and in a bond's list of slaves (a bond
 * keeping one NIC).  Everything else stays byte for byte.
 * drop may be NULL.  NULL if out of memory.
 */
char *fixup_ifupdown_unvlan (const char *text, const struct fixup_rename *r,
                             size_t nr, const struct fixup_names *drop);
/* Any configuration text (iptables-save rules, nftables, shell
 * variable files) with each whole word FROM replaced by its TO.  A word
 * is a run of [A-Za-z0-9_.-] (bond0 is not a word in bond0.10, nor
 * bond0.1); ':', '@', quotes and '/' end one (bond0.10:1 becomes
 * TO:1).  Comment lines (first non-blank '#') stay as they are.  A line
 * that cannot be rewritten safely stays as it is, and "LINE: why"
 * (LINE from 1) goes into unsafe (if not NULL), the caller adding the
 * file's name: a line that names an interface in gone, or has a
 * wildcard (iptables' bond0+, nftables' "bond0.*") that matched a gone
 * name, or a FROM that its TO does not match.  gone may be NULL.
 * NULL if out of memory.
 */
char *fixup_rename_ifaces (const char *text, const struct fixup_rename *r,
                           size_t nr, const struct fixup_names *gone,
                           struct fixup_names *unsafe);

/* The guest side (guest.c and the steps that use it). */
struct guestfs_h;
#define FIXUP_MAX_NICS 64
#define FIXUP_MAX_MD 32
#define FIXUP_MAX_DISKS 26

/* A change made (or, with --dry-run, to make): a file or a command. */
struct fixup_change {
  char *file, *command, *why;
};
DEFINE_VECTOR_TYPE (fixup_changes, struct fixup_change);

/* An installed kernel and whether it can boot on virtio. */
struct fixup_kernel {
  char version[128];
  const char *virtio;           /* "built in", "modules" or "no" */
};
DEFINE_VECTOR_TYPE (fixup_kernels, struct fixup_kernel);

/* A device name the guest's configuration may use, and what it is now. */
struct fixup_dev {
  char from[128];               /* /dev/md1, /dev/sda2 ... */
  char dev[64];                 /* the appliance's device */
  char uuid[64], type[32];      /* what blkid sees there, maybe "" */
};
DEFINE_VECTOR_TYPE (fixup_devs, struct fixup_dev);

struct fixup {
  struct guestfs_h *g;
  bool dry_run, serial;
  const char *firmware;         /* bios or uefi; NULL: from the guest */
  char firmware_from[256];      /* why: "given", or what shows it */
  /* --new-macs: the NICs are found in the guest's configuration, and
   * get these MACs in order. */
  char new_macs[FIXUP_MAX_NICS][18];
  size_t nnew_macs;
  struct fixup_nic nics[FIXUP_MAX_NICS];
  size_t nnics;
  /* --vlan: the guest's VLAN vid becomes a NIC of its own, on mac. */
  struct {
    unsigned vid;
    char mac[18];
  } vlans[FIXUP_MAX_NICS];
  size_t nvlans;
  struct fixup_md md[FIXUP_MAX_MD];
  size_t nmd;
  char *disks[FIXUP_MAX_DISKS]; /* the appliance's names for them */
  size_t ndisks;
  /* Inspection (inspect.c). */
  char *root, *distro, *product, *version, *init, *bootloader, *pkgs;
  char *hostname;
  struct fixup_kernels kernels;
  bool virtio;                  /* some kernel has virtio_blk and _net */
  bool virtio_modules;          /* ... as modules (initramfs must hold them) */
  struct fixup_devs devs;       /* the names to replace */
  /* What was done. */
  struct fixup_changes changes;
  struct fixup_names warnings, nic_notes;
  struct fixup_names hints;     /* lines for --hints: vlan=, trunk=, nic.drop= */
  bool initramfs_stale, grub_stale, reinstall_grub;
};

/* guest.c */
void fixup_warn (struct fixup *f, const char *fmt, ...)
  __attribute__ ((format (printf, 2, 3)));
/* A guest file's text (NUL-terminated), or NULL if there is none. */
char *fixup_read (struct fixup *f, const char *path);
bool fixup_exists (struct fixup *f, const char *path);
/* Files matching a glob in the guest, originals we kept left out. */
char **fixup_glob (struct fixup *f, const char *pattern);
void fixup_free_list (char **list);
/* Replace a guest file's text (old NULL: create it), keeping the
 * original; with --dry-run print the diff instead.  0 also when new
 * equals old (nothing done); -1 reported.
 */
int fixup_replace (struct fixup *f, const char *path, const char *old,
                   const char *new, const char *why);
/* Run a shell command in the guest (with --dry-run: say it would). */
int fixup_run (struct fixup *f, const char *cmd, const char *why);
void fixup_record_command (struct fixup *f, const char *cmd, const char *why);
const struct fixup_dev *fixup_dev_of (const struct fixup *f, const char *from);
/* The label ([a-z] only, libguestfs's rule) of the ith disk: in the
 * guest's commands the disk is /dev/disk/guestfs/LABEL.
 */
const char *fixup_disk_label (size_t i);

/* net.c, for vlan.c: pin name to the NIC with mac; a line for the
 * report's NIC notes (also printed).
 */
int fixup_pin (struct fixup *f, const char *name, const char *mac);
int fixup_note (struct fixup *f, const char *fmt, ...)
  __attribute__ ((format (printf, 2, 3)));
/* vlan.c: the guest's VLANs and bonds (names[k]: its name for nics[k]),
 * after the NICs.
 */
int fixup_vlans (struct fixup *f, char (*names)[64]);

/* The steps, in order. */
int fixup_inspect (struct fixup *f);    /* 0, 1 if no Linux found, -1 */
int fixup_mount (struct fixup *f);
int fixup_net (struct fixup *f);
int fixup_raid (struct fixup *f);
int fixup_boot (struct fixup *f);

#endif
