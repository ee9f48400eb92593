/*
 * fileio: file operations that must survive a crash at any instant.
 *
 * fileio_write_atomic replaces a file so that a reader (or the next boot)
 * sees either the whole old content or the whole new content: write a temp
 * file in the same folder, fsync it, rename(2) it over the target, fsync
 * the folder.  fileio_symlink_atomic does the same for a symlink (the
 * `current -> releases/<v>` swap).  fileio_read_all reads a whole file under
 * a hard cap.
 */
#ifndef IVR_COMMON_FILEIO_H
#define IVR_COMMON_FILEIO_H

#include <stddef.h>
#include <sys/types.h>

#include "buf.h"
#include "err.h"

/*
 * Replaces path with n bytes of data, mode `mode`.  The temp file is
 * ".<name>.tmp.XXXXXX" beside path and is removed on any failure, leaving
 * path as it was.  Returns 0 or ERR_IO with the step that failed
 * ("cannot create a temp file beside 'x': ...").
 */
int fileio_write_atomic(const char *path, const void *data, size_t n,
			mode_t mode, struct err *err);

/*
 * Makes linkpath a symlink to target (stored as given, so relative targets
 * stay relative) by creating a temp link beside it and renaming it over
 * linkpath, then fsyncing the folder.  Replaces an existing symlink or file,
 * never a folder.  Returns 0 or ERR_IO.
 */
int fileio_symlink_atomic(const char *target, const char *linkpath,
			  struct err *err);

/* fsyncs the folder at path so that renames in it are durable.  0/ERR_IO. */
int fileio_fsync_dir(const char *path, struct err *err);

/*
 * Appends the whole file at path to out, whose limit caps it.  Returns 0,
 * ERR_NOTFOUND (no such file), ERR_IO, or ERR_OVERFLOW ("'x' is larger than
 * N bytes"); out is unchanged on failure.
 */
int fileio_read_all(struct buf *out, const char *path, struct err *err);

/*
 * Removes path and everything under it, without following symlinks
 * (a link is removed, never what it points to).  A missing path is not an
 * error.  Returns 0 or ERR_IO naming the first entry that could not go.
 */
int fileio_remove_tree(const char *path, struct err *err);

#endif
