/*
 * plan_tls: the plan's `tls:` (the CA bundle every check trusts, and how
 * early a certificate's expiry is warned of) and `runtime.tls` (each
 * host's certificate, key and client CA, read at load and shipped with
 * the runtime's settings).  OpenSSL reads the certificates: each must
 * parse, match its key and not have expired; a key file must be its
 * owner's only.
 */
#include "plan_int.h"

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "buf.h"
#include "fileio.h"

#define PEM_MAX	     (256 * 1024)
#define DAY_MS	     (24 * 3600 * 1000LL)
#define DEFAULT_WARN (30 * DAY_MS)

/* A whole PEM file (new, NUL-ended), or NULL with a problem at at. */
static char *
read_pem(struct loader *l, const struct ydoc_node *at, const char *what,
	 const char *path)
{
	struct buf b;
	struct err e;
	char *out = NULL;

	buf_init(&b, PEM_MAX);
	if (fileio_read_all(&b, path, &e) < 0)
		ydoc_problem(l->d, l->doc, at, "%s: %s", what, e.msg);
	else if ((out = strdup(buf_cstr(&b))) == NULL)
		ydoc_problem(l->d, l->doc, at, "%s: out of memory", what);
	if (b.data != NULL)
		explicit_bzero(b.data, b.len);
	buf_release(&b);
	return out;
}

/* How many certificates pem holds (0: none, or not PEM). */
static int
count_certs(const char *pem)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	X509 *x;
	int n = 0;

	while (bio != NULL &&
	       (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		X509_free(x);
		n++;
	}
	BIO_free(bio);
	return n;
}

int64_t
plan_cert_not_after(const char *pem)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	struct tm tm;
	int64_t t = -1;

	if (x != NULL && ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1)
		t = (int64_t)timegm(&tm);
	X509_free(x);
	BIO_free(bio);
	return t;
}

/* That key is the private half of cert's leaf. */
static bool
pair_matches(const char *cert, const char *key)
{
	BIO *cb = BIO_new_mem_buf(cert, -1), *kb = BIO_new_mem_buf(key, -1);
	X509 *x = cb ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
	EVP_PKEY *k = kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
	bool ok = x != NULL && k != NULL && X509_check_private_key(x, k) == 1;

	EVP_PKEY_free(k);
	X509_free(x);
	BIO_free(cb);
	BIO_free(kb);
	return ok;
}

void
plan_tls_time(char *out, size_t size, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&tt, &tm));
}

/* tls.client_cert and client_key: what the agents' checks present to
 * runtimes that ask (listen.tls.client_ca). */
static void
load_client(struct loader *l, const struct ydoc_node *s)
{
	struct plan_tls *t = &l->p->tls;
	const struct ydoc_node *c = ydoc_get(s, "client_cert"),
			       *k = ydoc_get(s, "client_key");
	char *cert, *key;
	struct stat st;

	if (c == NULL && k == NULL)
		return;
	if (c == NULL || k == NULL) {
		ydoc_problem(l->d, l->doc, c ? c : k,
			     "'client_cert' and 'client_key' go together");
		return;
	}
	cert = plan_readable_file(l, s, "client_cert", true);
	key = plan_readable_file(l, s, "client_key", true);
	if (key != NULL && stat(key, &st) == 0 && (st.st_mode & 077) != 0)
		ydoc_problem(l->d, l->doc, k,
			     "'client_key': '%s' may be read by others (mode "
			     "%04o): make it readable by its owner only "
			     "(chmod 600)",
			     key, (unsigned)(st.st_mode & 07777));
	else if (cert != NULL && key != NULL &&
		 (t->client_cert_pem = read_pem(l, c, "'client_cert'", cert)) !=
			 NULL &&
		 (t->client_key_pem = read_pem(l, k, "'client_key'", key)) !=
			 NULL &&
		 !pair_matches(t->client_cert_pem, t->client_key_pem))
		ydoc_problem(l->d, l->doc, k,
			     "'client_key' is not the key of 'client_cert'");
	free(cert);
	free(key);
}

void
plan_load_tls(struct loader *l, const struct ydoc_node *s)
{
	static const char *const keys[] = {
		"ca_file", "expiry_warning", "client_cert", "client_key", NULL,
	};
	struct plan_tls *t = &l->p->tls;

	if (!ydoc_expect_map(l->d, l->doc, s, "'tls'"))
		return;
	ydoc_check_keys(l->d, l->doc, s, keys);
	ydoc_get_duration(&t->expiry_warning_ms, l->d, l->doc, s,
			  "expiry_warning", false, 0, 3650 * DAY_MS);
	load_client(l, s);
	if ((t->ca_file = plan_readable_file(l, s, "ca_file", false)) == NULL)
		return;
	t->ca_pem =
		read_pem(l, ydoc_get(s, "ca_file"), "'ca_file'", t->ca_file);
	if (t->ca_pem != NULL && count_certs(t->ca_pem) == 0)
		ydoc_problem(l->d, l->doc, ydoc_get(s, "ca_file"),
			     "'ca_file': '%s' holds no PEM certificate",
			     t->ca_file);
}

void
plan_free_tls(struct plan *p)
{
	free(p->tls.ca_file);
	free(p->tls.ca_pem);
	free(p->tls.client_cert_pem);
	if (p->tls.client_key_pem != NULL)
		explicit_bzero(p->tls.client_key_pem,
			       strlen(p->tls.client_key_pem));
	free(p->tls.client_key_pem);
}

void
plan_tls_defaults(struct plan *p)
{
	p->tls.expiry_warning_ms = DEFAULT_WARN;
}

/* One of runtime.tls's files for h: key's template expanded, resolved. */
static char *
host_file(struct loader *l, const struct ydoc_node *t, const char *key,
	  const struct plan_host *h, bool secret)
{
	const struct ydoc_node *v = ydoc_get(t, key);
	char path[4096], what[600];
	struct stat st;
	struct err e;
	char *full, *pem;

	if (v == NULL || !ydoc_is_str(v))
		return NULL;
	if (plan_expand(path, sizeof(path), v->text, h, &e) < 0) {
		ydoc_problem(l->d, l->doc, v, "runtime.tls.%s: %s", key, e.msg);
		return NULL;
	}
	full = plan_resolve(l, path);
	snprintf(what, sizeof(what), "runtime.tls.%s for %s", key, h->name);
	if (secret && stat(full, &st) == 0 && (st.st_mode & 077) != 0) {
		ydoc_problem(l->d, l->doc, v,
			     "%s: '%s' may be read by others (mode %04o): "
			     "make it readable by its owner only (chmod 600)",
			     what, full, (unsigned)(st.st_mode & 07777));
		free(full);
		return NULL;
	}
	pem = read_pem(l, v, what, full);
	free(full);
	return pem;
}

/* h's certificate: it parses, matches its key and has not expired. */
static void
check_host(struct loader *l, const struct ydoc_node *t, struct plan_host *h)
{
	const struct ydoc_node *at = ydoc_get(t, "cert");
	char when[32];

	if (h->tls_cert == NULL || h->tls_key == NULL)
		return;
	if ((h->tls_not_after = plan_cert_not_after(h->tls_cert)) < 0) {
		ydoc_problem(l->d, l->doc, at,
			     "runtime.tls.cert for %s is not a PEM "
			     "certificate",
			     h->name);
		return;
	}
	if (!pair_matches(h->tls_cert, h->tls_key))
		ydoc_problem(l->d, l->doc, ydoc_get(t, "key"),
			     "runtime.tls.key for %s is not the key of its "
			     "certificate",
			     h->name);
	plan_tls_time(when, sizeof(when), h->tls_not_after);
	if (h->tls_not_after <= (int64_t)time(NULL))
		ydoc_problem(l->d, l->doc, at,
			     "runtime.tls.cert for %s expired at %s", h->name,
			     when);
	if (h->tls_client_ca != NULL && count_certs(h->tls_client_ca) == 0)
		ydoc_problem(l->d, l->doc, ydoc_get(t, "client_ca"),
			     "runtime.tls.client_ca for %s holds no PEM "
			     "certificate",
			     h->name);
}

void
plan_load_runtime_tls(struct loader *l, const struct ydoc_node *t)
{
	static const char *const keys[] = { "cert", "key", "client_ca", NULL };
	const char *v;

	if (!ydoc_expect_map(l->d, l->doc, t, "'runtime.tls'"))
		return;
	ydoc_check_keys(l->d, l->doc, t, keys);
	if (!ydoc_get_str(&v, l->d, l->doc, t, "cert", true) ||
	    !ydoc_get_str(&v, l->d, l->doc, t, "key", true))
		return;
	l->p->tls.runtime = true;
	for (size_t i = 0; i < l->p->nhosts; i++) {
		struct plan_host *h = &l->p->hosts[i];

		h->tls_cert = host_file(l, t, "cert", h, false);
		h->tls_key = host_file(l, t, "key", h, true);
		h->tls_client_ca = host_file(l, t, "client_ca", h, false);
		check_host(l, t, h);
	}
}

bool
plan_tls_soon(const struct plan *p, int64_t not_after, int64_t now)
{
	return not_after <= now + p->tls.expiry_warning_ms / 1000;
}

size_t
plan_tls_expiring(const struct plan *p, int64_t now, char *out, size_t size,
		  json_t *list)
{
	size_t n = 0, len = 0;

	if (size > 0)
		out[0] = '\0';
	for (size_t i = 0; i < p->nhosts; i++) {
		const struct plan_host *h = &p->hosts[i];
		char when[32];

		if (h->tls_cert == NULL ||
		    !plan_tls_soon(p, h->tls_not_after, now))
			continue;
		plan_tls_time(when, sizeof(when), h->tls_not_after);
		if (len < size)
			len += (size_t)snprintf(
				out + len, size - len, "%s%s's (%s, in %lld d)",
				n ? ", " : "", h->name, when,
				(long long)((h->tls_not_after - now) / 86400));
		if (list != NULL)
			json_array_append_new(list, json_pack("{s:s, s:s}",
							      "host", h->name,
							      "expires", when));
		n++;
	}
	return n;
}
