/*
 * promote: see promote.h.
 */
#include "promote.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "artifact.h"
#include "journal.h"

/* The sha256 host s recorded for release into sha ("" when none). */
static int
recorded_sha(char *sha, size_t size, struct host_session *s,
	     const char *release, struct err *err)
{
	json_t *res = NULL, *rel;
	size_t k;

	sha[0] = '\0';
	if (host_call(&res, s, "releases.list", NULL, err) < 0)
		return err_prefix(err, "staging: ");
	json_array_foreach (json_object_get(res, "releases"), k, rel) {
		const char *h = host_str(rel, "sha256");

		if (h[0] != '\0' &&
		    strcmp(host_str(rel, "version"), release) == 0)
			snprintf(sha, size, "%s", h);
	}
	json_decref(res);
	if (sha[0] == '\0')
		return err_set(
			err, ERR_INTEGRITY,
			"staging host %s does not record the artifact %s "
			"came from",
			s->h->name, release);
	return 0;
}

/* The sha256 every staging host recorded for release; the first host's
 * session stays open in first (for a download). */
static int
staging_sha(char *sha, size_t size, struct host_session *first,
	    const struct plan *p, const struct agent_bundle *agent,
	    const char *release, struct err *err)
{
	char found[65];
	int rc = 0;

	for (size_t i = 0; i < p->nhosts && rc == 0; i++) {
		struct host_session other = { 0 };
		struct host_session *s = i == 0 ? first : &other;

		if (host_open(s, p, &p->hosts[i], p->agent_root, agent, 0,
			      err) < 0)
			rc = err_prefix(err, "staging: ");
		else if ((rc = recorded_sha(found, sizeof(found), s, release,
					    err)) == 0 &&
			 i == 0)
			snprintf(sha, size, "%s", found);
		else if (rc == 0 && strcmp(sha, found) != 0)
			rc = err_set(err, ERR_INTEGRITY,
				     "staging hosts ran %s from different "
				     "artifacts (%s: sha256 %.12s, %s: %.12s): "
				     "redeploy staging from one artifact first",
				     release, p->hosts[0].name, sha,
				     p->hosts[i].name, found);
		if (s != first)
			host_close(s);
	}
	return rc;
}

/* The artifact staging's journal names for release, if it is still there
 * with the right hash. */
static bool
from_journal(char *out, size_t size, struct journal *journal,
	     const char *release, const char *sha)
{
	json_t *runs = NULL, *run;
	bool found = false;
	size_t i;

	if (journal_runs(&runs, journal, NULL) < 0)
		return false;
	json_array_foreach (runs, i, run) {
		const char *to = json_string_value(json_object_get(run, "to"));
		const char *art =
			json_string_value(json_object_get(run, "artifact"));
		const char *s =
			json_string_value(json_object_get(run, "sha256"));

		if (to != NULL && art != NULL && s != NULL &&
		    plan_release_is(to, release) && strcmp(s, sha) == 0 &&
		    artifact_has_sha(art, sha)) {
			snprintf(out, size, "%s", art);
			found = true;
		}
	}
	json_decref(runs);
	return found;
}

/* A copy of what the staging host of s staged, beside the journal (in
 * artifacts/, named for the version), hashed before it is used. */
static int
download(struct promote_source *out, struct host_session *s,
	 const char *journal, const char *release, struct err *err)
{
	char dir[4200], remote[4200], *slash;

	snprintf(dir, sizeof(dir), "%s", journal);
	if ((slash = strrchr(dir, '/')) != NULL)
		*slash = '\0';
	snprintf(dir + strlen(dir), sizeof(dir) - strlen(dir), "/artifacts");
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return err_set_errno(err, ERR_IO, errno, "cannot create '%s'",
				     dir);
	snprintf(out->artifact, sizeof(out->artifact),
		 "%s/ivr-runtime-%s.tar.gz", dir, release);
	if (artifact_remote_path(remote, sizeof(remote), s->root, out->sha256,
				 err) < 0 ||
	    ssh_download(s->c, remote, out->artifact, ARTIFACT_MAX_BYTES, err) <
		    0)
		return err_prefix(
			err,
			"cannot fetch %s's artifact from staging: ", release);
	if (!artifact_has_sha(out->artifact, out->sha256)) {
		unlink(out->artifact);
		return err_set(err, ERR_INTEGRITY,
			       "the artifact fetched from %s does not hash to "
			       "%s: removed, nothing was promoted",
			       s->h->name, out->sha256);
	}
	snprintf(out->from, sizeof(out->from), "%s", s->h->name);
	return 0;
}

int
promote_find(struct promote_source *out, const struct plan *staging,
	     const char *release, const struct agent_bundle *agent,
	     struct err *err)
{
	struct host_session first = { 0 };
	struct journal j = { .fd = -1 };
	int rc;

	memset(out, 0, sizeof(*out));
	if (staging->nhosts == 0)
		return err_set(err, ERR_INVAL, "staging has no hosts");
	if ((rc = staging_sha(out->sha256, sizeof(out->sha256), &first, staging,
			      agent, release, err)) < 0 ||
	    (rc = journal_paths(&j, staging, err)) < 0)
		goto out;
	if (from_journal(out->artifact, sizeof(out->artifact), &j, release,
			 out->sha256))
		snprintf(out->from, sizeof(out->from), "staging's journal");
	else
		rc = download(out, &first, j.path, release, err);
out:
	journal_close(&j);
	host_close(&first);
	return rc;
}
