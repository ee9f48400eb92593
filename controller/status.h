/*
 * status: what every host of a plan runs, read from the hosts themselves
 * (their agents' hello and state.json) and the balancer, in parallel.
 * Nothing is changed on any host, except that a missing or outdated agent
 * is uploaded.
 */
#ifndef IVR_CONTROLLER_STATUS_H
#define IVR_CONTROLLER_STATUS_H

#include <jansson.h>
#include <stdbool.h>

#include "buf.h"
#include "host.h"
#include "plan.h"

struct host_status {
	const struct plan_host *host; /* borrowed from the plan */
	bool reachable;
	bool healthy;
	bool running;
	bool agent_uploaded;
	char current[PLAN_RELEASE_MAX];
	char previous[PLAN_RELEASE_MAX];
	char deployment_id[129];
	char pool_state[16]; /* "ready", "drain", "maint", "" unknown */
	long long sessions;  /* -1 unknown */
	int pool_up;	     /* the balancer's health check: 1, 0, -1 unknown */
	char error[512];     /* why the host could not be read */
	char not_ready[128]; /* why its runtime is not ready, as probed */
	char cert_expires[32]; /* https: its runtime's certificate, or "" */
};

struct fleet_status {
	struct host_status *hosts;
	size_t n;
	/* Every host reachable, on one release, its runtime ready, and (with
	 * a balancer) READY and up in the pool; otherwise why_not says why. */
	bool consistent;
	char release[PLAN_RELEASE_MAX]; /* the one release live everywhere, or
					   "" */
	char why_not[256];
	char lb_error[512];
	/* members of the balancer's pool no host of the plan is, comma-
	 * separated ("" none): the pool is not as the plan says */
	char unlisted[512];
};

/*
 * Reads every host of p (and the balancer's view of each).  Never fails
 * as a whole: an unreachable host is recorded with its error and makes the
 * fleet not consistent.  Release out with status_release.
 */
void status_collect(struct fleet_status *out, const struct plan *p,
		    const struct agent_bundle *agent);

void status_release(struct fleet_status *s);

/* The JSON object of `ivrctl status --output json` (new reference). */
json_t *status_json(const struct fleet_status *s, const struct plan *p);

/* The readable table, appended to out.  Returns 0 or out's error. */
int status_format(struct buf *out, const struct fleet_status *s,
		  const struct plan *p, struct err *err);

/*
 * Every reason the fleet cannot serve as the source of a promotion, one
 * line each, appended to out: the balancer unreadable, each host
 * unreachable, not ready or not READY, and the fleet not on one release;
 * lines start with who ("staging").  Appends nothing when the fleet
 * serves one release everywhere.  Returns 0 or out's error.
 */
int status_problems(struct buf *out, const struct fleet_status *s,
		    const struct plan *p, const char *who, struct err *err);

#endif
