/*
 * layout: see layout.h.
 */
#include "layout.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"

/* A temporary older than this is a killed agent's leftover. */
#define LAYOUT_LEFTOVER_AGE_S 600

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

bool
layout_split_release(char *version, char *config, const char *release)
{
	const char *plus = strchr(release, '+');
	size_t n = plus ? (size_t)(plus - release) : strlen(release);

	version[0] = config[0] = '\0';
	if (n == 0 || n > LAYOUT_VERSION_MAX)
		return false;
	memcpy(version, release, n);
	version[n] = '\0';
	if (!layout_valid_version(version))
		return false;
	if (plus == NULL)
		return true;
	if (strlen(plus + 1) != LAYOUT_CONFIG_ID ||
	    strspn(plus + 1, "0123456789abcdef") != LAYOUT_CONFIG_ID)
		return false;
	memcpy(config, plus + 1, LAYOUT_CONFIG_ID + 1);
	return true;
}

bool
layout_valid_release(const char *r)
{
	char v[LAYOUT_VERSION_MAX + 1], c[LAYOUT_CONFIG_ID + 1];

	return strlen(r) <= LAYOUT_RELEASE_MAX && layout_split_release(v, c, r);
}

int
layout_config(char *out, const char *root, const char *config, struct err *err)
{
	char name[64];

	snprintf(name, sizeof(name), "runtime.%s.yaml",
		 config[0] ? config : "unmanaged");
	return layout_path(out, root, HOSTLAYOUT_SHARED, name, err);
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
	static const char *const dirs[] = { HOSTLAYOUT_RELEASES,
					    HOSTLAYOUT_INCOMING,
					    HOSTLAYOUT_SHARED };
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
layout_artifact(char *out, const char *root, const char *sha256,
		struct err *err)
{
	return hostlayout_artifact(out, LAYOUT_PATH_MAX, root, sha256, err);
}

int
layout_current(char *out, const char *root, struct err *err)
{
	char link[LAYOUT_PATH_MAX], target[LAYOUT_PATH_MAX];
	ssize_t n;
	int rc;

	out[0] = '\0';
	if ((rc = layout_path(link, root, HOSTLAYOUT_CURRENT, NULL, err)) < 0)
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
	return layout_path(out, root, HOSTLAYOUT_RELEASES, name, err);
}

bool
layout_is_staged(const char *root, const char *version)
{
	char dir[LAYOUT_PATH_MAX], manifest[LAYOUT_PATH_MAX + 16];

	if (!layout_valid_version(version) ||
	    layout_path(dir, root, HOSTLAYOUT_RELEASES, version, NULL) < 0)
		return false;
	snprintf(manifest, sizeof(manifest), "%s/release.json", dir);
	return access(manifest, R_OK) == 0;
}

int
layout_lock(int *fd, const char *root, struct err *err)
{
	char path[LAYOUT_PATH_MAX], holder[32] = "";
	ssize_t n;

	*fd = -1;
	if (layout_path(path, root, ".agent.lock", NULL, err) < 0)
		return ERR_INVAL;
	if ((*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
			0600)) < 0)
		return err_set_errno(err, ERR_IO, errno, "cannot open '%s'",
				     path);
	if (flock(*fd, LOCK_EX | LOCK_NB) < 0) {
		n = pread(*fd, holder, sizeof(holder) - 1, 0);
		holder[n > 0 ? n : 0] = '\0';
		holder[strcspn(holder, "\n")] = '\0';
		close(*fd);
		*fd = -1;
		return err_set(err, ERR_BUSY,
			       "another ivr-agent (pid %s) is working on root "
			       "'%s': try again when it is done",
			       holder[0] ? holder : "?", root);
	}
	/* The holder's pid, for a waiter's message only: a failure to
	 * write it costs nothing else. */
	n = snprintf(holder, sizeof(holder), "%ld\n", (long)getpid());
	if (ftruncate(*fd, 0) < 0 || pwrite(*fd, holder, (size_t)n, 0) < 0)
		holder[0] = '\0';
	return 0;
}

void
layout_unlock(int fd)
{
	if (fd >= 0)
		close(fd); /* drops the flock */
}

/* A temporary of ours: ".<name>.tmp" or ".<name>.tmp.<suffix>", never a
 * release's marker (".<version>.sha256", and a version may hold ".tmp."). */
static bool
is_temporary(const char *name)
{
	size_t n = strlen(name);

	if (name[0] != '.' || (n > 7 && strcmp(name + n - 7, ".sha256") == 0))
		return false;
	return strstr(name, ".tmp.") != NULL ||
	       (n > 4 && strcmp(name + n - 4, ".tmp") == 0);
}

static unsigned
clean_dir(const char *dir)
{
	char path[LAYOUT_PATH_MAX + 300];
	time_t now = time(NULL);
	struct dirent *de;
	struct stat st;
	unsigned n = 0;
	DIR *d;

	if ((d = opendir(dir)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (!is_temporary(de->d_name))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		/* Only what no one can still be writing: a write in progress
		 * by another program (or an agent's method that takes no
		 * lock) is seconds old. */
		if (lstat(path, &st) < 0 ||
		    now - st.st_mtime < LAYOUT_LEFTOVER_AGE_S)
			continue;
		if (fileio_remove_tree(path, NULL) == 0)
			n++;
	}
	closedir(d);
	return n;
}

unsigned
layout_clean(const char *root)
{
	char releases[LAYOUT_PATH_MAX];

	if (layout_path(releases, root, HOSTLAYOUT_RELEASES, NULL, NULL) < 0)
		return 0;
	return clean_dir(root) + clean_dir(releases);
}
