/*
 * hash: SHA-256 of a buffer, a stream or a file, hex encoding, and
 * constant-time comparison, on OpenSSL.
 * Artifacts are content-addressed by the hex SHA-256 of their bytes.
 */
#ifndef IVR_COMMON_HASH_H
#define IVR_COMMON_HASH_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

#define HASH_SHA256_LEN	    32
#define HASH_SHA256_HEX_LEN 64

/* An incremental SHA-256; opaque. */
struct hash_sha256;

/* A new incremental hash, or NULL with ERR_NOMEM / ERR_INTERNAL in err. */
struct hash_sha256 *hash_sha256_new(struct err *err);

/* Adds n bytes.  Returns 0 or ERR_INTERNAL. */
int hash_sha256_update(struct hash_sha256 *h, const void *p, size_t n,
		       struct err *err);

/* Writes the digest into out; h can then only be freed.  0 or ERR_INTERNAL. */
int hash_sha256_final(unsigned char out[HASH_SHA256_LEN], struct hash_sha256 *h,
		      struct err *err);

/* Frees h; NULL is a no-op. */
void hash_sha256_free(struct hash_sha256 *h);

/* The digest of n bytes at p.  Returns 0 or ERR_INTERNAL. */
int hash_sha256_buf(unsigned char out[HASH_SHA256_LEN], const void *p, size_t n,
		    struct err *err);

/*
 * The digest of the file at path, read in chunks.  Returns 0, or ERR_IO
 * ("cannot open 'x': ...", "cannot read 'x': ...") or ERR_INTERNAL.
 */
int hash_sha256_file(unsigned char out[HASH_SHA256_LEN], const char *path,
		     struct err *err);

/* The same for an open descriptor, read from its current offset to EOF. */
int hash_sha256_fd(unsigned char out[HASH_SHA256_LEN], int fd, const char *name,
		   struct err *err);

/* Writes n bytes as 2n lower-case hex digits and a NUL into out. */
void hash_hex(char *out, const unsigned char *in, size_t n);

/*
 * Decodes exactly 2n hex digits (either case) from hex into n bytes.
 * Returns 0 or ERR_INVAL ("invalid hex string '...': ...").
 */
int hash_unhex(unsigned char *out, size_t n, const char *hex, struct err *err);

/* True when s is exactly 64 lower-case hex digits: a SHA-256 name. */
bool hash_is_sha256_hex(const char *s);

/* Compares n bytes in constant time (for secrets and digests). */
bool hash_equal(const void *a, const void *b, size_t n);

/*
 * Writes n bytes as base64 (with padding) and a NUL into out, which holds
 * at least 4 * ((n + 2) / 3) + 1 bytes.  Returns the length written.
 */
size_t hash_base64(char *out, const unsigned char *in, size_t n);

/*
 * Decodes the base64 text in (len bytes, padded, no line breaks) into
 * out, which holds at least 3 * (len / 4) bytes.  Returns the number of
 * bytes written, or -1 when in is not base64.
 */
long hash_unbase64(unsigned char *out, const char *in, size_t len);

/* Fills n bytes with cryptographically random bytes (getrandom). 0/ERR_IO. */
int hash_random(void *out, size_t n, struct err *err);

/* Bounds on PBKDF2 iterations that hash_password accepts. */
#define HASH_PASSWORD_MIN_ITERATIONS 1000
#define HASH_PASSWORD_MAX_ITERATIONS 10000000
#define HASH_PASSWORD_MAX	     160

/*
 * Derives a storable hash of a secret (a PIN) with PBKDF2-HMAC-SHA256, a
 * fresh 16-byte salt and the given iteration count, as
 * "pbkdf2-sha256$<iterations>$<salt hex>$<hash hex>" into out (at least
 * HASH_PASSWORD_MAX bytes).  Returns 0, ERR_RANGE (iterations outside the
 * bounds) or ERR_INTERNAL / ERR_IO.
 */
int hash_password(char *out, const char *secret, int iterations,
		  struct err *err);

/*
 * Checks secret against a string made by hash_password, comparing in
 * constant time.  Sets *match.  Returns 0, or ERR_INVAL when stored is not
 * such a string (*match is then false).
 */
int hash_password_verify(bool *match, const char *stored, const char *secret,
			 struct err *err);

#endif
