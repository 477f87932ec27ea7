/* Host key verification: a pinned --host-key fingerprint, else the
 * known_hosts file; an unknown key is refused (showing its SHA256
 * fingerprint) unless --accept-new-host-key, and a changed key always.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libssh2.h>

#include "agent.h"
#include "b64.h"
#include "log.h"

static int
key_bits (int type)
{
  switch (type) {
  case LIBSSH2_HOSTKEY_TYPE_RSA: return LIBSSH2_KNOWNHOST_KEY_SSHRSA;
  case LIBSSH2_HOSTKEY_TYPE_DSS: return LIBSSH2_KNOWNHOST_KEY_SSHDSS;
  case LIBSSH2_HOSTKEY_TYPE_ECDSA_256: return LIBSSH2_KNOWNHOST_KEY_ECDSA_256;
  case LIBSSH2_HOSTKEY_TYPE_ECDSA_384: return LIBSSH2_KNOWNHOST_KEY_ECDSA_384;
  case LIBSSH2_HOSTKEY_TYPE_ECDSA_521: return LIBSSH2_KNOWNHOST_KEY_ECDSA_521;
  case LIBSSH2_HOSTKEY_TYPE_ED25519: return LIBSSH2_KNOWNHOST_KEY_ED25519;
  default: return LIBSSH2_KNOWNHOST_KEY_UNKNOWN;
  }
}

static const char *
type_name (int type)
{
  switch (type) {
  case LIBSSH2_HOSTKEY_TYPE_RSA: return "RSA";
  case LIBSSH2_HOSTKEY_TYPE_DSS: return "DSA";
  case LIBSSH2_HOSTKEY_TYPE_ECDSA_256:
  case LIBSSH2_HOSTKEY_TYPE_ECDSA_384:
  case LIBSSH2_HOSTKEY_TYPE_ECDSA_521: return "ECDSA";
  case LIBSSH2_HOSTKEY_TYPE_ED25519: return "ED25519";
  default: return "unknown";
  }
}

/* "SHA256:<base64>" as ssh-keygen -l prints it. */
static int
fingerprint (LIBSSH2_SESSION *s, char *out, size_t len)
{
  const unsigned char *h =
    (const unsigned char *) libssh2_hostkey_hash (s, LIBSSH2_HOSTKEY_HASH_SHA256);
  char b64[64];

  if (h == NULL) {
    p2v_error ("cannot compute the server's host key fingerprint");
    return -1;
  }
  p2v_base64_nopad (h, 32, b64);
  snprintf (out, len, "SHA256:%s", b64);
  return 0;
}

/* libssh2_knownhost_readfile stops at the first line it cannot parse
 * (certificate authorities, security-key types, options), so a real
 * user's file would make every check fail.  Read line by line instead
 * and skip what libssh2 does not understand: a key it cannot parse
 * cannot match either.  0, or -1 if the file exists but is unreadable.
 */
static int
read_known_hosts (LIBSSH2_KNOWNHOSTS *kh, const char *path)
{
  FILE *fp = fopen (path, "r");
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  int lineno = 0;

  if (fp == NULL) {
    if (errno == ENOENT)
      return 0;                 /* no file: every key is unknown */
    p2v_error ("%s: %m", path);
    return -1;
  }
  while ((n = getline (&line, &cap, fp)) != -1) {
    lineno++;
    if (n <= 1 || line[0] == '#')
      continue;
    if (libssh2_knownhost_readline (kh, line, n,
                                    LIBSSH2_KNOWNHOST_FILE_OPENSSH) != 0)
      p2v_debug ("%s:%d: skipped a line libssh2 cannot parse", path, lineno);
  }
  free (line);
  fclose (fp);
  return 0;
}

/* Append the new key: the rest of the user's file stays as it is. */
static int
add_known (LIBSSH2_KNOWNHOSTS *kh, const struct agent_options *o,
           const char *hostport, const char *key, size_t keylen, int type,
           const char *fp)
{
  struct libssh2_knownhost *entry;
  char line[8192];
  size_t len;
  FILE *f;

  if (libssh2_knownhost_addc (kh, hostport, NULL, key, keylen, NULL, 0,
                              LIBSSH2_KNOWNHOST_TYPE_PLAIN |
                              LIBSSH2_KNOWNHOST_KEYENC_RAW |
                              key_bits (type), &entry) != 0 ||
      libssh2_knownhost_writeline (kh, entry, line, sizeof line, &len,
                                   LIBSSH2_KNOWNHOST_FILE_OPENSSH) != 0) {
    p2v_error ("cannot format the host key of %s", hostport);
    return -1;
  }
  f = fopen (o->known_hosts, "a");
  if (f == NULL || fwrite (line, 1, len, f) != len || fclose (f) != 0) {
    p2v_error ("%s: cannot record the host key of %s: %m", o->known_hosts,
               hostport);
    if (f)
      fclose (f);
    return -1;
  }
  p2v_info ("added %s host key %s for %s to %s", type_name (type), fp,
            hostport, o->known_hosts);
  return 0;
}

int
agent_check_host_key (const struct agent_options *o, void *session,
                      const char *host)
{
  LIBSSH2_SESSION *s = session;
  LIBSSH2_KNOWNHOSTS *kh;
  size_t keylen;
  int type, r;
  const char *key = libssh2_session_hostkey (s, &keylen, &type);
  char fp[80], hostport[300];

  if (key == NULL || fingerprint (s, fp, sizeof fp) == -1)
    return -1;
  if (o->port == 22)
    snprintf (hostport, sizeof hostport, "%s", host);
  else
    snprintf (hostport, sizeof hostport, "[%s]:%d", host, o->port);
  if (o->host_key) {
    if (strcmp (o->host_key, fp) == 0)
      return 0;
    p2v_error ("host key of %s is %s %s, but --host-key pins %s: refusing "
               "to connect (someone may be intercepting the connection)",
               hostport, type_name (type), fp, o->host_key);
    return -1;
  }
  kh = libssh2_knownhost_init (s);
  if (kh == NULL)
    return -1;
  if (read_known_hosts (kh, o->known_hosts) == -1) {
    libssh2_knownhost_free (kh);
    return -1;
  }
  r = libssh2_knownhost_checkp (kh, host, o->port, key, keylen,
                                LIBSSH2_KNOWNHOST_TYPE_PLAIN |
                                LIBSSH2_KNOWNHOST_KEYENC_RAW |
                                key_bits (type), NULL);
  switch (r) {
  case LIBSSH2_KNOWNHOST_CHECK_MATCH:
    r = 0;
    break;
  case LIBSSH2_KNOWNHOST_CHECK_MISMATCH:
    p2v_error ("HOST KEY OF %s HAS CHANGED: it is now %s %s, which does not "
               "match %s; refusing to connect.  If the hypervisor was "
               "reinstalled, remove its old line from that file.",
               hostport, type_name (type), fp, o->known_hosts);
    r = -1;
    break;
  case LIBSSH2_KNOWNHOST_CHECK_NOTFOUND:
    if (o->accept_new_host_key)
      r = add_known (kh, o, hostport, key, keylen, type, fp);
    else {
      p2v_error ("unknown host key for %s: %s %s is not in %s; check the "
                 "fingerprint on the hypervisor (ssh-keygen -lf "
                 "/etc/ssh/ssh_host_*_key.pub), then pass --host-key %s, "
                 "or --accept-new-host-key to trust and record it",
                 hostport, type_name (type), fp, o->known_hosts, fp);
      r = -1;
    }
    break;
  default:
    p2v_error ("%s: checking the host key of %s failed", o->known_hosts,
               hostport);
    r = -1;
  }
  libssh2_knownhost_free (kh);
  return r;
}
