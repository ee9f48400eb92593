/* releases and state: activation, state.json, listing and pruning. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "fileio.h"
#include "layout.h"
#include "params.h"
#include "releases.h"
#include "state.h"

struct fixture {
	char root[64];
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	snprintf(f->root, sizeof(f->root), "/tmp/ivr-test-releases.XXXXXX");
	if (mkdtemp(f->root) == NULL || layout_init(f->root, NULL) < 0)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	fileio_remove_tree(f->root, NULL);
	free(f);
	return 0;
}

/* A staged release: a folder with release.json, staged at time `at`. */
static void
fake_release(struct fixture *f, const char *v, time_t at)
{
	char dir[256], file[300];
	struct timespec times[2] = { { at, 0 }, { at, 0 } };

	snprintf(dir, sizeof(dir), "%s/releases/%s", f->root, v);
	mkdir(dir, 0755);
	snprintf(file, sizeof(file), "%s/release.json", dir);
	assert_int_equal(fileio_write_atomic(file, "{}", 2, 0644, NULL), 0);
	utimensat(AT_FDCWD, file, times, 0);
}

static void
test_releases_activate__swaps_and_records(void **state)
{
	struct fixture *f = *state;
	struct activate_result r;
	char current[LAYOUT_VERSION_MAX + 1];
	struct agent_state st;
	struct err e;

	fake_release(f, "1.0.0", 1000);
	fake_release(f, "1.1.0", 2000);
	assert_int_equal(
		releases_activate(&r, f->root, "2.0.0", "d1", NULL, &e),
		ERR_NOTFOUND);
	assert_string_equal(e.msg, "release '2.0.0' is not staged: stage it "
				   "first");
	assert_int_equal(
		releases_activate(&r, f->root, "1.0.0", "d1", NULL, &e), 0);
	assert_true(r.changed);
	assert_int_equal(
		releases_activate(&r, f->root, "1.1.0", "d2", NULL, &e), 0);
	assert_string_equal(r.current, "1.1.0");
	assert_string_equal(r.previous, "1.0.0");
	/* Repeating is safe and changes nothing. */
	assert_int_equal(
		releases_activate(&r, f->root, "1.1.0", "d2", NULL, &e), 0);
	assert_false(r.changed);
	assert_string_equal(r.previous, "1.0.0");
	assert_int_equal(layout_current(current, f->root, &e), 0);
	assert_string_equal(current, "1.1.0");
	assert_int_equal(state_load(&st, f->root, &e), 0);
	assert_string_equal(st.current, "1.1.0");
	assert_string_equal(st.deployment_id, "d2");
	assert_int_equal(json_array_size(st.history), 2);
	state_release(&st);
}

static void
test_releases_activate__going_back_keeps_previous_useful(void **state)
{
	struct fixture *f = *state;
	struct activate_result r;

	fake_release(f, "1.0.0", 1000);
	fake_release(f, "1.1.0", 2000);
	fake_release(f, "1.2.0", 3000);
	releases_activate(&r, f->root, "1.0.0", "d1", NULL, NULL);
	releases_activate(&r, f->root, "1.1.0", "d2", NULL, NULL);
	releases_activate(&r, f->root, "1.2.0", "d3", NULL, NULL);
	assert_string_equal(r.previous, "1.1.0");
	/* d3 fails and goes back: previous names 1.0.0, not the undone
	 * 1.2.0, so the next rollback goes where the fleet ran before. */
	assert_int_equal(
		releases_activate(&r, f->root, "1.1.0", "d3", "d3", NULL), 0);
	assert_string_equal(r.current, "1.1.0");
	assert_string_equal(r.previous, "1.0.0");
}

/*
 * The case that took a fleet down: 1.0.0, 1.1.0, then two failed
 * deployments each undone on this host.  The release before the one that
 * stands is still 1.0.0, and the live deployment is still d2's; a host
 * that never saw the failures says the same.  Then the one-command
 * rollback (undoing d2) goes to 1.0.0.
 */
static void
test_releases_activate__failed_deployments_never_become_previous(void **state)
{
	struct fixture *f = *state;
	struct activate_result r;
	struct agent_state st;

	fake_release(f, "1.0.0", 1000);
	fake_release(f, "1.1.0", 2000);
	fake_release(f, "1.2.0", 3000);
	fake_release(f, "1.2.2", 4000);
	releases_activate(&r, f->root, "1.0.0", "d1", NULL, NULL);
	releases_activate(&r, f->root, "1.1.0", "d2", NULL, NULL);
	releases_activate(&r, f->root, "1.2.0", "d3", NULL, NULL);
	releases_activate(&r, f->root, "1.1.0", "d3", "d3", NULL);
	releases_activate(&r, f->root, "1.2.2", "d4", NULL, NULL);
	releases_activate(&r, f->root, "1.1.0", "d4", "d4", NULL);
	/* d5 fails on another host before touching this one: its
	 * rollback finds this host on 1.1.0 already and changes nothing */
	releases_activate(&r, f->root, "1.1.0", "d5", "d5", NULL);
	assert_string_equal(r.current, "1.1.0");
	assert_string_equal(r.previous, "1.0.0");
	assert_int_equal(state_load(&st, f->root, NULL), 0);
	assert_string_equal(st.deployment_id, "d2");
	assert_int_equal(json_array_size(st.lineage), 2);
	assert_int_equal(json_array_size(st.history), 7);
	state_release(&st);
	/* on-call's rollback undoes d2 */
	assert_int_equal(
		releases_activate(&r, f->root, "1.0.0", "r6", "d2", NULL), 0);
	assert_string_equal(r.current, "1.0.0");
	assert_string_equal(r.previous, "");
	assert_int_equal(state_load(&st, f->root, NULL), 0);
	assert_string_equal(st.deployment_id, "d1");
	state_release(&st);
}

/* rollback --to an older release unwinds down to it; to one the host
 * never stood on, it goes on top, the release before staying below. */
static void
test_releases_activate__rollback_to_a_named_release(void **state)
{
	struct fixture *f = *state;
	struct activate_result r;

	fake_release(f, "1.0.0", 1000);
	fake_release(f, "1.1.0", 2000);
	fake_release(f, "1.2.0", 3000);
	fake_release(f, "0.9.0", 500);
	releases_activate(&r, f->root, "1.0.0", "d1", NULL, NULL);
	releases_activate(&r, f->root, "1.1.0", "d2", NULL, NULL);
	releases_activate(&r, f->root, "1.2.0", "d3", NULL, NULL);
	releases_activate(&r, f->root, "1.0.0", "r4", "d3", NULL);
	assert_string_equal(r.current, "1.0.0");
	assert_string_equal(r.previous, "");
	releases_activate(&r, f->root, "0.9.0", "r5", "d1", NULL);
	assert_string_equal(r.current, "0.9.0");
	assert_string_equal(r.previous, "1.0.0");
}

/* A state.json from an agent that kept no lineage: previous stands. */
static void
test_state_load__makes_a_lineage_from_an_older_file(void **state)
{
	struct fixture *f = *state;
	const char *old = "{\"current\": \"1.1.0\", \"previous\": "
			  "\"1.0.0\", \"deployment_id\": \"d2\", "
			  "\"history\": []}";
	struct agent_state st;
	char path[128];

	snprintf(path, sizeof(path), "%s/state.json", f->root);
	assert_int_equal(
		fileio_write_atomic(path, old, strlen(old), 0644, NULL), 0);
	assert_int_equal(state_load(&st, f->root, NULL), 0);
	assert_string_equal(st.previous, "1.0.0");
	assert_string_equal(st.deployment_id, "d2");
	assert_int_equal(json_array_size(st.lineage), 2);
	state_release(&st);
}

static void
test_state_load__reports_a_broken_file(void **state)
{
	struct fixture *f = *state;
	struct agent_state st;
	char path[128];
	struct err e;

	snprintf(path, sizeof(path), "%s/state.json", f->root);
	assert_int_equal(
		fileio_write_atomic(path, "{\"current\": 5}", 14, 0644, NULL),
		0);
	assert_int_equal(state_load(&st, f->root, &e), ERR_PARSE);
	assert_non_null(strstr(e.msg, "is not a valid state file: bad fields"));
	state_release(&st);
	assert_int_equal(fileio_write_atomic(path, "{", 1, 0644, NULL), 0);
	assert_int_equal(state_load(&st, f->root, &e), ERR_PARSE);
	state_release(&st);
}

static void
test_layout_current__refuses_a_foreign_link(void **state)
{
	struct fixture *f = *state;
	char link[128], v[LAYOUT_VERSION_MAX + 1];
	struct err e;

	snprintf(link, sizeof(link), "%s/current", f->root);
	assert_int_equal(symlink("/etc", link), 0);
	assert_int_equal(layout_current(v, f->root, &e), ERR_INTEGRITY);
	assert_non_null(strstr(e.msg, "points to '/etc', not to "
				      "releases/<version>"));
}

static void
test_releases_prune__keeps_the_newest_and_the_protected(void **state)
{
	struct fixture *f = *state;
	struct activate_result r;
	json_t *removed, *protect = json_pack("[s]", "1.0.0"), *list;

	fake_release(f, "1.0.0", 1000);
	fake_release(f, "1.1.0", 2000);
	fake_release(f, "1.2.0", 3000);
	fake_release(f, "1.3.0", 4000);
	fake_release(f, "1.4.0", 5000);
	releases_activate(&r, f->root, "1.1.0", "d1", NULL, NULL);
	releases_activate(&r, f->root, "1.2.0", "d2", NULL, NULL);
	/* keep 1 newest (1.4.0); current 1.2.0, previous 1.1.0 and the
	 * protected 1.0.0 stay; only 1.3.0 goes. */
	assert_int_equal(releases_prune(&removed, f->root, 1, protect, NULL),
			 0);
	assert_int_equal(json_array_size(removed), 1);
	assert_string_equal(json_string_value(json_array_get(removed, 0)),
			    "1.3.0");
	list = releases_list(f->root, NULL);
	assert_int_equal(json_array_size(list), 4);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(list, 0), "version")),
			    "1.0.0");
	assert_true(json_is_true(
		json_object_get(json_array_get(list, 2), "current")));
	json_decref(list);
	json_decref(removed);
	json_decref(protect);
}

/* An artifact in incoming/ named by the sha256 of c (64 c's). */
static void
fake_artifact(struct fixture *f, char c, char *sha)
{
	char path[300];

	memset(sha, c, 64);
	sha[64] = '\0';
	snprintf(path, sizeof(path), "%s/incoming/%s", f->root, sha);
	assert_int_equal(fileio_write_atomic(path, "x", 1, 0644, NULL), 0);
}

static void
test_releases_prune_incoming__removes_what_no_release_came_from(void **state)
{
	struct fixture *f = *state;
	char kept[65], wanted[65], stray[65], marker[300];
	json_t *removed, *protect;

	fake_release(f, "1.0.0", 1000);
	fake_artifact(f, 'a', kept);
	fake_artifact(f, 'b', wanted);
	fake_artifact(f, 'c', stray);
	assert_int_equal(layout_marker(marker, f->root, "1.0.0", NULL), 0);
	assert_int_equal(fileio_write_atomic(marker, kept, 64, 0644, NULL), 0);
	protect = json_pack("[s]", wanted);
	assert_int_equal(
		releases_prune_incoming(&removed, f->root, protect, NULL), 0);
	assert_int_equal(json_array_size(removed), 1);
	assert_string_equal(json_string_value(json_array_get(removed, 0)),
			    stray);
	json_decref(removed);
	json_decref(protect);
	removed = releases_incoming(f->root, NULL);
	assert_int_equal(json_array_size(removed), 2);
	json_decref(removed);
}

static void
test_params__check_names_types_and_ranges(void **state)
{
	static const char *const allowed[] = { "version", "n", NULL };
	json_t *p = json_pack("{s:s, s:i, s:s}", "version", "../1", "n", 0,
			      "sha", "ABC");
	const char *s = NULL;
	int64_t n = 5;
	struct err e;

	(void)state;
	assert_int_equal(params_check(p, allowed, &e), ERR_INVAL);
	assert_string_equal(e.msg, "unknown param 'sha'");
	assert_int_equal(params_version(&s, p, "version", true, &e), ERR_INVAL);
	assert_string_equal(e.msg, "param 'version' must match "
				   "[A-Za-z0-9][A-Za-z0-9._-]{0,63}");
	assert_int_equal(params_int(&n, p, "n", true, 1, 10, &e), ERR_INVAL);
	assert_string_equal(e.msg,
			    "param 'n' must be a whole number from 1 to 10");
	assert_int_equal(n, 5);
	assert_int_equal(params_sha256(&s, p, "sha", true, &e), ERR_INVAL);
	assert_int_equal(params_str(&s, p, "absent", true, 10, &e), ERR_INVAL);
	assert_string_equal(e.msg, "missing param 'absent'");
	assert_int_equal(params_str(&s, p, "absent", false, 10, &e), 0);
	assert_false(layout_valid_version(".."));
	assert_false(layout_valid_version("a/b"));
	/* names starting with "." are the agent's markers and temporaries */
	assert_false(layout_valid_version(".1.0.0.tmp"));
	assert_false(layout_valid_version("."));
	assert_true(layout_valid_version("2.5.0-rc.1_x"));
	json_decref(p);
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_releases_activate__swaps_and_records),
		T(test_releases_activate__going_back_keeps_previous_useful),
		T(test_releases_activate__failed_deployments_never_become_previous),
		T(test_releases_activate__rollback_to_a_named_release),
		T(test_state_load__makes_a_lineage_from_an_older_file),
		T(test_state_load__reports_a_broken_file),
		T(test_layout_current__refuses_a_foreign_link),
		T(test_releases_prune__keeps_the_newest_and_the_protected),
		T(test_releases_prune_incoming__removes_what_no_release_came_from),
		cmocka_unit_test(test_params__check_names_types_and_ranges),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
