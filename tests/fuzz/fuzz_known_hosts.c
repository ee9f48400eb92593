/*
 * libFuzzer: any bytes as the plan's known_hosts file, read as ivrctl
 * reads it before every connection (comments and markers, @revoked lines,
 * libssh2's parser for the rest), then a host key checked against it as a
 * connection would: the seeds' ed25519 key, for [127.0.0.1]:2222.
 */
#include <libssh2.h>
#include <stdbool.h>
#include <stdlib.h>

#include "fuzz_util.h"
#include "ssh_int.h"

/* The key in the seeds (corpus/fuzz_known_hosts), raw and in base64. */
static const unsigned char key[] = {
	0x00, 0x00, 0x00, 0x0b, 0x73, 0x73, 0x68, 0x2d, 0x65, 0x64, 0x32,
	0x35, 0x35, 0x31, 0x39, 0x00, 0x00, 0x00, 0x20, 0xe8, 0x0d, 0x35,
	0x18, 0x45, 0x91, 0xb7, 0xff, 0x8d, 0x9b, 0x97, 0xb4, 0x42, 0x0e,
	0x87, 0x57, 0x09, 0xda, 0xc8, 0x2c, 0x26, 0x51, 0x51, 0xc0, 0x06,
	0x31, 0x0b, 0x70, 0xed, 0xb6, 0xd1, 0xf9,
};
static const char key_b64[] =
	"AAAAC3NzaC1lZDI1NTE5AAAAIOgNNRhFkbf/jZuXtEIOh1cJ2sgsJlFRwAYxC3DtttH5";

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static LIBSSH2_SESSION *session;
	struct libssh2_knownhost *entry = NULL;
	LIBSSH2_KNOWNHOSTS *kh;
	char path[256];
	bool revoked;

	if (session == NULL && (libssh2_init(0) != 0 ||
				(session = libssh2_session_init()) == NULL))
		abort();
	if ((kh = libssh2_knownhost_init(session)) == NULL)
		abort();
	fuzz_file(path, sizeof(path), "known_hosts", data, size);
	if (ssh_known_hosts_read(kh, &revoked, path, key_b64) == 0)
		libssh2_knownhost_checkp(kh, "[127.0.0.1]:2222", -1,
					 (const char *)key, sizeof(key),
					 LIBSSH2_KNOWNHOST_TYPE_PLAIN |
						 LIBSSH2_KNOWNHOST_KEYENC_RAW |
						 LIBSSH2_KNOWNHOST_KEY_ED25519,
					 &entry);
	libssh2_knownhost_free(kh);
	return 0;
}
