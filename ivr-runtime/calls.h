/*
 * calls: the table of calls in progress, shared by every HTTP thread.
 *
 * Each call has a random 128-bit id (32 hex digits), its engine state and
 * its own lock: steps of one call run one at a time, steps of different
 * calls in parallel.  The table caps how many calls run at once, reaps
 * calls idle past the idle timeout or older than the maximum duration, and
 * keeps, per call, the last answer given under an Idempotency-Key so that a
 * retried request gets the same answer without running again.
 *
 * Lifetime: calls_get returns a referenced call that the caller returns
 * with calls_put; a removed call is freed when its last reference goes.
 */
#ifndef IVR_RUNTIME_CALLS_H
#define IVR_RUNTIME_CALLS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "engine.h"
#include "err.h"

#define CALLS_ID_LEN	   32
#define CALLS_IDEM_KEY_MAX 64

struct call {
	char id[CALLS_ID_LEN + 1];
	pthread_mutex_t lock; /* held while a step runs */
	struct call_state st;
	int64_t started_ms; /* CLOCK_MONOTONIC */
	int64_t last_ms;
	unsigned refs; /* guarded by the table's lock */
	bool removed;  /* guarded by the table's lock */
	/* the answer last given under an Idempotency-Key (guarded by lock) */
	char idem_key[CALLS_IDEM_KEY_MAX + 1];
	unsigned idem_status;
	char *idem_body;
};

struct calls {
	pthread_mutex_t lock;
	void *root; /* tsearch tree of struct call *, by id */
	unsigned active;
	unsigned max;
	const struct engine *engine;
};

/* Sets up an empty table of at most max calls.  0 or ERR_INTERNAL. */
int calls_init(struct calls *t, unsigned max, const struct engine *e,
	       struct err *err);

/* Frees every call left and the table's lock. */
void calls_release(struct calls *t);

/*
 * Adds a new call and returns it referenced in *out.  Returns 0, ERR_BUSY
 * when the table is full, or ERR_NOMEM / ERR_IO.
 */
int calls_create(struct call **out, struct calls *t, struct err *err);

/* The call with this id, referenced, or NULL. */
struct call *calls_get(struct calls *t, const char *id);

/* Returns a reference from calls_create or calls_get. */
void calls_put(struct calls *t, struct call *c);

/* Takes the call out of the table (it is freed at its last calls_put). */
void calls_remove(struct calls *t, struct call *c);

/* The number of calls in the table. */
unsigned calls_active(struct calls *t);

/*
 * Removes calls idle for idle_ms or running longer than max_ms (at time
 * now_ms) and adds their numbers to *idle and *overlong.  With all set,
 * removes every call (the drain deadline) and counts them in *idle.
 */
void calls_reap(struct calls *t, int64_t now_ms, int64_t idle_ms,
		int64_t max_ms, bool all, unsigned *idle, unsigned *overlong);

/* CLOCK_MONOTONIC in milliseconds. */
int64_t calls_now_ms(void);

#endif
