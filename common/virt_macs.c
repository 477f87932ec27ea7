/* Every MAC of every libvirt domain, read one way for the receiver and
 * p2v-batch preflight alike.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "virt_macs.h"

int
p2v_virt_macs (virConnectPtr conn,
               void (*each) (void *opaque, const char *domain,
                             const char *mac),
               void *opaque)
{
  virDomainPtr *doms = NULL;
  int n = virConnectListAllDomains (conn, &doms, 0);

  for (int i = 0; i < n; ++i) {
    char *xml = virDomainGetXMLDesc (doms[i], VIR_DOMAIN_XML_INACTIVE);

    for (const char *s = xml; s && (s = strstr (s, "<mac address=")); ) {
      char mac[18];

      s += strlen ("<mac address=");
      if (*s != '\'' && *s != '"')
        continue;               /* not an attribute value */
      snprintf (mac, sizeof mac, "%.17s", ++s);
      each (opaque, virDomainGetName (doms[i]), mac);
    }
    free (xml);
    virDomainFree (doms[i]);
  }
  free (doms);
  return n < 0 ? -1 : 0;
}
