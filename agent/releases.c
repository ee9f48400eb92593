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

#include "buf.h"
#include "fileio.h"
#include "hash.h"
#include "hostlayout.h"
#include "layout.h"

int
releases_activate(struct activate_result *out, const char *root,
		  const char *version, const char *deployment_id,
		  const char *undoes, struct err *err)
{
	char link[LAYOUT_PATH_MAX], target[LAYOUT_VERSION_MAX + 16];
	struct agent_state st;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!layout_is_staged(root, version))
		return err_set(err, ERR_NOTFOUND,
			       "release '%s' is not staged: stage it first",
			       version);
	if ((rc = state_load(&st, root, err)) < 0)
		goto out;
	if ((rc = layout_current(out->current, root, err)) < 0)
		goto out;
	out->changed = strcmp(out->current, version) != 0;
	if (out->changed) {
		snprintf(target, sizeof(target), "releases/%s", version);
		if ((rc = layout_path(link, root, HOSTLAYOUT_CURRENT, NULL,
				      err)) < 0 ||
		    (rc = fileio_symlink_atomic(target, link, err)) < 0)
			goto out;
	}
	/* The symlink runs; state.json follows it (also after a crash
	 * between the two, when activation is repeated). */
	if (out->changed || strcmp(st.current, version) != 0 ||
	    strcmp(st.deployment_id, deployment_id) != 0) {
		state_record(&st, version, deployment_id, undoes);
		if ((rc = state_save(&st, root, err)) < 0)
			goto out;
	}
	snprintf(out->current, sizeof(out->current), "%s", st.current);
	snprintf(out->previous, sizeof(out->previous), "%s", st.previous);
out:
	state_release(&st);
	return rc;
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
			"previous", strcmp(list[i].version, st.previous) == 0,
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

	if (strcmp(v, current) == 0 || strcmp(v, st->current) == 0 ||
	    strcmp(v, st->previous) == 0)
		return true;
	json_array_foreach (protect, i, p)
		if (json_is_string(p) && strcmp(json_string_value(p), v) == 0)
			return true;
	return false;
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
