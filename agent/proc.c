/*
 * proc: see proc.h.
 */
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"

/* The child's output until EOF or until (the first line kept in text,
 * the rest dropped: a child that says more than a pipe holds must not
 * block on it).  False when the deadline passed first. */
static bool
read_output(char *text, size_t size, int fd, int64_t until)
{
	size_t len = 0;

	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int64_t left = until - clock_now_ms();
		char chunk[4096];
		ssize_t n;
		int ready;

		if (left <= 0)
			return false;
		if ((ready = poll(&pfd, 1, (int)left)) < 0 && errno == EINTR)
			continue;
		if (ready <= 0)
			return false;
		if ((n = read(fd, chunk, sizeof(chunk))) < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return true;
		if (len + 1 < size) {
			size_t k = (size_t)n < size - 1 - len ? (size_t)n
							      : size - 1 - len;

			memcpy(text + len, chunk, k);
			len += k;
			text[len] = '\0';
		}
	}
}

/* The child's exit status once it has exited; false at the deadline. */
static bool
reap(int *status, pid_t pid, int64_t until)
{
	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);

		if (r == pid)
			return true;
		if (r < 0 && errno != EINTR)
			return false;
		if (clock_now_ms() >= until)
			return false;
		clock_sleep_ms(10);
	}
}

int
proc_check(const char *const argv[], const char *what, int64_t timeout_ms,
	   struct err *err)
{
	int p[2], status = 0;
	char text[512] = "", *args[8] = { NULL };
	int64_t until = clock_now_ms() + timeout_ms;
	size_t k = 0;
	bool done;
	pid_t pid;

	while (argv[k] != NULL && k + 1 < sizeof(args) / sizeof(*args))
		k++;
	if (k == 0)
		return err_set(err, ERR_INVAL, "%s: no program to run", what);
	memcpy(args, argv, k * sizeof(*args)); /* execvp's type, unchanged */
	if (pipe2(p, O_CLOEXEC) < 0)
		return err_set_errno(err, ERR_IO, errno, "cannot make a pipe");
	if ((pid = fork()) == 0) {
		dup2(p[1], STDERR_FILENO);
		dup2(p[1], STDOUT_FILENO);
		execvp(args[0], args);
		_exit(127);
	}
	close(p[1]);
	if (pid < 0) {
		close(p[0]);
		return err_set_errno(err, ERR_IO, errno, "cannot run %s", what);
	}
	done = read_output(text, sizeof(text), p[0], until) &&
	       reap(&status, pid, until);
	close(p[0]);
	if (!done) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		return err_set(err, ERR_TIMEOUT,
			       "%s did not finish within %lld ms: stopped",
			       what, (long long)timeout_ms);
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		char *nl = strchr(text, '\n');

		if (nl != NULL)
			*nl = '\0';
		return err_set(err, ERR_IO, "%s refused the change: %s", what,
			       text[0] ? text : "(no output)");
	}
	return 0;
}
