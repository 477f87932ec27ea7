/* An output image behind an ops struct, so qcow2 or an LV is one more
 * file (out_raw.c, out_qcow2.c, out_dev.c).  While receiving, an output
 * is never under its final name.
 */
#ifndef P2V_OUT_H
#define P2V_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct p2v_inventory;
struct recv_options;
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

#endif
