/*
 * plan_database: the plan's database section (plan_int.h).  ivrctl reaches
 * the bank's database as the migration role: PostgreSQL through a libpq
 * conninfo checked by libpq's own parser (bank_conninfo_check, as the
 * runtime checks its own), its password in a password file only its owner
 * may read; SQLite through the file's path.
 */
#include "plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bank.h"
#include "buf.h"
#include "plan_int.h"
#include "ydoc.h"

/* The conninfo at s's key, checked; NULL (a problem said) when unfit. */
static char *
conninfo(struct loader *l, const struct ydoc_node *s)
{
	const struct ydoc_node *v = ydoc_get(s, "conninfo");
	const char *text = NULL;
	char why[256];

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
	switch (bank_conninfo_check(text, why, sizeof(why))) {
	case BANK_CONNINFO_BAD:
		ydoc_problem(l->d, l->doc, v, "'conninfo': %s", why);
		return NULL;
	case BANK_CONNINFO_PASSWORD:
		ydoc_problem(l->d, l->doc, v,
			     "a password does not belong in the plan: give "
			     "'password_file' (a pgpass file, mode 0600)");
		return NULL;
	case BANK_CONNINFO_PASSFILE:
		ydoc_problem(l->d, l->doc, v,
			     "'conninfo': give the password file as "
			     "'password_file', where the plan checks it");
		return NULL;
	default:
		break;
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

/* conninfo with passfile='pass' added; NULL: no memory. */
static char *
with_passfile(const char *conninfo, const char *pass)
{
	struct buf ci;
	char *full;

	buf_init(&ci, 1024 * 1024);
	buf_append_str(&ci, conninfo, NULL);
	bank_conninfo_add(&ci, "passfile", pass);
	full = strdup(buf_cstr(&ci));
	buf_release(&ci);
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

/* One table's mapping: map[key] names each column (dflt where absent). */
static void
load_table(struct loader *l, const struct ydoc_node *map,
	   const char *const keys[], char (*const out[])[PLAN_IDENT_MAX],
	   const char *const dflt[])
{
	for (size_t i = 0; keys[i] != NULL; i++) {
		const char *v = dflt[i];
		size_t n;

		if (map != NULL)
			ydoc_get_str(&v, l->d, l->doc, map, keys[i], false);
		n = v ? strlen(v) : 0;
		if (n == 0 || n >= PLAN_IDENT_MAX ||
		    (v[0] >= '0' && v[0] <= '9') ||
		    strspn(v, "abcdefghijklmnopqrstuvwxyz"
			      "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") != n)
			ydoc_problem(l->d, l->doc,
				     map && ydoc_get(map, keys[i])
					     ? ydoc_get(map, keys[i])
					     : map,
				     "'%s': '%s' is not a table or column name "
				     "(letters, digits and '_', at most %d)",
				     keys[i], v ? v : "", PLAN_IDENT_MAX - 1);
		else
			snprintf(*out[i], PLAN_IDENT_MAX, "%s", v);
	}
}

/* The legacy section's maps are maps; false (said) when one is not. */
static bool
legacy_shape(struct loader *l, const struct ydoc_node *s)
{
	static const char *const top[] = { "accounts", "transactions", "money",
					   "batch", NULL };
	const struct ydoc_node *a, *t;

	if (s == NULL)
		return true;
	if (!ydoc_expect_map(l->d, l->doc, s, "'legacy'"))
		return false;
	ydoc_check_keys(l->d, l->doc, s, top);
	a = ydoc_get(s, "accounts");
	t = ydoc_get(s, "transactions");
	return (a == NULL || ydoc_expect_map(l->d, l->doc, a, "'accounts'")) &&
	       (t == NULL ||
		ydoc_expect_map(l->d, l->doc, t, "'transactions'"));
}

/* database.legacy: the old system's tables (defaults: the guide's). */
static void
load_legacy(struct loader *l, const struct ydoc_node *s)
{
	static const char *const akeys[] = { "table",	"id",	    "number",
					     "balance", "customer", NULL };
	static const char *const adflt[] = { "accounts", "account_id",
					     "account_number", "balance",
					     "customer_id" };
	static const char *const tkeys[] = { "table",  "id",   "account",
					     "amount", "date", "description",
					     NULL };
	static const char *const tdflt[] = { "transactions", "transaction_id",
					     "account_id",   "amount",
					     "date",	     "description" };
	struct plan_legacy *g = &l->p->db.legacy;
	char(*const aout[])[PLAN_IDENT_MAX] = { &g->accounts, &g->account_id,
						&g->number, &g->balance,
						&g->customer };
	char(*const tout[])[PLAN_IDENT_MAX] = {
		&g->transactions, &g->transaction_id, &g->account,
		&g->amount,	  &g->date,	      &g->description
	};
	const struct ydoc_node *a = s ? ydoc_get(s, "accounts") : NULL;
	const struct ydoc_node *t = s ? ydoc_get(s, "transactions") : NULL;
	const char *money = "units";
	int64_t batch = 1000;

	if (!legacy_shape(l, s))
		return;
	if (a != NULL)
		ydoc_check_keys(l->d, l->doc, a, akeys);
	if (t != NULL)
		ydoc_check_keys(l->d, l->doc, t, tkeys);
	if (s != NULL) {
		ydoc_get_str(&money, l->d, l->doc, s, "money", false);
		ydoc_get_int(&batch, l->d, l->doc, s, "batch", false, 1,
			     100000);
	}
	load_table(l, a, akeys, aout, adflt);
	load_table(l, t, tkeys, tout, tdflt);
	if (strcmp(money, "units") != 0 && strcmp(money, "cents") != 0)
		ydoc_problem(l->d, l->doc, ydoc_get(s, "money"),
			     "'money': '%s' is not units or cents", money);
	g->cents_per_unit = strcmp(money, "cents") == 0 ? 1 : 100;
	g->batch = (int)batch;
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
		"legacy",
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
	load_legacy(l, ydoc_get(s, "legacy"));
}
