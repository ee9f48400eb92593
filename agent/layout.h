/*
 * layout: the host layout the agent owns under its root.
 *
 *   <root>/releases/<version>/     unpacked releases, read-only once staged
 *   <root>/current -> releases/<v> the live release (a relative symlink)
 *   <root>/incoming/<sha256>       verified artifacts, content-addressed
 *   <root>/shared/                 config, data and logs that survive releases
 *   <root>/state.json              current, previous, history (see state.h)
 *
 * Every path the agent touches is built here from the root and a checked
 * name, so nothing a request says can point outside the root.
 */
#ifndef IVR_AGENT_LAYOUT_H
#define IVR_AGENT_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "hostlayout.h"

#define LAYOUT_VERSION_MAX 64
#define LAYOUT_PATH_MAX	   4096
#define LAYOUT_CONFIG_ID   12 /* hex digits of a configuration's id */
#define LAYOUT_RELEASE_MAX (LAYOUT_VERSION_MAX + 1 + LAYOUT_CONFIG_ID)

/* True when v is 1-64 of [A-Za-z0-9._-] starting with [A-Za-z0-9]. */
bool layout_valid_version(const char *v);

/*
 * A release is a version, or "<version>+<config>" when the controller
 * manages the runtime's settings: config is the id (12 lower-case hex
 * digits) of the settings that go with it, shared/runtime.<config>.yaml
 * on this host.  Splits release into version (LAYOUT_VERSION_MAX + 1) and
 * config (LAYOUT_CONFIG_ID + 1, "" without one); false when it is not a
 * release.
 */
bool layout_split_release(char *version, char *config, const char *release);

/* True when r is a release (above). */
bool layout_valid_release(const char *r);

/*
 * The runtime's settings with id config, "<root>/shared/runtime.<config>.yaml",
 * or with config "" the settings the host had before ivrctl managed them,
 * "<root>/shared/runtime.unmanaged.yaml", into out (LAYOUT_PATH_MAX).  0 or
 * ERR_INVAL.
 */
int layout_config(char *out, const char *root, const char *config,
		  struct err *err);

/*
 * Creates the root's folders (releases, incoming, shared) when missing.
 * Returns 0 or ERR_IO ("cannot create '<path>': ...").
 */
int layout_init(const char *root, struct err *err);

/*
 * Writes "<root>/<a>[/<b>]" into out (LAYOUT_PATH_MAX).  b may be NULL.
 * Returns 0 or ERR_INVAL when the result would not fit.
 */
int layout_path(char *out, const char *root, const char *a, const char *b,
		struct err *err);

/*
 * The artifact with this sha256 under root, "<root>/incoming/<sha256>"
 * (hostlayout.h: the controller uploads to the same path), into out
 * (LAYOUT_PATH_MAX).  Returns 0 or ERR_OVERFLOW.
 */
int layout_artifact(char *out, const char *root, const char *sha256,
		    struct err *err);

/*
 * The version `current` points at into out (LAYOUT_VERSION_MAX + 1), ""
 * when there is no current link.  Returns 0, or ERR_INTEGRITY when the link
 * points somewhere other than releases/<valid version>.
 */
int layout_current(char *out, const char *root, struct err *err);

/*
 * The marker beside a staged release that holds the sha256 of the artifact
 * it came from: "<root>/releases/.<version>.sha256" into out
 * (LAYOUT_PATH_MAX).  Returns 0 or ERR_INVAL.
 */
int layout_marker(char *out, const char *root, const char *version,
		  struct err *err);

/* True when releases/<version> is a staged release (holds release.json). */
bool layout_is_staged(const char *root, const char *version);

/*
 * Takes the root's lock (flock on <root>/.agent.lock, which names the
 * holder's pid) if it is free: two agents on one root (two controllers, a
 * stuck session) never change it at once.  Returns 0 with *fd set, or
 * ERR_BUSY ("another ivr-agent (pid N) is working on root '<root>'") or
 * ERR_IO.  Release with layout_unlock.  Does not wait (rpc.c does, and
 * tells the controller).
 */
int layout_lock(int *fd, const char *root, struct err *err);

/* Releases a lock from layout_lock (-1 is a no-op). */
void layout_unlock(int fd);

/*
 * Removes what a killed agent left: temporary files and symlinks of
 * atomic writes ("<root>/.<name>.tmp.*") and unpacked folders
 * ("releases/.<version>.tmp") and temporary markers, once they are ten
 * minutes old (younger ones may be writes in progress).  Call with the
 * lock held.  Returns how many entries went.
 */
unsigned layout_clean(const char *root);

#endif
