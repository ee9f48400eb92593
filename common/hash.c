/*
 * hash: see hash.h.  OpenSSL lives behind this module only.
 */
#include "hash.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
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
