/*
 * deploy: see deploy.h.
 */
#include "deploy.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agentc.h"
#include "artifact.h"
#include "clock.h"
#include "exitcode.h"
#include "fanout.h"
#include "hash.h"
#include "journal.h"
#include "ssh.h"

/* One host (or the balancer host) for the whole run. */
struct hostrun {
	const struct plan_host *h;
	struct ssh_target t;
	struct ssh_conn *c;
	struct agentc *a;
	char agent_path[4096], root[4096], health[4096], calls[4096];
	char current[65], previous[65], deployment_id[129];
	long long disk_free;
	bool touched; /* changed by this run (or the run it resumes) */
	bool drained; /* its member was set to DRAIN by this run */
	bool done;    /* resume: already on the target, ready, READY */
	bool ready;   /* verify: the runtime answered ready */
	char read_error[512];
	bool failed;
	char error[512];
};

struct run {
	const struct plan *p;
	const struct agent_bundle *agent;
	const struct deploy_opts *o;
	struct hostrun *hosts;
	size_t n;
	struct plan_host lb_host;
	struct hostrun lb;
	bool has_lb;
	pthread_mutex_t lb_lock, out_lock;
	int64_t start_ms;
	struct artifact art; /* deploy: the release to roll out */
	char from[65], id[64], to[65];
	const char *kind; /* "deploy" or "rollback" once started */
	atomic_int failures;
	struct journal j;
	/* the batch being moved */
	struct hostrun **batch;
	const char *target;
	bool rollback;
	json_t *approved;    /* phases whose gate passed, journal included */
	const char *waiting; /* the phase whose gate stopped the run */
};

static void say(struct run *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* With --output json: ev as one line on out, with the elapsed time. */
static void
emit(struct run *r, json_t *ev)
{
	char *text;

	json_object_set_new(ev, "elapsed_ms",
			    json_integer(clock_now_ms() - r->start_ms));
	if ((text = json_dumps(ev, JSON_COMPACT)) == NULL)
		return;
	pthread_mutex_lock(&r->out_lock);
	fprintf(r->o->out, "%s\n", text);
	fflush(r->o->out);
	pthread_mutex_unlock(&r->out_lock);
	free(text);
}

static void
say(struct run *r, const char *fmt, ...)
{
	char text[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (r->o->json) {
		json_t *ev = json_pack("{s:s, s:s, s:s}", "event", "message",
				       "id", r->id, "text", text);

		emit(r, ev);
		json_decref(ev);
		return;
	}
	pthread_mutex_lock(&r->out_lock);
	fprintf(r->o->out, "[%7.1fs] %s\n",
		(double)(clock_now_ms() - r->start_ms) / 1000.0, text);
	fflush(r->o->out);
	pthread_mutex_unlock(&r->out_lock);
}

/* An event for the journal, and for out with --output json. */
static void
record(struct run *r, json_t *ev)
{
	if (ev == NULL)
		return;
	if (r->o->json) {
		json_t *copy = json_deep_copy(ev);

		emit(r, copy);
		json_decref(copy);
	}
	journal_write(&r->j, ev);
}

static void
make_id(char *out, size_t size, char kind)
{
	unsigned char raw[3];
	char hex[7], when[32];
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y%m%dT%H%M%SZ", &tm);
	hash_random(raw, sizeof(raw), NULL);
	hash_hex(hex, raw, sizeof(raw));
	snprintf(out, size, "%c-%s-%s", kind, when, hex);
}

static int
call(struct hostrun *hr, const struct plan *p, const char *method,
     json_t *params, json_t **result, struct err *err)
{
	json_t *r = NULL;
	int rc = agentc_call(&r, hr->a, method, params, p->command_timeout_ms,
			     err);

	if (result != NULL)
		*result = r;
	else
		json_decref(r);
	return rc;
}

static void
copy_str(char *dst, size_t size, json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));

	snprintf(dst, size, "%s", v ? v : "");
}

/* Connects, bootstraps and says hello; records what the host runs. */
static int
open_host(struct run *r, struct hostrun *hr, const char *root_tmpl,
	  struct err *err)
{
	const struct plan_host *h = hr->h;
	bool uploaded;
	json_t *hello = NULL;
	int rc;

	status_target(&hr->t, r->p, h->name, h->address, h->port, h->user);
	if ((rc = plan_expand(hr->agent_path, sizeof(hr->agent_path),
			      r->p->agent_path, h, err)) < 0 ||
	    (rc = plan_expand(hr->root, sizeof(hr->root), root_tmpl, h, err)) <
		    0 ||
	    (rc = plan_expand(hr->health, sizeof(hr->health), r->p->health_url,
			      h, err)) < 0 ||
	    (r->p->calls_url &&
	     (rc = plan_expand(hr->calls, sizeof(hr->calls), r->p->calls_url, h,
			       err)) < 0) ||
	    (rc = ssh_connect(&hr->c, &hr->t, err)) < 0 ||
	    (rc = agentc_open(&hr->a, &uploaded, hr->c, hr->agent_path,
			      hr->root, h->name, r->agent->path,
			      r->agent->version, r->p->command_timeout_ms,
			      err)) < 0 ||
	    (rc = call(hr, r->p, "hello", NULL, &hello, err)) < 0)
		return rc;
	copy_str(hr->current, sizeof(hr->current), hello, "current");
	copy_str(hr->previous, sizeof(hr->previous), hello, "previous");
	copy_str(hr->deployment_id, sizeof(hr->deployment_id), hello,
		 "deployment_id");
	hr->disk_free =
		json_integer_value(json_object_get(hello, "disk_free_bytes"));
	json_decref(hello);
	return 0;
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

static void
close_all(struct run *r)
{
	for (size_t i = 0; i < r->n; i++) {
		agentc_close(r->hosts[i].a);
		ssh_close(r->hosts[i].c);
	}
	agentc_close(r->lb.a);
	ssh_close(r->lb.c);
	free(r->hosts);
	free(r->batch);
}

/* Connects to every host and the balancer; false if any failed. */
static bool
open_fleet(struct run *r)
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
			say(r, "%s: %s", r->hosts[i].h->name,
			    r->hosts[i].error);
			ok = false;
		}
	}
	r->has_lb = p->lb.kind != PLAN_LB_NONE;
	if (!r->has_lb)
		return ok;
	r->lb_host = (struct plan_host){
		.name = p->lb.name,
		.address = p->lb.address,
		.port = p->lb.port,
		.user = p->lb.user ? p->lb.user : p->hosts[0].user,
	};
	r->lb.h = &r->lb_host;
	if (open_host(r, &r->lb, p->lb.agent_root, &e) < 0) {
		say(r, "load balancer: %s", e.msg);
		ok = false;
	}
	return ok;
}

/* The lb.* params that name hr's member. */
static json_t *
member_params(struct run *r, struct hostrun *hr)
{
	const struct plan_lb *lb = &r->p->lb;

	if (lb->kind == PLAN_LB_NGINX)
		return json_pack("{s:s, s:s, s:s, s:s, s:s}", "kind", "nginx",
				 "server", hr->h->member, "upstream_file",
				 lb->upstream_file, "nginx_conf",
				 lb->nginx_conf, "nginx_pid", lb->nginx_pid);
	return json_pack("{s:s, s:s, s:s, s:s}", "kind", "haproxy", "backend",
			 lb->backend, "socket", lb->socket, "server",
			 hr->h->member);
}

/* Calls the balancer's agent (one call at a time across threads). */
static int
lb_call(struct run *r, const char *method, json_t *params, json_t **result,
	struct err *err)
{
	int rc;

	pthread_mutex_lock(&r->lb_lock);
	rc = call(&r->lb, r->p, method, params, result, err);
	pthread_mutex_unlock(&r->lb_lock);
	return rc;
}

/* Sets the member's state through the balancer's agent. */
static int
lb_set(struct run *r, struct hostrun *hr, const char *state, struct err *err)
{
	json_t *params;

	if (!r->has_lb)
		return 0;
	params = member_params(r, hr);
	json_object_set_new(params, "state", json_string(state));
	return lb_call(r, "lb.set_state", params, NULL, err);
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
	ready = lb_call(r, "lb.get_state", member_params(r, hr), &res, &e) ==
			0 &&
		json_is_string(json_object_get(res, "state")) &&
		strcmp(json_string_value(json_object_get(res, "state")),
		       "ready") == 0 &&
		!(serving && json_is_false(json_object_get(res, "up")));
	json_decref(res);
	return ready;
}

static bool
lb_ready(struct run *r, struct hostrun *hr)
{
	return lb_member_ok(r, hr, false);
}

static json_t *
service_params(const struct plan *p)
{
	json_t *o =
		json_pack("{s:s, s:I}", "manager", p->service_manager,
			  "stop_timeout_ms", (json_int_t)p->stop_timeout_ms);

	if (p->service_unit != NULL)
		json_object_set_new(o, "unit", json_string(p->service_unit));
	return o;
}

/* Waits for the host's calls to end, up to the drain deadline. */
static int
wait_calls(struct run *r, struct hostrun *hr, struct err *err)
{
	json_t *res = NULL;
	int rc;

	if (hr->calls[0] == '\0')
		return 0;
	rc = call(hr, r->p, "calls.wait_idle",
		  json_pack("{s:s, s:i, s:I}", "url", hr->calls, "interval_ms",
			    200, "deadline_ms",
			    (json_int_t)r->p->drain_deadline_ms),
		  &res, err);
	if (rc == 0 && !json_is_true(json_object_get(res, "idle")))
		say(r,
		    "%s: drain deadline passed with %lld call(s) still in "
		    "progress: they will be cut",
		    hr->h->name,
		    (long long)json_integer_value(
			    json_object_get(res, "remaining")));
	json_decref(res);
	return rc;
}

/* Ready with version target within the deadline, then for min_healthy. */
static int
wait_ready(struct run *r, struct hostrun *hr, const char *target,
	   struct err *err)
{
	const struct plan *p = r->p;
	int64_t until;
	json_t *res = NULL;
	int rc;

	rc = call(hr, p, "health.wait",
		  json_pack("{s:s, s:s, s:I, s:I, s:I}", "url", hr->health,
			    "expect_version", target, "interval_ms",
			    (json_int_t)p->health_interval_ms, "timeout_ms",
			    (json_int_t)p->health_timeout_ms, "deadline_ms",
			    (json_int_t)p->health_deadline_ms),
		  &res, err);
	if (rc == 0 && !json_is_true(json_object_get(res, "ready")))
		rc = err_set(
			err, ERR_TIMEOUT,
			"%s: not ready with %s within %lld ms (%s)",
			hr->h->name, target, (long long)p->health_deadline_ms,
			json_string_value(json_object_get(res, "last_error"))
				? json_string_value(
					  json_object_get(res, "last_error"))
				: "no answer");
	json_decref(res);
	until = clock_now_ms() + p->min_healthy_ms;
	while (rc == 0 && clock_now_ms() < until) {
		clock_sleep_ms(p->health_interval_ms);
		res = NULL;
		rc = call(hr, p, "health.wait",
			  json_pack("{s:s, s:s, s:I, s:i}", "url", hr->health,
				    "expect_version", target, "timeout_ms",
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

/* A host step in the journal: before it starts, and how it ended. */
static void
journal_step(struct run *r, struct hostrun *hr, const char *step,
	     const struct err *e)
{
	json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:s}", "event", "step",
			       "id", r->id, "host", hr->h->name, "step", step,
			       "target", r->target);

	if (e != NULL)
		json_object_set_new(ev, "error", json_string(e->msg));
	record(r, ev);
}

/* The per-host steps: out of the pool, swapped, healthy, back in. */
static int move_host_steps(struct run *r, struct hostrun *hr, struct err *err);

static int
move_host(struct run *r, struct hostrun *hr, struct err *err)
{
	int rc;

	journal_step(r, hr, r->rollback ? "rollback-begin" : "move-begin",
		     NULL);
	rc = move_host_steps(r, hr, err);
	journal_step(r, hr, r->rollback ? "rollback-end" : "move-end",
		     rc < 0 ? err : NULL);
	return rc;
}

static int
move_host_steps(struct run *r, struct hostrun *hr, struct err *err)
{
	const char *name = hr->h->name;
	int rc;

	say(r, "%s: drain", name);
	hr->drained = r->has_lb;
	if ((rc = lb_set(r, hr, "drain", err)) < 0 ||
	    (rc = wait_calls(r, hr, err)) < 0 ||
	    (rc = lb_set(r, hr, "maint", err)) < 0)
		return rc;
	hr->touched = true;
	if (r->rollback) {
		json_t *params = service_params(r->p);

		json_object_set_new(params, "version", json_string(r->target));
		json_object_set_new(params, "deployment_id",
				    json_string(r->id));
		/* A deployment's own rollback undoes it; on-call's undoes
		 * whatever deployment brought each host's release (the agent
		 * knows it), which leaves a host already on target as it is. */
		if (strcmp(r->kind, "deploy") == 0)
			json_object_set_new(params, "undoes",
					    json_string(r->id));
		say(r, "%s: back to %s, restart", name, r->target);
		rc = call(hr, r->p, "rollback", params, NULL, err);
	} else {
		say(r, "%s: activate %s, restart", name, r->target);
		rc = call(hr, r->p, "activate",
			  json_pack("{s:s, s:s}", "version", r->target,
				    "deployment_id", r->id),
			  NULL, err);
		if (rc == 0)
			rc = call(hr, r->p, "service.restart",
				  service_params(r->p), NULL, err);
	}
	if (rc == 0)
		snprintf(hr->current, sizeof(hr->current), "%s", r->target);
	if (rc < 0 || (rc = wait_ready(r, hr, r->target, err)) < 0)
		return rc;
	if ((rc = lb_set(r, hr, "ready", err)) == 0)
		say(r, "%s: ready on %s", name, r->target);
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
		say(r, "%s: FAILED: %s", hr->h->name, e.msg);
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
	size_t keep = r->n - plan_max_down(r->p);
	int64_t until = clock_now_ms() + r->p->health_deadline_ms;
	bool *ready = calloc(r->n, sizeof(*ready)), said = false;
	size_t fit = 0;

	for (;;) {
		size_t up = pool_ready(r, ready),
		       spare = up > keep ? up - keep : 0;
		size_t cost = 0;

		for (fit = 0; fit < k; fit++) {
			size_t idx = (size_t)(list[fit] - r->hosts);

			if (ready[idx] && ++cost > spare)
				break;
		}
		if (r->rollback && fit == 0) {
			/* Going back to the release that worked comes
			 * first: one host at a time, and said. */
			say(r,
			    "capacity floor: %zu of %zu member(s) READY and "
			    "%zu must stay; rolling back one host at a time",
			    up, r->n, keep);
			fit = 1;
			break;
		}
		if (fit > 0 || clock_now_ms() >= until) {
			if (fit > 0 && fit < k)
				say(r,
				    "capacity floor: %zu of %zu member(s) "
				    "READY and %zu must stay: %zu host(s) in "
				    "this batch instead of %zu",
				    up, r->n, keep, fit, k);
			if (fit == 0)
				say(r,
				    "capacity floor: only %zu of %zu "
				    "member(s) READY and %zu must stay; it "
				    "did not come back within %lld ms",
				    up, r->n, keep,
				    (long long)r->p->health_deadline_ms);
			break;
		}
		if (!said)
			say(r,
			    "capacity floor: only %zu of %zu member(s) READY "
			    "and %zu must stay: waiting for the pool",
			    up, r->n, keep);
		said = true;
		clock_sleep_ms(r->p->health_interval_ms);
	}
	free(ready);
	return fit;
}

/*
 * Moves n hosts of list to r->target, batch by batch of at most `batch`
 * (deployments also within the capacity floor), stopping after a batch
 * that takes the failures past budget.  Returns false when it stopped.
 */
static bool
move_hosts(struct run *r, struct hostrun **list, size_t n, size_t batch,
	   int budget)
{
	for (size_t done = 0; done < n;) {
		size_t k = n - done < batch ? n - done : batch;

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
	json_t *hello = NULL;
	struct err e;

	hr->ready = false;
	hr->read_error[0] = '\0';
	if (call(hr, r->p, "hello",
		 json_pack("{s:s}", "health_url", hr->health), &hello,
		 &e) < 0) {
		snprintf(hr->read_error, sizeof(hr->read_error), "%s", e.msg);
		return;
	}
	copy_str(hr->current, sizeof(hr->current), hello, "current");
	hr->ready = json_is_true(
		json_object_get(json_object_get(hello, "runtime"), "ready"));
	json_decref(hello);
}

/* Reads every host again: all on want, ready, READY?  Says what differs. */
static bool
verify(struct run *r, const char *want)
{
	bool ok = true;

	fanout_run(r->n, r->p->parallel, read_again, r);
	for (size_t i = 0; i < r->n; i++) {
		struct hostrun *hr = &r->hosts[i];

		if (hr->read_error[0]) {
			say(r, "%s: cannot be read: %s", hr->h->name,
			    hr->read_error);
			ok = false;
			continue;
		}
		if (!lb_ready(r, hr)) {
			say(r, "%s: not READY in the load balancer",
			    hr->h->name);
			ok = false;
		}
		if (strcmp(hr->current, want) != 0 || !hr->ready) {
			say(r, "%s: on %s, %s", hr->h->name,
			    hr->current[0] ? hr->current : "nothing",
			    hr->ready ? "ready" : "NOT ready");
			ok = false;
		}
	}
	return ok;
}

/* Members this run drained but never swapped (their host failed before
 * its swap, or could not be reached) go back to READY: they still run
 * what they ran.  Returns how many could not be restored. */
static int
restore_drained(struct run *r)
{
	int failed = 0;
	struct err e;

	for (size_t i = 0; i < r->n; i++) {
		struct hostrun *hr = &r->hosts[i];

		if (!hr->drained || hr->touched)
			continue;
		if (lb_set(r, hr, "ready", &e) < 0) {
			say(r, "%s: cannot restore its member: %s", hr->h->name,
			    e.msg);
			failed++;
			continue;
		}
		say(r, "%s: never swapped: member restored to READY",
		    hr->h->name);
	}
	return failed;
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

	if (r->from[0] == '\0' || list == NULL) {
		say(r, "no release ran before this deployment: nothing to go "
		       "back to; a human must look");
		free(list);
		return EXITCODE_INCONSISTENT;
	}
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < r->n; i++)
			if (r->hosts[i].touched &&
			    r->hosts[i].failed == (pass == 0))
				list[n++] = &r->hosts[i];
	say(r, "rolling back %zu host(s) to %s", n, r->from);
	r->rollback = true;
	r->target = r->from;
	unrestored = restore_drained(r);
	atomic_store(&r->failures, 0);
	move_hosts(r, list, n, plan_max_down(r->p), 0);
	free(list);
	ok = unrestored == 0 && atomic_load(&r->failures) == 0 &&
	     verify(r, r->from);
	say(r,
	    ok ? "rolled back: every host on %s and ready"
	       : "ROLLBACK INCOMPLETE: the fleet is not on %s everywhere; "
		 "a human must look",
	    r->from);
	return ok ? EXITCODE_ROLLED_BACK : EXITCODE_INCONSISTENT;
}

/* The release every host runs ("" on a fresh fleet), or fails. */
static bool
fleet_release(struct run *r, char *out, size_t size)
{
	for (size_t i = 1; i < r->n; i++) {
		if (strcmp(r->hosts[i].current, r->hosts[0].current) != 0) {
			say(r,
			    "the fleet is not consistent: %s runs %s, %s "
			    "runs %s; finish the last deployment (ivrctl "
			    "resume) or undo it (ivrctl rollback) first",
			    r->hosts[0].h->name,
			    r->hosts[0].current[0] ? r->hosts[0].current
						   : "nothing",
			    r->hosts[i].h->name,
			    r->hosts[i].current[0] ? r->hosts[i].current
						   : "nothing");
			return false;
		}
	}
	snprintf(out, size, "%s", r->n ? r->hosts[0].current : "");
	return true;
}

/* The environment's lock; 0, or the exit code to stop with. */
static int
take_lock(struct run *r)
{
	struct err e;

	if (journal_open(&r->j, r->p, &e) < 0) {
		fprintf(stderr, "ivrctl: %s\n", e.msg);
		return EXITCODE_INCONSISTENT;
	}
	if (journal_lock(&r->j, r->o->break_lock, &e) < 0) {
		fprintf(stderr, "ivrctl: %s\n", e.msg);
		return EXITCODE_LOCKED;
	}
	return 0;
}

static void
journal_start(struct run *r, const char *kind, const char *to)
{
	char host[256] = "", who[400];
	const char *user = journal_user();

	gethostname(host, sizeof(host) - 1);
	snprintf(who, sizeof(who), "%s@%s", user, host);
	r->j.started = true;
	r->kind = kind;
	snprintf(r->to, sizeof(r->to), "%s", to);
	record(r, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s?, s:s, s:i, s:s*, "
			    "s:s*, s:s*}",
			    "event", "start", "id", r->id, "kind", kind,
			    "plan_sha256", r->p->sha256, "operator", who,
			    "from", r->from[0] ? r->from : NULL, "to", to,
			    "hosts", (int)r->p->nhosts, "artifact",
			    r->art.path[0] ? r->art.path : NULL, "sha256",
			    r->art.sha256[0] ? r->art.sha256 : NULL,
			    "promoted_from", r->o->promoted_from));
}

static void
journal_end(struct run *r, int code)
{
	static const char *const outcomes[] = { "done", "rolled_back",
						"refused", "inconsistent",
						"locked" };
	const char *outcome = r->waiting	       ? "waiting"
			      : code >= 0 && code <= 4 ? outcomes[code]
						       : "failed";
	json_int_t took = (json_int_t)(clock_now_ms() - r->start_ms);

	if (r->j.started)
		record(r, json_pack("{s:s, s:s, s:s, s:i, s:I, s:s?}", "event",
				    "end", "id", r->id, "outcome", outcome,
				    "exit_code", code, "duration_ms", took,
				    "phase", r->waiting));
	journal_close(&r->j);
	if (r->o->json) {
		json_t *sum, *hosts = json_array();

		for (size_t i = 0; i < r->n; i++) {
			const struct hostrun *hr = &r->hosts[i];

			json_array_append_new(
				hosts,
				json_pack("{s:s, s:s?, s:b, s:b, s:s?}", "name",
					  hr->h->name, "release",
					  hr->current[0] ? hr->current : NULL,
					  "touched", hr->touched, "failed",
					  hr->failed, "error",
					  hr->error[0] ? hr->error : NULL));
		}
		sum = json_pack("{s:s, s:s, s:s?, s:s?, s:s?, s:s, s:i, s:I, "
				"s:s?, s:o}",
				"event", "summary", "id", r->id, "kind",
				r->kind, "from", r->from[0] ? r->from : NULL,
				"to", r->to[0] ? r->to : NULL, "outcome",
				outcome, "exit_code", code, "duration_ms", took,
				"waiting_phase", r->waiting, "hosts", hosts);
		emit(r, sum);
		json_decref(sum);
	} else if (r->j.started) {
		size_t touched = 0, failed = 0;

		for (size_t i = 0; i < r->n; i++) {
			touched += r->hosts[i].touched;
			failed += r->hosts[i].failed;
		}
		say(r,
		    "summary: %s %s, %s -> %s: %s (exit %d) in %.1f s; %zu of "
		    "%zu host(s) touched, %zu failed",
		    r->kind, r->id, r->from[0] ? r->from : "nothing",
		    r->to[0] ? r->to : "?", outcome, code,
		    (double)took / 1000.0, touched, r->n, failed);
	}
}

/* Uploads the artifact unless the host has it, then stages it. */
static void
stage_one(void *ctx, size_t i)
{
	struct run *r = ctx;
	struct hostrun *hr = &r->hosts[i];
	char remote[4200], q[8500], cmd[8600];
	struct err e;
	int status = 1;

	if (artifact_remote_path(remote, sizeof(remote), hr->root,
				 r->art.sha256, &e) < 0 ||
	    ssh_quote(q, sizeof(q), remote, &e) < 0)
		goto fail;
	snprintf(cmd, sizeof(cmd), "test -f %s", q);
	if (ssh_exec(hr->c, cmd, NULL, &status, &e) < 0)
		goto fail;
	if (status != 0 &&
	    ssh_upload(hr->c, r->o->artifact, remote, 0644, &e) < 0)
		goto fail;
	if (call(hr, r->p, "stage",
		 json_pack("{s:s, s:s}", "version", r->art.version, "sha256",
			   r->art.sha256),
		 NULL, &e) < 0)
		goto fail;
	say(r, "%s: %s staged%s", hr->h->name, r->art.version,
	    status != 0 ? " (uploaded)" : "");
	return;
fail:
	hr->failed = true;
	snprintf(hr->error, sizeof(hr->error), "%s", e.msg);
	say(r, "%s: staging FAILED: %s", hr->h->name, e.msg);
}

/* The artifact's version, sha256 and size; false when unusable. */
static bool
read_artifact(struct run *r)
{
	struct err e;

	if (artifact_read(&r->art, r->o->artifact, &e) < 0) {
		fprintf(stderr, "ivrctl: %s\n", e.msg);
		return false;
	}
	return true;
}

enum gate {
	GATE_PASS,
	GATE_NO,
	GATE_WAIT
};

static bool
in_list(const json_t *list, const char *name)
{
	size_t i;
	json_t *v;

	json_array_foreach (list, i, v)
		if (json_is_string(v) &&
		    strcmp(json_string_value(v), name) == 0)
			return true;
	return false;
}

/*
 * A phase's approval gate: passed by --yes, by --approve PHASE, by an
 * approval the journal already holds, or by an operator at a terminal.
 * Without a terminal the run stops there and waits (resume continues).
 */
static enum gate
approve(struct run *r, const struct plan_phase *ph)
{
	char answer[16] = "";
	const char *by = NULL;
	bool flagged = false;

	if (!ph->approval || in_list(r->approved, ph->name))
		return GATE_PASS;
	for (size_t i = 0; i < r->o->napprove; i++)
		flagged = flagged || strcmp(r->o->approve[i], ph->name) == 0;
	if (r->o->yes)
		by = "--yes";
	else if (flagged)
		by = "--approve";
	else if (isatty(STDIN_FILENO)) {
		FILE *tty = r->o->json ? stderr : r->o->out;

		fprintf(tty, "Start phase %s? [y/N] ", ph->name);
		fflush(tty);
		if (fgets(answer, sizeof(answer), stdin) == NULL ||
		    (answer[0] != 'y' && answer[0] != 'Y')) {
			say(r, "phase %s: not approved: stopping", ph->name);
			return GATE_NO;
		}
		by = "terminal";
	} else {
		r->waiting = ph->name;
		say(r,
		    "phase %s waits for approval and there is no terminal to "
		    "ask: stopped here. Continue with: ivrctl resume %s "
		    "--approve %s; or undo with: ivrctl rollback %s",
		    ph->name, r->p->path, ph->name, r->p->path);
		return GATE_WAIT;
	}
	json_array_append_new(r->approved, json_string(ph->name));
	record(r, json_pack("{s:s, s:s, s:s, s:s}", "event", "approved", "id",
			    r->id, "phase", ph->name, "by", by));
	return GATE_PASS;
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
	r->target = r->art.version;
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
			say(r, "phase %s: every host already done", ph->name);
			continue;
		}
		if ((g = approve(r, ph)) != GATE_PASS)
			break;
		say(r, "phase %s: %zu host(s), %zu at a time", ph->name, k,
		    sl.batch);
		record(r, json_pack("{s:s, s:s, s:s}", "event", "phase", "id",
				    r->id, "phase", ph->name));
		if (!move_hosts(r, list, k, sl.batch, budget))
			g = GATE_NO;
		else if (ph->pause_ms > 0 && end < r->n) {
			say(r, "pause %lld ms", (long long)ph->pause_ms);
			clock_sleep_ms(ph->pause_ms);
		}
	}
	free(list);
	return g;
}

static int
preflight(struct run *r)
{
	bool all_there = true;

	if (!fleet_release(r, r->from, sizeof(r->from)))
		return EXITCODE_INCONSISTENT;
	for (size_t i = 0; i < r->n; i++) {
		if (strcmp(r->hosts[i].current, r->art.version) != 0)
			all_there = false;
		if (r->hosts[i].disk_free >= 0 &&
		    r->hosts[i].disk_free < 3 * r->art.size) {
			say(r,
			    "%s: only %lld bytes free for a %lld-byte "
			    "release",
			    r->hosts[i].h->name, r->hosts[i].disk_free,
			    r->art.size);
			return EXITCODE_INCONSISTENT;
		}
	}
	if (all_there) {
		say(r, "every host already runs %s: nothing to do",
		    r->art.version);
		return 0;
	}
	return -1;
}

static bool host_ready(struct run *r, struct hostrun *hr);

/* Pre-stages everywhere, runs the phases, rolls back or verifies. */
static int
go_live(struct run *r)
{
	bool touched = false;
	int rc;

	fanout_run(r->n, r->p->parallel, stage_one, r);
	for (size_t i = 0; i < r->n; i++)
		touched = touched || r->hosts[i].touched;
	for (size_t i = 0; i < r->n; i++) {
		if (!r->hosts[i].failed)
			continue;
		if (touched) {
			say(r, "pre-staging failed: undoing the deployment");
			return roll_back_touched(r);
		}
		say(r, "pre-staging failed: nothing serving was changed");
		return EXITCODE_ROLLED_BACK;
	}
	switch (run_phases(r)) {
	case GATE_NO:
		return roll_back_touched(r);
	case GATE_WAIT:
		return EXITCODE_INCONSISTENT;
	case GATE_PASS:
		break;
	}
	rc = verify(r, r->art.version) ? 0 : EXITCODE_INCONSISTENT;
	say(r,
	    rc == 0 ? "done: every host on %s and ready"
		    : "FINISHED INCONSISTENT: not every host is on %s and "
		      "ready; a human must look",
	    r->art.version);
	return rc;
}

static void
run_init(struct run *r, const struct plan *p, const struct agent_bundle *agent,
	 const struct deploy_opts *o, const char *kind)
{
	r->p = p;
	r->agent = agent;
	r->o = o;
	r->kind = kind;
	r->rollback = strcmp(kind, "rollback") == 0;
	r->approved = json_array();
	pthread_mutex_init(&r->lb_lock, NULL);
	pthread_mutex_init(&r->out_lock, NULL);
	r->start_ms = clock_now_ms();
}

static int
run_finish(struct run *r, int rc)
{
	journal_end(r, rc);
	close_all(r);
	json_decref(r->approved);
	return rc;
}

int
deploy_run(const struct plan *p, const struct agent_bundle *agent,
	   const struct deploy_opts *o)
{
	struct run r = { 0 };
	int rc;

	run_init(&r, p, agent, o, "deploy");
	if (!read_artifact(&r))
		return run_finish(&r, EXITCODE_BAD_INPUT);
	make_id(r.id, sizeof(r.id), 'd');
	if ((rc = take_lock(&r)) != 0)
		return run_finish(&r, rc);
	rc = EXITCODE_INCONSISTENT;
	/* Started before anything can change, so that a controller killed
	 * at any later point leaves a run without an end in the journal. */
	journal_start(&r, "deploy", r.art.version);
	say(&r, "deployment %s: %s to %s (%zu hosts)", r.id, r.art.version,
	    p->environment, p->nhosts);
	if (!open_fleet(&r)) {
		say(&r, "cannot reach the whole fleet: nothing was changed");
		return run_finish(&r, rc);
	}
	if ((rc = preflight(&r)) >= 0)
		return run_finish(&r, rc);
	say(&r, "from %s to %s", r.from[0] ? r.from : "nothing", r.art.version);
	record(&r, json_pack("{s:s, s:s, s:s}", "event", "from", "id", r.id,
			     "from", r.from));
	return run_finish(&r, go_live(&r));
}

/* The interrupted run's artifact, checked against what it started with;
 * false (said why) when it cannot be used. */
static bool
resume_artifact(struct run *r, struct deploy_opts *oo, json_t *run)
{
	const char *path = json_string_value(json_object_get(run, "artifact"));
	const char *to = json_string_value(json_object_get(run, "to"));
	const char *sha = json_string_value(json_object_get(run, "sha256"));

	if (oo->artifact == NULL)
		oo->artifact = path;
	if (oo->artifact == NULL || to == NULL) {
		fprintf(stderr,
			"ivrctl: the journal does not say which artifact "
			"deployment %s used: name it with --artifact\n",
			r->id);
		return false;
	}
	if (!read_artifact(r))
		return false;
	if (strcmp(r->art.version, to) != 0 ||
	    (sha != NULL && strcmp(r->art.sha256, sha) != 0)) {
		fprintf(stderr,
			"ivrctl: '%s' (%s, sha256 %.12s) is not the artifact "
			"deployment %s started with (%s, sha256 %.12s)\n",
			oo->artifact, r->art.version, r->art.sha256, r->id, to,
			sha ? sha : "?");
		return false;
	}
	return true;
}

/* Where each host stands; false (said why) when one is on a release
 * that is neither the run's start nor its target. */
static bool
resume_hosts(struct run *r)
{
	for (size_t i = 0; i < r->n; i++) {
		struct hostrun *hr = &r->hosts[i];
		bool on_to = strcmp(hr->current, r->art.version) == 0;
		bool on_from = strcmp(hr->current, r->from) == 0, whole;

		if (!on_to && !on_from) {
			say(r,
			    "%s runs %s, neither %s (where deployment %s "
			    "started) nor %s: it was changed by hand; undo "
			    "with ivrctl rollback",
			    hr->h->name,
			    hr->current[0] ? hr->current : "nothing",
			    r->from[0] ? r->from : "nothing", r->id,
			    r->art.version);
			return false;
		}
		whole = lb_ready(r, hr) && hr->current[0] != '\0' &&
			host_ready(r, hr);
		hr->done = on_to && whole;
		hr->touched = !(on_from && whole);
		say(r, "%s: on %s%s", hr->h->name,
		    hr->current[0] ? hr->current : "nothing",
		    hr->done	  ? ", ready: done"
		    : hr->touched ? ", not whole: to be moved"
				  : "");
	}
	return true;
}

int
deploy_resume(const struct plan *p, const struct agent_bundle *agent,
	      const struct deploy_opts *o)
{
	struct deploy_opts oo = *o;
	struct run r = { 0 };
	char host[256] = "", who[400];
	const char *plan_sha, *from;
	bool had_from;
	json_t *run;
	int rc;

	run_init(&r, p, agent, &oo, "deploy");
	if ((rc = take_lock(&r)) != 0)
		return run_finish(&r, rc);
	if ((run = journal_open_run(r.j.path)) == NULL) {
		fprintf(stderr,
			"ivrctl: the journal '%s' holds no interrupted "
			"deployment: nothing to resume (ivrctl status shows "
			"the fleet)\n",
			r.j.path);
		return run_finish(&r, EXITCODE_BAD_INPUT);
	}
	snprintf(r.id, sizeof(r.id), "%s",
		 json_string_value(json_object_get(run, "id")));
	plan_sha = json_string_value(json_object_get(run, "plan_sha256"));
	if (plan_sha == NULL || strcmp(plan_sha, p->sha256) != 0) {
		fprintf(stderr,
			"ivrctl: the plan changed since deployment %s started "
			"(sha256 %.12s then, %.12s now): resume it with the "
			"plan it ran with, or undo it with ivrctl rollback\n",
			r.id, plan_sha ? plan_sha : "?", p->sha256);
		json_decref(run);
		return run_finish(&r, EXITCODE_BAD_INPUT);
	}
	if (!resume_artifact(&r, &oo, run)) {
		json_decref(run);
		return run_finish(&r, EXITCODE_BAD_INPUT);
	}
	json_array_extend(r.approved, json_object_get(run, "approved"));
	atomic_store(&r.failures, (int)json_integer_value(json_object_get(
					  run, "failed_steps")));
	from = json_string_value(json_object_get(run, "from"));
	had_from = from != NULL;
	snprintf(r.from, sizeof(r.from), "%s", from ? from : "");
	json_decref(run);

	/* The run is open again in the journal until its next end. */
	gethostname(host, sizeof(host) - 1);
	snprintf(who, sizeof(who), "%s@%s", journal_user(), host);
	r.j.started = true;
	snprintf(r.to, sizeof(r.to), "%s", r.art.version);
	record(&r, json_pack("{s:s, s:s, s:s}", "event", "resume", "id", r.id,
			     "operator", who));
	say(&r, "resuming deployment %s: %s to %s (%zu hosts)", r.id,
	    r.art.version, p->environment, p->nhosts);
	if (!open_fleet(&r)) {
		say(&r, "cannot reach the whole fleet: nothing was changed");
		return run_finish(&r, EXITCODE_INCONSISTENT);
	}
	if (!had_from) {
		/* Killed before it read the fleet: it changed nothing. */
		if (!fleet_release(&r, r.from, sizeof(r.from)))
			return run_finish(&r, EXITCODE_INCONSISTENT);
		record(&r, json_pack("{s:s, s:s, s:s}", "event", "from", "id",
				     r.id, "from", r.from));
	}
	say(&r, "from %s to %s", r.from[0] ? r.from : "nothing", r.art.version);
	if (!resume_hosts(&r))
		return run_finish(&r, EXITCODE_INCONSISTENT);
	return run_finish(&r, go_live(&r));
}

/* True when the host's runtime answers ready with its current release. */
static bool
host_ready(struct run *r, struct hostrun *hr)
{
	json_t *res = NULL;
	struct err e;
	bool ready;

	ready = call(hr, r->p, "health.wait",
		     json_pack("{s:s, s:s, s:I, s:i}", "url", hr->health,
			       "expect_version", hr->current, "timeout_ms",
			       (json_int_t)r->p->health_timeout_ms,
			       "deadline_ms", 0),
		     &res, &e) == 0 &&
		json_is_true(json_object_get(res, "ready"));
	json_decref(res);
	return ready;
}

/* The time part of a run id ("d-20261126T061500Z-ab12cd"), which sorts
 * deployments and rollbacks together. */
static const char *
id_time(const char *id)
{
	return (id[0] != '\0' && id[1] == '-') ? id + 2 : id;
}

/* The release every host runs into out; false when they differ or run
 * nothing.  Says nothing. */
static bool
one_release(struct run *r, char *out, size_t size)
{
	out[0] = '\0';
	for (size_t i = 1; i < r->n; i++)
		if (strcmp(r->hosts[i].current, r->hosts[0].current) != 0)
			return false;
	if (r->n == 0 || r->hosts[0].current[0] == '\0')
		return false;
	snprintf(out, size, "%s", r->hosts[0].current);
	return true;
}

/* The release the fleet ran before the deployment that brought its
 * current release: from --to, an unfinished run, the journal or the
 * hosts, in that order. */
static bool
rollback_target(struct run *r, char *out, size_t size)
{
	const struct hostrun *last = NULL;
	json_t *run;

	if (r->o->to != NULL) {
		snprintf(out, size, "%s", r->o->to);
		return true;
	}
	/* This machine's journal knows a deployment it never finished:
	 * undo that one, whatever it had reached. */
	if ((run = journal_open_run(r->j.path)) != NULL) {
		const char *from =
			json_string_value(json_object_get(run, "from"));

		snprintf(out, size, "%s", from ? from : "");
		json_decref(run);
		if (out[0] == '\0') {
			/* Killed before it read the fleet: it changed
			 * nothing, so the fleet's release is the target. */
			if (!fleet_release(r, out, size) || out[0] == '\0')
				return false;
		}
		say(r,
		    "the last deployment here did not finish (interrupted, or "
		    "waiting at a gate): back to %s, "
		    "where it started",
		    out);
		return true;
	}
	/* The journal, when it ends where the whole fleet stands. */
	if (one_release(r, out, size)) {
		char before[65];

		if (journal_release_before(before, sizeof(before), r->j.path,
					   out) == 1) {
			say(r,
			    "the journal: %s came with the last deployment "
			    "that stands; before it the fleet ran %s",
			    out, before);
			snprintf(out, size, "%s", before);
			return true;
		}
	}
	/* The hosts: each one's previous is the release below the
	 * deployment that brought its current one (failed deployments that
	 * were undone leave no trace there).  Ids sort by time: the newest
	 * live deployment is the last one. */
	for (size_t i = 0; i < r->n; i++)
		if (last == NULL || strcmp(id_time(r->hosts[i].deployment_id),
					   id_time(last->deployment_id)) > 0)
			last = &r->hosts[i];
	if (last == NULL || last->previous[0] == '\0') {
		say(r, "the hosts record no release before the last "
		       "deployment: name one with --to");
		return false;
	}
	for (size_t i = 0; i < r->n; i++) {
		const struct hostrun *hr = &r->hosts[i];

		if (strcmp(hr->deployment_id, last->deployment_id) == 0 &&
		    strcmp(hr->previous, last->previous) != 0) {
			say(r,
			    "%s and %s disagree on the release before %s "
			    "(%s, %s): name one with --to",
			    last->h->name, hr->h->name, last->deployment_id,
			    last->previous, hr->previous);
			return false;
		}
	}
	snprintf(out, size, "%s", last->previous);
	return true;
}

/* Whether host i has r->target on disk: hr->failed when it has not. */
static void
check_on_disk(void *ctx, size_t i)
{
	struct run *r = ctx;
	struct hostrun *hr = &r->hosts[i];
	json_t *res = NULL, *rel;
	bool found = false;
	struct err e;
	size_t k;

	if (call(hr, r->p, "releases.list", NULL, &res, &e) < 0) {
		hr->failed = true;
		snprintf(hr->error, sizeof(hr->error), "%s", e.msg);
		return;
	}
	json_array_foreach (json_object_get(res, "releases"), k, rel)
		found = found || strcmp(json_string_value(json_object_get(
						rel, "version")),
					r->target) == 0;
	json_decref(res);
	if (!found) {
		hr->failed = true;
		snprintf(hr->error, sizeof(hr->error),
			 "%s does not have %s on disk: stage it there first "
			 "(ivrctl deploy of that artifact)",
			 hr->h->name, r->target);
	}
}

/* Every host must have target on disk already (asked in parallel). */
static bool
target_on_disk(struct run *r, const char *target)
{
	bool ok = true;

	r->target = target;
	fanout_run(r->n, r->p->parallel, check_on_disk, r);
	for (size_t i = 0; i < r->n; i++) {
		if (r->hosts[i].failed) {
			say(r, "%s", r->hosts[i].error);
			r->hosts[i].failed = false;
			r->hosts[i].error[0] = '\0';
			ok = false;
		}
	}
	return ok;
}

int
deploy_rollback(const struct plan *p, const struct agent_bundle *agent,
		const struct deploy_opts *o)
{
	struct run r = { 0 };
	struct hostrun **list = NULL;
	char target[65];
	size_t n = 0;
	int rc = EXITCODE_INCONSISTENT;

	run_init(&r, p, agent, o, "rollback");
	make_id(r.id, sizeof(r.id), 'r');
	if ((rc = take_lock(&r)) != 0)
		return run_finish(&r, rc);
	rc = EXITCODE_INCONSISTENT;
	if (!open_fleet(&r)) {
		say(&r, "cannot reach the whole fleet: nothing was changed");
		goto out;
	}
	if (!rollback_target(&r, target, sizeof(target)) ||
	    !target_on_disk(&r, target)) {
		rc = EXITCODE_BAD_INPUT;
		goto out;
	}
	say(&r, "rollback %s: %s back to %s", r.id, p->environment, target);
	snprintf(r.from, sizeof(r.from), "%s", r.hosts[0].current);
	journal_start(&r, "rollback", target);
	list = calloc(r.n, sizeof(*list));
	/* Hosts off the target, and hosts an interrupted run left out of
	 * the pool or not ready: all are brought back. */
	for (size_t i = 0; i < r.n; i++)
		if (strcmp(r.hosts[i].current, target) != 0 ||
		    !lb_ready(&r, &r.hosts[i]) || !host_ready(&r, &r.hosts[i]))
			list[n++] = &r.hosts[i];
	r.target = target;
	/* A batch that fails stops the rollback: the hosts not yet moved
	 * go on serving what they run. */
	move_hosts(&r, list, n, plan_max_down(p), 0);
	/* A host of the failed batch that was drained but never switched
	 * goes back to serving what it ran. */
	if (atomic_load(&r.failures) > 0)
		restore_drained(&r);
	rc = atomic_load(&r.failures) == 0 && verify(&r, target)
		     ? 0
		     : EXITCODE_INCONSISTENT;
	say(&r,
	    rc == 0 ? "done: every host on %s and ready"
		    : "ROLLBACK INCOMPLETE: not every host is on %s and "
		      "ready; a human must look",
	    target);
out:
	free(list);
	return run_finish(&r, rc);
}
