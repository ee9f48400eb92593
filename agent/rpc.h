/*
 * rpc: the agent's JSON-RPC 2.0 server over its stdin and stdout, one
 * message per line (common/jsonrpc.h).  It reads requests until stdin
 * closes, answers each with a result or an error, and lets long methods
 * send `progress` notifications first.  Nothing a peer sends can stop it:
 * bad lines get JSON-RPC errors (-32700, -32600, -32601, -32602) and the
 * agent goes on.
 */
#ifndef IVR_AGENT_RPC_H
#define IVR_AGENT_RPC_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "log.h"

/* Bumped with every change a controller relies on: ivrctl uploads its own
 * agent to a host whose agent answers another version, so an older agent
 * (which refuses rollback's "undoes" and keeps no lineage) is replaced. */
#define AGENT_VERSION  "0.2.2"
#define AGENT_PROTOCOL 2
#define AGENT_LINE_MAX (1024 * 1024)

/* The agent's own error codes, for operations that failed. */
#define AGENT_E_FAILED	  (-32000) /* the operation failed (I/O, state) */
#define AGENT_E_NOT_FOUND (-32001) /* no such release, artifact, member */
#define AGENT_E_INTEGRITY (-32002) /* checksum or manifest mismatch */
#define AGENT_E_UNSAFE	  (-32003) /* archive entries escaping the release */
#define AGENT_E_TIMEOUT	  (-32004) /* a deadline passed */
#define AGENT_E_EXISTS	  (-32005) /* a conflicting thing is there */
#define AGENT_E_TOO_LARGE (-32006) /* over a size cap */

/* One agent process. */
struct agent {
	char root[4096];  /* the resolved root folder */
	struct log *log;  /* borrowed */
	int out_fd;	  /* where answers go (stdout) */
	const json_t *id; /* the request being served, for progress */
	int64_t last_progress_ms;
	bool read_only; /* --read-only: methods that change the root refused */
};

/*
 * A method: reads params (an object, never NULL), sets *result (a new
 * reference) and returns 0, or returns a negative ERR_* code with err set
 * (ERR_INVAL means bad params).
 */
typedef int (*rpc_method_fn)(json_t **result, struct agent *a, json_t *params,
			     struct err *err);

struct rpc_method {
	const char *name;
	rpc_method_fn fn;
	bool locks; /* changes the root: runs under the root's lock */
};

/* The methods the agent serves, ended by a NULL name (methods.c). */
extern const struct rpc_method agent_methods[];

/*
 * Serves requests from in_fd until it closes.  Returns 0 at end of input,
 * or ERR_IO when reading or writing fails.
 */
int rpc_serve(struct agent *a, int in_fd, struct err *err);

/*
 * Sends a progress notification for the request being served:
 * {"method": "progress", "params": {"id", "step", "done", "total"}}, at
 * most every 200 ms except the last (done == total).
 */
void rpc_progress(struct agent *a, const char *step, uint64_t done,
		  uint64_t total);

/* The JSON-RPC error code for an ERR_* code from a method. */
int rpc_error_code(int err_code);

#endif
