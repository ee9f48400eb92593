/*
 * probe: see probe.h.
 */
#include "probe.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "buf.h"
#include "fileio.h"

#define BODY_MAX (64 * 1024)

int
probe_global_init(struct err *err)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return err_set(err, ERR_INTERNAL, "cannot start libcurl");
	return 0;
}

static size_t
to_buf(char *p, size_t size, size_t n, void *ctx)
{
	return buf_append(ctx, p, size * n, NULL) == 0 ? size * n : 0;
}

/* The CA bundle every request trusts (PEM), or NULL: the system's. */
static char *trust;

int
probe_set_trust(const char *pem, struct err *err)
{
	char *copy = pem != NULL ? strdup(pem) : NULL;

	if (pem != NULL && copy == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	free(trust);
	trust = copy;
	return 0;
}

/* The client certificate and key every request presents, or NULL. */
static char *client_cert, *client_key;

int
probe_set_identity(const char *cert, const char *key, struct err *err)
{
	char *c = strdup(cert), *k = strdup(key);

	if (c == NULL || k == NULL) {
		free(c);
		free(k);
		return err_set(err, ERR_NOMEM, "out of memory");
	}
	free(client_cert);
	if (client_key != NULL)
		explicit_bzero(client_key, strlen(client_key));
	free(client_key);
	client_cert = c;
	client_key = k;
	return 0;
}

/* TLS for every handle: the peer and its name checked, TLS 1.2 at least,
 * the session's CA bundle and client certificate when the controller gave
 * them. */
static void
secure(CURL *curl)
{
	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(curl, CURLOPT_SSLVERSION,
			 (long)CURL_SSLVERSION_TLSv1_2);
	if (trust != NULL) {
		struct curl_blob blob = { trust, strlen(trust),
					  CURL_BLOB_COPY };

		curl_easy_setopt(curl, CURLOPT_CAINFO_BLOB, &blob);
	}
	if (client_cert != NULL) {
		struct curl_blob c = { client_cert, strlen(client_cert),
				       CURL_BLOB_COPY };
		struct curl_blob k = { client_key, strlen(client_key),
				       CURL_BLOB_COPY };

		curl_easy_setopt(curl, CURLOPT_SSLCERT_BLOB, &c);
		curl_easy_setopt(curl, CURLOPT_SSLCERTTYPE, "PEM");
		curl_easy_setopt(curl, CURLOPT_SSLKEY_BLOB, &k);
		curl_easy_setopt(curl, CURLOPT_SSLKEYTYPE, "PEM");
	}
}

/* Whether rc means the peer answered but its TLS was refused. */
static bool
tls_refused(CURLcode rc)
{
	switch (rc) {
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
		return true;
	default:
		return false;
	}
}

/* "Expire date:..." of the peer's leaf certificate (libcurl's OpenSSL
 * form "Dec 30 06:15:52 2026 GMT", or GnuTLS's "2026-12-30 06:15:52"). */
static int64_t
leaf_expiry(CURL *curl)
{
	struct curl_certinfo *ci = NULL;
	struct tm tm;

	if (curl_easy_getinfo(curl, CURLINFO_CERTINFO, &ci) != CURLE_OK ||
	    ci == NULL || ci->num_of_certs < 1)
		return 0;
	for (struct curl_slist *l = ci->certinfo[0]; l != NULL; l = l->next) {
		const char *v;

		if (strncmp(l->data, "Expire date:", 12) != 0)
			continue;
		v = l->data + 12;
		memset(&tm, 0, sizeof(tm));
		if (strptime(v, "%b %d %H:%M:%S %Y GMT", &tm) != NULL ||
		    strptime(v, "%Y-%m-%d %H:%M:%S", &tm) != NULL)
			return (int64_t)timegm(&tm);
	}
	return 0;
}

/* One request; *expires (when not NULL) gets the leaf's expiry over
 * https.  The status: 0 nothing answered, -1 TLS refused. */
static long
request(json_t **answer, const char *method, const char *url, const char *body,
	const char *idem_key, int64_t timeout_ms, char *error, int64_t *expires)
{
	CURL *curl = curl_easy_init();
	char errbuf[CURL_ERROR_SIZE] = "", idem[128];
	struct curl_slist *h = NULL;
	long status = 0;
	struct buf b;
	CURLcode rc;

	*answer = NULL;
	if (curl == NULL) {
		snprintf(error, PROBE_ERROR_MAX, "cannot start libcurl");
		return 0;
	}
	buf_init(&b, BODY_MAX);
	h = curl_slist_append(h, "Content-Type: application/json");
	if (idem_key != NULL) {
		snprintf(idem, sizeof(idem), "Idempotency-Key: %s", idem_key);
		h = curl_slist_append(h, idem);
	}
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	if (body != NULL)
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, to_buf);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_CERTINFO, expires != NULL ? 1L : 0L);
	secure(curl);
	rc = curl_easy_perform(curl);
	if (rc == CURLE_OK) {
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
		*answer = json_loadb(buf_cstr(&b), b.len, 0, NULL);
		if (expires != NULL)
			*expires = leaf_expiry(curl);
	} else {
		snprintf(error, PROBE_ERROR_MAX, "%s%s",
			 tls_refused(rc) ? "TLS refused: " : "",
			 errbuf[0] ? errbuf : curl_easy_strerror(rc));
		status = tls_refused(rc) ? -1 : 0;
	}
	curl_slist_free_all(h);
	curl_easy_cleanup(curl);
	buf_release(&b);
	return status;
}

long
probe_request(json_t **answer, const char *method, const char *url,
	      const char *body, const char *idem_key, int64_t timeout_ms,
	      char *error)
{
	return request(answer, method, url, body, idem_key, timeout_ms, error,
		       NULL);
}

/* One GET: the status (0: no answer) and the body as JSON (or NULL). */
static long
get_json(json_t **body, const char *url, int64_t timeout_ms, char *error)
{
	return probe_request(body, "GET", url, NULL, NULL, timeout_ms, error);
}

/*
 * "answered 503", and the runtime's reason when it gave one ("answered
 * 503: database unavailable"): at most 80 printable ASCII characters of
 * it, the rest dropped (the answer comes from the network).
 */
static void
reason_of(char *out, size_t size, long status, const char *reason)
{
	char clean[81];
	size_t n = 0;

	for (const char *p = reason; p != NULL && *p != '\0' && n < 80; p++)
		if (*p >= ' ' && *p <= '~')
			clean[n++] = *p;
	clean[n] = '\0';
	snprintf(out, size, "answered %ld%s%s", status, n ? ": " : "", clean);
}

/* The expiry the runtime states in /readyz (where the TLS library gave
 * none): "certificate_expires": "2026-12-30T06:15:52Z". */
static int64_t
stated_expiry(const json_t *body)
{
	const char *v =
		json_string_value(json_object_get(body, "certificate_expires"));
	struct tm tm;
	const char *end;

	memset(&tm, 0, sizeof(tm));
	if (v == NULL ||
	    (end = strptime(v, "%Y-%m-%dT%H:%M:%SZ", &tm)) == NULL ||
	    *end != '\0')
		return 0;
	return (int64_t)timegm(&tm);
}

/* One readiness attempt; true when ready with the right version. */
static bool
health_once(struct probe_health *out, const struct probe_wait *w)
{
	json_t *body = NULL;
	const char *version;
	long status = request(&body, "GET", w->url, NULL, NULL, w->timeout_ms,
			      out->last_error, &out->cert_expires);
	bool ok = false;

	version = json_string_value(json_object_get(body, "version"));
	if (out->cert_expires == 0)
		out->cert_expires = stated_expiry(body);
	if (version != NULL)
		snprintf(out->version, sizeof(out->version), "%s", version);
	if (status <= 0) {
		/* last_error says why */
	} else if (status != 200) {
		reason_of(out->last_error, sizeof(out->last_error), status,
			  json_string_value(json_object_get(body, "reason")));
	} else if (w->expect_version != NULL &&
		   (version == NULL || strcmp(version, w->expect_version))) {
		snprintf(out->last_error, sizeof(out->last_error),
			 "ready with version '%s', not '%s'",
			 version ? version : "(none)", w->expect_version);
	} else {
		ok = true;
		out->last_error[0] = '\0';
	}
	json_decref(body);
	return ok;
}

int
probe_health_wait(struct probe_health *out, const struct probe_wait *w,
		  struct err *err)
{
	int64_t start = clock_now_ms();

	(void)err;
	memset(out, 0, sizeof(*out));
	for (;;) {
		out->attempts++;
		out->ready = health_once(out, w);
		out->waited_ms = clock_now_ms() - start;
		if (out->ready ||
		    out->waited_ms + w->interval_ms > w->deadline_ms)
			return 0;
		clock_sleep_ms(w->interval_ms);
	}
}

int
probe_wait_idle(struct probe_idle *out, const struct probe_wait *w,
		struct err *err)
{
	int64_t start = clock_now_ms();
	json_t *body;
	long status;

	(void)err;
	memset(out, 0, sizeof(*out));
	for (;;) {
		out->attempts++;
		status =
			get_json(&body, w->url, w->timeout_ms, out->last_error);
		out->reachable = status != 0;
		if (status < 0) {
			/* TLS refused: last_error says why */
		} else if (status == 200 &&
			   json_is_integer(json_object_get(body, "active")))
			out->remaining = json_integer_value(
				json_object_get(body, "active"));
		else if (status != 0)
			snprintf(out->last_error, sizeof(out->last_error),
				 "answered %ld without an active count",
				 status);
		json_decref(body);
		out->waited_ms = clock_now_ms() - start;
		/* Nothing listening: no runtime, so no call to wait for. */
		out->idle =
			status == 0 || (status == 200 && out->remaining == 0);
		if (out->idle ||
		    out->waited_ms + w->interval_ms > w->deadline_ms)
			return 0;
		clock_sleep_ms(w->interval_ms);
	}
}

struct sink {
	int fd;
	uint64_t written, max;
	bool too_large;
};

static size_t
to_file(char *p, size_t size, size_t n, void *ctx)
{
	struct sink *s = ctx;

	if (s->written + size * n > s->max) {
		s->too_large = true;
		return 0;
	}
	if (write(s->fd, p, size * n) != (ssize_t)(size * n))
		return 0;
	s->written += size * n;
	return size * n;
}

int
probe_fetch(const char *url, const char *dest, uint64_t max_bytes,
	    int64_t stall_ms, struct err *err)
{
	char part[4096 + 8], errbuf[CURL_ERROR_SIZE] = "";
	struct sink s = { .max = max_bytes };
	CURL *curl;
	CURLcode rc;
	long status = 0;

	snprintf(part, sizeof(part), "%s.part", dest);
	if ((s.fd = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
			 0644)) < 0)
		return err_set_errno(err, ERR_IO, errno, "cannot create '%s'",
				     part);
	if ((curl = curl_easy_init()) == NULL) {
		close(s.fd);
		unlink(part);
		return err_set(err, ERR_INTERNAL, "cannot start libcurl");
	}
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_FAILONERROR, 1L);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https,file");
	secure(curl);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	/* A server that trickles bytes is given up on: under 1 KiB a
	 * second for stall_ms (the whole transfer has no fixed bound: an
	 * artifact's size and the link's speed set it). */
	curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1024L);
	curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME,
			 (long)((stall_ms + 999) / 1000));
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, to_file);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &s);
	rc = curl_easy_perform(curl);
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(curl);
	if (rc == CURLE_OK && fsync(s.fd) < 0)
		rc = CURLE_WRITE_ERROR;
	close(s.fd);
	if (rc != CURLE_OK) {
		unlink(part);
		if (s.too_large)
			return err_set(err, ERR_OVERFLOW,
				       "'%s' is larger than %llu bytes", url,
				       (unsigned long long)max_bytes);
		if (rc == CURLE_OPERATION_TIMEDOUT)
			return err_set(err, ERR_TIMEOUT,
				       "cannot fetch '%s': it stalled (under "
				       "1024 bytes a second for %lld ms)",
				       url, (long long)stall_ms);
		return err_set(err, ERR_IO, "cannot fetch '%s': %s", url,
			       errbuf[0] ? errbuf : curl_easy_strerror(rc));
	}
	if (rename(part, dest) < 0) {
		unlink(part);
		return err_set_errno(err, ERR_IO, errno, "cannot rename '%s'",
				     part);
	}
	return 0;
}
