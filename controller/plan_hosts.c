/*
 * plan_hosts: the plan's inventory and its load balancer (plan_int.h):
 * hosts with unique names and addresses, labels, members, and a
 * balancer section coherent with its kind.
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

static char *
dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
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
		if (!plan_valid_name(v))
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

void
plan_load_inventory(struct loader *l, const struct ydoc_node *inv)
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
	l->p->inventory_user = strdup(user);
	l->p->inventory_port = (int)port;
	if ((list = plan_get_list(l, inv, "hosts", "the inventory",
				  PLAN_MAX_HOSTS)) == NULL)
		return;
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

/* The balancer's kind: haproxy or nginx. */
static void
load_lb_kind(struct loader *l, const struct ydoc_node *s)
{
	static const char *const kinds[] = { "haproxy", "nginx", NULL };
	const char *kind = NULL, *near;

	if (!ydoc_get_str(&kind, l->d, l->doc, s, "kind", true))
		return;
	if (strcmp(kind, "haproxy") == 0) {
		l->p->lb.kind = PLAN_LB_HAPROXY;
		return;
	}
	if (strcmp(kind, "nginx") == 0) {
		l->p->lb.kind = PLAN_LB_NGINX;
		return;
	}
	near = ydoc_suggest(kind, kinds);
	ydoc_problem(l->d, l->doc, ydoc_get(s, "kind"),
		     "load balancer kind '%s' is not haproxy or nginx%s%s%s",
		     kind, near ? " (did you mean '" : "", near ? near : "",
		     near ? "'?)" : "");
}

/* The keys that belong to the balancer's kind, and only to it. */
static void
load_lb_kind_keys(struct loader *l, const struct ydoc_node *s)
{
	struct plan_lb *lb = &l->p->lb;

	if (lb->kind == PLAN_LB_HAPROXY) {
		lb->backend = plan_get_dup(l, s, "backend", true);
		lb->socket = plan_get_dup(l, s, "socket", true);
		lb->config = plan_get_dup(l, s, "config", false);
	} else if (lb->kind == PLAN_LB_NGINX) {
		lb->upstream_file = plan_get_dup(l, s, "upstream_file", true);
		lb->nginx_conf = plan_get_dup(l, s, "nginx_conf", true);
		lb->nginx_pid = plan_get_dup(l, s, "nginx_pid", true);
	}
	if (lb->kind == PLAN_LB_HAPROXY && ydoc_get(s, "upstream_file"))
		ydoc_problem(l->d, l->doc, ydoc_get(s, "upstream_file"),
			     "'upstream_file' belongs to an nginx balancer, "
			     "not haproxy");
	if (lb->kind == PLAN_LB_NGINX && ydoc_get(s, "config"))
		ydoc_problem(l->d, l->doc, ydoc_get(s, "config"),
			     "'config' belongs to a haproxy balancer (nginx's "
			     "pool is its upstream_file)");
	if (lb->kind == PLAN_LB_NGINX && ydoc_get(s, "socket"))
		ydoc_problem(l->d, l->doc, ydoc_get(s, "socket"),
			     "'socket' belongs to a haproxy balancer, not "
			     "nginx");
}

void
plan_load_lb(struct loader *l, const struct ydoc_node *s)
{
	static const char *const keys[] = {
		"kind",		 "name",       "address",   "port",
		"user",		 "agent_root", "backend",   "socket",
		"upstream_file", "nginx_conf", "nginx_pid", "config",
		"server_line",	 NULL,
	};
	struct plan_lb *lb = &l->p->lb;
	int64_t port = 22;

	if (!ydoc_expect_map(l->d, l->doc, s, "'load_balancer'"))
		return;
	ydoc_check_keys(l->d, l->doc, s, keys);
	load_lb_kind(l, s);
	lb->name = plan_get_dup(l, s, "name", false);
	if (lb->name == NULL)
		lb->name = strdup("lb");
	else if (!plan_valid_name(lb->name))
		ydoc_problem(
			l->d, l->doc, ydoc_get(s, "name"),
			"balancer name '%s' must be 1-64 of [A-Za-z0-9._-]",
			lb->name);
	lb->address = plan_get_dup(l, s, "address", true);
	if (lb->address != NULL && !valid_address(lb->address))
		ydoc_problem(l->d, l->doc, ydoc_get(s, "address"),
			     "'%s' is not an IP address or a host name",
			     lb->address);
	ydoc_get_int(&port, l->d, l->doc, s, "port", false, 1, 65535);
	lb->port = (int)port;
	lb->user = plan_get_dup(l, s, "user", false);
	lb->agent_root = plan_get_dup(l, s, "agent_root", true);
	load_lb_kind_keys(l, s);
	lb->server_line = plan_get_dup(l, s, "server_line", false);
	if (lb->server_line != NULL &&
	    lb->server_line[strcspn(lb->server_line, ";#\\\"'\n\r\t")] != '\0')
		ydoc_problem(l->d, l->doc, ydoc_get(s, "server_line"),
			     "'server_line' is one line without ; # \\ or "
			     "quotes (the balancer would misread them)");
}
