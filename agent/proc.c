/*
 * proc: see proc.h.
 */
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int
proc_check(const char *const argv[], const char *what, struct err *err)
{
	int p[2], status;
	char text[512] = "", *args[8] = { NULL };
	size_t k = 0;
	ssize_t n;
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
	n = read(p[0], text, sizeof(text) - 1);
	/* the rest is read and dropped: a child that says more than a pipe
	 * holds must not block on it while we wait for its exit */
	for (char drop[4096]; n > 0 && read(p[0], drop, sizeof(drop)) > 0;)
		;
	close(p[0]);
	text[n > 0 ? n : 0] = '\0';
	if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		char *nl = strchr(text, '\n');

		if (nl != NULL)
			*nl = '\0';
		return err_set(err, ERR_IO, "%s refused the change: %s", what,
			       text[0] ? text : "(no output)");
	}
	return 0;
}
