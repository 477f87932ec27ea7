/* The guest fixups (run_fixup.c). */
#ifndef P2V_RUN_FIXUP_H
#define P2V_RUN_FIXUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "busy.h"

struct p2v_inventory;
struct recv_domain;
struct recv_domain_disk;

struct recv_fixup_opts {
  bool skip;                    /* --no-fixup */
  const char *program;          /* NULL: p2v-fixup beside us, or PATH's */
  int timeout;                  /* seconds, 0: none */
};

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

/* Program name's path beside this receiver (in buf, of len bytes) if
 * it is there, else name itself (PATH's).
 */
const char *recv_beside (const char *name, char *buf, size_t len);

#endif
