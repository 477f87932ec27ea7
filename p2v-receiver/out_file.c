/* Image files, for the outputs that write them (out_raw.c,
 * out_qcow2.c): in the conversion directory DIR/NAME as diskN.EXT, or
 * with --storage in another directory as NAME-diskN.EXT (the names are
 * common/convdir_layout.c's); diskN.EXT.partial until published, which
 * is a rename.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "out_file.h"
#include "recv.h"
#include "fileio.h"
#include "log.h"

static struct recv_file *
file_of (struct recv_output *o)
{
  return (struct recv_file *) o;        /* its first member */
}

static int
image_dirfd (const struct recv_target *t, int dirfd)
{
  return t->storagefd >= 0 ? t->storagefd : dirfd;
}

static void
image_name (const struct recv_target *t, uint32_t index, const char *ext,
            bool partial, char *buf, size_t len)
{
  p2v_image_name (buf, len, t->storagefd >= 0 ? t->name : NULL, index, ext,
                  partial);
}

void
recv_file_init (struct recv_file *f, const struct recv_target *t, int dirfd,
                uint32_t index, const char *ext)
{
  f->dirfd = image_dirfd (t, dirfd);
  image_name (t, index, ext, false, f->final, sizeof f->final);
  image_name (t, index, ext, true, f->part, sizeof f->part);
}

/* dir, absolute, as the directory the image files go in. */
static int
use_storage (struct recv_target *t, char *dir)
{
  t->storage = dir;
  t->storagefd = dir ? open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
  return t->storagefd;
}

/* --storage DIR: image files go there, as NAME-diskN.EXT. */
int
recv_file_configure (struct recv_target *t, const struct recv_options *o,
                     const struct p2v_inventory *inv)
{
  (void) inv;
  if (o->storage && use_storage (t, realpath (o->storage, NULL)) == -1) {
    p2v_error ("--storage %s: %m", o->storage);
    return P2V_ERR_IO;
  }
  return 0;
}

int
recv_storage_load (struct recv_target *t, int dirfd)
{
  char path[4096];

  if (p2v_read_line_at (dirfd, P2V_CONVDIR_STORAGE, path, sizeof path) <= 0)
    return 0;
  if (use_storage (t, strdup (path)) == -1) {
    p2v_error ("the conversion's storage directory %s: %m", path);
    return -1;
  }
  return 0;
}

/* Disk 0's image, under either name, says what wrote the directory. */
bool
recv_file_written (const struct recv_target *t, int dirfd, const char *ext)
{
  char a[P2V_IMAGE_NAME_MAX], b[P2V_IMAGE_NAME_MAX];
  int fd = image_dirfd (t, dirfd);

  image_name (t, 0, ext, false, a, sizeof a);
  image_name (t, 0, ext, true, b, sizeof b);
  return faccessat (fd, a, F_OK, 0) == 0 || faccessat (fd, b, F_OK, 0) == 0;
}

void
recv_file_discard (const struct recv_target *t, int dirfd, uint32_t index,
                   const char *ext, bool published)
{
  struct recv_file f;

  recv_file_init (&f, t, dirfd, index, ext);
  if (published)
    unlinkat (f.dirfd, f.final, 0);
  unlinkat (f.dirfd, f.part, 0);
}

static int
rename_image (int dirfd, const char *from, const char *to)
{
  if (renameat (dirfd, from, dirfd, to) == -1) {
    p2v_error ("%s: rename to %s: %m", from, to);
    return -1;
  }
  return 0;
}

int
recv_file_publish (struct recv_output *o)
{
  struct recv_file *f = file_of (o);

  if (rename_image (f->dirfd, f->part, f->final) == -1)
    return -1;
  f->published = true;
  return 0;
}

void
recv_file_unpublish (struct recv_output *o)
{
  struct recv_file *f = o ? file_of (o) : NULL;

  if (f && f->published && rename_image (f->dirfd, f->final, f->part) == 0)
    f->published = false;
}

uint64_t
recv_file_allocated (struct recv_output *o)
{
  struct stat st;

  return fstatat (file_of (o)->dirfd, recv_file_name (o), &st, 0) == 0
         ? (uint64_t) st.st_blocks * 512 : 0;
}

const char *
recv_file_name (struct recv_output *o)
{
  struct recv_file *f = file_of (o);

  return f->published ? f->final : f->part;
}
