/*
 * plan_state: the plan's `state:` (where the lock and the journal live:
 * files, or an etcd cluster) and `access:` (who may deploy, promote,
 * approve and roll back), plan.h's struct plan_state and plan_access.
 */
#include "plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "plan_int.h"
#include "ydoc.h"

/* http(s)://host:port with nothing after it. */
static bool
endpoint_ok(const char *url)
{
	const char *rest = strncmp(url, "http://", 7) == 0    ? url + 7
			   : strncmp(url, "https://", 8) == 0 ? url + 8
							      : NULL;
	size_t n;

	if (rest == NULL || strlen(url) > 256)
		return false;
	n = strlen(rest);
	return n > 0 &&
	       strspn(rest, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWX"
			    "YZ0123456789.-:[]") == n &&
	       strchr(rest, ':') != NULL;
}

static void
load_endpoints(struct loader *l, const struct ydoc_node *s)
{
	const struct ydoc_node *list = ydoc_get(s, "endpoints");
	struct plan_state *st = &l->p->state;

	if (list == NULL) {
		ydoc_problem(l->d, l->doc, s,
			     "missing key 'endpoints' (etcd's client URLs)");
		return;
	}
	if (!ydoc_expect_seq(l->d, l->doc, list, "'endpoints'"))
		return;
	if (list->count == 0 || list->count > PLAN_MAX_ENDPOINTS) {
		ydoc_problem(l->d, l->doc, list,
			     "'endpoints' takes 1 to %d URLs",
			     PLAN_MAX_ENDPOINTS);
		return;
	}
	for (size_t i = 0; i < list->count; i++) {
		const struct ydoc_node *e = list->items[i];

		if (!ydoc_is_str(e) || !endpoint_ok(e->text)) {
			ydoc_problem(l->d, l->doc, e,
				     "an endpoint is http://host:port or "
				     "https://host:port");
			continue;
		}
		st->endpoints[st->nendpoints++] = strdup(e->text);
	}
}

/* The client certificate's key: its owner's only. */
static void
check_key_file(struct loader *l, const struct ydoc_node *s)
{
	struct plan_state *st = &l->p->state;
	struct stat sb;

	if ((st->cert_file == NULL) != (st->key_file == NULL)) {
		ydoc_problem(l->d, l->doc, s,
			     "'cert_file' and 'key_file' go together");
		return;
	}
	if (st->key_file != NULL && stat(st->key_file, &sb) == 0 &&
	    (sb.st_mode & 077) != 0)
		ydoc_problem(l->d, l->doc, ydoc_get(s, "key_file"),
			     "'key_file': '%s' must be readable by its owner "
			     "only (chmod 600)",
			     st->key_file);
}

static void
load_prefix(struct loader *l, const struct ydoc_node *s)
{
	const char *v = "/ivr-deploy/";
	size_t n;

	ydoc_get_str(&v, l->d, l->doc, s, "prefix", false);
	n = strlen(v);
	if (n < 2 || n > 128 || v[0] != '/' || v[n - 1] != '/' ||
	    strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123"
		      "456789/._-") != n ||
	    strstr(v, "//") != NULL)
		ydoc_problem(l->d, l->doc, ydoc_get(s, "prefix"),
			     "'prefix' must start and end with '/' and hold "
			     "only [A-Za-z0-9/._-] (at most 128)");
	else
		l->p->state.prefix = strdup(v);
}

void
plan_load_state(struct loader *l, const struct ydoc_node *s)
{
	static const char *const keys[] = {
		"backend", "endpoints", "prefix",   "lease_ttl", "timeout",
		"ca_file", "cert_file", "key_file", NULL,
	};
	struct plan_state *st = &l->p->state;
	const char *backend = "file";

	st->lease_ttl_ms = 10000;
	st->timeout_ms = 2000;
	if (!ydoc_expect_map(l->d, l->doc, s, "'state'"))
		return;
	ydoc_check_keys(l->d, l->doc, s, keys);
	ydoc_get_str(&backend, l->d, l->doc, s, "backend", false);
	if (strcmp(backend, "file") == 0) {
		if (s->count > 1)
			ydoc_problem(l->d, l->doc, s,
				     "'backend: file' takes no other key "
				     "(the plan's 'journal' names the file)");
		return;
	}
	if (strcmp(backend, "etcd") != 0) {
		ydoc_problem(l->d, l->doc, ydoc_get(s, "backend"),
			     "'backend' is 'file' or 'etcd', not '%s'",
			     backend);
		return;
	}
	st->backend = PLAN_STATE_ETCD;
	load_endpoints(l, s);
	load_prefix(l, s);
	ydoc_get_duration(&st->lease_ttl_ms, l->d, l->doc, s, "lease_ttl",
			  false, 2000, 300000);
	ydoc_get_duration(&st->timeout_ms, l->d, l->doc, s, "timeout", false,
			  100, 30000);
	if (st->timeout_ms * 3 > st->lease_ttl_ms)
		ydoc_problem(l->d, l->doc,
			     ydoc_get(s, "lease_ttl") ? ydoc_get(s, "lease_ttl")
			     : ydoc_get(s, "timeout") ? ydoc_get(s, "timeout")
						      : s,
			     "'lease_ttl' (%lld ms) must be at least three "
			     "times 'timeout' (%lld ms): the lease is renewed "
			     "every third of it",
			     (long long)st->lease_ttl_ms,
			     (long long)st->timeout_ms);
	if (ydoc_get(s, "ca_file") != NULL)
		st->ca_file = plan_readable_file(l, s, "ca_file", false);
	else if (l->p->tls.ca_file != NULL)
		st->ca_file = strdup(l->p->tls.ca_file);
	if (ydoc_get(s, "cert_file") != NULL)
		st->cert_file = plan_readable_file(l, s, "cert_file", false);
	if (ydoc_get(s, "key_file") != NULL)
		st->key_file = plan_readable_file(l, s, "key_file", false);
	check_key_file(l, s);
}

/* A Unix account or "@group": [a-z_][a-z0-9_.-]*, at most 32. */
static bool
principal_ok(const char *s)
{
	const char *name = s[0] == '@' ? s + 1 : s;
	size_t n = strlen(name);

	return n > 0 && n <= 32 &&
	       strchr("abcdefghijklmnopqrstuvwxyz_", name[0]) &&
	       strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

static void
load_role(struct loader *l, struct plan_role *role, const struct ydoc_node *s,
	  const char *key)
{
	const struct ydoc_node *list = ydoc_get(s, key);
	char what[64];

	if (list == NULL)
		return;
	snprintf(what, sizeof(what), "'%s'", key);
	if (!ydoc_expect_seq(l->d, l->doc, list, what))
		return;
	role->set = true;
	if (list->count > PLAN_MAX_PRINCIPALS) {
		ydoc_problem(l->d, l->doc, list, "'%s' takes at most %d names",
			     key, PLAN_MAX_PRINCIPALS);
		return;
	}
	for (size_t i = 0; i < list->count; i++) {
		const struct ydoc_node *e = list->items[i];

		if (!ydoc_is_str(e) || !principal_ok(e->text))
			ydoc_problem(l->d, l->doc, e,
				     "'%s': a name is a Unix account "
				     "('alice') or group ('@ops'): "
				     "[a-z_][a-z0-9_.-]*",
				     key);
		else
			role->names[role->n++] = strdup(e->text);
	}
}

void
plan_load_access(struct loader *l, const struct ydoc_node *s)
{
	static const char *const keys[] = {
		"deploy", "promote",	       "approve",
		"oncall", "distinct_approver", NULL
	};
	struct plan_access *a = &l->p->access;

	if (!ydoc_expect_map(l->d, l->doc, s, "'access'"))
		return;
	ydoc_check_keys(l->d, l->doc, s, keys);
	a->enabled = true;
	if (ydoc_get(s, "deploy") == NULL)
		ydoc_problem(l->d, l->doc, s,
			     "missing key 'deploy' (who may deploy)");
	load_role(l, &a->deploy, s, "deploy");
	load_role(l, &a->promote, s, "promote");
	load_role(l, &a->approve, s, "approve");
	load_role(l, &a->oncall, s, "oncall");
	ydoc_get_bool(&a->distinct_approver, l->d, l->doc, s,
		      "distinct_approver", false);
}

static void
free_role(struct plan_role *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->names[i]);
}

void
plan_free_state(struct plan *p)
{
	for (size_t i = 0; i < p->state.nendpoints; i++)
		free(p->state.endpoints[i]);
	free(p->state.prefix);
	free(p->state.ca_file);
	free(p->state.cert_file);
	free(p->state.key_file);
	free_role(&p->access.deploy);
	free_role(&p->access.promote);
	free_role(&p->access.approve);
	free_role(&p->access.oncall);
}
