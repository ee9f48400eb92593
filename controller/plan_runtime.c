/*
 * plan_runtime: the plan's `runtime:` section, the runtime's settings
 * that go out with a release.  `settings` is a mapping in the plan or a
 * YAML file beside it; `hosts` maps a host's name to the settings that
 * differ on it, merged over them key by key.  Each host's runtime.yaml is
 * rendered here at load (block YAML, keys in the order written, {name}
 * and {address} in values expanded for the host) and the configuration's
 * id is the first 12 hex digits of the sha256 over every host's name and
 * text: one id for the fleet, which changes when any host's file does.
 */
#include "plan_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "hash.h"

#define SETTINGS_FILE_MAX (256 * 1024)
#define RENDERED_MAX	  (256 * 1024)

/* The value of key in map (a mapping, or NULL). */
static const struct ydoc_node *
value_of(const struct ydoc_node *map, const char *key)
{
	return map != NULL && map->type == YDOC_MAP ? ydoc_get(map, key) : NULL;
}

/* Whether a scalar's text can go out unquoted and read back the same. */
static bool
plain(const char *s, size_t n)
{
	if (n == 0 || strlen(s) != n || s[n - 1] == ':' ||
	    strchr("-:?@`!&*|>%#'\"", s[0]) != NULL)
		return false;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			 "0123456789_./:+-") == n;
}

/* A scalar, expanded for h, plain or double-quoted. */
static int
scalar(struct buf *out, const struct ydoc_node *v, const struct plan_host *h,
       struct err *err)
{
	char text[4096];
	int rc;

	if ((rc = plan_expand(text, sizeof(text), v->text, h, err)) < 0)
		return rc;
	if (!v->quoted && plain(text, strlen(text)))
		return buf_append_str(out, text, err);
	rc = buf_append_str(out, "\"", err);
	for (const char *c = text; *c != '\0' && rc == 0; c++) {
		if (*c == '"' || *c == '\\')
			rc = buf_appendf(out, err, "\\%c", *c);
		else if ((unsigned char)*c < 0x20)
			rc = buf_appendf(out, err, "\\x%02x",
					 (unsigned char)*c);
		else
			rc = buf_append(out, c, 1, err);
	}
	return rc == 0 ? buf_append_str(out, "\"", err) : rc;
}

/* A value in flow style (inside a list). */
static int
flow(struct buf *out, const struct ydoc_node *v, const struct plan_host *h,
     struct err *err)
{
	int rc = 0;

	if (v->type == YDOC_SCALAR)
		return scalar(out, v, h, err);
	rc = buf_append_str(out, v->type == YDOC_MAP ? "{" : "[", err);
	for (size_t i = 0; i < v->count && rc == 0; i++) {
		if (i > 0)
			rc = buf_append_str(out, ", ", err);
		if (rc == 0 && v->type == YDOC_MAP &&
		    (rc = scalar(out, v->pairs[i].key, h, err)) == 0)
			rc = buf_append_str(out, ": ", err);
		if (rc == 0)
			rc = flow(out,
				  v->type == YDOC_MAP ? v->pairs[i].value
						      : v->items[i],
				  h, err);
	}
	return rc == 0 ? buf_append_str(out, v->type == YDOC_MAP ? "}" : "]",
					err)
		       : rc;
}

static int mapping(struct buf *out, const struct ydoc_node *base,
		   const struct ydoc_node *over, int indent,
		   const struct plan_host *h, struct err *err);

/* "key: value" at indent; two mappings merge, anything else: over wins. */
static int
pair(struct buf *out, const struct ydoc_node *key, const struct ydoc_node *base,
     const struct ydoc_node *over, int indent, const struct plan_host *h,
     struct err *err)
{
	const struct ydoc_node *v = over ? over : base;
	int rc;

	if ((rc = buf_appendf(out, err, "%*s", indent, "")) < 0 ||
	    (rc = scalar(out, key, h, err)) < 0 ||
	    (rc = buf_append_str(out, ":", err)) < 0)
		return rc;
	if (v->type == YDOC_MAP && v->count > 0 &&
	    (over == NULL || base == NULL || base->type == YDOC_MAP))
		return (rc = buf_append_str(out, "\n", err)) < 0
			       ? rc
			       : mapping(out,
					 base && base->type == YDOC_MAP ? base
									: v,
					 over, indent + 2, h, err);
	if ((rc = buf_append_str(out, " ", err)) < 0 ||
	    (rc = flow(out, v, h, err)) < 0)
		return rc;
	return buf_append_str(out, "\n", err);
}

/* base's keys in order (over's value where it has one), then over's. */
static int
mapping(struct buf *out, const struct ydoc_node *base,
	const struct ydoc_node *over, int indent, const struct plan_host *h,
	struct err *err)
{
	int rc = 0;

	for (size_t i = 0; base != NULL && i < base->count && rc == 0; i++) {
		const struct ydoc_pair *p = &base->pairs[i];

		rc = pair(out, p->key, p->value, value_of(over, p->key->text),
			  indent, h, err);
	}
	for (size_t i = 0;
	     over != NULL && over != base && i < over->count && rc == 0; i++) {
		const struct ydoc_pair *p = &over->pairs[i];

		if (value_of(base, p->key->text) == NULL)
			rc = pair(out, p->key, NULL, p->value, indent, h, err);
	}
	return rc;
}

/* The settings: the plan's mapping, or the file it names (loaded into
 * file, whose problems are placed in it). */
static const struct ydoc_node *
settings(struct loader *l, const struct ydoc_node *s, struct ydoc *file)
{
	const struct ydoc_node *v = ydoc_get(s, "settings");
	struct err e;
	char *path;

	if (v == NULL) {
		ydoc_problem(l->d, l->doc, s, "missing key 'settings'");
		return NULL;
	}
	if (v->type == YDOC_MAP)
		return v;
	if (!ydoc_is_str(v)) {
		ydoc_problem(l->d, l->doc, v,
			     "'settings' is a mapping or a file, not %s",
			     ydoc_type_name(v));
		return NULL;
	}
	path = plan_resolve(l, v->text);
	if (ydoc_load_file(file, path, SETTINGS_FILE_MAX, l->d, &e) < 0) {
		if (e.code != ERR_PARSE)
			ydoc_problem(l->d, l->doc, v, "%s", e.msg);
		free(path);
		return NULL;
	}
	free(path);
	if (!ydoc_expect_map(l->d, file, file->root, "the runtime settings"))
		return NULL;
	return file->root;
}

/* A host's certificates into the id (with runtime.tls only, so that ids
 * without it stay as they were). */
static void
hash_tls(struct hash_sha256 *ctx, const struct plan_host *h)
{
	const char *const parts[] = { h->tls_cert, h->tls_key,
				      h->tls_client_ca };

	for (size_t i = 0; i < 3; i++)
		hash_sha256_update(ctx, parts[i] ? parts[i] : "",
				   parts[i] ? strlen(parts[i]) + 1 : 1, NULL);
}

/*
 * runtime.tls in h's text, once the id is known: listen.tls naming the
 * files config.put writes beside the settings (shared/tls.<id>.*).  The
 * settings' own `listen:` (block style, at column 0) takes it as its
 * first key; without one, a `listen:` is added.
 */
static char *
with_tls(const char *text, const struct plan_host *h, const char *id)
{
	const char *at = strstr(text, "\nlisten:\n");
	char block[256];
	struct buf b;
	char *out = NULL;

	snprintf(block, sizeof(block),
		 "  tls:\n    cert: tls.%s.pem\n    key: tls.%s.key\n%s%s%s",
		 id, id, h->tls_client_ca ? "    client_ca: tls." : "",
		 h->tls_client_ca ? id : "",
		 h->tls_client_ca ? ".ca.pem\n" : "");
	buf_init(&b, RENDERED_MAX);
	if (at != NULL ? buf_append(&b, text, (size_t)(at - text) + 9, NULL) ==
					 0 &&
				 buf_append_str(&b, block, NULL) == 0 &&
				 buf_append_str(&b, at + 9, NULL) == 0
		       : buf_append_str(&b, text, NULL) == 0 &&
				 buf_append_str(&b, "listen:\n", NULL) == 0 &&
				 buf_append_str(&b, block, NULL) == 0)
		out = strdup(buf_cstr(&b));
	buf_release(&b);
	return out;
}

/* runtime.tls and the settings' own listen.tls cannot both be. */
static bool
tls_twice(struct loader *l, const struct ydoc_node *base,
	  const struct ydoc_node *hosts)
{
	const struct ydoc_node *listen = value_of(base, "listen");
	bool twice = value_of(listen, "tls") != NULL;

	for (size_t i = 0; hosts != NULL && i < hosts->count; i++)
		twice = twice ||
			value_of(value_of(hosts->pairs[i].value, "listen"),
				 "tls") != NULL;
	if (twice)
		ydoc_problem(l->d, l->doc, base,
			     "the settings set listen.tls, and runtime.tls "
			     "ships the certificates: name them in "
			     "runtime.tls only");
	return twice;
}

/* Every host's text and the configuration's id. */
static void
render(struct loader *l, const struct ydoc_node *base,
       const struct ydoc_node *hosts)
{
	struct plan *p = l->p;
	unsigned char digest[HASH_SHA256_LEN];
	char hex[HASH_SHA256_HEX_LEN + 1];
	struct hash_sha256 *ctx = hash_sha256_new(NULL);
	struct err e;

	for (size_t i = 0; i < p->nhosts && ctx != NULL; i++) {
		struct plan_host *h = &p->hosts[i];
		struct buf b;

		buf_init(&b, RENDERED_MAX);
		/* nothing here may depend on how the plan was named */
		if (buf_appendf(&b, &e,
				"# %s's ivr-runtime settings, rendered by "
				"ivrctl from its plan's runtime section\n",
				h->name) < 0 ||
		    mapping(&b, base, value_of(hosts, h->name), 0, h, &e) < 0)
			ydoc_problem(l->d, l->doc, base,
				     "the runtime settings for %s: %s", h->name,
				     e.msg);
		else
			h->runtime = strdup(buf_cstr(&b));
		hash_sha256_update(ctx, h->name, strlen(h->name) + 1, NULL);
		hash_sha256_update(ctx, buf_cstr(&b), b.len, NULL);
		if (p->tls.runtime)
			hash_tls(ctx, h);
		buf_release(&b);
	}
	if (ctx == NULL)
		return;
	hash_sha256_final(digest, ctx, NULL);
	hash_sha256_free(ctx);
	hash_hex(hex, digest, sizeof(digest));
	snprintf(p->config_id, sizeof(p->config_id), "%.12s", hex);
	for (size_t i = 0; p->tls.runtime && i < p->nhosts; i++) {
		char *t = p->hosts[i].runtime
				  ? with_tls(p->hosts[i].runtime, &p->hosts[i],
					     p->config_id)
				  : NULL;

		free(p->hosts[i].runtime);
		p->hosts[i].runtime = t;
	}
}

void
plan_load_runtime(struct loader *l, const struct ydoc_node *s)
{
	static const char *const keys[] = { "settings", "hosts", "tls", NULL };
	const struct ydoc_node *base, *hosts;
	struct ydoc file = { 0 };
	bool whole = l->p->nhosts > 0;

	if (!ydoc_expect_map(l->d, l->doc, s, "'runtime'"))
		return;
	ydoc_check_keys(l->d, l->doc, s, keys);
	hosts = ydoc_get(s, "hosts");
	if (hosts != NULL && !ydoc_expect_map(l->d, l->doc, hosts, "'hosts'"))
		hosts = NULL;
	for (size_t i = 0; hosts != NULL && i < hosts->count; i++) {
		const struct ydoc_pair *hp = &hosts->pairs[i];
		bool known = false;

		for (size_t j = 0; j < l->p->nhosts; j++)
			known = known || (l->p->hosts[j].name &&
					  strcmp(l->p->hosts[j].name,
						 hp->key->text) == 0);
		if (!known)
			ydoc_problem(l->d, l->doc, hp->key,
				     "runtime.hosts: '%s' is not a host of "
				     "the inventory",
				     hp->key->text);
		ydoc_expect_map(l->d, l->doc, hp->value,
				"a host's runtime settings");
	}
	/* rendered when the hosts it is rendered for are sound */
	for (size_t i = 0; i < l->p->nhosts; i++)
		whole = whole && l->p->hosts[i].name && l->p->hosts[i].address;
	if (whole && ydoc_get(s, "tls") != NULL)
		plan_load_runtime_tls(l, ydoc_get(s, "tls"));
	if ((base = settings(l, s, &file)) != NULL && whole &&
	    !tls_twice(l, base, hosts))
		render(l, base, hosts);
	ydoc_release(&file);
}
