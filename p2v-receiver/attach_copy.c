/* p2v-receiver attach, in libvirt: define and start the domain on its
 * overlays, watch its console for the login prompt (the downtime's
 * end), copy each disk into its final image with a block copy (QEMU's
 * mirror: it keeps up with the guest's writes) and pivot each once it
 * is in sync.  The copy is QEMU's: it goes on when we die, and a rerun
 * follows it; a libvirtd restarted under us is waited for.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "attach.h"
#include "domain.h"
#include "busy.h"
#include "recv.h"
#include "cleanup.h"
#include "convdir_layout.h"
#include "fileio.h"
#include "log.h"
#include "progress.h"

#define RECONNECT_SECONDS 120           /* a libvirtd restarting */
#define FULL_BYTES (16ULL << 20)        /* less free than that: full */

static int
connect_libvirt (struct attach *at)
{
  recv_virt_quiet ();
  at->conn = virConnectOpen (at->opts->domain.uri);
  if (at->conn == NULL)
    return recv_virt_error ("cannot connect to libvirt%s%s", at->opts->domain.uri
                       ? " at " : "", at->opts->domain.uri
                       ? at->opts->domain.uri : "");
  return 0;
}

void
attach_close (struct attach *at)
{
  if (at->dom)
    virDomainFree (at->dom);
  if (at->conn)
    virConnectClose (at->conn);
  at->dom = NULL;
  at->conn = NULL;
}

/* After a call failed: if libvirt went away (restarted), connect again
 * and find the domain, for up to RECONNECT_SECONDS.  1 when that was
 * it (and we are back), 0 if libvirt is there (a real error), -1 if it
 * did not come back (reported).
 */
static int
reconnect (struct attach *at)
{
  double start = p2v_now ();

  if (at->conn && virConnectIsAlive (at->conn) == 1)
    return 0;
  p2v_info ("lost libvirt (restarted?); connecting again for up to %d s "
            "(the VM and its copy go on in QEMU)", RECONNECT_SECONDS);
  attach_close (at);
  while (!recv_stop_signal && p2v_now () - start < RECONNECT_SECONDS) {
    sleep (1);
    if ((at->conn = virConnectOpen (at->opts->domain.uri)) == NULL)
      continue;
    if ((at->dom = virDomainLookupByUUIDString (at->conn, at->uuid))) {
      p2v_info ("libvirt is back after %.0f s", p2v_now () - start);
      return 1;
    }
    virConnectClose (at->conn);
    at->conn = NULL;
  }
  p2v_error ("libvirt%s%s did not come back within %d s; the VM runs on "
             "in QEMU: run attach again once libvirtd is up",
             at->opts->domain.uri ? " at " : "",
             at->opts->domain.uri ? at->opts->domain.uri : "",
             RECONNECT_SECONDS);
  return -1;
}

/* The value of attribute attr='...' in [p, end), into buf; false if
 * it is not there.
 */
static bool
attr (const char *p, const char *end, const char *attr, char *buf,
      size_t len)
{
  const char *a = strstr (p, attr), *q;

  if (a == NULL || a >= end)
    return false;
  a += strlen (attr);
  if ((q = strchr (a, '\'')) == NULL || q >= end || (size_t) (q - a) >= len)
    return false;
  memcpy (buf, a, q - a);
  buf[q - a] = '\0';
  return true;
}

bool
attach_disk_of (const char *xml, const char *path, char *dev, size_t len)
{
  char src[4200];

  for (const char *p = strstr (xml, "<disk "), *end; p; p = strstr (end,
                                                                  "<disk ")) {
    if ((end = strstr (p, "</disk>")) == NULL)
      break;
    if ((attr (p, end, "<source file='", src, sizeof src) ||
         attr (p, end, "<source dev='", src, sizeof src)) &&
        strcmp (src, path) == 0)
      return attr (p, end, "<target dev='", dev, len);
  }
  return false;
}

int
attach_run_domain (struct attach *at)
{
  CLEANUP_FREE char *xml = NULL;
  char uuid[VIR_UUID_STRING_BUFLEN];
  const char *u;

  _Static_assert (sizeof at->uuid == VIR_UUID_STRING_BUFLEN, "UUID size");
  struct stat st;
  int fd, active;

  if (connect_libvirt (at) == -1)
    return -1;
  fd = openat (at->dirfd, P2V_CONVDIR_DOMAIN, O_RDONLY | O_CLOEXEC);
  if (fd == -1 || fstat (fd, &st) == -1 || st.st_size > (1 << 20) ||
      (xml = calloc (1, st.st_size + 1)) == NULL ||
      p2v_pread_full (fd, xml, st.st_size, 0) != st.st_size ||
      (u = strstr (xml, "<uuid>")) == NULL) {
    p2v_error ("%s/" P2V_CONVDIR_DOMAIN ": cannot be read: %m", at->path);
    if (fd >= 0)
      close (fd);
    return -1;
  }
  close (fd);
  snprintf (at->uuid, sizeof at->uuid, "%.36s", u + 6);
  if ((at->dom = virDomainLookupByName (at->conn, at->a->name))) {
    if (virDomainGetUUIDString (at->dom, uuid) == -1 ||
        strcmp (uuid, at->uuid) != 0) {
      p2v_error ("libvirt already has a domain named '%s' (UUID %s), not "
                 "this attach's (%s): undefine it, or choose another "
                 "--name", at->a->name, uuid, at->uuid);
      return -1;
    }
  }
  else if ((at->dom = virDomainDefineXML (at->conn, xml)) == NULL)
    return recv_virt_error ("libvirt refused the domain in %s/" P2V_CONVDIR_DOMAIN,
                       at->path);
  else
    p2v_info ("defined domain '%s' (UUID %s) on the overlays", at->a->name,
              at->uuid);
  if ((active = virDomainIsActive (at->dom)) == -1)
    return recv_virt_error ("domain '%s'", at->a->name);
  if (active) {
    p2v_info ("domain '%s' runs already", at->a->name);
    return 0;
  }
  /* QEMU (libvirt's user) appends to it. */
  if ((fd = open (at->console, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
                  0644)) == -1 || fstat (fd, &st) == -1) {
    p2v_error ("%s: %m", at->console);
    return -1;
  }
  close (fd);
  at->console_off = st.st_size;
  if (virDomainCreate (at->dom) == -1)
    return recv_virt_error ("starting domain '%s'", at->a->name);
  if (at->running == 0) {
    at->running = attach_epoch ();
    if (attach_record (at, "running", at->running) == -1)
      return -1;
  }
  p2v_info ("domain '%s' started on its overlays, %.0f s after the attach "
            "began: the service is coming back", at->a->name,
            attach_epoch () - at->began);
  return 0;
}

/* The downtime's end: the guest's login prompt on its console. */
static void
watch_boot (struct attach *at)
{
  char buf[65536];
  ssize_t n;
  int fd;

  if (at->booted > 0 || at->a->boot_timeout == 0 || at->boot_given_up)
    return;
  if (attach_epoch () - at->running > at->a->boot_timeout) {
    p2v_warning ("no login prompt on the guest's serial console (%s) "
                 "within %d s: the downtime is reported as until it ran",
                 at->console, at->a->boot_timeout);
    at->boot_given_up = true;
    return;
  }
  if ((fd = open (at->console, O_RDONLY | O_CLOEXEC)) == -1)
    return;
  while ((n = p2v_pread_full (fd, buf, sizeof buf, at->console_off)) > 0) {
    if (memmem (buf, n, "login:", 6)) {
      at->booted = attach_epoch ();
      attach_record (at, "booted", at->booted);
      p2v_info ("the guest is up: its login prompt came %.0f s after the "
                "attach began", at->booted - at->began);
      break;
    }
    at->console_off += n > 6 ? n - 6 : n;
    if (n < (ssize_t) sizeof buf)
      break;
  }
  close (fd);
}

/* Disk i's copy into its image, started.  0, or -1 (reported). */
static int
start_copy (struct attach *at, uint32_t i, const char *target)
{
  CLEANUP_FREE char *xml = NULL;
  virTypedParameterPtr params = NULL;
  int nparams = 0, max = 0, r;
  char bw[64], h[32];

  if (asprintf (&xml, "<disk type='%s'><driver type='%s'/><source %s='%s'/>"
                "</disk>", at->block ? "block" : "file", at->format,
                at->block ? "dev" : "file", at->image[i]) == -1 ||
      (at->a->bandwidth &&
       virTypedParamsAddULLong (&params, &nparams, &max,
                                VIR_DOMAIN_BLOCK_COPY_BANDWIDTH,
                                at->a->bandwidth) == -1)) {
    p2v_error ("out of memory");
    return -1;
  }
  r = virDomainBlockCopy (at->dom, target, xml, params, nparams,
                          VIR_DOMAIN_BLOCK_COPY_REUSE_EXT |
                          VIR_DOMAIN_BLOCK_COPY_TRANSIENT_JOB);
  virTypedParamsFree (params, nparams);
  if (r == -1)
    return recv_virt_error ("starting the copy into %s", at->image[i]);
  snprintf (bw, sizeof bw, ", at most %s/s",
            p2v_human_size (at->a->bandwidth, h, sizeof h));
  p2v_info ("disk %" PRIu32 " (%s): copying into %s (%s)%s", i,
            target, at->image[i], at->format, at->a->bandwidth ? bw : "");
  return 0;
}

/* A copy that ended without a pivot: say why it may have. */
static int
stopped (struct attach *at, uint32_t i)
{
  struct statvfs sv;
  char h[32];

  if (!at->block && statvfs (at->image[i], &sv) == 0 &&
      (uint64_t) sv.f_bavail * sv.f_frsize < FULL_BYTES) {
    p2v_error ("the copy of disk %" PRIu32 " (%s) into %s stopped before it "
               "was in sync: the filesystem there is full (%s free).  Free "
               "space there, then run attach again: the VM runs on its "
               "overlay meanwhile", i, at->devices[i], at->image[i],
               p2v_human_size ((uint64_t) sv.f_bavail * sv.f_frsize, h,
                               sizeof h));
    return -1;
  }
  p2v_error ("the copy of disk %" PRIu32 " (%s) into %s stopped before it "
             "was in sync (its block job was cancelled, or failed on an I/O "
             "error: libvirt's log says which).  Run attach again to start "
             "it over: the VM runs on its overlay meanwhile", i,
             at->devices[i], at->image[i]);
  return -1;
}

/* Each disk's target in the domain, and whether it is pivoted already;
 * its copy started unless one is under way.  0, or -1 (reported).
 */
static int
begin (struct attach *at, char target[][32])
{
  CLEANUP_FREE char *xml = virDomainGetXMLDesc (at->dom, 0);

  if (xml == NULL)
    return recv_virt_error ("domain '%s'", at->a->name);
  for (uint32_t i = 0; i < at->n; ++i) {
    virDomainBlockJobInfo info;
    int r;

    if ((at->pivoted[i] = attach_disk_of (xml, at->image[i], target[i], 32))) {
      p2v_info ("disk %" PRIu32 " is in its image already", i);
      continue;
    }
    if (!attach_disk_of (xml, at->overlay[i], target[i], 32)) {
      p2v_error ("domain '%s' uses neither %s nor %s for disk %" PRIu32
                 ": was it changed by hand?  Left as it is", at->a->name,
                 at->overlay[i], at->image[i], i);
      return -1;
    }
    if ((r = virDomainGetBlockJobInfo (at->dom, target[i], &info, 0)) == -1)
      return recv_virt_error ("disk %s", target[i]);
    if (r == 0) {
      if (start_copy (at, i, target[i]) == -1)
        return -1;
      continue;
    }
    p2v_info ("disk %" PRIu32 " (%s): its copy is under way already", i,
              target[i]);
    if (virDomainBlockJobSetSpeed (at->dom, target[i], at->a->bandwidth,
                                   VIR_DOMAIN_BLOCK_JOB_SPEED_BANDWIDTH_BYTES)
        == -1)
      return recv_virt_error ("setting the bandwidth of disk %s", target[i]);
  }
  return 0;
}

/* One look at disk i's copy: 1 if it is pivoted now, 0 if not yet, -1
 * (reported) if it stopped, 2 if libvirt went away and is back.
 */
static int
step (struct attach *at, uint32_t i, const char *target, uint64_t *cur,
      uint64_t *end)
{
  virDomainBlockJobInfo info;
  int r = virDomainGetBlockJobInfo (at->dom, target, &info, 0);

  if (r == -1) {
    if ((r = reconnect (at)) != 0)
      return r == 1 ? 2 : -1;
    return recv_virt_error ("the copy of disk %s", target);
  }
  if (r == 0) {
    CLEANUP_FREE char *xml = virDomainGetXMLDesc (at->dom, 0);
    char dev[32];

    if (xml && attach_disk_of (xml, at->image[i], dev, sizeof dev))
      return 1;                 /* pivoted by someone else */
    return stopped (at, i);
  }
  *cur = info.cur;
  *end = info.end;
  if (info.end == 0 || info.cur != info.end)
    return 0;
  /* In sync; libvirt refuses the pivot until QEMU says it is ready. */
  if (virDomainBlockJobAbort (at->dom, target,
                              VIR_DOMAIN_BLOCK_JOB_ABORT_PIVOT) == -1)
    return 0;
  p2v_info ("disk %" PRIu32 " (%s): in sync, pivoted: the domain now runs "
            "on %s", i, target, at->image[i]);
  return 1;
}

int
attach_copy (struct attach *at)
{
  char target[P2V_MAX_DISKS][32];
  uint64_t cur[P2V_MAX_DISKS] = { 0 }, end[P2V_MAX_DISKS] = { 0 };
  struct p2v_progress pr;
  bool all = false;

  if (begin (at, target) == -1)
    return -1;
  at->copy_began = attach_epoch ();
  p2v_progress_init (&pr, false, p2v_verbose < 0, 0);
  pr.no_wire = true;
  while (!all) {
    if (recv_stop_signal) {
      p2v_progress_clear (&pr);
      p2v_error ("stopped by signal %d: the copy goes on in QEMU; run the "
                 "same attach again to follow it and pivot",
                 (int) recv_stop_signal);
      return -1;
    }
    all = true;
    for (uint32_t i = 0; i < at->n; ++i) {
      int r;

      if (at->pivoted[i])
        continue;
      p2v_progress_clear (&pr);
      if ((r = step (at, i, target[i], &cur[i], &end[i])) == -1)
        return -1;
      if (r == 1) {
        at->pivoted[i] = true;
        cur[i] = end[i] = end[i] ? end[i] : at->size[i];
      }
      all &= at->pivoted[i];
    }
    pr.total = pr.done = 0;
    for (uint32_t i = 0; i < at->n; ++i) {
      pr.total += end[i] ? end[i] : at->size[i];
      pr.done += cur[i];
    }
    watch_boot (at);
    if (!all) {
      p2v_progress_update (&pr, false);
      usleep (500 * 1000);
    }
  }
  p2v_progress_end (&pr);
  at->copy_ended = attach_epoch ();
  for (uint32_t i = 0; i < at->n; ++i)
    at->copy_bytes += end[i];
  return 0;
}

/* Whether xml names path (as an attribute value). */
static bool
names (const char *xml, const char *path)
{
  char q[4300];

  snprintf (q, sizeof q, "'%s'", path);
  return strstr (xml, q) != NULL;
}

int
attach_final_xml (struct attach *at)
{
  CLEANUP_FREE char *live = virDomainGetXMLDesc (at->dom, 0);
  CLEANUP_FREE char *def = virDomainGetXMLDesc (at->dom,
                                                VIR_DOMAIN_XML_INACTIVE);

  if (live == NULL || def == NULL)
    return recv_virt_error ("domain '%s'", at->a->name);
  for (uint32_t i = 0; i < at->n; ++i)
    if (names (live, at->overlay[i]) || names (def, at->overlay[i]) ||
        names (live, at->devices[i]) || names (def, at->devices[i]) ||
        !names (live, at->image[i]) || !names (def, at->image[i])) {
      p2v_error ("after the pivot, domain '%s' still names %s or %s, or not "
                 "%s; left as it is", at->a->name, at->overlay[i],
                 at->devices[i], at->image[i]);
      return -1;
    }
  return p2v_write_file_at (at->dirfd, P2V_CONVDIR_DOMAIN, def);
}
