/*
 * host: a session with one host of a plan, or with the balancer's host:
 * the SSH connection, the host's agent started (uploaded first when it is
 * missing or answers another version) and greeted once, and JSON-RPC calls
 * to it over the agent's channel.  Every command that reaches hosts goes
 * through here: status, plan, deploy, resume, rollback and promote.
 *
 * A session is used by one thread at a time.
 */
#ifndef IVR_CONTROLLER_HOST_H
#define IVR_CONTROLLER_HOST_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "jsonrpc.h"
#include "plan.h"
#include "ssh.h"

/* Where the bundled agent is, and the version it answers. */
struct agent_bundle {
	const char *path;
	const char *version; /* "ivr-agent 0.2.2 (protocol 2)\n" */
};

/*
 * The agent bundled beside the running program (ivr-agent next to
 * /proc/self/exe) and the version it prints, into path and version
 * (caller's buffers, which out then borrows).  Returns 0, or -1 when there
 * is none or it does not run.
 */
int host_find_bundle(struct agent_bundle *out, char *path, size_t size,
		     char *version, size_t vsize);

/* host_open's flags */
#define HOST_PROBE_HEALTH 1u /* the hello asks the runtime's readiness */
#define HOST_READ_ONLY	  2u /* the agent changes nothing under its root */

struct host_session {
	const struct plan *p;	   /* borrowed */
	const struct plan_host *h; /* borrowed */
	struct ssh_target t;
	struct ssh_conn *c;
	struct ssh_channel *ch; /* the agent's stdin and stdout */
	struct jsonrpc_reader reader;
	long next_id;
	bool uploaded;	/* this session uploaded the agent */
	bool read_only; /* the agent runs with --read-only */
	/* the plan's templates, expanded for this host */
	char agent_path[4096], root[4096], health[4096], calls[4096];
	/* what the last hello said */
	char current[PLAN_RELEASE_MAX], previous[PLAN_RELEASE_MAX],
		deployment_id[129];
	long long disk_free;   /* -1 unknown */
	bool running, ready;   /* the runtime (ready: asked with the probe) */
	char not_ready[128];   /* why not, as the agent's probe heard it */
	char cert_expires[32]; /* https: the runtime's certificate, or "" */
};

/* The balancer's host as a host of p, for sessions and messages. */
void host_balancer(struct plan_host *out, const struct plan *p);

/* The SSH target for host h of p. */
void host_target(struct ssh_target *t, const struct plan *p,
		 const struct plan_host *h);

/*
 * Connects to h (borrowed, as is p, for the session's life), starts its
 * agent with the root root_tmpl (expanded for h) and says hello, with the
 * health URL when flags has HOST_PROBE_HEALTH.  With HOST_READ_ONLY the
 * agent runs with --read-only: the root is neither created nor cleaned,
 * its log is dropped, and methods that would change the host are refused
 * (a missing agent is still uploaded, as the session needs one).  An agent that
 * is missing, does not start or answers another version than agent's is
 * replaced by the bundled one (s->uploaded).  Returns 0 with s open (close with
 * host_close), or an error naming the host; s needs host_close either way.
 */
int host_open(struct host_session *s, const struct plan *p,
	      const struct plan_host *h, const char *root_tmpl,
	      const struct agent_bundle *agent, unsigned flags,
	      struct err *err);

/*
 * Calls method with params (stolen; NULL for none), waiting at most the
 * plan's command timeout.  Returns 0 with *result (a new reference; result
 * may be NULL to drop it), ERR_PROTO for an error the agent answered
 * ("ivr-01: stage: <message>"), or a transport error.
 */
int host_call(json_t **result, struct host_session *s, const char *method,
	      json_t *params, struct err *err);

/* host_call with its own deadline, for quick reads. */
int host_call_within(json_t **result, struct host_session *s,
		     const char *method, json_t *params, int64_t timeout_ms,
		     struct err *err);

/*
 * Says hello again (with the health URL when probe) and records what the
 * host runs now.  Returns 0 or the call's error.
 */
int host_hello(struct host_session *s, bool probe, struct err *err);

/*
 * The string at key of an agent's answer o (borrowed from o), or "" when
 * it is absent or not a string: an answer is input from the host, and
 * none of its fields is trusted to be there.
 */
const char *host_str(const json_t *o, const char *key);

/* The lb.* params that name h's member in p's balancer (a new object). */
json_t *host_member_params(const struct plan *p, const struct plan_host *h);

/* Ends the agent and the connection; the session can be opened again. */
void host_close(struct host_session *s);

#endif
