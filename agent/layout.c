/*
 * layout: see layout.h.
 */
#include "layout.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

bool
layout_valid_version(const char *v)
{
	size_t n = strlen(v);

	/* The first character is a letter or digit: names starting with
	 * "." under releases/ are the agent's own (markers, temporaries). */
	if (n == 0 || n > LAYOUT_VERSION_MAX ||
	    !((v[0] >= 'a' && v[0] <= 'z') || (v[0] >= 'A' && v[0] <= 'Z') ||
	      (v[0] >= '0' && v[0] <= '9')))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = v[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return false;
	}
	return true;
}

int
layout_path(char *out, const char *root, const char *a, const char *b,
	    struct err *err)
{
	int n = b ? snprintf(out, LAYOUT_PATH_MAX, "%s/%s/%s", root, a, b)
		  : snprintf(out, LAYOUT_PATH_MAX, "%s/%s", root, a);

	if (n < 0 || n >= LAYOUT_PATH_MAX)
		return err_set(err, ERR_INVAL, "path under '%s' is too long",
			       root);
	return 0;
}

static int
make_dir(const char *path, struct err *err)
{
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return err_set_errno(err, ERR_IO, errno, "cannot create '%s'",
				     path);
	return 0;
}

int
layout_init(const char *root, struct err *err)
{
	static const char *const dirs[] = { "releases", "incoming", "shared" };
	char path[LAYOUT_PATH_MAX];
	struct stat st;
	int rc;

	if (stat(root, &st) < 0 || !S_ISDIR(st.st_mode))
		return err_set(err, ERR_NOTFOUND, "root '%s' is not a folder",
			       root);
	for (size_t i = 0; i < sizeof(dirs) / sizeof(*dirs); i++)
		if ((rc = layout_path(path, root, dirs[i], NULL, err)) < 0 ||
		    (rc = make_dir(path, err)) < 0)
			return rc;
	return 0;
}

int
layout_current(char *out, const char *root, struct err *err)
{
	char link[LAYOUT_PATH_MAX], target[LAYOUT_PATH_MAX];
	ssize_t n;
	int rc;

	out[0] = '\0';
	if ((rc = layout_path(link, root, "current", NULL, err)) < 0)
		return rc;
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0 && errno == ENOENT)
		return 0;
	if (n < 0)
		return err_set_errno(err, ERR_IO, errno, "cannot read '%s'",
				     link);
	target[n] = '\0';
	if (strncmp(target, "releases/", 9) != 0 ||
	    !layout_valid_version(target + 9))
		return err_set(err, ERR_INTEGRITY,
			       "'%s' points to '%s', not to releases/<version>",
			       link, target);
	memcpy(out, target + 9, strlen(target + 9) + 1); /* checked: <= 64 */
	return 0;
}

int
layout_marker(char *out, const char *root, const char *version, struct err *err)
{
	char name[LAYOUT_VERSION_MAX + 16];

	snprintf(name, sizeof(name), ".%s.sha256", version);
	return layout_path(out, root, "releases", name, err);
}

bool
layout_is_staged(const char *root, const char *version)
{
	char dir[LAYOUT_PATH_MAX], manifest[LAYOUT_PATH_MAX + 16];

	if (!layout_valid_version(version) ||
	    layout_path(dir, root, "releases", version, NULL) < 0)
		return false;
	snprintf(manifest, sizeof(manifest), "%s/release.json", dir);
	return access(manifest, R_OK) == 0;
}
