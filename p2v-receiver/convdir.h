/* The conversion directory DIR/NAME (convdir.c): its lock, a new one
 * or one taken up again, its saved inventory.
 */
#ifndef P2V_CONVDIR_H
#define P2V_CONVDIR_H

#include <stddef.h>
#include <stdint.h>

struct p2v_inventory;
struct recv_disk;
struct session;

/* The saved INVENTORY (.inventory) of a conversion directory: 0, or -1
 * if it is missing or unreadable (nothing reported).
 */
int recv_load_inventory (int dirfd, struct p2v_inventory *inv);

/* At INVENTORY: lock DIR/NAME, then create it, or resume it, or (with
 * --force) empty it; save the INVENTORY payload inv in it.  0, or -1
 * (reported, with the code for the agent).
 */
int recv_open_conversion_dir (struct session *s, const void *inv,
                              size_t inv_len);
/* A resumed conversion: each disk's journal replayed, its image
 * reopened at the committed offset.
 */
int recv_load_disks (struct session *s);
/* What complete disk d holds, from its journal, passes applied. */
int recv_load_state (struct session *s, struct recv_disk *d, uint32_t disk);

#endif
