/*
 * tls: the runtime's certificate, key and (optionally) the CA it checks
 * clients against, read from the files listen.tls names (GnuTLS, the TLS
 * library libmicrohttpd is built on).  The key file must be readable by
 * its owner only; the certificate must parse, match the key and not have
 * expired.  Everything is checked at load, so that `ivr-runtime check`
 * refuses what `serve` would, before a host is switched to it.
 *
 * The protocol floor and ciphers are fixed here, not configurable: TLS 1.2
 * and 1.3 only, ECDHE key exchange, AEAD ciphers (AES-GCM, ChaCha20).
 */
#ifndef IVR_RUNTIME_TLS_H
#define IVR_RUNTIME_TLS_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "err.h"

/* GnuTLS's priority string for every connection the runtime serves. */
#define TLS_PRIORITIES                                                        \
	"SECURE192:+SECURE128:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:"           \
	"-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:"           \
	"-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:-MAC-ALL:+AEAD:%SAFE_RENEGOTIATION:" \
	"%SERVER_PRECEDENCE"

#define TLS_PEM_MAX (256 * 1024)

struct tls_files {
	char *cert;	   /* PEM: the chain, leaf first (NUL-ended) */
	char *key;	   /* PEM: the private key (wiped at release) */
	char *client_ca;   /* PEM, or NULL: clients are not asked */
	time_t not_after;  /* the leaf's expiry */
	char subject[256]; /* the leaf's subject DN, for the log */
};

/*
 * Reads and checks the files (client_ca_path may be NULL).  Errors:
 * ERR_NOTFOUND/ERR_IO (a file), ERR_INVAL (a key others may read),
 * ERR_PARSE (not a certificate, not a key, the key does not match, the
 * certificate has expired).  On error nothing is left to release.
 */
int tls_load(struct tls_files *t, const char *cert_path, const char *key_path,
	     const char *client_ca_path, struct err *err);

void tls_release(struct tls_files *t);

/* Whether the peer of a GnuTLS session (a gnutls_session_t) presented a
 * certificate that the session's trust list verifies. */
bool tls_peer_verified(void *session);

#endif
