/*
 * plan: see plan.h.  Loading walks the YAML tree once, section by section,
 * recording every problem, then checks what spans sections (phases against
 * the fleet, the balancer against the hosts).
 */
#include "plan.h"

#include <arpa/inet.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "fileio.h"
#include "hash.h"
#include "caps.h"
#include "parse.h"
#include "ydoc.h"

#define PLAN_FILE_MAX (1024 * 1024)
#define HOUR_MS	      (3600 * 1000LL)

struct loader {
	struct plan *p;
	struct ydoc *doc;
	struct diag_list *d;
};

static char *
dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

void
plan_free(struct plan *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->nhosts; i++) {
		struct plan_host *h = &p->hosts[i];

		free(h->name);
		free(h->address);
		free(h->user);
		free(h->member);
		for (size_t j = 0; j < h->nlabels; j++) {
			free(h->labels[j].key);
			free(h->labels[j].value);
		}
	}
	free(p->hosts);
	for (size_t i = 0; i < p->nphases; i++)
		free(p->phases[i].name);
	free(p->lb.name);
	free(p->lb.address);
	free(p->lb.user);
	free(p->lb.agent_root);
	free(p->lb.backend);
	free(p->lb.socket);
	free(p->lb.upstream_file);
	free(p->lb.nginx_conf);
	free(p->lb.nginx_pid);
	free(p->path);
	free(p->dir);
	free(p->environment);
	free(p->identity_file);
	free(p->known_hosts);
	free(p->agent_path);
	free(p->agent_root);
	free(p->service_manager);
	free(p->service_unit);
	free(p->health_url);
	free(p->calls_url);
	free(p->artifact);
	free(p->journal);
	free(p);
}

size_t
plan_size_hosts(const struct plan_size *s, size_t total, size_t remaining)
{
	size_t n;

	if (s->rest)
		return remaining;
	n = s->count > 0 ? (size_t)s->count
			 : (total * (size_t)s->percent + 99) / 100;
	return n > remaining ? remaining : n;
}

size_t
plan_max_down(const struct plan *p)
{
	size_t keep =
		(p->nhosts * (size_t)p->capacity_floor_percent + 99) / 100;

	return p->nhosts > keep ? p->nhosts - keep : 1;
}

struct plan_slice
plan_phase_slice(const struct plan *p, size_t i)
{
	struct plan_slice s = { 0 };
	size_t max_down = plan_max_down(p);

	for (size_t k = 0; k <= i && k < p->nphases; k++) {
		s.first += s.count;
		s.count = plan_size_hosts(&p->phases[k].hosts, p->nhosts,
					  p->nhosts - s.first);
	}
	s.batch = plan_size_hosts(&p->phases[i].batch, p->nhosts, s.count);
	s.batch = s.batch > max_down ? max_down : s.batch ? s.batch : 1;
	return s;
}

int
plan_expand(char *out, size_t size, const char *tmpl, const struct plan_host *h,
	    struct err *err)
{
	struct buf b;
	char port[16];
	int rc = 0;

	snprintf(port, sizeof(port), "%d", h->port);
	buf_init(&b, size - 1);
	for (const char *p = tmpl; *p != '\0' && rc == 0;) {
		if (strncmp(p, "{name}", 6) == 0) {
			rc = buf_append_str(&b, h->name, err);
			p += 6;
		} else if (strncmp(p, "{address}", 9) == 0) {
			rc = buf_append_str(&b, h->address, err);
			p += 9;
		} else if (strncmp(p, "{port}", 6) == 0) {
			rc = buf_append_str(&b, port, err);
			p += 6;
		} else {
			rc = buf_append(&b, p++, 1, err);
		}
	}
	if (rc == 0)
		snprintf(out, size, "%s", buf_cstr(&b));
	buf_release(&b);
	return rc;
}

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

/* A path relative to the plan's folder, made absolute. */
static char *
resolve(struct loader *l, const char *path)
{
	char full[PATH_MAX];

	if (path[0] == '/')
		return strdup(path);
	if (snprintf(full, sizeof(full), "%s/%s", l->p->dir, path) >=
	    (int)sizeof(full))
		return strdup(path);
	return strdup(full);
}

/* A readable file named by key, resolved; problem if unreadable. */
static char *
readable_file(struct loader *l, const struct ydoc_node *map, const char *key,
	      bool required)
{
	const char *v = NULL;
	struct stat st;
	char *full;

	if (!ydoc_get_str(&v, l->d, l->doc, map, key, required))
		return NULL;
	full = resolve(l, v);
	if (access(full, R_OK) != 0)
		ydoc_problem(l->d, l->doc, ydoc_get(map, key),
			     "'%s': cannot read '%s'", key, full);
	else if (stat(full, &st) == 0 && !S_ISREG(st.st_mode))
		ydoc_problem(l->d, l->doc, ydoc_get(map, key),
			     "'%s': '%s' is %s, not a file", key, full,
			     S_ISDIR(st.st_mode) ? "a directory"
						 : "not a regular file");
	return full;
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

/* A host address: an IPv4 or IPv6 literal, or a DNS name. */
static bool
valid_address(const char *s)
{
	unsigned char b[16];
	size_t n = strlen(s);

	if (inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1)
		return true;
	if (n == 0 || n > 253 || strspn(s, "0123456789.") == n)
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			 "0123456789.-") == n;
}

static bool
valid_name(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= 64 &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			 "0123456789._-") == n;
}

static void
load_labels(struct loader *l, struct plan_host *h, const struct ydoc_node *v)
{
	if (v == NULL || !ydoc_expect_map(l->d, l->doc, v, "'labels'"))
		return;
	for (size_t i = 0; i < v->count; i++) {
		const struct ydoc_node *val = v->pairs[i].value;

		if (h->nlabels == PLAN_MAX_LABELS) {
			ydoc_problem(l->d, l->doc, v, "at most %d labels",
				     PLAN_MAX_LABELS);
			return;
		}
		if (!ydoc_is_str(val)) {
			ydoc_problem(l->d, l->doc, val,
				     "label '%s' must be a value, found %s",
				     v->pairs[i].key->text,
				     ydoc_type_name(val));
			continue;
		}
		h->labels[h->nlabels].key = strdup(v->pairs[i].key->text);
		h->labels[h->nlabels++].value = strdup(val->text);
	}
}

static void
load_host(struct loader *l, struct plan_host *h, const struct ydoc_node *n,
	  const char *default_user, int default_port)
{
	static const char *const keys[] = { "name",   "address", "port", "user",
					    "labels", "member",	 NULL };
	const char *v = NULL;
	int64_t port = default_port;

	if (!ydoc_expect_map(l->d, l->doc, n, "a host"))
		return;
	ydoc_check_keys(l->d, l->doc, n, keys);
	if (ydoc_get_str(&v, l->d, l->doc, n, "name", true)) {
		if (!valid_name(v))
			ydoc_problem(l->d, l->doc, ydoc_get(n, "name"),
				     "host name '%s' must be 1-64 of "
				     "[A-Za-z0-9._-]",
				     v);
		h->name = strdup(v);
	}
	if (ydoc_get_str(&v, l->d, l->doc, n, "address", true)) {
		if (!valid_address(v))
			ydoc_problem(l->d, l->doc, ydoc_get(n, "address"),
				     "'%s' is not an IP address or a host name",
				     v);
		h->address = strdup(v);
	}
	ydoc_get_int(&port, l->d, l->doc, n, "port", false, 1, 65535);
	h->port = (int)port;
	v = default_user;
	ydoc_get_str(&v, l->d, l->doc, n, "user", false);
	h->user = dup_or_null(v);
	v = h->name;
	ydoc_get_str(&v, l->d, l->doc, n, "member", false);
	h->member = dup_or_null(v);
	load_labels(l, h, ydoc_get(n, "labels"));
}

/* Two hosts may not share a name, nor an address and port. */
static void
check_unique(struct loader *l, const struct ydoc_node *list)
{
	for (size_t i = 0; i < l->p->nhosts; i++) {
		const struct plan_host *a = &l->p->hosts[i];

		for (size_t j = 0; j < i; j++) {
			const struct plan_host *b = &l->p->hosts[j];

			if (a->name && b->name && strcmp(a->name, b->name) == 0)
				ydoc_problem(l->d, l->doc, list->items[i],
					     "host name '%s' is used twice "
					     "(first at line %u)",
					     a->name, list->items[j]->line);
			else if (a->address && b->address &&
				 strcmp(a->address, b->address) == 0 &&
				 a->port == b->port)
				ydoc_problem(
					l->d, l->doc, list->items[i],
					"hosts '%s' and '%s' have the same "
					"address %s:%d",
					b->name ? b->name : "?",
					a->name ? a->name : "?", a->address,
					a->port);
		}
	}
}

static void
load_inventory(struct loader *l, const struct ydoc_node *inv)
{
	static const char *const keys[] = { "user", "port", "hosts", NULL };
	const struct ydoc_node *list;
	const char *user = "root";
	int64_t port = 22;

	if (!ydoc_expect_map(l->d, l->doc, inv, "'inventory'"))
		return;
	ydoc_check_keys(l->d, l->doc, inv, keys);
	ydoc_get_str(&user, l->d, l->doc, inv, "user", false);
	ydoc_get_int(&port, l->d, l->doc, inv, "port", false, 1, 65535);
	list = ydoc_get(inv, "hosts");
	if (list == NULL) {
		ydoc_problem(l->d, l->doc, inv, "missing key 'hosts'");
		return;
	}
	if (!ydoc_expect_seq(l->d, l->doc, list, "'hosts'"))
		return;
	if (list->count == 0 || list->count > PLAN_MAX_HOSTS) {
		ydoc_problem(l->d, l->doc, list,
			     "the inventory needs 1 to %d hosts",
			     PLAN_MAX_HOSTS);
		return;
	}
	l->p->hosts = calloc(list->count, sizeof(*l->p->hosts));
	if (l->p->hosts == NULL)
		return;
	l->p->nhosts = list->count;
	for (size_t i = 0; i < list->count; i++)
		load_host(l, &l->p->hosts[i], list->items[i], user, (int)port);
	check_unique(l, list);
}

static char *
get_dup(struct loader *l, const struct ydoc_node *map, const char *key,
	bool required)
{
	const char *v = NULL;

	return ydoc_get_str(&v, l->d, l->doc, map, key, required) ? strdup(v)
								  : NULL;
}

static void
load_lb(struct loader *l, const struct ydoc_node *s)
{
	static const char *const keys[] = {
		"kind",		 "name",       "address",   "port",
		"user",		 "agent_root", "backend",   "socket",
		"upstream_file", "nginx_conf", "nginx_pid", NULL,
	};
	static const char *const kinds[] = { "haproxy", "nginx", NULL };
	struct plan_lb *lb = &l->p->lb;
	const char *kind = NULL;
	int64_t port = 22;

	if (!ydoc_expect_map(l->d, l->doc, s, "'load_balancer'"))
		return;
	ydoc_check_keys(l->d, l->doc, s, keys);
	if (ydoc_get_str(&kind, l->d, l->doc, s, "kind", true)) {
		if (strcmp(kind, "haproxy") == 0)
			lb->kind = PLAN_LB_HAPROXY;
		else if (strcmp(kind, "nginx") == 0)
			lb->kind = PLAN_LB_NGINX;
		else
			ydoc_problem(
				l->d, l->doc, ydoc_get(s, "kind"),
				"load balancer kind '%s' is not haproxy or "
				"nginx%s%s%s",
				kind,
				ydoc_suggest(kind, kinds) ? " (did you mean '"
							  : "",
				ydoc_suggest(kind, kinds)
					? ydoc_suggest(kind, kinds)
					: "",
				ydoc_suggest(kind, kinds) ? "'?)" : "");
	}
	lb->name = get_dup(l, s, "name", false);
	if (lb->name == NULL)
		lb->name = strdup("lb");
	else if (!valid_name(lb->name))
		ydoc_problem(
			l->d, l->doc, ydoc_get(s, "name"),
			"balancer name '%s' must be 1-64 of [A-Za-z0-9._-]",
			lb->name);
	lb->address = get_dup(l, s, "address", true);
	if (lb->address != NULL && !valid_address(lb->address))
		ydoc_problem(l->d, l->doc, ydoc_get(s, "address"),
			     "'%s' is not an IP address or a host name",
			     lb->address);
	ydoc_get_int(&port, l->d, l->doc, s, "port", false, 1, 65535);
	lb->port = (int)port;
	lb->user = get_dup(l, s, "user", false);
	lb->agent_root = get_dup(l, s, "agent_root", true);
	if (lb->kind == PLAN_LB_HAPROXY) {
		lb->backend = get_dup(l, s, "backend", true);
		lb->socket = get_dup(l, s, "socket", true);
	} else if (lb->kind == PLAN_LB_NGINX) {
		lb->upstream_file = get_dup(l, s, "upstream_file", true);
		lb->nginx_conf = get_dup(l, s, "nginx_conf", true);
		lb->nginx_pid = get_dup(l, s, "nginx_pid", true);
	}
	if (lb->kind == PLAN_LB_HAPROXY && ydoc_get(s, "upstream_file"))
		ydoc_problem(l->d, l->doc, ydoc_get(s, "upstream_file"),
			     "'upstream_file' belongs to an nginx balancer, "
			     "not haproxy");
	if (lb->kind == PLAN_LB_NGINX && ydoc_get(s, "socket"))
		ydoc_problem(l->d, l->doc, ydoc_get(s, "socket"),
			     "'socket' belongs to a haproxy balancer, not "
			     "nginx");
}

static void
load_ssh(struct loader *l, const struct ydoc_node *s)
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
	l->p->identity_file = readable_file(l, s, "identity_file", false);
	l->p->known_hosts = readable_file(l, s, "known_hosts", true);
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
	char *v = get_dup(l, s, key, true);

	if (v != NULL && v[0] != '/')
		ydoc_problem(l->d, l->doc, ydoc_get(s, key),
			     "'%s' must be an absolute path on the hosts", key);
	if (v != NULL)
		check_template(l, ydoc_get(s, key), key);
	return v;
}

static void
load_agent_service(struct loader *l, const struct ydoc_node *agent,
		   const struct ydoc_node *service)
{
	static const char *const akeys[] = { "path", "root", NULL };
	static const char *const skeys[] = { "manager", "unit", "stop_timeout",
					     NULL };
	const char *manager = "supervisor";

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
	l->p->service_unit = get_dup(l, service, "unit", false);
	if (strcmp(manager, "systemd") == 0 && l->p->service_unit == NULL)
		ydoc_problem(l->d, l->doc, service,
			     "the systemd manager needs 'unit'");
	ydoc_get_duration(&l->p->stop_timeout_ms, l->d, l->doc, service,
			  "stop_timeout", false, 0, CAPS_WAIT_MAX_MS);
out:
	l->p->service_manager = strdup(manager);
}

static char *
url_template(struct loader *l, const struct ydoc_node *s, const char *key,
	     bool required)
{
	char *v = get_dup(l, s, key, required);

	if (v == NULL)
		return NULL;
	if (strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0)
		ydoc_problem(l->d, l->doc, ydoc_get(s, key),
			     "'%s' must be an http:// or https:// URL", key);
	check_template(l, ydoc_get(s, key), key);
	return v;
}

static void
load_health(struct loader *l, const struct ydoc_node *s)
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
	static const char *const keys[] = { "name",  "hosts",	 "batch",
					    "pause", "approval", NULL };

	if (!ydoc_expect_map(l->d, l->doc, n, "a phase"))
		return;
	ydoc_check_keys(l->d, l->doc, n, keys);
	ph->name = get_dup(l, n, "name", true);
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

static void
load_rollout(struct loader *l, const struct ydoc_node *s)
{
	static const char *const keys[] = { "phases", "drain_deadline",
					    "failure_budget", "capacity_floor",
					    NULL };
	const struct ydoc_node *list;
	struct plan_size floor = { .percent = 0 };

	if (!ydoc_expect_map(l->d, l->doc, s, "'rollout'"))
		return;
	ydoc_check_keys(l->d, l->doc, s, keys);
	ydoc_get_duration(&l->p->drain_deadline_ms, l->d, l->doc, s,
			  "drain_deadline", false, 0, CAPS_WAIT_MAX_MS);
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
	list = ydoc_get(s, "phases");
	if (list == NULL) {
		ydoc_problem(l->d, l->doc, s, "missing key 'phases'");
		return;
	}
	if (!ydoc_expect_seq(l->d, l->doc, list, "'phases'"))
		return;
	if (list->count == 0 || list->count > PLAN_MAX_PHASES) {
		ydoc_problem(l->d, l->doc, list,
			     "a rollout needs 1 to %d phases", PLAN_MAX_PHASES);
		return;
	}
	l->p->nphases = list->count;
	for (size_t i = 0; i < list->count; i++)
		load_phase(l, &l->p->phases[i], list->items[i]);
	check_phases(l, list);
}

static void
defaults(struct plan *p)
{
	p->connect_timeout_ms = 5000;
	p->keepalive_ms = 15000;
	p->command_timeout_ms = 300000;
	p->parallel = 10;
	p->stop_timeout_ms = 30000;
	p->health_interval_ms = 250;
	p->health_timeout_ms = 2000;
	p->health_deadline_ms = 60000;
	p->min_healthy_ms = 5000;
	p->drain_deadline_ms = 60000;
	p->capacity_floor_percent = 50;
}

static const char *const top_keys[] = {
	"environment", "inventory", "load_balancer", "ssh",	 "agent",
	"service",     "health",    "rollout",	     "artifact", "journal",
	NULL,
};

/* A section that must be there: problem at the top when missing. */
static const struct ydoc_node *
section(struct loader *l, const char *key)
{
	const struct ydoc_node *s = ydoc_get(l->doc->root, key);

	if (s == NULL)
		ydoc_problem(l->d, l->doc, l->doc->root, "missing key '%s'",
			     key);
	return s;
}

/*
 * ssh.command_timeout bounds each agent call, and some calls wait on the
 * host for as long as the plan says: a drain, a readiness wait, a stop.
 * A command_timeout shorter than one of those (plus the step's slack)
 * would give up on a host in the middle of a wait the plan allows.
 */
static void
check_durations(struct loader *l)
{
	const struct plan *p = l->p;
	const struct ydoc_node *root = l->doc->root, *ssh, *at;
	struct {
		const char *what;
		int64_t ms;
	} waits[] = {
		{ "rollout.drain_deadline", p->drain_deadline_ms },
		{ "health.deadline plus health.timeout",
		  p->health_deadline_ms + p->health_timeout_ms },
		{ "service.stop_timeout", p->stop_timeout_ms },
	};
	size_t longest = 0;

	for (size_t i = 1; i < sizeof(waits) / sizeof(waits[0]); i++)
		if (waits[i].ms > waits[longest].ms)
			longest = i;
	if (p->command_timeout_ms >= waits[longest].ms + CAPS_STEP_SLACK_MS)
		return;
	ssh = ydoc_get(root, "ssh");
	at = ssh ? ydoc_get(ssh, "command_timeout") : NULL;
	ydoc_problem(l->d, l->doc,
		     at	   ? at
		     : ssh ? ssh
			   : root,
		     "ssh.command_timeout (%lld ms%s) cannot cover %s (%lld "
		     "ms) and a step's %d ms beyond it: make it at least "
		     "%lld ms",
		     (long long)p->command_timeout_ms,
		     at ? "" : ", the default", waits[longest].what,
		     (long long)waits[longest].ms, CAPS_STEP_SLACK_MS,
		     (long long)(waits[longest].ms + CAPS_STEP_SLACK_MS));
}

static void
load_top(struct loader *l)
{
	const struct ydoc_node *root = l->doc->root, *s;
	const char *v = NULL;

	ydoc_check_keys(l->d, l->doc, root, top_keys);
	if (ydoc_get_str(&v, l->d, l->doc, root, "environment", true)) {
		if (!valid_name(v))
			ydoc_problem(l->d, l->doc,
				     ydoc_get(root, "environment"),
				     "environment '%s' must be 1-64 of "
				     "[A-Za-z0-9._-]",
				     v);
		l->p->environment = strdup(v);
	}
	if ((s = section(l, "inventory")) != NULL)
		load_inventory(l, s);
	if ((s = ydoc_get(root, "load_balancer")) != NULL)
		load_lb(l, s);
	if ((s = section(l, "ssh")) != NULL)
		load_ssh(l, s);
	if ((s = section(l, "agent")) != NULL)
		load_agent_service(l, s, ydoc_get(root, "service"));
	if ((s = section(l, "health")) != NULL)
		load_health(l, s);
	if ((s = section(l, "rollout")) != NULL)
		load_rollout(l, s);
	if (ydoc_get(root, "artifact") != NULL)
		l->p->artifact = readable_file(l, root, "artifact", false);
	if (ydoc_get_str(&v, l->d, l->doc, root, "journal", false))
		l->p->journal = resolve(l, v);
	check_durations(l);
}

/* A plan over PLAN_FILE_MAX is placed where it passes the cap. */
static void
too_large(struct diag_list *diags, const char *path)
{
	unsigned line = 1, col = 1;
	FILE *f = fopen(path, "r");
	int c;

	for (long i = 0; f != NULL && i < PLAN_FILE_MAX && (c = getc(f)) != EOF;
	     i++) {
		col++;
		if (c == '\n') {
			line++;
			col = 1;
		}
	}
	if (f != NULL)
		fclose(f);
	diag_add(diags, path, line, col,
		 "the plan is larger than %d bytes (it goes on past here)",
		 PLAN_FILE_MAX);
}

static int
start(struct plan **out, const char *path, struct buf *text,
      struct diag_list *diags, struct err *err)
{
	unsigned char digest[HASH_SHA256_LEN];
	char copy[PATH_MAX];
	struct stat st;
	struct plan *p;
	int rc;

	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return err_set(err, ERR_INVAL,
			       "'%s' is a directory, not a plan", path);
	if ((rc = fileio_read_all(text, path, err)) < 0) {
		if (rc == ERR_OVERFLOW)
			too_large(diags, path);
		return rc;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	snprintf(copy, sizeof(copy), "%s", path);
	p->path = strdup(path);
	p->dir = strdup(dirname(copy));
	hash_sha256_buf(digest, text->data ? text->data : "", text->len, NULL);
	hash_hex(p->sha256, digest, sizeof(digest));
	defaults(p);
	*out = p;
	return 0;
}

int
plan_load(struct plan **out, const char *path, struct diag_list *diags,
	  struct err *err)
{
	struct loader l = { .d = diags };
	size_t before = diag_total(diags);
	struct ydoc doc;
	struct buf text;
	int rc;

	*out = NULL;
	memset(&doc, 0, sizeof(doc));
	buf_init(&text, PLAN_FILE_MAX);
	if ((rc = start(&l.p, path, &text, diags, err)) < 0)
		goto out;
	l.doc = &doc;
	if ((rc = ydoc_load_string(&doc, path, buf_cstr(&text), text.len, diags,
				   err)) < 0)
		goto out;
	if (doc.root == NULL)
		diag_add(diags, path, 0, 0, "the plan is empty");
	else if (ydoc_expect_map(diags, &doc, doc.root, "a plan"))
		load_top(&l);
	if (diag_total(diags) > before) {
		rc = err_set(err, ERR_PARSE, "'%s' has problems", path);
		goto out;
	}
	*out = l.p;
	l.p = NULL;
out:
	plan_free(l.p);
	ydoc_release(&doc);
	buf_release(&text);
	return rc;
}
