/* The libvirt domain of a conversion: DIR/NAME/domain.xml, built from
 * the agent's inventory, with a fresh UUID (libuuid) and fresh locally
 * administered MACs that collide with no MAC libvirt knows of and no
 * source MAC; optionally defined through the libvirt API.
 *
 * Also DIR/NAME/nics, the old MAC -> new MAC map for the guest fixups,
 * one line per NIC: "NAME OLD-MAC NEW-MAC".
 *
 * Hints from the guest (DIR/NAME/guest-hints, written by p2v-fixup,
 * key=value lines): "virtio=no" switches the defaults to a SATA disk and
 * an e1000 NIC; "xen-pv=yes" makes a Xen domain paravirtualised (pygrub).
 * For direct attach, where the source machine's facts are unknown, also
 * "firmware=", "firmware.from=", "hostname=" and "nic=NAME OLD NEW"
 * (the NICs p2v-fixup found in the guest's configuration, given MACs of
 * the pool).  VLANs: "vlan=VID NAME MAC" (--vlan-map's VLAN VID is now
 * the guest's NIC NAME on MAC), "trunk=MAC VID,..." (the NIC carries
 * these VLANs tagged), "nic.drop=MAC" (a NIC of a bond the guest no
 * longer needs: a bond becomes one NIC).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <uuid/uuid.h>

#include "domain.h"
#include "cleanup.h"
#include "convdir_layout.h"
#include "fileio.h"
#include "log.h"
#include "virt_macs.h"

#define MAX_MACS (1 << 18)

struct macs {
  char (*mac)[18];
  size_t len, cap;
};

static int
macs_add (struct macs *m, const char *mac)
{
  if (m->len == m->cap) {
    size_t cap = m->cap ? 2 * m->cap : 64;
    char (*p)[18];

    if (cap > MAX_MACS || (p = realloc (m->mac, cap * sizeof *p)) == NULL)
      return -1;
    m->mac = p;
    m->cap = cap;
  }
  snprintf (m->mac[m->len], 18, "%.17s", mac);
  for (char *c = m->mac[m->len]; *c; ++c)
    *c = *c >= 'A' && *c <= 'F' ? *c - 'A' + 'a' : *c;
  m->len++;
  return 0;
}

static bool
macs_has (const struct macs *m, const char *mac)
{
  for (size_t i = 0; i < m->len; ++i)
    if (strcasecmp (m->mac[i], mac) == 0)
      return true;
  return false;
}

/* A MAC of libvirt's domains, as taken; a cut-short one is not a MAC. */
static void
take_mac (void *opaque, const char *domain, const char *mac)
{
  (void) domain;
  if (strlen (mac) == 17)
    macs_add (opaque, mac);
}

/* The prefix, then random bytes; on a clash the next value, so that
 * even a nearly full 5-byte prefix finds its free MACs.
 */
static int
fresh_mac (const struct recv_domain_opts *o, const struct macs *taken,
           char out[18])
{
  int bits = 8 * (6 - o->mac_prefix_len);
  uint32_t mask = (uint32_t) ((1ULL << bits) - 1), r;

  if (getrandom (&r, sizeof r, 0) != sizeof r)
    return -1;
  for (uint32_t i = 0; i <= mask; ++i) {
    uint32_t v = (r + i) & mask;
    uint8_t m[6];

    memcpy (m, o->mac_prefix, o->mac_prefix_len);
    for (int k = 5; k >= o->mac_prefix_len; --k, v >>= 8)
      m[k] = v & 0xff;
    snprintf (out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2],
              m[3], m[4], m[5]);
    if (!macs_has (taken, out))
      return 0;
  }
  errno = EADDRINUSE;
  return -1;
}

static void
xml_text (FILE *fp, const char *s)
{
  for (; *s; ++s)
    switch (*s) {
    case '&': fputs ("&amp;", fp); break;
    case '<': fputs ("&lt;", fp); break;
    case '>': fputs ("&gt;", fp); break;
    case '\'': fputs ("&apos;", fp); break;
    case '"': fputs ("&quot;", fp); break;
    default: fputc (*s, fp);
    }
}

struct hints {
  bool no_virtio, xen_pv;
  char firmware[8], firmware_from[256], hostname[256];
  struct recv_nic nics[RECV_MAC_POOL];
  size_t nnics;
  struct recv_nic vlan[RECV_MAX_NICS], trunk[RECV_MAX_NICS];
  size_t nvlan, ntrunk;
  char drop[RECV_MAX_NICS][18];
  size_t ndrop;
};

static bool
in_pool (const struct recv_domain *res, const char *mac)
{
  for (size_t i = 0; i < res->npool; ++i)
    if (strcmp (res->pool[i], mac) == 0)
      return true;
  return false;
}

/* "nic=NAME OLD NEW", "-" for an unknown name or MAC. */
static void
hint_nic (struct hints *h, const struct recv_domain *res, const char *v)
{
  char name[64], old[18], new[18];
  struct recv_nic *x = &h->nics[h->nnics];

  if (h->nnics == RECV_MAC_POOL ||
      sscanf (v, "%63s %17s %17s", name, old, new) != 3 ||
      !in_pool (res, new))
    return;
  for (size_t i = 0; i < h->nnics; ++i)
    if (strcmp (h->nics[i].new_mac, new) == 0)
      return;                   /* one MAC, one NIC */
  snprintf (x->name, sizeof x->name, "%s", strcmp (name, "-") ? name : "");
  snprintf (x->old_mac, sizeof x->old_mac, "%s", strcmp (old, "-") ? old : "");
  memcpy (x->new_mac, new, sizeof x->new_mac);
  h->nnics++;
}

/* "vlan=VID NAME MAC" into h->vlan, "trunk=MAC VIDS" into h->trunk
 * (vid, name, new_mac; trunk), "nic.drop=MAC" into h->drop.
 */
static void
hint_vlan (struct hints *h, const char *line)
{
  struct recv_nic x = { 0 };

  if (sscanf (line, "vlan=%u %63s %17s", &x.vid, x.name, x.new_mac) == 3 &&
      h->nvlan < RECV_MAX_NICS)
    h->vlan[h->nvlan++] = x;
  else if (sscanf (line, "trunk=%17s %255s", x.new_mac, x.trunk) == 2 &&
           h->ntrunk < RECV_MAX_NICS)
    h->trunk[h->ntrunk++] = x;
  else if (sscanf (line, "nic.drop=%17s", x.new_mac) == 1 &&
           h->ndrop < RECV_MAX_NICS)
    memcpy (h->drop[h->ndrop++], x.new_mac, 18);
}

/* The fixup step's findings about the guest, if it left any. */
static void
read_hints (int dirfd, const struct recv_domain *res, struct hints *h)
{
  char line[512];
  int fd = openat (dirfd, P2V_CONVDIR_HINTS, O_RDONLY | O_CLOEXEC);
  FILE *fp = fd >= 0 ? fdopen (fd, "r") : NULL;

  while (fp && fgets (line, sizeof line, fp)) {
    line[strcspn (line, "\n")] = '\0';
    if (strcmp (line, "virtio=no") == 0)
      h->no_virtio = true;
    else if (strcmp (line, "xen-pv=yes") == 0)
      h->xen_pv = true;
    else if (strcmp (line, "firmware=bios") == 0 ||
             strcmp (line, "firmware=uefi") == 0)
      snprintf (h->firmware, sizeof h->firmware, "%.7s", line + 9);
    else if (strncmp (line, "firmware.from=", 14) == 0)
      snprintf (h->firmware_from, sizeof h->firmware_from, "%.255s",
                line + 14);
    else if (strncmp (line, "hostname=", 9) == 0)
      snprintf (h->hostname, sizeof h->hostname, "%.255s", line + 9);
    else if (strncmp (line, "nic=", 4) == 0)
      hint_nic (h, res, line + 4);
    else
      hint_vlan (h, line);
  }
  if (fp)
    fclose (fp);
  else if (fd >= 0)
    close (fd);
}

/* Memory, vCPUs and firmware: the option, else the source machine's,
 * else (direct attach) the guest's or a default; each says whence.
 */
#define DEFAULT_MEMORY (2ULL << 30)
#define DEFAULT_VCPUS 2

static void
choose_facts (const struct recv_domain_opts *o, const struct p2v_inventory *inv,
              const struct hints *h, struct recv_domain *res)
{
  const char *fw = p2v_fact (inv, "firmware");

  res->memory = o->memory ? o->memory : inv->memory ? inv->memory
                : DEFAULT_MEMORY;
  snprintf (res->memory_from, sizeof res->memory_from, "%s", o->memory
            ? "--memory" : inv->memory ? "the source machine" : "default");
  if (res->memory < (128 << 20))
    res->memory = 128 << 20;    /* tiny: enough to boot */
  res->vcpus = o->vcpus ? o->vcpus : inv->cpus ? inv->cpus : DEFAULT_VCPUS;
  snprintf (res->vcpus_from, sizeof res->vcpus_from, "%s", o->vcpus
            ? "--vcpus" : inv->cpus ? "the source machine" : "default");
  if (fw)
    snprintf (res->firmware_from, sizeof res->firmware_from,
              "the source machine");
  else if (*h->firmware)
    snprintf (res->firmware_from, sizeof res->firmware_from, "the guest: %s",
              *h->firmware_from ? h->firmware_from : "p2v-fixup");
  else
    snprintf (res->firmware_from, sizeof res->firmware_from,
              "default: p2v-fixup did not inspect the guest");
  res->uefi = strcmp (fw ? fw : h->firmware, "uefi") == 0;
}

/* Direct attach: the NICs p2v-fixup found in the guest; if none, one. */
static void
guest_nics (struct recv_domain *res, const struct hints *h)
{
  memcpy (res->nics, h->nics, h->nnics * sizeof *h->nics);
  res->nnics = h->nnics;
  snprintf (res->nics_from, sizeof res->nics_from,
            "the guest's network configuration");
  if (res->nnics == 0) {
    memset (&res->nics[0], 0, sizeof res->nics[0]);
    memcpy (res->nics[0].new_mac, res->pool[0], 18);
    res->nnics = 1;
    snprintf (res->nics_from, sizeof res->nics_from,
              "none found in the guest: one by default");
  }
}

/* VLANs and bonds, as the fixups left them: a NIC for each VLAN of
 * --vlan-map they made one (on the map's bridge or network), the VLANs
 * a NIC carries tagged, a bond's other NICs dropped.  A mapped VLAN
 * that the guest does not have gets no NIC.
 */
static void
vlan_nics (const struct recv_domain_opts *o, const struct hints *h,
           struct recv_domain *res)
{
  for (size_t i = 0; i < res->nnics; ++i) {
    struct recv_nic *x = &res->nics[i];

    for (size_t k = 0; k < h->ndrop; ++k)
      x->dropped |= strcmp (x->new_mac, h->drop[k]) == 0;
    for (size_t k = 0; k < h->ntrunk; ++k)
      if (strcmp (x->new_mac, h->trunk[k].new_mac) == 0)
        memcpy (x->trunk, h->trunk[k].trunk, sizeof x->trunk);
  }
  for (size_t v = 0; v < o->nvlans; ++v) {
    const struct recv_nic *made = NULL;

    for (size_t k = 0; k < h->nvlan; ++k)
      if (h->vlan[k].vid == o->vlans[v].vid &&
          strcmp (h->vlan[k].new_mac, res->vlans[v].mac) == 0)
        made = &h->vlan[k];
    if ((res->vlans[v].missing = made == NULL))
      p2v_warning ("--vlan-map %u=%s: the guest's configuration has no "
                   "VLAN %u that p2v-fixup made a NIC of; the domain has "
                   "no NIC for it", o->vlans[v].vid, o->vlans[v].name,
                   o->vlans[v].vid);
    else if (res->nnics < RECV_MAX_NICS)
      res->nics[res->nnics++] = *made;
  }
}

/* DIR/NAME/nics: "NAME OLD-MAC NEW-MAC", "-" for an unknown. */
static int
write_nics (int dirfd, const struct recv_domain *res)
{
  CLEANUP_FREE char *map = NULL;
  size_t len = 0;
  FILE *fp = open_memstream (&map, &len);

  if (fp == NULL)
    return -1;
  for (size_t i = 0; i < res->nnics; ++i)
    fprintf (fp, "%s %s %s\n", *res->nics[i].name ? res->nics[i].name : "-",
             *res->nics[i].old_mac ? res->nics[i].old_mac : "-",
             res->nics[i].new_mac);
  if (fclose (fp) != 0)
    return -1;
  return p2v_write_data_at (dirfd, P2V_CONVDIR_NICS, map ? map : "", len);
}

/* --network/--bridge for a NIC: "NIC=NAME" for one, "NAME" for all. */
static const struct recv_net *
net_for (const struct recv_domain_opts *o, const char *nic, const char *mac)
{
  const struct recv_net *all = NULL;

  for (size_t i = 0; i < o->nnets; ++i) {
    const struct recv_net *n = &o->nets[i];

    if (n->nic == NULL)
      all = n;
    else if ((nic && strcmp (n->nic, nic) == 0) ||
             (mac && strcasecmp (n->nic, mac) == 0))
      return n;
  }
  return all;
}

static const struct recv_vlan *
vlan_of (const struct recv_domain_opts *o, unsigned vid)
{
  for (size_t i = 0; vid && i < o->nvlans; ++i)
    if (o->vlans[i].vid == vid)
      return &o->vlans[i];
  return NULL;
}

/* A trunk: the VLANs ("10,20") reach the guest tagged. */
static void
write_trunk (FILE *fp, const char *vids)
{
  unsigned vid;
  int used;

  if (*vids == '\0')
    return;
  fputs ("      <vlan trunk='yes'>\n", fp);
  for (; sscanf (vids, "%u%n", &vid, &used) == 1; vids += used + (vids[used] == ','))
    fprintf (fp, "        <tag id='%u'/>\n", vid);
  fputs ("      </vlan>\n", fp);
}

static void
write_disks (FILE *fp, const struct recv_domain_disk *d, uint32_t n,
             const char *bus)
{
  const char *prefix = strcmp (bus, "xen") == 0 ? "xvd"
                       : strcmp (bus, "virtio") == 0 ? "vd"
                       : strcmp (bus, "ide") == 0 ? "hd" : "sd";

  for (uint32_t i = 0; i < n; ++i) {
    fprintf (fp, "    <disk type='%s' device='disk'>\n"
             "      <driver name='qemu' type='%s'/>\n"
             "      <source %s='", d[i].block ? "block" : "file",
             d[i].format, d[i].block ? "dev" : "file");
    xml_text (fp, d[i].path);
    fprintf (fp, "'/>\n      <target dev='%s%c' bus='%s'/>\n%s"
             "    </disk>\n", prefix, 'a' + (int) i, bus,
             i == 0 ? "      <boot order='1'/>\n" : "");
  }
}

static void
write_xml (FILE *fp, const struct recv_domain_opts *o, const char *name,
           const char *host, const struct recv_domain *res,
           const struct recv_domain_disk *disks, uint32_t ndisks,
           bool no_virtio, bool xen_pv)
{
  const struct recv_nic *nics = res->nics;
  size_t nnics = res->nnics;
  bool uefi = res->uefi;
  bool xen = strcmp (o->hypervisor, "xen") == 0;
  /* Xen: its own disk bus and NIC driver unless told otherwise. */
  const char *bus = xen && xen_pv ? "xen" : o->disk_bus ? o->disk_bus
                    : xen ? "xen" : no_virtio ? "sata" : "virtio";
  const char *model = o->nic_model ? o->nic_model : xen ? NULL
                      : no_virtio ? "e1000" : "virtio";
  uint64_t mem = res->memory / 1024;

  fprintf (fp, "<domain type='%s'>\n  <name>%s</name>\n  <uuid>%s</uuid>\n"
           "  <title>p2v conversion of ", o->hypervisor, name, res->uuid);
  xml_text (fp, host);
  fputs ("</title>\n  <description>Converted by p2v-receiver " P2V_VERSION
         " from ", fp);
  xml_text (fp, host);
  fprintf (fp, "</description>\n"
           "  <memory unit='KiB'>%" PRIu64 "</memory>\n"
           "  <currentMemory unit='KiB'>%" PRIu64 "</currentMemory>\n"
           "  <vcpu placement='static'>%u</vcpu>\n", mem, mem, res->vcpus);
  if (xen && xen_pv)
    fputs ("  <bootloader>/usr/lib/xen/bin/pygrub</bootloader>\n"
           "  <os>\n    <type arch='x86_64' machine='xenpv'>linux</type>\n"
           "  </os>\n", fp);
  else if (xen)
    fprintf (fp, "  <os%s>\n    <type arch='x86_64' machine='xenfv'>hvm"
             "</type>\n%s  </os>\n", uefi ? " firmware='efi'" : "",
             uefi ? "" : "    <loader type='rom'>/usr/lib/xen/boot/hvmloader"
                         "</loader>\n");
  else
    fprintf (fp, "  <os%s>\n    <type arch='x86_64'%s>hvm</type>\n  </os>\n",
             uefi ? " firmware='efi'" : "",
             strcmp (bus, "ide") == 0 ? " machine='pc'" : "");
  if (!(xen && xen_pv))
    fputs ("  <features>\n    <acpi/>\n    <apic/>\n  </features>\n", fp);
  if (strcmp (o->hypervisor, "kvm") == 0)
    fputs ("  <cpu mode='host-model'/>\n", fp);
  fputs ("  <clock offset='utc'/>\n  <on_poweroff>destroy</on_poweroff>\n"
         "  <on_reboot>restart</on_reboot>\n  <on_crash>destroy</on_crash>\n"
         "  <devices>\n", fp);
  write_disks (fp, disks, ndisks, bus);
  for (size_t i = 0; i < nnics; ++i) {
    const struct recv_net *n = net_for (o, nics[i].name, nics[i].old_mac);
    const struct recv_vlan *v = vlan_of (o, nics[i].vid);
    bool bridge = v ? v->bridge : n ? n->bridge : xen;
    const char *src = v ? v->name : n ? n->name : xen ? "xenbr0" : "default";

    if (nics[i].dropped)
      continue;
    fprintf (fp, "    <interface type='%s'>\n      <mac address='%s'/>\n"
             "      <source %s='", bridge ? "bridge" : "network",
             nics[i].new_mac, bridge ? "bridge" : "network");
    xml_text (fp, src);
    fputs ("'/>\n", fp);
    write_trunk (fp, nics[i].trunk);
    if (model && !(xen && xen_pv))
      fprintf (fp, "      <model type='%s'/>\n", model);
    fputs ("    </interface>\n", fp);
  }
  if (xen && xen_pv)
    fputs ("    <console type='pty'>\n      <target type='xen' port='0'/>\n"
           "    </console>\n", fp);
  else {
    fputs ("    <serial type='pty'>\n", fp);
    if (o->console_log) {
      fputs ("      <log file='", fp);
      xml_text (fp, o->console_log);
      fputs ("' append='on'/>\n", fp);
    }
    fputs ("      <target port='0'/>\n    </serial>\n"
           "    <console type='pty'>\n"
           "      <target type='serial' port='0'/>\n    </console>\n", fp);
  }
  fprintf (fp, "    <graphics type='%s' autoport='yes' listen='127.0.0.1'/>\n",
           o->graphics ? o->graphics : "vnc");
  if (!(xen && xen_pv))
    fputs ("    <video>\n      <model type='vga'/>\n    </video>\n", fp);
  fputs ("  </devices>\n</domain>\n", fp);
}

int
recv_virt_error (const char *fmt, ...)
{
  char what[1024];
  const char *m = virGetLastErrorMessage ();
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (what, sizeof what, fmt, ap);
  va_end (ap);
  p2v_error ("%s: %s", what, m ? m : "unknown libvirt error");
  return -1;
}

static void
quiet_libvirt (void *opaque, virErrorPtr e)
{
  (void) opaque; (void) e;      /* errors are fetched and worded by us */
}

void
recv_virt_quiet (void)
{
  virSetErrorFunc (NULL, quiet_libvirt);
}

/* libvirt (NULL if it cannot be reached: the XML is still worth
 * writing, to define later with virsh) and the MACs its domains use;
 * a domain of the same name makes --define refuse.  -1 (reported) if
 * the MACs cannot all be listed.
 */
static int
open_libvirt (const struct recv_domain_opts *o, const char *name,
              virConnectPtr *connp, struct macs *taken,
              struct recv_domain *res)
{
  virConnectPtr conn;

  recv_virt_quiet ();
  *connp = conn = virConnectOpen (o->uri);
  if (conn == NULL) {
    p2v_warning ("cannot reach libvirt%s%s (%s): new MACs are checked "
                 "against the source's only", o->uri ? " at " : "",
                 o->uri ? o->uri : "", virGetLastErrorMessage ());
    if (o->define) {
      recv_virt_error ("%s", o->uri ? o->uri : "cannot connect to libvirt");
      res->refused = true;
    }
    return 0;
  }
  if (p2v_virt_macs (conn, take_mac, taken) == -1) {
    recv_virt_error ("listing libvirt's domains");
    return -1;
  }
  if (taken->len >= MAX_MACS) {
    p2v_error ("libvirt knows more than %d MACs; not all could be checked",
               MAX_MACS);
    return -1;
  }
  if (o->define) {
    virDomainPtr d = virDomainLookupByName (conn, name);

    if (d) {
      virDomainFree (d);
      p2v_error ("libvirt already has a domain named '%s'; the XML is "
                 "written, define it under another name with virsh, or "
                 "undefine the old one first", name);
      res->refused = true;
    }
  }
  return 0;
}

/* A fresh MAC for each of the source's NICs, or for direct attach
 * (no NICs known yet) a pool the fixups pick from.  Neither libvirt's
 * MACs nor the source's are used: the old server may come back.
 */
static int
new_macs (const struct recv_domain_opts *o, const struct p2v_inventory *inv,
          struct macs *taken, struct recv_domain *res)
{
  for (uint32_t i = 0; i < inv->nfacts; ++i) {
    const char *k = inv->keys[i], *dot = strrchr (k, '.');

    if (strncmp (k, "nic.", 4) == 0 && dot && strcmp (dot, ".mac") == 0)
      macs_add (taken, inv->values[i]);
  }
  for (size_t i = 0; res->direct && i < RECV_MAC_POOL; ++i) {
    if (fresh_mac (o, taken, res->pool[i]) == -1 ||
        macs_add (taken, res->pool[i]) == -1)
      break;                    /* fewer: the fixup says if too few */
    res->npool++;
  }
  if (res->direct && res->npool == 0) {
    p2v_error ("no free MAC address: all %zu taken MACs considered "
               "(libvirt's domains), the prefix allows no other; choose "
               "another --mac-prefix", taken->len);
    return -1;
  }
  for (size_t v = 0; v < o->nvlans; ++v, ++res->nvlans) {
    res->vlans[v].vid = o->vlans[v].vid;
    if (fresh_mac (o, taken, res->vlans[v].mac) == -1 ||
        macs_add (taken, res->vlans[v].mac) == -1) {
      p2v_error ("no free MAC address for VLAN %u: all %zu taken MACs "
                 "considered, the prefix allows no other; choose another "
                 "--mac-prefix", o->vlans[v].vid, taken->len);
      return -1;
    }
  }
  snprintf (res->nics_from, sizeof res->nics_from, "the source machine");
  for (int n = 0; !res->direct && n < RECV_MAX_NICS; ++n) {
    const char *name, *mac, *pred;

    if ((name = p2v_fact_nth (inv, "nic", n, "name")) == NULL)
      break;
    mac = p2v_fact_nth (inv, "nic", n, "mac");
    pred = p2v_fact_nth (inv, "nic", n, "predictable");
    struct recv_nic *x = &res->nics[res->nnics];
    snprintf (x->name, sizeof x->name, "%s", name);
    snprintf (x->predictable, sizeof x->predictable, "%s", pred ? pred : "");
    snprintf (x->old_mac, sizeof x->old_mac, "%s", mac ? mac : "");
    if (fresh_mac (o, taken, x->new_mac) == -1 ||
        macs_add (taken, x->new_mac) == -1) {
      p2v_error ("no free MAC address for NIC %s: all %zu taken MACs "
                 "considered (libvirt's domains, the source's), the prefix "
                 "allows no other; choose another --mac-prefix", name,
                 taken->len);
      return -1;
    }
    res->nnics++;
  }
  return 0;
}

/* A random UUID that libvirt does not know. */
static int
new_uuid (virConnectPtr conn, struct recv_domain *res)
{
  for (int tries = 0;; ++tries) {
    uuid_t u;
    virDomainPtr d;

    uuid_generate_random (u);
    uuid_unparse_lower (u, res->uuid);
    if (conn == NULL || (d = virDomainLookupByUUIDString (conn, res->uuid))
                        == NULL)
      return 0;
    virDomainFree (d);
    if (tries > 10) {
      p2v_error ("libvirt keeps knowing every fresh UUID; giving up");
      return -1;
    }
  }
}

static void
define (virConnectPtr conn, const char *xml, const char *name,
        struct recv_domain *res)
{
  virDomainPtr d = virDomainDefineXML (conn, xml);

  if (d == NULL) {
    recv_virt_error ("libvirt refused the domain");
    res->refused = true;
    return;
  }
  res->defined = true;
  virDomainFree (d);
  p2v_info ("defined domain '%s' (UUID %s) in libvirt", name, res->uuid);
}

int
recv_domain_build (int dirfd, const char *dir, const struct p2v_inventory *inv,
                   const struct recv_domain_disk *disks, uint32_t ndisks,
                   const struct recv_domain_opts *o, struct recv_domain *res,
                   void (*before_xml) (void *, const struct recv_domain *),
                   void *opaque)
{
  struct macs taken = { 0 };
  virConnectPtr conn = NULL;
  CLEANUP_FREE char *xml = NULL;
  size_t xml_len = 0;
  struct hints h = { 0 };
  const char *attach = p2v_fact (inv, "attach"), *host;
  FILE *fp;
  int r = -1;

  memset (res, 0, sizeof *res);
  res->direct = attach && strcmp (attach, "direct") == 0;
  if (open_libvirt (o, inv->name, &conn, &taken, res) == -1 ||
      new_macs (o, inv, &taken, res) == -1 || new_uuid (conn, res) == -1)
    goto out;
  /* The nics map first: the fixups read it, and leave the hints (for
   * direct attach, the NICs they found, written to the map then).
   */
  if (write_nics (dirfd, res) == -1)
    goto out;
  if (before_xml)
    before_xml (opaque, res);
  read_hints (dirfd, res, &h);
  if (res->direct)
    guest_nics (res, &h);
  vlan_nics (o, &h, res);
  if ((res->direct || o->nvlans || h.ndrop) && write_nics (dirfd, res) == -1)
    goto out;
  choose_facts (o, inv, &h, res);
  host = *inv->hostname ? inv->hostname : *h.hostname ? h.hostname
         : inv->name;
  fp = open_memstream (&xml, &xml_len);
  if (fp == NULL)
    goto out;
  write_xml (fp, o, inv->name, host, res, disks, ndisks, h.no_virtio,
             h.xen_pv || o->xen_pv);
  if (fclose (fp) != 0 ||
      p2v_write_data_at (dirfd, P2V_CONVDIR_DOMAIN, xml, xml_len) == -1)
    goto out;
  snprintf (res->xml_path, sizeof res->xml_path, "%s/" P2V_CONVDIR_DOMAIN,
            dir);
  if (o->define && !res->refused && conn)
    define (conn, xml, inv->name, res);
  r = 0;
 out:
  if (conn)
    virConnectClose (conn);
  free (taken.mac);
  return r;
}
