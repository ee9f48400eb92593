#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "artifact.h"

static void
test_artifact_version__reads_the_name_and_refuses_others(void **state)
{
	char v[65];
	struct err e;

	(void)state;
	assert_int_equal(artifact_version(v, sizeof(v),
					  "/srv/ivr-runtime-2.5.0-rc1.tar.gz",
					  &e),
			 0);
	assert_string_equal(v, "2.5.0-rc1");
	assert_int_equal(
		artifact_version(v, sizeof(v), "ivr-runtime-.tar.gz", &e),
		ERR_INVAL);
	assert_string_equal(e.msg, "'ivr-runtime-.tar.gz' is not named "
				   "ivr-runtime-<version>.tar.gz");
	assert_int_equal(artifact_version(v, sizeof(v), "runtime-1.tar.gz", &e),
			 ERR_INVAL);
	assert_int_equal(artifact_version(v, 4, "ivr-runtime-1.2.3.tar.gz", &e),
			 ERR_INVAL);
}

static void
test_artifact_read__hashes_and_sizes_the_file(void **state)
{
	char dir[] = "/tmp/test_artifact.XXXXXX", path[256];
	struct artifact a;
	struct err e;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/ivr-runtime-1.0.0.tar.gz", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("abc", f);
	fclose(f);
	assert_int_equal(artifact_read(&a, path, &e), 0);
	assert_string_equal(a.version, "1.0.0");
	assert_string_equal(a.sha256, "ba7816bf8f01cfea414140de5dae2223b00361a3"
				      "96177a9cb410ff61f20015ad");
	assert_int_equal(a.size, 3);
	assert_string_equal(a.path, path);
	assert_true(artifact_has_sha(path, a.sha256));
	assert_false(artifact_has_sha(path, "00"));
	unlink(path);
	assert_int_equal(artifact_read(&a, path, &e), ERR_IO);
	assert_non_null(strstr(e.msg, "cannot read the artifact '"));
	assert_non_null(strstr(e.msg, "No such file or directory"));
	rmdir(dir);
}

static void
test_artifact_remote_path__is_the_agents_incoming_path(void **state)
{
	char out[96];
	struct err e;

	(void)state;
	assert_int_equal(
		artifact_remote_path(out, sizeof(out), "/srv/ivr", "ab12", &e),
		0);
	assert_string_equal(out, "/srv/ivr/incoming/ab12");
	assert_int_equal(artifact_remote_path(out, 10, "/srv/ivr", "ab12", &e),
			 ERR_OVERFLOW);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			test_artifact_version__reads_the_name_and_refuses_others),
		cmocka_unit_test(test_artifact_read__hashes_and_sizes_the_file),
		cmocka_unit_test(
			test_artifact_remote_path__is_the_agents_incoming_path),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
