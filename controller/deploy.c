/*
 * deploy: see deploy.h.  The orchestration of a deployment: the lock and
 * the journal's start, sessions with the fleet, preflight, pre-staging,
 * the phases with their approval gates and failure budget, and the
 * automatic rollback; the steps themselves are deploy_batch.c's.
 */
#include "deploy.h"
#include "deploy_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "access.h"
#include "clock.h"
#include "exitcode.h"
#include "fanout.h"

enum gate {
	GATE_PASS,
	GATE_NO,
	GATE_WAIT
};

bool
deploy_approval_counts(struct run *r, const char *phase, json_t *ev)
{
	const char *id = json_string_value(json_object_get(ev, "id"));
	const char *ph = json_string_value(json_object_get(ev, "phase"));
	const char *user = json_string_value(json_object_get(ev, "user"));

	/* checked again: a journal on a shared store holds what anyone
	 * wrote there */
	if (id == NULL || ph == NULL || strcmp(id, r->id) != 0 ||
	    (phase != NULL && strcmp(ph, phase) != 0))
		return false;
	return !r->p->access.enabled ||
	       (user != NULL && access_check_approver(r->p, user, r->starter,
						      r->id, NULL) == 0);
}

/* A gate nobody here answers: the run stops there, saying how to go on
 * (self: this operator may approve). */
static enum gate
stop_at_gate(struct run *r, const struct plan_phase *ph, bool self)
{
	r->waiting = ph->name;
	if (self)
		deploy_say(r,
			   "phase %s waits for approval and there is "
			   "no terminal to ask: stopped here. Continue "
			   "with: ivrctl resume %s --approve %s (or "
			   "ivrctl approve %s %s from anywhere, then "
			   "ivrctl resume %s); or undo with: ivrctl "
			   "rollback %s",
			   ph->name, r->p->path, ph->name, r->p->path, ph->name,
			   r->p->path, r->p->path);
	else
		deploy_say(r,
			   "phase %s waits for an approval from "
			   "someone else: stopped here. Approve with: "
			   "ivrctl approve %s %s, then: ivrctl resume "
			   "%s; or undo with: ivrctl rollback %s",
			   ph->name, r->p->path, ph->name, r->p->path,
			   r->p->path);
	deploy_notify(
		r, "waiting",
		json_pack("{s:s, s:s}", "phase", ph->name, "gate", "approval"));
	return GATE_WAIT;
}

/* Waits up to the phase's approval_wait for an `ivrctl approve` in the
 * journal (any machine), keeping an eye on the lock; then stops at the
 * gate (self: this operator may approve). */
static enum gate
approval_from_afar(struct run *r, const struct plan_phase *ph, bool self)
{
	int64_t until = clock_now_ms() + ph->approval_wait_ms;

	deploy_say(r,
		   "phase %s waits up to %lld s for an approval: ivrctl "
		   "approve %s %s",
		   ph->name, (long long)(ph->approval_wait_ms / 1000),
		   r->p->path, ph->name);
	deploy_notify(
		r, "waiting",
		json_pack("{s:s, s:s}", "phase", ph->name, "gate", "approval"));
	while (clock_now_ms() < until && deploy_safe_point(r)) {
		json_t *list = journal_events(&r->j, "approved", "at"), *ev;
		size_t i;
		bool found = false;

		json_array_foreach (list, i, ev)
			if (!found && deploy_approval_counts(r, ph->name, ev)) {
				found = true;
				deploy_say(r, "phase %s: approved by %s",
					   ph->name,
					   json_string_value(json_object_get(
						   ev, "operator")));
			}
		json_decref(list);
		if (found) {
			json_array_append_new(r->approved,
					      json_string(ph->name));
			return GATE_PASS;
		}
		clock_sleep_ms(1000);
	}
	if (r->stopped) /* the lock is lost: stop, and no rollback */
		return GATE_NO;
	deploy_say(r, "phase %s: no approval within %lld s", ph->name,
		   (long long)(ph->approval_wait_ms / 1000));
	return stop_at_gate(r, ph, self);
}

bool
deploy_may_approve(struct run *r, const struct plan_phase *ph, bool asked)
{
	struct err e;

	if (access_check_approver(r->p, journal_user(), r->starter, r->id,
				  &e) == 0)
		return true;
	if (asked)
		deploy_say(r, "phase %s: %s", ph->name, e.msg);
	return false;
}

/*
 * A phase's approval gate: passed by --yes, by --approve PHASE, by an
 * approval the journal already holds, by an operator at a terminal, or
 * by `ivrctl approve` during the phase's approval_wait.  Otherwise the
 * run stops there and waits (resume continues).
 */
static enum gate
approve(struct run *r, const struct plan_phase *ph)
{
	const char *by = NULL;
	bool flagged = false, self;

	if (!ph->approval || journal_list_has(r->approved, ph->name))
		return GATE_PASS;
	for (size_t i = 0; i < r->o->napprove; i++)
		flagged = flagged || strcmp(r->o->approve[i], ph->name) == 0;
	self = deploy_may_approve(r, ph, r->o->yes || flagged);
	if (self && r->o->yes)
		by = "--yes";
	else if (self && flagged)
		by = "--approve";
	else if (ph->approval_wait_ms > 0 && !(self && isatty(STDIN_FILENO)))
		return approval_from_afar(r, ph, self);
	else if (self && isatty(STDIN_FILENO)) {
		char q[128];

		snprintf(q, sizeof(q), "Start phase %s?", ph->name);
		if (!deploy_ask(r, q)) {
			deploy_say(r, "phase %s: not approved: stopping",
				   ph->name);
			return GATE_NO;
		}
		by = "terminal";
	} else {
		return stop_at_gate(r, ph, self);
	}
	json_array_append_new(r->approved, json_string(ph->name));
	{
		char who[400];

		journal_operator(who, sizeof(who));
		deploy_record(r, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}",
					   "event", "approved", "id", r->id,
					   "phase", ph->name, "by", by, "user",
					   journal_user(), "operator", who));
	}
	return GATE_PASS;
}

/* A phase's soak with analysis, as a gate. */
static enum gate
soak(struct run *r, const struct plan_phase *ph, bool again)
{
	switch (deploy_soak(r, ph, again)) {
	case SOAK_PASSED:
		json_array_append_new(r->analysed, json_string(ph->name));
		return GATE_PASS;
	case SOAK_WAIT:
		return GATE_WAIT;
	default:
		return GATE_NO;
	}
}

/* Runs the phases: GATE_PASS when done, GATE_NO when the deployment must
 * be rolled back, GATE_WAIT when it stopped at an approval gate. */
static enum gate
run_phases(struct run *r)
{
	const struct plan *p = r->p;
	struct hostrun **list = calloc(r->n ? r->n : 1, sizeof(*list));
	int budget = (int)plan_size_hosts(&p->failure_budget, r->n, r->n);
	enum gate g = GATE_PASS;
	size_t end = 0;

	if (list == NULL)
		return GATE_NO;
	r->target = r->release;
	for (size_t i = 0; i < p->nphases && g == GATE_PASS; i++) {
		const struct plan_phase *ph = &p->phases[i];
		struct plan_slice sl = plan_phase_slice(p, i);
		size_t k = 0;

		for (size_t j = sl.first; j < sl.first + sl.count; j++)
			if (!r->hosts[j].done)
				list[k++] = &r->hosts[j];
		end = sl.first + sl.count;
		if (sl.count == 0)
			continue;
		if (k == 0) {
			deploy_say(r, "phase %s: every host already done",
				   ph->name);
			/* a resume: analysis that stopped short runs again */
			if (ph->nchecks > 0 &&
			    !journal_list_has(r->analysed, ph->name))
				g = soak(r, ph, true);
			continue;
		}
		if ((g = approve(r, ph)) != GATE_PASS)
			break;
		deploy_say(r, "phase %s: %zu host(s), %zu at a time", ph->name,
			   k, sl.batch);
		deploy_record(r, json_pack("{s:s, s:s, s:s}", "event", "phase",
					   "id", r->id, "phase", ph->name));
		if (!deploy_move_hosts(r, list, k, sl.batch, budget))
			g = GATE_NO;
		else if (ph->nchecks > 0)
			g = soak(r, ph, false);
		else if (ph->pause_ms > 0 && end < r->n) {
			deploy_say(r, "pause %lld ms", (long long)ph->pause_ms);
			clock_sleep_ms(ph->pause_ms);
		}
		if (g == GATE_PASS)
			deploy_notify(r, "phase_done",
				      json_pack("{s:s, s:i}", "phase", ph->name,
						"hosts", (int)k));
	}
	free(list);
	return g;
}

static int
preflight(struct run *r)
{
	bool all_there = true;

	if (!deploy_pool_holds_all(r) ||
	    !deploy_fleet_release(r, r->from, sizeof(r->from)))
		return EXITCODE_INCONSISTENT;
	deploy_tls_warn(r);
	for (size_t i = 0; i < r->n; i++) {
		if (strcmp(r->hosts[i].s.current, r->release) != 0)
			all_there = false;
		if (r->hosts[i].s.disk_free >= 0 &&
		    r->hosts[i].s.disk_free < 3 * r->art.size) {
			deploy_say(r,
				   "%s: only %lld bytes free for a %lld-byte "
				   "release",
				   r->hosts[i].h->name, r->hosts[i].s.disk_free,
				   r->art.size);
			return EXITCODE_INCONSISTENT;
		}
	}
	if (all_there) {
		deploy_say(r, "every host already runs %s: nothing to do",
			   r->release);
		return 0;
	}
	return -1;
}

/*
 * Every host this run touched goes back to r->from, in batches within
 * the capacity floor (hosts out of the pool first: they cost nothing),
 * stopping after a batch that fails.
 */
static int
roll_back_touched(struct run *r)
{
	struct hostrun **list = calloc(r->n ? r->n : 1, sizeof(*list));
	size_t n = 0;
	int unrestored;
	bool ok;

	if (r->stopped) { /* the lock is lost: another controller may act */
		free(list);
		return EXITCODE_INCONSISTENT;
	}
	if (r->from[0] == '\0' || list == NULL) {
		deploy_say(
			r,
			"no release ran before this deployment: nothing to go "
			"back to; a human must look");
		free(list);
		return EXITCODE_INCONSISTENT;
	}
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < r->n; i++)
			if (r->hosts[i].touched &&
			    r->hosts[i].failed == (pass == 0))
				list[n++] = &r->hosts[i];
	deploy_say(r, "rolling back %zu host(s) to %s", n, r->from);
	r->rollback = true;
	r->target = r->from;
	unrestored = deploy_restore_drained(r);
	atomic_store(&r->failures, 0);
	deploy_move_hosts(r, list, n, plan_max_down(r->p), 0);
	free(list);
	ok = unrestored == 0 && atomic_load(&r->failures) == 0 &&
	     deploy_verify(r, r->from);
	deploy_say(
		r,
		ok ? "rolled back: every host on %s and ready"
		   : "ROLLBACK INCOMPLETE: the fleet is not on %s everywhere; "
		     "a human must look",
		r->from);
	deploy_notify(r, "rolled_back",
		      json_pack("{s:b, s:i}", "complete", ok, "hosts", (int)n));
	return ok ? EXITCODE_ROLLED_BACK : EXITCODE_INCONSISTENT;
}

/* Retention on host i: staged releases beyond keep_releases and the
 * artifacts no kept release came from, never the run's two releases. */
static void
prune_one(void *ctx, size_t i)
{
	struct run *r = ctx;
	struct hostrun *hr = &r->hosts[i];
	json_t *res = NULL, *protect = json_array();
	struct err e;

	json_array_append_new(protect, json_string(r->art.version));
	/* releases are kept by version: "1.4.0+<settings id>" keeps 1.4.0 */
	if (r->from[0] != '\0')
		json_array_append_new(
			protect, json_stringn(r->from, strcspn(r->from, "+")));
	if (deploy_call(hr, "releases.prune",
			json_pack("{s:i, s:o, s:b, s:[s]}", "keep",
				  r->p->keep_releases, "protect", protect,
				  "incoming", true, "protect_artifacts",
				  r->art.sha256),
			&res, &e) < 0) {
		deploy_say(r,
			   "%s: pruning old releases failed (the deployment "
			   "stands): %s",
			   hr->h->name, e.msg);
		return;
	}
	if (json_array_size(json_object_get(res, "removed")) > 0 ||
	    json_array_size(json_object_get(res, "removed_artifacts")) > 0) {
		deploy_say(r,
			   "%s: pruned %zu release(s) and %zu artifact(s), "
			   "keeping %zu",
			   hr->h->name,
			   json_array_size(json_object_get(res, "removed")),
			   json_array_size(
				   json_object_get(res, "removed_artifacts")),
			   json_array_size(json_object_get(res, "releases")));
		deploy_record(
			r,
			json_pack("{s:s, s:s, s:s, s:O, s:O}", "event",
				  "pruned", "id", r->id, "host", hr->h->name,
				  "removed", json_object_get(res, "removed"),
				  "removed_artifacts",
				  json_object_get(res, "removed_artifacts")));
	}
	json_decref(res);
}

/* Pre-stages everywhere, runs the phases, rolls back or verifies. */
int
deploy_go_live(struct run *r)
{
	bool touched = false;
	int rc;

	deploy_stage_all(r);
	for (size_t i = 0; i < r->n; i++)
		touched = touched || r->hosts[i].touched;
	for (size_t i = 0; i < r->n; i++) {
		if (!r->hosts[i].failed)
			continue;
		if (touched) {
			deploy_say(
				r,
				"pre-staging failed: undoing the deployment");
			return roll_back_touched(r);
		}
		deploy_say(r,
			   "pre-staging failed: nothing serving was changed");
		return EXITCODE_ROLLED_BACK;
	}
	/* The database step: its failure changes nothing serving (expand
	 * migrations are one transaction), unless a resume had moved hosts. */
	if ((rc = deploy_db_step(r)) >= 0)
		return touched ? roll_back_touched(r) : rc;
	switch (run_phases(r)) {
	case GATE_NO:
		return roll_back_touched(r);
	case GATE_WAIT:
		return EXITCODE_INCONSISTENT;
	case GATE_PASS:
		break;
	}
	rc = deploy_verify(r, r->release) ? 0 : EXITCODE_INCONSISTENT;
	if (rc == 0) {
		json_t *inventory = json_array();

		fanout_run(r->n, r->p->parallel, prune_one, r);
		for (size_t i = 0; i < r->n; i++)
			json_array_append_new(inventory,
					      deploy_host_json(r->hosts[i].h));
		deploy_record_inventory(r, inventory);
	}
	deploy_say(
		r,
		rc == 0 ? "done: every host on %s and ready"
			: "FINISHED INCONSISTENT: not every host is on %s and "
			  "ready; a human must look",
		r->release);
	return rc;
}

void
deploy_run_init(struct run *r, const struct plan *p,
		const struct agent_bundle *agent, const struct deploy_opts *o,
		const char *kind)
{
	r->p = p;
	r->agent = agent;
	r->o = o;
	r->kind = kind;
	r->rollback = strcmp(kind, "rollback") == 0;
	r->approved = json_array();
	r->analysed = json_array();
	r->notify = notify_start(p);
	pthread_mutex_init(&r->lb_lock, NULL);
	pthread_mutex_init(&r->out_lock, NULL);
	r->start_ms = clock_now_ms();
}

int
deploy_run_finish(struct run *r, int rc)
{
	deploy_journal_end(r, rc);
	deploy_close_fleet(r);
	bank_close(r->db);
	r->db = NULL;
	bank_migrations_free(&r->mig);
	json_decref(r->approved);
	json_decref(r->analysed);
	return rc;
}

int
deploy_run(const struct plan *p, const struct agent_bundle *agent,
	   const struct deploy_opts *o, struct err *err)
{
	struct run r = { 0 };
	int rc;

	deploy_run_init(&r, p, agent, o, "deploy");
	if (artifact_read(&r.art, o->artifact, err) < 0)
		return deploy_run_finish(&r, EXITCODE_BAD_INPUT);
	plan_release(r.release, p, r.art.version);
	deploy_make_id(r.id, sizeof(r.id), 'd');
	if ((rc = deploy_take_lock(&r, err)) != 0)
		return deploy_run_finish(&r, rc);
	rc = EXITCODE_INCONSISTENT;
	/* Started before anything can change, so that a controller killed
	 * at any later point leaves a run without an end in the journal. */
	deploy_journal_start(&r, "deploy", r.release);
	deploy_say(&r, "deployment %s: %s to %s (%zu hosts)", r.id, r.release,
		   p->environment, p->nhosts);
	if (!deploy_open_fleet(&r))
		return deploy_run_finish(&r, rc);
	if ((rc = preflight(&r)) >= 0)
		return deploy_run_finish(&r, rc);
	deploy_say(&r, "from %s to %s", r.from[0] ? r.from : "nothing",
		   r.release);
	deploy_record(&r, json_pack("{s:s, s:s, s:s}", "event", "from", "id",
				    r.id, "from", r.from));
	if ((rc = deploy_db_check(&r)) >= 0)
		return deploy_run_finish(&r, rc);
	return deploy_run_finish(&r, deploy_go_live(&r));
}
