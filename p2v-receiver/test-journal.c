/* The journal: records round-trip; a torn or damaged tail, or a record
 * the caller rejects, ends what is trusted, and a writable journal is
 * cut back there so new records follow the last good one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal.h"
#include "log.h"
#include "test.h"

#define HEADER 16
#define REC 48

struct seen {
  struct recv_journal_rec r[16];
  int n, stop_at;
};

static int
collect (void *opaque, const struct recv_journal_rec *r)
{
  struct seen *s = opaque;

  if (s->n == s->stop_at || s->n == 16)
    return -1;
  s->r[s->n++] = *r;
  return 0;
}

static int
load (int dirfd, bool writable, int stop_at, struct seen *s)
{
  struct recv_journal j;
  int r;

  memset (s, 0, sizeof *s);
  s->stop_at = stop_at;
  if (recv_journal_open (dirfd, 0, writable, &j) == -1)
    return -1;
  r = recv_journal_load (&j, collect, s);
  recv_journal_close (&j);
  return r;
}

static off_t
file_size (int dirfd)
{
  struct stat st;

  return fstatat (dirfd, "disk0.journal", &st, 0) == 0 ? st.st_size : -1;
}

int
main (void)
{
  char dir[] = "/tmp/p2v-test-journal.XXXXXX";
  struct recv_journal j;
  struct seen s;
  int dirfd, fd;

  p2v_verbose = -1;
  CHECK (mkdtemp (dir) != NULL);
  dirfd = open (dir, O_RDONLY | O_DIRECTORY);
  CHECK (dirfd >= 0);
  CHECK (recv_journal_open (dirfd, 0, true, &j) == -1 && errno == ENOENT);

  CHECK (recv_journal_create (dirfd, 0, &j) == 0);
  for (int i = 0; i < 4; ++i) {
    struct recv_journal_rec r = {
      RECV_J_CHUNK, i & 1, 0, i * 4096ULL, 4096, { (uint8_t) i, 0xee }
    };
    CHECK (recv_journal_add (&j, &r) == 0);
  }
  struct recv_journal_rec e = { RECV_J_READ_ERROR, 0, EIO, 8192, 512, { 0 } };
  CHECK (recv_journal_add (&j, &e) == 0);
  CHECK (file_size (dirfd) == HEADER);          /* nothing before a sync */
  CHECK (recv_journal_sync (&j) == 0);
  CHECK (file_size (dirfd) == HEADER + 5 * REC);
  recv_journal_close (&j);

  CHECK (load (dirfd, false, -1, &s) == 0 && s.n == 5);
  CHECK (s.r[3].tag == RECV_J_CHUNK && s.r[3].kind == 1 &&
         s.r[3].offset == 3 * 4096 && s.r[3].length == 4096 &&
         s.r[3].hash[0] == 3 && s.r[3].hash[1] == 0xee);
  CHECK (s.r[4].tag == RECV_J_READ_ERROR && s.r[4].err == EIO &&
         s.r[4].offset == 8192 && s.r[4].length == 512);

  /* A torn last record: ignored read-only, cut off when writable. */
  fd = openat (dirfd, "disk0.journal", O_WRONLY | O_APPEND);
  CHECK (fd >= 0 && write (fd, "torn record", 11) == 11);
  close (fd);
  CHECK (load (dirfd, false, -1, &s) == 0 && s.n == 5);
  CHECK (file_size (dirfd) == HEADER + 5 * REC + 11);
  CHECK (load (dirfd, true, -1, &s) == 0 && s.n == 5);
  CHECK (file_size (dirfd) == HEADER + 5 * REC);

  /* A damaged record in the middle ends what is trusted. */
  fd = openat (dirfd, "disk0.journal", O_WRONLY);
  CHECK (fd >= 0 && pwrite (fd, "\x01", 1, HEADER + 2 * REC + 9) == 1);
  close (fd);
  CHECK (load (dirfd, true, -1, &s) == 0 && s.n == 2);
  CHECK (file_size (dirfd) == HEADER + 2 * REC);

  /* The caller's rules end it too; new records follow the last good. */
  CHECK (load (dirfd, true, 1, &s) == 0 && s.n == 1);
  CHECK (recv_journal_open (dirfd, 0, true, &j) == 0);
  memset (&s, 0, sizeof s);
  s.stop_at = -1;
  CHECK (recv_journal_load (&j, collect, &s) == 0 && s.n == 1);
  struct recv_journal_rec d = { RECV_J_DISK_DONE, 0, 0, 4096, 1, { 9 } };
  CHECK (recv_journal_add (&j, &d) == 0 && recv_journal_sync (&j) == 0);
  recv_journal_close (&j);
  CHECK (load (dirfd, false, -1, &s) == 0 && s.n == 2 &&
         s.r[1].tag == RECV_J_DISK_DONE && s.r[1].hash[0] == 9);

  /* Cut back: everything from an offset on is forgotten. */
  CHECK (recv_journal_create (dirfd, 1, &j) == 0);
  for (int i = 0; i < 4; ++i) {
    struct recv_journal_rec r = {
      RECV_J_CHUNK, 0, 0, i * 4096ULL, 4096, { 0 }
    };
    CHECK (recv_journal_add (&j, &r) == 0);
  }
  CHECK (recv_journal_add (&j, &d) == 0 && recv_journal_sync (&j) == 0);
  recv_journal_close (&j);
  CHECK (recv_journal_cut (dirfd, 1, 2 * 4096 + 100) == 0);
  CHECK (recv_journal_open (dirfd, 1, false, &j) == 0);
  memset (&s, 0, sizeof s);
  s.stop_at = -1;
  CHECK (recv_journal_load (&j, collect, &s) == 0 && s.n == 2 &&
         s.r[1].offset == 4096);
  recv_journal_close (&j);
  unlinkat (dirfd, "disk1.journal", 0);

  /* Not a journal at all. */
  fd = openat (dirfd, "disk0.journal", O_WRONLY | O_TRUNC);
  CHECK (fd >= 0 && write (fd, "p2v-journal v9\n", 16) == 16);
  close (fd);
  CHECK (recv_journal_open (dirfd, 0, false, &j) == -1 && errno == EINVAL);

  unlinkat (dirfd, "disk0.journal", 0);
  close (dirfd);
  rmdir (dir);
  return TEST_DONE ();
}
