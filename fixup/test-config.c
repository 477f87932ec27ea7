/* The rewriters on real guest files (fixup/samples): each FILE is
 * rewritten and compared with FILE.out; without FILE.out the file must
 * come out unchanged.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "fixup.h"
#include "samples.h"
#include "test.h"

static const struct fixup_nic nics[] = {
  { "eth0", "00:1e:c9:5a:00:11", "52:54:00:aa:bb:01" },
  { "eth0", "00:25:90:7c:00:14", "52:54:00:aa:bb:02" },
  { "eth0", "00:17:a4:3b:00:12", "52:54:00:aa:bb:03" },
};
#define NNICS (sizeof nics / sizeof nics[0])

static const struct fixup_md md[] = {
  { "/dev/md/0", "6b3e1f0a:2c4d5e6f:7a8b9c0d:1e2f3a4b", "legacy-raid1:0", 0, 1 },
  { "/dev/md/1", "1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d", "legacy-raid1:1", 0, 2 },
  { "/dev/md2", "", "", 0, 3 },
};
#define NMD (sizeof md / sizeof md[0])

static const struct fixup_subst subst[] = {
  { "/dev/md1", "UUID=0b6c41d2-8f3e-4a51-9c7d-2e1f0a3b4c5d" },
  { "/dev/md0", "UUID=7e2d9a10-4b3c-4d5e-8f6a-1b2c3d4e5f60" },
  { "/dev/md/2", "UUID=c0ffee00-1111-2222-3333-444455556666" },
  { "/dev/sdc1", "UUID=9d8c7b6a-5f4e-3d2c-1b0a-998877665544" },
  { "/dev/disk/by-id/md-uuid-6b3e1f0a:2c4d5e6f:7a8b9c0d:1e2f3a4b",
    "UUID=deadbeef-0000-4000-8000-000000000001" },
};
#define NSUBST (sizeof subst / sizeof subst[0])

enum kind { K_NET, K_FSTAB, K_MDADM, K_GRUB_DEFAULT, K_GRUB_LEGACY };
static const struct {
  const char *file;
  enum kind kind;
  enum fixup_netfmt fmt;
} samples[] = {
  { "udev-centos6.rules", K_NET, NET_UDEV },
  { "udev-comment-only.rules", K_NET, NET_UDEV },
  { "ifcfg-eth0-rhel6", K_NET, NET_IFCFG },
  { "ifcfg-em1-rhel7", K_NET, NET_IFCFG },
  { "ifcfg-bond0", K_NET, NET_IFCFG },
  { "interfaces-hwaddress", K_NET, NET_INTERFACES },
  { "interfaces-plain", K_NET, NET_INTERFACES },
  { "netplan-bionic.yaml", K_NET, NET_NETPLAN },
  { "nm-wired.nmconnection", K_NET, NET_NM },
  { "nm-xenial-wired", K_NET, NET_NM },
  { "nm-by-name.nmconnection", K_NET, NET_NM },
  { "systemd-10-lan0.link", K_NET, NET_SYSTEMD },
  { "systemd-20-wired.network", K_NET, NET_SYSTEMD },
  { "systemd-10-enp3s0.network", K_NET, NET_SYSTEMD },
  { "fstab-legacy-raid1", K_FSTAB },
  { "fstab-uuid", K_FSTAB },
  { "mdadm.conf-debian", K_MDADM },
  { "grub-default-debian", K_GRUB_DEFAULT },
  { "grub-default-rhel7", K_GRUB_DEFAULT },
  { "grub.conf-centos5", K_GRUB_LEGACY },
};

static char *
rewrite (int i, const char *in)
{
  switch (samples[i].kind) {
  case K_NET: return fixup_net_rewrite (samples[i].fmt, in, nics, NNICS);
  case K_FSTAB: return fixup_fstab (in, subst, NSUBST);
  case K_MDADM: return fixup_mdadm_conf (in, md, NMD);
  case K_GRUB_DEFAULT:
    return fixup_grub_default (in, subst, NSUBST, md, NMD, true);
  case K_GRUB_LEGACY:
    return fixup_grub_legacy (in, subst, NSUBST, md, NMD, true);
  }
  return NULL;
}

static void
test_samples (void)
{
  for (size_t i = 0; i < sizeof samples / sizeof samples[0]; ++i) {
    char *in = slurp (samples[i].file, ""), *want = slurp (samples[i].file, ".out");
    char *got = in ? rewrite (i, in) : NULL, *again;

    CHECK (in != NULL && got != NULL);
    if (got && strcmp (got, want ? want : in) != 0) {
      fprintf (stderr, "%s: got:\n%s\n", samples[i].file, got);
      CHECK (!"sample rewritten as expected");
    }
    /* Idempotent: a second pass changes nothing. */
    again = got ? rewrite (i, got) : NULL;
    CHECK (again && got && strcmp (again, got) == 0);
    free (in);
    free (want);
    free (got);
    free (again);
  }
}

/* Which name a file ties to a MAC, and which names it configures. */
static void
test_binds_and_names (void)
{
  static const struct {
    const char *file;
    enum fixup_netfmt fmt;
    const char *mac;
    int bound;
    const char *name, *names;
  } t[] = {
    { "udev-centos6.rules", NET_UDEV, "00:1E:C9:5A:00:11", 1, "eth0", "" },
    { "udev-centos6.rules.out", NET_UDEV, "52:54:00:aa:bb:01", 1, "eth0", "" },
    { "udev-comment-only.rules", NET_UDEV, "00:1e:c9:5a:00:11", 0, "", "" },
    { "ifcfg-eth0-rhel6", NET_IFCFG, "00:25:90:7c:00:14", 1, "eth0", "eth0" },
    { "ifcfg-bond0", NET_IFCFG, "00:1e:c9:5a:00:11", 0, "", "bond0" },
    { "interfaces-plain", NET_INTERFACES, "00:1e:c9:5a:00:11", 0, "",
      "eth0 eth1" },
    { "interfaces-hwaddress", NET_INTERFACES, "00:1E:C9:5A:00:11", 1, "eth0",
      "eth0" },
    { "netplan-bionic.yaml", NET_NETPLAN, "00:17:a4:3b:00:12", 1, "lan0",
      "lan0 eno2" },
    { "nm-wired.nmconnection", NET_NM, "00:25:90:7c:00:14", 1, "", "" },
    { "nm-by-name.nmconnection", NET_NM, "00:25:90:7c:00:14", 0, "", "eth0" },
    { "systemd-10-lan0.link", NET_SYSTEMD, "00:17:a4:3b:00:12", 1, "lan0",
      "lan0" },
    { "systemd-10-enp3s0.network", NET_SYSTEMD, "a0:36:9f:1c:00:13", 0, "",
      "enp3s0" },
  };

  for (size_t i = 0; i < sizeof t / sizeof t[0]; ++i) {
    char *text = slurp (t[i].file, ""), name[64] = "", joined[256] = "";
    struct fixup_names names = { 0 };

    CHECK (text != NULL);
    if (text == NULL)
      continue;
    CHECK (fixup_net_binds (t[i].fmt, text, t[i].mac, name) == t[i].bound);
    CHECK (strcmp (name, t[i].name) == 0);
    CHECK (fixup_net_names (t[i].fmt, text, &names) == 0);
    for (size_t k = 0; k < names.len; ++k)
      snprintf (joined + strlen (joined), sizeof joined - strlen (joined),
                "%s%s", k ? " " : "", names.ptr[k]);
    if (strcmp (joined, t[i].names) != 0) {
      fprintf (stderr, "%s: names '%s'\n", t[i].file, joined);
      CHECK (!"names as expected");
    }
    fixup_names_free (&names);
    free (text);
  }
}

/* Every MAC a file ties a NIC to, with the name it gives it (for
 * --new-macs); a MAC twice counts once, and max is kept.
 */
static void
test_macs (void)
{
  static const struct {
    const char *file;
    enum fixup_netfmt fmt;
    const char *macs;
  } t[] = {
    { "udev-centos6.rules", NET_UDEV,
      "eth0=00:1e:c9:5a:00:11 eth1=00:1e:c9:5a:00:99" },
    { "udev-comment-only.rules", NET_UDEV, "eth1=00:1e:c9:5a:00:99" },
    { "ifcfg-eth0-rhel6", NET_IFCFG, "eth0=00:25:90:7c:00:14" },
    { "ifcfg-bond0", NET_IFCFG, "" },
    { "interfaces-plain", NET_INTERFACES, "" },
    { "interfaces-hwaddress", NET_INTERFACES, "eth0=00:1e:c9:5a:00:11" },
    { "netplan-bionic.yaml", NET_NETPLAN, "lan0=00:17:a4:3b:00:12" },
    { "nm-wired.nmconnection", NET_NM, "=00:25:90:7c:00:14" },
    { "nm-by-name.nmconnection", NET_NM, "" },
    { "systemd-10-lan0.link", NET_SYSTEMD, "lan0=00:17:a4:3b:00:12" },
    { "systemd-10-enp3s0.network", NET_SYSTEMD, "" },
  };

  for (size_t i = 0; i < sizeof t / sizeof t[0]; ++i) {
    CLEANUP_FREE char *text = slurp (t[i].file, "");
    struct fixup_nic found[2];
    char joined[512] = "";
    size_t n = 0;

    CHECK (text != NULL);
    if (text == NULL)
      continue;
    CHECK (fixup_net_macs (t[i].fmt, text, found, &n, 2) == 0);
    CHECK (fixup_net_macs (t[i].fmt, text, found, &n, 2) == 0);  /* again */
    for (size_t k = 0; k < n; ++k)
      snprintf (joined + strlen (joined), sizeof joined - strlen (joined),
                "%s%s=%s", k ? " " : "", found[k].name, found[k].old_mac);
    if (strcmp (joined, t[i].macs) != 0) {
      fprintf (stderr, "%s: macs '%s'\n", t[i].file, joined);
      CHECK (!"macs as expected");
    }
  }
  {
    const char *two = "HWADDR=00:11:22:33:44:55\nMACADDR=00:11:22:33:44:66\n";
    struct fixup_nic one[1];
    size_t n = 0;

    CHECK (fixup_net_macs (NET_IFCFG, two, one, &n, 1) == -1 && n == 1);
  }
}

static void
test_cmdline (void)
{
  char *s = fixup_cmdline ("  ro root=/dev/md1  quiet", subst, NSUBST, md, NMD,
                           false);

  CHECK (s && strcmp (s, "ro root=UUID=0b6c41d2-8f3e-4a51-9c7d-2e1f0a3b4c5d quiet") == 0);
  free (s);
  /* md=2,... names an array that was flattened (md2); md=3 was not. */
  s = fixup_cmdline ("md=2,/dev/sdc1,/dev/sdd1 md=3,/dev/sde1 console=ttyS1",
                     NULL, 0, md, NMD, true);
  CHECK (s && strcmp (s, "md=3,/dev/sde1 console=ttyS1") == 0);
  free (s);
  s = fixup_cmdline ("", NULL, 0, NULL, 0, true);
  CHECK (s && strcmp (s, "console=tty0 console=ttyS0,115200n8") == 0);
  free (s);
  CHECK (fixup_is_mac ("00:1e:c9:5a:00:11") && !fixup_is_mac ("00:1e:c9:5a:00:1"));
  CHECK (!fixup_is_mac ("00:1e:c9:5a:00:111"));
  CHECK (fixup_same_uuid ("6b3e1f0a:2c4d5e6f:7a8b9c0d:1e2f3a4b",
                          "6B3E1F0A-2C4D-5E6F-7A8B-9C0D1E2F3A4B"));
  CHECK (!fixup_same_uuid ("6b3e1f0a:2c4d5e6f", "6b3e1f0a:2c4d5e60"));
}

static void
test_old_names (void)
{
  int d, p;

  CHECK (fixup_old_name ("/dev/sdb2", &d, &p) && d == 1 && p == 2);
  CHECK (fixup_old_name ("/dev/hda", &d, &p) && d == 0 && p == 0);
  CHECK (fixup_old_name ("/dev/sdaa12", &d, &p) && d == 26 && p == 12);
  CHECK (fixup_old_name ("/dev/xvdc1", &d, &p) && d == 2 && p == 1);
  CHECK (fixup_old_name ("/dev/cciss/c0d1p3", &d, &p) && d == 1 && p == 3);
  CHECK (fixup_old_name ("/dev/cciss/c0d0", &d, &p) && d == 0 && p == 0);
  CHECK (!fixup_old_name ("/dev/md1", &d, &p));
  CHECK (!fixup_old_name ("/dev/sda1x", &d, &p));
  CHECK (!fixup_old_name ("/dev/mapper/vg0-root", &d, &p));
  CHECK (!fixup_old_name ("/dev/cciss/c0d0x", &d, &p));
}

static void
test_shell_var (void)
{
  CLEANUP_FREE char *conf = slurp ("initramfs.conf-debian12", "");
  char v[32];

  CHECK (conf && fixup_shell_var (conf, "MODULES", v, sizeof v) &&
         strcmp (v, "most") == 0);
  CHECK (fixup_shell_var ("MODULES=most\n# MODULES=dep\n MODULES=\"dep\"  # ours\n",
                          "MODULES", v, sizeof v) && strcmp (v, "dep") == 0);
  CHECK (fixup_shell_var ("export MODULES='list'\n", "MODULES", v, sizeof v) &&
         strcmp (v, "list") == 0);
  CHECK (fixup_shell_var ("XMODULES=dep\nMODULES_X=dep\n", "MODULES", v,
                          sizeof v) == NULL);
  CHECK (fixup_shell_var ("MODULES=\n", "MODULES", v, sizeof v) && v[0] == '\0');
}

int
main (void)
{
  test_samples ();
  test_binds_and_names ();
  test_macs ();
  test_cmdline ();
  test_old_names ();
  test_shell_var ();
  return TEST_DONE ();
}
