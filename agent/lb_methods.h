/*
 * lb_methods: the agent's lb.* JSON-RPC methods (docs/agent-protocol.md):
 * lb.get_state, lb.set_state, lb.members, lb.add, lb.remove.
 */
#ifndef IVR_AGENT_LB_METHODS_H
#define IVR_AGENT_LB_METHODS_H

#include <jansson.h>

#include "err.h"
#include "rpc.h"

int lb_get_state_method(json_t **result, struct agent *a, json_t *params,
			struct err *err);
int lb_set_state_method(json_t **result, struct agent *a, json_t *params,
			struct err *err);
int lb_members_method(json_t **result, struct agent *a, json_t *params,
		      struct err *err);
int lb_add_method(json_t **result, struct agent *a, json_t *params,
		  struct err *err);
int lb_remove_method(json_t **result, struct agent *a, json_t *params,
		     struct err *err);

#endif
