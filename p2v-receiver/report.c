/* inventory.json and report.json in the conversion directory. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "report.h"
#include "domain.h"
#include "convdir_layout.h"
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
  FILE *fp = open_tmp (dirfd, P2V_CONVDIR_TMP (P2V_CONVDIR_INVENTORY));
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
  return close_tmp (dirfd, fp, P2V_CONVDIR_TMP (P2V_CONVDIR_INVENTORY),
                    P2V_CONVDIR_INVENTORY);
}

int
recv_write_report (int dirfd, const struct recv_report *r)
{
  FILE *fp = open_tmp (dirfd, P2V_CONVDIR_TMP (P2V_CONVDIR_REPORT));
  const struct recv_disk_report *d = r->disks;
  uint32_t i;
  size_t n = 0;

  if (fp == NULL)
    return -1;
  fputs ("{\n  \"name\": ", fp);
  p2v_json_string (fp, r->name);
  fputs (",\n  \"status\": ", fp);
  p2v_json_string (fp, r->status);
  fprintf (fp, ",\n  \"resumed\": %s,\n  \"wire_bytes\": %" PRIu64
           ",\n  \"seconds\": %.3f,\n  \"disks\": [",
           r->resumed ? "true" : "false", r->wire_bytes, r->seconds);
  for (i = 0; i < r->ndisks; ++i) {
    fprintf (fp, "%s\n    { \"file\": ", i ? "," : "");
    p2v_json_string (fp, d[i].file);
    fprintf (fp, ", \"format\": \"%s\", \"size\": %" PRIu64
             ", \"data_bytes\": %" PRIu64 ", \"zero_bytes\": %" PRIu64
             ", \"allocated_bytes\": %" PRIu64 ", \"chunks\": %" PRIu64
             ", \"digest\": \"xxh3-128:%s\" }",
             d[i].format, d[i].size, d[i].data_bytes, d[i].zero_bytes,
             d[i].allocated,
             d[i].chunks, d[i].digest);
  }
  fputs ("\n  ],\n  \"read_errors\": [", fp);
  for (i = 0; i < r->ndisks; ++i)
    for (size_t k = 0; k < r->read_errors[i].len; ++k) {
      const struct p2v_read_error *e = &r->read_errors[i].ptr[k];

      fprintf (fp, "%s\n    { \"disk\": %" PRIu32 ", \"offset\": %"
               PRIu64 ", \"length\": %" PRIu64 ", \"errno\": %" PRIu32
               ", \"error\": ", n++ ? "," : "", i,
               e->offset, e->length, e->err);
      p2v_json_string (fp, strerror (e->err));
      fputs (" }", fp);
    }
  fputs ("\n  ],\n  \"source\": { \"hostname\": ", fp);
  p2v_json_string (fp, r->inv->hostname);
  fprintf (fp, ", \"cpus\": %" PRIu32 ", \"memory\": %" PRIu64
           ", \"inventory\": \"" P2V_CONVDIR_INVENTORY "\" },\n"
           "  \"layout\": {",
           r->inv->cpus, r->inv->memory);
  /* The agent's layout plan: target disks, md arrays flattened. */
  for (i = 0, n = 0; i < r->inv->nfacts; ++i)
    if (strncmp (r->inv->keys[i], "layout.", 7) == 0 ||
        strncmp (r->inv->keys[i], "md.", 3) == 0) {
      fputs (n++ ? ",\n    " : "\n    ", fp);
      p2v_json_string (fp, r->inv->keys[i]);
      fputs (": ", fp);
      p2v_json_string (fp, r->inv->values[i]);
    }
  fputs ("\n  },\n  \"domain\": ", fp);
  if (r->domain) {
    fputs ("{ \"xml\": ", fp);
    p2v_json_string (fp, r->domain->xml_path);
    fprintf (fp, ", \"uuid\": \"%s\", \"defined\": %s", r->domain->uuid,
             r->domain->defined ? "true" : "false");
    if (r->domain_error) {
      fputs (", \"error\": ", fp);
      p2v_json_string (fp, r->domain_error);
    }
    fprintf (fp, ",\n    \"memory\": %" PRIu64 ", \"vcpus\": %u, "
             "\"firmware\": \"%s\",\n    \"from\": { \"memory\": ",
             r->domain->memory, r->domain->vcpus,
             r->domain->uefi ? "uefi" : "bios");
    p2v_json_string (fp, r->domain->memory_from);
    fputs (", \"vcpus\": ", fp);
    p2v_json_string (fp, r->domain->vcpus_from);
    fputs (", \"firmware\": ", fp);
    p2v_json_string (fp, r->domain->firmware_from);
    fputs (", \"nics\": ", fp);
    p2v_json_string (fp, r->domain->nics_from);
    fputs (" },\n    \"nics\": [", fp);
    for (size_t k = 0; k < r->domain->nnics; ++k) {
      const struct recv_nic *x = &r->domain->nics[k];

      fprintf (fp, "%s\n      { \"name\": ", k ? "," : "");
      p2v_json_string (fp, x->name);
      fputs (", \"old_mac\": ", fp);
      p2v_json_string (fp, x->old_mac);
      fprintf (fp, ", \"new_mac\": \"%s\"", x->new_mac);
      if (x->vid)
        fprintf (fp, ", \"vlan\": %u", x->vid);
      if (*x->trunk) {
        fputs (", \"trunk\": ", fp);
        p2v_json_string (fp, x->trunk);
      }
      fprintf (fp, "%s }", x->dropped ? ", \"dropped\": true" : "");
    }
    fputs ("\n    ] }", fp);
  }
  else {
    fputs ("{ \"error\": ", fp);
    p2v_json_string (fp, r->domain_error ? r->domain_error : "unknown");
    fputs (" }", fp);
  }
  /* p2v-fixup's own report, as it wrote it. */
  fputs (",\n  \"fixup\": ", fp);
  if (r->fixup) {
    size_t len = strlen (r->fixup);

    while (len && (r->fixup[len - 1] == '\n' || r->fixup[len - 1] == ' '))
      len--;
    fwrite (r->fixup, 1, len, fp);
  }
  else {
    fprintf (fp, "{ \"status\": \"%s\"", r->fixup_error ? "failed"
             : "not run");
    if (r->fixup_error) {
      fputs (", \"error\": ", fp);
      p2v_json_string (fp, r->fixup_error);
    }
    fputs (" }", fp);
  }
  /* One line, so that p2v-receiver verify can replace it. */
  fprintf (fp, ",\n  \"verification\": %s\n}\n", r->verification);
  return close_tmp (dirfd, fp, P2V_CONVDIR_TMP (P2V_CONVDIR_REPORT),
                    P2V_CONVDIR_REPORT);
}
