/* Reports in the conversion directory (report.c). */
#ifndef P2V_REPORT_H
#define P2V_REPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "proto.h"
#include "vector.h"

struct recv_domain;

/* A disk's unreadable source ranges, in offset order. */
DEFINE_VECTOR_TYPE (recv_read_errors, struct p2v_read_error);

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

#endif
