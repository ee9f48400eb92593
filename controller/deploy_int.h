/*
 * deploy_int: what the files of the deploy module share (not for use
 * outside it).  A run (a deployment, its resume, a rollback) is one
 * struct run, read and written by:
 *
 *   deploy_events.c    the run's events: terminal lines, JSON lines, the
 *                      journal, the lock, the operator's answer at a gate
 *   deploy_batch.c     the batch executor: sessions with the fleet, the
 *                      per-host steps (drain, swap, readiness, READY), the
 *                      waits and the capacity floor, staging, verification
 *   deploy.c           the orchestration of a deployment: preflight,
 *                      pre-staging, phases and gates, automatic rollback
 *   deploy_analysis.c  a phase's soak with canary analysis
 *   deploy_resume.c    `ivrctl resume`
 *   deploy_rollback.c  `ivrctl rollback`: its target, then the batches
 *
 * Threads: the batch executor moves the hosts of a batch in parallel.  A
 * host's session is used only by the thread moving it; the balancer's
 * session is shared under lb_lock; lines on the output are written under
 * out_lock; the journal writes each event whole with one write(2).
 */
#ifndef IVR_CONTROLLER_DEPLOY_INT_H
#define IVR_CONTROLLER_DEPLOY_INT_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "artifact.h"
#include "bank.h"
#include "host.h"
#include "journal.h"
#include "notify.h"

struct deploy_opts; /* deploy.h */

/* One host (or the balancer host) for the whole run. */
struct hostrun {
	const struct plan_host *h;
	struct host_session s;
	bool touched;  /* changed by this run (or the run it resumes) */
	bool drained;  /* its member was set to DRAIN by this run */
	bool unserved; /* set to MAINT by this run and not READY since: no
			  call can be on it */
	bool done;     /* resume: already on the target, ready, READY */
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
	char from[PLAN_RELEASE_MAX], id[64], to[PLAN_RELEASE_MAX];
	char release[PLAN_RELEASE_MAX]; /* deploy: the artifact with the plan's
					   settings */
	const char *kind; /* "deploy" or "rollback" once started */
	atomic_int failures;
	struct journal j;
	/* the batch being moved */
	struct hostrun **batch;
	const char *target;
	bool rollback;
	json_t *approved;    /* phases whose gate passed, journal included */
	json_t *analysed;    /* phases whose analysis passed or was accepted */
	const char *waiting; /* the phase whose gate stopped the run */
	bool stopped;	     /* stopped at a safe point: the lock was lost */
	char starter[64];    /* the account that started the run */
	bool denied;	     /* refused by the plan's access rules */
	bool resumed;	     /* a resume of an interrupted deployment */
	struct notifier *notify; /* the plan's webhooks, or NULL */
	/* the database step (deploy_db.c) */
	struct bank *db;
	struct bank_migrations mig;
};

/* deploy_events.c */

/* A progress line (a "message" event with --output json). */
void deploy_say(struct run *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* An event (stolen; NULL is ignored) for the journal, and for the output
 * with --output json. */
void deploy_record(struct run *r, json_t *ev);

/* A webhook notification (one of plan_notify_events) with fields (an
 * object, stolen; NULL: none), the run's id, kind, from and to added. */
void deploy_notify(struct run *r, const char *event, json_t *fields);

/* A new run id, "<kind>-<UTC time>-<6 hex>", into out. */
void deploy_make_id(char *out, size_t size, char kind);

/* A host step in the journal: before it starts (e NULL), and how it
 * ended (e: its error, or NULL). */
void deploy_step_event(struct run *r, struct hostrun *hr, const char *step,
		       const struct err *e);

/* Opens the journal, checks the plan's access rules for the run and
 * takes the environment's lock.  Returns 0, or the exit code to stop with
 * (EXITCODE_DENIED: the refusal is journaled) and err saying why. */
int deploy_take_lock(struct run *r, struct err *err);

/*
 * A safe point (before a batch touches a host): false, said and journaled
 * once, when the environment's lock is no longer surely held; the run
 * must then stop without touching another host (r->stopped).
 */
bool deploy_safe_point(struct run *r);

/* The run's start in the journal (kind, to, who, plan, artifact). */
void deploy_journal_start(struct run *r, const char *kind, const char *to);

/* The run's end in the journal, the lock released, and the summary. */
void deploy_journal_end(struct run *r, int code);

/* A host of the inventory as the journal keeps it (a new object). */
json_t *deploy_host_json(const struct plan_host *h);

/* The pool's managed hosts (a list of deploy_host_json, stolen) in the
 * journal as an "inventory" event, unless it is the one already there:
 * `ivrctl scale` reaches a host taken out of the plan by it. */
void deploy_record_inventory(struct run *r, json_t *hosts);

/* Asks the operator at the terminal a yes-or-no question. */
bool deploy_ask(struct run *r, const char *question);

/* deploy_batch.c */

/* An agent call on hr's session; result may be NULL. */
int deploy_call(struct hostrun *hr, const char *method, json_t *params,
		json_t **result, struct err *err);

/* Sessions with every host and the balancer; false (said for each, and
 * that nothing was changed) when one cannot be opened. */
bool deploy_open_fleet(struct run *r);

/* Closes every session and frees the run's host lists. */
void deploy_close_fleet(struct run *r);

/* Sets hr's member to state through the balancer (none: nothing). */
int deploy_lb_set(struct run *r, struct hostrun *hr, const char *state,
		  struct err *err);

/* True when hr's member is READY (or there is no balancer). */
bool deploy_lb_ready(struct run *r, struct hostrun *hr);

/* deploy_lb_ready, and the balancer's health check passes. */
bool deploy_lb_serving(struct run *r, struct hostrun *hr);

/* A call to the balancer's agent (one at a time across threads). */
int deploy_lb_call(struct run *r, const char *method, json_t *params,
		   json_t **result, struct err *err);

/* The service.* params of the plan (a new object). */
json_t *deploy_service_params(const struct plan *p);

/* Waits for hr's calls to end, up to the drain deadline (a forced cut
 * is said). */
int deploy_wait_calls(struct run *r, struct hostrun *hr, struct err *err);

/* hr ready with release target within the health deadline, then for the
 * minimum healthy time. */
int deploy_wait_ready(struct run *r, struct hostrun *hr, const char *target,
		      struct err *err);

/* Uploads the artifact to hr unless it has it, and stages it. */
int deploy_stage_host(struct run *r, struct hostrun *hr, struct err *err);

/* True when hr's runtime answers ready with its current release. */
bool deploy_host_ready(struct run *r, struct hostrun *hr);

/* Uploads the artifact where missing and stages it on every host, in
 * parallel; each host's failure is in its hostrun. */
void deploy_stage_all(struct run *r);

/* Says which certificates the run ships (runtime.tls) expire within the
 * plan's tls.expiry_warning: a warning, the run goes on. */
void deploy_tls_warn(struct run *r);

/*
 * Moves n hosts of list to r->target, batch by batch of at most `batch`
 * within the capacity floor, stopping after a batch that takes the
 * failures past budget.  Returns false when it stopped.
 */
bool deploy_move_hosts(struct run *r, struct hostrun **list, size_t n,
		       size_t batch, int budget);

/* Reads every host again: all on want, ready, READY?  Says what differs. */
bool deploy_verify(struct run *r, const char *want);

/* Members drained but never swapped go back to READY; returns how many
 * could not. */
int deploy_restore_drained(struct run *r);

/* The release every host runs ("" on a fresh fleet) into out; false
 * (said why) when they differ. */
bool deploy_fleet_release(struct run *r, char *out, size_t size);

/* deploy.c: whether this operator may pass a gate or accept an analysis
 * of the run: an approver under the plan's access rules, and not the
 * run's own operator where distinct_approver says so; says why not when
 * asked. */
bool deploy_may_approve(struct run *r, const struct plan_phase *ph, bool asked);

/* deploy.c: whether the journal's approval ev (an "approved" event)
 * passes phase (NULL: any) of this run under the plan's access rules. */
bool deploy_approval_counts(struct run *r, const char *phase, json_t *ev);

/* deploy_analysis.c */

enum soak {
	SOAK_PASSED,
	SOAK_FAILED,
	SOAK_WAIT
};

/*
 * Phase ph's pause with its checks: SOAK_PASSED, SOAK_FAILED (roll
 * back) or SOAK_WAIT (inconclusive, and a human must decide: stopped).
 * again: a resume's second analysis of a phase already moved, which
 * --approve PHASE accepts without running it.
 */
enum soak deploy_soak(struct run *r, const struct plan_phase *ph, bool again);

/*
 * The plan's smoke call on hr (ready, not yet READY) through its agent:
 * 0, or an error naming the host and why.  Nothing without `smoke:`, and
 * nothing in a rollback (an on-call rollback must not hang on it).
 */
int deploy_smoke(struct run *r, struct hostrun *hr, struct err *err);

/* deploy_db.c */

/*
 * Before anything is staged: the release's migrations against the
 * database (checksums; a pending contract migration is refused unless
 * --defer-contract, or a resume).  -1 to go on, else an exit code.
 */
int deploy_db_check(struct run *r);

/*
 * After pre-staging, before the first host swaps: the backup, then the
 * pending expand migrations in one transaction with the run's id.  -1 to
 * go on, else an exit code (nothing serving was changed).
 */
int deploy_db_step(struct run *r);

/* Backs the database up as the run's id and journals it; an exit code
 * or -1. */
int deploy_db_backup(struct run *r);

/* Sets a run up; undo with deploy_run_finish. */
void deploy_run_init(struct run *r, const struct plan *p,
		     const struct agent_bundle *agent,
		     const struct deploy_opts *o, const char *kind);

/* Ends the run with code (journal, summary, sessions closed); returns
 * code. */
int deploy_run_finish(struct run *r, int code);

/* Pre-stages everywhere, runs the phases, then rolls back or verifies;
 * returns the exit code. */
int deploy_go_live(struct run *r);

/* deploy_scale.c, deploy_pool.c: `ivrctl scale` */

/* A scale run: the pool as read, and what changes. */
struct scale {
	struct run *r;
	json_t *members;      /* the pool, as lb.members lists it */
	json_t *recorded;     /* the inventory the journal last recorded */
	struct hostrun **add; /* plan hosts to bootstrap and add */
	size_t nadd;
	struct hostrun **out; /* members to take out, in order */
	size_t nout;
	struct hostrun *gone; /* members the plan no longer lists */
	struct plan_host *gone_h;
	size_t ngone;
	size_t existing;     /* plan hosts in the pool */
	atomic_size_t added; /* hosts this run added */
	atomic_int stuck;    /* failed, and could not be undone */
};

/* The lb.* params that change h's membership, or (h NULL) that list
 * the pool (a new object). */
json_t *deploy_pool_params(const struct run *r, const struct plan_host *h);

/* Whether the new hosts can be added: the artifact is the pool's
 * release, the balancer's server line is known.  -1 to go on, else an
 * exit code (said). */
int deploy_scale_can_add(struct scale *sc);

/* Bootstraps and adds sc->add[i] (a fanout_fn); a failure is undone and
 * said. */
void deploy_scale_add_one(void *ctx, size_t i);

/* Whether every host of the run is a member of the balancer's pool
 * (or there is no balancer); says which are not. */
bool deploy_pool_holds_all(struct run *r);

/* Takes sc->out's members out, one at a time; stops at the first that
 * fails (said) and returns false. */
bool deploy_scale_remove(struct scale *sc);

#endif
