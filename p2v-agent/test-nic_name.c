/* agent_predictable_name on sysfs trees made here, shaped as a kernel
 * shows them: the NIC's device link into /sys/devices, its attributes
 * there, /sys/bus/pci/slots.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "test.h"

static char root[64];

static void
put (const char *rel, const char *data, size_t len)
{
  char path[512];
  FILE *fp;

  snprintf (path, sizeof path, "%s/%s", root, rel);
  fp = fopen (path, "w");
  CHECK (fp != NULL);
  if (fp) {
    fwrite (data, 1, len, fp);
    fclose (fp);
  }
}

static void
mkdirs (const char *rel)
{
  char path[512];

  snprintf (path, sizeof path, "%s/%s", root, rel);
  for (char *p = path + strlen (root) + 1; (p = strchr (p, '/')) != NULL; ++p) {
    *p = '\0';
    mkdir (path, 0755);
    *p = '/';
  }
  mkdir (path, 0755);
}

/* NIC, whose device is DEV (a PCI address, or another name). */
static void
nic (const char *name, const char *dev)
{
  char rel[256], target[256], link[512];

  snprintf (rel, sizeof rel, "devices/pci0000:00/0000:00:1c.0/%s", dev);
  mkdirs (rel);
  snprintf (rel, sizeof rel, "class/net/%s", name);
  mkdirs (rel);
  snprintf (target, sizeof target,
            "../../../devices/pci0000:00/0000:00:1c.0/%s", dev);
  snprintf (link, sizeof link, "%s/class/net/%s/device", root, name);
  CHECK (symlink (target, link) == 0);
}

static const char *
name_of (const char *n)
{
  static char out[64];

  if (agent_predictable_name (root, n, out, sizeof out) == -1)
    return "(none)";
  return out;
}

int
main (void)
{
  unsigned char config[64] = { 0 };
  char cmd[128];

  snprintf (root, sizeof root, "/tmp/p2v-nic-name.XXXXXX");
  CHECK (mkdtemp (root) != NULL);
  mkdirs ("bus/pci/slots");

  nic ("eth0", "0000:02:00.0");                 /* a root port's bus */
  CHECK (strcmp (name_of ("eth0"), "enp2s0") == 0);
  nic ("eth1", "0000:00:03.1");                 /* function 1 */
  CHECK (strcmp (name_of ("eth1"), "enp0s3f1") == 0);
  nic ("eth2", "0000:05:00.0");                 /* multi-function */
  config[14] = 0x80;
  put ("devices/pci0000:00/0000:00:1c.0/0000:05:00.0/config", (char *) config,
       sizeof config);
  CHECK (strcmp (name_of ("eth2"), "enp5s0f0") == 0);
  nic ("eth3", "0000:00:19.0");                 /* onboard, by ACPI */
  put ("devices/pci0000:00/0000:00:1c.0/0000:00:19.0/acpi_index", "1\n", 2);
  CHECK (strcmp (name_of ("eth3"), "eno1") == 0);
  nic ("eth4", "0000:00:1f.6");                 /* onboard, by SMBIOS */
  put ("devices/pci0000:00/0000:00:1c.0/0000:00:1f.6/index", "2\n", 2);
  CHECK (strcmp (name_of ("eth4"), "eno2") == 0);
  nic ("eth5", "0000:06:00.0");                 /* in hotplug slot 7 */
  mkdirs ("bus/pci/slots/7");
  put ("bus/pci/slots/7/address", "0000:06:00\n", 11);
  mkdirs ("bus/pci/slots/0");                   /* slot 0: no name */
  put ("bus/pci/slots/0/address", "0000:02:00\n", 11);
  CHECK (strcmp (name_of ("eth5"), "ens7") == 0);
  CHECK (strcmp (name_of ("eth0"), "enp2s0") == 0);
  nic ("eth6", "0001:03:00.0");                 /* PCI domain 1 */
  CHECK (strcmp (name_of ("eth6"), "P1enp3s0") == 0);
  nic ("eth7", "0000:02:00.0/virtio0");         /* virtio: on its PCI */
  CHECK (strcmp (name_of ("eth7"), "enp2s0") == 0);
  nic ("usb0", "usb1");                         /* not PCI */
  CHECK (strcmp (name_of ("usb0"), "(none)") == 0);
  CHECK (strcmp (name_of ("nothere"), "(none)") == 0);

  snprintf (cmd, sizeof cmd, "rm -rf %s", root);
  CHECK (system (cmd) == 0);
  return TEST_DONE ();
}
