/* An output image behind an ops struct, so qcow2 or an LV is one more
 * file (out_raw.c, out_qcow2.c, out_dev.c) and one entry in the table
 * of outputs (out.c).  While receiving, an output is never under its
 * final name.  Internal to the receiver.
 */
#ifndef P2V_OUT_H
#define P2V_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

struct p2v_inventory;
struct recv_options;
struct recv_output;

/* Where one conversion's images are, as its options (or, for
 * p2v-receiver verify, its directory) say: owned by the session (or the
 * verify) and given to every open.  Set up by recv_target_init, then by
 * the output's configure (or by recv_output_load); recv_target_free
 * lets go of it.
 */
struct recv_target {
  char name[P2V_MAX_NAME + 1];  /* the conversion's: NAME-diskN */
  /* Image files (out_file.c): in DIR/NAME as diskN.EXT, or with
   * --storage in another directory as NAME-diskN.EXT.
   */
  int storagefd;                /* --storage's directory, or -1 */
  char *storage;                /* its absolute path, or NULL */
  /* Devices (out_dev.c): --device, one per disk, or --lvm. */
  const char *devices[P2V_MAX_DISKS];
  int ndevices;
  const char *lvm;              /* VG or VG/THINPOOL, or NULL */
  bool force;                   /* a device holding data may be taken */
  char *recorded[P2V_MAX_DISKS];        /* devices[] as loaded */
};

struct recv_output_ops {
  const char *name;             /* the image's format: raw, qcow2 */
  /* Chosen by --device or --lvm rather than by --format NAME: writes
   * to devices, so not to --storage.
   */
  bool devices;
  const char *written_as;       /* "raw files": how a conversion is */
  /* Optional: the session's options (o) for the disks of inv, into t:
   * 0, or a P2V_ERR_ code (reported).
   */
  int (*configure) (struct recv_target *t, const struct recv_options *o,
                    const struct p2v_inventory *inv);
  /* Optional, before the session starts, with the conversion directory
   * dirfd open and a resumed one's disks loaded (have: each disk's data
   * received already): whether the images can be written.  0, or a
   * P2V_ERR_ code (reported).
   */
  int (*check) (const struct recv_target *t, int dirfd,
                const struct p2v_inventory *inv, const uint64_t *have);
  /* Optional: whether conversion directory dirfd was written in this
   * format.  A format without it is the default (the table's first),
   * for a directory no other format claims.
   */
  bool (*written) (const struct recv_target *t, int dirfd);
  /* Optional: what conversion directory dirfd recorded of its images,
   * into t (for p2v-receiver verify): 0, or -1 (reported).
   */
  int (*load) (struct recv_target *t, int dirfd);
  /* Optional: remove what is left of disk index's image, the partial
   * one (and with published, the finished one too).
   */
  void (*discard) (const struct recv_target *t, int dirfd, uint32_t index,
                   bool published);
  /* Create the image for disk index of size bytes (dirfd: the
   * conversion directory).
   */
  struct recv_output *(*create) (const struct recv_target *t, int dirfd,
                                 uint32_t index, uint64_t size);
  /* Reopen an interrupted image for writing; everything from keep on
   * is discarded and reads as zeros.
   */
  struct recv_output *(*reopen) (const struct recv_target *t, int dirfd,
                                 uint32_t index, uint64_t size,
                                 uint64_t keep);
  /* Open an image read-only, under either name, for verification. */
  struct recv_output *(*open_read) (const struct recv_target *t, int dirfd,
                                    uint32_t index);
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

/* The outputs (out.c). */
/* --format NAME's output: NULL if there is none of that name. */
const struct recv_output_ops *recv_output_find (const char *name);
/* The output that --device and --lvm choose. */
const struct recv_output_ops *recv_output_devices (void);
/* The options' output: their format, or the default. */
const struct recv_output_ops *recv_output_chosen
  (const struct recv_options *o);
/* The format conversion directory dirfd was written in (t: where its
 * image files are).
 */
const struct recv_output_ops *recv_output_of_dir
  (const struct recv_target *t, int dirfd);
/* The same, with all the directory recorded of its images loaded into
 * t: NULL if that cannot be read (reported).
 */
const struct recv_output_ops *recv_output_load (struct recv_target *t,
                                                int dirfd);

/* Remove every format's images of disks 0 to ndisks - 1, finished or
 * not (--force).
 */
void recv_output_discard_all (const struct recv_target *t, int dirfd,
                              uint32_t ndisks);

/* An empty target for conversion name. */
void recv_target_init (struct recv_target *t, const char *name);
void recv_target_free (struct recv_target *t);

/* Run a helper (qemu-img, lvcreate) with /dev/null for stdin and
 * stdout, which carry the protocol: 0, or -1 (reported).
 */
int recv_run (char *const argv[]);

#endif
