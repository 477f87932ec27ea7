/* Publishing a conversion (publish.c). */
#ifndef P2V_PUBLISH_H
#define P2V_PUBLISH_H

struct session;

/* At DONE: verify the images (--verify), give them their final names,
 * make the domain (the guest fixups, domain.xml), write report.json and
 * status, and send the summary.  0, or -1 (reported, with the code for
 * the agent).
 */
int recv_publish (struct session *s);

#endif
