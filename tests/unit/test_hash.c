#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "hash.h"

/* sha256("abc") and sha256("") from FIPS 180-2 and common knowledge. */
#define ABC_HEX \
	"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define EMPTY_HEX \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static void
test_hash_sha256_buf__matches_the_standard_vectors(void **state)
{
	unsigned char d[HASH_SHA256_LEN];
	char hex[HASH_SHA256_HEX_LEN + 1];

	(void)state;
	assert_int_equal(hash_sha256_buf(d, "abc", 3, NULL), 0);
	hash_hex(hex, d, sizeof(d));
	assert_string_equal(hex, ABC_HEX);
	assert_int_equal(hash_sha256_buf(d, "", 0, NULL), 0);
	hash_hex(hex, d, sizeof(d));
	assert_string_equal(hex, EMPTY_HEX);
}

static void
test_hash_sha256__incremental_equals_one_shot(void **state)
{
	unsigned char a[HASH_SHA256_LEN], b[HASH_SHA256_LEN];
	struct hash_sha256 *h = hash_sha256_new(NULL);

	(void)state;
	assert_non_null(h);
	assert_int_equal(hash_sha256_update(h, "a", 1, NULL), 0);
	assert_int_equal(hash_sha256_update(h, "bc", 2, NULL), 0);
	assert_int_equal(hash_sha256_final(a, h, NULL), 0);
	hash_sha256_free(h);
	hash_sha256_free(NULL);
	hash_sha256_buf(b, "abc", 3, NULL);
	assert_memory_equal(a, b, sizeof(a));
}

static void
test_hash_sha256_file__hashes_a_large_file(void **state)
{
	char path[] = "/tmp/ivr-test-hash.XXXXXX";
	unsigned char a[HASH_SHA256_LEN], b[HASH_SHA256_LEN];
	size_t n = 300 * 1000;
	char *data = malloc(n);
	int fd = mkstemp(path);

	(void)state;
	for (size_t i = 0; i < n; i++)
		data[i] = (char)(i * 7);
	assert_int_equal(write(fd, data, n), (ssize_t)n);
	close(fd);
	assert_int_equal(hash_sha256_file(a, path, NULL), 0);
	hash_sha256_buf(b, data, n, NULL);
	assert_memory_equal(a, b, sizeof(a));
	unlink(path);
	free(data);
}

static void
test_hash_sha256_file__reports_a_missing_file(void **state)
{
	unsigned char d[HASH_SHA256_LEN];
	struct err e;

	(void)state;
	assert_int_equal(
		hash_sha256_file(d, "/nonexistent/artifact.tar.gz", &e),
		ERR_IO);
	assert_string_equal(e.msg, "cannot open '/nonexistent/artifact.tar.gz'"
				   ": No such file or directory");
	assert_int_equal(hash_sha256_file(d, "/", &e), ERR_IO);
	assert_string_equal(e.msg, "cannot read '/': Is a directory");
}

static void
test_hash_unhex__decodes_and_rejects(void **state)
{
	unsigned char d[HASH_SHA256_LEN], back[HASH_SHA256_LEN];
	struct err e;

	(void)state;
	hash_sha256_buf(d, "abc", 3, NULL);
	assert_int_equal(hash_unhex(back, sizeof(back), ABC_HEX, &e), 0);
	assert_memory_equal(d, back, sizeof(d));
	assert_int_equal(hash_unhex(back, 2, "ABcd", &e), 0);
	assert_int_equal(back[0], 0xab);
	assert_int_equal(back[1], 0xcd);
	assert_int_equal(hash_unhex(back, 2, "abc", &e), ERR_INVAL);
	assert_string_equal(e.msg, "invalid hex string 'abc': expected 4 "
				   "digits, got 3");
	assert_int_equal(hash_unhex(back, 2, "abzd", &e), ERR_INVAL);
	assert_string_equal(e.msg, "invalid hex string 'abzd': not a hex "
				   "digit at offset 2");
}

static void
test_hash_is_sha256_hex__accepts_only_64_lower_hex(void **state)
{
	(void)state;
	assert_true(hash_is_sha256_hex(ABC_HEX));
	assert_false(hash_is_sha256_hex(ABC_HEX "0"));
	assert_false(hash_is_sha256_hex("ba7816bf"));
	assert_false(hash_is_sha256_hex("BA7816BF8F01CFEA414140DE5DAE2223B00361"
					"A396177A9CB410FF61F20015AD"));
	assert_false(hash_is_sha256_hex("../"
					"816bf8f01cfea414140de5dae2223b00361a39"
					"6177a9cb410ff61f20015ad"));
}

static void
test_hash_equal__compares_bytes(void **state)
{
	(void)state;
	assert_true(hash_equal("1234", "1234", 4));
	assert_false(hash_equal("1234", "1235", 4));
	assert_true(hash_equal("a", "b", 0));
	assert_false(hash_equal("\x00\x01", "\x00\x81", 2));
}

/* RFC 4648, section 10. */
static void
test_hash_base64__matches_the_rfc_vectors(void **state)
{
	static const char *const plain[] = { "",     "f",     "fo",    "foo",
					     "foob", "fooba", "foobar" };
	static const char *const coded[] = {
		"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"
	};
	char out[16];

	(void)state;
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		size_t n = strlen(plain[i]);

		memset(out, '#', sizeof(out));
		assert_int_equal(
			hash_base64(out, (const unsigned char *)plain[i], n),
			strlen(coded[i]));
		assert_string_equal(out, coded[i]);
	}
}

/* The same vectors back, and text that is not base64 refused. */
static void
test_hash_unbase64__reverses_the_rfc_vectors(void **state)
{
	static const char *const plain[] = { "",     "f",     "fo",    "foo",
					     "foob", "fooba", "foobar" };
	static const char *const coded[] = {
		"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"
	};
	static const char *const bad[] = { "Zg=", "Zg=a",
					   "Z===", "Zm9v\nYg==", "Zm$v" };
	unsigned char out[16];

	(void)state;
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		long n = hash_unbase64(out, coded[i], strlen(coded[i]));

		assert_int_equal(n, (long)strlen(plain[i]));
		assert_memory_equal(out, plain[i], (size_t)n);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(hash_unbase64(out, bad[i], strlen(bad[i])),
				 -1);
}

static void
test_hash_password__verifies_the_right_secret_only(void **state)
{
	char stored[HASH_PASSWORD_MAX], other[HASH_PASSWORD_MAX];
	bool match = false;

	(void)state;
	assert_int_equal(hash_password(stored, "4921", 1000, NULL), 0);
	assert_int_equal(strncmp(stored, "pbkdf2-sha256$1000$", 19), 0);
	assert_int_equal(strlen(stored), 19 + 32 + 1 + 64);
	/* What is stored is PBKDF2 of the PIN under the stored salt,
	 * computed here by OpenSSL itself, not the PIN. */
	{
		unsigned char salt[16], dk[32];
		char salt_hex[33], dk_hex[65];

		snprintf(salt_hex, sizeof(salt_hex), "%.32s", stored + 19);
		assert_int_equal(hash_unhex(salt, sizeof(salt), salt_hex, NULL),
				 0);
		assert_int_equal(
			PKCS5_PBKDF2_HMAC("4921", 4, salt, sizeof(salt), 1000,
					  EVP_sha256(), sizeof(dk), dk),
			1);
		hash_hex(dk_hex, dk, sizeof(dk));
		assert_string_equal(stored + 19 + 32 + 1, dk_hex);
	}
	assert_int_equal(hash_password_verify(&match, stored, "4921", NULL), 0);
	assert_true(match);
	assert_int_equal(hash_password_verify(&match, stored, "4922", NULL), 0);
	assert_false(match);
	/* A fresh salt each time: the same PIN never hashes the same. */
	assert_int_equal(hash_password(other, "4921", 1000, NULL), 0);
	assert_string_not_equal(stored, other);
}

static void
test_hash_password__rejects_bad_input(void **state)
{
	char stored[HASH_PASSWORD_MAX];
	bool match = true;
	struct err e;

	(void)state;
	assert_int_equal(hash_password(stored, "1", 10, &e), ERR_RANGE);
	assert_string_equal(e.msg,
			    "iterations 10 out of range (1000 to 10000000)");
	assert_int_equal(hash_password_verify(&match, "plain-1234", "1234", &e),
			 ERR_INVAL);
	assert_false(match);
	assert_string_equal(e.msg, "stored password hash is not in "
				   "pbkdf2-sha256 form");
	assert_int_equal(hash_password_verify(
				 &match, "pbkdf2-sha256$1000$00$00", "1", &e),
			 ERR_INVAL);
}

static void
test_hash_random__fills_the_buffer(void **state)
{
	unsigned char a[32] = { 0 }, b[32] = { 0 };

	(void)state;
	assert_int_equal(hash_random(a, sizeof(a), NULL), 0);
	assert_int_equal(hash_random(b, sizeof(b), NULL), 0);
	assert_memory_not_equal(a, b, sizeof(a));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			test_hash_sha256_buf__matches_the_standard_vectors),
		cmocka_unit_test(test_hash_sha256__incremental_equals_one_shot),
		cmocka_unit_test(test_hash_sha256_file__hashes_a_large_file),
		cmocka_unit_test(test_hash_sha256_file__reports_a_missing_file),
		cmocka_unit_test(test_hash_unhex__decodes_and_rejects),
		cmocka_unit_test(
			test_hash_is_sha256_hex__accepts_only_64_lower_hex),
		cmocka_unit_test(test_hash_equal__compares_bytes),
		cmocka_unit_test(test_hash_base64__matches_the_rfc_vectors),
		cmocka_unit_test(test_hash_unbase64__reverses_the_rfc_vectors),
		cmocka_unit_test(
			test_hash_password__verifies_the_right_secret_only),
		cmocka_unit_test(test_hash_password__rejects_bad_input),
		cmocka_unit_test(test_hash_random__fills_the_buffer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
