/*
 * status: see status.h.
 */
#include "status.h"

#include <stdlib.h>
#include <string.h>

#include "agentc.h"
#include "fanout.h"

#define CALL_TIMEOUT_MS 30000

void
status_target(struct ssh_target *t, const struct plan *p, const char *name,
	      const char *address, int port, const char *user)
{
	*t = (struct ssh_target){
		.name = name,
		.address = address,
		.port = port,
		.user = user,
		.identity_file = p->identity_file,
		.known_hosts = p->known_hosts,
		.connect_timeout_ms = p->connect_timeout_ms,
		.keepalive_ms = p->keepalive_ms,
		.timeout_ms = p->command_timeout_ms,
	};
}

struct work {
	const struct plan *p;
	const struct agent_bundle *agent;
	struct fleet_status *s;
};

static void
copy_str(char *dst, size_t size, json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));

	snprintf(dst, size, "%s", v ? v : "");
}

int
status_open_agent(struct ssh_conn **c, struct agentc **a, bool *uploaded,
		  const struct plan *p, const struct agent_bundle *agent,
		  const struct ssh_target *t, const struct plan_host *h,
		  const char *root_tmpl, struct err *err)
{
	char path[4096], root[4096];
	int rc;

	if ((rc = plan_expand(path, sizeof(path), p->agent_path, h, err)) < 0 ||
	    (rc = plan_expand(root, sizeof(root), root_tmpl, h, err)) < 0 ||
	    (rc = ssh_connect(c, t, err)) < 0)
		return rc;
	if ((rc = agentc_open(a, uploaded, *c, path, root, t->name, agent->path,
			      agent->version, p->command_timeout_ms, err)) <
	    0) {
		ssh_close(*c);
		*c = NULL;
	}
	return rc;
}

static int
open_agent(struct ssh_conn **c, struct agentc **a, bool *uploaded,
	   const struct work *w, const struct ssh_target *t,
	   const struct plan_host *h, const char *root_tmpl, struct err *err)
{
	return status_open_agent(c, a, uploaded, w->p, w->agent, t, h,
				 root_tmpl, err);
}

static void
read_host(void *ctx, size_t i)
{
	const struct work *w = ctx;
	struct host_status *hs = &w->s->hosts[i];
	const struct plan_host *h = hs->host;
	struct ssh_conn *c = NULL;
	struct agentc *a = NULL;
	struct ssh_target t;
	char url[4096];
	json_t *r = NULL;
	struct err e;

	status_target(&t, w->p, h->name, h->address, h->port, h->user);
	if (open_agent(&c, &a, &hs->agent_uploaded, w, &t, h, w->p->agent_root,
		       &e) < 0 ||
	    plan_expand(url, sizeof(url), w->p->health_url, h, &e) < 0 ||
	    agentc_call(&r, a, "hello", json_pack("{s:s}", "health_url", url),
			CALL_TIMEOUT_MS, &e) < 0) {
		snprintf(hs->error, sizeof(hs->error), "%s", e.msg);
		goto out;
	}
	hs->reachable = true;
	copy_str(hs->current, sizeof(hs->current), r, "current");
	copy_str(hs->previous, sizeof(hs->previous), r, "previous");
	copy_str(hs->deployment_id, sizeof(hs->deployment_id), r,
		 "deployment_id");
	hs->running = json_is_true(
		json_object_get(json_object_get(r, "runtime"), "running"));
	hs->healthy = json_is_true(
		json_object_get(json_object_get(r, "runtime"), "ready"));
out:
	json_decref(r);
	agentc_close(a);
	ssh_close(c);
}

/* The lb.get_state params for a host's member. */
static json_t *
member_params(const struct plan *p, const struct plan_host *h)
{
	const struct plan_lb *lb = &p->lb;

	if (lb->kind == PLAN_LB_NGINX)
		return json_pack("{s:s, s:s, s:s, s:s, s:s}", "kind", "nginx",
				 "server", h->member, "upstream_file",
				 lb->upstream_file, "nginx_conf",
				 lb->nginx_conf, "nginx_pid", lb->nginx_pid);
	return json_pack("{s:s, s:s, s:s, s:s}", "kind", "haproxy", "backend",
			 lb->backend, "socket", lb->socket, "server",
			 h->member);
}

/* Asks the balancer host's agent for every member's state. */
static void
read_balancer(const struct work *w)
{
	const struct plan *p = w->p;
	struct plan_host lb = {
		.name = p->lb.name,
		.address = p->lb.address,
		.port = p->lb.port,
		.user = p->lb.user ? p->lb.user
				   : (p->nhosts ? p->hosts[0].user : NULL),
	};
	struct ssh_conn *c = NULL;
	struct agentc *a = NULL;
	struct ssh_target t;
	bool uploaded;
	struct err e;

	status_target(&t, p, lb.name, lb.address, lb.port, lb.user);
	if (open_agent(&c, &a, &uploaded, w, &t, &lb, p->lb.agent_root, &e) <
	    0) {
		snprintf(w->s->lb_error, sizeof(w->s->lb_error), "%s", e.msg);
		return;
	}
	for (size_t i = 0; i < w->s->n; i++) {
		struct host_status *hs = &w->s->hosts[i];
		json_t *r = NULL;

		if (agentc_call(&r, a, "lb.get_state",
				member_params(p, hs->host), CALL_TIMEOUT_MS,
				&e) < 0) {
			snprintf(hs->pool_state, sizeof(hs->pool_state), "?");
			if (w->s->lb_error[0] == '\0')
				snprintf(w->s->lb_error, sizeof(w->s->lb_error),
					 "%s", e.msg);
			continue;
		}
		copy_str(hs->pool_state, sizeof(hs->pool_state), r, "state");
		hs->pool_up = json_is_boolean(json_object_get(r, "up"))
				      ? json_is_true(json_object_get(r, "up"))
				      : -1;
		hs->sessions = json_is_integer(json_object_get(r, "sessions"))
				       ? json_integer_value(
						 json_object_get(r, "sessions"))
				       : -1;
		json_decref(r);
	}
	agentc_close(a);
	ssh_close(c);
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
			s->consistent = false;
			snprintf(s->why_not, sizeof(s->why_not), "%s %s",
				 s->hosts[i].host->name, why);
		}
	}
	if (s->consistent && has_lb && s->lb_error[0]) {
		s->consistent = false;
		snprintf(s->why_not, sizeof(s->why_not),
			 "the load balancer cannot be read");
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
		json_object_set_new(h, "agent_uploaded",
				    json_boolean(hs->agent_uploaded));
		if (hs->sessions >= 0)
			json_object_set_new(h, "sessions",
					    json_integer(hs->sessions));
		if (hs->pool_up >= 0)
			json_object_set_new(h, "pool_up",
					    json_boolean(hs->pool_up));
		json_array_append_new(hosts, h);
	}
	return json_pack("{s:s, s:b, s:o, s:o, s:o, s:o}", "environment",
			 p->environment, "consistent", s->consistent, "release",
			 str_or_null(s->release), "not_consistent_because",
			 str_or_null(s->why_not), "hosts", hosts,
			 "load_balancer_error", str_or_null(s->lb_error));
}

void
status_print(FILE *f, const struct fleet_status *s, const struct plan *p)
{
	fprintf(f, "%-12s %-16s %-12s %-12s %-8s %-6s\n", "HOST", "ADDRESS",
		"CURRENT", "PREVIOUS", "HEALTH", "POOL");
	for (size_t i = 0; i < s->n; i++) {
		const struct host_status *hs = &s->hosts[i];

		char pool[32];

		/* The balancer's own health check, when it says DOWN. */
		snprintf(pool, sizeof(pool), "%s%s",
			 hs->pool_state[0] ? hs->pool_state : "-",
			 hs->pool_up == 0 ? ",DOWN" : "");
		fprintf(f, "%-12s %-16s %-12s %-12s %-8s %-6s%s%s\n",
			hs->host->name, hs->host->address,
			hs->current[0] ? hs->current : "-",
			hs->previous[0] ? hs->previous : "-",
			!hs->reachable ? "?"
			: hs->healthy  ? "ready"
			: hs->running  ? "unready"
				       : "stopped",
			pool, hs->error[0] ? "  " : "", hs->error);
	}
	if (s->lb_error[0])
		fprintf(f, "load balancer: %s\n", s->lb_error);
	if (s->consistent)
		fprintf(f,
			"%s: consistent, every host on %s, ready and in the "
			"pool\n",
			p->environment, s->release);
	else
		fprintf(f, "%s: NOT consistent: %s\n", p->environment,
			s->why_not);
}
