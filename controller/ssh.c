/*
 * ssh: see ssh.h.  libssh2 runs in blocking mode with a session timeout,
 * so every call below waits at most that long.
 */
#include "ssh.h"

#include <errno.h>
#include <fcntl.h>
#include <libssh2.h>
#include <libssh2_sftp.h>
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

/* Host key types libssh2 1.10 can verify here, best first: no RSA. */
#define HOSTKEY_PREFS                                          \
	"ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384," \
	"ecdsa-sha2-nistp521"

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

int
ssh_global_init(struct err *err)
{
	if (libssh2_init(0) != 0)
		return err_set(err, ERR_INTERNAL, "cannot start libssh2");
	return 0;
}

/* libssh2's last error as text. */
static const char *
last_error(struct ssh_conn *c)
{
	char *msg = NULL;

	libssh2_session_last_error(c->s, &msg, NULL, 0);
	return msg ? msg : "unknown error";
}

static int
fail(struct err *err, struct ssh_conn *c, int code, const char *what)
{
	if (libssh2_session_last_errno(c->s) == LIBSSH2_ERROR_TIMEOUT)
		return err_set(err, ERR_TIMEOUT,
			       "%s: %s: no answer within %lld ms", c->where,
			       what, (long long)c->t->timeout_ms);
	return err_set(err, code, "%s: %s: %s", c->where, what, last_error(c));
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

static const char *
key_type_name(int type)
{
	switch (type) {
	case LIBSSH2_HOSTKEY_TYPE_ED25519:
		return "ssh-ed25519";
	case LIBSSH2_HOSTKEY_TYPE_ECDSA_256:
		return "ecdsa-sha2-nistp256";
	case LIBSSH2_HOSTKEY_TYPE_ECDSA_384:
		return "ecdsa-sha2-nistp384";
	case LIBSSH2_HOSTKEY_TYPE_ECDSA_521:
		return "ecdsa-sha2-nistp521";
	case LIBSSH2_HOSTKEY_TYPE_RSA:
		return "ssh-rsa";
	default:
		return "unknown";
	}
}

static int
knownhost_bit(int type)
{
	switch (type) {
	case LIBSSH2_HOSTKEY_TYPE_ED25519:
		return LIBSSH2_KNOWNHOST_KEY_ED25519;
	case LIBSSH2_HOSTKEY_TYPE_ECDSA_256:
		return LIBSSH2_KNOWNHOST_KEY_ECDSA_256;
	case LIBSSH2_HOSTKEY_TYPE_ECDSA_384:
		return LIBSSH2_KNOWNHOST_KEY_ECDSA_384;
	case LIBSSH2_HOSTKEY_TYPE_ECDSA_521:
		return LIBSSH2_KNOWNHOST_KEY_ECDSA_521;
	default:
		return LIBSSH2_KNOWNHOST_KEY_SSHRSA;
	}
}

/* "SHA256:<base64, no padding>" of the host key, as OpenSSH prints it. */
static void
fingerprint(char *out, size_t size, struct ssh_conn *c)
{
	const char *hash =
		libssh2_hostkey_hash(c->s, LIBSSH2_HOSTKEY_HASH_SHA256);
	char b64[64];
	size_t n;

	if (hash == NULL) {
		snprintf(out, size, "(no fingerprint)");
		return;
	}
	n = hash_base64(b64, (const unsigned char *)hash, 32);
	while (n > 0 && b64[n - 1] == '=')
		b64[--n] = '\0';
	snprintf(out, size, "SHA256:%s", b64);
}

/* The known_hosts line for this host's key. */
static void
known_line(char *out, size_t size, struct ssh_conn *c, const char *key,
	   size_t len, int type)
{
	char *b64 = malloc(4 * ((len + 2) / 3) + 1);

	if (b64 == NULL) {
		snprintf(out, size, "(out of memory)");
		return;
	}
	hash_base64(b64, (const unsigned char *)key, len);
	if (c->t->port == 22)
		snprintf(out, size, "%s %s %s", c->t->address,
			 key_type_name(type), b64);
	else
		snprintf(out, size, "[%s]:%d %s %s", c->t->address, c->t->port,
			 key_type_name(type), b64);
	free(b64);
}

#define KNOWN_HOSTS_MAX (4 * 1024 * 1024)

/* True when the key field (base64) of a "@revoked pattern type key" line
 * is the presented key's. */
static bool
revoked(const char *line, const char *b64)
{
	char marker[16], pattern[512], type[64], key[8192];

	return sscanf(line, "%15s %511s %63s %8191s", marker, pattern, type,
		      key) == 4 &&
	       strcmp(key, b64) == 0;
}

/*
 * known_hosts as OpenSSH reads it, into kh: a "@revoked" line's key is
 * refused for every host (*is_revoked when it is the presented one, whose
 * base64 is b64); "@cert-authority" lines are skipped (no certificates
 * here); the other lines are taken by libssh2.  Returns 0 or ERR_IO.
 */
static int
read_known_hosts(LIBSSH2_KNOWNHOSTS *kh, bool *is_revoked, const char *path,
		 const char *b64)
{
	struct buf text;
	char *line, *save = NULL;
	int rc;

	*is_revoked = false;
	buf_init(&text, KNOWN_HOSTS_MAX);
	if ((rc = fileio_read_all(&text, path, NULL)) < 0) {
		buf_release(&text);
		return rc;
	}
	/* An empty file has no buffer: strtok_r(NULL) would read *save. */
	for (line = text.len ? strtok_r(text.data, "\n", &save) : NULL;
	     line != NULL; line = strtok_r(NULL, "\n", &save)) {
		line += strspn(line, " \t");
		if (strncmp(line, "@revoked", 8) == 0)
			*is_revoked = *is_revoked || revoked(line, b64);
		else if (line[0] != '@' && line[0] != '#' && line[0] != '\0')
			libssh2_knownhost_readline(
				kh, line, strlen(line),
				LIBSSH2_KNOWNHOST_FILE_OPENSSH);
	}
	buf_release(&text);
	return 0;
}

static int
check_host_key(struct ssh_conn *c, struct err *err)
{
	struct libssh2_knownhost *entry = NULL;
	char fp[80], line[1024], host[300], *b64 = NULL;
	LIBSSH2_KNOWNHOSTS *kh;
	const char *key;
	size_t len = 0;
	bool is_revoked;
	int type = 0, rc;

	key = libssh2_session_hostkey(c->s, &len, &type);
	if (key == NULL)
		return fail(err, c, ERR_AUTH, "no host key");
	if ((kh = libssh2_knownhost_init(c->s)) == NULL ||
	    (b64 = malloc(4 * ((len + 2) / 3) + 1)) == NULL) {
		if (kh != NULL)
			libssh2_knownhost_free(kh);
		return err_set(err, ERR_NOMEM, "out of memory");
	}
	hash_base64(b64, (const unsigned char *)key, len);
	rc = read_known_hosts(kh, &is_revoked, c->t->known_hosts, b64);
	free(b64);
	if (rc < 0) {
		libssh2_knownhost_free(kh);
		return err_set(err, ERR_IO, "%s: cannot read known_hosts '%s'",
			       c->where, c->t->known_hosts);
	}
	/* As OpenSSH: a host on another port than 22 is "[address]:port"
	 * and only that (libssh2 would also take a line without the port,
	 * which names the host's port 22). */
	if (c->t->port == 22)
		snprintf(host, sizeof(host), "%s", c->t->address);
	else
		snprintf(host, sizeof(host), "[%s]:%d", c->t->address,
			 c->t->port);
	rc = libssh2_knownhost_checkp(kh, host, -1, key, len,
				      LIBSSH2_KNOWNHOST_TYPE_PLAIN |
					      LIBSSH2_KNOWNHOST_KEYENC_RAW |
					      knownhost_bit(type),
				      &entry);
	libssh2_knownhost_free(kh);
	fingerprint(fp, sizeof(fp), c);
	if (is_revoked)
		return err_set(err, ERR_AUTH,
			       "%s: the host key %s %s is REVOKED in '%s': "
			       "refusing to connect",
			       c->where, key_type_name(type), fp,
			       c->t->known_hosts);
	if (rc == LIBSSH2_KNOWNHOST_CHECK_MATCH)
		return 0;
	known_line(line, sizeof(line), c, key, len, type);
	if (rc == LIBSSH2_KNOWNHOST_CHECK_MISMATCH)
		return err_set(
			err, ERR_AUTH,
			"%s: HOST KEY CHANGED: it now presents %s key %s, "
			"not the key in '%s'. Someone may be "
			"intercepting the connection, or the host was "
			"rebuilt. Refusing to connect; check the new key "
			"out of band before replacing the host's line",
			c->where, key_type_name(type), fp, c->t->known_hosts);
	return err_set(err, ERR_AUTH,
		       "%s: unknown host key %s %s. Check it out of band, then "
		       "add this line to '%s': %s",
		       c->where, key_type_name(type), fp, c->t->known_hosts,
		       line);
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
			return fail(err, c, ERR_TIMEOUT, "authentication");
		return err_set(err, ERR_AUTH,
			       "%s: the key '%s' was refused for user '%s' "
			       "(%s)",
			       c->where, c->t->identity_file, c->t->user,
			       last_error(c));
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
	return fail(err, c, ERR_IO, "SSH handshake failed");
}

int
ssh_connect(struct ssh_conn **out, const struct ssh_target *t, struct err *err)
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
	if ((rc = handshake(c, err)) < 0 || (rc = check_host_key(c, err)) < 0 ||
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
		return fail(err, c, ERR_IO, "cannot open a channel");
	}
	if (libssh2_channel_exec(ch->ch, cmd) != 0) {
		int rc = fail(err, c, ERR_IO, "cannot run a command");

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
			return fail(err, ch->c, ERR_IO, "cannot write");
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
		return fail(err, ch->c, ERR_IO, "cannot read");
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
		rc = fail(err, c, ERR_IO, "command failed");
	libssh2_channel_close(ch->ch);
	libssh2_channel_wait_closed(ch->ch);
	*status = libssh2_channel_get_exit_status(ch->ch);
	libssh2_channel_free(ch->ch);
	free(ch);
	return rc;
}

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
		return fail(err, c, ERR_IO, "cannot create the upload file");
	}
	while (rc == 0 && (n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		for (size_t off = 0; off < n && rc == 0;) {
			ssize_t w = libssh2_sftp_write(h, chunk + off, n - off);

			if (w < 0)
				rc = fail(err, c, ERR_IO, "upload failed");
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
		return fail(err, c, ERR_IO, "cannot start SFTP");
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
		return fail(err, c, ERR_IO, "cannot start SFTP");
	if ((h = libssh2_sftp_open(sftp, remote, LIBSSH2_FXF_READ, 0)) ==
	    NULL) {
		rc = fail(err, c, ERR_IO, "cannot open the file to download");
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
			rc = fail(err, c, ERR_IO, "download failed");
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
