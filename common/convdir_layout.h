/* The conversion directory's layout (convdir_layout.c): the names of
 * the files in OUTPUT-DIR/NAME, which the receiver writes and p2v-batch
 * (preflight, the coordinator) and p2v-receiver verify read.  Written
 * once here so that the two sides cannot drift apart: they are in
 * existing conversion directories, so they never change.
 */
#ifndef P2V_CONVDIR_LAYOUT_H
#define P2V_CONVDIR_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

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

/* Room for any name below, with its NUL. */
#define P2V_IMAGE_NAME_MAX (P2V_MAX_NAME + 40)

/* Disk index's image file in format ext ("raw", "qcow2"): diskN.EXT in
 * the conversion's own directory (prefix NULL), or NAME-diskN.EXT in a
 * storage directory that many conversions share (prefix: the
 * conversion's name); with ".partial" after it until it is published.
 * 0, or -1 if it does not fit in len (then cut short).
 */
int p2v_image_name (char *buf, size_t len, const char *prefix,
                    uint32_t index, const char *ext, bool partial);

/* The image file formats the receiver writes (its --format), NULL
 * after the last.
 */
extern const char *const p2v_image_formats[];

/* Disk index's logical volume (--lvm): NAME-diskN.  0, or -1 if it
 * does not fit in len.
 */
int p2v_lv_name (char *buf, size_t len, const char *name, uint32_t index);

/* The device disk index was written to (--device, --lvm), recorded in
 * the conversion directory for resume and verify: ".deviceN".
 */
void p2v_convdir_device_name (char *buf, size_t len, uint32_t index);

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
