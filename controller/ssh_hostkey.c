/*
 * ssh_hostkey: the host key checked strictly against the plan's
 * known_hosts (ssh_int.h): as OpenSSH reads it ([address]:port lines for
 * other ports than 22, @revoked markers), with the fingerprint and the
 * exact line to add for an unknown host, and a loud refusal for a
 * changed key.
 */
#include <libssh2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "fileio.h"
#include "hash.h"
#include "ssh.h"
#include "ssh_int.h"

#define KNOWN_HOSTS_MAX (4 * 1024 * 1024)

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
/* 20 bytes in base64 as OpenSSH writes them: 27 characters and "=". */
static bool
b64_20(const char *s, size_t n)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijkl"
				       "mnopqrstuvwxyz0123456789+/";

	if (n != 28 || s[27] != '=')
		return false;
	for (size_t i = 0; i < 27; i++)
		if (s[i] == '\0' || strchr(alphabet, s[i]) == NULL)
			return false;
	return true;
}

/*
 * A hashed host ("|1|<salt>|<hash> ...") whose salt or hash is not a
 * SHA-1's 20 bytes is skipped, as OpenSSH skips it: libssh2 1.10 takes
 * such a line and leaks an HMAC context on every check against it.
 */
static bool
usable_host_field(const char *line)
{
	const char *salt, *bar;

	if (strncmp(line, "|1|", 3) != 0)
		return true;
	salt = line + 3;
	if ((bar = strchr(salt, '|')) == NULL)
		return false;
	return b64_20(salt, (size_t)(bar - salt)) &&
	       b64_20(bar + 1, strcspn(bar + 1, " \t"));
}

int
ssh_known_hosts_read(LIBSSH2_KNOWNHOSTS *kh, bool *is_revoked, const char *path,
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
		else if (line[0] != '@' && line[0] != '#' && line[0] != '\0' &&
			 usable_host_field(line))
			libssh2_knownhost_readline(
				kh, line, strlen(line),
				LIBSSH2_KNOWNHOST_FILE_OPENSSH);
	}
	buf_release(&text);
	return 0;
}

/* The verdict on a key that is not a plain match, as a refusal. */
static int
refuse(struct ssh_conn *c, int rc, bool is_revoked, const char *key, size_t len,
       int type, struct err *err)
{
	char fp[80], line[1024];

	fingerprint(fp, sizeof(fp), c);
	if (is_revoked)
		return err_set(err, ERR_AUTH,
			       "%s: the host key %s %s is REVOKED in '%s': "
			       "refusing to connect",
			       c->where, key_type_name(type), fp,
			       c->t->known_hosts);
	if (rc == LIBSSH2_KNOWNHOST_CHECK_MISMATCH)
		return err_set(
			err, ERR_AUTH,
			"%s: HOST KEY CHANGED: it now presents %s key %s, "
			"not the key in '%s'. Someone may be "
			"intercepting the connection, or the host was "
			"rebuilt. Refusing to connect; check the new key "
			"out of band before replacing the host's line",
			c->where, key_type_name(type), fp, c->t->known_hosts);
	known_line(line, sizeof(line), c, key, len, type);
	return err_set(err, ERR_AUTH,
		       "%s: unknown host key %s %s. Check it out of band, then "
		       "add this line to '%s': %s",
		       c->where, key_type_name(type), fp, c->t->known_hosts,
		       line);
}

int
ssh_check_host_key(struct ssh_conn *c, struct err *err)
{
	struct libssh2_knownhost *entry = NULL;
	char host[300], *b64 = NULL;
	LIBSSH2_KNOWNHOSTS *kh;
	const char *key;
	size_t len = 0;
	bool is_revoked;
	int type = 0, rc;

	if ((key = libssh2_session_hostkey(c->s, &len, &type)) == NULL)
		return ssh_fail(err, c, ERR_AUTH, "no host key");
	if ((kh = libssh2_knownhost_init(c->s)) == NULL ||
	    (b64 = malloc(4 * ((len + 2) / 3) + 1)) == NULL) {
		if (kh != NULL)
			libssh2_knownhost_free(kh);
		return err_set(err, ERR_NOMEM, "out of memory");
	}
	hash_base64(b64, (const unsigned char *)key, len);
	rc = ssh_known_hosts_read(kh, &is_revoked, c->t->known_hosts, b64);
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
	if (rc == LIBSSH2_KNOWNHOST_CHECK_MATCH && !is_revoked)
		return 0;
	return refuse(c, rc, is_revoked, key, len, type, err);
}

int
ssh_scan_host_key(struct ssh_hostkey *out, const struct ssh_target *t,
		  struct err *err)
{
	struct ssh_conn *c = NULL;
	const char *key;
	size_t len = 0;
	int type = 0, rc;

	memset(out, 0, sizeof(*out));
	if ((rc = ssh_session_open(&c, t, err)) < 0)
		return rc;
	if ((key = libssh2_session_hostkey(c->s, &len, &type)) == NULL) {
		rc = ssh_fail(err, c, ERR_AUTH, "no host key");
	} else {
		snprintf(out->type, sizeof(out->type), "%s",
			 key_type_name(type));
		fingerprint(out->fingerprint, sizeof(out->fingerprint), c);
		known_line(out->line, sizeof(out->line), c, key, len, type);
	}
	ssh_close(c);
	return rc;
}
