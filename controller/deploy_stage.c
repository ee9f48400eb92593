/*
 * deploy_stage: staging (deploy_int.h): the artifact uploaded unless a
 * host has it, unpacked and checked there, and the release's settings
 * with their certificates put beside it and checked by its runtime, on
 * every host at once; and the preflight's warning of certificates near
 * their expiry.
 */
#include "deploy.h"
#include "deploy_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "artifact.h"
#include "fanout.h"

/* config.put's params: h's settings, and its certificates with
 * runtime.tls. */
static json_t *
config_params(const struct run *r, const struct plan_host *h)
{
	json_t *o = json_pack("{s:s, s:s, s:s}", "config", r->p->config_id,
			      "text", h->runtime, "version", r->art.version);

	if (o != NULL && h->tls_cert != NULL && h->tls_key != NULL)
		json_object_set_new(o, "tls",
				    json_pack("{s:s, s:s, s:s*}", "cert",
					      h->tls_cert, "key", h->tls_key,
					      "client_ca", h->tls_client_ca));
	return o;
}

/* Uploads the artifact unless the host has it, then stages it. */
int
deploy_stage_host(struct run *r, struct hostrun *hr, struct err *err)
{
	char remote[4200], q[8500], cmd[8600];
	int status = 1, rc;

	if ((rc = artifact_remote_path(remote, sizeof(remote), hr->s.root,
				       r->art.sha256, err)) < 0 ||
	    (rc = ssh_quote(q, sizeof(q), remote, err)) < 0)
		return rc;
	snprintf(cmd, sizeof(cmd), "test -f %s", q);
	if ((rc = ssh_exec(hr->s.c, cmd, NULL, &status, err)) < 0 ||
	    (status != 0 && (rc = ssh_upload(hr->s.c, r->o->artifact, remote,
					     0644, err)) < 0) ||
	    (rc = deploy_call(hr, "stage",
			      json_pack("{s:s, s:s}", "version", r->art.version,
					"sha256", r->art.sha256),
			      NULL, err)) < 0)
		return rc;
	/* the release's settings (and certificates), checked by its runtime
	 * on the host */
	if (r->p->config_id[0] != '\0' &&
	    (rc = deploy_call(hr, "config.put", config_params(r, hr->h), NULL,
			      err)) < 0)
		return rc;
	deploy_say(r, "%s: %s staged%s", hr->h->name, r->art.version,
		   status != 0 ? " (uploaded)" : "");
	return 0;
}

static void
stage_one(void *ctx, size_t i)
{
	struct run *r = ctx;
	struct hostrun *hr = &r->hosts[i];
	struct err e;

	if (deploy_stage_host(r, hr, &e) < 0) {
		hr->failed = true;
		snprintf(hr->error, sizeof(hr->error), "%s", e.msg);
		deploy_say(r, "%s: staging FAILED: %s", hr->h->name, e.msg);
	}
}

void
deploy_stage_all(struct run *r)
{
	fanout_run(r->n, r->p->parallel, stage_one, r);
}

void
deploy_tls_warn(struct run *r)
{
	char list[1024];
	size_t n = plan_tls_expiring(r->p, (int64_t)time(NULL), list,
				     sizeof(list), NULL);

	if (n > 0)
		deploy_say(r,
			   "WARNING: %zu certificate(s) this run ships expire "
			   "within tls.expiry_warning (%lld d): %s",
			   n,
			   (long long)(r->p->tls.expiry_warning_ms / 86400000),
			   list);
}
