/*
 * status: see status.h.
 */
#include "status.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fanout.h"
#include "host.h"

#define CALL_TIMEOUT_MS 30000

struct work {
	const struct plan *p;
	const struct agent_bundle *agent;
	struct fleet_status *s;
};

static void
read_host(void *ctx, size_t i)
{
	const struct work *w = ctx;
	struct host_status *hs = &w->s->hosts[i];
	struct host_session hsn;
	struct err e;

	if (host_open(&hsn, w->p, hs->host, w->p->agent_root, w->agent,
		      HOST_PROBE_HEALTH, &e) < 0) {
		hs->agent_uploaded = hsn.uploaded;
		snprintf(hs->error, sizeof(hs->error), "%s", e.msg);
		host_close(&hsn);
		return;
	}
	hs->reachable = true;
	hs->agent_uploaded = hsn.uploaded;
	snprintf(hs->current, sizeof(hs->current), "%s", hsn.current);
	snprintf(hs->previous, sizeof(hs->previous), "%s", hsn.previous);
	snprintf(hs->deployment_id, sizeof(hs->deployment_id), "%s",
		 hsn.deployment_id);
	hs->running = hsn.running;
	hs->healthy = hsn.ready;
	snprintf(hs->not_ready, sizeof(hs->not_ready), "%s", hsn.not_ready);
	snprintf(hs->cert_expires, sizeof(hs->cert_expires), "%s",
		 hsn.cert_expires);
	host_close(&hsn);
}

/* One member's state, as the balancer's agent reports it. */
static void
read_member(struct fleet_status *fs, struct host_session *lb,
	    struct host_status *hs)
{
	json_t *r = NULL, *up, *sessions;
	struct err e;

	if (host_call_within(&r, lb, "lb.get_state",
			     host_member_params(lb->p, hs->host),
			     CALL_TIMEOUT_MS, &e) < 0) {
		snprintf(hs->pool_state, sizeof(hs->pool_state), "?");
		if (fs->lb_error[0] == '\0')
			snprintf(fs->lb_error, sizeof(fs->lb_error), "%s",
				 e.msg);
		return;
	}
	up = json_object_get(r, "up");
	sessions = json_object_get(r, "sessions");
	snprintf(hs->pool_state, sizeof(hs->pool_state), "%s",
		 host_str(r, "state"));
	hs->pool_up = json_is_boolean(up) ? json_is_true(up) : -1;
	hs->sessions =
		json_is_integer(sessions) ? json_integer_value(sessions) : -1;
	json_decref(r);
}

/* The pool's members that are no host of the plan, into unlisted. */
static void
read_pool(struct fleet_status *fs, struct host_session *lb)
{
	char dash[] = "-";
	struct plan_host none = { .member = dash };
	json_t *r = NULL, *params = host_member_params(lb->p, &none), *m;
	size_t i, n = 0;

	json_object_del(params, "server");
	if (host_call_within(&r, lb, "lb.members", params, CALL_TIMEOUT_MS,
			     NULL) < 0)
		return; /* an agent that cannot list: the members are read */
	json_array_foreach (json_object_get(r, "members"), i, m) {
		const char *name = host_str(m, "name");
		bool listed = false;

		for (size_t k = 0; k < fs->n; k++)
			listed = listed ||
				 strcmp(fs->hosts[k].host->member, name) == 0;
		if (!listed && n < sizeof(fs->unlisted))
			n += (size_t)snprintf(fs->unlisted + n,
					      sizeof(fs->unlisted) - n, "%s%s",
					      n ? ", " : "", name);
	}
	json_decref(r);
}

/* Asks the balancer host's agent for every member's state. */
static void
read_balancer(const struct work *w)
{
	struct plan_host lb;
	struct host_session s;
	struct err e;

	host_balancer(&lb, w->p);
	if (host_open(&s, w->p, &lb, w->p->lb.agent_root, w->agent, 0, &e) <
	    0) {
		snprintf(w->s->lb_error, sizeof(w->s->lb_error), "%s", e.msg);
	} else {
		for (size_t i = 0; i < w->s->n; i++)
			read_member(w->s, &s, &w->s->hosts[i]);
		read_pool(w->s, &s);
	}
	host_close(&s);
}

/* Why host i keeps the fleet from being consistent, or NULL. */
static const char *
host_fault(const struct fleet_status *s, size_t i, bool has_lb)
{
	const struct host_status *hs = &s->hosts[i];

	if (!hs->reachable)
		return "cannot be read";
	if (hs->current[0] == '\0')
		return "runs no release";
	if (strcmp(hs->current, s->hosts[0].current) != 0)
		return "runs another release than the first host";
	if (!hs->healthy)
		return hs->running ? "its runtime is not ready"
				   : "its runtime is stopped";
	if (has_lb && strcmp(hs->pool_state, "ready") != 0)
		return "is not READY in the load balancer";
	if (has_lb && hs->pool_up == 0)
		return "is DOWN in the load balancer's health check";
	return NULL;
}

static void
decide(struct fleet_status *s, bool has_lb)
{
	s->consistent = s->n > 0;
	s->why_not[0] = '\0';
	if (s->n == 0)
		snprintf(s->why_not, sizeof(s->why_not), "no hosts");
	for (size_t i = 0; i < s->n && s->consistent; i++) {
		const char *why = host_fault(s, i, has_lb);

		if (why != NULL) {
			/* a runtime that runs and is not ready: why */
			const char *detail =
				s->hosts[i].running && !s->hosts[i].healthy
					? s->hosts[i].not_ready
					: "";

			s->consistent = false;
			snprintf(s->why_not, sizeof(s->why_not), "%s %s%s%s%s",
				 s->hosts[i].host->name, why,
				 detail[0] ? " (" : "", detail,
				 detail[0] ? ")" : "");
		}
	}
	if (s->consistent && has_lb && s->lb_error[0]) {
		s->consistent = false;
		snprintf(s->why_not, sizeof(s->why_not),
			 "the load balancer cannot be read");
	}
	if (s->consistent && s->unlisted[0]) {
		s->consistent = false;
		snprintf(s->why_not, sizeof(s->why_not),
			 "the pool holds %.160s, not in the plan (ivrctl "
			 "scale takes out what the plan does not list)",
			 s->unlisted);
	}
	snprintf(s->release, sizeof(s->release), "%s",
		 s->consistent ? s->hosts[0].current : "");
}

void
status_collect(struct fleet_status *out, const struct plan *p,
	       const struct agent_bundle *agent)
{
	struct work w = { .p = p, .agent = agent, .s = out };

	memset(out, 0, sizeof(*out));
	out->hosts = calloc(p->nhosts, sizeof(*out->hosts));
	out->n = out->hosts ? p->nhosts : 0;
	for (size_t i = 0; i < out->n; i++) {
		out->hosts[i].host = &p->hosts[i];
		out->hosts[i].sessions = -1;
		out->hosts[i].pool_up = -1;
	}
	fanout_run(out->n, p->parallel, read_host, &w);
	if (p->lb.kind != PLAN_LB_NONE)
		read_balancer(&w);
	decide(out, p->lb.kind != PLAN_LB_NONE);
}

void
status_release(struct fleet_status *s)
{
	free(s->hosts);
	s->hosts = NULL;
	s->n = 0;
}

static json_t *
str_or_null(const char *s)
{
	return s[0] ? json_string(s) : json_null();
}

json_t *
status_json(const struct fleet_status *s, const struct plan *p)
{
	json_t *hosts = json_array();

	for (size_t i = 0; i < s->n; i++) {
		const struct host_status *hs = &s->hosts[i];
		json_t *h = json_pack(
			"{s:s, s:s, s:o, s:o, s:o, s:b, s:b, s:o}", "name",
			hs->host->name, "address", hs->host->address, "current",
			str_or_null(hs->current), "previous",
			str_or_null(hs->previous), "deployment_id",
			str_or_null(hs->deployment_id), "reachable",
			hs->reachable, "healthy", hs->healthy, "pool_state",
			str_or_null(hs->pool_state));

		if (hs->error[0])
			json_object_set_new(h, "error", json_string(hs->error));
		if (!hs->healthy && hs->not_ready[0])
			json_object_set_new(h, "not_ready",
					    json_string(hs->not_ready));
		json_object_set_new(h, "agent_uploaded",
				    json_boolean(hs->agent_uploaded));
		if (hs->sessions >= 0)
			json_object_set_new(h, "sessions",
					    json_integer(hs->sessions));
		if (hs->pool_up >= 0)
			json_object_set_new(h, "pool_up",
					    json_boolean(hs->pool_up));
		if (hs->cert_expires[0])
			json_object_set_new(h, "certificate_expires",
					    json_string(hs->cert_expires));
		json_array_append_new(hosts, h);
	}
	return json_pack("{s:s, s:b, s:o, s:o, s:o, s:o, s:o}", "environment",
			 p->environment, "consistent", s->consistent, "release",
			 str_or_null(s->release), "not_consistent_because",
			 str_or_null(s->why_not), "hosts", hosts,
			 "load_balancer_error", str_or_null(s->lb_error),
			 "unlisted_members", str_or_null(s->unlisted));
}

/* A line for each runtime whose certificate expires within the plan's
 * tls.expiry_warning. */
static int
expiring(struct buf *out, const struct fleet_status *s, const struct plan *p,
	 struct err *err)
{
	int64_t now = (int64_t)time(NULL);
	int rc = 0;

	for (size_t i = 0; i < s->n && rc == 0; i++) {
		const struct host_status *hs = &s->hosts[i];
		struct tm tm;
		int64_t t;

		memset(&tm, 0, sizeof(tm));
		if (!hs->cert_expires[0] ||
		    strptime(hs->cert_expires, "%Y-%m-%dT%H:%M:%SZ", &tm) ==
			    NULL)
			continue;
		t = (int64_t)timegm(&tm);
		if (plan_tls_soon(p, t, now))
			rc = buf_appendf(out, err,
					 "warning: %s's certificate expires "
					 "%s (in %lld d; tls.expiry_warning "
					 "%lld d)\n",
					 hs->host->name, hs->cert_expires,
					 (long long)((t - now) / 86400),
					 (long long)(p->tls.expiry_warning_ms /
						     86400000));
	}
	return rc;
}

int
status_format(struct buf *out, const struct fleet_status *s,
	      const struct plan *p, struct err *err)
{
	int w = 12, rc; /* releases with settings are wider */
	bool certs = false;

	for (size_t i = 0; i < s->n; i++) {
		w = (int)strlen(s->hosts[i].current) > w
			    ? (int)strlen(s->hosts[i].current)
			    : w;
		w = (int)strlen(s->hosts[i].previous) > w
			    ? (int)strlen(s->hosts[i].previous)
			    : w;
	}
	for (size_t i = 0; i < s->n; i++)
		certs = certs || s->hosts[i].cert_expires[0] != '\0';
	rc = buf_appendf(out, err, "%-12s %-16s %-*s %-*s %-8s %-10s%s\n",
			 "HOST", "ADDRESS", w, "CURRENT", w, "PREVIOUS",
			 "HEALTH", "POOL", certs ? " CERT EXPIRES" : "");
	for (size_t i = 0; i < s->n && rc == 0; i++) {
		const struct host_status *hs = &s->hosts[i];
		char pool[32], cert[16] = "";

		/* The balancer's own health check, when it says DOWN. */
		snprintf(pool, sizeof(pool), "%s%s",
			 hs->pool_state[0] ? hs->pool_state : "-",
			 hs->pool_up == 0 ? ",DOWN" : "");
		if (certs)
			snprintf(cert, sizeof(cert), " %.10s",
				 hs->cert_expires[0] ? hs->cert_expires : "-");
		rc = buf_appendf(
			out, err, "%-12s %-16s %-*s %-*s %-8s %-10s%s%s%s\n",
			hs->host->name, hs->host->address, w,
			hs->current[0] ? hs->current : "-", w,
			hs->previous[0] ? hs->previous : "-",
			!hs->reachable ? "?"
			: hs->healthy  ? "ready"
			: hs->running  ? "unready"
				       : "stopped",
			pool, cert, hs->error[0] ? "  " : "", hs->error);
	}
	if (rc == 0 && s->lb_error[0])
		rc = buf_appendf(out, err, "load balancer: %s\n", s->lb_error);
	if (rc == 0)
		rc = expiring(out, s, p, err);
	if (rc < 0)
		return rc;
	if (s->consistent)
		return buf_appendf(out, err,
				   "%s: consistent, every host on %s, ready "
				   "and in the pool\n",
				   p->environment, s->release);
	return buf_appendf(out, err, "%s: NOT consistent: %s\n", p->environment,
			   s->why_not);
}

/* Why staging host hs cannot be promoted from, or NULL. */
static const char *
serving_fault(const struct host_status *hs, bool has_lb)
{
	if (!hs->reachable)
		return hs->error;
	if (!hs->healthy)
		return "not ready";
	if (has_lb && strcmp(hs->pool_state, "ready") != 0)
		return "not READY in the load balancer";
	return NULL;
}

int
status_problems(struct buf *out, const struct fleet_status *s,
		const struct plan *p, const char *who, struct err *err)
{
	bool has_lb = p->lb.kind != PLAN_LB_NONE;
	int rc = 0;

	if (s->lb_error[0])
		rc = buf_appendf(out, err, "%s's load balancer: %s\n", who,
				 s->lb_error);
	for (size_t i = 0; i < s->n && rc == 0; i++) {
		const struct host_status *hs = &s->hosts[i];
		const char *why = serving_fault(hs, has_lb);

		if (why != NULL)
			rc = buf_appendf(out, err, "%s host %s (%s): %s\n", who,
					 hs->host->name,
					 hs->current[0] ? hs->current : "-",
					 why);
	}
	if (rc == 0 && (!s->consistent || s->release[0] == '\0'))
		rc = buf_appendf(out, err,
				 "%s (%s) does not run one release on every "
				 "host\n",
				 who, p->environment);
	return rc;
}
