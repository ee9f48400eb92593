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
 *
 * The pool itself (lb_pool.c), for `ivrctl scale`: its members listed,
 * one added (in maintenance: READY is a state change of its own) or
 * removed.  HAProxy: the runtime API's `add server` / `del server`
 * (dynamic servers) and its configuration file kept in step, each change
 * checked with `haproxy -c` before it replaces the file, so that a reload
 * keeps the pool; nginx: the member's `server` line added to or removed
 * from the upstream file, `nginx -t`, reload.
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
	/* the pool (lb.add, lb.remove) */
	const char *config; /* HAProxy: its configuration file, or NULL */
	const char *line;   /* lb.add: the server line after the name */
};

/* One member of the pool, as lb_*_members list them. */
struct lb_entry {
	char name[128];	   /* HAProxy's server name; nginx's address */
	char address[128]; /* address:port */
	enum lb_state state;
	int up; /* as struct lb_member's */
};

/* Called for each member; a negative return stops the listing. */
typedef int (*lb_entry_fn)(void *ctx, const struct lb_entry *e);

struct lb_member {
	enum lb_state state;
	int64_t sessions; /* current sessions; -1 when unknown (nginx) */
	int up;		  /* the balancer's health check passes: 1, 0, -1
			     unknown (nginx has no active checks) */
	int checked;	  /* HAProxy: its last health check passed: 1, 0,
			     -1 no checks (or nginx).  A server starts up
			     before its first check: this one waits for it */
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

/* The pool's members, in the balancer's order.  0, or the first error
 * (fn's, or the balancer's). */
int lb_haproxy_members(const struct lb_target *t, lb_entry_fn fn, void *ctx,
		       struct err *err);
int lb_nginx_members(const struct lb_target *t, lb_entry_fn fn, void *ctx,
		     struct err *err);

/*
 * Adds t->server with t->line (HAProxy: "ADDR:PORT [options]"; nginx:
 * options, may be empty) in maintenance: HAProxy's configuration file
 * first (checked), then the runtime API (its health checks enabled when
 * the line asks for them); nginx's upstream file, tested and reloaded.
 * A failure leaves the files as they were.  0, ERR_EXISTS (a member of
 * that name is there), ERR_INVAL, ERR_IO.
 */
int lb_haproxy_add(const struct lb_target *t, struct err *err);
int lb_nginx_add(const struct lb_target *t, struct err *err);

/*
 * Removes t->server, which must be in maintenance (HAProxy also refuses
 * one that still has connections): from the runtime API, then from the
 * configuration file; nginx's upstream file, tested and reloaded.  A
 * member already gone from one place is removed from the other.  0,
 * ERR_NOTFOUND (in neither), ERR_BADSTATE (not in maintenance), ERR_IO.
 */
int lb_haproxy_remove(const struct lb_target *t, struct err *err);
int lb_nginx_remove(const struct lb_target *t, struct err *err);

/*
 * The text edits of the pool, apart from files (the fuzz targets call
 * them).  lb_haproxy_config_add: text with `server NAME LINE` added to
 * backend's section, after its last server line (the same indentation);
 * ERR_NOTFOUND without that section, ERR_EXISTS when NAME is there.
 * lb_haproxy_config_remove: text without NAME's server line in backend's
 * section; ERR_NOTFOUND when there is none.  lb_nginx_add_line: text
 * with `server NAME [LINE] down; # ivr:maint` appended (ERR_EXISTS when
 * NAME has a line); lb_nginx_remove_line: without NAME's line.
 * lb_haproxy_parse_members and lb_nginx_parse_members: the members in
 * `show servers state` (text is tokenised) and in an upstream file.
 */
int lb_haproxy_config_add(struct buf *out, const char *text,
			  const char *backend, const char *server,
			  const char *line, struct err *err);
int lb_haproxy_config_remove(struct buf *out, const char *text,
			     const char *backend, const char *server,
			     struct err *err);
int lb_nginx_add_line(struct buf *out, const char *text, const char *server,
		      const char *line, struct err *err);
int lb_nginx_remove_line(struct buf *out, const char *text, const char *server,
			 struct err *err);
int lb_haproxy_parse_members(char *text, const char *backend, lb_entry_fn fn,
			     void *ctx, struct err *err);
int lb_nginx_parse_members(const char *text, lb_entry_fn fn, void *ctx,
			   struct err *err);

/*
 * The parsers of what the balancers answer, apart from their sockets and
 * files (the fuzz targets call them).  text is NUL-terminated and may be
 * changed (tokenised) by the HAProxy ones.
 *
 * lb_haproxy_parse_state: the admin and operational state of
 * backend/server from `show servers state` and (checked may be NULL)
 * whether its last health check passed; 0 or ERR_NOTFOUND.
 * lb_haproxy_parse_scur: its current sessions from `show stat` CSV, or -1.
 * lb_nginx_parse: the member's state from an upstream file; 0 or
 * ERR_NOTFOUND.  lb_nginx_rewrite: the upstream file with the member's
 * line rewritten for state, into out; 0, ERR_NOTFOUND or the buffer's
 * error.
 */
int lb_haproxy_parse_state(int64_t *admin, int64_t *op_state, int *checked,
			   char *text, const char *backend, const char *server,
			   struct err *err);
int64_t lb_haproxy_parse_scur(char *text, const char *backend,
			      const char *server);
int lb_nginx_parse(struct lb_member *out, const char *text, const char *server,
		   struct err *err);
int lb_nginx_rewrite(struct buf *out, const char *text, const char *server,
		     enum lb_state state, struct err *err);

#endif
