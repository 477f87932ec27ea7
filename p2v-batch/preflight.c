/* p2v-batch preflight: before any agent connects, check that the
 * manifest's conversions can run here: programs, space, name and MAC
 * clashes, networks, and the sshd and coordinator the agents meet.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "batch.h"
#include "convdir_layout.h"
#include "fileio.h"
#include "json.h"
#include "log.h"
#include "lvm.h"
#include "virt_macs.h"

enum result { OK, WARN, FAIL };

struct check {
  enum result r;
  char *subject, *detail;
};
DEFINE_VECTOR_TYPE (checks, struct check);

struct conn {
  const char *uri;              /* NULL: libvirt's default */
  virConnectPtr c;              /* NULL: cannot be reached (reported) */
};
DEFINE_VECTOR_TYPE (conns, struct conn);

struct pf {
  const struct batch_manifest *m;
  struct checks v;
  struct conns conns;
  bool nomem;
};

/* Record a check about "WHAT NAME" (or "WHAT" if name is NULL). */
static void
add (struct pf *p, enum result r, const char *what, const char *name,
     const char *fmt, ...)
  __attribute__ ((format (printf, 5, 6)));

static void
add (struct pf *p, enum result r, const char *what, const char *name,
     const char *fmt, ...)
{
  struct check c = { r, NULL, NULL };
  va_list ap;

  va_start (ap, fmt);
  if (vasprintf (&c.detail, fmt, ap) == -1)
    c.detail = NULL;
  va_end (ap);
  if (asprintf (&c.subject, "%s%s%s", what, name ? " " : "",
                name ? name : "") == -1)
    c.subject = NULL;
  if (c.detail == NULL || c.subject == NULL || checks_append (&p->v, c)) {
    free (c.subject);
    free (c.detail);
    p->nomem = true;
  }
}

static const char *
uri_name (const char *uri)
{
  return uri ? uri : "the default connection";
}

static bool
same_uri (const char *a, const char *b)
{
  return a == b || (a && b && !strcmp (a, b));
}

/* ---- Programs ---- */

/* name in dir (if not ""), else on PATH, else in the sbin directories
 * (root's tools, when PATH is a user's): true with its path in buf.
 */
static bool
find_program (const char *dir, const char *name, char *buf, size_t len)
{
  const char *path = getenv ("PATH");
  char all[8192];

  snprintf (all, sizeof all, "%s:%s:/usr/local/sbin:/usr/sbin:/sbin", dir,
            path ? path : "/usr/local/bin:/usr/bin:/bin");
  for (const char *d = all; *d; d += *d == ':') {
    size_t n = strcspn (d, ":");

    snprintf (buf, len, "%.*s/%s", (int) n, d, name);
    if (n && access (buf, X_OK) == 0)
      return true;
    d += n;
  }
  return false;
}

static void
need_tool (struct pf *p, bool need, const char *prog, const char *why,
           const char *package)
{
  char path[PATH_MAX];

  if (!need)
    return;
  if (find_program ("", prog, path, sizeof path))
    add (p, OK, "program", prog, "%s", path);
  else
    add (p, FAIL, "program", prog, "not found on PATH, needed for %s; "
         "install %s", why, package);
}

static void
check_programs (struct pf *p)
{
  const struct batch_manifest *m = p->m;
  char self[PATH_MAX], recv[PATH_MAX], fixup[PATH_MAX];
  ssize_t n = readlink ("/proc/self/exe", self, sizeof self - 1);
  bool qcow2 = false, lvm = false, want_fixup = false, found;

  self[n > 0 ? n : 0] = '\0';
  *(strrchr (self, '/') ? strrchr (self, '/') : self) = '\0';
  for (size_t i = 0; i < m->servers.len; ++i) {
    const struct batch_settings *s = &m->servers.ptr[i].set;

    qcow2 |= s->format && !strcmp (s->format, "qcow2") &&
             !m->storages.ptr[m->servers.ptr[i].storage].lvm;
    want_fixup |= s->fixup != 0;
  }
  for (size_t i = 0; i < m->storages.len; ++i)
    lvm |= m->storages.ptr[i].lvm != NULL;

  found = find_program (self, "p2v-receiver", recv, sizeof recv);
  if (found)
    add (p, OK, "program", "p2v-receiver", "%s", recv);
  else
    add (p, FAIL, "program", "p2v-receiver", "not found beside %s nor on "
         "PATH; install p2v (make install) or add its directory to PATH",
         *self ? self : "this program");
  /* The receiver runs the p2v-fixup beside itself, else PATH's. */
  if (found)
    *strrchr (recv, '/') = '\0';
  if (want_fixup && find_program (found ? recv : "", "p2v-fixup", fixup,
                                  sizeof fixup))
    add (p, OK, "program", "p2v-fixup", "%s", fixup);
  else if (want_fixup)
    add (p, WARN, "program", "p2v-fixup", "not found beside p2v-receiver "
         "nor on PATH: conversions would complete without their guest "
         "fixups (network, boot); install it, or set fixup = no");
  need_tool (p, qcow2, "qemu-img", "format = qcow2", "qemu-utils");
  need_tool (p, qcow2, "qemu-nbd", "format = qcow2", "qemu-utils");
  need_tool (p, lvm, "lvcreate", "lvm storage", "lvm2");
}

/* ---- Output directory and storage ---- */

/* Why dir cannot take new files, into buf; "" if it can. */
static const char *
dir_problem (const char *dir, char *buf, size_t len)
{
  struct stat st;

  *buf = '\0';
  if (stat (dir, &st) == -1)
    snprintf (buf, len, "%s: %m", dir);
  else if (!S_ISDIR (st.st_mode))
    snprintf (buf, len, "%s is not a directory", dir);
  else if (access (dir, W_OK) == -1)
    snprintf (buf, len, "%s is not writable by uid %u: %m", dir,
              (unsigned) geteuid ());
  return buf;
}

static void
parent_of (const char *path, char *buf, size_t len)
{
  char *slash;

  snprintf (buf, len, "%s", path);
  if ((slash = strrchr (buf, '/')) != NULL)
    slash[slash == buf] = '\0';
}

static void
check_output_dir (struct pf *p)
{
  const char *dir = p->m->output_dir;
  char parent[PATH_MAX], why[PATH_MAX + 100];

  if (access (dir, F_OK) == 0 || errno != ENOENT) {
    if (*dir_problem (dir, why, sizeof why))
      add (p, FAIL, "output-dir", NULL, "%s", why);
    else
      add (p, OK, "output-dir", NULL, "%s exists and is writable", dir);
    return;
  }
  parent_of (dir, parent, sizeof parent);
  if (*dir_problem (parent, why, sizeof why))
    add (p, FAIL, "output-dir", NULL, "%s does not exist and cannot be "
         "created (%s); create it: mkdir -p %s", dir, why, dir);
  else
    add (p, OK, "output-dir", NULL, "%s does not exist yet; the receiver "
         "creates it in %s", dir, parent);
}

enum state { CONV_NONE, CONV_UNFINISHED, CONV_COMPLETE, CONV_UNKNOWN };

struct conv {
  enum state state;
  int err;                      /* CONV_UNKNOWN's errno */
  char path[PATH_MAX];
  char status[256];             /* its status line */
  char storage[PATH_MAX];       /* .storage: its images' directory, or "" */
};

/* What DIR/NAME holds of a server. */
static void
conversion (const struct batch_manifest *m, const char *name, struct conv *c)
{
  int fd;

  snprintf (c->path, sizeof c->path, "%s/%s", m->output_dir, name);
  c->status[0] = c->storage[0] = '\0';
  fd = open (c->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd == -1) {
    c->state = errno == ENOENT ? CONV_NONE : CONV_UNKNOWN;
    c->err = errno;
    return;
  }
  p2v_read_line_at (fd, P2V_CONVDIR_STATUS, c->status, sizeof c->status);
  p2v_read_line_at (fd, P2V_CONVDIR_STORAGE, c->storage, sizeof c->storage);
  close (fd);
  c->state = p2v_convdir_complete (c->status) ? CONV_COMPLETE
                                              : CONV_UNFINISHED;
}

static void
check_storage (struct pf *p)
{
  const struct batch_manifest *m = p->m;

  for (size_t k = 0; k < m->storages.len; ++k) {
    const struct batch_storage *st = &m->storages.ptr[k];
    const char *dir = st->path ? st->path : m->output_dir;
    char where[PATH_MAX + 32], why[PATH_MAX + 100], a[32], b[32];
    uint64_t need = 0, avail;
    size_t nservers = 0, nexpect = 0, ndone = 0;
    struct statvfs fs;
    struct conv c;

    for (size_t i = 0; i < m->servers.len; ++i) {
      if (m->servers.ptr[i].storage != (int) k)
        continue;
      nservers++;
      conversion (m, m->servers.ptr[i].name, &c);
      if (c.state == CONV_COMPLETE)
        ndone++;                /* its data is there already */
      else if (m->servers.ptr[i].set.expect) {
        nexpect++;
        need += m->servers.ptr[i].set.expect;
      }
    }
    if (st->lvm) {
      struct p2v_lvm_space sp;
      int r;

      snprintf (where, sizeof where, "%s %s", strchr (st->lvm, '/')
                ? "thin pool" : "volume group", st->lvm);
      if ((r = p2v_lvm_space (st->lvm, &sp, why, sizeof why)) == -1 &&
          geteuid () == 0)
        add (p, FAIL, "storage", st->name, "%s: %s; create it or fix the "
             "manifest", where, why);
      else if (r < 0)
        add (p, WARN, "storage", st->name, "cannot check %s: %s%s", where,
             why, r == -1 ? " (run preflight as root)" : "");
      if (r < 0)
        continue;
      avail = sp.free;
    }
    else if (st->path && *dir_problem (st->path, why, sizeof why)) {
      add (p, FAIL, "storage", st->name, "%s", why);
      continue;
    }
    else {
      /* The output directory may not exist yet: its parent's space. */
      snprintf (where, sizeof where, "%s%s", st->path ? "" : "images in ",
                dir);
      parent_of (dir, why, sizeof why);
      if (statvfs (dir, &fs) == -1 && statvfs (why, &fs) == -1) {
        add (p, WARN, "storage", st->name, "cannot tell the free space of "
             "%s: %m", dir);
        continue;
      }
      avail = (uint64_t) fs.f_bavail * fs.f_frsize;
    }
    p2v_human_size (avail, a, sizeof a);
    p2v_human_size (need, b, sizeof b);
    if (nexpect == 0)
      add (p, OK, "storage", st->name, "%s: %s free; %s", where, a,
           nservers == ndone ? "no conversion left to write on it"
           : "no server on it declares 'expect' to compare with");
    else if (need > avail)
      add (p, FAIL, "storage", st->name, "%s: %s free, but %zu server(s) "
           "expect %s; free space, or move servers to another storage",
           where, a, nexpect, b);
    else
      add (p, need > avail / 10 * 9 ? WARN : OK, "storage", st->name,
           "%s: %s free, %zu server(s) expect %s (%.0f%%)", where, a,
           nexpect, b, 100.0 * need / avail);
  }
}

/* ---- Names, domains and MACs ---- */

static void
quiet_libvirt (void *opaque, virErrorPtr e)
{
  (void) opaque; (void) e;      /* errors are fetched and worded here */
}

/* The read-only connection to uri, opened once; NULL if libvirt cannot
 * be reached there (reported once).
 */
static virConnectPtr
connection (struct pf *p, const char *uri)
{
  struct conn c = { uri, NULL };

  for (size_t i = 0; i < p->conns.len; ++i)
    if (same_uri (uri, p->conns.ptr[i].uri))
      return p->conns.ptr[i].c;
  if ((c.c = virConnectOpenReadOnly (uri)) == NULL)
    add (p, WARN, "libvirt", uri ? uri : "(default URI)", "cannot connect "
         "(%s); skipping its domain, MAC and network checks",
         virGetLastErrorMessage ());
  if (conns_append (&p->conns, c) == -1) {
    if (c.c)
      virConnectClose (c.c);
    p->nomem = true;
    return NULL;
  }
  return c.c;
}

/* An image of sv's first disk in its storage directory dir (real: its
 * real path) that is not an unfinished conversion's: true, its path in
 * buf.
 */
static bool
stray_image (const char *dir, const char *real, const char *name,
             const struct conv *c, char *buf, size_t len)
{
  size_t n;

  if (dir == NULL || c->state == CONV_UNKNOWN ||
      (c->state == CONV_UNFINISHED && real && !strcmp (real, c->storage)))
    return false;
  n = snprintf (buf, len, "%s/", dir);
  for (int partial = 0; n < len && partial < 2; ++partial)
    for (const char *const *f = p2v_image_formats; *f; ++f)
      if (p2v_image_name (buf + n, len - n, name, 0, *f, partial) == 0 &&
          access (buf, F_OK) == 0)
        return true;
  return false;
}

static void
check_names (struct pf *p)
{
  const struct batch_manifest *m = p->m;

  for (size_t i = 0; i < m->servers.len; ++i) {
    const struct batch_server *sv = &m->servers.ptr[i];
    const char *uri = sv->set.connect;
    const char *dir = m->storages.ptr[sv->storage].path;
    const char *want = "";      /* its images' directory, NULL: unknown */
    virConnectPtr conn = connection (p, uri);
    size_t before = p->v.len;
    char img[PATH_MAX + 300], real[PATH_MAX];
    struct conv c;

    if (dir)
      want = realpath (dir, real) ? real : NULL;
    conversion (m, sv->name, &c);
    if (c.state == CONV_UNKNOWN && c.err == ENOTDIR)
      add (p, FAIL, "server", sv->name, "%s is not a directory, so the "
           "receiver cannot use it: remove it or rename the server", c.path);
    else if (c.state == CONV_UNKNOWN)
      add (p, WARN, "server", sv->name, "cannot tell the state of %s: %s",
           c.path, strerror (c.err));
    else if (c.state == CONV_COMPLETE)
      add (p, WARN, "server", sv->name, "already converted (%s); the "
           "coordinator will refuse it unless removed", c.path);
    else if (c.state == CONV_UNFINISHED && *c.status && want &&
             strcmp (c.storage, want))
      add (p, FAIL, "server", sv->name, "the unfinished conversion %s "
           "keeps its images in %s, not in storage %s's: it cannot resume; "
           "fix the manifest, or remove %s", c.path,
           *c.storage ? c.storage : "itself",
           m->storages.ptr[sv->storage].name, c.path);
    else if (c.state == CONV_UNFINISHED)
      add (p, OK, "server", sv->name, "an unfinished conversion (%s, "
           "status: %s): it will resume", c.path,
           *c.status ? c.status : "none");
    if (stray_image (dir, want, sv->name, &c, img, sizeof img))
      add (p, WARN, "server", sv->name, "%s already exists and belongs to "
           "no unfinished conversion in %s; remove or move it", img,
           m->output_dir);
    if (conn) {
      virDomainPtr d = virDomainLookupByName (conn, sv->name);

      if (d) {
        virDomainFree (d);
        add (p, sv->set.define == 1 ? FAIL : WARN, "server", sv->name,
             "libvirt at %s already has a domain named %s; %s",
             uri_name (uri), sv->name, sv->set.define == 1
             ? "define = yes would be refused: undefine it or rename the "
             "server" : "the new domain.xml cannot be defined under that "
             "name");
      }
      else if (virGetLastErrorCode () != VIR_ERR_NO_DOMAIN)
        add (p, WARN, "server", sv->name, "cannot look domain %s up at %s: "
             "%s", sv->name, uri_name (uri), virGetLastErrorMessage ());
    }
    if (p->v.len == before)
      add (p, OK, "server", sv->name, "no conversion%s of that name yet",
           conn ? ", image or domain" : " or image");
  }
}

struct dmac {
  char mac[18];
  char *domain;
};
DEFINE_VECTOR_TYPE (dmacs, struct dmac);

struct dmac_list {
  struct pf *p;
  struct dmacs *v;
};

static void
add_dmac (void *opaque, const char *domain, const char *mac)
{
  struct dmac_list *l = opaque;
  struct dmac d = { "", strdup (domain) };

  snprintf (d.mac, sizeof d.mac, "%s", mac);
  if (d.domain == NULL || dmacs_append (l->v, d) == -1) {
    free (d.domain);
    l->p->nomem = true;
  }
}

/* Every <mac address='...'/> of every domain, read as the receiver
 * reads them: 0, or -1 (see libvirt's last error).
 */
static int
domain_macs (struct pf *p, virConnectPtr conn, struct dmacs *v)
{
  return p2v_virt_macs (conn, add_dmac, &(struct dmac_list) { p, v });
}

static void
check_macs (struct pf *p)
{
  const struct batch_manifest *m = p->m;

  for (size_t k = 0; k < p->conns.len; ++k) {
    const char *uri = p->conns.ptr[k].uri;
    struct dmacs v = { 0 };
    size_t before = p->v.len;

    if (p->conns.ptr[k].c == NULL)
      continue;
    if (domain_macs (p, p->conns.ptr[k].c, &v) == -1)
      add (p, WARN, "MACs at", uri_name (uri), "cannot list libvirt's "
           "domains: %s", virGetLastErrorMessage ());
    for (size_t i = 0; i < v.len; ++i)
      for (size_t j = i + 1; j < v.len; ++j)
        if (!strcasecmp (v.ptr[i].mac, v.ptr[j].mac) &&
            strcmp (v.ptr[i].domain, v.ptr[j].domain)) {
          add (p, FAIL, "MACs at", uri_name (uri), "domains %s and %s both "
               "use MAC %s; give one of them another (virsh edit)",
               v.ptr[i].domain, v.ptr[j].domain, v.ptr[i].mac);
          break;
        }
    for (size_t i = 0; i < m->servers.len; ++i) {
      const struct batch_server *sv = &m->servers.ptr[i];

      if (!same_uri (uri, sv->set.connect))
        continue;               /* its domain goes elsewhere */
      for (size_t a = 0; a < sv->match.len; ++a)
        for (size_t j = 0; j < v.len; ++j)
          if (!strncmp (sv->match.ptr[a], "mac:", 4) &&
              !strcasecmp (sv->match.ptr[a] + 4, v.ptr[j].mac))
            add (p, WARN, "MACs at", uri_name (uri), "domain %s already "
                 "uses MAC %s of server %s (converted before with its MAC "
                 "kept?)", v.ptr[j].domain, v.ptr[j].mac, sv->name);
    }
    if (p->v.len == before)
      add (p, OK, "MACs at", uri_name (uri), "%zu MAC(s) in libvirt's "
           "domains: none used twice, none a server's of the manifest",
           v.len);
    for (size_t i = 0; i < v.len; ++i)
      free (v.ptr[i].domain);
    dmacs_reset (&v);
  }
  add (p, OK, "UUIDs and MACs", NULL, "p2v gives each domain a fresh UUID "
       "and fresh MACs, checked against all defined domains at conversion "
       "time");
}

/* ---- Networks ---- */

struct net {
  bool bridge;
  const char *uri;              /* a libvirt network's connection */
  const char *name;
};
DEFINE_VECTOR_TYPE (nets, struct net);

/* Where sv's NICs go: its bridges and networks, and the receiver's
 * default (network "default", bridge xenbr0 for Xen) unless one of
 * them applies to every NIC.  Into out, BATCH_MAX_NETS + 1 long.
 */
static size_t
server_nets (const struct batch_server *sv, struct net *out)
{
  const struct batch_settings *s = &sv->set;
  bool catch_all = false, xen;
  size_t n;

  for (n = 0; n < s->nnets; ++n) {
    const char *eq = strchr (s->nets[n], '=');

    out[n] = (struct net) { s->net_bridge[n],
                            s->net_bridge[n] ? NULL : s->connect,
                            eq ? eq + 1 : s->nets[n] };
    catch_all |= eq == NULL;
  }
  if (!catch_all) {
    xen = s->hypervisor && !strcmp (s->hypervisor, "xen");
    out[n++] = (struct net) { xen, xen ? NULL : s->connect,
                              xen ? "xenbr0" : "default" };
  }
  return n;
}

static void
check_net (struct pf *p, const struct net *n, const char *server)
{
  char path[PATH_MAX];
  virConnectPtr conn;
  virNetworkPtr net;
  int active;

  if (n->bridge) {
    snprintf (path, sizeof path, "/sys/class/net/%s/bridge", n->name);
    if (access (path, F_OK) == 0)
      add (p, OK, "bridge", n->name, "a bridge on this host");
    else
      add (p, FAIL, "bridge", n->name, "no bridge %s on this host (%s: %m),"
           " needed by server %s; create it or fix the manifest", n->name,
           path, server);
    return;
  }
  if ((conn = connection (p, n->uri)) == NULL)
    return;
  if ((net = virNetworkLookupByName (conn, n->name)) == NULL) {
    add (p, FAIL, "network", n->name, "libvirt at %s has no network %s "
         "(%s), needed by server %s; define it or fix the manifest",
         uri_name (n->uri), n->name, virGetLastErrorMessage (), server);
    return;
  }
  active = virNetworkIsActive (net);
  virNetworkFree (net);
  if (active == 1)
    add (p, OK, "network", n->name, "active at %s", uri_name (n->uri));
  else
    add (p, FAIL, "network", n->name, "%s at %s, needed by server %s; "
         "start it: virsh net-start %s (and net-autostart)", active == 0
         ? "defined but not active" : "state unknown", uri_name (n->uri),
         server, n->name);
}

static void
check_networks (struct pf *p)
{
  struct nets seen = { 0 };

  for (size_t i = 0; i < p->m->servers.len; ++i) {
    struct net n[BATCH_MAX_NETS + 1];
    size_t count = server_nets (&p->m->servers.ptr[i], n);

    for (size_t k = 0; k < count; ++k) {
      size_t j = 0;

      while (j < seen.len && (n[k].bridge != seen.ptr[j].bridge ||
                              strcmp (n[k].name, seen.ptr[j].name) ||
                              !same_uri (n[k].uri, seen.ptr[j].uri)))
        j++;
      if (j < seen.len)
        continue;               /* checked already */
      if (nets_append (&seen, n[k]) == -1)
        p->nomem = true;
      check_net (p, &n[k], p->m->servers.ptr[i].name);
    }
  }
  nets_reset (&seen);
}

/* ---- Reachability ---- */

/* Connect to ai and read the sshd's first line into buf, 5 s at most
 * for each: 0; -1 if it cannot connect, -2 if no line comes (errno).
 */
static int
ssh_banner (const struct addrinfo *ai, char *buf, size_t len)
{
  struct timeval tv = { 5, 0 };
  int fd = socket (ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), err = 0;
  size_t n = 0;
  ssize_t r = 0;

  if (fd == -1)
    return -1;
  /* SO_SNDTIMEO bounds connect(2) too. */
  setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (connect (fd, ai->ai_addr, ai->ai_addrlen) == -1) {
    err = errno == EINPROGRESS ? ETIMEDOUT : errno;
    close (fd);
    errno = err;
    return -1;
  }
  while (n < len - 1 && memchr (buf, '\n', n) == NULL &&
         (r = read (fd, buf + n, len - 1 - n)) > 0)
    n += r;
  if (n == 0)
    err = r == 0 ? ECONNRESET : errno == EAGAIN ? ETIMEDOUT : errno;
  close (fd);
  buf[n] = '\0';
  buf[strcspn (buf, "\r\n")] = '\0';
  for (char *c = buf; *c; ++c)
    *c = *c < 0x20 || *c == 0x7f ? '?' : *c;
  errno = err;
  return err ? -2 : 0;
}

static void
check_ssh (struct pf *p, const char *hostport)
{
  struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
  const char *h = hostport, *end = strchr (h, ']'), *colon;
  char host[256], port[32] = "22", banner[256];
  int r;

  if (*h == '[' && end) {       /* [IPv6]:PORT */
    colon = end[1] == ':' ? end + 1 : NULL;
    h++;
  }
  else {                        /* HOST:PORT, HOST or a bare IPv6 */
    colon = strchr (h, ':') == strrchr (h, ':') ? strchr (h, ':') : NULL;
    end = colon ? colon : h + strlen (h);
  }
  snprintf (host, sizeof host, "%.*s", (int) (end - h), h);
  if (colon)
    snprintf (port, sizeof port, "%s", colon + 1);
  if ((r = getaddrinfo (host, port, &hints, &res)) != 0) {
    add (p, FAIL, "ssh", hostport, "cannot resolve %s (port %s): %s", host,
         port, gai_strerror (r));
    return;
  }
  for (ai = res, r = -1; ai && r == -1; ai = ai->ai_next)
    r = ssh_banner (ai, banner, sizeof banner);
  freeaddrinfo (res);
  if (r == -1)
    add (p, FAIL, "ssh", hostport, "cannot reach the sshd at %s port %s: "
         "%m", host, port);
  else if (r == -2)
    add (p, FAIL, "ssh", hostport, "%s port %s accepts connections but "
         "sends no SSH banner: %m", host, port);
  else if (strncmp (banner, "SSH-2.0", 7))
    add (p, FAIL, "ssh", hostport, "%s port %s answers, but not as an SSH-2 "
         "server: \"%s\"", host, port, banner);
  else
    add (p, OK, "ssh", hostport, "%s", banner);
}

static void
check_spool (struct pf *p, const char *spool)
{
  int fd = -1;

  if (access (spool, F_OK) == -1 && errno == ENOENT)
    add (p, WARN, "spool", spool, "does not exist: no coordinator has run "
         "with it; start one with p2v-batch run");
  else if ((fd = batch_spool_open (spool, false)) == -1)
    add (p, WARN, "spool", spool, "cannot open it: %s", p2v_last_error ());
  else if (batch_coordinator_running (fd))
    add (p, OK, "spool", spool, "a coordinator is running on it");
  else
    add (p, WARN, "spool", spool, "no coordinator is running on it; start "
         "it with p2v-batch run");
  if (fd >= 0)
    close (fd);
}

/* ---- Output ---- */

static void
print (const struct checks *v, bool json, const int count[3])
{
  static const char *const names[] = { "OK", "WARN", "FAIL" };
  static const char *const lower[] = { "ok", "warn", "fail" };
  int width = 0;                /* of the subjects, up to 24 */

  for (size_t i = 0; i < v->len; ++i)
    if ((int) strlen (v->ptr[i].subject) > width)
      width = strlen (v->ptr[i].subject);
  width = width > 24 ? 24 : width;
  if (json)
    fputs ("{\"checks\":[", stdout);
  for (size_t i = 0; i < v->len; ++i) {
    const struct check *c = &v->ptr[i];

    if (!json) {
      int pad = width - (int) strlen (c->subject);

      printf ("%-4s  %s:%*s %s\n", names[c->r], c->subject, pad > 0 ? pad : 0,
              "", c->detail);
      continue;
    }
    printf ("%s{\"result\":\"%s\",\"subject\":", i ? "," : "", lower[c->r]);
    p2v_json_string (stdout, c->subject);
    fputs (",\"detail\":", stdout);
    p2v_json_string (stdout, c->detail);
    fputc ('}', stdout);
  }
  if (json)
    printf ("],\"ok\":%d,\"warn\":%d,\"fail\":%d}\n", count[OK],
            count[WARN], count[FAIL]);
  else
    printf ("preflight: %d OK, %d WARN, %d FAIL\n", count[OK], count[WARN],
            count[FAIL]);
}

int
batch_preflight (const struct batch_manifest *m,
                 const struct batch_preflight_opts *o)
{
  struct pf p = { .m = m };
  int count[3] = { 0 }, r = -1;

  virSetErrorFunc (NULL, quiet_libvirt);
  check_programs (&p);
  check_output_dir (&p);
  check_storage (&p);
  check_names (&p);
  check_macs (&p);
  check_networks (&p);
  if (o->ssh)
    check_ssh (&p, o->ssh);
  if (o->spool)
    check_spool (&p, o->spool);

  for (size_t i = 0; i < p.v.len; ++i)
    count[p.v.ptr[i].r]++;
  if (p.nomem)
    p2v_error ("preflight: out of memory");
  else {
    print (&p.v, o->json, count);
    if (fflush (stdout) == 0 && !ferror (stdout))
      r = count[FAIL] > 0;
    else
      p2v_error ("preflight: writing the results: %m");
  }
  for (size_t i = 0; i < p.v.len; ++i) {
    free (p.v.ptr[i].subject);
    free (p.v.ptr[i].detail);
  }
  checks_reset (&p.v);
  for (size_t i = 0; i < p.conns.len; ++i)
    if (p.conns.ptr[i].c)
      virConnectClose (p.conns.ptr[i].c);
  conns_reset (&p.conns);
  return r;
}
