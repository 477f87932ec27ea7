/* p2v-batch: the manifest of a server room, the coordinator that
 * queues and throttles the receivers, and its spool.  docs/p2v-batch.pod
 * specifies the manifest, the spool files and the lines exchanged with
 * p2v-receiver --batch.
 */
#ifndef P2V_BATCH_H
#define P2V_BATCH_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "kv.h"
#include "proto.h"

#define BATCH_MAX_NETS 16
#define BATCH_MAX_MACS 64
#define BATCH_LOCK "coordinator.lock"
#define BATCH_LOG "coordinator.log"
#define BATCH_MIN_RATE (64 * 1024)      /* bytes/s: keeps agents' links alive */

/* What a server section (or [defaults]) may set; unset is NULL / -1 / 0. */
struct batch_settings {
  char *storage, *format, *hypervisor, *connect;
  int storage_line;             /* the manifest line that set storage */
  int define, verify, fixup;    /* -1 unset, else 0/1 */
  int priority;                 /* -1000000 unset */
  long vcpus;                   /* 0 unset */
  uint64_t memory;              /* bytes, 0 unset */
  uint64_t agent_bandwidth;     /* bytes/s, 0 unset */
  uint64_t expect;              /* bytes the server is expected to need */
  char *nets[BATCH_MAX_NETS];   /* "--bridge" or "--network" then arg */
  bool net_bridge[BATCH_MAX_NETS];
  size_t nnets;
  char *disks[P2V_MAX_DISKS];   /* only these (path, name or serial) */
  size_t ndisks;
};

struct batch_storage {
  char *name;
  char *path;                   /* --storage DIR, or NULL */
  char *lvm;                    /* --lvm VG[/POOL], or NULL */
  int max_writers;              /* conversions writing at once */
  int line;
};

DEFINE_VECTOR_TYPE (batch_strings, char *);
DEFINE_VECTOR_TYPE (batch_storages, struct batch_storage);

struct batch_server {
  char *name;                   /* the conversion (and domain) name */
  struct batch_strings match;   /* "serial:X", "mac:aa:bb:..", "name:N" ... */
  struct batch_settings set;    /* [defaults] merged in */
  int storage;                  /* index into storages */
  int line;
};
DEFINE_VECTOR_TYPE (batch_servers, struct batch_server);

struct batch_manifest {
  char *path;
  char *output_dir;             /* conversion directories: DIR/NAME */
  uint64_t bandwidth;           /* bytes/s for all agents together, 0: none */
  struct batch_settings defaults;
  struct batch_storages storages;
  struct batch_servers servers;
};

/* Parse and check a manifest; errors are reported as FILE:LINE. */
int batch_manifest_load (const char *path, struct batch_manifest *m);
void batch_manifest_free (struct batch_manifest *m);

/* How a machine presents itself (from its INVENTORY). */
struct batch_identity {
  const char *agent_name, *hostname, *serial;
  const char *macs[BATCH_MAX_MACS];
  size_t nmacs;
};
/* The server whose match keys the machine meets: its index, -1 if none
 * does, -2 if several do; why says which (for a held machine).
 */
int batch_match (const struct batch_manifest *m,
                 const struct batch_identity *id, char *why, size_t len);
/* A one-line description of a machine, "serial X, MACs a, b, ...". */
void batch_identity_describe (const struct batch_identity *id, char *buf,
                              size_t len);

/* The receiver options a server's entry stands for, as " arg=..." words,
 * and its disks as " disk=..." words.
 */
void batch_server_args (const struct batch_manifest *m, int server, FILE *fp);
/* Its per-agent bandwidth cap: the server's, the defaults', or 0. */
uint64_t batch_server_rate (const struct batch_manifest *m, int server);

/* "12.5 MB/s" style, into buf of at least 32 bytes. */
const char *batch_human_rate (double bytes_per_second, char *buf, size_t len);

/* ---- The spool (spool.c) ---- */

/* A server's conversion as the coordinator records it in
 * SPOOL/jobs/NAME; times are Unix seconds, 0 if not yet.
 */
struct batch_job {
  char name[P2V_MAX_NAME + 1];
  char state[16];               /* see batch_job_states */
  char storage[P2V_MAX_NAME + 1];
  char message[1024];           /* why it waits, failed, was interrupted */
  char agent[P2V_MAX_NAME + 1]; /* the machine: agent's name ... */
  char hostname[256], serial[256], macs[1024];
  char conversion[4096];        /* DIR/NAME on the hypervisor */
  uint64_t size;                /* of the source disks */
  uint64_t received;            /* bytes of the disks covered so far */
  uint64_t wire;                /* bytes received on the wire, in all */
  uint64_t data, allocated;     /* at completion: data sent, on disk */
  uint64_t rate;                /* bytes/s cap now, 0: none */
  double first_seen, started, finished;
  double running_seconds;       /* writing, in all sessions */
  uint32_t sessions;            /* times it was given a slot */
  long pid;                     /* its receiver, while one runs */
  char verification[64];        /* report.json's, "" if none */
  char fixup[32];               /* complete, failed, skipped, "" */
  int fixup_changes;            /* -1 unknown */
  char domain[P2V_MAX_NAME + 1], uuid[40];
  int defined;                  /* -1 unknown */
};

/* pending (in the manifest, not seen), waiting, running, interrupted
 * (its link or the coordinator went away: the agent resumes it),
 * complete, failed.
 */
extern const char *const batch_job_states[];

int batch_job_save (int spoolfd, const struct batch_job *j);
/* SPOOL/jobs/NAME into j: 0, or -1 with errno. */
int batch_job_load (int spoolfd, const char *name, struct batch_job *j);

DEFINE_VECTOR_TYPE (batch_jobs, struct batch_job);
/* Every job in the spool, in name order: 0, or -1 (reported). */
int batch_jobs_load_all (int spoolfd, struct batch_jobs *v);

/* A throughput sample: SPOOL/jobs/NAME.samples, one "TIME WIRE
 * RECEIVED" line each.
 */
struct batch_sample {
  double t;
  uint64_t wire, received;
};
DEFINE_VECTOR_TYPE (batch_samples, struct batch_sample);
int batch_sample_append (int spoolfd, const char *name,
                         const struct batch_sample *s);
int batch_samples_load (int spoolfd, const char *name,
                        struct batch_samples *v);

/* A machine no entry matched, as SPOOL/held/AGENT. */
struct batch_held {
  char agent[P2V_MAX_NAME + 1];
  char hostname[256], serial[256], macs[1024];
  char reason[1024];
  double since, last;           /* first seen, last seen */
  bool connected;               /* still waiting at the agent */
};
int batch_held_save (int spoolfd, const struct batch_held *h);
DEFINE_VECTOR_TYPE (batch_helds, struct batch_held);
int batch_held_load_all (int spoolfd, struct batch_helds *v);

/* ---- Commands ---- */

/* p2v-batch run (coord.c): 0 after a stop, -1 (reported). */
int batch_run (const char *spool, const char *manifest);

/* p2v-batch report (report.c): the Markdown and HTML reports from the
 * spool, and m's servers not yet seen (m may be NULL).  md / html: a
 * path, "-" for stdout, NULL to skip.  0, or -1 (reported).
 */
int batch_report (int spoolfd, const struct batch_manifest *m,
                  const char *md, const char *html);

/* p2v-batch preflight (preflight.c). */
struct batch_preflight_opts {
  const char *ssh;              /* HOST[:PORT] agents will use, or NULL */
  const char *spool;            /* the spool directory, or NULL */
  bool json;                    /* JSON on stdout instead of the table */
};
/* 0 if no check failed, 1 if one did, -1 if it could not check. */
int batch_preflight (const struct batch_manifest *m,
                     const struct batch_preflight_opts *o);

/* Open (creating it and jobs/, held/) the spool directory. */
int batch_spool_open (const char *spool, bool create);
/* Whether a coordinator runs on the spool (holds its lock). */
bool batch_coordinator_running (int spoolfd);

#endif
