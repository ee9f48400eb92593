/*
 * bankfix: see bankfix.h.
 */
#include "bankfix.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *
bankfix_pg_dir(void)
{
	const char *d = getenv("IVR_TEST_PG_DIR");

	return d != NULL && d[0] != '\0' ? d : NULL;
}

const char *
bankfix_migrations(void)
{
	return bankfix_pg_dir() ? BANKFIX_PG_MIGRATIONS
				: BANKFIX_SQLITE_MIGRATIONS;
}

int
bankfix_conninfo(char *out, size_t size, const char *role)
{
	char path[512];
	FILE *fp;
	int rc = -1;

	snprintf(path, sizeof(path), "%s/%s.conninfo", bankfix_pg_dir(), role);
	if ((fp = fopen(path, "r")) == NULL)
		return -1;
	if (fgets(out, (int)size, fp) != NULL) {
		out[strcspn(out, "\n")] = '\0';
		rc = 0;
	}
	fclose(fp);
	return rc;
}

int
bankfix_reset(void)
{
	static const char *const sql =
		"SET client_min_messages = warning; "
		"DROP TABLE IF EXISTS transactions, transfers, lockouts, "
		"accounts, customers, bank_meta, extra, schema_migrations "
		"CASCADE";
	char ci[1024];
	PGresult *r;
	PGconn *c;
	int ok;

	if (bankfix_conninfo(ci, sizeof(ci), "ivr_migrate") < 0)
		return -1;
	c = PQconnectdb(ci);
	r = PQexec(c, sql);
	ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	if (!ok)
		fprintf(stderr, "reset: %s", PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
	return ok ? 0 : -1;
}

int
bankfix_connect(struct bank **b, const char *role, const char *path,
		struct err *err)
{
	struct bank_config bc = {
		.backend = bankfix_pg_dir() ? BANK_POSTGRESQL : BANK_SQLITE,
		.path = path,
		.busy_ms = 5000,
		.statement_timeout_ms = 5000,
		.connect_timeout_ms = 2000,
	};
	char ci[1024];

	if (bankfix_pg_dir() != NULL) {
		if (bankfix_conninfo(ci, sizeof(ci), role) < 0)
			return err_set(err, ERR_IO, "no conninfo for %s", role);
		bc.conninfo = ci;
	}
	return bank_connect(b, &bc, err);
}

int
bankfix_fresh(json_t **cred, const char *path, int customers, uint64_t seed,
	      int kdf_iterations, struct err *err)
{
	struct bank *m = NULL;
	int rc;

	if (bankfix_pg_dir() != NULL && bankfix_reset() < 0)
		return err_set(err, ERR_IO, "cannot empty the schema");
	if ((rc = bankfix_connect(&m, "ivr_migrate", path, err)) == 0 &&
	    (rc = bank_migrate(m, bankfix_migrations(), NULL, err)) == 0)
		rc = bank_seed(cred, m, customers, seed, kdf_iterations, err);
	bank_close(m);
	return rc;
}
