/*
 * deploy_scale: `ivrctl scale` (deploy.h).  The balancer's pool brought to the
 * plan's inventory: hosts of the plan that are not members are
 * bootstrapped (agent, the fleet's release staged and activated, started,
 * ready for the minimum healthy time, smoke-called) in parallel and only
 * then added (in maintenance, then READY once the balancer's own health
 * check passes); members taken out of the plan (known from the inventory
 * the journal recorded) or named with --remove are drained by calls, taken
 * out of the pool and their runtime stopped, one at a time, within the
 * capacity floor.  Additions come first.  The steps on a host are
 * deploy_pool.c's.
 */
#include "deploy.h"
#include "deploy_int.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exitcode.h"
#include "fanout.h"

/* The pool's member called name, or NULL. */
static json_t *
member_named(const struct scale *sc, const char *name)
{
	size_t i;
	json_t *m;

	json_array_foreach (sc->members, i, m)
		if (strcmp(host_str(m, "name"), name) == 0)
			return m;
	return NULL;
}

static const struct plan_host *
plan_host_named(const struct plan *p, const char *name)
{
	for (size_t i = 0; i < p->nhosts; i++)
		if (strcmp(p->hosts[i].name, name) == 0)
			return &p->hosts[i];
	return NULL;
}

static void
open_one(void *ctx, size_t i)
{
	struct scale *sc = ctx;
	struct run *r = sc->r;
	struct hostrun *hr = &r->hosts[i];
	struct err e;

	if (member_named(sc, hr->h->member) == NULL)
		return; /* bootstrapped later */
	if (host_open(&hr->s, r->p, hr->h, r->p->agent_root, r->agent, 0, &e) <
	    0) {
		hr->failed = true;
		snprintf(hr->error, sizeof(hr->error), "%s", e.msg);
	}
}

/* Sessions with the members of the pool the plan lists; their common
 * release into r->from.  -1 to go on, else an exit code. */
static int
read_members(struct scale *sc)
{
	struct run *r = sc->r;
	struct hostrun *first = NULL;

	fanout_run(r->n, r->p->parallel, open_one, sc);
	for (size_t i = 0; i < r->n; i++) {
		struct hostrun *hr = &r->hosts[i];

		if (hr->failed) {
			deploy_say(r, "%s: %s", hr->h->name, hr->error);
			deploy_say(r, "cannot reach every member of the pool: "
				      "nothing was changed");
			return EXITCODE_INCONSISTENT;
		}
		if (hr->s.c == NULL) {
			sc->add[sc->nadd++] = hr;
			continue;
		}
		sc->existing++;
		if (first != NULL &&
		    strcmp(first->s.current, hr->s.current) != 0) {
			deploy_say(r,
				   "the pool is not consistent: %s runs %s, %s "
				   "runs %s; finish the last deployment first",
				   first->h->name, first->s.current,
				   hr->h->name, hr->s.current);
			return EXITCODE_INCONSISTENT;
		}
		first = first ? first : hr;
	}
	if (first == NULL || first->s.current[0] == '\0') {
		deploy_say(r, "no host of the plan serves in the pool yet: "
			      "deploy the fleet first (ivrctl deploy)");
		return EXITCODE_INCONSISTENT;
	}
	snprintf(r->from, sizeof(r->from), "%s", first->s.current);
	snprintf(r->to, sizeof(r->to), "%s", first->s.current);
	r->target = r->from;
	deploy_record(r, json_pack("{s:s, s:s, s:s}", "event", "from", "id",
				   r->id, "from", r->from));
	return -1;
}

/* A member the plan no longer lists, as the recorded inventory has it. */
static void
add_gone(struct scale *sc, const json_t *rec)
{
	struct plan_host *h = &sc->gone_h[sc->ngone];
	struct hostrun *hr = &sc->gone[sc->ngone++];

	*h = (struct plan_host){
		.name = strdup(host_str(rec, "name")),
		.address = strdup(host_str(rec, "address")),
		.port = (int)json_integer_value(json_object_get(rec, "port")),
		.user = strdup(host_str(rec, "user")),
		.member = strdup(host_str(rec, "member")),
	};
	hr->h = h;
	sc->out[sc->nout++] = hr;
}

/* --remove NAME: a plan host, or one the recorded inventory has. */
static int
named_removal(struct scale *sc, const char *name)
{
	struct run *r = sc->r;
	const struct plan_host *h = plan_host_named(r->p, name);
	size_t i;
	json_t *rec;

	for (size_t k = 0; k < sc->nout; k++)
		if (strcmp(sc->out[k]->h->name, name) == 0)
			return -1; /* named twice */
	if (h != NULL && member_named(sc, h->member) != NULL) {
		sc->out[sc->nout++] = &r->hosts[h - r->p->hosts];
		return -1;
	}
	json_array_foreach (sc->recorded, i, rec)
		if (h == NULL && strcmp(host_str(rec, "name"), name) == 0 &&
		    member_named(sc, host_str(rec, "member")) != NULL) {
			add_gone(sc, rec);
			return -1;
		}
	deploy_say(r, "--remove %s: no such member in the pool", name);
	return EXITCODE_BAD_INPUT;
}

/* What leaves: --remove's hosts, and members of the recorded inventory
 * that the plan lost.  Other members are said and left alone. */
static int
find_removals(struct scale *sc)
{
	const struct plan *p = sc->r->p;
	size_t i;
	json_t *m, *rec;
	int rc;

	for (size_t k = 0; k < sc->r->o->nremove; k++)
		if ((rc = named_removal(sc, sc->r->o->remove[k])) >= 0)
			return rc;
	json_array_foreach (sc->recorded, i, rec) {
		const char *name = host_str(rec, "name");
		bool named = false;

		for (size_t k = 0; k < sc->nout; k++)
			named = named || strcmp(sc->out[k]->h->name, name) == 0;
		if (!named && plan_host_named(p, name) == NULL &&
		    member_named(sc, host_str(rec, "member")) != NULL)
			add_gone(sc, rec);
	}
	json_array_foreach (sc->members, i, m) {
		bool known = false;

		for (size_t k = 0; k < p->nhosts; k++)
			known = known || strcmp(p->hosts[k].member,
						host_str(m, "name")) == 0;
		for (size_t k = 0; k < sc->ngone; k++)
			known = known || strcmp(sc->gone_h[k].member,
						host_str(m, "name")) == 0;
		if (!known)
			deploy_say(
				sc->r,
				"member %s is neither in the plan nor in the "
				"inventory the journal recorded: left alone",
				host_str(m, "name"));
	}
	return -1;
}

/* The balancer's session and its pool; the plan's members read; what
 * to add and remove.  -1 to go on, else an exit code. */
static int
read_pool(struct scale *sc)
{
	struct run *r = sc->r;
	const struct plan *p = r->p;
	json_t *res = NULL, *last;
	struct err e;
	int rc;

	r->n = p->nhosts;
	r->hosts = calloc(r->n, sizeof(*r->hosts));
	r->batch = calloc(r->n, sizeof(*r->batch));
	for (size_t i = 0; i < r->n; i++)
		r->hosts[i].h = &p->hosts[i];
	r->has_lb = true;
	host_balancer(&r->lb_host, p);
	r->lb.h = &r->lb_host;
	if (host_open(&r->lb.s, p, r->lb.h, p->lb.agent_root, r->agent, 0, &e) <
		    0 ||
	    deploy_lb_call(r, "lb.members", deploy_pool_params(r, NULL), &res,
			   &e) < 0) {
		deploy_say(r, "load balancer: %s: nothing was changed", e.msg);
		return EXITCODE_INCONSISTENT;
	}
	sc->members = json_incref(json_object_get(res, "members"));
	json_decref(res);
	last = journal_events(&r->j, "inventory", "event");
	sc->recorded =
		json_incref(json_object_get(json_array_get(last, 0), "hosts"));
	json_decref(last);
	if (!json_is_array(sc->recorded)) {
		json_decref(sc->recorded);
		sc->recorded = json_array();
	}
	sc->add = calloc(r->n, sizeof(*sc->add));
	sc->out = calloc(r->n + json_array_size(sc->recorded) + 1,
			 sizeof(*sc->out));
	sc->gone = calloc(json_array_size(sc->recorded) + 1, sizeof(*sc->gone));
	sc->gone_h =
		calloc(json_array_size(sc->recorded) + 1, sizeof(*sc->gone_h));
	if (sc->add == NULL || sc->out == NULL || sc->gone == NULL ||
	    sc->gone_h == NULL)
		return EXITCODE_ERROR;
	if ((rc = read_members(sc)) >= 0)
		return rc;
	return find_removals(sc);
}

/* Names of n hosts, comma-separated, into out. */
static const char *
names(char *out, size_t size, struct hostrun **list, size_t n)
{
	size_t len = 0;

	out[0] = '\0';
	for (size_t i = 0; i < n && len < size; i++)
		len += (size_t)snprintf(out + len, size - len, "%s%s",
					i ? ", " : "", list[i]->h->name);
	return n ? out : "none";
}

/* Managed members that serve now (READY, the balancer's check
 * passing); *leaving: how many of them are to go. */
static size_t
serving(struct scale *sc, size_t *leaving)
{
	size_t count = 0;

	*leaving = 0;
	for (size_t i = 0; i < sc->r->n; i++)
		if (sc->r->hosts[i].s.c != NULL &&
		    deploy_lb_serving(sc->r, &sc->r->hosts[i]))
			count++;
	for (size_t k = 0; k < sc->ngone; k++)
		if (deploy_lb_serving(sc->r, &sc->gone[k]))
			count++;
	for (size_t k = 0; k < sc->nout; k++)
		if (deploy_lb_serving(sc->r, sc->out[k]))
			(*leaving)++;
	return count;
}

/* The capacity floor: may the removals go, with `assume` more hosts
 * serving (those still to be added)?  True, or false (said). */
static bool
floor_holds(struct scale *sc, size_t assume)
{
	struct run *r = sc->r;
	size_t leaving, up = serving(sc, &leaving) + assume;
	size_t pool = sc->existing + sc->ngone + sc->added + assume;
	size_t keep = (pool * (size_t)r->p->capacity_floor_percent + 99) / 100;

	if (up > leaving && up - leaving >= keep)
		return true;
	deploy_say(r,
		   "capacity floor: %zu of %zu member(s) would serve and %zu "
		   "would leave; the floor (%d%%) keeps %zu: nothing is "
		   "removed",
		   up, pool, leaving, r->p->capacity_floor_percent, keep);
	return false;
}

/* Says what will change; asks before removals.  -1 to go on, else an
 * exit code. */
static int
confirm(struct scale *sc)
{
	struct run *r = sc->r;
	char a[2048], b[2048], q[2200];
	json_t *add = json_array(), *out = json_array();

	if (sc->nadd == 0 && sc->nout == 0) {
		deploy_say(r,
			   "the pool matches the plan: %zu member(s) on %s, "
			   "nothing to do",
			   sc->existing, r->from);
		json_decref(add);
		json_decref(out);
		return EXITCODE_DONE;
	}
	deploy_say(r, "scale %s: %zu member(s) on %s; adding: %s; removing: %s",
		   r->p->environment, sc->existing + sc->ngone, r->from,
		   names(a, sizeof(a), sc->add, sc->nadd),
		   names(b, sizeof(b), sc->out, sc->nout));
	for (size_t i = 0; i < sc->nadd; i++)
		json_array_append_new(add, json_string(sc->add[i]->h->name));
	for (size_t i = 0; i < sc->nout; i++)
		json_array_append_new(out, json_string(sc->out[i]->h->name));
	deploy_record(r, json_pack("{s:s, s:s, s:o, s:o}", "event", "scale",
				   "id", r->id, "add", add, "remove", out));
	if (sc->nout > 0 && !r->o->yes) {
		if (!isatty(STDIN_FILENO)) {
			deploy_say(r, "taking members out of the pool needs "
				      "--yes (or a terminal to ask): nothing "
				      "was changed");
			return EXITCODE_BAD_INPUT;
		}
		snprintf(q, sizeof(q), "Take %s out of the pool?", b);
		if (!deploy_ask(r, q)) {
			deploy_say(r, "not confirmed: nothing was changed");
			return EXITCODE_BAD_INPUT;
		}
	}
	return sc->nout > 0 && !floor_holds(sc, sc->nadd) ? EXITCODE_BAD_INPUT
							  : -1;
}

/* Whether hr stays in the pool after the run. */
static bool
stays(const struct scale *sc, const struct hostrun *hr)
{
	for (size_t k = 0; k < sc->nout; k++)
		if (sc->out[k] == hr)
			return !hr->done;
	return hr->s.c != NULL && !hr->failed;
}

/* Every member that stays: on the release, ready, READY?  The pool's
 * managed hosts go to the journal. */
static bool
verify_pool(struct scale *sc)
{
	struct run *r = sc->r;
	json_t *inventory = json_array();
	bool ok = true;
	struct err e;

	for (size_t i = 0; i < r->n; i++) {
		struct hostrun *hr = &r->hosts[i];

		if (!stays(sc, hr))
			continue;
		json_array_append_new(inventory, deploy_host_json(hr->h));
		if (host_hello(&hr->s, true, &e) < 0 || !hr->s.ready ||
		    strcmp(hr->s.current, r->from) != 0 ||
		    !deploy_lb_ready(r, hr)) {
			deploy_say(r, "%s: not on %s, ready and READY",
				   hr->h->name, r->from);
			ok = false;
		}
	}
	for (size_t k = 0; k < sc->ngone; k++)
		if (stays(sc, &sc->gone[k]))
			json_array_append_new(inventory,
					      deploy_host_json(sc->gone[k].h));
	deploy_record_inventory(r, inventory);
	return ok;
}

static int
scale_run(struct scale *sc)
{
	struct run *r = sc->r;
	bool removed = true, added;
	int rc;

	if ((rc = read_pool(sc)) >= 0 || (rc = deploy_scale_can_add(sc)) >= 0 ||
	    (rc = confirm(sc)) >= 0)
		return rc;
	if (sc->nadd > 0 && !deploy_safe_point(r))
		return EXITCODE_INCONSISTENT;
	fanout_run(sc->nadd, r->p->parallel, deploy_scale_add_one, sc);
	added = atomic_load(&sc->added) == sc->nadd;
	if (sc->nout > 0 && !added && !floor_holds(sc, 0))
		sc->nout = 0;
	else if (sc->nout > 0)
		removed = deploy_scale_remove(sc);
	if (!verify_pool(sc) || !removed || atomic_load(&sc->stuck) > 0) {
		deploy_say(r, "FINISHED INCONSISTENT: the pool is not as the "
			      "plan says; a human must look");
		return EXITCODE_INCONSISTENT;
	}
	deploy_say(
		r, "%s: %zu member(s) in the pool, every one on %s and ready",
		added ? "done" : "NOT every host was added",
		sc->existing + atomic_load(&sc->added) - sc->nout + sc->ngone,
		r->from);
	return added ? EXITCODE_DONE : EXITCODE_ROLLED_BACK;
}

static void
scale_free(struct scale *sc)
{
	for (size_t k = 0; k < sc->ngone; k++) {
		host_close(&sc->gone[k].s);
		free(sc->gone_h[k].name);
		free(sc->gone_h[k].address);
		free(sc->gone_h[k].user);
		free(sc->gone_h[k].member);
	}
	free(sc->add);
	free(sc->out);
	free(sc->gone);
	free(sc->gone_h);
	json_decref(sc->members);
	json_decref(sc->recorded);
}

int
deploy_scale(const struct plan *p, const struct agent_bundle *agent,
	     const struct deploy_opts *o, struct err *err)
{
	struct run r = { 0 };
	struct scale sc = { .r = &r };
	json_t *open;
	int rc;

	if (p->lb.kind == PLAN_LB_NONE) {
		err_set(err, ERR_INVAL,
			"scale changes the load balancer's pool, and the plan "
			"has no load_balancer");
		return EXITCODE_BAD_INPUT;
	}
	deploy_run_init(&r, p, agent, o, "scale");
	if (o->artifact != NULL && artifact_read(&r.art, o->artifact, err) < 0)
		return deploy_run_finish(&r, EXITCODE_BAD_INPUT);
	deploy_make_id(r.id, sizeof(r.id), 's');
	if ((rc = deploy_take_lock(&r, err)) != 0)
		return deploy_run_finish(&r, rc);
	if ((open = journal_open_run(&r.j, NULL)) != NULL) {
		err_set(err, ERR_BADSTATE,
			"deployment %s is not finished: resume it or roll it "
			"back before scaling",
			host_str(open, "id"));
		json_decref(open);
		return deploy_run_finish(&r, EXITCODE_INCONSISTENT);
	}
	deploy_journal_start(&r, "scale", "");
	rc = scale_run(&sc);
	scale_free(&sc);
	return deploy_run_finish(&r, rc);
}
