/* What a conversion's images are called (names.h). */
#include <stdio.h>

#include "names.h"

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
