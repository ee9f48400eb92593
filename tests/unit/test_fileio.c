#include <dirent.h>
#include <limits.h>
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

struct tmpdir {
	char path[64];
};

static int
setup(void **state)
{
	struct tmpdir *t = calloc(1, sizeof(*t));

	snprintf(t->path, sizeof(t->path), "/tmp/ivr-test-fileio.XXXXXX");
	if (mkdtemp(t->path) == NULL)
		return -1;
	*state = t;
	return 0;
}

static int
teardown(void **state)
{
	struct tmpdir *t = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->path);
	if (system(cmd) != 0)
		return -1;
	free(t);
	return 0;
}

/* Number of entries in dir other than . and .. */
static int
count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static void
read_text(char *dst, size_t size, const char *path)
{
	FILE *f = fopen(path, "r");
	size_t n;

	assert_non_null(f);
	n = fread(dst, 1, size - 1, f);
	dst[n] = '\0';
	fclose(f);
}

static void
test_fileio_write_atomic__creates_and_replaces(void **state)
{
	struct tmpdir *t = *state;
	char path[PATH_MAX], text[64];
	struct stat st;
	struct err e;

	snprintf(path, sizeof(path), "%s/state.json", t->path);
	assert_int_equal(fileio_write_atomic(path, "{\"v\":1}", 7, 0600, &e),
			 0);
	read_text(text, sizeof(text), path);
	assert_string_equal(text, "{\"v\":1}");
	assert_int_equal(fileio_write_atomic(path, "{}", 2, 0644, &e), 0);
	read_text(text, sizeof(text), path);
	assert_string_equal(text, "{}");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	assert_int_equal(count_entries(t->path), 1);
}

static void
test_fileio_write_atomic__fails_cleanly_without_the_folder(void **state)
{
	struct tmpdir *t = *state;
	char path[PATH_MAX], expect[PATH_MAX + 100];
	struct err e;

	snprintf(path, sizeof(path), "%s/missing/state.json", t->path);
	assert_int_equal(fileio_write_atomic(path, "x", 1, 0600, &e), ERR_IO);
	snprintf(expect, sizeof(expect),
		 "cannot create a temp file beside '%s': No such file or "
		 "directory",
		 path);
	assert_string_equal(e.msg, expect);
}

static void
test_fileio_write_atomic__leaves_no_temp_when_rename_fails(void **state)
{
	struct tmpdir *t = *state;
	char path[PATH_MAX];
	struct err e;

	/* A folder in the way makes rename(2) fail after the temp exists. */
	snprintf(path, sizeof(path), "%s/state.json", t->path);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(fileio_write_atomic(path, "x", 1, 0600, &e), ERR_IO);
	assert_non_null(strstr(e.msg, "cannot rename '"));
	assert_non_null(strstr(e.msg, ": Is a directory"));
	assert_int_equal(count_entries(t->path), 1);
}

static void
test_fileio_symlink_atomic__swaps_the_link(void **state)
{
	struct tmpdir *t = *state;
	char link[PATH_MAX], target[PATH_MAX], dir[PATH_MAX];
	struct err e;
	ssize_t n;

	snprintf(link, sizeof(link), "%s/current", t->path);
	snprintf(dir, sizeof(dir), "%s/releases", t->path);
	assert_int_equal(mkdir(dir, 0755), 0);
	assert_int_equal(fileio_symlink_atomic("releases/1.0.0", link, &e), 0);
	assert_int_equal(fileio_symlink_atomic("releases/1.1.0", link, &e), 0);
	n = readlink(link, target, sizeof(target) - 1);
	assert_true(n > 0);
	target[n] = '\0';
	assert_string_equal(target, "releases/1.1.0");
	assert_int_equal(count_entries(t->path), 2);
}

static void
test_fileio_symlink_atomic__refuses_to_replace_a_folder(void **state)
{
	struct tmpdir *t = *state;
	char link[PATH_MAX], expect[PATH_MAX + 64];
	struct err e;

	snprintf(link, sizeof(link), "%s/current", t->path);
	assert_int_equal(mkdir(link, 0755), 0);
	assert_int_equal(fileio_symlink_atomic("releases/1.0.0", link, &e),
			 ERR_IO);
	snprintf(expect, sizeof(expect),
		 "cannot replace '%s': it is a folder, not a symlink", link);
	assert_string_equal(e.msg, expect);
}

static void
test_fileio_read_all__reads_under_a_cap(void **state)
{
	struct tmpdir *t = *state;
	char path[PATH_MAX], expect[PATH_MAX + 64];
	struct buf b;
	struct err e;

	snprintf(path, sizeof(path), "%s/plan.yaml", t->path);
	assert_int_equal(fileio_write_atomic(path, "0123456789", 10, 0600, &e),
			 0);
	buf_init(&b, 10);
	assert_int_equal(fileio_read_all(&b, path, &e), 0);
	assert_string_equal(buf_cstr(&b), "0123456789");
	buf_release(&b);

	buf_init(&b, 9);
	assert_int_equal(fileio_read_all(&b, path, &e), ERR_OVERFLOW);
	snprintf(expect, sizeof(expect), "'%s' is larger than 9 bytes", path);
	assert_string_equal(e.msg, expect);
	assert_int_equal(b.len, 0);
	buf_release(&b);

	snprintf(path, sizeof(path), "%s/absent.yaml", t->path);
	assert_int_equal(fileio_read_all(&b, path, &e), ERR_NOTFOUND);
	assert_non_null(strstr(e.msg, ": No such file or directory"));
}

static void
test_fileio_fsync_dir__reports_a_missing_folder(void **state)
{
	struct err e;

	(void)state;
	assert_int_equal(fileio_fsync_dir("/nonexistent-ivr", &e), ERR_IO);
	assert_string_equal(e.msg, "cannot open folder '/nonexistent-ivr': "
				   "No such file or directory");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_fileio_write_atomic__creates_and_replaces, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_fileio_write_atomic__fails_cleanly_without_the_folder,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_fileio_write_atomic__leaves_no_temp_when_rename_fails,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_fileio_symlink_atomic__swaps_the_link, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_fileio_symlink_atomic__refuses_to_replace_a_folder,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_fileio_read_all__reads_under_a_cap, setup,
			teardown),
		cmocka_unit_test(
			test_fileio_fsync_dir__reports_a_missing_folder),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
