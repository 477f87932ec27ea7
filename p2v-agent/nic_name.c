/* The name the server's own udev gives a NIC.  The live image has no
 * udev: its kernel calls the NIC eth0, while the installed system,
 * with systemd's predictable names, calls it eno1, ens3 or enp2s0 from
 * where it sits.  The guest fixups need that name when the guest's
 * configuration binds the NIC by its MAC alone (it would change on the
 * virtual bus) or names several NICs.  This follows systemd-udevd's
 * net_id for PCI NICs with the default policy (onboard, then slot,
 * then path), read from sysfs: the firmware's onboard index
 * (acpi_index, else the SMBIOS index) gives enoN; a PCI hotplug slot
 * whose address is the device's gives ensN; else its bus position
 * gives enpBsS.  A function suffix (fN) is added for a function other
 * than 0 or a multi-function device, and a domain prefix (PD) for a
 * domain other than 0, as udev does.  A virtio NIC's device is virtioN,
 * on its PCI device.
 */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"

struct pci_addr {
  unsigned domain, bus, slot, func;
};

/* The NIC's PCI device: its directory in dev (the device link's target,
 * or its parent for a virtio NIC, whose device is virtioN on the PCI
 * one) and its address; -1 if it is not on PCI.
 */
static int
pci_of (const char *sysfs, const char *nic, char dev[PATH_MAX],
        struct pci_addr *a)
{
  char path[PATH_MAX], rest;

  snprintf (path, sizeof path, "%s/class/net/%s/device", sysfs, nic);
  if (realpath (path, dev) == NULL)
    return -1;
  for (int up = 0; up < 2; ++up) {
    char *base = strrchr (dev, '/');

    if (base == NULL)
      return -1;
    if (sscanf (base + 1, "%x:%x:%x.%x%c", &a->domain, &a->bus, &a->slot,
                &a->func, &rest) == 4)
      return 0;
    if (strncmp (base + 1, "virtio", 6) != 0)
      return -1;                /* USB and the like: not named here */
    *base = '\0';              /* virtio0 -> its PCI device */
  }
  return -1;
}

/* A decimal attribute of the PCI device, or 0. */
static unsigned long
device_number (const char *dev, const char *attr)
{
  char buf[32];

  if (agent_read_attr (buf, sizeof buf, "%s/%s", dev, attr) == -1)
    return 0;
  return strtoul (buf, NULL, 10);
}

/* Header type bit 7 in the device's configuration space. */
static bool
multifunction (const char *dev)
{
  char path[PATH_MAX];
  unsigned char config[16];
  FILE *fp;
  bool multi = false;

  if (snprintf (path, sizeof path, "%s/config", dev) >= (int) sizeof path ||
      (fp = fopen (path, "re")) == NULL)
    return false;
  if (fread (config, 1, sizeof config, fp) == sizeof config)
    multi = config[14] & 0x80;
  fclose (fp);
  return multi;
}

/* The hotplug slot (a directory of /sys/bus/pci/slots named by a number
 * above 0) whose address is the device's; 0 if none.
 */
static unsigned long
hotplug_slot (const char *sysfs, const struct pci_addr *a)
{
  char path[PATH_MAX], want[32], addr[32];
  DIR *dir;
  struct dirent *d;
  unsigned long found = 0;

  snprintf (path, sizeof path, "%s/bus/pci/slots", sysfs);
  snprintf (want, sizeof want, "%04x:%02x:%02x", a->domain, a->bus, a->slot);
  if ((dir = opendir (path)) == NULL)
    return 0;
  while (found == 0 && (d = readdir (dir)) != NULL) {
    char *end;
    unsigned long n = strtoul (d->d_name, &end, 10);

    if (n > 0 && *end == '\0' &&
        agent_read_attr (addr, sizeof addr, "%s/%s/address", path,
                         d->d_name) == 0 && strcmp (addr, want) == 0)
      found = n;
  }
  closedir (dir);
  return found;
}

int
agent_predictable_name (const char *sysfs, const char *nic, char *out,
                        size_t size)
{
  struct pci_addr a;
  unsigned long index, slot;
  char dev[PATH_MAX], dom[16] = "", fn[16] = "";

  *out = '\0';
  if (pci_of (sysfs, nic, dev, &a) == -1)
    return -1;
  if (a.func > 0 || multifunction (dev))
    snprintf (fn, sizeof fn, "f%u", a.func);
  if ((index = device_number (dev, "acpi_index")) > 0 ||
      (index = device_number (dev, "index")) > 0)
    snprintf (out, size, "eno%lu", index);
  else {
    if (a.domain > 0)
      snprintf (dom, sizeof dom, "P%u", a.domain);
    if ((slot = hotplug_slot (sysfs, &a)) > 0)
      snprintf (out, size, "%sens%lu%s", dom, slot, fn);
    else
      snprintf (out, size, "%senp%us%u%s", dom, a.bus, a.slot, fn);
  }
  return 0;
}
