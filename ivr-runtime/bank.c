/*
 * bank: see bank.h.  SQLite lives behind this module only.
 */
#include "bank.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "fileio.h"
#include "hash.h"

#define MIGRATION_MAX_BYTES (1024 * 1024)
#define MIGRATIONS_MAX	    256

/* Prepared statements kept for the connection's life, keyed by the
 * address of their SQL text (every query here is a string constant). */
#ifndef BANK_STMT_CACHE
#define BANK_STMT_CACHE 48 /* tests build with a smaller one */
#endif

struct bank {
	sqlite3 *db;
	struct {
		const char *sql;
		sqlite3_stmt *st;
	} cache[BANK_STMT_CACHE];
	size_t ncache;
	/* A stored PIN hash that an unknown number is checked against, so
	 * that it costs what a wrong PIN costs (same iteration count). */
	char decoy[HASH_PASSWORD_MAX];
};

static int
db_error(struct err *err, struct bank *b, const char *what)
{
	return err_set(err, ERR_IO, "%s: %s", what, sqlite3_errmsg(b->db));
}

/*
 * The prepared statement for sql (a string constant), from the cache or
 * prepared now; give it back with done().  On failure fills err and
 * returns ERR_IO.
 */
static int
prepare(sqlite3_stmt **st, struct bank *b, const char *sql, struct err *err)
{
	for (size_t i = 0; i < b->ncache; i++) {
		if (b->cache[i].sql == sql) {
			*st = b->cache[i].st;
			return 0;
		}
	}
	if (sqlite3_prepare_v3(b->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st,
			       NULL) != SQLITE_OK)
		return db_error(err, b, "cannot prepare query");
	if (b->ncache < BANK_STMT_CACHE) {
		b->cache[b->ncache].sql = sql;
		b->cache[b->ncache++].st = *st;
	}
	return 0;
}

/* Gives a statement from prepare() back: reset if cached, else freed. */
static void
done(struct bank *b, sqlite3_stmt *st)
{
	if (st == NULL)
		return;
	for (size_t i = 0; i < b->ncache; i++) {
		if (b->cache[i].st == st) {
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			return;
		}
	}
	sqlite3_finalize(st); /* prepared when the cache was full */
}

/* Binds arguments by type letter, in order: 'i' int64_t, 't' text. */
static void
bind_args(sqlite3_stmt *st, const char *types, va_list ap)
{
	for (int i = 0; types[i] != '\0'; i++) {
		if (types[i] == 'i')
			sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
		else
			sqlite3_bind_text(st, i + 1, va_arg(ap, const char *),
					  -1, SQLITE_TRANSIENT);
	}
}

/*
 * Runs a query that yields at most one integer: *out gets the first
 * column of the first row (0 when there is none) and *found (may be NULL)
 * says whether there was a row.  Arguments as bind_args.  0 or ERR_IO.
 */
static int
query_int(int64_t *out, bool *found, struct bank *b, struct err *err,
	  const char *sql, const char *types, ...)
{
	sqlite3_stmt *st;
	va_list ap;
	int rc;

	if ((rc = prepare(&st, b, sql, err)) < 0)
		return rc;
	va_start(ap, types);
	bind_args(st, types, ap);
	va_end(ap);
	rc = sqlite3_step(st);
	*out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	if (found != NULL)
		*found = rc == SQLITE_ROW;
	done(b, st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_error(err, b, "query failed");
	return 0;
}

/*
 * Runs a statement that yields no rows; *id (may be NULL) gets the row id
 * it inserted.  Arguments as bind_args.  0 or ERR_IO.
 */
static int
execute(int64_t *id, struct bank *b, struct err *err, const char *sql,
	const char *types, ...)
{
	sqlite3_stmt *st;
	va_list ap;
	int rc;

	if ((rc = prepare(&st, b, sql, err)) < 0)
		return rc;
	va_start(ap, types);
	bind_args(st, types, ap);
	va_end(ap);
	rc = sqlite3_step(st);
	done(b, st);
	if (rc != SQLITE_DONE)
		return db_error(err, b, "statement failed");
	if (id != NULL)
		*id = sqlite3_last_insert_rowid(b->db);
	return 0;
}

/* Runs a statement that returns no rows (BEGIN, COMMIT, pragmas). */
static int
exec1(struct bank *b, const char *sql, struct err *err)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = prepare(&st, b, sql, err)) < 0)
		return rc;
	rc = sqlite3_step(st);
	done(b, st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return db_error(err, b, sql);
	return 0;
}

static void
rollback(struct bank *b)
{
	if (!sqlite3_get_autocommit(b->db))
		exec1(b, "ROLLBACK", NULL);
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

int
bank_open(struct bank **out, const char *path, int busy_ms, struct err *err)
{
	struct bank *b = calloc(1, sizeof(*b));
	int rc;

	if (b == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	owner_only(path);
	rc = sqlite3_open_v2(path, &b->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				     SQLITE_OPEN_NOMUTEX,
			     NULL);
	if (rc != SQLITE_OK) {
		err_set(err, ERR_IO, "cannot open database '%s': %s", path,
			b->db ? sqlite3_errmsg(b->db) : sqlite3_errstr(rc));
		bank_close(b);
		return ERR_IO;
	}
	sqlite3_busy_timeout(b->db, busy_ms);
	sqlite3_extended_result_codes(b->db, 1);
	if ((rc = exec1(b, "PRAGMA journal_mode=WAL", err)) < 0 ||
	    (rc = exec1(b, "PRAGMA synchronous=FULL", err)) < 0 ||
	    (rc = exec1(b, "PRAGMA foreign_keys=ON", err)) < 0) {
		err_prefix(err, "cannot open database '%s': ", path);
		bank_close(b);
		return rc;
	}
	*out = b;
	return 0;
}

void
bank_close(struct bank *b)
{
	if (b == NULL)
		return;
	for (size_t i = 0; i < b->ncache; i++)
		sqlite3_finalize(b->cache[i].st);
	sqlite3_close_v2(b->db);
	free(b);
}

int
bank_ping(struct bank *b, struct err *err)
{
	int64_t n;

	return query_int(&n, NULL, b, err,
			 "SELECT count(*) FROM schema_migrations", "");
}

/* Runs every statement of a multi-statement script, one prepared each. */
static int
exec_script(struct bank *b, const char *name, const char *sql, struct err *err)
{
	const char *tail = sql;
	sqlite3_stmt *st;
	int rc;

	while (*tail != '\0') {
		if (sqlite3_prepare_v2(b->db, tail, -1, &st, &tail) !=
		    SQLITE_OK)
			return err_set(err, ERR_PARSE, "%s: %s", name,
				       sqlite3_errmsg(b->db));
		if (st == NULL)
			continue; /* only whitespace or comments left */
		rc = sqlite3_step(st);
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE && rc != SQLITE_ROW)
			return err_set(err, ERR_PARSE, "%s: %s", name,
				       sqlite3_errmsg(b->db));
	}
	return 0;
}

/* True for names like 001_initial.sql; sets *version. */
static bool
migration_name(const char *name, int *version)
{
	size_t n = strlen(name);

	if (n < 9 || strcmp(name + n - 4, ".sql") != 0 || name[3] != '_')
		return false;
	for (int i = 0; i < 3; i++)
		if (name[i] < '0' || name[i] > '9')
			return false;
	*version =
		(name[0] - '0') * 100 + (name[1] - '0') * 10 + (name[2] - '0');
	return true;
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The migration file names in dir, sorted; free with free_names. */
static int
list_migrations(char ***out, size_t *n, const char *dir, struct err *err)
{
	char **names = calloc(MIGRATIONS_MAX, sizeof(*names));
	struct dirent *de;
	DIR *d;
	int v;

	*n = 0;
	if (names == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	if ((d = opendir(dir)) == NULL) {
		free(names);
		return err_set_errno(err, ERR_IO, errno,
				     "cannot open migrations folder '%s'", dir);
	}
	while ((de = readdir(d)) != NULL && *n < MIGRATIONS_MAX)
		if (migration_name(de->d_name, &v))
			names[(*n)++] = strdup(de->d_name);
	closedir(d);
	qsort(names, *n, sizeof(*names), cmp_names);
	*out = names;
	return 0;
}

static void
free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

static int
is_applied(bool *applied, struct bank *b, int version, struct err *err)
{
	int64_t one;

	return query_int(&one, applied, b, err,
			 "SELECT 1 FROM schema_migrations WHERE version = ?",
			 "i", (int64_t)version);
}

static int
record_migration(struct bank *b, int version, const char *name, struct err *err)
{
	return execute(NULL, b, err,
		       "INSERT INTO schema_migrations (version, name) VALUES "
		       "(?, ?)",
		       "it", (int64_t)version, name);
}

/* Applies one migration unless present; *done says if it ran now. */
static int
apply_one(struct bank *b, const char *dir, const char *name, bool *done,
	  struct err *err)
{
	char path[PATH_MAX];
	struct buf sql;
	bool applied = false;
	int version = 0, rc;

	*done = false;
	migration_name(name, &version);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	buf_init(&sql, MIGRATION_MAX_BYTES);
	if ((rc = fileio_read_all(&sql, path, err)) < 0)
		goto out;
	if ((rc = exec1(b, "BEGIN IMMEDIATE", err)) < 0)
		goto out;
	if ((rc = is_applied(&applied, b, version, err)) < 0 || applied)
		goto end;
	if ((rc = exec_script(b, name, buf_cstr(&sql), err)) < 0 ||
	    (rc = record_migration(b, version, name, err)) < 0)
		goto end;
	rc = exec1(b, "COMMIT", err);
	*done = rc == 0;
	goto out;
end:
	if (rc == 0)
		rc = exec1(b, "COMMIT", err);
	else
		rollback(b);
out:
	buf_release(&sql);
	return rc;
}

int
bank_migrate(struct bank *b, const char *dir, int *applied, struct err *err)
{
	char **names = NULL;
	size_t n = 0;
	bool done;
	int rc, count = 0;

	rc = exec1(b,
		   "CREATE TABLE IF NOT EXISTS schema_migrations ("
		   "version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
		   "applied_at TEXT NOT NULL DEFAULT "
		   "(strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))",
		   err);
	if (rc < 0 || (rc = list_migrations(&names, &n, dir, err)) < 0)
		return rc;
	if (n == 0) {
		free_names(names, n);
		return err_set(err, ERR_IO,
			       "no migrations (NNN_name.sql) in "
			       "'%s'",
			       dir);
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		rc = apply_one(b, dir, names[i], &done, err);
		count += done;
	}
	free_names(names, n);
	if (applied != NULL)
		*applied = count;
	return rc;
}

/* The customer and PIN hash for an account number; *found false if none. */
static int
find_login(bool *found, int64_t *customer_id, char *pin_hash, size_t size,
	   struct bank *b, const char *number, struct err *err)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = prepare(&st, b,
			  "SELECT c.id, c.pin_hash FROM accounts a JOIN "
			  "customers c ON c.id = a.customer_id WHERE a.number "
			  "= ?",
			  err)) < 0)
		return rc;
	sqlite3_bind_text(st, 1, number, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	*found = rc == SQLITE_ROW;
	if (*found) {
		*customer_id = sqlite3_column_int64(st, 0);
		snprintf(pin_hash, size, "%s",
			 (const char *)sqlite3_column_text(st, 1));
	}
	done(b, st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_error(err, b, "cannot look up account");
	return 0;
}

static int
is_locked(bool *locked, struct bank *b, const char *number, struct err *err)
{
	int64_t v;
	int rc;

	rc = query_int(&v, NULL, b, err,
		       "SELECT locked_at IS NOT NULL FROM lockouts WHERE "
		       "account_number = ?",
		       "t", number);
	*locked = rc == 0 && v != 0;
	return rc;
}

/*
 * Records the outcome of a PIN check in one short write transaction (the
 * slow KDF ran before it, outside any lock) and sets *locked when the
 * account is, or has just become, locked.
 */
static int
record_attempt(bool *locked, struct bank *b, const char *number, bool ok,
	       int max_failures, struct err *err)
{
	static const char *const fail_sql =
		"INSERT INTO lockouts (account_number, failures) VALUES (?, 1) "
		"ON CONFLICT(account_number) DO UPDATE SET failures = "
		"failures + 1";
	static const char *const lock_sql =
		"UPDATE lockouts SET locked_at = strftime('%Y-%m-%dT%H:%M:%fZ',"
		" 'now') WHERE account_number = ? AND locked_at IS NULL AND "
		"failures >= ?";
	static const char *const ok_sql =
		"UPDATE lockouts SET failures = 0 WHERE account_number = ? AND "
		"locked_at IS NULL";
	int rc;

	if ((rc = exec1(b, "BEGIN IMMEDIATE", err)) < 0)
		return rc;
	if (execute(NULL, b, err, ok ? ok_sql : fail_sql, "t", number) < 0 ||
	    (!ok && execute(NULL, b, err, lock_sql, "ti", number,
			    (int64_t)max_failures) < 0) ||
	    is_locked(locked, b, number, err) < 0 ||
	    exec1(b, "COMMIT", err) < 0) {
		rollback(b);
		return err_prefix(err, "cannot record login attempt: ");
	}
	return 0;
}

/*
 * What an unknown number is checked against: a customer's stored hash,
 * read once (so the same iteration count the real checks pay), or a
 * fixed one while the bank has no customer.
 */
static int
decoy_hash(const char **out, struct bank *b, struct err *err)
{
	static const char *const fallback =
		"pbkdf2-sha256$100000$00000000000000000000000000000000$"
		"00000000000000000000000000000000000000000000000000000000000000"
		"00";
	sqlite3_stmt *st;
	int rc;

	*out = b->decoy;
	if (b->decoy[0] != '\0')
		return 0;
	if ((rc = prepare(&st, b,
			  "SELECT pin_hash FROM customers ORDER BY id LIMIT 1",
			  err)) < 0)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL)
		snprintf(b->decoy, sizeof(b->decoy), "%s",
			 (const char *)sqlite3_column_text(st, 0));
	else
		*out = fallback;
	done(b, st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_error(err, b, "cannot look up account");
	return 0;
}

int
bank_authenticate(enum bank_auth *result, int64_t *customer_id, struct bank *b,
		  const char *number, const char *pin, int max_failures,
		  struct err *err)
{
	char pin_hash[HASH_PASSWORD_MAX];
	const char *decoy = NULL;
	bool found = false, locked = false, match = false;
	int64_t cid = 0;
	int rc;

	*result = BANK_AUTH_FAILED;
	if ((rc = is_locked(&locked, b, number, err)) < 0)
		return rc;
	if (locked) {
		*result = BANK_AUTH_LOCKED;
		return 0;
	}
	if ((rc = find_login(&found, &cid, pin_hash, sizeof(pin_hash), b,
			     number, err)) < 0)
		return rc;
	if (!found && (rc = decoy_hash(&decoy, b, err)) < 0)
		return rc;
	rc = hash_password_verify(&match, found ? pin_hash : decoy, pin, err);
	explicit_bzero(pin_hash, sizeof(pin_hash));
	if (rc < 0 && found)
		return err_prefix(err, "customer %lld: ", (long long)cid);
	match = match && found;
	if ((rc = record_attempt(&locked, b, number, match, max_failures,
				 err)) < 0)
		return rc;
	if (locked)
		*result = BANK_AUTH_LOCKED;
	else if (match) {
		*result = BANK_AUTH_OK;
		*customer_id = cid;
	}
	return 0;
}

int
bank_accounts(struct bank_account *out, size_t max, size_t *n, struct bank *b,
	      int64_t customer_id, struct err *err)
{
	sqlite3_stmt *st;
	int rc;

	*n = 0;
	if ((rc = prepare(&st, b,
			  "SELECT id, number, kind, balance_cents FROM "
			  "accounts WHERE customer_id = ? ORDER BY id",
			  err)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, customer_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < max) {
		struct bank_account *a = &out[(*n)++];

		a->id = sqlite3_column_int64(st, 0);
		snprintf(a->number, sizeof(a->number), "%s",
			 (const char *)sqlite3_column_text(st, 1));
		snprintf(a->kind, sizeof(a->kind), "%s",
			 (const char *)sqlite3_column_text(st, 2));
		a->balance_cents = sqlite3_column_int64(st, 3);
	}
	done(b, st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return db_error(err, b, "cannot read accounts");
	return 0;
}

int
bank_recent(struct bank_txn *out, size_t max, size_t *n, struct bank *b,
	    int64_t customer_id, struct err *err)
{
	sqlite3_stmt *st;
	int rc;

	*n = 0;
	if ((rc = prepare(&st, b,
			  "SELECT t.amount_cents, t.balance_after_cents, "
			  "t.description, t.created_at, a.number FROM "
			  "transactions t JOIN accounts a ON a.id = "
			  "t.account_id WHERE a.customer_id = ? ORDER BY t.id "
			  "DESC LIMIT ?",
			  err)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, customer_id);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < max) {
		struct bank_txn *t = &out[(*n)++];
		const char *number = (const char *)sqlite3_column_text(st, 4);

		t->amount_cents = sqlite3_column_int64(st, 0);
		t->balance_after_cents = sqlite3_column_int64(st, 1);
		snprintf(t->description, sizeof(t->description), "%s",
			 (const char *)sqlite3_column_text(st, 2));
		snprintf(t->created_at, sizeof(t->created_at), "%s",
			 (const char *)sqlite3_column_text(st, 3));
		snprintf(t->account_last4, sizeof(t->account_last4), "%s",
			 number + strlen(number) - 4);
	}
	done(b, st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return db_error(err, b, "cannot read transactions");
	return 0;
}

/* Looks a token up: *found, and whether it matches req (same transfer). */
static int
find_token(bool *found, bool *same, char *confirmation, struct bank *b,
	   const struct bank_transfer_req *req, struct err *err)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = prepare(&st, b,
			  "SELECT confirmation, from_account_id, "
			  "to_account_id, amount_cents FROM transfers WHERE "
			  "token = ?",
			  err)) < 0)
		return rc;
	sqlite3_bind_text(st, 1, req->token, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	*found = rc == SQLITE_ROW;
	if (*found) {
		snprintf(confirmation, BANK_CONFIRMATION_LEN + 1, "%s",
			 (const char *)sqlite3_column_text(st, 0));
		*same = sqlite3_column_int64(st, 1) == req->from_account_id &&
			sqlite3_column_int64(st, 2) == req->to_account_id &&
			sqlite3_column_int64(st, 3) == req->amount_cents;
	}
	done(b, st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_error(err, b, "cannot read transfers");
	return 0;
}

/* How many of the two accounts belong to the customer. */
static int
count_owned(int64_t *owned, struct bank *b, const struct bank_transfer_req *req,
	    struct err *err)
{
	return query_int(owned, NULL, b, err,
			 "SELECT count(*) FROM accounts WHERE customer_id = ? "
			 "AND id IN (?, ?)",
			 "iii", req->customer_id, req->from_account_id,
			 req->to_account_id);
}

/*
 * Adds delta to an account unless that would make it negative, and writes
 * the matching transaction row.  *moved is false when funds are short.
 */
static int
post(bool *moved, struct bank *b, int64_t account_id, int64_t delta,
     int64_t transfer_id, const char *description, struct err *err)
{
	sqlite3_stmt *st;
	int64_t after = 0;
	int rc;

	if ((rc = prepare(&st, b,
			  "UPDATE accounts SET balance_cents = balance_cents + "
			  "?1 WHERE id = ?2 AND balance_cents + ?1 >= 0 "
			  "RETURNING balance_cents",
			  err)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, delta);
	sqlite3_bind_int64(st, 2, account_id);
	rc = sqlite3_step(st);
	*moved = rc == SQLITE_ROW;
	if (*moved) {
		after = sqlite3_column_int64(st, 0);
		rc = sqlite3_step(st);
	}
	done(b, st);
	if (rc != SQLITE_DONE)
		return db_error(err, b, "cannot update balance");
	if (!*moved)
		return 0;
	if ((rc = prepare(&st, b,
			  "INSERT INTO transactions (account_id, amount_cents, "
			  "balance_after_cents, description, transfer_id) "
			  "VALUES (?, ?, ?, ?, ?)",
			  err)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, account_id);
	sqlite3_bind_int64(st, 2, delta);
	sqlite3_bind_int64(st, 3, after);
	sqlite3_bind_text(st, 4, description, -1, SQLITE_STATIC);
	if (transfer_id > 0)
		sqlite3_bind_int64(st, 5, transfer_id);
	rc = sqlite3_step(st);
	done(b, st);
	return rc == SQLITE_DONE
		       ? 0
		       : db_error(err, b, "cannot record transaction");
}

/* Inserts the transfer row under a fresh random confirmation number. */
static int
insert_transfer(int64_t *id, char *confirmation, struct bank *b,
		const struct bank_transfer_req *req, struct err *err)
{
	sqlite3_stmt *st;
	unsigned char r[8];
	uint64_t v;
	int rc;

	for (int attempt = 0; attempt < 8; attempt++) {
		if ((rc = hash_random(r, sizeof(r), err)) < 0)
			return rc;
		memcpy(&v, r, sizeof(v));
		snprintf(confirmation, BANK_CONFIRMATION_LEN + 1, "%08llu",
			 (unsigned long long)(v % 100000000ULL));
		if ((rc = prepare(&st, b,
				  "INSERT INTO transfers (token, confirmation, "
				  "from_account_id, to_account_id, "
				  "amount_cents) VALUES (?, ?, ?, ?, ?)",
				  err)) < 0)
			return rc;
		sqlite3_bind_text(st, 1, req->token, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, confirmation, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, req->from_account_id);
		sqlite3_bind_int64(st, 4, req->to_account_id);
		sqlite3_bind_int64(st, 5, req->amount_cents);
		rc = sqlite3_step(st);
		done(b, st);
		if (rc == SQLITE_DONE) {
			*id = sqlite3_last_insert_rowid(b->db);
			return 0;
		}
		if (rc != SQLITE_CONSTRAINT_UNIQUE)
			break;
	}
	return db_error(err, b, "cannot record transfer");
}

/* The body of bank_transfer, inside its transaction. */
static int
transfer_locked(enum bank_transfer_result *result, char *confirmation,
		bool *replayed, struct bank *b,
		const struct bank_transfer_req *req, struct err *err)
{
	bool found = false, same = false, moved;
	int64_t id = 0, owned;
	int rc;

	if ((rc = find_token(&found, &same, confirmation, b, req, err)) < 0)
		return rc;
	if (found) {
		*result = same ? BANK_TRANSFER_OK : BANK_TRANSFER_TOKEN_REUSED;
		*replayed = same;
		return 0;
	}
	if ((rc = count_owned(&owned, b, req, err)) < 0)
		return rc;
	if (owned != 2) {
		*result = BANK_TRANSFER_NOT_OWNED;
		return 0;
	}
	if ((rc = insert_transfer(&id, confirmation, b, req, err)) < 0 ||
	    (rc = post(&moved, b, req->from_account_id, -req->amount_cents, id,
		       "Transfer out", err)) < 0)
		return rc;
	if (!moved) {
		*result = BANK_TRANSFER_INSUFFICIENT;
		return 1; /* roll back the transfer row */
	}
	if ((rc = post(&moved, b, req->to_account_id, req->amount_cents, id,
		       "Transfer in", err)) < 0)
		return rc;
	if (!moved)
		return err_set(err, ERR_INTERNAL, "credit refused");
	*result = BANK_TRANSFER_OK;
	return 0;
}

int
bank_transfer(enum bank_transfer_result *result,
	      char confirmation[BANK_CONFIRMATION_LEN + 1], bool *replayed,
	      struct bank *b, const struct bank_transfer_req *req,
	      struct err *err)
{
	int rc;

	*replayed = false;
	confirmation[0] = '\0';
	if (req->amount_cents <= 0 || req->amount_cents > 100000000000LL) {
		*result = BANK_TRANSFER_BAD_AMOUNT;
		return 0;
	}
	if (req->from_account_id == req->to_account_id) {
		*result = BANK_TRANSFER_SAME_ACCOUNT;
		return 0;
	}
	if ((rc = exec1(b, "BEGIN IMMEDIATE", err)) < 0)
		return rc;
	rc = transfer_locked(result, confirmation, replayed, b, req, err);
	if (rc != 0) {
		rollback(b);
		if (rc > 0)
			confirmation[0] = '\0';
		return rc > 0 ? 0 : rc;
	}
	if ((rc = exec1(b, "COMMIT", err)) < 0)
		rollback(b);
	return rc;
}

/* splitmix64: a small deterministic generator for reproducible seeds. */
static uint64_t
next_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Runs an INSERT with bound int64/text values given as a format. */

/* A fresh 8-digit number whose last four differ from the customer's. */
static void
pick_number(char *out, uint64_t *rng, json_t *used, json_t *accounts)
{
	for (;;) {
		size_t i;
		json_t *a;
		bool clash = false;

		snprintf(out, BANK_NUMBER_LEN + 1, "%08llu",
			 (unsigned long long)(10000000 +
					      next_rand(rng) % 90000000));
		json_array_foreach (accounts, i, a) {
			const char *n =
				json_string_value(json_object_get(a, "number"));
			clash = clash || strcmp(n + 4, out + 4) == 0;
		}
		if (!clash && json_object_get(used, out) == NULL) {
			json_object_set_new(used, out, json_true());
			return;
		}
	}
}

static const char *const kinds[] = { "current", "savings", "isa" };

static int
seed_account(int64_t *balance, json_t *accounts, json_t *used, uint64_t *rng,
	     struct bank *b, int64_t customer_id, int k, struct err *err)
{
	char number[BANK_NUMBER_LEN + 1];
	int64_t account_id;
	int rc;

	pick_number(number, rng, used, accounts);
	*balance = 10000 + (int64_t)(next_rand(rng) % 990000); /* 100-10000 */
	if ((rc = execute(&account_id, b, err,
			  "INSERT INTO accounts (customer_id, number, kind, "
			  "balance_cents) VALUES (?, ?, ?, ?)",
			  "itti", customer_id, number, kinds[k], *balance)) <
		    0 ||
	    (rc = execute(NULL, b, err,
			  "INSERT INTO transactions (account_id, amount_cents, "
			  "balance_after_cents, description) VALUES (?, ?, ?, "
			  "?)",
			  "iiit", account_id, *balance, *balance,
			  "Opening balance")) < 0)
		return rc;
	json_array_append_new(accounts,
			      json_pack("{s:s, s:s, s:I}", "number", number,
					"kind", kinds[k], "balance_cents",
					(json_int_t)*balance));
	return 0;
}

static int
seed_customer(int64_t *total, json_t *list, json_t *used, uint64_t *rng,
	      struct bank *b, int index, int kdf_iterations, struct err *err)
{
	char name[32], pin[8], hash[HASH_PASSWORD_MAX];
	json_t *accounts = json_array();
	int64_t customer_id, balance;
	int naccounts = 2 + (int)(next_rand(rng) % 2), rc;

	snprintf(name, sizeof(name), "Customer %d", index + 1);
	snprintf(pin, sizeof(pin), "%04llu",
		 (unsigned long long)(next_rand(rng) % 10000));
	if ((rc = hash_password(hash, pin, kdf_iterations, err)) < 0)
		goto out;
	rc = execute(&customer_id, b, err,
		     "INSERT INTO customers (name, pin_hash) VALUES (?, ?)",
		     "tt", name, hash);
	explicit_bzero(hash, sizeof(hash));
	if (rc < 0)
		goto out;
	for (int k = 0; k < naccounts; k++) {
		if ((rc = seed_account(&balance, accounts, used, rng, b,
				       customer_id, k, err)) < 0)
			goto out;
		*total += balance;
	}
	json_array_append_new(list,
			      json_pack("{s:s, s:s, s:O}", "name", name, "pin",
					pin, "accounts", accounts));
out:
	json_decref(accounts);
	return rc;
}

static int
seed_all(json_t *out, struct bank *b, int customers, uint64_t seed,
	 int kdf_iterations, struct err *err)
{
	json_t *list = json_object_get(out, "customers");
	json_t *used = json_object();
	uint64_t rng = seed;
	int64_t total = 0;
	char value[32];
	int rc = 0;

	for (int i = 0; i < customers && rc == 0; i++)
		rc = seed_customer(&total, list, used, &rng, b, i,
				   kdf_iterations, err);
	json_decref(used);
	if (rc < 0)
		return rc;
	snprintf(value, sizeof(value), "%lld", (long long)total);
	if ((rc = execute(NULL, b, err,
			  "INSERT INTO bank_meta (key, value) VALUES (?, ?)",
			  "tt", "seeded_total_cents", value)) < 0)
		return rc;
	json_object_set_new(out, "total_cents", json_integer(total));
	return 0;
}

int
bank_seed(json_t **credentials, struct bank *b, int customers, uint64_t seed,
	  int kdf_iterations, struct err *err)
{
	json_t *out;
	int64_t existing;
	int rc;

	if (customers < 1 || customers > 1000000)
		return err_set(err, ERR_RANGE,
			       "customers %d out of range (1 to 1000000)",
			       customers);
	if ((rc = exec1(b, "BEGIN IMMEDIATE", err)) < 0)
		return rc;
	if ((rc = query_int(&existing, NULL, b, err,
			    "SELECT count(*) FROM customers", "")) < 0)
		goto fail;
	if (existing > 0) {
		rc = err_set(err, ERR_EXISTS,
			     "the database already has %lld customers: seed "
			     "only a new database",
			     (long long)existing);
		goto fail;
	}
	out = json_pack("{s:I, s:[]}", "seed", (json_int_t)seed, "customers");
	if ((rc = seed_all(out, b, customers, seed, kdf_iterations, err)) < 0) {
		json_decref(out);
		goto fail;
	}
	if ((rc = exec1(b, "COMMIT", err)) < 0) {
		json_decref(out);
		goto fail;
	}
	*credentials = out;
	return 0;
fail:
	rollback(b);
	return rc;
}

int
bank_ledger(struct bank_ledger *out, struct bank *b, struct err *err)
{
	int rc;

	if ((rc = query_int(&out->total_cents, NULL, b, err,
			    "SELECT coalesce(sum(balance_cents), 0) FROM "
			    "accounts",
			    "")) < 0 ||
	    (rc = query_int(&out->transfers, NULL, b, err,
			    "SELECT count(*) FROM transfers", "")) < 0 ||
	    (rc = query_int(&out->unbalanced_accounts, NULL, b, err,
			    "SELECT count(*) FROM accounts a WHERE "
			    "a.balance_cents <> (SELECT coalesce(sum("
			    "amount_cents), 0) FROM transactions t WHERE "
			    "t.account_id = a.id)",
			    "")) < 0)
		return rc;
	return query_int(&out->seeded_total_cents, NULL, b, err,
			 "SELECT coalesce((SELECT CAST(value AS INTEGER) FROM "
			 "bank_meta WHERE key = 'seeded_total_cents'), -1)",
			 "");
}

int
bank_transfer_count(int64_t *count, struct bank *b, const char *confirmation,
		    struct err *err)
{
	return query_int(count, NULL, b, err,
			 "SELECT count(*) FROM transfers WHERE confirmation = "
			 "?",
			 "t", confirmation);
}
