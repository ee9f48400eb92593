/*
 * metrics: the runtime's counters, gauges and the step-latency histogram,
 * updated lock-free from any thread and rendered in the Prometheus text
 * format.  Labels come from fixed sets (outcomes, results, routes, codes):
 * never an account number, a call id or a caller's number.
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

#define METRICS_CODES	10 /* the status codes the server answers with */
#define METRICS_BUCKETS 11 /* step-duration buckets, the last is +Inf */

struct metrics {
	atomic_uint_fast64_t calls[METRICS_CALL_OUTCOMES];
	atomic_uint_fast64_t auth_failures;
	atomic_uint_fast64_t transfers[METRICS_TRANSFER_RESULTS];
	atomic_uint_fast64_t http[METRICS_ROUTES][METRICS_CODES];
	atomic_uint_fast64_t step_buckets[METRICS_BUCKETS];
	atomic_uint_fast64_t step_count;
	atomic_uint_fast64_t step_sum_us;
	atomic_uint_fast64_t connections_cut; /* past their deadline */
	const char *version;		      /* borrowed */
	double start_time;		      /* epoch seconds, at init */
};

/* Zeroes every counter.  No allocation. */
void metrics_init(struct metrics *m, const char *version);

void metrics_call_ended(struct metrics *m, enum metrics_outcome o);
void metrics_auth_failure(struct metrics *m);
void metrics_transfer(struct metrics *m, enum metrics_transfer r);
/* Counts a response; codes outside the known set count as 500. */
void metrics_http(struct metrics *m, enum metrics_route r, unsigned code);
void metrics_step(struct metrics *m, uint64_t micros);
/* n connections shut down past their request deadline. */
void metrics_connections_cut(struct metrics *m, unsigned n);

/*
 * Appends the exposition text (with the given gauges) to out.  Returns 0
 * or the buffer's error.
 */
int metrics_render(struct buf *out, const struct metrics *m,
		   unsigned calls_active, int draining, struct err *err);

#endif
