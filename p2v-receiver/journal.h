/* Journal records (journal.c), one file per disk. */
#ifndef P2V_JOURNAL_H
#define P2V_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

#define RECV_J_CHUNK 'C'        /* a committed chunk (digest record) */
#define RECV_J_READ_ERROR 'E'   /* an unreadable source range */
#define RECV_J_DISK_DONE 'D'    /* offset = size, length = chunks, digest */
#define RECV_J_PASS_CHUNK 'P'   /* hot clone: a chunk of a later pass */
struct recv_journal_rec {
  uint8_t tag, kind;
  uint32_t err;
  uint64_t offset, length;
  uint8_t hash[P2V_HASH_LEN];
};
struct recv_journal {
  int fd;
  char name[32];
  uint64_t size;                /* bytes of valid journal */
  bool writable;
  bool quiet;                   /* no warning when load discards */
  uint64_t reserved;            /* preallocated up to here */
  uint8_t *pend;                /* records waiting for the next commit */
  size_t pend_len, pend_cap;
};
int recv_journal_create (int dirfd, uint32_t disk, struct recv_journal *j);
/* -1 with errno ENOENT (unreported) if there is none. */
int recv_journal_open (int dirfd, uint32_t disk, bool writable,
                       struct recv_journal *j);
/* Calls fn for each valid record in order; stops (discarding the rest)
 * at the first that fails its checksum or for which fn returns -1.
 */
int recv_journal_load (struct recv_journal *j,
                       int (*fn) (void *opaque,
                                  const struct recv_journal_rec *r),
                       void *opaque);
int recv_journal_add (struct recv_journal *j,
                      const struct recv_journal_rec *r);
int recv_journal_sync (struct recv_journal *j);   /* append pending, sync */
/* Forget everything from offset on: a resume sends it again. */
int recv_journal_cut (int dirfd, uint32_t disk, uint64_t offset);
void recv_journal_close (struct recv_journal *j);

#endif
