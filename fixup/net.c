/* NIC renaming: the interface that had a MAC keeps its name and its
 * configuration on the new MAC.  Every file that ties a NIC to its old
 * MAC is rewritten; a NIC the guest names by position or bus
 * (predictable names like enp3s0 will not exist on the virtual bus)
 * gets its old name pinned to the new MAC.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <guestfs.h>

#include "fixup.h"
#include "cleanup.h"
#include "log.h"

static const struct {
  enum fixup_netfmt fmt;
  const char *glob;
} places[] = {
  { NET_UDEV, "/etc/udev/rules.d/*.rules" },
  { NET_IFCFG, "/etc/sysconfig/network-scripts/ifcfg-*" },
  { NET_IFCFG, "/etc/sysconfig/network/ifcfg-*" },
  { NET_INTERFACES, "/etc/network/interfaces" },
  { NET_INTERFACES, "/etc/network/interfaces.d/*" },
  { NET_NETPLAN, "/etc/netplan/*.yaml" },
  { NET_NM, "/etc/NetworkManager/system-connections/*" },
  { NET_SYSTEMD, "/etc/systemd/network/*.link" },
  { NET_SYSTEMD, "/etc/systemd/network/*.network" },
};
#define NPLACES (sizeof places / sizeof places[0])

/* What the guest says about one NIC. */
struct nic_state {
  bool bound;                   /* some file matches its MAC */
  char name[64];                /* the name a MAC-matching file gives it */
};

/* Rewrite every configuration file; note which NICs they bind, and
 * every interface name they configure.
 */
static int
rewrite_all (struct fixup *f, struct nic_state *st, struct fixup_names *names)
{
  for (size_t i = 0; i < NPLACES; ++i) {
    char **files = fixup_glob (f, places[i].glob);

    for (char **p = files; p && *p; ++p) {
      CLEANUP_FREE char *old = fixup_read (f, *p), *new = NULL;
      char why[160];

      if (old == NULL)
        continue;
      for (size_t k = 0; k < f->nnics; ++k) {
        char name[64] = "";

        /* Old MAC, or new after an earlier run: both bind. */
        if (fixup_net_binds (places[i].fmt, old, f->nics[k].old_mac, name) ||
            fixup_net_binds (places[i].fmt, old, f->nics[k].new_mac, name))
          st[k].bound = true;
        if (*name)
          memcpy (st[k].name, name, sizeof name);
      }
      if (fixup_net_names (places[i].fmt, old, names) == -1 ||
          (new = fixup_net_rewrite (places[i].fmt, old, f->nics, f->nnics)) == NULL) {
        fixup_free_list (files);
        return -1;
      }
      snprintf (why, sizeof why, "the NIC's MAC is now the virtual one's");
      if (fixup_replace (f, *p, old, new, why) == -1) {
        fixup_free_list (files);
        return -1;
      }
    }
    fixup_free_list (files);
  }
  return 0;
}

/* Bonds, bridges, VLANs and the like are configured by name too, but
 * are no NIC to pin.
 */
static bool
virtual_nic (const char *name)
{
  static const char *const prefix[] = { "bond", "br", "team", "virbr",
                                        "docker", "vlan", "tun", "tap",
                                        "veth", "wg", "ppp" };

  for (size_t i = 0; i < sizeof prefix / sizeof prefix[0]; ++i)
    if (strncmp (name, prefix[i], strlen (prefix[i])) == 0)
      return true;
  return strchr (name, '.') != NULL;
}

/* --new-macs (the disks were attached to the hypervisor, so the source
 * machine's NICs are unknown): the NICs are those the guest configures,
 * first every MAC a file ties a NIC to (with the name it gives it, if
 * any), then every other name it configures; each gets the next new
 * MAC.  Bonds, bridges and VLANs are left out.
 */
static int
discover (struct fixup *f)
{
  struct fixup_nic found[FIXUP_MAX_NICS];
  struct fixup_names names = { 0 };
  size_t n = 0;
  int r = 0;

  for (size_t i = 0; i < NPLACES && r == 0; ++i) {
    char **files = fixup_glob (f, places[i].glob);

    for (char **p = files; p && *p && r == 0; ++p) {
      CLEANUP_FREE char *text = fixup_read (f, *p);

      if (text && (fixup_net_names (places[i].fmt, text, &names) == -1 ||
                   fixup_net_macs (places[i].fmt, text, found, &n,
                                   FIXUP_MAX_NICS) == -1))
        r = -1;
    }
    fixup_free_list (files);
  }
  for (size_t i = 0; i < names.len && r == 0; ++i) {
    bool known = virtual_nic (names.ptr[i]);

    for (size_t k = 0; k < n && !known; ++k)
      known = strcmp (found[k].name, names.ptr[i]) == 0;
    if (!known && n == FIXUP_MAX_NICS)
      r = -1;
    else if (!known) {
      memset (&found[n], 0, sizeof found[n]);
      snprintf (found[n++].name, sizeof found[0].name, "%s", names.ptr[i]);
    }
  }
  fixup_names_free (&names);
  if (r == -1) {
    p2v_error ("the guest configures more than %d NICs", FIXUP_MAX_NICS);
    return -1;
  }
  for (size_t k = 0; k < n; ++k) {
    if (virtual_nic (found[k].name))
      continue;
    if (f->nnics == f->nnew_macs) {
      fixup_warn (f, "the guest configures more NICs than the %zu new MACs "
                  "given; %s (%s) gets none", f->nnew_macs,
                  *found[k].name ? found[k].name : "a NIC",
                  *found[k].old_mac ? found[k].old_mac : "no MAC");
      continue;
    }
    f->nics[f->nnics] = found[k];
    memcpy (f->nics[f->nnics].new_mac, f->new_macs[f->nnics], 18);
    f->nnics++;
  }
  if (f->nnics == 0)
    fixup_warn (f, "the guest's configuration names no NIC p2v-fixup can "
                "tell");
  return 0;
}

/* The name of a NIC the guest configures by name only: the one name
 * configured when there is one NIC left to name, else the agent's name
 * for it if the guest configures that.
 */
static const char *
guess_name (struct fixup *f, size_t k, const struct nic_state *st,
            const struct fixup_names *names)
{
  size_t unnamed = 0, free_names = 0;
  const char *last = NULL;

  for (size_t i = 0; i < f->nnics; ++i)
    unnamed += *st[i].name == '\0';
  for (size_t i = 0; i < names->len; ++i) {
    bool taken = virtual_nic (names->ptr[i]);

    for (size_t j = 0; j < f->nnics; ++j)
      taken |= strcmp (st[j].name, names->ptr[i]) == 0;
    if (!taken) {
      free_names++;
      last = names->ptr[i];
    }
  }
  if (unnamed == 1 && free_names == 1)
    return last;
  if (fixup_names_has (names, f->nics[k].name))
    return f->nics[k].name;
  if (*f->nics[k].predictable &&
      fixup_names_has (names, f->nics[k].predictable))
    return f->nics[k].predictable;
  return NULL;
}

/* systemd-udevd reads .link files; older udev only rules. */
int
fixup_pin (struct fixup *f, const char *name, const char *mac)
{
  CLEANUP_FREE char *text = NULL, *path = NULL, *old = NULL;
  bool link = guestfs_is_dir (f->g, "/lib/systemd/network") > 0 ||
              guestfs_is_dir (f->g, "/usr/lib/systemd/network") > 0;
  char why[160];

  snprintf (why, sizeof why, "keeps the name %s on the new MAC %s", name, mac);
  if (link) {
    if (asprintf (&path, "/etc/systemd/network/10-p2v-%s.link", name) == -1 ||
        asprintf (&text, "# Written by p2v-fixup: the NIC that was %s on "
                  "the physical machine.\n[Match]\nMACAddress=%s\n\n[Link]\n"
                  "Name=%s\n", name, mac, name) == -1)
      return -1;
    guestfs_mkdir_p (f->g, "/etc/systemd/network");
  }
  else if (asprintf (&path, "/etc/udev/rules.d/70-p2v-%s.rules", name) == -1 ||
           asprintf (&text, "# Written by p2v-fixup: the NIC that was %s on "
                     "the physical machine.\nSUBSYSTEM==\"net\", ACTION==\"add\", "
                     "ATTR{address}==\"%s\", NAME=\"%s\"\n", name, mac,
                     name) == -1)
    return -1;
  old = fixup_read (f, path);
  return fixup_replace (f, path, old, text, why);
}

/* A NIC the guest configures by its MAC alone still has a name, which
 * other files use (firewall rules, daemons' interface lists).  A
 * predictable name (enp2s0: where the NIC sat on the physical bus)
 * would change on the virtual one, so it is pinned to the new MAC,
 * unless the guest uses the kernel's names (net.ifnames=0).  The name
 * is the one the server's udev gives the NIC, as the agent worked it
 * out, else the agent's own if it is a predictable one; NULL: none.
 */
static const char *
predictable_name (struct fixup *f, const struct fixup_nic *n)
{
  static const char *const boot[] = { "/etc/default/grub",
                                      "/boot/grub/grub.cfg",
                                      "/boot/grub2/grub.cfg",
                                      "/boot/grub/menu.lst" };
  const char *name = *n->predictable ? n->predictable : n->name;

  if (strncmp (name, "en", 2) != 0)
    return NULL;
  for (size_t i = 0; i < sizeof boot / sizeof boot[0]; ++i) {
    CLEANUP_FREE char *text = fixup_read (f, boot[i]);

    if (text && strstr (text, "net.ifnames=0"))
      return NULL;
  }
  return name;
}

int
fixup_note (struct fixup *f, const char *fmt, ...)
{
  va_list ap;
  const char *line;

  va_start (ap, fmt);
  line = fixup_names_vadd (&f->nic_notes, fmt, ap);
  va_end (ap);
  if (line == NULL)
    return -1;
  p2v_info ("NIC %s", line);
  return 0;
}

#define note(f, n, fmt, ...) \
  fixup_note ((f), "%s -> %s: " fmt, *(n)->old_mac ? (n)->old_mac \
              : "(no MAC)", (n)->new_mac, ##__VA_ARGS__)

int
fixup_net (struct fixup *f)
{
  struct nic_state st[FIXUP_MAX_NICS] = { 0 };
  char guest[FIXUP_MAX_NICS][64];
  struct fixup_names names = { 0 };
  int r = -1;

  if ((f->nnew_macs && discover (f) == -1) ||
      rewrite_all (f, st, &names) == -1)
    goto out;
  for (size_t k = 0; k < f->nnics; ++k) {
    const struct fixup_nic *n = &f->nics[k];
    const char *name;

    if (*n->old_mac == '\0') { /* found by its name alone */
      if (fixup_pin (f, n->name, n->new_mac) == -1)
        goto out;
      r = note (f, n, "%s, configured by name, pinned to the new MAC",
                n->name);
    }
    else if (*st[k].name)
      r = note (f, n, "named %s by its MAC in the guest's configuration",
                st[k].name);
    else if (st[k].bound && (name = predictable_name (f, n)) != NULL) {
      if (fixup_pin (f, name, n->new_mac) == -1)
        goto out;
      memcpy (st[k].name, name, strlen (name) + 1);
      r = note (f, n, "configured by its MAC (now the new one); its name "
                "%s pinned to it", name);
    }
    else if (st[k].bound)       /* the configuration follows the MAC */
      r = note (f, n, "configured by its MAC (now the new one)");
    else if ((name = guess_name (f, k, st, &names)) != NULL) {
      memcpy (st[k].name, name, strlen (name) + 1);
      if (fixup_pin (f, name, n->new_mac) == -1)
        goto out;
      r = note (f, n, "%s, configured by name, pinned to the new MAC", name);
    }
    else {
      fixup_warn (f, "NIC %s (%s): the guest configures no interface for it "
                  "that p2v-fixup can tell; its network may need setting up",
                  n->name, n->old_mac);
      r = 0;
    }
    if (r == -1)
      goto out;
  }
  /* The guest's name for each NIC, for its bonds and VLANs. */
  for (size_t k = 0; k < f->nnics; ++k)
    memcpy (guest[k], *st[k].name ? st[k].name : f->nics[k].name, 64);
  r = fixup_vlans (f, guest);
 out:
  fixup_names_free (&names);
  return r;
}
