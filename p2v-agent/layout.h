/* What a disk holds (layout.c): its partition table (libparted), what
 * each region holds (libblkid), which map chose the bytes to read or
 * why none did and the whole region is read instead, and the bytes to
 * read.  Built once per disk, that one model is what send reads and
 * what it prints (agent_layout_print), and what p2v-agent probe shows.
 *
 * Included by agent.h.
 */
#ifndef P2V_AGENT_LAYOUT_H
#define P2V_AGENT_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "map.h"

struct agent_source;

/* What libblkid says a region holds. */
struct agent_content {
  char type[32];                /* blkid TYPE, "" if unrecognised */
  char version[64], uuid[64], label[256];       /* cleaned for terminals */
  bool ambiguous;               /* several signatures: blkid refuses */
};

/* A region: a partition, or the whole disk without a table. */
struct agent_layout_part {
  char name[160];               /* "disk.img partition 1" */
  int number;                   /* partition number, 0 without a table */
  const char *kind;             /* "primary", "logical", "extended", "" */
  uint64_t offset, length;      /* on the disk, clipped to it */
  char flags[160];              /* libparted's: "boot,esp" */
  char part_name[128];          /* a GPT partition's name */
  struct agent_content content;
  /* Not a region of its own (an extended partition, whose logical ones
   * are; one past the disk's end): why, or NULL.
   */
  const char *skipped;
  struct agent_map_outcome map; /* which map, or why zero detection */
  uint64_t read;                /* bytes of it to read */
};

struct agent_layout {
  char table[16];               /* "msdos", "gpt", ... or "none" */
  struct agent_layout_part *parts;      /* sorted by offset */
  size_t nparts;
  struct agent_extents read;    /* sorted, merged: everything else is a hole */
};

/* The layout of src, its table read by libparted.  0, or -1 (reported). */
int agent_layout_build (struct agent_source *src, bool use_maps,
                        struct agent_layout *l);
/* For a composed target: p (offset and length on the target) holds
 * from's bytes at from_offset; then finish adds the gaps.
 */
int agent_layout_add (struct agent_layout *l, const struct agent_source *from,
                      uint64_t from_offset, bool use_maps,
                      struct agent_layout_part *p);
int agent_layout_finish (const struct agent_source *src,
                         struct agent_layout *l);
void agent_layout_print (int disk, const struct agent_source *src,
                         const struct agent_layout *l);
void agent_layout_free (struct agent_layout *l);

/* What a byte range of fd holds (libblkid); all "" if nothing is
 * recognised, or several things are.
 */
void agent_probe_content (int fd, uint64_t offset, uint64_t length,
                          struct agent_content *c);
/* Its blkid TYPE only, "" if none or ambiguous. */
void agent_probe_type (int fd, uint64_t offset, uint64_t length, char *type,
                       size_t len);
/* Keep libparted from asking questions or fixing anything. */
void agent_parted_quiet (void);

#endif
