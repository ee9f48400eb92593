/*
 * etcd: see etcd.h.
 */
#include "etcd.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "hash.h"

/* gRPC's codes for "try another member" */
#define GRPC_DEADLINE_EXCEEDED 4
#define GRPC_UNAVAILABLE       14

void
etcd_init(struct etcd *e, const struct etcd_conf *conf)
{
	e->conf = *conf;
	atomic_store(&e->first, 0);
}

/* An int64 as the gateway writes it: a string of digits, or a number. */
static int64_t
num(const json_t *v)
{
	const char *s = json_string_value(v);

	if (json_is_integer(v))
		return (int64_t)json_integer_value(v);
	return s != NULL ? strtoll(s, NULL, 10) : 0;
}

int
etcd_parse(json_t **out, const char *body, size_t len, long http_code,
	   struct err *err)
{
	json_error_t je;
	json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	const char *msg = json_string_value(json_object_get(doc, "message"));
	int rc;

	*out = NULL;
	if (!json_is_object(doc)) {
		json_decref(doc);
		return http_code != 200
			       ? err_set(err, ERR_IO, "etcd answered HTTP %ld",
					 http_code)
			       : err_set(err, ERR_PARSE, "not etcd's JSON: %s",
					 doc ? "not an object" : je.text);
	}
	if (msg != NULL || json_object_get(doc, "error") != NULL ||
	    http_code != 200) {
		rc = err_set(
			err,
			num(json_object_get(doc, "code")) == GRPC_UNAVAILABLE ||
					num(json_object_get(doc, "code")) ==
						GRPC_DEADLINE_EXCEEDED
				? ERR_IO
				: ERR_PROTO,
			"etcd answered %ld: %.300s", http_code,
			msg ? msg : "an error");
		json_decref(doc);
		return rc;
	}
	*out = doc;
	return 0;
}

/* Decodes the base64 string v into a new NUL-ended buffer. */
static int
unbase64(char **out, size_t *len, const json_t *v, size_t max, struct err *err)
{
	const char *s = json_string_value(v);
	size_t n = s ? strlen(s) : 0;
	long got;

	*out = NULL;
	*len = 0;
	if (v == NULL) { /* the gateway leaves empty values out */
		*out = calloc(1, 1);
		return *out ? 0 : err_set(err, ERR_NOMEM, "no memory");
	}
	if (s == NULL || n / 4 * 3 > max)
		return err_set(err, ERR_PARSE,
			       "not etcd's JSON: a key or value is not "
			       "base64 text of at most %zu bytes",
			       max);
	if ((*out = malloc(n / 4 * 3 + 1)) == NULL)
		return err_set(err, ERR_NOMEM, "no memory for a value");
	if ((got = hash_unbase64((unsigned char *)*out, s, n)) < 0) {
		free(*out);
		*out = NULL;
		return err_set(err, ERR_PARSE,
			       "not etcd's JSON: a key or value is not "
			       "base64");
	}
	(*out)[got] = '\0';
	*len = (size_t)got;
	return 0;
}

int
etcd_kv_decode(struct etcd_kv *kv, const json_t *entry, struct err *err)
{
	size_t klen;
	int rc;

	memset(kv, 0, sizeof(*kv));
	if (!json_is_object(entry))
		return err_set(err, ERR_PARSE,
			       "not etcd's JSON: an entry is not an object");
	if ((rc = unbase64(&kv->key, &klen, json_object_get(entry, "key"), 4096,
			   err)) < 0 ||
	    (rc = unbase64(&kv->value, &kv->len,
			   json_object_get(entry, "value"), ETCD_VALUE_MAX,
			   err)) < 0) {
		etcd_kv_release(kv);
		return rc;
	}
	kv->create_revision = num(json_object_get(entry, "create_revision"));
	kv->lease = num(json_object_get(entry, "lease"));
	return 0;
}

void
etcd_kv_release(struct etcd_kv *kv)
{
	free(kv->key);
	free(kv->value);
	memset(kv, 0, sizeof(*kv));
}

static size_t
to_buf(char *p, size_t size, size_t n, void *ctx)
{
	return buf_append(ctx, p, size * n, NULL) < 0 ? 0 : size * n;
}

/* One POST to one member. */
static int
post(const struct etcd_conf *st, const char *endpoint, const char *path,
     const char *body, json_t **out, struct err *err)
{
	char errbuf[CURL_ERROR_SIZE] = "", url[512];
	CURL *curl = curl_easy_init();
	struct curl_slist *hdr = NULL;
	struct buf answer;
	long code = 0;
	CURLcode cc;
	int rc;

	if (curl == NULL)
		return err_set(err, ERR_NOMEM, "cannot start an HTTP client");
	buf_init(&answer, ETCD_BODY_MAX);
	snprintf(url, sizeof(url), "%s%s", endpoint, path);
	hdr = curl_slist_append(hdr, "Content-Type: application/json");
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)st->timeout_ms);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)st->timeout_ms);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_SSLVERSION,
			 (long)CURL_SSLVERSION_TLSv1_2);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, to_buf);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answer);
	if (st->ca_file != NULL)
		curl_easy_setopt(curl, CURLOPT_CAINFO, st->ca_file);
	if (st->cert_file != NULL) {
		curl_easy_setopt(curl, CURLOPT_SSLCERT, st->cert_file);
		curl_easy_setopt(curl, CURLOPT_SSLKEY, st->key_file);
	}
	if ((cc = curl_easy_perform(curl)) != CURLE_OK)
		rc = err_set(err,
			     cc == CURLE_OPERATION_TIMEDOUT ? ERR_TIMEOUT
							    : ERR_IO,
			     "etcd at %s: %s", endpoint,
			     errbuf[0] ? errbuf : curl_easy_strerror(cc));
	else {
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
		rc = etcd_parse(out, answer.data ? answer.data : "", answer.len,
				code, err);
		if (rc < 0 && err != NULL) {
			char msg[ERR_MSG_MAX];

			snprintf(msg, sizeof(msg), "%s", err->msg);
			err_set(err, rc, "etcd at %s: %s", endpoint, msg);
		}
	}
	curl_slist_free_all(hdr);
	curl_easy_cleanup(curl);
	buf_release(&answer);
	return rc;
}

int
etcd_call(struct etcd *e, const char *path, json_t *req, json_t **out,
	  struct err *err)
{
	const struct etcd_conf *st = &e->conf;
	char *body = json_dumps(req, JSON_COMPACT);
	size_t first = atomic_load(&e->first), n = st->nendpoints;
	int rc = ERR_INVAL;

	*out = NULL;
	if (body == NULL || n == 0) {
		free(body);
		return n == 0 ? err_set(err, ERR_INVAL, "no etcd endpoint")
			      : err_set(err, ERR_NOMEM,
					"no memory for a request");
	}
	for (size_t k = 0; k < n; k++) {
		size_t i = (first + k) % n;

		rc = post(st, st->endpoints[i], path, body, out, err);
		if (rc == 0)
			atomic_store(&e->first, i);
		/* an answer (even a refusal) ends it; a member that cannot
		 * answer passes the request on */
		if (rc != ERR_IO && rc != ERR_TIMEOUT)
			break;
	}
	free(body);
	return rc;
}

/* base64 of n bytes, as a new JSON string. */
static json_t *
b64(const char *data, size_t n)
{
	char *text = malloc(4 * ((n + 2) / 3) + 1);
	json_t *s;

	if (text == NULL)
		return NULL;
	hash_base64(text, (const unsigned char *)data, n);
	s = json_string(text);
	free(text);
	return s;
}

static json_t *
num_json(int64_t v)
{
	char s[32];

	snprintf(s, sizeof(s), "%" PRId64, v);
	return json_string(s);
}

int
etcd_put(struct etcd *e, const char *key, const char *value, size_t len,
	 int64_t lease, struct err *err)
{
	json_t *req = json_pack("{s:o, s:o}", "key", b64(key, strlen(key)),
				"value", b64(value, len)),
	       *out = NULL;
	int rc;

	if (req == NULL)
		return err_set(err, ERR_NOMEM, "no memory for a request");
	if (lease != 0)
		json_object_set_new(req, "lease", num_json(lease));
	rc = etcd_call(e, "/v3/kv/put", req, &out, err);
	json_decref(req);
	json_decref(out);
	return rc;
}

/* The first entry of a range answer (r: the answer or a txn's response). */
static int
first_kv(const json_t *range, struct etcd_kv *kv, struct err *err)
{
	const json_t *kvs = json_object_get(range, "kvs");

	if (json_array_size(kvs) == 0)
		return ERR_NOTFOUND;
	return etcd_kv_decode(kv, json_array_get(kvs, 0), err);
}

int
etcd_create(struct etcd *e, const char *key, const char *value, int64_t lease,
	    struct etcd_kv *holder, struct err *err)
{
	json_t *k = b64(key, strlen(key)), *req, *out = NULL, *resp;
	struct etcd_kv kv;
	int rc;

	req = json_pack("{s:[{s:s, s:O, s:s}], s:[{s:{s:O, s:o, s:o}}], "
			"s:[{s:{s:O}}]}",
			"compare", "target", "CREATE", "key", k,
			"create_revision", "0", "success", "request_put", "key",
			k, "value", b64(value, strlen(value)), "lease",
			num_json(lease), "failure", "request_range", "key", k);
	json_decref(k);
	if (req == NULL)
		return err_set(err, ERR_NOMEM, "no memory for a request");
	rc = etcd_call(e, "/v3/kv/txn", req, &out, err);
	json_decref(req);
	if (rc < 0)
		return rc;
	if (json_is_true(json_object_get(out, "succeeded"))) {
		json_decref(out);
		return 0;
	}
	resp = json_object_get(
		json_array_get(json_object_get(out, "responses"), 0),
		"response_range");
	rc = first_kv(resp, &kv, err);
	json_decref(out);
	if (rc == ERR_NOTFOUND) /* gone between compare and read: retry */
		return err_set(err, ERR_BUSY, "the key '%s' changed hands",
			       key);
	if (rc < 0)
		return rc;
	/* a first attempt that timed out on a member may have landed */
	if (strcmp(kv.value, value) == 0 && kv.lease == lease) {
		etcd_kv_release(&kv);
		return 0;
	}
	if (holder != NULL)
		*holder = kv;
	else
		etcd_kv_release(&kv);
	return ERR_EXISTS;
}

int
etcd_get(struct etcd *e, const char *key, struct etcd_kv *kv, struct err *err)
{
	json_t *req = json_pack("{s:o}", "key", b64(key, strlen(key))),
	       *out = NULL;
	int rc;

	memset(kv, 0, sizeof(*kv));
	if (req == NULL)
		return err_set(err, ERR_NOMEM, "no memory for a request");
	rc = etcd_call(e, "/v3/kv/range", req, &out, err);
	json_decref(req);
	if (rc == 0)
		rc = first_kv(out, kv, err);
	json_decref(out);
	return rc;
}

int
etcd_delete_if(struct etcd *e, const char *key, const char *value,
	       struct err *err)
{
	json_t *k = b64(key, strlen(key)), *req, *out = NULL;
	int rc;

	req = json_pack("{s:[{s:s, s:O, s:o}], s:[{s:{s:O}}]}", "compare",
			"target", "VALUE", "key", k, "value",
			b64(value, strlen(value)), "success",
			"request_delete_range", "key", k);
	json_decref(k);
	if (req == NULL)
		return err_set(err, ERR_NOMEM, "no memory for a request");
	rc = etcd_call(e, "/v3/kv/txn", req, &out, err);
	json_decref(req);
	json_decref(out);
	return rc;
}

/* The end of prefix's range: prefix with its last byte plus one. */
static json_t *
range_end(const char *prefix)
{
	size_t n = strlen(prefix);
	char *end = strdup(prefix);
	json_t *v;

	if (end == NULL || n == 0) {
		free(end);
		return NULL;
	}
	end[n - 1]++;
	v = b64(end, n);
	free(end);
	return v;
}

/* One page: fn with each entry; *next the revision to go on from (0: no
 * more). */
static int
each_page(struct etcd *e, const char *prefix, int64_t *next,
	  bool (*fn)(void *ctx, const struct etcd_kv *kv), void *ctx,
	  struct err *err)
{
	json_t *req, *out = NULL, *entry;
	struct etcd_kv kv;
	size_t i;
	int rc;

	req = json_pack("{s:o, s:o, s:s, s:s, s:i, s:o}", "key",
			b64(prefix, strlen(prefix)), "range_end",
			range_end(prefix), "sort_target", "CREATE",
			"sort_order", "ASCEND", "limit", ETCD_PAGE,
			"min_create_revision", num_json(*next));
	if (req == NULL)
		return err_set(err, ERR_NOMEM, "no memory for a request");
	rc = etcd_call(e, "/v3/kv/range", req, &out, err);
	json_decref(req);
	if (rc < 0)
		return rc;
	*next = json_is_true(json_object_get(out, "more")) ? *next : 0;
	json_array_foreach (json_object_get(out, "kvs"), i, entry) {
		if ((rc = etcd_kv_decode(&kv, entry, err)) < 0)
			break;
		if (*next != 0)
			*next = kv.create_revision + 1;
		if (!fn(ctx, &kv)) {
			*next = 0;
			etcd_kv_release(&kv);
			break;
		}
		etcd_kv_release(&kv);
	}
	json_decref(out);
	return rc;
}

int
etcd_each(struct etcd *e, const char *prefix,
	  bool (*fn)(void *ctx, const struct etcd_kv *kv), void *ctx,
	  struct err *err)
{
	int64_t next = 1;
	int rc;

	/* a page whose last revision does not advance would loop: bounded by
	 * each page moving next past the revisions it read */
	do {
		int64_t was = next;

		if ((rc = each_page(e, prefix, &next, fn, ctx, err)) < 0)
			return rc;
		if (next != 0 && next <= was)
			return err_set(err, ERR_PROTO,
				       "etcd's range answer does not move on");
	} while (next != 0);
	return 0;
}

int
etcd_lease_grant(struct etcd *e, int64_t ttl_ms, int64_t *id, struct err *err)
{
	json_t *req = json_pack("{s:I}", "TTL",
				(json_int_t)((ttl_ms + 999) / 1000)),
	       *out = NULL;
	int rc;

	if (req == NULL)
		return err_set(err, ERR_NOMEM, "no memory for a request");
	rc = etcd_call(e, "/v3/lease/grant", req, &out, err);
	json_decref(req);
	if (rc == 0 && (*id = num(json_object_get(out, "ID"))) == 0)
		rc = err_set(err, ERR_PROTO, "etcd granted a lease without id");
	json_decref(out);
	return rc;
}

/* A call on lease id at path; *out the answer. */
static int
lease_call(struct etcd *e, const char *path, int64_t id, json_t **out,
	   struct err *err)
{
	json_t *req = json_pack("{s:o}", "ID", num_json(id));
	int rc;

	*out = NULL;
	if (req == NULL)
		return err_set(err, ERR_NOMEM, "no memory for a request");
	rc = etcd_call(e, path, req, out, err);
	json_decref(req);
	return rc;
}

int
etcd_lease_keepalive(struct etcd *e, int64_t id, int64_t *ttl_s,
		     struct err *err)
{
	json_t *out;
	int rc = lease_call(e, "/v3/lease/keepalive", id, &out, err);

	/* a stream of answers: {"result": {...}}; TTL left out means 0 */
	if (rc == 0)
		*ttl_s = num(
			json_object_get(json_object_get(out, "result"), "TTL"));
	json_decref(out);
	return rc;
}

int
etcd_lease_ttl(struct etcd *e, int64_t id, int64_t *ttl_s, struct err *err)
{
	json_t *out;
	int rc = lease_call(e, "/v3/lease/timetolive", id, &out, err);

	if (rc == 0)
		*ttl_s = num(json_object_get(out, "TTL"));
	json_decref(out);
	return rc;
}

int
etcd_lease_revoke(struct etcd *e, int64_t id, struct err *err)
{
	json_t *out;
	int rc = lease_call(e, "/v3/lease/revoke", id, &out, err);

	json_decref(out);
	return rc;
}
