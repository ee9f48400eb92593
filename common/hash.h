/*
 * hash: SHA-256 (OpenSSL EVP) of a buffer, a stream or a file, hex encoding,
 * and constant-time comparison.  Artifacts are content-addressed by the hex
 * SHA-256 of their bytes.
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

#endif
