/*
 * releases: see releases.h.
 */
#include "releases.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "fileio.h"
#include "hash.h"
#include "hostlayout.h"
#include "layout.h"
#include "proc.h"

/* Whether release r (with or without its settings) is version v. */
static bool
is_version(const char *r, const char *v)
{
	char version[LAYOUT_VERSION_MAX + 1], config[LAYOUT_CONFIG_ID + 1];

	return r != NULL && layout_split_release(version, config, r) &&
	       strcmp(version, v) == 0;
}

/*
 * shared/runtime.yaml for a release's settings config: a symlink to
 * runtime.<config>.yaml, swapped atomically.  The first time, a file the
 * host had there is kept as runtime.unmanaged.yaml (a hard link, so that
 * no instant lacks one), which a rollback to a release without settings
 * points it back at.  Without config, a deployment leaves it as it is.
 * *changed: it now points elsewhere.
 */
static int
swap_config(bool *changed, const char *root, const char *config, bool rollback,
	    struct err *err)
{
	char link_path[LAYOUT_PATH_MAX], want[LAYOUT_PATH_MAX],
		kept[LAYOUT_PATH_MAX], now[LAYOUT_PATH_MAX];
	const char *name;
	struct stat st;
	ssize_t n;
	int rc;

	*changed = false;
	if ((rc = layout_path(link_path, root, HOSTLAYOUT_SHARED,
			      "runtime.yaml", err)) < 0 ||
	    (rc = layout_config(want, root, config, err)) < 0 ||
	    (rc = layout_config(kept, root, "", err)) < 0)
		return rc;
	if (config[0] == '\0' && (!rollback || access(kept, F_OK) != 0))
		return 0;
	if (access(want, R_OK) != 0)
		return err_set(err, ERR_NOTFOUND,
			       "the runtime settings '%s' are not on this host "
			       "(config.put them first)",
			       want);
	if (lstat(link_path, &st) == 0 && S_ISREG(st.st_mode) &&
	    link(link_path, kept) < 0 && errno != EEXIST)
		return err_set_errno(err, ERR_IO, errno,
				     "cannot keep '%s' as '%s'", link_path,
				     kept);
	name = strrchr(want, '/') + 1;
	n = readlink(link_path, now, sizeof(now) - 1);
	if (n >= 0 && (size_t)n == strlen(name) &&
	    memcmp(now, name, (size_t)n) == 0)
		return 0;
	*changed = true;
	return fileio_symlink_atomic(name, link_path, err);
}

/* A rollback to a plain version lands on that release of the lineage,
 * else on the newest with that version and settings (state_nearest),
 * into out. */
static int
resolve(char *out, const struct agent_state *st, const char *release,
	bool rollback, struct err *err)
{
	char version[LAYOUT_VERSION_MAX + 1], config[LAYOUT_CONFIG_ID + 1];
	const char *found;

	if (!layout_split_release(version, config, release))
		return err_set(err, ERR_INVAL, "'%s' is not a release",
			       release);
	found = rollback && config[0] == '\0' ? state_nearest(st, version)
					      : NULL;
	snprintf(out, LAYOUT_RELEASE_MAX + 1, "%s", found ? found : release);
	return 0;
}

int
releases_activate(struct activate_result *out, const char *root,
		  const char *release, const char *deployment_id,
		  const char *undoes, struct err *err)
{
	char link[LAYOUT_PATH_MAX], target[LAYOUT_VERSION_MAX + 16],
		want[LAYOUT_RELEASE_MAX + 1], version[LAYOUT_VERSION_MAX + 1],
		config[LAYOUT_CONFIG_ID + 1], now[LAYOUT_VERSION_MAX + 1];
	struct agent_state st;
	bool swapped;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = state_load(&st, root, err)) < 0 ||
	    (rc = resolve(want, &st, release, undoes != NULL, err)) < 0)
		goto out;
	layout_split_release(version, config, want);
	if (!layout_is_staged(root, version)) {
		rc = err_set(err, ERR_NOTFOUND,
			     "release '%s' is not staged: stage it first",
			     version);
		goto out;
	}
	if ((rc = layout_current(now, root, err)) < 0 ||
	    (rc = swap_config(&swapped, root, config, undoes != NULL, err)) < 0)
		goto out;
	out->changed = swapped || strcmp(now, version) != 0;
	if (strcmp(now, version) != 0) {
		snprintf(target, sizeof(target), "releases/%s", version);
		if ((rc = layout_path(link, root, HOSTLAYOUT_CURRENT, NULL,
				      err)) < 0 ||
		    (rc = fileio_symlink_atomic(target, link, err)) < 0)
			goto out;
	}
	/* The symlinks run; state.json follows them (also after a crash
	 * between the two, when activation is repeated). */
	if (out->changed || strcmp(st.current, want) != 0 ||
	    strcmp(st.deployment_id, deployment_id) != 0) {
		state_record(&st, want, deployment_id, undoes);
		if ((rc = state_save(&st, root, err)) < 0)
			goto out;
	}
	snprintf(out->current, sizeof(out->current), "%s", st.current);
	snprintf(out->previous, sizeof(out->previous), "%s", st.previous);
out:
	state_release(&st);
	return rc;
}

int
releases_current(char *out, const char *root, struct err *err)
{
	char now[LAYOUT_VERSION_MAX + 1], version[LAYOUT_VERSION_MAX + 1],
		config[LAYOUT_CONFIG_ID + 1];
	struct agent_state st;
	int rc;

	if ((rc = layout_current(now, root, err)) < 0 ||
	    (rc = state_load(&st, root, err)) < 0)
		return rc;
	/* state.json names the release's settings while it agrees with
	 * the current link (a crash between the two: the link wins). */
	if (layout_split_release(version, config, st.current) &&
	    strcmp(version, now) == 0)
		snprintf(out, LAYOUT_RELEASE_MAX + 1, "%s", st.current);
	else
		snprintf(out, LAYOUT_RELEASE_MAX + 1, "%s", now);
	state_release(&st);
	return 0;
}

struct staged {
	char version[LAYOUT_VERSION_MAX + 1];
	time_t at;
};

static int
by_time(const void *a, const void *b)
{
	const struct staged *x = a, *y = b;

	if (x->at != y->at)
		return x->at < y->at ? -1 : 1;
	return strverscmp(x->version, y->version);
}

/* The staged versions, oldest first, into a malloc'd array. */
static int
scan(struct staged **out, size_t *n, const char *root, struct err *err)
{
	char dir[LAYOUT_PATH_MAX], path[LAYOUT_PATH_MAX + 300];
	struct staged *list = NULL;
	struct dirent *de;
	struct stat st;
	size_t cap = 0;
	DIR *d;

	*n = 0;
	if (layout_path(dir, root, HOSTLAYOUT_RELEASES, NULL, err) < 0)
		return ERR_INVAL;
	if ((d = opendir(dir)) == NULL && errno == ENOENT)
		return 0; /* a root never deployed to (a read-only agent) */
	if (d == NULL)
		return err_set_errno(err, ERR_IO, errno, "cannot read '%s'",
				     dir);
	while ((de = readdir(d)) != NULL) {
		if (!layout_is_staged(root, de->d_name))
			continue;
		snprintf(path, sizeof(path), "%s/%s/release.json", dir,
			 de->d_name);
		if (stat(path, &st) < 0)
			continue;
		if (*n == cap) {
			struct staged *p;

			cap = cap ? cap * 2 : 16;
			if ((p = realloc(list, cap * sizeof(*p))) == NULL)
				break;
			list = p;
		}
		/* layout_is_staged checked the name: at most 64 bytes. */
		memcpy(list[*n].version, de->d_name, strlen(de->d_name) + 1);
		list[(*n)++].at = st.st_mtime;
	}
	closedir(d);
	if (*n > 0)
		qsort(list, *n, sizeof(*list), by_time);
	*out = list;
	return 0;
}

/* The sha256 of the artifact a release was staged from (its marker). */
static bool
marker_sha(char *out, const char *root, const char *version)
{
	char path[LAYOUT_PATH_MAX];
	struct buf b;
	bool ok;

	buf_init(&b, 128);
	ok = layout_marker(path, root, version, NULL) == 0 &&
	     fileio_read_all(&b, path, NULL) == 0 &&
	     b.len >= HASH_SHA256_HEX_LEN;
	if (ok) {
		memcpy(out, b.data, HASH_SHA256_HEX_LEN);
		out[HASH_SHA256_HEX_LEN] = '\0';
		ok = hash_is_sha256_hex(out);
	}
	buf_release(&b);
	return ok;
}

json_t *
releases_list(const char *root, struct err *err)
{
	struct staged *list = NULL;
	struct agent_state st;
	char current[LAYOUT_VERSION_MAX + 1], at[32];
	json_t *out = NULL;
	size_t n = 0;

	if (state_load(&st, root, err) < 0 ||
	    layout_current(current, root, err) < 0 ||
	    scan(&list, &n, root, err) < 0)
		goto out;
	out = json_array();
	for (size_t i = 0; i < n; i++) {
		struct tm tm;

		gmtime_r(&list[i].at, &tm);
		strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", &tm);
		json_t *rel = json_pack(
			"{s:s, s:b, s:b, s:s}", "version", list[i].version,
			"current", strcmp(list[i].version, current) == 0,
			"previous", is_version(st.previous, list[i].version),
			"staged_at", at);
		char sha[HASH_SHA256_HEX_LEN + 1];

		if (marker_sha(sha, root, list[i].version))
			json_object_set_new(rel, "sha256", json_string(sha));
		json_array_append_new(out, rel);
	}
out:
	free(list);
	state_release(&st);
	return out;
}

static bool protected(const char *v, const char *current,
		      const struct agent_state *st, const json_t *protect)
{
	size_t i;
	json_t *p;

	if (strcmp(v, current) == 0 || is_version(st->current, v) ||
	    is_version(st->previous, v))
		return true;
	json_array_foreach (protect, i, p)
		if (is_version(json_string_value(p), v))
			return true;
	return false;
}

/* The id in a settings file's name (runtime.<id>.yaml, or the TLS files
 * tls.<id>.pem, tls.<id>.key, tls.<id>.ca.pem), or NULL. */
static const char *
config_file_id(const char *name)
{
	static const char *const forms[][2] = {
		{ "runtime.", ".yaml" },
		{ "tls.", ".pem" },
		{ "tls.", ".key" },
		{ "tls.", ".ca.pem" },
	};

	for (size_t i = 0; i < sizeof(forms) / sizeof(*forms); i++) {
		size_t a = strlen(forms[i][0]), b = strlen(forms[i][1]);

		if (strlen(name) == a + LAYOUT_CONFIG_ID + b &&
		    strncmp(name, forms[i][0], a) == 0 &&
		    strspn(name + a, "0123456789abcdef") == LAYOUT_CONFIG_ID &&
		    strcmp(name + a + LAYOUT_CONFIG_ID, forms[i][1]) == 0)
			return name + a;
	}
	return NULL;
}

/* Settings files (shared/runtime.<config>.yaml, and the certificates
 * tls.<config>.*) no release of the lineage names go; the ones in use and
 * the host's own never do. */
static void
prune_configs(const char *root, const struct agent_state *st)
{
	char dir[LAYOUT_PATH_MAX], path[LAYOUT_PATH_MAX + 300],
		version[LAYOUT_VERSION_MAX + 1], config[LAYOUT_CONFIG_ID + 1],
		used[LAYOUT_PATH_MAX];
	struct dirent *de;
	ssize_t n;
	DIR *d;

	if (layout_path(dir, root, HOSTLAYOUT_SHARED, NULL, NULL) < 0 ||
	    (d = opendir(dir)) == NULL)
		return;
	snprintf(path, sizeof(path), "%s/runtime.yaml", dir);
	n = readlink(path, used, sizeof(used) - 1);
	used[n > 0 ? n : 0] = '\0';
	while ((de = readdir(d)) != NULL) {
		const char *id = config_file_id(de->d_name);
		bool named = id != NULL && strlen(used) > 8 &&
			     strncmp(used + 8, id, LAYOUT_CONFIG_ID) == 0;
		size_t i;
		json_t *e;

		if (id == NULL)
			continue;
		json_array_foreach (st->lineage, i, e)
			named = named ||
				(layout_split_release(
					 version, config,
					 json_string_value(json_object_get(
						 e, "version"))) &&
				 strncmp(config, id, LAYOUT_CONFIG_ID) == 0);
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (!named)
			unlink(path);
	}
	closedir(d);
}

static int
remove_release(const char *root, const char *version, struct err *err)
{
	char path[LAYOUT_PATH_MAX];
	int rc;

	if ((rc = layout_path(path, root, HOSTLAYOUT_RELEASES, version, err)) <
		    0 ||
	    (rc = fileio_remove_tree(path, err)) < 0 ||
	    (rc = layout_marker(path, root, version, err)) < 0)
		return rc;
	return fileio_remove_tree(path, err);
}

int
releases_prune(json_t **removed, const char *root, int keep,
	       const json_t *protect, struct err *err)
{
	char current[LAYOUT_VERSION_MAX + 1];
	struct staged *list = NULL;
	struct agent_state st;
	size_t n = 0;
	int rc;

	*removed = json_array();
	if ((rc = state_load(&st, root, err)) < 0 ||
	    (rc = layout_current(current, root, err)) < 0 ||
	    (rc = scan(&list, &n, root, err)) < 0)
		goto out;
	/* Oldest first: everything before the newest `keep` may go. */
	for (size_t i = 0; list != NULL && i + (size_t)keep < n && rc == 0;
	     i++) {
		if (protected(list[i].version, current, &st, protect))
			continue;
		if ((rc = remove_release(root, list[i].version, err)) == 0)
			json_array_append_new(*removed,
					      json_string(list[i].version));
	}
	if (rc == 0)
		prune_configs(root, &st);
out:
	free(list);
	state_release(&st);
	return rc;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

json_t *
releases_incoming(const char *root, struct err *err)
{
	char dir[LAYOUT_PATH_MAX], *names[RELEASES_INCOMING_MAX];
	json_t *list;
	size_t n = 0;
	struct dirent *de;
	DIR *d;

	if (layout_path(dir, root, HOSTLAYOUT_INCOMING, NULL, err) < 0)
		return NULL;
	if ((d = opendir(dir)) == NULL && errno == ENOENT)
		return json_array(); /* nothing uploaded yet */
	if (d == NULL) {
		err_set_errno(err, ERR_IO, errno, "cannot read '%s'", dir);
		return NULL;
	}
	while ((de = readdir(d)) != NULL && n < RELEASES_INCOMING_MAX)
		if (hash_is_sha256_hex(de->d_name) &&
		    (names[n] = strdup(de->d_name)) != NULL)
			n++;
	closedir(d);
	qsort(names, n, sizeof(*names), cmp_str);
	list = json_array();
	for (size_t i = 0; i < n; i++) {
		json_array_append_new(list, json_string(names[i]));
		free(names[i]);
	}
	return list;
}

/* True when sha is the marker of a staged release, or named in protect. */
static bool
artifact_wanted(const char *sha, const struct staged *list, size_t n,
		const char *root, const json_t *protect)
{
	char marker[HASH_SHA256_HEX_LEN + 1];
	size_t i;
	json_t *p;

	for (i = 0; i < n; i++)
		if (marker_sha(marker, root, list[i].version) &&
		    strcmp(marker, sha) == 0)
			return true;
	json_array_foreach (protect, i, p)
		if (json_is_string(p) && strcmp(json_string_value(p), sha) == 0)
			return true;
	return false;
}

int
releases_prune_incoming(json_t **removed, const char *root,
			const json_t *protect, struct err *err)
{
	char path[LAYOUT_PATH_MAX];
	struct staged *list = NULL;
	json_t *names, *v;
	size_t n = 0, i;
	int rc;

	*removed = json_array();
	if ((rc = scan(&list, &n, root, err)) < 0)
		return rc;
	if ((names = releases_incoming(root, err)) == NULL) {
		free(list);
		return ERR_IO;
	}
	json_array_foreach (names, i, v) {
		const char *sha = json_string_value(v);

		if (artifact_wanted(sha, list, n, root, protect))
			continue;
		if ((rc = layout_path(path, root, HOSTLAYOUT_INCOMING, sha,
				      err)) < 0 ||
		    (rc = fileio_remove_tree(path, err)) < 0)
			break;
		json_array_append_new(*removed, json_string(sha));
	}
	json_decref(names);
	free(list);
	return rc;
}

#define CONFIG_MAX (256 * 1024)

/* shared/<name>: text, unless it holds other text (the same id must
 * always mean the same files). */
static int
put_once(const char *root, const char *name, const char *text, mode_t mode,
	 struct err *err)
{
	char path[LAYOUT_PATH_MAX];
	struct buf old;
	size_t n = strlen(text);
	int rc;

	if (n > CONFIG_MAX)
		return err_set(err, ERR_OVERFLOW, "'%s' over %d bytes", name,
			       CONFIG_MAX);
	if ((rc = layout_path(path, root, HOSTLAYOUT_SHARED, name, err)) < 0)
		return rc;
	buf_init(&old, CONFIG_MAX);
	rc = fileio_read_all(&old, path, err);
	if (rc == 0 && (old.len != n || memcmp(old.data, text, n) != 0))
		rc = err_set(err, ERR_INTEGRITY,
			     "'%s' holds another file under the same id", path);
	if (old.data != NULL)
		explicit_bzero(old.data, old.len);
	buf_release(&old);
	if (rc == ERR_NOTFOUND)
		rc = fileio_write_atomic(path, text, n, mode, err);
	return rc;
}

int
releases_put_tls(const char *root, const char *config, const char *cert,
		 const char *key, const char *ca, struct err *err)
{
	char name[64];
	int rc;

	snprintf(name, sizeof(name), "tls.%s.pem", config);
	if ((rc = put_once(root, name, cert, 0644, err)) < 0)
		return rc;
	snprintf(name, sizeof(name), "tls.%s.key", config);
	if ((rc = put_once(root, name, key, 0600, err)) < 0)
		return rc;
	snprintf(name, sizeof(name), "tls.%s.ca.pem", config);
	return ca != NULL ? put_once(root, name, ca, 0644, err) : 0;
}

int
releases_put_config(const char *root, const char *config, const char *text,
		    const char *version, struct err *err)
{
	char path[LAYOUT_PATH_MAX], bin[LAYOUT_PATH_MAX + 64];
	const char *const argv[] = { bin, "check", "--config", path, NULL };
	struct buf old;
	size_t n = strlen(text);
	int rc;

	if (strlen(config) != LAYOUT_CONFIG_ID ||
	    strspn(config, "0123456789abcdef") != LAYOUT_CONFIG_ID)
		return err_set(err, ERR_INVAL,
			       "a configuration id is 12 lower-case hex "
			       "digits");
	if (n > CONFIG_MAX)
		return err_set(err, ERR_OVERFLOW,
			       "runtime settings over %d bytes", CONFIG_MAX);
	if ((rc = layout_config(path, root, config, err)) < 0)
		return rc;
	buf_init(&old, CONFIG_MAX);
	rc = fileio_read_all(&old, path, err);
	if (rc == 0 && (old.len != n || memcmp(old.data, text, n) != 0))
		rc = err_set(err, ERR_INTEGRITY,
			     "'%s' holds other settings under the same id",
			     path);
	buf_release(&old);
	if (rc == ERR_NOTFOUND)
		rc = fileio_write_atomic(path, text, n, 0640, err);
	if (rc < 0)
		return rc;
	if (version == NULL || !layout_is_staged(root, version))
		return 0;
	snprintf(bin, sizeof(bin), "%s/%s/%s/bin/ivr-runtime", root,
		 HOSTLAYOUT_RELEASES, version);
	if ((rc = proc_check(argv, "ivr-runtime check", PROC_CHECK_MS, err)) <
	    0)
		unlink(path);
	return rc;
}
