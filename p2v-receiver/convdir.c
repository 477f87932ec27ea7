/* The conversion directory DIR/NAME: one session at a time holds its
 * lock; at INVENTORY a new directory is created, this source's
 * unfinished one resumed (each disk's journal replayed, its image
 * reopened), and a finished one or another source's refused, or with
 * --force emptied.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "convdir.h"
#include "session.h"
#include "busy.h"
#include "journal.h"
#include "out.h"
#include "state.h"
#include "cleanup.h"
#include "convdir_layout.h"
#include "fileio.h"
#include "hash.h"
#include "log.h"

/* Only files a conversion directory can hold are removed by --force;
 * anything else means the directory is not ours to empty.
 */
static int
empty_dir (const char *path, int dirfd)
{
  DIR *d = fdopendir (dup (dirfd));
  struct dirent *e;
  int r = 0;

  if (d == NULL) {
    p2v_error ("%s: %m", path);
    return -1;
  }
  while (r == 0 && (e = readdir (d)) != NULL) {
    bool ours = p2v_convdir_file_ours (e->d_name);

    if (strcmp (e->d_name, ".") == 0 || strcmp (e->d_name, "..") == 0)
      continue;
    if (!ours || unlinkat (dirfd, e->d_name, 0) == -1) {
      p2v_error ("%s/%s: cannot remove%s: %m", path, e->d_name,
                 ours ? "" : " (not a p2v file; remove it by hand)");
      r = -1;
    }
  }
  closedir (d);
  return r;
}

static bool same_source (struct session *s, const struct p2v_inventory *old,
                         char *why, size_t len);

/* The conversion directory dirfd against its saved inventory: 1 if
 * this same source started it, 0 if another (why says how), -1 if it
 * has no readable saved inventory.
 */
static int
saved_source (struct session *s, int dirfd, char *why, size_t len)
{
  struct p2v_inventory old;
  int same;

  if (recv_load_inventory (dirfd, &old) == -1)
    return -1;
  same = same_source (s, &old, why, len);
  p2v_inventory_free (&old);
  return same;
}

/* Whether DIR/NAME was started by this same source, so that whoever
 * holds its lock is this source's earlier session.
 */
static bool
started_by_us (struct session *s, int top)
{
  char why[512];
  int r, fd = openat (top, s->inv.name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
                      O_CLOEXEC);

  if (fd == -1)
    return false;
  r = saved_source (s, fd, why, sizeof why);
  close (fd);
  return r == 1;
}

/* One session per name at a time: DIR/.NAME.lock, held (flock) until
 * the receiver exits.  A session of another source is refused.  This
 * source's earlier session (the agent was killed, or its link died, and
 * the same command runs again) is waited for, with a countdown, as long
 * as that receiver takes to notice its lost link (our own --timeout,
 * the same forced command's), and then taken over: it saves its work
 * before it lets go.
 */
static int
lock_conversion (struct session *s, int top)
{
  char lock[P2V_MAX_NAME + 8], pid[32] = "";
  struct stat st;

  p2v_convdir_lock_name (lock, sizeof lock, s->inv.name);
  s->lockfd = openat (top, lock, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
                      0600);
  if (s->lockfd == -1) {
    p2v_error ("%s/%s: %m", s->opts->output_dir, lock);
    return recv_fail (s, P2V_ERR_IO);
  }
  if (flock (s->lockfd, LOCK_EX | LOCK_NB) == -1) {
    ssize_t n = pread (s->lockfd, pid, sizeof pid - 1, 0);
    int wait = s->ch->timeout_ms > 0 ? s->ch->timeout_ms / 1000 + 10 : 120;
    double start = p2v_now (), said = start;
    bool ours = started_by_us (s, top), locked = false;

    pid[n > 0 ? n : 0] = '\0';
    pid[strcspn (pid, "\n")] = '\0';
    if (ours) {
      recv_notice (s, P2V_NOTICE_INFO, "conversion '%s' is still held by "
                   "this source's earlier session (receiver pid %s), which "
                   "lets it go once it notices its lost link; waiting up to "
                   "%d s to take over", s->inv.name, *pid ? pid : "unknown",
                   wait);
      while (!locked && !recv_stop_signal && p2v_now () - start < wait) {
        sleep (1);
        locked = flock (s->lockfd, LOCK_EX | LOCK_NB) == 0;
        if (!locked && p2v_now () - said >= 10) {
          recv_notice (s, P2V_NOTICE_INFO, "still waiting for the earlier "
                       "session (%.0f s left)", wait - (p2v_now () - start));
          said = p2v_now ();
        }
      }
    }
    if (locked)
      p2v_info ("took over conversion '%s' from the earlier session after "
                "%.0f s", s->inv.name, p2v_now () - start);
    else if (ours) {
      p2v_error ("conversion '%s' is still held by this source's earlier "
                 "session (receiver pid %s) after %d s: it may be "
                 "publishing (verifying, running p2v-fixup); run the same "
                 "command again later", s->inv.name,
                 *pid ? pid : "unknown", wait);
      return recv_fail (s, P2V_ERR_BUSY);
    }
    else {
      p2v_error ("conversion '%s' is being received by another session, of "
                 "another source (receiver pid %s, last commit %.0f s ago); "
                 "choose another --name, or stop that session first",
                 s->inv.name, *pid ? pid : "unknown",
                 fstat (s->lockfd, &st) == 0 ? difftime (time (NULL),
                                                         st.st_mtime) : 0.0);
      return recv_fail (s, P2V_ERR_BUSY);
    }
  }
  snprintf (pid, sizeof pid, "%ld\n", (long) getpid ());
  if (ftruncate (s->lockfd, 0) == -1 ||
      pwrite (s->lockfd, pid, strlen (pid), 0) == -1)
    p2v_warning ("%s/%s: %m", s->opts->output_dir, lock);
  return 0;
}

/* What makes two inventories the same source: the disks.  If they
 * differ, why says how.
 */
static bool
same_source (struct session *s, const struct p2v_inventory *old,
             char *why, size_t len)
{
  *why = '\0';
  if (old->ndisks != s->inv.ndisks)
    snprintf (why, len, "it had %" PRIu32 " disk(s), now %" PRIu32,
              old->ndisks, s->inv.ndisks);
  for (uint32_t i = 0; !*why && i < old->ndisks; ++i) {
    const struct p2v_disk_info *a = &old->disks[i], *b = &s->inv.disks[i];

    if (a->size != b->size || a->sector_size != b->sector_size ||
        strcmp (a->id, b->id) != 0 ||
        memcmp (a->fingerprint, b->fingerprint, P2V_HASH_LEN) != 0)
      snprintf (why, len, "disk %" PRIu32 " was %s (%" PRIu64
                " bytes%s%s), now %s (%" PRIu64 " bytes%s%s)%s", i,
                a->source, a->size, *a->id ? ", " : "", a->id, b->source,
                b->size, *b->id ? ", " : "", b->id,
                a->size == b->size && !strcmp (a->id, b->id)
                ? ", and its first MiB differs" : "");
  }
  return *why == '\0';
}

int
recv_load_inventory (int dirfd, struct p2v_inventory *old)
{
  CLEANUP_FREE uint8_t *saved = NULL;
  ssize_t n = -1;
  int fd = openat (dirfd, P2V_CONVDIR_SAVED_INVENTORY,
                   O_RDONLY | O_CLOEXEC);

  if (fd >= 0 && (saved = malloc (P2V_MAX_MSG)) != NULL)
    n = p2v_pread_full (fd, saved, P2V_MAX_MSG, 0);
  if (fd >= 0)
    close (fd);
  return n > 0 ? p2v_parse_inventory (saved, n, old) : -1;
}

/* Rebuild a disk's state from its journal. */
static int
replay (void *opaque, const struct recv_journal_rec *r)
{
  struct recv_disk *d = opaque;
  struct p2v_chunk c = { 0, r->offset, r->length, r->kind };
  uint8_t h[P2V_HASH_LEN];

  if (r->tag == RECV_J_PASS_CHUNK) {     /* only after the disk's end */
    if (!d->complete || r->length == 0 || r->offset >= d->size ||
        r->length > d->size - r->offset || r->kind > P2V_CHUNK_ZERO)
      return -1;
    d->has_passes = true;
    return 0;
  }
  if (d->complete)
    return -1;                  /* only pass chunks follow a disk's end */
  switch (r->tag) {
  case RECV_J_CHUNK:
    if (r->offset != d->next || r->length == 0 ||
        r->length > d->size - r->offset || r->kind > P2V_CHUNK_ZERO)
      return -1;
    memcpy (c.hash, r->hash, P2V_HASH_LEN);
    p2v_digest_add (d->digest, &c);
    d->next += r->length;
    d->chunks++;
    if (r->kind == P2V_CHUNK_DATA)
      d->data_bytes += r->length;
    else
      d->zero_bytes += r->length;
    return 0;
  case RECV_J_READ_ERROR:
    if (r->length == 0 || r->offset >= d->next ||
        r->length > d->next - r->offset ||
        d->errs.len >= P2V_MAX_READ_ERRORS)
      return -1;
    if (recv_read_errors_append (&d->errs, (struct p2v_read_error) {
          0, r->offset, r->length, r->err }) == -1)
      return -1;
    d->errs_journaled = d->errs.len;
    return 0;
  case RECV_J_DISK_DONE:
    p2v_digest_final (d->digest, h);
    if (r->offset != d->size || d->next != d->size ||
        r->length != d->chunks || memcmp (h, r->hash, P2V_HASH_LEN) != 0)
      return -1;
    memcpy (d->final_digest, h, P2V_HASH_LEN);
    d->complete = true;
    return 0;
  }
  return -1;
}

/* What a complete disk holds, from its journal (read again, read-only),
 * and the digest of that state for the report.
 */
int
recv_load_state (struct session *s, struct recv_disk *d, uint32_t disk)
{
  struct recv_journal j;
  int r;

  if (recv_journal_open (s->dirfd, disk, false, &j) == -1)
    return recv_fail (s, P2V_ERR_IO);
  r = recv_state_load (&j, &d->state, &d->passes);
  recv_journal_close (&j);
  if (r == -1 || recv_state_digest (&d->state, d->final_digest) == -1) {
    p2v_error ("disk %" PRIu32 ": cannot rebuild what its image holds from "
               "its journal (out of memory, or a damaged journal)", disk);
    return recv_fail (s, P2V_ERR_IO);
  }
  d->have_state = true;
  return 0;
}

/* Pick up an interrupted conversion: its journals say what is durable. */
int
recv_load_disks (struct session *s)
{
  for (uint32_t i = 0; i < s->inv.ndisks; ++i) {
    struct recv_disk *d = &s->disks[i];
    const struct recv_output_ops *was;

    if (recv_journal_open (s->dirfd, i, true, &d->j) == -1) {
      if (errno == ENOENT)
        continue;               /* never begun */
      return recv_fail (s, P2V_ERR_IO);
    }
    if (recv_journal_load (&d->j, replay, d) == -1)
      return recv_fail (s, P2V_ERR_IO);
    if (d->has_passes && recv_load_state (s, d, i) == -1)
      return -1;
    if (d->chunks == 0) {       /* nothing durable: begin afresh */
      recv_journal_close (&d->j);
      continue;
    }
    d->committed = d->next;
    d->committed_chunks = d->chunks;
    if ((was = recv_output_of_dir (&s->target, s->dirfd)) != s->ops) {
      p2v_error ("%s/%s was written as %s; resume it with the same "
                 "output options, or run the receiver with --force to "
                 "start over", s->opts->output_dir, s->inv.name,
                 was->written_as);
      return recv_fail (s, P2V_ERR_EXISTS);
    }
    d->out = s->ops->reopen (&s->target, s->dirfd, i, d->size,
                             d->committed);
    if (d->out == NULL) {
      CLEANUP_FREE char *why = strdup (p2v_last_error ());

      p2v_error ("%s/%s: cannot resume disk %" PRIu32 ": its journal "
                 "records %" PRIu64 " bytes but the image cannot be "
                 "reopened (%s); run the receiver with --force to start "
                 "over", s->opts->output_dir, s->inv.name, i, d->committed,
                 why ? why : "");
      return recv_fail (s, P2V_ERR_IO);
    }
  }
  return 0;
}

int
recv_open_conversion_dir (struct session *s, const void *inv, size_t inv_len)
{
  const char *dir = s->opts->output_dir, *name = s->inv.name;
  CLEANUP_FREE char *path = NULL;
  char status[256], why[512];
  int top;

  if (asprintf (&path, "%s/%s", dir, name) == -1)
    return recv_fail (s, P2V_ERR_INTERNAL);
  if (mkdir (dir, 0755) == -1 && errno != EEXIST) {
    p2v_error ("output directory %s: %m", dir);
    return recv_fail (s, P2V_ERR_IO);
  }
  top = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (top == -1) {
    p2v_error ("output directory %s: %m", dir);
    return recv_fail (s, P2V_ERR_IO);
  }
  if (lock_conversion (s, top) == -1) {
    close (top);
    return -1;
  }
  /* Others may pass through (libvirt's QEMU user opens the images by
   * path) but not list it.
   */
  bool existed = mkdirat (top, name, 0751) == -1;
  if (existed && errno != EEXIST) {
    p2v_error ("%s: mkdir: %m", path);
    close (top);
    return recv_fail (s, P2V_ERR_IO);
  }
  s->dirfd = openat (top, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
                     O_CLOEXEC);
  close (top);
  if (s->dirfd == -1) {
    p2v_error ("%s: %m", path);
    return recv_fail (s, P2V_ERR_IO);
  }
  if (existed) {
    int saved = saved_source (s, s->dirfd, why, sizeof why);
    bool have = saved >= 0, same = saved == 1;
    bool complete, refused = true;
    uint32_t code = P2V_ERR_EXISTS;

    p2v_read_line_at (s->dirfd, P2V_CONVDIR_STATUS, status, sizeof status);
    complete = p2v_convdir_complete (status);
    /* The same source, unfinished: resumed, also with --force, which
     * replaces only a different or a finished conversion (an agent
     * reconnecting to a receiver started with --force would otherwise
     * start again from 0 after every lost link).
     */
    if (same && !complete) {
      s->resumed = true;
      return 0;
    }
    if (s->opts->force)
      refused = false;
    else if (complete && same) {     /* not a failure: recv_session */
      code = P2V_ERR_COMPLETE;
      p2v_outcome ("conversion '%s' is already complete in %s (%s): "
                   "nothing to receive; to convert again, choose another "
                   "--name, or run the receiver with --force to replace it",
                   name, path, status);
    }
    else if (complete)
      p2v_error ("conversion '%s' already exists in %s (%s); choose "
                 "another --name, or run the receiver with --force to "
                 "replace it", name, dir, status);
    else if (have)
      p2v_error ("conversion '%s' in %s is an unfinished copy of a "
                 "different source (%s); choose another --name, or run the "
                 "receiver with --force to replace it", name, dir, why);
    else if (status[0] || faccessat (s->dirfd, P2V_CONVDIR_SAVED_INVENTORY,
                                     F_OK, 0) == 0)
      p2v_error ("%s exists but its saved inventory is missing or damaged, "
                 "so it cannot be resumed; run the receiver with --force "
                 "to replace it", path);
    else
      refused = false;          /* empty: a session that never got going */
    if (refused) {
      close (s->dirfd);
      s->dirfd = -1;            /* leave its status alone */
      return recv_fail (s, code);
    }
  }
  if (existed && empty_dir (path, s->dirfd) == -1)
    return recv_fail (s, P2V_ERR_IO);
  if (existed && s->target.storage)    /* --force: its images too */
    recv_output_discard_all (&s->target, s->dirfd, s->inv.ndisks);
  if (p2v_write_data_at (s->dirfd, P2V_CONVDIR_SAVED_INVENTORY, inv,
                         inv_len) == -1)
    return recv_fail (s, P2V_ERR_IO);
  return 0;
}
