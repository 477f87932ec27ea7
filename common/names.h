/* What a conversion's images are called: the one rule that the
 * receiver, which names them, and p2v-batch's preflight, which looks
 * for them, share.
 */
#ifndef P2V_NAMES_H
#define P2V_NAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

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

#endif
