/*
 * ssh_int: what the files of the ssh module share (not for use outside
 * it): the connection behind struct ssh_conn and the error helpers.
 * ssh.c connects, authenticates and runs channels; ssh_hostkey.c checks
 * the host key; ssh_sftp.c moves files.
 */
#ifndef IVR_CONTROLLER_SSH_INT_H
#define IVR_CONTROLLER_SSH_INT_H

#include <libssh2.h>
#include <stdbool.h>

#include "ssh.h"

struct ssh_conn {
	const struct ssh_target *t;
	int fd;
	LIBSSH2_SESSION *s;
	char where[300]; /* "name (address:port)" */
};

struct ssh_channel {
	struct ssh_conn *c;
	LIBSSH2_CHANNEL *ch;
};

/* libssh2's last error on c as text (borrowed from the session). */
const char *ssh_last_error(struct ssh_conn *c);

/* Sets err for a failed step ("<where>: <what>: <libssh2's error>"), as
 * ERR_TIMEOUT when the session timed out, else code.  Returns the code. */
int ssh_fail(struct err *err, struct ssh_conn *c, int code, const char *what);

/*
 * Reads the known_hosts file at path (at most 4 MiB) into kh, as OpenSSH
 * writes it: comments and other markers skipped, and *is_revoked set when
 * an @revoked line names the key b64 (base64).  Returns 0 or the error of
 * reading the file.  (The fuzz target's way in: the file crosses a trust
 * boundary.)
 */
int ssh_known_hosts_read(LIBSSH2_KNOWNHOSTS *kh, bool *is_revoked,
			 const char *path, const char *b64);

/* Connects and runs the SSH handshake, nothing more (no host key check,
 * no login).  Returns 0 with *out set, or ERR_IO, ERR_TIMEOUT, ERR_AUTH. */
int ssh_session_open(struct ssh_conn **out, const struct ssh_target *t,
		     struct err *err);

/* Checks the session's host key against t->known_hosts.  Returns 0 or
 * ERR_AUTH (unknown, changed or revoked key), ERR_IO, ERR_NOMEM. */
int ssh_check_host_key(struct ssh_conn *c, struct err *err);

#endif
