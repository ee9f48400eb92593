/*
 * calls: see calls.h.  The table is a glibc tsearch tree (a red-black
 * tree) under one mutex held only for lookups and bookkeeping, never while
 * a step runs.
 */
#include "calls.h"

#include <search.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hash.h"

int64_t
calls_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
by_id(const void *a, const void *b)
{
	return strcmp(((const struct call *)a)->id,
		      ((const struct call *)b)->id);
}

int
calls_init(struct calls *t, unsigned max, const struct engine *e,
	   struct err *err)
{
	memset(t, 0, sizeof(*t));
	if (pthread_mutex_init(&t->lock, NULL) != 0)
		return err_set(err, ERR_INTERNAL, "cannot create a lock");
	t->max = max;
	t->engine = e;
	return 0;
}

static void
call_free(struct call *c)
{
	engine_call_release(&c->st);
	pthread_mutex_destroy(&c->lock);
	free(c->idem_body);
	free(c);
}

static void
free_node(void *p)
{
	call_free(p);
}

void
calls_release(struct calls *t)
{
	tdestroy(t->root, free_node);
	t->root = NULL;
	pthread_mutex_destroy(&t->lock);
}

static struct call *
call_new(const struct engine *e, struct err *err)
{
	unsigned char raw[CALLS_ID_LEN / 2];
	struct call *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		err_set(err, ERR_NOMEM, "out of memory");
		return NULL;
	}
	if (hash_random(raw, sizeof(raw), err) < 0 ||
	    engine_call_init(&c->st, e, err) < 0) {
		free(c);
		return NULL;
	}
	hash_hex(c->id, raw, sizeof(raw));
	pthread_mutex_init(&c->lock, NULL);
	c->started_ms = c->last_ms = calls_now_ms();
	c->refs = 1; /* the caller's */
	return c;
}

int
calls_create(struct call **out, struct calls *t, struct err *err)
{
	struct call *c;
	int rc = 0;

	pthread_mutex_lock(&t->lock);
	if (t->active >= t->max) {
		pthread_mutex_unlock(&t->lock);
		return err_set(err, ERR_BUSY, "too many calls in progress (%u)",
			       t->max);
	}
	t->active++; /* reserve the place before the slow part */
	pthread_mutex_unlock(&t->lock);
	if ((c = call_new(t->engine, err)) == NULL) {
		pthread_mutex_lock(&t->lock);
		t->active--;
		pthread_mutex_unlock(&t->lock);
		return err->code;
	}
	pthread_mutex_lock(&t->lock);
	if (tsearch(c, &t->root, by_id) == NULL) {
		t->active--;
		rc = err_set(err, ERR_NOMEM, "out of memory");
	} else {
		c->refs++; /* the table's */
	}
	pthread_mutex_unlock(&t->lock);
	if (rc < 0) {
		call_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

struct call *
calls_get(struct calls *t, const char *id)
{
	struct call key, **found, *c = NULL;

	if (strlen(id) != CALLS_ID_LEN)
		return NULL;
	memcpy(key.id, id, CALLS_ID_LEN + 1);
	pthread_mutex_lock(&t->lock);
	found = tfind(&key, &t->root, by_id);
	if (found != NULL) {
		c = *found;
		c->refs++;
	}
	pthread_mutex_unlock(&t->lock);
	return c;
}

void
calls_put(struct calls *t, struct call *c)
{
	bool last;

	pthread_mutex_lock(&t->lock);
	last = --c->refs == 0;
	pthread_mutex_unlock(&t->lock);
	if (last)
		call_free(c);
}

/* Takes c out of the tree; the table's lock is held. */
static void
unlink_locked(struct calls *t, struct call *c)
{
	if (c->removed)
		return;
	tdelete(c, &t->root, by_id);
	c->removed = true;
	t->active--;
	c->refs--; /* the table's; the caller still holds one */
}

void
calls_remove(struct calls *t, struct call *c)
{
	pthread_mutex_lock(&t->lock);
	unlink_locked(t, c);
	pthread_mutex_unlock(&t->lock);
}

unsigned
calls_active(struct calls *t)
{
	unsigned n;

	pthread_mutex_lock(&t->lock);
	n = t->active;
	pthread_mutex_unlock(&t->lock);
	return n;
}

struct reap {
	int64_t now, idle_ms, max_ms;
	bool all;
	struct call **victims;
	size_t count, cap;
	unsigned *idle, *overlong;
};

static void
visit(const void *node, VISIT which, void *ctx)
{
	struct call *c = *(struct call *const *)node;
	struct reap *r = ctx;
	bool old, quiet;

	if (which != postorder && which != leaf)
		return;
	old = r->now - c->started_ms >= r->max_ms;
	/* last_ms is written under c->lock; a stale read only delays. */
	quiet = r->now - __atomic_load_n(&c->last_ms, __ATOMIC_RELAXED) >=
		r->idle_ms;
	if (!r->all && !old && !quiet)
		return;
	if (r->count < r->cap)
		r->victims[r->count++] = c;
	if (r->all || quiet)
		(*r->idle)++;
	else
		(*r->overlong)++;
}

void
calls_reap(struct calls *t, int64_t now_ms, int64_t idle_ms, int64_t max_ms,
	   bool all, unsigned *idle, unsigned *overlong)
{
	struct reap r = { .now = now_ms,
			  .idle_ms = idle_ms,
			  .max_ms = max_ms,
			  .all = all,
			  .idle = idle,
			  .overlong = overlong };

	pthread_mutex_lock(&t->lock);
	r.cap = t->active;
	r.victims = calloc(r.cap ? r.cap : 1, sizeof(*r.victims));
	if (r.victims != NULL)
		twalk_r(t->root, visit, &r);
	for (size_t i = 0; i < r.count; i++) {
		struct call *c = r.victims[i];

		c->refs++;
		unlink_locked(t, c);
		if (--c->refs == 0)
			call_free(c);
	}
	pthread_mutex_unlock(&t->lock);
	free(r.victims);
}
