/*
 * bank: see bank.h.  Connections, the query helpers the other bank_*.c
 * files share (bank_int.h), migrations and the ledger's figures.
 */
#include "bank.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bank_int.h"
#include "buf.h"
#include "fileio.h"

#define MIGRATION_MAX_BYTES (1024 * 1024)
#define MIGRATIONS_MAX	    256
#define BANK_PING_MS	    800

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

static void
free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
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
	while ((de = readdir(d)) != NULL && *n < MIGRATIONS_MAX) {
		if (!migration_name(de->d_name, &v))
			continue;
		if ((names[*n] = strdup(de->d_name)) == NULL) {
			closedir(d);
			free_names(names, *n);
			return err_set(err, ERR_NOMEM, "out of memory");
		}
		(*n)++;
	}
	closedir(d);
	qsort(names, *n, sizeof(*names), cmp_names);
	if (*n == 0) {
		free_names(names, *n);
		return err_set(err, ERR_IO,
			       "no migrations (NNN_name.sql) in '%s'", dir);
	}
	*out = names;
	return 0;
}

static int
is_applied(bool *applied, struct bank *b, int version, struct err *err)
{
	int64_t one;

	return bank_q_int(&one, applied, b, err,
			  "SELECT 1 FROM schema_migrations WHERE version = $1",
			  "i", (int64_t)version);
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
	if ((rc = bank_begin(b, err)) < 0)
		goto out;
	if (b->be->migration_lock_sql != NULL &&
	    (rc = bank_q(b, err, NULL, NULL, b->be->migration_lock_sql, "")) <
		    0)
		goto end;
	if ((rc = is_applied(&applied, b, version, err)) < 0 || applied)
		goto end;
	if ((rc = b->be->script(b, name, buf_cstr(&sql), err)) < 0 ||
	    (rc = bank_q(b, err, NULL, NULL,
			 "INSERT INTO schema_migrations (version, name) "
			 "VALUES ($1, $2)",
			 "it", (int64_t)version, name)) < 0)
		goto end;
	rc = bank_commit(b, err);
	*done = rc == 0;
	goto out;
end:
	if (rc == 0)
		rc = bank_commit(b, err);
	else
		bank_rollback(b);
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

	if ((rc = b->be->migrations_table(b, err)) < 0 ||
	    (rc = list_migrations(&names, &n, dir, err)) < 0)
		return rc;
	for (size_t i = 0; i < n && rc == 0; i++) {
		rc = apply_one(b, dir, names[i], &done, err);
		count += done;
	}
	free_names(names, n);
	if (applied != NULL)
		*applied = count;
	return rc;
}

int
bank_pending(int *pending, char *first, size_t size, struct bank *b,
	     const char *dir, struct err *err)
{
	char **names = NULL;
	size_t n = 0;
	bool applied;
	int rc, version = 0;

	*pending = 0;
	if (first != NULL && size > 0)
		first[0] = '\0';
	if ((rc = list_migrations(&names, &n, dir, err)) < 0)
		return rc;
	for (size_t i = 0; i < n && rc == 0; i++) {
		migration_name(names[i], &version);
		if ((rc = is_applied(&applied, b, version, err)) < 0 || applied)
			continue;
		if (*pending == 0 && first != NULL && size > 0)
			snprintf(first, size, "%s", names[i]);
		(*pending)++;
	}
	free_names(names, n);
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
