/*
 * analysis: see analysis.h.
 */
#include "analysis.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

const char *
analysis_verdict_name(enum analysis_verdict v)
{
	switch (v) {
	case ANALYSIS_PASSED:
		return "passed";
	case ANALYSIS_FAILED:
		return "failed";
	default:
		return "inconclusive";
	}
}

struct ranked {
	double v;
	int from_a;
};

static int
by_value(const void *x, const void *y)
{
	double a = ((const struct ranked *)x)->v;
	double b = ((const struct ranked *)y)->v;

	return (a > b) - (a < b);
}

double
analysis_mann_whitney(const double *a, size_t na, const double *b, size_t nb,
		      double *u)
{
	size_t n = na + nb, i = 0;
	struct ranked *r;
	double ra = 0, ties = 0, mean, var, z;

	*u = 0;
	if (na == 0 || nb == 0 || (r = calloc(n, sizeof(*r))) == NULL)
		return 1;
	for (size_t k = 0; k < na; k++)
		r[k] = (struct ranked){ a[k], 1 };
	for (size_t k = 0; k < nb; k++)
		r[na + k] = (struct ranked){ b[k], 0 };
	qsort(r, n, sizeof(*r), by_value);
	while (i < n) {
		size_t j = i;
		double rank, t;

		while (j + 1 < n && r[j + 1].v == r[i].v)
			j++;
		rank = ((double)i + (double)j) / 2.0 +
		       1.0; /* average, 1-based */
		t = (double)(j - i + 1);
		ties += t * t * t - t;
		for (size_t k = i; k <= j; k++)
			if (r[k].from_a)
				ra += rank;
		i = j + 1;
	}
	free(r);
	*u = ra - (double)na * ((double)na + 1) / 2.0;
	mean = (double)na * (double)nb / 2.0;
	var = (double)na * (double)nb / 12.0 *
	      (((double)n + 1) - ties / ((double)n * ((double)n - 1)));
	if (var <= 0)
		return 1;
	z = (*u - mean - 0.5) / sqrt(var);
	return 0.5 * erfc(z / sqrt(2.0));
}

static int
by_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;

	return (a > b) - (a < b);
}

double
analysis_median(double *v, size_t n)
{
	if (n == 0)
		return NAN;
	qsort(v, n, sizeof(*v), by_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

char *
analysis_expand(const char *tmpl, const char *release, const char *baseline)
{
	struct buf b;
	size_t len;

	buf_init(&b, 64 * 1024);
	while (*tmpl != '\0') {
		int rc;

		if (strncmp(tmpl, "{release}", 9) == 0) {
			rc = buf_append_str(&b, release, NULL);
			tmpl += 9;
		} else if (strncmp(tmpl, "{baseline}", 10) == 0) {
			rc = buf_append_str(&b, baseline, NULL);
			tmpl += 10;
		} else
			rc = buf_append(&b, tmpl++, 1, NULL);
		if (rc < 0) {
			buf_release(&b);
			return NULL;
		}
	}
	if (buf_append(&b, "", 1, NULL) < 0) {
		buf_release(&b);
		return NULL;
	}
	return buf_detach(&b, &len);
}

enum analysis_verdict
analysis_judge_threshold(const struct plan_check *c,
			 const struct prom_result *r, char *why, size_t size)
{
	double lo = INFINITY, hi = -INFINITY;

	if (r->n == 0) {
		snprintf(why, size,
			 r->nonfinite ? "the query answered only NaN (no "
					"traffic to divide by?)"
				      : "no data: the query matched no series");
		return ANALYSIS_INCONCLUSIVE;
	}
	for (size_t i = 0; i < r->n; i++) {
		lo = fmin(lo, r->values[i]);
		hi = fmax(hi, r->values[i]);
	}
	if (c->has_above && hi > c->fail_above) {
		snprintf(why, size, "%g > %g", hi, c->fail_above);
		return ANALYSIS_FAILED;
	}
	if (c->has_below && lo < c->fail_below) {
		snprintf(why, size, "%g < %g", lo, c->fail_below);
		return ANALYSIS_FAILED;
	}
	if (c->has_above)
		snprintf(why, size, "%g <= %g", hi, c->fail_above);
	else
		snprintf(why, size, "%g >= %g", lo, c->fail_below);
	return ANALYSIS_PASSED;
}

enum analysis_verdict
analysis_judge_compare(const struct plan_check *c, struct prom_result *cur,
		       struct prom_result *old, double *p, char *why,
		       size_t size)
{
	double u, mc, mo, alpha = 1.0 - c->confidence;

	*p = 1;
	if (cur->n < (size_t)c->min_samples ||
	    old->n < (size_t)c->min_samples) {
		snprintf(why, size,
			 "too few samples: %zu of the new release and %zu of "
			 "the old (at least %d each)",
			 cur->n, old->n, c->min_samples);
		return ANALYSIS_INCONCLUSIVE;
	}
	if (c->lower_is_worse) { /* the test asks "higher": turn it round */
		for (size_t i = 0; i < cur->n; i++)
			cur->values[i] = -cur->values[i];
		for (size_t i = 0; i < old->n; i++)
			old->values[i] = -old->values[i];
	}
	*p = analysis_mann_whitney(cur->values, cur->n, old->values, old->n,
				   &u);
	mc = analysis_median(cur->values, cur->n);
	mo = analysis_median(old->values, old->n);
	if (c->lower_is_worse)
		mc = -mc, mo = -mo;
	snprintf(why, size,
		 "median %g (new, %zu samples) against %g (old, %zu): "
		 "Mann-Whitney U=%.1f, p=%.4g %s %.4g",
		 mc, cur->n, mo, old->n, u, *p, *p < alpha ? "<" : ">=", alpha);
	return *p < alpha ? ANALYSIS_FAILED : ANALYSIS_PASSED;
}

static enum analysis_verdict
evaluate_threshold(const struct plan_analysis *a, const struct plan_check *c,
		   const struct analysis_window *w, json_t *rec)
{
	char *q = analysis_expand(c->query, w->release, w->baseline);
	struct prom_result r = { 0 };
	enum analysis_verdict v = ANALYSIS_INCONCLUSIVE;
	char why[640];
	struct err e;

	if (q == NULL)
		snprintf(why, sizeof(why), "no memory for the query");
	else if (prom_query(&r, a->prometheus, a->ca_file, q, w->now,
			    a->query_timeout_ms, &e) < 0)
		snprintf(why, sizeof(why), "no answer: %.500s", e.msg);
	else {
		v = analysis_judge_threshold(c, &r, why, sizeof(why));
		json_object_set(rec, "values", r.described);
	}
	prom_result_release(&r);
	json_object_set_new(rec, "query", json_string(q ? q : c->query));
	json_object_set_new(rec, "why", json_string(why));
	free(q);
	return v;
}

/* The samples of the compare query for one release over the window. */
static int
range(struct prom_result *r, const struct plan_analysis *a,
      const struct plan_check *c, const struct analysis_window *w,
      const char *release, json_t *rec, const char *key, struct err *err)
{
	char *q = analysis_expand(c->query, release, w->baseline);
	int rc;

	memset(r, 0, sizeof(*r));
	if (q == NULL)
		return err_set(err, ERR_NOMEM, "no memory for the query");
	rc = prom_query_range(r, a->prometheus, a->ca_file, q, w->start,
			      fmax(w->now, w->start + 1),
			      (double)a->interval_ms / 1000.0,
			      a->query_timeout_ms, err);
	json_object_set_new(rec, key,
			    json_pack("{s:s, s:I, s:O?}", "query", q, "samples",
				      (json_int_t)r->n, "series",
				      rc == 0 ? r->described : NULL));
	free(q);
	return rc;
}

static enum analysis_verdict
evaluate_compare(const struct plan_analysis *a, const struct plan_check *c,
		 const struct analysis_window *w, json_t *rec)
{
	struct prom_result cur = { 0 }, old = { 0 };
	enum analysis_verdict v = ANALYSIS_INCONCLUSIVE;
	char why[640];
	struct err e;
	double p = 1;

	if (range(&cur, a, c, w, w->release, rec, "new", &e) < 0 ||
	    range(&old, a, c, w, w->baseline, rec, "old", &e) < 0)
		snprintf(why, sizeof(why), "no answer: %.500s", e.msg);
	else {
		v = analysis_judge_compare(c, &cur, &old, &p, why, sizeof(why));
		json_object_set_new(rec, "p", json_real(p));
	}
	prom_result_release(&cur);
	prom_result_release(&old);
	json_object_set_new(rec, "query", json_string(c->query));
	json_object_set_new(rec, "why", json_string(why));
	return v;
}

enum analysis_verdict
analysis_evaluate(const struct plan_analysis *a, const struct plan_check *c,
		  const struct analysis_window *w, json_t **record)
{
	json_t *rec = json_pack("{s:s, s:s}", "check", c->name, "kind",
				c->kind == PLAN_CHECK_COMPARE ? "compare"
							      : "threshold");
	enum analysis_verdict v = c->kind == PLAN_CHECK_COMPARE
					  ? evaluate_compare(a, c, w, rec)
					  : evaluate_threshold(a, c, w, rec);

	json_object_set_new(rec, "verdict",
			    json_string(analysis_verdict_name(v)));
	*record = rec;
	return v;
}
