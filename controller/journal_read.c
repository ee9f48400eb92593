/*
 * journal_read: reading the journal back (journal.h): its runs folded
 * from their events, history's table, the release stack, the open run.
 */
#include "journal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "journal_int.h"

bool
journal_list_has(const json_t *list, const char *name)
{
	size_t i;
	json_t *v;

	json_array_foreach (list, i, v)
		if (json_is_string(v) &&
		    strcmp(json_string_value(v), name) == 0)
			return true;
	return false;
}

void
journal_run_user(char *out, size_t size, const json_t *run)
{
	const char *user = json_string_value(json_object_get(run, "user"));
	const char *op = json_string_value(json_object_get(run, "operator"));

	if (user != NULL)
		snprintf(out, size, "%s", user);
	else if (op != NULL)
		snprintf(out, size, "%.*s", (int)strcspn(op, "@"), op);
	else
		snprintf(out, size, "?");
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

/* Calls fn with each whole event of the journal, in order. */
static int
each_event(struct journal *j, void (*fn)(void *ctx, json_t *ev), void *ctx,
	   struct err *err)
{
	const char *path = j->path;
	char *line = NULL;
	size_t cap = 0;
	FILE *f;
	json_t *ev;

	if (j->shared != NULL)
		return journal_etcd_each(j, fn, ctx, err);
	if ((f = fopen(path, "r")) == NULL)
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
journal_runs(json_t **out, struct journal *j, struct err *err)
{
	struct folding f = { json_array(), json_object() };
	int rc = each_event(j, fold, &f, err);

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
journal_events(struct journal *j, const char *event, const char *key)
{
	struct picking p = { json_array(), event, key };

	each_event(j, pick, &p, NULL);
	return p.list;
}

int
journal_history(struct buf *out, struct journal *j, struct err *err)
{
	json_t *runs, *run;
	size_t i;
	int rc;

	if ((rc = journal_runs(&runs, j, err)) < 0)
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
journal_release_before(char *out, size_t size, struct journal *j,
		       const char *current)
{
	json_t *runs = NULL, *stack = json_array(), *run;
	size_t i, n;
	int found = 0;

	out[0] = '\0';
	if (stack != NULL && journal_runs(&runs, j, NULL) == 0) {
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
journal_open_run(struct journal *j, struct err *err)
{
	json_t *runs = NULL, *run = NULL, *end;
	const char *kind, *outcome;
	size_t n;

	err_init(err);
	if (journal_runs(&runs, j, err) < 0) {
		if (j->shared == NULL) /* no file: no run */
			err_init(err);
		return NULL;
	}
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
	     (outcome != NULL && (strcmp(outcome, "waiting") == 0 ||
				  strcmp(outcome, "stopped") == 0))))
		json_incref(run);
	else
		run = NULL;
	json_decref(runs);
	return run;
}
