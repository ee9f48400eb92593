/*
 * ivr-callers: simulated phone-banking callers against the JSON call API,
 * through the load balancer, as a voice gateway would place them.
 *
 *   ivr-callers --url https://LB:8080 --credentials cred.json
 *               [--cacert ca.pem] [--callers 30] [--duration 30s]
 *               [--think 300ms] [--seed 1] [--acks FILE] [--report FILE]
 *
 * Each caller repeats whole calls until the duration passes or the
 * program gets SIGTERM or SIGINT (then every caller finishes the call it
 * is on): authenticate with seeded credentials, balances, a transfer
 * between its own accounts, recent transactions, hang up, with think
 * times between steps like a person's.  A call keeps the balancer's cookie
 * for its whole length (stickiness keeps it on its server) and starts
 * without one; redirects are not followed.  A request that fails in
 * transit is sent once more with the same Idempotency-Key, as a gateway
 * retries (counted: a lost request is not hidden); an HTTP error fails
 * the call, which the caller then hangs up (DELETE) as a gateway would.
 *
 * Over https the balancer's certificate and name are verified, against
 * --cacert's CA bundle (else the system's).
 *
 * Prints calls started, completed and failed (by reason), transfers
 * acknowledged, and request latency percentiles; --acks writes the
 * acknowledged confirmation numbers one per line (for ivr-ledger), and
 * --report the same figures as JSON.  Exit 0 when no call failed, 1 when
 * some did, 2 on bad input.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "clock.h"
#include "err.h"
#include "parse.h"

#define ANSWER_MAX  (256 * 1024)
#define MAX_CALLERS 2000
#define MAX_REASONS 32

static atomic_bool stopping;

static void
on_signal(int sig)
{
	(void)sig;
	atomic_store(&stopping, true);
}

struct config {
	const char *url, *credentials, *acks, *report, *cacert;
	int callers;
	int64_t duration_ms, think_ms;
	unsigned seed;
	json_t *customers; /* from the credentials file */
};

/* What all callers found, under one lock. */
struct tally {
	pthread_mutex_t lock;
	long started, completed, failed, transfers, refused_funds;
	atomic_long retried; /* requests sent again after a transport error */
	char reasons[MAX_REASONS][160];
	long reason_count[MAX_REASONS];
	long other_reasons;
	json_t *acks;	    /* confirmation numbers */
	double *latency_ms; /* every request */
	size_t nlatency, cap_latency;
};

struct caller {
	const struct config *cfg;
	struct tally *t;
	int index;
	unsigned rng;
	int64_t until;
	CURL *curl;
	char call_id[64];
	long step;
	double latency[64];
	size_t nlatency;
};

static void
tally_reason(struct tally *t, const char *reason)
{
	size_t i;

	pthread_mutex_lock(&t->lock);
	t->failed++;
	for (i = 0; i < MAX_REASONS && t->reasons[i][0]; i++)
		if (strcmp(t->reasons[i], reason) == 0)
			break;
	if (i == MAX_REASONS) {
		t->other_reasons++;
	} else {
		if (t->reasons[i][0] == '\0')
			snprintf(t->reasons[i], sizeof(t->reasons[i]), "%s",
				 reason);
		t->reason_count[i]++;
	}
	pthread_mutex_unlock(&t->lock);
}

static void
flush_latency(struct caller *c)
{
	struct tally *t = c->t;

	pthread_mutex_lock(&t->lock);
	if (t->nlatency + c->nlatency > t->cap_latency) {
		size_t cap = (t->cap_latency + c->nlatency) * 2;
		double *p = realloc(t->latency_ms, cap * sizeof(*p));

		if (p != NULL) {
			t->latency_ms = p;
			t->cap_latency = cap;
		}
	}
	for (size_t i = 0; i < c->nlatency && t->nlatency < t->cap_latency; i++)
		t->latency_ms[t->nlatency++] = c->latency[i];
	pthread_mutex_unlock(&t->lock);
	c->nlatency = 0;
}

static size_t
collect(char *data, size_t size, size_t n, void *ctx)
{
	return buf_append(ctx, data, size * n, NULL) == 0 ? size * n : 0;
}

/*
 * One request of the call: POST (body) or DELETE (body NULL) to path.
 * Sends the Idempotency-Key for inputs and retries once on a transport
 * error.  Returns the HTTP status (0 for a transport error, with why in
 * reason) and the parsed answer in *answer.
 */
static long
request(struct caller *c, const char *method, const char *path,
	const char *body, json_t **answer, char *reason, size_t rsize)
{
	char url[512], key[96];
	struct curl_slist *headers = NULL;
	long code = 0;
	struct buf in;

	*answer = NULL;
	snprintf(url, sizeof(url), "%s%s", c->cfg->url, path);
	snprintf(key, sizeof(key), "Idempotency-Key: c%d-%s-%ld", c->index,
		 c->call_id, c->step++);
	headers = curl_slist_append(headers, "Content-Type: application/json");
	if (c->call_id[0])
		headers = curl_slist_append(headers, key);
	buf_init(&in, ANSWER_MAX);
	for (int attempt = 0; attempt < 2; attempt++) {
		int64_t t0 = clock_now_ms();
		CURLcode rc;

		buf_reset(&in);
		curl_easy_setopt(c->curl, CURLOPT_URL, url);
		curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
		curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, headers);
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body ? body : "");
		curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &in);
		rc = curl_easy_perform(c->curl);
		if (c->nlatency == sizeof(c->latency) / sizeof(c->latency[0]))
			flush_latency(c);
		c->latency[c->nlatency++] = (double)(clock_now_ms() - t0);
		if (rc == CURLE_OK) {
			curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE,
					  &code);
			break;
		}
		snprintf(reason, rsize, "%s %s: %s", method,
			 c->call_id[0] ? "/calls/{id}..." : "/calls",
			 curl_easy_strerror(rc));
		if (attempt == 0)
			atomic_fetch_add(&c->t->retried, 1);
	}
	curl_slist_free_all(headers);
	if (code != 0 && in.len > 0)
		*answer = json_loadb(in.data, in.len, 0, NULL);
	buf_release(&in);
	return code;
}

static const char *
node_of(const json_t *o)
{
	const char *n = json_string_value(json_object_get(o, "node"));

	return n ? n : "(none)";
}

static void
think(struct caller *c)
{
	int64_t ms = c->cfg->think_ms;

	if (ms > 0)
		clock_sleep_ms(ms / 2 +
			       (int64_t)(rand_r(&c->rng) % (unsigned)ms));
}

/* Sends digits at the call's current step; the answer must be 200 and at
 * node want (NULL: any).  Returns the answer or NULL (reason set). */
static json_t *
press(struct caller *c, const char *digits, const char *token, const char *want,
      char *reason, size_t rsize)
{
	char path[128], body[256];
	json_t *o = NULL;
	long code;

	think(c);
	snprintf(path, sizeof(path), "/calls/%s/input", c->call_id);
	if (token != NULL)
		snprintf(body, sizeof(body),
			 "{\"digits\":\"%s\",\"token\":\"%s\"}", digits, token);
	else
		snprintf(body, sizeof(body), "{\"digits\":\"%s\"}", digits);
	code = request(c, "POST", path, body, &o, reason, rsize);
	if (code == 0)
		return NULL;
	if (code != 200) {
		snprintf(reason, rsize, "input at a step: HTTP %ld%s", code,
			 code == 404 ? " (the call was lost)" : "");
		json_decref(o);
		return NULL;
	}
	if (want != NULL && strcmp(node_of(o), want) != 0) {
		snprintf(reason, rsize, "expected node %s, got %s", want,
			 node_of(o));
		json_decref(o);
		return NULL;
	}
	return o;
}

static const char *
data_str(const json_t *o, const char *key)
{
	return json_string_value(
		json_object_get(json_object_get(o, "data"), key));
}

/* One whole call; false with reason when it failed. */
static bool
one_call(struct caller *c, const json_t *customer, char *reason, size_t rsize)
{
	const json_t *accounts = json_object_get(customer, "accounts");
	const char *number = json_string_value(
		json_object_get(json_array_get(accounts, 0), "number"));
	char keys[64], from[8], to[8], amount[24], token[128], path[128];
	json_t *o = NULL, *list;
	long code;
	size_t n;
	int64_t best = -1;

	c->call_id[0] = '\0';
	c->step = 0;
	curl_easy_setopt(c->curl, CURLOPT_COOKIELIST, "ALL");
	code = request(c, "POST", "/calls", "{}", &o, reason, rsize);
	if (code != 201) {
		if (code != 0)
			snprintf(reason, rsize, "POST /calls: HTTP %ld", code);
		json_decref(o);
		return false;
	}
	pthread_mutex_lock(&c->t->lock);
	c->t->started++;
	pthread_mutex_unlock(&c->t->lock);
	snprintf(c->call_id, sizeof(c->call_id), "%s",
		 json_string_value(json_object_get(o, "call_id"))
			 ? json_string_value(json_object_get(o, "call_id"))
			 : "");
	json_decref(o);

	snprintf(keys, sizeof(keys), "%s#", number);
	if ((o = press(c, keys, NULL, "ask_pin", reason, rsize)) == NULL)
		return false;
	json_decref(o);
	o = press(c, json_string_value(json_object_get(customer, "pin")), NULL,
		  "main_menu", reason, rsize);
	if (o == NULL)
		return false;
	json_decref(o);

	/* Balances: the transfer goes from the fullest account. */
	if ((o = press(c, "1", NULL, "main_menu", reason, rsize)) == NULL)
		return false;
	list = json_object_get(json_object_get(o, "data"), "accounts");
	n = json_array_size(list);
	from[0] = to[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		json_t *a = json_array_get(list, i);
		int64_t bal =
			json_integer_value(json_object_get(a, "balance_cents"));
		const char *l4 = json_string_value(json_object_get(a, "last4"));

		if (l4 != NULL && bal > best) {
			best = bal;
			snprintf(from, sizeof(from), "%s", l4);
		}
	}
	for (size_t i = 0; i < n && from[0]; i++) {
		const char *l4 = json_string_value(
			json_object_get(json_array_get(list, i), "last4"));

		if (l4 != NULL && strcmp(l4, from) != 0 && to[0] == '\0')
			snprintf(to, sizeof(to), "%s", l4);
	}
	json_decref(o);
	if (from[0] == '\0' || to[0] == '\0') {
		snprintf(reason, rsize, "balances: fewer than two accounts");
		return false;
	}

	/* A transfer between own accounts, read back, confirmed. */
	snprintf(amount, sizeof(amount), "%u#", 1 + rand_r(&c->rng) % 500);
	if ((o = press(c, "2", NULL, "transfer_from", reason, rsize)) == NULL)
		return false;
	json_decref(o);
	if ((o = press(c, from, NULL, "transfer_to", reason, rsize)) == NULL)
		return false;
	json_decref(o);
	if ((o = press(c, to, NULL, "transfer_amount", reason, rsize)) == NULL)
		return false;
	json_decref(o);
	if ((o = press(c, amount, NULL, NULL, reason, rsize)) == NULL)
		return false;
	if (strcmp(node_of(o), "transfer_confirm") != 0) {
		/* Not enough money: said, and back at the menu. */
		pthread_mutex_lock(&c->t->lock);
		c->t->refused_funds++;
		pthread_mutex_unlock(&c->t->lock);
		json_decref(o);
	} else {
		snprintf(token, sizeof(token), "%s",
			 data_str(o, "transfer_token")
				 ? data_str(o, "transfer_token")
				 : "");
		json_decref(o);
		if ((o = press(c, "1", token, "main_menu", reason, rsize)) ==
		    NULL)
			return false;
		if (data_str(o, "confirmation") == NULL) {
			snprintf(reason, rsize,
				 "transfer confirmed without a confirmation "
				 "number");
			json_decref(o);
			return false;
		}
		pthread_mutex_lock(&c->t->lock);
		c->t->transfers++;
		json_array_append_new(c->t->acks,
				      json_string(data_str(o, "confirmation")));
		pthread_mutex_unlock(&c->t->lock);
		json_decref(o);
	}

	/* Recent transactions, then hang up. */
	if ((o = press(c, "3", NULL, "main_menu", reason, rsize)) == NULL)
		return false;
	json_decref(o);
	think(c);
	snprintf(path, sizeof(path), "/calls/%s", c->call_id);
	code = request(c, "DELETE", path, NULL, &o, reason, rsize);
	json_decref(o);
	if (code != 200) {
		if (code != 0)
			snprintf(reason, rsize, "hang-up: HTTP %ld", code);
		return false;
	}
	return true;
}

/* After a failed step a gateway plays its apology and hangs up: the call
 * is ended at once rather than left for the server's idle reaper (which a
 * drain would otherwise wait for). */
static void
hang_up_quietly(struct caller *c)
{
	char path[128], why[160];
	json_t *o = NULL;

	if (c->call_id[0] == '\0')
		return;
	snprintf(path, sizeof(path), "/calls/%s", c->call_id);
	(void)request(c, "DELETE", path, NULL, &o, why, sizeof(why));
	json_decref(o);
	c->call_id[0] = '\0';
}

static void *
caller_main(void *arg)
{
	struct caller *c = arg;
	size_t ncust = json_array_size(c->cfg->customers);
	const json_t *customer =
		json_array_get(c->cfg->customers, (size_t)c->index % ncust);
	char reason[160];

	while (!atomic_load(&stopping) && clock_now_ms() < c->until) {
		reason[0] = '\0';
		if (one_call(c, customer, reason, sizeof(reason))) {
			pthread_mutex_lock(&c->t->lock);
			c->t->completed++;
			pthread_mutex_unlock(&c->t->lock);
		} else {
			tally_reason(c->t, reason[0] ? reason : "unknown");
			hang_up_quietly(c);
			clock_sleep_ms(200); /* a gateway does not hammer */
		}
	}
	flush_latency(c);
	return NULL;
}

static int
by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double
percentile(const struct tally *t, double p)
{
	size_t i;

	if (t->nlatency == 0)
		return 0;
	i = (size_t)(p * (double)(t->nlatency - 1) + 0.5);
	return t->latency_ms[i];
}

static int
usage(void)
{
	fputs("usage: ivr-callers --url URL --credentials FILE [--cacert "
	      "FILE]\n"
	      "                   [--callers N] [--duration D] [--think D]\n"
	      "                   [--seed N]\n"
	      "                   [--acks FILE] [--report FILE]\n",
	      stderr);
	return 2;
}

static int
parse_args(struct config *cfg, int argc, char **argv)
{
	struct err e;
	int64_t v;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i],
			   *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (val == NULL)
			return usage();
		i++;
		if (strcmp(a, "--url") == 0)
			cfg->url = val;
		else if (strcmp(a, "--credentials") == 0)
			cfg->credentials = val;
		else if (strcmp(a, "--acks") == 0)
			cfg->acks = val;
		else if (strcmp(a, "--cacert") == 0)
			cfg->cacert = val;
		else if (strcmp(a, "--report") == 0)
			cfg->report = val;
		else if (strcmp(a, "--callers") == 0 &&
			 parse_int64(&v, val, 1, MAX_CALLERS, &e) == 0)
			cfg->callers = (int)v;
		else if (strcmp(a, "--seed") == 0 &&
			 parse_int64(&v, val, 0, 1L << 30, &e) == 0)
			cfg->seed = (unsigned)v;
		else if (strcmp(a, "--duration") == 0 &&
			 parse_duration_ms(&cfg->duration_ms, val, 1,
					   7LL * 24 * 3600 * 1000, &e) == 0)
			;
		else if (strcmp(a, "--think") == 0 &&
			 parse_duration_ms(&cfg->think_ms, val, 0, 60000, &e) ==
				 0)
			;
		else {
			fprintf(stderr, "ivr-callers: bad argument %s %s\n", a,
				val);
			return usage();
		}
	}
	return cfg->url && cfg->credentials ? 0 : usage();
}

static void
report(const struct config *cfg, struct tally *t, int64_t took_ms)
{
	json_t *reasons = json_object(), *out;

	if (t->nlatency > 0)
		qsort(t->latency_ms, t->nlatency, sizeof(double), by_value);
	printf("callers: %d for %.1f s through %s\n", cfg->callers,
	       (double)took_ms / 1000.0, cfg->url);
	printf("calls: %ld started, %ld completed, %ld failed\n", t->started,
	       t->completed, t->failed);
	printf("transfers: %ld acknowledged (%ld refused for lack of "
	       "funds)\n",
	       t->transfers, t->refused_funds);
	printf("requests: %zu (%ld retried after a transport error), latency "
	       "p50 %.0f ms, p95 %.0f ms, p99 %.0f ms, max %.0f ms\n",
	       t->nlatency, atomic_load(&t->retried), percentile(t, 0.50),
	       percentile(t, 0.95), percentile(t, 0.99), percentile(t, 1.0));
	for (size_t i = 0; i < MAX_REASONS && t->reasons[i][0]; i++) {
		printf("  failed: %ld x %s\n", t->reason_count[i],
		       t->reasons[i]);
		json_object_set_new(reasons, t->reasons[i],
				    json_integer(t->reason_count[i]));
	}
	if (t->other_reasons)
		printf("  failed: %ld x other reasons\n", t->other_reasons);
	fflush(stdout);
	if (cfg->report != NULL) {
		out = json_pack(
			"{s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, "
			"s:f, s:f, s:f, s:O}",
			"callers", cfg->callers, "duration_ms",
			(json_int_t)took_ms, "started", (json_int_t)t->started,
			"completed", (json_int_t)t->completed, "failed",
			(json_int_t)t->failed, "transfers",
			(json_int_t)t->transfers, "refused_funds",
			(json_int_t)t->refused_funds, "requests",
			(json_int_t)t->nlatency, "retried",
			(json_int_t)atomic_load(&t->retried), "p50_ms",
			percentile(t, 0.50), "p95_ms", percentile(t, 0.95),
			"p99_ms", percentile(t, 0.99), "max_ms",
			percentile(t, 1.0), "failures", reasons);
		if (json_dump_file(out, cfg->report, JSON_INDENT(2)) < 0)
			fprintf(stderr, "ivr-callers: cannot write '%s'\n",
				cfg->report);
		json_decref(out);
	}
	json_decref(reasons);
}

static int
write_acks(const char *path, const json_t *acks)
{
	FILE *f = fopen(path, "w");
	size_t i;
	json_t *v;

	if (f == NULL) {
		fprintf(stderr, "ivr-callers: cannot write '%s'\n", path);
		return -1;
	}
	json_array_foreach (acks, i, v)
		fprintf(f, "%s\n", json_string_value(v));
	return fclose(f) == 0 ? 0 : -1;
}

int
main(int argc, char **argv)
{
	struct config cfg = {
		.callers = 30, .duration_ms = 30000, .think_ms = 300, .seed = 1
	};
	struct tally t = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct caller *callers;
	pthread_t *threads;
	struct sigaction sa = { .sa_handler = on_signal };
	json_error_t je;
	json_t *cred;
	int64_t start;
	int rc;

	if ((rc = parse_args(&cfg, argc, argv)) != 0)
		return rc;
	if ((cred = json_load_file(cfg.credentials, 0, &je)) == NULL ||
	    json_array_size(json_object_get(cred, "customers")) == 0) {
		fprintf(stderr, "%s:%d:%d: %s\n", cfg.credentials, je.line,
			je.column,
			cred ? "no customers in the credentials" : je.text);
		json_decref(cred);
		return 2;
	}
	cfg.customers = json_object_get(cred, "customers");
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	t.acks = json_array();
	callers = calloc((size_t)cfg.callers, sizeof(*callers));
	threads = calloc((size_t)cfg.callers, sizeof(*threads));
	start = clock_now_ms();
	for (int i = 0; i < cfg.callers; i++) {
		struct caller *c = &callers[i];

		*c = (struct caller){ .cfg = &cfg,
				      .t = &t,
				      .index = i,
				      .rng = cfg.seed * 7919u + (unsigned)i,
				      .until = start + cfg.duration_ms,
				      .curl = curl_easy_init() };
		curl_easy_setopt(c->curl, CURLOPT_COOKIEFILE, "");
		curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, collect);
		curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, 30000L);
		curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
		curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(c->curl, CURLOPT_SSLVERSION,
				 (long)CURL_SSLVERSION_TLSv1_2);
		if (cfg.cacert != NULL)
			curl_easy_setopt(c->curl, CURLOPT_CAINFO, cfg.cacert);
		pthread_create(&threads[i], NULL, caller_main, c);
	}
	for (int i = 0; i < cfg.callers; i++) {
		pthread_join(threads[i], NULL);
		curl_easy_cleanup(callers[i].curl);
	}
	report(&cfg, &t, clock_now_ms() - start);
	rc = t.failed == 0 ? 0 : 1;
	if (cfg.acks != NULL && write_acks(cfg.acks, t.acks) < 0)
		rc = 2;
	json_decref(t.acks);
	json_decref(cred);
	free(t.latency_ms);
	free(callers);
	free(threads);
	curl_global_cleanup();
	return rc;
}
