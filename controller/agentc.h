/*
 * agentc: the controller's side of the agent protocol: bootstrapping the
 * agent on a host and calling its methods over an SSH channel.
 */
#ifndef IVR_CONTROLLER_AGENTC_H
#define IVR_CONTROLLER_AGENTC_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "ssh.h"

struct agentc;

/*
 * Starts the host's agent at path (root: its --root) and says hello; when
 * it is missing, fails to start or answers another version than
 * local_version ("ivr-agent X (protocol N)\n", what `--version` prints),
 * uploads local_agent to path (temp name, mode 0755, rename) and starts
 * that.  Sets *uploaded.  Returns 0 with *out set, or an error naming the
 * host.
 */
int agentc_open(struct agentc **out, bool *uploaded, struct ssh_conn *c,
		const char *path, const char *root, const char *where,
		const char *local_agent, const char *local_version,
		int64_t timeout_ms, struct err *err);

/*
 * Starts `PATH serve --root ROOT` on a channel of c (borrowed for the
 * client's lifetime).  where names the host in messages.  Returns 0 with
 * *out set (close with agentc_close) or an error.
 */
int agentc_start(struct agentc **out, struct ssh_conn *c, const char *path,
		 const char *root, const char *where, struct err *err);

/*
 * Calls method with params (stolen; NULL for none), waiting at most
 * timeout_ms for the answer (progress notifications are skipped).
 * Returns 0 with *result (a new reference), or ERR_PROTO for an error the
 * agent answered ("ivr-01: stage: <message>"), or a transport error.
 */
int agentc_call(json_t **result, struct agentc *a, const char *method,
		json_t *params, int64_t timeout_ms, struct err *err);

/* Ends the agent (closes its stdin) and frees a; NULL is a no-op. */
void agentc_close(struct agentc *a);

#endif
