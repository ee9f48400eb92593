/*
 * state: <root>/state.json, what this host runs and which deployment put
 * it there.  The fleet is the source of truth: the controller reads this
 * to know what to roll back to, from any machine.
 *
 *   {"current": "1.1.0", "previous": "1.0.0", "deployment_id": "d-42",
 *    "lineage": [{"version": "1.0.0", "deployment_id": "d-41", "at": ...},
 *                {"version": "1.1.0", "deployment_id": "d-42", "at": ...}],
 *    "history": [{"deployment_id": "d-42", "version": "1.1.0",
 *                 "at": "2026-11-26T04:30:00Z", "kind": "deploy"},
 *                {"deployment_id": "r-43", "version": "1.0.0", "at": ...,
 *                 "kind": "rollback", "undoes": "d-42"}, ...]}
 *
 * A release is a version or "<version>+<config>" (layout.h): the settings
 * ivrctl rendered for the runtime go with the binary, and a rollback
 * restores both.
 *
 * The lineage is a stack of the deployments that stand, oldest first: an
 * activation by a deployment pushes its release; a rollback activation
 * (which records the deployment it undoes) pops down to the nearest entry
 * of its release, or pushes it when the lineage does not hold it (a
 * rollback --to a release this host never stood on).  So `current` is the top,
 * `deployment_id` the deployment that brought it, and `previous` the release
 * below it: the release the host ran before that deployment.  A deployment that
 * failed and was undone leaves no trace in it, however often that happens, so
 * it is never a rollback target.  The history is the raw log of activations.
 *
 * Written with fileio_write_atomic: a crash leaves the old or the new
 * file, never a torn one.  History keeps the newest STATE_HISTORY_MAX.
 */
#ifndef IVR_AGENT_STATE_H
#define IVR_AGENT_STATE_H

#include <jansson.h>

#include "err.h"
#include "layout.h"

#define STATE_HISTORY_MAX 50
#define STATE_ID_MAX	  128

struct agent_state {
	char current[LAYOUT_RELEASE_MAX + 1]; /* releases: see layout.h */
	char previous[LAYOUT_RELEASE_MAX + 1];
	char deployment_id[STATE_ID_MAX + 1]; /* that brought current */
	json_t *lineage; /* owned array, top last (see above) */
	json_t *history; /* owned array, newest last */
};

/*
 * Reads <root>/state.json into st (an absent file is an empty state).
 * Returns 0, or ERR_PARSE ("'<path>' is not a valid state file: ...").
 * Release st in every case.
 */
int state_load(struct agent_state *st, const char *root, struct err *err);

/* Writes st to <root>/state.json atomically.  0 or ERR_IO. */
int state_save(const struct agent_state *st, const char *root, struct err *err);

/*
 * Records that deployment_id activated version now.  undoes is NULL for a
 * deployment (version is pushed unless it is already the top) or the id
 * of the deployment being rolled back, "" for the one that brought the
 * current release (the lineage is popped down to the
 * nearest version, else version is pushed; a host already on version
 * changes nothing).  previous and deployment_id follow the lineage; the
 * history grows by one entry with kind and undoes.
 */
void state_record(struct agent_state *st, const char *version,
		  const char *deployment_id, const char *undoes);

/* The newest release of the lineage that is version exactly (a plain
 * version: without managed settings), else the newest with that version
 * and any settings; borrowed from st, NULL when there is none. */
const char *state_nearest(const struct agent_state *st, const char *version);

/* Frees st's lineage and history. */
void state_release(struct agent_state *st);

/* st as a JSON object for hello (new reference). */
json_t *state_to_json(const struct agent_state *st);

#endif
