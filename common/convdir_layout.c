/* The names of a conversion directory's files, for both the receiver
 * that writes them and p2v-batch that reads them.
 */
#include <stdio.h>
#include <string.h>

#include "convdir_layout.h"

const char *const p2v_image_formats[] = { "raw", "qcow2", NULL };

int
p2v_image_name (char *buf, size_t len, const char *prefix, uint32_t index,
                const char *ext, bool partial)
{
  int n = snprintf (buf, len, "%s%sdisk%u.%s%s", prefix ? prefix : "",
                    prefix ? "-" : "", index, ext, partial ? ".partial" : "");

  return n >= 0 && (size_t) n < len ? 0 : -1;
}

int
p2v_lv_name (char *buf, size_t len, const char *name, uint32_t index)
{
  int n = snprintf (buf, len, "%s-disk%u", name, index);

  return n >= 0 && (size_t) n < len ? 0 : -1;
}

void
p2v_convdir_device_name (char *buf, size_t len, uint32_t index)
{
  snprintf (buf, len, ".device%u", index);
}

void
p2v_convdir_journal_name (char *buf, size_t len, uint32_t disk)
{
  snprintf (buf, len, "disk%u.journal", disk);
}

bool
p2v_convdir_lock_name (char *buf, size_t len, const char *name)
{
  return (size_t) snprintf (buf, len, ".%s.lock", name) < len;
}

/* Images and journals start with "disk"; the rest are named here, or
 * hidden (.storage, .inventory, the temporary names).
 */
bool
p2v_convdir_file_ours (const char *n)
{
  return strncmp (n, "disk", 4) == 0 || strcmp (n, P2V_CONVDIR_STATUS) == 0 ||
         strcmp (n, P2V_CONVDIR_REPORT) == 0 ||
         strcmp (n, P2V_CONVDIR_INVENTORY) == 0 ||
         strcmp (n, P2V_CONVDIR_DOMAIN) == 0 ||
         strcmp (n, P2V_CONVDIR_NICS) == 0 ||
         strcmp (n, P2V_CONVDIR_HINTS) == 0 ||
         strcmp (n, P2V_CONVDIR_FIXUP_REPORT) == 0 ||
         strcmp (n, P2V_CONVDIR_FIXUP_LOG) == 0 || n[0] == '.';
}

bool
p2v_convdir_complete (const char *status)
{
  return strncmp (status, P2V_CONVDIR_COMPLETE,
                  strlen (P2V_CONVDIR_COMPLETE)) == 0;
}
