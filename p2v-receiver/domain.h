/* The libvirt domain (domain.c). */
#ifndef P2V_DOMAIN_H
#define P2V_DOMAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

#define RECV_MAX_NICS 64
struct recv_net {
  const char *nic;              /* source NIC name or MAC; NULL: all */
  bool bridge;                  /* a bridge, else a libvirt network */
  const char *name;
};
/* --vlan-map VID=[network:]NAME: the guest's VLAN VID becomes a NIC of
 * its own on bridge (or libvirt network) NAME.
 */
struct recv_vlan {
  unsigned vid;
  bool bridge;
  const char *name;
};
struct recv_domain_opts {
  const char *hypervisor;       /* kvm, qemu (TCG) or xen */
  bool xen_pv;                  /* Xen paravirtualised, with pygrub */
  const char *uri;              /* libvirt URI, NULL for the default */
  bool define;                  /* define it through libvirt */
  unsigned vcpus;               /* 0: as the source, or 2 */
  uint64_t memory;              /* bytes, 0: as the source, or 2 GiB */
  const char *disk_bus, *nic_model;     /* NULL: virtio, or hints */
  const char *graphics;         /* vnc or spice */
  const char *console_log;      /* the serial console's log file, or NULL */
  uint8_t mac_prefix[5];        /* new MACs start with these bytes */
  int mac_prefix_len;           /* 3 to 5 */
  struct recv_net nets[RECV_MAX_NICS];
  size_t nnets;
  struct recv_vlan vlans[RECV_MAX_NICS];
  size_t nvlans;
};
struct recv_domain_disk {
  const char *path, *format;    /* absolute; raw or qcow2 */
  bool block;                   /* a block device (LV) */
};
struct recv_nic {
  char name[64], old_mac[18], new_mac[18];
  char predictable[64];         /* the server's udev's name for it, or "" */
  unsigned vid;                 /* made for --vlan-map's VLAN vid, or 0 */
  char trunk[256];              /* VLANs it carries tagged ("10,20"), or "" */
  bool dropped;                 /* a bond's other NIC, no longer needed */
};
#define RECV_MAC_POOL 16          /* new MACs for NICs found in the guest */
struct recv_domain {
  char uuid[37];
  char xml_path[4200];
  struct recv_nic nics[RECV_MAX_NICS];
  size_t nnics;
  /* Direct attach (the inventory's attach=direct): the source machine's
   * facts are unknown.  The fixups find its NICs in the guest and give
   * them these MACs; its firmware and host name come from the guest.
   */
  bool direct;
  char pool[RECV_MAC_POOL][18];
  size_t npool;
  /* The MAC of the NIC each --vlan-map VLAN gets (o->vlans[i]). */
  struct {
    unsigned vid;
    char mac[18];
    bool missing;               /* the guest has no such VLAN: no NIC */
  } vlans[RECV_MAX_NICS];
  size_t nvlans;
  /* What the domain got, and where each fact came from. */
  uint64_t memory;
  unsigned vcpus;
  bool uefi;
  char memory_from[32], vcpus_from[32], firmware_from[320], nics_from[96];
  bool defined, refused;        /* refused: name taken or libvirt said no */
};
/* Choose the new UUID and MACs and write DIR/NAME/nics; call
 * before_xml (if not NULL: the guest fixups, which leave hints); write
 * domain.xml and define it if asked.  0, or -1 (reported) if no XML
 * could be written.
 */
int recv_domain_build (int dirfd, const char *dir,
                       const struct p2v_inventory *inv,
                       const struct recv_domain_disk *disks, uint32_t ndisks,
                       const struct recv_domain_opts *o,
                       struct recv_domain *res,
                       void (*before_xml) (void *opaque,
                                           const struct recv_domain *res),
                       void *opaque);

/* libvirt's errors, worded by us: recv_virt_quiet keeps libvirt from
 * printing them itself; recv_virt_error reports what failed (fmt...)
 * with libvirt's last error, and returns -1.
 */
void recv_virt_quiet (void);
int recv_virt_error (const char *fmt, ...)
  __attribute__ ((format (printf, 1, 2)));

#endif
