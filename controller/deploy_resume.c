/*
 * deploy_resume: `ivrctl resume` (deploy.h): the journal's open
 * deployment continued with its id, plan and artifact.
 */
#include "deploy.h"
#include "deploy_int.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exitcode.h"

/* The interrupted run's artifact, checked against what it started with.
 * Returns 0, or ERR_INVAL with err saying why it cannot be used. */
static int
resume_artifact(struct run *r, struct deploy_opts *oo, json_t *run,
		struct err *err)
{
	const char *path = json_string_value(json_object_get(run, "artifact"));
	const char *to = json_string_value(json_object_get(run, "to"));
	const char *sha = json_string_value(json_object_get(run, "sha256"));
	int rc;

	if (oo->artifact == NULL)
		oo->artifact = path;
	if (oo->artifact == NULL || to == NULL)
		return err_set(err, ERR_INVAL,
			       "the journal does not say which artifact "
			       "deployment %s used: name it with --artifact",
			       r->id);
	if ((rc = artifact_read(&r->art, oo->artifact, err)) < 0)
		return rc;
	plan_release(r->release, r->p, r->art.version);
	if (strcmp(r->release, to) != 0 ||
	    (sha != NULL && strcmp(r->art.sha256, sha) != 0))
		return err_set(err, ERR_INVAL,
			       "'%s' (%s, sha256 %.12s) is not the artifact "
			       "deployment %s started with (%s, sha256 %.12s)",
			       oo->artifact, r->release, r->art.sha256, r->id,
			       to, sha ? sha : "?");
	return 0;
}

/* The approvals the journal holds for the run that the plan's access
 * rules accept (starter and id known). */
static void
approvals(struct run *r)
{
	json_t *list = journal_events(&r->j, "approved", "at"), *ev;
	size_t i;

	json_array_foreach (list, i, ev)
		if (deploy_approval_counts(r, NULL, ev))
			json_array_append(r->approved,
					  json_object_get(ev, "phase"));
	json_decref(list);
}

/*
 * The journal's open run, checked: same plan, same artifact.  Fills the
 * run's id, artifact, approvals, failures so far and where it started
 * (*had_from: the run read the fleet before it stopped).  Returns 0,
 * ERR_INVAL with err saying why it cannot be resumed, or ERR_IO when the
 * journal cannot be read.
 */
static int
reopen(struct run *r, struct deploy_opts *oo, bool *had_from, struct err *err)
{
	const char *plan_sha, *from;
	json_t *run;
	int rc = 0;

	if ((run = journal_open_run(&r->j, err)) == NULL && err->code < 0)
		return ERR_IO;
	if (run == NULL)
		return err_set(err, ERR_INVAL,
			       "the journal '%s' holds no interrupted "
			       "deployment: nothing to resume (ivrctl status "
			       "shows the fleet)",
			       journal_where(&r->j));
	snprintf(r->id, sizeof(r->id), "%s",
		 json_string_value(json_object_get(run, "id")));
	plan_sha = json_string_value(json_object_get(run, "plan_sha256"));
	if (plan_sha == NULL || strcmp(plan_sha, r->p->sha256) != 0)
		rc = err_set(err, ERR_INVAL,
			     "the plan changed since deployment %s started "
			     "(sha256 %.12s then, %.12s now): resume it with "
			     "the plan it ran with, or undo it with ivrctl "
			     "rollback",
			     r->id, plan_sha ? plan_sha : "?", r->p->sha256);
	if (rc == 0 && resume_artifact(r, oo, run, err) < 0)
		rc = ERR_INVAL;
	if (rc == 0) {
		journal_run_user(r->starter, sizeof(r->starter), run);
		approvals(r);
		json_array_extend(r->analysed,
				  json_object_get(run, "analysed"));
		atomic_store(&r->failures,
			     (int)json_integer_value(
				     json_object_get(run, "failed_steps")));
		from = json_string_value(json_object_get(run, "from"));
		*had_from = from != NULL;
		snprintf(r->from, sizeof(r->from), "%s", from ? from : "");
	}
	json_decref(run);
	return rc;
}

/* Where each host stands; false (said why) when one is on a release
 * that is neither the run's start nor its target. */
static bool
resume_hosts(struct run *r)
{
	for (size_t i = 0; i < r->n; i++) {
		struct hostrun *hr = &r->hosts[i];
		bool on_to = strcmp(hr->s.current, r->release) == 0;
		bool on_from = strcmp(hr->s.current, r->from) == 0, whole;

		if (!on_to && !on_from) {
			deploy_say(
				r,
				"%s runs %s, neither %s (where deployment %s "
				"started) nor %s: it was changed by hand; undo "
				"with ivrctl rollback",
				hr->h->name,
				hr->s.current[0] ? hr->s.current : "nothing",
				r->from[0] ? r->from : "nothing", r->id,
				r->release);
			return false;
		}
		whole = deploy_lb_ready(r, hr) && hr->s.current[0] != '\0' &&
			deploy_host_ready(r, hr);
		hr->done = on_to && whole;
		hr->touched = !(on_from && whole);
		deploy_say(r, "%s: on %s%s", hr->h->name,
			   hr->s.current[0] ? hr->s.current : "nothing",
			   hr->done	 ? ", ready: done"
			   : hr->touched ? ", not whole: to be moved"
					 : "");
	}
	return true;
}

int
deploy_resume(const struct plan *p, const struct agent_bundle *agent,
	      const struct deploy_opts *o, struct err *err)
{
	struct deploy_opts oo = *o;
	struct run r = { 0 };
	char who[400];
	bool had_from = false;
	int rc;

	deploy_run_init(&r, p, agent, &oo, "deploy");
	if ((rc = deploy_take_lock(&r, err)) != 0)
		return deploy_run_finish(&r, rc);
	if ((rc = reopen(&r, &oo, &had_from, err)) < 0)
		return deploy_run_finish(&r, rc == ERR_IO ? EXITCODE_ERROR
							  : EXITCODE_BAD_INPUT);
	/* The run is open again in the journal until its next end. */
	journal_operator(who, sizeof(who));
	r.j.started = true;
	snprintf(r.to, sizeof(r.to), "%s", r.release);
	deploy_record(&r, json_pack("{s:s, s:s, s:s}", "event", "resume", "id",
				    r.id, "operator", who));
	deploy_say(&r, "resuming deployment %s: %s to %s (%zu hosts)", r.id,
		   r.release, p->environment, p->nhosts);
	if (!deploy_open_fleet(&r))
		return deploy_run_finish(&r, EXITCODE_INCONSISTENT);
	/* Killed before it read the fleet: it changed nothing. */
	if (!had_from) {
		if (!deploy_fleet_release(&r, r.from, sizeof(r.from)))
			return deploy_run_finish(&r, EXITCODE_INCONSISTENT);
		deploy_record(&r, json_pack("{s:s, s:s, s:s}", "event", "from",
					    "id", r.id, "from", r.from));
	}
	deploy_say(&r, "from %s to %s", r.from[0] ? r.from : "nothing",
		   r.release);
	if (!resume_hosts(&r))
		return deploy_run_finish(&r, EXITCODE_INCONSISTENT);
	r.resumed = true;
	if ((rc = deploy_db_check(&r)) >= 0)
		return deploy_run_finish(&r, rc);
	return deploy_run_finish(&r, deploy_go_live(&r));
}
