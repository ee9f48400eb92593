/*
 * plan_sections: the plan's ssh, agent, service, health and rollout
 * sections (plan_int.h): key files, host paths and URL templates with
 * known placeholders, durations, and phases that cover the fleet.
 */
#include "plan.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "caps.h"
#include "parse.h"
#include "plan_int.h"
#include "ydoc.h"

/* Checks {placeholders} of a template; only known ones are allowed. */
static void
check_template(struct loader *l, const struct ydoc_node *v, const char *key)
{
	static const char *const known[] = { "name", "address", "port", NULL };
	const char *p = v->text, *close;

	while ((p = strchr(p, '{')) != NULL) {
		char name[32];
		size_t n;
		const char *hint;

		close = strchr(p, '}');
		n = close ? (size_t)(close - p - 1) : 0;
		if (close == NULL || n >= sizeof(name)) {
			ydoc_problem(l->d, l->doc, v, "'%s': unclosed '{'",
				     key);
			return;
		}
		memcpy(name, p + 1, n);
		name[n] = '\0';
		if (strcmp(name, "name") && strcmp(name, "address") &&
		    strcmp(name, "port")) {
			hint = ydoc_suggest(name, known);
			ydoc_problem(l->d, l->doc, v,
				     "'%s': unknown placeholder '{%s}'%s%s%s "
				     "(use {name}, {address} or {port})",
				     key, name, hint ? " (did you mean '{" : "",
				     hint ? hint : "", hint ? "}'?)" : "");
		}
		p = close + 1;
	}
}

/* A size: a whole number, a percentage ("25%") or, when allowed, "rest". */
static bool
get_size(struct plan_size *out, struct loader *l, const struct ydoc_node *map,
	 const char *key, bool required, bool allow_rest)
{
	const struct ydoc_node *v = ydoc_get(map, key);
	struct err e;
	int64_t n;

	memset(out, 0, sizeof(*out));
	if (v == NULL) {
		if (required)
			ydoc_problem(l->d, l->doc, map, "missing key '%s'",
				     key);
		return false;
	}
	if (!ydoc_is_str(v)) {
		ydoc_problem(l->d, l->doc, v,
			     "'%s' must be a number, a "
			     "percentage or 'rest'",
			     key);
		return false;
	}
	if (allow_rest && strcmp(v->text, "rest") == 0) {
		out->rest = true;
		return true;
	}
	if (strchr(v->text, '%') != NULL) {
		if (parse_percent(&out->percent, v->text, 1, 100, &e) == 0)
			return true;
	} else if (parse_int64(&n, v->text, 0, PLAN_MAX_HOSTS, &e) == 0) {
		out->count = (int)n;
		return true;
	}
	ydoc_problem(l->d, l->doc, v, "'%s': %s%s", key, e.msg,
		     allow_rest ? " (or 'rest')" : "");
	return false;
}

void
plan_load_ssh(struct loader *l, const struct ydoc_node *s)
{
	static const char *const keys[] = { "identity_file",
					    "known_hosts",
					    "connect_timeout",
					    "keepalive",
					    "command_timeout",
					    "parallel",
					    NULL };
	int64_t parallel = 10;

	if (!ydoc_expect_map(l->d, l->doc, s, "'ssh'"))
		return;
	ydoc_check_keys(l->d, l->doc, s, keys);
	/* Without an identity file the keys come from ssh-agent. */
	l->p->identity_file = plan_readable_file(l, s, "identity_file", false);
	l->p->known_hosts = plan_readable_file(l, s, "known_hosts", true);
	ydoc_get_duration(&l->p->connect_timeout_ms, l->d, l->doc, s,
			  "connect_timeout", false, 100, 300000);
	ydoc_get_duration(&l->p->keepalive_ms, l->d, l->doc, s, "keepalive",
			  false, 0, HOUR_MS);
	ydoc_get_duration(&l->p->command_timeout_ms, l->d, l->doc, s,
			  "command_timeout", false, CAPS_COMMAND_MIN_MS,
			  CAPS_COMMAND_MAX_MS);
	ydoc_get_int(&parallel, l->d, l->doc, s, "parallel", false, 1, 256);
	l->p->parallel = (int)parallel;
}

/* An absolute path on the hosts, which may hold {name}. */
static char *
host_path(struct loader *l, const struct ydoc_node *s, const char *key)
{
	char *v = plan_get_dup(l, s, key, true);

	if (v != NULL && v[0] != '/')
		ydoc_problem(l->d, l->doc, ydoc_get(s, key),
			     "'%s' must be an absolute path on the hosts", key);
	if (v != NULL)
		check_template(l, ydoc_get(s, key), key);
	return v;
}

void
plan_load_agent_service(struct loader *l, const struct ydoc_node *agent,
			const struct ydoc_node *service)
{
	static const char *const akeys[] = { "path", "root", NULL };
	static const char *const skeys[] = { "manager", "unit", "scope",
					     "stop_timeout", NULL };
	const char *manager = "supervisor", *scope = "system";

	if (ydoc_expect_map(l->d, l->doc, agent, "'agent'")) {
		ydoc_check_keys(l->d, l->doc, agent, akeys);
		l->p->agent_path = host_path(l, agent, "path");
		l->p->agent_root = host_path(l, agent, "root");
	}
	if (service == NULL ||
	    !ydoc_expect_map(l->d, l->doc, service, "'service'"))
		goto out;
	ydoc_check_keys(l->d, l->doc, service, skeys);
	ydoc_get_str(&manager, l->d, l->doc, service, "manager", false);
	if (strcmp(manager, "supervisor") && strcmp(manager, "systemd"))
		ydoc_problem(l->d, l->doc, ydoc_get(service, "manager"),
			     "service manager '%s' is not supervisor or "
			     "systemd",
			     manager);
	l->p->service_unit = plan_get_dup(l, service, "unit", false);
	if (strcmp(manager, "systemd") == 0 && l->p->service_unit == NULL)
		ydoc_problem(l->d, l->doc, service,
			     "the systemd manager needs 'unit'");
	ydoc_get_str(&scope, l->d, l->doc, service, "scope", false);
	if (strcmp(scope, "system") && strcmp(scope, "user"))
		ydoc_problem(l->d, l->doc, ydoc_get(service, "scope"),
			     "service scope '%s' is not system or user", scope);
	else if (strcmp(scope, "user") == 0 && strcmp(manager, "systemd"))
		ydoc_problem(l->d, l->doc, ydoc_get(service, "scope"),
			     "'scope' is for the systemd manager");
	l->p->service_user_scope = strcmp(scope, "user") == 0;
	ydoc_get_duration(&l->p->stop_timeout_ms, l->d, l->doc, service,
			  "stop_timeout", false, 0, CAPS_WAIT_MAX_MS);
out:
	l->p->service_manager = strdup(manager);
}

static char *
url_template(struct loader *l, const struct ydoc_node *s, const char *key,
	     bool required)
{
	char *v = plan_get_dup(l, s, key, required);

	if (v == NULL)
		return NULL;
	if (strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0)
		ydoc_problem(l->d, l->doc, ydoc_get(s, key),
			     "'%s' must be an http:// or https:// URL", key);
	check_template(l, ydoc_get(s, key), key);
	return v;
}

void
plan_load_health(struct loader *l, const struct ydoc_node *s)
{
	static const char *const keys[] = { "url",	"calls_url",
					    "interval", "timeout",
					    "deadline", "min_healthy",
					    NULL };

	if (!ydoc_expect_map(l->d, l->doc, s, "'health'"))
		return;
	ydoc_check_keys(l->d, l->doc, s, keys);
	l->p->health_url = url_template(l, s, "url", true);
	/* A drain waits for the runtime's own count of calls in progress:
	 * the balancer sees requests, not calls (a caller thinking between
	 * two steps holds no connection), so there is nothing to fall back
	 * to, and a plan without it would swap hosts under live calls. */
	l->p->calls_url = url_template(l, s, "calls_url", false);
	if (ydoc_get(s, "calls_url") == NULL)
		ydoc_problem(l->d, l->doc, s,
			     "'health' needs 'calls_url' (the runtime's "
			     "/calls): without it a drain cannot tell when a "
			     "host's calls have ended, and would swap it under "
			     "live calls");
	ydoc_get_duration(&l->p->health_interval_ms, l->d, l->doc, s,
			  "interval", false, CAPS_INTERVAL_MIN_MS,
			  CAPS_INTERVAL_MAX_MS);
	ydoc_get_duration(&l->p->health_timeout_ms, l->d, l->doc, s, "timeout",
			  false, CAPS_PROBE_MIN_MS, CAPS_PROBE_MAX_MS);
	ydoc_get_duration(&l->p->health_deadline_ms, l->d, l->doc, s,
			  "deadline", false, 0, CAPS_WAIT_MAX_MS);
	ydoc_get_duration(&l->p->min_healthy_ms, l->d, l->doc, s, "min_healthy",
			  false, 0, HOUR_MS);
	if (l->p->min_healthy_ms > l->p->health_deadline_ms)
		ydoc_problem(l->d, l->doc,
			     ydoc_get(s, "min_healthy")
				     ? ydoc_get(s, "min_healthy")
				     : ydoc_get(s, "deadline"),
			     "'min_healthy' is longer than 'deadline'");
}

static void
load_phase(struct loader *l, struct plan_phase *ph, const struct ydoc_node *n)
{
	static const char *const keys[] = { "name",	"hosts",
					    "batch",	"pause",
					    "approval", "approval_wait",
					    "analysis", NULL };

	if (!ydoc_expect_map(l->d, l->doc, n, "a phase"))
		return;
	ydoc_check_keys(l->d, l->doc, n, keys);
	ph->name = plan_get_dup(l, n, "name", true);
	if (get_size(&ph->hosts, l, n, "hosts", true, true) &&
	    !ph->hosts.rest && ph->hosts.count == 0 && ph->hosts.percent == 0)
		ydoc_problem(l->d, l->doc, ydoc_get(n, "hosts"),
			     "a phase needs at least one host");
	ph->batch = (struct plan_size){ .count = 1 };
	if (get_size(&ph->batch, l, n, "batch", false, false) &&
	    ph->batch.count == 0 && ph->batch.percent == 0)
		ydoc_problem(l->d, l->doc, ydoc_get(n, "batch"),
			     "a batch needs at least one host");
	ydoc_get_duration(&ph->pause_ms, l->d, l->doc, n, "pause", false, 0,
			  24 * HOUR_MS);
	ydoc_get_bool(&ph->approval, l->d, l->doc, n, "approval", false);
	ydoc_get_duration(&ph->approval_wait_ms, l->d, l->doc, n,
			  "approval_wait", false, 0, 24 * HOUR_MS);
	if (ph->approval_wait_ms > 0 && !ph->approval)
		ydoc_problem(l->d, l->doc, ydoc_get(n, "approval_wait"),
			     "'approval_wait' needs 'approval: true'");
}

/* The phases must cover the whole fleet; "rest" only last; names unique. */
static void
check_phases(struct loader *l, const struct ydoc_node *list)
{
	size_t covered = 0, n = l->p->nhosts;

	for (size_t i = 0; i < l->p->nphases; i++) {
		const struct plan_phase *ph = &l->p->phases[i];

		for (size_t j = 0; j < i && ph->name; j++)
			if (l->p->phases[j].name &&
			    strcmp(ph->name, l->p->phases[j].name) == 0)
				ydoc_problem(l->d, l->doc, list->items[i],
					     "phase name '%s' is used twice",
					     ph->name);
		if (ph->hosts.rest && i + 1 < l->p->nphases)
			ydoc_problem(l->d, l->doc, list->items[i],
				     "only the last phase may take 'rest'");
		covered += plan_size_hosts(&ph->hosts, n, n - covered);
	}
	if (n > 0 && covered < n)
		ydoc_problem(l->d, l->doc, list,
			     "the phases cover %zu of %zu hosts: end with a "
			     "phase of 'hosts: rest'",
			     covered, n);
}

void
plan_load_rollout(struct loader *l, const struct ydoc_node *s)
{
	static const char *const keys[] = { "phases",	      "drain_deadline",
					    "failure_budget", "capacity_floor",
					    "keep_releases",  NULL };
	const struct ydoc_node *list;
	struct plan_size floor = { .percent = 0 };
	int64_t keep;

	if (!ydoc_expect_map(l->d, l->doc, s, "'rollout'"))
		return;
	ydoc_check_keys(l->d, l->doc, s, keys);
	ydoc_get_duration(&l->p->drain_deadline_ms, l->d, l->doc, s,
			  "drain_deadline", false, 0, CAPS_WAIT_MAX_MS);
	if (ydoc_get_int(&keep, l->d, l->doc, s, "keep_releases", false, 2,
			 100))
		l->p->keep_releases = (int)keep;
	get_size(&l->p->failure_budget, l, s, "failure_budget", false, false);
	if (l->p->failure_budget.count > (int)l->p->nhosts && l->p->nhosts)
		ydoc_problem(l->d, l->doc, ydoc_get(s, "failure_budget"),
			     "'failure_budget' (%d) is larger than the fleet "
			     "(%zu hosts)",
			     l->p->failure_budget.count, l->p->nhosts);
	if (get_size(&floor, l, s, "capacity_floor", false, false)) {
		if (floor.count > 0)
			ydoc_problem(l->d, l->doc,
				     ydoc_get(s, "capacity_floor"),
				     "'capacity_floor' must be a percentage, "
				     "such as 50%%");
		l->p->capacity_floor_percent = floor.percent;
	}
	if (l->p->capacity_floor_percent == 100)
		ydoc_problem(l->d, l->doc, ydoc_get(s, "capacity_floor"),
			     "a capacity floor of 100%% leaves no host to "
			     "update");
	if ((list = plan_get_list(l, s, "phases", "a rollout",
				  PLAN_MAX_PHASES)) == NULL)
		return;
	l->p->nphases = list->count;
	for (size_t i = 0; i < list->count; i++)
		load_phase(l, &l->p->phases[i], list->items[i]);
	check_phases(l, list);
}
