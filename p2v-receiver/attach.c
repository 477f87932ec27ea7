/* p2v-receiver attach: the preparation and the report.
 *
 *   1. OUTPUT-DIR/NAME is locked and made (or taken up again: the same
 *      devices, recorded in .attach).
 *   2. Each device is inspected by the agent (p2v-agent probe --extents:
 *      the same maps and md detection as send), read-only.
 *   3. Each gets a qcow2 overlay with the device as its read-only
 *      backing file; what the maps call free space is made zero clusters
 *      in it, so the copy writes holes there and never the device's
 *      leftovers.  An existing overlay is never made again: it holds
 *      what the guest wrote.
 *   4. p2v-fixup runs on the overlays and domain.xml is written (both as
 *      for a conversion by direct attach: the guest's own NICs on new
 *      MACs), with the serial console logged to console.log.
 *   5. attach_copy.c defines and starts the domain, copies and pivots.
 *   6. report.json and status; the overlays go.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/fs.h>

#include <libnbd.h>

#include "attach.h"
#include "domain.h"
#include "out.h"
#include "recv.h"
#include "run_fixup.h"
#include "cleanup.h"
#include "convdir_layout.h"
#include "fileio.h"
#include "json.h"
#include "log.h"

#define ATTACH_STATE ".attach"
#define MAX_ZERO (1ULL << 30)           /* bytes per NBD write-zeroes */

double
attach_epoch (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_REALTIME, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int
attach_record (struct attach *at, const char *key, double value)
{
  int fd = openat (at->dirfd, ATTACH_STATE, O_WRONLY | O_APPEND | O_CREAT |
                   O_CLOEXEC, 0644);

  if (fd == -1 || dprintf (fd, "%s=%.3f\n", key, value) < 0 ||
      fdatasync (fd) == -1) {
    p2v_error ("%s/" ATTACH_STATE ": %m", at->path);
    if (fd >= 0)
      close (fd);
    return -1;
  }
  return close (fd);
}

/* A device's size, opened read-only and exclusively (so not mounted
 * or assembled here; QEMU does not open it so).  0, or -1 (reported).
 */
static int
device_size (const char *dev, uint64_t *size)
{
  int fd = open (dev, O_RDONLY | O_CLOEXEC | O_EXCL);
  struct stat st;

  if (fd == -1) {
    p2v_error ("%s: %m%s", dev, errno == EBUSY ? ": it is in use on this "
               "host (mounted, or part of an md array or LVM here); stop "
               "that first: the guest must be its only user" : "");
    return -1;
  }
  if (fstat (fd, &st) == -1 ||
      (S_ISBLK (st.st_mode) ? ioctl (fd, BLKGETSIZE64, size) == -1
       : !S_ISREG (st.st_mode) ? (errno = EINVAL, 1) : (*size = st.st_size,
                                                        0))) {
    p2v_error ("%s: not a block device or image file whose size can be read"
               ": %m", dev);
    close (fd);
    return -1;
  }
  close (fd);
  if (*size == 0 || *size % 512) {
    p2v_error ("%s: size %" PRIu64 " is not a whole number of 512-byte "
               "sectors", dev, *size);
    return -1;
  }
  return 0;
}

/* The state a rerun finds (fd: .attach): the same devices, the times.
 * 0, or -1 (reported).
 */
static int
load_state (struct attach *at, int fd)
{
  char line[4300];
  FILE *fp;

  if (fd == -1 || (fp = fdopen (fd, "r")) == NULL) {
    p2v_error ("%s/" ATTACH_STATE ": %m", at->path);
    if (fd >= 0)
      close (fd);
    return -1;
  }
  uint32_t sizes = 0;
  while (fgets (line, sizeof line, fp)) {
    char key[64];
    double v;
    uint32_t i;

    if (sscanf (line, "%63[^=]=%lf", key, &v) != 2)
      continue;
    if (sscanf (key, "size%" SCNu32, &i) == 1) {
      if (i >= at->n || at->size[i] != (uint64_t) v) {
        p2v_error ("%s was attached from other devices (disk %" PRIu32
                   " was %.0f bytes); run attach with the same devices, in "
                   "the same order, or choose another --name", at->path, i,
                   v);
        fclose (fp);
        return -1;
      }
      sizes++;
    }
    else if (strcmp (key, "began") == 0)
      at->began = v;
    else if (strcmp (key, "running") == 0)
      at->running = v;
    else if (strcmp (key, "booted") == 0)
      at->booted = v;
  }
  fclose (fp);
  if (sizes != at->n) {
    p2v_error ("%s was attached from %" PRIu32 " devices, not %" PRIu32
               "; run attach with the same devices, or choose another "
               "--name", at->path, sizes, at->n);
    return -1;
  }
  return 0;
}

/* The directory, locked; a rerun must name the same devices.  The
 * state's times are loaded.  0, or -1 (reported).
 */
static int
open_dir (struct attach *at)
{
  char lock[P2V_MAX_NAME + 8];
  CLEANUP_FREE char *top_path = NULL;
  int top;

  if (mkdir (at->opts->output_dir, 0755) == -1 && errno != EEXIST) {
    p2v_error ("%s: %m", at->opts->output_dir);
    return -1;
  }
  if ((top_path = realpath (at->opts->output_dir, NULL)) == NULL ||
      asprintf (&at->path, "%s/%s", top_path, at->a->name) == -1) {
    p2v_error ("%s: %m", at->opts->output_dir);
    return -1;
  }
  if ((top = open (top_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
    p2v_error ("%s: %m", top_path);
    return -1;
  }
  p2v_convdir_lock_name (lock, sizeof lock, at->a->name);
  at->lockfd = openat (top, lock, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
                       0600);
  if (at->lockfd == -1 || flock (at->lockfd, LOCK_EX | LOCK_NB) == -1) {
    p2v_error ("%s/%s: %s", top_path, lock, at->lockfd == -1 ? strerror (errno)
               : "another p2v-receiver works on this name now; wait for it");
    close (top);
    return -1;
  }
  if (mkdirat (top, at->a->name, 0711) == -1 && errno != EEXIST) {
    p2v_error ("%s: %m", at->path);
    close (top);
    return -1;
  }
  at->dirfd = openat (top, at->a->name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  close (top);
  if (at->dirfd == -1 || fchmod (at->dirfd, 0711) == -1) {
    /* QEMU (libvirt's user) opens the overlays and the console log. */
    p2v_error ("%s: %m", at->path);
    return -1;
  }
  snprintf (at->console, sizeof at->console, "%s/console.log", at->path);
  int fd = openat (at->dirfd, ATTACH_STATE, O_RDONLY | O_CLOEXEC);
  if (fd == -1 && errno == ENOENT) {
    if (faccessat (at->dirfd, P2V_CONVDIR_STATUS, F_OK, 0) == 0) {
      p2v_error ("%s holds a conversion made by send, not an attach; "
                 "choose another --name", at->path);
      return -1;
    }
    at->began = attach_epoch ();
    for (uint32_t i = 0; i < at->n; ++i) {
      char key[32];

      snprintf (key, sizeof key, "size%" PRIu32, i);
      if (attach_record (at, key, at->size[i]) == -1)
        return -1;
    }
    return attach_record (at, "began", at->began);
  }
  if (load_state (at, fd) == -1)
    return -1;
  p2v_info ("taking up attach '%s' again (begun %.0f s ago)", at->a->name,
            attach_epoch () - at->began);
  return 0;
}

/* p2v-agent probe --extents DEVICE into extentsN: 0, or -1 (reported). */
static int
inspect (struct attach *at, uint32_t i, char *file, size_t len)
{
  char agent[PATH_MAX];
  const char *prog = at->a->agent ? at->a->agent
    : recv_beside ("p2v-agent", agent, sizeof agent);
  char *argv[] = { (char *) prog, "probe", "--extents", at->devices[i], NULL };
  int fd, status;
  pid_t pid;

  snprintf (file, len, "extents%" PRIu32, i);
  fd = openat (at->dirfd, file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
               0644);
  if (fd == -1) {
    p2v_error ("%s/%s: %m", at->path, file);
    return -1;
  }
  if ((pid = fork ()) == 0) {
    int null = open ("/dev/null", O_RDONLY);

    dup2 (null, 0);
    dup2 (fd, 1);
    execvp (prog, argv);
    fprintf (stderr, "p2v-receiver: cannot run %s: %m\n", prog);
    _exit (127);
  }
  close (fd);
  if (pid == -1 || waitpid (pid, &status, 0) == -1 || !WIFEXITED (status) ||
      WEXITSTATUS (status) != 0) {
    p2v_error ("%s: the agent's inspection (%s probe --extents) failed%s",
               at->devices[i], prog, pid == -1 ? ": cannot fork" : "");
    return -1;
  }
  return 0;
}

int
attach_extent_line (const char *line, uint64_t size, uint64_t prev_end,
                    uint64_t *off, uint64_t *len)
{
  if (line[0] == '#')
    return 1;
  if (sscanf (line, "%" SCNu64 " %" SCNu64, off, len) != 2 ||
      line[strspn (line, "0123456789 \n")] != '\0' || *len == 0 ||
      *off < prev_end || *off + *len < *off || *off + *len > size)
    return -1;
  return 0;
}

/* The free space of disk i (its extents file's gaps) made zero clusters
 * in the new overlay, through qemu-nbd.  0, or -1 (reported).
 */
static int
zero_free_space (struct attach *at, uint32_t i, const char *file,
                 const char *overlay, uint64_t *freed)
{
  char *argv[] = {
    "sh", "-c", "exec \"$0\" \"$@\" </dev/null >/dev/null", "qemu-nbd",
    "-f", "qcow2", "--cache=writeback", (char *) overlay, NULL
  };
  struct nbd_handle *nbd = NULL;
  char line[512];
  uint64_t at_off = 0, off, len;
  int r = -1, fd = openat (at->dirfd, file, O_RDONLY | O_CLOEXEC);
  FILE *fp = fd >= 0 ? fdopen (fd, "r") : NULL;
  bool raid = false;

  *freed = 0;
  if (fp == NULL) {
    p2v_error ("%s/%s: %m", at->path, file);
    goto out;
  }
  if ((nbd = nbd_create ()) == NULL ||
      nbd_connect_systemd_socket_activation (nbd, argv) == -1) {
    p2v_error ("%s: qemu-nbd: %s", overlay, nbd_get_error ());
    goto out;
  }
  /* Zero [at_off, off): the gap before each extent, then the tail. */
  while (true) {
    bool end = fgets (line, sizeof line, fp) == NULL;

    int kind = end ? 0 : attach_extent_line (line, at->size[i], at_off, &off,
                                             &len);

    if (kind == 1) {
      p2v_info ("  %.*s", (int) strcspn (line + 2, "\n"), line + 2);
      raid |= strstr (line, ": linux_raid_member,") != NULL;
      continue;
    }
    if (end)
      off = at->size[i], len = 0;
    else if (kind == -1) {
      p2v_error ("%s/%s: a bad line from the agent: %.*s", at->path, file,
                 (int) strcspn (line, "\n"), line);
      goto out;
    }
    for (uint64_t z = at_off; z < off;) {
      uint64_t n = off - z < MAX_ZERO ? off - z : MAX_ZERO;

      if (nbd_zero (nbd, n, z, 0) == -1) {
        p2v_error ("%s: zeroing the free space: %s", overlay,
                   nbd_get_error ());
        goto out;
      }
      z += n;
      *freed += n;
    }
    if (end)
      break;
    at_off = off + len;
  }
  if (raid)
    p2v_info ("%s is a member of an md array: it stays one (each member "
              "gets its own overlay and image, and the guest assembles "
              "them); removing the RAID needs the copy path (p2v-agent "
              "send --local)", at->devices[i]);
  if (nbd_flush (nbd, 0) == -1 || nbd_shutdown (nbd, 0) == -1) {
    p2v_error ("%s: %s", overlay, nbd_get_error ());
    goto out;
  }
  r = 0;
 out:
  if (nbd)
    nbd_close (nbd);
  if (fp)
    fclose (fp);
  else if (fd >= 0)
    close (fd);
  return r;
}

/* Disk i's overlay: kept if it exists (it holds the guest's writes),
 * else made under a temporary name and renamed.  0, or -1 (reported).
 */
static int
make_overlay (struct attach *at, uint32_t i)
{
  char name[64], tmp[80], file[32], tmp_path[4300], sz[2][32];
  uint64_t freed;

  snprintf (name, sizeof name, "overlay%" PRIu32 ".qcow2", i);
  snprintf (at->overlay[i], sizeof at->overlay[i], "%s/%s", at->path, name);
  if (faccessat (at->dirfd, name, F_OK, 0) == 0)
    return 0;
  p2v_info ("inspecting %s (%s)", at->devices[i],
            p2v_human_size (at->size[i], sz[0], sizeof sz[0]));
  if (inspect (at, i, file, sizeof file) == -1)
    return -1;
  snprintf (tmp, sizeof tmp, ".%s.new", name);
  snprintf (tmp_path, sizeof tmp_path, "%s/%s", at->path, tmp);
  unlinkat (at->dirfd, tmp, 0);
  char backing[4200 + 64];
  snprintf (backing, sizeof backing, "backing_file=%s,backing_fmt=raw",
            at->devices[i]);
  char *argv[] = { "qemu-img", "create", "-q", "-f", "qcow2", "-o", backing,
                   tmp_path, NULL };
  if (recv_run (argv) == -1 ||
      zero_free_space (at, i, file, tmp_path, &freed) == -1 ||
      renameat (at->dirfd, tmp, at->dirfd, name) == -1 ||
      fsync (at->dirfd) == -1) {
    p2v_error ("%s: the overlay was not made: %s", at->overlay[i],
               p2v_last_error ());
    unlinkat (at->dirfd, tmp, 0);
    return -1;
  }
  p2v_info ("%s: overlay %s (the device is its read-only backing file; "
            "%s of free space reads as zeros and is not copied)",
            at->devices[i], name, p2v_human_size (freed, sz[1], sizeof sz[1]));
  return 0;
}

static void
say_fixup (void *opaque, const char *line)
{
  (void) opaque;
  fprintf (stderr, "%s\n", line);
}

static void
busy_fixup (void *opaque, const char *what)
{
  (void) opaque; (void) what;   /* p2v-fixup's own lines say enough */
}

struct prepare {
  struct attach *at;
  struct recv_domain_disk *disks;
  int fixup;                    /* recv_run_fixup's result */
};

static void
fixup_overlays (void *opaque, const struct recv_domain *d)
{
  struct prepare *p = opaque;
  struct attach *at = p->at;

  if (!at->opts->fixup.skip)
    p->fixup = recv_run_fixup (at->dirfd, at->lockfd, at->path, &at->inv,
                               p->disks, at->n, d, &at->opts->fixup,
                               say_fixup, busy_fixup, p);
}

/* The guest fixups on the overlays and domain.xml, once (a rerun finds
 * domain.xml).  0, or -1 (reported).
 */
static int
prepare_domain (struct attach *at)
{
  struct recv_domain_disk disks[P2V_MAX_DISKS];
  struct recv_domain_opts o = at->opts->domain;
  struct recv_domain res;
  struct prepare p = { at, disks, 0 };

  if (faccessat (at->dirfd, P2V_CONVDIR_DOMAIN, F_OK, 0) == 0)
    return 0;
  for (uint32_t i = 0; i < at->n; ++i)
    disks[i] = (struct recv_domain_disk) { at->overlay[i], "qcow2", false };
  o.define = false;             /* attach_run_domain does, or finds it */
  o.console_log = at->console;
  if (recv_domain_build (at->dirfd, at->path, &at->inv, disks, at->n, &o,
                         &res, fixup_overlays, &p) == -1)
    return -1;
  if (p.fixup == -1) {
    p2v_error ("the guest fixups failed (%s/" P2V_CONVDIR_FIXUP_LOG "): %s; "
               "the VM was not started.  Run attach again to retry, or with "
               "--no-fixup to start the guest as it is", at->path,
               p2v_last_error ());
    unlinkat (at->dirfd, P2V_CONVDIR_DOMAIN, 0);
    return -1;
  }
  return 0;
}

/* The state's record of disk i's image: ".imageN". */
static void
image_key (char *buf, size_t len, uint32_t i)
{
  snprintf (buf, len, ".image%" PRIu32, i);
}

/* The final image of disk i (the output's, under its final name at
 * once: status says whether it is complete), made unless the state
 * records it.  0, or -1 (reported).
 */
static int
make_image (struct attach *at, const struct recv_output_ops *ops,
            struct recv_target *t, uint32_t i)
{
  char key[32];

  image_key (key, sizeof key, i);
  if (p2v_read_line_at (at->dirfd, key, at->image[i], sizeof at->image[i])
      > 0)
    return 0;
  struct recv_output *out = ops->create (t, at->dirfd, i, at->size[i]);
  if (out == NULL)
    return -1;
  if (ops->publish (out) == -1) {
    ops->close (out);
    return -1;
  }
  const char *f = ops->file_name (out);
  snprintf (at->image[i], sizeof at->image[i], "%s%s%s",
            f[0] == '/' ? "" : t->storage ? t->storage : at->path,
            f[0] == '/' ? "" : "/", f);
  if (ops->release)
    ops->release (out);
  ops->close (out);
  if (strpbrk (at->image[i], "'\"&<>")) {
    /* It goes into libvirt's XML as it is. */
    p2v_error ("%s: a path with quotes, '&', '<' or '>' cannot be copied "
               "to; choose another --output-dir or --storage", at->image[i]);
    return -1;
  }
  return p2v_write_file_at (at->dirfd, key, at->image[i]);
}

static int
make_images (struct attach *at)
{
  const struct recv_output_ops *ops = recv_output_chosen (at->opts);
  struct recv_target t;
  uint64_t have[P2V_MAX_DISKS] = { 0 };
  int r = -1;

  recv_target_init (&t, at->a->name);
  at->format = ops->name;
  at->block = ops->devices;
  /* Checked only while one is still to be made. */
  bool made = true;
  for (uint32_t i = 0; i < at->n; ++i) {
    char key[32];

    image_key (key, sizeof key, i);
    made &= faccessat (at->dirfd, key, F_OK, 0) == 0;
  }
  if (made ||
      ((ops->configure == NULL ||
        ops->configure (&t, at->opts, &at->inv) == 0) &&
       (ops->check == NULL ||
        ops->check (&t, at->dirfd, &at->inv, have) == 0))) {
    r = 0;
    for (uint32_t i = 0; r == 0 && i < at->n; ++i)
      r = make_image (at, ops, &t, i);
  }
  recv_target_free (&t);
  return r;
}

/* report.json and status.  0, or -1 (reported). */
static int
write_report (struct attach *at)
{
  CLEANUP_FREE char *json = NULL;
  size_t len = 0;
  FILE *fp = open_memstream (&json, &len);
  char nics[4096] = "";
  int fd;

  if (fp == NULL)
    return -1;
  fprintf (fp, "{\n  \"name\": ");
  p2v_json_string (fp, at->a->name);
  fprintf (fp, ",\n  \"mode\": \"attach\",\n  \"status\": \"complete\",\n"
           "  \"domain\": {\"uuid\": \"%s\", \"xml\": ", at->uuid);
  p2v_json_string (fp, P2V_CONVDIR_DOMAIN);
  fprintf (fp, ", \"nics\": ");
  if ((fd = openat (at->dirfd, P2V_CONVDIR_NICS, O_RDONLY | O_CLOEXEC)) >= 0) {
    ssize_t n = read (fd, nics, sizeof nics - 1);
    nics[n > 0 ? n : 0] = '\0';
    close (fd);
  }
  p2v_json_string (fp, nics);
  fprintf (fp, "},\n  \"disks\": [");
  for (uint32_t i = 0; i < at->n; ++i) {
    struct stat st;
    uint64_t alloc = stat (at->image[i], &st) == 0 && !S_ISBLK (st.st_mode)
      ? (uint64_t) st.st_blocks * 512 : at->size[i];

    fprintf (fp, "%s\n    {\"device\": ", i ? "," : "");
    p2v_json_string (fp, at->devices[i]);
    fprintf (fp, ", \"size\": %" PRIu64 ", \"image\": ", at->size[i]);
    p2v_json_string (fp, at->image[i]);
    fprintf (fp, ", \"format\": \"%s\", \"allocated\": %" PRIu64 "}",
             at->format, alloc);
  }
  fprintf (fp, "\n  ],\n  \"downtime\": {\"running_s\": %.1f, \"booted_s\": ",
           at->running - at->began);
  if (at->booted > 0)
    fprintf (fp, "%.1f", at->booted - at->began);
  else
    fprintf (fp, "null");
  fprintf (fp, ", \"booted_by\": \"a login prompt on the serial console\"},\n"
           "  \"copy\": {\"seconds\": %.1f, \"bytes\": %" PRIu64
           ", \"bandwidth\": %" PRIu64 ", \"pivoted_s\": %.1f},\n"
           "  \"seconds\": %.1f\n}\n", at->copy_ended - at->copy_began,
           at->copy_bytes, at->a->bandwidth, at->copy_ended - at->began,
           attach_epoch () - at->began);
  if (fclose (fp) != 0 ||
      p2v_write_data_at (at->dirfd, P2V_CONVDIR_REPORT, json, len) == -1 ||
      p2v_write_file_at (at->dirfd, P2V_CONVDIR_STATUS,
                         P2V_CONVDIR_COMPLETE " (attached: copied while it "
                         "ran, and pivoted)\n") == -1 ||
      fsync (at->dirfd) == -1) {
    p2v_error ("%s: writing report.json and status: %s", at->path,
               p2v_last_error ());
    return -1;
  }
  return 0;
}

static void
status (struct attach *at, const char *line)
{
  p2v_write_file_at (at->dirfd, P2V_CONVDIR_STATUS, line);
}

/* What the operator wants to know at the end. */
static void
summarise (const struct attach *at)
{
  char booted[64] = "", copied[32];

  if (at->booted > 0)
    snprintf (booted, sizeof booted, ", %.0f s until its login prompt",
              at->booted - at->began);
  fprintf (stderr, "'%s' runs on its images:", at->a->name);
  for (uint32_t i = 0; i < at->n; ++i)
    fprintf (stderr, "\n  %s -> %s (%s)", at->devices[i], at->image[i],
             at->format);
  fprintf (stderr, "\n  down for %.0f s until it ran%s; copied in %.0f s "
           "(%s); the domain no longer uses the devices: they can be "
           "detached\n", at->running - at->began, booted,
           at->copy_ended - at->copy_began,
           p2v_human_size (at->copy_bytes, copied, sizeof copied));
}

int
recv_attach (const struct recv_options *o, const struct recv_attach_opts *a,
             char **devices, int n)
{
  struct attach at = { .opts = o, .a = a, .devices = devices, .n = n,
                       .dirfd = -1, .lockfd = -1 };
  char line[P2V_MAX_NAME + 64];
  int r = -1;

  for (int i = 0; i < n; ++i)
    if (devices[i][0] != '/' || strpbrk (devices[i], "'\"&<>,")) {
      p2v_error ("%s: expected an absolute path without quotes, '&', '<', "
                 "'>' or ','", devices[i]);
      return -1;
    }
  static char *keys[] = { "attach" }, *values[] = { "direct" };
  for (uint32_t i = 0; i < at.n; ++i) {
    if (device_size (devices[i], &at.size[i]) == -1)
      return -1;
    at.info[i] = (struct p2v_disk_info) { .size = at.size[i],
                                          .sector_size = 512,
                                          .source = devices[i], .id = "" };
  }
  at.inv = (struct p2v_inventory) {
    .name = (char *) a->name, .hostname = "", .ndisks = at.n,
    .disks = at.info, .nfacts = 1, .keys = keys, .values = values,
  };
  if (open_dir (&at) == -1)
    goto out;
  if (p2v_read_line_at (at.dirfd, P2V_CONVDIR_STATUS, line, sizeof line) > 0 &&
      p2v_convdir_complete (line)) {
    p2v_info ("attach '%s' is complete already: its domain runs on its "
              "images (%s/" P2V_CONVDIR_REPORT ")", a->name, at.path);
    r = 0;
    goto out;
  }
  status (&at, "attaching\n");
  for (uint32_t i = 0; i < at.n; ++i)
    if (make_overlay (&at, i) == -1)
      goto failed;
  if (prepare_domain (&at) == -1 || make_images (&at) == -1 ||
      attach_run_domain (&at) == -1)
    goto failed;
  status (&at, "running on its overlays; copying\n");
  if (attach_copy (&at) == -1 || attach_final_xml (&at) == -1)
    goto failed;
  for (uint32_t i = 0; i < at.n; ++i)
    if (unlink (at.overlay[i]) == -1)
      p2v_warning ("%s: %m", at.overlay[i]);
  if (write_report (&at) == -1)
    goto out;
  summarise (&at);
  r = 0;
  goto out;
 failed:
  {
    char failed[2048];

    snprintf (failed, sizeof failed, "failed: %s\n", p2v_last_error ());
    status (&at, failed);
  }
  if (at.running > 0)
    p2v_info ("the VM runs on its overlays (the devices are untouched); run "
              "the same attach again to finish");
 out:
  attach_close (&at);
  free (at.path);
  if (at.dirfd >= 0)
    close (at.dirfd);
  if (at.lockfd >= 0)
    close (at.lockfd);
  return r;
}
