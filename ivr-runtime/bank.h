/*
 * bank: the bank's data, in SQLite (one host) or PostgreSQL (a fleet
 * sharing one database server); the only module that speaks SQL.
 *
 * One struct bank is one database connection, used by one thread at a
 * time; struct bank_pool lends connections to threads.  Every query is a
 * prepared statement with bound parameters.  Money is integer cents.  A
 * transfer is one transaction keyed by a one-time token under a unique
 * constraint, so replaying it returns the first confirmation and moves no
 * money; the two accounts' rows are locked in id order, so opposite
 * transfers never deadlock, and a conflict the database reports is retried
 * here; balances never go negative; the sum of all balances never changes,
 * whatever runs concurrently in this or another process or host.
 */
#ifndef IVR_RUNTIME_BANK_H
#define IVR_RUNTIME_BANK_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

#define BANK_ACCOUNTS_MAX     8 /* per customer */
#define BANK_NUMBER_LEN	      8 /* digits in an account number */
#define BANK_CONFIRMATION_LEN 8

struct bank;

enum bank_backend_kind {
	BANK_SQLITE,
	BANK_POSTGRESQL,
};

struct bank_config {
	enum bank_backend_kind backend;
	const char *path; /* SQLite: the database file */
	int busy_ms;	  /* SQLite: how long a write waits for another */
	/* PostgreSQL: libpq's "key=value ..." (host, port, dbname, user,
	 * passfile, sslmode, ...) */
	const char *conninfo;
	int statement_timeout_ms; /* PostgreSQL: per statement, server-side */
	int connect_timeout_ms;	  /* PostgreSQL: connecting, and pings */
	/* A database only read (a legacy import's source): SQLite opens the
	 * file read-only and changes nothing about it; PostgreSQL's
	 * transactions are read-only. */
	bool read_only;
};

/* What libpq's own parser finds in a conninfo ("key=value ..."). */
enum bank_conninfo_fault {
	BANK_CONNINFO_OK,
	BANK_CONNINFO_BAD,	/* it does not parse: why says how */
	BANK_CONNINFO_PASSWORD, /* it carries a password */
	BANK_CONNINFO_PASSFILE, /* it names a password file */
};
enum bank_conninfo_fault bank_conninfo_check(const char *text, char *why,
					     size_t size);

/* Appends key='value' to the conninfo in ci, quoted as libpq reads it. */
void bank_conninfo_add(struct buf *ci, const char *key, const char *value);

/*
 * Connects to the database cfg names.  SQLite: opens (creating if needed)
 * the file: WAL journal, busy timeout, foreign keys on, full sync.
 * PostgreSQL: connects within connect_timeout_ms and sets the statement
 * timeout; a connection that breaks later is made again by the next query.
 * Returns 0 with *out set (free with bank_close), ERR_IO or ERR_TIMEOUT.
 */
int bank_connect(struct bank **out, const struct bank_config *cfg,
		 struct err *err);

/* bank_connect for the SQLite file at path. */
int bank_open(struct bank **out, const char *path, int busy_ms,
	      struct err *err);

/* Closes the connection; NULL is a no-op. */
void bank_close(struct bank *b);

/* "sqlite" or "postgresql". */
const char *bank_backend_name(enum bank_backend_kind kind);

/*
 * Connections for a server's threads: at most size, made when first
 * needed.  bank_pool_get waits up to wait_ms for one to be free (ERR_BUSY
 * after that), or makes one (its error); give it back with bank_pool_put.
 */
struct bank_pool;
int bank_pool_new(struct bank_pool **out, const struct bank_config *cfg,
		  int size, struct err *err);
int bank_pool_get(struct bank **out, struct bank_pool *p, int64_t wait_ms,
		  struct err *err);
void bank_pool_put(struct bank_pool *p, struct bank *b);
void bank_pool_free(struct bank_pool *p);

/*
 * Migrations: NNN_name.sql files (share/db/ for SQLite, share/db/postgresql/
 * for PostgreSQL), each with a "-- kind: expand" or "-- kind: contract"
 * line among its first comment lines.  expand is additive (the release
 * before it runs on the result); contract removes or tightens, and runs
 * only once every host runs the release that brought it.  schema_migrations
 * records version, name, kind, checksum (sha256 of the file), when, and
 * the deployment that applied it.  docs/database.md.
 */
enum bank_migration_kind {
	BANK_EXPAND,
	BANK_CONTRACT,
};

#define BANK_MIGRATIONS_MAX	 256
#define BANK_MIGRATION_MAX_BYTES (1024 * 1024)
#define BANK_MIGRATION_NAME_MAX	 96
#define BANK_DEPLOYMENT_ID_MAX	 64

struct bank_migration {
	int version;
	char name[BANK_MIGRATION_NAME_MAX];
	enum bank_migration_kind kind;
	/* "-- transaction: none": one statement that cannot run in a
	 * transaction (CREATE INDEX CONCURRENTLY), applied on its own */
	bool no_transaction;
	char sha256[65];
	char *sql;
	/* From schema_migrations (bank_migrations_check): */
	bool applied;
	char applied_at[40];
	char deployment_id[BANK_DEPLOYMENT_ID_MAX];
};

/* A release's migrations, in version order. */
struct bank_migrations {
	struct bank_migration *m;
	size_t n;
	/* Applied versions that are not in this set (a later release's). */
	int unknown_applied;
};

/* "expand" or "contract". */
const char *bank_migration_kind_name(enum bank_migration_kind k);

/*
 * Adds the migration called name (NNN_name.sql) with text (len bytes):
 * its version, kind and sha256.  Returns 0; ERR_PARSE "002_x.sql: ..." (a
 * name that is not NNN_name.sql, no kind line, a version already there)
 * or ERR_NOMEM.
 */
int bank_migrations_add(struct bank_migrations *s, const char *name,
			const char *text, size_t len, struct err *err);

/* Reads every NNN_name.sql file of dir into s.  0, ERR_IO or ERR_PARSE. */
int bank_migrations_load(struct bank_migrations *s, const char *dir,
			 struct err *err);

void bank_migrations_free(struct bank_migrations *s);

/*
 * Marks the migrations of s that schema_migrations lists as applied (with
 * when and by which deployment), and counts the applied ones s does not
 * know.  One applied with another checksum is refused: ERR_BADSTATE
 * "002_x.sql was applied with sha256 1a2b... but the release's file hashes
 * to 3c4d...: an applied migration never changes; add a new one".  A
 * database without schema_migrations has nothing applied.  As the
 * migration role (it brings schema_migrations' columns up to date).
 */
int bank_migrations_check(struct bank_migrations *s, struct bank *b,
			  struct err *err);

/*
 * Appends schema_migrations' rows to out (a JSON array), in version order:
 * {version, name, kind, checksum, applied_at, deployment_id}.  0, or the
 * query's error (a database without the table appends nothing).
 */
int bank_migrations_list(json_t *out, struct bank *b, struct err *err);

/* bank_migrations_check without changing anything (a dry run): a table
 * without the checksum column is read for its versions only. */
int bank_migrations_read(struct bank_migrations *s, struct bank *b,
			 struct err *err);

struct bank_migrate_opts {
	bool expand, contract;	   /* the kinds to apply */
	const char *deployment_id; /* recorded with each; NULL: none */
	int lock_timeout_ms;	   /* PostgreSQL; 0: the server's */
};

/*
 * Applies the pending migrations of the chosen kinds, in version order,
 * under the migration lock (two migrators apply each once), after checking
 * s again once it is held: in one transaction, except that a
 * "transaction: none" migration runs on its own between the transactions
 * of those before and after it.  Each is recorded.  The statement timeout
 * is the connection's.  *applied (may be NULL) gets how many ran.  Returns
 * 0; ERR_PARSE "002_x.sql: ..." (its SQL failed; nothing of its
 * transaction stays); ERR_BADSTATE (a checksum, above); ERR_TIMEOUT or
 * ERR_BUSY (a lock not had in time) or ERR_IO.
 */
int bank_migrations_apply(struct bank_migrations *s, struct bank *b,
			  const struct bank_migrate_opts *o, int *applied,
			  struct err *err);

/*
 * A new bank: applies every migration of dir (both kinds), recording no
 * deployment.  For seeding and tests, and for a new SQLite file.
 */
int bank_migrate(struct bank *b, const char *dir, int *applied,
		 struct err *err);

/*
 * What a runtime checks at start without the right to change the schema:
 * the expand migrations of dir that schema_migrations does not list, their
 * count in *pending and the first one's name in first (may be NULL); a
 * database without schema_migrations sets *fresh (may be NULL) and counts
 * every expand migration.  Returns 0, ERR_IO, ERR_PARSE or ERR_NOMEM.
 */
int bank_pending(int *pending, bool *fresh, char *first, size_t size,
		 struct bank *b, const char *dir, struct err *err);

/* Each table of the bank's schema and its row count: a new JSON object
 * in *out ({"accounts": 120, ...}).  0, or the query's error. */
int bank_table_counts(json_t **out, struct bank *b, struct err *err);

/*
 * PostgreSQL: opens a read-only repeatable-read transaction and exports
 * its snapshot's name into snapshot (for pg_dump --snapshot: the dump and
 * bank_table_counts then see the same rows); bank_snapshot_end ends it.
 */
int bank_snapshot_begin(char *snapshot, size_t size, struct bank *b,
			struct err *err);
void bank_snapshot_end(struct bank *b);

/*
 * SQLite: copies b's database into the new file dest with the online
 * backup API, in steps that a writer may hold up to timeout_ms in all.
 * 0, ERR_IO or ERR_TIMEOUT.
 */
int bank_sqlite_backup(struct bank *b, const char *dest, int64_t timeout_ms,
		       struct err *err);

/* Called with each row; a negative return stops the query with it. */
typedef int (*db_row_fn)(void *ctx, int ncols, const char *const *v);

/*
 * SQL built at run time (ivrctl's legacy import, whose table and column
 * names come from the plan, checked and quoted by the caller): sql with
 * $1.. parameters typed by types ('i' int64_t, 't' const char *), rows to
 * fn (may be NULL); prepared for this call only.  As bank_q.
 */
int bank_query(struct bank *b, db_row_fn fn, void *ctx, struct err *err,
	       const char *sql, const char *types, ...);

/* Statements without parameters, one after another (a script).  0 or
 * ERR_PARSE "name: message". */
int bank_exec(struct bank *b, const char *name, const char *sql,
	      struct err *err);

/* Starts the backend's write transaction; ends one (a COMMIT that fails
 * is rolled back); undoes one if open. */
int bank_begin(struct bank *b, struct err *err);
int bank_commit(struct bank *b, struct err *err);
void bank_rollback(struct bank *b);

/* Runs a trivial query: 0 when the database answers, else ERR_IO. */
int bank_ping(struct bank *b, struct err *err);

enum bank_auth {
	BANK_AUTH_OK,
	BANK_AUTH_FAILED, /* wrong account number or PIN: never says which */
	BANK_AUTH_LOCKED, /* too many consecutive failures on this account */
};

/*
 * Checks account number and PIN.  Failures are counted per account number
 * across calls; the max_failures-th consecutive failure locks it (and that
 * attempt already answers BANK_AUTH_LOCKED); a success resets the count.
 * An unknown number costs the same work as a wrong PIN.  Sets *result and,
 * for BANK_AUTH_OK, *customer_id.  Returns 0 or ERR_IO.
 */
int bank_authenticate(enum bank_auth *result, int64_t *customer_id,
		      struct bank *b, const char *number, const char *pin,
		      int max_failures, struct err *err);

struct bank_account {
	int64_t id;
	char number[BANK_NUMBER_LEN + 1];
	char kind[16];
	int64_t balance_cents;
};

/*
 * The customer's accounts (at most max, oldest first) into out, count in
 * *n.  Returns 0 or ERR_IO.
 */
int bank_accounts(struct bank_account *out, size_t max, size_t *n,
		  struct bank *b, int64_t customer_id, struct err *err);

struct bank_txn {
	int64_t amount_cents; /* signed: negative leaves the account */
	int64_t balance_after_cents;
	char description[64];
	char created_at[32];
	char account_last4[5];
};

/*
 * The customer's most recent transactions over all accounts, newest first,
 * at most max, count in *n.  Returns 0 or ERR_IO.
 */
int bank_recent(struct bank_txn *out, size_t max, size_t *n, struct bank *b,
		int64_t customer_id, struct err *err);

enum bank_transfer_result {
	BANK_TRANSFER_OK,
	BANK_TRANSFER_INSUFFICIENT, /* not enough money in the source */
	BANK_TRANSFER_SAME_ACCOUNT, /* from and to are one account */
	BANK_TRANSFER_NOT_OWNED,    /* an account is not the customer's */
	BANK_TRANSFER_BAD_AMOUNT,   /* zero, negative or absurd */
	BANK_TRANSFER_TOKEN_REUSED, /* token already used for another one */
};

struct bank_transfer_req {
	const char *token; /* one-time, from the confirm step */
	int64_t customer_id;
	int64_t from_account_id;
	int64_t to_account_id;
	int64_t amount_cents;
};

/*
 * Moves money between two of the customer's accounts in one transaction.
 * For BANK_TRANSFER_OK, confirmation receives the confirmation number and
 * *replayed says whether this token had already been carried out (then
 * nothing moved now).  Returns 0 (see *result) or ERR_IO.
 */
int bank_transfer(enum bank_transfer_result *result,
		  char confirmation[BANK_CONFIRMATION_LEN + 1], bool *replayed,
		  struct bank *b, const struct bank_transfer_req *req,
		  struct err *err);

/*
 * Creates `customers` deterministic demo customers from `seed` (two or
 * three accounts each, distinct last four digits per customer, opening
 * balances recorded as transactions), PINs hashed with kdf_iterations of
 * PBKDF2, and records the seeded total in bank_meta.  Refuses a database
 * that already has customers (ERR_EXISTS).  *credentials receives a new
 * JSON object {"seed", "total_cents", "customers": [{"name", "pin",
 * "accounts": [{"number", "kind", "balance_cents"}]}]}: test data only.
 * Returns 0, ERR_EXISTS, ERR_RANGE or ERR_IO.
 */
int bank_seed(json_t **credentials, struct bank *b, int customers,
	      uint64_t seed, int kdf_iterations, struct err *err);

struct bank_ledger {
	int64_t total_cents;	     /* sum of all balances now */
	int64_t seeded_total_cents;  /* from bank_meta; -1 if not seeded */
	int64_t transfers;	     /* rows in transfers */
	int64_t unbalanced_accounts; /* balance != sum of its transactions */
};

/* Reads the figures a ledger check compares.  Returns 0 or ERR_IO. */
int bank_ledger(struct bank_ledger *out, struct bank *b, struct err *err);

/*
 * Whether a transfer with this confirmation number exists, and how many
 * times (0 or 1: the column is unique).  Returns 0 or ERR_IO.
 */
int bank_transfer_count(int64_t *count, struct bank *b,
			const char *confirmation, struct err *err);

#endif
