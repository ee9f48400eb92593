/*
 * journal_etcd: the journal and the environment's lock on etcd (journal.h,
 * journal_int.h).  Keys under <prefix><environment>/:
 *
 *   lock                 the holder (user, host, pid, since) bound to a
 *                        lease this controller renews
 *   journal/<ms>-<hex>   one event, JSON; read back by create revision
 */
#include "journal.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "hash.h"
#include "journal_int.h"

#define PENDING_MAX    10000 /* events kept for etcd; the file has all */
#define RETRY_AFTER_MS 1000  /* after a failed write, writes wait this long */

int
journal_etcd_setup(struct journal *j, const struct plan *p, struct err *err)
{
	struct journal_shared *s = calloc(1, sizeof(*s));
	struct etcd_conf conf;
	pthread_condattr_t ca;

	if (s == NULL || (s->pending = json_array()) == NULL) {
		free(s);
		return err_set(err, ERR_NOMEM, "no memory for etcd's client");
	}
	conf.endpoints = p->state.endpoints;
	conf.nendpoints = p->state.nendpoints;
	conf.timeout_ms = p->state.timeout_ms;
	conf.ca_file = p->state.ca_file;
	conf.cert_file = p->state.cert_file;
	conf.key_file = p->state.key_file;
	etcd_init(&s->etcd, &conf);
	snprintf(s->prefix, sizeof(s->prefix), "%.128s%.64s/", p->state.prefix,
		 p->environment);
	snprintf(j->where, sizeof(j->where), "etcd:%.200s", s->prefix);
	s->ttl_ms = p->state.lease_ttl_ms;
	pthread_mutex_init(&s->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->wake, &ca);
	pthread_condattr_destroy(&ca);
	j->shared = s;
	return 0;
}

/* Marks the lock lost (once), saying why: its lease, then detail.
 * Under s->mu. */
static void
lose(struct journal_shared *s, const char *what, long long ms,
     const char *detail)
{
	if (atomic_load(&s->lost))
		return;
	snprintf(s->lost_why, sizeof(s->lost_why),
		 "its lease %s %lld ms%s%.400s", what, ms,
		 detail[0] ? ": " : "", detail);
	atomic_store(&s->lost, true);
}

/* Renews the lease every third of its time to live until stopped. */
static void *
keeper(void *arg)
{
	struct journal_shared *s = arg;
	struct timespec ts;
	struct err e;
	int64_t ttl_s = 0, since;
	int rc;

	pthread_mutex_lock(&s->mu);
	while (!s->stop) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += (s->ttl_ms / 3) / 1000;
		ts.tv_nsec += ((s->ttl_ms / 3) % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		while (!s->stop && pthread_cond_timedwait(&s->wake, &s->mu,
							  &ts) != ETIMEDOUT)
			;
		if (s->stop)
			break;
		pthread_mutex_unlock(&s->mu);
		rc = etcd_lease_keepalive(&s->etcd, s->lease, &ttl_s, &e);
		pthread_mutex_lock(&s->mu);
		since = clock_now_ms() - atomic_load(&s->renewed_ms);
		if (rc == 0 && ttl_s > 0)
			atomic_store(&s->renewed_ms, clock_now_ms());
		else if (rc == 0)
			lose(s, "expired, last renewed", since, "");
		else if (since > s->ttl_ms / 2)
			lose(s, "could not be renewed for", since, e.msg);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

bool
journal_lock_held(struct journal *j, char *why, size_t size)
{
	struct journal_shared *s = j->shared;
	long long since;

	if (s == NULL || s->lease == 0)
		return true;
	pthread_mutex_lock(&s->mu);
	since = clock_now_ms() - atomic_load(&s->renewed_ms);
	if (since > s->ttl_ms / 2)
		lose(s, "has not been renewed for", since, "");
	snprintf(why, size, "%s", s->lost_why);
	pthread_mutex_unlock(&s->mu);
	return !atomic_load(&s->lost);
}

/* The holder found, as the refusal says it; frees kv. */
static int
held(struct journal *j, struct etcd_kv *kv, bool mine_dead, struct err *err)
{
	json_t *h = json_loads(kv->value, 0, NULL);
	const char *user = json_string_value(json_object_get(h, "user"));
	const char *host = json_string_value(json_object_get(h, "host"));
	const char *since = json_string_value(json_object_get(h, "since"));
	const char *run = json_string_value(json_object_get(h, "run"));
	long long pid = json_integer_value(json_object_get(h, "pid"));
	int64_t ttl = -1;
	int rc;

	etcd_lease_ttl(&j->shared->etcd, kv->lease, &ttl, NULL);
	rc = err_set(err, ERR_BUSY,
		     "the environment is locked by %s@%s, pid %lld, %s%s%s"
		     "since %s (on etcd: its lease has %lld s left unless "
		     "renewed)%s",
		     user ? user : "?", host ? host : "?", pid,
		     run ? "run " : "", run ? run : "", run ? ", " : "",
		     since ? since : "?",
		     ttl >= 0 ? (long long)ttl
			      : (long long)(j->shared->ttl_ms / 1000),
		     mine_dead ? "; its process on this host is gone: run "
				 "again with --break-lock, or wait"
			       : "");
	json_decref(h);
	etcd_kv_release(kv);
	return rc;
}

/* Whether the holder is a process of this host that is gone. */
static bool
holder_dead_here(const struct etcd_kv *kv)
{
	char host[256] = "";
	json_t *h = json_loads(kv->value, 0, NULL);
	const char *hh = json_string_value(json_object_get(h, "host"));
	json_int_t pid = json_integer_value(json_object_get(h, "pid"));
	bool dead;

	gethostname(host, sizeof(host) - 1);
	dead = hh != NULL && strcmp(hh, host) == 0 && pid > 0 &&
	       kill((pid_t)pid, 0) < 0 && errno == ESRCH;
	json_decref(h);
	return dead;
}

/* The lease and the lock key; ERR_EXISTS with *kv the holder. */
static int
try_lock(struct journal *j, struct etcd_kv *kv, struct err *err)
{
	struct journal_shared *s = j->shared;
	char key[300];
	json_t *o = journal_holder_json(j);
	char *text = json_dumps(o, JSON_COMPACT);
	int rc;

	json_decref(o);
	if (text == NULL)
		return err_set(err, ERR_NOMEM, "no memory for the lock");
	snprintf(s->holder, sizeof(s->holder), "%s", text);
	free(text);
	snprintf(key, sizeof(key), "%slock", s->prefix);
	if (s->lease == 0 &&
	    (rc = etcd_lease_grant(&s->etcd, s->ttl_ms, &s->lease, err)) < 0)
		return rc;
	atomic_store(&s->renewed_ms, clock_now_ms());
	return etcd_create(&s->etcd, key, s->holder, s->lease, kv, err);
}

int
journal_etcd_lock(struct journal *j, bool break_stale, struct err *err)
{
	struct journal_shared *s = j->shared;
	struct etcd_kv kv;
	char key[300];
	int rc;

	snprintf(key, sizeof(key), "%slock", s->prefix);
	for (int attempt = 0; attempt < 2; attempt++) {
		rc = try_lock(j, &kv, err);
		if (rc == 0)
			break;
		if (rc != ERR_EXISTS) {
			char msg[ERR_MSG_MAX] = "?";

			if (err != NULL)
				snprintf(msg, sizeof(msg), "%s", err->msg);
			return err_set(err, ERR_IO,
				       "cannot take the environment's lock on "
				       "etcd: %s",
				       msg);
		}
		if (!break_stale || !holder_dead_here(&kv) || attempt > 0)
			return held(j, &kv, holder_dead_here(&kv), err);
		etcd_delete_if(&s->etcd, key, kv.value, NULL);
		etcd_kv_release(&kv);
	}
	j->locked = true;
	s->keeping = pthread_create(&s->keeper, NULL, keeper, s) == 0;
	return 0;
}

/* Sends the kept events in order; stops at the first etcd refuses.
 * Under s->mu. */
static void
flush(struct journal_shared *s)
{
	struct err e;

	while (json_array_size(s->pending) > 0) {
		json_t *ev = json_array_get(s->pending, 0);
		const char *key = json_string_value(json_array_get(ev, 0));
		const char *text = json_string_value(json_array_get(ev, 1));

		if (etcd_put(&s->etcd, key, text, strlen(text), 0, &e) < 0) {
			s->failed_ms = clock_now_ms();
			snprintf(s->write_error, sizeof(s->write_error), "%s",
				 e.msg);
			return;
		}
		json_array_remove(s->pending, 0);
	}
	s->failed_ms = 0;
}

void
journal_etcd_write(struct journal *j, const char *text)
{
	struct journal_shared *s = j->shared;
	unsigned char raw[4];
	char key[320], hex[9];
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	hash_random(raw, sizeof(raw), NULL);
	hash_hex(hex, raw, sizeof(raw));
	/* unique; the order is etcd's (create revision), not the name's */
	snprintf(key, sizeof(key), "%sjournal/%013lld-%s", s->prefix,
		 (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000, hex);
	pthread_mutex_lock(&s->mu);
	if (json_array_size(s->pending) < PENDING_MAX)
		json_array_append_new(s->pending,
				      json_pack("[s, s]", key, text));
	else
		j->unwritten++;
	if (s->failed_ms == 0 ||
	    clock_now_ms() - s->failed_ms >= RETRY_AFTER_MS)
		flush(s);
	pthread_mutex_unlock(&s->mu);
}

void
journal_etcd_close(struct journal *j)
{
	struct journal_shared *s = j->shared;
	char key[300];

	if (s == NULL)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = true;
	pthread_cond_broadcast(&s->wake);
	pthread_mutex_unlock(&s->mu);
	if (s->keeping)
		pthread_join(s->keeper, NULL);
	pthread_mutex_lock(&s->mu);
	flush(s);
	j->unwritten += json_array_size(s->pending);
	pthread_mutex_unlock(&s->mu);
	/* revoking the lease deletes the key; a lease already gone may
	 * have let another controller take it: only ours goes */
	if (s->lease != 0 && etcd_lease_revoke(&s->etcd, s->lease, NULL) < 0 &&
	    j->locked) {
		snprintf(key, sizeof(key), "%slock", s->prefix);
		etcd_delete_if(&s->etcd, key, s->holder, NULL);
	}
	json_decref(s->pending);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->wake);
	free(s);
	j->shared = NULL;
}

struct reading {
	void (*fn)(void *ctx, json_t *ev);
	void *ctx;
};

static bool
read_one(void *ctx, const struct etcd_kv *kv)
{
	struct reading *r = ctx;
	json_t *ev = json_loadb(kv->value, kv->len, 0, NULL);

	if (json_is_object(ev)) /* anything else is not an event */
		r->fn(r->ctx, ev);
	json_decref(ev);
	return true;
}

int
journal_etcd_each(struct journal *j, void (*fn)(void *ctx, json_t *ev),
		  void *ctx, struct err *err)
{
	struct reading r = { fn, ctx };
	char prefix[300];
	int rc;

	snprintf(prefix, sizeof(prefix), "%sjournal/", j->shared->prefix);
	if ((rc = etcd_each(&j->shared->etcd, prefix, read_one, &r, err)) < 0 &&
	    err != NULL) {
		char msg[ERR_MSG_MAX];

		snprintf(msg, sizeof(msg), "%s", err->msg);
		err_set(err, rc, "cannot read the journal from etcd: %s", msg);
	}
	return rc;
}
