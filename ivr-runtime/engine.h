/*
 * engine: the state machine of one call over a loaded flow.  It walks the
 * flow from node to node, speaking `say` texts, running banking actions,
 * and stops where the caller must answer (an input or a menu) or where the
 * call ends.  Each step returns what the caller hears (prompts), what the
 * gateway should collect next, and machine-readable results (data).
 *
 * No-input and no-match are counted per call and per node, kept on the
 * server; past the limit the call goes to the node's on_limit.  The counts
 * of a node start again once the caller answers it well.
 *
 * A call's state is not thread-safe: the caller serialises steps of one
 * call.  Secrets (the PIN, the account number) are wiped as soon as they
 * are used and never appear in prompts, data or logs.
 */
#ifndef IVR_RUNTIME_ENGINE_H
#define IVR_RUNTIME_ENGINE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "bank.h"
#include "err.h"
#include "flow.h"
#include "log.h"

struct metrics;

struct engine_limits {
	int noinput_max;    /* reprompts after silence before on_limit */
	int nomatch_max;    /* reprompts after a wrong entry */
	int pin_attempts;   /* failed logins: per call, and the per-account
			       lockout threshold */
	int first_digit_ms; /* told to the gateway in "collect" */
	int inter_digit_ms;
};

/* Shared, read-only while calls run. */
struct engine {
	const struct flow *flow;
	struct engine_limits limits;
	struct log *log;	 /* borrowed; may be NULL */
	struct metrics *metrics; /* borrowed; may be NULL */
	bool fault_login;	 /* a test release's fault (config.h) */
};

#define ENGINE_TOKEN_LEN 32

struct call_state {
	const struct flow_node *node; /* where the call waits, or ended at */
	bool ended;
	enum flow_end end;
	bool authenticated;
	int64_t customer_id;
	int auth_failures;
	/* collected digits */
	char account[FLOW_MAX_DIGITS + 1];
	char pin[FLOW_MAX_DIGITS + 1];
	char from[FLOW_MAX_DIGITS + 1];
	char to[FLOW_MAX_DIGITS + 1];
	char amount[FLOW_MAX_DIGITS + 1];
	/* the transfer being confirmed */
	int64_t from_id, to_id, amount_cents;
	char token[ENGINE_TOKEN_LEN + 1];
	/* the last transfer carried out, for replays of its confirm */
	char done_token[ENGINE_TOKEN_LEN + 1];
	char confirmation[BANK_CONFIRMATION_LEN + 1];
	int64_t done_amount_cents;
	unsigned char *noinput; /* per node, flow->count entries */
	unsigned char *nomatch;
};

/* What one step produced.  Release with engine_out_release. */
struct engine_out {
	json_t *prompts; /* array of strings, in speaking order */
	json_t *data;	 /* object; empty when nothing to report */
};

/* Sets up a call before its first step.  0 or ERR_NOMEM. */
int engine_call_init(struct call_state *c, const struct engine *e,
		     struct err *err);

/* Wipes and frees the call's state. */
void engine_call_release(struct call_state *c);

/* Empties out for a step: new prompts array and data object. 0/ERR_NOMEM. */
int engine_out_init(struct engine_out *out, struct err *err);
void engine_out_release(struct engine_out *out);

/*
 * Starts the call at the flow's start node.  Returns 0 or ERR_IO (the bank
 * failed; the call should then be ended with an apology by the caller).
 */
int engine_start(const struct engine *e, struct call_state *c,
		 struct bank *bank, struct engine_out *out, struct err *err);

/*
 * The caller keyed digits (a trailing terminator is dropped).  token, when
 * not NULL, is the transfer token the confirm step handed out: a confirm
 * replayed after its transfer was made answers with the same confirmation
 * and moves no money.  Returns 0; ERR_INVAL for text that is not DTMF keys
 * or longer than FLOW_MAX_DIGITS + 1 (nothing changes); ERR_BADSTATE when
 * the call has ended; ERR_IO when the bank failed.
 */
int engine_digits(const struct engine *e, struct call_state *c,
		  struct bank *bank, const char *digits, const char *token,
		  struct engine_out *out, struct err *err);

/* The caller said nothing before the timeout.  As engine_digits. */
int engine_noinput(const struct engine *e, struct call_state *c,
		   struct bank *bank, struct engine_out *out, struct err *err);

/* The gateway could not match what the caller keyed.  As engine_digits. */
int engine_nomatch(const struct engine *e, struct call_state *c,
		   struct bank *bank, struct engine_out *out, struct err *err);

/*
 * Adds the "collect" object the gateway needs for the waiting node
 * (max_digits, min_digits, timeout_ms, inter_digit_timeout_ms, term) to
 * obj, or nothing when the call has ended.
 */
void engine_collect(const struct engine *e, const struct call_state *c,
		    json_t *obj);

#define ENGINE_MONEY_MAX 48

/* Formats cents as spoken money, "£1,234.56", into dst (ENGINE_MONEY_MAX). */
char *engine_format_money(char *dst, int64_t cents);

/*
 * Parses an amount keyed by a caller: digits are pence ("1250"), or '*'
 * marks the decimal point ("12*5" is 12.50).  Returns 0 or ERR_INVAL.
 */
int engine_parse_amount(int64_t *cents, const char *keys, struct err *err);

#endif
