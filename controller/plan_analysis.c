/*
 * plan_analysis: the plan's analysis section and each phase's list of
 * checks, and its smoke section (plan_int.h, plan.h's struct
 * plan_analysis and struct plan_smoke).  Everything is
 * checked here, so that a deployment never starts with a check it cannot
 * run: names unique and known, a threshold or a comparison per check, a
 * pause for the checks to run in, and a comparison only where hosts are
 * left on the old release to compare with.
 */
#include "plan.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plan_int.h"
#include "ydoc.h"

#define QUERY_MAX 4096
#define URL_MAX	  1024

/* True when s is 1 to 32 digits. */
static bool
digits(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= 32 && strspn(s, "0123456789") == n;
}

/* A number at map's key into *out; false when absent or not a number. */
static bool
get_number(double *out, struct loader *l, const struct ydoc_node *map,
	   const char *key, double min, double max)
{
	const struct ydoc_node *v = ydoc_get(map, key);
	char *end = NULL;
	double d;

	if (v == NULL)
		return false;
	if (v->type != YDOC_SCALAR || v->quoted || v->len == 0) {
		ydoc_problem(l->d, l->doc, v, "'%s' must be a number, found %s",
			     key, ydoc_type_name(v));
		return false;
	}
	d = strtod(v->text, &end);
	if (end == v->text || *end != '\0' || !isfinite(d) || d < min ||
	    d > max) {
		ydoc_problem(l->d, l->doc, v,
			     "'%s': '%s' is not a number from %g to %g", key,
			     v->text, min, max);
		return false;
	}
	*out = d;
	return true;
}

/* The query at map's key, checked; NULL (a problem said) when unfit. */
static char *
get_query(struct loader *l, const struct ydoc_node *map, const char *key,
	  bool needs_release)
{
	const struct ydoc_node *v = ydoc_get(map, key);
	const char *q = NULL;

	if (!ydoc_get_str(&q, l->d, l->doc, map, key, false))
		return NULL;
	if (q[0] == '\0' || strlen(q) > QUERY_MAX || strlen(q) != v->len) {
		ydoc_problem(l->d, l->doc, v,
			     "'%s' must be a PromQL expression of 1 to %d "
			     "bytes",
			     key, QUERY_MAX);
		return NULL;
	}
	if (needs_release && strstr(q, "{release}") == NULL) {
		ydoc_problem(l->d, l->doc, v,
			     "'%s' must select one release with {release} "
			     "(filled with the new release, then the old one): "
			     "such as rate(ivr_call_steps_total{outcome=\"error"
			     "\",release=\"{release}\"}[30s])",
			     key);
		return NULL;
	}
	return strdup(q);
}

static void
load_compare(struct loader *l, struct plan_check *c, const struct ydoc_node *n)
{
	const char *worse = NULL;
	int64_t v;

	c->kind = PLAN_CHECK_COMPARE;
	c->query = get_query(l, n, "compare", true);
	c->min_samples = 10;
	c->confidence = 0.95;
	if (ydoc_get_int(&v, l->d, l->doc, n, "min_samples", false, 3, 100000))
		c->min_samples = (int)v;
	get_number(&c->confidence, l, n, "confidence", 0.5, 0.9999);
	if (ydoc_get_str(&worse, l->d, l->doc, n, "worse", false)) {
		if (strcmp(worse, "lower") == 0)
			c->lower_is_worse = true;
		else if (strcmp(worse, "higher") != 0)
			ydoc_problem(l->d, l->doc, ydoc_get(n, "worse"),
				     "'worse': '%s' is not higher or lower",
				     worse);
	}
	if (ydoc_get(n, "fail_above") || ydoc_get(n, "fail_below"))
		ydoc_problem(l->d, l->doc, n,
			     "a 'compare' check judges the new release against "
			     "the old one: 'fail_above' and 'fail_below' "
			     "belong to a 'query' check");
}

static void
load_threshold(struct loader *l, struct plan_check *c,
	       const struct ydoc_node *n)
{
	c->kind = PLAN_CHECK_THRESHOLD;
	c->query = get_query(l, n, "query", false);
	c->has_above =
		get_number(&c->fail_above, l, n, "fail_above", -1e300, 1e300);
	c->has_below =
		get_number(&c->fail_below, l, n, "fail_below", -1e300, 1e300);
	if (!ydoc_get(n, "fail_above") && !ydoc_get(n, "fail_below"))
		ydoc_problem(l->d, l->doc, n,
			     "a 'query' check needs 'fail_above' or "
			     "'fail_below'");
	if (ydoc_get(n, "min_samples") || ydoc_get(n, "confidence") ||
	    ydoc_get(n, "worse"))
		ydoc_problem(l->d, l->doc, n,
			     "'min_samples', 'confidence' and 'worse' belong "
			     "to a 'compare' check");
}

static void
load_check(struct loader *l, struct plan_check *c, const struct ydoc_node *n)
{
	static const char *const keys[] = {
		"name",		 "query", "fail_above",	 "fail_below",
		"compare",	 "worse", "min_samples", "confidence",
		"failure_limit", NULL,
	};
	int64_t v;

	if (!ydoc_expect_map(l->d, l->doc, n, "a check"))
		return;
	ydoc_check_keys(l->d, l->doc, n, keys);
	c->name = plan_get_dup(l, n, "name", true);
	if (c->name != NULL && !plan_valid_name(c->name))
		ydoc_problem(l->d, l->doc, ydoc_get(n, "name"),
			     "check name '%s' must be 1-64 of [A-Za-z0-9._-]",
			     c->name);
	if (ydoc_get(n, "query") && ydoc_get(n, "compare"))
		ydoc_problem(l->d, l->doc, n,
			     "a check has either 'query' (with a threshold) "
			     "or 'compare' (new release against the old), not "
			     "both");
	else if (ydoc_get(n, "compare"))
		load_compare(l, c, n);
	else if (ydoc_get(n, "query"))
		load_threshold(l, c, n);
	else
		ydoc_problem(l->d, l->doc, n,
			     "a check needs 'query' (with 'fail_above' or "
			     "'fail_below') or 'compare'");
	if (ydoc_get_int(&v, l->d, l->doc, n, "failure_limit", false, 0, 1000))
		c->failure_limit = (int)v;
}

static void
load_url(struct loader *l, const struct ydoc_node *s)
{
	const struct ydoc_node *v = ydoc_get(s, "prometheus");
	const char *u = NULL;

	if (!ydoc_get_str(&u, l->d, l->doc, s, "prometheus", true))
		return;
	if ((strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0) ||
	    strlen(u) > URL_MAX || strlen(u) != v->len ||
	    strpbrk(u, " \t\r\n?#") != NULL || strlen(u) < 10) {
		ydoc_problem(l->d, l->doc, v,
			     "'prometheus': '%s' is not an http:// or https:// "
			     "base URL (such as http://prometheus:9090)",
			     u);
		return;
	}
	l->p->analysis.prometheus = strdup(u);
}

/* The check of the analysis section called name, or -1. */
static int
check_named(const struct plan_analysis *a, const char *name)
{
	for (size_t i = 0; i < a->nchecks; i++)
		if (a->checks[i].name && strcmp(a->checks[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* Phase i's `analysis` list (node n) into its check indexes. */
static void
load_phase_checks(struct loader *l, size_t i, const struct ydoc_node *n,
		  size_t covered, bool section)
{
	struct plan_phase *ph = &l->p->phases[i];
	const struct plan_analysis *a = &l->p->analysis;

	if (!ydoc_expect_seq(l->d, l->doc, n, "a phase's 'analysis'"))
		return;
	if (n->count > PLAN_MAX_CHECKS)
		ydoc_problem(l->d, l->doc, n, "at most %d checks a phase",
			     PLAN_MAX_CHECKS);
	if (!section)
		ydoc_problem(l->d, l->doc, n,
			     "the phase names checks and the plan has no "
			     "'analysis' section saying where Prometheus is");
	if (ph->pause_ms == 0)
		ydoc_problem(l->d, l->doc, n,
			     "the checks run during the phase's pause: give "
			     "the phase a 'pause' (such as 60s)");
	for (size_t j = 0; j < n->count && j < PLAN_MAX_CHECKS; j++) {
		const struct ydoc_node *c = n->items[j];
		int k = ydoc_is_str(c) ? check_named(a, c->text) : -1;

		if (k < 0) {
			if (section)
				ydoc_problem(l->d, l->doc, c,
					     "no check named '%s' in "
					     "'analysis.checks'",
					     ydoc_is_str(c) ? c->text : "?");
			continue;
		}
		if (a->checks[k].kind == PLAN_CHECK_COMPARE &&
		    covered >= l->p->nhosts)
			ydoc_problem(l->d, l->doc, c,
				     "check '%s' compares the new release with "
				     "hosts still on the old one, and none is "
				     "left after phase '%s'",
				     c->text, ph->name ? ph->name : "?");
		ph->checks[ph->nchecks++] = (size_t)k;
	}
}

static void
load_checks(struct loader *l, const struct ydoc_node *s)
{
	struct plan_analysis *a = &l->p->analysis;
	const struct ydoc_node *list =
		plan_get_list(l, s, "checks", "'analysis'", PLAN_MAX_CHECKS);

	if (list == NULL)
		return;
	a->nchecks = list->count;
	for (size_t i = 0; i < list->count; i++) {
		load_check(l, &a->checks[i], list->items[i]);
		for (size_t j = 0; j < i && a->checks[i].name; j++)
			if (a->checks[j].name &&
			    strcmp(a->checks[i].name, a->checks[j].name) == 0)
				ydoc_problem(l->d, l->doc, list->items[i],
					     "check name '%s' is used twice",
					     a->checks[i].name);
	}
}

void
plan_load_analysis(struct loader *l, const struct ydoc_node *s,
		   const struct ydoc_node *rollout)
{
	static const char *const keys[] = { "prometheus",    "interval",
					    "query_timeout", "inconclusive",
					    "checks",	     NULL };
	struct plan_analysis *a = &l->p->analysis;
	const struct ydoc_node *phases = ydoc_get(rollout, "phases");
	const char *inc = NULL;
	size_t covered = 0;

	a->interval_ms = 10000;
	a->query_timeout_ms = 5000;
	if (s != NULL && ydoc_expect_map(l->d, l->doc, s, "'analysis'")) {
		ydoc_check_keys(l->d, l->doc, s, keys);
		load_url(l, s);
		ydoc_get_duration(&a->interval_ms, l->d, l->doc, s, "interval",
				  false, 1000, HOUR_MS);
		ydoc_get_duration(&a->query_timeout_ms, l->d, l->doc, s,
				  "query_timeout", false, 100, 60000);
		if (ydoc_get_str(&inc, l->d, l->doc, s, "inconclusive",
				 false)) {
			if (strcmp(inc, "wait") == 0)
				a->inconclusive_wait = true;
			else if (strcmp(inc, "fail") != 0)
				ydoc_problem(l->d, l->doc,
					     ydoc_get(s, "inconclusive"),
					     "'inconclusive': '%s' is not fail "
					     "or wait",
					     inc);
		}
		load_checks(l, s);
	}
	if (phases == NULL || phases->type != YDOC_SEQ)
		return;
	for (size_t i = 0; i < phases->count && i < l->p->nphases; i++) {
		const struct ydoc_node *n =
			ydoc_get(phases->items[i], "analysis");

		covered += plan_size_hosts(&l->p->phases[i].hosts, l->p->nhosts,
					   l->p->nhosts - covered);
		if (n != NULL)
			load_phase_checks(l, i, n, covered, s != NULL);
	}
}

/* The smoke customer's file: {"account": digits, "pin": digits}, its
 * owner's only. */
static void
load_credentials(struct loader *l, const struct ydoc_node *s)
{
	struct plan_smoke *sm = &l->p->smoke;
	const struct ydoc_node *at = ydoc_get(s, "credentials");
	const char *acc, *pin;
	json_error_t je;
	struct stat st;
	json_t *j;

	sm->credentials = plan_readable_file(l, s, "credentials", true);
	if (sm->credentials == NULL || stat(sm->credentials, &st) < 0 ||
	    !S_ISREG(st.st_mode) || access(sm->credentials, R_OK) != 0)
		return;
	if ((st.st_mode & 077) != 0) {
		ydoc_problem(l->d, l->doc, at,
			     "'credentials': '%s' holds a PIN: it must be "
			     "readable by its owner only (chmod 600)",
			     sm->credentials);
		return;
	}
	j = json_load_file(sm->credentials, JSON_REJECT_DUPLICATES, &je);
	acc = json_string_value(json_object_get(j, "account"));
	pin = json_string_value(json_object_get(j, "pin"));
	if (acc == NULL || pin == NULL || !digits(acc) || !digits(pin))
		ydoc_problem(l->d, l->doc, at,
			     "'credentials': '%s' must hold {\"account\": "
			     "\"<digits>\", \"pin\": \"<digits>\"}%s%s",
			     sm->credentials, j ? "" : ": ", j ? "" : je.text);
	else {
		snprintf(sm->account, sizeof(sm->account), "%s", acc);
		snprintf(sm->pin, sizeof(sm->pin), "%s", pin);
		sm->enabled = true;
	}
	json_decref(j);
}

void
plan_load_smoke(struct loader *l, const struct ydoc_node *s)
{
	static const char *const keys[] = { "credentials", "transfer_cents",
					    "timeout", NULL };
	struct plan_smoke *sm = &l->p->smoke;

	sm->timeout_ms = 10000;
	if (!ydoc_expect_map(l->d, l->doc, s, "'smoke'"))
		return;
	ydoc_check_keys(l->d, l->doc, s, keys);
	ydoc_get_int(&sm->transfer_cents, l->d, l->doc, s, "transfer_cents",
		     false, 0, 100000);
	ydoc_get_duration(&sm->timeout_ms, l->d, l->doc, s, "timeout", false,
			  1000, 600000);
	load_credentials(l, s);
}

void
plan_free_analysis(struct plan *p)
{
	explicit_bzero(p->smoke.pin, sizeof(p->smoke.pin));
	free(p->smoke.credentials);
	free(p->analysis.prometheus);
	for (size_t i = 0; i < p->analysis.nchecks; i++) {
		free(p->analysis.checks[i].name);
		free(p->analysis.checks[i].query);
	}
}
