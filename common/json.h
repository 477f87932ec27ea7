/* Just enough JSON output for stats, reports and progress events. */
#ifndef P2V_JSON_H
#define P2V_JSON_H

#include <stdio.h>

/* Writes s as a quoted JSON string. */
void p2v_json_string (FILE *fp, const char *s);

#endif
