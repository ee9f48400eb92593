/*
 * ssh_sftp: uploads and downloads over SFTP (ssh.h), each through a
 * temporary name renamed into place, so that a cut transfer never leaves
 * a partial file under the final name.
 */
#include <errno.h>
#include <fcntl.h>
#include <libssh2.h>
#include <libssh2_sftp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hash.h"
#include "ssh.h"
#include "ssh_int.h"

/* Creates each missing folder of path's parent over SFTP. */
static void
sftp_mkdirs(LIBSSH2_SFTP *sftp, const char *path)
{
	char dir[4096];

	snprintf(dir, sizeof(dir), "%s", path);
	for (char *p = dir + 1; (p = strchr(p, '/')) != NULL; p++) {
		*p = '\0';
		libssh2_sftp_mkdir(sftp, dir, 0755); /* exists: fine */
		*p = '/';
	}
}

static int
sftp_write_file(struct ssh_conn *c, LIBSSH2_SFTP *sftp, const char *local,
		const char *tmp, long mode, struct err *err)
{
	LIBSSH2_SFTP_HANDLE *h;
	char chunk[32768];
	FILE *f = fopen(local, "rb");
	size_t n;
	int rc = 0;

	if (f == NULL)
		return err_set_errno(err, ERR_IO, errno, "cannot open '%s'",
				     local);
	h = libssh2_sftp_open(sftp, tmp,
			      LIBSSH2_FXF_WRITE | LIBSSH2_FXF_CREAT |
				      LIBSSH2_FXF_TRUNC,
			      mode);
	if (h == NULL) {
		fclose(f);
		return ssh_fail(err, c, ERR_IO,
				"cannot create the upload file");
	}
	while (rc == 0 && (n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		for (size_t off = 0; off < n && rc == 0;) {
			ssize_t w = libssh2_sftp_write(h, chunk + off, n - off);

			if (w < 0)
				rc = ssh_fail(err, c, ERR_IO, "upload failed");
			else
				off += (size_t)w;
		}
	}
	libssh2_sftp_close(h);
	fclose(f);
	return rc;
}

int
ssh_upload(struct ssh_conn *c, const char *local, const char *remote, long mode,
	   struct err *err)
{
	LIBSSH2_SFTP *sftp = libssh2_sftp_init(c->s);
	char tmp[4096], quoted_tmp[8200], quoted[8200], cmd[16500];
	int rc, status = 0;

	if (sftp == NULL)
		return ssh_fail(err, c, ERR_IO, "cannot start SFTP");
	snprintf(tmp, sizeof(tmp), "%s.upload", remote);
	sftp_mkdirs(sftp, remote);
	rc = sftp_write_file(c, sftp, local, tmp, mode, err);
	libssh2_sftp_shutdown(sftp);
	if (rc < 0)
		return rc;
	/* SFTP's rename will not replace a file: mv(1) does, atomically. */
	if ((rc = ssh_quote(quoted_tmp, sizeof(quoted_tmp), tmp, err)) < 0 ||
	    (rc = ssh_quote(quoted, sizeof(quoted), remote, err)) < 0)
		return rc;
	snprintf(cmd, sizeof(cmd), "mv -f -- %s %s", quoted_tmp, quoted);
	if ((rc = ssh_exec(c, cmd, NULL, &status, err)) == 0 && status != 0)
		rc = err_set(err, ERR_IO,
			     "%s: cannot move the upload into '%s'", c->where,
			     remote);
	return rc;
}

int
ssh_download(struct ssh_conn *c, const char *remote, const char *local,
	     long long max_bytes, struct err *err)
{
	LIBSSH2_SFTP *sftp = libssh2_sftp_init(c->s);
	LIBSSH2_SFTP_HANDLE *h;
	char tmp[4200], chunk[32768];
	long long total = 0;
	ssize_t n;
	FILE *f;
	int rc = 0;

	if (sftp == NULL)
		return ssh_fail(err, c, ERR_IO, "cannot start SFTP");
	if ((h = libssh2_sftp_open(sftp, remote, LIBSSH2_FXF_READ, 0)) ==
	    NULL) {
		rc = ssh_fail(err, c, ERR_IO,
			      "cannot open the file to download");
		libssh2_sftp_shutdown(sftp);
		return rc;
	}
	snprintf(tmp, sizeof(tmp), "%s.download", local);
	if ((f = fopen(tmp, "wb")) == NULL) {
		rc = err_set_errno(err, ERR_IO, errno, "cannot create '%s'",
				   tmp);
		goto out;
	}
	while (rc == 0 &&
	       (n = libssh2_sftp_read(h, chunk, sizeof(chunk))) != 0) {
		if (n < 0)
			rc = ssh_fail(err, c, ERR_IO, "download failed");
		else if ((total += n) > max_bytes)
			rc = err_set(err, ERR_OVERFLOW,
				     "%s: '%s' is larger than %lld bytes",
				     c->where, remote, max_bytes);
		else if (fwrite(chunk, 1, (size_t)n, f) != (size_t)n)
			rc = err_set_errno(err, ERR_IO, errno,
					   "cannot write '%s'", tmp);
	}
	if (fflush(f) != 0 || fsync(fileno(f)) != 0)
		rc = rc ? rc
			: err_set_errno(err, ERR_IO, errno, "cannot write '%s'",
					tmp);
	fclose(f);
	if (rc == 0 && rename(tmp, local) < 0)
		rc = err_set_errno(err, ERR_IO, errno,
				   "cannot move the download into '%s'", local);
	if (rc < 0)
		unlink(tmp);
out:
	libssh2_sftp_close(h);
	libssh2_sftp_shutdown(sftp);
	return rc;
}
