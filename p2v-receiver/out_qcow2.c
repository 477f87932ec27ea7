/* qcow2 image, written directly: qemu-img creates it, qemu-nbd serves
 * it (started by libnbd with systemd socket activation, so no socket
 * file or port), and the chunks go in through libnbd.  Only what is
 * written is allocated; there is never a raw copy to convert.
 * diskN.qcow2.partial while receiving, diskN.qcow2 once published.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libnbd.h>

#include "out_file.h"
#include "log.h"
#include "proto.h"

#define MAX_REQUEST (4 << 20)           /* bytes per NBD read or write */
#define MAX_ZERO (1ULL << 30)           /* bytes per NBD write-zeroes */

struct recv_output {
  struct recv_file file;        /* first: out_file.c's ops take it */
  struct nbd_handle *nbd;
};
_Static_assert (offsetof (struct recv_output, file) == 0, "file first");

static struct recv_output *
q_new (const struct recv_target *t, int dirfd, uint32_t index)
{
  struct recv_output *o = calloc (1, sizeof *o);

  if (o == NULL) {
    p2v_error ("out of memory");
    return NULL;
  }
  recv_file_init (&o->file, t, dirfd, index, "qcow2");
  return o;
}

/* qemu-img and qemu-nbd take paths: the directory's, as the kernel
 * knows it.
 */
static int
q_path (struct recv_output *o, const char *name, char *buf, size_t len)
{
  char link[64], dir[PATH_MAX];
  ssize_t n;

  snprintf (link, sizeof link, "/proc/self/fd/%d", o->file.dirfd);
  n = readlink (link, dir, sizeof dir - 1);
  if (n <= 0) {
    p2v_error ("cannot find the conversion directory's path: %m");
    return -1;
  }
  dir[n] = '\0';
  if ((size_t) snprintf (buf, len, "%s/%s", dir, name) >= len) {
    p2v_error ("%s/%s: path too long", dir, name);
    return -1;
  }
  return 0;
}

static int
run_qemu_img (char *path, uint64_t size)
{
  char sz[32];
  char *argv[] = { "qemu-img", "create", "-q", "-f", "qcow2", path, sz,
                   NULL };

  snprintf (sz, sizeof sz, "%llu", (unsigned long long) size);
  return recv_run (argv);
}

static int
q_connect (struct recv_output *o, const char *name, bool readonly)
{
  char path[PATH_MAX + 64];
  /* Through sh only to keep qemu-nbd off our stdin and stdout, which
   * carry the protocol; exec keeps the pid socket activation names.
   */
  char *argv[] = {
    "sh", "-c", "exec \"$0\" \"$@\" </dev/null >/dev/null", "qemu-nbd",
    "-f", "qcow2", "--discard=unmap", "--detect-zeroes=unmap",
    readonly ? "--read-only" : "--cache=writeback", path, NULL
  };

  if (q_path (o, name, path, sizeof path) == -1)
    return -1;
  o->nbd = nbd_create ();
  if (o->nbd == NULL ||
      nbd_connect_systemd_socket_activation (o->nbd, argv) == -1) {
    p2v_error ("%s: qemu-nbd: %s", name, nbd_get_error ());
    return -1;
  }
  return 0;
}

/* qemu-nbd holds the image locked: stop it, so that p2v-fixup's
 * libguestfs can open the image.
 */
static void
q_release (struct recv_output *o)
{
  if (o && o->nbd) {
    nbd_shutdown (o->nbd, 0);
    nbd_close (o->nbd);
    o->nbd = NULL;
  }
}

static void
q_close (struct recv_output *o)
{
  q_release (o);
  free (o);
}

static struct recv_output *
q_create (const struct recv_target *t, int dirfd, uint32_t index,
          uint64_t size)
{
  struct recv_output *o = q_new (t, dirfd, index);
  struct recv_file *f;
  char path[PATH_MAX + 64];
  struct stat st;

  if (o == NULL)
    return NULL;
  f = &o->file;
  if (fstatat (f->dirfd, f->part, &st, AT_SYMLINK_NOFOLLOW) == 0) {
    errno = EEXIST;
    p2v_error ("%s: create: %m", f->part);
    goto err;
  }
  if (q_path (o, f->part, path, sizeof path) == -1 ||
      run_qemu_img (path, size) == -1 ||
      fchmodat (f->dirfd, f->part, 0600, 0) == -1 || fsync (f->dirfd) == -1 ||
      q_connect (o, f->part, false) == -1)
    goto err;
  return o;
 err:
  q_close (o);
  return NULL;
}

static int
q_zero (struct recv_output *o, uint64_t off, uint64_t len)
{
  /* Like raw: a fresh image, and after a reopen everything past the
   * committed offset, reads as zeros already (see q_reopen).
   */
  (void) o; (void) off; (void) len;
  return 0;
}

/* Cut back to keep: what lies past the last commit is made zeros (and
 * unallocated, as qemu-nbd unmaps zeroed clusters).
 */
static struct recv_output *
q_reopen (const struct recv_target *t, int dirfd, uint32_t index,
          uint64_t size, uint64_t keep)
{
  struct recv_output *o = q_new (t, dirfd, index);
  struct recv_file *f;

  if (o == NULL)
    return NULL;
  f = &o->file;
  if (faccessat (f->dirfd, f->part, F_OK, 0) == -1 && errno == ENOENT)
    renameat (f->dirfd, f->final, f->dirfd, f->part); /* publish interrupted */
  if (q_connect (o, f->part, false) == -1)
    goto err;
  for (uint64_t off = keep; off < size;) {
    uint64_t n = size - off < MAX_ZERO ? size - off : MAX_ZERO;

    if (nbd_zero (o->nbd, n, off, 0) == -1) {
      p2v_error ("%s: discard after offset %llu: %s", o->file.part,
                 (unsigned long long) keep, nbd_get_error ());
      goto err;
    }
    off += n;
  }
  if (nbd_flush (o->nbd, 0) == -1) {
    p2v_error ("%s: flush: %s", o->file.part, nbd_get_error ());
    goto err;
  }
  return o;
 err:
  q_close (o);
  return NULL;
}

static struct recv_output *
q_open_read (const struct recv_target *t, int dirfd, uint32_t index)
{
  struct recv_output *o = q_new (t, dirfd, index);

  if (o == NULL)
    return NULL;
  o->file.published = faccessat (o->file.dirfd, o->file.final, F_OK, 0) == 0;
  if (q_connect (o, recv_file_name (o), true) == -1) {
    q_close (o);
    return NULL;
  }
  return o;
}

static int
q_write (struct recv_output *o, const void *buf, size_t len, uint64_t off)
{
  while (len > 0) {
    size_t n = len < MAX_REQUEST ? len : MAX_REQUEST;

    if (nbd_pwrite (o->nbd, buf, n, off, 0) == -1) {
      int e = nbd_get_errno () ? nbd_get_errno () : EIO;

      p2v_error ("%s: write of %zu bytes at offset %llu: %s", o->file.part,
                 n, (unsigned long long) off, nbd_get_error ());
      errno = e;                /* ENOSPC: write_failed says what to do */
      return -1;
    }
    buf = (const char *) buf + n;
    off += n;
    len -= n;
  }
  return 0;
}

static int
q_read (struct recv_output *o, void *buf, size_t len, uint64_t off)
{
  while (len > 0) {
    size_t n = len < MAX_REQUEST ? len : MAX_REQUEST;

    if (nbd_pread (o->nbd, buf, n, off, 0) == -1) {
      p2v_error ("%s: read of %zu bytes at offset %llu: %s",
                 recv_file_name (o), n, (unsigned long long) off,
                 nbd_get_error ());
      return -1;
    }
    buf = (char *) buf + n;
    off += n;
    len -= n;
  }
  return 0;
}

static uint64_t
q_next_data (struct recv_output *o, uint64_t off)
{
  (void) o;
  return off;                   /* no hole map: read everything */
}

static int
q_sync (struct recv_output *o)
{
  if (nbd_flush (o->nbd, 0) == -1) {
    p2v_error ("%s: flush: %s", o->file.part, nbd_get_error ());
    return -1;
  }
  return 0;
}

static bool
q_written (const struct recv_target *t, int dirfd)
{
  return recv_file_written (t, dirfd, "qcow2");
}

static void
q_discard (const struct recv_target *t, int dirfd, uint32_t index,
           bool published)
{
  recv_file_discard (t, dirfd, index, "qcow2", published);
}

const struct recv_output_ops recv_out_qcow2 = {
  .name = "qcow2",
  .written_as = "qcow2 files",
  .configure = recv_file_configure,
  .written = q_written,
  .discard = q_discard,
  .create = q_create,
  .reopen = q_reopen,
  .open_read = q_open_read,
  .read = q_read,
  .next_data = q_next_data,
  .write = q_write,
  .zero = q_zero,
  .sync = q_sync,
  .publish = recv_file_publish,
  .unpublish = recv_file_unpublish,
  .release = q_release,
  .allocated = recv_file_allocated,
  .file_name = recv_file_name,
  .close = q_close,
};
