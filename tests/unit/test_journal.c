#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "journal.h"

/* A journal file in a fresh folder, written line by line. */
struct fixture {
	char dir[64];
	char path[128];
};

/* The file journal at path, for reading. */
static struct journal *
at(const char *path)
{
	static struct journal j;

	journal_file(&j, path);
	return &j;
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/test-journal.XXXXXX");
	if (f == NULL || mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/env.journal", f->dir);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char lock[160];

	snprintf(lock, sizeof(lock), "%s.lock", f->path);
	unlink(lock);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

static FILE *
append_to(const struct fixture *f)
{
	FILE *out = fopen(f->path, "w");

	assert_non_null(out);
	return out;
}

static void
start(FILE *out, const char *id, const char *kind, const char *to)
{
	fprintf(out,
		"{\"event\":\"start\",\"id\":\"%s\",\"kind\":\"%s\","
		"\"plan_sha256\":\"ab\",\"operator\":\"ops@h\",\"to\":\"%s\","
		"\"at\":\"2026-11-26T06:00:00.000Z\"}\n",
		id, kind, to);
}

static void
from(FILE *out, const char *id, const char *release)
{
	fprintf(out, "{\"event\":\"from\",\"id\":\"%s\",\"from\":\"%s\"}\n", id,
		release);
}

static void
end(FILE *out, const char *id, const char *outcome)
{
	fprintf(out,
		"{\"event\":\"end\",\"id\":\"%s\",\"outcome\":\"%s\","
		"\"exit_code\":0,\"duration_ms\":1500}\n",
		id, outcome);
}

static void
test_journal_runs__folds_each_run_s_events(void **state)
{
	struct fixture *f = *state;
	json_t *runs = NULL, *run;
	FILE *out = append_to(f);
	struct err e;

	start(out, "d-1", "deploy", "1.1.0");
	from(out, "d-1", "1.0.0");
	fputs("{\"event\":\"approved\",\"id\":\"d-1\",\"phase\":\"half\"}\n",
	      out);
	fputs("{\"event\":\"step\",\"id\":\"d-1\",\"step\":\"move-end\","
	      "\"host\":\"h1\",\"error\":\"not ready\"}\n",
	      out);
	fputs("{\"event\":\"step\",\"id\":\"d-1\",\"step\":\"move-end\","
	      "\"host\":\"h2\"}\n",
	      out);
	fputs("{\"event\":\"step\",\"id\":\"d-1\",\"step\":\"rollback-end\","
	      "\"host\":\"h1\",\"error\":\"x\"}\n",
	      out);
	end(out, "d-1", "rolled_back");
	fputs("{\"event\":\"start\",\"id\":\"r-2\",\"ki\n", out); /* cut */
	start(out, "r-3", "rollback", "1.0.0");
	fclose(out);

	assert_int_equal(journal_runs(&runs, at(f->path), &e), 0);
	assert_int_equal(json_array_size(runs), 2);
	run = json_array_get(runs, 0);
	assert_string_equal(json_string_value(json_object_get(run, "id")),
			    "d-1");
	assert_string_equal(json_string_value(json_object_get(run, "from")),
			    "1.0.0");
	assert_int_equal(json_array_size(json_object_get(run, "approved")), 1);
	assert_int_equal(
		json_integer_value(json_object_get(run, "failed_steps")), 1);
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(run, "end"), "outcome")),
			    "rolled_back");
	run = json_array_get(runs, 1);
	assert_string_equal(json_string_value(json_object_get(run, "kind")),
			    "rollback");
	assert_null(json_object_get(run, "end"));
	json_decref(runs);
}

static void
test_journal_runs__reports_a_missing_journal(void **state)
{
	struct fixture *f = *state;
	json_t *runs = NULL;
	struct err e;

	assert_int_equal(journal_runs(&runs, at(f->path), &e), ERR_IO);
	assert_null(runs);
	assert_non_null(strstr(e.msg, "no journal at"));
}

static void
test_journal_open_run__finds_a_killed_or_waiting_deployment(void **state)
{
	struct fixture *f = *state;
	json_t *run;
	FILE *out;

	/* Killed: a start without an end. */
	out = append_to(f);
	start(out, "d-1", "deploy", "1.0.0");
	end(out, "d-1", "done");
	start(out, "d-2", "deploy", "1.1.0");
	from(out, "d-2", "1.0.0");
	fclose(out);
	run = journal_open_run(at(f->path), NULL);
	assert_non_null(run);
	assert_string_equal(json_string_value(json_object_get(run, "id")),
			    "d-2");
	json_decref(run);

	/* Stopped at a gate, then a deploy refused in preflight (no from):
	 * the refused one is passed over. */
	out = append_to(f);
	start(out, "d-2", "deploy", "1.1.0");
	from(out, "d-2", "1.0.0");
	end(out, "d-2", "waiting");
	start(out, "d-3", "deploy", "1.1.0");
	end(out, "d-3", "inconsistent");
	fclose(out);
	run = journal_open_run(at(f->path), NULL);
	assert_non_null(run);
	assert_string_equal(json_string_value(json_object_get(run, "id")),
			    "d-2");
	json_decref(run);

	/* Resumed and finished: nothing open. */
	out = append_to(f);
	start(out, "d-2", "deploy", "1.1.0");
	from(out, "d-2", "1.0.0");
	end(out, "d-2", "waiting");
	fputs("{\"event\":\"resume\",\"id\":\"d-2\"}\n", out);
	end(out, "d-2", "done");
	fclose(out);
	assert_null(journal_open_run(at(f->path), NULL));

	/* A rollback after the killed deployment: nothing open. */
	out = append_to(f);
	start(out, "d-4", "deploy", "1.1.0");
	from(out, "d-4", "1.0.0");
	start(out, "r-5", "rollback", "1.0.0");
	from(out, "r-5", "1.1.0");
	end(out, "r-5", "done");
	fclose(out);
	assert_null(journal_open_run(at(f->path), NULL));
	assert_null(journal_open_run(at("/nonexistent/env.journal"), NULL));
}

static void
test_journal_lock__holds_and_reports_a_dead_holder(void **state)
{
	struct fixture *f = *state;
	struct journal a, b;
	char env[] = "env";
	struct plan p = { .environment = env, .journal = f->path };
	char lock[160];
	pid_t child;
	int status;
	struct err e;

	assert_int_equal(journal_open(&a, &p, &e), 0);
	assert_int_equal(journal_lock(&a, false, &e), 0);
	assert_int_equal(journal_open(&b, &p, &e), 0);
	/* Held by a live process (this one). */
	assert_int_equal(journal_lock(&b, true, &e), ERR_BUSY);
	assert_non_null(strstr(e.msg, "the environment is locked by"));
	journal_close(&a);
	assert_int_equal(journal_lock(&b, false, &e), 0);
	journal_close(&b);

	/* Left by a process that is gone. */
	if ((child = fork()) == 0) {
		struct journal c;

		_exit(journal_open(&c, &p, NULL) == 0 &&
				      journal_lock(&c, false, NULL) == 0
			      ? 0
			      : 1);
	}
	waitpid(child, &status, 0);
	assert_int_equal(WEXITSTATUS(status), 0);
	snprintf(lock, sizeof(lock), "%s.lock", f->path);
	assert_int_equal(access(lock, F_OK), 0);
	assert_int_equal(journal_open(&b, &p, &e), 0);
	assert_int_equal(journal_lock(&b, false, &e), ERR_BUSY);
	assert_non_null(strstr(e.msg, "which is gone"));
	assert_non_null(strstr(e.msg, "--break-lock"));
	assert_int_equal(journal_lock(&b, true, &e), 0);
	journal_close(&b);
	assert_int_equal(access(lock, F_OK), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_journal_runs__folds_each_run_s_events, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_journal_runs__reports_a_missing_journal, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_journal_open_run__finds_a_killed_or_waiting_deployment,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_journal_lock__holds_and_reports_a_dead_holder,
			setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
