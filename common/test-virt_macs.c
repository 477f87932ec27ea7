/* p2v_virt_macs against libvirt's test driver: every MAC of every
 * domain, each with its domain's name.
 */
#include <stdlib.h>
#include <string.h>

#include <libvirt/virterror.h>

#include "virt_macs.h"
#include "test.h"

struct seen {
  char domain[8][32], mac[8][18];
  int n;
};

static void
see (void *opaque, const char *domain, const char *mac)
{
  struct seen *s = opaque;

  if (s->n < 8) {
    snprintf (s->domain[s->n], sizeof s->domain[0], "%s", domain);
    snprintf (s->mac[s->n], sizeof s->mac[0], "%s", mac);
  }
  s->n++;
}

static void
quiet (void *opaque, virErrorPtr e)
{
  (void) opaque; (void) e;
}

int
main (void)
{
  static const char two_nics[] =
    "<domain type='test'><name>two</name><memory>1024</memory>"
    "<os><type>hvm</type></os><devices>"
    "<interface type='network'><mac address='52:54:00:AB:CD:01'/>"
    "<source network='default'/></interface>"
    "<interface type='network'><mac address='52:54:00:ab:cd:02'/>"
    "<source network='default'/></interface>"
    "</devices></domain>";
  virConnectPtr conn;
  virDomainPtr d;
  struct seen s = { 0 };

  virSetErrorFunc (NULL, quiet);
  conn = virConnectOpen ("test:///default");
  CHECK (conn != NULL);
  if (conn == NULL)
    return TEST_DONE ();
  /* The default test driver: one domain, "test", with one NIC. */
  CHECK (p2v_virt_macs (conn, see, &s) == 0);
  CHECK (s.n == 1);
  CHECK (strcmp (s.domain[0], "test") == 0);
  CHECK (strcmp (s.mac[0], "aa:bb:cc:dd:ee:ff") == 0);

  d = virDomainDefineXML (conn, two_nics);
  CHECK (d != NULL);
  if (d)
    virDomainFree (d);
  memset (&s, 0, sizeof s);
  CHECK (p2v_virt_macs (conn, see, &s) == 0);
  CHECK (s.n == 3);
  for (int i = 0; i < s.n && i < 8; ++i) {
    CHECK (strlen (s.mac[i]) == 17);
    if (strcmp (s.domain[i], "two") == 0)
      CHECK (strncasecmp (s.mac[i], "52:54:00:ab:cd:0", 16) == 0);
    else
      CHECK (strcmp (s.domain[i], "test") == 0);
  }
  virConnectClose (conn);
  return TEST_DONE ();
}
