/*
 * Webhook signatures: HMAC-SHA256 of "<timestamp>.<body>", as a receiver
 * recomputes it (the value below is Python's hmac module's), and one that
 * changes with the timestamp, the body and the key.  The deliveries
 * themselves are tested against a real receiver (test_notify).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "notify.h"

static void
test_notify_sign__matches_a_receivers_hmac(void **state)
{
	const char *key = "0123456789abcdef", *body = "{\"event\":\"started\"}";
	char sig[80], other[80];

	(void)state;
	notify_sign(sig, key, strlen(key), 1700000000, body);
	assert_string_equal(sig, "sha256=cc2bb845db85718732f258ceb9b1449d"
				 "65983f5cc270b217118b23d05ad5b0a6");
	notify_sign(other, key, strlen(key), 1700000001, body);
	assert_string_not_equal(sig, other);
	notify_sign(other, key, strlen(key), 1700000000, "{\"event\":\"x\"}");
	assert_string_not_equal(sig, other);
	notify_sign(other, "0123456789abcdeF", 16, 1700000000, body);
	assert_string_not_equal(sig, other);
}

static void
test_notify_start__nothing_without_hooks(void **state)
{
	struct plan p = { 0 };
	struct notify_report rep;

	(void)state;
	assert_null(notify_start(&p));
	notify_send(NULL, "started", json_object()); /* freed, not sent */
	notify_finish(NULL, &rep);
	assert_int_equal(rep.delivered + rep.lost, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_notify_sign__matches_a_receivers_hmac),
		cmocka_unit_test(test_notify_start__nothing_without_hooks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
