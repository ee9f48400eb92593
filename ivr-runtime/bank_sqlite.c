/*
 * bank_sqlite: the bank's SQLite backend (see bank_int.h).
 */
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bank_int.h"

/* Prepared statements kept for the connection's life, keyed by the
 * address of their SQL text (every query here is a string constant). */
#ifndef BANK_STMT_CACHE
#define BANK_STMT_CACHE 48 /* tests build with a smaller one */
#endif

#define SQL_MAX 4096

struct lite {
	sqlite3 *db;
	struct {
		const char *sql;
		sqlite3_stmt *st;
	} cache[BANK_STMT_CACHE];
	size_t ncache;
};

static struct lite *
lite(struct bank *b)
{
	return b->conn;
}

static int
db_error(struct err *err, struct bank *b, int rc, const char *what)
{
	int code = ERR_IO;

	if (rc == SQLITE_CONSTRAINT_UNIQUE ||
	    rc == SQLITE_CONSTRAINT_PRIMARYKEY)
		code = ERR_EXISTS;
	else if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
		code = ERR_BUSY;
	return err_set(err, code, "%s: %s", what, sqlite3_errmsg(lite(b)->db));
}

/* sql with $N parameters written ?N, which SQLite binds by number. */
static int
translate(char *out, size_t size, const char *sql)
{
	size_t n = strlen(sql);

	if (n >= size)
		return -1;
	for (size_t i = 0; i <= n; i++)
		out[i] = sql[i] == '$' ? '?' : sql[i];
	return 0;
}

static int
prepare(sqlite3_stmt **st, struct bank *b, const char *sql, struct err *err)
{
	struct lite *l = lite(b);
	char text[SQL_MAX];
	int rc;

	for (size_t i = 0; !b->dynamic && i < l->ncache; i++) {
		if (l->cache[i].sql == sql) {
			*st = l->cache[i].st;
			return 0;
		}
	}
	if (translate(text, sizeof(text), sql) < 0)
		return err_set(err, ERR_INTERNAL, "query too long");
	if ((rc = sqlite3_prepare_v3(l->db, text, -1,
				     b->dynamic ? 0 : SQLITE_PREPARE_PERSISTENT,
				     st, NULL)) != SQLITE_OK)
		return db_error(err, b, rc, "cannot prepare query");
	if (!b->dynamic && l->ncache < BANK_STMT_CACHE) {
		l->cache[l->ncache].sql = sql;
		l->cache[l->ncache++].st = *st;
	}
	return 0;
}

/* Gives a statement from prepare() back: reset if cached, else freed. */
static void
done(struct bank *b, sqlite3_stmt *st)
{
	struct lite *l = lite(b);

	for (size_t i = 0; i < l->ncache; i++) {
		if (l->cache[i].st == st) {
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			return;
		}
	}
	sqlite3_finalize(st); /* prepared when the cache was full */
}

static int
lite_run(struct bank *b, const char *sql, const char *types,
	 const struct db_arg *args, db_row_fn fn, void *ctx, struct err *err)
{
	const char *v[BANK_COLS_MAX];
	sqlite3_stmt *st;
	int rc, stop = 0, n;

	if ((rc = prepare(&st, b, sql, err)) < 0)
		return rc;
	for (int i = 0; types[i] != '\0'; i++) {
		if (types[i] == 'i')
			sqlite3_bind_int64(st, i + 1, args[i].i);
		else
			sqlite3_bind_text(st, i + 1, args[i].t, -1,
					  SQLITE_STATIC);
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		n = sqlite3_column_count(st);
		n = n > BANK_COLS_MAX ? BANK_COLS_MAX : n;
		for (int i = 0; i < n; i++)
			v[i] = (const char *)sqlite3_column_text(st, i);
		if (fn != NULL && (stop = fn(ctx, n, v)) < 0)
			break;
	}
	if (stop < 0) {
		done(b, st);
		return err_set(err, stop, "a row did not fit");
	}
	if (rc != SQLITE_DONE) {
		rc = db_error(err, b, sqlite3_extended_errcode(lite(b)->db),
			      "query failed");
		done(b, st);
		return rc;
	}
	done(b, st);
	return 0;
}

static int
lite_script(struct bank *b, const char *name, const char *sql, struct err *err)
{
	sqlite3 *db = lite(b)->db;
	const char *tail = sql;
	sqlite3_stmt *st;
	int rc;

	while (*tail != '\0') {
		if (sqlite3_prepare_v2(db, tail, -1, &st, &tail) != SQLITE_OK)
			return err_set(err, ERR_PARSE, "%s: %s", name,
				       sqlite3_errmsg(db));
		if (st == NULL)
			continue; /* only whitespace or comments left */
		rc = sqlite3_step(st);
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE && rc != SQLITE_ROW)
			return err_set(err, ERR_PARSE, "%s: %s", name,
				       sqlite3_errmsg(db));
	}
	return 0;
}

static int
lite_count(void *ctx, int ncols, const char *const *v)
{
	*(int64_t *)ctx = ncols > 0 ? bank_col_int(v[0]) : 0;
	return 0;
}

static int
lite_has_migrations_table(struct bank *b, bool *found, struct err *err)
{
	int64_t n = 0;
	int rc = lite_run(b,
			  "SELECT count(*) FROM sqlite_master WHERE type = "
			  "'table' AND name = 'schema_migrations'",
			  "", NULL, lite_count, &n, err);

	*found = n > 0;
	return rc;
}

/* Creates schema_migrations, or adds the columns an older one lacks. */
static int
lite_migrations_table(struct bank *b, struct err *err)
{
	static const char *const create =
		"CREATE TABLE IF NOT EXISTS schema_migrations ("
		"version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
		"kind TEXT, checksum TEXT, deployment_id TEXT, "
		"applied_at TEXT NOT NULL DEFAULT "
		"(strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))";
	static const char *const columns[][2] = {
		{ "SELECT count(*) FROM pragma_table_info('schema_migrations') "
		  "WHERE name = 'kind'",
		  "ALTER TABLE schema_migrations ADD COLUMN kind TEXT" },
		{ "SELECT count(*) FROM pragma_table_info('schema_migrations') "
		  "WHERE name = 'checksum'",
		  "ALTER TABLE schema_migrations ADD COLUMN checksum TEXT" },
		{ "SELECT count(*) FROM pragma_table_info('schema_migrations') "
		  "WHERE name = 'deployment_id'",
		  "ALTER TABLE schema_migrations ADD COLUMN deployment_id "
		  "TEXT" },
	};
	int64_t n;
	int rc;

	if ((rc = lite_run(b, create, "", NULL, NULL, NULL, err)) < 0)
		return rc;
	for (size_t i = 0; i < sizeof(columns) / sizeof(columns[0]); i++) {
		if ((rc = lite_run(b, columns[i][0], "", NULL, lite_count, &n,
				   err)) < 0 ||
		    (n == 0 && (rc = lite_run(b, columns[i][1], "", NULL, NULL,
					      NULL, err)) < 0))
			return rc;
	}
	return 0;
}

/* Table names come from sqlite_master and are quoted as identifiers. */
static int
lite_table_counts(struct bank *b, json_t *out, struct err *err)
{
	sqlite3 *db = lite(b)->db;
	sqlite3_stmt *list = NULL, *count = NULL;
	int rc;

	if (sqlite3_prepare_v2(db,
			       "SELECT name FROM sqlite_master WHERE type = "
			       "'table' AND name NOT LIKE 'sqlite_%' ORDER BY "
			       "name",
			       -1, &list, NULL) != SQLITE_OK)
		return db_error(err, b, sqlite3_errcode(db), "table list");
	while ((rc = sqlite3_step(list)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(list, 0);
		char *sql =
			sqlite3_mprintf("SELECT count(*) FROM \"%w\"", name);

		if (sql == NULL ||
		    sqlite3_prepare_v2(db, sql, -1, &count, NULL) !=
			    SQLITE_OK ||
		    sqlite3_step(count) != SQLITE_ROW) {
			rc = db_error(err, b, sqlite3_errcode(db), "count");
			sqlite3_free(sql);
			sqlite3_finalize(count);
			sqlite3_finalize(list);
			return rc;
		}
		json_object_set_new(
			out, name,
			json_integer(sqlite3_column_int64(count, 0)));
		sqlite3_free(sql);
		sqlite3_finalize(count);
		count = NULL;
	}
	sqlite3_finalize(list);
	return rc == SQLITE_DONE ? 0 : db_error(err, b, rc, "table list");
}

static bool
lite_in_transaction(struct bank *b)
{
	return !sqlite3_get_autocommit(lite(b)->db);
}

/*
 * One writer at a time per process: SQLite has one write lock per file,
 * and its busy handler sleeps with growing back-offs (a queue of 50
 * writers put a transfer's p99 near a second); here they wait their turn
 * on a mutex instead.  Writers in other processes still meet the busy
 * handler.
 */
static pthread_mutex_t writers = PTHREAD_MUTEX_INITIALIZER;

static void
lite_writer(struct bank *b, bool take)
{
	(void)b;
	if (take)
		pthread_mutex_lock(&writers);
	else
		pthread_mutex_unlock(&writers);
}

static bool
lite_lost(struct bank *b)
{
	(void)b;
	return false; /* a file does not go away */
}

/*
 * The database holds PIN hashes: it is created 0600, and SQLite gives its
 * -wal and -shm files the database's own mode.  A file left readable by
 * others (an older release made them 0644) is tightened.  By path only:
 * closing any descriptor of a file drops every POSIX lock this process
 * holds on it, and other connections of this process may hold SQLite's.
 */
static void
owner_only(const char *path)
{
	static const char *const suffix[] = { "", "-wal", "-shm" };
	char p[4096];
	struct stat st;
	int fd;

	if (strcmp(path, ":memory:") == 0 || path[0] == '\0')
		return;
	/* O_EXCL: only a file that did not exist, which no one has open */
	if ((fd = open(path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600)) >= 0)
		close(fd);
	for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		if (snprintf(p, sizeof(p), "%s%s", path, suffix[i]) >=
		    (int)sizeof(p))
			return;
		if (lstat(p, &st) == 0 && S_ISREG(st.st_mode) &&
		    (st.st_mode & 077) != 0)
			(void)chmod(p, st.st_mode & 0700);
	}
}

static void
lite_disconnect(struct bank *b)
{
	struct lite *l = lite(b);

	if (l == NULL)
		return;
	for (size_t i = 0; i < l->ncache; i++)
		sqlite3_finalize(l->cache[i].st);
	sqlite3_close_v2(l->db);
	free(l);
	b->conn = NULL;
}

static int
lite_connect(struct bank *b, struct err *err)
{
	static const char *const pragmas[] = { "PRAGMA journal_mode=WAL",
					       "PRAGMA synchronous=FULL",
					       "PRAGMA foreign_keys=ON" };
	struct lite *l = calloc(1, sizeof(*l));
	int rc;

	if (l == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	b->conn = l;
	if (!b->read_only)
		owner_only(b->path);
	rc = sqlite3_open_v2(
		b->path, &l->db,
		(b->read_only ? SQLITE_OPEN_READONLY
			      : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
			SQLITE_OPEN_NOMUTEX,
		NULL);
	if (rc != SQLITE_OK) {
		err_set(err, ERR_IO, "cannot open database '%s': %s", b->path,
			l->db ? sqlite3_errmsg(l->db) : sqlite3_errstr(rc));
		lite_disconnect(b);
		return ERR_IO;
	}
	sqlite3_busy_timeout(l->db, b->busy_ms);
	sqlite3_extended_result_codes(l->db, 1);
	/* a source only read keeps its journal mode: nothing is written */
	for (size_t i = b->read_only ? 3 : 0;
	     i < sizeof(pragmas) / sizeof(pragmas[0]); i++) {
		if ((rc = lite_run(b, pragmas[i], "", NULL, NULL, NULL, err)) <
		    0) {
			err_prefix(err, "cannot open database '%s': ", b->path);
			lite_disconnect(b);
			return rc;
		}
	}
	return 0;
}

const struct bank_backend bank_sqlite_backend = {
	.name = "sqlite",
	.begin_sql = "BEGIN IMMEDIATE",
	.connect = lite_connect,
	.disconnect = lite_disconnect,
	.run = lite_run,
	.script = lite_script,
	.migrations_table = lite_migrations_table,
	.has_migrations_table = lite_has_migrations_table,
	.table_counts = lite_table_counts,
	.in_transaction = lite_in_transaction,
	.writer = lite_writer,
	.lost = lite_lost,
};

int
bank_sqlite_backup(struct bank *b, const char *dest, int64_t timeout_ms,
		   struct err *err)
{
	sqlite3 *to = NULL;
	sqlite3_backup *bk;
	int64_t waited = 0;
	int rc;

	if (b->kind != BANK_SQLITE)
		return err_set(err, ERR_INTERNAL, "not an SQLite bank");
	if (sqlite3_open_v2(dest, &to,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				    SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		rc = err_set(err, ERR_IO, "cannot create '%s': %s", dest,
			     to ? sqlite3_errmsg(to) : "out of memory");
		sqlite3_close(to);
		return rc;
	}
	if ((bk = sqlite3_backup_init(to, "main", lite(b)->db, "main")) ==
	    NULL) {
		rc = err_set(err, ERR_IO, "cannot back up into '%s': %s", dest,
			     sqlite3_errmsg(to));
		sqlite3_close(to);
		return rc;
	}
	/* Pages in steps; a writer holding the file makes a step wait. */
	while ((rc = sqlite3_backup_step(bk, 256)) == SQLITE_OK ||
	       rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
		if (rc != SQLITE_OK) {
			if (waited >= timeout_ms)
				break;
			sqlite3_sleep(20);
			waited += 20;
		}
	}
	sqlite3_backup_finish(bk);
	if (rc != SQLITE_DONE) {
		rc = err_set(
			err,
			rc == SQLITE_BUSY || rc == SQLITE_LOCKED ? ERR_TIMEOUT
								 : ERR_IO,
			"backing up into '%s': %s", dest, sqlite3_errstr(rc));
		sqlite3_close(to);
		return rc;
	}
	return sqlite3_close(to) == SQLITE_OK
		       ? 0
		       : err_set(err, ERR_IO, "closing '%s'", dest);
}
