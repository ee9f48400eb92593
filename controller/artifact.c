/*
 * artifact: see artifact.h.
 */
#include "artifact.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hash.h"
#include "hostlayout.h"

#define PREFIX "ivr-runtime-"
#define SUFFIX ".tar.gz"

int
artifact_version(char *out, size_t size, const char *path, struct err *err)
{
	size_t pre = strlen(PREFIX), suf = strlen(SUFFIX), n;
	char copy[PATH_MAX], *base;

	snprintf(copy, sizeof(copy), "%s", path);
	base = basename(copy);
	n = strlen(base);
	if (strncmp(base, PREFIX, pre) != 0 || n <= pre + suf ||
	    strcmp(base + n - suf, SUFFIX) != 0 || n - pre - suf >= size)
		return err_set(err, ERR_INVAL,
			       "'%s' is not named ivr-runtime-<version>.tar.gz",
			       path);
	memcpy(out, base + pre, n - pre - suf);
	out[n - pre - suf] = '\0';
	return 0;
}

int
artifact_read(struct artifact *a, const char *path, struct err *err)
{
	unsigned char digest[HASH_SHA256_LEN];
	struct stat st;
	int rc;

	memset(a, 0, sizeof(*a));
	if ((rc = artifact_version(a->version, sizeof(a->version), path, err)) <
	    0)
		return rc;
	if (stat(path, &st) < 0)
		return err_set_errno(err, ERR_IO, errno,
				     "cannot read the artifact '%s'", path);
	if (!S_ISREG(st.st_mode))
		return err_set(err, ERR_INVAL,
			       "cannot read the artifact '%s': not a file",
			       path);
	if (hash_sha256_file(digest, path, err) < 0)
		return err_prefix(err, "cannot read the artifact: ");
	hash_hex(a->sha256, digest, sizeof(digest));
	a->size = (long long)st.st_size;
	if (realpath(path, a->path) == NULL)
		snprintf(a->path, sizeof(a->path), "%s", path);
	return 0;
}

bool
artifact_has_sha(const char *path, const char *sha256)
{
	unsigned char digest[HASH_SHA256_LEN];
	char hex[HASH_SHA256_HEX_LEN + 1];

	if (hash_sha256_file(digest, path, NULL) < 0)
		return false;
	hash_hex(hex, digest, sizeof(digest));
	return strcmp(hex, sha256) == 0;
}

int
artifact_remote_path(char *out, size_t size, const char *root,
		     const char *sha256, struct err *err)
{
	return hostlayout_artifact(out, size, root, sha256, err);
}
