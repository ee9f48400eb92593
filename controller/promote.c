/*
 * promote: see promote.h.
 */
#include "promote.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agentc.h"
#include "artifact.h"
#include "exitcode.h"
#include "journal.h"
#include "ssh.h"

/* Why staging cannot be promoted, said for each host; true when it can. */
static bool
staging_ready(const struct fleet_status *s, const struct plan *p)
{
	bool ok = true;

	if (s->lb_error[0]) {
		fprintf(stderr, "ivrctl: staging's load balancer: %s\n",
			s->lb_error);
		ok = false;
	}
	for (size_t i = 0; i < s->n; i++) {
		const struct host_status *h = &s->hosts[i];
		const char *why = NULL;

		if (!h->reachable)
			why = h->error;
		else if (!h->healthy)
			why = "not ready";
		else if (p->lb.kind != PLAN_LB_NONE &&
			 strcmp(h->pool_state, "ready") != 0)
			why = "not READY in the load balancer";
		if (why != NULL) {
			fprintf(stderr, "ivrctl: staging host %s (%s): %s\n",
				h->host->name, h->current[0] ? h->current : "-",
				why);
			ok = false;
		}
	}
	if (!s->consistent || s->release[0] == '\0') {
		fprintf(stderr,
			"ivrctl: staging (%s) does not run one release "
			"on every host\n",
			p->environment);
		ok = false;
	}
	return ok;
}

/* The sha256 every staging host recorded for release; false (said why)
 * when one cannot say or they differ.  Keeps the first host's connection
 * for the download. */
static bool
staging_sha(char *sha, size_t size, struct ssh_conn **keep, char *root,
	    size_t root_size, const struct plan *p,
	    const struct agent_bundle *agent, const char *release)
{
	bool ok = true;

	sha[0] = '\0';
	for (size_t i = 0; i < p->nhosts && ok; i++) {
		const struct plan_host *h = &p->hosts[i];
		struct ssh_conn *c = NULL;
		struct agentc *a = NULL;
		struct ssh_target t;
		json_t *res = NULL, *rel;
		const char *found = NULL;
		bool uploaded;
		struct err e;
		size_t k;

		status_target(&t, p, h->name, h->address, h->port, h->user);
		if (status_open_agent(&c, &a, &uploaded, p, agent, &t, h,
				      p->agent_root, &e) < 0 ||
		    agentc_call(&res, a, "releases.list", NULL,
				p->command_timeout_ms, &e) < 0) {
			fprintf(stderr, "ivrctl: staging: %s\n", e.msg);
			ok = false;
		}
		json_array_foreach (json_object_get(res, "releases"), k, rel)
			if (json_is_string(json_object_get(rel, "version")) &&
			    strcmp(json_string_value(
					   json_object_get(rel, "version")),
				   release) == 0)
				found = json_string_value(
					json_object_get(rel, "sha256"));
		if (ok && found == NULL) {
			fprintf(stderr,
				"ivrctl: staging host %s does not record the "
				"artifact %s came from\n",
				h->name, release);
			ok = false;
		} else if (ok && sha[0] == '\0') {
			snprintf(sha, size, "%s", found);
		} else if (ok && strcmp(sha, found) != 0) {
			fprintf(stderr,
				"ivrctl: staging hosts ran %s from different "
				"artifacts (%s: sha256 %.12s, %s: %.12s): "
				"redeploy staging from one artifact first\n",
				release, p->hosts[0].name, sha, h->name, found);
			ok = false;
		}
		json_decref(res);
		agentc_close(a);
		if (ok && i == 0) {
			*keep = c;
			plan_expand(root, root_size, p->agent_root, h, NULL);
		} else {
			ssh_close(c);
		}
	}
	return ok;
}

/* The artifact staging's journal names for release, if it is still there
 * with the right hash. */
static bool
from_journal(char *out, size_t size, const char *journal, const char *release,
	     const char *sha)
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
		    strcmp(to, release) == 0 && strcmp(s, sha) == 0 &&
		    artifact_has_sha(art, sha)) {
			snprintf(out, size, "%s", art);
			found = true;
		}
	}
	json_decref(runs);
	return found;
}

int
promote_run(const struct plan *staging, const struct plan *prod,
	    const struct agent_bundle *agent, struct deploy_opts *o)
{
	struct fleet_status s;
	struct ssh_conn *c = NULL;
	struct journal j;
	char release[65], sha[65] = "", root[4096] = "", artifact[4400],
			  remote[4200], dir[4200], *slash;
	const char *source = "staging's journal";
	struct err e;
	int rc = EXITCODE_BAD_INPUT;

	if (strcmp(staging->environment, prod->environment) == 0) {
		fprintf(stderr,
			"ivrctl: both plans are environment '%s': promote "
			"goes from one environment to another\n",
			prod->environment);
		return EXITCODE_BAD_INPUT;
	}
	status_collect(&s, staging, agent);
	if (!staging_ready(&s, staging)) {
		fprintf(stderr,
			"ivrctl: staging is not live and healthy on one "
			"release: nothing was promoted\n");
		status_release(&s);
		return EXITCODE_BAD_INPUT;
	}
	snprintf(release, sizeof(release), "%s", s.release);
	status_release(&s);
	if (!staging_sha(sha, sizeof(sha), &c, root, sizeof(root), staging,
			 agent, release) ||
	    journal_paths(&j, staging, &e) < 0)
		goto out;
	if (!from_journal(artifact, sizeof(artifact), j.path, release, sha)) {
		/* A copy of what the staging hosts staged, beside the
		 * journal; the name carries the version. */
		snprintf(dir, sizeof(dir), "%s", j.path);
		if ((slash = strrchr(dir, '/')) != NULL)
			*slash = '\0';
		snprintf(dir + strlen(dir), sizeof(dir) - strlen(dir),
			 "/artifacts");
		if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
			fprintf(stderr, "ivrctl: cannot create '%s': %s\n", dir,
				strerror(errno));
			goto out;
		}
		snprintf(artifact, sizeof(artifact), "%s/ivr-runtime-%s.tar.gz",
			 dir, release);
		if (artifact_remote_path(remote, sizeof(remote), root, sha,
					 &e) < 0 ||
		    ssh_download(c, remote, artifact, ARTIFACT_MAX_BYTES, &e) <
			    0) {
			fprintf(stderr,
				"ivrctl: cannot fetch %s's artifact from "
				"staging: %s\n",
				release, e.msg);
			goto out;
		}
		if (!artifact_has_sha(artifact, sha)) {
			fprintf(stderr,
				"ivrctl: the artifact fetched from %s does not "
				"hash to %s: removed, nothing was promoted\n",
				staging->hosts[0].name, sha);
			unlink(artifact);
			goto out;
		}
		source = staging->hosts[0].name;
	}
	ssh_close(c);
	c = NULL;
	if (o->json) {
		json_t *ev =
			json_pack("{s:s, s:s, s:s, s:s}", "event", "promote",
				  "from_environment", staging->environment,
				  "release", release, "sha256", sha);
		char *text = json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER);

		fprintf(o->out, "%s\n", text ? text : "{}");
		free(text);
		json_decref(ev);
	} else
		fprintf(o->out,
			"promote: %s runs %s on every host, healthy and READY; "
			"artifact sha256 %.12s verified (from %s)\n",
			staging->environment, release, sha, source);
	fflush(o->out);
	o->artifact = artifact;
	o->promoted_from = staging->environment;
	rc = deploy_run(prod, agent, o);
out:
	ssh_close(c);
	return rc;
}
