/*
 * artifact: a release's artifact, ivr-runtime-<version>.tar.gz, as the
 * controller knows it: its version (from its name), its sha256 and size
 * (from its bytes), and where the agent keeps it on a host
 * (<root>/incoming/<sha256>, common/hostlayout.h, the agent's own path).
 */
#ifndef IVR_CONTROLLER_ARTIFACT_H
#define IVR_CONTROLLER_ARTIFACT_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

/* The largest artifact ivrctl downloads from a host (promote). */
#define ARTIFACT_MAX_BYTES (2LL * 1024 * 1024 * 1024)

struct artifact {
	char path[4096]; /* absolute (as given when it cannot be resolved) */
	char version[65];
	char sha256[65];
	long long size;
};

/*
 * The version in an artifact's file name, ivr-runtime-<version>.tar.gz,
 * into out (size bytes).  Returns 0, or ERR_INVAL for another name.
 */
int artifact_version(char *out, size_t size, const char *path, struct err *err);

/*
 * Reads the artifact at path: version, sha256, size, absolute path.
 * Returns 0; ERR_INVAL ("'<path>' is not named
 * ivr-runtime-<version>.tar.gz"); or the error of reading it ("cannot
 * read the artifact '<path>': ...").
 */
int artifact_read(struct artifact *a, const char *path, struct err *err);

/* True when the file at path can be read and hashes to sha256. */
bool artifact_has_sha(const char *path, const char *sha256);

/*
 * Where the agent keeps the artifact with sha256 under its root (root
 * expanded for the host) into out.  Returns 0 or ERR_OVERFLOW.
 */
int artifact_remote_path(char *out, size_t size, const char *root,
			 const char *sha256, struct err *err);

#endif
