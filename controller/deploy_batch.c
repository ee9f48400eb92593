/*
 * deploy_batch: the batch executor (deploy_int.h): sessions with the
 * fleet and the balancer, the steps that move one host (drain, wait for
 * its calls, MAINT, swap, restart, readiness, minimum healthy time,
 * READY), batches run in parallel within the capacity floor, and the
 * final verification (staging: deploy_stage.c).
 */
#include "deploy.h"
#include "deploy_int.h"

#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "fanout.h"

/* An agent call on hr's session; result may be NULL. */
int
deploy_call(struct hostrun *hr, const char *method, json_t *params,
	    json_t **result, struct err *err)
{
	return host_call(result, &hr->s, method, params, err);
}

/* Connects, bootstraps and says hello; records what the host runs. */
static int
open_host(struct run *r, struct hostrun *hr, const char *root_tmpl,
	  struct err *err)
{
	return host_open(&hr->s, r->p, hr->h, root_tmpl, r->agent, 0, err);
}

static void
open_one(void *ctx, size_t i)
{
	struct run *r = ctx;
	struct hostrun *hr = &r->hosts[i];
	struct err e;

	if (open_host(r, hr, r->p->agent_root, &e) < 0) {
		hr->failed = true;
		snprintf(hr->error, sizeof(hr->error), "%s", e.msg);
	}
}

/* Connects to every host and the balancer; false if any failed. */
bool
deploy_open_fleet(struct run *r)
{
	const struct plan *p = r->p;
	bool ok = true;
	struct err e;

	r->n = p->nhosts;
	r->hosts = calloc(r->n, sizeof(*r->hosts));
	r->batch = calloc(r->n, sizeof(*r->batch));
	for (size_t i = 0; i < r->n; i++)
		r->hosts[i].h = &p->hosts[i];
	fanout_run(r->n, p->parallel, open_one, r);
	for (size_t i = 0; i < r->n; i++) {
		if (r->hosts[i].failed) {
			deploy_say(r, "%s: %s", r->hosts[i].h->name,
				   r->hosts[i].error);
			ok = false;
		}
	}
	r->has_lb = p->lb.kind != PLAN_LB_NONE;
	if (r->has_lb) {
		host_balancer(&r->lb_host, p);
		r->lb.h = &r->lb_host;
		if (open_host(r, &r->lb, p->lb.agent_root, &e) < 0) {
			deploy_say(r, "load balancer: %s", e.msg);
			ok = false;
		}
	}
	if (!ok)
		deploy_say(r, "cannot reach the whole fleet: nothing was "
			      "changed");
	return ok;
}

void
deploy_close_fleet(struct run *r)
{
	for (size_t i = 0; i < r->n; i++)
		host_close(&r->hosts[i].s);
	host_close(&r->lb.s);
	free(r->hosts);
	free(r->batch);
}

/* Calls the balancer's agent (one call at a time across threads). */
int
deploy_lb_call(struct run *r, const char *method, json_t *params,
	       json_t **result, struct err *err)
{
	int rc;

	pthread_mutex_lock(&r->lb_lock);
	rc = deploy_call(&r->lb, method, params, result, err);
	pthread_mutex_unlock(&r->lb_lock);
	return rc;
}

/* Sets the member's state through the balancer's agent. */
int
deploy_lb_set(struct run *r, struct hostrun *hr, const char *state,
	      struct err *err)
{
	json_t *params;

	if (!r->has_lb)
		return 0;
	params = host_member_params(r->p, hr->h);
	json_object_set_new(params, "state", json_string(state));
	return deploy_lb_call(r, "lb.set_state", params, NULL, err);
}

/* True when the member is READY in the pool (or there is no balancer);
 * with serving, also not failing the balancer's health check. */
static bool
lb_member_ok(struct run *r, struct hostrun *hr, bool serving)
{
	json_t *res = NULL;
	struct err e;
	bool ready;

	if (!r->has_lb)
		return true;
	ready = deploy_lb_call(r, "lb.get_state",
			       host_member_params(r->p, hr->h), &res,
			       &e) == 0 &&
		strcmp(host_str(res, "state"), "ready") == 0 &&
		!(serving && json_is_false(json_object_get(res, "up")));
	json_decref(res);
	return ready;
}

bool
deploy_lb_ready(struct run *r, struct hostrun *hr)
{
	return lb_member_ok(r, hr, false);
}

bool
deploy_lb_serving(struct run *r, struct hostrun *hr)
{
	return lb_member_ok(r, hr, true);
}

json_t *
deploy_service_params(const struct plan *p)
{
	json_t *o =
		json_pack("{s:s, s:I}", "manager", p->service_manager,
			  "stop_timeout_ms", (json_int_t)p->stop_timeout_ms);

	if (p->service_unit != NULL)
		json_object_set_new(o, "unit", json_string(p->service_unit));
	if (p->service_user_scope)
		json_object_set_new(o, "scope", json_string("user"));
	return o;
}

/* Waits for the host's calls to end, up to the drain deadline. */
int
deploy_wait_calls(struct run *r, struct hostrun *hr, struct err *err)
{
	json_t *res = NULL;
	const char *why;
	int rc;

	if (hr->s.calls[0] == '\0')
		return 0;
	rc = deploy_call(hr, "calls.wait_idle",
			 json_pack("{s:s, s:i, s:I}", "url", hr->s.calls,
				   "interval_ms", 200, "deadline_ms",
				   (json_int_t)r->p->drain_deadline_ms),
			 &res, err);
	why = json_string_value(json_object_get(res, "last_error"));
	if (rc == 0 && !json_is_true(json_object_get(res, "idle")) &&
	    why != NULL && strncmp(why, "TLS refused", 11) == 0)
		/* a runtime whose certificate is refused cannot be asked */
		deploy_say(r,
			   "%s: drain deadline passed without a count of its "
			   "calls (%s): any still in progress will be cut",
			   hr->h->name, why);
	else if (rc == 0 && !json_is_true(json_object_get(res, "idle")))
		deploy_say(r,
			   "%s: drain deadline passed with %lld call(s) still "
			   "in progress: they will be cut",
			   hr->h->name,
			   (long long)json_integer_value(
				   json_object_get(res, "remaining")));
	json_decref(res);
	return rc;
}

/* Ready with version target within the deadline, then for min_healthy. */
int
deploy_wait_ready(struct run *r, struct hostrun *hr, const char *target,
		  struct err *err)
{
	const struct plan *p = r->p;
	int64_t until;
	json_t *res = NULL;
	int rc;

	rc = deploy_call(
		hr, "health.wait",
		json_pack("{s:s, s:s, s:I, s:I, s:I}", "url", hr->s.health,
			  "expect_version", target, "interval_ms",
			  (json_int_t)p->health_interval_ms, "timeout_ms",
			  (json_int_t)p->health_timeout_ms, "deadline_ms",
			  (json_int_t)p->health_deadline_ms),
		&res, err);
	if (rc == 0 && !json_is_true(json_object_get(res, "ready")))
		rc = err_set(err, ERR_TIMEOUT,
			     "%s: not ready with %s within %lld ms (%s)",
			     hr->h->name, target,
			     (long long)p->health_deadline_ms,
			     host_str(res, "last_error")[0] != '\0'
				     ? host_str(res, "last_error")
				     : "no answer");
	json_decref(res);
	until = clock_now_ms() + p->min_healthy_ms;
	while (rc == 0 && clock_now_ms() < until) {
		clock_sleep_ms(p->health_interval_ms);
		res = NULL;
		rc = deploy_call(hr, "health.wait",
				 json_pack("{s:s, s:s, s:I, s:i}", "url",
					   hr->s.health, "expect_version",
					   target, "timeout_ms",
					   (json_int_t)p->health_timeout_ms,
					   "deadline_ms", 0),
				 &res, err);
		if (rc == 0 && !json_is_true(json_object_get(res, "ready")))
			rc = err_set(err, ERR_TIMEOUT,
				     "%s: left readiness during the minimum "
				     "healthy time",
				     hr->h->name);
		json_decref(res);
	}
	return rc;
}

static int
move_host_steps(struct run *r, struct hostrun *hr, struct err *err)
{
	const char *name = hr->h->name;
	int rc;

	if (r->rollback && hr->unserved) {
		/* this run took it out and restarted it, and it never served
		 * again: it holds no call to wait for */
		deploy_say(r, "%s: out of the pool since this run restarted it",
			   name);
	} else {
		deploy_say(r, "%s: drain", name);
		hr->drained = r->has_lb;
		if ((rc = deploy_lb_set(r, hr, "drain", err)) < 0 ||
		    (rc = deploy_wait_calls(r, hr, err)) < 0 ||
		    (rc = deploy_lb_set(r, hr, "maint", err)) < 0)
			return rc;
	}
	hr->touched = true;
	hr->unserved = r->has_lb;
	if (r->rollback) {
		json_t *params = deploy_service_params(r->p);

		json_object_set_new(params, "version", json_string(r->target));
		json_object_set_new(params, "deployment_id",
				    json_string(r->id));
		/* A deployment's own rollback undoes it; on-call's undoes
		 * whatever deployment brought each host's release (the agent
		 * knows it), which leaves a host already on target as it is. */
		if (strcmp(r->kind, "deploy") == 0)
			json_object_set_new(params, "undoes",
					    json_string(r->id));
		deploy_say(r, "%s: back to %s, restart", name, r->target);
		rc = deploy_call(hr, "rollback", params, NULL, err);
	} else {
		deploy_say(r, "%s: activate %s, restart", name, r->target);
		rc = deploy_call(hr, "activate",
				 json_pack("{s:s, s:s}", "version", r->target,
					   "deployment_id", r->id),
				 NULL, err);
		if (rc == 0)
			rc = deploy_call(hr, "service.restart",
					 deploy_service_params(r->p), NULL,
					 err);
	}
	if (rc == 0)
		snprintf(hr->s.current, sizeof(hr->s.current), "%s", r->target);
	if (rc < 0 || (rc = deploy_wait_ready(r, hr, r->target, err)) < 0 ||
	    (rc = deploy_smoke(r, hr, err)) < 0)
		return rc;
	hr->unserved = false; /* from here it may serve */
	if ((rc = deploy_lb_set(r, hr, "ready", err)) == 0)
		deploy_say(r, "%s: ready on %s", name, r->target);
	return rc;
}

static int
move_host(struct run *r, struct hostrun *hr, struct err *err)
{
	int rc;

	deploy_step_event(r, hr, r->rollback ? "rollback-begin" : "move-begin",
			  NULL);
	rc = move_host_steps(r, hr, err);
	deploy_step_event(r, hr, r->rollback ? "rollback-end" : "move-end",
			  rc < 0 ? err : NULL);
	return rc;
}

static void
move_one(void *ctx, size_t i)
{
	struct run *r = ctx;
	struct hostrun *hr = r->batch[i];
	struct err e;

	if (move_host(r, hr, &e) < 0) {
		hr->failed = true;
		snprintf(hr->error, sizeof(hr->error), "%s", e.msg);
		deploy_say(r, "%s: FAILED: %s", hr->h->name, e.msg);
		atomic_fetch_add(&r->failures, 1);
	}
}

/* How many pool members serve now (READY and passing the balancer's
 * health check), of all hosts; flags each host. */
static size_t
pool_ready(struct run *r, bool *ready)
{
	size_t count = 0;

	for (size_t i = 0; i < r->n; i++)
		if ((ready[i] = lb_member_ok(r, &r->hosts[i], true)))
			count++;
	return count;
}

/* How many of the k hosts at list fit while spare READY members may
 * leave (a host already out of the pool costs nothing). */
static size_t
fitting(struct run *r, struct hostrun **list, size_t k, const bool *ready,
	size_t spare)
{
	size_t fit, cost = 0;

	for (fit = 0; fit < k; fit++)
		if (ready[list[fit] - r->hosts] && ++cost > spare)
			break;
	return fit;
}

/*
 * The capacity floor: how many of the k hosts at list may leave the pool
 * now without fewer than the plan's share of it staying READY.  Takes
 * fewer than k when it must (a host already out of the pool costs
 * nothing), and waits, up to the health deadline, while not even one
 * may go.  Returns 0 when the floor did not come back in time.  A
 * rollback never waits: it takes at least one host.
 */
static size_t
fit_floor(struct run *r, struct hostrun **list, size_t k)
{
	size_t keep = r->n - plan_max_down(r->p), fit = 0, up = 0;
	int64_t until = clock_now_ms() + r->p->health_deadline_ms;
	bool *ready = calloc(r->n, sizeof(*ready)), said = false;

	for (; ready != NULL; said = true) {
		up = pool_ready(r, ready);
		fit = fitting(r, list, k, ready, up > keep ? up - keep : 0);
		/* Going back to the release that worked comes first: one
		 * host at a time, and said. */
		if ((r->rollback && fit == 0) || fit > 0 ||
		    clock_now_ms() >= until)
			break;
		if (!said)
			deploy_say(r,
				   "capacity floor: only %zu of %zu member(s) "
				   "READY and %zu must stay: waiting for the "
				   "pool",
				   up, r->n, keep);
		clock_sleep_ms(r->p->health_interval_ms);
	}
	if (r->rollback && fit == 0) {
		deploy_say(r,
			   "capacity floor: %zu of %zu member(s) READY and %zu "
			   "must stay; rolling back one host at a time",
			   up, r->n, keep);
		fit = 1;
	} else if (fit > 0 && fit < k) {
		deploy_say(
			r,
			"capacity floor: %zu of %zu member(s) READY and %zu "
			"must stay: %zu host(s) in this batch instead of %zu",
			up, r->n, keep, fit, k);
	} else if (fit == 0) {
		deploy_say(
			r,
			"capacity floor: only %zu of %zu member(s) READY and "
			"%zu must stay; it did not come back within %lld ms",
			up, r->n, keep, (long long)r->p->health_deadline_ms);
	}
	free(ready);
	return fit;
}

/*
 * Moves n hosts of list to r->target, batch by batch of at most `batch`
 * (deployments also within the capacity floor), stopping after a batch
 * that takes the failures past budget.  Returns false when it stopped.
 */
bool
deploy_move_hosts(struct run *r, struct hostrun **list, size_t n, size_t batch,
		  int budget)
{
	for (size_t done = 0; done < n;) {
		size_t k = n - done < batch ? n - done : batch;

		if (!deploy_safe_point(r))
			return false;
		if (r->has_lb && (k = fit_floor(r, list + done, k)) == 0) {
			atomic_store(&r->failures, budget + 1);
			return false;
		}
		memcpy(r->batch, list + done, k * sizeof(*list));
		fanout_run(k, r->p->parallel, move_one, r);
		done += k;
		if (atomic_load(&r->failures) > budget)
			return false;
	}
	return true;
}

/* Reads host i again: its release, and whether its runtime is ready. */
static void
read_again(void *ctx, size_t i)
{
	struct run *r = ctx;
	struct hostrun *hr = &r->hosts[i];
	struct err e;

	hr->read_error[0] = '\0';
	if (host_hello(&hr->s, true, &e) < 0) {
		hr->s.ready = false;
		snprintf(hr->read_error, sizeof(hr->read_error), "%s", e.msg);
	}
}

/* Reads every host again: all on want, ready, READY?  Says what differs. */
bool
deploy_verify(struct run *r, const char *want)
{
	bool ok = true;

	fanout_run(r->n, r->p->parallel, read_again, r);
	for (size_t i = 0; i < r->n; i++) {
		struct hostrun *hr = &r->hosts[i];

		if (hr->read_error[0]) {
			deploy_say(r, "%s: cannot be read: %s", hr->h->name,
				   hr->read_error);
			ok = false;
			continue;
		}
		if (!deploy_lb_ready(r, hr)) {
			deploy_say(r, "%s: not READY in the load balancer",
				   hr->h->name);
			ok = false;
		}
		if (!plan_release_is(hr->s.current, want) || !hr->s.ready) {
			deploy_say(r, "%s: on %s, %s", hr->h->name,
				   hr->s.current[0] ? hr->s.current : "nothing",
				   hr->s.ready ? "ready" : "NOT ready");
			ok = false;
		}
	}
	return ok;
}

/* Members this run drained but never swapped (their host failed before
 * its swap, or could not be reached) go back to READY: they still run
 * what they ran.  Returns how many could not be restored. */
int
deploy_restore_drained(struct run *r)
{
	int failed = 0;
	struct err e;

	for (size_t i = 0; i < r->n; i++) {
		struct hostrun *hr = &r->hosts[i];

		if (!hr->drained || hr->touched)
			continue;
		if (deploy_lb_set(r, hr, "ready", &e) < 0) {
			deploy_say(r, "%s: cannot restore its member: %s",
				   hr->h->name, e.msg);
			failed++;
			continue;
		}
		deploy_say(r, "%s: never swapped: member restored to READY",
			   hr->h->name);
	}
	return failed;
}

/* True when the host's runtime answers ready with its current release. */
bool
deploy_host_ready(struct run *r, struct hostrun *hr)
{
	json_t *res = NULL;
	struct err e;
	bool ready;

	ready = deploy_call(hr, "health.wait",
			    json_pack("{s:s, s:s, s:I, s:i}", "url",
				      hr->s.health, "expect_version",
				      hr->s.current, "timeout_ms",
				      (json_int_t)r->p->health_timeout_ms,
				      "deadline_ms", 0),
			    &res, &e) == 0 &&
		json_is_true(json_object_get(res, "ready"));
	json_decref(res);
	return ready;
}

/* The release every host runs ("" on a fresh fleet), or fails. */
bool
deploy_fleet_release(struct run *r, char *out, size_t size)
{
	for (size_t i = 1; i < r->n; i++) {
		const struct hostrun *a = &r->hosts[0], *b = &r->hosts[i];

		if (strcmp(b->s.current, a->s.current) == 0)
			continue;
		if (a->s.current[0] == '\0' || b->s.current[0] == '\0')
			deploy_say(r,
				   "the fleet is not consistent: %s runs "
				   "nothing yet while %s runs %s; a new host "
				   "joins with: ivrctl scale %s",
				   a->s.current[0] ? b->h->name : a->h->name,
				   a->s.current[0] ? a->h->name : b->h->name,
				   a->s.current[0] ? a->s.current
						   : b->s.current,
				   r->p->path);
		else
			deploy_say(r,
				   "the fleet is not consistent: %s runs %s, "
				   "%s runs %s; finish the last deployment "
				   "(ivrctl resume) or undo it (ivrctl "
				   "rollback) first",
				   a->h->name, a->s.current, b->h->name,
				   b->s.current);
		return false;
	}
	snprintf(out, size, "%s", r->n ? r->hosts[0].s.current : "");
	return true;
}
