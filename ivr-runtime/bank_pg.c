/*
 * bank_pg: the bank's PostgreSQL backend (see bank_int.h), over libpq.
 *
 * Every wait has a deadline: connecting gets connect_timeout_ms, a
 * statement statement_timeout_ms on the server (it cancels) and one second
 * more here (the connection is dropped, for a server that went silent).
 * A connection found broken is closed; the next statement connects again,
 * so the runtime comes back by itself when the server does.
 */
#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bank_int.h"

#define PG_STMT_CACHE	  48
#define DEADLINE_SLACK_MS 1000

static bool pg_lost(struct bank *b);

struct pg {
	PGconn *c;
	bool broken;
	bool answered; /* this statement's rows (or success) came back */
	struct {
		const char *sql;
		char name[8];
	} cache[PG_STMT_CACHE];
	size_t ncache;
};

static struct pg *
pg(struct bank *b)
{
	return b->conn;
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until the socket is ready for events, or the deadline. */
static int
wait_socket(PGconn *c, short events, int64_t deadline, struct err *err)
{
	struct pollfd p = { .fd = PQsocket(c), .events = events };
	int64_t left;
	int rc;

	for (;;) {
		if ((left = deadline - now_ms()) <= 0)
			return err_set(err, ERR_TIMEOUT,
				       "the database did not answer in time");
		rc = poll(&p, 1, (int)left);
		if (rc > 0)
			return 0;
		if (rc < 0 && errno != EINTR)
			return err_set_errno(err, ERR_IO, errno, "poll");
	}
}

static void
drop(struct bank *b)
{
	struct pg *p = pg(b);

	if (p->c != NULL)
		PQfinish(p->c);
	p->c = NULL;
	p->broken = false;
	p->ncache = 0;
}

/* A libpq message without its trailing newline. */
static const char *
message(const char *m, char *buf, size_t size)
{
	size_t n;

	snprintf(buf, size, "%s", m != NULL && m[0] != '\0' ? m : "no answer");
	for (char *p = buf; *p != '\0'; p++)
		if (*p == '\n' || *p == '\t')
			*p = ' ';
	n = strlen(buf);
	while (n > 0 && buf[n - 1] == ' ')
		buf[--n] = '\0';
	return buf;
}

/* The conninfo's own server options, and the statement timeout after
 * them (a later -c wins on the server). */
static void
server_options(char *out, size_t size, const struct bank *b)
{
	PQconninfoOption *opts = PQconninfoParse(b->conninfo, NULL);
	const char *mine = "";

	for (PQconninfoOption *o = opts; o != NULL && o->keyword != NULL; o++)
		if (strcmp(o->keyword, "options") == 0 && o->val != NULL)
			mine = o->val;
	snprintf(out, size, "%s%s-c statement_timeout=%d%s", mine,
		 mine[0] != '\0' ? " " : "", b->statement_timeout_ms,
		 b->read_only ? " -c default_transaction_read_only=on" : "");
	PQconninfoFree(opts);
}

static void
quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

static int
open_conn(struct bank *b, struct err *err)
{
	struct pg *p = pg(b);
	char options[1024], msg[256];
	const char *keys[] = { "dbname", "options", "fallback_application_name",
			       "client_encoding", NULL };
	const char *vals[] = { b->conninfo, options, "ivr-runtime", "UTF8",
			       NULL };
	int64_t deadline = now_ms() + (b->ping_ms > 0 ? b->ping_ms
						      : b->connect_timeout_ms);
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;

	server_options(options, sizeof(options), b);
	drop(b);
	if ((p->c = PQconnectStartParams(keys, vals, 1)) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	while (st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED &&
	       PQstatus(p->c) != CONNECTION_BAD) {
		int rc = wait_socket(
			p->c, st == PGRES_POLLING_READING ? POLLIN : POLLOUT,
			deadline, err);
		if (rc < 0) {
			drop(b);
			return BANK_FAIL(rc, err,
					 "cannot connect to the database: ");
		}
		st = PQconnectPoll(p->c);
	}
	if (st != PGRES_POLLING_OK) {
		err_set(err, ERR_IO, "cannot connect to the database: %s",
			message(PQerrorMessage(p->c), msg, sizeof(msg)));
		drop(b);
		return ERR_IO;
	}
	/* NOTICEs ("relation ... already exists, skipping") are not the
	 * operator's business: libpq would print them on stderr */
	PQsetNoticeProcessor(p->c, quiet, NULL);
	if (PQsetnonblocking(p->c, 1) != 0) {
		drop(b);
		return err_set(err, ERR_IO, "cannot connect to the database");
	}
	return 0;
}

/* Sends what libpq has buffered, by the deadline. */
static int
flush_out(PGconn *c, int64_t deadline, struct err *err)
{
	int rc, f;

	while ((f = PQflush(c)) == 1)
		if ((rc = wait_socket(c, POLLOUT | POLLIN, deadline, err)) <
			    0 ||
		    (PQconsumeInput(c) == 0))
			return rc < 0 ? rc : ERR_IO;
	return f < 0 ? ERR_IO : 0;
}

/* Reads until the next result is whole (PQgetResult will not block). */
static int
wait_result(PGconn *c, int64_t deadline, struct err *err)
{
	int rc;

	while (PQisBusy(c)) {
		if ((rc = wait_socket(c, POLLIN, deadline, err)) < 0)
			return rc;
		if (PQconsumeInput(c) == 0)
			return ERR_IO;
	}
	return 0;
}

/* The error a failed result (or connection) stands for. */
static int
result_error(struct bank *b, PGresult *r, struct err *err)
{
	struct pg *p = pg(b);
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	char msg[256];
	int code = ERR_IO;

	if (PQstatus(p->c) == CONNECTION_BAD || state == NULL ||
	    strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0)
		p->broken = true;
	if (state != NULL && strcmp(state, "23505") == 0)
		code = ERR_EXISTS;
	else if (state != NULL &&
		 (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 ||
		  strcmp(state, "55P03") == 0))
		code = ERR_BUSY;
	else if (state != NULL && strcmp(state, "57014") == 0)
		code = ERR_TIMEOUT;
	return err_set(
		err, code, "%s",
		message(r ? PQresultErrorMessage(r) : PQerrorMessage(p->c), msg,
			sizeof(msg)));
}

/* Hands a result's rows to fn; 0 or fn's error. */
static int
rows(PGresult *r, db_row_fn fn, void *ctx, struct err *err)
{
	const char *v[BANK_COLS_MAX];
	int n = PQnfields(r), rc;

	n = n > BANK_COLS_MAX ? BANK_COLS_MAX : n;
	for (int row = 0; fn != NULL && row < PQntuples(r); row++) {
		for (int i = 0; i < n; i++)
			v[i] = PQgetisnull(r, row, i) ? NULL
						      : PQgetvalue(r, row, i);
		if ((rc = fn(ctx, n, v)) < 0)
			return err_set(err, rc, "a row did not fit");
	}
	return 0;
}

/* A link that failed or ran out of time: the connection is dropped. */
static int
link_failed(struct bank *b, int rc, struct err *err)
{
	if (rc == ERR_TIMEOUT) {
		drop(b); /* a query still running: the connection is lost */
		return BANK_FAIL(rc, err, "database: ");
	}
	result_error(b, NULL, err);
	drop(b);
	return ERR_IO;
}

/*
 * Sends what is buffered, then reads every result of the query, each
 * waited for by the deadline: rows to fn.  Returns 0 or the first error
 * (later results are still read, so that the connection is ready for the
 * next query); a connection that fails is dropped.
 */
static int
finish(struct bank *b, int64_t deadline, db_row_fn fn, void *ctx,
       struct err *err)
{
	PGconn *c = pg(b)->c;
	PGresult *r;
	int rc, first = 0;

	if ((rc = flush_out(c, deadline, err)) < 0)
		return link_failed(b, rc, err);
	for (;;) {
		if ((rc = wait_result(c, deadline, err)) < 0)
			return link_failed(b, rc, err);
		if ((r = PQgetResult(c)) == NULL)
			break;
		if (first == 0 && PQresultStatus(r) != PGRES_COMMAND_OK &&
		    PQresultStatus(r) != PGRES_TUPLES_OK) {
			first = result_error(b, r, err);
		} else if (first == 0) {
			pg(b)->answered = true; /* rows may have gone to fn */
			first = rows(r, fn, ctx, err);
		}
		PQclear(r);
	}
	if (pg(b)->broken)
		drop(b);
	return first;
}

static int
ready(struct bank *b, struct err *err)
{
	struct pg *p = pg(b);

	if (p->c != NULL && PQstatus(p->c) == CONNECTION_BAD)
		drop(b);
	if (p->c != NULL)
		return 0;
	/* A new connection would run the statement outside the caller's
	 * transaction, which the server has rolled back with the old one. */
	if (b->in_tx)
		return err_set(err, ERR_IO,
			       "the database connection was lost inside a "
			       "transaction");
	return open_conn(b, err);
}

/* The name of sql's prepared statement on this connection; prepares it. */
static int
prepared(const char **name, struct bank *b, const char *sql, int nparams,
	 int64_t deadline, struct err *err)
{
	struct pg *p = pg(b);
	int rc;

	for (size_t i = 0; !b->dynamic && i < p->ncache; i++) {
		if (p->cache[i].sql == sql) {
			*name = p->cache[i].name;
			return 0;
		}
	}
	if (p->ncache == PG_STMT_CACHE || b->dynamic) {
		*name = ""; /* the unnamed statement, prepared each time */
	} else {
		snprintf(p->cache[p->ncache].name,
			 sizeof(p->cache[p->ncache].name), "s%zu", p->ncache);
		*name = p->cache[p->ncache].name;
	}
	if (!PQsendPrepare(p->c, *name, sql, nparams, NULL)) {
		result_error(b, NULL, err);
		drop(b);
		return ERR_IO;
	}
	if ((rc = finish(b, deadline, NULL, NULL, err)) < 0)
		return rc;
	if (*name[0] != '\0') {
		p->cache[p->ncache].sql = sql;
		p->ncache++;
	}
	return 0;
}

/* One try of a statement on the connection (made now if there is none). */
static int
run_once(struct bank *b, const char *sql, int n, const char *const *values,
	 int64_t deadline, db_row_fn fn, void *ctx, struct err *err)
{
	const char *name;
	int rc;

	pg(b)->answered = false;
	if ((rc = ready(b, err)) < 0 ||
	    (rc = prepared(&name, b, sql, n, deadline, err)) < 0)
		return rc;
	if (!PQsendQueryPrepared(pg(b)->c, name, n, values, NULL, NULL, 0)) {
		result_error(b, NULL, err);
		drop(b);
		return ERR_IO;
	}
	return finish(b, deadline, fn, ctx, err);
}

static int
pg_run(struct bank *b, const char *sql, const char *types,
       const struct db_arg *args, db_row_fn fn, void *ctx, struct err *err)
{
	char ints[BANK_COLS_MAX][24];
	const char *values[BANK_COLS_MAX];
	int n = (int)strlen(types), rc;
	int64_t deadline =
		now_ms() +
		(b->ping_ms > 0 ? b->ping_ms
				: b->statement_timeout_ms + DEADLINE_SLACK_MS);
	bool had = pg(b)->c != NULL;

	if (n > BANK_COLS_MAX)
		return err_set(err, ERR_INTERNAL, "too many parameters");
	for (int i = 0; i < n; i++) {
		if (types[i] == 'i') {
			snprintf(ints[i], sizeof(ints[i]), "%lld",
				 (long long)args[i].i);
			values[i] = ints[i];
		} else {
			values[i] = args[i].t;
		}
	}
	rc = run_once(b, sql, n, values, deadline, fn, ctx, err);
	/*
	 * A pooled connection the server closed while it sat idle (a restart)
	 * fails the first statement sent on it.  Outside a transaction every
	 * statement here is a read, BEGIN, or idempotent, so one more try on
	 * a new connection is safe, as long as no answer (no row) came back.
	 */
	if (rc == ERR_IO && had && pg_lost(b) && !b->in_tx && !pg(b)->answered)
		rc = run_once(b, sql, n, values, deadline, fn, ctx, err);
	return rc;
}

static int
pg_script(struct bank *b, const char *name, const char *sql, struct err *err)
{
	int64_t deadline =
		now_ms() + b->statement_timeout_ms + DEADLINE_SLACK_MS;
	int rc;

	if ((rc = ready(b, err)) < 0)
		return rc;
	if (!PQsendQuery(pg(b)->c, sql)) {
		result_error(b, NULL, err);
		drop(b);
		return BANK_FAIL(ERR_IO, err, "%s: ", name);
	}
	if ((rc = finish(b, deadline, NULL, NULL, err)) < 0) {
		if (rc == ERR_IO && !pg_lost(b))
			rc = ERR_PARSE; /* the SQL failed, not the link */
		if (err != NULL) {
			char msg[ERR_MSG_MAX];

			snprintf(msg, sizeof(msg), "%s", err->msg);
			err_set(err, rc, "%s: %s", name, msg);
		}
		return rc;
	}
	return 0;
}

static int
is_true(void *ctx, int ncols, const char *const *v)
{
	*(bool *)ctx = ncols > 0 && v[0] != NULL && strcmp(v[0], "t") == 0;
	return 0;
}

static int
pg_has_migrations_table(struct bank *b, bool *found, struct err *err)
{
	static const char *const exists =
		"SELECT to_regclass('schema_migrations') IS NOT NULL";

	*found = false;
	return pg_run(b, exists, "", NULL, is_true, found, err);
}

/*
 * Creates schema_migrations, or adds the columns an older one lacks.
 * CREATE ... IF NOT EXISTS needs the right to create even when the table
 * is there: it only runs when the table or a column is missing.
 */
static int
pg_migrations_table(struct bank *b, struct err *err)
{
	static const char *const create =
		"CREATE TABLE IF NOT EXISTS schema_migrations ("
		"version integer PRIMARY KEY, name text NOT NULL, "
		"kind text, checksum text, deployment_id text, "
		"applied_at timestamptz NOT NULL DEFAULT now())";
	static const char *const complete =
		"SELECT count(*) = 3 FROM information_schema.columns WHERE "
		"table_schema = current_schema() AND table_name = "
		"'schema_migrations' AND column_name IN ('kind', 'checksum', "
		"'deployment_id')";
	static const char *const add =
		"ALTER TABLE schema_migrations "
		"ADD COLUMN IF NOT EXISTS kind text, "
		"ADD COLUMN IF NOT EXISTS checksum text, "
		"ADD COLUMN IF NOT EXISTS deployment_id text";
	/* The bank's default privileges give the runtime's role writes on
	 * every table: not on this one, which only migrators write. */
	static const char *const read_only =
		"DO $$ DECLARE r record; BEGIN FOR r IN SELECT DISTINCT "
		"grantee FROM information_schema.role_table_grants WHERE "
		"table_schema = current_schema() AND table_name = "
		"'schema_migrations' AND grantee <> current_user AND "
		"privilege_type IN ('INSERT', 'UPDATE', 'DELETE', 'TRUNCATE') "
		"LOOP EXECUTE 'REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON "
		"schema_migrations FROM ' || CASE WHEN r.grantee = 'PUBLIC' "
		"THEN 'PUBLIC' ELSE quote_ident(r.grantee) END; END LOOP; END "
		"$$";
	bool found = false;
	int rc;

	if ((rc = pg_has_migrations_table(b, &found, err)) < 0)
		return rc;
	if (!found)
		rc = pg_run(b, create, "", NULL, NULL, NULL, err);
	else if ((rc = pg_run(b, complete, "", NULL, is_true, &found, err)) ==
			 0 &&
		 !found)
		rc = pg_run(b, add, "", NULL, NULL, NULL, err);
	return rc < 0 ? rc : pg_run(b, read_only, "", NULL, NULL, NULL, err);
}

struct counts {
	json_t *out;
};

static int
count_row(void *ctx, int ncols, const char *const *v)
{
	struct counts *c = ctx;

	if (ncols < 2 || v[0] == NULL)
		return ERR_INTERNAL;
	json_object_set_new(c->out, v[0], json_integer(bank_col_int(v[1])));
	return 0;
}

/* One statement counts every table of the schema (query_to_xml runs each
 * count in the statement's snapshot). */
static int
pg_table_counts(struct bank *b, json_t *out, struct err *err)
{
	static const char *const sql =
		"SELECT table_name::text, (xpath('/row/c/text()', "
		"query_to_xml(format('SELECT count(*) AS c FROM %I.%I', "
		"table_schema, table_name), false, true, '')))[1]::text "
		"FROM information_schema.tables WHERE table_schema = "
		"current_schema() AND table_type = 'BASE TABLE' ORDER BY 1";
	struct counts c = { out };

	return pg_run(b, sql, "", NULL, count_row, &c, err);
}

static bool
pg_in_transaction(struct bank *b)
{
	struct pg *p = pg(b);

	return p->c != NULL && PQtransactionStatus(p->c) != PQTRANS_IDLE;
}

static bool
pg_lost(struct bank *b)
{
	return pg(b)->c == NULL;
}

static void
pg_disconnect(struct bank *b)
{
	if (pg(b) == NULL)
		return;
	drop(b);
	free(b->conn);
	b->conn = NULL;
}

static int
pg_connect(struct bank *b, struct err *err)
{
	int rc;

	if ((b->conn = calloc(1, sizeof(struct pg))) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	if ((rc = open_conn(b, err)) < 0)
		pg_disconnect(b);
	return rc;
}

const struct bank_backend bank_pg_backend = {
	.name = "postgresql",
	.begin_sql = "BEGIN",
	.connect = pg_connect,
	.disconnect = pg_disconnect,
	.run = pg_run,
	.script = pg_script,
	.migrations_table = pg_migrations_table,
	.has_migrations_table = pg_has_migrations_table,
	.table_counts = pg_table_counts,
	.in_transaction = pg_in_transaction,
	.lost = pg_lost,
};
