#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "parse.h"

static void
test_parse_int64__reads_whole_numbers(void **state)
{
	int64_t v = 0;

	(void)state;
	assert_int_equal(parse_int64(&v, "8080", 1, 65535, NULL), 0);
	assert_int_equal(v, 8080);
	assert_int_equal(parse_int64(&v, "-5", -10, 10, NULL), 0);
	assert_int_equal(v, -5);
	assert_int_equal(
		parse_int64(&v, "9223372036854775807", 0, INT64_MAX, NULL), 0);
	assert_true(v == INT64_MAX);
}

static void
test_parse_int64__rejects_garbage_and_quotes_it(void **state)
{
	const char *bad[] = {
		"", "-", "12a", " 12", "12 ", "+5", "0x10", "1.5"
	};
	int64_t v = 77;
	struct err e;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		assert_int_equal(parse_int64(&v, bad[i], 0, 100, &e),
				 ERR_INVAL);
		assert_int_equal(v, 77);
	}
	parse_int64(&v, "12a", 0, 100, &e);
	assert_string_equal(e.msg,
			    "invalid number '12a': expected a whole number");
}

static void
test_parse_int64__reports_the_range(void **state)
{
	int64_t v = 1;
	struct err e;

	(void)state;
	assert_int_equal(parse_int64(&v, "70000", 1, 65535, &e), ERR_RANGE);
	assert_string_equal(e.msg,
			    "number '70000' is out of range (1 to 65535)");
	assert_int_equal(parse_int64(&v, "99999999999999999999", 0, 10, &e),
			 ERR_RANGE);
	assert_int_equal(v, 1);
}

static void
test_parse_duration_ms__reads_each_unit(void **state)
{
	int64_t v;

	(void)state;
	assert_int_equal(parse_duration_ms(&v, "250ms", 0, INT64_MAX, NULL), 0);
	assert_int_equal(v, 250);
	assert_int_equal(parse_duration_ms(&v, "30s", 0, INT64_MAX, NULL), 0);
	assert_int_equal(v, 30000);
	assert_int_equal(parse_duration_ms(&v, "5m", 0, INT64_MAX, NULL), 0);
	assert_int_equal(v, 300000);
	assert_int_equal(parse_duration_ms(&v, "1h", 0, INT64_MAX, NULL), 0);
	assert_int_equal(v, 3600000);
	assert_int_equal(parse_duration_ms(&v, "1m30s", 0, INT64_MAX, NULL), 0);
	assert_int_equal(v, 90000);
	assert_int_equal(parse_duration_ms(&v, "0", 0, INT64_MAX, NULL), 0);
	assert_int_equal(v, 0);
}

static void
test_parse_duration_ms__explains_bad_text(void **state)
{
	int64_t v = 9;
	struct err e;

	(void)state;
	assert_int_equal(parse_duration_ms(&v, "5x", 0, INT64_MAX, &e),
			 ERR_INVAL);
	assert_string_equal(e.msg, "invalid duration '5x': unknown unit 'x' "
				   "(use ms, s, m or h)");
	assert_int_equal(parse_duration_ms(&v, "30", 0, INT64_MAX, &e),
			 ERR_INVAL);
	assert_string_equal(e.msg, "invalid duration '30': missing unit after "
				   "the number (use ms, s, m or h)");
	assert_int_equal(parse_duration_ms(&v, "", 0, INT64_MAX, &e),
			 ERR_INVAL);
	assert_string_equal(e.msg, "invalid duration '': empty (write e.g. "
				   "250ms, 30s, 5m or 1h)");
	assert_int_equal(parse_duration_ms(&v, "s", 0, INT64_MAX, &e),
			 ERR_INVAL);
	assert_int_equal(parse_duration_ms(&v, "30s5m", 0, INT64_MAX, &e),
			 ERR_INVAL);
	assert_string_equal(e.msg, "invalid duration '30s5m': units must go "
				   "from larger to smaller, each once");
	assert_int_equal(parse_duration_ms(&v, "-5s", 0, INT64_MAX, &e),
			 ERR_INVAL);
	assert_int_equal(parse_duration_ms(&v, "5 s", 0, INT64_MAX, &e),
			 ERR_INVAL);
	assert_int_equal(v, 9);
}

static void
test_parse_duration_ms__reports_the_range(void **state)
{
	int64_t v = 9;
	struct err e;

	(void)state;
	assert_int_equal(parse_duration_ms(&v, "2h", 1000, 3600000, &e),
			 ERR_RANGE);
	assert_string_equal(e.msg, "duration '2h' is out of range (1s to 1h)");
	assert_int_equal(parse_duration_ms(&v, "10ms", 250, 90000, &e),
			 ERR_RANGE);
	assert_string_equal(e.msg,
			    "duration '10ms' is out of range (250ms to 1m30s)");
	assert_int_equal(
		parse_duration_ms(&v, "9999999999999999999h", 0, INT64_MAX, &e),
		ERR_RANGE);
	assert_int_equal(
		parse_duration_ms(&v, "5000000000000h", 0, INT64_MAX, &e),
		ERR_RANGE);
	assert_int_equal(v, 9);
}

static void
test_parse_percent__reads_and_checks(void **state)
{
	struct err e;
	int v = 3;

	(void)state;
	assert_int_equal(parse_percent(&v, "25%", 1, 100, &e), 0);
	assert_int_equal(v, 25);
	assert_int_equal(parse_percent(&v, "0%", 1, 100, &e), ERR_RANGE);
	assert_string_equal(e.msg,
			    "percentage '0%' is out of range (1% to 100%)");
	assert_int_equal(parse_percent(&v, "25", 1, 100, &e), ERR_INVAL);
	assert_string_equal(e.msg, "invalid percentage '25': expected a "
				   "whole number followed by '%', such as 25%");
	assert_int_equal(parse_percent(&v, "12.5%", 1, 100, &e), ERR_INVAL);
	assert_string_equal(e.msg, "invalid percentage '12.5%': use a whole "
				   "number such as 25%");
	assert_int_equal(parse_percent(&v, "25%%", 1, 100, &e), ERR_INVAL);
	assert_int_equal(parse_percent(&v, "%", 1, 100, &e), ERR_INVAL);
	assert_int_equal(parse_percent(&v, "99999999999999999999%", 1, 100, &e),
			 ERR_RANGE);
	assert_int_equal(v, 25);
}

static void
test_parse_format_duration__round_trips(void **state)
{
	const int64_t values[] = { 0, 1, 250, 1000, 90000, 3600000, 3723004 };
	char text[32];
	int64_t back;

	(void)state;
	assert_string_equal(parse_format_duration(text, 3723004), "1h2m3s4ms");
	for (size_t i = 0; i < sizeof(values) / sizeof(*values); i++) {
		parse_format_duration(text, values[i]);
		assert_int_equal(
			parse_duration_ms(&back, text, 0, INT64_MAX, NULL), 0);
		assert_int_equal(back, values[i]);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_int64__reads_whole_numbers),
		cmocka_unit_test(
			test_parse_int64__rejects_garbage_and_quotes_it),
		cmocka_unit_test(test_parse_int64__reports_the_range),
		cmocka_unit_test(test_parse_duration_ms__reads_each_unit),
		cmocka_unit_test(test_parse_duration_ms__explains_bad_text),
		cmocka_unit_test(test_parse_duration_ms__reports_the_range),
		cmocka_unit_test(test_parse_percent__reads_and_checks),
		cmocka_unit_test(test_parse_format_duration__round_trips),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
