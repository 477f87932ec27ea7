/* Unit tests for reading vgs/lvs output. */
#include <string.h>

#include "lvm.h"
#include "test.h"

int
main (void)
{
  struct p2v_lvm_space sp;
  char why[128] = "";

  CHECK (p2v_lvm_parse_space ("1069547520 4194304", 0, &sp, why,
                              sizeof why) == 0);
  CHECK (sp.free == 1069547520 && sp.unit == 4194304);
  CHECK (p2v_lvm_parse_space ("0 4194304", 0, &sp, why, sizeof why) == 0);
  CHECK (sp.free == 0);
  CHECK (p2v_lvm_parse_space ("WARNING: something", 0, &sp, why,
                              sizeof why) == -1);
  CHECK (p2v_lvm_parse_space ("1069547520", 0, &sp, why, sizeof why) == -1);
  CHECK (p2v_lvm_parse_space ("1 2 3", 0, &sp, why, sizeof why) == -1);

  /* A pool: its size less the data it holds. */
  CHECK (p2v_lvm_parse_space ("67108864 25.00 thin-pool", 1, &sp, why,
                              sizeof why) == 0);
  CHECK (sp.free == 50331648 && sp.unit == 1);
  CHECK (p2v_lvm_parse_space ("67108864 100.00 thin-pool", 1, &sp, why,
                              sizeof why) == 0);
  CHECK (sp.free == 0);
  CHECK (p2v_lvm_parse_space ("67108864 0.00 thin-pool", 1, &sp, why,
                              sizeof why) == 0);
  CHECK (sp.free == 67108864);
  /* A plain LV has no data_percent: not a number, not a pool. */
  CHECK (p2v_lvm_parse_space ("67108864  linear", 1, &sp, why,
                              sizeof why) == -1);
  CHECK (strcmp (why, "a linear volume, not a thin pool") == 0);
  CHECK (p2v_lvm_parse_space ("67108864 0.00 thin", 1, &sp, why,
                              sizeof why) == -1);
  CHECK (strcmp (why, "a thin volume, not a thin pool") == 0);
  CHECK (p2v_lvm_parse_space ("67108864 120.00 thin-pool", 1, &sp, why,
                              sizeof why) == -1);
  return TEST_DONE ();
}
