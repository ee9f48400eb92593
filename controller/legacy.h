/*
 * legacy: the old IVR system's data into the bank (`ivrctl db migrate`),
 * as the bank's deployment guide describes it: customers, accounts and
 * transaction history from the old tables
 *
 *   accounts(account_id, account_number, balance, customer_id)
 *   transactions(transaction_id, account_id, amount, date, description)
 *
 * (names mapped by the plan's database.legacy), from a SQLite file or a
 * PostgreSQL database opened read-only, into the plan's PostgreSQL bank.
 *
 * 1. Copy: each table into the staging schema legacy_import, as it is, in
 *    batches ordered by id; each batch and how far the copy got commit
 *    together, so a killed run resumes where it stopped and nothing is
 *    copied twice.
 * 2. Transform (one transaction): customers (one per old customer_id),
 *    accounts (money in cents), transactions with running balances, and an
 *    "Opening balance" where an account's history does not add up to its
 *    balance, so that the bank's ledger check holds.
 * 3. Checks, nothing live touched: record counts on the source, the copy
 *    and the staged tables; EXCEPT both ways on (account_number, balance)
 *    and on the transactions; the sum of balances; duplicate and orphan
 *    keys; required fields that are missing.  Each names its first
 *    differing rows.
 * 4. Swap, only when every check passed: the live tables' rows replaced
 *    by the staged ones in one transaction.
 */
#ifndef IVR_CONTROLLER_LEGACY_H
#define IVR_CONTROLLER_LEGACY_H

#include <jansson.h>
#include <stdbool.h>

#include "bank.h"
#include "err.h"
#include "plan.h"

/* Progress lines for the operator. */
struct legacy_say {
	void (*say)(void *ctx, const char *line);
	void *ctx;
};

/*
 * Opens the source: a libpq conninfo when it holds '=' (a password in it
 * is refused: give passfile=), else an existing SQLite file; read-only.
 */
int legacy_open_source(struct bank **out, const char *source, struct err *err);

/*
 * Where the staging schema stands for source: *done_by gets the run that
 * already swapped it in ("" when none).  A staging schema holding another
 * source's import is refused (ERR_BADSTATE) unless restart, which empties
 * it first.
 */
int legacy_prepare(char *done_by, size_t size, struct bank *target,
		   const char *source, bool restart, struct err *err);

/*
 * Copies, transforms and checks (steps 1-3).  *report gets a new object:
 * {"passed": bool, "checks": [{"name", "passed", "detail", "rows"}],
 * "counts": {...}}.  Returns 0 when the checks ran (whatever they found),
 * else the error that stopped the copy or the transform.
 */
int legacy_stage(json_t **report, const struct plan *p, struct bank *target,
		 struct bank *source, const struct legacy_say *say,
		 struct err *err);

/* legacy_check.c: the checks of step 3, into a new report. */
int legacy_checks(json_t **report, const struct plan *p, struct bank *target,
		  struct bank *source, struct err *err);

/* The number of live accounts (the swap replaces them). */
int legacy_live_accounts(int64_t *n, struct bank *target, struct err *err);

/*
 * Step 4: the staged rows replace the live customers, accounts,
 * transactions, transfers and lockouts in one transaction, recorded as
 * swapped by run_id.  Imported customers get a PIN hash no PIN matches:
 * the old system's PINs do not come across.
 */
int legacy_swap(struct bank *target, const char *run_id, struct err *err);

#endif
