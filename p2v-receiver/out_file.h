/* Image files (out_file.c): what the outputs that write files (raw,
 * qcow2) share: where the files go (the conversion directory, or
 * --storage), their names while received and once published, and
 * publishing.  For out.c and those outputs only.
 */
#ifndef P2V_OUT_FILE_H
#define P2V_OUT_FILE_H

#include <stdbool.h>
#include <stdint.h>

#include "out.h"
#include "convdir_layout.h"

/* The start of every file output's struct recv_output, so that the
 * ops members below serve them all.
 */
struct recv_file {
  int dirfd;                    /* the directory the file is in */
  char part[P2V_IMAGE_NAME_MAX];        /* its name while received */
  char final[P2V_IMAGE_NAME_MAX];       /* and once published */
  bool published;
};

/* Disk index's image file in format ext, for target t (dirfd: the
 * conversion directory).
 */
void recv_file_init (struct recv_file *f, const struct recv_target *t,
                     int dirfd, uint32_t index, const char *ext);

/* ops members: configure (--storage), and for a format ext written,
 * discard.
 */
int recv_file_configure (struct recv_target *t, const struct recv_options *o,
                         const struct p2v_inventory *inv);
bool recv_file_written (const struct recv_target *t, int dirfd,
                        const char *ext);
void recv_file_discard (const struct recv_target *t, int dirfd,
                        uint32_t index, const char *ext, bool published);
/* ops members for an output that begins with a struct recv_file. */
int recv_file_publish (struct recv_output *o);
void recv_file_unpublish (struct recv_output *o);
uint64_t recv_file_allocated (struct recv_output *o);
const char *recv_file_name (struct recv_output *o);

/* The --storage a conversion directory recorded (.storage), into t:
 * 0 (also if there is none), or -1 (reported) if it cannot be opened.
 */
int recv_storage_load (struct recv_target *t, int dirfd);

#endif
