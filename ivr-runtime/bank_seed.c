/*
 * bank_seed: deterministic demo customers for a new database (see
 * bank_seed in bank.h), the same on both backends.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bank.h"
#include "bank_int.h"
#include "hash.h"

/* splitmix64: a small deterministic generator for reproducible seeds. */
static uint64_t
next_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

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
	if ((rc = bank_q_int(&account_id, NULL, b, err,
			     "INSERT INTO accounts (customer_id, number, kind, "
			     "balance_cents) VALUES ($1, $2, $3, $4) "
			     "RETURNING id",
			     "itti", customer_id, number, kinds[k], *balance)) <
		    0 ||
	    (rc = bank_q(b, err, NULL, NULL,
			 "INSERT INTO transactions (account_id, amount_cents, "
			 "balance_after_cents, description) VALUES ($1, $2, "
			 "$3, $4)",
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
	rc = bank_q_int(&customer_id, NULL, b, err,
			"INSERT INTO customers (name, pin_hash) VALUES ($1, "
			"$2) RETURNING id",
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
	if ((rc = bank_q(b, err, NULL, NULL,
			 "INSERT INTO bank_meta (key, value) VALUES ($1, $2)",
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
	if ((rc = bank_begin(b, err)) < 0)
		return rc;
	if ((rc = bank_q_int(&existing, NULL, b, err,
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
	if ((rc = bank_commit(b, err)) < 0) {
		json_decref(out);
		goto fail;
	}
	*credentials = out;
	return 0;
fail:
	bank_rollback(b);
	return rc;
}
