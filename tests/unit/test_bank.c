#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "bank.h"
#include "bankfix.h"

/*
 * The same tests run on SQLite (a file per test) and, when IVR_TEST_PG_DIR
 * names a running scripts/pg-sandbox.sh cluster, on PostgreSQL: each test
 * then starts from an empty schema, migrates and seeds as the migration
 * role, and runs as the runtime's role (bankfix.h).
 */
#define KDF 1000

static const char *pg_dir; /* NULL: SQLite */
static const char *MIGRATIONS;

struct fixture {
	char dir[64];
	char path[128];
	struct bank *b;
	json_t *cred;
	pid_t proxy; /* a helper a test started, stopped by teardown */
};

#define connect_as bankfix_connect

static int
fresh_bank(json_t **cred, const char *path, struct err *err)
{
	return bankfix_fresh(cred, path, 3, 42, KDF, err);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct err e;

	snprintf(f->dir, sizeof(f->dir), "/tmp/ivr-test-bank.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/bank.db", f->dir);
	if (fresh_bank(&f->cred, f->path, &e) < 0 ||
	    connect_as(&f->b, "ivr_app", f->path, &e) < 0) {
		fprintf(stderr, "setup: %s\n", e.msg);
		return -1;
	}
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	if (f->proxy > 0) {
		kill(f->proxy, SIGTERM);
		waitpid(f->proxy, NULL, 0);
	}
	bank_close(f->b);
	json_decref(f->cred);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static json_t *
customer(struct fixture *f, size_t i)
{
	return json_array_get(json_object_get(f->cred, "customers"), i);
}

static const char *
number_of(struct fixture *f, size_t c, size_t a)
{
	json_t *accounts = json_object_get(customer(f, c), "accounts");

	return json_string_value(
		json_object_get(json_array_get(accounts, a), "number"));
}

static const char *
pin_of(struct fixture *f, size_t c)
{
	return json_string_value(json_object_get(customer(f, c), "pin"));
}

static int64_t
login(struct fixture *f, size_t c)
{
	enum bank_auth r;
	int64_t id = 0;

	assert_int_equal(bank_authenticate(&r, &id, f->b, number_of(f, c, 0),
					   pin_of(f, c), 3, NULL),
			 0);
	assert_int_equal(r, BANK_AUTH_OK);
	return id;
}

static void
test_bank_migrate__applies_each_migration_once(void **state)
{
	struct fixture *f = *state;
	int applied = -1;

	assert_int_equal(bank_migrate(f->b, MIGRATIONS, &applied, NULL), 0);
	assert_int_equal(applied, 0);
	assert_int_equal(bank_ping(f->b, NULL), 0);
}

/* A migrations folder in the test's folder: 001 and one more file. */
static void
migrations_with(char *dir, size_t size, struct fixture *f, const char *name,
		const char *sql)
{
	char path[512];
	FILE *fp;

	snprintf(dir, size, "%s/db", f->dir);
	snprintf(path, sizeof(path), "mkdir -p '%s'", dir);
	assert_int_equal(system(path), 0);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(sql, fp);
	fclose(fp);
	snprintf(path, sizeof(path), "cp '%s/001_initial.sql' '%s/'",
		 MIGRATIONS, dir);
	assert_int_equal(system(path), 0);
}

static void
test_bank_migrate__rolls_back_a_broken_migration(void **state)
{
	struct fixture *f = *state;
	char dir[160], path[512], first[64];
	struct bank *m = NULL;
	int pending = 0;
	struct err e;

	migrations_with(dir, sizeof(dir), f, "002_broken.sql",
			"-- kind: expand\nCREATE TABLE extra (x INTEGER);\n"
			"CREAT TABLE oops;\n");
	assert_int_equal(connect_as(&m, "ivr_migrate", f->path, &e), 0);
	assert_int_equal(bank_migrate(m, dir, NULL, &e), ERR_PARSE);
	if (pg_dir == NULL)
		assert_string_equal(
			e.msg, "002_broken.sql: near \"CREAT\": syntax error");
	else
		assert_non_null(strstr(e.msg, "002_broken.sql: ERROR:  "
					      "syntax error at or near "
					      "\"CREAT\""));
	/* The half-applied migration left nothing behind. */
	assert_int_equal(bank_migrate(m, MIGRATIONS, NULL, &e), 0);
	assert_int_equal(bank_pending(&pending, NULL, first, sizeof(first),
				      f->b, dir, &e),
			 0);
	assert_int_equal(pending, 1);
	assert_string_equal(first, "002_broken.sql");
	snprintf(path, sizeof(path), "%s/absent", f->dir);
	assert_int_equal(bank_migrate(m, path, NULL, &e), ERR_IO);
	assert_non_null(strstr(e.msg, "cannot open migrations folder"));
	bank_close(m);
}

/*
 * PostgreSQL: the runtime's role reads and writes rows and cannot change
 * the schema; a release whose migration is not applied is seen pending.
 */
static void
test_bank_migrate__needs_the_migration_role(void **state)
{
	struct fixture *f = *state;
	char dir[160], first[64];
	int pending = 0;
	struct err e;

	if (pg_dir == NULL)
		skip(); /* SQLite: the runtime owns its file */
	migrations_with(dir, sizeof(dir), f, "002_extra.sql",
			"-- kind: expand\nCREATE TABLE extra (x integer);\n");
	assert_int_equal(bank_migrate(f->b, dir, NULL, &e), ERR_PARSE);
	assert_non_null(strstr(e.msg, "002_extra.sql: ERROR:  permission "
				      "denied for schema bank"));
	assert_int_equal(bank_pending(&pending, NULL, first, sizeof(first),
				      f->b, dir, &e),
			 0);
	assert_int_equal(pending, 1);
	assert_string_equal(first, "002_extra.sql");
	/* nor record one as applied: schema_migrations is read-only to it */
	assert_int_equal(bank_query(f->b, NULL, NULL, &e,
				    "INSERT INTO schema_migrations (version, "
				    "name) VALUES (2, '002_extra.sql')",
				    ""),
			 ERR_IO);
	assert_non_null(strstr(e.msg, "permission denied for table "
				      "schema_migrations"));
}

static int
int_of(void *ctx, int ncols, const char *const *v)
{
	*(int64_t *)ctx = ncols > 0 && v[0] ? strtoll(v[0], NULL, 10) : 0;
	return 0;
}

/* A third file beside migrations_with's two. */
static void
add_migration(const char *dir, const char *name, const char *sql)
{
	char path[512];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(sql, fp);
	fclose(fp);
}

/*
 * Expand and contract: the kinds apply apart, every pending migration of
 * a kind in one transaction (a broken one leaves none of them), each
 * recorded with its checksum and deployment; a runtime needs only the
 * expand ones.
 */
static void
test_bank_migrations__apply_by_kind_in_one_transaction(void **state)
{
	struct fixture *f = *state;
	struct bank_migrations s = { 0 };
	struct bank_migrate_opts o = { .expand = true,
				       .deployment_id = "d-test-1" };
	char dir[160], first[64], cmd[200];
	struct bank *m = NULL;
	int applied = -1, pending = -1;
	bool fresh = true;
	struct err e;

	migrations_with(dir, sizeof(dir), f, "002_nickname.sql",
			"-- Callers may name an account.\n-- kind: expand\n\n"
			"ALTER TABLE accounts ADD COLUMN nickname TEXT;\n");
	add_migration(dir, "003_no_created.sql",
		      "-- kind: contract\nCREATE TABLE gone (x INTEGER);\n");
	add_migration(dir, "004_broken.sql",
		      "-- kind: expand\nCREATE TABLE extra (x INTEGER);\n"
		      "CREAT TABLE oops;\n");
	assert_int_equal(connect_as(&m, "ivr_migrate", f->path, &e), 0);
	assert_int_equal(bank_migrations_load(&s, dir, &e), 0);
	assert_int_equal(s.n, 4);
	assert_int_equal(s.m[2].kind, BANK_CONTRACT);
	/* 004 breaks: 002 does not stay either */
	assert_int_equal(bank_migrations_apply(&s, m, &o, &applied, &e),
			 ERR_PARSE);
	assert_non_null(strstr(e.msg, "004_broken.sql: "));
	assert_int_equal(bank_pending(&pending, &fresh, first, sizeof(first),
				      f->b, dir, &e),
			 0);
	assert_false(fresh);
	assert_int_equal(pending, 2);
	assert_string_equal(first, "002_nickname.sql");
	/* without 004: 002 applied, the contract 003 waits */
	snprintf(cmd, sizeof(cmd), "%s/004_broken.sql", dir);
	assert_int_equal(unlink(cmd), 0);
	bank_migrations_free(&s);
	assert_int_equal(bank_migrations_load(&s, dir, &e), 0);
	assert_int_equal(bank_migrations_apply(&s, m, &o, &applied, &e), 0);
	assert_int_equal(applied, 1);
	assert_true(s.m[1].applied);
	assert_string_equal(s.m[1].deployment_id, "d-test-1");
	assert_int_equal(strlen(s.m[1].applied_at) >= 20, 1);
	assert_false(s.m[2].applied);
	assert_int_equal(bank_pending(&pending, NULL, first, sizeof(first),
				      f->b, dir, &e),
			 0);
	assert_int_equal(pending, 0); /* a runtime may start */
	/* the contract one, later, with its own deployment */
	o.expand = false;
	o.contract = true;
	o.deployment_id = "d-test-2";
	assert_int_equal(bank_migrations_apply(&s, m, &o, &applied, &e), 0);
	assert_int_equal(applied, 1);
	assert_true(s.m[2].applied);
	assert_string_equal(s.m[2].deployment_id, "d-test-2");
	assert_string_equal(s.m[1].deployment_id, "d-test-1");
	/* again: nothing left to do */
	assert_int_equal(bank_migrations_apply(&s, m, &o, &applied, &e), 0);
	assert_int_equal(applied, 0);
	bank_migrations_free(&s);
	bank_close(m);
}

/* An applied migration whose file changed is refused by name. */
static void
test_bank_migrations__refuse_a_changed_file(void **state)
{
	struct fixture *f = *state;
	struct bank_migrations s = { 0 };
	const struct bank_migrate_opts o = { .expand = true };
	char dir[160];
	struct bank *m = NULL;
	struct err e;

	migrations_with(dir, sizeof(dir), f, "002_extra.sql",
			"-- kind: expand\nCREATE TABLE extra (x INTEGER);\n");
	assert_int_equal(connect_as(&m, "ivr_migrate", f->path, &e), 0);
	assert_int_equal(bank_migrations_load(&s, dir, &e), 0);
	assert_int_equal(bank_migrations_apply(&s, m, &o, NULL, &e), 0);
	bank_migrations_free(&s);
	add_migration(dir, "002_extra.sql",
		      "-- kind: expand\nCREATE TABLE extra (y INTEGER);\n");
	assert_int_equal(bank_migrations_load(&s, dir, &e), 0);
	assert_int_equal(bank_migrations_check(&s, m, &e), ERR_BADSTATE);
	assert_non_null(
		strstr(e.msg, "002_extra.sql was applied with sha256 "));
	assert_non_null(strstr(e.msg, "an applied migration never changes"));
	assert_int_equal(bank_migrations_apply(&s, m, &o, NULL, &e),
			 ERR_BADSTATE);
	bank_migrations_free(&s);
	bank_close(m);
}

/*
 * PostgreSQL: a migration that cannot have its lock in time gives up
 * with ERR_BUSY after lock_timeout instead of queueing calls' queries
 * behind it; nothing is applied.
 */
static void
test_bank_migrations__give_up_on_a_held_lock(void **state)
{
	struct fixture *f = *state;
	struct bank_migrations s = { 0 };
	const struct bank_migrate_opts o = { .expand = true,
					     .lock_timeout_ms = 300 };
	char dir[160], conninfo[512];
	struct bank *m = NULL;
	struct timespec t0, t1;
	int64_t ms;
	struct err e;

	if (pg_dir == NULL)
		skip(); /* SQLite has no lock_timeout */
	migrations_with(dir, sizeof(dir), f, "002_extra.sql",
			"-- kind: expand\nCREATE TABLE extra (x integer);\n");
	assert_int_equal(
		bankfix_conninfo(conninfo, sizeof(conninfo), "ivr_migrate"), 0);
	/* another migrator holds the lock for 3 s */
	if ((f->proxy = fork()) == 0) {
		execlp("psql", "psql", "-qAt", "-d", conninfo, "-c",
		       "BEGIN; SELECT pg_advisory_xact_lock(7201207); "
		       "SELECT pg_sleep(3); COMMIT;",
		       (char *)NULL);
		_exit(127);
	}
	usleep(500 * 1000);
	assert_int_equal(connect_as(&m, "ivr_migrate", f->path, &e), 0);
	assert_int_equal(bank_migrations_load(&s, dir, &e), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(bank_migrations_apply(&s, m, &o, NULL, &e), ERR_BUSY);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 +
	     (t1.tv_nsec - t0.tv_nsec) / 1000000;
	printf("gave up after %lld ms: %s\n", (long long)ms, e.msg);
	assert_true(ms < 2000);
	assert_non_null(strstr(e.msg, "the migration lock: "));
	assert_false(s.m[1].applied);
	bank_migrations_free(&s);
	bank_close(m);
}

/*
 * PostgreSQL: an expand migration that cannot run in a transaction
 * ("-- transaction: none": CREATE INDEX CONCURRENTLY, which does not lock
 * the table against calls' writes) is applied on its own, between the
 * transactions of the others, in version order; each recorded.
 */
static void
test_bank_migrations__apply_a_concurrent_index_alone(void **state)
{
	struct fixture *f = *state;
	struct bank_migrations s = { 0 };
	const struct bank_migrate_opts o = { .expand = true,
					     .deployment_id = "d-idx" };
	char dir[160], sql[256];
	struct bank *m = NULL;
	int applied = 0;
	int64_t valid = 0;
	struct err e;

	if (pg_dir == NULL)
		skip(); /* SQLite has no CONCURRENTLY */
	migrations_with(dir, sizeof(dir), f, "002_nickname.sql",
			"-- kind: expand\nALTER TABLE accounts ADD COLUMN "
			"nickname text;\n");
	add_migration(
		dir, "003_nickname_index.sql",
		"-- kind: expand\n-- transaction: none\nCREATE INDEX "
		"CONCURRENTLY accounts_nickname ON accounts (nickname);\n");
	add_migration(dir, "004_note.sql",
		      "-- kind: expand\nALTER TABLE accounts ADD COLUMN note "
		      "text;\n");
	assert_int_equal(connect_as(&m, "ivr_migrate", f->path, &e), 0);
	assert_int_equal(bank_migrations_load(&s, dir, &e), 0);
	assert_true(s.m[2].no_transaction);
	assert_false(s.m[1].no_transaction);
	if (bank_migrations_apply(&s, m, &o, &applied, &e) < 0)
		fail_msg("apply: %s", e.msg);
	assert_int_equal(applied, 3);
	for (size_t i = 1; i < 4; i++) {
		assert_true(s.m[i].applied);
		assert_string_equal(s.m[i].deployment_id, "d-idx");
	}
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = "
		 "i.indexrelid WHERE c.relname = 'accounts_nickname' AND "
		 "i.indisvalid");
	assert_int_equal(bank_query(m, int_of, &valid, &e, sql, ""), 0);
	assert_int_equal(valid, 1);
	bank_migrations_free(&s);
	bank_close(m);
}

/* Files that are not migrations are refused by name, before any SQL. */
static void
test_bank_migrations__refuse_bad_files(void **state)
{
	struct bank_migrations s = { 0 };
	struct err e;

	(void)state;
	assert_int_equal(bank_migrations_add(&s, "002_x.sql",
					     "CREATE TABLE x (y INTEGER);\n",
					     27, &e),
			 ERR_PARSE);
	assert_string_equal(e.msg, "002_x.sql: no '-- kind: expand' or '-- "
				   "kind: contract' line before its SQL");
	assert_int_equal(bank_migrations_add(&s, "002_x.sql",
					     "-- kind: shrink\nSELECT 1;\n", 26,
					     &e),
			 ERR_PARSE);
	assert_int_equal(
		bank_migrations_add(&s, "2_x.sql", "-- kind: expand\n", 16, &e),
		ERR_PARSE);
	assert_non_null(strstr(e.msg, "'2_x.sql' is not a migration name"));
	assert_int_equal(bank_migrations_add(&s, "002_x.sql",
					     "-- kind: expand\n", 16, &e),
			 0);
	assert_int_equal(bank_migrations_add(&s, "002_y.sql",
					     "-- kind: expand\n", 16, &e),
			 ERR_PARSE);
	assert_string_equal(e.msg, "002_y.sql: version 002 is also 002_x.sql");
	assert_int_equal(bank_migrations_add(&s, "001_a.sql",
					     "--kind: contract\n", 17, &e),
			 0);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.m[0].version, 1); /* kept in version order */
	assert_int_equal(s.m[0].kind, BANK_CONTRACT);
	bank_migrations_free(&s);
}

static void
test_bank_seed__is_deterministic_and_refuses_a_seeded_database(void **state)
{
	struct fixture *f = *state;
	char path[160];
	struct bank *m = NULL;
	json_t *again = NULL;
	struct err e;

	snprintf(path, sizeof(path), "%s/other.db", f->dir);
	assert_int_equal(fresh_bank(&again, path, &e), 0);
	assert_true(json_equal(again, f->cred));
	json_decref(again);
	again = NULL;
	assert_int_equal(connect_as(&m, "ivr_migrate", path, &e), 0);
	assert_int_equal(bank_seed(&again, m, 3, 42, KDF, &e), ERR_EXISTS);
	assert_string_equal(e.msg, "the database already has 3 customers: "
				   "seed only a new database");
	bank_close(m);
	assert_true(json_array_size(
			    json_object_get(customer(f, 0), "accounts")) >= 2);
	assert_int_equal(strlen(pin_of(f, 0)), 4);
}

static void
test_bank_authenticate__locks_after_three_failures(void **state)
{
	struct fixture *f = *state;
	const char *number = number_of(f, 0, 0);
	enum bank_auth r;
	int64_t id = -1;

	assert_int_equal(
		bank_authenticate(&r, &id, f->b, number, "xxxx", 3, NULL), 0);
	assert_int_equal(r, BANK_AUTH_FAILED);
	/* A success resets the consecutive count. */
	login(f, 0);
	for (int i = 0; i < 2; i++) {
		bank_authenticate(&r, &id, f->b, number, "xxxx", 3, NULL);
		assert_int_equal(r, BANK_AUTH_FAILED);
	}
	bank_authenticate(&r, &id, f->b, number, "xxxx", 3, NULL);
	assert_int_equal(r, BANK_AUTH_LOCKED);
	/* Even the right PIN is refused now, with the locked answer. */
	bank_authenticate(&r, &id, f->b, number, pin_of(f, 0), 3, NULL);
	assert_int_equal(r, BANK_AUTH_LOCKED);
	assert_int_equal(id, -1);
	/* Another customer is not affected. */
	login(f, 1);
}

/*
 * The failure count is the database's, not a connection's: failures on
 * two connections (two hosts' runtimes) add up to the lockout, and the
 * other connection sees it.
 */
static void
test_bank_authenticate__counts_failures_across_connections(void **state)
{
	struct fixture *f = *state;
	const char *number = number_of(f, 0, 0);
	struct bank *other = NULL;
	enum bank_auth r;
	int64_t id = -1;

	assert_int_equal(connect_as(&other, "ivr_app", f->path, NULL), 0);
	bank_authenticate(&r, &id, f->b, number, "xxxx", 3, NULL);
	assert_int_equal(r, BANK_AUTH_FAILED);
	bank_authenticate(&r, &id, other, number, "xxxx", 3, NULL);
	assert_int_equal(r, BANK_AUTH_FAILED);
	bank_authenticate(&r, &id, f->b, number, "xxxx", 3, NULL);
	assert_int_equal(r, BANK_AUTH_LOCKED);
	bank_authenticate(&r, &id, other, number, pin_of(f, 0), 3, NULL);
	assert_int_equal(r, BANK_AUTH_LOCKED);
	bank_close(other);
}

static void
test_bank_authenticate__fails_an_unknown_number_the_same_way(void **state)
{
	struct fixture *f = *state;
	enum bank_auth r;
	int64_t id = -1;

	assert_int_equal(
		bank_authenticate(&r, &id, f->b, "00000000", "1234", 3, NULL),
		0);
	assert_int_equal(r, BANK_AUTH_FAILED);
	assert_int_equal(id, -1);
}

/* Milliseconds for one failed login of number. */
static double
failed_login_ms(struct fixture *f, const char *number)
{
	struct timespec a, b;
	enum bank_auth r;
	int64_t id = 0;

	clock_gettime(CLOCK_MONOTONIC, &a);
	assert_int_equal(
		bank_authenticate(&r, &id, f->b, number, "0000", 1000, NULL),
		0);
	clock_gettime(CLOCK_MONOTONIC, &b);
	assert_int_not_equal(r, BANK_AUTH_OK);
	return (double)(b.tv_sec - a.tv_sec) * 1e3 +
	       (double)(b.tv_nsec - a.tv_nsec) / 1e6;
}

static int
by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/*
 * An unknown number costs what a wrong PIN costs: the decoy check uses
 * the iteration count of the bank's own hashes.  With a fixed decoy of
 * 100,000 iterations against a bank seeded at 1,000, an unknown number
 * answered about 100 times slower: an oracle for which numbers exist.
 * Medians of 7; the bound is wide so that load does not matter.
 */
static void
test_bank_authenticate__costs_the_same_for_an_unknown_number(void **state)
{
	struct fixture *f = *state;
	double unknown[7], wrong[7], ratio;

	for (int i = 0; i < 7; i++) {
		unknown[i] = failed_login_ms(f, "00000000");
		wrong[i] = failed_login_ms(f, number_of(f, 1, 0));
	}
	qsort(unknown, 7, sizeof(double), by_value);
	qsort(wrong, 7, sizeof(double), by_value);
	ratio = unknown[3] / (wrong[3] > 0.001 ? wrong[3] : 0.001);
	printf("unknown number %.2f ms, wrong PIN %.2f ms (ratio %.2f)\n",
	       unknown[3], wrong[3], ratio);
	assert_true(ratio < 5.0 && ratio > 0.2);
}

/* PIN hashes are for the runtime's eyes only: 0600, -wal and -shm too. */
static void
test_bank_open__creates_the_database_for_its_owner_only(void **state)
{
	struct fixture *f = *state;
	const char *suffix[] = { "", "-wal", "-shm" };
	char p[160];
	struct stat st;

	if (pg_dir != NULL)
		skip(); /* the server keeps its files */
	for (size_t i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s%s", f->path, suffix[i]);
		assert_int_equal(stat(p, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0600);
	}
	/* A database left 0644 by an older release is tightened. */
	bank_close(f->b);
	f->b = NULL;
	assert_int_equal(chmod(f->path, 0644), 0);
	assert_int_equal(bank_open(&f->b, f->path, 5000, NULL), 0);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
}

static void
accounts_of(struct bank_account *a, size_t *n, struct fixture *f, int64_t cid)
{
	assert_int_equal(
		bank_accounts(a, BANK_ACCOUNTS_MAX, n, f->b, cid, NULL), 0);
	assert_true(*n >= 2);
}

static void
test_bank_transfer__moves_money_once_per_token(void **state)
{
	struct fixture *f = *state;
	int64_t cid = login(f, 0), count;
	struct bank_account a[BANK_ACCOUNTS_MAX], after[BANK_ACCOUNTS_MAX];
	struct bank_transfer_req req = { .token = "tok-1", .customer_id = cid };
	enum bank_transfer_result r;
	char conf[BANK_CONFIRMATION_LEN + 1], conf2[BANK_CONFIRMATION_LEN + 1];
	struct bank_txn t[5];
	bool replayed = true;
	size_t n;

	accounts_of(a, &n, f, cid);
	req.from_account_id = a[0].id;
	req.to_account_id = a[1].id;
	req.amount_cents = 1234;
	assert_int_equal(bank_transfer(&r, conf, &replayed, f->b, &req, NULL),
			 0);
	assert_int_equal(r, BANK_TRANSFER_OK);
	assert_false(replayed);
	assert_int_equal(strlen(conf), BANK_CONFIRMATION_LEN);
	assert_int_equal(bank_transfer(&r, conf2, &replayed, f->b, &req, NULL),
			 0);
	assert_int_equal(r, BANK_TRANSFER_OK);
	assert_true(replayed);
	assert_string_equal(conf, conf2);
	accounts_of(after, &n, f, cid);
	assert_int_equal(after[0].balance_cents, a[0].balance_cents - 1234);
	assert_int_equal(after[1].balance_cents, a[1].balance_cents + 1234);
	assert_int_equal(bank_transfer_count(&count, f->b, conf, NULL), 0);
	assert_int_equal(count, 1);
	assert_int_equal(bank_recent(t, 5, &n, f->b, cid, NULL), 0);
	assert_int_equal(t[0].amount_cents, 1234);
	assert_string_equal(t[0].description, "Transfer in");
	assert_string_equal(t[0].account_last4, a[1].number + 4);
	assert_int_equal(t[1].amount_cents, -1234);
	/* The same token for another transfer is refused. */
	req.amount_cents = 1;
	bank_transfer(&r, conf2, &replayed, f->b, &req, NULL);
	assert_int_equal(r, BANK_TRANSFER_TOKEN_REUSED);
}

static void
test_bank_transfer__refuses_what_it_must(void **state)
{
	struct fixture *f = *state;
	int64_t cid = login(f, 0), other = login(f, 1);
	struct bank_account a[BANK_ACCOUNTS_MAX], b[BANK_ACCOUNTS_MAX];
	struct bank_transfer_req req = { .token = "t", .customer_id = cid };
	enum bank_transfer_result r;
	char conf[BANK_CONFIRMATION_LEN + 1];
	struct bank_ledger l;
	bool replayed;
	size_t n, m;

	accounts_of(a, &n, f, cid);
	accounts_of(b, &m, f, other);
	req.from_account_id = a[0].id;
	req.to_account_id = a[1].id;
	req.amount_cents = a[0].balance_cents + 1;
	bank_transfer(&r, conf, &replayed, f->b, &req, NULL);
	assert_int_equal(r, BANK_TRANSFER_INSUFFICIENT);
	assert_string_equal(conf, "");
	req.amount_cents = 0;
	bank_transfer(&r, conf, &replayed, f->b, &req, NULL);
	assert_int_equal(r, BANK_TRANSFER_BAD_AMOUNT);
	req.amount_cents = 100;
	req.to_account_id = a[0].id;
	bank_transfer(&r, conf, &replayed, f->b, &req, NULL);
	assert_int_equal(r, BANK_TRANSFER_SAME_ACCOUNT);
	req.to_account_id = b[0].id;
	bank_transfer(&r, conf, &replayed, f->b, &req, NULL);
	assert_int_equal(r, BANK_TRANSFER_NOT_OWNED);
	/* Nothing moved: the ledger still balances to the seeded total. */
	assert_int_equal(bank_ledger(&l, f->b, NULL), 0);
	assert_int_equal(l.total_cents, l.seeded_total_cents);
	assert_int_equal(l.total_cents, json_integer_value(json_object_get(
						f->cred, "total_cents")));
	assert_int_equal(l.transfers, 0);
	assert_int_equal(l.unbalanced_accounts, 0);
}

static void
test_bank_open__reports_an_unusable_path(void **state)
{
	struct bank *b = NULL;
	struct err e;

	(void)state;
	if (pg_dir != NULL)
		skip();
	assert_int_equal(bank_open(&b, "/nonexistent/dir/bank.db", 100, &e),
			 ERR_IO);
	assert_string_equal(e.msg, "cannot open database "
				   "'/nonexistent/dir/bank.db': unable to "
				   "open database file");
	assert_null(b);
}

/* Starts tests/support/pg-cut-proxy.py on 127.0.62.3:port in front of the
 * sandbox's server; returns its pid once it listens. */
static pid_t
start_cut_proxy(int port, const char *arm)
{
	char ports[16], line[16] = "";
	int fds[2];
	pid_t pid;
	FILE *out;

	snprintf(ports, sizeof(ports), "%d", port);
	assert_int_equal(pipe(fds), 0);
	if ((pid = fork()) == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		execl("/usr/bin/python3", "python3",
		      IVR_SOURCE_DIR "/tests/support/pg-cut-proxy.py",
		      "127.0.62.3", ports, "127.0.62.3", "55463", arm,
		      (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	out = fdopen(fds[0], "r");
	assert_non_null(fgets(line, sizeof(line), out));
	fclose(out);
	assert_string_equal(line, "ready\n");
	return pid;
}

/*
 * PostgreSQL: the connection is lost after COMMIT reached the server and
 * before its answer came back, so the runtime cannot know whether the
 * transfer happened.  It reconnects and asks again with the same token:
 * the transfer is found, answered with its confirmation number, and is in
 * the books once.  (Before, the caller got an error and a transfer it
 * could not see.)
 */
static void
test_bank_transfer__settles_a_commit_whose_answer_was_lost(void **state)
{
	struct fixture *f = *state;
	char ci[1024], pass[160], arm[160], line[256], conf[16];
	struct bank_account a[BANK_ACCOUNTS_MAX], after[BANK_ACCOUNTS_MAX];
	struct bank_config bc = { .backend = BANK_POSTGRESQL,
				  .statement_timeout_ms = 5000,
				  .connect_timeout_ms = 2000 };
	struct bank_transfer_req req = { .token = "lost-commit" };
	enum bank_transfer_result r;
	struct bank_ledger l;
	struct bank *b = NULL;
	bool replayed = true;
	int64_t count;
	FILE *in, *out;
	size_t n;

	if (pg_dir == NULL)
		skip(); /* SQLite has no connection to lose */
	/* the role's password file, for the proxy's port */
	snprintf(pass, sizeof(pass), "%s/app.pgpass", f->dir);
	snprintf(line, sizeof(line), "%s/ivr_app.pgpass", pg_dir);
	in = fopen(line, "r");
	assert_non_null(in);
	assert_non_null(fgets(line, sizeof(line), in));
	fclose(in);
	out = fopen(pass, "w");
	assert_non_null(out);
	fprintf(out, "127.0.62.3:55464:%s",
		strchr(strchr(line, ':') + 1, ':') + 1);
	fclose(out);
	assert_int_equal(chmod(pass, 0600), 0);
	snprintf(ci, sizeof(ci),
		 "host=127.0.62.3 port=55464 dbname=bank user=ivr_app "
		 "passfile=%s",
		 pass);
	bc.conninfo = ci;
	snprintf(arm, sizeof(arm), "%s/arm", f->dir);
	f->proxy = start_cut_proxy(55464, arm);
	assert_int_equal(bank_connect(&b, &bc, NULL), 0);
	req.customer_id = login(f, 0);
	accounts_of(a, &n, f, req.customer_id);
	req.from_account_id = a[0].id;
	req.to_account_id = a[1].id;
	req.amount_cents = 777;
	out = fopen(arm, "w");
	fclose(out);
	assert_int_equal(bank_transfer(&r, conf, &replayed, b, &req, NULL), 0);
	assert_int_not_equal(access(arm, F_OK), 0); /* the cut happened */
	assert_int_equal(r, BANK_TRANSFER_OK);
	assert_false(replayed); /* the first answer this caller gets */
	assert_int_equal(bank_transfer_count(&count, f->b, conf, NULL), 0);
	assert_int_equal(count, 1);
	accounts_of(after, &n, f, req.customer_id);
	assert_int_equal(after[0].balance_cents, a[0].balance_cents - 777);
	assert_int_equal(after[1].balance_cents, a[1].balance_cents + 777);
	assert_int_equal(bank_ledger(&l, f->b, NULL), 0);
	assert_int_equal(l.transfers, 1);
	assert_int_equal(l.total_cents, l.seeded_total_cents);
	bank_close(b);
}

/*
 * PostgreSQL: a connection that sat idle while the server restarted (a
 * pooled one, between calls) is found closed by the next statement, which
 * runs on a new connection instead of failing a caller's step.
 */
static void
test_bank_connect__comes_back_after_a_server_restart(void **state)
{
	struct fixture *f = *state;
	struct bank_account a[BANK_ACCOUNTS_MAX];
	char cmd[512];
	struct err e;
	int64_t cid;
	size_t n;

	if (pg_dir == NULL)
		skip(); /* SQLite has no server */
	cid = login(f, 0);
	snprintf(cmd, sizeof(cmd),
		 "%s/scripts/pg-sandbox.sh down '%s' && "
		 "%s/scripts/pg-sandbox.sh start '%s' >/dev/null",
		 IVR_SOURCE_DIR, pg_dir, IVR_SOURCE_DIR, pg_dir);
	assert_int_equal(system(cmd), 0);
	if (bank_accounts(a, BANK_ACCOUNTS_MAX, &n, f->b, cid, &e) < 0)
		fail_msg("after the restart: %s", e.msg);
	assert_true(n >= 2);
}

/* PostgreSQL: a server that is not there fails within the connect
 * timeout, with its reason. */
static void
test_bank_connect__gives_up_in_time(void **state)
{
	const struct bank_config bc = {
		.backend = BANK_POSTGRESQL,
		.conninfo = "host=127.0.62.9 port=9 dbname=bank user=nobody",
		.connect_timeout_ms = 500,
	};
	struct bank *b = NULL;
	struct err e;

	(void)state;
	assert_int_equal(bank_connect(&b, &bc, &e), ERR_IO);
	assert_non_null(strstr(e.msg, "cannot connect to the database: "));
	assert_non_null(strstr(e.msg, "Connection refused"));
	assert_null(b);
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_bank_migrate__applies_each_migration_once),
		T(test_bank_migrate__rolls_back_a_broken_migration),
		T(test_bank_migrate__needs_the_migration_role),
		T(test_bank_migrations__apply_by_kind_in_one_transaction),
		T(test_bank_migrations__refuse_a_changed_file),
		T(test_bank_migrations__give_up_on_a_held_lock),
		T(test_bank_migrations__apply_a_concurrent_index_alone),
		cmocka_unit_test(test_bank_migrations__refuse_bad_files),
		T(test_bank_seed__is_deterministic_and_refuses_a_seeded_database),
		T(test_bank_authenticate__locks_after_three_failures),
		T(test_bank_authenticate__counts_failures_across_connections),
		T(test_bank_authenticate__fails_an_unknown_number_the_same_way),
		T(test_bank_authenticate__costs_the_same_for_an_unknown_number),
		T(test_bank_open__creates_the_database_for_its_owner_only),
		T(test_bank_transfer__moves_money_once_per_token),
		T(test_bank_transfer__refuses_what_it_must),
		T(test_bank_transfer__settles_a_commit_whose_answer_was_lost),
		cmocka_unit_test(test_bank_open__reports_an_unusable_path),
		T(test_bank_connect__comes_back_after_a_server_restart),
		cmocka_unit_test(test_bank_connect__gives_up_in_time),
	};

	pg_dir = bankfix_pg_dir();
	MIGRATIONS = bankfix_migrations();
	printf("backend: %s\n", pg_dir ? "postgresql" : "sqlite");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
