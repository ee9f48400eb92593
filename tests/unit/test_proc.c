/*
 * proc_check: the programs the agent runs before it uses a file, with
 * real children: one that passes, one that refuses (its first line is
 * the reason, and a flood of output after it does not block it), one
 * that hangs (killed at the deadline) and none at all.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "clock.h"
#include "proc.h"

static void
test_proc_check__passes_and_refuses(void **state)
{
	const char *const ok[] = { "true", NULL };
	const char *const no[] = { "sh", "-c",
				   "echo 'line 3: bad key'; "
				   "head -c 200000 /dev/zero; exit 1",
				   NULL };
	struct err e;

	(void)state;
	assert_int_equal(proc_check(ok, "true", 5000, &e), 0);
	assert_int_equal(proc_check(no, "the check", 5000, &e), ERR_IO);
	assert_string_equal(e.msg, "the check refused the change: line 3: "
				   "bad key");
}

static void
test_proc_check__stops_a_check_at_its_deadline(void **state)
{
	const char *const hang[] = { "sleep", "30", NULL };
	const char *const none[] = { NULL };
	int64_t t0 = clock_now_ms();
	struct err e;

	(void)state;
	assert_int_equal(proc_check(hang, "sleep", 300, &e), ERR_TIMEOUT);
	assert_true(clock_now_ms() - t0 < 5000);
	assert_string_equal(e.msg, "sleep did not finish within 300 ms: "
				   "stopped");
	assert_int_equal(proc_check(none, "nothing", 300, &e), ERR_INVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_proc_check__passes_and_refuses),
		cmocka_unit_test(
			test_proc_check__stops_a_check_at_its_deadline),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
