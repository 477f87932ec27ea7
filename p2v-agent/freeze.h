/* Freezing the source's filesystems for hot clone's final pass. */
#ifndef P2V_FREEZE_H
#define P2V_FREEZE_H

#include <stdbool.h>
#include <sys/types.h>

struct agent_source;

#define AGENT_FREEZE_MAX 64

struct agent_frozen {
  char target[512];             /* a mount point of the filesystem */
  dev_t dev;                    /* its superblock's device */
  int fd;                       /* the mount point, open */
  bool frozen;
};

struct agent_freeze {
  struct agent_frozen fs[AGENT_FREEZE_MAX];     /* deepest first */
  size_t n;
  pid_t watchdog;
  int pipe_w;                   /* to the watchdog: "T" once thawed */
};

/* The read-write filesystems on the sources, one per superblock,
 * deepest mount point first, their mount points opened.  0, or -1
 * (reported).
 */
int agent_freeze_find (struct agent_freeze *z,
                       struct agent_source *const *src, int n);
/* -1 (reported, naming what) if fd is a file on one of them. */
int agent_freeze_check_fd (const struct agent_freeze *z, int fd,
                           const char *what);
/* Start the watchdog (it thaws after max_seconds, or if the agent
 * dies), sync, freeze them all.  On failure, thaws what it froze.
 */
int agent_freeze_begin (struct agent_freeze *z, int max_seconds);
/* Thaw them all and stop the watchdog; -1 if the watchdog had to. */
int agent_freeze_end (struct agent_freeze *z);
void agent_freeze_close (struct agent_freeze *z);

#endif
