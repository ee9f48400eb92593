#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "service.h"

static void *
linger(void *arg)
{
	(void)arg;
	clock_sleep_ms(600);
	_exit(0); /* no exit handlers (a sanitizer's) in the child */
}

/* The child's main thread ends first: its leader is a zombie while the
 * other thread (holding the process's files) still runs. */
static void
test_service_alive__a_zombie_leader_with_a_live_thread_is_alive(void **state)
{
	pthread_t t;
	pid_t child;
	int status;

	(void)state;
	if ((child = fork()) == 0) {
		if (pthread_create(&t, NULL, linger, NULL) != 0)
			_exit(1);
		pthread_exit(NULL); /* the process ends with linger */
	}
	assert_true(child > 0);
	clock_sleep_ms(200);
	assert_true(service_alive(child));
	clock_sleep_ms(800);
	/* Every thread gone: a zombie not yet reaped counts as stopped. */
	assert_false(service_alive(child));
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_false(service_alive(child));
}

static void
test_service_alive__a_running_and_a_missing_process(void **state)
{
	pid_t child;
	int status;

	(void)state;
	assert_true(service_alive(getpid()));
	assert_false(service_alive(0));
	if ((child = fork()) == 0) {
		pause();
		_exit(0);
	}
	assert_true(service_alive(child));
	kill(child, SIGKILL);
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_false(service_alive(child));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			test_service_alive__a_zombie_leader_with_a_live_thread_is_alive),
		cmocka_unit_test(
			test_service_alive__a_running_and_a_missing_process),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
