/*
 * journal: see journal.h.
 */
#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "fileio.h"
#include "journal_int.h"

/* an inventory of 1000 hosts fits */
#define LINE_MAX_BYTES (1024 * 1024)

void
journal_now_text(char *out, size_t size)
{
	struct timespec ts;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(out, size, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, size - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

static int
mkdirs(const char *path, struct err *err)
{
	char dir[4096];

	snprintf(dir, sizeof(dir), "%s", path);
	for (char *p = dir + 1; (p = strchr(p, '/')) != NULL; p++) {
		*p = '\0';
		if (mkdir(dir, 0700) < 0 && errno != EEXIST)
			return err_set_errno(err, ERR_IO, errno,
					     "cannot create '%s'", dir);
		*p = '/';
	}
	return 0;
}

int
journal_paths(struct journal *j, const struct plan *p, struct err *err)
{
	const char *state = getenv("XDG_STATE_HOME"), *home = getenv("HOME");

	memset(j, 0, sizeof(*j));
	j->fd = -1;
	if (p->journal != NULL)
		snprintf(j->path, sizeof(j->path), "%s", p->journal);
	else if (state != NULL && state[0] == '/')
		snprintf(j->path, sizeof(j->path), "%s/ivr-deploy/%s.journal",
			 state, p->environment);
	else
		snprintf(j->path, sizeof(j->path),
			 "%s/.local/state/ivr-deploy/%s.journal",
			 home ? home : "/tmp", p->environment);
	snprintf(j->lock, sizeof(j->lock), "%s.lock", j->path);
	if (p->state.backend == PLAN_STATE_ETCD &&
	    journal_etcd_setup(j, p, err) < 0)
		return ERR_NOMEM;
	return mkdirs(j->path, err);
}

void
journal_file(struct journal *j, const char *path)
{
	memset(j, 0, sizeof(*j));
	j->fd = -1;
	snprintf(j->path, sizeof(j->path), "%s", path);
}

size_t
journal_unwritten(struct journal *j)
{
	return j->unwritten;
}

const char *
journal_where(const struct journal *j)
{
	return j->where[0] ? j->where : j->path;
}

int
journal_open(struct journal *j, const struct plan *p, struct err *err)
{
	int rc;

	if ((rc = journal_paths(j, p, err)) < 0)
		return rc;
	j->fd = open(j->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (j->fd < 0)
		return err_set_errno(err, ERR_IO, errno,
				     "cannot open the journal '%s'", j->path);
	return 0;
}

/* Reads the holder of an existing lock; false when unreadable. */
static bool
read_holder(json_t **holder, const char *path)
{
	*holder = json_load_file(path, 0, NULL);
	return *holder != NULL;
}

static bool
holder_alive(json_t *holder)
{
	char host[256] = "";
	json_int_t pid = json_integer_value(json_object_get(holder, "pid"));
	const char *h = json_string_value(json_object_get(holder, "host"));

	gethostname(host, sizeof(host) - 1);
	/* A lock from another machine cannot be checked: take it as held. */
	if (h == NULL || strcmp(h, host) != 0)
		return true;
	return pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

const char *
journal_user(void)
{
	const char *user = getenv("USER");
	const struct passwd *pw = getpwuid(getuid());

	if (pw != NULL)
		return pw->pw_name;
	return user != NULL && user[0] != '\0' ? user : "?";
}

void
journal_operator(char *out, size_t size)
{
	char host[256] = "";

	gethostname(host, sizeof(host) - 1);
	snprintf(out, size, "%s@%s", journal_user(), host);
}

json_t *
journal_holder_json(const struct journal *j)
{
	char host[256] = "", since[40];

	gethostname(host, sizeof(host) - 1);
	journal_now_text(since, sizeof(since));
	return json_pack("{s:s, s:s, s:I, s:s, s:s*}", "user", journal_user(),
			 "host", host, "pid", (json_int_t)getpid(), "since",
			 since, "run", j->run[0] ? j->run : NULL);
}

static int
write_lock(struct journal *j, struct err *err)
{
	char *text;
	json_t *o;
	int fd, rc = 0;

	fd = open(j->lock, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return errno == EEXIST
			       ? ERR_EXISTS
			       : err_set_errno(err, ERR_IO, errno,
					       "cannot create '%s'", j->lock);
	o = journal_holder_json(j);
	text = json_dumps(o, JSON_COMPACT);
	if (text == NULL || write(fd, text, strlen(text)) < 0 || fsync(fd) < 0)
		rc = err_set_errno(err, ERR_IO, errno, "cannot write '%s'",
				   j->lock);
	free(text);
	json_decref(o);
	close(fd);
	if (rc == 0)
		j->locked = true;
	return rc;
}

/* The lock is held (by a live process), or was left by a dead one:
 * ERR_BUSY saying by whom.  Frees holder. */
static int
held(struct err *err, json_t *holder)
{
	const char *user = json_string_value(json_object_get(holder, "user"));
	const char *host = json_string_value(json_object_get(holder, "host"));
	const char *since = json_string_value(json_object_get(holder, "since"));
	const char *run = json_string_value(json_object_get(holder, "run"));
	long long pid = json_integer_value(json_object_get(holder, "pid"));
	int rc;

	if (holder_alive(holder))
		rc = err_set(err, ERR_BUSY,
			     "the environment is locked by %s@%s, pid %lld, "
			     "%s%s%ssince %s",
			     user, host, pid, run ? "run " : "", run ? run : "",
			     run ? ", " : "", since);
	else
		rc = err_set(
			err, ERR_BUSY,
			"the environment's lock was left by pid %lld on "
			"this host, which is gone (since %s): check no "
			"deployment runs, then run again with --break-lock",
			pid, since);
	json_decref(holder);
	return rc;
}

int
journal_lock(struct journal *j, bool break_stale, struct err *err)
{
	json_t *holder = NULL;
	int rc;

	if (j->shared != NULL)
		return journal_etcd_lock(j, break_stale, err);
	for (int attempt = 0; attempt < 2; attempt++) {
		if ((rc = write_lock(j, err)) != ERR_EXISTS)
			return rc;
		if (!read_holder(&holder, j->lock))
			return err_set(err, ERR_BUSY,
				       "the environment is locked ('%s' "
				       "exists but cannot be read)",
				       j->lock);
		if (holder_alive(holder) || !break_stale)
			return held(err, holder);
		json_decref(holder);
		unlink(j->lock);
	}
	return err_set(err, ERR_BUSY, "the environment's lock changed hands");
}

void
journal_write(struct journal *j, json_t *event)
{
	char at[40], *text;
	struct buf b;

	if (event == NULL)
		return;
	if (j->fd >= 0 || j->shared != NULL) {
		journal_now_text(at, sizeof(at));
		json_object_set_new(event, "at", json_string(at));
		text = json_dumps(event, JSON_COMPACT | JSON_PRESERVE_ORDER);
		buf_init(&b, LINE_MAX_BYTES);
		if (text != NULL && buf_append_str(&b, text, NULL) == 0 &&
		    buf_append(&b, "\n", 1, NULL) == 0 &&
		    write(j->fd, b.data, b.len) == (ssize_t)b.len)
			fsync(j->fd);
		if (j->shared != NULL && text != NULL)
			journal_etcd_write(j, text);
		buf_release(&b);
		free(text);
	}
	json_decref(event);
}

void
journal_close(struct journal *j)
{
	if (j->shared != NULL) {
		journal_etcd_close(j);
		j->locked = false;
	}
	if (j->locked)
		unlink(j->lock);
	j->locked = false;
	if (j->fd >= 0)
		close(j->fd);
	j->fd = -1;
}
