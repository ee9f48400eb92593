/*
 * Canary analysis: Prometheus' answers read (and refused), the
 * Mann-Whitney U test against known figures, and each verdict, including
 * every way of getting no answer, which must never pass.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "analysis.h"
#include "prom.h"

static int
parse(struct prom_result *r, const char *body, long code, struct err *e)
{
	return prom_parse(r, body, strlen(body), code, e);
}

static void
test_prom_parse__reads_vector_matrix_and_scalar(void **state)
{
	struct prom_result r;
	struct err e;

	(void)state;
	assert_int_equal(
		parse(&r,
		      "{\"status\":\"success\",\"data\":{\"resultType\":"
		      "\"vector\",\"result\":[{\"metric\":{\"host\":\"ivr-01\"}"
		      ","
		      "\"value\":[1700000000.1,\"0.25\"]},{\"metric\":{"
		      "\"host\":"
		      "\"ivr-02\"},\"value\":[1700000000.1,\"NaN\"]}]}}",
		      200, &e),
		0);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.nonfinite, 1);
	assert_int_equal(r.series, 2);
	assert_true(r.values[0] == 0.25);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(r.described, 0), "labels")),
			    "host=\"ivr-01\"");
	prom_result_release(&r);

	assert_int_equal(
		parse(&r,
		      "{\"status\":\"success\",\"data\":{\"resultType\":"
		      "\"matrix\",\"result\":[{\"metric\":{},\"values\":[[1,"
		      "\"1\"],[2,\"2\"],[3,\"+Inf\"]]},{\"metric\":{},"
		      "\"values\":[[1,\"3\"]]}]}}",
		      200, &e),
		0);
	assert_int_equal(r.n, 3);
	assert_int_equal(r.nonfinite, 1);
	assert_true(r.values[2] == 3);
	prom_result_release(&r);

	assert_int_equal(parse(&r,
			       "{\"status\":\"success\",\"data\":{\"resultType"
			       "\":\"scalar\",\"result\":[1, \"42\"]}}",
			       200, &e),
			 0);
	assert_int_equal(r.n, 1);
	assert_true(r.values[0] == 42);
	prom_result_release(&r);
}

static void
test_prom_parse__refuses_errors_and_strangers(void **state)
{
	struct prom_result r;
	struct err e;

	(void)state;
	assert_int_equal(parse(&r,
			       "{\"status\":\"error\",\"errorType\":\"bad_data"
			       "\",\"error\":\"1:5: parse error: unexpected "
			       "}\"}",
			       400, &e),
			 ERR_IO);
	assert_non_null(strstr(e.msg, "Prometheus answered 400: 1:5: parse "
				      "error"));
	assert_int_equal(parse(&r, "<html>bad gateway</html>", 502, &e),
			 ERR_IO);
	assert_string_equal(e.msg, "Prometheus answered HTTP 502");
	assert_int_equal(parse(&r, "<html>", 200, &e), ERR_PARSE);
	assert_int_equal(parse(&r,
			       "{\"status\":\"success\",\"data\":{\"resultType"
			       "\":\"vector\",\"result\":[{\"value\":[1]}]}}",
			       200, &e),
			 ERR_PARSE);
	assert_int_equal(parse(&r,
			       "{\"status\":\"success\",\"data\":{\"resultType"
			       "\":\"string\",\"result\":[1,\"x\"]}}",
			       200, &e),
			 ERR_PARSE);
	assert_int_equal(parse(&r,
			       "{\"status\":\"success\",\"data\":{\"resultType"
			       "\":\"vector\",\"result\":[{\"value\":[1,\"1x"
			       "\"]}]}}",
			       200, &e),
			 ERR_PARSE);
	assert_null(r.values); /* released on every error */
}

static void
test_prom_query__unreachable_is_an_error(void **state)
{
	struct prom_result r;
	struct err e;

	(void)state;
	/* Nothing listens on port 1 of loopback: refused at once. */
	assert_true(prom_query(&r, "http://127.0.0.1:1", NULL, "up", 1, 2000,
			       &e) < 0);
	assert_non_null(strstr(e.msg, "Prometheus at http://127.0.0.1:1: "));
	prom_result_release(&r);
}

static void
test_mann_whitney__matches_known_figures(void **state)
{
	double lo[] = { 1, 2, 3, 4, 5 }, hi[] = { 6, 7, 8, 9, 10 }, u;
	double same[] = { 3, 3, 3, 3 };
	double canary[10], base[10];

	(void)state;
	/* scipy.stats.mannwhitneyu(hi, lo, alternative="greater",
	 * method="asymptotic") gives U=25, p=0.006093 */
	assert_true(fabs(analysis_mann_whitney(hi, 5, lo, 5, &u) - 0.006093) <
		    1e-5);
	assert_true(u == 25);
	assert_true(analysis_mann_whitney(lo, 5, hi, 5, &u) > 0.99);
	assert_true(u == 0);
	/* nothing varies: no evidence either way */
	assert_true(analysis_mann_whitney(same, 4, same, 4, &u) == 1);
	assert_true(analysis_mann_whitney(same, 0, same, 4, &u) == 1);
	/* one step in five failing against none, with the old side all
	 * tied at zero */
	for (int i = 0; i < 10; i++) {
		canary[i] = 0.15 + 0.01 * i;
		base[i] = 0;
	}
	assert_true(analysis_mann_whitney(canary, 10, base, 10, &u) < 1e-4);
	assert_true(u == 100);
}

static void
test_analysis_expand__fills_both_placeholders(void **state)
{
	char *q = analysis_expand("a{release=\"{release}\"} / b{release=\""
				  "{baseline}\"} {other}",
				  "1.1.0", "1.0.0");

	(void)state;
	assert_string_equal(q, "a{release=\"1.1.0\"} / b{release=\"1.0.0\"} "
			       "{other}");
	free(q);
}

static void
test_judge_threshold__fails_passes_and_never_passes_on_nothing(void **state)
{
	double v[] = { 0.01, 0.2 };
	struct prom_result r = { .values = v, .n = 2 };
	struct plan_check above = { .has_above = true, .fail_above = 0.05 };
	struct plan_check below = { .has_below = true, .fail_below = 0.005 };
	char why[128];

	(void)state;
	assert_int_equal(analysis_judge_threshold(&above, &r, why, sizeof(why)),
			 ANALYSIS_FAILED);
	assert_string_equal(why, "0.2 > 0.05");
	assert_int_equal(analysis_judge_threshold(&below, &r, why, sizeof(why)),
			 ANALYSIS_PASSED);
	r.n = 1;
	assert_int_equal(analysis_judge_threshold(&above, &r, why, sizeof(why)),
			 ANALYSIS_PASSED);
	r.n = 0;
	assert_int_equal(analysis_judge_threshold(&above, &r, why, sizeof(why)),
			 ANALYSIS_INCONCLUSIVE);
	assert_string_equal(why, "no data: the query matched no series");
	r.nonfinite = 3;
	assert_int_equal(analysis_judge_threshold(&above, &r, why, sizeof(why)),
			 ANALYSIS_INCONCLUSIVE);
}

static void
test_judge_compare__needs_samples_and_a_real_difference(void **state)
{
	double cur_v[12], old_v[12];
	struct prom_result cur = { .values = cur_v, .n = 12 };
	struct prom_result old = { .values = old_v, .n = 12 };
	struct plan_check c = { .min_samples = 10, .confidence = 0.95 };
	char why[256];
	double p;

	(void)state;
	for (int i = 0; i < 12; i++) {
		cur_v[i] = 0.2 + 0.01 * (i % 3);
		old_v[i] = 0.001 * (i % 2);
	}
	assert_int_equal(
		analysis_judge_compare(&c, &cur, &old, &p, why, sizeof(why)),
		ANALYSIS_FAILED);
	assert_true(p < 0.001);
	assert_non_null(strstr(why, "Mann-Whitney U=144.0"));
	/* the same figures, where lower is worse: the new release is
	 * better */
	c.lower_is_worse = true;
	assert_int_equal(
		analysis_judge_compare(&c, &cur, &old, &p, why, sizeof(why)),
		ANALYSIS_PASSED);
	assert_true(p > 0.99);
	/* too few samples on one side */
	c.lower_is_worse = false;
	old.n = 9;
	assert_int_equal(
		analysis_judge_compare(&c, &cur, &old, &p, why, sizeof(why)),
		ANALYSIS_INCONCLUSIVE);
	assert_non_null(strstr(why, "too few samples: 12 of the new release "
				    "and 9 of the old"));
}

static void
test_analysis_evaluate__prometheus_down_is_inconclusive(void **state)
{
	char name[] = "errors", query[] = "up{release=\"{release}\"}";
	char url[] = "http://127.0.0.1:1";
	struct plan_analysis a = { .prometheus = url,
				   .interval_ms = 1000,
				   .query_timeout_ms = 1000 };
	struct plan_check c = { .name = name,
				.query = query,
				.has_above = true,
				.fail_above = 0,
				.min_samples = 3,
				.confidence = 0.9 };
	struct analysis_window w = { "1.1.0", "1.0.0", 100, 200 };
	json_t *rec = NULL;

	(void)state;
	assert_int_equal(analysis_evaluate(&a, &c, &w, &rec),
			 ANALYSIS_INCONCLUSIVE);
	assert_string_equal(json_string_value(json_object_get(rec, "query")),
			    "up{release=\"1.1.0\"}");
	assert_string_equal(json_string_value(json_object_get(rec, "verdict")),
			    "inconclusive");
	json_decref(rec);
	c.kind = PLAN_CHECK_COMPARE;
	assert_int_equal(analysis_evaluate(&a, &c, &w, &rec),
			 ANALYSIS_INCONCLUSIVE);
	assert_non_null(strstr(json_string_value(json_object_get(rec, "why")),
			       "no answer: Prometheus at"));
	json_decref(rec);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			test_prom_parse__reads_vector_matrix_and_scalar),
		cmocka_unit_test(test_prom_parse__refuses_errors_and_strangers),
		cmocka_unit_test(test_prom_query__unreachable_is_an_error),
		cmocka_unit_test(test_mann_whitney__matches_known_figures),
		cmocka_unit_test(test_analysis_expand__fills_both_placeholders),
		cmocka_unit_test(
			test_judge_threshold__fails_passes_and_never_passes_on_nothing),
		cmocka_unit_test(
			test_judge_compare__needs_samples_and_a_real_difference),
		cmocka_unit_test(
			test_analysis_evaluate__prometheus_down_is_inconclusive),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
