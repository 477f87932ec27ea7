/* Unit tests for the manifest: parsing, checks, matching, receiver
 * arguments.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch.h"
#include "log.h"
#include "test.h"

static char path[] = "/tmp/p2v-test-manifest-XXXXXX";

static int
load (const char *text, struct batch_manifest *m)
{
  FILE *fp = fopen (path, "w");

  fputs (text, fp);
  fclose (fp);
  return batch_manifest_load (path, m);
}

static const char good[] =
  "# the server room\n"
  "[defaults]\n"
  "output-dir = /srv/p2v\n"
  "bandwidth = 800Mbit   # the uplink\n"
  "agent-bandwidth = 20M\n"
  "format = qcow2\n"
  "define = yes\n"
  "bridge = br0\n"
  "\n"
  "[storage fast]\n"
  "path = /srv/images\n"
  "max-writers = 2\n"
  "[storage vg]\n"
  "lvm = vg0/thin\n"
  "\n"
  "[server web1]\n"
  "match = serial:CZ1234 mac:00:1A:2B:3C:4D:5E\n"
  "storage = fast\n"
  "vcpus = 2\n"
  "memory = 4G\n"
  "priority = 5\n"
  "[server db1]\n"
  "match = hostname:db1.example.org, name:p2v-db1\n"
  "match = mac:00:1a:2b:3c:4d:ff\n"
  "storage = vg\n"
  "format = raw\n"
  "network = eth1=backend\n"
  "agent-bandwidth = 5M\n"
  "fixup = no\n"
  "disks = sda, /dev/sdb WD-123\n";

static char *
args_of (const struct batch_manifest *m, int server)
{
  char *buf = NULL;
  size_t len = 0;
  FILE *fp = open_memstream (&buf, &len);

  batch_server_args (m, server, fp);
  fclose (fp);
  return buf;
}

int
main (void)
{
  struct batch_manifest m;
  struct batch_identity id = { 0 };
  char why[1024], *a;
  int fd = mkstemp (path);

  close (fd);
  p2v_program = "test-manifest";

  CHECK (load (good, &m) == 0);
  CHECK (m.servers.len == 2 && m.storages.len == 2);
  CHECK (strcmp (m.output_dir, "/srv/p2v") == 0);
  CHECK (m.bandwidth == 100000000);
  CHECK (m.servers.ptr[0].storage == 0 && m.servers.ptr[1].storage == 1);
  CHECK (m.storages.ptr[0].max_writers == 2 &&
         m.storages.ptr[1].max_writers == 1);
  CHECK (m.servers.ptr[0].set.priority == 5 &&
         m.servers.ptr[1].set.priority == 0);
  CHECK (batch_server_rate (&m, 0) == 20 << 20);
  CHECK (batch_server_rate (&m, 1) == 5 << 20);
  CHECK (strcmp (m.servers.ptr[0].match.ptr[1], "mac:00:1a:2b:3c:4d:5e") == 0);
  CHECK (m.servers.ptr[1].match.len == 3);

  a = args_of (&m, 0);
  CHECK (strcmp (a, " arg=--output-dir arg=/srv/p2v arg=--storage "
                 "arg=/srv/images arg=--format arg=qcow2 arg=--define "
                 "arg=--vcpus arg=2 arg=--memory arg=4294967296 "
                 "arg=--bridge arg=br0") == 0);
  free (a);
  a = args_of (&m, 1);          /* LVM: no --format; its own network */
  CHECK (strcmp (a, " arg=--output-dir arg=/srv/p2v arg=--lvm "
                 "arg=vg0/thin arg=--define arg=--no-fixup "
                 "arg=--network arg=eth1%3Dbackend disk=sda "
                 "disk=/dev/sdb disk=WD-123") == 0);
  free (a);

  /* Matching: serial, MAC in any case, name, hostname; none; several. */
  id.serial = "CZ1234";
  CHECK (batch_match (&m, &id, why, sizeof why) == 0);
  id.serial = "To Be Filled By O.E.M.";
  id.macs[0] = "00:1A:2B:3C:4D:FF";
  id.nmacs = 1;
  CHECK (batch_match (&m, &id, why, sizeof why) == 1);
  id.nmacs = 0;
  id.hostname = "DB1.example.org";
  CHECK (batch_match (&m, &id, why, sizeof why) == 1);
  id.hostname = NULL;
  id.agent_name = "p2v-db1";
  CHECK (batch_match (&m, &id, why, sizeof why) == 1);
  id.agent_name = "p2v-stranger";
  id.macs[0] = "00:00:00:00:00:01";
  id.nmacs = 1;
  CHECK (batch_match (&m, &id, why, sizeof why) == -1);
  CHECK (strstr (why, "no server") && strstr (why, "p2v-stranger") &&
         strstr (why, "00:00:00:00:00:01") && strstr (why, "To Be Filled"));
  id.serial = "CZ1234";
  id.macs[0] = "00:1a:2b:3c:4d:ff";
  CHECK (batch_match (&m, &id, why, sizeof why) == -2);
  CHECK (strstr (why, "web1") && strstr (why, "db1"));
  batch_manifest_free (&m);

  /* No storage sections: one implicit storage, one writer. */
  CHECK (load ("[server a]\nmatch = name:a\n", &m) == 0);
  CHECK (m.storages.len == 1 && m.storages.ptr[0].max_writers == 1 &&
         m.servers.ptr[0].storage == 0 &&
         !strcmp (m.output_dir, "/var/lib/p2v"));
  a = args_of (&m, 0);
  CHECK (strcmp (a, " arg=--output-dir arg=/var/lib/p2v") == 0);
  free (a);
  batch_manifest_free (&m);

  /* Mistakes, each refused. */
  static const char *const wrong[] = {
    "",                                         /* no servers */
    "[server a]\n",                             /* no match */
    "[server a]\nmatch = name:a\nmatch = name:a\n[server b]\nmatch = name:a\n",
    "[server a]\nmatch = name:a\n[server a]\nmatch = name:b\n",
    "[server a]\nmatch = mac:00:11\n",
    "[server a]\nmatch = uuid:1\n",
    "[server a]\nmatch = name:a\nstorage = nowhere\n",
    "[storage x]\npath = /x\n[storage y]\npath = /y\n"
      "[server a]\nmatch = name:a\n",            /* which storage? */
    "[storage x]\nlvm = vg\n[server a]\nmatch = name:a\nformat = qcow2\n",
    "[storage x]\npath = relative\n[server a]\nmatch = name:a\n",
    "[server a]\nmatch = name:a\nformat = vmdk\n",
    "[server a]\nmatch = name:a\nvcpus = 0\n",
    "[server a]\nmatch = name:a\nagent-bandwidth = 1K\n",
    "[server a]\nmatch = name:a\ncolour = blue\n",
    "[server bad/name]\nmatch = name:a\n",
    "[defaults]\nmatch = name:a\n[server a]\nmatch = name:a\n",
    "format = raw\n[server a]\nmatch = name:a\n",
    "[server a\nmatch = name:a\n",
    "[server a]\nmatch = name:a\nnonsense\n",
    "[server a]\nmatch = name:a\ndisks = ,\n",
    "[rack 1]\n",
  };
  for (size_t i = 0; i < sizeof wrong / sizeof *wrong; ++i) {
    int r = load (wrong[i], &m);

    if (r != -1)
      fprintf (stderr, "accepted: %s\n", wrong[i]);
    CHECK (r == -1);
    if (r == 0)
      batch_manifest_free (&m);
  }
  CHECK (batch_manifest_load ("/nonexistent/manifest", &m) == -1);
  unlink (path);
  return TEST_DONE ();
}
