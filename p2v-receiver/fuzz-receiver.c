/* libFuzzer target: the whole receiver session, from bytes on stdin to
 * files in an output directory, fed whatever the fuzzer invents.  Seed it
 * with real streams (make fuzz captures one).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "recv.h"
#include "log.h"

struct membuf {
  const uint8_t *p;
  size_t len, off;
};

static ssize_t
mem_read (void *h, void *buf, size_t len)
{
  struct membuf *m = h;
  size_t n = m->len - m->off < len ? m->len - m->off : len;

  memcpy (buf, m->p + m->off, n);
  m->off += n;
  return n;
}

static ssize_t
mem_write (void *h, const void *buf, size_t len)
{
  (void) h; (void) buf;
  return len;                   /* replies go nowhere */
}

static int
mem_wait (void *h, bool r, bool w, int t)
{
  (void) h; (void) r; (void) w; (void) t;
  return 1;
}

static const struct p2v_chan_ops mem_ops = { mem_read, mem_write, mem_wait };
/* tmpfs: the session fsyncs, which on a real disk would cap the
 * fuzzer at a few runs a second.
 */
static char dir[] = "/dev/shm/p2v-fuzz.XXXXXX";

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  (void) argc; (void) argv;
  if (mkdtemp (dir) == NULL)
    abort ();
  p2v_verbose = -1;
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  /* libvirt's in-process test driver: no daemon, and fast. */
  struct recv_options o = {
    .output_dir = dir, .force = true,
    .domain = { .hypervisor = "kvm", .uri = "test:///default",
                .mac_prefix = { 0x52, 0x54, 0x00 }, .mac_prefix_len = 3 },
  };
  struct membuf m = { data, size, 0 };
  struct p2v_chan ch;

  p2v_chan_init (&ch, &mem_ops, &m, "agent", 1000);
  recv_session (&o, &ch);
  p2v_chan_free (&ch);
  return 0;
}
