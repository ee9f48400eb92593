/*
 * lb: a backend member's state in the load balancer: ready (takes new
 * calls), drain (keeps its calls, gets no new ones) or maint (out).
 *
 * - HAProxy (lb_haproxy.c): through its runtime API on a unix socket or a
 *   loopback TCP address: `set server B/S state ...`, read back with `show
 *   servers state B`, current sessions from `show stat`.
 * - nginx (lb_nginx.c): by rewriting the upstream include file (a member
 *   line gets `down` for drain and maint, marked `# ivr:drain` or
 *   `# ivr:maint`), `nginx -t`, then a reload (SIGHUP to the master); the
 *   old file is put back when the test fails.
 *
 * Both read the state back after a change and fail if it did not take.
 */
#ifndef IVR_AGENT_LB_H
#define IVR_AGENT_LB_H

#include <stdint.h>

#include "buf.h"
#include "err.h"

enum lb_state {
	LB_STATE_READY,
	LB_STATE_DRAIN,
	LB_STATE_MAINT,
};

struct lb_target {
	const char *backend; /* HAProxy backend; unused for nginx */
	const char *server;  /* HAProxy server name, or nginx "addr:port" */
	/* HAProxy */
	const char *socket; /* unix socket path, or "127.0.0.1:9999" */
	int64_t timeout_ms;
	/* nginx */
	const char *upstream_file;
	const char *nginx_conf; /* for nginx -t -c */
	const char *nginx_pid;	/* the master's pid file */
};

struct lb_member {
	enum lb_state state;
	int64_t sessions; /* current sessions; -1 when unknown (nginx) */
	int up;		  /* the balancer's health check passes: 1, 0, -1
			     unknown (nginx has no active checks) */
};

/* "ready", "drain", "maint". */
const char *lb_state_name(enum lb_state s);

/* Parses a state name.  0 or ERR_INVAL. */
int lb_state_parse(enum lb_state *out, const char *s, struct err *err);

/* HAProxy: the member's state and sessions.  0, ERR_NOTFOUND or ERR_IO. */
int lb_haproxy_get(struct lb_member *out, const struct lb_target *t,
		   struct err *err);

/* HAProxy: sets and reads back.  0, ERR_NOTFOUND, ERR_IO. */
int lb_haproxy_set(struct lb_member *out, const struct lb_target *t,
		   enum lb_state state, struct err *err);

/* nginx: the member's state from the upstream file. */
int lb_nginx_get(struct lb_member *out, const struct lb_target *t,
		 struct err *err);

/* nginx: rewrites, tests, reloads, reads back. */
int lb_nginx_set(struct lb_member *out, const struct lb_target *t,
		 enum lb_state state, struct err *err);

/*
 * The parsers of what the balancers answer, apart from their sockets and
 * files (the fuzz targets call them).  text is NUL-terminated and may be
 * changed (tokenised) by the HAProxy ones.
 *
 * lb_haproxy_parse_state: the admin and operational state of
 * backend/server from `show servers state`; 0 or ERR_NOTFOUND.
 * lb_haproxy_parse_scur: its current sessions from `show stat` CSV, or -1.
 * lb_nginx_parse: the member's state from an upstream file; 0 or
 * ERR_NOTFOUND.  lb_nginx_rewrite: the upstream file with the member's
 * line rewritten for state, into out; 0, ERR_NOTFOUND or the buffer's
 * error.
 */
int lb_haproxy_parse_state(int64_t *admin, int64_t *op_state, char *text,
			   const char *backend, const char *server,
			   struct err *err);
int64_t lb_haproxy_parse_scur(char *text, const char *backend,
			      const char *server);
int lb_nginx_parse(struct lb_member *out, const char *text, const char *server,
		   struct err *err);
int lb_nginx_rewrite(struct buf *out, const char *text, const char *server,
		     enum lb_state state, struct err *err);

#endif
