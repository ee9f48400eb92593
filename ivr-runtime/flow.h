/*
 * flow: call flows as data.  A flow file (share/flows/banking.yaml) names
 * nodes; each node is one of
 *   say + next      speak, then go on by itself
 *   input           ask (prompt), collect digits into a variable, go on
 *   menu            ask (prompt), one key chooses the next node
 *   action          run a built-in banking action; its result picks the
 *                   next node
 *   end             finish the call: "hangup" or "agent" (transfer)
 * and may carry `say` (spoken on entry) and `help` (the fuller reprompt
 * after a no-input or no-match).  Nodes that ask may name `back` (the back
 * key, '*', goes there) and `on_limit` (where a caller goes after too many
 * no-inputs or no-matches; the flow's `on_limit` by default).  Prompts may use
 * {placeholders} filled by actions.
 *
 * flow_load checks the whole file and reports every problem as
 * path:line:col: dangling references, nodes that can never be reached,
 * questions without prompts, bad digit sets, unknown actions or results,
 * loops that never wait for the caller.  The loaded flow is read-only and
 * shared by every call.
 */
#ifndef IVR_RUNTIME_FLOW_H
#define IVR_RUNTIME_FLOW_H

#include <stdbool.h>
#include <stddef.h>

#include "diag.h"
#include "err.h"

#define FLOW_MAX_NODES	 256
#define FLOW_MAX_DIGITS	 32 /* longest input a node may collect */
#define FLOW_MAX_SAY	 8  /* prompts spoken on entry to one node */
#define FLOW_MAX_CHOICES 12 /* keys of one menu */
#define FLOW_MAX_RESULTS 8  /* results of one action */

enum flow_kind {
	FLOW_SAY,
	FLOW_INPUT,
	FLOW_MENU,
	FLOW_ACTION,
	FLOW_END,
};

enum flow_action {
	FLOW_ACTION_AUTHENTICATE,
	FLOW_ACTION_BALANCES,
	FLOW_ACTION_RECENT,
	FLOW_ACTION_TRANSFER_PREPARE,
	FLOW_ACTION_TRANSFER,
};

enum flow_end {
	FLOW_END_HANGUP,
	FLOW_END_AGENT,
};

struct flow_node;

struct flow_choice {
	char key; /* one of 0-9 * # */
	const struct flow_node *target;
};

struct flow_result {
	const char *name; /* borrowed from the action's table */
	const struct flow_node *target;
};

struct flow_node {
	char *name;
	size_t index; /* position in flow->nodes: per-call counters use it */
	unsigned line, col; /* where the node is written */
	enum flow_kind kind;
	char *say[FLOW_MAX_SAY];
	size_t nsay;
	char *prompt; /* INPUT, MENU */
	char *help;   /* INPUT, MENU; the reprompt, defaults to prompt */
	const struct flow_node *next; /* SAY, INPUT */
	/* INPUT */
	char *store; /* variable name */
	int min_digits, max_digits;
	char term;	  /* '\0' when none */
	char allowed[13]; /* the keys accepted, e.g. "0123456789*" */
	bool secret;	  /* never logged or echoed (PINs) */
	/* MENU */
	struct flow_choice choices[FLOW_MAX_CHOICES];
	size_t nchoices;
	const struct flow_node *back; /* INPUT, MENU: the back key, or NULL */
	const struct flow_node *on_limit; /* INPUT, MENU: after too many
					     no-inputs or no-matches */
	/* ACTION */
	enum flow_action action;
	struct flow_result results[FLOW_MAX_RESULTS];
	size_t nresults;
	/* END */
	enum flow_end end;
};

struct flow {
	char *name;
	const struct flow_node *start;
	struct flow_node *nodes; /* owned array of count */
	size_t count;
	const struct flow_node *on_limit; /* default for nodes without one */
	char repeat_key; /* menus: say the prompt again ('9') */
	char back_key;	 /* menus: go back ('*') */
};

/*
 * Loads and checks the flow file at path.  Returns 0 with *out set (free
 * with flow_free); ERR_PARSE when the file has problems (each one added to
 * diags); or ERR_IO/ERR_NOTFOUND/ERR_OVERFLOW in err when it cannot be read.
 */
int flow_load(struct flow **out, const char *path, struct diag_list *diags,
	      struct err *err);

/* Frees a flow; NULL is a no-op. */
void flow_free(struct flow *f);

/* The node called name, or NULL. */
const struct flow_node *flow_find(const struct flow *f, const char *name);

/* The node an action result leads to, or NULL for an unknown result. */
const struct flow_node *flow_result(const struct flow_node *n,
				    const char *result);

/* The node a menu key leads to, or NULL. */
const struct flow_node *flow_choice(const struct flow_node *n, char key);

/* The name used in flow files for an action ("transfer_prepare"). */
const char *flow_action_name(enum flow_action a);

#endif
