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

/* an inventory of 1000 hosts fits */
#define LINE_MAX_BYTES (1024 * 1024)

static void
now_text(char *out, size_t size)
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
	return mkdirs(j->path, err);
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
	const struct passwd *pw;

	if (user != NULL && user[0] != '\0')
		return user;
	pw = getpwuid(getuid());
	return pw != NULL ? pw->pw_name : "?";
}

static int
write_lock(struct journal *j, struct err *err)
{
	char host[256] = "", since[40], *text;
	const char *user = journal_user();
	json_t *o;
	int fd, rc = 0;

	gethostname(host, sizeof(host) - 1);
	now_text(since, sizeof(since));
	fd = open(j->lock, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return errno == EEXIST
			       ? ERR_EXISTS
			       : err_set_errno(err, ERR_IO, errno,
					       "cannot create '%s'", j->lock);
	o = json_pack("{s:s, s:s, s:I, s:s}", "user", user, "host", host, "pid",
		      (json_int_t)getpid(), "since", since);
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
	long long pid = json_integer_value(json_object_get(holder, "pid"));
	int rc;

	if (holder_alive(holder))
		rc = err_set(err, ERR_BUSY,
			     "the environment is locked by %s@%s, pid %lld, "
			     "since %s",
			     user, host, pid, since);
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
	if (j->fd >= 0) {
		now_text(at, sizeof(at));
		json_object_set_new(event, "at", json_string(at));
		text = json_dumps(event, JSON_COMPACT | JSON_PRESERVE_ORDER);
		buf_init(&b, LINE_MAX_BYTES);
		if (text != NULL && buf_append_str(&b, text, NULL) == 0 &&
		    buf_append(&b, "\n", 1, NULL) == 0 &&
		    write(j->fd, b.data, b.len) == (ssize_t)b.len)
			fsync(j->fd);
		buf_release(&b);
		free(text);
	}
	json_decref(event);
}

void
journal_close(struct journal *j)
{
	if (j->locked)
		unlink(j->lock);
	j->locked = false;
	if (j->fd >= 0)
		close(j->fd);
	j->fd = -1;
}

/* One deployment or rollback as history shows it. */
static int
format_entry(struct buf *out, json_t *run, struct err *err)
{
	json_t *end = json_object_get(run, "end");
	const char *outcome =
		end ? json_string_value(json_object_get(end, "outcome"))
		    : "interrupted";
	const char *from = json_string_value(json_object_get(run, "from"));
	const char *to = json_string_value(json_object_get(run, "to"));
	char duration[32] = "-";

	if (to != NULL && to[0] == '\0') /* a scale: the pool stays on from */
		to = from;
	if (end != NULL)
		snprintf(duration, sizeof(duration), "%.1fs",
			 (double)json_integer_value(
				 json_object_get(end, "duration_ms")) /
				 1000.0);
	return buf_appendf(out, err,
			   "%-26s %-8s %-20s %-24s %10s -> %-10s %-12s %s\n",
			   json_string_value(json_object_get(run, "id")),
			   json_string_value(json_object_get(run, "kind")),
			   json_string_value(json_object_get(run, "operator")),
			   json_string_value(json_object_get(run, "at")),
			   /* No from: the run stopped before it read the
			    * fleet. */
			   from == NULL ? "?"
			   : from[0]	? from
					: "(nothing)",
			   to ? to : "?", outcome ? outcome : "?", duration);
}

/* A phase's analysis that a resume need not run again. */
static bool
analysis_held(const json_t *verdict)
{
	const char *v = json_string_value(verdict);

	return v != NULL &&
	       (strcmp(v, "passed") == 0 || strcmp(v, "accepted") == 0);
}

/* Folds one event into its run (found by id in byid). */
static void
fold_event(json_t *runs, json_t *byid, json_t *ev)
{
	const char *kind = json_string_value(json_object_get(ev, "event"));
	const char *id = json_string_value(json_object_get(ev, "id"));
	json_t *run;

	if (kind == NULL || id == NULL)
		return;
	if (strcmp(kind, "start") == 0) {
		run = json_deep_copy(ev);
		json_object_del(run, "event");
		/* "from" comes with the fleet's reading (a "from" event) */
		if (json_is_null(json_object_get(run, "from")))
			json_object_del(run, "from");
		json_object_set_new(run, "approved", json_array());
		json_object_set_new(run, "analysed", json_array());
		json_object_set_new(run, "failed_steps", json_integer(0));
		json_object_set(byid, id, run);
		json_array_append_new(runs, run);
		return;
	}
	if ((run = json_object_get(byid, id)) == NULL)
		return;
	if (strcmp(kind, "end") == 0) {
		json_object_set(run, "end", ev);
	} else if (strcmp(kind, "resume") == 0) {
		/* A resumed run is open again until its next end. */
		json_object_del(run, "end");
	} else if (strcmp(kind, "from") == 0) {
		json_object_set(run, "from", json_object_get(ev, "from"));
	} else if (strcmp(kind, "approved") == 0) {
		json_array_append(json_object_get(run, "approved"),
				  json_object_get(ev, "phase"));
	} else if (strcmp(kind, "analysis-end") == 0 &&
		   analysis_held(json_object_get(ev, "verdict"))) {
		json_array_append(json_object_get(run, "analysed"),
				  json_object_get(ev, "phase"));
	} else if (strcmp(kind, "step") == 0 &&
		   json_object_get(ev, "error") != NULL) {
		const char *step =
			json_string_value(json_object_get(ev, "step"));

		if (step != NULL && strcmp(step, "move-end") == 0)
			json_object_set_new(
				run, "failed_steps",
				json_integer(json_integer_value(json_object_get(
						     run, "failed_steps")) +
					     1));
	}
}

/* Calls fn with each whole event of the journal at path, in order. */
static int
each_event(const char *path, void (*fn)(void *ctx, json_t *ev), void *ctx,
	   struct err *err)
{
	char *line = NULL;
	size_t cap = 0;
	FILE *f = fopen(path, "r");
	json_t *ev;

	if (f == NULL)
		return err_set_errno(err, ERR_IO, errno, "no journal at '%s'",
				     path);
	while (getline(&line, &cap, f) > 0) {
		if ((ev = json_loads(line, 0, NULL)) == NULL)
			continue; /* a line cut by a crash */
		fn(ctx, ev);
		json_decref(ev);
	}
	free(line);
	fclose(f);
	return 0;
}

struct folding {
	json_t *runs, *byid;
};

static void
fold(void *ctx, json_t *ev)
{
	struct folding *f = ctx;

	fold_event(f->runs, f->byid, ev);
}

int
journal_runs(json_t **out, const char *path, struct err *err)
{
	struct folding f = { json_array(), json_object() };
	int rc = each_event(path, fold, &f, err);

	json_decref(f.byid);
	if (rc < 0) {
		json_decref(f.runs);
		f.runs = NULL;
	}
	*out = f.runs;
	return rc;
}

struct picking {
	json_t *list;
	const char *event, *key;
};

/* Keeps ev when it is the event sought, replacing an earlier one with the
 * same key's value. */
static void
pick(void *ctx, json_t *ev)
{
	struct picking *p = ctx;
	const char *what = json_string_value(json_object_get(ev, "event"));
	const char *id = json_string_value(json_object_get(ev, p->key));
	json_t *e;
	size_t i;

	if (what == NULL || strcmp(what, p->event) != 0)
		return;
	json_array_foreach (p->list, i, e) {
		const char *v = json_string_value(json_object_get(e, p->key));

		if (id != NULL && v != NULL && strcmp(id, v) == 0) {
			json_array_set(p->list, i, ev);
			return;
		}
	}
	json_array_append(p->list, ev);
}

json_t *
journal_events(const char *path, const char *event, const char *key)
{
	struct picking p = { json_array(), event, key };

	each_event(path, pick, &p, NULL);
	return p.list;
}

int
journal_history(struct buf *out, const char *path, struct err *err)
{
	json_t *runs, *run;
	size_t i;
	int rc;

	if ((rc = journal_runs(&runs, path, err)) < 0)
		return rc;
	rc = buf_appendf(out, err,
			 "%-26s %-8s %-20s %-24s %10s    %-10s %-12s %s\n",
			 "ID", "KIND", "WHO", "WHEN", "FROM", "TO", "OUTCOME",
			 "DURATION");
	json_array_foreach (runs, i, run)
		if (rc == 0)
			rc = format_entry(out, run, err);
	json_decref(runs);
	return rc;
}

/* What one finished run does to the stack of releases that stand. */
static void
replay(json_t *stack, json_t *run)
{
	const char *kind = json_string_value(json_object_get(run, "kind"));
	const char *to = json_string_value(json_object_get(run, "to"));
	const char *outcome = json_string_value(
		json_object_get(json_object_get(run, "end"), "outcome"));
	size_t n = json_array_size(stack), i;

	/* database runs (db-contract, db-restore) move no release */
	if (kind == NULL || to == NULL || outcome == NULL ||
	    strcmp(outcome, "done") != 0 ||
	    (strcmp(kind, "deploy") != 0 && strcmp(kind, "rollback") != 0))
		return;
	if (strcmp(kind, "rollback") == 0) {
		for (i = n; i-- > 0;)
			if (strcmp(json_string_value(json_array_get(stack, i)),
				   to) == 0)
				break;
		if (i < n) {
			while (json_array_size(stack) > i + 1)
				json_array_remove(stack,
						  json_array_size(stack) - 1);
			return;
		}
	}
	if (n == 0 ||
	    strcmp(json_string_value(json_array_get(stack, n - 1)), to) != 0)
		json_array_append_new(stack, json_string(to));
}

int
journal_release_before(char *out, size_t size, const char *path,
		       const char *current)
{
	json_t *runs = NULL, *stack = json_array(), *run;
	size_t i, n;
	int found = 0;

	out[0] = '\0';
	if (stack != NULL && journal_runs(&runs, path, NULL) == 0) {
		json_array_foreach (runs, i, run)
			replay(stack, run);
		n = json_array_size(stack);
		if (n >= 2 &&
		    strcmp(json_string_value(json_array_get(stack, n - 1)),
			   current) == 0) {
			snprintf(out, size, "%s",
				 json_string_value(
					 json_array_get(stack, n - 2)));
			found = 1;
		}
	}
	json_decref(runs);
	json_decref(stack);
	return found;
}

json_t *
journal_open_run(const char *path)
{
	json_t *runs = NULL, *run = NULL, *end;
	const char *kind, *outcome;
	size_t n;

	if (journal_runs(&runs, path, NULL) < 0)
		return NULL;
	/* The newest run that may have changed the fleet: runs that ended
	 * before they read it (refused, locked) are passed over. */
	for (n = json_array_size(runs); n > 0; n--) {
		run = json_array_get(runs, n - 1);
		kind = json_string_value(json_object_get(run, "kind"));
		if (kind != NULL && strncmp(kind, "db-", 3) == 0)
			continue; /* database runs move no host */
		if (json_object_get(run, "end") == NULL ||
		    json_is_string(json_object_get(run, "from")))
			break;
	}
	if (n == 0) {
		json_decref(runs);
		return NULL;
	}
	kind = json_string_value(json_object_get(run, "kind"));
	end = json_object_get(run, "end");
	outcome = json_string_value(json_object_get(end, "outcome"));
	if (kind != NULL && strcmp(kind, "deploy") == 0 &&
	    (end == NULL ||
	     (outcome != NULL && strcmp(outcome, "waiting") == 0)))
		json_incref(run);
	else
		run = NULL;
	json_decref(runs);
	return run;
}
