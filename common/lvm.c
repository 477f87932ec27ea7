/* The room left in an LVM volume group or thin pool (lvm.h). */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "lvm.h"

int
p2v_lvm_parse_space (const char *line, int pool, struct p2v_lvm_space *sp,
                     char *why, size_t len)
{
  char type[32], extra;
  double pct;
  int n, words;

  if (!pool) {
    sp->unit = 0;
    return sscanf (line, "%" SCNu64 " %" SCNu64 " %c", &sp->free, &sp->unit,
                   &extra) == 2 && sp->unit > 0 ? 0 : -1;
  }
  /* A pool's last word is its type; others have no data_percent. */
  if (sscanf (line, "%" SCNu64 "%n", &sp->free, &n) != 1)
    return -1;
  words = sscanf (line + n, " %lf %31s %c", &pct, type, &extra);
  if (words != 2 && sscanf (line + n, " %31s %c", type, &extra) != 1)
    return -1;
  if (strcmp (type, "thin-pool") != 0) {
    snprintf (why, len, "a %s volume, not a thin pool", type);
    return -1;
  }
  if (words != 2 || pct < 0 || pct > 100)
    return -1;
  sp->free -= (uint64_t) (sp->free * (pct / 100));
  sp->unit = 1;
  return 0;
}

int
p2v_lvm_space (const char *target, struct p2v_lvm_space *sp, char *why,
               size_t len)
{
  bool pool = strchr (target, '/') != NULL, found = false;
  char cmd[512], line[512];
  FILE *fp;
  int status;

  *why = '\0';
  if (strspn (target, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
              "0123456789+_.-/") != strlen (target) || *target == '/' ||
      strchr (target, '/') != strrchr (target, '/')) {
    snprintf (why, len, "not a valid volume group or VG/THINPOOL name");
    return -1;
  }
  /* LVM complains about descriptors it inherits unless told not to. */
  snprintf (cmd, sizeof cmd, "PATH=$PATH:/usr/sbin:/sbin LC_ALL=C "
            "LVM_SUPPRESS_FD_WARNINGS=1 %s --noheadings --nosuffix "
            "--units b -o %s %s </dev/null 2>&1", pool ? "lvs" : "vgs",
            pool ? "lv_size,data_percent,segtype" : "vg_free,vg_extent_size",
            target);
  if ((fp = popen (cmd, "re")) == NULL) {
    snprintf (why, len, "cannot run %s: %m", pool ? "lvs" : "vgs");
    return -2;
  }
  while (fgets (line, sizeof line, fp)) {
    char *text = line + strspn (line, " \t");

    text[strcspn (text, "\n")] = '\0';
    if (p2v_lvm_parse_space (text, pool, sp, why, len) == 0)
      found = true;
    else if (*text && (!*why || !strncmp (why, "vgs: WARNING", 12) ||
                       !strncmp (why, "lvs: WARNING", 12)))
      snprintf (why, len, "%s: %s", pool ? "lvs" : "vgs", text);
  }
  status = pclose (fp);
  if (status == -1 || !WIFEXITED (status) || WEXITSTATUS (status) == 127) {
    snprintf (why, len, "%s cannot be run; install lvm2",
              pool ? "lvs" : "vgs");
    return -2;
  }
  return WEXITSTATUS (status) == 0 && found ? 0 : -1;
}
