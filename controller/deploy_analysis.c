/*
 * deploy_analysis: a phase's soak with canary analysis (deploy_int.h).
 * During the phase's pause every check it names is evaluated every
 * analysis.interval; each evaluation is journaled and said.  A check
 * fails once its failed evaluations pass its failure_limit, and the
 * deployment then rolls back at once.  At the pause's end a check whose
 * last evaluation was not a pass is inconclusive, and the plan's
 * analysis.inconclusive says what that does: fail (roll back), or wait
 * for a human (a terminal's answer, --approve PHASE, or a stop that
 * `ivrctl resume` continues: resume runs the analysis again, --approve
 * accepts it).  A first install (no release before it) skips the
 * analysis: nothing serves calls yet and there is nothing to compare with.
 */
#include "deploy.h"
#include "deploy_int.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "analysis.h"
#include "clock.h"

static double
wall_now(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static void
end_event(struct run *r, const struct plan_phase *ph, const char *verdict,
	  const char *check, const char *by)
{
	deploy_record(r,
		      json_pack("{s:s, s:s, s:s, s:s, s:s*, s:s*}", "event",
				"analysis-end", "id", r->id, "phase", ph->name,
				"verdict", verdict, "check", check, "by", by));
}

/* The analysis's end as a webhook event ("analysis_failed", "waiting"). */
static void
notify_analysis(struct run *r, const char *event, const struct plan_phase *ph,
		const char *verdict, const char *check)
{
	deploy_notify(r, event,
		      json_pack("{s:s, s:s, s:s?}", "phase", ph->name,
				"verdict", verdict, "check", check));
}

/* One evaluation of check k: journaled, said; its verdict. */
static enum analysis_verdict
evaluate(struct run *r, const struct plan_phase *ph, size_t k,
	 const struct analysis_window *w, int round)
{
	const struct plan_check *c = &r->p->analysis.checks[k];
	enum analysis_verdict v;
	json_t *rec = NULL;

	v = analysis_evaluate(&r->p->analysis, c, w, &rec);
	deploy_say(r, "analysis %s #%d: %s %s: %s", ph->name, round, c->name,
		   analysis_verdict_name(v),
		   json_string_value(json_object_get(rec, "why")));
	json_object_set_new(rec, "event", json_string("analysis"));
	json_object_set_new(rec, "id", json_string(r->id));
	json_object_set_new(rec, "phase", json_string(ph->name));
	json_object_set_new(rec, "round", json_integer(round));
	deploy_record(r, rec);
	return v;
}

/* Runs every check once; the name of one that failed for good, or
 * NULL.  last[] gets each verdict. */
static const char *
round_of_checks(struct run *r, const struct plan_phase *ph,
		const struct analysis_window *w, int round, int *failures,
		enum analysis_verdict *last)
{
	for (size_t i = 0; i < ph->nchecks; i++) {
		size_t k = ph->checks[i];
		const struct plan_check *c = &r->p->analysis.checks[k];

		last[i] = evaluate(r, ph, k, w, round);
		if (last[i] == ANALYSIS_FAILED &&
		    ++failures[i] > c->failure_limit)
			return c->name;
	}
	return NULL;
}

/* True when --approve names ph and the operator may approve. */
static bool
flagged(struct run *r, const struct plan_phase *ph)
{
	for (size_t i = 0; i < r->o->napprove; i++)
		if (strcmp(r->o->approve[i], ph->name) == 0)
			return deploy_may_approve(r, ph, true);
	return false;
}

/* Inconclusive at the end: what the plan says, or a human. */
static enum soak
inconclusive(struct run *r, const struct plan_phase *ph, const char *check)
{
	char q[256];

	if (!r->p->analysis.inconclusive_wait) {
		deploy_say(r,
			   "analysis %s: %s inconclusive, and the plan says "
			   "inconclusive fails (analysis.inconclusive: fail)",
			   ph->name, check);
		end_event(r, ph, "inconclusive", check, NULL);
		notify_analysis(r, "analysis_failed", ph, "inconclusive",
				check);
		return SOAK_FAILED;
	}
	if (flagged(r, ph)) {
		deploy_say(r,
			   "analysis %s: %s inconclusive; accepted by "
			   "--approve %s",
			   ph->name, check, ph->name);
		end_event(r, ph, "accepted", check, "--approve");
		return SOAK_PASSED;
	}
	if (isatty(STDIN_FILENO) && deploy_may_approve(r, ph, true)) {
		snprintf(q, sizeof(q),
			 "Analysis of phase %s is inconclusive (%s). Go on?",
			 ph->name, check);
		if (deploy_ask(r, q)) {
			end_event(r, ph, "accepted", check, "terminal");
			return SOAK_PASSED;
		}
		end_event(r, ph, "inconclusive", check, "terminal");
		return SOAK_FAILED;
	}
	r->waiting = ph->name;
	end_event(r, ph, "inconclusive", check, NULL);
	notify_analysis(r, "waiting", ph, "inconclusive", check);
	deploy_say(r,
		   "analysis %s: %s inconclusive and there is no terminal to "
		   "ask: stopped here. Run the analysis again: ivrctl resume "
		   "%s; accept it: ivrctl resume %s --approve %s; undo: ivrctl "
		   "rollback %s",
		   ph->name, check, r->p->path, r->p->path, ph->name,
		   r->p->path);
	return SOAK_WAIT;
}

/* The releases a soak compares, by version: the runtime labels its
 * series with its version, not its settings (base: room for the old). */
static struct analysis_window
window(char *base, const struct run *r)
{
	snprintf(base, PLAN_RELEASE_MAX, "%.*s", (int)strcspn(r->from, "+"),
		 r->from);
	return (struct analysis_window){ .release = r->art.version,
					 .baseline = base,
					 .start = wall_now() };
}

enum soak
deploy_soak(struct run *r, const struct plan_phase *ph, bool again)
{
	const struct plan_analysis *a = &r->p->analysis;
	char base[PLAN_RELEASE_MAX];
	struct analysis_window w = window(base, r);
	enum analysis_verdict last[PLAN_MAX_CHECKS];
	int failures[PLAN_MAX_CHECKS] = { 0 }, round = 0;
	int64_t t0 = clock_now_ms(), end = t0 + ph->pause_ms, next = t0;
	const char *failed = NULL;

	if (again && flagged(r, ph)) { /* a human accepts it */
		deploy_say(r,
			   "analysis %s: accepted without running again by "
			   "--approve %s",
			   ph->name, ph->name);
		end_event(r, ph, "accepted", NULL, "--approve");
		return SOAK_PASSED;
	}
	if (r->from[0] == '\0') {
		deploy_say(r,
			   "analysis %s: skipped: a first install serves no "
			   "calls yet and has no old release to compare with",
			   ph->name);
		end_event(r, ph, "skipped", NULL, NULL);
		return SOAK_PASSED;
	}
	deploy_say(r, "analysis %s: %zu check(s) every %lld ms for %lld ms",
		   ph->name, ph->nchecks, (long long)a->interval_ms,
		   (long long)ph->pause_ms);
	for (size_t i = 0; i < PLAN_MAX_CHECKS; i++)
		last[i] = ANALYSIS_INCONCLUSIVE; /* until evaluated */
	do {
		int64_t now;

		next = next + a->interval_ms < end ? next + a->interval_ms
						   : end;
		if ((now = clock_now_ms()) < next)
			clock_sleep_ms(next - now);
		w.now = wall_now();
		failed = round_of_checks(r, ph, &w, ++round, failures, last);
	} while (failed == NULL && clock_now_ms() < end);
	if (failed != NULL) {
		deploy_say(r, "analysis %s FAILED: %s: rolling back", ph->name,
			   failed);
		end_event(r, ph, "failed", failed, NULL);
		notify_analysis(r, "analysis_failed", ph, "failed", failed);
		return SOAK_FAILED;
	}
	for (size_t i = 0; i < ph->nchecks; i++)
		if (last[i] == ANALYSIS_INCONCLUSIVE)
			return inconclusive(r, ph,
					    a->checks[ph->checks[i]].name);
	deploy_say(r, "analysis %s passed: %zu check(s), %d round(s)", ph->name,
		   ph->nchecks, round);
	end_event(r, ph, "passed", NULL, NULL);
	return SOAK_PASSED;
}

int
deploy_smoke(struct run *r, struct hostrun *hr, struct err *err)
{
	const struct plan_smoke *sm = &r->p->smoke;
	json_t *res = NULL;
	int rc;

	if (!sm->enabled || r->rollback || hr->s.calls[0] == '\0')
		return 0;
	rc = deploy_call(hr, "smoke.call",
			 json_pack("{s:s, s:s, s:s, s:I, s:I}", "url",
				   hr->s.calls, "account", sm->account, "pin",
				   sm->pin, "transfer_cents",
				   (json_int_t)sm->transfer_cents, "timeout_ms",
				   (json_int_t)sm->timeout_ms),
			 &res, err);
	if (rc == 0 && !json_is_true(json_object_get(res, "ok")))
		rc = err_set(err, ERR_BADSTATE, "%s: smoke call failed: %.300s",
			     hr->h->name,
			     json_string_value(json_object_get(res, "error"))
				     ? json_string_value(
					       json_object_get(res, "error"))
				     : "no reason given");
	else if (rc == 0) {
		const char *conf =
			json_string_value(json_object_get(res, "confirmation"));

		deploy_say(r,
			   "%s: smoke call passed: %lld steps in %lld ms, %lld "
			   "account(s)%s%s",
			   hr->h->name,
			   (long long)json_integer_value(
				   json_object_get(res, "steps")),
			   (long long)json_integer_value(
				   json_object_get(res, "ms")),
			   (long long)json_integer_value(
				   json_object_get(res, "accounts")),
			   conf ? ", transfer confirmed once under its key: "
				: "",
			   conf ? conf : "");
		deploy_record(r, json_pack("{s:s, s:s, s:s, s:O}", "event",
					   "smoke", "id", r->id, "host",
					   hr->h->name, "result", res));
	}
	json_decref(res);
	return rc;
}
