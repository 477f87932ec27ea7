#ifndef P2V_RECV_H
#define P2V_RECV_H

#include <stdbool.h>
#include <stdint.h>

#include <sys/types.h>

#include "chan.h"
#include "proto.h"
#include "vector.h"

/* The libvirt domain (domain.c). */
#define RECV_MAX_NICS 64
struct recv_net {
  const char *nic;              /* source NIC name or MAC; NULL: all */
  bool bridge;                  /* a bridge, else a libvirt network */
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
  uint8_t mac_prefix[5];        /* new MACs start with these bytes */
  int mac_prefix_len;           /* 3 to 5 */
  struct recv_net nets[RECV_MAX_NICS];
  size_t nnets;
};
struct recv_domain_disk {
  const char *path, *format;    /* absolute; raw or qcow2 */
  bool block;                   /* a block device (LV) */
};
struct recv_nic {
  char name[64], old_mac[18], new_mac[18];
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

/* An inventory fact's value, or NULL. */
const char *recv_fact (const struct p2v_inventory *inv, const char *key);

/* The guest fixups (run_fixup.c). */
struct recv_fixup_opts {
  bool skip;                    /* --no-fixup */
  const char *program;          /* NULL: p2v-fixup beside us, or PATH's */
  int timeout;                  /* seconds, 0: none */
};
/* Long work during publishing tells what it is doing, several times a
 * second: "verifying the images (1.2 GiB checked)".  The receiver
 * passes it on to the agent, as often as the agent asked (KEEPALIVE).
 */
typedef void recv_busy_fn (void *opaque, const char *what);

/* Run p2v-fixup on the images, relaying its messages through say and
 * its running time through busy; leaves fixup.json, fixup.log and
 * guest-hints in the conversion directory.  A guard process holds
 * lockfd (the conversion's lock) until p2v-fixup and everything it
 * started (the appliance) have exited, and kills them if the receiver
 * dies first.  0, or -1 (reported).
 */
int recv_run_fixup (int dirfd, int lockfd, const char *dir,
                    const struct p2v_inventory *inv,
                    const struct recv_domain_disk *disks, uint32_t ndisks,
                    const struct recv_domain *d,
                    const struct recv_fixup_opts *o,
                    void (*say) (void *opaque, const char *line),
                    recv_busy_fn *busy, void *opaque);

struct recv_options {
  const char *output_dir;
  bool force;                   /* replace an existing conversion */
  bool verify;                  /* re-read the images before publishing */
  const struct recv_output_ops *format;
  const char *devices[P2V_MAX_DISKS];   /* --device, one per disk */
  int ndevices;
  const char *lvm;              /* --lvm VG or VG/THINPOOL */
  const char *storage;          /* --storage DIR for the image files */
  struct recv_domain_opts domain;
  struct recv_fixup_opts fixup;
  const char *batch;            /* --batch SPOOL: ask its coordinator */
  /* Parse the coordinator's options for a server on top of these. */
  int (*apply) (struct recv_options *o, int argc, char **argv);
};

/* --batch (batch.c): admission by the coordinator, the bandwidth
 * share, progress and the outcome.
 */
struct recv_batch;
/* Register the machine and wait for its turn, telling the agent (say)
 * why it waits: the handle, or NULL (reported) with *code for the
 * agent.
 */
struct recv_batch *recv_batch_admit (const char *spool,
                                     const struct p2v_inventory *inv,
                                     int agent_fd,
                                     void (*say) (void *opaque, bool warn,
                                                  const char *msg),
                                     void *opaque, uint32_t *code);
/* The server's conversion name and its receiver options (argv[0] is a
 * program name, for getopt).
 */
const char *recv_batch_name (const struct recv_batch *b);
char **recv_batch_args (const struct recv_batch *b, int *argc);
/* The manifest's disks (source path, its last part, or serial), or
 * none for all.
 */
char *const *recv_batch_disks (const struct recv_batch *b, size_t *n);
/* After each message: progress to the coordinator, its rate changes,
 * and the throttle.  -1 (reported) if the coordinator went away.
 */
int recv_batch_tick (struct recv_batch *b, uint64_t wire, uint64_t received,
                     uint64_t size);
/* The "done ..." line with the outcome; a completion goes to a new
 * coordinator if the old one has gone.
 */
void recv_batch_done (struct recv_batch *b, const char *line, bool complete);
void recv_batch_free (struct recv_batch *b);

/* A disk's state after hot clone's passes (state.c): pieces in offset
 * order that tile the disk.
 */
struct recv_piece {
  uint64_t offset, length;
  uint8_t kind;                 /* P2V_CHUNK_DATA or P2V_CHUNK_ZERO */
  uint8_t hash[P2V_HASH_LEN];   /* DATA: the chunk hash */
};
DEFINE_VECTOR_TYPE (recv_pieces, struct recv_piece);
/* Whether a pass chunk [off, off+len) replaces whole DATA pieces and
 * parts of ZERO pieces only.
 */
bool recv_state_fits (const struct recv_pieces *st, uint64_t off,
                      uint64_t len);
/* Apply a pass's chunks (sorted, not overlapping, each fitting). */
int recv_state_apply (struct recv_pieces *st, const struct recv_pieces *pass);
/* Section 8's digest over the pieces, adjacent ZERO pieces as one. */
int recv_state_digest (const struct recv_pieces *st,
                       uint8_t out[P2V_HASH_LEN]);

/* Journal records (journal.c), one file per disk. */
#define RECV_J_CHUNK 'C'        /* a committed chunk (digest record) */
#define RECV_J_READ_ERROR 'E'   /* an unreadable source range */
#define RECV_J_DISK_DONE 'D'    /* offset = size, length = chunks, digest */
#define RECV_J_PASS_CHUNK 'P'   /* hot clone: a chunk of a later pass */
struct recv_journal_rec {
  uint8_t tag, kind;
  uint32_t err;
  uint64_t offset, length;
  uint8_t hash[P2V_HASH_LEN];
};
struct recv_journal {
  int fd;
  char name[32];
  uint64_t size;                /* bytes of valid journal */
  bool writable;
  bool quiet;                   /* no warning when load discards */
  uint64_t reserved;            /* preallocated up to here */
  uint8_t *pend;                /* records waiting for the next commit */
  size_t pend_len, pend_cap;
};
int recv_journal_create (int dirfd, uint32_t disk, struct recv_journal *j);
/* -1 with errno ENOENT (unreported) if there is none. */
int recv_journal_open (int dirfd, uint32_t disk, bool writable,
                       struct recv_journal *j);
/* Calls fn for each valid record in order; stops (discarding the rest)
 * at the first that fails its checksum or for which fn returns -1.
 */
int recv_journal_load (struct recv_journal *j,
                       int (*fn) (void *opaque,
                                  const struct recv_journal_rec *r),
                       void *opaque);
int recv_journal_add (struct recv_journal *j,
                      const struct recv_journal_rec *r);
int recv_journal_sync (struct recv_journal *j);   /* append pending, sync */
/* Forget everything from offset on: a resume sends it again. */
int recv_journal_cut (int dirfd, uint32_t disk, uint64_t offset);
void recv_journal_close (struct recv_journal *j);
/* The state a journal records: its chunks, with the pass chunks
 * applied (a pass begins where a chunk overlaps the pass before);
 * passes gets the number of passes, 1 for a plain conversion.  -1 if
 * out of memory or a pass chunk does not fit (a damaged journal).
 */
int recv_state_load (struct recv_journal *j, struct recv_pieces *st,
                     uint32_t *passes);

DEFINE_VECTOR_TYPE (recv_read_errors, struct p2v_read_error);

/* An output image behind an ops struct, so qcow2 or an LV is one more
 * file.  While receiving, an output is never under its final name.
 */
struct recv_output;

struct recv_output_ops {
  const char *name;
  /* Create the image for disk index of size bytes inside dirfd. */
  struct recv_output *(*create) (int dirfd, uint32_t index, uint64_t size);
  /* Reopen an interrupted image for writing; everything from keep on
   * is discarded and reads as zeros.
   */
  struct recv_output *(*reopen) (int dirfd, uint32_t index, uint64_t size,
                                 uint64_t keep);
  /* Open an image read-only, under either name, for verification. */
  struct recv_output *(*open_read) (int dirfd, uint32_t index);
  int (*read) (struct recv_output *o, void *buf, size_t len, uint64_t off);
  /* The first offset >= off that may hold data (or the image size). */
  uint64_t (*next_data) (struct recv_output *o, uint64_t off);
  int (*write) (struct recv_output *o, const void *buf, size_t len,
                uint64_t off);
  /* Make [off, off+len) read as zeros. */
  int (*zero) (struct recv_output *o, uint64_t off, uint64_t len);
  int (*sync) (struct recv_output *o);          /* durable on return */
  int (*publish) (struct recv_output *o);       /* give it its final name */
  void (*unpublish) (struct recv_output *o);    /* undo publish on failure */
  /* Optional: let other programs open the published image; then only
   * allocated, file_name, unpublish and close follow.
   */
  void (*release) (struct recv_output *o);
  uint64_t (*allocated) (struct recv_output *o); /* bytes on disk */
  const char *(*file_name) (struct recv_output *o);
  void (*close) (struct recv_output *o);
};

extern const struct recv_output_ops recv_out_raw, recv_out_qcow2,
  recv_out_dev;
/* Devices: the options naming them (--device, --lvm) and the
 * conversion's name (for LV names); or those a directory recorded.
 */
void recv_dev_configure (const struct recv_options *o, const char *name);
/* --lvm, before the session starts: each disk's LV must be new, this
 * conversion's own (an earlier session recorded it) or taken over with
 * --force, and the VG or thin pool must have room for what is to come
 * (have: each disk's data received already).  0, or a P2V_ERR_ code
 * (reported).
 */
int recv_lvm_check (const struct recv_options *o, int dirfd,
                    const struct p2v_inventory *inv, const uint64_t *have);
/* Image files: in DIR/NAME as diskN.EXT, or after this in another
 * directory (--storage) as NAME-diskN.EXT.
 */
void recv_storage_configure (int dirfd, const char *name);
int recv_image_dirfd (int conversion_dirfd);
void recv_image_name (char *buf, size_t len, uint32_t index, const char *ext,
                      bool partial);
/* --storage of a conversion directory (.storage), set up for its name;
 * 0 if there is none, -1 (reported) if it cannot be opened.
 */
int recv_storage_load (int dirfd, const char *name);
bool recv_dev_load (int dirfd);
/* Run a helper (qemu-img, lvcreate) with /dev/null for stdin and
 * stdout, which carry the protocol: 0, or -1 (reported).
 */
int recv_run (char *const argv[]);
int recv_image_rename (int dirfd, const char *from, const char *to);
/* The format an existing conversion directory was written in. */
const struct recv_output_ops *recv_output_of_dir (int dirfd);

#include <signal.h>
extern volatile sig_atomic_t recv_stop_signal;  /* set by main's handler */

/* Speak the protocol on ch until the conversion completes (0) or fails
 * (-1, reported to the agent and recorded in the status file).
 */
int recv_session (const struct recv_options *opts, struct p2v_chan *ch);

/* Reports in the conversion directory. */
int recv_write_inventory (int dirfd, const struct p2v_inventory *inv);
struct recv_disk_report {
  uint64_t size, data_bytes, zero_bytes, allocated, chunks;
  char digest[2 * P2V_HASH_LEN + 1];
  const char *file, *format;
};
struct recv_report {
  const char *name, *status;
  const struct recv_disk_report *disks;
  uint32_t ndisks;
  const struct recv_read_errors *read_errors;   /* per disk */
  uint64_t wire_bytes;
  double seconds;
  bool resumed;                 /* took more than one session */
  const char *verification;     /* one JSON value */
  const struct p2v_inventory *inv;
  const struct recv_domain *domain;     /* NULL if none was written */
  const char *domain_error;     /* why not, or why not defined */
  const char *fixup;            /* p2v-fixup's JSON report, or NULL */
  const char *fixup_error;      /* why there is none, or why it failed */
};
int recv_write_report (int dirfd, const struct recv_report *r);

/* Re-read the images of a conversion and check them against the
 * journals (verify.c).  bad gets the ranges that differ; 0 if all match,
 * 1 if some differ, -1 (reported) if it could not check.
 */
struct recv_bad_range {
  uint32_t disk;
  uint64_t offset, length;
};
DEFINE_VECTOR_TYPE (recv_bad_ranges, struct recv_bad_range);
/* outs: the images already open (a session's), or NULL to open them;
 * busy (or NULL) hears of the bytes checked. */
int recv_verify (int dirfd, uint32_t ndisks,
                 const struct recv_output_ops *ops,
                 struct recv_output *const *outs,
                 struct recv_bad_ranges *bad, uint64_t *checked,
                 recv_busy_fn *busy, void *opaque);
/* The "verification" value of report.json for a result. */
char *recv_verify_json (int result, const struct recv_bad_ranges *bad);
/* p2v-receiver verify DIR/NAME: exit status. */
int recv_verify_command (const char *path);

#endif
