/*
 * dryrun: `ivrctl plan`: what a deployment of an artifact would do, read
 * from the hosts without changing a release on any of them: each host's
 * agent says what runs (hello) and what is staged or waiting in incoming/
 * (releases.list).  As with status, a missing or outdated agent is
 * uploaded first.  With a database in the plan, what the deploy's database
 * step would do, read without changing it (db_preview).
 */
#ifndef IVR_CONTROLLER_DRYRUN_H
#define IVR_CONTROLLER_DRYRUN_H

#include <jansson.h>
#include <stdbool.h>

#include "artifact.h"
#include "buf.h"
#include "host.h"
#include "plan.h"

struct dryrun_host {
	const struct plan_host *host; /* borrowed from the plan */
	char current[PLAN_RELEASE_MAX];
	char previous[PLAN_RELEASE_MAX];
	bool staged;	     /* the target release is unpacked there */
	bool uploaded;	     /* the artifact is in incoming/ */
	bool agent_uploaded; /* the agent was missing or outdated */
	char *settings_diff; /* "-old\n+new\n" lines of its runtime.yaml,
				NULL when they stay */
	char error[512];     /* why the host could not be read */
};

struct dryrun {
	const struct plan *p; /* borrowed */
	struct artifact art;
	char release[PLAN_RELEASE_MAX]; /* the artifact with the settings */
	struct dryrun_host *hosts;
	size_t n;
	size_t unread; /* hosts that could not be read (and the database) */
	json_t *db;    /* db_preview's, or NULL: no database in the plan */
	char db_error[512]; /* why the database could not be read */
};

/*
 * Reads the artifact and every host of p.  Returns 0 (hosts that could not
 * be read are counted in unread, each with its error), the artifact's
 * error (ERR_INVAL, ERR_IO: no host was read) or ERR_NOMEM.  Release d
 * with dryrun_release either way.
 */
int dryrun_collect(struct dryrun *d, const struct plan *p, const char *artifact,
		   const struct agent_bundle *agent, struct err *err);

void dryrun_release(struct dryrun *d);

/*
 * The dry run as JSON (a new reference): the release, every host's
 * current release and action, the phases with their batches.  The shape
 * is schemas/ivrctl-output.schema.json's "plan".
 */
json_t *dryrun_json(const struct dryrun *d);

/* The readable dry run, appended to out.  Returns 0 or out's error. */
int dryrun_format(struct buf *out, const struct dryrun *d, struct err *err);

#endif
