/* Unit tests for the images' names, as the receiver writes them and
 * p2v-batch's preflight looks for them.
 */
#include <string.h>

#include "names.h"
#include "test.h"

int
main (void)
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

  return TEST_DONE ();
}
