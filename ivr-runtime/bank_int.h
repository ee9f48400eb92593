/*
 * bank_int.h: what bank.c shares with its two backends, bank_sqlite.c and
 * bank_pg.c.  Nothing outside the bank module includes it.
 *
 * bank.c holds the bank's logic and its SQL, written once for both
 * databases: parameters are $1, $2, ... (SQLite reads them as ?1, ?2),
 * values travel as text, integers are bound as integers.  A backend runs
 * one statement at a time on its connection and hands each row to a
 * callback as an array of strings (NULL for SQL NULL).
 */
#ifndef IVR_RUNTIME_BANK_INT_H
#define IVR_RUNTIME_BANK_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "bank.h"
#include "hash.h"

#define BANK_COLS_MAX 8 /* columns a query here returns, at most */

/* One bound parameter: .i when its type letter is 'i', else .t. */
struct db_arg {
	int64_t i;
	const char *t;
};

struct bank_backend {
	const char *name;
	const char *begin_sql; /* a write transaction that takes its locks */
	int (*connect)(struct bank *b, struct err *err);
	void (*disconnect)(struct bank *b);
	/*
	 * Runs sql (a string constant: its address keys the prepared
	 * statement) with args typed by types ('i' integer, 't' text).
	 * Returns 0; ERR_EXISTS for a unique violation; ERR_BUSY for a lock,
	 * serialization or deadlock conflict (retry the transaction);
	 * ERR_TIMEOUT past the statement's deadline; ERR_IO otherwise (the
	 * connection may be lost: see lost).
	 */
	int (*run)(struct bank *b, const char *sql, const char *types,
		   const struct db_arg *args, db_row_fn fn, void *ctx,
		   struct err *err);
	/* Runs a migration file's statements, inside the caller's
	 * transaction.  0 or ERR_PARSE "name: message". */
	int (*script)(struct bank *b, const char *name, const char *sql,
		      struct err *err);
	/* Creates schema_migrations if it is not there, or adds the
	 * columns an older one lacks (the migration role's right). */
	int (*migrations_table)(struct bank *b, struct err *err);
	/* Whether schema_migrations exists (any role). */
	int (*has_migrations_table)(struct bank *b, bool *found,
				    struct err *err);
	/* Each table of the bank's schema and its row count into out (a
	 * JSON object), in the connection's current snapshot. */
	int (*table_counts)(struct bank *b, json_t *out, struct err *err);
	bool (*in_transaction)(struct bank *b);
	/* Taken before the write transaction begins and given back when it
	 * ends, or NULL: writers of one process queue here instead of in
	 * the database's busy handler. */
	void (*writer)(struct bank *b, bool take);
	/* The connection broke; the next run reconnects. */
	bool (*lost)(struct bank *b);
};

extern const struct bank_backend bank_sqlite_backend;
extern const struct bank_backend bank_pg_backend;

struct bank {
	const struct bank_backend *be;
	enum bank_backend_kind kind;
	char *path; /* SQLite */
	int busy_ms;
	char *conninfo; /* PostgreSQL */
	int statement_timeout_ms;
	int connect_timeout_ms;
	int ping_ms; /* > 0: the next statement's whole deadline (a ping) */
	/* Between bank_begin and its commit or rollback: a backend must not
	 * reconnect then (the statement would run outside the transaction). */
	bool in_tx;
	bool writer_held; /* this connection holds the backend's writer queue */
	bool read_only;	  /* a source only read (bank_config) */
	bool dynamic;	  /* the statement running was built at run time:
			     prepared for this run only, never cached */
	void *conn;	  /* the backend's */
	/* A stored PIN hash that an unknown number is checked against, so
	 * that it costs what a wrong PIN costs (same iteration count). */
	char decoy[HASH_PASSWORD_MAX];
};

/*
 * Runs sql with arguments typed by types ('i' int64_t, 't' const char *),
 * rows to fn (may be NULL).  As bank_backend.run.
 */
int bank_q(struct bank *b, struct err *err, db_row_fn fn, void *ctx,
	   const char *sql, const char *types, ...);

/*
 * Runs a query that yields at most one integer: *out gets the first
 * column of the first row (0 when there is none) and *found (may be NULL)
 * says whether there was a row.
 */
int bank_q_int(int64_t *out, bool *found, struct bank *b, struct err *err,
	       const char *sql, const char *types, ...);

/* Copies a column's text into dst (size bytes); NULL reads as "". */
void bank_col(char *dst, size_t size, const char *v);

/* A column as an integer (NULL and garbage read as 0). */
int64_t bank_col_int(const char *v);

/* Prefixes err's message and yields rc, also when err is NULL (whose
 * err_prefix yields ERR_INTERNAL). */
#define BANK_FAIL(rc, err, ...) (err_prefix((err), __VA_ARGS__), (rc))

/* The SQL for this backend: q[0] SQLite, q[1] PostgreSQL. */
static inline const char *
bank_sql(const struct bank *b, const char *const q[2])
{
	return q[b->kind == BANK_POSTGRESQL];
}

#endif
