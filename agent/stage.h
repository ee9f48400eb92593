/*
 * stage: turns a verified artifact into an unpacked release.
 *
 * The artifact is <root>/incoming/<sha256> (uploaded by the controller, or
 * fetched by probe_fetch).  Staging verifies its sha256, unpacks it with
 * libarchive into releases/.<version>.tmp, checks release.json against the
 * files (the version it names, the sha256 of every file, no file left out),
 * and renames the folder into place.  Nothing is written outside
 * releases/.<version>.tmp (and the version's marker) until that rename;
 * on any failure both are removed.
 *
 * Refused, with ERR_UNSAFE: absolute paths, ".." components, symlinks that
 * resolve (through any chain of links) outside the release or to nothing,
 * hard links to paths outside it, device files, FIFOs, sockets and sparse
 * files; with ERR_OVERFLOW: more than max_entries entries or max_bytes of
 * content, counted from the declared sizes before data is read, or more
 * than the disk holds (less STAGE_RESERVE, kept free for the runtime).  Staging
 * an already staged version is a no-op that says so; the same version from a
 * different artifact is refused.
 */
#ifndef IVR_AGENT_STAGE_H
#define IVR_AGENT_STAGE_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"

/* Called during long steps: step is "verify" or "unpack". */
typedef void (*stage_progress_fn)(void *ctx, const char *step, uint64_t done,
				  uint64_t total);

struct stage_limits {
	uint64_t max_bytes;   /* unpacked content, all files */
	unsigned max_entries; /* files, folders and links */
	uint64_t free_bytes;  /* room under the root; 0: ask statvfs(3) */
};

/* Bytes left free under the root when a release is unpacked. */
#define STAGE_RESERVE (64ULL * 1024 * 1024)

struct stage_result {
	bool already; /* the version was staged before: nothing done */
	unsigned files;
	uint64_t bytes;
};

/*
 * Checks that <root>/incoming/<sha256> exists and hashes to sha256.
 * Returns 0, ERR_NOTFOUND or ERR_INTEGRITY ("artifact '<sha>' has sha256
 * <other>: corrupt or wrong upload"; the file is then removed).
 */
int stage_verify(const char *root, const char *sha256, stage_progress_fn fn,
		 void *ctx, struct err *err);

/*
 * Stages version from incoming/<sha256>.  Returns 0 (see out), or
 * ERR_NOTFOUND, ERR_INTEGRITY, ERR_UNSAFE, ERR_OVERFLOW, ERR_EXISTS (the
 * version is staged from another artifact), ERR_PARSE (no valid
 * release.json) or ERR_IO.
 */
int stage_release(struct stage_result *out, const char *root,
		  const char *version, const char *sha256,
		  const struct stage_limits *lim, stage_progress_fn fn,
		  void *ctx, struct err *err);

#endif
