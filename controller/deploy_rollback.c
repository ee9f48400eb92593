/*
 * deploy_rollback: `ivrctl rollback` (deploy.h): the target (from --to,
 * the journal or the hosts), checked on disk everywhere, then the fleet
 * moved back within the capacity floor.
 */
#include "deploy.h"
#include "deploy_int.h"

#include <stdlib.h>
#include <string.h>

#include "exitcode.h"
#include "fanout.h"

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
		if (strcmp(r->hosts[i].s.current, r->hosts[0].s.current) != 0)
			return false;
	if (r->n == 0 || r->hosts[0].s.current[0] == '\0')
		return false;
	snprintf(out, size, "%s", r->hosts[0].s.current);
	return true;
}

/* The journal's unfinished deployment, if any, is undone: back to where
 * it started.  Returns 1 with out set, 0 when there is none, -1 when its
 * start cannot be told. */
static int
target_of_open_run(struct run *r, char *out, size_t size)
{
	json_t *run = journal_open_run(&r->j, NULL);
	const char *from;

	if (run == NULL)
		return 0;
	from = json_string_value(json_object_get(run, "from"));
	snprintf(out, size, "%s", from ? from : "");
	json_decref(run);
	/* Killed before it read the fleet: it changed nothing, so the
	 * fleet's release is the target. */
	if (out[0] == '\0' &&
	    (!deploy_fleet_release(r, out, size) || out[0] == '\0'))
		return -1;
	deploy_say(r,
		   "the last deployment here did not finish (interrupted, or "
		   "waiting at a gate): back to %s, where it started",
		   out);
	return 1;
}

/*
 * The hosts' answer: each one's previous is the release below the
 * deployment that brought its current one (failed deployments that were
 * undone leave no trace there).  Ids sort by time: the newest live
 * deployment is the last one, and its hosts must agree.
 */
static bool
target_of_hosts(struct run *r, char *out, size_t size)
{
	const struct hostrun *last = NULL;

	for (size_t i = 0; i < r->n; i++)
		if (last == NULL || strcmp(id_time(r->hosts[i].s.deployment_id),
					   id_time(last->s.deployment_id)) > 0)
			last = &r->hosts[i];
	if (last == NULL || last->s.previous[0] == '\0') {
		deploy_say(r, "the hosts record no release before the last "
			      "deployment: name one with --to");
		return false;
	}
	for (size_t i = 0; i < r->n; i++) {
		const struct hostrun *hr = &r->hosts[i];

		if (strcmp(hr->s.deployment_id, last->s.deployment_id) == 0 &&
		    strcmp(hr->s.previous, last->s.previous) != 0) {
			deploy_say(r,
				   "%s and %s disagree on the release before "
				   "%s (%s, %s): name one with --to",
				   last->h->name, hr->h->name,
				   last->s.deployment_id, last->s.previous,
				   hr->s.previous);
			return false;
		}
	}
	snprintf(out, size, "%s", last->s.previous);
	return true;
}

/* The release the fleet ran before the deployment that brought its
 * current release: from --to, an unfinished run, the journal or the
 * hosts, in that order. */
static bool
rollback_target(struct run *r, char *out, size_t size)
{
	char before[PLAN_RELEASE_MAX];
	int open;

	if (r->o->to != NULL) {
		snprintf(out, size, "%s", r->o->to);
		return true;
	}
	if ((open = target_of_open_run(r, out, size)) != 0)
		return open > 0;
	/* The journal, when it ends where the whole fleet stands. */
	if (one_release(r, out, size) &&
	    journal_release_before(before, sizeof(before), &r->j, out) == 1) {
		deploy_say(r,
			   "the journal: %s came with the last deployment "
			   "that stands; before it the fleet ran %s",
			   out, before);
		snprintf(out, size, "%s", before);
		return true;
	}
	return target_of_hosts(r, out, size);
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

	if (deploy_call(hr, "releases.list", NULL, &res, &e) < 0) {
		hr->failed = true;
		snprintf(hr->error, sizeof(hr->error), "%s", e.msg);
		return;
	}
	json_array_foreach (json_object_get(res, "releases"), k, rel)
		found = found ||
			plan_release_is(r->target, host_str(rel, "version"));
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
			deploy_say(r, "%s", r->hosts[i].error);
			r->hosts[i].failed = false;
			r->hosts[i].error[0] = '\0';
			ok = false;
		}
	}
	return ok;
}

int
deploy_rollback(const struct plan *p, const struct agent_bundle *agent,
		const struct deploy_opts *o, struct err *err)
{
	struct run r = { 0 };
	struct hostrun **list = NULL;
	char target[PLAN_RELEASE_MAX];
	size_t n = 0;
	int rc = EXITCODE_INCONSISTENT;

	deploy_run_init(&r, p, agent, o, "rollback");
	deploy_make_id(r.id, sizeof(r.id), 'r');
	if ((rc = deploy_take_lock(&r, err)) != 0)
		return deploy_run_finish(&r, rc);
	rc = EXITCODE_INCONSISTENT;
	if (!deploy_open_fleet(&r))
		goto out;
	if (!rollback_target(&r, target, sizeof(target)) ||
	    !target_on_disk(&r, target)) {
		rc = EXITCODE_BAD_INPUT;
		goto out;
	}
	deploy_say(&r, "rollback %s: %s back to %s", r.id, p->environment,
		   target);
	snprintf(r.from, sizeof(r.from), "%s", r.hosts[0].s.current);
	deploy_journal_start(&r, "rollback", target);
	list = calloc(r.n, sizeof(*list));
	/* Hosts off the target, and hosts an interrupted run left out of
	 * the pool or not ready: all are brought back. */
	for (size_t i = 0; i < r.n; i++)
		if (strcmp(r.hosts[i].s.current, target) != 0 ||
		    !deploy_lb_ready(&r, &r.hosts[i]) ||
		    !deploy_host_ready(&r, &r.hosts[i]))
			list[n++] = &r.hosts[i];
	r.target = target;
	/* A batch that fails stops the rollback: the hosts not yet moved
	 * go on serving what they run. */
	deploy_move_hosts(&r, list, n, plan_max_down(p), 0);
	/* A host of the failed batch that was drained but never switched
	 * goes back to serving what it ran. */
	if (atomic_load(&r.failures) > 0)
		deploy_restore_drained(&r);
	rc = atomic_load(&r.failures) == 0 && deploy_verify(&r, target)
		     ? 0
		     : EXITCODE_INCONSISTENT;
	deploy_say(&r,
		   rc == 0 ? "done: every host on %s and ready"
			   : "ROLLBACK INCOMPLETE: not every host is on %s and "
			     "ready; a human must look",
		   target);
out:
	free(list);
	return deploy_run_finish(&r, rc);
}
