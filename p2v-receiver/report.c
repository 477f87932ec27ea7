/* inventory.json and report.json in the conversion directory. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "recv.h"
#include "json.h"
#include "log.h"

/* Write through a temp name and rename, so a reader never sees half. */
static FILE *
open_tmp (int dirfd, const char *tmp)
{
  int fd = openat (dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
                   O_CLOEXEC, 0644);
  FILE *fp;

  if (fd == -1) {
    p2v_error ("%s: create: %m", tmp);
    return NULL;
  }
  fp = fdopen (fd, "w");
  if (fp == NULL) {
    p2v_error ("%s: fdopen: %m", tmp);
    close (fd);
  }
  return fp;
}

static int
close_tmp (int dirfd, FILE *fp, const char *tmp, const char *name)
{
  int r = fflush (fp) == 0 && fsync (fileno (fp)) == 0 ? 0 : -1;

  if (fclose (fp) != 0 || r == -1) {
    p2v_error ("%s: write: %m", tmp);
    unlinkat (dirfd, tmp, 0);
    return -1;
  }
  if (renameat (dirfd, tmp, dirfd, name) == -1) {
    p2v_error ("%s: rename: %m", name);
    return -1;
  }
  return 0;
}

int
recv_write_inventory (int dirfd, const struct p2v_inventory *inv)
{
  FILE *fp = open_tmp (dirfd, ".inventory.json.tmp");
  uint32_t i;

  if (fp == NULL)
    return -1;
  fputs ("{\n  \"name\": ", fp);
  p2v_json_string (fp, inv->name);
  fputs (",\n  \"hostname\": ", fp);
  p2v_json_string (fp, inv->hostname);
  fprintf (fp, ",\n  \"cpus\": %" PRIu32 ",\n  \"memory\": %" PRIu64
           ",\n  \"disks\": [", inv->cpus, inv->memory);
  for (i = 0; i < inv->ndisks; ++i) {
    fprintf (fp, "%s\n    { \"size\": %" PRIu64 ", \"sector_size\": %"
             PRIu32 ", \"source\": ", i ? "," : "", inv->disks[i].size,
             inv->disks[i].sector_size);
    p2v_json_string (fp, inv->disks[i].source);
    fputs (", \"id\": ", fp);
    p2v_json_string (fp, inv->disks[i].id);
    fputs (" }", fp);
  }
  fputs ("\n  ],\n  \"facts\": {", fp);
  for (i = 0; i < inv->nfacts; ++i) {
    fputs (i ? ",\n    " : "\n    ", fp);
    p2v_json_string (fp, inv->keys[i]);
    fputs (": ", fp);
    p2v_json_string (fp, inv->values[i]);
  }
  fputs ("\n  }\n}\n", fp);
  return close_tmp (dirfd, fp, ".inventory.json.tmp", "inventory.json");
}

int
recv_write_report (int dirfd, const char *name,
                   const struct recv_disk_report *d, uint32_t n,
                   uint64_t wire_bytes, double seconds)
{
  FILE *fp = open_tmp (dirfd, ".report.json.tmp");
  uint32_t i;

  if (fp == NULL)
    return -1;
  fputs ("{\n  \"name\": ", fp);
  p2v_json_string (fp, name);
  fprintf (fp, ",\n  \"status\": \"complete\",\n  \"wire_bytes\": %"
           PRIu64 ",\n  \"seconds\": %.3f,\n  \"disks\": [",
           wire_bytes, seconds);
  for (i = 0; i < n; ++i) {
    fprintf (fp, "%s\n    { \"file\": ", i ? "," : "");
    p2v_json_string (fp, d[i].file);
    fprintf (fp, ", \"format\": \"raw\", \"size\": %" PRIu64
             ", \"data_bytes\": %" PRIu64 ", \"zero_bytes\": %" PRIu64
             ", \"allocated_bytes\": %" PRIu64 ", \"chunks\": %" PRIu64
             ", \"digest\": \"xxh3-128:%s\" }",
             d[i].size, d[i].data_bytes, d[i].zero_bytes, d[i].allocated,
             d[i].chunks, d[i].digest);
  }
  fputs ("\n  ]\n}\n", fp);
  return close_tmp (dirfd, fp, ".report.json.tmp", "report.json");
}
