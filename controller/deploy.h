/*
 * deploy: the phased go-live of a release on a plan's fleet, its automatic
 * rollback, and the one-command fleet rollback.
 *
 * A deployment connects to every host (agents bootstrapped), checks the
 * fleet is consistent and the balancer answers, pre-stages the artifact
 * everywhere, then moves hosts phase by phase and batch by batch: DRAIN,
 * wait for the host's calls to end (or the drain deadline: a forced cut is
 * reported), MAINT, activate, restart, wait for readiness with the new
 * version, stay ready for the minimum healthy time, READY.  When failures
 * pass the budget, every host it touched goes back, in parallel, to the
 * release the fleet ran before, and its member is restored.
 *
 * Approval gates pass with --yes, --approve PHASE or an operator's "y" at
 * a terminal; an operator's "no" rolls the deployment back; without a
 * terminal the run stops at the gate (outcome "waiting", exit 3) and
 * `ivrctl resume` continues it.  The capacity floor holds throughout: a
 * batch that would leave too few members READY is made smaller, or waits
 * (up to the health deadline) for the pool to come back.
 *
 * Each returns an exit code (exitcode.h).  A run refused before it starts
 * (bad input, the lock held, the journal unusable) fills err; what
 * happens once it runs goes to o->out as progress lines or JSON events.
 *
 * With --output json, every line on out is one JSON object: the journal's
 * events (start, from, step, end), the progress messages ("message"), and
 * last a "summary" (id, kind, from, to, outcome, exit code, duration, each
 * host's release and error).
 *
 * Each run takes the environment's lock and writes the journal: its
 * start (id, plan hash, operator, from, to), every host step before it
 * starts and after it ends, and its outcome.
 */
#ifndef IVR_CONTROLLER_DEPLOY_H
#define IVR_CONTROLLER_DEPLOY_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "buf.h"

struct agent_bundle; /* host.h */
struct err;
struct plan;

struct deploy_opts {
	const char *artifact; /* deploy: the release to roll out */
	const char *to;	      /* rollback: the release, or NULL: previous */
	bool yes;	      /* approval gates pass without asking */
	const char **approve; /* --approve PHASE: these gates pass */
	size_t napprove;
	const char **remove; /* scale: --remove HOST: these leave the pool */
	size_t nremove;
	bool break_lock;	   /* remove a lock left by a dead process */
	bool defer_contract;	   /* deploy a release whose contract
				      migrations wait for `ivrctl db contract` */
	const char *backup;	   /* db restore: the backup's id */
	const char *source;	   /* db migrate: the old system's database */
	bool replace;		   /* db migrate: live accounts may go */
	bool restart;		   /* db migrate: the staging schema anew */
	bool json;		   /* --output json: one JSON object per line */
	const char *promoted_from; /* promote: staging's environment */
	FILE *out;		   /* progress lines or JSON events */
};

/* `ivrctl deploy`: returns the exit code. */
int deploy_run(const struct plan *p, const struct agent_bundle *agent,
	       const struct deploy_opts *o, struct err *err);

/*
 * `ivrctl resume`: continues the journal's interrupted deployment (killed,
 * or stopped at an approval gate) with the same id, plan and artifact:
 * hosts already on its release, ready and READY are left alone, the
 * others are moved phase by phase; on failure past the budget every host
 * either run touched goes back.  Returns the exit code.
 */
int deploy_resume(const struct plan *p, const struct agent_bundle *agent,
		  const struct deploy_opts *o, struct err *err);

/*
 * `ivrctl db contract`: once every host runs the artifact's release, backs
 * the database up and applies the release's pending contract migrations
 * (journaled, under the environment's lock).  Returns the exit code.
 */
int deploy_db_contract(const struct plan *p, const struct agent_bundle *agent,
		       const struct deploy_opts *o, struct err *err);

/*
 * `ivrctl db restore --backup ID`: restores a backup of the plan's
 * database (its sha256 checked against the journal), after the operator
 * confirms (or --yes); journaled, under the lock.  Returns the exit code.
 */
int deploy_db_restore(const struct plan *p, const struct agent_bundle *agent,
		      const struct deploy_opts *o, struct err *err);

/*
 * `ivrctl db status`: into *out (a new object) the migrations applied
 * (when, by which deployment), those of artifact (may be NULL) still
 * pending, and the backups the journal records (each "present" or not).
 * Returns the exit code (err set when not 0).
 */
int deploy_db_status(json_t **out, const struct plan *p, const char *artifact,
		     struct err *err);

/* deploy_db_status's object as text, appended to b.  0 or b's error. */
int deploy_db_status_format(struct buf *b, const json_t *st,
			    const char *artifact, struct err *err);

/*
 * `ivrctl db migrate --from SOURCE`: the old IVR system's customers,
 * accounts and transactions into the plan's PostgreSQL bank (legacy.h):
 * copied into a staging schema (resumable), checked, and only when every
 * check passes backed up and swapped in, in one transaction.  The report
 * goes to the output and the journal.  Returns the exit code: 0 imported
 * (or already), 1 a check failed or the copy stopped (nothing live
 * changed), 2 bad input.
 */
int deploy_db_migrate(const struct plan *p, const struct agent_bundle *agent,
		      const struct deploy_opts *o, struct err *err);

/*
 * `ivrctl scale`: the balancer's pool brought to the plan's inventory.
 * Hosts of the plan that are not members are bootstrapped with the
 * pool's release (o->artifact, which must be it), made ready and
 * smoke-called, and only then added; members the plan no longer lists
 * (from the inventory the journal recorded) or named in o->remove are
 * drained by calls, taken out (refused when the capacity floor would
 * break; asked, or --yes) and stopped.  Returns the exit code: 0 done, 1
 * a new host failed and was not added, 2 refused, 3 inconsistent.
 */
int deploy_scale(const struct plan *p, const struct agent_bundle *agent,
		 const struct deploy_opts *o, struct err *err);

/* `ivrctl rollback`: returns the exit code. */
int deploy_rollback(const struct plan *p, const struct agent_bundle *agent,
		    const struct deploy_opts *o, struct err *err);

#endif
