/* p2v-receiver attach: a server's own disks, attached to this host, run
 * as the VM at once (on overlays, after the guest fixups), and move into
 * the final images while it runs (libvirt block copy, then a pivot).
 * attach.c prepares (conversion directory, inspection, overlays, fixups,
 * domain.xml) and reports; attach_copy.c drives libvirt.
 */
#ifndef P2V_ATTACH_H
#define P2V_ATTACH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

struct recv_options;

struct recv_attach_opts {
  const char *name;             /* --name */
  uint64_t bandwidth;           /* --bandwidth, bytes/s; 0: unbounded */
  int boot_timeout;             /* --boot-timeout: seconds to wait for a
                                   login prompt on the console; 0: none */
  const char *agent;            /* --agent-program, or NULL */
};

/* Run it: 0 when every disk is in its final image and the domain runs
 * there; -1 (reported) otherwise, the VM left running on its overlays
 * when it was started.
 */
int recv_attach (const struct recv_options *o,
                 const struct recv_attach_opts *a, char **devices, int n);

/* Internal to attach.c and attach_copy.c. */
struct attach {
  const struct recv_options *opts;
  const struct recv_attach_opts *a;
  char **devices;
  uint32_t n;
  uint64_t size[P2V_MAX_DISKS];
  /* The server as a direct-attach conversion's inventory (its facts
   * are the guest's: the fixups find them), for the outputs and the
   * domain.
   */
  struct p2v_inventory inv;
  struct p2v_disk_info info[P2V_MAX_DISKS];
  char *path;                   /* OUTPUT-DIR/NAME, absolute */
  int dirfd, lockfd;
  char overlay[P2V_MAX_DISKS][4200];    /* absolute */
  char image[P2V_MAX_DISKS][4200];      /* the final image, absolute */
  const char *format;           /* the final images': raw or qcow2 */
  bool block;                   /* they are block devices (--lvm, --device) */
  char console[4200];           /* the serial console's log */
  uint64_t console_off;         /* how far it was searched for a login */
  bool boot_given_up;           /* no login within --boot-timeout */
  double began;                 /* epoch seconds, of the first attach */
  double running, booted;       /* epoch seconds, 0: not yet */
  struct _virConnect *conn;     /* libvirt's, only in attach_copy.c */
  struct _virDomain *dom;
  char uuid[37];
  /* The copy (attach_copy.c). */
  double copy_began, copy_ended;
  uint64_t copy_bytes;          /* QEMU's count of the mirror's work */
  bool pivoted[P2V_MAX_DISKS];
};

/* A line of p2v-agent probe --extents for a disk of size bytes, whose
 * previous range ended at prev_end: 1 for a "#" line, 0 for a range
 * (into off and len: ascending, inside the disk), -1 if it is neither.
 */
int attach_extent_line (const char *line, uint64_t size, uint64_t prev_end,
                        uint64_t *off, uint64_t *len);
/* Whether domain XML has a disk whose source is path (its target's
 * name into dev, of len bytes).
 */
bool attach_disk_of (const char *xml, const char *path, char *dev,
                     size_t len);

/* Seconds since the epoch (the state's times). */
double attach_epoch (void);
/* Record key=value in the directory's state (.attach), for a rerun. */
int attach_record (struct attach *at, const char *key, double value);

/* attach_copy.c: connect to libvirt, define the domain (from
 * domain.xml) unless it is, and start it unless it runs; then copy
 * every disk not yet pivoted and pivot it.  0, or -1 (reported).
 */
int attach_run_domain (struct attach *at);
int attach_copy (struct attach *at);
/* The domain's XML (inactive: its definition) into domain.xml, and
 * whether it still names an overlay or a device: 0, or -1 (reported).
 */
int attach_final_xml (struct attach *at);
void attach_close (struct attach *at);

#endif
