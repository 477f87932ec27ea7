/* The MACs libvirt's domains use (virt_macs.c): the receiver's new MACs
 * must avoid them, and p2v-batch preflight looks for clashes among
 * them.  It needs libvirt, so it is not in libp2vcommon.a: only the
 * programs that link libvirt anyway (p2v-receiver, p2v-batch) link it.
 */
#ifndef P2V_VIRT_MACS_H
#define P2V_VIRT_MACS_H

#include <libvirt/libvirt.h>

/* Call each (opaque, DOMAIN, MAC) for every <mac address='...'/> of
 * every domain conn knows (its inactive XML), MAC being the (at most
 * 17) characters after the quote.  0, or -1 if libvirt could not list
 * its domains (see libvirt's last error).
 */
int p2v_virt_macs (virConnectPtr conn,
                   void (*each) (void *opaque, const char *domain,
                                 const char *mac),
                   void *opaque);

#endif
