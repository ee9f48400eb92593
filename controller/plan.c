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
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "fileio.h"
#include "hash.h"
#include "caps.h"
#include "parse.h"
#include "plan_int.h"
#include "ydoc.h"

#define PLAN_FILE_MAX (1024 * 1024)

/* The plan's own strings outside its hosts and phases. */
static void
free_strings(struct plan *p)
{
	char *owned[] = {
		p->lb.name,
		p->lb.address,
		p->lb.user,
		p->lb.agent_root,
		p->lb.backend,
		p->lb.socket,
		p->lb.upstream_file,
		p->lb.nginx_conf,
		p->lb.nginx_pid,
		p->lb.config,
		p->lb.server_line,
		p->inventory_user,
		p->path,
		p->dir,
		p->environment,
		p->identity_file,
		p->known_hosts,
		p->agent_path,
		p->agent_root,
		p->service_manager,
		p->service_unit,
		p->health_url,
		p->calls_url,
		p->artifact,
		p->journal,
		p->db.conninfo,
		p->db.path,
		p->db.backups,
	};

	for (size_t i = 0; i < sizeof(owned) / sizeof(*owned); i++)
		free(owned[i]);
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
		free(h->runtime);
		free(h->tls_cert);
		if (h->tls_key != NULL)
			explicit_bzero(h->tls_key, strlen(h->tls_key));
		free(h->tls_key);
		free(h->tls_client_ca);
		for (size_t j = 0; j < h->nlabels; j++) {
			free(h->labels[j].key);
			free(h->labels[j].value);
		}
	}
	free(p->hosts);
	for (size_t i = 0; i < p->nphases; i++)
		free(p->phases[i].name);
	plan_free_analysis(p);
	plan_free_notify(p);
	plan_free_state(p);
	plan_free_tls(p);
	free_strings(p);
	free(p);
}

void
plan_release(char *out, const struct plan *p, const char *version)
{
	snprintf(out, PLAN_RELEASE_MAX, "%s%s%s", version,
		 p->config_id[0] ? "+" : "", p->config_id);
}

bool
plan_release_is(const char *current, const char *target)
{
	size_t n = strlen(target);

	return strcmp(current, target) == 0 ||
	       (strchr(target, '+') == NULL &&
		strncmp(current, target, n) == 0 && current[n] == '+');
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

const struct plan_phase *
plan_phase_named(const struct plan *p, const char *name)
{
	for (size_t i = 0; i < p->nphases; i++)
		if (strcmp(p->phases[i].name, name) == 0)
			return &p->phases[i];
	return NULL;
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

/* A path relative to the plan's folder, made absolute. */
char *
plan_resolve(struct loader *l, const char *path)
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
char *
plan_readable_file(struct loader *l, const struct ydoc_node *map,
		   const char *key, bool required)
{
	const char *v = NULL;
	struct stat st;
	char *full;

	if (!ydoc_get_str(&v, l->d, l->doc, map, key, required))
		return NULL;
	full = plan_resolve(l, v);
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

bool
plan_valid_name(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= 64 &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			 "0123456789._-") == n;
}

char *
plan_get_dup(struct loader *l, const struct ydoc_node *map, const char *key,
	     bool required)
{
	const char *v = NULL;

	return ydoc_get_str(&v, l->d, l->doc, map, key, required) ? strdup(v)
								  : NULL;
}

const struct ydoc_node *
plan_get_list(struct loader *l, const struct ydoc_node *map, const char *key,
	      const char *whole, size_t max)
{
	const struct ydoc_node *list = ydoc_get(map, key);
	char what[64];

	snprintf(what, sizeof(what), "'%s'", key);
	if (list == NULL) {
		ydoc_problem(l->d, l->doc, map, "missing key '%s'", key);
		return NULL;
	}
	if (!ydoc_expect_seq(l->d, l->doc, list, what))
		return NULL;
	if (list->count == 0 || list->count > max) {
		ydoc_problem(l->d, l->doc, list, "%s needs 1 to %zu %s", whole,
			     max, key);
		return NULL;
	}
	return list;
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
	p->keep_releases = 5;
	p->db.lock_timeout_ms = 2000;
	p->db.statement_timeout_ms = 60000;
	p->db.backup_timeout_ms = 600000;
	plan_tls_defaults(p);
}

static const char *const top_keys[] = {
	"environment", "inventory", "load_balancer", "ssh",	 "agent",
	"service",     "health",    "rollout",	     "artifact", "journal",
	"database",    "analysis",  "smoke",	     "notify",	 "runtime",
	"state",       "access",    "tls",	     NULL,
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
 * A smoke call waits for its whole script.  A command_timeout shorter
 * than one of those (plus the step's slack)
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
		{ "smoke.timeout", p->smoke.enabled ? p->smoke.timeout_ms : 0 },
		{ "a check of the balancer's or the runtime's files",
		  CAPS_CHECK_MS },
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
		if (!plan_valid_name(v))
			ydoc_problem(l->d, l->doc,
				     ydoc_get(root, "environment"),
				     "environment '%s' must be 1-64 of "
				     "[A-Za-z0-9._-]",
				     v);
		l->p->environment = strdup(v);
	}
	if ((s = section(l, "inventory")) != NULL)
		plan_load_inventory(l, s);
	if ((s = ydoc_get(root, "tls")) != NULL)
		plan_load_tls(l, s);
	l->p->analysis.ca_file = l->p->tls.ca_file;
	if ((s = ydoc_get(root, "load_balancer")) != NULL)
		plan_load_lb(l, s);
	if ((s = section(l, "ssh")) != NULL)
		plan_load_ssh(l, s);
	if ((s = section(l, "agent")) != NULL)
		plan_load_agent_service(l, s, ydoc_get(root, "service"));
	if ((s = section(l, "health")) != NULL)
		plan_load_health(l, s);
	if ((s = section(l, "rollout")) != NULL)
		plan_load_rollout(l, s);
	if ((s = ydoc_get(root, "database")) != NULL)
		plan_load_database(l, s);
	plan_load_analysis(l, ydoc_get(root, "analysis"),
			   ydoc_get(root, "rollout"));
	if ((s = ydoc_get(root, "smoke")) != NULL)
		plan_load_smoke(l, s);
	if ((s = ydoc_get(root, "notify")) != NULL)
		plan_load_notify(l, s);
	if ((s = ydoc_get(root, "runtime")) != NULL)
		plan_load_runtime(l, s);
	if (ydoc_get(root, "artifact") != NULL)
		l->p->artifact = plan_readable_file(l, root, "artifact", false);
	if (ydoc_get_str(&v, l->d, l->doc, root, "journal", false))
		l->p->journal = plan_resolve(l, v);
	if ((s = ydoc_get(root, "state")) != NULL)
		plan_load_state(l, s);
	if ((s = ydoc_get(root, "access")) != NULL)
		plan_load_access(l, s);
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

/* The problems of a plan as JSON, sorted by place. */
static json_t *
problems_json(struct diag_list *d)
{
	json_t *list = json_array();
	struct buf sorted;

	buf_init(&sorted, 64 * 1024 * 1024);
	diag_format(&sorted, d, NULL); /* sorts the list */
	buf_release(&sorted);
	for (size_t i = 0; i < d->count; i++)
		json_array_append_new(list,
				      json_pack("{s:s, s:i, s:i, s:s}", "path",
						d->items[i].path, "line",
						(int)d->items[i].line, "column",
						(int)d->items[i].col, "message",
						d->items[i].msg));
	return list;
}

json_t *
plan_validation_json(const char *path, const struct plan *p,
		     struct diag_list *d, const struct err *e)
{
	json_t *o = json_pack("{s:s, s:b}", "path", path, "valid", p != NULL);

	if (p != NULL) {
		json_t *soon = json_array();

		plan_tls_expiring(p, (int64_t)time(NULL), NULL, 0, soon);
		json_object_set_new(o, "environment",
				    json_string(p->environment));
		json_object_set_new(o, "hosts", json_integer((int)p->nhosts));
		json_object_set_new(o, "phases", json_integer((int)p->nphases));
		json_object_set_new(o, "plan_sha256", json_string(p->sha256));
		json_object_set_new(o, "expiring_certificates", soon);
	} else if (diag_total(d) == 0) {
		json_object_set_new(o, "error", json_string(e->msg));
	}
	json_object_set_new(o, "problems", problems_json(d));
	json_object_set_new(o, "total_problems",
			    json_integer((json_int_t)diag_total(d)));
	return o;
}
