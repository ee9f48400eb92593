/*
 * stage: see stage.h.  libarchive lives behind this module only.  Every
 * entry is checked before anything is written, and the data is copied
 * block by block so that the byte cap holds whatever the headers claim.
 */
#include "stage.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "buf.h"
#include "fileio.h"
#include "hash.h"
#include "hostlayout.h"
#include "layout.h"

#define MANIFEST_MAX (1024 * 1024)

int
stage_verify(const char *root, const char *sha256, stage_progress_fn fn,
	     void *ctx, struct err *err)
{
	unsigned char digest[HASH_SHA256_LEN];
	char path[LAYOUT_PATH_MAX], hex[HASH_SHA256_HEX_LEN + 1];
	struct stat st;
	int rc;

	if ((rc = layout_artifact(path, root, sha256, err)) < 0)
		return rc;
	if (stat(path, &st) < 0)
		return err_set(err, ERR_NOTFOUND,
			       "no artifact '%s' in incoming/: upload it first",
			       sha256);
	if (fn != NULL)
		fn(ctx, "verify", 0, (uint64_t)st.st_size);
	if ((rc = hash_sha256_file(digest, path, err)) < 0)
		return rc;
	hash_hex(hex, digest, sizeof(digest));
	if (fn != NULL)
		fn(ctx, "verify", (uint64_t)st.st_size, (uint64_t)st.st_size);
	if (strcmp(hex, sha256) != 0) {
		unlink(path);
		return err_set(err, ERR_INTEGRITY,
			       "artifact '%s' has sha256 %s: corrupt or wrong "
			       "upload (removed)",
			       sha256, hex);
	}
	return 0;
}

/* Writes "a/b" into out (LAYOUT_PATH_MAX); ERR_UNSAFE if too long. */
static int
join(char *out, const char *a, const char *b, struct err *err)
{
	int n = snprintf(out, LAYOUT_PATH_MAX, "%s/%s", a, b);

	if (n < 0 || n >= LAYOUT_PATH_MAX)
		return err_set(err, ERR_UNSAFE, "path '%.64s...' is too long",
			       b);
	return 0;
}

/* Strips leading "./"; returns NULL for the archive's root entry. */
static const char *
entry_name(const char *name)
{
	while (strncmp(name, "./", 2) == 0)
		name += 2;
	while (*name == '/' && name[1] == '\0')
		name++;
	return *name == '\0' || strcmp(name, ".") == 0 ? NULL : name;
}

/* True when a relative path has no ".." component and is not absolute. */
static bool
safe_relative(const char *p)
{
	const char *c = p;

	if (*p == '/' || *p == '\0')
		return false;
	while (c != NULL) {
		if (strncmp(c, "..", 2) == 0 && (c[2] == '/' || c[2] == '\0'))
			return false;
		c = strchr(c, '/');
		if (c != NULL)
			c++;
	}
	return true;
}

/* True when a symlink at name pointing to target stays in the release. */
static bool
link_inside(const char *name, const char *target)
{
	int depth = 0;
	const char *c;

	if (*target == '/' || *target == '\0')
		return false;
	for (c = name; (c = strchr(c, '/')) != NULL; c++)
		depth++; /* folders above the link, inside the release */
	for (c = target; c != NULL && *c != '\0';) {
		const char *end = strchr(c, '/');
		size_t n = end ? (size_t)(end - c) : strlen(c);

		if (n == 2 && strncmp(c, "..", 2) == 0)
			depth--;
		else if (n > 0 && !(n == 1 && *c == '.'))
			depth++;
		if (depth < 0)
			return false;
		c = end ? end + 1 : NULL;
	}
	return true;
}

struct unpack {
	const char *tmp; /* releases/.<v>.tmp */
	const struct stage_limits *lim;
	stage_progress_fn fn;
	void *ctx;
	struct archive *in, *out;
	json_t *files; /* regular files written, relative paths */
	json_t *links; /* symlinks written, relative paths */
	unsigned entries;
	uint64_t bytes, declared, total;
	uint64_t room; /* free under the root when staging began */
};

/*
 * A regular file's size as its header declares it, counted before any
 * byte is written: a sparse entry's data blocks can be tiny while the file
 * it makes is huge (and hashing that file would take hours), so sparse
 * entries are refused and the declared sizes count toward max_bytes.
 */
static int
check_size(struct unpack *u, struct archive_entry *e, const char *q,
	   struct err *err)
{
	la_int64_t size = archive_entry_size(e);

	if (archive_entry_sparse_count(e) > 0)
		return err_set(err, ERR_UNSAFE,
			       "archive entry '%s' is a sparse file", q);
	if (size < 0 || (uint64_t)size > u->lim->max_bytes ||
	    (u->declared += (uint64_t)size) > u->lim->max_bytes)
		return err_set(err, ERR_OVERFLOW,
			       "the archive holds more than %llu bytes",
			       (unsigned long long)u->lim->max_bytes);
	if (u->declared + STAGE_RESERVE > u->room)
		return err_set(err, ERR_OVERFLOW,
			       "not enough disk: the release needs over %llu "
			       "bytes and %llu are free under the root (%llu "
			       "kept for the runtime)",
			       (unsigned long long)u->declared,
			       (unsigned long long)u->room,
			       (unsigned long long)STAGE_RESERVE);
	return 0;
}

/* Refuses what may not be unpacked; rewrites paths under tmp. */
static int
check_entry(struct unpack *u, struct archive_entry *e, const char *name,
	    struct err *err)
{
	char q[128], full[LAYOUT_PATH_MAX];
	mode_t type = archive_entry_filetype(e);
	const char *hard = archive_entry_hardlink(e);
	int rc;

	err_quote(q, sizeof(q), name, strlen(name));
	if (!safe_relative(name))
		return err_set(err, ERR_UNSAFE,
			       "archive entry '%s' leaves the release", q);
	if (++u->entries > u->lim->max_entries)
		return err_set(err, ERR_OVERFLOW,
			       "the archive has more than %u entries",
			       u->lim->max_entries);
	if (hard != NULL) {
		const char *t = entry_name(hard);

		if (t == NULL || !safe_relative(t))
			return err_set(err, ERR_UNSAFE,
				       "hard link '%s' points outside the "
				       "release",
				       q);
		if (join(full, u->tmp, t, err) < 0)
			return ERR_UNSAFE;
		archive_entry_copy_hardlink(e, full);
	} else if (type == AE_IFLNK) {
		if (!link_inside(name, archive_entry_symlink(e)))
			return err_set(err, ERR_UNSAFE,
				       "symlink '%s' points outside the "
				       "release",
				       q);
	} else if (type != AE_IFREG && type != AE_IFDIR) {
		return err_set(err, ERR_UNSAFE,
			       "archive entry '%s' is a device, FIFO or "
			       "socket",
			       q);
	} else if (type == AE_IFREG && (rc = check_size(u, e, q, err)) < 0)
		return rc;
	if (join(full, u->tmp, name, err) < 0)
		return ERR_UNSAFE;
	archive_entry_copy_pathname(e, full);
	archive_entry_set_perm(e, archive_entry_perm(e) & 0755);
	return 0;
}

static int
copy_data(struct unpack *u, const char *name, struct err *err)
{
	const void *block;
	size_t size;
	la_int64_t offset;
	int r;

	for (;;) {
		r = archive_read_data_block(u->in, &block, &size, &offset);
		if (r == ARCHIVE_EOF)
			return 0;
		if (r != ARCHIVE_OK)
			return err_set(err, ERR_INTEGRITY,
				       "cannot read '%s' from the archive: %s",
				       name, archive_error_string(u->in));
		u->bytes += size;
		if (u->bytes > u->lim->max_bytes)
			return err_set(err, ERR_OVERFLOW,
				       "the archive holds more than %llu "
				       "bytes",
				       (unsigned long long)u->lim->max_bytes);
		if (archive_write_data_block(u->out, block, size, offset) !=
		    ARCHIVE_OK)
			return err_set(err, ERR_IO, "cannot write '%s': %s",
				       name, archive_error_string(u->out));
	}
}

static int
unpack_entry(struct unpack *u, struct archive_entry *e, struct err *err)
{
	char name[LAYOUT_PATH_MAX];
	const char *n = entry_name(archive_entry_pathname(e));
	bool regular;
	int rc;

	if (n == NULL)
		return 0; /* "./" itself */
	snprintf(name, sizeof(name), "%s", n);
	if ((rc = check_entry(u, e, name, err)) < 0)
		return rc;
	regular = archive_entry_filetype(e) == AE_IFREG &&
		  archive_entry_hardlink(e) == NULL;
	if (archive_write_header(u->out, e) != ARCHIVE_OK)
		return err_set(err, ERR_IO, "cannot unpack '%s': %s", name,
			       archive_error_string(u->out));
	if (regular && (rc = copy_data(u, name, err)) < 0)
		return rc;
	if (archive_write_finish_entry(u->out) != ARCHIVE_OK)
		return err_set(err, ERR_IO, "cannot unpack '%s': %s", name,
			       archive_error_string(u->out));
	if (regular)
		json_array_append_new(u->files, json_string(name));
	else if (archive_entry_filetype(e) == AE_IFLNK &&
		 archive_entry_hardlink(e) == NULL)
		json_array_append_new(u->links, json_string(name));
	if (u->fn != NULL) /* compressed bytes read, of the artifact's size */
		u->fn(u->ctx, "unpack",
		      (uint64_t)archive_filter_bytes(u->in, -1), u->total);
	return 0;
}

static int
open_archive(struct unpack *u, const char *path, struct err *err)
{
	u->in = archive_read_new();
	u->out = archive_write_disk_new();
	if (u->in == NULL || u->out == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	archive_read_support_filter_gzip(u->in);
	archive_read_support_format_tar(u->in);
	/* Paths are rewritten to absolute ones under the temporary folder
	 * (check_entry refused absolute names first), so libarchive's own
	 * absolute-path check stays off; its ".." and symlink checks stay. */
	archive_write_disk_set_options(
		u->out, ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME |
				ARCHIVE_EXTRACT_SECURE_NODOTDOT |
				ARCHIVE_EXTRACT_SECURE_SYMLINKS);
	if (archive_read_open_filename(u->in, path, 65536) != ARCHIVE_OK)
		return err_set(err, ERR_INTEGRITY,
			       "artifact is not a tar.gz archive: %s",
			       archive_error_string(u->in));
	return 0;
}

/* Unpacks the artifact at path into u->tmp. */
static int
unpack(struct unpack *u, const char *path, struct err *err)
{
	struct archive_entry *e;
	int r, rc;

	if ((rc = open_archive(u, path, err)) < 0)
		goto out;
	while ((r = archive_read_next_header(u->in, &e)) == ARCHIVE_OK)
		if ((rc = unpack_entry(u, e, err)) < 0)
			goto out;
	if (r != ARCHIVE_EOF)
		rc = err_set(err, ERR_INTEGRITY, "artifact is damaged: %s",
			     archive_error_string(u->in));
out:
	archive_read_free(u->in);
	archive_write_free(u->out);
	return rc;
}

/* openat2(2) with RESOLVE_BENEATH: the kernel resolves path below dirfd
 * and fails with EXDEV where any step, through any symlink, leaves it. */
static int
open_beneath(int dirfd, const char *path)
{
	struct open_how how = {
		.flags = O_PATH | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};

	return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

/*
 * Every symlink, resolved as the kernel will resolve it once the release
 * runs: a chain of links (b -> ., etc -> b/b/b/../../../etc) can leave
 * the release although each target looks shallow as text.  A link must
 * resolve to something inside the release.
 */
static int
check_links(const char *tmp, const json_t *links, struct err *err)
{
	char q[128];
	size_t i;
	json_t *v;
	int dirfd, fd, rc = 0;

	if (json_array_size(links) == 0)
		return 0;
	if ((dirfd = open(tmp, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
		return err_set_errno(err, ERR_IO, errno, "cannot open '%s'",
				     tmp);
	json_array_foreach (links, i, v) {
		const char *name = json_string_value(v);

		err_quote(q, sizeof(q), name, strlen(name));
		if ((fd = open_beneath(dirfd, name)) >= 0) {
			close(fd);
			continue;
		}
		if (errno == ENOENT)
			rc = err_set(err, ERR_UNSAFE,
				     "symlink '%s' points to nothing in the "
				     "release",
				     q);
		else if (errno == ENOSYS)
			rc = err_set(err, ERR_UNSAFE,
				     "symlink '%s' cannot be checked: this "
				     "kernel has no openat2(2)",
				     q);
		else
			rc = err_set(err, ERR_UNSAFE,
				     "symlink '%s' points outside the release",
				     q);
		break;
	}
	close(dirfd);
	return rc;
}

/* Checks one manifest entry against the file unpacked at tmp/name. */
static int
check_file(const char *tmp, const char *name, json_t *want, struct err *err)
{
	unsigned char digest[HASH_SHA256_LEN];
	char path[LAYOUT_PATH_MAX], hex[HASH_SHA256_HEX_LEN + 1];
	int rc;

	if (!json_is_string(want))
		return err_set(err, ERR_INTEGRITY,
			       "release.json does not list '%s'", name);
	if ((rc = join(path, tmp, name, err)) < 0 ||
	    (rc = hash_sha256_file(digest, path, err)) < 0)
		return rc;
	hash_hex(hex, digest, sizeof(digest));
	if (strcmp(hex, json_string_value(want)) != 0)
		return err_set(err, ERR_INTEGRITY,
			       "'%s' does not match the sha256 in release.json",
			       name);
	return 0;
}

/* release.json names the version and the sha256 of every file. */
static int
check_manifest(const char *tmp, const char *version, json_t *unpacked,
	       struct err *err)
{
	char path[LAYOUT_PATH_MAX];
	json_t *m, *files, *v;
	const char *name;
	size_t i;
	int rc = 0;

	if (join(path, tmp, "release.json", err) < 0)
		return ERR_UNSAFE;
	m = json_load_file(path, JSON_REJECT_DUPLICATES, NULL);
	files = json_object_get(m, "files");
	if (!json_is_object(m) || !json_is_object(files) ||
	    !json_is_string(json_object_get(m, "version"))) {
		json_decref(m);
		return err_set(err, ERR_PARSE,
			       "the artifact has no valid release.json");
	}
	if (strcmp(json_string_value(json_object_get(m, "version")), version) !=
	    0)
		rc = err_set(err, ERR_INTEGRITY,
			     "the artifact is release '%s', not '%s'",
			     json_string_value(json_object_get(m, "version")),
			     version);
	json_array_foreach (unpacked, i, v) {
		name = json_string_value(v);
		if (rc == 0 && strcmp(name, "release.json") != 0)
			rc = check_file(tmp, name, json_object_get(files, name),
					err);
	}
	if (rc == 0 && json_object_size(files) + 1 != json_array_size(unpacked))
		rc = err_set(err, ERR_INTEGRITY,
			     "release.json lists %zu files, the artifact "
			     "holds %zu",
			     json_object_size(files),
			     json_array_size(unpacked) - 1);
	json_decref(m);
	return rc;
}

static int
already_staged(bool *yes, const char *root, const char *version,
	       const char *sha256, struct err *err)
{
	char path[LAYOUT_PATH_MAX];
	struct buf b;
	int rc;

	*yes = false;
	if (!layout_is_staged(root, version))
		return 0;
	if ((rc = layout_marker(path, root, version, err)) < 0)
		return rc;
	buf_init(&b, 128);
	rc = fileio_read_all(&b, path, NULL);
	if (rc == 0 && strncmp(buf_cstr(&b), sha256, HASH_SHA256_HEX_LEN) != 0)
		rc = err_set(err, ERR_EXISTS,
			     "release '%s' is already staged from another "
			     "artifact (%.12s...)",
			     version, buf_cstr(&b));
	else
		rc = 0;
	buf_release(&b);
	*yes = rc == 0;
	return rc;
}

/* Unpacks and checks into tmp, then renames it to dst. */
static int
build_release(struct stage_result *out, struct unpack *u, const char *dst,
	      const char *artifact, const char *version, struct err *err)
{
	struct stat st;
	int rc;

	if (stat(artifact, &st) == 0)
		u->total = (uint64_t)st.st_size;
	if ((rc = fileio_remove_tree(u->tmp, err)) < 0)
		return rc; /* a crash's leftover */
	if (mkdir(u->tmp, 0755) < 0)
		return err_set_errno(err, ERR_IO, errno, "cannot create '%s'",
				     u->tmp);
	if ((rc = unpack(u, artifact, err)) < 0 ||
	    (rc = check_links(u->tmp, u->links, err)) < 0 ||
	    (rc = check_manifest(u->tmp, version, u->files, err)) < 0)
		return rc;
	if (u->fn != NULL)
		u->fn(u->ctx, "unpack", u->total, u->total);
	if (rename(u->tmp, dst) < 0)
		return err_set_errno(err, ERR_IO, errno,
				     "cannot rename '%s' to '%s'", u->tmp, dst);
	out->files = (unsigned)json_array_size(u->files);
	out->bytes = u->bytes;
	return 0;
}

int
stage_release(struct stage_result *out, const char *root, const char *version,
	      const char *sha256, const struct stage_limits *lim,
	      stage_progress_fn fn, void *ctx, struct err *err)
{
	char artifact[LAYOUT_PATH_MAX], dst[LAYOUT_PATH_MAX],
		tmp[LAYOUT_PATH_MAX + LAYOUT_VERSION_MAX + 32],
		marker[LAYOUT_PATH_MAX];
	struct unpack u = { .tmp = tmp, .lim = lim, .fn = fn, .ctx = ctx };
	struct statvfs vfs;
	int rc;

	memset(out, 0, sizeof(*out));
	u.room = lim->free_bytes;
	if (u.room == 0)
		u.room = statvfs(root, &vfs) == 0
				 ? (uint64_t)vfs.f_bavail * vfs.f_frsize
				 : UINT64_MAX;
	if ((rc = already_staged(&out->already, root, version, sha256, err)) <
		    0 ||
	    out->already)
		return rc;
	if ((rc = layout_artifact(artifact, root, sha256, err)) < 0 ||
	    (rc = layout_path(dst, root, HOSTLAYOUT_RELEASES, version, err)) <
		    0 ||
	    (rc = layout_marker(marker, root, version, err)) < 0 ||
	    (rc = stage_verify(root, sha256, fn, ctx, err)) < 0)
		return rc;
	/* A version starts with a letter or digit, so no release is named
	 * like this temporary folder or the markers (both start with "."). */
	snprintf(tmp, sizeof(tmp), "%s/releases/.%s.tmp", root, version);
	u.files = json_array();
	u.links = json_array();
	if (u.files == NULL || u.links == NULL) {
		json_decref(u.files);
		json_decref(u.links);
		return err_set(err, ERR_NOMEM, "out of memory");
	}
	/* A folder without release.json is a crash's leftover: replace it. */
	if ((rc = fileio_remove_tree(dst, err)) == 0 &&
	    (rc = fileio_write_atomic(marker, sha256, HASH_SHA256_HEX_LEN, 0644,
				      err)) == 0)
		rc = build_release(out, &u, dst, artifact, version, err);
	if (rc < 0) {
		/* A refused request changes nothing: no folder, no marker. */
		fileio_remove_tree(tmp, NULL);
		unlink(marker);
	} else {
		char dir[LAYOUT_PATH_MAX];

		layout_path(dir, root, HOSTLAYOUT_RELEASES, NULL, NULL);
		rc = fileio_fsync_dir(dir, err);
	}
	json_decref(u.files);
	json_decref(u.links);
	return rc;
}
