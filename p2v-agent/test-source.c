/* Sources read through their operations: a file in memory, and a disk
 * composed of pieces of two of them, zeros between, whose extents are
 * only its pieces.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "fileio.h"
#include "test.h"

/* A source over a memory file of size bytes, each byte fill. */
static void
memory_source (struct agent_source *s, const char *name, size_t size,
               int fill)
{
  uint8_t *buf = malloc (size);
  int fd = p2v_memfd (name);

  memset (buf, fill, size);
  CHECK (fd >= 0 && p2v_pwrite_full (fd, buf, size, 0) == 0);
  CHECK (agent_source_from_fd (s, name, fd, size, 512) == 0);
  CHECK (agent_source_direct (s) == 0);     /* not a block device: no-op */
  CHECK (agent_source_opaque (s) == NULL && s->fd == fd);
  free (buf);
}

static void
test_file (void)
{
  struct agent_source s;
  uint8_t buf[1024];

  memory_source (&s, "a", 4096, 0xaa);
  CHECK (agent_source_pread (&s, buf, sizeof buf, 1000) == 0 &&
         buf[0] == 0xaa && buf[1023] == 0xaa);
  errno = 0;
  CHECK (agent_source_pread (&s, buf, sizeof buf, 4000) == -1 &&
         errno == EIO);
  agent_source_close (&s);
  agent_source_close (&s);                  /* twice: harmless */
}

static void
test_composed (void)
{
  struct agent_source a, b, c;
  struct agent_segments segs = { 0 };
  struct agent_extents v = { 0 };
  uint8_t buf[8192];

  memory_source (&a, "a", 4096, 0xaa);
  memory_source (&b, "b", 4096, 0xbb);
  /* [1024, 2048) from a at 0; [4096, 5120) from b at 3072. */
  agent_segments_append (&segs, (struct agent_segment) { 1024, 1024, &a, 0 });
  agent_segments_append (&segs, (struct agent_segment) { 4096, 1024, &b,
                                                         3072 });
  CHECK (agent_source_compose (&c, "c", 8192, 512, &segs) == 0);
  CHECK (segs.len == 0 && c.fd == -1 && agent_source_opaque (&c) != NULL);
  memset (buf, 0x55, sizeof buf);
  CHECK (agent_source_pread (&c, buf, sizeof buf, 0) == 0);
  CHECK (buf[0] == 0 && buf[1023] == 0 && buf[1024] == 0xaa &&
         buf[2047] == 0xaa && buf[2048] == 0 && buf[4095] == 0 &&
         buf[4096] == 0xbb && buf[5119] == 0xbb && buf[5120] == 0 &&
         buf[8191] == 0);
  CHECK (agent_source_pread (&c, buf, 1024, 1536) == 0 && buf[0] == 0xaa &&
         buf[511] == 0xaa && buf[512] == 0);
  CHECK (agent_source_pread (&c, buf, 1024, 7680) == -1 && errno == EIO);
  /* Only the pieces hold bytes, clipped to what is asked. */
  CHECK (agent_source_extents (&c, 1536, 4096, &v) == 0);
  CHECK (v.len == 2 && v.ptr[0].offset == 1536 && v.ptr[0].length == 512 &&
         v.ptr[1].offset == 4096 && v.ptr[1].length == 1024);
  agent_extents_reset (&v);
  CHECK (agent_source_extents (&a, 100, 200, &v) == 0);
  CHECK (v.len == 1 && v.ptr[0].offset == 100 && v.ptr[0].length == 200);
  agent_extents_reset (&v);
  /* The fingerprint reads through the ops too. */
  CHECK (agent_source_fingerprint (&c) == 0);
  agent_source_close (&c);
  agent_source_close (&a);
  agent_source_close (&b);
}

int
main (void)
{
  test_file ();
  test_composed ();
  return TEST_DONE ();
}
