/*
 * legacy_check: the checks before a legacy import goes live (legacy.h):
 * each a query for the rows that are wrong, passed when there are none,
 * reported with how many and the first few.
 */
#include "legacy.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SQL_MAX	  4096
#define SHOW_ROWS 5

static int
int_row(void *ctx, int ncols, const char *const *v)
{
	*(int64_t *)ctx = ncols > 0 && v[0] ? strtoll(v[0], NULL, 10) : 0;
	return 0;
}

static int
text_row(void *ctx, int ncols, const char *const *v)
{
	snprintf(ctx, 64, "%s", ncols > 0 && v[0] ? v[0] : "");
	return 0;
}

static int
three_cols(void *ctx, int ncols, const char *const *v)
{
	char **cols = ctx;

	for (int i = 0; i < 3; i++)
		snprintf(cols[i], 64, "%s", i < ncols && v[i] ? v[i] : "");
	return 0;
}

static int
json_row(void *ctx, int ncols, const char *const *v)
{
	json_t *row = json_array();

	for (int i = 0; i < ncols; i++)
		json_array_append_new(row,
				      v[i] ? json_string(v[i]) : json_null());
	json_array_append_new(ctx, row);
	return 0;
}

static int64_t
count_of(struct bank *b, const char *sql, struct err *err, int *rc)
{
	int64_t n = 0;

	if (*rc == 0)
		*rc = bank_query(b, int_row, &n, err, sql, "");
	return n;
}

static void
add_check(json_t *checks, const char *name, bool passed, const char *detail,
	  json_t *rows)
{
	json_array_append_new(checks,
			      json_pack("{s:s, s:b, s:s, s:o}", "name", name,
					"passed", passed, "detail", detail,
					"rows", rows ? rows : json_array()));
}

/* A check whose query q lists the wrong rows: passed when none. */
static int
rows_check(json_t *checks, struct bank *t, const char *name, const char *q,
	   const char *what, struct err *err)
{
	char sql[SQL_MAX + 64], detail[256];
	json_t *rows = json_array();
	int64_t n;
	int rc = 0;

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM (%s) x", q);
	n = count_of(t, sql, err, &rc);
	snprintf(sql, sizeof(sql), "%s LIMIT %d", q, SHOW_ROWS);
	if (rc == 0 && n > 0)
		rc = bank_query(t, json_row, rows, err, sql, "");
	if (rc < 0) {
		json_decref(rows);
		return err_prefix(err, "check %s: ", name);
	}
	if (n == 0)
		snprintf(detail, sizeof(detail), "none");
	else
		snprintf(detail, sizeof(detail), "%" PRId64 " %s", n, what);
	add_check(checks, name, n == 0, detail, rows);
	return 0;
}

/* The first rows of the copy that were not staged. */
static const char *const not_staged =
	"SELECT 'account not staged', account_id::text FROM "
	"legacy_import.src_accounts s WHERE NOT EXISTS (SELECT 1 FROM "
	"legacy_import.accounts a WHERE a.legacy_id = s.account_id) UNION ALL "
	"SELECT 'transaction not staged', transaction_id::text FROM "
	"legacy_import.src_transactions s WHERE NOT EXISTS (SELECT 1 FROM "
	"legacy_import.transactions t WHERE t.legacy_id = s.transaction_id) "
	"LIMIT 5";

/* Record counts: the source, its copy and the staged rows agree. */
static int
counts_check(json_t *checks, json_t *counts, const struct plan *p,
	     struct bank *t, struct bank *s, struct err *err)
{
	const struct plan_legacy *g = &p->db.legacy;
	char sql[SQL_MAX], detail[256];
	int64_t v[2][3];
	int rc = 0;

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM \"%s\"", g->accounts);
	v[0][0] = count_of(s, sql, err, &rc);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM \"%s\"",
		 g->transactions);
	v[1][0] = count_of(s, sql, err, &rc);
	v[0][1] = count_of(t, "SELECT count(*) FROM legacy_import.src_accounts",
			   err, &rc);
	v[1][1] = count_of(
		t, "SELECT count(*) FROM legacy_import.src_transactions", err,
		&rc);
	v[0][2] = count_of(t, "SELECT count(*) FROM legacy_import.accounts",
			   err, &rc);
	v[1][2] = count_of(t,
			   "SELECT count(*) FROM legacy_import.transactions "
			   "WHERE legacy_id IS NOT NULL",
			   err, &rc);
	if (rc < 0)
		return err_prefix(err, "check record counts: ");
	for (int k = 0; k < 2; k++)
		json_object_set_new(counts, k ? "transactions" : "accounts",
				    json_pack("{s:I, s:I, s:I}", "source",
					      (json_int_t)v[k][0], "copied",
					      (json_int_t)v[k][1], "staged",
					      (json_int_t)v[k][2]));
	snprintf(detail, sizeof(detail),
		 "accounts: source %" PRId64 ", copied %" PRId64
		 ", staged %" PRId64 "; transactions: source %" PRId64
		 ", copied %" PRId64 ", staged %" PRId64,
		 v[0][0], v[0][1], v[0][2], v[1][0], v[1][1], v[1][2]);
	{
		json_t *rows = json_array();
		bool ok = v[0][0] == v[0][1] && v[0][1] == v[0][2] &&
			  v[1][0] == v[1][1] && v[1][1] == v[1][2];

		if (!ok)
			rc = bank_query(t, json_row, rows, err, not_staged, "");
		add_check(checks, "record counts", ok, detail, rows);
	}
	return rc;
}

/* The sum of balances: the source's (to the cent), the copy's (exact)
 * and the staged one's agree. */
static int
sum_check(json_t *checks, json_t *counts, const struct plan *p, struct bank *t,
	  struct bank *s, struct err *err)
{
	const struct plan_legacy *g = &p->db.legacy;
	char sql[SQL_MAX], src[64] = "", copy[64] = "", staged[64] = "",
			   same[64] = "", detail[256];
	long long source_cents;
	int rc;

	snprintf(sql, sizeof(sql), "SELECT sum(\"%s\") FROM \"%s\"", g->balance,
		 g->accounts);
	if (bank_query(s, text_row, src, err, sql, "") < 0)
		return err_prefix(err, "check sum of balances: ");
	snprintf(sql, sizeof(sql),
		 "SELECT coalesce(sum(balance * %d), 0)::text, (SELECT "
		 "coalesce(sum(balance_cents), 0) FROM legacy_import.accounts)"
		 "::text, (coalesce(sum(balance * %d), 0) = (SELECT "
		 "coalesce(sum(balance_cents), 0) FROM "
		 "legacy_import.accounts))::text FROM "
		 "legacy_import.src_accounts",
		 g->cents_per_unit, g->cents_per_unit);
	{
		char *cols[3] = { copy, staged, same };

		rc = bank_query(t, three_cols, cols, err, sql, "");
	}
	if (rc < 0)
		return err_prefix(err, "check sum of balances: ");
	source_cents = llround(strtod(src, NULL) * g->cents_per_unit);
	snprintf(detail, sizeof(detail),
		 "source %lld cents, copied %s, staged %s", source_cents, copy,
		 staged);
	json_object_set_new(counts, "balance_cents",
			    json_pack("{s:I, s:s, s:s}", "source",
				      (json_int_t)source_cents, "copied", copy,
				      "staged", staged));
	add_check(checks, "sum of balances",
		  strcmp(same, "true") == 0 &&
			  source_cents == strtoll(staged, NULL, 10),
		  detail, NULL);
	return 0;
}

/* Step 3's row checks: each query lists the rows that are wrong. */
static int
row_checks(json_t *checks, const struct plan *p, struct bank *t,
	   struct err *err)
{
	int f = p->db.legacy.cents_per_unit, rc;
	char q[SQL_MAX];

	snprintf(q, sizeof(q),
		 "SELECT 'source only' AS side, x.* FROM (SELECT "
		 "account_number, balance * %d AS cents FROM "
		 "legacy_import.src_accounts EXCEPT SELECT number, "
		 "balance_cents::numeric FROM legacy_import.accounts) x "
		 "UNION ALL SELECT 'staged only', y.* FROM (SELECT number, "
		 "balance_cents::numeric FROM legacy_import.accounts EXCEPT "
		 "SELECT account_number, balance * %d FROM "
		 "legacy_import.src_accounts) y",
		 f, f);
	if ((rc = rows_check(checks, t, "accounts (account_number, balance)", q,
			     "rows differ", err)) < 0)
		return rc;
	snprintf(q, sizeof(q),
		 "SELECT 'source only' AS side, x.* FROM (SELECT "
		 "a.account_number, t.amount * %d AS cents, "
		 "t.date::timestamptz AS at, coalesce(t.description, '') AS d "
		 "FROM legacy_import.src_transactions t LEFT JOIN "
		 "legacy_import.src_accounts a ON a.account_id = t.account_id "
		 "EXCEPT SELECT a.number, t.amount_cents::numeric, "
		 "t.created_at, t.description FROM legacy_import.transactions "
		 "t JOIN legacy_import.accounts a ON a.id = t.account_id WHERE "
		 "t.legacy_id IS NOT NULL) x UNION ALL SELECT 'staged only', "
		 "y.* FROM (SELECT a.number, t.amount_cents::numeric, "
		 "t.created_at, t.description FROM legacy_import.transactions "
		 "t JOIN legacy_import.accounts a ON a.id = t.account_id WHERE "
		 "t.legacy_id IS NOT NULL EXCEPT SELECT a.account_number, "
		 "t.amount * %d, t.date::timestamptz, coalesce(t.description, "
		 "'') FROM legacy_import.src_transactions t LEFT JOIN "
		 "legacy_import.src_accounts a ON a.account_id = t.account_id) "
		 "y",
		 f, f);
	if ((rc = rows_check(checks, t,
			     "transactions (account_number, amount, date, "
			     "description)",
			     q, "rows differ", err)) < 0)
		return rc;
	return rows_check(
		checks, t, "duplicate account numbers",
		"SELECT account_number, count(*)::text FROM "
		"legacy_import.src_accounts WHERE account_number IS NOT NULL "
		"GROUP BY account_number HAVING count(*) > 1",
		"account numbers used more than once", err);
}

/* Orphans and required fields. */
static int
key_checks(json_t *checks, struct bank *t, struct err *err)
{
	int rc;

	if ((rc = rows_check(
		     checks, t, "orphan transactions",
		     "SELECT transaction_id::text, account_id::text FROM "
		     "legacy_import.src_transactions t WHERE NOT EXISTS "
		     "(SELECT "
		     "1 FROM legacy_import.src_accounts a WHERE a.account_id = "
		     "t.account_id)",
		     "transactions of no account", err)) < 0)
		return rc;
	return rows_check(
		checks, t, "required fields",
		"SELECT 'account ' || account_id, CASE WHEN account_number IS "
		"NULL THEN 'account_number missing' WHEN account_number !~ "
		"'^[0-9]{8}$' THEN 'account_number is not 8 digits' WHEN "
		"balance IS NULL THEN 'balance missing' WHEN balance < 0 THEN "
		"'balance negative' ELSE 'customer_id missing' END FROM "
		"legacy_import.src_accounts WHERE account_number IS NULL OR "
		"account_number !~ '^[0-9]{8}$' OR balance IS NULL OR balance "
		"< 0 OR customer_id IS NULL UNION ALL SELECT 'transaction ' || "
		"transaction_id, CASE WHEN account_id IS NULL THEN 'account_id "
		"missing' WHEN amount IS NULL THEN 'amount missing' ELSE 'date "
		"missing' END FROM legacy_import.src_transactions WHERE "
		"account_id IS NULL OR amount IS NULL OR date IS NULL",
		"rows with a field missing or unfit", err);
}

int
legacy_checks(json_t **report, const struct plan *p, struct bank *target,
	      struct bank *source, struct err *err)
{
	json_t *checks = json_array(), *counts = json_object(), *c;
	bool passed = true;
	size_t i;
	int rc;

	*report = NULL;
	if ((rc = counts_check(checks, counts, p, target, source, err)) < 0 ||
	    (rc = row_checks(checks, p, target, err)) < 0 ||
	    (rc = sum_check(checks, counts, p, target, source, err)) < 0 ||
	    (rc = key_checks(checks, target, err)) < 0) {
		json_decref(checks);
		json_decref(counts);
		return rc;
	}
	json_array_foreach (checks, i, c)
		passed = passed && json_is_true(json_object_get(c, "passed"));
	json_object_set_new(counts, "customers",
			    json_integer(count_of(target,
						  "SELECT count(*) FROM "
						  "legacy_import.customers",
						  err, &rc)));
	*report = json_pack("{s:b, s:o, s:o}", "passed", passed, "checks",
			    checks, "counts", counts);
	return rc;
}
