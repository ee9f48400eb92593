/*
 * ivr-ledger: checks the bank's books after a run of callers.
 *
 *   ivr-ledger --db bank.db [--acks FILE]
 *   ivr-ledger --conninfo 'host=... dbname=bank user=... passfile=...'
 *              [--acks FILE]
 *
 * Reads the database, SQLite or PostgreSQL (never writes it) and reports: the
 * total of all balances against the total recorded when the data was seeded;
 * accounts whose balance is not the sum of their transactions; the transfers
 * recorded; and, with --acks (one confirmation number per line, as
 * ivr-callers writes them), how many acknowledged transfers are in the
 * books exactly once, and which are missing.  Exit 0 when money is
 * conserved, every account balances and every acknowledged transfer is
 * there once; 1 when not; 2 on bad input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bank.h"
#include "err.h"

static int
usage(void)
{
	fputs("usage: ivr-ledger (--db FILE | --conninfo 'K=V ...') "
	      "[--acks FILE]\n",
	      stderr);
	return 2;
}

int
main(int argc, char **argv)
{
	const char *db = NULL, *acks = NULL, *conninfo = NULL;
	struct bank_config bc = { .backend = BANK_SQLITE, .busy_ms = 5000 };
	struct bank_ledger l;
	struct bank *b = NULL;
	char line[64];
	long acked = 0, found = 0, missing = 0, lineno = 0;
	struct err e;
	FILE *f = NULL;
	bool ok;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--db") == 0)
			db = argv[i + 1];
		else if (strcmp(argv[i], "--conninfo") == 0)
			conninfo = argv[i + 1];
		else if (strcmp(argv[i], "--acks") == 0)
			acks = argv[i + 1];
		else
			return usage();
	}
	if ((db == NULL) == (conninfo == NULL) || argc % 2 == 0)
		return usage();
	bc.path = db;
	if (conninfo != NULL) {
		bc.backend = BANK_POSTGRESQL;
		bc.conninfo = conninfo;
		bc.connect_timeout_ms = 5000;
		bc.statement_timeout_ms = 60000;
	}
	/* SQLite would create a missing database: check first. */
	if (db != NULL && access(db, R_OK) != 0) {
		fprintf(stderr, "ivr-ledger: no database at '%s'\n", db);
		return 2;
	}
	if (acks != NULL && (f = fopen(acks, "r")) == NULL) {
		fprintf(stderr, "ivr-ledger: cannot read '%s'\n", acks);
		return 2;
	}
	if (bank_connect(&b, &bc, &e) < 0 || bank_ledger(&l, b, &e) < 0) {
		fprintf(stderr, "ivr-ledger: %s\n", e.msg);
		bank_close(b);
		if (f != NULL)
			fclose(f);
		return 2;
	}
	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		int64_t n = 0;

		lineno++;
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '\0')
			continue;
		if (strlen(line) != BANK_CONFIRMATION_LEN ||
		    strspn(line, "0123456789") != BANK_CONFIRMATION_LEN) {
			fprintf(stderr,
				"%s:%ld:1: '%s' is not a confirmation number\n",
				acks, lineno, line);
			fclose(f);
			bank_close(b);
			return 2;
		}
		acked++;
		if (bank_transfer_count(&n, b, line, &e) < 0) {
			fprintf(stderr, "ivr-ledger: %s\n", e.msg);
			fclose(f);
			bank_close(b);
			return 2;
		}
		if (n == 1) {
			found++;
		} else {
			missing++;
			printf("  acknowledged transfer %s: %s\n", line,
			       n == 0 ? "NOT in the books" : "more than once");
		}
	}
	if (f != NULL)
		fclose(f);
	bank_close(b);

	ok = l.seeded_total_cents >= 0 &&
	     l.total_cents == l.seeded_total_cents &&
	     l.unbalanced_accounts == 0 && missing == 0;
	printf("ledger: total %lld cents, seeded %lld cents: %s\n",
	       (long long)l.total_cents, (long long)l.seeded_total_cents,
	       l.seeded_total_cents < 0		       ? "NOT SEEDED"
	       : l.total_cents == l.seeded_total_cents ? "money conserved"
						       : "MONEY CHANGED");
	printf("accounts whose balance is not the sum of their transactions: "
	       "%lld\n",
	       (long long)l.unbalanced_accounts);
	printf("transfers in the books: %lld\n", (long long)l.transfers);
	if (acks != NULL)
		printf("acknowledged transfers: %ld, in the books exactly "
		       "once: "
		       "%ld, missing: %ld\n",
		       acked, found, missing);
	printf("ledger check: %s\n", ok ? "OK" : "FAILED");
	return ok ? 0 : 1;
}
