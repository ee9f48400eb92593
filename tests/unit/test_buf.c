#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"

static void
test_buf_init__starts_empty_without_allocating(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 16);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_string_equal(buf_cstr(&b), "");
	buf_release(&b);
}

static void
test_buf_append__grows_and_keeps_a_nul(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 1000);
	for (int i = 0; i < 100; i++)
		assert_int_equal(buf_append(&b, "abcd", 4, NULL), 0);
	assert_int_equal(b.len, 400);
	assert_int_equal(b.data[400], '\0');
	assert_memory_equal(b.data + 396, "abcd", 4);
	assert_true(b.alloc <= 1001);
	buf_release(&b);
}

static void
test_buf_append__rejects_overflow_and_keeps_content(void **state)
{
	struct buf b;
	struct err e;

	(void)state;
	buf_init(&b, 8);
	assert_int_equal(buf_append_str(&b, "12345", &e), 0);
	assert_int_equal(buf_append_str(&b, "6789", &e), ERR_OVERFLOW);
	assert_string_equal(e.msg, "content exceeds the limit of 8 bytes");
	assert_string_equal(buf_cstr(&b), "12345");
	assert_int_equal(buf_append_str(&b, "678", &e), 0);
	assert_string_equal(buf_cstr(&b), "12345678");
	assert_int_equal(buf_append(&b, "9", 1, &e), ERR_OVERFLOW);
	buf_release(&b);
}

static void
test_buf_appendf__formats_and_checks_the_cap(void **state)
{
	struct buf b;
	struct err e;

	(void)state;
	buf_init(&b, 12);
	assert_int_equal(buf_appendf(&b, &e, "%s=%d", "calls", 42), 0);
	assert_string_equal(buf_cstr(&b), "calls=42");
	assert_int_equal(buf_appendf(&b, &e, " %s", "extra"), ERR_OVERFLOW);
	assert_string_equal(buf_cstr(&b), "calls=42");
	buf_release(&b);
}

static void
test_buf_consume__drops_a_prefix(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 64);
	buf_append_str(&b, "line1\nline2", NULL);
	buf_consume(&b, 6);
	assert_string_equal(buf_cstr(&b), "line2");
	buf_consume(&b, 100);
	assert_int_equal(b.len, 0);
	assert_string_equal(buf_cstr(&b), "");
	buf_release(&b);
}

static void
test_buf_detach__hands_over_the_content(void **state)
{
	struct buf b;
	size_t len;
	char *s;

	(void)state;
	buf_init(&b, 64);
	buf_append_str(&b, "hello", NULL);
	s = buf_detach(&b, &len);
	assert_string_equal(s, "hello");
	assert_int_equal(len, 5);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	free(s);
	assert_null(buf_detach(&b, &len));
	assert_int_equal(len, 0);
}

static void
test_buf_wipe__zeroes_the_memory(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 64);
	buf_append_str(&b, "1234", NULL);
	buf_wipe(&b);
	assert_int_equal(b.len, 0);
	for (size_t i = 0; i < b.alloc; i++)
		assert_int_equal(b.data[i], 0);
	buf_release(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			test_buf_init__starts_empty_without_allocating),
		cmocka_unit_test(test_buf_append__grows_and_keeps_a_nul),
		cmocka_unit_test(
			test_buf_append__rejects_overflow_and_keeps_content),
		cmocka_unit_test(test_buf_appendf__formats_and_checks_the_cap),
		cmocka_unit_test(test_buf_consume__drops_a_prefix),
		cmocka_unit_test(test_buf_detach__hands_over_the_content),
		cmocka_unit_test(test_buf_wipe__zeroes_the_memory),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
