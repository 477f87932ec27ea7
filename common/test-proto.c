/* Every message round-trips, and every truncation or extension of a
 * valid message is refused by its parser.
 */
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "proto.h"
#include "test.h"

typedef int (*parser) (const void *, size_t, void *);

/* A parser must reject the message cut short or with a byte appended. */
static void
check_strict (parser parse, const struct p2v_wbuf *w, void *out,
              void (*release) (void *))
{
  const uint8_t *payload = w->p + P2V_HEADER_LEN;
  size_t len = w->len - P2V_HEADER_LEN;
  uint8_t *longer = malloc (len + 1);

  for (size_t cut = 0; cut < len; ++cut) {
    int r = parse (payload, cut, out);
    CHECK (r == -1);
    if (r == 0 && release)
      release (out);
  }
  memcpy (longer, payload, len);
  longer[len] = 0;
  CHECK (parse (longer, len + 1, out) == -1);
  free (longer);
}

static void
release_hello (void *h) { p2v_hello_free (h); }
static void
release_inventory (void *i) { p2v_inventory_free (i); }

static void
test_hello (void)
{
  struct p2v_hello h = { 1, 3, P2V_CAP_ZSTD, "p2v-agent test" }, g;
  struct p2v_hello other = { 2, 5, 0, "x" }, old = { 4, 4, 0, "y" };
  struct p2v_wbuf w = { 0 };

  p2v_msg_start (&w, P2V_MSG_HELLO);
  p2v_put_hello (&w, &h);
  CHECK (p2v_msg_finish (&w) == 0);
  CHECK (w.p[3] == P2V_MSG_HELLO && w.p[7] == w.len - P2V_HEADER_LEN);
  CHECK (p2v_parse_hello (w.p + 8, w.len - 8, &g) == 0);
  CHECK (g.version_min == 1 && g.version_max == 3 && g.caps == P2V_CAP_ZSTD);
  CHECK (strcmp (g.software, "p2v-agent test") == 0);
  p2v_hello_free (&g);
  check_strict ((parser) p2v_parse_hello, &w, &g, release_hello);

  w.p[8] ^= 1;                                  /* bad magic */
  CHECK (p2v_parse_hello (w.p + 8, w.len - 8, &g) == -1);

  CHECK (p2v_version_choose (&h, &other) == 3);
  CHECK (p2v_version_choose (&h, &old) == -1);
  p2v_wbuf_free (&w);
}

static void
test_inventory (void)
{
  struct p2v_disk_info d[2] = {
    { 1ULL << 40, 512, "/dev/sda", "WDC 123", { 0xaa }, 1ULL << 39 },
    { 4096, 4096, "b.img", "", { 0 }, 0 }
  };
  char *keys[] = { "kernel" }, *values[] = { "2.6.32" };
  struct p2v_inventory inv = { "web01", "web01.example", 4, 1ULL << 31, 2,
                               d, 1, keys, values }, g;
  struct p2v_wbuf w = { 0 };

  p2v_msg_start (&w, P2V_MSG_INVENTORY);
  p2v_put_inventory (&w, &inv);
  CHECK (p2v_msg_finish (&w) == 0);
  CHECK (p2v_parse_inventory (w.p + 8, w.len - 8, &g) == 0);
  CHECK (strcmp (g.name, "web01") == 0 && g.cpus == 4 && g.ndisks == 2);
  CHECK (g.disks[0].size == 1ULL << 40 && g.disks[1].sector_size == 4096);
  CHECK (strcmp (g.disks[0].id, "WDC 123") == 0);
  CHECK (g.disks[0].fingerprint[0] == 0xaa &&
         g.disks[0].data_bytes == 1ULL << 39);
  CHECK (g.nfacts == 1 && strcmp (g.values[0], "2.6.32") == 0);
  p2v_inventory_free (&g);
  check_strict ((parser) p2v_parse_inventory, &w, &g, release_inventory);

  /* Over-limit fact and disk counts: refused at once (a fuzzer found
   * the free walking a 4-billion count).
   */
  inv.ndisks = 2;
  inv.nfacts = 1;
  p2v_wbuf_reset (&w);
  p2v_put_inventory (&w, &inv);
  w.p[w.len - 4 - 6 - 4 - 6 - 4] = 0xff;        /* nfacts high byte */
  CHECK (p2v_parse_inventory (w.p, w.len, &g) == -1);
  CHECK (g.nfacts == 0 && g.ndisks == 0 && g.disks == NULL);

  inv.ndisks = 0;                               /* no disks: refused */
  p2v_wbuf_reset (&w);
  p2v_msg_start (&w, P2V_MSG_INVENTORY);
  p2v_put_inventory (&w, &inv);
  p2v_msg_finish (&w);
  CHECK (p2v_parse_inventory (w.p + 8, w.len - 8, &g) == -1);
  p2v_wbuf_free (&w);
}

static void
test_chunk (void)
{
  struct p2v_chunk c = { 1, 1 << 20, 4096, P2V_CHUNK_DATA }, g;
  struct p2v_wbuf w = { 0 };

  memset (c.hash, 0xaa, sizeof c.hash);
  p2v_msg_start (&w, P2V_MSG_CHUNK);
  p2v_put_chunk_header (&w, &c);
  p2v_put_bytes (&w, "FRAME", 5);
  CHECK (p2v_msg_finish (&w) == 0);
  CHECK (p2v_parse_chunk (w.p + 8, w.len - 8, &g) == 0);
  CHECK (g.disk == 1 && g.offset == 1 << 20 && g.length == 4096);
  CHECK (g.frame_len == 5 && memcmp (g.frame, "FRAME", 5) == 0);
  CHECK (memcmp (g.hash, c.hash, P2V_HASH_LEN) == 0);
  /* A data chunk needs a frame; a zero chunk must not have one. */
  CHECK (p2v_parse_chunk (w.p + 8, w.len - 8 - 5, &g) == -1);
  w.p[8 + 4 + 8 + 8] = P2V_CHUNK_ZERO;
  CHECK (p2v_parse_chunk (w.p + 8, w.len - 8, &g) == -1);
  /* ... and its hash field is all zeros. */
  CHECK (p2v_parse_chunk (w.p + 8, w.len - 8 - 5, &g) == -1);
  memset (w.p + 8 + 4 + 8 + 8 + 1, 0, P2V_HASH_LEN);
  CHECK (p2v_parse_chunk (w.p + 8, w.len - 8 - 5, &g) == 0);
  w.p[8 + 4 + 8 + 8 + 1 + 15] = 1;
  CHECK (p2v_parse_chunk (w.p + 8, w.len - 8 - 5, &g) == -1);
  w.p[8 + 4 + 8 + 8 + 1 + 15] = 0;
  w.p[8 + 4 + 8 + 8] = 7;                       /* unknown kind */
  CHECK (p2v_parse_chunk (w.p + 8, w.len - 8 - 5, &g) == -1);
  p2v_wbuf_free (&w);
}

static void
test_small_messages (void)
{
  struct p2v_wbuf w = { 0 };
  struct p2v_ack a = { 2, 123, 4, P2V_ACK_DISK_COMPLETE }, ga;
  struct p2v_disk_end e = { 3, 99 }, ge;
  struct p2v_disk_begin b = { 0, 1 << 30, 1 << 20, 5 << 20, 64 << 20 }, gb;
  struct p2v_errmsg er;
  struct p2v_session ss = { P2V_SESSION_RESUMED, 2 }, gs;
  struct p2v_read_error re = { 1, 4096, 512, 5 }, gre;
  char *note;
  uint32_t level;

  p2v_msg_start (&w, P2V_MSG_ACK);
  p2v_put_ack (&w, &a);
  p2v_msg_finish (&w);
  CHECK (p2v_parse_ack (w.p + 8, w.len - 8, &ga) == 0 &&
         ga.disk == 2 && ga.committed == 123 && ga.chunks == 4 &&
         ga.flags == P2V_ACK_DISK_COMPLETE);
  check_strict ((parser) p2v_parse_ack, &w, &ga, NULL);

  p2v_wbuf_reset (&w);
  memset (e.digest, 7, sizeof e.digest);
  p2v_msg_start (&w, P2V_MSG_DISK_END);
  p2v_put_disk_end (&w, &e);
  p2v_msg_finish (&w);
  CHECK (p2v_parse_disk_end (w.p + 8, w.len - 8, &ge) == 0 &&
         ge.chunks == 99 && ge.digest[15] == 7);
  check_strict ((parser) p2v_parse_disk_end, &w, &ge, NULL);

  p2v_wbuf_reset (&w);
  p2v_msg_start (&w, P2V_MSG_DISK_BEGIN);
  p2v_put_disk_begin (&w, &b);
  p2v_msg_finish (&w);
  CHECK (p2v_parse_disk_begin (w.p + 8, w.len - 8, &gb) == 0 &&
         gb.size == 1 << 30 && gb.chunk_size == 1 << 20 &&
         gb.start == 5 << 20 && gb.ack_bytes == 64 << 20);
  check_strict ((parser) p2v_parse_disk_begin, &w, &gb, NULL);

  p2v_wbuf_reset (&w);
  p2v_msg_start (&w, P2V_MSG_ERROR);
  p2v_put_error (&w, P2V_ERR_IO, "disk full");
  p2v_msg_finish (&w);
  CHECK (p2v_parse_error (w.p + 8, w.len - 8, &er) == 0 &&
         er.code == P2V_ERR_IO && strcmp (er.message, "disk full") == 0);
  free (er.message);

  p2v_wbuf_reset (&w);
  ss.disks[1] = (struct p2v_session_disk) { 1 << 20, 3, 0, 2 };
  ss.disks[0] = (struct p2v_session_disk) { 8 << 20, 9, P2V_DISK_COMPLETE };
  p2v_msg_start (&w, P2V_MSG_SESSION);
  p2v_put_session (&w, &ss);
  p2v_msg_finish (&w);
  CHECK (p2v_parse_session (w.p + 8, w.len - 8, &gs) == 0 &&
         gs.flags == P2V_SESSION_RESUMED && gs.ndisks == 2 &&
         gs.disks[0].committed == 8 << 20 &&
         gs.disks[0].flags == P2V_DISK_COMPLETE &&
         gs.disks[1].chunks == 3 && gs.disks[1].read_errors == 2);
  check_strict ((parser) p2v_parse_session, &w, &gs, NULL);
  p2v_be32 (w.p + 12, P2V_MAX_DISKS + 1);       /* ndisks out of range */
  CHECK (p2v_parse_session (w.p + 8, w.len - 8, &gs) == -1);

  p2v_wbuf_reset (&w);
  p2v_msg_start (&w, P2V_MSG_READ_ERROR);
  p2v_put_read_error (&w, &re);
  p2v_msg_finish (&w);
  CHECK (p2v_parse_read_error (w.p + 8, w.len - 8, &gre) == 0 &&
         gre.disk == 1 && gre.offset == 4096 && gre.length == 512 &&
         gre.err == 5);
  check_strict ((parser) p2v_parse_read_error, &w, &gre, NULL);

  p2v_wbuf_reset (&w);
  p2v_msg_start (&w, P2V_MSG_NOTICE);
  p2v_put_notice (&w, P2V_NOTICE_WARNING, "low on space");
  p2v_msg_finish (&w);
  CHECK (p2v_parse_notice (w.p + 8, w.len - 8, &level, &note) == 0 &&
         level == P2V_NOTICE_WARNING && strcmp (note, "low on space") == 0);
  free (note);
  CHECK (p2v_parse_notice (w.p + 8, w.len - 9, &level, &note) == -1 &&
         !note);
  p2v_wbuf_free (&w);
}

/* Version 3: hot clone's passes and hashes. */
static void
test_v3_messages (void)
{
  struct p2v_wbuf w = { 0 };
  struct p2v_pass_begin pb = { 1, 4, 1 << 18, 32 << 20 }, gpb;
  struct p2v_hash_request hr = { 2, 1 << 20, 1 << 18, 100 }, ghr;
  struct p2v_hashes h = { 0, 3 << 20, 2 }, gh;
  uint8_t two[2 * P2V_HASH_LEN];

  CHECK (p2v_msg_last (2) == P2V_MSG_KEEPALIVE &&
         p2v_msg_last (3) == P2V_MSG_HASHES &&
         p2v_msg_last (4) == P2V_MSG_SELECT &&
         p2v_msg_last (5) == P2V_MSG_SELECT);
  CHECK (strcmp (p2v_msg_name (P2V_MSG_HASH_REQUEST), "HASH_REQUEST") == 0);

  /* Version 4: SELECT, strictly ascending indices. */
  struct p2v_select sel = { 2, { 0, 3 } }, gsel;
  p2v_msg_start (&w, P2V_MSG_SELECT);
  p2v_put_select (&w, &sel);
  p2v_msg_finish (&w);
  CHECK (p2v_parse_select (w.p + 8, w.len - 8, &gsel) == 0 &&
         gsel.count == 2 && gsel.disks[0] == 0 && gsel.disks[1] == 3);
  check_strict ((parser) p2v_parse_select, &w, &gsel, NULL);
  CHECK (strcmp (p2v_msg_name (P2V_MSG_SELECT), "SELECT") == 0);
  static const uint32_t bad[][3] = {
    { 0, 0, 0 }, { 2, 3, 3 }, { 2, 3, 1 }, { 1, P2V_MAX_DISKS, 0 },
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; ++i) {
    p2v_wbuf_reset (&w);
    p2v_put_u32 (&w, bad[i][0]);
    for (uint32_t k = 0; k < bad[i][0]; ++k)
      p2v_put_u32 (&w, bad[i][1 + k]);
    CHECK (p2v_parse_select (w.p, w.len, &gsel) == -1);
  }
  p2v_wbuf_reset (&w);

  p2v_msg_start (&w, P2V_MSG_PASS_BEGIN);
  p2v_put_pass_begin (&w, &pb);
  p2v_msg_finish (&w);
  CHECK (p2v_parse_pass_begin (w.p + 8, w.len - 8, &gpb) == 0 &&
         gpb.disk == 1 && gpb.pass == 4 && gpb.chunk_size == 1 << 18 &&
         gpb.ack_bytes == 32 << 20);
  check_strict ((parser) p2v_parse_pass_begin, &w, &gpb, NULL);

  p2v_wbuf_reset (&w);
  p2v_msg_start (&w, P2V_MSG_HASH_REQUEST);
  p2v_put_hash_request (&w, &hr);
  p2v_msg_finish (&w);
  CHECK (p2v_parse_hash_request (w.p + 8, w.len - 8, &ghr) == 0 &&
         ghr.disk == 2 && ghr.offset == 1 << 20 && ghr.chunk_size == 1 << 18 &&
         ghr.count == 100);
  check_strict ((parser) p2v_parse_hash_request, &w, &ghr, NULL);
  p2v_be32 (w.p + 8 + 16, 0);                   /* no chunk */
  CHECK (p2v_parse_hash_request (w.p + 8, w.len - 8, &ghr) == -1);
  p2v_be32 (w.p + 8 + 16, P2V_MAX_HASHES + 1);  /* too many */
  CHECK (p2v_parse_hash_request (w.p + 8, w.len - 8, &ghr) == -1);

  p2v_wbuf_reset (&w);
  for (size_t i = 0; i < sizeof two; ++i)
    two[i] = (uint8_t) i;
  p2v_msg_start (&w, P2V_MSG_HASHES);
  p2v_put_hashes_header (&w, &h);
  p2v_put_bytes (&w, two, sizeof two);
  p2v_msg_finish (&w);
  CHECK (p2v_parse_hashes (w.p + 8, w.len - 8, &gh) == 0 && gh.count == 2 &&
         gh.offset == 3 << 20 && memcmp (gh.hashes, two, sizeof two) == 0);
  CHECK (p2v_parse_hashes (w.p + 8, w.len - 9, &gh) == -1);     /* short */
  p2v_be32 (w.p + 8 + 12, 3);                   /* count disagrees */
  CHECK (p2v_parse_hashes (w.p + 8, w.len - 8, &gh) == -1);
  p2v_wbuf_free (&w);
}

static void
test_names (void)
{
  CHECK (p2v_name_valid ("web01"));
  CHECK (p2v_name_valid ("db-2.old_host"));
  CHECK (!p2v_name_valid (""));
  CHECK (!p2v_name_valid (".."));
  CHECK (!p2v_name_valid ("../etc"));
  CHECK (!p2v_name_valid ("a/b"));
  CHECK (!p2v_name_valid (".hidden"));
  CHECK (!p2v_name_valid ("-rf"));
  CHECK (!p2v_name_valid ("a b"));
  CHECK (!p2v_name_valid ("x\ny"));
  CHECK (p2v_name_valid ("a234567890123456789012345678901234567890123456789"
                         "012345678901234"));           /* 64 */
  CHECK (!p2v_name_valid ("a234567890123456789012345678901234567890123456789"
                          "0123456789012345"));         /* 65 */
}

static void
test_digest (void)
{
  struct p2v_chunk a = { 0, 0, 4096, P2V_CHUNK_DATA };
  struct p2v_chunk z = { 0, 4096, 1 << 20, P2V_CHUNK_ZERO };
  uint8_t d1[P2V_HASH_LEN], d2[P2V_HASH_LEN], h1[P2V_HASH_LEN];
  struct p2v_digest *g;

  p2v_hash_chunk ("abc", 3, h1);
  p2v_hash_chunk ("abd", 3, a.hash);
  CHECK (memcmp (h1, a.hash, P2V_HASH_LEN) != 0);
  g = p2v_digest_new ();
  p2v_digest_add (g, &a);
  p2v_digest_add (g, &z);
  p2v_digest_final (g, d1);
  p2v_digest_free (g);
  /* Same chunks in another order, or one length changed: different. */
  g = p2v_digest_new ();
  p2v_digest_add (g, &z);
  p2v_digest_add (g, &a);
  p2v_digest_final (g, d2);
  p2v_digest_free (g);
  CHECK (memcmp (d1, d2, P2V_HASH_LEN) != 0);
  z.length++;
  g = p2v_digest_new ();
  p2v_digest_add (g, &a);
  p2v_digest_add (g, &z);
  p2v_digest_final (g, d2);
  p2v_digest_free (g);
  CHECK (memcmp (d1, d2, P2V_HASH_LEN) != 0);
}

static int
parse_done_v5 (const void *p, size_t len, void *ms)
{
  return p2v_parse_done (p, len, 5, ms);
}

static void
free_string (void *s) { free (*(char **) s); }

/* Version 5: DONE carries the keepalive interval (empty before), and
 * the receiver's KEEPALIVE says what it is doing.
 */
static void
test_v5_messages (void)
{
  struct p2v_wbuf w = { 0 };
  uint32_t ms = 1;
  char *what, big[P2V_MAX_ACTIVITY + 2];

  p2v_msg_start (&w, P2V_MSG_DONE);
  p2v_put_done (&w, 4, 2500);
  p2v_msg_finish (&w);
  CHECK (w.len == P2V_HEADER_LEN &&
         p2v_parse_done (w.p + 8, 0, 4, &ms) == 0 && ms == 0);
  CHECK (p2v_parse_done (w.p + 8, 0, 5, &ms) == -1);
  p2v_wbuf_reset (&w);
  p2v_msg_start (&w, P2V_MSG_DONE);
  p2v_put_done (&w, 5, 2500);
  p2v_msg_finish (&w);
  CHECK (p2v_parse_done (w.p + 8, w.len - 8, 5, &ms) == 0 && ms == 2500);
  CHECK (p2v_parse_done (w.p + 8, w.len - 8, 4, &ms) == -1);
  check_strict (parse_done_v5, &w, &ms, NULL);
  p2v_wbuf_reset (&w);
  p2v_put_u32 (&w, P2V_MAX_KEEPALIVE_MS + 1);
  CHECK (p2v_parse_done (w.p, w.len, 5, &ms) == -1);

  p2v_wbuf_reset (&w);
  p2v_msg_start (&w, P2V_MSG_KEEPALIVE);
  p2v_put_activity (&w, "running p2v-fixup (12 s)");
  p2v_msg_finish (&w);
  CHECK (p2v_parse_activity (w.p + 8, w.len - 8, &what) == 0 &&
         strcmp (what, "running p2v-fixup (12 s)") == 0);
  free (what);
  check_strict ((parser) p2v_parse_activity, &w, &what, free_string);
  memset (big, 'x', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  p2v_wbuf_reset (&w);
  p2v_put_activity (&w, big);
  CHECK (p2v_parse_activity (w.p, w.len, &what) == -1 && what == NULL);
  p2v_wbuf_free (&w);
}

/* Facts by key, and the numbered ones (nic.N.mac) by their parts. */
static void
test_facts (void)
{
  char *keys[] = { "dmi.serial", "nic.0.mac", "nic.1.name", "md.12.level" };
  char *values[] = { "SN1", "52:54:00:00:00:01", "eth1", "raid1" };
  struct p2v_inventory inv = { .nfacts = 4, .keys = keys, .values = values };
  char longer[80];

  CHECK (strcmp (p2v_fact (&inv, "dmi.serial"), "SN1") == 0);
  CHECK (p2v_fact (&inv, "dmi") == NULL);
  CHECK (p2v_fact (&inv, "DMI.SERIAL") == NULL);
  CHECK (strcmp (p2v_fact_nth (&inv, "nic", 0, "mac"), values[1]) == 0);
  CHECK (strcmp (p2v_fact_nth (&inv, "nic", 1, "name"), "eth1") == 0);
  CHECK (p2v_fact_nth (&inv, "nic", 1, "mac") == NULL);
  CHECK (p2v_fact_nth (&inv, "nic", 2, "name") == NULL);
  CHECK (strcmp (p2v_fact_nth (&inv, "md", 12, "level"), "raid1") == 0);
  memset (longer, 'x', sizeof longer - 1);
  longer[sizeof longer - 1] = '\0';
  CHECK (p2v_fact_nth (&inv, "nic", 0, longer) == NULL);
  inv.nfacts = 0;
  CHECK (p2v_fact (&inv, "dmi.serial") == NULL);
}

/* Version 6: STRIPES (0 taken is legal, more than 16 is not) and
 * JOIN (index 1 to 15).
 */
static void
test_v6_messages (void)
{
  struct p2v_wbuf w = { 0 };
  struct p2v_stripes st = { .streams = 8 }, gst;
  struct p2v_join j = { .index = 3 }, gj;

  CHECK (p2v_msg_last (6) == P2V_MSG_JOIN && P2V_MSG_LAST == P2V_MSG_JOIN);
  for (int i = 0; i < P2V_TOKEN_LEN; ++i)
    st.token[i] = j.token[i] = 0xa0 + i;
  p2v_msg_start (&w, P2V_MSG_STRIPES);
  p2v_put_stripes (&w, &st);
  p2v_msg_finish (&w);
  CHECK (w.len == 8 + 20);
  CHECK (p2v_parse_stripes (w.p + 8, w.len - 8, &gst) == 0 &&
         gst.streams == 8 && !memcmp (gst.token, st.token, P2V_TOKEN_LEN));
  check_strict ((parser) p2v_parse_stripes, &w, &gst, NULL);
  st.streams = 0;
  p2v_wbuf_reset (&w);
  p2v_put_stripes (&w, &st);
  CHECK (p2v_parse_stripes (w.p, w.len, &gst) == 0 && gst.streams == 0);
  st.streams = P2V_MAX_STREAMS + 1;
  p2v_wbuf_reset (&w);
  p2v_put_stripes (&w, &st);
  CHECK (p2v_parse_stripes (w.p, w.len, &gst) == -1);

  p2v_wbuf_reset (&w);
  p2v_msg_start (&w, P2V_MSG_JOIN);
  p2v_put_join (&w, &j);
  p2v_msg_finish (&w);
  CHECK (p2v_parse_join (w.p + 8, w.len - 8, &gj) == 0 && gj.index == 3 &&
         !memcmp (gj.token, j.token, P2V_TOKEN_LEN));
  check_strict ((parser) p2v_parse_join, &w, &gj, NULL);
  for (uint32_t bad = 0; bad <= P2V_MAX_STREAMS; bad += P2V_MAX_STREAMS) {
    j.index = bad;              /* 0 is the first connection; 16 is one too many */
    p2v_wbuf_reset (&w);
    p2v_put_join (&w, &j);
    CHECK (p2v_parse_join (w.p, w.len, &gj) == -1);
  }
  CHECK (strcmp (p2v_msg_name (P2V_MSG_STRIPES), "STRIPES") == 0 &&
         strcmp (p2v_msg_name (P2V_MSG_JOIN), "JOIN") == 0);
  p2v_wbuf_free (&w);
}

int
main (void)
{
  test_hello ();
  test_inventory ();
  test_chunk ();
  test_small_messages ();
  test_v3_messages ();
  test_v5_messages ();
  test_v6_messages ();
  test_names ();
  test_digest ();
  test_facts ();
  return TEST_DONE ();
}
