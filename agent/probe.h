/*
 * probe: the agent's HTTP client (libcurl lives behind this module only):
 * polling the runtime's /readyz and /calls, and fetching an artifact from
 * a URL (TLS certificates verified).
 */
#ifndef IVR_AGENT_PROBE_H
#define IVR_AGENT_PROBE_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"

#define PROBE_ERROR_MAX 256
#define PROBE_TRUST_MAX (256 * 1024) /* a CA bundle's PEM text */

/* Sets libcurl up once per process.  0 or ERR_INTERNAL. */
int probe_global_init(struct err *err);

/*
 * The CA bundle (PEM text, copied) that every later request trusts, for
 * the rest of the process (an agent serves one controller's session); NULL
 * goes back to the system's bundle.  Peers and their names are always
 * checked, over TLS 1.2 or later: there is no way to turn that off.
 */
int probe_set_trust(const char *pem, struct err *err);

/*
 * The client certificate (PEM chain) and key (PEM) that every later
 * request presents, for runtimes that ask for one (listen.tls.client_ca);
 * copied, the key wiped when replaced.
 */
int probe_set_identity(const char *cert, const char *key, struct err *err);

struct probe_wait {
	const char *url;
	const char *expect_version; /* NULL: any version */
	int64_t interval_ms;	    /* between attempts */
	int64_t timeout_ms;	    /* one attempt */
	int64_t deadline_ms;	    /* all attempts */
};

struct probe_health {
	bool ready;
	unsigned attempts;
	int64_t waited_ms;
	char version[64];     /* the last version seen */
	int64_t cert_expires; /* https: the leaf's notAfter (s), else 0 */
	char last_error[PROBE_ERROR_MAX]; /* why the last attempt failed */
};

/*
 * Polls url until it answers 200 with the expected version (the JSON
 * body's "version") or the deadline passes.  Returns 0 either way (see
 * out->ready); ERR_INTERNAL only if libcurl cannot run.
 */
int probe_health_wait(struct probe_health *out, const struct probe_wait *w,
		      struct err *err);

struct probe_idle {
	bool idle;
	bool reachable;	   /* false: nothing answered (no runtime: no calls) */
	int64_t remaining; /* active calls at the last answer */
	unsigned attempts;
	int64_t waited_ms;
	char last_error[PROBE_ERROR_MAX];
};

/*
 * Polls url (the runtime's GET /calls) until {"active": 0} or the
 * deadline.  Returns 0 either way (see out->idle).  Nothing answering
 * counts as idle (no runtime, no call); a runtime whose TLS is refused
 * does not.
 */
int probe_wait_idle(struct probe_idle *out, const struct probe_wait *w,
		    struct err *err);

/*
 * One request of the runtime's call API: method to url with the JSON
 * body (NULL: none) and, when idem_key is not NULL, an Idempotency-Key
 * header.  Returns the status (0: no answer, -1: its TLS refused; error
 * says why) and sets
 * *answer to the body as JSON (NULL when it is not JSON).  The answer is
 * at most 64 KiB.
 */
long probe_request(json_t **answer, const char *method, const char *url,
		   const char *body, const char *idem_key, int64_t timeout_ms,
		   char *error);

/*
 * Downloads url into the file dest (created 0644, replaced atomically), at
 * most max_bytes, giving up when under 1 KiB a second arrives for
 * stall_ms.  Returns 0, ERR_OVERFLOW, ERR_TIMEOUT ("... it stalled ...")
 * or ERR_IO ("cannot fetch '<url>': <curl error>").
 */
int probe_fetch(const char *url, const char *dest, uint64_t max_bytes,
		int64_t stall_ms, struct err *err);

#endif
