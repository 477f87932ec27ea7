#ifndef P2V_FILEIO_H
#define P2V_FILEIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Whole-buffer pread/pwrite that retry on EINTR and short transfers.
 * pread returns bytes read (short only at end of file) or -1.
 */
ssize_t p2v_pread_full (int fd, void *buf, size_t len, uint64_t off);
int p2v_pwrite_full (int fd, const void *buf, size_t len, uint64_t off);

/* Write a small file atomically (tmp + fsync + rename) inside dirfd. */
int p2v_write_file_at (int dirfd, const char *name, const char *content);
int p2v_write_data_at (int dirfd, const char *name, const void *content,
                       size_t len);
/* The first line of a small file inside dirfd, without its newline:
 * its length, or -1 if it cannot be opened (buf is then "").
 */
ssize_t p2v_read_line_at (int dirfd, const char *name, char *buf,
                          size_t len);

/* An anonymous file in memory, close-on-exec: memfd_create (Linux
 * 3.17), else a file made and removed at once in /dev/shm or /tmp.
 * -1 with errno.
 */
int p2v_memfd (const char *name);

/* Seconds since an arbitrary fixed point (CLOCK_MONOTONIC). */
double p2v_now (void);
/* Seconds on CLOCK (CPU time: CLOCK_PROCESS_CPUTIME_ID, ...); 0 if it
 * cannot be read.
 */
double p2v_clock (clockid_t clock);

/* "1.5 GiB" style, into buf of at least 32 bytes. */
const char *p2v_human_size (uint64_t bytes, char *buf, size_t len);

#endif
