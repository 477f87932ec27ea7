/* Publishing, at DONE: with --verify the images are read back against
 * their journals; then they get their final names, the domain is made
 * (new MACs, the guest fixups by p2v-fixup, domain.xml), report.json
 * and status are written, and the operator at the agent gets the
 * summary.  A failure of the fixups or of the domain costs them, not
 * the conversion.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "publish.h"
#include "session.h"
#include "domain.h"
#include "journal.h"
#include "out.h"
#include "report.h"
#include "run_fixup.h"
#include "verify.h"
#include "cleanup.h"
#include "convdir_layout.h"
#include "fileio.h"
#include "hash.h"
#include "log.h"

/* Publishing: tell the agent what we do, as often as it asked in DONE,
 * so that a verification or a fixup longer than its --timeout is not
 * taken for a dead link.
 */
static void
keepalive (void *opaque, const char *what)
{
  struct session *s = opaque;

  if (s->keepalive_ms == 0 ||
      (p2v_now () - s->keepalive_last) * 1000 < s->keepalive_ms)
    return;
  s->keepalive_last = p2v_now ();
  p2v_wbuf_reset (&s->out);
  p2v_msg_start (&s->out, P2V_MSG_KEEPALIVE);
  p2v_put_activity (&s->out, what);
  recv_send_msg (s);            /* a lost link shows up on the next read */
}

/* --verify: re-read everything before calling it complete. */
static int
verify_images (struct session *s, char **json)
{
  struct recv_bad_ranges bad = { 0 };
  uint64_t checked = 0;
  int r;

  if (!s->opts->verify) {
    *json = strdup ("\"not run\"");
    return *json ? 0 : recv_fail (s, P2V_ERR_INTERNAL);
  }
  struct recv_output *outs[P2V_MAX_DISKS];

  for (uint32_t i = 0; i < s->inv.ndisks; ++i)
    outs[i] = s->disks[i].out;
  r = recv_verify (s->dirfd, s->inv.ndisks, s->ops, &s->target, outs, &bad,
                   &checked, keepalive, s);
  *json = r == -1 ? NULL : recv_verify_json (r, &bad);
  if (r == 1) {
    /* From its first bad range on, a disk is to be sent again. */
    for (size_t i = bad.len; i-- > 0;)
      if (i == 0 || bad.ptr[i - 1].disk != bad.ptr[i].disk)
        recv_journal_cut (s->dirfd, bad.ptr[i].disk, bad.ptr[i].offset);
    p2v_error ("verification failed: %zu range(s) of the written images "
               "differ from what was received, the first on disk %" PRIu32
               " at offset %" PRIu64 " (%" PRIu64 " bytes); the storage "
               "under %s may be failing; a new send resends from there",
               bad.len, bad.ptr[0].disk, bad.ptr[0].offset,
               bad.ptr[0].length, s->opts->output_dir);
  }
  recv_bad_ranges_reset (&bad);
  if (r != 0)
    return recv_fail (s, r == 1 ? P2V_ERR_VERIFY : P2V_ERR_IO);
  if (*json == NULL)
    return recv_fail (s, P2V_ERR_INTERNAL);
  p2v_info ("verified %" PRIu64 " bytes of the written images against the "
            "journal", checked);
  return 0;
}

/* p2v-fixup's lines, to the operator at the agent. */
static void
say_fixup (void *opaque, const char *line)
{
  recv_notice (opaque, strstr (line, ": warning: ") ||
               strstr (line, ": error: ") ? P2V_NOTICE_WARNING
               : P2V_NOTICE_INFO, "%s", line);
}

/* Between choosing the MACs and writing the XML: the guest fixups.  A
 * failure costs the fixups (reported), not the conversion.
 */
static void
fixup_guest (void *opaque, const struct recv_domain *d)
{
  struct session *s = opaque;
  int fd;

  if (s->opts->fixup.skip)
    return;
  for (uint32_t i = 0; s->ops->release && i < s->inv.ndisks; ++i)
    s->ops->release (s->disks[i].out);
  if (recv_run_fixup (s->dirfd, s->lockfd, s->path, &s->inv, s->ddisks,
                      s->inv.ndisks,
                      d, &s->opts->fixup, say_fixup, keepalive, s) == -1)
    s->fixup_error = strdup (p2v_last_error ());
  if ((fd = openat (s->dirfd, P2V_CONVDIR_FIXUP_REPORT,
                    O_RDONLY | O_CLOEXEC)) >= 0) {
    struct stat st;

    if (fstat (fd, &st) == 0 && st.st_size > 0 && st.st_size < (1 << 24) &&
        (s->fixup = calloc (1, st.st_size + 1)) != NULL &&
        p2v_pread_full (fd, s->fixup, st.st_size, 0) != st.st_size) {
      free (s->fixup);
      s->fixup = NULL;
    }
    close (fd);
  }
}

/* domain.xml for the published images, after the guest fixups; a
 * failure here costs the domain, not the conversion.
 */
static void
make_domain (struct session *s, const struct recv_disk_report *r)
{
  struct recv_domain_disk disks[P2V_MAX_DISKS];
  char *paths[P2V_MAX_DISKS] = { 0 };
  char *real = realpath (s->opts->output_dir, NULL);
  uint32_t i;

  if (real == NULL || asprintf (&s->path, "%s/%s", real, s->inv.name) == -1)
    s->path = NULL;
  free (real);
  s->domain = calloc (1, sizeof *s->domain);
  for (i = 0; s->path && s->domain && i < s->inv.ndisks; ++i) {
    struct stat st;

    if (r[i].file[0] == '/' ? (paths[i] = strdup (r[i].file)) == NULL
        : asprintf (&paths[i], "%s/%s", s->path,
                    r[i].file) == -1)
      break;
    disks[i] = (struct recv_domain_disk) {
      paths[i], s->ops->name, stat (paths[i], &st) == 0 && S_ISBLK (st.st_mode)
    };
  }
  s->ddisks = disks;            /* for fixup_guest */
  if (i < s->inv.ndisks || s->path == NULL)
    p2v_error ("out of memory");
  else if (recv_domain_build (s->dirfd, s->path, &s->inv, disks,
                              s->inv.ndisks, &s->opts->domain, s->domain,
                              fixup_guest, s) == 0) {
    if (s->domain->refused)
      s->domain_error = strdup (p2v_last_error ());
    goto out;
  }
  s->domain_error = strdup (p2v_last_error ());
  free (s->domain);
  s->domain = NULL;
 out:
  for (i = 0; i < s->inv.ndisks; ++i)
    free (paths[i]);
}

static void
summarise_nic (FILE *fp, const struct recv_nic *x)
{
  fprintf (fp, "\n  NIC %s: ", *x->name ? x->name : "(unnamed)");
  if (x->vid)
    fprintf (fp, "VLAN %u", x->vid);
  else
    fputs (*x->old_mac ? x->old_mac : "(no MAC)", fp);
  fprintf (fp, " -> %s", x->new_mac);
  if (*x->trunk)
    fprintf (fp, ", carrying VLANs %s tagged", x->trunk);
  if (x->dropped)
    fputs (", left out: a bond's NIC the guest no longer uses", fp);
}

/* What the operator at the agent wants to know at the end; the status
 * line too, unless it is a plain "complete".
 */
static void
summarise (struct session *s, const struct recv_disk_report *r,
           const char *status)
{
  CLEANUP_FREE char *msg = NULL;
  size_t len = 0;
  FILE *fp = open_memstream (&msg, &len);
  char a[32], b[32];

  if (fp == NULL)
    return;
  fprintf (fp, "'%s' is in %s:", s->inv.name, s->path ? s->path
           : s->inv.name);
  if (strcmp (status, "complete\n"))
    fprintf (fp, "\n  status: %.*s", (int) strcspn (status, "\n"), status);
  for (uint32_t i = 0; i < s->inv.ndisks; ++i)
    fprintf (fp, "\n  %s: %s, %s allocated", r[i].file,
             p2v_human_size (r[i].size, a, sizeof a),
             p2v_human_size (r[i].allocated, b, sizeof b));
  if (s->domain) {
    const struct recv_domain *d = s->domain;

    fprintf (fp, "\n  domain.xml: UUID %s%s", d->uuid,
             d->defined ? ", defined in libvirt" : "");
    fprintf (fp, "\n  memory %s (%s), %u vCPUs (%s), %s firmware (%s)",
             p2v_human_size (d->memory, a, sizeof a), d->memory_from,
             d->vcpus, d->vcpus_from, d->uefi ? "UEFI" : "BIOS",
             d->firmware_from);
    if (d->direct)
      fprintf (fp, "\n  NICs: %s", d->nics_from);
    for (size_t i = 0; i < d->nnics; ++i)
      summarise_nic (fp, &d->nics[i]);
  }
  if (fclose (fp) == 0)
    recv_notice (s, P2V_NOTICE_INFO, "%s", msg);
  for (size_t i = 0; s->domain && i < s->domain->nvlans; ++i)
    if (s->domain->vlans[i].missing)
      recv_notice (s, P2V_NOTICE_WARNING, "--vlan-map %u: the guest's "
                   "configuration has no VLAN %u that p2v-fixup made a NIC "
                   "of; the domain has no NIC for it",
                   s->domain->vlans[i].vid, s->domain->vlans[i].vid);
  if (s->fixup_error)
    recv_notice (s, P2V_NOTICE_WARNING, "the guest fixups failed: %s",
                 s->fixup_error);
  if (s->domain_error)
    recv_notice (s, P2V_NOTICE_WARNING, "%s: %s", s->domain ? "the domain was "
                 "not defined" : "no domain XML was written", s->domain_error);
}

int
recv_publish (struct session *s)
{
  struct recv_disk_report *r;
  struct recv_read_errors *errs;
  CLEANUP_FREE char *verification = NULL, *status = NULL;
  uint64_t nerr = 0, bad = 0;
  uint32_t i;
  int ret = -1;
  char h[32], read_errors[160] = "";
  char *abs[P2V_MAX_DISKS] = { 0 };

  if (verify_images (s, &verification) == -1)
    return -1;
  r = calloc (s->inv.ndisks, sizeof *r);
  errs = calloc (s->inv.ndisks, sizeof *errs);
  if (r == NULL || errs == NULL)
    goto out;
  for (i = 0; i < s->inv.ndisks; ++i) {
    struct recv_disk *d = &s->disks[i];

    if (s->ops->publish (d->out) == -1) {
      while (i-- > 0)
        s->ops->unpublish (s->disks[i].out);
      goto out;
    }
    r[i] = (struct recv_disk_report) {
      d->size, d->data_bytes, d->zero_bytes, s->ops->allocated (d->out),
      d->chunks, "", s->ops->file_name (d->out), s->ops->name
    };
    s->allocated += r[i].allocated;
    /* Images kept elsewhere (--storage) are named in full. */
    if (s->target.storage &&
        asprintf (&abs[i], "%s/%s", s->target.storage, r[i].file) > 0)
      r[i].file = abs[i];
    p2v_hash_hex (d->final_digest, r[i].digest);
    errs[i] = d->errs;
    nerr += d->errs.len;
    for (size_t k = 0; k < d->errs.len; ++k)
      bad += d->errs.ptr[k].length;
  }
  make_domain (s, r);
  /* "complete" first, whatever else: the images are verified; then
   * what the operator must still see to (fixup.log says why).
   */
  if (nerr)
    snprintf (read_errors, sizeof read_errors, " with read errors: %"
              PRIu64 " unreadable source range(s), %s, written as zeros "
              "(listed in report.json)", nerr,
              p2v_human_size (bad, h, sizeof h));
  if (asprintf (&status, P2V_CONVDIR_COMPLETE "%s%s%s\n", read_errors,
                s->fixup_error ? ", fixup failed: " : "",
                s->fixup_error ? s->fixup_error : "") == -1)
    status = NULL;
  struct recv_report rep = {
    s->inv.name, nerr ? "complete with read errors" : "complete", r,
    s->inv.ndisks, errs, s->ch->bytes_in, p2v_now () - s->start,
    s->resumed, verification, &s->inv, s->domain, s->domain_error,
    s->fixup, s->fixup_error
  };
  /* A failure here is said with the directory's path and what to do
   * (the file helpers know only a name relative to it).
   */
  p2v_defer_errors ();
  bool failed = status == NULL || recv_write_report (s->dirfd, &rep) == -1 ||
                p2v_write_file_at (s->dirfd, P2V_CONVDIR_STATUS, status) == -1;
  if (!failed && fsync (s->dirfd) == -1) {
    p2v_error ("fsync: %m");
    failed = true;
  }
  if (failed) {
    int e = errno;
    char why[1024];

    snprintf (why, sizeof why, "%s", status == NULL ? "out of memory"
              : p2v_last_error ());
    p2v_drop_errors ();
    p2v_error ("%s: writing report.json and status failed (%s)%s", s->path,
               why, e == ENOSPC ? "; the output filesystem is full: free "
               "space there, then run the same p2v-agent send again (what "
               "arrived is kept, and is published then)" : "");
    for (i = 0; i < s->inv.ndisks; ++i)
      s->ops->unpublish (s->disks[i].out);
    goto out;
  }
  p2v_flush_errors (false);
  summarise (s, r, status);
  ret = 0;
 out:
  for (i = 0; i < s->inv.ndisks; ++i)
    free (abs[i]);
  free (r);
  free (errs);
  return ret;
}
