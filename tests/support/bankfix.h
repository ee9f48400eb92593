/*
 * bankfix: a bank for tests, on SQLite or on the PostgreSQL cluster of
 * scripts/pg-sandbox.sh that IVR_TEST_PG_DIR names.  Test code only.
 */
#ifndef IVR_TESTS_BANKFIX_H
#define IVR_TESTS_BANKFIX_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "bank.h"

#define BANKFIX_SQLITE_MIGRATIONS IVR_SOURCE_DIR "/ivr-runtime/share/db"
#define BANKFIX_PG_MIGRATIONS	  IVR_SOURCE_DIR "/ivr-runtime/share/db/postgresql"

/* The sandbox folder from IVR_TEST_PG_DIR, or NULL (SQLite). */
const char *bankfix_pg_dir(void);

/* The migrations folder of the backend under test. */
const char *bankfix_migrations(void);

/* A role's conninfo from the sandbox (DIR/<role>.conninfo); 0 or -1. */
int bankfix_conninfo(char *out, size_t size, const char *role);

/* PostgreSQL: drops the bank's tables, as the migration role; 0 or -1. */
int bankfix_reset(void);

/*
 * A connection as role ("ivr_migrate" or "ivr_app") on PostgreSQL, or to
 * the SQLite file at path.
 */
int bankfix_connect(struct bank **b, const char *role, const char *path,
		    struct err *err);

/*
 * An empty bank, migrated and seeded with customers from seed as the
 * migration role (PostgreSQL: the schema is emptied first).
 */
int bankfix_fresh(json_t **cred, const char *path, int customers, uint64_t seed,
		  int kdf_iterations, struct err *err);

#endif
