/*
 * stage on real archives written with libarchive: a good release, and
 * every way an archive may try to escape or lie.
 */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
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
#include <jansson.h>
#include <sys/sysmacros.h>

#include "fileio.h"
#include "hash.h"
#include "layout.h"
#include "stage.h"

struct fixture {
	char top[64]; /* holds root/ and nothing else */
	char root[128];
	char sha[HASH_SHA256_HEX_LEN + 1];
	struct archive *a;
	char path[256];
	json_t *manifest;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct err e;

	snprintf(f->top, sizeof(f->top), "/tmp/ivr-test-stage.XXXXXX");
	if (mkdtemp(f->top) == NULL)
		return -1;
	snprintf(f->root, sizeof(f->root), "%s/root", f->top);
	mkdir(f->root, 0755);
	if (layout_init(f->root, &e) < 0)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	fileio_remove_tree(f->top, NULL);
	free(f);
	return 0;
}

/* Starts an archive in top/artifact.tar.gz. */
static void
begin(struct fixture *f)
{
	snprintf(f->path, sizeof(f->path), "%s/artifact.tar.gz", f->top);
	f->a = archive_write_new();
	archive_write_add_filter_gzip(f->a);
	archive_write_set_format_pax_restricted(f->a);
	assert_int_equal(archive_write_open_filename(f->a, f->path),
			 ARCHIVE_OK);
	f->manifest = json_object();
}

static void
add(struct fixture *f, const char *name, mode_t type, const char *data,
    const char *link, bool hard)
{
	struct archive_entry *e = archive_entry_new();
	size_t n = data ? strlen(data) : 0;

	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)n);
	if (link != NULL && hard)
		archive_entry_set_hardlink(e, link);
	else if (link != NULL)
		archive_entry_set_symlink(e, link);
	if (type == AE_IFCHR)
		archive_entry_set_rdev(e, makedev(1, 3));
	assert_int_equal(archive_write_header(f->a, e), ARCHIVE_OK);
	if (n > 0)
		archive_write_data(f->a, data, n);
	archive_entry_free(e);
}

/* A regular file, recorded in the manifest with its sha256. */
static void
add_file(struct fixture *f, const char *name, const char *data)
{
	unsigned char d[HASH_SHA256_LEN];
	char hex[HASH_SHA256_HEX_LEN + 1];

	add(f, name, AE_IFREG, data, NULL, false);
	hash_sha256_buf(d, data, strlen(data), NULL);
	hash_hex(hex, d, sizeof(d));
	json_object_set_new(f->manifest, name, json_string(hex));
}

/* Writes release.json for version, closes, moves into incoming/<sha>. */
static void
finish(struct fixture *f, const char *version)
{
	unsigned char d[HASH_SHA256_LEN];
	char dest[512], *text;
	json_t *m = json_pack("{s:s, s:s, s:O}", "version", version, "build_id",
			      "test", "files", f->manifest);

	text = json_dumps(m, 0);
	add(f, "release.json", AE_IFREG, text, NULL, false);
	free(text);
	json_decref(m);
	json_decref(f->manifest);
	archive_write_close(f->a);
	archive_write_free(f->a);
	assert_int_equal(hash_sha256_file(d, f->path, NULL), 0);
	hash_hex(f->sha, d, sizeof(d));
	snprintf(dest, sizeof(dest), "%s/incoming/%s", f->root, f->sha);
	assert_int_equal(rename(f->path, dest), 0);
}

static const struct stage_limits limits = { 1024 * 1024, 100, 0 };

static int
stage(struct fixture *f, const char *version, struct err *e)
{
	struct stage_result r;

	return stage_release(&r, f->root, version, f->sha, &limits, NULL, NULL,
			     e);
}

/* Entries in a folder, other than . and .. */
static int
entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	while (d != NULL && (de = readdir(d)) != NULL)
		n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	if (d != NULL)
		closedir(d);
	return n;
}

/* Nothing left behind: top holds only root/, releases/ no release. */
static void
assert_nothing_written(struct fixture *f)
{
	char releases[160];

	snprintf(releases, sizeof(releases), "%s/releases", f->root);
	assert_int_equal(entries(f->top), 1);
	/* no folder, no temporary, no marker: a refusal changes nothing */
	assert_int_equal(entries(releases), 0);
}

static void
test_stage__unpacks_a_good_release(void **state)
{
	struct fixture *f = *state;
	struct stage_result r;
	char path[256];
	struct err e;

	begin(f);
	add(f, "bin", AE_IFDIR, NULL, NULL, false);
	add_file(f, "bin/ivr-runtime", "#!/bin/sh\necho hi\n");
	add_file(f, "share/flows/banking.yaml", "flow: x\n");
	add(f, "share/link", AE_IFLNK, NULL, "flows/banking.yaml", false);
	finish(f, "2.0.0");
	assert_int_equal(stage_release(&r, f->root, "2.0.0", f->sha, &limits,
				       NULL, NULL, &e),
			 0);
	assert_false(r.already);
	assert_int_equal(r.files, 3);
	assert_true(layout_is_staged(f->root, "2.0.0"));
	snprintf(path, sizeof(path),
		 "%s/releases/2.0.0/share/flows/banking.yaml", f->root);
	assert_int_equal(access(path, R_OK), 0);
	/* Again: a no-op that says so. */
	assert_int_equal(stage_release(&r, f->root, "2.0.0", f->sha, &limits,
				       NULL, NULL, &e),
			 0);
	assert_true(r.already);
}

static void
expect_unsafe(struct fixture *f, const char *why)
{
	struct err e;

	assert_int_equal(stage(f, "9.9.9", &e), ERR_UNSAFE);
	assert_non_null(strstr(e.msg, why));
	assert_nothing_written(f);
}

static void
test_stage__refuses_dot_dot(void **state)
{
	struct fixture *f = *state;

	begin(f);
	add_file(f, "../../escaped", "x");
	finish(f, "9.9.9");
	expect_unsafe(f, "archive entry '../../escaped' leaves the release");
}

static void
test_stage__refuses_absolute_paths(void **state)
{
	struct fixture *f = *state;
	char name[128];

	snprintf(name, sizeof(name), "%s/absolute", f->top);
	begin(f);
	add_file(f, name, "x");
	finish(f, "9.9.9");
	expect_unsafe(f, "leaves the release");
}

static void
test_stage__refuses_symlink_escapes(void **state)
{
	struct fixture *f = *state;

	begin(f);
	add(f, "share/up", AE_IFLNK, NULL, "../../outside", false);
	finish(f, "9.9.9");
	expect_unsafe(f, "symlink 'share/up' points outside the release");
	begin(f);
	add(f, "abs", AE_IFLNK, NULL, "/etc/passwd", false);
	finish(f, "9.9.9");
	expect_unsafe(f, "symlink 'abs' points outside the release");
}

static void
test_stage__refuses_a_symlink_chain_that_leaves_the_release(void **state)
{
	struct fixture *f = *state;

	/* Each target is shallow as text; through b -> . the second climbs
	 * six folders above the release. */
	begin(f);
	add(f, "b", AE_IFLNK, NULL, ".", false);
	add(f, "etc", AE_IFLNK, NULL, "b/b/b/b/b/b/../../../../../../etc",
	    false);
	finish(f, "9.9.9");
	expect_unsafe(f, "symlink 'etc' points outside the release");
}

static void
test_stage__refuses_a_symlink_to_nothing(void **state)
{
	struct fixture *f = *state;

	begin(f);
	add(f, "share/dangling", AE_IFLNK, NULL, "missing", false);
	finish(f, "9.9.9");
	expect_unsafe(f, "symlink 'share/dangling' points to nothing");
}

/* A sparse entry of 1 TiB whose data is a few bytes: refused from its
 * header, at once, before anything is written or hashed. */
static void
test_stage__refuses_sparse_entries(void **state)
{
	struct fixture *f = *state;
	struct archive_entry *e = archive_entry_new();

	snprintf(f->path, sizeof(f->path), "%s/artifact.tar.gz", f->top);
	f->a = archive_write_new();
	archive_write_add_filter_gzip(f->a);
	archive_write_set_format_pax(f->a);
	assert_int_equal(archive_write_open_filename(f->a, f->path),
			 ARCHIVE_OK);
	f->manifest = json_object();
	archive_entry_set_pathname(e, "sparse");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)1 << 40);
	archive_entry_sparse_add_entry(e, 0, 4);
	assert_int_equal(archive_write_header(f->a, e), ARCHIVE_OK);
	archive_write_data(f->a, "data", 4);
	archive_entry_free(e);
	finish(f, "9.9.9");
	expect_unsafe(f, "archive entry 'sparse' is a sparse file");
}

/* A declared size over the cap is refused before its data is read. */
static void
test_stage__refuses_a_declared_size_over_the_cap(void **state)
{
	struct fixture *f = *state;
	struct stage_limits small = { 4096, 100, 0 };
	struct archive_entry *e = archive_entry_new();
	struct stage_result r;
	struct err err;

	begin(f);
	archive_entry_set_pathname(e, "big");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, 8192); /* padded with zeros on close */
	assert_int_equal(archive_write_header(f->a, e), ARCHIVE_OK);
	archive_entry_free(e);
	finish(f, "9.9.9");
	assert_int_equal(stage_release(&r, f->root, "9.9.9", f->sha, &small,
				       NULL, NULL, &err),
			 ERR_OVERFLOW);
	assert_string_equal(err.msg, "the archive holds more than 4096 bytes");
	assert_nothing_written(f);
}

/* A release larger than the disk's room (less the reserve) is refused
 * from the declared sizes, before its data fills the disk. */
static void
test_stage__refuses_a_release_the_disk_cannot_hold(void **state)
{
	struct fixture *f = *state;
	struct stage_limits tight = { 1024 * 1024, 100, STAGE_RESERVE + 100 };
	struct stage_result r;
	struct err e;

	begin(f);
	add_file(f, "a", "0123456789");
	add_file(f, "b",
		 "0123456789012345678901234567890123456789012345"
		 "678901234567890123456789012345678901234567890123"
		 "45678901234567890123456789");
	finish(f, "9.9.9");
	assert_int_equal(stage_release(&r, f->root, "9.9.9", f->sha, &tight,
				       NULL, NULL, &e),
			 ERR_OVERFLOW);
	assert_non_null(
		strstr(e.msg, "not enough disk: the release needs over "));
	assert_nothing_written(f);
}

/* Staging 1.0.0 once used releases/1.0.0.tmp as its temporary folder and
 * deleted a release of that name on the way. */
static void
test_stage__keeps_a_release_named_like_another_ones_temporary(void **state)
{
	struct fixture *f = *state;
	struct err e;

	begin(f);
	add_file(f, "a", "tmp");
	finish(f, "1.0.0.tmp");
	assert_int_equal(stage(f, "1.0.0.tmp", &e), 0);
	begin(f);
	add_file(f, "a", "real");
	finish(f, "1.0.0");
	assert_int_equal(stage(f, "1.0.0", &e), 0);
	assert_true(layout_is_staged(f->root, "1.0.0.tmp"));
	assert_true(layout_is_staged(f->root, "1.0.0"));
}

static void
test_stage__refuses_hard_link_escapes(void **state)
{
	struct fixture *f = *state;

	begin(f);
	add(f, "passwd", AE_IFREG, NULL, "../../../etc/passwd", true);
	finish(f, "9.9.9");
	expect_unsafe(f, "hard link 'passwd' points outside the release");
}

static void
test_stage__refuses_device_files(void **state)
{
	struct fixture *f = *state;

	begin(f);
	add(f, "null", AE_IFCHR, NULL, NULL, false);
	finish(f, "9.9.9");
	expect_unsafe(f, "archive entry 'null' is a device, FIFO or socket");
}

static void
test_stage__refuses_oversize_archives(void **state)
{
	struct fixture *f = *state;
	struct stage_limits small = { 10, 100, 0 };
	struct stage_result r;
	struct err e;

	begin(f);
	add_file(f, "big", "0123456789abcdef");
	finish(f, "9.9.9");
	assert_int_equal(stage_release(&r, f->root, "9.9.9", f->sha, &small,
				       NULL, NULL, &e),
			 ERR_OVERFLOW);
	assert_string_equal(e.msg, "the archive holds more than 10 bytes");
	assert_nothing_written(f);
}

static void
test_stage__refuses_a_corrupt_artifact_and_removes_it(void **state)
{
	struct fixture *f = *state;
	char path[256];
	struct err e;
	FILE *fp;

	begin(f);
	add_file(f, "a", "a");
	finish(f, "9.9.9");
	snprintf(path, sizeof(path), "%s/incoming/%s", f->root, f->sha);
	fp = fopen(path, "r+");
	fseek(fp, 30, SEEK_SET);
	fputc('X', fp);
	fclose(fp);
	assert_int_equal(stage(f, "9.9.9", &e), ERR_INTEGRITY);
	assert_non_null(strstr(e.msg, ": corrupt or wrong upload (removed)"));
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(stage(f, "9.9.9", &e), ERR_NOTFOUND);
}

static void
test_stage__checks_release_json_against_the_files(void **state)
{
	struct fixture *f = *state;
	struct err e;

	begin(f);
	add_file(f, "a", "a");
	json_object_set_new(f->manifest, "a",
			    json_string("0000000000000000000000000000000000000"
					"000000000000000000000000000"));
	finish(f, "9.9.9");
	assert_int_equal(stage(f, "9.9.9", &e), ERR_INTEGRITY);
	assert_string_equal(e.msg,
			    "'a' does not match the sha256 in release.json");
	assert_nothing_written(f);

	begin(f);
	add_file(f, "a", "a");
	add(f, "stowaway", AE_IFREG, "x", NULL, false);
	finish(f, "9.9.9");
	assert_int_equal(stage(f, "9.9.9", &e), ERR_INTEGRITY);
	assert_string_equal(e.msg, "release.json does not list 'stowaway'");

	begin(f);
	add_file(f, "a", "a");
	finish(f, "1.0.0");
	assert_int_equal(stage(f, "9.9.9", &e), ERR_INTEGRITY);
	assert_string_equal(e.msg, "the artifact is release '1.0.0', not "
				   "'9.9.9'");
	assert_nothing_written(f);
}

static void
test_stage__refuses_the_same_version_from_another_artifact(void **state)
{
	struct fixture *f = *state;
	struct err e;

	begin(f);
	add_file(f, "a", "first");
	finish(f, "3.0.0");
	assert_int_equal(stage(f, "3.0.0", &e), 0);
	begin(f);
	add_file(f, "a", "second");
	finish(f, "3.0.0");
	assert_int_equal(stage(f, "3.0.0", &e), ERR_EXISTS);
	assert_non_null(strstr(e.msg, "release '3.0.0' is already staged from "
				      "another artifact"));
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_stage__unpacks_a_good_release),
		T(test_stage__refuses_dot_dot),
		T(test_stage__refuses_absolute_paths),
		T(test_stage__refuses_symlink_escapes),
		T(test_stage__refuses_a_symlink_chain_that_leaves_the_release),
		T(test_stage__refuses_a_symlink_to_nothing),
		T(test_stage__refuses_sparse_entries),
		T(test_stage__refuses_a_declared_size_over_the_cap),
		T(test_stage__keeps_a_release_named_like_another_ones_temporary),
		T(test_stage__refuses_a_release_the_disk_cannot_hold),
		T(test_stage__refuses_hard_link_escapes),
		T(test_stage__refuses_device_files),
		T(test_stage__refuses_oversize_archives),
		T(test_stage__refuses_a_corrupt_artifact_and_removes_it),
		T(test_stage__checks_release_json_against_the_files),
		T(test_stage__refuses_the_same_version_from_another_artifact),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
