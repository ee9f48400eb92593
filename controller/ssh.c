/*
 * ssh: see ssh.h.  libssh2 runs in blocking mode with a session timeout,
 * so every call below waits at most that long.
 */
#include "ssh.h"

#include <errno.h>
#include <fcntl.h>
#include <libssh2.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "fileio.h"
#include "hash.h"
#include "ssh_int.h"

/* Host key types libssh2 1.10 can verify here, best first: no RSA. */
#define HOSTKEY_PREFS                                          \
	"ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384," \
	"ecdsa-sha2-nistp521"

int
ssh_global_init(struct err *err)
{
	if (libssh2_init(0) != 0)
		return err_set(err, ERR_INTERNAL, "cannot start libssh2");
	return 0;
}

/* libssh2's last error as text. */
const char *
ssh_last_error(struct ssh_conn *c)
{
	char *msg = NULL;

	libssh2_session_last_error(c->s, &msg, NULL, 0);
	return msg ? msg : "unknown error";
}

int
ssh_fail(struct err *err, struct ssh_conn *c, int code, const char *what)
{
	if (libssh2_session_last_errno(c->s) == LIBSSH2_ERROR_TIMEOUT)
		return err_set(err, ERR_TIMEOUT,
			       "%s: %s: no answer within %lld ms", c->where,
			       what, (long long)c->t->timeout_ms);
	return err_set(err, code, "%s: %s: %s", c->where, what,
		       ssh_last_error(c));
}

/* Connects a socket to one address, waiting at most ms. */
static int
dial_one(const struct addrinfo *ai, int64_t ms)
{
	struct pollfd pfd;
	int fd, soerr = 0;
	socklen_t len = sizeof(soerr);

	fd = socket(ai->ai_family,
		    ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
		    ai->ai_protocol);
	if (fd < 0)
		return -1;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 &&
	    errno != EINPROGRESS)
		goto fail;
	pfd = (struct pollfd){ .fd = fd, .events = POLLOUT };
	if (poll(&pfd, 1, (int)ms) != 1) {
		errno = ETIMEDOUT;
		goto fail;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0 || soerr) {
		errno = soerr ? soerr : errno;
		goto fail;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return fd;
fail:
	soerr = errno;
	close(fd);
	errno = soerr;
	return -1;
}

static int
dial(struct ssh_conn *c, struct err *err)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	char port[16];
	int rc;

	snprintf(port, sizeof(port), "%d", c->t->port);
	if ((rc = getaddrinfo(c->t->address, port, &hints, &res)) != 0)
		return err_set(err, ERR_IO, "%s: cannot resolve: %s", c->where,
			       gai_strerror(rc));
	errno = 0;
	for (ai = res; ai != NULL && c->fd < 0; ai = ai->ai_next)
		c->fd = dial_one(ai, c->t->connect_timeout_ms);
	freeaddrinfo(res);
	if (c->fd >= 0)
		return 0;
	if (errno == ETIMEDOUT)
		return err_set(err, ERR_TIMEOUT, "%s: no answer within %lld ms",
			       c->where, (long long)c->t->connect_timeout_ms);
	return err_set_errno(err, ERR_IO, errno, "%s: cannot connect",
			     c->where);
}

static int
auth_agent(struct ssh_conn *c, struct err *err)
{
	LIBSSH2_AGENT *agent = libssh2_agent_init(c->s);
	struct libssh2_agent_publickey *id = NULL, *prev = NULL;
	int rc = -1;

	if (agent == NULL || libssh2_agent_connect(agent) != 0 ||
	    libssh2_agent_list_identities(agent) != 0) {
		if (agent != NULL)
			libssh2_agent_free(agent);
		return err_set(err, ERR_AUTH,
			       "%s: no identity_file in the plan and no "
			       "ssh-agent to ask (SSH_AUTH_SOCK)",
			       c->where);
	}
	while (rc != 0 && libssh2_agent_get_identity(agent, &id, prev) == 0) {
		rc = libssh2_agent_userauth(agent, c->t->user, id);
		prev = id;
	}
	libssh2_agent_disconnect(agent);
	libssh2_agent_free(agent);
	if (rc != 0)
		return err_set(err, ERR_AUTH,
			       "%s: no key in ssh-agent is accepted for user "
			       "'%s'",
			       c->where, c->t->user);
	return 0;
}

static int
authenticate(struct ssh_conn *c, struct err *err)
{
	if (c->t->identity_file == NULL)
		return auth_agent(c, err);
	if (libssh2_userauth_publickey_fromfile(
		    c->s, c->t->user, NULL, c->t->identity_file, NULL) != 0) {
		if (libssh2_session_last_errno(c->s) == LIBSSH2_ERROR_TIMEOUT)
			return ssh_fail(err, c, ERR_TIMEOUT, "authentication");
		return err_set(err, ERR_AUTH,
			       "%s: the key '%s' was refused for user '%s' "
			       "(%s)",
			       c->where, c->t->identity_file, c->t->user,
			       ssh_last_error(c));
	}
	return 0;
}

static int
handshake(struct ssh_conn *c, struct err *err)
{
	libssh2_session_set_timeout(c->s, (long)c->t->connect_timeout_ms);
	libssh2_session_method_pref(c->s, LIBSSH2_METHOD_HOSTKEY,
				    HOSTKEY_PREFS);
	if (libssh2_session_handshake(c->s, c->fd) == 0)
		return 0;
	if (libssh2_session_last_errno(c->s) == LIBSSH2_ERROR_KEX_FAILURE)
		return err_set(
			err, ERR_AUTH,
			"%s: the host offers no ed25519 or ECDSA host "
			"key (only RSA?): this controller's libssh2 "
			"cannot check RSA keys with SHA-2, which OpenSSH "
			"9 requires; give the host an ed25519 key",
			c->where);
	if (libssh2_session_last_errno(c->s) == LIBSSH2_ERROR_TIMEOUT)
		return err_set(err, ERR_TIMEOUT,
			       "%s: no SSH answer within %lld ms", c->where,
			       (long long)c->t->connect_timeout_ms);
	return ssh_fail(err, c, ERR_IO, "SSH handshake failed");
}

int
ssh_session_open(struct ssh_conn **out, const struct ssh_target *t,
		 struct err *err)
{
	struct ssh_conn *c = calloc(1, sizeof(*c));
	int rc;

	if (c == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	c->t = t;
	c->fd = -1;
	snprintf(c->where, sizeof(c->where), "%s (%s:%d)", t->name, t->address,
		 t->port);
	if ((rc = dial(c, err)) < 0)
		goto fail;
	if ((c->s = libssh2_session_init()) == NULL) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto fail;
	}
	libssh2_session_set_blocking(c->s, 1);
	if ((rc = handshake(c, err)) < 0)
		goto fail;
	*out = c;
	return 0;
fail:
	ssh_close(c);
	return rc;
}

int
ssh_connect(struct ssh_conn **out, const struct ssh_target *t, struct err *err)
{
	struct ssh_conn *c = NULL;
	int rc;

	if ((rc = ssh_session_open(&c, t, err)) < 0)
		return rc;
	if ((rc = ssh_check_host_key(c, err)) < 0 ||
	    (rc = authenticate(c, err)) < 0)
		goto fail;
	libssh2_session_set_timeout(c->s, (long)t->timeout_ms);
	if (t->keepalive_ms > 0)
		libssh2_keepalive_config(
			c->s, 1, (unsigned)((t->keepalive_ms + 999) / 1000));
	*out = c;
	return 0;
fail:
	ssh_close(c);
	return rc;
}

void
ssh_close(struct ssh_conn *c)
{
	if (c == NULL)
		return;
	if (c->s != NULL) {
		libssh2_session_set_timeout(c->s, 2000);
		libssh2_session_disconnect(c->s, "done");
		libssh2_session_free(c->s);
	}
	if (c->fd >= 0)
		close(c->fd);
	free(c);
}

int
ssh_quote(char *out, size_t size, const char *s, struct err *err)
{
	size_t o = 0;

	if (size < 3)
		return err_set(err, ERR_OVERFLOW, "no room to quote");
	out[o++] = '\'';
	for (; *s != '\0'; s++) {
		if (o + 6 >= size)
			return err_set(err, ERR_OVERFLOW, "argument too long");
		if (*s == '\'') {
			memcpy(out + o, "'\\''", 4);
			o += 4;
		} else {
			out[o++] = *s;
		}
	}
	out[o++] = '\'';
	out[o] = '\0';
	return 0;
}

int
ssh_channel_open(struct ssh_channel **out, struct ssh_conn *c, const char *cmd,
		 struct err *err)
{
	struct ssh_channel *ch = calloc(1, sizeof(*ch));

	if (ch == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	ch->c = c;
	ch->ch = libssh2_channel_open_session(c->s);
	if (ch->ch == NULL) {
		free(ch);
		return ssh_fail(err, c, ERR_IO, "cannot open a channel");
	}
	if (libssh2_channel_exec(ch->ch, cmd) != 0) {
		int rc = ssh_fail(err, c, ERR_IO, "cannot run a command");

		libssh2_channel_free(ch->ch);
		free(ch);
		return rc;
	}
	*out = ch;
	return 0;
}

int
ssh_channel_write(struct ssh_channel *ch, const void *p, size_t n,
		  struct err *err)
{
	const char *s = p;

	while (n > 0) {
		ssize_t w = libssh2_channel_write(ch->ch, s, n);

		if (w < 0)
			return ssh_fail(err, ch->c, ERR_IO, "cannot write");
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

int
ssh_channel_read(void *ctx, void *dst, size_t cap, int timeout_ms, size_t *got,
		 struct err *err)
{
	struct ssh_channel *ch = ctx;
	int64_t every = ch->c->t->keepalive_ms, left = timeout_ms;
	ssize_t n;

	/* Waited for in slices of the keepalive interval, with a keepalive
	 * sent after each quiet one: a long wait (a drain) keeps firewalls
	 * and sshd's ClientAliveInterval from taking the session. */
	for (;;) {
		int64_t slice = timeout_ms < 0 ? every : left;

		if (every > 0 && (slice <= 0 || slice > every))
			slice = every;
		libssh2_session_set_timeout(ch->c->s,
					    slice < 0 ? 0 : (long)slice);
		n = libssh2_channel_read(ch->ch, dst, cap);
		if (n != LIBSSH2_ERROR_TIMEOUT || every <= 0)
			break;
		if (timeout_ms >= 0 && (left -= slice) <= 0)
			break;
		libssh2_keepalive_send(ch->c->s, NULL);
	}
	libssh2_session_set_timeout(ch->c->s, (long)ch->c->t->timeout_ms);
	if (n == LIBSSH2_ERROR_TIMEOUT)
		return err_set(err, ERR_TIMEOUT, "%s: no answer within %d ms",
			       ch->c->where, timeout_ms);
	if (n < 0)
		return ssh_fail(err, ch->c, ERR_IO, "cannot read");
	/* A blocking read that times out says so above; 0 bytes means the
	 * remote side sent EOF or closed the channel (the command ended;
	 * libssh2 may report the close before the EOF flag is set). */
	if (n == 0)
		return err_set(err, ERR_EOF, "%s: the command ended",
			       ch->c->where);
	*got = (size_t)n;
	return 0;
}

void
ssh_channel_close(struct ssh_channel *ch)
{
	if (ch == NULL)
		return;
	libssh2_session_set_timeout(ch->c->s, 2000);
	libssh2_channel_send_eof(ch->ch);
	libssh2_channel_close(ch->ch);
	libssh2_channel_wait_closed(ch->ch);
	libssh2_channel_free(ch->ch);
	libssh2_session_set_timeout(ch->c->s, (long)ch->c->t->timeout_ms);
	free(ch);
}

int
ssh_exec(struct ssh_conn *c, const char *cmd, struct buf *out, int *status,
	 struct err *err)
{
	struct ssh_channel *ch;
	char chunk[4096];
	ssize_t n;
	int rc;

	if ((rc = ssh_channel_open(&ch, c, cmd, err)) < 0)
		return rc;
	libssh2_channel_send_eof(ch->ch);
	while ((n = libssh2_channel_read(ch->ch, chunk, sizeof(chunk))) > 0)
		if (out != NULL && buf_append(out, chunk, (size_t)n, NULL) < 0)
			break; /* over the cap: the rest is not kept */
	/* Drain standard error so the command can end. */
	while (libssh2_channel_read_stderr(ch->ch, chunk, sizeof(chunk)) > 0)
		;
	if (n < 0 && n != LIBSSH2_ERROR_EAGAIN)
		rc = ssh_fail(err, c, ERR_IO, "command failed");
	libssh2_channel_close(ch->ch);
	libssh2_channel_wait_closed(ch->ch);
	*status = libssh2_channel_get_exit_status(ch->ch);
	libssh2_channel_free(ch->ch);
	free(ch);
	return rc;
}
