/*
 * plan_database: the plan's database section (plan_int.h).  ivrctl reaches
 * the bank's database as the migration role: PostgreSQL through a libpq
 * conninfo checked by libpq's own parser, its password in a password
 * file only its owner may read; SQLite through the file's path.
 */
#include "plan.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "plan_int.h"
#include "ydoc.h"

/* The conninfo at s's key, checked; NULL (a problem said) when unfit. */
static char *
conninfo(struct loader *l, const struct ydoc_node *s)
{
	const struct ydoc_node *v = ydoc_get(s, "conninfo");
	PQconninfoOption *opts;
	const char *text = NULL;
	char *why = NULL;
	bool password = false, passfile = false;

	if (!ydoc_get_str(&text, l->d, l->doc, s, "conninfo", true))
		return NULL;
	if (strncmp(text, "postgresql://", 13) == 0 ||
	    strncmp(text, "postgres://", 11) == 0) {
		ydoc_problem(l->d, l->doc, v,
			     "'conninfo': give libpq's 'key=value ...' form "
			     "(host=... port=... dbname=... user=...), not a "
			     "URI");
		return NULL;
	}
	if ((opts = PQconninfoParse(text, &why)) == NULL) {
		ydoc_problem(l->d, l->doc, v, "'conninfo': %s",
			     why ? why : "out of memory");
		PQfreemem(why);
		return NULL;
	}
	for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
		if (o->val == NULL)
			continue;
		password = password || strcmp(o->keyword, "password") == 0;
		passfile = passfile || strcmp(o->keyword, "passfile") == 0;
	}
	PQconninfoFree(opts);
	if (password) {
		ydoc_problem(l->d, l->doc, v,
			     "a password does not belong in the plan: give "
			     "'password_file' (a pgpass file, mode 0600)");
		return NULL;
	}
	if (passfile) {
		ydoc_problem(l->d, l->doc, v,
			     "'conninfo': give the password file as "
			     "'password_file', where the plan checks it");
		return NULL;
	}
	return strdup(text);
}

/* The password file at s's key: resolved, readable by its owner only. */
static char *
password_file(struct loader *l, const struct ydoc_node *s)
{
	char *path = plan_readable_file(l, s, "password_file", false);
	struct stat st;

	if (path != NULL && stat(path, &st) == 0 && (st.st_mode & 077) != 0)
		ydoc_problem(l->d, l->doc, ydoc_get(s, "password_file"),
			     "'password_file': '%s' must be a file readable "
			     "by its owner only (chmod 600)",
			     path);
	return path;
}

/* conninfo with passfile='pass' added (libpq's quoting); NULL: no memory. */
static char *
with_passfile(const char *conninfo, const char *pass)
{
	size_t n = strlen(conninfo) + 2 * strlen(pass) + 32;
	char *full = malloc(n), *o;

	if (full == NULL)
		return NULL;
	o = full + snprintf(full, n, "%s passfile='", conninfo);
	for (const char *c = pass; *c != '\0'; c++) {
		if (*c == '\\' || *c == '\'')
			*o++ = '\\';
		*o++ = *c;
	}
	*o++ = '\'';
	*o = '\0';
	return full;
}

static void
load_postgresql(struct loader *l, const struct ydoc_node *s)
{
	struct plan_db *db = &l->p->db;
	char *pass, *full;

	db->backend = PLAN_DB_POSTGRESQL;
	if (ydoc_get(s, "path") != NULL)
		ydoc_problem(l->d, l->doc, ydoc_get(s, "path"),
			     "'path' is not a setting of backend 'postgresql'");
	db->conninfo = conninfo(l, s);
	pass = password_file(l, s);
	if (db->conninfo != NULL && pass != NULL) {
		full = with_passfile(db->conninfo, pass);
		free(db->conninfo);
		db->conninfo = full;
	}
	free(pass);
}

static void
load_sqlite(struct loader *l, const struct ydoc_node *s)
{
	static const char *const pg_only[] = { "conninfo", "password_file",
					       NULL };

	l->p->db.backend = PLAN_DB_SQLITE;
	for (size_t i = 0; pg_only[i] != NULL; i++)
		if (ydoc_get(s, pg_only[i]) != NULL)
			ydoc_problem(l->d, l->doc, ydoc_get(s, pg_only[i]),
				     "'%s' is not a setting of backend "
				     "'sqlite'",
				     pg_only[i]);
	l->p->db.path = plan_readable_file(l, s, "path", true);
}

void
plan_load_database(struct loader *l, const struct ydoc_node *s)
{
	static const char *const keys[] = {
		"backend",
		"conninfo",
		"password_file",
		"path",
		"backups",
		"lock_timeout",
		"statement_timeout",
		"backup_timeout",
		NULL,
	};
	struct plan_db *db = &l->p->db;
	const char *backend = NULL, *backups = NULL;

	if (!ydoc_expect_map(l->d, l->doc, s, "'database'"))
		return;
	ydoc_check_keys(l->d, l->doc, s, keys);
	if (!ydoc_get_str(&backend, l->d, l->doc, s, "backend", true))
		return;
	if (strcmp(backend, "postgresql") == 0)
		load_postgresql(l, s);
	else if (strcmp(backend, "sqlite") == 0)
		load_sqlite(l, s);
	else
		ydoc_problem(l->d, l->doc, ydoc_get(s, "backend"),
			     "'backend': '%s' is not postgresql or sqlite",
			     backend);
	if (ydoc_get_str(&backups, l->d, l->doc, s, "backups", true))
		db->backups = plan_resolve(l, backups);
	ydoc_get_duration(&db->lock_timeout_ms, l->d, l->doc, s, "lock_timeout",
			  false, 10, 600000);
	ydoc_get_duration(&db->statement_timeout_ms, l->d, l->doc, s,
			  "statement_timeout", false, 100, 24 * HOUR_MS);
	ydoc_get_duration(&db->backup_timeout_ms, l->d, l->doc, s,
			  "backup_timeout", false, 1000, 24 * HOUR_MS);
}
