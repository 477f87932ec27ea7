/* Re-read the images of a conversion and check them against the
 * journals (verify.c).  bad gets the ranges that differ; 0 if all match,
 * 1 if some differ, -1 (reported) if it could not check.
 */
#ifndef P2V_VERIFY_H
#define P2V_VERIFY_H

#include <stdint.h>

#include "busy.h"
#include "vector.h"

struct recv_output;
struct recv_output_ops;
struct recv_target;

struct recv_bad_range {
  uint32_t disk;
  uint64_t offset, length;
};
DEFINE_VECTOR_TYPE (recv_bad_ranges, struct recv_bad_range);
/* outs: the images already open (a session's), or NULL to open them
 * (ops, in t); busy (or NULL) hears of the bytes checked. */
int recv_verify (int dirfd, uint32_t ndisks,
                 const struct recv_output_ops *ops,
                 const struct recv_target *t,
                 struct recv_output *const *outs,
                 struct recv_bad_ranges *bad, uint64_t *checked,
                 recv_busy_fn *busy, void *opaque);
/* The "verification" value of report.json for a result. */
char *recv_verify_json (int result, const struct recv_bad_ranges *bad);
/* p2v-receiver verify DIR/NAME: exit status. */
int recv_verify_command (const char *path);

#endif
