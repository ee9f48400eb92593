/*
 * etcd: a client of etcd v3's JSON gateway (POST /v3/kv/..., /v3/lease/...)
 * on libcurl, for the shared lock and journal (journal.h).  Keys and values
 * travel base64-encoded and 64-bit numbers as strings, as the gateway's
 * JSON mapping has them.
 *
 * A request goes to one member at a time, within the plan's timeout, and
 * to the next member when that one cannot answer (refused, timed out, no
 * leader); the member that answered is tried first next time.  Answers
 * cross a trust boundary: etcd_parse reads them with bounds (fuzzed by
 * fuzz_etcd).  Safe to use from several threads: each request has its own
 * curl handle.
 */
#ifndef IVR_CONTROLLER_ETCD_H
#define IVR_CONTROLLER_ETCD_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define ETCD_BODY_MAX  (16 * 1024 * 1024)
#define ETCD_VALUE_MAX (1024 * 1024)
#define ETCD_PAGE      500 /* keys per range request */

/* Where the cluster is and how to reach it (borrowed strings). */
struct etcd_conf {
	char *const *endpoints; /* http(s)://host:port */
	size_t nendpoints;
	int64_t timeout_ms; /* each request to one member */
	const char *ca_file, *cert_file, *key_file; /* NULL: none */
};

struct etcd {
	struct etcd_conf conf;
	atomic_size_t first; /* the member tried first */
};

/* A key and its value as read (value NUL-ended for convenience). */
struct etcd_kv {
	char *key;
	char *value;
	size_t len;
	int64_t create_revision;
	int64_t lease;
};

void etcd_init(struct etcd *e, const struct etcd_conf *conf);

/*
 * Reads a gateway answer (len bytes; http_code as answered) into *out (a
 * new reference): 0; ERR_PROTO with etcd's own message ("etcdserver:
 * requested lease not found") for an error answer; ERR_PARSE for a body
 * that is not its JSON; ERR_IO for another HTTP status.
 */
int etcd_parse(json_t **out, const char *body, size_t len, long http_code,
	       struct err *err);

/*
 * Decodes one entry of a range answer's "kvs" into kv (release with
 * etcd_kv_release).  Returns 0 or ERR_PARSE.
 */
int etcd_kv_decode(struct etcd_kv *kv, const json_t *entry, struct err *err);
void etcd_kv_release(struct etcd_kv *kv);

/* POSTs req (borrowed) to path on the first member that answers. */
int etcd_call(struct etcd *e, const char *path, json_t *req, json_t **out,
	      struct err *err);

/* Puts key = value (len bytes), bound to lease unless 0. */
int etcd_put(struct etcd *e, const char *key, const char *value, size_t len,
	     int64_t lease, struct err *err);

/*
 * Creates key = value bound to lease, in one transaction that fails when
 * the key exists: 0, or ERR_EXISTS with *holder (when not NULL) the
 * existing entry.
 */
int etcd_create(struct etcd *e, const char *key, const char *value,
		int64_t lease, struct etcd_kv *holder, struct err *err);

/* Reads key: 0, ERR_NOTFOUND, or the call's error. */
int etcd_get(struct etcd *e, const char *key, struct etcd_kv *kv,
	     struct err *err);

/* Deletes key when its value is still value (a lock we hold). */
int etcd_delete_if(struct etcd *e, const char *key, const char *value,
		   struct err *err);

/*
 * Calls fn with every key under prefix, in the order they were created
 * (create revision), ETCD_PAGE at a time.  Stops early when fn returns
 * false.
 */
int etcd_each(struct etcd *e, const char *prefix,
	      bool (*fn)(void *ctx, const struct etcd_kv *kv), void *ctx,
	      struct err *err);

/* A lease of ttl_ms (rounded up to seconds). */
int etcd_lease_grant(struct etcd *e, int64_t ttl_ms, int64_t *id,
		     struct err *err);

/* Renews a lease: 0 with *ttl_s its new time to live (0: it had expired). */
int etcd_lease_keepalive(struct etcd *e, int64_t id, int64_t *ttl_s,
			 struct err *err);

/* What a lease has left: *ttl_s, -1 when it is gone. */
int etcd_lease_ttl(struct etcd *e, int64_t id, int64_t *ttl_s, struct err *err);

int etcd_lease_revoke(struct etcd *e, int64_t id, struct err *err);

#endif
