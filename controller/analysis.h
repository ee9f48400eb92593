/*
 * analysis: one evaluation of a canary-analysis check (plan.h's struct
 * plan_check) against Prometheus, and its verdict: passed, failed or
 * inconclusive.  No answer, no data, NaN or too few samples are
 * inconclusive, never a pass.  The judgement itself (threshold, and the
 * one-sided Mann-Whitney U test of the new release against the old) is
 * kept apart from the queries, for the unit tests.
 */
#ifndef IVR_CONTROLLER_ANALYSIS_H
#define IVR_CONTROLLER_ANALYSIS_H

#include <jansson.h>
#include <stddef.h>

#include "plan.h"
#include "prom.h"

enum analysis_verdict {
	ANALYSIS_PASSED,
	ANALYSIS_FAILED,
	ANALYSIS_INCONCLUSIVE,
};

/* "passed", "failed", "inconclusive". */
const char *analysis_verdict_name(enum analysis_verdict v);

/*
 * The one-sided Mann-Whitney U test that a's values tend to be greater
 * than b's: the p-value (normal approximation with tie and continuity
 * corrections), and a's U in *u.  1 when the values do not vary at all
 * or a side is empty.
 */
double analysis_mann_whitney(const double *a, size_t na, const double *b,
			     size_t nb, double *u);

/* The median of v[n] (sorted in place); NaN when n is 0. */
double analysis_median(double *v, size_t n);

/*
 * tmpl with {release} and {baseline} replaced (a new string, or NULL
 * without memory).
 */
char *analysis_expand(const char *tmpl, const char *release,
		      const char *baseline);

/* A threshold check's verdict on r; why says it in words. */
enum analysis_verdict analysis_judge_threshold(const struct plan_check *c,
					       const struct prom_result *r,
					       char *why, size_t size);

/*
 * A compare check's verdict on the new release's samples (cur) against
 * the old one's (old); *p gets the test's p-value (1 when not run).  Sorts
 * both.
 */
enum analysis_verdict analysis_judge_compare(const struct plan_check *c,
					     struct prom_result *cur,
					     struct prom_result *old, double *p,
					     char *why, size_t size);

/* Where and over what an evaluation looks. */
struct analysis_window {
	const char *release;  /* the new release */
	const char *baseline; /* the release it replaces */
	double start, now;    /* Unix seconds: the soak so far */
};

/*
 * Evaluates check c once (a threshold check at w->now; a compare check
 * over w->start to w->now every interval).  Returns the verdict and sets
 * *record to the evaluation for the journal and the output: check,
 * query, values, verdict, why (a new reference).
 */
enum analysis_verdict analysis_evaluate(const struct plan_analysis *a,
					const struct plan_check *c,
					const struct analysis_window *w,
					json_t **record);

#endif
