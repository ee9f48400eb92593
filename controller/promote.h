/*
 * promote: finds the artifact of the release that is live on staging, so
 * that production can deploy exactly what staging runs.
 *
 * The artifact is the one the staging hosts staged that release from,
 * known by the sha256 they recorded (they must all agree): the file named
 * in staging's journal when it is still there and hashes right, else a
 * copy downloaded over SFTP from a staging host's incoming/ (into the
 * staging journal's folder, artifacts/), hashed before use.  That staging
 * is live and healthy on one release is for the caller to check first
 * (status.h); the deployment itself is deploy.h's.
 */
#ifndef IVR_CONTROLLER_PROMOTE_H
#define IVR_CONTROLLER_PROMOTE_H

#include "host.h"
#include "plan.h"

struct promote_source {
	char sha256[65];
	char artifact[4400]; /* a local file that hashes to sha256 */
	char from[256];	     /* "staging's journal", or the host's name */
};

/*
 * Finds release's artifact for staging (both borrowed).  Returns 0 with
 * *out filled; ERR_INTEGRITY when the hosts do not record one artifact or
 * the downloaded copy does not hash right (then removed); or the error of
 * reaching a host or downloading.  Messages are complete sentences.
 */
int promote_find(struct promote_source *out, const struct plan *staging,
		 const char *release, const struct agent_bundle *agent,
		 struct err *err);

#endif
