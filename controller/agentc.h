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
 * Makes sure the host runs this controller's agent: runs `PATH --version`
 * and, when the agent is missing or answers another version, uploads
 * local_agent to PATH (temp name, mode 0755, rename).  Sets *uploaded.
 * Returns 0 or an error naming the host.
 */
int agentc_bootstrap(bool *uploaded, struct ssh_conn *c, const char *path,
		     const char *local_agent, const char *local_version,
		     struct err *err);

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
