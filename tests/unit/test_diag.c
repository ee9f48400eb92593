#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "diag.h"

static void
test_diag_format__sorts_by_place(void **state)
{
	struct diag_list l;
	struct buf b;

	(void)state;
	diag_list_init(&l, 10);
	diag_add(&l, "prod.yaml", 14, 7, "unknown key '%s'", "hsots");
	diag_add(&l, "prod.yaml", 3, 1, "missing key 'environment'");
	diag_add(&l, "prod.yaml", 14, 2, "first at 14");
	diag_add(&l, "prod.yaml", 0, 9, "no hosts at all");
	buf_init(&b, 4096);
	assert_int_equal(diag_format(&b, &l, NULL), 0);
	assert_string_equal(buf_cstr(&b),
			    "prod.yaml: no hosts at all\n"
			    "prod.yaml:3:1: missing key 'environment'\n"
			    "prod.yaml:14:2: first at 14\n"
			    "prod.yaml:14:7: unknown key 'hsots'\n");
	assert_int_equal(diag_total(&l), 4);
	buf_release(&b);
	diag_list_release(&l);
}

static void
test_diag_add__counts_problems_past_the_cap(void **state)
{
	struct diag_list l;
	struct buf b;

	(void)state;
	diag_list_init(&l, 2);
	for (unsigned i = 1; i <= 5; i++)
		diag_add(&l, "a.yaml", i, 1, "problem %u", i);
	assert_int_equal(l.count, 2);
	assert_int_equal(diag_total(&l), 5);
	buf_init(&b, 4096);
	assert_int_equal(diag_format(&b, &l, NULL), 0);
	assert_string_equal(buf_cstr(&b), "a.yaml:1:1: problem 1\n"
					  "a.yaml:2:1: problem 2\n"
					  "... and 3 more problems\n");
	buf_release(&b);
	diag_list_release(&l);
	assert_int_equal(diag_total(&l), 0);
}

static void
test_diag_format__keeps_arrival_order_at_one_place(void **state)
{
	struct diag_list l;
	struct buf b;

	(void)state;
	diag_list_init(&l, 50);
	for (unsigned i = 0; i < 20; i++)
		diag_add(&l, "x.yaml", 1, 1, "%c", 'a' + i);
	buf_init(&b, 4096);
	diag_format(&b, &l, NULL);
	for (unsigned i = 0; i < 20; i++)
		assert_int_equal(buf_cstr(&b)[i * 14 + 12], 'a' + i);
	buf_release(&b);
	diag_list_release(&l);
}

static void
test_diag_format__reports_a_full_buffer(void **state)
{
	struct diag_list l;
	struct buf b;
	struct err e;

	(void)state;
	diag_list_init(&l, 10);
	diag_add(&l, "plan.yaml", 1, 1, "a long enough message");
	buf_init(&b, 8);
	assert_int_equal(diag_format(&b, &l, &e), ERR_OVERFLOW);
	buf_release(&b);
	diag_list_release(&l);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_diag_format__sorts_by_place),
		cmocka_unit_test(test_diag_add__counts_problems_past_the_cap),
		cmocka_unit_test(
			test_diag_format__keeps_arrival_order_at_one_place),
		cmocka_unit_test(test_diag_format__reports_a_full_buffer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
