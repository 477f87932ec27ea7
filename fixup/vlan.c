/* VLANs and bonds on the virtual machine.  After P2V a guest's VLANs end
 * at the hypervisor's bridges: with --vlan VID=MAC, the guest's VLAN VID
 * becomes a plain NIC on MAC (its stanza renamed, pinned to the MAC)
 * and the files naming it follow; a bond left with nothing to carry
 * goes, with its ports, and one left with one NIC is unwound into it.  Without --vlan the VLANs stay tagged on their
 * NIC (a trunk).  Either way a bond of several physical NICs becomes
 * one virtual NIC: the others leave the bond and the domain.  The
 * receiver learns all this from the hints (vlan=, trunk=, nic.drop=).
 * Debian's ifupdown is rewritten (vlan_config.c); VLANs configured
 * otherwise are listed as warnings, with file and line.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixup.h"
#include "cleanup.h"
#include "log.h"

#define MAX_VLANS 64
#define MAX_BONDS 16

static const char *const ifupdown[] = { "/etc/network/interfaces",
                                        "/etc/network/interfaces.d/*" };
/* Files that name interfaces for a daemon or a firewall. */
static const char *const naming[] = {
  "/etc/default/isc-dhcp-server", "/etc/iptables/rules.v4",
  "/etc/iptables/rules.v6", "/etc/nftables.conf", "/etc/sysconfig/iptables",
  "/etc/sysconfig/ip6tables", "/etc/ufw/before.rules",
};
/* VLANs in other formats, which only get listed: a line that starts
 * with this makes one.
 */
static const struct {
  const char *glob, *line;
} other[] = {
  { "/etc/netplan/*.yaml", "vlans:" },
  { "/etc/NetworkManager/system-connections/*", "type=vlan" },
  { "/etc/systemd/network/*.netdev", "Kind=vlan" },
  { "/etc/sysconfig/network-scripts/ifcfg-*", "VLAN=yes" },
};

struct plan {
  struct fixup_vlan vlans[MAX_VLANS];
  size_t nvlans;
  struct fixup_bond bonds[MAX_BONDS];
  size_t nbonds;
  struct fixup_rename renames[MAX_VLANS];
  size_t nrenames;
  struct fixup_names drop;      /* interfaces whose stanzas go */
  struct fixup_names gone;      /* ... and that are no more (not a bond's
                                   NIC that took its place) */
  struct fixup_names ifaces;    /* every interface configured */
};

/* name's stanzas go; with gone, the interface too. */
static int
drop (struct plan *p, const char *name, bool gone)
{
  return fixup_names_add (&p->drop, name, strlen (name)) == -1 ||
    (gone && fixup_names_add (&p->gone, name, strlen (name)) == -1) ? -1 : 0;
}

static int
add_rename (struct plan *p, const char *from, const char *to)
{
  struct fixup_rename *r = &p->renames[p->nrenames];

  if (p->nrenames == MAX_VLANS)
    return -1;
  snprintf (r->from, sizeof r->from, "%s", from);
  snprintf (r->to, sizeof r->to, "%s", to);
  p->nrenames++;
  return 0;
}

#define N(a) (sizeof (a) / sizeof (a)[0])

static int
read_ifupdown (struct fixup *f, struct plan *p)
{
  int r = 0;

  for (size_t i = 0; i < N (ifupdown) && r == 0; ++i) {
    char **files = fixup_glob (f, ifupdown[i]);

    for (char **q = files; q && *q && r == 0; ++q) {
      CLEANUP_FREE char *text = fixup_read (f, *q);

      if (text && (fixup_net_names (NET_INTERFACES, text, &p->ifaces) == -1 ||
                   fixup_ifupdown_vlans (text, p->vlans, &p->nvlans,
                                         MAX_VLANS) == -1 ||
                   fixup_ifupdown_bonds (text, p->bonds, &p->nbonds,
                                         MAX_BONDS) == -1)) {
        p2v_error ("%s: more than %d VLANs, %d bonds or %d NICs in a bond",
                   *q, MAX_VLANS, MAX_BONDS, FIXUP_MAX_SLAVES);
        r = -1;
      }
    }
    fixup_free_list (files);
  }
  return r;
}

static int
hint (struct fixup *f, const char *fmt, ...)
  __attribute__ ((format (printf, 2, 3)));

static int
hint (struct fixup *f, const char *fmt, ...)
{
  va_list ap;
  const char *line;

  va_start (ap, fmt);
  line = fixup_names_vadd (&f->hints, fmt, ap);
  va_end (ap);
  return line ? 0 : -1;
}

/* The NIC the guest calls name (names[k] for f->nics[k]), or -1. */
static int
nic_named (const struct fixup *f, char (*names)[64], const char *name)
{
  for (size_t k = 0; k < f->nnics; ++k)
    if (strcmp (names[k], name) == 0)
      return k;
  return -1;
}

static const char *
mapped_mac (const struct fixup *f, unsigned vid)
{
  for (size_t i = 0; i < f->nvlans; ++i)
    if (f->vlans[i].vid == vid)
      return f->vlans[i].mac;
  return NULL;
}

/* Whether every VLAN on raw is mapped (and it carries one). */
static bool
all_mapped (const struct fixup *f, const struct plan *p, const char *raw)
{
  bool any = false;

  for (size_t i = 0; i < p->nvlans; ++i)
    if (strcmp (p->vlans[i].raw, raw) == 0) {
      if (mapped_mac (f, p->vlans[i].vid) == NULL)
        return false;
      any = true;
    }
  return any;
}

/* A mapped VLAN the guest has no more: an earlier run made it the NIC
 * vlanVID, which keeps it (pin and hint again); else a warning.
 */
static int
made_before (struct fixup *f, const struct plan *p, unsigned vid,
             const char *mac)
{
  char name[64];

  snprintf (name, sizeof name, "vlan%u", vid);
  if (!fixup_names_has (&p->ifaces, name)) {
    fixup_warn (f, "--vlan %u: the guest's ifupdown configuration has no "
                "VLAN %u", vid, vid);
    return 0;
  }
  if (fixup_pin (f, name, mac) == -1 ||
      hint (f, "vlan=%u %s %s", vid, name, mac) == -1)
    return -1;
  return fixup_note (f, "VLAN %u -> %s: a NIC of its own already, %s", vid,
                     mac, name);
}

/* --vlan: each mapped VLAN a NIC, named as before if the name has no
 * dot (vlan10 stays vlan10), else vlanVID; a bond carrying only mapped
 * VLANs, with no address, goes with its ports.
 */
static int
map_vlans (struct fixup *f, struct plan *p)
{
  for (size_t i = 0; i < p->nvlans; ++i) {
    const struct fixup_vlan *v = &p->vlans[i];
    const char *mac = mapped_mac (f, v->vid);
    char to[64];

    if (mac == NULL)
      continue;
    if (strchr (v->name, '.'))
      snprintf (to, sizeof to, "vlan%u", v->vid);
    else
      snprintf (to, sizeof to, "%s", v->name);
    if ((strcmp (v->name, to) && add_rename (p, v->name, to) == -1) ||
        fixup_pin (f, to, mac) == -1 ||
        hint (f, "vlan=%u %s %s", v->vid, to, mac) == -1 ||
        fixup_note (f, "VLAN %u (%s) -> %s: a NIC of its own, %s", v->vid,
                    v->name, mac, to) == -1)
      return -1;
  }
  for (size_t b = 0; b < p->nbonds; ++b) {
    const struct fixup_bond *x = &p->bonds[b];

    if (x->addressed || !all_mapped (f, p, x->name))
      continue;
    if (drop (p, x->name, true) == -1)
      return -1;
    for (size_t s = 0; s < x->nslaves; ++s)
      if (drop (p, x->slaves[s], true) == -1)
        return -1;
  }
  for (size_t i = 0; i < f->nvlans; ++i) {
    bool found = false;

    for (size_t k = 0; k < p->nvlans; ++k)
      found |= p->vlans[k].vid == f->vlans[i].vid;
    if (!found && made_before (f, p, f->vlans[i].vid, f->vlans[i].mac) == -1)
      return -1;
  }
  return 0;
}

/* The VLANs on raw that stay tagged, "10,20" ("" if none). */
static void
tagged (const struct fixup *f, const struct plan *p, const char *raw,
        char *buf, size_t size)
{
  *buf = '\0';
  for (size_t i = 0; i < p->nvlans; ++i)
    if (strcmp (p->vlans[i].raw, raw) == 0 && !mapped_mac (f, p->vlans[i].vid))
      snprintf (buf + strlen (buf), size - strlen (buf), "%s%u",
                *buf ? "," : "", p->vlans[i].vid);
}

/* --vlan: a bond left with one NIC is unwound.  Its stanzas become the
 * NIC's (the bond's name, in every file, the NIC's; its bond-* options
 * go), the NIC's own stanza goes, and its VLANs still tagged follow:
 * bond0.30 is eth0.30.
 */
static int
unwind (struct fixup *f, struct plan *p, const struct fixup_bond *x,
        const char *nic, const char *mac)
{
  char vlan[64];

  if (add_rename (p, x->name, nic) == -1 || drop (p, nic, false) == -1)
    return -1;
  for (size_t i = 0; i < p->nvlans; ++i) {
    const struct fixup_vlan *v = &p->vlans[i];

    snprintf (vlan, sizeof vlan, "%s.%u", x->name, v->vid);
    if (strcmp (v->raw, x->name) == 0 && strcmp (v->name, vlan) == 0 &&
        !mapped_mac (f, v->vid)) {
      snprintf (vlan, sizeof vlan, "%s.%u", nic, v->vid);
      if (add_rename (p, v->name, vlan) == -1)
        return -1;
    }
  }
  return fixup_note (f, "bond %s -> %s: unwound into its one NIC, %s",
                     x->name, mac, nic);
}

/* Every bond that stays keeps one NIC, its first that the domain has;
 * the others leave it (and the domain).  With --vlan it is unwound;
 * without, it stays a bond of one NIC, its VLANs as they were.  The NIC
 * carrying VLANs still tagged (the bond's, or a VLAN's raw NIC) is a
 * trunk.
 */
static int
one_nic_per_bond (struct fixup *f, struct plan *p, char (*names)[64])
{
  char vids[256];

  for (size_t b = 0; b < p->nbonds; ++b) {
    const struct fixup_bond *x = &p->bonds[b];
    int keep = -1;

    if (fixup_names_has (&p->gone, x->name))
      continue;
    for (size_t s = 0; s < x->nslaves; ++s) {
      int k = nic_named (f, names, x->slaves[s]);

      if (k >= 0 && keep == -1)
        keep = k;
      else if (drop (p, x->slaves[s], true) == -1)
        return -1;
    }
    if (keep == -1)
      continue;
    tagged (f, p, x->name, vids, sizeof vids);
    if (*vids && hint (f, "trunk=%s %s", f->nics[keep].new_mac, vids) == -1)
      return -1;
    if (f->nvlans ? unwind (f, p, x, names[keep], f->nics[keep].new_mac) == -1
        : fixup_note (f, "bond %s -> %s: its one NIC now, %s%s", x->name,
                      f->nics[keep].new_mac, names[keep], *vids
                      ? ", carrying its VLANs tagged (a trunk)" : "") == -1)
      return -1;
  }
  for (size_t k = 0; k < f->nnics; ++k) {
    tagged (f, p, names[k], vids, sizeof vids);
    if (*vids && hint (f, "trunk=%s %s", f->nics[k].new_mac, vids) == -1)
      return -1;
  }
  return 0;
}

/* A rewriter's unsafe lines ("LINE: why"), as warnings naming path. */
static void
warn_unsafe (struct fixup *f, const char *path, struct fixup_names *unsafe)
{
  for (size_t i = 0; i < unsafe->len; ++i)
    fixup_warn (f, "%s:%s; left as it was: check it", path, unsafe->ptr[i]);
  fixup_names_free (unsafe);
}

/* The files: ifupdown's without the VLANs and interfaces that went,
 * the others with the new names.
 */
static int
rewrite (struct fixup *f, struct plan *p)
{
  const char *why = "the VLANs are NICs of their own now; bonds are one NIC";

  for (size_t set = 0; set < 2; ++set)
    for (size_t i = 0; i < (set ? N (naming) : N (ifupdown)); ++i) {
      char **files = fixup_glob (f, set ? naming[i] : ifupdown[i]);
      int r = 0;

      for (char **q = files; q && *q && r == 0; ++q) {
        CLEANUP_FREE char *old = fixup_read (f, *q), *new = NULL, *chk = NULL;
        struct fixup_names unsafe = { 0 };

        if (old == NULL)
          continue;
        new = set ? fixup_rename_ifaces (old, p->renames, p->nrenames,
                                         &p->gone, &unsafe)
              : fixup_ifupdown_unvlan (old, p->renames, p->nrenames, &p->drop);
        /* What still names an interface that went (an up command). */
        if (new && !set)
          chk = fixup_rename_ifaces (new, NULL, 0, &p->gone, &unsafe);
        r = new == NULL || (!set && chk == NULL) ? -1
            : fixup_replace (f, *q, old, new, why);
        warn_unsafe (f, *q, &unsafe);
      }
      fixup_free_list (files);
      if (r == -1)
        return -1;
    }
  return 0;
}

/* VLANs p2v-fixup cannot make NICs of: each listed, file and line. */
static void
list_others (struct fixup *f)
{
  for (size_t i = 0; i < N (other); ++i) {
    char **files = fixup_glob (f, other[i].glob);

    for (char **q = files; q && *q; ++q) {
      CLEANUP_FREE char *text = fixup_read (f, *q);
      size_t line = 1;

      for (const char *l = text; l && *l; ++line) {
        const char *nl = strchr (l, '\n');

        l += strspn (l, " \t");
        if (strncmp (l, other[i].line, strlen (other[i].line)) == 0)
          fixup_warn (f, "%s:%zu: a VLAN that p2v-fixup cannot make a NIC "
                      "of (only ifupdown's); it stays as it is", *q, line);
        l = nl ? nl + 1 : l + strlen (l);
      }
    }
    fixup_free_list (files);
  }
}

int
fixup_vlans (struct fixup *f, char (*names)[64])
{
  struct plan *p = calloc (1, sizeof *p);
  int r = -1;

  if (p == NULL)
    return -1;
  if (f->nvlans)
    list_others (f);
  if (read_ifupdown (f, p) == -1)
    goto out;
  if (p->nvlans == 0 && p->nbonds == 0 && f->nvlans == 0)
    goto out_ok;
  if (map_vlans (f, p) == -1 || one_nic_per_bond (f, p, names) == -1)
    goto out;
  for (size_t k = 0; k < f->nnics; ++k)
    if (fixup_names_has (&p->gone, names[k]) &&
        hint (f, "nic.drop=%s", f->nics[k].new_mac) == -1)
      goto out;
  if (rewrite (f, p) == -1)
    goto out;
 out_ok:
  r = 0;
 out:
  fixup_names_free (&p->drop);
  fixup_names_free (&p->gone);
  fixup_names_free (&p->ifaces);
  free (p);
  return r;
}
