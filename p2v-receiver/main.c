/* p2v-receiver: the hypervisor side.  Speaks the p2v protocol on
 * stdin/stdout, so it runs as an SSH exec or forced command, or as the
 * agent's child in --local mode.
 */
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "recv.h"
#include "attach.h"
#include "busy.h"
#include "out.h"
#include "verify.h"
#include "chan.h"
#include "log.h"
#include "options.h"
#include <inttypes.h>

enum {
  OPT_FORCE = 256, OPT_OUTPUT_DIR, OPT_TIMEOUT, OPT_VERIFY, OPT_HYPERVISOR,
  OPT_XEN_PV, OPT_CONNECT, OPT_DEFINE, OPT_VCPUS, OPT_MEMORY, OPT_NETWORK,
  OPT_BRIDGE, OPT_VLAN_MAP, OPT_DISK_BUS, OPT_NIC_MODEL, OPT_GRAPHICS, OPT_MAC_PREFIX,
  OPT_FORMAT, OPT_DEVICE, OPT_LVM, OPT_STORAGE, OPT_NO_FIXUP,
  OPT_FIXUP_PROGRAM, OPT_FIXUP_TIMEOUT, OPT_BATCH, OPT_NAME, OPT_BANDWIDTH,
  OPT_BOOT_TIMEOUT, OPT_AGENT_PROGRAM,
};

static const struct p2v_option options[] = {
  { "output-dir", required_argument, OPT_OUTPUT_DIR, "DIR",
    "write conversions under DIR/NAME (default /var/lib/p2v)" },
  { "format", required_argument, OPT_FORMAT, "FORMAT",
    "image format: raw (sparse file, default) or qcow2 (written through "
    "qemu-nbd)" },
  { "storage", required_argument, OPT_STORAGE, "DIR",
    "put the image files in DIR (a libvirt pool, say) as NAME-diskN.EXT; "
    "reports and journals stay in DIR/NAME" },
  { "device", required_argument, OPT_DEVICE, "PATH",
    "write the next disk to this block device (or file) instead of "
    "DIR/NAME; give one per disk" },
  { "lvm", required_argument, OPT_LVM, "VG[/POOL]",
    "write each disk to a new logical volume NAME-diskN in volume group "
    "VG (thin, in POOL, if given)" },
  { "force", no_argument, OPT_FORCE, NULL,
    "replace an existing conversion of the same name (finished, or "
    "unfinished from another source) instead of refusing or resuming" },
  { "verify", no_argument, OPT_VERIFY, NULL,
    "re-read the images against the journal before calling the "
    "conversion complete" },
  { "timeout", required_argument, OPT_TIMEOUT, "SECONDS",
    "give up when the agent sends nothing for SECONDS, keeping what "
    "arrived for a resume (default 120; 0 = never)" },
  { "hypervisor", required_argument, OPT_HYPERVISOR, "TYPE",
    "domain type: kvm (default), qemu (no KVM: TCG) or xen (HVM)" },
  { "xen-pv", no_argument, OPT_XEN_PV, NULL,
    "with --hypervisor xen: a paravirtualised domain booted by pygrub" },
  { "define", no_argument, OPT_DEFINE, NULL,
    "define the domain in libvirt (refused if the name exists)" },
  { "connect", required_argument, OPT_CONNECT, "URI",
    "libvirt URI for --define and the MAC check (default: libvirt's)" },
  { "vcpus", required_argument, OPT_VCPUS, "N",
    "virtual CPUs (default: as many as the source had)" },
  { "memory", required_argument, OPT_MEMORY, "SIZE",
    "memory, e.g. 2G (default: as much as the source had)" },
  { "network", required_argument, OPT_NETWORK, "[NIC=]NAME",
    "connect NICs (or the NIC with that source name or MAC) to libvirt "
    "network NAME (default: 'default')" },
  { "bridge", required_argument, OPT_BRIDGE, "[NIC=]NAME",
    "connect NICs (or that one) to host bridge NAME instead" },
  { "vlan-map", required_argument, OPT_VLAN_MAP, "VID=[network:]NAME,...",
    "make each of the guest's VLANs VID a NIC of its own on host bridge "
    "(or libvirt network) NAME; without it, a guest's VLANs stay tagged "
    "on its NIC (a trunk)" },
  { "disk-bus", required_argument, OPT_DISK_BUS, "BUS",
    "virtio (default), sata, scsi or ide" },
  { "nic-model", required_argument, OPT_NIC_MODEL, "MODEL",
    "virtio (default), e1000 or rtl8139" },
  { "graphics", required_argument, OPT_GRAPHICS, "TYPE",
    "vnc (default) or spice, listening on 127.0.0.1" },
  { "mac-prefix", required_argument, OPT_MAC_PREFIX, "XX:XX:XX[:XX[:XX]]",
    "first 3 to 5 bytes of the new MACs (default 52:54:00; Xen's is "
    "00:16:3e)" },
  { "no-fixup", no_argument, OPT_NO_FIXUP, NULL,
    "do not run p2v-fixup on the images (NIC names, md RAID removal, "
    "boot fixups); the domain then assumes virtio" },
  { "fixup-program", required_argument, OPT_FIXUP_PROGRAM, "PATH",
    "the p2v-fixup to run (default: the one beside p2v-receiver, else "
    "PATH's)" },
  { "fixup-timeout", required_argument, OPT_FIXUP_TIMEOUT, "SECONDS",
    "stop p2v-fixup after SECONDS (default 3600; 0 = never)" },
  { "batch", required_argument, OPT_BATCH, "SPOOL",
    "let the batch coordinator running on SPOOL (p2v-batch run) recognise "
    "the machine, queue it and give its options" },
  { "name", required_argument, OPT_NAME, "NAME",
    "attach: the conversion's and the domain's name" },
  { "bandwidth", required_argument, OPT_BANDWIDTH, "SIZE",
    "attach: copy at most SIZE per second, e.g. 50M (default: as fast as "
    "it goes)" },
  { "boot-timeout", required_argument, OPT_BOOT_TIMEOUT, "SECONDS",
    "attach: how long to watch the serial console for the guest's login "
    "prompt, the end of the downtime (default 900; 0 = do not)" },
  { "agent-program", required_argument, OPT_AGENT_PROGRAM, "PATH",
    "attach: the p2v-agent that inspects the devices (default: the one "
    "beside p2v-receiver, else PATH's)" },
  { "verbose", no_argument, 'v', NULL, "print debugging messages" },
  { "quiet", no_argument, 'q', NULL, "print only errors" },
  { "help", no_argument, 'h', NULL, "show this help and exit" },
  { "version", no_argument, 'V', NULL, "show the version and exit" },
};
#define NOPTS (sizeof options / sizeof options[0])

/* A signal ends the session like a lost link: closing our input makes
 * the next read fail, and the session keeps what arrived for a resume.
 */
static void
on_signal (int sig)
{
  recv_stop_signal = sig;
  close (0);
}

static void
on_attach_signal (int sig)
{
  recv_stop_signal = sig;
}

static int
set_choice (struct recv_domain_opts *d, int c, const char *arg)
{
  static const char *const hv[] = { "kvm", "qemu", "xen", NULL };
  static const char *const bus[] = { "virtio", "sata", "scsi", "ide", NULL };
  static const char *const nic[] = { "virtio", "e1000", "rtl8139", NULL };
  static const char *const gfx[] = { "vnc", "spice", NULL };
  const char *const *list = c == OPT_HYPERVISOR ? hv : c == OPT_DISK_BUS
                            ? bus : c == OPT_NIC_MODEL ? nic : gfx;
  const char **dst = c == OPT_HYPERVISOR ? &d->hypervisor
                     : c == OPT_DISK_BUS ? &d->disk_bus
                     : c == OPT_NIC_MODEL ? &d->nic_model : &d->graphics;

  for (int i = 0; list[i]; ++i)
    if (strcmp (arg, list[i]) == 0) {
      *dst = list[i];
      return 0;
    }
  char want[64] = "";
  for (int i = 0; list[i]; ++i)
    snprintf (want + strlen (want), sizeof want - strlen (want), "%s%s",
              i ? ", " : "", list[i]);
  p2v_error ("--%s %s: expected one of %s", c == OPT_HYPERVISOR
             ? "hypervisor" : c == OPT_DISK_BUS ? "disk-bus"
             : c == OPT_NIC_MODEL ? "nic-model" : "graphics", arg, want);
  return -1;
}

static int
parse_mac_prefix (struct recv_domain_opts *d, const char *arg)
{
  const char *p = arg;
  int n = 0;
  bool dangling = false;        /* a ':' with no byte after it */

  for (;;) {
    char hex[3] = { p[0], p[0] ? p[1] : 0, 0 };
    char *end;
    unsigned long v = strtoul (hex, &end, 16);

    if (n == 5 || !isxdigit ((unsigned char) hex[0]) ||
        !isxdigit ((unsigned char) hex[1]) || *end)
      break;
    d->mac_prefix[n++] = v;
    p += 2;
    if ((dangling = *p == ':') == false)
      break;
    p++;
  }
  if (n < 3 || dangling || *p != '\0' || (d->mac_prefix[0] & 1)) {
    p2v_error ("--mac-prefix %s: expected 3 to 5 hex bytes like 52:54:00, "
               "not a multicast address", arg);
    return -1;
  }
  d->mac_prefix_len = n;
  return 0;
}

/* --network/--bridge [NIC=]NAME */
static int
add_net (struct recv_domain_opts *d, bool bridge, char *arg)
{
  char *eq = strchr (arg, '=');

  if (d->nnets == RECV_MAX_NICS || *arg == '\0' || (eq && eq[1] == '\0') ||
      eq == arg) {
    p2v_error ("--%s '%s': expected NAME or NIC=NAME (at most %d)",
               bridge ? "bridge" : "network", arg, RECV_MAX_NICS);
    return -1;
  }
  if (eq)
    *eq = '\0';
  d->nets[d->nnets++] = (struct recv_net) {
    eq ? arg : NULL, bridge, eq ? eq + 1 : arg
  };
  return 0;
}

/* --vlan-map VID=[network:]NAME[,VID=...] */
static int
add_vlans (struct recv_domain_opts *d, char *arg)
{
  for (char *save = NULL, *m = strtok_r (arg, ",", &save); m;
       m = strtok_r (NULL, ",", &save)) {
    char *eq = strchr (m, '='), *end;
    unsigned long vid = strtoul (m, &end, 10);
    bool net = eq && strncmp (eq + 1, "network:", 8) == 0;
    const char *name = eq ? eq + 1 + (net ? 8 : 0) : NULL;

    if (eq == NULL || end != eq || vid < 1 || vid > 4094 || *name == '\0' ||
        d->nvlans == RECV_MAX_NICS) {
      p2v_error ("--vlan-map '%s': expected VID=BRIDGE or "
                 "VID=network:NAME, VID 1 to 4094 (at most %d)", m,
                 RECV_MAX_NICS);
      return -1;
    }
    for (size_t i = 0; i < d->nvlans; ++i)
      if (d->vlans[i].vid == vid) {
        p2v_error ("--vlan-map: VLAN %lu is mapped twice", vid);
        return -1;
      }
    d->vlans[d->nvlans++] = (struct recv_vlan) { vid, !net, name };
  }
  return 0;
}

static void
usage (FILE *fp)
{
  fprintf (fp,
           "Usage: p2v-receiver [OPTION]...\n"
           "       p2v-receiver verify DIR/NAME\n"
           "       p2v-receiver [OPTION]... attach --name NAME DEVICE...\n"
           "Receive a conversion from p2v-agent on standard input/output and\n"
           "write verified images (DIR/NAME/diskN.raw or .qcow2, or devices)\n"
           "and a libvirt domain, DIR/NAME/domain.xml.  An unfinished\n"
           "conversion of the same source is resumed.\n"
           "'verify' re-reads a conversion's images and checks them against\n"
           "its journal (exit 0 verified, 1 differences, 2 could not check).\n"
           "'attach' boots a server's disks attached to this host as the VM\n"
           "at once (on overlays, after the guest fixups), then copies them\n"
           "into its images while it runs and pivots (a libvirt block copy).\n"
           "Normally started by the agent over SSH (or by a forced command\n"
           "in authorized_keys), not by hand.\n\nOptions:\n");
  p2v_options_help (fp, options, NOPTS);
  fprintf (fp, "\nSee p2v-receiver(1).\n");
}

static int timeout = 120;
static struct recv_attach_opts attach_opts = { .boot_timeout = 900 };

/* Options into o: 0, 1 to exit successfully (--help), -1 (reported). */
static int
parse (struct recv_options *o, int argc, char *argv[])
{
  struct option longopts[NOPTS + 1];
  char shortopts[2 * NOPTS + 1];
  long long v;
  char *end;
  int c;

  p2v_options_getopt (options, NOPTS, longopts, shortopts);
  optind = 0;                   /* again for --batch's options */
  while ((c = getopt_long (argc, argv, shortopts, longopts, NULL)) != -1) {
    switch (c) {
    case OPT_OUTPUT_DIR: o->output_dir = optarg; break;
    case OPT_FORCE: o->force = true; break;
    case OPT_VERIFY: o->verify = true; break;
    case OPT_BATCH: o->batch = optarg; break;
    case OPT_HYPERVISOR:
    case OPT_DISK_BUS:
    case OPT_NIC_MODEL:
    case OPT_GRAPHICS:
      if (set_choice (&o->domain, c, optarg) == -1)
        return -1;
      break;
    case OPT_XEN_PV: o->domain.xen_pv = true; break;
    case OPT_DEVICE:
      if (o->ndevices == P2V_MAX_DISKS || *optarg != '/') {
        p2v_error ("--device %s: expected an absolute path (at most %d)",
                   optarg, P2V_MAX_DISKS);
        return -1;
      }
      o->devices[o->ndevices++] = optarg;
      o->format = recv_output_devices ();
      break;
    case OPT_STORAGE: o->storage = optarg; break;
    case OPT_NO_FIXUP: o->fixup.skip = true; break;
    case OPT_FIXUP_PROGRAM: o->fixup.program = optarg; break;
    case OPT_FIXUP_TIMEOUT:
      if (p2v_parse_int ("--fixup-timeout", optarg, 0, 7 * 86400, &v) == -1)
        return -1;
      o->fixup.timeout = v;
      break;
    case OPT_LVM:
      if (*optarg == '\0' || *optarg == '/' || strchr (optarg, ' ')) {
        p2v_error ("--lvm %s: expected VG or VG/THINPOOL", optarg);
        return -1;
      }
      o->lvm = optarg;
      o->format = recv_output_devices ();
      break;
    case OPT_FORMAT:
      if (recv_output_find (optarg) == NULL) {
        p2v_error ("--format %s: expected raw or qcow2", optarg);
        return -1;
      }
      o->format = recv_output_find (optarg);
      break;
    case OPT_MAC_PREFIX:
      if (parse_mac_prefix (&o->domain, optarg) == -1)
        return -1;
      break;
    case OPT_DEFINE: o->domain.define = true; break;
    case OPT_CONNECT: o->domain.uri = optarg; break;
    case OPT_VCPUS:
      if (p2v_parse_int ("--vcpus", optarg, 1, 4096, &v) == -1)
        return -1;
      o->domain.vcpus = v;
      break;
    case OPT_MEMORY:
      if (p2v_parse_size ("--memory", optarg, 128 << 20, INT64_C (1) << 50,
                          &v) == -1)
        return -1;
      o->domain.memory = v;
      break;
    case OPT_VLAN_MAP:
      if (add_vlans (&o->domain, optarg) == -1)
        return -1;
      break;
    case OPT_NETWORK:
    case OPT_BRIDGE:
      if (add_net (&o->domain, c == OPT_BRIDGE, optarg) == -1)
        return -1;
      break;
    case OPT_TIMEOUT:
      errno = 0;
      timeout = strtol (optarg, &end, 10);
      if (errno || *end || end == optarg || timeout < 0 ||
          timeout > 86400) {
        p2v_error ("--timeout %s: expected 0 to 86400 seconds", optarg);
        return -1;
      }
      break;
    case OPT_NAME:
      if (!p2v_name_valid (optarg)) {
        p2v_error ("--name '%s': expected 1 to %d letters, digits, '.', "
                   "'_' or '-', not starting with '.' or '-'", optarg,
                   P2V_MAX_NAME);
        return -1;
      }
      attach_opts.name = optarg;
      break;
    case OPT_BANDWIDTH:
      if (p2v_parse_size ("--bandwidth", optarg, 1 << 20, INT64_C (1) << 40,
                          &v) == -1)
        return -1;
      attach_opts.bandwidth = v;
      break;
    case OPT_BOOT_TIMEOUT:
      if (p2v_parse_int ("--boot-timeout", optarg, 0, 86400, &v) == -1)
        return -1;
      attach_opts.boot_timeout = v;
      break;
    case OPT_AGENT_PROGRAM: attach_opts.agent = optarg; break;
    case 'v': p2v_verbose++; break;
    case 'q': p2v_verbose = -1; break;
    case 'h': usage (stdout); return 1;
    case 'V': printf ("p2v-receiver %s\n", P2V_VERSION); return 1;
    default: usage (stderr); return -1;
    }
  }
  return 0;
}

/* Options that exclude each other. */
static int
check (const struct recv_options *o)
{
  bool devices = recv_output_chosen (o)->devices;

  if ((o->lvm || o->ndevices) && !devices) {
    p2v_error ("--format qcow2 writes files; --device and --lvm take raw "
               "data");
    return -1;
  }
  if (o->storage && devices) {
    p2v_error ("--storage holds image files; --device and --lvm write to "
               "devices");
    return -1;
  }
  if (o->lvm && o->ndevices) {
    p2v_error ("--lvm and --device exclude each other");
    return -1;
  }
  if (o->domain.xen_pv && strcmp (o->domain.hypervisor, "xen") != 0) {
    p2v_error ("--xen-pv needs --hypervisor xen");
    return -1;
  }
  if (*o->output_dir == '\0') {
    p2v_error ("--output-dir must not be empty");
    return -1;
  }
  if (o->batch && (o->force || o->ndevices)) {
    p2v_error ("--batch takes each server's options from the coordinator's "
               "manifest; %s would apply to every server", o->force
               ? "--force" : "--device");
    return -1;
  }
  return 0;
}

/* --batch: the manifest's options for the server, over ours. */
static int
apply (struct recv_options *o, int argc, char **argv)
{
  const char *batch = o->batch;
  int r = parse (o, argc, argv);

  if (r != 0 || optind != argc || o->batch != batch || o->force) {
    p2v_error ("unexpected receiver options from the batch coordinator");
    return -1;
  }
  return check (o);
}

/* p2v-receiver attach: its options checked, then run. */
static int
attach (struct recv_options *o, int n, char **devices)
{
  const char *wrong = o->force ? "--force" : o->verify ? "--verify"
                      : o->batch ? "--batch" : o->domain.xen_pv ? "--xen-pv"
                      : NULL;

  if (attach_opts.name == NULL || n < 1 || n > P2V_MAX_DISKS) {
    p2v_error ("usage: p2v-receiver [OPTION]... attach --name NAME "
               "DEVICE... (1 to %d devices)", P2V_MAX_DISKS);
    return EXIT_FAILURE;
  }
  if (wrong) {
    p2v_error ("%s does not apply to attach (an attach never replaces one "
               "or reads its images back; it is one server's, run by hand)",
               wrong);
    return EXIT_FAILURE;
  }
  if (check (o) == -1)
    return EXIT_FAILURE;
  o->domain.define = true;
  signal (SIGPIPE, SIG_IGN);    /* a libvirtd gone: an error, not death */
  struct sigaction sa = { .sa_handler = on_attach_signal };
  sigaction (SIGTERM, &sa, NULL);
  sigaction (SIGHUP, &sa, NULL);
  sigaction (SIGINT, &sa, NULL);
  return recv_attach (o, &attach_opts, devices, n) == 0 ? EXIT_SUCCESS
    : EXIT_FAILURE;
}

int
main (int argc, char *argv[])
{
  struct recv_options opts = {
    .output_dir = "/var/lib/p2v",
    .domain = { .hypervisor = "kvm", .mac_prefix = { 0x52, 0x54, 0x00 },
                .mac_prefix_len = 3 },
    .fixup = { .timeout = 3600 },
    .apply = apply,
  };
  struct p2v_fd_pair fds = { 0, 1 };
  struct p2v_chan ch;
  int r;

  p2v_program = "p2v-receiver";
  r = parse (&opts, argc, argv);
  if (r != 0)
    return r == 1 ? EXIT_SUCCESS : EXIT_FAILURE;
  if (optind < argc && strcmp (argv[optind], "verify") == 0) {
    if (argc - optind != 2) {
      p2v_error ("usage: p2v-receiver verify DIR/NAME");
      return 2;
    }
    return recv_verify_command (argv[optind + 1]);
  }
  if (optind < argc && strcmp (argv[optind], "attach") == 0)
    return attach (&opts, argc - optind - 1, argv + optind + 1);
  if (optind != argc) {
    p2v_error ("unexpected argument '%s' (try --help)", argv[optind]);
    return EXIT_FAILURE;
  }
  if (check (&opts) == -1)
    return EXIT_FAILURE;
  signal (SIGPIPE, SIG_IGN);
  struct sigaction sa = { .sa_handler = on_signal };
  sigaction (SIGTERM, &sa, NULL);
  sigaction (SIGHUP, &sa, NULL);
  sigaction (SIGINT, &sa, NULL);
  p2v_chan_init (&ch, &p2v_fd_ops, &fds, "agent",
                 timeout ? timeout * 1000 : -1);
  r = recv_session (&opts, &ch);
  p2v_chan_free (&ch);
  return r == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
