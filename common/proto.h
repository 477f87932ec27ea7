/* p2v wire protocol, version 2.  docs/protocol.md is the specification;
 * this header is its single implementation, used by both sides.
 *
 * Every message: u32 type, u32 payload length, payload.  Big-endian.
 */
#ifndef P2V_PROTO_H
#define P2V_PROTO_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#include "buf.h"

#define P2V_MAGIC "p2v-wire"             /* 8 bytes, in HELLO */
#define P2V_PROTO_MIN 2              /* 1 (no resume) was never released */
#define P2V_PROTO_MAX 6              /* 3: hot clone's passes and hashes;
                                        4: SELECT; 5: DONE asks for the
                                        receiver's KEEPALIVEs; 6: STRIPES
                                        and JOIN */

#define P2V_HEADER_LEN 8
#define P2V_MIN_CHUNK (64 * 1024)
#define P2V_MAX_CHUNK (32 * 1024 * 1024)  /* longest uncompressed data chunk */
#define P2V_MAX_MSG (P2V_MAX_CHUNK + P2V_MAX_CHUNK / 128 + 64 * 1024)
#define P2V_MAX_DISKS 64
#define P2V_MAX_FACTS 1024
#define P2V_MAX_NAME 64
#define P2V_MAX_READ_ERRORS 65536    /* unreadable ranges per disk */
#define P2V_MAX_HASHES 65536         /* chunk hashes per HASHES */
#define P2V_MAX_KEEPALIVE_MS 86400000 /* DONE's interval, at most a day */
#define P2V_MAX_ACTIVITY 256         /* a receiver's KEEPALIVE string */

enum p2v_msg_type {
  P2V_MSG_HELLO = 1,
  P2V_MSG_INVENTORY = 2,
  P2V_MSG_DISK_BEGIN = 3,
  P2V_MSG_CHUNK = 4,
  P2V_MSG_DISK_END = 5,
  P2V_MSG_DONE = 6,
  P2V_MSG_ACK = 7,
  P2V_MSG_ERROR = 8,
  P2V_MSG_SESSION = 9,
  P2V_MSG_READ_ERROR = 10,
  P2V_MSG_NOTICE = 11,
  P2V_MSG_KEEPALIVE = 12,
  /* Version 3. */
  P2V_MSG_PASS_BEGIN = 13,
  P2V_MSG_PASS_END = 14,
  P2V_MSG_HASH_REQUEST = 15,
  P2V_MSG_HASHES = 16,
  /* Version 4. */
  P2V_MSG_SELECT = 17,
  /* Version 6. */
  P2V_MSG_STRIPES = 18,
  P2V_MSG_JOIN = 19,
  P2V_MSG_LAST = P2V_MSG_JOIN,
};
/* The last message type of a protocol version. */
uint32_t p2v_msg_last (uint32_t version);

/* Capability bits in HELLO.  Unknown bits are ignored. */
#define P2V_CAP_ZSTD 0x1ULL
/* Version 6: the receiver can take the agent's messages striped over
 * several connections; from the agent, STRIPES follows its HELLO.
 */
#define P2V_CAP_STRIPES 0x2ULL
#define P2V_MAX_STREAMS 16      /* connections of one striped session */
#define P2V_TOKEN_LEN 16        /* a striped session's random token */
#define P2V_STRIPE_HEADER 8     /* u64 sequence number before each message */

enum p2v_chunk_kind {
  P2V_CHUNK_DATA = 0,           /* followed by one zstd frame */
  P2V_CHUNK_ZERO = 1,           /* reads as zeros; no payload */
};

/* ACK flags. */
#define P2V_ACK_DISK_COMPLETE 0x1   /* disk verified against DISK_END */
#define P2V_ACK_ALL_COMPLETE 0x2    /* conversion finished and renamed */
#define P2V_ACK_PASS 0x4            /* committed: within the current pass */

/* SESSION flags: the conversion, and each disk. */
#define P2V_SESSION_RESUMED 0x1     /* continuing an earlier conversion */
#define P2V_DISK_COMPLETE 0x1       /* received and verified earlier */

enum p2v_err_code {
  P2V_ERR_PROTOCOL = 1,         /* malformed or unexpected message */
  P2V_ERR_VERSION = 2,          /* no common protocol version */
  P2V_ERR_EXISTS = 3,           /* conversion name already used */
  P2V_ERR_IO = 4,               /* read/write failure, disk full */
  P2V_ERR_VERIFY = 5,           /* hash or digest mismatch */
  P2V_ERR_REFUSED = 6,          /* bad name, size, offset */
  P2V_ERR_INTERNAL = 7,
  P2V_ERR_BUSY = 8,             /* another session holds the name: retry */
  P2V_ERR_COMPLETE = 9,         /* already complete, from this source */
  P2V_ERR_RETRY = 10,           /* the hypervisor side asks: come back later */
};

#define P2V_HASH_LEN 16         /* XXH3-128, canonical byte order */

struct p2v_hello {
  uint32_t version_min, version_max;
  uint64_t caps;
  char *software;
};

struct p2v_disk_info {
  uint64_t size;
  uint32_t sector_size;
  char *source;                 /* path on the source machine */
  char *id;                     /* model/serial if known, else "" */
  uint8_t fingerprint[P2V_HASH_LEN];    /* XXH3-128 of the first MiB */
  uint64_t data_bytes;          /* most DATA bytes the agent will send */
};

struct p2v_inventory {
  char *name;                   /* conversion name, see p2v_name_valid */
  char *hostname;
  uint32_t cpus;
  uint64_t memory;              /* bytes */
  uint32_t ndisks;
  struct p2v_disk_info *disks;
  uint32_t nfacts;              /* free-form key=value host facts */
  char **keys, **values;
};

struct p2v_disk_begin {
  uint32_t disk;
  uint64_t size;
  uint32_t chunk_size;
  uint64_t start;               /* first offset: the committed prefix */
  uint64_t ack_bytes;           /* commit and ACK at least this often */
};

struct p2v_chunk {
  uint32_t disk;
  uint64_t offset, length;
  uint8_t kind;
  uint8_t hash[P2V_HASH_LEN];   /* of the uncompressed data; zero for ZERO */
  const uint8_t *frame;         /* points into the message */
  size_t frame_len;
};

struct p2v_disk_end {
  uint32_t disk;
  uint64_t chunks;
  uint8_t digest[P2V_HASH_LEN];
};

/* Version 3: a pass re-sends chunks of a complete disk (hot clone).
 * PASS_END's payload is DISK_END's (struct p2v_disk_end).
 */
struct p2v_pass_begin {
  uint32_t disk, pass;          /* pass >= 2 */
  uint32_t chunk_size;          /* as DISK_BEGIN's */
  uint64_t ack_bytes;
};

/* The hashes of count chunks of chunk_size bytes from offset (the last
 * one cut at the disk's end).
 */
struct p2v_hash_request {
  uint32_t disk;
  uint64_t offset;
  uint32_t chunk_size;
  uint32_t count;               /* 1 ... P2V_MAX_HASHES */
};
struct p2v_hashes {
  uint32_t disk;
  uint64_t offset;
  uint32_t count;
  const uint8_t *hashes;        /* count * P2V_HASH_LEN, into the message */
};

/* Version 4: the receiver wants only these disks of the INVENTORY
 * (ascending indices); the agent answers with an INVENTORY of them.
 */
struct p2v_select {
  uint32_t count;               /* 1 ... P2V_MAX_DISKS */
  uint32_t disks[P2V_MAX_DISKS];
};

/* Version 6.  STRIPES from the agent: the session's token and the most
 * connections it will use; from the receiver: how many it takes.  JOIN,
 * the first message of a further connection: whose, and which it is.
 */
struct p2v_stripes {
  uint8_t token[P2V_TOKEN_LEN];
  uint32_t streams;             /* asked: 1 ... P2V_MAX_STREAMS; taken:
                                   up to that, 0 or 1 meaning no further
                                   connection (still numbered) */
};
struct p2v_join {
  uint8_t token[P2V_TOKEN_LEN];
  uint32_t index;               /* 1 ... P2V_MAX_STREAMS - 1 */
};

struct p2v_ack {
  uint32_t disk;
  uint64_t committed;           /* bytes [0, committed) are durable */
  uint64_t chunks;              /* chunks durable on this disk */
  uint32_t flags;
};

/* The receiver's answer to INVENTORY: where each disk stands. */
struct p2v_session_disk {
  uint64_t committed, chunks;
  uint32_t flags;               /* P2V_DISK_COMPLETE */
  uint32_t read_errors;         /* unreadable ranges recorded so far */
};
struct p2v_session {
  uint32_t flags;               /* P2V_SESSION_RESUMED */
  uint32_t ndisks;
  struct p2v_session_disk disks[P2V_MAX_DISKS];
};

/* A source range that could not be read and is sent as zeros. */
struct p2v_read_error {
  uint32_t disk;
  uint64_t offset, length;
  uint32_t err;                 /* Linux errno */
};

struct p2v_errmsg {
  uint32_t code;
  char *message;
};

/* Building: start reserves the header, finish patches its length. */
void p2v_msg_start (struct p2v_wbuf *b, uint32_t type);
int p2v_msg_finish (struct p2v_wbuf *b);

void p2v_put_hello (struct p2v_wbuf *b, const struct p2v_hello *h);
void p2v_put_inventory (struct p2v_wbuf *b, const struct p2v_inventory *inv);
void p2v_put_disk_begin (struct p2v_wbuf *b, const struct p2v_disk_begin *d);
/* Chunk header only; the caller appends the zstd frame, then finishes. */
void p2v_put_chunk_header (struct p2v_wbuf *b, const struct p2v_chunk *c);
void p2v_put_disk_end (struct p2v_wbuf *b, const struct p2v_disk_end *d);
void p2v_put_ack (struct p2v_wbuf *b, const struct p2v_ack *a);
void p2v_put_error (struct p2v_wbuf *b, uint32_t code, const char *msg);
void p2v_put_session (struct p2v_wbuf *b, const struct p2v_session *s);
void p2v_put_read_error (struct p2v_wbuf *b, const struct p2v_read_error *e);
void p2v_put_pass_begin (struct p2v_wbuf *b, const struct p2v_pass_begin *p);
void p2v_put_hash_request (struct p2v_wbuf *b,
                           const struct p2v_hash_request *r);
/* HASHES header; the caller appends count hashes, then finishes. */
void p2v_put_hashes_header (struct p2v_wbuf *b, const struct p2v_hashes *h);
#define P2V_NOTICE_INFO 0
#define P2V_NOTICE_WARNING 1
void p2v_put_notice (struct p2v_wbuf *b, uint32_t level, const char *msg);
/* DONE: empty before version 5; from 5 on, the interval in which the
 * agent wants a KEEPALIVE while the receiver publishes (0: none). */
void p2v_put_done (struct p2v_wbuf *b, uint32_t version,
                   uint32_t keepalive_ms);
/* The receiver's KEEPALIVE (version 5): what it is doing. */
void p2v_put_activity (struct p2v_wbuf *b, const char *what);

/* Parsing a payload: 0 on success, -1 if malformed (nothing allocated). */
int p2v_parse_hello (const void *p, size_t len, struct p2v_hello *h);
int p2v_parse_inventory (const void *p, size_t len, struct p2v_inventory *inv);
int p2v_parse_disk_begin (const void *p, size_t len, struct p2v_disk_begin *d);
int p2v_parse_chunk (const void *p, size_t len, struct p2v_chunk *c);
int p2v_parse_disk_end (const void *p, size_t len, struct p2v_disk_end *d);
int p2v_parse_ack (const void *p, size_t len, struct p2v_ack *a);
int p2v_parse_error (const void *p, size_t len, struct p2v_errmsg *e);
int p2v_parse_session (const void *p, size_t len, struct p2v_session *s);
int p2v_parse_read_error (const void *p, size_t len,
                          struct p2v_read_error *e);
int p2v_parse_pass_begin (const void *p, size_t len,
                          struct p2v_pass_begin *pb);
int p2v_parse_hash_request (const void *p, size_t len,
                            struct p2v_hash_request *r);
int p2v_parse_hashes (const void *p, size_t len, struct p2v_hashes *h);
void p2v_put_select (struct p2v_wbuf *b, const struct p2v_select *sel);
/* Also checks that the indices ascend. */
int p2v_parse_select (const void *p, size_t len, struct p2v_select *sel);
void p2v_put_stripes (struct p2v_wbuf *b, const struct p2v_stripes *st);
int p2v_parse_stripes (const void *p, size_t len, struct p2v_stripes *st);
void p2v_put_join (struct p2v_wbuf *b, const struct p2v_join *j);
int p2v_parse_join (const void *p, size_t len, struct p2v_join *j);
/* *msg is allocated. */
int p2v_parse_notice (const void *p, size_t len, uint32_t *level,
                      char **msg);
int p2v_parse_done (const void *p, size_t len, uint32_t version,
                    uint32_t *keepalive_ms);
/* *what is allocated. */
int p2v_parse_activity (const void *p, size_t len, char **what);

void p2v_hello_free (struct p2v_hello *h);
void p2v_inventory_free (struct p2v_inventory *inv);

/* An inventory fact's value, or NULL. */
const char *p2v_fact (const struct p2v_inventory *inv, const char *key);
/* The fact "PREFIX.N.FIELD" (nic.0.mac, md.1.level), or NULL. */
const char *p2v_fact_nth (const struct p2v_inventory *inv, const char *prefix,
                          int n, const char *field);

/* Both sides pick the highest version in both ranges; -1 if none. */
int p2v_version_choose (const struct p2v_hello *a, const struct p2v_hello *b);

/* Conversion names become directory names on the receiver:
 * 1-64 of [A-Za-z0-9._-], starting with a letter or digit.
 */
bool p2v_name_valid (const char *name);

const char *p2v_msg_name (uint32_t type);

#endif
