/*
 * http: the runtime's HTTP front on libmicrohttpd (the only module that
 * uses it): the JSON call API, health, readiness, version, metrics and the
 * admin drain switch.  See docs/runtime-api.md for the contract.
 *
 * Threads: libmicrohttpd runs a pool of `threads` polling threads; each
 * keeps its own database connection (opened on first use, closed when the
 * thread ends).  Steps of one call are serialised by the call's lock.
 *
 * Draining is by call, not by socket: once draining, new calls are refused
 * (503) and /readyz answers 503, while later steps of calls in progress are
 * served on any connection until those calls end.
 */
#ifndef IVR_RUNTIME_HTTP_H
#define IVR_RUNTIME_HTTP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "calls.h"
#include "conns.h"
#include "config.h"
#include "engine.h"
#include "err.h"
#include "log.h"
#include "metrics.h"
#include "tls.h"

struct MHD_Daemon;

#define HTTP_TOKEN_MAX 256

struct http_server {
	const struct config *cfg; /* borrowed */
	struct log *log;	  /* borrowed */
	struct engine engine;
	struct calls calls;
	struct metrics metrics;
	struct MHD_Daemon *mhd;
	struct bank_pool *pool;	    /* connections for call steps */
	struct bank *probe;	    /* readiness's own connection */
	pthread_mutex_t probe_lock; /* one readiness check at a time */
	atomic_int draining;
	atomic_uint fault_steps; /* call steps seen, for the fault switch */
	int64_t started_ms;	 /* CLOCK_MONOTONIC, at http_init */
	struct conns conns;	 /* every connection and its deadline */
	struct tls_files tls;	 /* listen.tls, loaded at http_start */
	char version[64];
	char build_id[64];
	char admin_token[HTTP_TOKEN_MAX]; /* empty: admin API off */
	char affinity[256]; /* a Set-Cookie naming this server, or empty */
};

/*
 * Sets srv up over a loaded flow (borrowed) and starts listening.  Returns
 * 0, or ERR_IO ("cannot listen on 127.0.0.1:8080: ...").
 */
int http_start(struct http_server *srv, const struct config *cfg,
	       const struct flow *flow, struct log *log, const char *version,
	       const char *build_id, const char *admin_token, struct err *err);

/* Shuts down connections past their deadline (conns.h); called by the
 * main loop every tick.  Returns how many. */
unsigned http_sweep(struct http_server *srv, int64_t now_ms);

/*
 * Sets srv up without listening: http_exchange then runs requests through
 * the same handlers (the fuzz target does).  Release with http_stop.
 */
int http_init(struct http_server *srv, const struct config *cfg,
	      const struct flow *flow, struct log *log, const char *version,
	      const char *build_id, const char *admin_token, struct err *err);

/*
 * One request through the handlers, without a connection: method, url,
 * the body (n bytes) and headers as name/value pairs ending in NULL (may
 * be NULL).  Sets *status and *text (malloc'd, *len bytes: the caller
 * frees it).  A form body (/vxml/step) is split on & and = with its bytes
 * left raw (no %xx decoding).  Returns 0 or ERR_NOMEM.
 */
int http_exchange(struct http_server *srv, const char *method, const char *url,
		  const char *body, size_t n, const char *const *headers,
		  unsigned *status, char **text, size_t *len);

/* Starts draining (idempotent). */
void http_drain(struct http_server *srv);

/* True once draining began. */
bool http_draining(struct http_server *srv);

/* Closes the port and waits for the threads; frees srv's contents. */
void http_stop(struct http_server *srv);

#endif
