#ifndef P2V_RECV_H
#define P2V_RECV_H

#include <stdbool.h>
#include <stdint.h>

#include "chan.h"
#include "proto.h"

struct recv_options {
  const char *output_dir;
  bool force;
};

/* An output image behind an ops struct, so qcow2 or an LV is one more
 * file.  While receiving, an output is never under its final name.
 */
struct recv_output;

struct recv_output_ops {
  const char *name;
  /* Create the image for disk index of size bytes inside dirfd. */
  struct recv_output *(*create) (int dirfd, uint32_t index, uint64_t size);
  int (*write) (struct recv_output *o, const void *buf, size_t len,
                uint64_t off);
  /* Make [off, off+len) read as zeros. */
  int (*zero) (struct recv_output *o, uint64_t off, uint64_t len);
  int (*sync) (struct recv_output *o);          /* durable on return */
  int (*publish) (struct recv_output *o);       /* give it its final name */
  void (*unpublish) (struct recv_output *o);    /* undo publish on failure */
  uint64_t (*allocated) (struct recv_output *o); /* bytes on disk */
  const char *(*file_name) (struct recv_output *o);
  void (*close) (struct recv_output *o);
};

extern const struct recv_output_ops recv_out_raw;

/* Speak the protocol on ch until the conversion completes (0) or fails
 * (-1, reported to the agent and recorded in the status file).
 */
int recv_session (const struct recv_options *opts, struct p2v_chan *ch);

/* Reports in the conversion directory. */
int recv_write_inventory (int dirfd, const struct p2v_inventory *inv);
struct recv_disk_report {
  uint64_t size, data_bytes, zero_bytes, allocated, chunks;
  char digest[2 * P2V_HASH_LEN + 1];
  const char *file;
};
int recv_write_report (int dirfd, const char *name,
                       const struct recv_disk_report *disks, uint32_t n,
                       uint64_t wire_bytes, double seconds);

#endif
