/* Cleanup attributes: release resources when a variable leaves scope. */
#ifndef P2V_CLEANUP_H
#define P2V_CLEANUP_H

#include <stdlib.h>
#include <unistd.h>

static inline void
p2v_cleanup_free (void *ptr)
{
  free (*(void **) ptr);
}

static inline void
p2v_cleanup_close (int *fd)
{
  if (*fd >= 0)
    close (*fd);
}

#define CLEANUP_FREE __attribute__ ((cleanup (p2v_cleanup_free)))
#define CLEANUP_CLOSE __attribute__ ((cleanup (p2v_cleanup_close)))

#endif
