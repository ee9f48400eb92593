/*
 * prom: see prom.h.
 */
#include "prom.h"

#include <curl/curl.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

void
prom_result_release(struct prom_result *r)
{
	free(r->values);
	json_decref(r->described);
	memset(r, 0, sizeof(*r));
}

/* A sample [t, "v"] into out; false when it is not one. */
static bool
sample_value(double *out, const json_t *pair)
{
	const char *s = json_string_value(json_array_get(pair, 1));
	char *end = NULL;

	if (!json_is_array(pair) || json_array_size(pair) != 2 ||
	    !json_is_number(json_array_get(pair, 0)) || s == NULL)
		return false;
	*out = strtod(s, &end);
	return end != s && *end == '\0';
}

static int
add_value(struct prom_result *r, double v, struct err *err)
{
	if (!isfinite(v)) {
		r->nonfinite++;
		return 0;
	}
	if (r->n >= PROM_SAMPLES_MAX)
		return err_set(err, ERR_OVERFLOW,
			       "Prometheus answered more than %d samples: "
			       "narrow the query",
			       PROM_SAMPLES_MAX);
	if (r->n == r->cap) { /* grows by doubling, up to the cap */
		size_t cap = r->cap ? r->cap * 2 : 64;
		double *p = realloc(r->values, cap * sizeof(*p));

		if (p == NULL)
			return err_set(err, ERR_NOMEM, "no memory for samples");
		r->values = p;
		r->cap = cap;
	}
	r->values[r->n++] = v;
	return 0;
}

/* A series' labels as `k="v",...` (bounded), for the journal. */
static void
labels_text(char *out, size_t size, json_t *metric)
{
	const char *k;
	json_t *v;
	size_t o = 0;

	out[0] = '\0';
	json_object_foreach (metric, k, v) {
		int n;

		if (!json_is_string(v) || o >= size)
			continue;
		n = snprintf(out + o, size - o, "%s%s=\"%s\"", o ? "," : "", k,
			     json_string_value(v));
		o += n > 0 ? (size_t)n : 0;
	}
}

static void
describe(struct prom_result *r, json_t *metric, double last, size_t samples)
{
	char labels[256];

	if (json_array_size(r->described) >= PROM_SERIES_MAX)
		return;
	labels_text(labels, sizeof(labels), metric);
	json_array_append_new(
		r->described,
		json_pack("{s:s, s:o, s:I}", "labels", labels, "value",
			  isfinite(last) ? json_real(last) : json_null(),
			  "samples", (json_int_t)samples));
}

/* One series of a vector ("value") or a matrix ("values"). */
static int
read_series(struct prom_result *r, json_t *s, bool matrix, struct err *err)
{
	json_t *pairs = json_object_get(s, matrix ? "values" : "value");
	double v = NAN, last = NAN;
	size_t i, before = r->n + r->nonfinite;
	json_t *p;
	int rc;

	if (!json_is_object(s) || !json_is_array(pairs))
		return err_set(err, ERR_PARSE,
			       "not Prometheus' JSON: a series without %s",
			       matrix ? "values" : "a value");
	if (!matrix)
		return sample_value(&v, pairs)
			       ? (describe(r, json_object_get(s, "metric"), v,
					   1),
				  add_value(r, v, err))
			       : err_set(err, ERR_PARSE,
					 "not Prometheus' JSON: a sample is "
					 "not [time, \"value\"]");
	json_array_foreach (pairs, i, p) {
		if (!sample_value(&v, p))
			return err_set(err, ERR_PARSE,
				       "not Prometheus' JSON: a sample is not "
				       "[time, \"value\"]");
		if ((rc = add_value(r, v, err)) < 0)
			return rc;
		if (isfinite(v))
			last = v;
	}
	describe(r, json_object_get(s, "metric"), last,
		 r->n + r->nonfinite - before);
	return 0;
}

static int
read_data(struct prom_result *r, json_t *data, struct err *err)
{
	const char *type =
		json_string_value(json_object_get(data, "resultType"));
	json_t *res = json_object_get(data, "result");
	double v;
	size_t i;
	json_t *s;
	int rc;

	if (type == NULL || res == NULL)
		return err_set(err, ERR_PARSE,
			       "not Prometheus' JSON: no data.resultType or "
			       "data.result");
	if (strcmp(type, "scalar") == 0) {
		if (!sample_value(&v, res))
			return err_set(err, ERR_PARSE,
				       "not Prometheus' JSON: a scalar is not "
				       "[time, \"value\"]");
		r->series = 1;
		describe(r, NULL, v, 1);
		return add_value(r, v, err);
	}
	if (strcmp(type, "vector") != 0 && strcmp(type, "matrix") != 0)
		return err_set(err, ERR_PARSE,
			       "the query answers a %.32s, not numbers", type);
	if (!json_is_array(res))
		return err_set(err, ERR_PARSE,
			       "not Prometheus' JSON: data.result is not a "
			       "list");
	json_array_foreach (res, i, s) {
		r->series++;
		if ((rc = read_series(r, s, type[0] == 'm', err)) < 0)
			return rc;
	}
	return 0;
}

int
prom_parse(struct prom_result *out, const char *body, size_t len,
	   long http_code, struct err *err)
{
	json_t *doc;
	json_error_t je;
	const char *status, *msg;
	int rc;

	memset(out, 0, sizeof(*out));
	doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	status = json_string_value(json_object_get(doc, "status"));
	msg = json_string_value(json_object_get(doc, "error"));
	if (doc == NULL || status == NULL) {
		json_decref(doc);
		return http_code != 200
			       ? err_set(err, ERR_IO,
					 "Prometheus answered HTTP %ld",
					 http_code)
			       : err_set(err, ERR_PARSE,
					 "not Prometheus' JSON: %s",
					 doc ? "no status" : je.text);
	}
	if (strcmp(status, "success") != 0 || http_code != 200) {
		rc = err_set(err, ERR_IO, "Prometheus answered %ld: %.300s",
			     http_code, msg ? msg : status);
		json_decref(doc);
		return rc;
	}
	out->described = json_array();
	if (out->described == NULL)
		rc = err_set(err, ERR_NOMEM, "no memory for the answer");
	else
		rc = read_data(out, json_object_get(doc, "data"), err);
	json_decref(doc);
	if (rc < 0)
		prom_result_release(out);
	return rc;
}

static size_t
to_buf(char *p, size_t size, size_t n, void *ctx)
{
	return buf_append(ctx, p, size * n, NULL) < 0 ? 0 : size * n;
}

/* GETs base + path + "?" + the encoded parameters (name, value pairs,
 * NULL-ended) and parses the answer. */
static int
get(struct prom_result *out, const char *base, const char *ca_file,
    const char *path, const char *const *params, int64_t timeout_ms,
    struct err *err)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	CURL *curl = curl_easy_init();
	struct buf url, body;
	long code = 0;
	CURLcode cc;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (curl == NULL)
		return err_set(err, ERR_NOMEM, "cannot start an HTTP client");
	buf_init(&url, 64 * 1024);
	buf_init(&body, PROM_BODY_MAX);
	rc = buf_appendf(&url, err, "%s%s", base, path);
	for (size_t i = 0; rc == 0 && params[i] != NULL; i += 2) {
		char *e = curl_easy_escape(curl, params[i + 1], 0);

		rc = e ? buf_appendf(&url, err, "%c%s=%s", i ? '&' : '?',
				     params[i], e)
		       : err_set(err, ERR_NOMEM, "cannot encode the query");
		curl_free(e);
	}
	if (rc == 0 && buf_append(&url, "", 1, err) == 0) {
		curl_easy_setopt(curl, CURLOPT_URL, url.data);
		curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
		curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
				 (long)timeout_ms);
		curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
		curl_easy_setopt(curl, CURLOPT_SSLVERSION,
				 (long)CURL_SSLVERSION_TLSv1_2);
		if (ca_file != NULL)
			curl_easy_setopt(curl, CURLOPT_CAINFO, ca_file);
		curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
		curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, to_buf);
		curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
		if ((cc = curl_easy_perform(curl)) != CURLE_OK)
			rc = err_set(
				err,
				cc == CURLE_OPERATION_TIMEDOUT ? ERR_TIMEOUT
							       : ERR_IO,
				"Prometheus at %s: %s", base,
				errbuf[0] ? errbuf : curl_easy_strerror(cc));
		else {
			curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
			rc = prom_parse(out, body.data ? body.data : "",
					body.len, code, err);
		}
	}
	curl_easy_cleanup(curl);
	buf_release(&url);
	buf_release(&body);
	return rc;
}

int
prom_query(struct prom_result *out, const char *base, const char *ca_file,
	   const char *query, double t, int64_t timeout_ms, struct err *err)
{
	char ts[32];
	const char *params[] = { "query", query, "time", ts, NULL };

	snprintf(ts, sizeof(ts), "%.3f", t);
	return get(out, base, ca_file, "/api/v1/query", params, timeout_ms,
		   err);
}

int
prom_query_range(struct prom_result *out, const char *base, const char *ca_file,
		 const char *query, double start, double end, double step,
		 int64_t timeout_ms, struct err *err)
{
	char s[32], e[32], st[32];
	const char *params[] = { "query", query,  "start", s,	"end",
				 e,	  "step", st,	   NULL };

	snprintf(s, sizeof(s), "%.3f", start);
	snprintf(e, sizeof(e), "%.3f", end);
	snprintf(st, sizeof(st), "%.3f", step);
	return get(out, base, ca_file, "/api/v1/query_range", params,
		   timeout_ms, err);
}
