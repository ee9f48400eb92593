/*
 * deploy_pool: the steps of `ivrctl scale` (deploy_scale.c) on one host: a
 * new host bootstrapped with the pool's release and added to the
 * balancer (undone when a step fails), and a member drained by calls,
 * taken out and stopped.
 */
#include "deploy.h"
#include "deploy_int.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "exitcode.h"

/* The lb.* params for a change of hr's membership. */
json_t *
deploy_pool_params(const struct run *r, const struct plan_host *h)
{
	char dash[] = "-";
	struct plan_host pool = { .member = dash };
	json_t *o = host_member_params(r->p, h ? h : &pool);

	if (h == NULL)
		json_object_del(o, "server");
	if (r->p->lb.config != NULL)
		json_object_set_new(o, "config", json_string(r->p->lb.config));
	return o;
}

/* The release new hosts get (the pool's), and what adding them needs.
 * -1 to go on, else an exit code. */
int
deploy_scale_can_add(struct scale *sc)
{
	struct run *r = sc->r;
	const struct plan_lb *lb = &r->p->lb;

	if (sc->nadd == 0)
		return -1;
	if (r->art.version[0] == '\0') {
		deploy_say(r,
			   "new hosts get the pool's release, %s: name its "
			   "artifact (--artifact FILE, or 'artifact' in the "
			   "plan)",
			   r->from);
		return EXITCODE_BAD_INPUT;
	}
	plan_release(r->release, r->p, r->art.version);
	if (strcmp(r->release, r->from) != 0) {
		deploy_say(r,
			   "new hosts join on the pool's release %s, and this "
			   "plan and artifact make %s: %s",
			   r->from, r->release,
			   plan_release_is(r->from, r->art.version)
				   ? "deploy the plan's runtime settings first"
				   : "name the pool's artifact (deploy the new "
				     "one after)");
		return EXITCODE_BAD_INPUT;
	}
	if (lb->kind == PLAN_LB_HAPROXY && lb->server_line == NULL) {
		deploy_say(r, "adding an HAProxy server needs its line: "
			      "load_balancer.server_line");
		return EXITCODE_BAD_INPUT;
	}
	if (lb->kind == PLAN_LB_HAPROXY && lb->config == NULL)
		deploy_say(r, "load_balancer.config is not set: the servers "
			      "added now are lost when HAProxy reloads");
	return -1;
}

/* READY, up and (HAProxy starts an added server up, before its first
 * check) its last health check passed. */
static bool
check_passed(struct run *r, struct hostrun *hr)
{
	json_t *res = NULL;
	struct err e;
	bool ok;

	ok = deploy_lb_call(r, "lb.get_state", host_member_params(r->p, hr->h),
			    &res, &e) == 0 &&
	     strcmp(host_str(res, "state"), "ready") == 0 &&
	     !json_is_false(json_object_get(res, "up")) &&
	     !json_is_false(json_object_get(res, "checked"));
	json_decref(res);
	return ok;
}

/* Bootstraps hr and adds it: READY once the balancer's check passes. */
static int
bootstrap_steps(struct scale *sc, struct hostrun *hr, bool *in_pool,
		struct err *err)
{
	struct run *r = sc->r;
	const struct plan *p = r->p;
	char line[1024] = "";
	json_t *params;
	int64_t until;
	int rc;

	if ((rc = host_open(&hr->s, p, hr->h, p->agent_root, r->agent, 0,
			    err)) < 0)
		return rc;
	if (hr->s.disk_free >= 0 && hr->s.disk_free < 3 * r->art.size)
		return err_set(err, ERR_BADSTATE,
			       "%s: only %lld bytes free for a %lld-byte "
			       "release",
			       hr->h->name, hr->s.disk_free,
			       (long long)r->art.size);
	hr->touched = true;
	if ((rc = deploy_stage_host(r, hr, err)) < 0)
		return rc;
	deploy_say(r, "%s: activate %s, start", hr->h->name, r->target);
	if ((rc = deploy_call(hr, "activate",
			      json_pack("{s:s, s:s}", "version", r->target,
					"deployment_id", r->id),
			      NULL, err)) < 0 ||
	    (rc = deploy_call(hr, "service.restart", deploy_service_params(p),
			      NULL, err)) < 0 ||
	    (rc = deploy_wait_ready(r, hr, r->target, err)) < 0 ||
	    (rc = deploy_smoke(r, hr, err)) < 0 ||
	    (p->lb.server_line != NULL &&
	     (rc = plan_expand(line, sizeof(line), p->lb.server_line, hr->h,
			       err)) < 0))
		return rc;
	params = deploy_pool_params(r, hr->h);
	if (line[0] != '\0')
		json_object_set_new(params, "line", json_string(line));
	if ((rc = deploy_lb_call(r, "lb.add", params, NULL, err)) < 0)
		return rc;
	*in_pool = true;
	if ((rc = deploy_lb_set(r, hr, "ready", err)) < 0)
		return rc;
	until = clock_now_ms() + p->health_deadline_ms;
	while (!check_passed(r, hr)) {
		if (clock_now_ms() >= until)
			return err_set(err, ERR_TIMEOUT,
				       "%s: the balancer's health check did "
				       "not pass within %lld ms",
				       hr->h->name,
				       (long long)p->health_deadline_ms);
		clock_sleep_ms(p->health_interval_ms);
	}
	deploy_say(r, "%s: READY in the pool on %s", hr->h->name, r->target);
	return 0;
}

/* A host that failed its bootstrap leaves the pool and stops. */
static void
undo_bootstrap(struct scale *sc, struct hostrun *hr, bool in_pool)
{
	struct run *r = sc->r;
	struct err e;

	if (in_pool &&
	    (deploy_lb_set(r, hr, "maint", &e) < 0 ||
	     deploy_lb_call(r, "lb.remove", deploy_pool_params(r, hr->h), NULL,
			    &e) < 0)) {
		deploy_say(r,
			   "%s: could not be taken out of the pool again: %s",
			   hr->h->name, e.msg);
		atomic_fetch_add(&sc->stuck, 1);
	} else if (in_pool) {
		deploy_say(r, "%s: taken out of the pool again", hr->h->name);
	}
	if (hr->touched && hr->s.ch != NULL &&
	    deploy_call(hr, "service.stop", deploy_service_params(r->p), NULL,
			&e) < 0)
		deploy_say(r, "%s: its runtime could not be stopped: %s",
			   hr->h->name, e.msg);
}

void
deploy_scale_add_one(void *ctx, size_t i)
{
	struct scale *sc = ctx;
	struct hostrun *hr = sc->add[i];
	bool in_pool = false;
	struct err e;
	int rc;

	deploy_step_event(sc->r, hr, "bootstrap-begin", NULL);
	rc = bootstrap_steps(sc, hr, &in_pool, &e);
	deploy_step_event(sc->r, hr, "bootstrap-end", rc < 0 ? &e : NULL);
	if (rc == 0) {
		atomic_fetch_add(&sc->added, 1);
		return;
	}
	hr->failed = true;
	snprintf(hr->error, sizeof(hr->error), "%s", e.msg);
	deploy_say(sc->r, "%s: NOT ADDED to the pool: %s", hr->h->name, e.msg);
	undo_bootstrap(sc, hr, in_pool);
}

/* Waits, by the balancer's count, for a member's sessions to end (a
 * host that cannot be reached); nginx counts none: the drain deadline. */
static int
wait_idle_by_lb(struct run *r, struct hostrun *hr, struct err *err)
{
	int64_t until = clock_now_ms() + r->p->drain_deadline_ms;
	json_t *res = NULL;
	int rc;

	for (;; clock_sleep_ms(200)) {
		rc = deploy_lb_call(r, "lb.get_state",
				    host_member_params(r->p, hr->h), &res, err);
		if (rc < 0 ||
		    json_integer_value(json_object_get(res, "sessions")) == 0 ||
		    clock_now_ms() >= until)
			break;
		json_decref(res);
		res = NULL;
	}
	if (rc == 0 && !json_is_integer(json_object_get(res, "sessions")))
		deploy_say(r,
			   "%s: waited the drain deadline (this balancer "
			   "does not count calls)",
			   hr->h->name);
	json_decref(res);
	return rc;
}

/* Drains hr by calls, takes it out of the pool, stops its runtime. */
static int
retire_steps(struct scale *sc, struct hostrun *hr, struct err *err)
{
	struct run *r = sc->r;
	const char *name = hr->h->name;
	struct err e;
	int rc;

	if (hr->s.c == NULL && host_open(&hr->s, r->p, hr->h, r->p->agent_root,
					 r->agent, 0, &e) < 0)
		deploy_say(r,
			   "%s: cannot be reached (%s): the balancer counts "
			   "its calls, and its runtime is left running",
			   name, e.msg);
	deploy_say(r, "%s: drain", name);
	hr->drained = true;
	if ((rc = deploy_lb_set(r, hr, "drain", err)) < 0 ||
	    (rc = hr->s.ch ? deploy_wait_calls(r, hr, err)
			   : wait_idle_by_lb(r, hr, err)) < 0 ||
	    (rc = deploy_lb_set(r, hr, "maint", err)) < 0)
		return rc;
	hr->touched = true;
	if ((rc = deploy_lb_call(r, "lb.remove", deploy_pool_params(r, hr->h),
				 NULL, err)) < 0)
		return rc;
	deploy_say(r, "%s: out of the pool", name);
	if (hr->s.ch == NULL)
		return 0;
	if ((rc = deploy_call(hr, "service.stop", deploy_service_params(r->p),
			      NULL, err)) == 0)
		deploy_say(r, "%s: runtime stopped", name);
	return rc;
}

/* Takes the members to go out, one at a time; false when one failed. */
bool
deploy_scale_remove(struct scale *sc)
{
	struct run *r = sc->r;
	bool ok = true;
	struct err e;

	for (size_t k = 0; k < sc->nout; k++) {
		struct hostrun *hr = sc->out[k];
		int rc;

		if (!deploy_safe_point(r))
			return false;
		deploy_step_event(r, hr, "retire-begin", NULL);
		rc = retire_steps(sc, hr, &e);
		deploy_step_event(r, hr, "retire-end", rc < 0 ? &e : NULL);
		hr->done = rc == 0;
		if (rc == 0)
			continue;
		ok = false;
		hr->failed = true;
		snprintf(hr->error, sizeof(hr->error), "%s", e.msg);
		deploy_say(r, "%s: NOT REMOVED: %s", hr->h->name, e.msg);
		if (!hr->touched && hr->drained &&
		    deploy_lb_set(r, hr, "ready", &e) == 0)
			deploy_say(r, "%s: member restored to READY",
				   hr->h->name);
		break; /* the next would leave on a pool short of one */
	}
	return ok;
}

bool
deploy_pool_holds_all(struct run *r)
{
	json_t *res = NULL, *m;
	bool all = true;
	struct err e;
	size_t k;

	if (!r->has_lb)
		return true;
	if (deploy_lb_call(r, "lb.members", deploy_pool_params(r, NULL), &res,
			   &e) < 0) {
		deploy_say(r, "load balancer: %s", e.msg);
		return false;
	}
	for (size_t i = 0; i < r->n; i++) {
		const char *member = r->hosts[i].h->member;
		bool in = false;

		json_array_foreach (json_object_get(res, "members"), k, m)
			in = in || strcmp(host_str(m, "name"), member) == 0;
		if (!in)
			deploy_say(r,
				   "%s is not in the balancer's pool (member "
				   "%s): ivrctl scale %s adds it; nothing was "
				   "changed",
				   r->hosts[i].h->name, member, r->p->path);
		all = all && in;
	}
	json_decref(res);
	return all;
}
