/*
 * test_bank_concurrency: four processes, each with its own connection as a
 * runtime on its own host has, make 200 transfers at once between the
 * same few accounts, in both directions, and each replays another
 * process's tokens while the original may still be running.  On SQLite
 * (one file) and, with IVR_TEST_PG_DIR, on PostgreSQL.
 *
 * It must show: no call fails (a deadlock or serialization conflict is
 * retried inside the bank, never surfaced); each token moved money once
 * (its two calls answer with one confirmation, exactly one of them not a
 * replay); the sum of all balances is the seeded sum; every account is
 * the sum of its transactions; every confirmation is in the books once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "bank.h"
#include "bankfix.h"

#define WORKERS	  4
#define TRANSFERS 200
#define CUSTOMERS 2

struct outcome {
	int rc;
	int result;
	bool replayed;
	char confirmation[BANK_CONFIRMATION_LEN + 1];
};

/* What each process did: [transfer][0 original, 1 replay]. */
static struct outcome *shared;

struct plan {
	int64_t customer[CUSTOMERS];
	struct bank_account acc[CUSTOMERS][BANK_ACCOUNTS_MAX];
	size_t nacc[CUSTOMERS];
};

/* Transfer i: between two accounts of one customer, direction by i. */
static struct bank_transfer_req
request(const struct plan *p, int i, char *token, size_t size)
{
	int c = i % CUSTOMERS;
	size_t n = p->nacc[c], a = (size_t)(i / CUSTOMERS) % n, b = (a + 1) % n;

	snprintf(token, size, "race-%03d", i);
	if ((i / 2) % 2 == 1) { /* half of them the other way round */
		size_t t = a;

		a = b;
		b = t;
	}
	return (struct bank_transfer_req){
		.token = token,
		.customer_id = p->customer[c],
		.from_account_id = p->acc[c][a].id,
		.to_account_id = p->acc[c][b].id,
		.amount_cents = 1 + i % 17,
	};
}

static void
run_one(struct bank *b, const struct plan *p, int i, int copy)
{
	struct outcome *o = &shared[i * 2 + copy];
	enum bank_transfer_result r = BANK_TRANSFER_BAD_AMOUNT;
	struct bank_transfer_req req;
	char token[32];
	struct err e;

	req = request(p, i, token, sizeof(token));
	o->rc = bank_transfer(&r, o->confirmation, &o->replayed, b, &req, &e);
	o->result = (int)r;
	if (o->rc < 0)
		fprintf(stderr, "transfer %d: %s\n", i, e.msg);
}

/* One worker: its own transfers and another worker's, interleaved. */
static int
worker(int w, const struct plan *p, const char *path, int start_fd)
{
	struct bank *b = NULL;
	struct err e;
	char go;

	if (bankfix_connect(&b, "ivr_app", path, &e) < 0) {
		fprintf(stderr, "worker %d: %s\n", w, e.msg);
		return 1;
	}
	if (read(start_fd, &go, 1) != 1)
		return 1;
	for (int i = w; i < TRANSFERS; i += WORKERS) {
		int other = (i + 1) % TRANSFERS; /* worker w+1's */

		run_one(b, p, i, 0);
		run_one(b, p, other, 1);
	}
	bank_close(b);
	return 0;
}

static void
read_plan(struct plan *p, const char *path, json_t *cred)
{
	struct bank *b = NULL;
	enum bank_auth r;

	assert_int_equal(bankfix_connect(&b, "ivr_app", path, NULL), 0);
	for (int c = 0; c < CUSTOMERS; c++) {
		json_t *cust = json_array_get(
			json_object_get(cred, "customers"), (size_t)c);
		json_t *acc =
			json_array_get(json_object_get(cust, "accounts"), 0);

		assert_int_equal(
			bank_authenticate(
				&r, &p->customer[c], b,
				json_string_value(
					json_object_get(acc, "number")),
				json_string_value(json_object_get(cust, "pin")),
				3, NULL),
			0);
		assert_int_equal(r, BANK_AUTH_OK);
		assert_int_equal(bank_accounts(p->acc[c], BANK_ACCOUNTS_MAX,
					       &p->nacc[c], b, p->customer[c],
					       NULL),
				 0);
		assert_true(p->nacc[c] >= 2);
	}
	bank_close(b);
}

static void
check_books(const char *path, json_t *cred)
{
	struct bank *b = NULL;
	struct bank_ledger l;
	int64_t count;

	assert_int_equal(bankfix_connect(&b, "ivr_app", path, NULL), 0);
	for (int i = 0; i < TRANSFERS; i++) {
		const struct outcome *o = &shared[i * 2], *r = o + 1;

		assert_int_equal(o->rc, 0);
		assert_int_equal(r->rc, 0);
		assert_int_equal(o->result, BANK_TRANSFER_OK);
		assert_int_equal(r->result, BANK_TRANSFER_OK);
		assert_string_equal(o->confirmation, r->confirmation);
		assert_true(o->replayed != r->replayed);
		assert_int_equal(
			bank_transfer_count(&count, b, o->confirmation, NULL),
			0);
		assert_int_equal(count, 1);
	}
	assert_int_equal(bank_ledger(&l, b, NULL), 0);
	printf("ledger: total %lld, seeded %lld, transfers %lld, "
	       "unbalanced accounts %lld\n",
	       (long long)l.total_cents, (long long)l.seeded_total_cents,
	       (long long)l.transfers, (long long)l.unbalanced_accounts);
	assert_int_equal(l.total_cents, l.seeded_total_cents);
	assert_int_equal(l.total_cents, json_integer_value(json_object_get(
						cred, "total_cents")));
	assert_int_equal(l.transfers, TRANSFERS);
	assert_int_equal(l.unbalanced_accounts, 0);
	bank_close(b);
}

static double
since_ms(const struct timespec *a)
{
	struct timespec b;

	clock_gettime(CLOCK_MONOTONIC, &b);
	return (double)(b.tv_sec - a->tv_sec) * 1e3 +
	       (double)(b.tv_nsec - a->tv_nsec) / 1e6;
}

static void
test_transfers__race_on_shared_accounts_and_tokens(void **state)
{
	char dir[64], path[128], go[WORKERS];
	pid_t pids[WORKERS];
	struct timespec t0;
	json_t *cred = NULL;
	struct plan p = { 0 };
	struct err e;
	int fds[2], status, replays_first = 0;

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/ivr-test-race.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/bank.db", dir);
	if (bankfix_fresh(&cred, path, CUSTOMERS, 42, 1000, &e) < 0)
		fail_msg("fresh bank: %s", e.msg);
	read_plan(&p, path, cred);
	/* the children write their outcomes where the parent reads them */
	shared =
		mmap(NULL, TRANSFERS * 2 * sizeof(*shared),
		     PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(shared != MAP_FAILED);
	assert_int_equal(pipe(fds), 0);
	for (int w = 0; w < WORKERS; w++) {
		if ((pids[w] = fork()) == 0)
			_exit(worker(w, &p, path, fds[0]));
		assert_true(pids[w] > 0);
	}
	memset(go, 'g', sizeof(go));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(write(fds[1], go, sizeof(go)), (ssize_t)sizeof(go));
	for (int w = 0; w < WORKERS; w++) {
		assert_int_equal(waitpid(pids[w], &status, 0), pids[w]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	for (int i = 0; i < TRANSFERS; i++)
		replays_first += !shared[i * 2 + 1].replayed;
	printf("backend %s: %d workers, %d transfers and %d replays in "
	       "%.0f ms; the replay came first for %d\n",
	       bankfix_pg_dir() ? "postgresql" : "sqlite", WORKERS, TRANSFERS,
	       TRANSFERS, since_ms(&t0), replays_first);
	check_books(path, cred);
	close(fds[0]);
	close(fds[1]);
	json_decref(cred);
	munmap(shared, TRANSFERS * 2 * sizeof(*shared));
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	assert_int_equal(system(path), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			test_transfers__race_on_shared_accounts_and_tokens),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
