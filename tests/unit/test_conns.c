/*
 * conns: the deadline of each phase, and a sweep that shuts down exactly
 * the connections past theirs (seen as EOF by the peer).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "conns.h"

/* True when the peer of a shut down end reads EOF at once. */
static bool
peer_sees_eof(int peer)
{
	char c;

	return recv(peer, &c, 1, MSG_DONTWAIT) == 0;
}

static void
test_conns_sweep__cuts_only_connections_past_their_deadline(void **state)
{
	struct conns c;
	int a[2], b[2], d[2];
	struct conn_entry *slow, *idle, *busy;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, a), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, b), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, d), 0);
	conns_init(&c, 1000, 5000);
	slow = conns_opened(&c, a[0], 0); /* first headers: 1 s */
	idle = conns_opened(&c, b[0], 0); /* answered at 500: 5 s */
	busy = conns_opened(&c, d[0], 0); /* the application works */
	conns_phase(&c, idle, CONNS_HEADERS, 500);
	conns_phase(&c, busy, CONNS_BUSY, 10);
	assert_int_equal(c.open, 3);
	assert_int_equal(conns_sweep(&c, 1000), 0); /* at the deadline: kept */
	assert_int_equal(conns_sweep(&c, 1001), 1);
	assert_true(peer_sees_eof(a[1]));
	assert_false(peer_sees_eof(b[1]));
	assert_int_equal(conns_sweep(&c, 60000), 1); /* idle, not busy */
	assert_true(peer_sees_eof(b[1]));
	assert_false(peer_sees_eof(d[1]));
	assert_int_equal(c.cut, 2);
	/* a body gets the request deadline from its headers */
	conns_phase(&c, busy, CONNS_BODY, 60000);
	assert_int_equal(conns_sweep(&c, 60999), 0);
	assert_int_equal(conns_sweep(&c, 61001), 1);
	assert_true(peer_sees_eof(d[1]));
	conns_closed(&c, slow);
	conns_closed(&c, idle);
	conns_closed(&c, busy);
	conns_closed(&c, NULL);
	assert_int_equal(c.open, 0);
	assert_null(c.head);
	conns_release(&c);
	for (int i = 0; i < 2; i++) {
		close(a[i]);
		close(b[i]);
		close(d[i]);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			test_conns_sweep__cuts_only_connections_past_their_deadline),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
