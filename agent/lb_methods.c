/*
 * lb_methods: the agent's lb.* methods (lb.h does the work): a member's
 * state read and set, and the pool listed, added to and removed from.
 * Names and server lines go into HAProxy's runtime API, where ';' ends a
 * command and '#' starts a comment: they are checked first.
 */
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "lb.h"
#include "lb_methods.h"
#include "params.h"

/* A path param that must exist under the agent's root. */
static int
path_under_root(const char **out, struct agent *a, const json_t *params,
		const char *key, bool required, struct err *err)
{
	char real[PATH_MAX];
	size_t n = strlen(a->root);
	const char *p = NULL;
	int rc;

	if ((rc = params_str(&p, params, key, required, 1024, err)) < 0 ||
	    p == NULL)
		return rc;
	if (realpath(p, real) == NULL || strncmp(real, a->root, n) != 0 ||
	    real[n] != '/')
		return err_set(err, ERR_INVAL,
			       "param '%s' must name an existing path under "
			       "the agent's root",
			       key);
	*out = p;
	return 0;
}

/* A name for the balancer: [A-Za-z0-9._:-]{1,127}. */
static int
name_param(const char **out, const json_t *params, const char *key,
	   struct err *err)
{
	int rc;

	if ((rc = params_str(out, params, key, true, 127, err)) < 0)
		return rc;
	if ((*out)[strspn(*out, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrs"
				"tuvwxyz0123456789._:-")] != '\0')
		return err_set(err, ERR_INVAL,
			       "param '%s' must match [A-Za-z0-9._:-]{1,127}",
			       key);
	return 0;
}

/* lb.add's server line: printable, one line, no ; # \ or quotes. */
static int
line_param(const char **out, const json_t *params, bool required,
	   struct err *err)
{
	int rc;

	*out = "";
	if ((rc = params_str(out, params, "line", required, 512, err)) < 0)
		return rc;
	for (const char *c = *out; *c != '\0'; c++)
		if (*c < 0x20 || *c > 0x7e || strchr(";#\\\"'", *c) != NULL)
			return err_set(err, ERR_INVAL,
				       "param 'line' holds a character the "
				       "balancer would misread (0x%02x)",
				       (unsigned char)*c);
	return 0;
}

static const char *const lb_keys[] = {
	"kind",	      "backend",       "server",     "socket",
	"timeout_ms", "upstream_file", "nginx_conf", "nginx_pid",
	"state",      "line",	       "config",     NULL,
};

/* The target of lb.* (server may be absent: lb.members); *nginx says
 * which balancer. */
static int
lb_params(struct lb_target *t, bool *nginx, struct agent *a,
	  const json_t *params, bool server, struct err *err)
{
	const char *kind = NULL;
	int rc;

	*t = (struct lb_target){ .timeout_ms = 5000 };
	if ((rc = params_check(params, lb_keys, err)) < 0 ||
	    (rc = params_str(&kind, params, "kind", true, 16, err)) < 0 ||
	    (server &&
	     (rc = name_param(&t->server, params, "server", err)) < 0))
		return rc;
	*nginx = strcmp(kind, "nginx") == 0;
	if (*nginx)
		return (rc = path_under_root(&t->upstream_file, a, params,
					     "upstream_file", true, err)) < 0 ||
				       (rc = path_under_root(
						&t->nginx_conf, a, params,
						"nginx_conf", true, err)) < 0
			       ? rc
			       : path_under_root(&t->nginx_pid, a, params,
						 "nginx_pid", true, err);
	if (strcmp(kind, "haproxy") != 0)
		return err_set(err, ERR_INVAL,
			       "param 'kind' must be haproxy or nginx");
	if ((rc = name_param(&t->backend, params, "backend", err)) < 0 ||
	    (rc = params_str(&t->socket, params, "socket", true, 1024, err)) <
		    0 ||
	    (rc = params_int(&t->timeout_ms, params, "timeout_ms", false, 100,
			     60000, err)) < 0 ||
	    (rc = path_under_root(&t->config, a, params, "config", false,
				  err)) < 0)
		return rc;
	if (t->socket[0] == '/')
		return path_under_root(&t->socket, a, params, "socket", true,
				       err);
	return 0;
}

static json_t *
member_json(const struct lb_member *m)
{
	return json_pack(
		"{s:s, s:o, s:o, s:o}", "state", lb_state_name(m->state),
		"sessions",
		m->sessions >= 0 ? json_integer(m->sessions) : json_null(),
		"up", m->up >= 0 ? json_boolean(m->up) : json_null(), "checked",
		m->checked >= 0 ? json_boolean(m->checked) : json_null());
}

int
lb_get_state_method(json_t **result, struct agent *a, json_t *params,
		    struct err *err)
{
	struct lb_target t;
	struct lb_member m;
	bool nginx;
	int rc;

	if ((rc = lb_params(&t, &nginx, a, params, true, err)) < 0 ||
	    (rc = nginx ? lb_nginx_get(&m, &t, err)
			: lb_haproxy_get(&m, &t, err)) < 0)
		return rc;
	*result = member_json(&m);
	return 0;
}

int
lb_set_state_method(json_t **result, struct agent *a, json_t *params,
		    struct err *err)
{
	const char *name = NULL;
	struct lb_member before = { 0 }, after = { 0 };
	enum lb_state state;
	struct lb_target t;
	bool nginx;
	int rc;

	if ((rc = lb_params(&t, &nginx, a, params, true, err)) < 0 ||
	    (rc = params_str(&name, params, "state", true, 16, err)) < 0 ||
	    (rc = lb_state_parse(&state, name, err)) < 0 ||
	    (rc = nginx ? lb_nginx_get(&before, &t, err)
			: lb_haproxy_get(&before, &t, err)) < 0 ||
	    (rc = nginx ? lb_nginx_set(&after, &t, state, err)
			: lb_haproxy_set(&after, &t, state, err)) < 0)
		return rc;
	*result = member_json(&after);
	json_object_set_new(*result, "previous",
			    json_string(lb_state_name(before.state)));
	return 0;
}

#define MEMBERS_MAX 1000

static int
add_entry(void *ctx, const struct lb_entry *e)
{
	json_t *list = ctx;

	if (json_array_size(list) >= MEMBERS_MAX)
		return ERR_OVERFLOW;
	json_array_append_new(
		list,
		json_pack("{s:s, s:s, s:s, s:o}", "name", e->name, "address",
			  e->address, "state", lb_state_name(e->state), "up",
			  e->up >= 0 ? json_boolean(e->up) : json_null()));
	return 0;
}

int
lb_members_method(json_t **result, struct agent *a, json_t *params,
		  struct err *err)
{
	json_t *list = json_array();
	struct lb_target t;
	bool nginx;
	int rc;

	if ((rc = lb_params(&t, &nginx, a, params, false, err)) < 0 ||
	    (rc = nginx ? lb_nginx_members(&t, add_entry, list, err)
			: lb_haproxy_members(&t, add_entry, list, err)) < 0) {
		json_decref(list);
		return rc;
	}
	*result = json_pack("{s:o}", "members", list);
	return 0;
}

int
lb_add_method(json_t **result, struct agent *a, json_t *params, struct err *err)
{
	struct lb_target t;
	bool nginx;
	int rc;

	if ((rc = lb_params(&t, &nginx, a, params, true, err)) < 0 ||
	    (rc = line_param(&t.line, params, !nginx, err)) < 0 ||
	    (rc = nginx ? lb_nginx_add(&t, err) : lb_haproxy_add(&t, err)) < 0)
		return rc;
	*result = json_pack("{s:s, s:b}", "state", "maint", "config",
			    nginx || t.config != NULL);
	return 0;
}

int
lb_remove_method(json_t **result, struct agent *a, json_t *params,
		 struct err *err)
{
	struct lb_target t;
	bool nginx;
	int rc;

	if ((rc = lb_params(&t, &nginx, a, params, true, err)) < 0 ||
	    (rc = nginx ? lb_nginx_remove(&t, err)
			: lb_haproxy_remove(&t, err)) < 0)
		return rc;
	*result = json_pack("{s:b, s:b}", "removed", true, "config",
			    nginx || t.config != NULL);
	return 0;
}
