/*
 * releases: what is staged under <root>/releases and which one is live.
 *
 * Activation points `current` at a staged release with one rename(2) of a
 * temporary symlink (a crash leaves the old or the new target, never
 * nothing), then records the change in state.json.  The symlink is what
 * runs; state.json adds previous and the history.
 */
#ifndef IVR_AGENT_RELEASES_H
#define IVR_AGENT_RELEASES_H

#include <jansson.h>
#include <stdbool.h>

#include "err.h"
#include "state.h"

struct activate_result {
	char current[LAYOUT_RELEASE_MAX + 1];
	char previous[LAYOUT_RELEASE_MAX + 1];
	bool changed; /* false: release was already current */
};

/*
 * Makes release (a version, staged, or "<version>+<config>" with its
 * settings on this host: layout.h) current for deployment_id: the
 * settings' link shared/runtime.yaml, then the `current` link, then
 * state.json.  undoes is NULL, or for a rollback the deployment it
 * undoes, "" for the one that brought the current release (see
 * state_record); a rollback to a plain version goes to the newest release
 * of the lineage with that version, and to one without settings puts back
 * the settings the host had before ivrctl managed them.  Returns 0,
 * ERR_NOTFOUND ("release 'x' is not staged", settings missing),
 * ERR_PARSE (state.json unreadable) or ERR_IO.  Safe to repeat.
 */
int releases_activate(struct activate_result *out, const char *root,
		      const char *release, const char *deployment_id,
		      const char *undoes, struct err *err);

/* The release that runs into out (LAYOUT_RELEASE_MAX + 1): the current
 * link's version, with its settings' id when state.json agrees. */
int releases_current(char *out, const char *root, struct err *err);

/*
 * The staged releases, oldest staged first: a new JSON array of
 * {"version", "current", "previous", "staged_at"}.  NULL with err set on
 * failure.
 */
json_t *releases_list(const char *root, struct err *err);

/* The most artifacts releases_incoming lists. */
#define RELEASES_INCOMING_MAX 1024

/*
 * The artifacts waiting in incoming/ (names that are a sha256), sorted, at
 * most RELEASES_INCOMING_MAX: a new JSON array of strings.  NULL with err
 * set when incoming/ cannot be read.
 */
json_t *releases_incoming(const char *root, struct err *err);

/*
 * Removes staged releases beyond the newest `keep`, never current,
 * previous, or a version in protect (array of strings).  *removed gets a
 * new array of the versions removed.  Returns 0 or ERR_IO.
 */
int releases_prune(json_t **removed, const char *root, int keep,
		   const json_t *protect, struct err *err);

/*
 * Removes the artifacts in incoming/ that no staged release was staged
 * from and that protect (array of sha256 strings) does not name: what a
 * deployment uploaded for releases since pruned.  *removed gets a new
 * array of the sha256 removed.  Returns 0 or ERR_IO.
 */
int releases_prune_incoming(json_t **removed, const char *root,
			    const json_t *protect, struct err *err);

/*
 * Puts the certificates that configuration id config names, before its
 * settings: shared/tls.<config>.pem (the chain, 0644), tls.<config>.key
 * (0600) and, when ca is not NULL, tls.<config>.ca.pem (the CA the
 * runtime checks clients against).  The same id with other files is
 * refused (ERR_INTEGRITY); pruning removes them with the settings.
 */
int releases_put_tls(const char *root, const char *config, const char *cert,
		     const char *key, const char *ca, struct err *err);

/*
 * Puts the runtime's settings text for configuration id config on this
 * host, shared/runtime.<config>.yaml (0640), and when version is staged
 * has its runtime check them (`ivr-runtime check --config`): refused
 * settings are removed again.  The same id with other text is refused.
 * Returns 0, ERR_INVAL, ERR_OVERFLOW (over 256 KiB), ERR_INTEGRITY, or
 * ERR_IO with the runtime's own words.
 */
int releases_put_config(const char *root, const char *config, const char *text,
			const char *version, struct err *err);

#endif
