/*
 * legacy: see legacy.h.  The staging schema, the copy in batches, the
 * transform and the swap; the checks are legacy_check.c's.
 */
#include "legacy.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "buf.h"
#include "hash.h"

#define SQL_MAX	  2048
#define ARRAY_MAX (64 * 1024 * 1024)

static const char *const staging_sql =
	"CREATE SCHEMA IF NOT EXISTS legacy_import;"
	"CREATE TABLE IF NOT EXISTS legacy_import.state ("
	" key text PRIMARY KEY, value text NOT NULL);"
	"CREATE TABLE IF NOT EXISTS legacy_import.src_accounts ("
	" account_id bigint PRIMARY KEY, account_number text,"
	" balance numeric, customer_id bigint);"
	"CREATE TABLE IF NOT EXISTS legacy_import.src_transactions ("
	" transaction_id bigint PRIMARY KEY, account_id bigint,"
	" amount numeric, date text, description text);"
	"CREATE TABLE IF NOT EXISTS legacy_import.customers ("
	" id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
	" legacy_id bigint NOT NULL UNIQUE, name text NOT NULL);"
	"CREATE TABLE IF NOT EXISTS legacy_import.accounts ("
	" id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
	" legacy_id bigint NOT NULL UNIQUE, customer_id bigint NOT NULL,"
	" number text NOT NULL, balance_cents bigint NOT NULL);"
	"CREATE TABLE IF NOT EXISTS legacy_import.transactions ("
	" id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
	" legacy_id bigint UNIQUE, account_id bigint NOT NULL,"
	" amount_cents bigint NOT NULL, balance_after_cents bigint NOT NULL,"
	" description text NOT NULL, created_at timestamptz NOT NULL)";

static const char *const empty_sql =
	"TRUNCATE legacy_import.state, legacy_import.src_accounts,"
	" legacy_import.src_transactions, legacy_import.customers,"
	" legacy_import.accounts, legacy_import.transactions RESTART IDENTITY";

int
legacy_open_source(struct bank **out, const char *source, struct err *err)
{
	struct bank_config bc = {
		.read_only = true,
		.statement_timeout_ms = 600000,
		.connect_timeout_ms = 5000,
	};
	struct stat st;
	char why[256];

	if (strchr(source, '=') != NULL) {
		switch (bank_conninfo_check(source, why, sizeof(why))) {
		case BANK_CONNINFO_BAD:
			return err_set(err, ERR_INVAL, "--from: %s", why);
		case BANK_CONNINFO_PASSWORD:
			return err_set(err, ERR_INVAL,
				       "--from: a password does not belong on "
				       "the command line: give passfile=");
		default:
			break;
		}
		bc.backend = BANK_POSTGRESQL;
		bc.conninfo = source;
	} else {
		if (stat(source, &st) < 0 || !S_ISREG(st.st_mode))
			return err_set(err, ERR_INVAL,
				       "--from: '%s' is neither a SQLite file "
				       "nor a conninfo (key=value ...)",
				       source);
		bc.backend = BANK_SQLITE;
		bc.path = source;
	}
	return bank_connect(out, &bc, err);
}

static int
text_row(void *ctx, int ncols, const char *const *v)
{
	char *out = ((char **)ctx)[0];
	size_t size = (size_t)((char **)ctx)[1];

	snprintf(out, size, "%s", ncols > 0 && v[0] != NULL ? v[0] : "");
	return 0;
}

/* The staging state's value for key into out ("" when unset). */
static int
state_get(char *out, size_t size, struct bank *t, const char *key,
	  struct err *err)
{
	void *ctx[2] = { out, (void *)size };

	out[0] = '\0';
	return bank_query(
		t, text_row, ctx, err,
		"SELECT value FROM legacy_import.state WHERE key = $1", "t",
		key);
}

static int
state_set(struct bank *t, const char *key, const char *value, struct err *err)
{
	return bank_query(t, NULL, NULL, err,
			  "INSERT INTO legacy_import.state (key, value) "
			  "VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET "
			  "value = EXCLUDED.value",
			  "tt", key, value);
}

int
legacy_prepare(char *done_by, size_t size, struct bank *target,
	       const char *source, bool restart, struct err *err)
{
	char had[4096];
	int rc;

	done_by[0] = '\0';
	if ((rc = bank_exec(target, "legacy_import", staging_sql, err)) < 0 ||
	    (restart &&
	     (rc = bank_exec(target, "legacy_import", empty_sql, err)) < 0) ||
	    (rc = state_get(had, sizeof(had), target, "source", err)) < 0)
		return rc;
	if (had[0] != '\0' && strcmp(had, source) != 0)
		return err_set(err, ERR_BADSTATE,
			       "the staging schema legacy_import holds an "
			       "import from '%s': finish that one, or start "
			       "over with --restart",
			       had);
	if (had[0] == '\0' &&
	    (rc = state_set(target, "source", source, err)) < 0)
		return rc;
	return state_get(done_by, size, target, "swapped_by", err);
}

/* One table's copy: the source's columns, the copy's, the state's key. */
struct copy {
	const char *what;  /* "accounts" */
	const char *table; /* the source's, quoted by the caller */
	const char *cols[6];
	size_t ncols;
	const char *insert; /* unnest($1::bigint[], ...) into the copy */
	char select[SQL_MAX];
	struct buf col[6]; /* the batch, as PostgreSQL array literals */
	size_t rows;
	char last[32];
};

/* Appends v to an array literal: "..." with \ and " escaped, or NULL. */
static int
array_add(struct buf *a, const char *v, struct err *err)
{
	int rc = buf_append_str(a, a->len > 1 ? "," : "", err);

	if (rc == 0 && v == NULL)
		return buf_append_str(a, "NULL", err);
	rc = rc < 0 ? rc : buf_append_str(a, "\"", err);
	while (rc == 0 && *v != '\0') {
		size_t n = strcspn(v, "\"\\");

		rc = buf_append(a, v, n, err);
		v += n;
		if (rc == 0 && *v != '\0') /* " or \, escaped */
			rc = buf_appendf(a, err, "\\%c", *v++);
	}
	return rc < 0 ? rc : buf_append_str(a, "\"", err);
}

static int
copy_row(void *ctx, int ncols, const char *const *v)
{
	struct copy *c = ctx;
	int rc = 0;

	if ((size_t)ncols < c->ncols)
		return ERR_INTERNAL;
	for (size_t i = 0; rc == 0 && i < c->ncols; i++)
		rc = array_add(&c->col[i], v[i], NULL);
	snprintf(c->last, sizeof(c->last), "%s", v[0] ? v[0] : "");
	c->rows++;
	return rc;
}

/* Reads one batch after c->last from the source, writes it and how far
 * the copy got in one transaction. */
static int
copy_batch(struct copy *c, struct bank *t, struct bank *s, struct err *err)
{
	int64_t after = strtoll(c->last, NULL, 10);
	int rc;

	c->rows = 0;
	for (size_t i = 0; i < c->ncols; i++) {
		buf_reset(&c->col[i]);
		buf_append_str(&c->col[i], "{", NULL);
	}
	if (bank_query(s, copy_row, c, err, c->select, "i", after) < 0)
		return err_prefix(err, "reading the source's %s: ", c->what);
	if (c->rows == 0)
		return 0;
	for (size_t i = 0; i < c->ncols; i++)
		if ((rc = buf_append_str(&c->col[i], "}", err)) < 0)
			return rc;
	if ((rc = bank_begin(t, err)) < 0)
		return rc;
	rc = c->ncols == 4
		     ? bank_query(t, NULL, NULL, err, c->insert, "tttt",
				  buf_cstr(&c->col[0]), buf_cstr(&c->col[1]),
				  buf_cstr(&c->col[2]), buf_cstr(&c->col[3]))
		     : bank_query(t, NULL, NULL, err, c->insert, "ttttt",
				  buf_cstr(&c->col[0]), buf_cstr(&c->col[1]),
				  buf_cstr(&c->col[2]), buf_cstr(&c->col[3]),
				  buf_cstr(&c->col[4]));
	if (rc == 0)
		rc = state_set(t, c->what, c->last, err);
	if (rc < 0) {
		bank_rollback(t);
		return err_prefix(err, "copying %s after id %" PRId64 ": ",
				  c->what, after);
	}
	return bank_commit(t, err);
}

static int
count_row(void *ctx, int ncols, const char *const *v)
{
	*(int64_t *)ctx = ncols > 0 && v[0] ? strtoll(v[0], NULL, 10) : 0;
	return 0;
}

static void sayf(const struct legacy_say *say, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
sayf(const struct legacy_say *say, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (say != NULL && say->say != NULL)
		say->say(say->ctx, line);
}

/* Copies one table, batch by batch, from where the state says. */
static int
copy_table(struct copy *c, struct bank *t, struct bank *s, int batch,
	   const struct legacy_say *say, struct err *err)
{
	char sql[SQL_MAX];
	int64_t total = 0, done = 0, step;
	int rc = 0;

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM \"%s\"", c->table);
	if ((rc = bank_query(s, count_row, &total, err, sql, "")) < 0 ||
	    (rc = state_get(c->last, sizeof(c->last), t, c->what, err)) < 0)
		return rc;
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM legacy_import.src_%s",
		 c->what);
	if ((rc = bank_query(t, count_row, &done, err, sql, "")) < 0)
		return rc;
	step = total / 4 > batch ? total / 4 : batch;
	sayf(say,
	     "legacy: %s: %" PRId64 " in the source, %" PRId64 " copied before",
	     c->what, total, done);
	for (int64_t next = done + step; rc == 0;) {
		if ((rc = copy_batch(c, t, s, err)) < 0 || c->rows == 0)
			break;
		done += (int64_t)c->rows;
		if (done >= next) {
			sayf(say,
			     "legacy: %s: %" PRId64 " of %" PRId64 " copied",
			     c->what, done, total);
			next += step;
		}
	}
	return rc;
}

/* The source's SELECT of one batch: the mapped columns, by id. */
static void
copy_select(struct copy *c, int batch)
{
	int n = snprintf(c->select, sizeof(c->select), "SELECT ");

	for (size_t i = 0; i < c->ncols; i++)
		n += snprintf(c->select + n, sizeof(c->select) - (size_t)n,
			      "%s\"%s\"", i ? ", " : "", c->cols[i]);
	snprintf(c->select + n, sizeof(c->select) - (size_t)n,
		 " FROM \"%s\" WHERE \"%s\" > $1 ORDER BY \"%s\" LIMIT %d",
		 c->table, c->cols[0], c->cols[0], batch);
}

static int
copy_both(const struct plan *p, struct bank *t, struct bank *s,
	  const struct legacy_say *say, struct err *err)
{
	const struct plan_legacy *g = &p->db.legacy;
	struct copy c[2] = {
		{ .what = "accounts",
		  .table = g->accounts,
		  .cols = { g->account_id, g->number, g->balance, g->customer },
		  .ncols = 4,
		  .insert = "INSERT INTO legacy_import.src_accounts SELECT * "
			    "FROM unnest($1::bigint[], $2::text[], "
			    "$3::numeric[], $4::bigint[]) ON CONFLICT DO "
			    "NOTHING" },
		{ .what = "transactions",
		  .table = g->transactions,
		  .cols = { g->transaction_id, g->account, g->amount, g->date,
			    g->description },
		  .ncols = 5,
		  .insert = "INSERT INTO legacy_import.src_transactions "
			    "SELECT * FROM unnest($1::bigint[], $2::bigint[], "
			    "$3::numeric[], $4::text[], $5::text[]) ON "
			    "CONFLICT DO NOTHING" },
	};
	int rc = 0;

	for (size_t k = 0; k < 2 && rc == 0; k++) {
		for (size_t i = 0; i < c[k].ncols; i++)
			buf_init(&c[k].col[i], ARRAY_MAX);
		copy_select(&c[k], g->batch);
		rc = copy_table(&c[k], t, s, g->batch, say, err);
		for (size_t i = 0; i < c[k].ncols; i++)
			buf_release(&c[k].col[i]);
	}
	return rc;
}

/* Step 2, in one transaction: the staged rows from the copies. */
static int
transform(const struct plan *p, struct bank *t, struct err *err)
{
	char *sql = malloc(8192);
	int f = p->db.legacy.cents_per_unit, rc;

	if (sql == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	snprintf(
		sql, 8192,
		"TRUNCATE legacy_import.customers, legacy_import.accounts,"
		" legacy_import.transactions RESTART IDENTITY;"
		"INSERT INTO legacy_import.customers (legacy_id, name)"
		" SELECT DISTINCT customer_id, 'Customer ' || customer_id"
		" FROM legacy_import.src_accounts WHERE customer_id IS NOT NULL"
		" ORDER BY 1;"
		"INSERT INTO legacy_import.accounts (legacy_id, customer_id,"
		" number, balance_cents) SELECT a.account_id, c.id,"
		" a.account_number, round(a.balance * %d)::bigint"
		" FROM legacy_import.src_accounts a JOIN "
		"legacy_import.customers"
		" c ON c.legacy_id = a.customer_id WHERE a.account_number IS "
		"NOT"
		" NULL AND a.balance IS NOT NULL ORDER BY a.account_id;"
		"INSERT INTO legacy_import.transactions (legacy_id, account_id,"
		" amount_cents, balance_after_cents, description, created_at)"
		" SELECT t.transaction_id, a.id, round(t.amount * %d)::bigint,"
		" 0, coalesce(t.description, ''), t.date::timestamptz FROM"
		" legacy_import.src_transactions t JOIN legacy_import.accounts "
		"a"
		" ON a.legacy_id = t.account_id WHERE t.amount IS NOT NULL AND"
		" t.date IS NOT NULL ORDER BY t.transaction_id;"
		/* where the history does not add up to the balance */
		"INSERT INTO legacy_import.transactions (legacy_id, account_id,"
		" amount_cents, balance_after_cents, description, created_at)"
		" SELECT NULL, a.id, a.balance_cents - coalesce(s.total, 0), 0,"
		" 'Opening balance', coalesce(s.first, now()) - interval '1 s'"
		" FROM legacy_import.accounts a LEFT JOIN (SELECT account_id,"
		" sum(amount_cents) AS total, min(created_at) AS first FROM"
		" legacy_import.transactions GROUP BY account_id) s ON"
		" s.account_id = a.id WHERE a.balance_cents <> "
		"coalesce(s.total,"
		" 0);"
		"UPDATE legacy_import.transactions t SET balance_after_cents ="
		" r.running FROM (SELECT id, sum(amount_cents) OVER (PARTITION"
		" BY account_id ORDER BY created_at, legacy_id NULLS FIRST, id)"
		" AS running FROM legacy_import.transactions) r WHERE r.id ="
		" t.id",
		f, f);
	if ((rc = bank_begin(t, err)) == 0 &&
	    (rc = bank_exec(t, "transform", sql, err)) == 0)
		rc = bank_commit(t, err);
	else
		bank_rollback(t);
	free(sql);
	return rc;
}

int
legacy_stage(json_t **report, const struct plan *p, struct bank *target,
	     struct bank *source, const struct legacy_say *say, struct err *err)
{
	int rc;

	*report = NULL;
	if ((rc = copy_both(p, target, source, say, err)) < 0)
		return rc;
	sayf(say, "legacy: transforming into the staging tables");
	if (transform(p, target, err) < 0)
		return err_prefix(err, "the transform: ");
	sayf(say, "legacy: checking");
	return legacy_checks(report, p, target, source, err);
}

int
legacy_live_accounts(int64_t *n, struct bank *target, struct err *err)
{
	*n = 0;
	return bank_query(target, count_row, n, err,
			  "SELECT count(*) FROM accounts", "");
}

static const char *const swap_sql =
	"TRUNCATE transactions, transfers, lockouts, accounts, customers "
	"RESTART IDENTITY;"
	"INSERT INTO customers (id, name, pin_hash) OVERRIDING SYSTEM VALUE "
	"SELECT id, name, (SELECT value FROM legacy_import.state WHERE key = "
	"'pin_hash') FROM legacy_import.customers ORDER BY id;"
	"INSERT INTO accounts (id, customer_id, number, kind, balance_cents) "
	"OVERRIDING SYSTEM VALUE SELECT id, customer_id, number, 'current', "
	"balance_cents FROM legacy_import.accounts ORDER BY id;"
	"INSERT INTO transactions (id, account_id, amount_cents, "
	"balance_after_cents, description, created_at) OVERRIDING SYSTEM "
	"VALUE SELECT id, account_id, amount_cents, balance_after_cents, "
	"description, created_at FROM legacy_import.transactions ORDER BY id;"
	"SELECT setval(pg_get_serial_sequence('customers', 'id'), "
	"greatest((SELECT max(id) FROM customers), 1));"
	"SELECT setval(pg_get_serial_sequence('accounts', 'id'), "
	"greatest((SELECT max(id) FROM accounts), 1));"
	"SELECT setval(pg_get_serial_sequence('transactions', 'id'), "
	"greatest((SELECT max(id) FROM transactions), 1));"
	"INSERT INTO bank_meta (key, value) VALUES ('seeded_total_cents', "
	"(SELECT coalesce(sum(balance_cents), 0)::text FROM accounts)) ON "
	"CONFLICT (key) DO UPDATE SET value = EXCLUDED.value";

int
legacy_swap(struct bank *target, const char *run_id, struct err *err)
{
	char hash[HASH_PASSWORD_MAX];
	unsigned char secret[32];
	char hex[65];
	int rc;

	/* a PIN no one knows: imported customers get theirs anew */
	if ((rc = hash_random(secret, sizeof(secret), err)) < 0)
		return rc;
	hash_hex(hex, secret, sizeof(secret));
	explicit_bzero(secret, sizeof(secret));
	rc = hash_password(hash, hex, 100000, err);
	explicit_bzero(hex, sizeof(hex));
	if (rc < 0)
		return rc;
	if ((rc = bank_begin(target, err)) < 0)
		return rc;
	if (state_set(target, "pin_hash", hash, err) < 0 ||
	    bank_exec(target, "swap", swap_sql, err) < 0 ||
	    state_set(target, "swapped_by", run_id, err) < 0) {
		bank_rollback(target);
		return err_prefix(err, "the swap (nothing changed): ");
	}
	return bank_commit(target, err);
}
