/*
 * tls: see tls.h.
 */
#include "tls.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "buf.h"
#include "fileio.h"

/* A whole PEM file into a NUL-ended string. */
static int
read_pem(char **out, const char *path, struct err *err)
{
	struct buf b;
	int rc;

	buf_init(&b, TLS_PEM_MAX);
	if ((rc = fileio_read_all(&b, path, err)) < 0) {
		buf_release(&b);
		return rc;
	}
	if ((*out = strdup(buf_cstr(&b))) == NULL)
		rc = err_set(err, ERR_NOMEM, "out of memory");
	if (b.data != NULL)
		explicit_bzero(b.data, b.len);
	buf_release(&b);
	return rc;
}

/* The key's file: owned by its reader, no rights for group or others. */
static int
check_key_mode(const char *path, struct err *err)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return err_set_errno(err,
				     errno == ENOENT ? ERR_NOTFOUND : ERR_IO,
				     errno, "listen.tls.key '%s'", path);
	if ((st.st_mode & 077) != 0)
		return err_set(err, ERR_INVAL,
			       "listen.tls.key '%s' may be read by others "
			       "(mode %04o): make it readable by its owner "
			       "only (chmod 600)",
			       path, (unsigned)(st.st_mode & 07777));
	return 0;
}

/* The leaf's expiry and subject; refuses an expired one. */
static int
read_leaf(struct tls_files *t, const char *path, struct err *err)
{
	gnutls_x509_crt_t crt;
	gnutls_datum_t d = { (unsigned char *)t->cert,
			     (unsigned)strlen(t->cert) };
	size_t n = sizeof(t->subject);
	int rc = 0, g;

	if (gnutls_x509_crt_init(&crt) < 0)
		return err_set(err, ERR_NOMEM, "out of memory");
	if ((g = gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM)) < 0) {
		rc = err_set(
			err, ERR_PARSE,
			"listen.tls.cert '%s' is not a PEM certificate: %s",
			path, gnutls_strerror(g));
		goto out;
	}
	t->not_after = gnutls_x509_crt_get_expiration_time(crt);
	if (gnutls_x509_crt_get_dn(crt, t->subject, &n) < 0)
		t->subject[0] = '\0';
	if (t->not_after < time(NULL)) {
		char when[32];
		struct tm tm;

		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ",
			 gmtime_r(&t->not_after, &tm));
		rc = err_set(err, ERR_PARSE,
			     "listen.tls.cert '%s' expired at %s", path, when);
	}
out:
	gnutls_x509_crt_deinit(crt);
	return rc;
}

/* That the key matches the certificate (GnuTLS checks when both load). */
static int
check_pair(const struct tls_files *t, const char *cert_path,
	   const char *key_path, struct err *err)
{
	gnutls_certificate_credentials_t c;
	gnutls_datum_t cd = { (unsigned char *)t->cert,
			      (unsigned)strlen(t->cert) };
	gnutls_datum_t kd = { (unsigned char *)t->key,
			      (unsigned)strlen(t->key) };
	int g;

	if (gnutls_certificate_allocate_credentials(&c) < 0)
		return err_set(err, ERR_NOMEM, "out of memory");
	g = gnutls_certificate_set_x509_key_mem(c, &cd, &kd,
						GNUTLS_X509_FMT_PEM);
	gnutls_certificate_free_credentials(c);
	if (g < 0)
		return err_set(err, ERR_PARSE,
			       "listen.tls: the key '%s' and the certificate "
			       "'%s' do not make a pair: %s",
			       key_path, cert_path, gnutls_strerror(g));
	return 0;
}

/* That the client CA file holds at least one certificate. */
static int
check_ca(char *pem, const char *path, struct err *err)
{
	gnutls_x509_crt_t *list = NULL;
	gnutls_datum_t d = { (unsigned char *)pem, (unsigned)strlen(pem) };
	unsigned n = 0;
	int g = gnutls_x509_crt_list_import2(&list, &n, &d, GNUTLS_X509_FMT_PEM,
					     0);

	for (unsigned i = 0; i < n; i++)
		gnutls_x509_crt_deinit(list[i]);
	gnutls_free(list);
	if (g < 0 || n == 0)
		return err_set(err, ERR_PARSE,
			       "listen.tls.client_ca '%s' holds no PEM "
			       "certificate%s%s",
			       path, g < 0 ? ": " : "",
			       g < 0 ? gnutls_strerror(g) : "");
	return 0;
}

int
tls_load(struct tls_files *t, const char *cert_path, const char *key_path,
	 const char *client_ca_path, struct err *err)
{
	int rc;

	memset(t, 0, sizeof(*t));
	if ((rc = check_key_mode(key_path, err)) < 0 ||
	    (rc = read_pem(&t->cert, cert_path, err)) < 0 ||
	    (rc = read_pem(&t->key, key_path, err)) < 0 ||
	    (rc = read_leaf(t, cert_path, err)) < 0 ||
	    (rc = check_pair(t, cert_path, key_path, err)) < 0)
		goto fail;
	if (client_ca_path != NULL &&
	    ((rc = read_pem(&t->client_ca, client_ca_path, err)) < 0 ||
	     (rc = check_ca(t->client_ca, client_ca_path, err)) < 0))
		goto fail;
	return 0;
fail:
	tls_release(t);
	return rc;
}

void
tls_release(struct tls_files *t)
{
	if (t->key != NULL)
		explicit_bzero(t->key, strlen(t->key));
	free(t->key);
	free(t->cert);
	free(t->client_ca);
	memset(t, 0, sizeof(*t));
}

bool
tls_peer_verified(void *session)
{
	unsigned status = 1;

	return session != NULL &&
	       gnutls_certificate_verify_peers2((gnutls_session_t)session,
						&status) == 0 &&
	       status == 0;
}
