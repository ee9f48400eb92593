/*
 * libFuzzer: any bytes as what Prometheus answers a query (its status
 * code taken from the first byte), read by prom_parse and judged by both
 * kinds of check: never a crash, a leak or a pass on an error.
 */
#include <math.h>
#include <string.h>

#include "analysis.h"
#include "fuzz_util.h"
#include "prom.h"

static const long codes[] = { 200, 400, 422, 503 };

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct plan_check th = { .has_above = true, .fail_above = 0.05 };
	struct plan_check cmp = { .min_samples = 3, .confidence = 0.95 };
	struct prom_result r, copy = { 0 };
	char why[640];
	struct err e;
	double p;

	if (size == 0)
		return 0;
	if (prom_parse(&r, (const char *)data + 1, size - 1, codes[data[0] % 4],
		       &e) < 0) {
		if (r.values != NULL || r.n != 0)
			abort(); /* an error leaves nothing to judge */
		return 0;
	}
	if (analysis_judge_threshold(&th, &r, why, sizeof(why)) ==
		    ANALYSIS_PASSED &&
	    r.n == 0)
		abort(); /* no data never passes */
	if ((copy.values = malloc(sizeof(double) * (r.n + 1))) != NULL) {
		if (r.n > 0) /* no sample: no buffer */
			memcpy(copy.values, r.values, sizeof(double) * r.n);
		copy.n = r.n;
		analysis_judge_compare(&cmp, &r, &copy, &p, why, sizeof(why));
		if (!(p >= 0 && p <= 1))
			abort();
		free(copy.values);
	}
	prom_result_release(&r);
	return 0;
}
