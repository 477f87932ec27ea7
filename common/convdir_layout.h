/* The conversion directory's layout (convdir_layout.c): the names of
 * the files in OUTPUT-DIR/NAME, which the receiver writes and p2v-batch
 * (preflight, the coordinator) and p2v-receiver verify read.  Written
 * once here so that the two sides cannot drift apart.  The images' own
 * names (diskN.raw, diskN.qcow2, their .partial) are the receiver's
 * outputs' (recv_image_name).
 */
#ifndef P2V_CONVDIR_LAYOUT_H
#define P2V_CONVDIR_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One line: "receiving...", "complete..." or "failed: WHY". */
#define P2V_CONVDIR_STATUS "status"
#define P2V_CONVDIR_COMPLETE "complete"   /* a finished one's first word */
/* The images' directory (--storage), absent when they are in NAME. */
#define P2V_CONVDIR_STORAGE ".storage"
/* The INVENTORY message as received, to recognise the source again. */
#define P2V_CONVDIR_SAVED_INVENTORY ".inventory"
#define P2V_CONVDIR_INVENTORY "inventory.json"
#define P2V_CONVDIR_REPORT "report.json"
#define P2V_CONVDIR_DOMAIN "domain.xml"
/* The old MAC -> new MAC map for the fixups: "NAME OLD NEW" lines. */
#define P2V_CONVDIR_NICS "nics"
/* What p2v-fixup found in the guest, for the domain: key=value lines. */
#define P2V_CONVDIR_HINTS "guest-hints"
#define P2V_CONVDIR_FIXUP_REPORT "fixup.json"
#define P2V_CONVDIR_FIXUP_LOG "fixup.log"
/* A JSON file's temporary name while it is written, then renamed. */
#define P2V_CONVDIR_TMP(file) "." file ".tmp"

/* Disk N's journal: "diskN.journal". */
void p2v_convdir_journal_name (char *buf, size_t len, uint32_t disk);

/* The lock of conversion NAME, ".NAME.lock", beside it in OUTPUT-DIR:
 * held by the session that writes it, and tried by verify.  False if
 * it does not fit in buf.
 */
bool p2v_convdir_lock_name (char *buf, size_t len, const char *name);

/* Whether a file of that name may be in a conversion directory (the
 * others are not ours to remove).
 */
bool p2v_convdir_file_ours (const char *name);

/* Whether a status line says the conversion is complete. */
bool p2v_convdir_complete (const char *status);

#endif
