/* Long work in the receiver: what it is doing, and whether it is to
 * stop.
 */
#ifndef P2V_BUSY_H
#define P2V_BUSY_H

#include <signal.h>

/* Long work during publishing tells what it is doing, several times a
 * second: "verifying the images (1.2 GiB checked)".  The receiver
 * passes it on to the agent, as often as the agent asked (KEEPALIVE).
 */
typedef void recv_busy_fn (void *opaque, const char *what);

extern volatile sig_atomic_t recv_stop_signal;  /* set by main's handler */

#endif
