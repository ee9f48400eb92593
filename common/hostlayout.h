/*
 * hostlayout: the names of the host layout under an agent's root, shared
 * by the agent that owns it (agent/layout.h) and the controller that
 * uploads into it, so that both build the same paths.
 *
 *   <root>/releases/<version>/     unpacked releases
 *   <root>/current -> releases/<v> the live release
 *   <root>/incoming/<sha256>       verified artifacts, content-addressed
 *   <root>/shared/                 config, data and logs
 *   <root>/state.json              the lineage and history
 */
#ifndef IVR_COMMON_HOSTLAYOUT_H
#define IVR_COMMON_HOSTLAYOUT_H

#include <stddef.h>

#include "err.h"

#define HOSTLAYOUT_RELEASES "releases"
#define HOSTLAYOUT_INCOMING "incoming"
#define HOSTLAYOUT_SHARED   "shared"
#define HOSTLAYOUT_CURRENT  "current"
#define HOSTLAYOUT_STATE    "state.json"

/*
 * Where the artifact with this sha256 (64 hex digits) lives under root:
 * "<root>/incoming/<sha256>" into out (size bytes).  Returns 0, or
 * ERR_OVERFLOW when it does not fit.
 */
int hostlayout_artifact(char *out, size_t size, const char *root,
			const char *sha256, struct err *err);

#endif
