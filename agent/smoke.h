/*
 * smoke: the agent's smoke call (method smoke.call): one scripted call
 * placed on this host's runtime directly, before its member goes READY.
 * It answers, logs in with the smoke-test customer, reads the balances
 * and, when asked, moves transfer_cents between the customer's own
 * accounts (the fullest to another) and sends the confirm twice under one
 * Idempotency-Key, which must give one confirmation number; then hangs
 * up.  The script follows the bundled banking flow (menu 1 balances, 2
 * transfer).  Answers {"ok", "steps", "ms", "accounts", "confirmation",
 * "error"}; a failed call is ok: false, not an RPC error.  The PIN is
 * never logged or answered.
 */
#ifndef IVR_AGENT_SMOKE_H
#define IVR_AGENT_SMOKE_H

#include <jansson.h>

#include "err.h"
#include "rpc.h"

int smoke_call_method(json_t **result, struct agent *a, json_t *params,
		      struct err *err);

#endif
