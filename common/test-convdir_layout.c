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

/* The images, as the receiver writes them and preflight looks for
 * them; the LVs; the recorded devices.
 */
static void
test_image_names (void)
{
  char buf[P2V_IMAGE_NAME_MAX], small[8];
  char longest[P2V_MAX_NAME + 1];

  /* In the conversion's own directory. */
  CHECK (p2v_image_name (buf, sizeof buf, NULL, 0, "raw", false) == 0);
  CHECK (strcmp (buf, "disk0.raw") == 0);
  CHECK (p2v_image_name (buf, sizeof buf, NULL, 3, "qcow2", true) == 0);
  CHECK (strcmp (buf, "disk3.qcow2.partial") == 0);

  /* In a storage directory, under the conversion's name. */
  CHECK (p2v_image_name (buf, sizeof buf, "web-01", 1, "raw", true) == 0);
  CHECK (strcmp (buf, "web-01-disk1.raw.partial") == 0);
  CHECK (p2v_image_name (buf, sizeof buf, "web-01", 12, "qcow2", false)
         == 0);
  CHECK (strcmp (buf, "web-01-disk12.qcow2") == 0);

  /* Logical volumes: the same stem, no extension. */
  CHECK (p2v_lv_name (buf, sizeof buf, "db", 0) == 0);
  CHECK (strcmp (buf, "db-disk0") == 0);

  /* The longest name and disk index fit; a short buffer says so. */
  memset (longest, 'n', P2V_MAX_NAME);
  longest[P2V_MAX_NAME] = '\0';
  CHECK (p2v_image_name (buf, sizeof buf, longest, P2V_MAX_DISKS - 1,
                         "qcow2", true) == 0);
  CHECK (strlen (buf) == P2V_MAX_NAME + strlen ("-disk63.qcow2.partial"));
  CHECK (p2v_image_name (buf, sizeof buf, longest, UINT32_MAX, "qcow2",
                         true) == 0);
  CHECK (p2v_image_name (small, sizeof small, NULL, 0, "raw", false) == -1);
  CHECK (strcmp (small, "disk0.r") == 0);
  CHECK (p2v_lv_name (small, sizeof small, "db", 10) == -1);

  CHECK (strcmp (p2v_image_formats[0], "raw") == 0);
  CHECK (strcmp (p2v_image_formats[1], "qcow2") == 0);
  CHECK (p2v_image_formats[2] == NULL);

  p2v_convdir_device_name (buf, sizeof buf, 2);
  CHECK (strcmp (buf, ".device2") == 0);
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
  test_image_names ();
  test_ours ();
  test_complete ();
  return TEST_DONE ();
}
