/* p2v-fixup: make a converted Linux guest boot as the virtual machine,
 * with its old NIC names and addresses on the new MACs and no md RAID.
 * Run by p2v-receiver once the images are written, or by hand.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <guestfs.h>

#include "fixup.h"
#include "cleanup.h"
#include "json.h"
#include "log.h"
#include "options.h"

enum {
  OPT_FORMAT = 256, OPT_MAC, OPT_NEW_MACS, OPT_MD, OPT_FIRMWARE, OPT_REPORT,
  OPT_HINTS, OPT_NO_SERIAL, OPT_LAUNCH_TIMEOUT, OPT_VLAN,
};

static const struct p2v_option options[] = {
  { "dry-run", no_argument, 'n', NULL,
    "print every change as a diff (and the commands it would run); change "
    "nothing" },
  { "format", required_argument, OPT_FORMAT, "FORMAT",
    "the images' format: raw (default) or qcow2" },
  { "mac", required_argument, OPT_MAC, "OLD=NEW[,NAME[,PREDICTABLE]]",
    "the NIC that had MAC OLD (called NAME by the agent, PREDICTABLE by "
    "the server's own udev) now has NEW; give one per NIC" },
  { "new-macs", required_argument, OPT_NEW_MACS, "MAC[,MAC]...",
    "the source machine's NICs are not known (its disks were attached to "
    "the hypervisor): take them from the guest's network configuration, "
    "and give them these MACs in order (instead of --mac)" },
  { "vlan", required_argument, OPT_VLAN, "VID=MAC",
    "the guest's VLAN VID becomes a NIC of its own on MAC: its interface a "
    "plain NIC with the VLAN's addresses, the files naming it renamed, a "
    "bond left with nothing to carry removed; one per VLAN (without any, "
    "VLANs stay tagged on their NIC)" },
  { "md", required_argument, OPT_MD, "DEV,UUID,DISK,PART[,NAME]",
    "md array DEV (UUID, NAME) was flattened into partition PART (0: the "
    "whole disk) of disk DISK (0 is the first image); one per array" },
  { "firmware", required_argument, OPT_FIRMWARE, "bios|uefi",
    "the machine's firmware (default: from the guest: UEFI if an EFI "
    "system partition holds a boot loader, unless GRUB is installed for "
    "BIOS alone)" },
  { "no-serial", no_argument, OPT_NO_SERIAL, NULL,
    "do not add a serial console to the kernel command line" },
  { "launch-timeout", required_argument, OPT_LAUNCH_TIMEOUT, "SECONDS",
    "stop the libguestfs appliance when it has not started within SECONDS "
    "and start it once more; then give up (default 300; 0: wait for ever)" },
  { "report", required_argument, OPT_REPORT, "FILE",
    "write what was found and changed to FILE as JSON" },
  { "hints", required_argument, OPT_HINTS, "FILE",
    "write hints for the domain XML to FILE: virtio, firmware, the guest's "
    "host name and, with --new-macs, its NICs" },
  { "verbose", no_argument, 'v', NULL,
    "print debugging messages and the guest commands' output" },
  { "quiet", no_argument, 'q', NULL, "print only errors" },
  { "help", no_argument, 'h', NULL, "show this help and exit" },
  { "version", no_argument, 'V', NULL, "show the version and exit" },
};
#define NOPTS (sizeof options / sizeof options[0])

static void
usage (FILE *fp)
{
  fprintf (fp,
           "Usage: p2v-fixup [OPTION]... DISK...\n"
           "Fix up the Linux guest on a converted machine's disk images (in\n"
           "order: the first is the boot disk) so that it boots as a virtual\n"
           "machine: its NICs keep their names and addresses on the new MACs,\n"
           "flattened md arrays are removed from fstab, mdadm.conf, the\n"
           "initramfs and GRUB, old disk names become UUIDs, virtio drivers\n"
           "and a serial console are added.  Every changed file is kept as\n"
           "FILE.p2v-orig; running it again changes nothing more.\n\n"
           "Options:\n");
  p2v_options_help (fp, options, NOPTS);
  fprintf (fp, "\nSee p2v-fixup(1).\n");
}

/* OLD=NEW[,NAME[,PREDICTABLE]] */
static int
add_mac (struct fixup *f, const char *arg)
{
  struct fixup_nic *n = &f->nics[f->nnics];
  const char *eq = strchr (arg, '=');
  const char *comma = eq ? strchr (eq, ',') : NULL;
  const char *second = comma ? strchr (comma + 1, ',') : NULL;
  size_t name_len = comma ? (second ? (size_t) (second - comma - 1)
                             : strlen (comma + 1)) : 0;

  if (f->nnics == FIXUP_MAX_NICS || eq == NULL || eq - arg != 17 ||
      !fixup_is_mac (arg) || !fixup_is_mac (eq + 1) ||
      (comma ? comma - eq - 1 : (long) strlen (eq + 1)) != 17 ||
      name_len >= sizeof n->name ||
      (second && (strlen (second + 1) >= sizeof n->predictable ||
                  strchr (second + 1, ',')))) {
    p2v_error ("--mac '%s': expected OLD=NEW[,NAME[,PREDICTABLE]] with two "
               "MAC addresses (at most %d)", arg, FIXUP_MAX_NICS);
    return -1;
  }
  snprintf (n->old_mac, sizeof n->old_mac, "%.17s", arg);
  snprintf (n->new_mac, sizeof n->new_mac, "%.17s", eq + 1);
  snprintf (n->name, sizeof n->name, "%.*s", (int) name_len,
            comma ? comma + 1 : "");
  snprintf (n->predictable, sizeof n->predictable, "%s",
            second ? second + 1 : "");
  f->nnics++;
  return 0;
}

/* VID=MAC */
static int
add_vlan (struct fixup *f, const char *arg)
{
  char *end;
  unsigned long vid = strtoul (arg, &end, 10);

  if (f->nvlans == FIXUP_MAX_NICS || end == arg || *end != '=' ||
      vid < 1 || vid > 4094 || !fixup_is_mac (end + 1) || end[18] != '\0') {
    p2v_error ("--vlan '%s': expected VID=MAC, VID 1 to 4094 (at most %d)",
               arg, FIXUP_MAX_NICS);
    return -1;
  }
  f->vlans[f->nvlans].vid = vid;
  snprintf (f->vlans[f->nvlans++].mac, 18, "%.17s", end + 1);
  return 0;
}

/* MAC[,MAC]... */
static int
add_new_macs (struct fixup *f, const char *arg)
{
  for (const char *p = arg; *p; p += 17 + (p[17] == ',')) {
    if (f->nnew_macs == FIXUP_MAX_NICS || !fixup_is_mac (p) ||
        (p[17] != ',' && p[17] != '\0') || (p[17] == ',' && !p[18])) {
      p2v_error ("--new-macs '%s': expected MAC addresses separated by "
                 "commas (at most %d)", arg, FIXUP_MAX_NICS);
      return -1;
    }
    snprintf (f->new_macs[f->nnew_macs++], 18, "%.17s", p);
  }
  return 0;
}

/* DEV,UUID,DISK,PART[,NAME]; the UUID may be empty. */
static int
add_md (struct fixup *f, const char *arg)
{
  struct fixup_md *m = &f->md[f->nmd];
  char *copy = strdup (arg), *p = copy, *field[5] = { 0 }, *end;
  int n = 0;
  long disk = -1, part = -1;

  while (copy && n < 5 && (field[n] = strsep (&p, ",")) != NULL)
    n++;
  if (n >= 4) {
    disk = strtol (field[2], &end, 10);
    disk = *field[2] && *end == '\0' ? disk : -1;
    part = strtol (field[3], &end, 10);
    part = *field[3] && *end == '\0' ? part : -1;
  }
  if (f->nmd == FIXUP_MAX_MD || n < 4 || p != NULL || disk < 0 ||
      disk >= FIXUP_MAX_DISKS || part < 0 || part > 4096 ||
      strncmp (field[0], "/dev/", 5) != 0 ||
      strlen (field[0]) >= sizeof m->device ||
      strlen (field[1]) >= sizeof m->uuid ||
      (field[4] && strlen (field[4]) >= sizeof m->name)) {
    p2v_error ("--md '%s': expected DEV,UUID,DISK,PART[,NAME], e.g. "
               "/dev/md1,6b3e1f0a:2c4d5e6f:7a8b9c0d:1e2f3a4b,0,2 (at most %d)",
               arg, FIXUP_MAX_MD);
    free (copy);
    return -1;
  }
  *m = (struct fixup_md) { "", "", "", disk, part };
  snprintf (m->device, sizeof m->device, "%s", field[0]);
  snprintf (m->uuid, sizeof m->uuid, "%s", field[1]);
  snprintf (m->name, sizeof m->name, "%s", field[4] ? field[4] : "");
  f->nmd++;
  free (copy);
  return 0;
}

static void
json_list (FILE *fp, const char *key, const struct fixup_names *v)
{
  fprintf (fp, ",\n  \"%s\": [", key);
  for (size_t i = 0; i < v->len; ++i) {
    fputs (i ? ",\n    " : "\n    ", fp);
    p2v_json_string (fp, v->ptr[i]);
  }
  fputs (v->len ? "\n  ]" : "]", fp);
}

static void
json_field (FILE *fp, const char *key, const char *value, bool first)
{
  fprintf (fp, "%s\"%s\": ", first ? "" : ", ", key);
  p2v_json_string (fp, value ? value : "");
}

static int
write_report (const struct fixup *f, const char *path, const char *status,
              double seconds)
{
  FILE *fp = fopen (path, "w");

  if (fp == NULL) {
    p2v_error ("%s: %m", path);
    return -1;
  }
  fputs ("{\n  ", fp);
  json_field (fp, "status", status, true);
  fprintf (fp, ", \"dry_run\": %s, \"changed\": %zu, \"seconds\": %.1f,"
           "\n  \"os\": { ", f->dry_run ? "true" : "false", f->changes.len,
           seconds);
  json_field (fp, "root", f->root, true);
  json_field (fp, "distro", f->distro, false);
  json_field (fp, "version", f->version, false);
  json_field (fp, "product", f->product, false);
  json_field (fp, "init", f->init, false);
  json_field (fp, "bootloader", f->bootloader, false);
  json_field (fp, "firmware", f->root ? f->firmware : NULL, false);
  json_field (fp, "firmware_from", f->root ? f->firmware_from : NULL, false);
  fprintf (fp, " },\n  \"virtio\": %s,\n  \"kernels\": [",
           f->virtio ? "true" : "false");
  for (size_t i = 0; i < f->kernels.len; ++i) {
    fputs (i ? ",\n    { " : "\n    { ", fp);
    json_field (fp, "version", f->kernels.ptr[i].version, true);
    json_field (fp, "virtio", f->kernels.ptr[i].virtio, false);
    fputs (" }", fp);
  }
  fputs (f->kernels.len ? "\n  ]" : "]", fp);
  json_list (fp, "nics", &f->nic_notes);
  fputs (",\n  \"changes\": [", fp);
  for (size_t i = 0; i < f->changes.len; ++i) {
    const struct fixup_change *c = &f->changes.ptr[i];

    fputs (i ? ",\n    { " : "\n    { ", fp);
    json_field (fp, c->file ? "file" : "command", c->file ? c->file
                : c->command, true);
    json_field (fp, "why", c->why, false);
    fputs (" }", fp);
  }
  fputs (f->changes.len ? "\n  ]" : "]", fp);
  json_list (fp, "warnings", &f->warnings);
  fputs ("\n}\n", fp);
  if (fclose (fp) != 0) {
    p2v_error ("%s: %m", path);
    return -1;
  }
  return 0;
}

/* A host name fit for the domain's title: [A-Za-z0-9.-] only. */
static bool
plain_hostname (const char *h)
{
  return h && *h && strlen (h) < 256 &&
    strspn (h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
            "0123456789.-") == strlen (h);
}

/* key=value lines for the receiver (p2v-fixup(1), HINTS). */
static int
write_hints (const struct fixup *f, const char *path)
{
  FILE *fp = fopen (path, "w");

  if (fp == NULL)
    goto fail;
  fprintf (fp, "virtio=%s\nfirmware=%s\nfirmware.from=%s\n",
           f->virtio ? "yes" : "no", f->firmware, f->firmware_from);
  if (plain_hostname (f->hostname))
    fprintf (fp, "hostname=%s\n", f->hostname);
  for (size_t i = 0; f->nnew_macs && i < f->nnics; ++i)
    fprintf (fp, "nic=%s %s %s\n", *f->nics[i].name ? f->nics[i].name : "-",
             *f->nics[i].old_mac ? f->nics[i].old_mac : "-",
             f->nics[i].new_mac);
  for (size_t i = 0; i < f->hints.len; ++i)
    fprintf (fp, "%s\n", f->hints.ptr[i]);
  if (fclose (fp) == 0)
    return 0;
 fail:
  p2v_error ("%s: %m", path);
  return -1;
}

/* A launch bounded in time.  Under TCG, the appliance's QEMU has been
 * seen to spin in its kernel's early boot (both vCPUs busy, its disks
 * never read), and guestfs_launch then waits for ever.  A watchdog
 * thread kills what the launch started (the launching thread's child
 * processes, by pid: QEMU and libguestfs's recovery process) if it has
 * not finished in time, and guestfs_launch fails.
 */
struct watchdog {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  unsigned seconds;
  pid_t tid;                    /* the thread calling guestfs_launch */
  bool done, fired;
};

static void
kill_children (pid_t tid)
{
  char path[64];
  FILE *fp;
  int pid;

  snprintf (path, sizeof path, "/proc/self/task/%d/children", (int) tid);
  if ((fp = fopen (path, "r")) == NULL) {
    p2v_warning ("%s: %m: cannot stop the appliance", path);
    return;
  }
  while (fscanf (fp, "%d", &pid) == 1)
    if (pid > 1 && kill (pid, SIGKILL) == 0)
      p2v_debug ("killed process %d", pid);
  fclose (fp);
}

static void *
watchdog_run (void *arg)
{
  struct watchdog *w = arg;
  struct timespec until;

  clock_gettime (CLOCK_MONOTONIC, &until);
  until.tv_sec += w->seconds;
  pthread_mutex_lock (&w->lock);
  while (!w->done)
    if (pthread_cond_timedwait (&w->cond, &w->lock, &until) == ETIMEDOUT) {
      if (!w->done) {
        w->fired = true;
        kill_children (w->tid);
      }
      break;
    }
  pthread_mutex_unlock (&w->lock);
  return NULL;
}

/* guestfs_launch, given SECONDS at most (0: no limit).  -1 on failure,
 * with *timed_out true when the time ran out.
 */
static int
launch_within (guestfs_h *g, unsigned seconds, bool *timed_out)
{
  struct watchdog w = { .seconds = seconds, .tid = gettid () };
  pthread_condattr_t attr;
  pthread_t thread;
  int r;

  *timed_out = false;
  if (seconds == 0)
    return guestfs_launch (g);
  pthread_mutex_init (&w.lock, NULL);
  pthread_condattr_init (&attr);
  pthread_condattr_setclock (&attr, CLOCK_MONOTONIC);
  pthread_cond_init (&w.cond, &attr);
  pthread_condattr_destroy (&attr);
  if ((r = pthread_create (&thread, NULL, watchdog_run, &w)) != 0) {
    errno = r;
    p2v_error ("cannot start a thread: %m");
    r = -1;
  } else {
    r = guestfs_launch (g);
    pthread_mutex_lock (&w.lock);
    w.done = true;
    pthread_cond_signal (&w.cond);
    pthread_mutex_unlock (&w.lock);
    pthread_join (thread, NULL);
    if (w.fired) {
      *timed_out = true;
      r = -1;
    }
  }
  pthread_cond_destroy (&w.cond);
  pthread_mutex_destroy (&w.lock);
  return r;
}

/* A new handle with the disks added, -1 with a message. */
static int
new_handle (struct fixup *f, char **disks, int n, const char *format)
{
  long cpus = sysconf (_SC_NPROCESSORS_ONLN);

  if ((f->g = guestfs_create ()) == NULL) {
    p2v_error ("cannot create a libguestfs handle");
    return -1;
  }
  guestfs_set_error_handler (f->g, NULL, NULL);
  if (guestfs_get_memsize (f->g) < 1024)
    guestfs_set_memsize (f->g, 1024);  /* update-initramfs, grub-mkconfig */
  /* Under emulation (force_tcg, or no /dev/kvm) one vCPU: each is a
   * host thread translating code, and on a host whose cores are busy
   * (a batch's other receivers) a second cost 15 % more CPU for the
   * same time (an initramfs rebuild: 296 CPU-s against 252, 433 s
   * against 424).
   */
  char *tcg = guestfs_get_backend_setting (f->g, "force_tcg");
  bool emulated = (tcg != NULL && strcmp (tcg, "0") != 0)
                  || access ("/dev/kvm", R_OK | W_OK) != 0;
  free (tcg);
  if (cpus > 1 && !emulated)
    guestfs_set_smp (f->g, cpus > 4 ? 4 : cpus);
  /* Labelled, so that commands run in the guest can name a disk: the
   * kernel's name for the Nth drive is not always the API's /dev/sdN
   * (the appliance's own disk may be found first).
   */
  for (int i = 0; i < n; ++i)
    if (guestfs_add_drive_opts (f->g, disks[i],
                                GUESTFS_ADD_DRIVE_OPTS_FORMAT, format,
                                GUESTFS_ADD_DRIVE_OPTS_READONLY, f->dry_run,
                                GUESTFS_ADD_DRIVE_OPTS_LABEL, fixup_disk_label (i),
                                -1) == -1) {
      p2v_error ("%s: %s", disks[i], guestfs_last_error (f->g));
      return -1;
    }
  return 0;
}

/* The appliance, started a second time if the first did not start
 * within TIMEOUT seconds.
 */
static int
launch (struct fixup *f, char **disks, int n, const char *format,
        unsigned timeout)
{
  char **devs;
  bool timed_out;

  for (int attempt = 1;; ++attempt) {
    if (new_handle (f, disks, n, format) == -1)
      return -1;
    p2v_info ("starting the libguestfs appliance on %d disk(s)", n);
    if (launch_within (f->g, timeout, &timed_out) == 0)
      break;
    if (!timed_out) {
      p2v_error ("libguestfs: %s", guestfs_last_error (f->g));
      return -1;
    }
    guestfs_close (f->g);
    f->g = NULL;
    if (attempt == 2) {
      p2v_error ("the libguestfs appliance did not start within %u s, twice "
                 "(--launch-timeout); LIBGUESTFS_DEBUG=1 shows its console",
                 timeout);
      return -1;
    }
    p2v_warning ("the libguestfs appliance did not start within %u s "
                 "(--launch-timeout): stopped; starting it once more",
                 timeout);
  }
  if ((devs = guestfs_list_devices (f->g)) == NULL) {
    p2v_error ("libguestfs: %s", guestfs_last_error (f->g));
    return -1;
  }
  for (size_t i = 0; devs[i]; ++i)
    if (i < FIXUP_MAX_DISKS)
      f->disks[f->ndisks++] = devs[i];
    else
      free (devs[i]);
  free (devs);
  return 0;
}

static void
say_what (struct fixup *f)
{
  p2v_info ("found Linux (%s %s) on %s: init %s, boot loader %s, %s "
            "firmware", f->distro ? f->distro : "?",
            f->version ? f->version : "?", f->root, f->init, f->bootloader,
            f->firmware);
  for (size_t i = 0; i < f->kernels.len; ++i)
    p2v_info ("kernel %s: virtio %s", f->kernels.ptr[i].version,
              f->kernels.ptr[i].virtio);
}

static void
fixup_free (struct fixup *f)
{
  if (f->g)
    guestfs_close (f->g);
  for (size_t i = 0; i < f->ndisks; ++i)
    free (f->disks[i]);
  free (f->root);
  free (f->distro);
  free (f->product);
  free (f->version);
  free (f->init);
  free (f->bootloader);
  free (f->pkgs);
  free (f->hostname);
  fixup_kernels_reset (&f->kernels);
  fixup_devs_reset (&f->devs);
  for (size_t i = 0; i < f->changes.len; ++i) {
    free (f->changes.ptr[i].file);
    free (f->changes.ptr[i].command);
    free (f->changes.ptr[i].why);
  }
  fixup_changes_reset (&f->changes);
  fixup_names_free (&f->warnings);
  fixup_names_free (&f->nic_notes);
  fixup_names_free (&f->hints);
}

/* The whole fix-up: -1 failed, 0 done, 1 no Linux guest found. */
static int
run (struct fixup *f)
{
  int r = fixup_inspect (f);

  if (r != 0) {
    if (r == 1)
      p2v_info ("no Linux operating system found on the disks: nothing to "
                "fix up");
    else
      p2v_error ("inspection failed: %s", guestfs_last_error (f->g));
    return r;
  }
  if (fixup_mount (f) == -1) {
    p2v_error ("mounting the guest's filesystems failed: %s",
               guestfs_last_error (f->g));
    return -1;
  }
  say_what (f);
  if (!f->virtio)
    fixup_warn (f, "no installed kernel has virtio drivers: the domain gets "
                "a SATA disk and an e1000 NIC");
  if (fixup_net (f) == -1 || fixup_raid (f) == -1 || fixup_boot (f) == -1)
    return -1;
  if (guestfs_umount_all (f->g) == -1 || guestfs_shutdown (f->g) == -1) {
    p2v_error ("unmounting the guest: %s", guestfs_last_error (f->g));
    return -1;
  }
  return 0;
}

int
main (int argc, char *argv[])
{
  struct option longopts[NOPTS + 1];
  char shortopts[2 * NOPTS + 1];
  struct fixup f = { .serial = true };
  const char *format = "raw", *report = NULL, *hints = NULL;
  long long launch_timeout = 300;
  struct timespec t0, t1;
  int c, r;

  p2v_program = "p2v-fixup";
  p2v_options_getopt (options, NOPTS, longopts, shortopts);
  while ((c = getopt_long (argc, argv, shortopts, longopts, NULL)) != -1) {
    switch (c) {
    case 'n': f.dry_run = true; break;
    case OPT_FORMAT:
      if (strcmp (optarg, "raw") != 0 && strcmp (optarg, "qcow2") != 0) {
        p2v_error ("--format %s: expected raw or qcow2", optarg);
        return EXIT_FAILURE;
      }
      format = optarg;
      break;
    case OPT_MAC:
      if (add_mac (&f, optarg) == -1)
        return EXIT_FAILURE;
      break;
    case OPT_NEW_MACS:
      if (add_new_macs (&f, optarg) == -1)
        return EXIT_FAILURE;
      break;
    case OPT_VLAN:
      if (add_vlan (&f, optarg) == -1)
        return EXIT_FAILURE;
      break;
    case OPT_MD:
      if (add_md (&f, optarg) == -1)
        return EXIT_FAILURE;
      break;
    case OPT_FIRMWARE:
      if (strcmp (optarg, "bios") != 0 && strcmp (optarg, "uefi") != 0) {
        p2v_error ("--firmware %s: expected bios or uefi", optarg);
        return EXIT_FAILURE;
      }
      f.firmware = optarg;
      break;
    case OPT_NO_SERIAL: f.serial = false; break;
    case OPT_LAUNCH_TIMEOUT:
      if (p2v_parse_int ("--launch-timeout", optarg, 0, 86400,
                         &launch_timeout) == -1)
        return EXIT_FAILURE;
      break;
    case OPT_REPORT: report = optarg; break;
    case OPT_HINTS: hints = optarg; break;
    case 'v': p2v_verbose++; break;
    case 'q': p2v_verbose = -1; break;
    case 'h': usage (stdout); return EXIT_SUCCESS;
    case 'V': printf ("p2v-fixup %s\n", P2V_VERSION); return EXIT_SUCCESS;
    default: usage (stderr); return EXIT_FAILURE;
    }
  }
  if (optind == argc) {
    p2v_error ("no disk images given (see --help)");
    return EXIT_FAILURE;
  }
  if (f.nnics && f.nnew_macs) {
    p2v_error ("--mac and --new-macs exclude each other: --mac names the "
               "source machine's NICs, --new-macs finds them in the guest");
    return EXIT_FAILURE;
  }
  if (argc - optind > FIXUP_MAX_DISKS) {
    p2v_error ("at most %d disk images", FIXUP_MAX_DISKS);
    return EXIT_FAILURE;
  }
  for (size_t i = 0; i < f.nmd; ++i)
    if (f.md[i].disk >= argc - optind) {
      p2v_error ("--md %s: disk %d, but only %d disk image(s) given",
                 f.md[i].device, f.md[i].disk, argc - optind);
      return EXIT_FAILURE;
    }
  clock_gettime (CLOCK_MONOTONIC, &t0);
  r = launch (&f, argv + optind, argc - optind, format,
              (unsigned) launch_timeout) == -1 ? -1 : run (&f);
  clock_gettime (CLOCK_MONOTONIC, &t1);
  if (report &&
      write_report (&f, report, r == -1 ? "failed" : r == 1 ? "no-os"
                    : f.dry_run ? "dry-run" : "fixed",
                    (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9) == -1)
    r = -1;
  if (r == 0 && hints && write_hints (&f, hints) == -1)
    r = -1;
  if (r == 0)
    p2v_info ("%s%zu change(s)%s", f.dry_run ? "dry run: " : "",
              f.changes.len, f.warnings.len ? ", with warnings (above)" : "");
  fixup_free (&f);
  return r == -1 ? EXIT_FAILURE : EXIT_SUCCESS;
}
