/* VLANs to virtual NICs, on real-looking files (fixup/samples): each
 * FILE is rewritten and compared with FILE.out; the VLANs and bonds its
 * interfaces files configure; then the edge cases.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "fixup.h"
#include "samples.h"
#include "test.h"

/* The router's VLANs become lan10 and lan20; its bond and the bond's
 * ports, which carried only them, go.
 */
static const struct fixup_rename router[] = {
  { "bond0.10", "lan10" }, { "bond0.20", "lan20" },
};
static const char *const router_gone[] = { "bond0", "eth0", "eth1", NULL };
/* The file server's storage VLAN; eth0 keeps its own address. */
static const struct fixup_rename server[] = { { "vlan10", "lan10" } };
static const char *const none[] = { NULL };
/* --vlan 10 on a bond with an address and VLAN 30 unmapped: the bond
 * is unwound into eth0, its first NIC.
 */
static const struct fixup_rename unwind[] = {
  { "bond0.10", "vlan10" }, { "bond0", "eth0" }, { "bond0.30", "eth0.30" },
};
static const char *const unwind_drop[] = { "eth0", "eth1", NULL };
static const char *const unwind_gone[] = { "bond0", "eth1", NULL };
/* Trunk mode: the bond becomes one NIC, eth1 goes; the VLANs stay. */
static const char *const trunk_gone[] = { "eth1", NULL };

static void
names_of (const char *const *list, struct fixup_names *v)
{
  for (; *list; ++list)
    CHECK (fixup_names_add (v, *list, strlen (*list)) == 0);
}

/* v's strings joined by " | ". */
static void
join (const struct fixup_names *v, char *buf, size_t size)
{
  buf[0] = '\0';
  for (size_t i = 0; i < v->len; ++i)
    snprintf (buf + strlen (buf), size - strlen (buf), "%s%s",
              i ? " | " : "", v->ptr[i]);
}

enum kind { K_IFUPDOWN, K_OTHER };
static const struct {
  const char *file;
  enum kind kind;
  const struct fixup_rename *r;
  size_t nr;
  const char *const *gone;      /* the caller's drop, or gone */
  const char *unsafe;           /* the lines left alone, and why */
  bool unchanged;               /* FILE.out, if any, is test-config's */
} samples[] = {
  { "interfaces-router-vlans", K_IFUPDOWN, router, 2, router_gone, "" },
  { "interfaces-vlan-raw-device", K_IFUPDOWN, server, 1, none, "" },
  { "interfaces-router-trunk", K_IFUPDOWN, NULL, 0, trunk_gone, "" },
  { "rules.v4-router", K_OTHER, router, 2, router_gone,
    "18: the wildcard bond0+ matches bond0.10, now lan10 | "
    "21: names bond0, which is gone" },
  { "nftables.conf-router", K_OTHER, router, 2, router_gone,
    "13: the wildcard bond0.* matches bond0.10, now lan10" },
  { "isc-dhcp-server-default", K_OTHER, router, 2, router_gone, "" },
  /* No VLANs: nothing changes. */
  { "interfaces-plain", K_IFUPDOWN, router, 2, none, "", true },
  { "interfaces-hwaddress", K_IFUPDOWN, router, 2, none, "", true },
};

static char *
rewrite (size_t i, const char *in, const struct fixup_names *gone,
         struct fixup_names *unsafe)
{
  if (samples[i].kind == K_IFUPDOWN)
    return fixup_ifupdown_unvlan (in, samples[i].r, samples[i].nr, gone);
  return fixup_rename_ifaces (in, samples[i].r, samples[i].nr, gone, unsafe);
}

static void
test_samples (void)
{
  for (size_t i = 0; i < sizeof samples / sizeof samples[0]; ++i) {
    CLEANUP_FREE char *in = slurp (samples[i].file, "");
    CLEANUP_FREE char *want = samples[i].unchanged ? NULL :
      slurp (samples[i].file, ".out");
    CLEANUP_FREE char *got = NULL, *again = NULL;
    struct fixup_names gone = { 0 }, unsafe = { 0 }, unsafe2 = { 0 };
    char joined[512];

    names_of (samples[i].gone, &gone);
    CHECK (in != NULL);
    got = in ? rewrite (i, in, &gone, &unsafe) : NULL;
    CHECK (got != NULL);
    if (got && strcmp (got, want ? want : in) != 0) {
      fprintf (stderr, "%s: got:\n%s\n", samples[i].file, got);
      CHECK (!"sample rewritten as expected");
    }
    join (&unsafe, joined, sizeof joined);
    if (strcmp (joined, samples[i].unsafe) != 0) {
      fprintf (stderr, "%s: unsafe '%s'\n", samples[i].file, joined);
      CHECK (!"unsafe lines as expected");
    }
    /* Outside comments, the ifupdown text names no dropped interface:
     * nothing is left that would fail to come up for want of one. */
    if (got && samples[i].kind == K_IFUPDOWN) {
      struct fixup_names left = { 0 };
      CLEANUP_FREE char *same = fixup_rename_ifaces (got, NULL, 0, &gone,
                                                     &left);

      join (&left, joined, sizeof joined);
      if (*joined)
        fprintf (stderr, "%s: names dropped: %s\n", samples[i].file, joined);
      CHECK (same && strcmp (same, got) == 0 && left.len == 0);
      fixup_names_free (&left);
    }
    /* Idempotent: a second pass changes nothing (the unsafe lines are
     * still there, and still said). */
    again = got ? rewrite (i, got, &gone, &unsafe2) : NULL;
    CHECK (again && got && strcmp (again, got) == 0);
    CHECK (unsafe2.len == unsafe.len);
    fixup_names_free (&gone);
    fixup_names_free (&unsafe);
    fixup_names_free (&unsafe2);
  }
}

/* Unwinding takes its arguments from the bond, which the output has no
 * more: a second pass with them would be another change, so it is
 * not in the table.  eth0's own stanza goes (bond0's becomes eth0's);
 * what is gone is bond0 and eth1, which nothing names now.
 */
static void
test_unwind (void)
{
  CLEANUP_FREE char *in = slurp ("interfaces-bond-unwind", "");
  CLEANUP_FREE char *want = slurp ("interfaces-bond-unwind", ".out");
  CLEANUP_FREE char *got = NULL, *same = NULL;
  struct fixup_names drop = { 0 }, gone = { 0 }, left = { 0 };

  names_of (unwind_drop, &drop);
  names_of (unwind_gone, &gone);
  CHECK (in && want);
  got = in ? fixup_ifupdown_unvlan (in, unwind, 3, &drop) : NULL;
  if (got && want && strcmp (got, want) != 0)
    fprintf (stderr, "interfaces-bond-unwind: got:\n%s\n", got);
  CHECK (got && want && strcmp (got, want) == 0);
  same = got ? fixup_rename_ifaces (got, NULL, 0, &gone, &left) : NULL;
  CHECK (same && left.len == 0);
  fixup_names_free (&drop);
  fixup_names_free (&gone);
  fixup_names_free (&left);
}

/* The VLANs as "NAME:RAW:VID ...", the bonds as
 * "NAME:SLAVE,SLAVE:addressed|manual ...".
 */
static void
parse (const char *text, char *vlans, char *bonds, size_t size)
{
  struct fixup_vlan v[8];
  struct fixup_bond b[4];
  size_t nv = 0, nb = 0;

  CHECK (fixup_ifupdown_vlans (text, v, &nv, 8) == 0);
  CHECK (fixup_ifupdown_bonds (text, b, &nb, 4) == 0);
  vlans[0] = bonds[0] = '\0';
  for (size_t i = 0; i < nv; ++i)
    snprintf (vlans + strlen (vlans), size - strlen (vlans), "%s%s:%s:%u",
              i ? " " : "", v[i].name, v[i].raw, v[i].vid);
  for (size_t i = 0; i < nb; ++i) {
    snprintf (bonds + strlen (bonds), size - strlen (bonds), "%s%s:",
              i ? " " : "", b[i].name);
    for (size_t k = 0; k < b[i].nslaves; ++k)
      snprintf (bonds + strlen (bonds), size - strlen (bonds), "%s%s",
                k ? "," : "", b[i].slaves[k]);
    snprintf (bonds + strlen (bonds), size - strlen (bonds), ":%s",
              b[i].addressed ? "addressed" : "manual");
  }
}

static void
test_parse_samples (void)
{
  static const struct {
    const char *file, *vlans, *bonds;
  } t[] = {
    { "interfaces-router-vlans", "bond0.10:bond0:10 bond0.20:bond0:20",
      "bond0:eth0,eth1:manual" },
    { "interfaces-router-vlans.out", "", "" },
    { "interfaces-vlan-raw-device", "vlan10:eth0:10",
      "bond1:eth2,eth3:addressed" },
    { "interfaces-vlan-raw-device.out", "", "bond1:eth2,eth3:addressed" },
    { "interfaces-plain", "", "" },
  };

  for (size_t i = 0; i < sizeof t / sizeof t[0]; ++i) {
    CLEANUP_FREE char *text = slurp (t[i].file, "");
    char vlans[256], bonds[256];

    CHECK (text != NULL);
    if (text == NULL)
      continue;
    parse (text, vlans, bonds, sizeof vlans);
    if (strcmp (vlans, t[i].vlans) != 0 || strcmp (bonds, t[i].bonds) != 0) {
      fprintf (stderr, "%s: vlans '%s' bonds '%s'\n", t[i].file, vlans, bonds);
      CHECK (!"VLANs and bonds as expected");
    }
  }
}

/* The VLANs and bonds of small texts. */
static void
test_parse (void)
{
  static const struct {
    const char *text, *vlans, *bonds;
  } t[] = {
    /* VIDs: 1 to 4094, decimal, leading zeros allowed. */
    { "iface eth0.0 inet manual\niface eth0.4095 inet manual\n"
      "iface eth0.abc inet manual\niface eth0.4094 inet manual\n"
      "iface eth0.0010 inet manual\niface eth0.10:1 inet static\n"
      "iface .5 inet manual\niface eth0. inet manual\n",
      "eth0.4094:eth0:4094 eth0.0010:eth0:10", "" },
    { "iface vlan0 inet manual\n vlan-raw-device eth0\n"
      "iface vlan4095 inet manual\n vlan_raw_device eth0\n"
      "iface vlanx inet manual\n vlan-raw-device eth0\n"
      "iface vlan0020 inet manual\n vlan_raw_device eth1\n"
      "iface vlan30 inet manual\n",        /* no raw device: not a VLAN */
      "vlan0020:eth1:20", "" },
    /* ifupdown2: vlan-id, any name; an option on a continued line. */
    { "auto mgmt\niface mgmt inet static\n  vlan-id 30\n  vlan-raw-device \\\n"
      "      bond0\n  address 10.30.0.5/24\n"
      "iface storage inet manual\n  vlan-id 0\n  vlan-raw-device bond0\n"
      "iface dmz inet manual\n  vlan-id 4x\n  vlan-raw-device bond0\n",
      "mgmt:bond0:30", "" },
    /* Options belong to their stanza only; an inet6 stanza counts once. */
    { "iface eth0.7 inet dhcp\niface eth0.7 inet6 auto\n"
      "mapping eth1\n  script /usr/local/sbin/map\n  vlan-raw-device eth1\n"
      "iface eth2 inet dhcp\nauto eth3\n  vlan-raw-device eth2\n",
      "eth0.7:eth0:7", "" },
    /* A comment is one line even if it ends in a backslash. */
    { "# old: \\\niface eth0.8 inet manual\n#iface eth0.9 inet manual\n",
      "eth0.8:eth0:8", "" },
    /* Bonds: slaves in a continued line, old "slaves" and ifupdown2's
     * "bond-ports", an alias with an address, bond options alone. */
    { "iface bond0 inet manual\n  bond-slaves eth0 \\\n    eth1\n"
      "iface bond1 inet manual\n  slaves eth2\n"
      "iface bond2 inet manual\n  bond_ports eth3 eth4\n"
      "iface bond2:1 inet static\n  address 10.0.0.1/24\n"
      "iface bond3 inet manual\n  bond-mode 802.3ad\n"
      "iface eth5 inet manual\n  bond-master bond3\n  bond-mode 802.3ad\n",
      "", "bond0:eth0,eth1:manual bond1:eth2:manual "
      "bond2:eth3,eth4:addressed bond3:eth5:manual" },
    /* The bond's stanza after its slaves'; "none". */
    { "iface eth0 inet manual\n  bond-master bond0\n"
      "iface bond0 inet dhcp\n  bond-slaves none\n"
      "iface eth1 inet manual\n  bond-master bond0\n",
      "", "bond0:eth0,eth1:addressed" },
  };

  for (size_t i = 0; i < sizeof t / sizeof t[0]; ++i) {
    char vlans[256], bonds[256];

    parse (t[i].text, vlans, bonds, sizeof vlans);
    if (strcmp (vlans, t[i].vlans) != 0 || strcmp (bonds, t[i].bonds) != 0) {
      fprintf (stderr, "text %zu: vlans '%s' bonds '%s'\n", i, vlans, bonds);
      CHECK (!"VLANs and bonds as expected");
    }
  }
}

/* A bond split over two files, in either order. */
static void
test_bond_merge (void)
{
  const char *bond = "iface bond0 inet static\n  address 10.0.0.2/24\n"
    "  bond-slaves none\n  bond-mode 802.3ad\n";
  const char *slaves = "iface eth0 inet manual\n  bond-master bond0\n"
    "iface eth1 inet manual\n  bond-master bond0\n";
  const char *files[2][2] = { { bond, slaves }, { slaves, bond } };

  for (int i = 0; i < 2; ++i) {
    struct fixup_bond b[2];
    size_t n = 0;

    CHECK (fixup_ifupdown_bonds (files[i][0], b, &n, 2) == 0);
    CHECK (fixup_ifupdown_bonds (files[i][1], b, &n, 2) == 0);
    CHECK (n == 1 && strcmp (b[0].name, "bond0") == 0 && b[0].addressed);
    CHECK (n == 1 && b[0].nslaves == 2 && strcmp (b[0].slaves[0], "eth0") == 0 &&
           strcmp (b[0].slaves[1], "eth1") == 0);
  }
}

static void
test_limits (void)
{
  const char *three = "iface eth0.1 inet manual\niface eth0.2 inet manual\n"
    "iface eth0.3 inet manual\n";
  const char *nine = "iface bond0 inet manual\n"
    "  bond-slaves e1 e2 e3 e4 e5 e6 e7 e8 e9\n";
  char longname[71], text[512];
  struct fixup_vlan v[2];
  struct fixup_bond b[1];
  size_t n = 0;

  CHECK (fixup_ifupdown_vlans (three, v, &n, 2) == -1 && n == 2);
  n = 0;
  CHECK (fixup_ifupdown_bonds ("iface bond0 inet manual\n  bond-slaves a\n"
                               "iface bond1 inet manual\n  bond-slaves b\n",
                               b, &n, 1) == -1 && n == 1);
  n = 0;
  CHECK (fixup_ifupdown_bonds (nine, b, &n, 1) == -1);

  /* Names too long for the fields are left out, never cut. */
  memset (longname, 'x', 70);
  longname[70] = '\0';
  snprintf (text, sizeof text,
            "iface %s.10 inet manual\n"
            "iface vlan11 inet manual\n  vlan-raw-device %s\n"
            "iface eth0.12 inet manual\n  bond-master %s\n"
            "iface bond0 inet manual\n  bond-slaves eth1 %s\n",
            longname, longname, longname, longname);
  n = 0;
  CHECK (fixup_ifupdown_vlans (text, v, &n, 2) == 0 && n == 1 &&
         strcmp (v[0].name, "eth0.12") == 0);
  n = 0;
  CHECK (fixup_ifupdown_bonds (text, b, &n, 1) == 0 && n == 1 &&
         b[0].nslaves == 1 && strcmp (b[0].slaves[0], "eth1") == 0);
}

/* fixup_ifupdown_unvlan on small texts. */
static void
test_unvlan (void)
{
  static const char *const drop_list[] = { "bond0", "eth0", "eth1", NULL };
  static const struct {
    const char *in, *out;
  } t[] = {
    /* Dropped names leave auto lines; an alias is renamed. */
    { "auto lo bond0 eth0 bond0.10\nallow-hotplug eth1\n"
      "no-auto-down bond0  eth2\nauto bond0.10:1\n"
      "iface bond0.10:1 inet static\n  address 10.10.0.2/24\n",
      "auto lo lan10\nno-auto-down  eth2\nauto lan10:1\n"
      "iface lan10:1 inet static\n  address 10.10.0.2/24\n" },
    /* A dropped stanza's continued option goes with it; comments within
     * it go, those after its last option stay. */
    { "iface eth0 inet manual\n  # first port\n  pre-up ip link set \\\n"
      "    eth0 mtu 9000\n\n# bond0.10 next\nauto bond0.10\n",
      "\n# bond0.10 next\nauto lan10\n" },
    /* bond0.100 is not bond0.10; a comment and a source line stay. */
    { "iface bond0.100 inet manual\n  vlan-raw-device bond0\n"
      "  # up ip link set bond0.10 up\n"
      "source /etc/network/interfaces.d/bond0.10\n",
      "iface bond0.100 inet manual\n  vlan-raw-device bond0\n"
      "  # up ip link set bond0.10 up\n"
      "source /etc/network/interfaces.d/bond0.10\n" },
    /* Every vlan option of the renamed stanza goes; a bridge's port is
     * renamed; no newline at the end. */
    { "iface bond0.10 inet manual\n  vlan_raw_device bond0\n"
      "  vlan-id 10\n  vlan-protocol 802.1q\n  mtu 1500\n"
      "iface br0 inet dhcp\n  bridge-ports bond0.10 eth2",
      "iface lan10 inet manual\n  mtu 1500\n"
      "iface br0 inet dhcp\n  bridge-ports lan10 eth2" },
    /* A dropped stanza at the end, with comments after it. */
    { "auto eth0\niface eth0 inet manual\n  bond-master bond0\n# end\n",
      "# end\n" },
  };
  struct fixup_names drop = { 0 };

  names_of (drop_list, &drop);
  for (size_t i = 0; i < sizeof t / sizeof t[0]; ++i) {
    CLEANUP_FREE char *got = fixup_ifupdown_unvlan (t[i].in, router, 2, &drop);
    CLEANUP_FREE char *again = got ? fixup_ifupdown_unvlan (got, router, 2,
                                                            &drop) : NULL;

    if (got == NULL || strcmp (got, t[i].out) != 0) {
      fprintf (stderr, "unvlan %zu: got:\n%s\n", i, got ? got : "(null)");
      CHECK (!"unvlan as expected");
    }
    CHECK (again && got && strcmp (again, got) == 0);
  }
  fixup_names_free (&drop);
  {
    CLEANUP_FREE char *s = fixup_ifupdown_unvlan ("auto bond0.10\n", NULL, 0,
                                                  NULL);

    CHECK (s && strcmp (s, "auto bond0.10\n") == 0);
  }
}

/* fixup_rename_ifaces on small texts. */
static void
test_rename (void)
{
  static const struct fixup_rename r[] = {
    { "bond0.10", "lan10" }, { "bond0.1", "lan1" },
  };
  static const struct {
    const char *in, *out, *unsafe;
  } t[] = {
    { "-A INPUT -i bond0.100 -j ACCEPT\n-A INPUT -i bond0.1 -j ACCEPT\n",
      "-A INPUT -i bond0.100 -j ACCEPT\n-A INPUT -i lan1 -j ACCEPT\n", "" },
    { "ip addr add 10.10.0.9/24 dev bond0.10 label bond0.10:1\n"
      "link bond0.10@bond9\n",
      "ip addr add 10.10.0.9/24 dev lan10 label lan10:1\nlink lan10@bond9\n",
      "" },
    { "  # -A INPUT -i bond0.10 -j ACCEPT, and bond0\n",
      "  # -A INPUT -i bond0.10 -j ACCEPT, and bond0\n", "" },
    /* Wildcards that match the new names too, or no old name, are safe. */
    { "-A INPUT -i + -j ACCEPT\n-A INPUT -i eth2+ -j ACCEPT\n"
      "iifname \"*\" accept\n",
      "-A INPUT -i + -j ACCEPT\n-A INPUT -i eth2+ -j ACCEPT\n"
      "iifname \"*\" accept\n", "" },
    { "a bond0.10\n-i eth+ -o bond0.10\nc bond0\n",
      "a lan10\n-i eth+ -o bond0.10\nc bond0\n",
      "2: the wildcard eth+ matches eth0, which is gone | "
      "3: names bond0, which is gone" },
    { "", "", "" },
  };
  struct fixup_names gone = { 0 };

  names_of ((const char *const[]) { "bond0", "eth0", NULL }, &gone);
  for (size_t i = 0; i < sizeof t / sizeof t[0]; ++i) {
    struct fixup_names unsafe = { 0 };
    CLEANUP_FREE char *got = fixup_rename_ifaces (t[i].in, r, 2, &gone,
                                                  &unsafe);
    char joined[256];

    join (&unsafe, joined, sizeof joined);
    if (got == NULL || strcmp (got, t[i].out) != 0 ||
        strcmp (joined, t[i].unsafe) != 0) {
      fprintf (stderr, "rename %zu: got:\n%s\nunsafe '%s'\n", i,
               got ? got : "(null)", joined);
      CHECK (!"rename as expected");
    }
    fixup_names_free (&unsafe);
  }
  fixup_names_free (&gone);
  {
    /* No unsafe list, no gone list. */
    CLEANUP_FREE char *s = fixup_rename_ifaces ("-i bond0+ -o bond0.10\n", r,
                                                2, NULL, NULL);

    CHECK (s && strcmp (s, "-i bond0+ -o bond0.10\n") == 0);
  }
}

int
main (void)
{
  test_samples ();
  test_unwind ();
  test_parse_samples ();
  test_parse ();
  test_bond_merge ();
  test_limits ();
  test_unvlan ();
  test_rename ();
  return TEST_DONE ();
}
