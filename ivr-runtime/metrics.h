/*
 * metrics: the runtime's counters, gauges and the step-latency histogram,
 * updated lock-free from any thread and rendered in the Prometheus text
 * format.  Labels come from fixed sets (outcomes, results, routes, codes,
 * operations): never an account number, a call id or a caller's number.
 * Every series carries release="<version>", so that a canary can be told
 * from the hosts still on the old release over the same window (the host
 * label is the scraper's).
 */
#ifndef IVR_RUNTIME_METRICS_H
#define IVR_RUNTIME_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

enum metrics_outcome {
	METRICS_CALL_HANGUP,	  /* the flow said goodbye */
	METRICS_CALL_AGENT,	  /* handed to an adviser */
	METRICS_CALL_CALLER,	  /* the caller hung up */
	METRICS_CALL_ABANDONED,	  /* reaped after the idle timeout */
	METRICS_CALL_TIMEOUT,	  /* longer than the maximum duration */
	METRICS_CALL_CUT,	  /* still running at the drain deadline */
	METRICS_CALL_REJECTED,	  /* refused: capacity or draining */
	METRICS_CALL_UNAVAILABLE, /* ended: the bank could not be reached */
	METRICS_CALL_OUTCOMES
};

enum metrics_transfer {
	METRICS_TRANSFER_OK,
	METRICS_TRANSFER_REPLAYED,
	METRICS_TRANSFER_INSUFFICIENT,
	METRICS_TRANSFER_REFUSED,
	METRICS_TRANSFER_FAILED,
	METRICS_TRANSFER_RESULTS
};

enum metrics_route {
	METRICS_ROUTE_CALLS,
	METRICS_ROUTE_CALL_INPUT,
	METRICS_ROUTE_CALL,
	METRICS_ROUTE_VXML,
	METRICS_ROUTE_HEALTHZ,
	METRICS_ROUTE_READYZ,
	METRICS_ROUTE_VERSION,
	METRICS_ROUTE_METRICS,
	METRICS_ROUTE_ADMIN,
	METRICS_ROUTE_OTHER,
	METRICS_ROUTES
};

/* A call step (a request of the call API or VoiceXML) by its answer. */
enum metrics_step {
	METRICS_STEP_OK,	  /* 2xx */
	METRICS_STEP_REJECTED,	  /* 4xx: the client's mistake */
	METRICS_STEP_UNAVAILABLE, /* 503: capacity, draining, no bank */
	METRICS_STEP_ERROR,	  /* any other 5xx */
	METRICS_STEP_OUTCOMES
};

/* A bank operation of the call engine (one per flow action). */
enum metrics_db_op {
	METRICS_DB_AUTHENTICATE,
	METRICS_DB_BALANCES,
	METRICS_DB_RECENT,
	METRICS_DB_TRANSFER_PREPARE,
	METRICS_DB_TRANSFER,
	METRICS_DB_OPS
};

#define METRICS_CODES	10 /* the status codes the server answers with */
#define METRICS_BUCKETS 11 /* duration buckets, the last is +Inf */
#define METRICS_LABEL	160

struct metrics_histogram {
	atomic_uint_fast64_t buckets[METRICS_BUCKETS];
	atomic_uint_fast64_t sum_us;
};

struct metrics {
	atomic_uint_fast64_t calls[METRICS_CALL_OUTCOMES];
	atomic_uint_fast64_t auth_failures;
	atomic_uint_fast64_t auth_lockouts;
	atomic_uint_fast64_t transfers[METRICS_TRANSFER_RESULTS];
	atomic_uint_fast64_t http[METRICS_ROUTES][METRICS_CODES];
	atomic_uint_fast64_t steps[METRICS_STEP_OUTCOMES];
	struct metrics_histogram step_time;
	struct metrics_histogram db_time[METRICS_DB_OPS];
	atomic_uint_fast64_t db_errors[METRICS_DB_OPS];
	atomic_uint_fast64_t connections_cut; /* past their deadline */
	char release[METRICS_LABEL];	      /* escaped for a label */
	double start_time;		      /* epoch seconds, at init */
};

/* Zeroes every counter.  No allocation. */
void metrics_init(struct metrics *m, const char *version);

void metrics_call_ended(struct metrics *m, enum metrics_outcome o);
void metrics_auth_failure(struct metrics *m);
/* An account locked by this failure (or tried while locked). */
void metrics_auth_lockout(struct metrics *m);
void metrics_transfer(struct metrics *m, enum metrics_transfer r);
/* Counts a response; codes outside the known set count as 500. */
void metrics_http(struct metrics *m, enum metrics_route r, unsigned code);
/* A call step answered with status after micros. */
void metrics_step(struct metrics *m, unsigned status, uint64_t micros);
/* A bank operation that took micros, and whether it failed. */
void metrics_db(struct metrics *m, enum metrics_db_op op, uint64_t micros,
		int failed);
/* n connections shut down past their request deadline. */
void metrics_connections_cut(struct metrics *m, unsigned n);

/*
 * Appends the exposition text (with the given gauges) to out.  Returns 0
 * or the buffer's error.
 */
int metrics_render(struct buf *out, const struct metrics *m,
		   unsigned calls_active, int draining, struct err *err);

#endif
