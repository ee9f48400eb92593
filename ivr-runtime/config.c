/*
 * config: see config.h.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libgen.h>
#include <libpq-fe.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "buf.h"
#include "ydoc.h"

#define CONFIG_FILE_MAX (256 * 1024)
#define HOUR_MS		(3600 * 1000LL)

int
config_set_str(char **field, const char *value, struct err *err)
{
	char *copy = value != NULL ? strdup(value) : NULL;

	if (value != NULL && copy == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	free(*field);
	*field = copy;
	return 0;
}

int
config_defaults(struct config *c, const char *release_root, struct err *err)
{
	char path[PATH_MAX];
	int rc;

	memset(c, 0, sizeof(*c));
	c->port = 8080;
	c->threads = 8;
	c->max_connections = 1024;
	c->max_connections_per_client = 256;
	c->request_deadline_ms = 10000;
	c->max_body_bytes = 16 * 1024;
	c->connection_timeout_ms = 30000;
	c->db_busy_ms = 5000;
	c->db_backend = BANK_SQLITE;
	c->db_statement_timeout_ms = 5000;
	c->db_connect_timeout_ms = 1000;
	c->max_calls = 1000;
	c->idle_ms = 120000;
	c->max_call_ms = 1800000;
	c->first_digit_ms = 5000;
	c->inter_digit_ms = 3000;
	c->noinput_max = 2;
	c->nomatch_max = 2;
	c->pin_attempts = 3;
	c->drain_ms = 60000;
	c->log_level = LOG_LEVEL_INFO;
	c->log_format = LOG_FORMAT_TEXT;
	if ((rc = config_set_str(&c->listen_address, "127.0.0.1", err)) < 0 ||
	    (rc = config_set_str(&c->agent_uri, "sip:advisers@bank.example",
				 err)) < 0 ||
	    (rc = config_set_str(&c->db_path, "bank.db", err)) < 0)
		return rc;
	snprintf(path, sizeof(path), "%s/share/db", release_root);
	if ((rc = config_set_str(&c->migrations_dir, path, err)) < 0)
		return rc;
	snprintf(path, sizeof(path), "%s/share/flows/banking.yaml",
		 release_root);
	return config_set_str(&c->flows_path, path, err);
}

void
config_release(struct config *c)
{
	free(c->listen_address);
	free(c->tls_cert);
	free(c->tls_key);
	free(c->tls_client_ca);
	free(c->agent_uri);
	free(c->affinity_cookie);
	free(c->db_path);
	free(c->db_conninfo);
	free(c->migrations_dir);
	free(c->flows_path);
	free(c->log_file);
	free(c->admin_token_file);
	memset(c, 0, sizeof(*c));
}

struct reader {
	struct config *c;
	const struct ydoc *doc;
	struct diag_list *diags;
	char dir[PATH_MAX]; /* the file's folder, for relative paths */
};

/* Reads a path setting, resolved against the file's folder. */
static void
get_path(struct reader *r, char **field, const struct ydoc_node *map,
	 const char *key)
{
	const char *v = NULL;
	char full[PATH_MAX];
	int n;

	if (!ydoc_get_str(&v, r->diags, r->doc, map, key, false))
		return;
	n = v[0] == '/' ? snprintf(full, sizeof(full), "%s", v)
			: snprintf(full, sizeof(full), "%s/%s", r->dir, v);
	if (n < 0 || (size_t)n >= sizeof(full)) {
		ydoc_problem(r->diags, r->doc, ydoc_get(map, key),
			     "'%s': path too long", key);
		return;
	}
	config_set_str(field, full, NULL);
}

static void
get_int(struct reader *r, int *field, const struct ydoc_node *map,
	const char *key, int min, int max)
{
	int64_t v;

	if (ydoc_get_int(&v, r->diags, r->doc, map, key, false, min, max))
		*field = (int)v;
}

static const struct ydoc_node *
section(struct reader *r, const char *name, const char *const *keys)
{
	const struct ydoc_node *s = ydoc_get(r->doc->root, name);
	char what[64];

	snprintf(what, sizeof(what), "'%s'", name);
	if (s == NULL || !ydoc_expect_map(r->diags, r->doc, s, what))
		return NULL;
	ydoc_check_keys(r->diags, r->doc, s, keys);
	return s;
}

/* listen.tls: the certificate chain and key, and the CA clients need. */
static void
read_tls(struct reader *r, const struct ydoc_node *listen)
{
	static const char *const keys[] = { "cert", "key", "client_ca", NULL };
	const struct ydoc_node *t = ydoc_get(listen, "tls");

	if (t == NULL || !ydoc_expect_map(r->diags, r->doc, t, "'listen.tls'"))
		return;
	ydoc_check_keys(r->diags, r->doc, t, keys);
	get_path(r, &r->c->tls_cert, t, "cert");
	get_path(r, &r->c->tls_key, t, "key");
	get_path(r, &r->c->tls_client_ca, t, "client_ca");
	if ((r->c->tls_cert == NULL) != (r->c->tls_key == NULL) ||
	    (r->c->tls_client_ca != NULL && r->c->tls_cert == NULL))
		ydoc_problem(r->diags, r->doc, t,
			     "'listen.tls' needs both 'cert' and 'key'");
}

static void
read_listen(struct reader *r)
{
	static const char *const keys[] = {
		"address",
		"port",
		"threads",
		"max_connections",
		"max_connections_per_client",
		"max_body_bytes",
		"connection_timeout",
		"request_deadline",
		"tls",
		NULL,
	};
	const struct ydoc_node *s = section(r, "listen", keys);
	const char *addr = NULL;

	if (s == NULL)
		return;
	read_tls(r, s);
	if (ydoc_get_str(&addr, r->diags, r->doc, s, "address", false))
		config_set_str(&r->c->listen_address, addr, NULL);
	get_int(r, &r->c->port, s, "port", 1, 65535);
	get_int(r, &r->c->threads, s, "threads", 1, 256);
	get_int(r, &r->c->max_connections, s, "max_connections", 1, 65536);
	ydoc_get_int(&r->c->max_body_bytes, r->diags, r->doc, s,
		     "max_body_bytes", false, 256, 1024 * 1024);
	get_int(r, &r->c->max_connections_per_client, s,
		"max_connections_per_client", 1, 65536);
	ydoc_get_duration(&r->c->connection_timeout_ms, r->diags, r->doc, s,
			  "connection_timeout", false, 1000, HOUR_MS);
	ydoc_get_duration(&r->c->request_deadline_ms, r->diags, r->doc, s,
			  "request_deadline", false, 100, HOUR_MS);
}

/* Keys each backend reads; the other backend's keys are refused. */
static const char *const sqlite_keys[] = { "path", "busy_timeout", NULL };
static const char *const pg_keys[] = {
	"conninfo",
	"host",
	"port",
	"dbname",
	"user",
	"password_file",
	"sslmode",
	"sslrootcert",
	"pool_size",
	"statement_timeout",
	"connect_timeout",
	NULL,
};

/* Appends " key='value'" to a libpq conninfo (quotes and backslashes
 * escaped as libpq reads them). */
/* PostgreSQL becomes the backend: the default migrations move with it
 * (share/db/postgresql); a "migrations" setting read later still wins. */
static void
use_postgresql(struct config *c)
{
	char dir[PATH_MAX];

	if (c->db_backend == BANK_POSTGRESQL)
		return;
	c->db_backend = BANK_POSTGRESQL;
	if (snprintf(dir, sizeof(dir), "%s/postgresql", c->migrations_dir) <
	    (int)sizeof(dir))
		config_set_str(&c->migrations_dir, dir, NULL);
}

/* Whether the file's conninfo parses and carries no password. */
static bool
conninfo_ok(struct reader *r, const struct ydoc_node *at, const char *text)
{
	char why[256];

	switch (bank_conninfo_check(text, why, sizeof(why))) {
	case BANK_CONNINFO_BAD:
		ydoc_problem(r->diags, r->doc, at, "'conninfo': %s", why);
		return false;
	case BANK_CONNINFO_PASSWORD:
		ydoc_problem(r->diags, r->doc, at,
			     "a password does not belong in the "
			     "configuration: give 'password_file' (a pgpass "
			     "file readable by its owner only)");
		return false;
	default:
		return true;
	}
}

int
config_use_conninfo(struct config *c, const char *text, struct err *err)
{
	struct buf ci;
	char why[256];

	switch (bank_conninfo_check(text, why, sizeof(why))) {
	case BANK_CONNINFO_BAD:
		return err_set(err, ERR_INVAL, "%s", why);
	case BANK_CONNINFO_PASSWORD:
		return err_set(err, ERR_INVAL,
			       "a password does not belong on the command "
			       "line: give passfile=FILE");
	default:
		break;
	}
	use_postgresql(c);
	buf_init(&ci, 16384);
	buf_appendf(&ci, NULL, "%s%s%s", c->db_conninfo ? c->db_conninfo : "",
		    c->db_conninfo && c->db_conninfo[0] ? " " : "", text);
	config_set_str(&c->db_conninfo, buf_cstr(&ci), NULL);
	buf_release(&ci);
	return 0;
}

void
config_bank(struct bank_config *out, const struct config *c)
{
	*out = (struct bank_config){
		.backend = c->db_backend,
		.path = c->db_path,
		.busy_ms = (int)c->db_busy_ms,
		.conninfo = c->db_conninfo,
		.statement_timeout_ms = (int)c->db_statement_timeout_ms,
		.connect_timeout_ms = (int)c->db_connect_timeout_ms,
	};
}

/* A password file: a pgpass file that only its owner may read. */
static bool
password_file_ok(struct reader *r, const struct ydoc_node *at, const char *path)
{
	struct stat st;

	if (stat(path, &st) != 0) {
		ydoc_problem(r->diags, r->doc, at,
			     "'password_file': cannot read '%s': %s", path,
			     strerror(errno));
		return false;
	}
	if (!S_ISREG(st.st_mode) || (st.st_mode & 077) != 0) {
		ydoc_problem(r->diags, r->doc, at,
			     "'password_file': '%s' must be a file readable "
			     "by its owner only (chmod 600)",
			     path);
		return false;
	}
	return true;
}

static void
read_sslmode(struct reader *r, struct buf *ci, const struct ydoc_node *s)
{
	static const char *const modes[] = { "disable",	  "allow",
					     "prefer",	  "require",
					     "verify-ca", "verify-full",
					     NULL };
	const char *v = NULL;

	if (!ydoc_get_str(&v, r->diags, r->doc, s, "sslmode", false))
		return;
	for (size_t i = 0; modes[i] != NULL; i++) {
		if (strcmp(v, modes[i]) == 0) {
			bank_conninfo_add(ci, "sslmode", v);
			return;
		}
	}
	ydoc_problem(r->diags, r->doc, ydoc_get(s, "sslmode"),
		     "'sslmode' must be one of disable, allow, prefer, "
		     "require, verify-ca, verify-full");
}

/* The PostgreSQL keys: one conninfo from the string and its parts. */
static void
read_postgresql(struct reader *r, const struct ydoc_node *s)
{
	static const char *const parts[] = { "host", "dbname", "user", NULL };
	struct buf ci;
	const char *v = NULL;
	char *path = NULL;
	int64_t port;

	buf_init(&ci, 8192);
	if (ydoc_get_str(&v, r->diags, r->doc, s, "conninfo", false) &&
	    conninfo_ok(r, ydoc_get(s, "conninfo"), v))
		buf_appendf(&ci, NULL, "%s", v);
	for (size_t i = 0; parts[i] != NULL; i++)
		if (ydoc_get_str(&v, r->diags, r->doc, s, parts[i], false))
			bank_conninfo_add(&ci, parts[i], v);
	if (ydoc_get_int(&port, r->diags, r->doc, s, "port", false, 1, 65535))
		buf_appendf(&ci, NULL, "%sport=%lld", ci.len ? " " : "",
			    (long long)port);
	read_sslmode(r, &ci, s);
	get_path(r, &path, s, "sslrootcert");
	if (path != NULL)
		bank_conninfo_add(&ci, "sslrootcert", path);
	free(path);
	path = NULL;
	get_path(r, &path, s, "password_file");
	if (path != NULL &&
	    password_file_ok(r, ydoc_get(s, "password_file"), path))
		bank_conninfo_add(&ci, "passfile", path);
	free(path);
	config_set_str(&r->c->db_conninfo, buf_cstr(&ci), NULL);
	buf_release(&ci);
	get_int(r, &r->c->db_pool_size, s, "pool_size", 1, 1024);
	ydoc_get_duration(&r->c->db_statement_timeout_ms, r->diags, r->doc, s,
			  "statement_timeout", false, 100, 600000);
	ydoc_get_duration(&r->c->db_connect_timeout_ms, r->diags, r->doc, s,
			  "connect_timeout", false, 100, 60000);
}

/* Refuses, in s, the keys that belong to the other backend. */
static void
refuse_keys(struct reader *r, const struct ydoc_node *s,
	    const char *const *keys, const char *backend)
{
	for (size_t i = 0; keys[i] != NULL; i++)
		if (ydoc_get(s, keys[i]) != NULL)
			ydoc_problem(r->diags, r->doc, ydoc_get(s, keys[i]),
				     "'%s' is not a setting of backend "
				     "'%s'",
				     keys[i], backend);
}

/* The database section's keys: both backends' and the common ones. */
static void
database_keys(const char **keys, size_t max)
{
	static const char *const common[] = { "backend", "migrations", NULL };
	const char *const *lists[] = { common, sqlite_keys, pg_keys };
	size_t n = 0;

	for (size_t l = 0; l < sizeof(lists) / sizeof(lists[0]); l++)
		for (size_t i = 0; lists[l][i] != NULL && n + 1 < max; i++)
			keys[n++] = lists[l][i];
	keys[n] = NULL;
}

static void
read_database(struct reader *r)
{
	const char *keys[32];
	const struct ydoc_node *s;
	const char *v = NULL;

	database_keys(keys, sizeof(keys) / sizeof(keys[0]));
	if ((s = section(r, "database", keys)) == NULL)
		return;
	if (ydoc_get_str(&v, r->diags, r->doc, s, "backend", false)) {
		if (strcmp(v, "postgresql") == 0)
			use_postgresql(r->c);
		else if (strcmp(v, "sqlite") != 0)
			ydoc_problem(r->diags, r->doc, ydoc_get(s, "backend"),
				     "'backend' must be sqlite or "
				     "postgresql");
	}
	if (ydoc_get(s, "migrations") != NULL)
		get_path(r, &r->c->migrations_dir, s, "migrations");
	if (r->c->db_backend == BANK_POSTGRESQL) {
		refuse_keys(r, s, sqlite_keys, "postgresql");
		read_postgresql(r, s);
		return;
	}
	refuse_keys(r, s, pg_keys, "sqlite");
	get_path(r, &r->c->db_path, s, "path");
	ydoc_get_duration(&r->c->db_busy_ms, r->diags, r->doc, s,
			  "busy_timeout", false, 0, 60000);
}

static void
read_calls(struct reader *r)
{
	static const char *const calls_keys[] = {
		"max_concurrent", "idle_timeout",    "max_duration",
		"agent_uri",	  "affinity_cookie", NULL,
	};
	static const char *const timeout_keys[] = { "first_digit",
						    "inter_digit", NULL };
	static const char *const retry_keys[] = { "noinput", "nomatch",
						  "pin_attempts", NULL };
	const struct ydoc_node *s;
	const char *uri = NULL;

	if ((s = section(r, "calls", calls_keys)) != NULL) {
		if (ydoc_get_str(&uri, r->diags, r->doc, s, "agent_uri", false))
			config_set_str(&r->c->agent_uri, uri, NULL);
		if (ydoc_get_str(&uri, r->diags, r->doc, s, "affinity_cookie",
				 false)) {
			if (strspn(uri,
				   "abcdefghijklmnopqrstuvwxyz"
				   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") !=
			    strlen(uri))
				ydoc_problem(
					r->diags, r->doc,
					ydoc_get(s, "affinity_cookie"),
					"'affinity_cookie' must be a cookie "
					"name of letters, digits, _ and -");
			else
				config_set_str(&r->c->affinity_cookie, uri,
					       NULL);
		}
		get_int(r, &r->c->max_calls, s, "max_concurrent", 1, 1000000);
		ydoc_get_duration(&r->c->idle_ms, r->diags, r->doc, s,
				  "idle_timeout", false, 1000, HOUR_MS);
		ydoc_get_duration(&r->c->max_call_ms, r->diags, r->doc, s,
				  "max_duration", false, 1000, 24 * HOUR_MS);
	}
	if ((s = section(r, "timeouts", timeout_keys)) != NULL) {
		ydoc_get_duration(&r->c->first_digit_ms, r->diags, r->doc, s,
				  "first_digit", false, 500, 120000);
		ydoc_get_duration(&r->c->inter_digit_ms, r->diags, r->doc, s,
				  "inter_digit", false, 500, 60000);
	}
	if ((s = section(r, "retries", retry_keys)) != NULL) {
		get_int(r, &r->c->noinput_max, s, "noinput", 0, 10);
		get_int(r, &r->c->nomatch_max, s, "nomatch", 0, 10);
		get_int(r, &r->c->pin_attempts, s, "pin_attempts", 1, 10);
	}
}

static void
read_log(struct reader *r)
{
	static const char *const keys[] = { "file", "level", "format", NULL };
	const struct ydoc_node *s = section(r, "log", keys);
	const char *v = NULL;
	struct err e;

	if (s == NULL)
		return;
	get_path(r, &r->c->log_file, s, "file");
	if (ydoc_get_str(&v, r->diags, r->doc, s, "level", false) &&
	    log_level_parse(&r->c->log_level, v, &e) < 0)
		ydoc_problem(r->diags, r->doc, ydoc_get(s, "level"), "%s",
			     e.msg);
	if (ydoc_get_str(&v, r->diags, r->doc, s, "format", false) &&
	    log_format_parse(&r->c->log_format, v, &e) < 0)
		ydoc_problem(r->diags, r->doc, ydoc_get(s, "format"), "%s",
			     e.msg);
}

static void
read_rest(struct reader *r)
{
	static const char *const drain_keys[] = { "deadline", NULL };
	static const char *const admin_keys[] = { "token_file", NULL };
	const struct ydoc_node *s;

	get_path(r, &r->c->flows_path, r->doc->root, "flows");
	if ((s = section(r, "drain", drain_keys)) != NULL)
		ydoc_get_duration(&r->c->drain_ms, r->diags, r->doc, s,
				  "deadline", false, 0, HOUR_MS);
	if ((s = section(r, "admin", admin_keys)) != NULL)
		get_path(r, &r->c->admin_token_file, s, "token_file");
}

int
config_check_listen(const struct config *c, struct err *err)
{
	unsigned char a[16];
	bool loopback = false;

	if (c->tls_cert != NULL)
		return 0;
	if (inet_pton(AF_INET, c->listen_address, a) == 1)
		loopback = a[0] == 127;
	else if (inet_pton(AF_INET6, c->listen_address, a) == 1)
		loopback = memcmp(a, &in6addr_loopback, 16) == 0;
	else
		loopback = strcmp(c->listen_address, "localhost") == 0;
	if (!loopback)
		return err_set(err, ERR_INVAL,
			       "listen.address %s is not a loopback address: "
			       "plain HTTP is served on loopback only; give "
			       "listen.tls (cert and key) to serve HTTPS there",
			       c->listen_address);
	return 0;
}

int
config_load(struct config *c, const char *path, struct diag_list *diags,
	    struct err *err)
{
	static const char *const top[] = {
		"listen",  "database", "flows", "calls", "timeouts",
		"retries", "drain",    "log",	"admin", NULL,
	};
	struct ydoc doc;
	struct reader r = { .c = c, .doc = &doc, .diags = diags };
	size_t before = diag_total(diags);
	char copy[PATH_MAX];
	int rc;

	snprintf(copy, sizeof(copy), "%s", path);
	snprintf(r.dir, sizeof(r.dir), "%s", dirname(copy));
	if ((rc = ydoc_load_file(&doc, path, CONFIG_FILE_MAX, diags, err)) < 0)
		goto out;
	if (doc.root != NULL &&
	    ydoc_expect_map(diags, &doc, doc.root, "a runtime config")) {
		ydoc_check_keys(diags, &doc, doc.root, top);
		read_listen(&r);
		read_database(&r);
		read_calls(&r);
		read_log(&r);
		read_rest(&r);
	}
	if (diag_total(diags) > before)
		rc = err_set(err, ERR_PARSE, "'%s' has problems", path);
out:
	ydoc_release(&doc);
	return rc;
}
