/*
 * fileio: see fileio.h.
 */
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Splits path into its folder and base name; both are malloc'd copies. */
static int
split_path(char **dir, char **base, const char *path, struct err *err)
{
	char *a = strdup(path), *b = strdup(path);

	if (a == NULL || b == NULL) {
		free(a);
		free(b);
		return err_set(err, ERR_NOMEM, "out of memory");
	}
	*dir = strdup(dirname(a));
	*base = strdup(basename(b));
	free(a);
	free(b);
	if (*dir == NULL || *base == NULL) {
		free(*dir);
		free(*base);
		return err_set(err, ERR_NOMEM, "out of memory");
	}
	return 0;
}

int
fileio_fsync_dir(const char *path, struct err *err)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return err_set_errno(err, ERR_IO, errno,
				     "cannot open folder '%s'", path);
	if (fsync(fd) < 0)
		rc = err_set_errno(err, ERR_IO, errno,
				   "cannot sync folder '%s'", path);
	close(fd);
	return rc;
}

static int
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Writes, syncs and closes the temp file at fd.  Closes fd in every case. */
static int
fill_temp(int fd, const char *tmp, const void *data, size_t n, mode_t mode,
	  struct err *err)
{
	int rc = 0;

	if (write_all(fd, data, n) < 0)
		rc = err_set_errno(err, ERR_IO, errno, "cannot write '%s'",
				   tmp);
	else if (fchmod(fd, mode) < 0)
		rc = err_set_errno(err, ERR_IO, errno, "cannot chmod '%s'",
				   tmp);
	else if (fsync(fd) < 0)
		rc = err_set_errno(err, ERR_IO, errno, "cannot sync '%s'", tmp);
	if (close(fd) < 0 && rc == 0)
		rc = err_set_errno(err, ERR_IO, errno, "cannot close '%s'",
				   tmp);
	return rc;
}

int
fileio_write_atomic(const char *path, const void *data, size_t n, mode_t mode,
		    struct err *err)
{
	char *dir = NULL, *base = NULL, tmp[PATH_MAX];
	int fd, rc;

	if ((rc = split_path(&dir, &base, path, err)) < 0)
		return rc;
	if (snprintf(tmp, sizeof(tmp), "%s/.%s.tmp.XXXXXX", dir, base) >=
	    (int)sizeof(tmp)) {
		rc = err_set(err, ERR_INVAL, "path too long: '%s'", path);
		goto out;
	}
	if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0) {
		rc = err_set_errno(err, ERR_IO, errno,
				   "cannot create a temp file beside '%s'",
				   path);
		goto out;
	}
	if ((rc = fill_temp(fd, tmp, data, n, mode, err)) < 0)
		goto unlink;
	if (rename(tmp, path) < 0) {
		rc = err_set_errno(err, ERR_IO, errno,
				   "cannot rename '%s' to '%s'", tmp, path);
		goto unlink;
	}
	rc = fileio_fsync_dir(dir, err);
	goto out;
unlink:
	unlink(tmp);
out:
	free(dir);
	free(base);
	return rc;
}

int
fileio_symlink_atomic(const char *target, const char *linkpath, struct err *err)
{
	char *dir = NULL, *base = NULL, tmp[PATH_MAX];
	struct stat st;
	int rc;

	if (lstat(linkpath, &st) == 0 && S_ISDIR(st.st_mode))
		return err_set(err, ERR_IO,
			       "cannot replace '%s': it is a folder, not a "
			       "symlink",
			       linkpath);
	if ((rc = split_path(&dir, &base, linkpath, err)) < 0)
		return rc;
	if (snprintf(tmp, sizeof(tmp), "%s/.%s.tmp.%ld", dir, base,
		     (long)getpid()) >= (int)sizeof(tmp)) {
		rc = err_set(err, ERR_INVAL, "path too long: '%s'", linkpath);
		goto out;
	}
	unlink(tmp); /* a leftover of this pid's earlier crash */
	if (symlink(target, tmp) < 0) {
		rc = err_set_errno(err, ERR_IO, errno,
				   "cannot create symlink '%s'", tmp);
		goto out;
	}
	if (rename(tmp, linkpath) < 0) {
		rc = err_set_errno(err, ERR_IO, errno,
				   "cannot rename '%s' to '%s'", tmp, linkpath);
		unlink(tmp);
		goto out;
	}
	rc = fileio_fsync_dir(dir, err);
out:
	free(dir);
	free(base);
	return rc;
}

int
fileio_read_all(struct buf *out, const char *path, struct err *err)
{
	size_t before = out->len;
	char chunk[8192];
	ssize_t n;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set_errno(err,
				     errno == ENOENT ? ERR_NOTFOUND : ERR_IO,
				     errno, "cannot open '%s'", path);
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = err_set_errno(err, ERR_IO, errno,
					   "cannot read '%s'", path);
			break;
		}
		if (n == 0)
			break;
		if ((rc = buf_append(out, chunk, (size_t)n, err)) < 0) {
			if (rc == ERR_OVERFLOW)
				err_set(err, ERR_OVERFLOW,
					"'%s' is larger than %zu bytes", path,
					out->limit - before);
			break;
		}
	}
	close(fd);
	if (rc < 0) {
		out->len = before;
		if (out->data != NULL)
			out->data[before] = '\0';
	}
	return rc;
}

/* nftw keeps no user pointer: the first failure is kept here.  One tree
 * removal at a time per process; callers are single-threaded. */
static struct err *remove_err;
static int remove_rc;

static int
remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if ((flag == FTW_DP ? rmdir(path) : unlink(path)) == 0 ||
	    errno == ENOENT)
		return 0;
	remove_rc = err_set_errno(remove_err, ERR_IO, errno,
				  "cannot remove '%s'", path);
	return 1;
}

int
fileio_remove_tree(const char *path, struct err *err)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return errno == ENOENT
			       ? 0
			       : err_set_errno(err, ERR_IO, errno,
					       "cannot read '%s'", path);
	if (!S_ISDIR(st.st_mode)) {
		if (unlink(path) < 0)
			return err_set_errno(err, ERR_IO, errno,
					     "cannot remove '%s'", path);
		return 0;
	}
	remove_err = err;
	remove_rc = 0;
	if (nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) < 0 &&
	    remove_rc == 0)
		remove_rc = err_set_errno(err, ERR_IO, errno,
					  "cannot walk '%s'", path);
	return remove_rc;
}
