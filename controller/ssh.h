/*
 * ssh: the controller's SSH client (libssh2 lives behind this module only).
 *
 * One session per host for a whole run, with an exec channel for each
 * command (the agent runs on one for the whole run) and SFTP for uploads.
 * Host keys are checked strictly against the plan's known_hosts: an unknown
 * host is refused with its SHA-256 fingerprint and the exact line to add
 * after checking it; a changed key is refused loudly.  ed25519 and ECDSA
 * host and user keys (Debian 12's libssh2 cannot sign with RSA SHA-2,
 * which OpenSSH 9 requires: a host that offers only RSA is told so).
 * Every blocking step has a timeout.  Messages name the host and address.
 *
 * A connection and its channels are used by one thread at a time.
 */
#ifndef IVR_CONTROLLER_SSH_H
#define IVR_CONTROLLER_SSH_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

struct ssh_target {
	const char *name; /* for messages */
	const char *address;
	int port;
	const char *user;
	const char *identity_file; /* NULL: keys from ssh-agent */
	const char *known_hosts;
	int64_t connect_timeout_ms;
	int64_t keepalive_ms; /* 0: off */
	int64_t timeout_ms;   /* every blocking step after connecting */
};

struct ssh_conn;
struct ssh_channel;

/* Sets libssh2 up once per process.  0 or ERR_INTERNAL. */
int ssh_global_init(struct err *err);

/*
 * Connects, checks the host key, authenticates.  Returns 0 with *out set
 * (close with ssh_close), or ERR_IO (refused, unreachable), ERR_TIMEOUT, or
 * ERR_AUTH (unknown or changed host key, no usable host key type, the key
 * refused), each message starting "<name> (<address>:<port>): ".
 */
int ssh_connect(struct ssh_conn **out, const struct ssh_target *t,
		struct err *err);

/* A host's key as ivrctl init shows it before trusting it. */
struct ssh_hostkey {
	char type[32];	      /* "ssh-ed25519" */
	char fingerprint[64]; /* "SHA256:..." as OpenSSH prints it */
	char line[1024];      /* its known_hosts line */
};

/*
 * Connects and reads the host's key, without checking it or logging in
 * (for ivrctl init, which shows it and asks).  Returns 0, or the errors
 * of ssh_connect but ERR_AUTH for an unknown key.
 */
int ssh_scan_host_key(struct ssh_hostkey *out, const struct ssh_target *t,
		      struct err *err);

/* Ends the session and closes the socket; NULL is a no-op. */
void ssh_close(struct ssh_conn *c);

/*
 * Runs cmd (a shell command line on the host), appends its standard output
 * to out (capped by out's limit) and sets *status to its exit status.
 * Returns 0 or an error.
 */
int ssh_exec(struct ssh_conn *c, const char *cmd, struct buf *out, int *status,
	     struct err *err);

/*
 * Uploads the local file to remote (absolute path) over SFTP: parent
 * folders created, written to "<remote>.upload", given mode, then renamed
 * over remote.  Returns 0 or an error.
 */
int ssh_upload(struct ssh_conn *c, const char *local, const char *remote,
	       long mode, struct err *err);

/*
 * Downloads remote (absolute path) over SFTP into local: written to
 * "<local>.download", fsynced, renamed over local.  A file larger than
 * max_bytes is refused (ERR_OVERFLOW).  Returns 0 or an error; on error
 * local is untouched.
 */
int ssh_download(struct ssh_conn *c, const char *remote, const char *local,
		 long long max_bytes, struct err *err);

/*
 * Quotes s for a POSIX shell ('...' with embedded quotes escaped) into out.
 * Returns 0 or ERR_OVERFLOW.
 */
int ssh_quote(char *out, size_t size, const char *s, struct err *err);

/* Starts cmd on a new channel whose stdin and stdout stay open. */
int ssh_channel_open(struct ssh_channel **out, struct ssh_conn *c,
		     const char *cmd, struct err *err);

/* Writes all of n bytes to the channel's stdin.  0 or an error. */
int ssh_channel_write(struct ssh_channel *ch, const void *p, size_t n,
		      struct err *err);

/* A jsonrpc_read_fn over a channel's stdout; ctx is the channel. */
int ssh_channel_read(void *ctx, void *dst, size_t cap, int timeout_ms,
		     size_t *got, struct err *err);

/* Sends EOF, waits briefly for the command to end, frees the channel. */
void ssh_channel_close(struct ssh_channel *ch);

#endif
