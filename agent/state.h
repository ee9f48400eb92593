/*
 * state: <root>/state.json, what this host runs and which deployment put
 * it there.  The fleet is the source of truth: the controller reads this
 * to know what to roll back to, from any machine.
 *
 *   {"current": "1.1.0", "previous": "1.0.0", "deployment_id": "d-42",
 *    "history": [{"deployment_id": "d-42", "version": "1.1.0",
 *                 "at": "2026-11-26T04:30:00Z"}, ...]}
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
	char current[LAYOUT_VERSION_MAX + 1];
	char previous[LAYOUT_VERSION_MAX + 1];
	char deployment_id[STATE_ID_MAX + 1];
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
 * Records that deployment_id activated version now: previous becomes the
 * old current (unless version is already current) or, when version is the
 * previous release (a rollback), the release before it; history grows.
 */
void state_record(struct agent_state *st, const char *version,
		  const char *deployment_id);

/* Frees st's history. */
void state_release(struct agent_state *st);

/* st as a JSON object for hello (new reference). */
json_t *state_to_json(const struct agent_state *st);

#endif
