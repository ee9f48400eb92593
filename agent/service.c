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
/* systemctl start waits for READY=1: the runtime's database check and
 * listening socket, well within the unit's TimeoutStartSec (90 s). */
#define SYSTEMCTL_START_MS 120000
#define SYSTEMCTL_ROOM_MS  10000

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

/* Closes whichever ends of a pipe are open. */
static void
close_pair(int fds[2])
{
	for (int i = 0; i < 2; i++)
		if (fds[i] >= 0) {
			close(fds[i]);
			fds[i] = -1;
		}
}

/* Appends what a non-blocking pipe holds to out (NULL: nothing to read). */
static void
drain_pipe(int fd, struct buf *out)
{
	char chunk[512];
	ssize_t got;

	if (out == NULL || fd < 0)
		return;
	while ((got = read(fd, chunk, sizeof(chunk))) > 0)
		(void)buf_append(out, chunk, (size_t)got, NULL);
}

/*
 * Runs `systemctl [--user] ARGS...` and waits for it up to deadline_ms
 * (then kills it: ERR_TIMEOUT).  Its standard output goes into out (what
 * passes out's limit is dropped) when out is not NULL.  0, ERR_IO or
 * ERR_TIMEOUT.
 */
static int
systemctl(const struct service *s, const char *const *args, struct buf *out,
	  int64_t deadline_ms, struct err *err)
{
	const char *argv[8];
	int64_t start = clock_now_ms();
	int fds[2] = { -1, -1 }, status = 0, n = 0, fd;
	pid_t pid, done;

	argv[n++] = "systemctl";
	if (s->user_scope)
		argv[n++] = "--user";
	for (int i = 0; args[i] != NULL && n < 7; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	if (out != NULL && pipe2(fds, O_CLOEXEC) < 0)
		return err_set_errno(err, ERR_IO, errno, "cannot make a pipe");
	if ((pid = fork()) < 0) {
		close_pair(fds);
		return err_set_errno(err, ERR_IO, errno, "cannot fork");
	}
	if (pid == 0) {
		if ((fd = open("/dev/null", O_RDWR | O_CLOEXEC)) >= 0) {
			dup2(fd, STDIN_FILENO);
			dup2(out != NULL ? fds[1] : fd, STDOUT_FILENO);
		}
		/* execvp's argv is char *const[] for history's sake: it
		 * writes nothing. */
		char *const *av;

		memcpy(&av, &(const char *const *){ argv }, sizeof(av));
		execvp("systemctl", av);
		_exit(127);
	}
	if (out != NULL) {
		close(fds[1]);
		fds[1] = -1;
		fcntl(fds[0], F_SETFL, O_NONBLOCK);
	}
	for (;;) {
		drain_pipe(fds[0], out);
		done = waitpid(pid, &status, WNOHANG);
		if (done == pid || (done < 0 && errno != EINTR))
			break;
		if (clock_now_ms() - start > deadline_ms) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			close_pair(fds);
			return err_set(err, ERR_TIMEOUT,
				       "systemctl %s %s did not finish within "
				       "%lld ms",
				       args[0], s->unit,
				       (long long)deadline_ms);
		}
		clock_sleep_ms(POLL_MS);
	}
	drain_pipe(fds[0], out);
	close_pair(fds);
	if (done < 0)
		return err_set_errno(err, ERR_IO, errno, "cannot wait");
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return err_set(err, ERR_IO, "systemctl%s %s %s failed (%s)",
			       s->user_scope ? " --user" : "", args[0], s->unit,
			       !WIFEXITED(status) ? "killed"
			       : WEXITSTATUS(status) == 127
				       ? "no systemctl on this host"
				       : "see journalctl for the unit");
	return 0;
}

/* The unit's MainPID, 0 when it runs nothing (or cannot be asked). */
static pid_t
unit_main_pid(const struct service *s)
{
	const char *args[] = { "show", "--property=MainPID", "--value", s->unit,
			       NULL };
	long long pid = 0;
	struct buf b;

	buf_init(&b, 64);
	if (systemctl(s, args, &b, 10000, NULL) < 0 || b.len == 0 ||
	    sscanf(buf_cstr(&b), "%lld", &pid) != 1 || pid < 0)
		pid = 0;
	buf_release(&b);
	return (pid_t)pid;
}

void
service_status(struct service_status *out, const struct service *s)
{
	memset(out, 0, sizeof(*out));
	if (s->manager == SERVICE_SYSTEMD)
		out->pid = unit_main_pid(s);
	else
		out->pid = read_pid(s->root);
	out->running = out->pid > 0;
}

bool
service_unit_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > 255 ||
	    !((name[0] >= 'a' && name[0] <= 'z') ||
	      (name[0] >= 'A' && name[0] <= 'Z') ||
	      (name[0] >= '0' && name[0] <= '9')))
		return false;
	return strspn(name, "abcdefghijklmnopqrstuvwxyz"
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@._:-\\") == n;
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
		const char *args[] = { "start", s->unit, NULL };
		bool was = out->running;

		/* Type=notify: returns once the runtime is ready. */
		if ((rc = systemctl(s, args, NULL, SYSTEMCTL_START_MS, err)) <
		    0)
			return rc;
		service_status(out, s);
		out->already = was;
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
		const char *args[] = { "stop", s->unit, NULL };
		int64_t start = clock_now_ms();

		out->how = "systemctl";
		out->already = !out->running;
		/* The unit's TimeoutStopSec ends a drain that overruns; ours
		 * is the caller's stop timeout, and some room for systemd. */
		if ((rc = systemctl(s, args, NULL,
				    s->stop_timeout_ms + SYSTEMCTL_ROOM_MS,
				    err)) < 0)
			return rc;
		out->waited_ms = clock_now_ms() - start;
		out->running = false;
		out->pid = 0;
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
