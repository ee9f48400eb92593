/*
 * bank: see bank.h.  Connections, the query helpers the other bank_*.c
 * files share (bank_int.h) and the ledger's figures (migrations:
 * bank_migrate.c).
 */
#include "bank.h"

#include <dirent.h>
#include <libpq-fe.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bank_int.h"
#include "buf.h"
#include "fileio.h"

#define BANK_PING_MS 800

const char *
bank_backend_name(enum bank_backend_kind kind)
{
	return kind == BANK_POSTGRESQL ? "postgresql" : "sqlite";
}

int
bank_connect(struct bank **out, const struct bank_config *cfg, struct err *err)
{
	struct bank *b = calloc(1, sizeof(*b));
	int rc;

	if (b == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	b->kind = cfg->backend;
	b->be = cfg->backend == BANK_POSTGRESQL ? &bank_pg_backend
						: &bank_sqlite_backend;
	b->busy_ms = cfg->busy_ms;
	b->statement_timeout_ms = cfg->statement_timeout_ms > 0
					  ? cfg->statement_timeout_ms
					  : 5000;
	b->connect_timeout_ms =
		cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms : 1000;
	b->read_only = cfg->read_only;
	if ((b->path = strdup(cfg->path ? cfg->path : "")) == NULL ||
	    (b->conninfo = strdup(cfg->conninfo ? cfg->conninfo : "")) ==
		    NULL) {
		bank_close(b);
		return err_set(err, ERR_NOMEM, "out of memory");
	}
	if ((rc = b->be->connect(b, err)) < 0) {
		bank_close(b);
		return rc;
	}
	*out = b;
	return 0;
}

int
bank_open(struct bank **out, const char *path, int busy_ms, struct err *err)
{
	const struct bank_config cfg = {
		.backend = BANK_SQLITE,
		.path = path,
		.busy_ms = busy_ms,
	};

	return bank_connect(out, &cfg, err);
}

void
bank_close(struct bank *b)
{
	if (b == NULL)
		return;
	if (b->conn != NULL)
		b->be->disconnect(b);
	free(b->path);
	free(b->conninfo);
	explicit_bzero(b->decoy, sizeof(b->decoy));
	free(b);
}

static int
run_args(struct bank *b, struct err *err, db_row_fn fn, void *ctx,
	 const char *sql, const char *types, va_list ap)
{
	struct db_arg args[BANK_COLS_MAX];
	size_t n = strlen(types);

	if (n > BANK_COLS_MAX)
		return err_set(err, ERR_INTERNAL, "too many parameters");
	for (size_t i = 0; i < n; i++) {
		if (types[i] == 'i')
			args[i].i = va_arg(ap, int64_t);
		else
			args[i].t = va_arg(ap, const char *);
	}
	return b->be->run(b, sql, types, args, fn, ctx, err);
}

int
bank_query(struct bank *b, db_row_fn fn, void *ctx, struct err *err,
	   const char *sql, const char *types, ...)
{
	va_list ap;
	int rc;

	va_start(ap, types);
	b->dynamic = true;
	rc = run_args(b, err, fn, ctx, sql, types, ap);
	b->dynamic = false;
	va_end(ap);
	return rc;
}

int
bank_exec(struct bank *b, const char *name, const char *sql, struct err *err)
{
	return b->be->script(b, name, sql, err);
}

int
bank_q(struct bank *b, struct err *err, db_row_fn fn, void *ctx,
       const char *sql, const char *types, ...)
{
	va_list ap;
	int rc;

	va_start(ap, types);
	rc = run_args(b, err, fn, ctx, sql, types, ap);
	va_end(ap);
	return rc;
}

int64_t
bank_col_int(const char *v)
{
	return v == NULL ? 0 : strtoll(v, NULL, 10);
}

void
bank_col(char *dst, size_t size, const char *v)
{
	snprintf(dst, size, "%s", v != NULL ? v : "");
}

struct one_int {
	int64_t v;
	bool found;
};

static int
first_int(void *ctx, int ncols, const char *const *v)
{
	struct one_int *o = ctx;

	if (!o->found && ncols > 0)
		o->v = bank_col_int(v[0]);
	o->found = true;
	return 0;
}

int
bank_q_int(int64_t *out, bool *found, struct bank *b, struct err *err,
	   const char *sql, const char *types, ...)
{
	struct one_int o = { 0, false };
	va_list ap;
	int rc;

	va_start(ap, types);
	rc = run_args(b, err, first_int, &o, sql, types, ap);
	va_end(ap);
	*out = o.v;
	if (found != NULL)
		*found = o.found;
	return rc;
}

/* The transaction is over: its place in the writer queue is given back. */
static void
end_tx(struct bank *b)
{
	if (b->writer_held)
		b->be->writer(b, false);
	b->writer_held = false;
	b->in_tx = false;
}

int
bank_begin(struct bank *b, struct err *err)
{
	int rc;

	if (b->be->writer != NULL) {
		b->be->writer(b, true);
		b->writer_held = true;
	}
	if ((rc = bank_q(b, err, NULL, NULL, b->be->begin_sql, "")) < 0)
		end_tx(b);
	b->in_tx = rc == 0;
	return rc;
}

void
bank_rollback(struct bank *b)
{
	if (b->conn != NULL && !b->be->lost(b) && b->be->in_transaction(b))
		bank_q(b, NULL, NULL, NULL, "ROLLBACK", "");
	end_tx(b);
}

int
bank_commit(struct bank *b, struct err *err)
{
	int rc = bank_q(b, err, NULL, NULL, "COMMIT", "");

	if (rc < 0)
		bank_rollback(b); /* what did not commit is undone */
	end_tx(b);
	return rc;
}

int
bank_ping(struct bank *b, struct err *err)
{
	int64_t n;
	int rc;

	/* a readiness check answers within 800 ms (or the connect timeout
	 * if shorter), also when the server went silent on an open
	 * connection: a balancer must see a server without its database
	 * turn unready within a second */
	b->ping_ms = b->connect_timeout_ms < BANK_PING_MS
			     ? b->connect_timeout_ms
			     : BANK_PING_MS;
	rc = bank_q_int(&n, NULL, b, err,
			"SELECT count(*) FROM schema_migrations", "");
	b->ping_ms = 0;
	return rc;
}

int
bank_ledger(struct bank_ledger *out, struct bank *b, struct err *err)
{
	int rc;

	if ((rc = bank_q_int(&out->total_cents, NULL, b, err,
			     "SELECT coalesce(sum(balance_cents), 0) FROM "
			     "accounts",
			     "")) < 0 ||
	    (rc = bank_q_int(&out->transfers, NULL, b, err,
			     "SELECT count(*) FROM transfers", "")) < 0 ||
	    (rc = bank_q_int(&out->unbalanced_accounts, NULL, b, err,
			     "SELECT count(*) FROM accounts a WHERE "
			     "a.balance_cents <> (SELECT coalesce(sum("
			     "amount_cents), 0) FROM transactions t WHERE "
			     "t.account_id = a.id)",
			     "")) < 0)
		return rc;
	return bank_q_int(&out->seeded_total_cents, NULL, b, err,
			  "SELECT coalesce((SELECT CAST(value AS BIGINT) FROM "
			  "bank_meta WHERE key = 'seeded_total_cents'), -1)",
			  "");
}

int
bank_transfer_count(int64_t *count, struct bank *b, const char *confirmation,
		    struct err *err)
{
	return bank_q_int(count, NULL, b, err,
			  "SELECT count(*) FROM transfers WHERE confirmation = "
			  "$1",
			  "t", confirmation);
}

int
bank_table_counts(json_t **out, struct bank *b, struct err *err)
{
	json_t *o = json_object();
	int rc;

	if (o == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	if ((rc = b->be->table_counts(b, o, err)) < 0) {
		json_decref(o);
		return BANK_FAIL(rc, err, "counting rows: ");
	}
	*out = o;
	return 0;
}

static int
text_col(void *ctx, int ncols, const char *const *v)
{
	char *out = ((char **)ctx)[0];
	size_t size = (size_t)((char **)ctx)[1];

	if (ncols > 0)
		bank_col(out, size, v[0]);
	return 0;
}

int
bank_snapshot_begin(char *snapshot, size_t size, struct bank *b,
		    struct err *err)
{
	void *ctx[2] = { snapshot, (void *)size };
	int rc;

	snapshot[0] = '\0';
	if (b->kind != BANK_POSTGRESQL)
		return err_set(err, ERR_INTERNAL, "not a PostgreSQL bank");
	if ((rc = bank_q(b, err, NULL, NULL,
			 "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
			 "")) < 0)
		return rc;
	b->in_tx = true;
	if ((rc = bank_q(b, err, text_col, ctx, "SELECT pg_export_snapshot()",
			 "")) < 0 ||
	    snapshot[0] == '\0') {
		bank_snapshot_end(b);
		return rc < 0 ? rc : err_set(err, ERR_IO, "no snapshot");
	}
	return 0;
}

void
bank_snapshot_end(struct bank *b)
{
	bank_rollback(b);
}

enum bank_conninfo_fault
bank_conninfo_check(const char *text, char *why, size_t size)
{
	enum bank_conninfo_fault fault = BANK_CONNINFO_OK;
	PQconninfoOption *opts;
	char *msg = NULL;

	if ((opts = PQconninfoParse(text, &msg)) == NULL) {
		snprintf(why, size, "%s", msg ? msg : "out of memory");
		why[strcspn(why, "\n")] = '\0';
		PQfreemem(msg);
		return BANK_CONNINFO_BAD;
	}
	for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
		if (o->val == NULL)
			continue;
		if (strcmp(o->keyword, "password") == 0)
			fault = BANK_CONNINFO_PASSWORD;
		else if (strcmp(o->keyword, "passfile") == 0 &&
			 fault == BANK_CONNINFO_OK)
			fault = BANK_CONNINFO_PASSFILE;
	}
	PQconninfoFree(opts);
	return fault;
}

void
bank_conninfo_add(struct buf *ci, const char *key, const char *value)
{
	buf_appendf(ci, NULL, "%s%s='", ci->len ? " " : "", key);
	for (const char *p = value; *p != '\0'; p++)
		buf_appendf(ci, NULL, "%s%c",
			    *p == '\'' || *p == '\\' ? "\\" : "", *p);
	buf_append(ci, "'", 1, NULL);
}
