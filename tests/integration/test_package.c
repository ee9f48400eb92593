/*
 * scripts/package-runtime.sh on the real build: the artifact's layout,
 * release.json hashes, version stamping, reproducibility, and the broken
 * variant that never starts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "hash.h"
#include "testsupport.h"

#define SCRIPT IVR_SOURCE_DIR "/scripts/package-runtime.sh"

struct fixture {
	char dir[64];
	char log[128];
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	ts_tmpdir(f->dir, "package");
	snprintf(f->log, sizeof(f->log), "%s/out.log", f->dir);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	ts_rmrf(f->dir);
	free(f);
	return 0;
}

/* Packages version into dir/name and unpacks it into dir/name/x. */
static void
package(struct fixture *f, const char *name, const char *version, bool broken)
{
	char out[128], cmd[2048];
	const char *argv[] = { "sh", "-c", cmd, NULL };

	snprintf(out, sizeof(out), "%s/%s", f->dir, name);
	snprintf(cmd, sizeof(cmd),
		 "%s --build %s --version %s --out %s %s && mkdir %s/x && "
		 "tar -xzf %s/ivr-runtime-%s.tar.gz -C %s/x",
		 SCRIPT, IVR_BUILD_DIR, version, out, broken ? "--broken" : "",
		 out, out, version, out);
	assert_int_equal(ts_run(argv, f->log), 0);
}

static void
test_package__holds_the_release_with_verified_hashes(void **state)
{
	struct fixture *f = *state;
	unsigned char digest[HASH_SHA256_LEN];
	char path[256], hex[HASH_SHA256_HEX_LEN + 1], *text;
	json_t *rel, *files, *v;
	const char *file;

	package(f, "a", "2.5.0", false);
	snprintf(path, sizeof(path), "%s/a/x/release.json", f->dir);
	rel = json_load_file(path, 0, NULL);
	assert_non_null(rel);
	assert_string_equal(json_string_value(json_object_get(rel, "version")),
			    "2.5.0");
	files = json_object_get(rel, "files");
	assert_non_null(json_object_get(files, "bin/ivr-runtime"));
	assert_non_null(json_object_get(files, "share/flows/banking.yaml"));
	assert_non_null(json_object_get(files, "share/db/001_initial.sql"));
	assert_non_null(
		json_object_get(files, "share/db/postgresql/001_initial.sql"));
	json_object_foreach (files, file, v) {
		snprintf(path, sizeof(path), "%s/a/x/%s", f->dir, file);
		assert_int_equal(hash_sha256_file(digest, path, NULL), 0);
		hash_hex(hex, digest, sizeof(digest));
		assert_string_equal(hex, json_string_value(v));
	}
	json_decref(rel);
	/* The .sha256 file is in sha256sum's format, for `sha256sum -c`. */
	snprintf(path, sizeof(path), "%s/a/ivr-runtime-2.5.0.tar.gz", f->dir);
	assert_int_equal(hash_sha256_file(digest, path, NULL), 0);
	hash_hex(hex, digest, sizeof(digest));
	snprintf(path, sizeof(path), "%s/a/ivr-runtime-2.5.0.tar.gz.sha256",
		 f->dir);
	text = ts_read_file(path);
	assert_non_null(text);
	assert_memory_equal(text, hex, HASH_SHA256_HEX_LEN);
	assert_string_equal(text + HASH_SHA256_HEX_LEN,
			    "  ivr-runtime-2.5.0.tar.gz\n");
	free(text);
}

static void
test_package__stamps_the_version_the_binary_reports(void **state)
{
	struct fixture *f = *state;
	char bin[256], out[160], *text;

	package(f, "b", "3.1.4", false);
	snprintf(bin, sizeof(bin), "%s/b/x/bin/ivr-runtime", f->dir);
	snprintf(out, sizeof(out), "%s/version.out", f->dir);
	{
		const char *argv[] = { bin, "--version", NULL };

		assert_int_equal(ts_run(argv, out), 0);
	}
	text = ts_read_file(out);
	assert_true(strncmp(text, "ivr-runtime 3.1.4 (build ", 25) == 0);
	free(text);
	{
		const char *argv[] = { bin, "check", NULL };

		assert_int_equal(ts_run(argv, out), 0);
	}
}

static void
test_package__is_reproducible(void **state)
{
	struct fixture *f = *state;
	char a[160], b[160], *ha, *hb;

	package(f, "c1", "1.0.0", false);
	package(f, "c2", "1.0.0", false);
	snprintf(a, sizeof(a), "%s/c1/ivr-runtime-1.0.0.tar.gz.sha256", f->dir);
	snprintf(b, sizeof(b), "%s/c2/ivr-runtime-1.0.0.tar.gz.sha256", f->dir);
	ha = ts_read_file(a);
	hb = ts_read_file(b);
	assert_string_equal(ha, hb);
	free(ha);
	free(hb);
}

static void
test_package__broken_release_refuses_to_start(void **state)
{
	struct fixture *f = *state;
	char bin[256], out[160], *text;
	const char *argv[] = { bin, "check", NULL };

	package(f, "d", "1.2.0", true);
	snprintf(bin, sizeof(bin), "%s/d/x/bin/ivr-runtime", f->dir);
	snprintf(out, sizeof(out), "%s/check.out", f->dir);
	assert_int_equal(ts_run(argv, out), 2);
	text = ts_read_file(out);
	assert_non_null(strstr(text, "banking.yaml:5:8: 'start': unknown node "
				     "'welcom' (did you mean 'welcome'?)"));
	free(text);
}

static void
test_package__refuses_a_bad_version(void **state)
{
	struct fixture *f = *state;
	char cmd[2048], *text;
	const char *argv[] = { "sh", "-c", cmd, NULL };

	snprintf(cmd, sizeof(cmd), "%s --build %s --version 1.x --out %s/e",
		 SCRIPT, IVR_BUILD_DIR, f->dir);
	assert_int_equal(ts_run(argv, f->log), 2);
	text = ts_read_file(f->log);
	assert_non_null(strstr(text, "version '1.x' is not MAJOR.MINOR.PATCH"));
	free(text);
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_package__holds_the_release_with_verified_hashes),
		T(test_package__stamps_the_version_the_binary_reports),
		T(test_package__is_reproducible),
		T(test_package__broken_release_refuses_to_start),
		T(test_package__refuses_a_bad_version),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
