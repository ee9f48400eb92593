/*
 * bank_customer: what a call asks of the bank (see bank.h): logging in
 * with the shared lockout, accounts, recent transactions and transfers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bank.h"
#include "bank_int.h"
#include "hash.h"

#define TRANSFER_ATTEMPTS   8	 /* conflicts the database reports */
#define RECONNECT_BUDGET_MS 3000 /* a connection lost mid-transfer */

struct login {
	bool found;
	int64_t customer_id;
	char pin_hash[HASH_PASSWORD_MAX];
};

static int
login_row(void *ctx, int ncols, const char *const *v)
{
	struct login *l = ctx;

	if (ncols < 2)
		return ERR_INTERNAL;
	l->found = true;
	l->customer_id = bank_col_int(v[0]);
	bank_col(l->pin_hash, sizeof(l->pin_hash), v[1]);
	return 0;
}

static int
is_locked(bool *locked, struct bank *b, const char *number, struct err *err)
{
	int64_t v;
	int rc;

	rc = bank_q_int(&v, NULL, b, err,
			"SELECT CASE WHEN locked_at IS NULL THEN 0 ELSE 1 END "
			"FROM lockouts WHERE account_number = $1",
			"t", number);
	*locked = rc == 0 && v != 0;
	return rc;
}

/* Now, as UTC ISO 8601 with milliseconds, for a timestamp column. */
static void
utc_now(char out[32])
{
	struct timespec ts;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(out, 24, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, 32 - n, ".%03dZ", (int)(ts.tv_nsec / 1000000) % 1000);
}

/*
 * Records the outcome of a PIN check in one short write transaction (the
 * slow KDF ran before it, outside any lock) and sets *locked when the
 * account is, or has just become, locked.  The counter is one row per
 * account number, so every runtime sharing the database counts together.
 */
static int
record_attempt(bool *locked, struct bank *b, const char *number, bool ok,
	       int max_failures, struct err *err)
{
	static const char *const fail_sql =
		"INSERT INTO lockouts (account_number, failures) VALUES ($1, "
		"1) "
		"ON CONFLICT (account_number) DO UPDATE SET failures = "
		"lockouts.failures + 1";
	static const char *const lock_sql =
		"UPDATE lockouts SET locked_at = $3 WHERE account_number = $1 "
		"AND locked_at IS NULL AND failures >= $2";
	static const char *const ok_sql =
		"UPDATE lockouts SET failures = 0 WHERE account_number = $1 "
		"AND locked_at IS NULL";
	char now[32];
	int rc;

	utc_now(now);
	if ((rc = bank_begin(b, err)) < 0)
		return BANK_FAIL(rc, err, "cannot record login attempt: ");
	if ((rc = bank_q(b, err, NULL, NULL, ok ? ok_sql : fail_sql, "t",
			 number)) < 0 ||
	    (!ok && (rc = bank_q(b, err, NULL, NULL, lock_sql, "tit", number,
				 (int64_t)max_failures, now)) < 0) ||
	    (rc = is_locked(locked, b, number, err)) < 0 ||
	    (rc = bank_commit(b, err)) < 0) {
		bank_rollback(b);
		return BANK_FAIL(rc, err, "cannot record login attempt: ");
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
	struct login l = { 0 };
	int rc;

	*out = b->decoy;
	if (b->decoy[0] != '\0')
		return 0;
	if ((rc = bank_q(b, err, login_row, &l,
			 "SELECT id, pin_hash FROM customers ORDER BY id "
			 "LIMIT 1",
			 "")) < 0)
		return BANK_FAIL(rc, err, "cannot look up account: ");
	if (l.found && l.pin_hash[0] != '\0')
		memcpy(b->decoy, l.pin_hash, sizeof(b->decoy));
	else
		*out = fallback;
	explicit_bzero(&l, sizeof(l));
	return 0;
}

int
bank_authenticate(enum bank_auth *result, int64_t *customer_id, struct bank *b,
		  const char *number, const char *pin, int max_failures,
		  struct err *err)
{
	struct login l = { 0 };
	const char *decoy = NULL;
	bool locked = false, match = false;
	int rc;

	*result = BANK_AUTH_FAILED;
	if ((rc = is_locked(&locked, b, number, err)) < 0)
		return rc;
	if (locked) {
		*result = BANK_AUTH_LOCKED;
		return 0;
	}
	if ((rc = bank_q(b, err, login_row, &l,
			 "SELECT c.id, c.pin_hash FROM accounts a JOIN "
			 "customers c ON c.id = a.customer_id WHERE a.number "
			 "= $1",
			 "t", number)) < 0)
		return BANK_FAIL(rc, err, "cannot look up account: ");
	if (!l.found && (rc = decoy_hash(&decoy, b, err)) < 0)
		return rc;
	rc = hash_password_verify(&match, l.found ? l.pin_hash : decoy, pin,
				  err);
	explicit_bzero(l.pin_hash, sizeof(l.pin_hash));
	if (rc < 0 && l.found)
		return BANK_FAIL(rc, err,
				 "customer %lld: ", (long long)l.customer_id);
	match = match && l.found;
	if ((rc = record_attempt(&locked, b, number, match, max_failures,
				 err)) < 0)
		return rc;
	if (locked)
		*result = BANK_AUTH_LOCKED;
	else if (match) {
		*result = BANK_AUTH_OK;
		*customer_id = l.customer_id;
	}
	return 0;
}

struct account_rows {
	struct bank_account *out;
	size_t max, n;
};

static int
account_row(void *ctx, int ncols, const char *const *v)
{
	struct account_rows *r = ctx;
	struct bank_account *a;

	if (ncols < 4)
		return ERR_INTERNAL;
	if (r->n == r->max)
		return 0;
	a = &r->out[r->n++];
	a->id = bank_col_int(v[0]);
	bank_col(a->number, sizeof(a->number), v[1]);
	bank_col(a->kind, sizeof(a->kind), v[2]);
	a->balance_cents = bank_col_int(v[3]);
	return 0;
}

int
bank_accounts(struct bank_account *out, size_t max, size_t *n, struct bank *b,
	      int64_t customer_id, struct err *err)
{
	struct account_rows r = { out, max, 0 };
	int rc;

	rc = bank_q(b, err, account_row, &r,
		    "SELECT id, number, kind, balance_cents FROM accounts "
		    "WHERE customer_id = $1 ORDER BY id",
		    "i", customer_id);
	*n = r.n;
	return rc < 0 ? BANK_FAIL(rc, err, "cannot read accounts: ") : 0;
}

struct txn_rows {
	struct bank_txn *out;
	size_t max, n;
};

static int
txn_row(void *ctx, int ncols, const char *const *v)
{
	struct txn_rows *r = ctx;
	struct bank_txn *t;
	size_t len;

	if (ncols < 5)
		return ERR_INTERNAL;
	if (r->n == r->max)
		return 0;
	t = &r->out[r->n++];
	t->amount_cents = bank_col_int(v[0]);
	t->balance_after_cents = bank_col_int(v[1]);
	bank_col(t->description, sizeof(t->description), v[2]);
	bank_col(t->created_at, sizeof(t->created_at), v[3]);
	len = v[4] != NULL ? strlen(v[4]) : 0;
	bank_col(t->account_last4, sizeof(t->account_last4),
		 len >= 4 ? v[4] + len - 4 : v[4]);
	return 0;
}

int
bank_recent(struct bank_txn *out, size_t max, size_t *n, struct bank *b,
	    int64_t customer_id, struct err *err)
{
	/* PostgreSQL keeps timestamps as timestamptz: spoken as SQLite's
	 * text is, UTC ISO 8601. */
	static const char *const q[2] = {
		"SELECT t.amount_cents, t.balance_after_cents, t.description, "
		"t.created_at, a.number FROM transactions t JOIN accounts a ON "
		"a.id = t.account_id WHERE a.customer_id = $1 ORDER BY t.id "
		"DESC LIMIT $2",
		"SELECT t.amount_cents, t.balance_after_cents, t.description, "
		"to_char(t.created_at AT TIME ZONE 'UTC', "
		"'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), a.number FROM "
		"transactions t JOIN accounts a ON a.id = t.account_id WHERE "
		"a.customer_id = $1 ORDER BY t.id DESC LIMIT $2",
	};
	struct txn_rows r = { out, max, 0 };
	int rc;

	rc = bank_q(b, err, txn_row, &r, bank_sql(b, q), "ii", customer_id,
		    (int64_t)max);
	*n = r.n;
	return rc < 0 ? BANK_FAIL(rc, err, "cannot read transactions: ") : 0;
}

/* A transfer row as read back by its token. */
struct earlier {
	bool found;
	char confirmation[BANK_CONFIRMATION_LEN + 1];
	int64_t from, to, amount;
};

static int
earlier_row(void *ctx, int ncols, const char *const *v)
{
	struct earlier *e = ctx;

	if (ncols < 4)
		return ERR_INTERNAL;
	e->found = true;
	bank_col(e->confirmation, sizeof(e->confirmation), v[0]);
	e->from = bank_col_int(v[1]);
	e->to = bank_col_int(v[2]);
	e->amount = bank_col_int(v[3]);
	return 0;
}

/*
 * Claims the token: inserts the transfer row under a fresh random
 * confirmation number, unless a row with this token exists (committed, or
 * being committed by another connection, which the unique index waits
 * for): then *id is 0.  ERR_EXISTS when the confirmation number clashed.
 */
static int
claim_token(int64_t *id, char *confirmation, struct bank *b,
	    const struct bank_transfer_req *req, struct err *err)
{
	unsigned char r[8];
	uint64_t v;
	int rc;

	if ((rc = hash_random(r, sizeof(r), err)) < 0)
		return rc;
	memcpy(&v, r, sizeof(v));
	snprintf(confirmation, BANK_CONFIRMATION_LEN + 1, "%08llu",
		 (unsigned long long)(v % 100000000ULL));
	return bank_q_int(id, NULL, b, err,
			  "INSERT INTO transfers (token, confirmation, "
			  "from_account_id, to_account_id, amount_cents) "
			  "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (token) DO "
			  "NOTHING RETURNING id",
			  "ttiii", req->token, confirmation,
			  req->from_account_id, req->to_account_id,
			  req->amount_cents);
}

/*
 * Adds delta to an account unless that would make it negative (the row
 * stays locked to the end of the transaction).  *after is its new balance;
 * *moved is false when funds are short.
 */
static int
update_balance(bool *moved, int64_t *after, struct bank *b, int64_t account,
	       int64_t delta, struct err *err)
{
	return bank_q_int(after, moved, b, err,
			  "UPDATE accounts SET balance_cents = balance_cents + "
			  "$1 WHERE id = $2 AND balance_cents + $1 >= 0 "
			  "RETURNING balance_cents",
			  "ii", delta, account);
}

static int
record_txn(struct bank *b, int64_t account, int64_t delta, int64_t after,
	   int64_t transfer_id, const char *description, struct err *err)
{
	return bank_q(b, err, NULL, NULL,
		      "INSERT INTO transactions (account_id, amount_cents, "
		      "balance_after_cents, description, transfer_id) VALUES "
		      "($1, $2, $3, $4, $5)",
		      "iiiti", account, delta, after, description, transfer_id);
}

/* Moves the money: rows locked in id order, so no two transfers
 * deadlock.  Returns 1 (roll back) when the source is short. */
static int
move_money(enum bank_transfer_result *result, struct bank *b,
	   const struct bank_transfer_req *req, int64_t id, struct err *err)
{
	bool debit_first = req->from_account_id < req->to_account_id;
	int64_t amount = req->amount_cents, after[2] = { 0, 0 };
	bool moved[2] = { false, false };
	int rc;

	for (int k = 0; k < 2; k++) {
		bool debit = (k == 0) == debit_first;

		if ((rc = update_balance(&moved[!debit], &after[!debit], b,
					 debit ? req->from_account_id
					       : req->to_account_id,
					 debit ? -amount : amount, err)) < 0)
			return rc;
		if (debit && !moved[0]) {
			*result = BANK_TRANSFER_INSUFFICIENT;
			return 1;
		}
		if (!debit && !moved[1])
			return err_set(err, ERR_INTERNAL, "credit refused");
	}
	if ((rc = record_txn(b, req->from_account_id, -amount, after[0], id,
			     "Transfer out", err)) < 0 ||
	    (rc = record_txn(b, req->to_account_id, amount, after[1], id,
			     "Transfer in", err)) < 0)
		return rc;
	*result = BANK_TRANSFER_OK;
	return 0;
}

/*
 * The body of one attempt, inside its transaction.  Returns 0 (commit), 1
 * (roll back; *result says why) or an error.
 */
static int
transfer_tx(enum bank_transfer_result *result, char *confirmation,
	    bool *replayed, struct bank *b, const struct bank_transfer_req *req,
	    struct err *err)
{
	struct earlier e = { 0 };
	int64_t id = 0, owned;
	int rc;

	if ((rc = bank_q_int(&owned, NULL, b, err,
			     "SELECT count(*) FROM accounts WHERE customer_id "
			     "= $1 AND id IN ($2, $3)",
			     "iii", req->customer_id, req->from_account_id,
			     req->to_account_id)) < 0)
		return rc;
	if (owned != 2) {
		*result = BANK_TRANSFER_NOT_OWNED;
		return 1;
	}
	if ((rc = claim_token(&id, confirmation, b, req, err)) < 0)
		return rc;
	if (id == 0) { /* the token was used: read what it did */
		if ((rc = bank_q(b, err, earlier_row, &e,
				 "SELECT confirmation, from_account_id, "
				 "to_account_id, amount_cents FROM transfers "
				 "WHERE token = $1",
				 "t", req->token)) < 0)
			return rc;
		if (!e.found)
			return err_set(err, ERR_BUSY, "token being used");
		*replayed = e.from == req->from_account_id &&
			    e.to == req->to_account_id &&
			    e.amount == req->amount_cents;
		*result = *replayed ? BANK_TRANSFER_OK
				    : BANK_TRANSFER_TOKEN_REUSED;
		memcpy(confirmation, e.confirmation, sizeof(e.confirmation));
		return 1; /* nothing to commit */
	}
	return move_money(result, b, req, id, err);
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Whether a failed attempt is worth another: a conflict, or a connection
 * lost while the budget lasts (*lost notes that the outcome of what was
 * sent is unknown: the token settles it on the next attempt). */
static bool
again(struct bank *b, int rc, int attempt, int64_t start, bool *lost)
{
	if (b->be->lost(b)) {
		*lost = true;
		if (mono_ms() - start >= RECONNECT_BUDGET_MS)
			return false;
		usleep(100 * 1000);
		return true;
	}
	return (rc == ERR_BUSY || rc == ERR_EXISTS) &&
	       attempt + 1 < TRANSFER_ATTEMPTS;
}

int
bank_transfer(enum bank_transfer_result *result,
	      char confirmation[BANK_CONFIRMATION_LEN + 1], bool *replayed,
	      struct bank *b, const struct bank_transfer_req *req,
	      struct err *err)
{
	int64_t start = mono_ms();
	bool lost = false;
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
	for (int attempt = 0;; attempt++) {
		*replayed = false;
		if ((rc = bank_begin(b, err)) == 0 &&
		    (rc = transfer_tx(result, confirmation, replayed, b, req,
				      err)) == 0)
			rc = bank_commit(b, err);
		if (rc >= 0)
			break;
		bank_rollback(b);
		if (!again(b, rc, attempt, start, &lost))
			return BANK_FAIL(rc, err, "transfer: ");
	}
	if (rc > 0) { /* nothing moved now */
		bank_rollback(b);
		if (*result != BANK_TRANSFER_OK)
			confirmation[0] = '\0';
	}
	/* Found after our own commit went unanswered: this is the first
	 * answer for it, not a replay. */
	if (lost && *replayed)
		*replayed = false;
	return 0;
}
