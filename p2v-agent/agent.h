#ifndef P2V_AGENT_H
#define P2V_AGENT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "map.h"
#include "proto.h"
#include "layout.h"
#include "progress.h"
#include "source.h"

struct agent_options {
  const char *to;               /* USER@HOST, or NULL with local */
  int port;
  const char *identity;
  const char *known_hosts;
  const char *host_key;         /* "SHA256:..." pin, or NULL */
  bool accept_new_host_key;
  const char *receiver_command;
  const char *name;
  bool local;
  /* --host-facts: with --local, the disks are this host's own.  send
   * --local without it is direct attach: the disks came from another
   * machine, so this host's facts (CPUs, memory, NICs, firmware, name)
   * are not theirs and are not sent.
   */
  bool host_facts;
  int level;                    /* fixed zstd level, or ... */
  bool adaptive;                /* ... follow the bottleneck within: */
  int min_level, max_level;
  uint32_t chunk_size;
  const char *stats;
  bool machine_readable;
  int timeout;                  /* seconds without progress */
  int threads;                  /* compression workers */
  int streams;                  /* SSH connections, or 0: by the link */
  bool no_maps;                 /* zero detection only */
  bool allow_mounted;           /* copy read-write mounted sources */
  int retries;                  /* reconnects in a row after a lost link */
  int retry_wait;               /* seconds before the first, doubling */
  uint64_t window;              /* unacknowledged data bytes at most */
  int max_read_errors;          /* unreadable ranges before giving up */
  bool no_flatten;              /* send md members as they are */
  bool dry_run;                 /* plan only */
  /* hot-clone */
  bool hot;
  int max_passes;               /* passes at most, the final one included */
  uint64_t converge_bytes;      /* final pass once this little is dirty */
  int max_freeze;               /* seconds the watchdog allows */
  const char *final;            /* "freeze", "readonly" or "stop" */
  const char *stop_command, *start_command, *frozen_command;
  const char *tracker;          /* "auto", "trace" or "none" */
  char **sources;
  int nsources;
};

/* The CPUs this process may use: its affinity mask's, or fewer under a
 * cgroup CPU quota (v1 or v2), which may be a fraction (level.c).
 */
double agent_cpus_available (void);

/* --identity: a readable private key without a passphrase (the agent
 * cannot ask for one); 0, or -1 with an error naming the file.
 */
int agent_check_identity (const char *path);

/* Host key checking, given the server's raw key. */
int agent_check_host_key (const struct agent_options *o, void *session,
                          const char *host);

/* -1 (reported) if a filesystem on the source is mounted read-write,
 * unless allow (then a warning).
 */
int agent_check_mounted (const struct agent_source *s, bool allow);

/* /proc/self/mountinfo and /proc/swaps (mounts.c).  dev is the device
 * the kernel reports, src the device of the source path: they differ
 * for btrfs and FUSE (ntfs-3g), so match either.
 */
struct agent_mount {
  dev_t dev, src;
  char *source, *target;        /* unescaped; target "[SWAP]" for swap */
  bool ro;                      /* the mount or its superblock is ro */
  bool super_rw;                /* the superblock is read-write */
  bool swap;
};
DEFINE_VECTOR_TYPE (agent_mounts, struct agent_mount);
int agent_mounts_load (struct agent_mounts *t);  /* 0, or -1 (reported) */
void agent_mounts_free (struct agent_mounts *t);
bool agent_mount_matches (const struct agent_mount *m, dev_t dev);
/* Appends to out the mounts whose filesystem is on the source (its
 * partitions, what is stacked on them, the loop devices of an image)
 * with a read-write superblock.  0, or -1 (reported).
 */
int agent_source_mounts (const struct agent_source *src,
                         struct agent_mounts *out);
/* The names of the devices stacked on the block device whose sysfs
 * directory is sysdir (dm, md): its holders directory, or where the
 * kernel has none, every /sys/block device whose slaves name it.  At
 * most max.
 */
size_t agent_block_holders (const char *sysdir, char (*names)[32], size_t max);


/* Exit status: 0 done, 1 failed, 3 done but some source ranges could
 * not be read (sent as zeros, listed).
 */
#define AGENT_EXIT_READ_ERRORS 3
int agent_send (const struct agent_options *o);

/* Assembled md arrays (raid.c), from /sys/block/mdN/md. */
#define AGENT_MD_MAX_MEMBERS 32
struct agent_md_member {
  char name[64];                /* kernel name: "sda1" */
  dev_t dev, disk_dev;          /* it, and its whole disk (= dev if whole) */
  int partno;                   /* 0: the whole disk */
  char state[64];               /* "in_sync", "faulty", "spare", ... */
};
struct agent_md {
  char name[32];                /* "md127" */
  char path[48];                /* "/dev/md127" */
  char level[16], metadata[32], array_state[32], sync_action[32];
  char uuid[64], label[128];    /* from a member's superblock */
  int raid_disks, degraded;
  uint64_t size;                /* bytes */
  bool partitioned;             /* has partitions of its own */
  char nested[96];              /* why it is nested, or "" */
  struct agent_md_member members[AGENT_MD_MAX_MEMBERS];
  int nmembers;
};
DEFINE_VECTOR_TYPE (agent_mds, struct agent_md);
int agent_md_scan (struct agent_mds *v);        /* 0, or -1 (reported) */
/* Assembled and running (not a container, not inactive). */
bool agent_md_active (const struct agent_md *md);
int agent_md_in_sync (const struct agent_md *md);  /* members in sync */
/* "clean, degraded: 1 of 2 members missing" */
void agent_md_state (const struct agent_md *md, char *buf, size_t len);
/* What the array holds, read on fd (its device): "partitioned", a
 * blkid TYPE, or "".
 */
void agent_md_content (const struct agent_md *md, int fd, char *type,
                       size_t len);
/* "raid1, metadata 1.2, 2 members (sda1 in_sync, sdb1 in_sync), clean" */
void agent_md_describe (const struct agent_md *md, char *buf, size_t len);

/* Host facts (probe.c): CPUs, memory, NICs, firmware, DMI, as key/value
 * pairs for the INVENTORY message and for p2v-agent probe.
 */
struct agent_fact {
  char *key, *value;
};
DEFINE_VECTOR_TYPE (agent_facts, struct agent_fact);
int agent_host_facts (struct agent_facts *f);   /* 0, or -1 (reported) */
void agent_facts_free (struct agent_facts *f);
const char *agent_fact_get (const struct agent_facts *f, const char *key);
#define AGENT_MAX_NICS 64
/* Make a string from firmware, sysfs or a disk label valid UTF-8 without
 * control characters (they go into JSON and onto terminals).
 */
void agent_clean_string (char *str);
/* The first line of a small file such as a sysfs attribute, cleaned;
 * -1 and "" if it cannot be read.
 */
int agent_read_attr (char *buf, size_t len, const char *fmt, ...)
  __attribute__ ((format (printf, 3, 4)));
/* nic_name.c: the name the server's own udev gives NIC (systemd's
 * predictable names: enoN, ensN or enpBsS), from the sysfs tree at
 * sysfs ("/sys"); -1 (out "") for a NIC that is not PCI.
 */
int agent_predictable_name (const char *sysfs, const char *nic, char *out,
                            size_t size);
/* The device number in sysfs directory dir ("dir/dev"), or 0. */
dev_t agent_read_dev (const char *dir);
/* The layout plan (flatten.c): the target disks send makes of the
 * sources, with md arrays flattened.
 */
#define AGENT_MAX_PARTS 128
enum { AGENT_FLAT_KEEP, AGENT_FLAT_REPLACE, AGENT_FLAT_REMOVE };
struct agent_flat_part {
  int num;
  bool extended, logical;
  uint64_t start, len;          /* sectors on the source */
  int action;                   /* AGENT_FLAT_* */
  int md;                       /* REPLACE, REMOVE: the array */
  uint64_t new_start, new_len;  /* on the target; the caller sets new_len
                                 * of a REPLACE (the array's size) */
};
/* Place partitions (sorted by start) on the target: partitions after
 * one that grew move right by whole align units; an extended partition
 * grows with its logical ones.  Returns the target's size in sectors.
 */
uint64_t agent_flatten_geometry (struct agent_flat_part *p, size_t n,
                                 uint64_t disk_sectors, uint64_t align);

struct agent_target {
  struct agent_source *src;     /* what is read: a source disk, an array,
                                 * or own */
  struct agent_source own;      /* a flattened disk, composed */
  struct agent_source table;    /* ... whose new table is in memory */
  struct agent_layout layout;
  char desc[256];
};
struct agent_plan_md {
  struct agent_source src;      /* opened if the plan reads the array */
  char content[32];             /* its blkid TYPE */
  int target, part;             /* where it lands; part 0: the whole disk */
};
struct agent_plan {
  struct agent_source disks[P2V_MAX_DISKS];
  int ndisks;
  struct agent_mds mds;
  struct agent_plan_md *md;     /* one per mds entry */
  struct agent_target t[P2V_MAX_DISKS];
  int nt;
  int ndropped;                 /* source disks not sent */
  struct agent_facts facts;     /* the plan, for INVENTORY and the report */
};
/* Open the sources and plan; 0, or -1 (reported). */
int agent_plan_build (const struct agent_options *o, struct agent_plan *pl);
void agent_plan_print (const struct agent_plan *pl);
void agent_plan_free (struct agent_plan *pl);

/* p2v-agent probe [--json] [DISK...] (probe.c). */
int agent_probe (int argc, char *argv[]);
int agent_track (int argc, char *argv[]);

extern struct p2v_progress agent_progress;

#endif
