/* attach's parsing: the agent's extent lines (ascending, inside the
 * disk, nothing else) and the domain XML's disks (which target a
 * source path has).
 */
#include <stdint.h>
#include <string.h>

#include "attach.h"
#include "test.h"

static const char xml[] =
  "<domain type='qemu'>\n  <devices>\n"
  "    <disk type='file' device='disk'>\n"
  "      <driver name='qemu' type='qcow2'/>\n"
  "      <source file='/srv/p2v/web1/overlay0.qcow2' index='2'/>\n"
  "      <backingStore type='block' index='3'>\n"
  "        <source dev='/dev/sdc'/>\n      </backingStore>\n"
  "      <target dev='vda' bus='virtio'/>\n    </disk>\n"
  "    <disk type='block' device='disk'>\n"
  "      <driver name='qemu' type='raw'/>\n"
  "      <source dev='/dev/vg/web1-disk1' index='1'/>\n"
  "      <target dev='vdb' bus='virtio'/>\n    </disk>\n"
  "    <disk type='file' device='cdrom'>\n"
  "      <target dev='hdc' bus='ide'/>\n    </disk>\n"
  "  </devices>\n</domain>\n";

int
main (void)
{
  uint64_t off, len;
  char dev[32];

  CHECK (attach_extent_line ("# /dev/sdc: 100 bytes\n", 100, 0, &off, &len)
         == 1);
  CHECK (attach_extent_line ("0 10\n", 100, 0, &off, &len) == 0 &&
         off == 0 && len == 10);
  CHECK (attach_extent_line ("90 10\n", 100, 10, &off, &len) == 0 &&
         off == 90 && len == 10);
  CHECK (attach_extent_line ("90 11\n", 100, 10, &off, &len) == -1);
  CHECK (attach_extent_line ("5 10\n", 100, 10, &off, &len) == -1);
  CHECK (attach_extent_line ("20 0\n", 100, 10, &off, &len) == -1);
  CHECK (attach_extent_line ("20 5 hole\n", 100, 10, &off, &len) == -1);
  CHECK (attach_extent_line ("-5 5\n", 100, 0, &off, &len) == -1);
  CHECK (attach_extent_line ("18446744073709551615 2\n", UINT64_MAX, 0,
                             &off, &len) == -1);
  CHECK (attach_extent_line ("\n", 100, 0, &off, &len) == -1);

  CHECK (attach_disk_of (xml, "/srv/p2v/web1/overlay0.qcow2", dev,
                         sizeof dev) && strcmp (dev, "vda") == 0);
  CHECK (attach_disk_of (xml, "/dev/vg/web1-disk1", dev, sizeof dev) &&
         strcmp (dev, "vdb") == 0);
  /* A backing file is not the disk's source; nor is a prefix. */
  CHECK (!attach_disk_of (xml, "/dev/sdc", dev, sizeof dev));
  CHECK (!attach_disk_of (xml, "/srv/p2v/web1/overlay0", dev, sizeof dev));
  CHECK (!attach_disk_of ("<domain><devices><disk type='file'>",
                          "/x", dev, sizeof dev));
  return TEST_DONE ();
}
