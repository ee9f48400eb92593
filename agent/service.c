/*
 * service: see service.h.
 */
#include "service.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "buf.h"
#include "fileio.h"
#include "hostlayout.h"
#include "layout.h"
#include "parse.h"

#define PIDFILE	       "ivr-runtime.pid"
#define LOGFILE	       "ivr-runtime.log"
#define POLL_MS	       20
#define START_CHECK_MS 150 /* a runtime that exits within it failed */

/* The state letter of /proc/<path>/stat ('?' when unreadable). */
static char
proc_state(const char *path)
{
	const char *state;
	struct buf b;
	char c = '?';

	buf_init(&b, 4096); /* a stat line is well under a page */
	if (fileio_read_all(&b, path, NULL) == 0) {
		/* "pid (comm) S ...": the state follows the last ')'. */
		state = strrchr(buf_cstr(&b), ')');
		if (state != NULL && state[1] == ' ')
			c = state[2];
	}
	buf_release(&b);
	return c;
}

bool
service_alive(pid_t pid)
{
	char path[64], task[128];
	struct dirent *de;
	bool alive = false;
	DIR *d;
	char c;

	if (pid <= 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	c = proc_state(path);
	if (c == '?' || c == 'X')
		return false;
	if (c != 'Z')
		return true;
	/* A zombie leader may still have threads on their way out, holding
	 * the process's files (its listening socket): it is gone when every
	 * thread is. */
	snprintf(path, sizeof(path), "/proc/%ld/task", (long)pid);
	if ((d = opendir(path)) == NULL)
		return false;
	while (!alive && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(task, sizeof(task), "/proc/%ld/task/%.20s/stat",
			 (long)pid, de->d_name);
		c = proc_state(task);
		alive = c != '?' && c != 'Z' && c != 'X';
	}
	closedir(d);
	return alive;
}

/* The pid in shared/ivr-runtime.pid when that process is a runtime. */
static pid_t
read_pid(const char *root)
{
	char path[LAYOUT_PATH_MAX], cmd[LAYOUT_PATH_MAX];
	struct buf b;
	int64_t pid = 0;

	if (layout_path(path, root, HOSTLAYOUT_SHARED, PIDFILE, NULL) < 0)
		return 0;
	buf_init(&b, 32);
	if (fileio_read_all(&b, path, NULL) == 0) {
		char *nl = strchr(b.data ? b.data : "", '\n');

		if (nl != NULL)
			*nl = '\0';
		if (parse_int64(&pid, buf_cstr(&b), 1, INT32_MAX, NULL) < 0)
			pid = 0;
	}
	buf_release(&b);
	if (pid <= 0 || !service_alive((pid_t)pid))
		return 0;
	/* A reused pid is not ours: the program must be ivr-runtime. */
	snprintf(path, sizeof(path), "/proc/%lld/cmdline", (long long)pid);
	buf_init(&b, sizeof(cmd));
	if (fileio_read_all(&b, path, NULL) < 0 ||
	    strstr(buf_cstr(&b), "ivr-runtime") == NULL)
		pid = 0;
	buf_release(&b);
	return (pid_t)pid;
}

void
service_status(struct service_status *out, const struct service *s)
{
	memset(out, 0, sizeof(*out));
	out->pid = read_pid(s->root);
	out->running = out->pid > 0;
}

/* Runs `systemctl verb unit` and waits for it.  0 or ERR_IO. */
static int
systemctl(const char *verb, const char *unit, struct err *err)
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return err_set_errno(err, ERR_IO, errno, "cannot fork");
	if (pid == 0) {
		execlp("systemctl", "systemctl", verb, unit, (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return err_set_errno(err, ERR_IO, errno, "cannot wait");
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return err_set(err, ERR_IO,
			       "systemctl %s %s failed (status %d)", verb, unit,
			       WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	return 0;
}

/* In the detached grandchild: the runtime's own session and files. */
static void
exec_runtime(const char *bin, const char *config, const char *log,
	     const char *shared, int report)
{
	sigset_t none;
	int fd, e;

	setsid();
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	if ((fd = open("/dev/null", O_RDONLY)) >= 0)
		dup2(fd, STDIN_FILENO);
	if ((fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644)) >= 0) {
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
	}
	if (chdir(shared) == 0)
		execl(bin, "ivr-runtime", "--config", config, (char *)NULL);
	e = errno;
	if (write(report, &e, sizeof(e)) < 0)
		_exit(126);
	_exit(127);
}

/*
 * Forks twice so that the runtime is nobody's child here (no zombie when
 * it ends) and reports its pid, or the errno of a failed exec.
 */
static int
spawn(pid_t *pid, const char *bin, const char *config, const char *log,
      const char *shared, struct err *err)
{
	int p[2], status, e = 0;
	pid_t child;

	if (pipe2(p, O_CLOEXEC) < 0)
		return err_set_errno(err, ERR_IO, errno, "cannot make a pipe");
	if ((child = fork()) < 0) {
		close(p[0]);
		close(p[1]);
		return err_set_errno(err, ERR_IO, errno, "cannot fork");
	}
	if (child == 0) {
		pid_t grand = fork();

		if (grand == 0)
			exec_runtime(bin, config, log, shared, p[1]);
		_exit(write(p[1], &grand, sizeof(grand)) == sizeof(grand) &&
				      grand > 0
			      ? 0
			      : 1);
	}
	close(p[1]);
	waitpid(child, &status, 0);
	*pid = 0;
	if (read(p[0], pid, sizeof(*pid)) != sizeof(*pid) || *pid <= 0)
		e = EAGAIN;
	else if (read(p[0], &e, sizeof(e)) != sizeof(e))
		e = 0; /* the pipe closed on exec: it started */
	close(p[0]);
	if (e != 0)
		return err_set_errno(err, ERR_IO, e, "cannot run '%s'", bin);
	return 0;
}

static int
supervisor_start(struct service_status *out, const struct service *s,
		 struct err *err)
{
	char bin[LAYOUT_PATH_MAX], shared[LAYOUT_PATH_MAX],
		config[LAYOUT_PATH_MAX], log[LAYOUT_PATH_MAX],
		pidfile[LAYOUT_PATH_MAX], text[32];
	pid_t pid;
	int rc;

	if ((rc = layout_path(bin, s->root, HOSTLAYOUT_CURRENT,
			      "bin/ivr-runtime", err)) < 0 ||
	    (rc = layout_path(shared, s->root, HOSTLAYOUT_SHARED, NULL, err)) <
		    0 ||
	    (rc = layout_path(config, s->root, HOSTLAYOUT_SHARED, s->config,
			      err)) < 0 ||
	    (rc = layout_path(log, s->root, HOSTLAYOUT_SHARED, LOGFILE, err)) <
		    0 ||
	    (rc = layout_path(pidfile, s->root, HOSTLAYOUT_SHARED, PIDFILE,
			      err)) < 0)
		return rc;
	if (access(bin, X_OK) < 0)
		return err_set(err, ERR_NOTFOUND,
			       "no runtime to start: '%s' is missing (activate "
			       "a release first)",
			       bin);
	if (access(config, R_OK) < 0)
		return err_set(err, ERR_NOTFOUND,
			       "no runtime config '%s' on this host", config);
	if ((rc = spawn(&pid, bin, config, log, shared, err)) < 0)
		return rc;
	snprintf(text, sizeof(text), "%ld\n", (long)pid);
	if ((rc = fileio_write_atomic(pidfile, text, strlen(text), 0644, err)) <
	    0)
		return rc;
	/* A release that cannot even start (a bad config, a missing
	 * library) says so at once; a later death shows in readiness. */
	for (int waited = 0; waited < START_CHECK_MS && service_alive(pid);
	     waited += 10)
		clock_sleep_ms(10);
	if (!service_alive(pid)) {
		unlink(pidfile);
		return err_set(err, ERR_IO,
			       "ivr-runtime exited at once; see "
			       "shared/" LOGFILE);
	}
	out->running = true;
	out->pid = pid;
	return 0;
}

int
service_start(struct service_status *out, const struct service *s,
	      struct err *err)
{
	int rc;

	service_status(out, s);
	if (s->manager == SERVICE_SYSTEMD) {
		if ((rc = systemctl("start", s->unit, err)) < 0)
			return rc;
		out->running = true;
		return 0;
	}
	if (out->running) {
		out->already = true;
		return 0;
	}
	return supervisor_start(out, s, err);
}

/* Waits up to ms for pid to go; returns the time waited, or -1. */
static int64_t
wait_gone(pid_t pid, int64_t ms)
{
	int64_t start = clock_now_ms(), waited;

	while ((waited = clock_now_ms() - start) < ms) {
		if (!service_alive(pid))
			return waited;
		clock_sleep_ms(POLL_MS);
	}
	return service_alive(pid) ? -1 : waited;
}

int
service_stop(struct service_status *out, const struct service *s,
	     struct err *err)
{
	char pidfile[LAYOUT_PATH_MAX];
	int64_t waited;
	pid_t pid;
	int rc;

	service_status(out, s);
	if (s->manager == SERVICE_SYSTEMD) {
		out->how = "systemctl";
		if ((rc = systemctl("stop", s->unit, err)) < 0)
			return rc;
		out->running = false;
		return 0;
	}
	if ((rc = layout_path(pidfile, s->root, HOSTLAYOUT_SHARED, PIDFILE,
			      err)) < 0)
		return rc;
	pid = out->pid;
	out->how = "not_running";
	out->already = !out->running;
	if (out->running) {
		kill(pid, SIGTERM);
		out->how = "sigterm";
		waited = wait_gone(pid, s->stop_timeout_ms);
		if (waited < 0) {
			kill(pid, SIGKILL);
			out->how = "sigkill";
			waited = wait_gone(pid, 10000);
			if (waited < 0)
				return err_set(err, ERR_IO,
					       "ivr-runtime (pid %ld) survived "
					       "SIGKILL",
					       (long)pid);
			waited += s->stop_timeout_ms;
		}
		out->waited_ms = waited;
	}
	unlink(pidfile);
	out->running = false;
	out->pid = 0;
	return 0;
}
