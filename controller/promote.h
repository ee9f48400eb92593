/*
 * promote: deploys to production the release that is live on staging.
 *
 * Staging must be consistent (one release on every host), every host
 * healthy and READY in its pool; otherwise nothing is done (exit 2).  The
 * artifact is the one the staging hosts staged that release from, known
 * by the sha256 they recorded: the file named in staging's journal when
 * it is still there and hashes right, else a copy downloaded over SFTP
 * from a staging host's incoming/ (into the staging journal's folder,
 * artifacts/), hashed before use.  Then it is an ordinary deployment on
 * production's plan (deploy.h), its journal start naming staging.
 */
#ifndef IVR_CONTROLLER_PROMOTE_H
#define IVR_CONTROLLER_PROMOTE_H

#include "deploy.h"
#include "plan.h"
#include "status.h"

/* `ivrctl promote`: returns the exit code. */
int promote_run(const struct plan *staging, const struct plan *prod,
		const struct agent_bundle *agent, struct deploy_opts *o);

#endif
