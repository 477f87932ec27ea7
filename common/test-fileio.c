/* p2v_memfd: an anonymous file in memory, whether the kernel has
 * memfd_create or not (test-portable-agent runs this under
 * tests/old-kernel, where it fails with ENOSYS).
 */
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "test.h"

/* Entries in /dev/shm and /tmp named like ours. */
static int
named (const char *name)
{
  static const char *const dirs[] = { "/dev/shm", "/tmp" };
  int n = 0;

  for (size_t i = 0; i < 2; ++i) {
    DIR *d = opendir (dirs[i]);
    struct dirent *e;

    while (d && (e = readdir (d)) != NULL)
      n += strncmp (e->d_name, name, strlen (name)) == 0;
    if (d)
      closedir (d);
  }
  return n;
}

int
main (void)
{
  char name[32], buf[6] = "";
  int fd;

  snprintf (name, sizeof name, "p2v-test-%d", (int) getpid ());
  fd = p2v_memfd (name);
  CHECK (fd >= 0);
  CHECK (pwrite (fd, "table", 5, 4096) == 5);
  CHECK (pread (fd, buf, 5, 4096) == 5 && strcmp (buf, "table") == 0);
  CHECK ((fcntl (fd, F_GETFD) & FD_CLOEXEC) != 0);
  CHECK (named (name) == 0);            /* nothing left behind */
  close (fd);
  return TEST_DONE ();
}
