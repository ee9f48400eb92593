/*
 * prom: a client of Prometheus' HTTP API (/api/v1/query and
 * /api/v1/query_range) on libcurl, for canary analysis.  The answer
 * crosses a trust boundary: prom_parse reads it with bounds on size and
 * sample count (fuzzed by fuzz_prom), and every way the server can fail
 * (unreachable, slow, an error status, a body that is not its JSON) is an
 * error the caller treats as "no answer", never as a value.
 */
#ifndef IVR_CONTROLLER_PROM_H
#define IVR_CONTROLLER_PROM_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define PROM_BODY_MAX	 (8 * 1024 * 1024)
#define PROM_SAMPLES_MAX 100000
#define PROM_SERIES_MAX	 64 /* described in the result, for the journal */

struct prom_result {
	double *values; /* every finite sample, in the answer's order */
	size_t n, cap;
	size_t nonfinite; /* NaN or infinite samples, left out */
	size_t series;	  /* series in the answer */
	/* the first PROM_SERIES_MAX series: [{"labels": "host=\"ivr-01\"",
	 * "value": v, "samples": n}] (value: the last finite one, or null) */
	json_t *described;
};

/*
 * Reads an API answer (len bytes of body; http_code as the server
 * answered it) into out: a vector, a matrix or a scalar.  Returns 0, or
 * ERR_PARSE / ERR_IO saying why ("Prometheus answered 400: parse error at
 * char 5: ...", "not Prometheus' JSON: ..."); out is then empty.
 * Release out with prom_result_release in every case.
 */
int prom_parse(struct prom_result *out, const char *body, size_t len,
	       long http_code, struct err *err);

void prom_result_release(struct prom_result *r);

/*
 * An instant query at time t (Unix seconds) against base (such as
 * http://127.0.0.1:9090; https verified against ca_file, NULL: the
 * system's bundle), answered within timeout_ms.  Returns 0 with out
 * filled, or an error saying why (unreachable, timed out, an error answer).
 */
int prom_query(struct prom_result *out, const char *base, const char *ca_file,
	       const char *query, double t, int64_t timeout_ms,
	       struct err *err);

/* A range query from start to end (Unix seconds) every step seconds. */
int prom_query_range(struct prom_result *out, const char *base,
		     const char *ca_file, const char *query, double start,
		     double end, double step, int64_t timeout_ms,
		     struct err *err);

#endif
