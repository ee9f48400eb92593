#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "err.h"

static void
test_err_set__returns_code_and_formats_message(void **state)
{
	struct err e;

	(void)state;
	err_init(&e);
	assert_int_equal(err_set(&e, ERR_INVAL, "unknown key '%s'", "hsots"),
			 ERR_INVAL);
	assert_int_equal(e.code, ERR_INVAL);
	assert_string_equal(e.msg, "unknown key 'hsots'");
}

static void
test_err_set__accepts_null_err(void **state)
{
	(void)state;
	assert_int_equal(err_set(NULL, ERR_IO, "x"), ERR_IO);
	assert_int_equal(err_set_errno(NULL, ERR_IO, ENOENT, "x"), ERR_IO);
	/* still a failure: `return err_prefix(err, ...)` once returned 0,
	 * success, to a caller that passed no err */
	assert_int_equal(err_prefix(NULL, "x"), ERR_INTERNAL);
}

static void
test_err_set_errno__appends_strerror(void **state)
{
	struct err e;

	(void)state;
	err_set_errno(&e, ERR_IO, ENOENT, "cannot open '%s'", "prod.yaml");
	assert_string_equal(
		e.msg, "cannot open 'prod.yaml': No such file or directory");
}

static void
test_err_prefix__adds_context_and_keeps_code(void **state)
{
	struct err e;

	(void)state;
	err_set(&e, ERR_TIMEOUT, "no answer");
	assert_int_equal(err_prefix(&e, "host '%s': ", "ivr-01"), ERR_TIMEOUT);
	assert_string_equal(e.msg, "host 'ivr-01': no answer");
}

static void
test_err_set__marks_a_cut_message(void **state)
{
	char longtext[ERR_MSG_MAX * 2];
	struct err e;

	(void)state;
	memset(longtext, 'a', sizeof(longtext) - 1);
	longtext[sizeof(longtext) - 1] = '\0';
	err_set(&e, ERR_INVAL, "%s", longtext);
	assert_int_equal(strlen(e.msg), ERR_MSG_MAX - 1);
	assert_string_equal(e.msg + ERR_MSG_MAX - 4, "...");
}

static void
test_err_prefix__marks_a_cut_message(void **state)
{
	char longtext[ERR_MSG_MAX - 10];
	struct err e;

	(void)state;
	memset(longtext, 'b', sizeof(longtext) - 1);
	longtext[sizeof(longtext) - 1] = '\0';
	err_set(&e, ERR_INVAL, "%s", longtext);
	err_prefix(&e, "context that does not fit: ");
	assert_int_equal(strlen(e.msg), ERR_MSG_MAX - 1);
	assert_string_equal(e.msg + ERR_MSG_MAX - 4, "...");
	assert_memory_equal(e.msg, "context that does not fit: bbb", 30);
}

static void
test_err_code_name__names_every_code(void **state)
{
	(void)state;
	assert_string_equal(err_code_name(ERR_OK), "ok");
	assert_string_equal(err_code_name(ERR_INVAL), "invalid input");
	assert_string_equal(err_code_name(ERR_INTERNAL), "internal error");
	assert_string_equal(err_code_name(-999), "unknown error");
	assert_string_equal(err_code_name(5), "unknown error");
}

static void
test_err_quote__escapes_bytes_that_do_not_print(void **state)
{
	char q[64];

	(void)state;
	err_quote(q, sizeof(q), "a\nb\x01\\", 5);
	assert_string_equal(q, "a\\x0ab\\x01\\\\");
}

static void
test_err_quote__cuts_long_text_visibly(void **state)
{
	char src[200], q[256];

	(void)state;
	memset(src, 'z', sizeof(src));
	err_quote(q, sizeof(q), src, sizeof(src));
	assert_int_equal(strlen(q), 63);
	assert_string_equal(q + 60, "...");
	err_quote(q, 16, src, sizeof(src));
	assert_true(strlen(q) < 16);
	assert_string_equal(q + strlen(q) - 3, "...");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			test_err_set__returns_code_and_formats_message),
		cmocka_unit_test(test_err_set__accepts_null_err),
		cmocka_unit_test(test_err_set_errno__appends_strerror),
		cmocka_unit_test(test_err_prefix__adds_context_and_keeps_code),
		cmocka_unit_test(test_err_set__marks_a_cut_message),
		cmocka_unit_test(test_err_prefix__marks_a_cut_message),
		cmocka_unit_test(test_err_code_name__names_every_code),
		cmocka_unit_test(
			test_err_quote__escapes_bytes_that_do_not_print),
		cmocka_unit_test(test_err_quote__cuts_long_text_visibly),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
