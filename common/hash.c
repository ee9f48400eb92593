/*
 * hash: see hash.h.  The crypto library lives behind this module only:
 * OpenSSL (libcrypto, linked statically into the static agent, whose TLS
 * is OpenSSL too).
 */
#include "hash.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define HASH_CHUNK 65536

struct hash_sha256 {
	EVP_MD_CTX *ctx;
};

struct hash_sha256 *
hash_sha256_new(struct err *err)
{
	struct hash_sha256 *h = calloc(1, sizeof(*h));

	if (h == NULL) {
		err_set(err, ERR_NOMEM, "out of memory");
		return NULL;
	}
	h->ctx = EVP_MD_CTX_new();
	if (h->ctx == NULL ||
	    EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
		hash_sha256_free(h);
		err_set(err, ERR_INTERNAL, "cannot start a sha256 digest");
		return NULL;
	}
	return h;
}

int
hash_sha256_update(struct hash_sha256 *h, const void *p, size_t n,
		   struct err *err)
{
	if (EVP_DigestUpdate(h->ctx, p, n) != 1)
		return err_set(err, ERR_INTERNAL, "sha256 digest failed");
	return 0;
}

int
hash_sha256_final(unsigned char out[HASH_SHA256_LEN], struct hash_sha256 *h,
		  struct err *err)
{
	unsigned int len = 0;

	if (EVP_DigestFinal_ex(h->ctx, out, &len) != 1 ||
	    len != HASH_SHA256_LEN)
		return err_set(err, ERR_INTERNAL, "sha256 digest failed");
	return 0;
}

void
hash_sha256_free(struct hash_sha256 *h)
{
	if (h == NULL)
		return;
	EVP_MD_CTX_free(h->ctx);
	free(h);
}

int
hash_sha256_buf(unsigned char out[HASH_SHA256_LEN], const void *p, size_t n,
		struct err *err)
{
	unsigned int len = 0;

	if (EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) != 1 ||
	    len != HASH_SHA256_LEN)
		return err_set(err, ERR_INTERNAL, "sha256 digest failed");
	return 0;
}

int
hash_sha256_fd(unsigned char out[HASH_SHA256_LEN], int fd, const char *name,
	       struct err *err)
{
	struct hash_sha256 *h;
	unsigned char *chunk = NULL;
	struct err local;
	ssize_t n;
	int rc;

	if ((h = hash_sha256_new(&local)) == NULL)
		return err_set(err, local.code, "%s", local.msg);
	if ((chunk = malloc(HASH_CHUNK)) == NULL) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	for (;;) {
		n = read(fd, chunk, HASH_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = err_set_errno(err, ERR_IO, errno,
					   "cannot read '%s'", name);
			goto out;
		}
		if (n == 0)
			break;
		if ((rc = hash_sha256_update(h, chunk, (size_t)n, err)) < 0)
			goto out;
	}
	rc = hash_sha256_final(out, h, err);
out:
	free(chunk);
	hash_sha256_free(h);
	return rc;
}

int
hash_sha256_file(unsigned char out[HASH_SHA256_LEN], const char *path,
		 struct err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return err_set_errno(err, ERR_IO, errno, "cannot open '%s'",
				     path);
	rc = hash_sha256_fd(out, fd, path, err);
	close(fd);
	return rc;
}

void
hash_hex(char *out, const unsigned char *in, size_t n)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static int
nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
hash_unhex(unsigned char *out, size_t n, const char *hex, struct err *err)
{
	char q[96];
	size_t len = strlen(hex);

	if (len != 2 * n) {
		err_quote(q, sizeof(q), hex, len);
		return err_set(err, ERR_INVAL,
			       "invalid hex string '%s': expected %zu digits, "
			       "got %zu",
			       q, 2 * n, len);
	}
	for (size_t i = 0; i < n; i++) {
		int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);

		if (hi < 0 || lo < 0) {
			err_quote(q, sizeof(q), hex, len);
			return err_set(err, ERR_INVAL,
				       "invalid hex string '%s': not a hex "
				       "digit at offset %zu",
				       q, hi < 0 ? 2 * i : 2 * i + 1);
		}
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

bool
hash_is_sha256_hex(const char *s)
{
	size_t i;

	for (i = 0; i < HASH_SHA256_HEX_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[i] == '\0';
}

bool
hash_equal(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}

int
hash_random(void *out, size_t n, struct err *err)
{
	unsigned char *p = out;

	while (n > 0) {
		ssize_t got = getrandom(p, n, 0);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return err_set_errno(err, ERR_IO, errno,
					     "cannot read random bytes");
		p += got;
		n -= (size_t)got;
	}
	return 0;
}

#define SALT_LEN 16

static int
pbkdf2(unsigned char out[HASH_SHA256_LEN], const char *secret,
       const unsigned char *salt, size_t salt_len, int iterations,
       struct err *err)
{
	if (PKCS5_PBKDF2_HMAC(secret, (int)strlen(secret), salt, (int)salt_len,
			      iterations, EVP_sha256(), HASH_SHA256_LEN,
			      out) != 1)
		return err_set(err, ERR_INTERNAL, "key derivation failed");
	return 0;
}

int
hash_password(char *out, const char *secret, int iterations, struct err *err)
{
	unsigned char salt[SALT_LEN], dk[HASH_SHA256_LEN];
	char salt_hex[2 * SALT_LEN + 1], dk_hex[HASH_SHA256_HEX_LEN + 1];
	int rc;

	if (iterations < HASH_PASSWORD_MIN_ITERATIONS ||
	    iterations > HASH_PASSWORD_MAX_ITERATIONS)
		return err_set(err, ERR_RANGE,
			       "iterations %d out of range (%d to %d)",
			       iterations, HASH_PASSWORD_MIN_ITERATIONS,
			       HASH_PASSWORD_MAX_ITERATIONS);
	if ((rc = hash_random(salt, sizeof(salt), err)) < 0)
		return rc;
	if ((rc = pbkdf2(dk, secret, salt, sizeof(salt), iterations, err)) < 0)
		return rc;
	hash_hex(salt_hex, salt, sizeof(salt));
	hash_hex(dk_hex, dk, sizeof(dk));
	explicit_bzero(dk, sizeof(dk));
	snprintf(out, HASH_PASSWORD_MAX, "pbkdf2-sha256$%d$%s$%s", iterations,
		 salt_hex, dk_hex);
	return 0;
}

int
hash_password_verify(bool *match, const char *stored, const char *secret,
		     struct err *err)
{
	unsigned char salt[SALT_LEN], want[HASH_SHA256_LEN],
		got[HASH_SHA256_LEN];
	char salt_hex[2 * SALT_LEN + 1], dk_hex[HASH_SHA256_HEX_LEN + 1];
	int iterations, end = 0, rc;

	*match = false;
	if (sscanf(stored, "pbkdf2-sha256$%d$%32[0-9a-f]$%64[0-9a-f]%n",
		   &iterations, salt_hex, dk_hex, &end) != 3 ||
	    stored[end] != '\0' || iterations < HASH_PASSWORD_MIN_ITERATIONS ||
	    iterations > HASH_PASSWORD_MAX_ITERATIONS ||
	    hash_unhex(salt, sizeof(salt), salt_hex, NULL) < 0 ||
	    hash_unhex(want, sizeof(want), dk_hex, NULL) < 0)
		return err_set(err, ERR_INVAL,
			       "stored password hash is not "
			       "in pbkdf2-sha256 form");
	if ((rc = pbkdf2(got, secret, salt, sizeof(salt), iterations, err)) < 0)
		return rc;
	*match = hash_equal(got, want, sizeof(got));
	explicit_bzero(got, sizeof(got));
	return 0;
}

size_t
hash_base64(char *out, const unsigned char *in, size_t n)
{
	return (size_t)EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

long
hash_unbase64(unsigned char *out, const char *in, size_t len)
{
	size_t pad = 0;

	if (len % 4 != 0 || len > (size_t)INT32_MAX)
		return -1;
	if (len == 0)
		return 0;
	pad = (in[len - 1] == '=') + (len > 1 && in[len - 2] == '=');
	for (size_t i = 0; i < len - pad; i++)
		if (in[i] == '=' || in[i] == '\n' || in[i] == '\r')
			return -1; /* padding only at the end, one line */
	{
		int n = EVP_DecodeBlock(out, (const unsigned char *)in,
					(int)len);

		/* EVP_DecodeBlock counts the padding's zero bytes */
		return n < 0 ? -1 : (long)n - (long)pad;
	}
}
