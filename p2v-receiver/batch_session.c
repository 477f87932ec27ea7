/* The session's side of --batch: the coordinator (batch.c) names the
 * server and gives its receiver options, the manifest's disks are
 * chosen (SELECT), and the outcome goes back to the coordinator.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch_session.h"
#include "session.h"
#include "out.h"
#include "recv_batch.h"
#include "cleanup.h"
#include "coord_proto.h"
#include "kv.h"
#include "log.h"

static void
say_batch (void *opaque, bool warn, const char *msg)
{
  recv_notice (opaque, warn ? P2V_NOTICE_WARNING : P2V_NOTICE_INFO, "%s", msg);
}

/* Whether an inventory disk is the one a manifest names. */
static bool
disk_named (const struct p2v_disk_info *d, const char *key)
{
  const char *base = strrchr (d->source, '/');

  return !strcmp (d->source, key) || (base && !strcmp (base + 1, key)) ||
         (*d->id && !strcmp (d->id, key));
}

/* The manifest's disks only: SELECT (protocol 4), and the agent's
 * INVENTORY of them in place of the first.
 */
static int
select_disks (struct session *s)
{
  size_t nkeys;
  char *const *keys = recv_batch_disks (s->batch, &nkeys);
  struct p2v_select sel = { 0 };
  struct p2v_inventory inv = { 0 };
  struct p2v_msg m;
  char all[1024] = "";
  size_t n = 0;

  if (nkeys == 0)
    return 0;
  for (uint32_t i = 0; i < s->inv.ndisks; ++i) {
    if (n < sizeof all)
      n += snprintf (all + n, sizeof all - n, "%s%s%s%s", i ? ", " : "",
                     s->inv.disks[i].source, *s->inv.disks[i].id ? " " : "",
                     s->inv.disks[i].id);
    for (size_t k = 0; k < nkeys; ++k)
      if (disk_named (&s->inv.disks[i], keys[k])) {
        sel.disks[sel.count++] = i;
        break;
      }
  }
  for (size_t k = 0; k < nkeys; ++k) {
    uint32_t i;

    for (i = 0; i < s->inv.ndisks && !disk_named (&s->inv.disks[i], keys[k]);
         ++i)
      ;
    if (i == s->inv.ndisks) {
      p2v_error ("the manifest's disks for '%s' name %s, which this machine "
                 "does not have (it has %s)", recv_batch_name (s->batch),
                 keys[k], all);
      return recv_fail (s, P2V_ERR_REFUSED);
    }
  }
  if (sel.count == s->inv.ndisks)
    return 0;
  if (s->ch->version < 4) {
    p2v_error ("the manifest chooses %" PRIu32 " of the %" PRIu32 " disks, "
               "but the agent speaks protocol %" PRIu32 " (choosing needs "
               "4): update the agent or its live image", sel.count,
               s->inv.ndisks, s->ch->version);
    return recv_fail (s, P2V_ERR_VERSION);
  }
  p2v_wbuf_reset (&s->out);
  p2v_msg_start (&s->out, P2V_MSG_SELECT);
  p2v_put_select (&s->out, &sel);
  if (recv_send_msg (s) == -1)
    return recv_fail (s, 0);
  if (p2v_chan_recv (s->ch, &m, true) != 1)
    return recv_failed (s);
  if (m.type != P2V_MSG_INVENTORY ||
      p2v_parse_inventory (m.payload, m.len, &inv) == -1 ||
      inv.ndisks != sel.count) {
    p2v_inventory_free (&inv);
    p2v_error ("the agent did not answer SELECT with an INVENTORY of the "
               "%" PRIu32 " disks", sel.count);
    return recv_fail (s, P2V_ERR_PROTOCOL);
  }
  for (uint32_t k = 0; k < sel.count; ++k) {
    const struct p2v_disk_info *a = &s->inv.disks[sel.disks[k]];
    const struct p2v_disk_info *b = &inv.disks[k];

    if (a->size != b->size || strcmp (a->source, b->source) ||
        memcmp (a->fingerprint, b->fingerprint, P2V_HASH_LEN)) {
      p2v_inventory_free (&inv);
      p2v_error ("the agent's INVENTORY after SELECT lists other disks");
      return recv_fail (s, P2V_ERR_PROTOCOL);
    }
  }
  free (inv.name);
  inv.name = s->inv.name;       /* the server's, not the agent's */
  s->inv.name = NULL;
  p2v_inventory_free (&s->inv);
  s->inv = inv;
  p2v_info ("the manifest chooses %" PRIu32 " of the machine's disks (it "
            "has %s)", sel.count, all);
  return 0;
}

/* --batch: the coordinator names the server and gives its options; the
 * inventory is saved under that name.
 */
int
recv_batch_session_admit (struct session *s, struct p2v_wbuf *saved)
{
  uint32_t code;
  char **argv;
  int argc;

  s->batch = recv_batch_admit (s->opts->batch, &s->inv, STDIN_FILENO,
                               say_batch, s, &code);
  if (s->batch == NULL)
    return recv_fail (s, code);
  argv = recv_batch_args (s->batch, &argc);
  s->own = *s->opts;
  if (s->opts->apply (&s->own, argc, argv) == -1) {
    p2v_error ("the batch coordinator's options for '%s' were refused",
               recv_batch_name (s->batch));
    return recv_fail (s, P2V_ERR_REFUSED);
  }
  s->opts = &s->own;
  s->ops = recv_output_chosen (&s->own);
  free (s->inv.name);
  if ((s->inv.name = strdup (recv_batch_name (s->batch))) == NULL) {
    p2v_error ("out of memory");
    return recv_fail (s, P2V_ERR_INTERNAL);
  }
  p2v_info ("the batch coordinator's turn for '%s' (from %s)", s->inv.name,
            s->inv.hostname);
  if (select_disks (s) == -1)
    return -1;
  p2v_put_inventory (saved, &s->inv);
  return saved->failed ? recv_fail (s, P2V_ERR_INTERNAL) : 0;
}

/* The outcome, for the batch coordinator's report. */
void
recv_batch_session_done (struct session *s, int r)
{
  CLEANUP_FREE char *line = NULL;
  size_t len = 0;
  FILE *fp = open_memstream (&line, &len);
  uint64_t data = 0;
  const char *fs = s->fixup ? strstr (s->fixup, "\"status\": \"") : NULL;
  const char *fc = s->fixup ? strstr (s->fixup, "\"changed\": ") : NULL;
  char fixup[32] = "";

  if (fp == NULL)
    return;
  for (uint32_t i = 0; s->disks && i < s->inv.ndisks; ++i)
    data += s->disks[i].data_bytes;
  if (fs)
    sscanf (fs + 11, "%31[a-z ]", fixup);
  fputs (P2V_COORD_DONE, fp);
  p2v_kv_put (fp, ' ', "name", recv_batch_name (s->batch));
  p2v_kv_put (fp, ' ', "result", p2v_coord_result_of (r, s->err_code));
  p2v_kv_put (fp, ' ', "message", r == 0 ? "" : p2v_last_error ());
  p2v_kv_putf (fp, ' ', "wire", "%" PRIu64, s->ch->bytes_in);
  p2v_kv_putf (fp, ' ', "data", "%" PRIu64, data);
  p2v_kv_putf (fp, ' ', "allocated", "%" PRIu64, s->allocated);
  if (r == 0) {
    p2v_kv_put (fp, ' ', "verification", s->opts->verify ? "verified"
                : "not run");
    p2v_kv_put (fp, ' ', "fixup", s->opts->fixup.skip ? "skipped"
                : s->fixup_error ? "failed" : fixup);
    p2v_kv_putf (fp, ' ', "fixup_changes", "%d", fc ? atoi (fc + 11) : -1);
    p2v_kv_put (fp, ' ', "domain", s->domain ? s->inv.name : "");
    p2v_kv_put (fp, ' ', "uuid", s->domain ? s->domain->uuid : "");
    p2v_kv_putf (fp, ' ', "defined", "%d", s->domain && s->domain->defined);
    p2v_kv_put (fp, ' ', "path", s->path ? s->path : "");
  }
  fputc ('\n', fp);
  if (fclose (fp) == 0)
    recv_batch_done (s->batch, line, r == 0);
}
