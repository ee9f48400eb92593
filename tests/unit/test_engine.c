#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "bankfix.h"
#include "engine.h"
#include "metrics.h"

/* The engine over the bank on SQLite, or on PostgreSQL when
 * IVR_TEST_PG_DIR names a scripts/pg-sandbox.sh cluster (bankfix.h). */
#define BANKING IVR_SOURCE_DIR "/ivr-runtime/share/flows/banking.yaml"

struct fixture {
	char dir[64];
	struct bank *bank;
	struct flow *flow;
	struct engine e;
	struct metrics m;
	json_t *cred;
	struct call_state c;
	struct engine_out out;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char path[128];
	struct diag_list d;
	struct err e;

	snprintf(f->dir, sizeof(f->dir), "/tmp/ivr-test-engine.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/bank.db", f->dir);
	diag_list_init(&d, 10);
	if (bankfix_fresh(&f->cred, path, 2, 7, 1000, &e) < 0 ||
	    bankfix_connect(&f->bank, "ivr_app", path, &e) < 0 ||
	    flow_load(&f->flow, BANKING, &d, &e) < 0) {
		fprintf(stderr, "setup: %s\n", e.msg);
		return -1;
	}
	diag_list_release(&d);
	metrics_init(&f->m, "test");
	f->e.flow = f->flow;
	f->e.metrics = &f->m;
	f->e.limits = (struct engine_limits){ .noinput_max = 2,
					      .nomatch_max = 2,
					      .pin_attempts = 3,
					      .first_digit_ms = 5000,
					      .inter_digit_ms = 3000 };
	engine_call_init(&f->c, &f->e, NULL);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	engine_out_release(&f->out);
	engine_call_release(&f->c);
	flow_free(f->flow);
	bank_close(f->bank);
	json_decref(f->cred);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static const char *
cred(struct fixture *f, size_t customer, const char *what, size_t account)
{
	json_t *c =
		json_array_get(json_object_get(f->cred, "customers"), customer);

	if (strcmp(what, "pin") == 0)
		return json_string_value(json_object_get(c, "pin"));
	return json_string_value(json_object_get(
		json_array_get(json_object_get(c, "accounts"), account),
		"number"));
}

/* All prompts of the last step, joined by " | ". */
static const char *
heard(struct fixture *f)
{
	static char text[4096];
	size_t i, o = 0;
	json_t *p;

	text[0] = '\0';
	json_array_foreach (f->out.prompts, i, p)
		o += (size_t)snprintf(text + o, sizeof(text) - o, "%s%s",
				      i ? " | " : "", json_string_value(p));
	return text;
}

static void
start(struct fixture *f)
{
	engine_out_release(&f->out);
	engine_out_init(&f->out, NULL);
	assert_int_equal(engine_start(&f->e, &f->c, f->bank, &f->out, NULL), 0);
}

static void
press(struct fixture *f, const char *digits)
{
	struct err e;

	engine_out_release(&f->out);
	engine_out_init(&f->out, NULL);
	assert_int_equal(
		engine_digits(&f->e, &f->c, f->bank, digits, NULL, &f->out, &e),
		0);
}

static void
silence(struct fixture *f)
{
	engine_out_release(&f->out);
	engine_out_init(&f->out, NULL);
	assert_int_equal(engine_noinput(&f->e, &f->c, f->bank, &f->out, NULL),
			 0);
}

static void
login(struct fixture *f, size_t customer)
{
	char keys[16];

	start(f);
	snprintf(keys, sizeof(keys), "%s#", cred(f, customer, "number", 0));
	press(f, keys);
	press(f, cred(f, customer, "pin", 0));
	assert_string_equal(f->c.node->name, "main_menu");
}

static void
test_engine__walks_a_whole_banking_call(void **state)
{
	struct fixture *f = *state;
	char from[8], to[8], conf[16];
	json_t *accounts;

	start(f);
	assert_string_equal(heard(f),
			    "Welcome to Example Bank telephone banking. | "
			    "Please enter your account number, followed by "
			    "the hash key.");
	assert_string_equal(f->c.node->name, "ask_account");
	login(f, 0);
	assert_true(
		json_is_true(json_object_get(f->out.data, "authenticated")));
	press(f, "1");
	accounts = json_object_get(f->out.data, "accounts");
	assert_true(json_array_size(accounts) >= 2);
	assert_non_null(strstr(heard(f), "Your current account ending "));
	assert_string_equal(f->c.node->name, "main_menu");

	snprintf(from, sizeof(from), "%s", cred(f, 0, "number", 0) + 4);
	snprintf(to, sizeof(to), "%s", cred(f, 0, "number", 1) + 4);
	press(f, "2");
	press(f, from);
	press(f, to);
	press(f, "12*5#");
	assert_string_equal(f->c.node->name, "transfer_confirm");
	assert_non_null(strstr(heard(f), "You are moving \xc2\xa3"
					 "12.50 from the account ending"));
	assert_int_equal(json_integer_value(
				 json_object_get(f->out.data, "amount_cents")),
			 1250);
	press(f, "1");
	snprintf(conf, sizeof(conf), "%s",
		 json_string_value(
			 json_object_get(f->out.data, "confirmation")));
	assert_int_equal(strlen(conf), 8);
	assert_non_null(strstr(heard(f), conf));
	assert_string_equal(f->c.node->name, "main_menu");
	press(f, "3");
	assert_non_null(strstr(heard(f), "Your last 5 transactions, newest "
					 "first. | "));
	assert_non_null(strstr(heard(f), "Transfer in of \xc2\xa3"
					 "12.50, account ending"));
	press(f, "0");
	assert_true(f->c.ended);
	assert_int_equal(f->c.end, FLOW_END_AGENT);
	assert_int_equal(
		engine_digits(&f->e, &f->c, f->bank, "1", NULL, &f->out, NULL),
		ERR_BADSTATE);
	assert_int_equal(f->m.transfers[METRICS_TRANSFER_OK], 1);
}

static void
test_engine__reprompts_with_help_then_gives_up(void **state)
{
	struct fixture *f = *state;

	start(f);
	silence(f);
	assert_string_equal(heard(f), "Sorry, I did not hear anything. | Your "
				      "account number has eight digits and is "
				      "printed on your statement. Key it in "
				      "now, then press the hash key.");
	press(f, "12#");
	assert_non_null(strstr(heard(f), "Sorry, that is not a valid entry."));
	silence(f);
	assert_false(f->c.ended);
	silence(f);
	assert_true(f->c.ended);
	assert_int_equal(f->c.end, FLOW_END_HANGUP);
	assert_string_equal(heard(f), "Sorry, I did not hear anything. | "
				      "Thank you for calling Example Bank. "
				      "Goodbye.");
}

static void
test_engine__handles_menu_repeat_back_and_bad_keys(void **state)
{
	struct fixture *f = *state;

	login(f, 0);
	press(f, "9");
	assert_non_null(strstr(heard(f), "For your balances, press 1."));
	press(f, "7");
	assert_non_null(strstr(heard(f), "Sorry, that is not a valid entry. | "
					 "Please choose an option."));
	press(f, "2");
	assert_string_equal(f->c.node->name, "transfer_from");
	press(f, "*");
	assert_string_equal(f->c.node->name, "main_menu");
	press(f, "2");
	press(f, "0000");
	press(f, "0001");
	press(f, "5#");
	assert_string_equal(heard(f), "Sorry, those digits do not match one "
				      "of your accounts. | Enter the last four "
				      "digits of the account to move money "
				      "from. To go back, press star.");
}

/* Ends the current call and starts a new one. */
static void
new_call(struct fixture *f)
{
	engine_call_release(&f->c);
	engine_call_init(&f->c, &f->e, NULL);
	start(f);
}

static void
test_engine__never_says_which_detail_was_wrong_and_locks(void **state)
{
	struct fixture *f = *state;
	const char *wrong =
		strcmp(cred(f, 1, "pin", 0), "0000") ? "0000" : "1111";
	char keys[16];

	start(f);
	snprintf(keys, sizeof(keys), "%s#", cred(f, 1, "number", 0));
	for (int i = 0; i < 2; i++) {
		press(f, keys);
		press(f, wrong);
		assert_string_equal(heard(f),
				    "Sorry, we could not verify those details. "
				    "| Please enter your account number, "
				    "followed by the hash key.");
	}
	/* An unknown number fails the same way; the third failure of this
	 * call sends the caller to an adviser. */
	press(f, "99999999#");
	press(f, wrong);
	assert_string_equal(heard(f),
			    "Sorry, we could not verify your details. "
			    "| Please hold while we connect you to "
			    "an adviser.");
	assert_true(f->c.ended);
	assert_int_equal(f->c.end, FLOW_END_AGENT);
	/* The account's third consecutive failure, in a new call, locks it. */
	new_call(f);
	press(f, keys);
	press(f, wrong);
	assert_non_null(strstr(heard(f), "telephone banking is locked"));
	assert_true(f->c.ended);
	/* Even the right PIN now meets the lock. */
	new_call(f);
	press(f, keys);
	press(f, cred(f, 1, "pin", 0));
	assert_non_null(strstr(heard(f), "telephone banking is locked"));
	assert_int_equal(f->m.auth_failures, 5);
}

static void
test_engine__replayed_confirm_moves_no_money(void **state)
{
	struct fixture *f = *state;
	char token[64], conf[16], from[8], to[8];
	struct bank_ledger before, after;
	struct err e;

	login(f, 0);
	snprintf(from, sizeof(from), "%s", cred(f, 0, "number", 0) + 4);
	snprintf(to, sizeof(to), "%s", cred(f, 0, "number", 1) + 4);
	press(f, "2");
	press(f, from);
	press(f, to);
	press(f, "100#");
	snprintf(token, sizeof(token), "%s",
		 json_string_value(
			 json_object_get(f->out.data, "transfer_token")));
	press(f, "1");
	snprintf(conf, sizeof(conf), "%s",
		 json_string_value(
			 json_object_get(f->out.data, "confirmation")));
	bank_ledger(&before, f->bank, NULL);
	/* The gateway lost the answer and sends the confirm again. */
	engine_out_release(&f->out);
	engine_out_init(&f->out, NULL);
	assert_int_equal(
		engine_digits(&f->e, &f->c, f->bank, "1", token, &f->out, &e),
		0);
	assert_string_equal(
		json_string_value(json_object_get(f->out.data, "confirmation")),
		conf);
	assert_true(json_is_true(json_object_get(f->out.data, "replayed")));
	assert_string_equal(f->c.node->name, "main_menu");
	bank_ledger(&after, f->bank, NULL);
	assert_int_equal(after.transfers, before.transfers);
	assert_int_equal(after.total_cents, before.total_cents);
}

static void
test_engine_digits__rejects_non_dtmf_text(void **state)
{
	struct fixture *f = *state;
	struct err e;

	start(f);
	assert_int_equal(
		engine_digits(&f->e, &f->c, f->bank, "12a", NULL, &f->out, &e),
		ERR_INVAL);
	assert_string_equal(e.msg, "'digits' must be 1 to 33 keys from 0-9, * "
				   "and #");
	assert_int_equal(
		engine_digits(&f->e, &f->c, f->bank, "", NULL, &f->out, &e),
		ERR_INVAL);
	assert_string_equal(f->c.node->name, "ask_account");
}

static void
test_engine_parse_amount__reads_pence_and_decimal_star(void **state)
{
	int64_t v = 0;
	char money[ENGINE_MONEY_MAX];

	(void)state;
	assert_int_equal(engine_parse_amount(&v, "1250", NULL), 0);
	assert_int_equal(v, 1250);
	assert_int_equal(engine_parse_amount(&v, "12*5", NULL), 0);
	assert_int_equal(v, 1250);
	assert_int_equal(engine_parse_amount(&v, "12*05", NULL), 0);
	assert_int_equal(v, 1205);
	assert_int_equal(engine_parse_amount(&v, "12*", NULL), 0);
	assert_int_equal(v, 1200);
	assert_int_equal(engine_parse_amount(&v, "1*2*3", NULL), ERR_INVAL);
	assert_int_equal(engine_parse_amount(&v, "1*234", NULL), ERR_INVAL);
	assert_int_equal(engine_parse_amount(&v, "", NULL), ERR_INVAL);
	assert_string_equal(engine_format_money(money, 123456789),
			    "\xc2\xa3"
			    "1,234,567.89");
	assert_string_equal(engine_format_money(money, 5), "\xc2\xa3"
							   "0.05");
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_engine__walks_a_whole_banking_call),
		T(test_engine__reprompts_with_help_then_gives_up),
		T(test_engine__handles_menu_repeat_back_and_bad_keys),
		T(test_engine__never_says_which_detail_was_wrong_and_locks),
		T(test_engine__replayed_confirm_moves_no_money),
		T(test_engine_digits__rejects_non_dtmf_text),
		cmocka_unit_test(
			test_engine_parse_amount__reads_pence_and_decimal_star),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
