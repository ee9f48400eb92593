/*
 * notify: see notify.h.  One delivery thread per run, fed through a
 * queue under a mutex; it waits between retries on the queue's condition,
 * so that notify_finish can cut a backoff short.
 */
#include "notify.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "hash.h"

struct item {
	struct item *next;
	char *body;
	unsigned bit; /* of the event, in plan_notify_events */
};

struct notifier {
	const struct plan *p;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct item *head, *tail;
	bool stopping;
	int64_t give_up_at; /* clock_now_ms(); 0 while the run goes on */
	struct notify_report rep;
};

void
notify_sign(char *out, const char *secret, size_t secret_len, long ts,
	    const char *body)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char stamp[32], hex[2 * EVP_MAX_MD_SIZE + 1];
	size_t sl, bl = strlen(body);
	unsigned char *msg;

	sl = (size_t)snprintf(stamp, sizeof(stamp), "%ld.", ts);
	if ((msg = malloc(sl + bl + 1)) == NULL) {
		snprintf(out, 72, "sha256=");
		return;
	}
	memcpy(msg, stamp, sl);
	memcpy(msg + sl, body, bl);
	HMAC(EVP_sha256(), secret, (int)secret_len, msg, sl + bl, md, &mdlen);
	free(msg);
	hash_hex(hex, md, mdlen);
	snprintf(out, 72, "sha256=%.64s", hex);
}

/* The time left before giving up (a large number while the run goes on);
 * under the lock. */
static int64_t
left_ms(const struct notifier *n)
{
	return n->give_up_at == 0 ? INT64_MAX : n->give_up_at - clock_now_ms();
}

static size_t
discard(char *p, size_t size, size_t k, void *ctx)
{
	(void)p;
	(void)ctx;
	return size * k;
}

/* One POST; 0 on a 2xx answer, else why in why. */
static int
post(const struct plan_hook *h, const char *ca_file, const char *body,
     int64_t timeout_ms, char *why, size_t size)
{
	char errbuf[CURL_ERROR_SIZE] = "", sig[128], hdr[160], ts_hdr[64];
	struct curl_slist *hs = NULL;
	CURL *curl = curl_easy_init();
	long ts = (long)time(NULL), code = 0;
	CURLcode cc;

	if (curl == NULL) {
		snprintf(why, size, "cannot start an HTTP client");
		return -1;
	}
	notify_sign(sig, h->secret, h->secret_len, ts, body);
	snprintf(hdr, sizeof(hdr), "X-IVR-Signature: %s", sig);
	snprintf(ts_hdr, sizeof(ts_hdr), "X-IVR-Timestamp: %ld", ts);
	hs = curl_slist_append(hs, "Content-Type: application/json");
	hs = curl_slist_append(hs, hdr);
	hs = curl_slist_append(hs, ts_hdr);
	curl_easy_setopt(curl, CURLOPT_URL, h->url);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hs);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_SSLVERSION,
			 (long)CURL_SSLVERSION_TLSv1_2);
	if (ca_file != NULL)
		curl_easy_setopt(curl, CURLOPT_CAINFO, ca_file);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
	if ((cc = curl_easy_perform(curl)) == CURLE_OK)
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
	curl_slist_free_all(hs);
	curl_easy_cleanup(curl);
	if (cc != CURLE_OK)
		snprintf(why, size, "%s: %s", h->url,
			 errbuf[0] ? errbuf : curl_easy_strerror(cc));
	else if (code < 200 || code > 299)
		snprintf(why, size, "%s answered %ld", h->url, code);
	return cc == CURLE_OK && code >= 200 && code <= 299 ? 0 : -1;
}

/* Waits ms on the queue's condition (cut short at the give-up time);
 * under the lock. */
static void
backoff(struct notifier *n, int64_t ms)
{
	struct timespec until;
	int64_t left = left_ms(n);

	if (ms > left)
		ms = left;
	if (ms <= 0)
		return;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_cond_timedwait(&n->cond, &n->lock, &until);
}

/* Every attempt at one hook, under the lock (dropped while sending). */
static void
deliver(struct notifier *n, const struct plan_hook *h, const char *body)
{
	char why[256] = "the run ended before it could be sent";
	bool tried = false;

	for (int attempt = 0; attempt <= h->retries; attempt++) {
		int64_t left = left_ms(n), t;
		int rc;

		if (left <= 0)
			break;
		t = h->timeout_ms < left ? h->timeout_ms : left;
		pthread_mutex_unlock(&n->lock);
		rc = post(h, n->p->tls.ca_file, body, t, why, sizeof(why));
		pthread_mutex_lock(&n->lock);
		tried = true;
		if (rc == 0) {
			n->rep.delivered++;
			return;
		}
		if (attempt < h->retries)
			backoff(n, 250LL << (attempt < 4 ? attempt : 4));
	}
	n->rep.lost++;
	/* what an attempt heard says more than "not tried" */
	if (tried || n->rep.last_error[0] == '\0')
		snprintf(n->rep.last_error, sizeof(n->rep.last_error), "%s",
			 why);
}

static void *
worker(void *arg)
{
	struct notifier *n = arg;

	pthread_mutex_lock(&n->lock);
	for (;;) {
		struct item *it;

		while (n->head == NULL && !n->stopping)
			pthread_cond_wait(&n->cond, &n->lock);
		if ((it = n->head) == NULL)
			break;
		if ((n->head = it->next) == NULL)
			n->tail = NULL;
		for (size_t i = 0; i < n->p->nhooks; i++)
			if (n->p->hooks[i].events & (1u << it->bit))
				deliver(n, &n->p->hooks[i], it->body);
		free(it->body);
		free(it);
	}
	pthread_mutex_unlock(&n->lock);
	return NULL;
}

struct notifier *
notify_start(const struct plan *p)
{
	struct notifier *n;

	if (p->nhooks == 0 || (n = calloc(1, sizeof(*n))) == NULL)
		return NULL;
	n->p = p;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	pthread_mutex_init(&n->lock, NULL);
	pthread_cond_init(&n->cond, NULL);
	if (pthread_create(&n->thread, NULL, worker, n) != 0) {
		pthread_mutex_destroy(&n->lock);
		pthread_cond_destroy(&n->cond);
		free(n);
		return NULL;
	}
	return n;
}

void
notify_send(struct notifier *n, const char *event, json_t *fields)
{
	char at[32];
	struct item *it;
	time_t now = time(NULL);
	struct tm tm;
	unsigned bit;

	for (bit = 0; plan_notify_events[bit] != NULL; bit++)
		if (strcmp(plan_notify_events[bit], event) == 0)
			break;
	if (n == NULL || fields == NULL || plan_notify_events[bit] == NULL ||
	    (it = calloc(1, sizeof(*it))) == NULL) {
		json_decref(fields);
		return;
	}
	gmtime_r(&now, &tm);
	strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_object_set_new(fields, "event", json_string(event));
	json_object_set_new(fields, "environment",
			    json_string(n->p->environment));
	json_object_set_new(fields, "at", json_string(at));
	it->bit = bit;
	it->body = json_dumps(fields, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(fields);
	if (it->body == NULL) {
		free(it);
		return;
	}
	pthread_mutex_lock(&n->lock);
	if (n->tail != NULL)
		n->tail->next = it;
	else
		n->head = it;
	n->tail = it;
	pthread_cond_broadcast(&n->cond);
	pthread_mutex_unlock(&n->lock);
}

void
notify_finish(struct notifier *n, struct notify_report *out)
{
	int64_t longest = 0;

	memset(out, 0, sizeof(*out));
	if (n == NULL)
		return;
	for (size_t i = 0; i < n->p->nhooks; i++)
		if (n->p->hooks[i].timeout_ms > longest)
			longest = n->p->hooks[i].timeout_ms;
	pthread_mutex_lock(&n->lock);
	n->stopping = true;
	n->give_up_at = clock_now_ms() + longest;
	pthread_cond_broadcast(&n->cond);
	pthread_mutex_unlock(&n->lock);
	pthread_join(n->thread, NULL);
	*out = n->rep;
	pthread_mutex_destroy(&n->lock);
	pthread_cond_destroy(&n->cond);
	free(n);
}
