/* The table of outputs, and what is said of all of them: which one the
 * options choose, which one wrote a conversion directory, the target
 * they write to.  A new output is one file and one entry here.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "out.h"
#include "out_file.h"
#include "recv.h"
#include "log.h"

/* Each output's ops, in its own file; only this table names them. */
extern const struct recv_output_ops recv_out_raw, recv_out_qcow2,
  recv_out_dev;

/* The default first; after it, in the order that their marks in a
 * conversion directory are looked for (written): a device's .deviceN
 * before image files.
 */
static const struct recv_output_ops *const outputs[] = {
  &recv_out_raw, &recv_out_dev, &recv_out_qcow2, NULL
};

const struct recv_output_ops *
recv_output_find (const char *name)
{
  for (const struct recv_output_ops *const *f = outputs; *f; ++f)
    if (!(*f)->devices && strcmp ((*f)->name, name) == 0)
      return *f;
  return NULL;
}

const struct recv_output_ops *
recv_output_devices (void)
{
  const struct recv_output_ops *const *f = outputs;

  while (!(*f)->devices)
    ++f;
  return *f;
}

const struct recv_output_ops *
recv_output_chosen (const struct recv_options *o)
{
  return o->format ? o->format : outputs[0];
}

const struct recv_output_ops *
recv_output_of_dir (const struct recv_target *t, int dirfd)
{
  for (const struct recv_output_ops *const *f = outputs; *f; ++f)
    if ((*f)->written && (*f)->written (t, dirfd))
      return *f;
  return outputs[0];
}

void
recv_output_discard_all (const struct recv_target *t, int dirfd,
                         uint32_t ndisks)
{
  for (uint32_t i = 0; i < ndisks; ++i)
    for (const struct recv_output_ops *const *f = outputs; *f; ++f)
      if ((*f)->discard)
        (*f)->discard (t, dirfd, i, true);
}

/* Where the image files are (.storage) is known before the format,
 * which may be told by them.
 */
const struct recv_output_ops *
recv_output_load (struct recv_target *t, int dirfd)
{
  const struct recv_output_ops *f;

  if (recv_storage_load (t, dirfd) == -1)
    return NULL;
  f = recv_output_of_dir (t, dirfd);
  return f->load && f->load (t, dirfd) == -1 ? NULL : f;
}

void
recv_target_init (struct recv_target *t, const char *name)
{
  *t = (struct recv_target) { .storagefd = -1 };
  snprintf (t->name, sizeof t->name, "%s", name);
}

void
recv_target_free (struct recv_target *t)
{
  if (t->storagefd >= 0)
    close (t->storagefd);
  t->storagefd = -1;
  free (t->storage);
  t->storage = NULL;
  for (int i = 0; i < P2V_MAX_DISKS; ++i) {
    free (t->recorded[i]);
    t->recorded[i] = NULL;
  }
}

int
recv_run (char *const argv[])
{
  pid_t pid = fork ();
  int status;

  if (pid == 0) {
    int null = open ("/dev/null", O_RDWR);

    dup2 (null, 0);             /* stdin and stdout carry the protocol */
    dup2 (null, 1);
    execvp (argv[0], argv);
    _exit (127);
  }
  if (pid == -1 || waitpid (pid, &status, 0) == -1) {
    p2v_error ("cannot run %s: %m", argv[0]);
    return -1;
  }
  if (!WIFEXITED (status) || WEXITSTATUS (status) != 0) {
    p2v_error ("%s failed (status %d)%s", argv[0],
               WIFEXITED (status) ? WEXITSTATUS (status) : -1,
               WIFEXITED (status) && WEXITSTATUS (status) == 127
               ? ": is it installed?" : "; see its message above");
    return -1;
  }
  return 0;
}
