/* The receiver's interface to its main(): the options and the
 * session.
 */
#ifndef P2V_RECV_H
#define P2V_RECV_H

#include <stdbool.h>

#include "chan.h"
#include "domain.h"
#include "proto.h"
#include "run_fixup.h"

struct recv_output_ops;

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

/* Speak the protocol on ch until the conversion completes (0) or fails
 * (-1, reported to the agent and recorded in the status file).
 */
int recv_session (const struct recv_options *opts, struct p2v_chan *ch);

#endif
