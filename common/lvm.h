/* The room left in an LVM volume group or thin pool, as vgs(8) and
 * lvs(8) report it: for the receiver's --lvm and the batch preflight.
 */
#ifndef P2V_LVM_H
#define P2V_LVM_H

#include <stddef.h>
#include <stdint.h>

struct p2v_lvm_space {
  uint64_t free;                /* bytes */
  uint64_t unit;                /* a thick LV's size rounds up to this */
};

/* target is VG or VG/THINPOOL.  0 and *sp; -1 if LVM says no (no such
 * VG, not a thin pool: why says what); -2 if LVM cannot be asked.
 */
int p2v_lvm_space (const char *target, struct p2v_lvm_space *sp,
                   char *why, size_t len);

/* One line of `vgs -o vg_free,vg_extent_size` (pool false) or of
 * `lvs -o lv_size,data_percent,segtype` (pool true), in bytes without
 * suffixes: 0, or -1 if it is not such a line, or (pool) not a thin
 * pool's, saying why.
 */
int p2v_lvm_parse_space (const char *line, int pool,
                         struct p2v_lvm_space *sp, char *why, size_t len);

#endif
