/* The conversion directory's names: the ones the receiver writes and
 * p2v-batch reads, which existing conversion directories hold (so they
 * must never change).
 */
#include <string.h>

#include "convdir_layout.h"
#include "test.h"

static void
test_names (void)
{
  char buf[80];

  p2v_convdir_journal_name (buf, sizeof buf, 0);
  CHECK (strcmp (buf, "disk0.journal") == 0);
  p2v_convdir_journal_name (buf, sizeof buf, 4294967295U);
  CHECK (strcmp (buf, "disk4294967295.journal") == 0);
  CHECK (p2v_convdir_lock_name (buf, sizeof buf, "web01"));
  CHECK (strcmp (buf, ".web01.lock") == 0);
  CHECK (p2v_convdir_lock_name (buf, 12, "web01"));
  CHECK (!p2v_convdir_lock_name (buf, 11, "web01"));
  CHECK (strcmp (P2V_CONVDIR_TMP (P2V_CONVDIR_REPORT),
                 ".report.json.tmp") == 0);
  CHECK (strcmp (P2V_CONVDIR_TMP (P2V_CONVDIR_INVENTORY),
                 ".inventory.json.tmp") == 0);
}

/* --force empties only a directory of these. */
static void
test_ours (void)
{
  static const char *const ours[] = {
    "disk0.raw", "disk1.qcow2.partial", "disk0.journal", "status",
    "report.json", "inventory.json", "domain.xml", "nics", "guest-hints",
    "fixup.json", "fixup.log", ".storage", ".inventory",
    ".report.json.tmp", NULL
  };
  static const char *const theirs[] = {
    "Disk0.raw", "report.json~", "notes.txt", "status.old", "fixup",
    "", NULL
  };

  for (size_t i = 0; ours[i]; ++i)
    CHECK (p2v_convdir_file_ours (ours[i]));
  for (size_t i = 0; theirs[i]; ++i)
    CHECK (!p2v_convdir_file_ours (theirs[i]));
}

static void
test_complete (void)
{
  CHECK (p2v_convdir_complete ("complete"));
  CHECK (p2v_convdir_complete ("complete with read errors: 2 ..."));
  CHECK (p2v_convdir_complete ("complete, fixup failed: x"));
  CHECK (!p2v_convdir_complete ("receiving (resumed at 50.0%)"));
  CHECK (!p2v_convdir_complete ("failed: complete"));
  CHECK (!p2v_convdir_complete ("complet"));
  CHECK (!p2v_convdir_complete (""));
}

int
main (void)
{
  test_names ();
  test_ours ();
  test_complete ();
  return TEST_DONE ();
}
