/*
 * flow: see flow.h.  Loading is two passes over the YAML tree: the first
 * names every node so that the second can resolve references in any order;
 * then whole-graph checks (reachability, loops that never wait).
 */
#include "flow.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ydoc.h"

#define FLOW_FILE_MAX (1024 * 1024)

static const char *const action_names[] = {
	"authenticate",	    "balances", "recent",
	"transfer_prepare", "transfer", NULL,
};

static const char *const *const action_results[] = {
	(const char *const[]){ "ok", "failed", "locked", "too_many", NULL },
	(const char *const[]){ "ok", NULL },
	(const char *const[]){ "ok", NULL },
	(const char *const[]){ "ok", "unknown_account", "same_account",
			       "bad_amount", "insufficient", NULL },
	(const char *const[]){ "ok", "insufficient", "failed", NULL },
};

/* Variables an input may store into, and placeholders prompts may use. */
static const char *const variables[] = { "account", "pin",    "from",
					 "to",	    "amount", NULL };
static const char *const placeholders[] = { "amount", "from", "to",
					    "confirmation", NULL };

static const char *const top_keys[] = { "flow", "start", "on_limit",
					"keys", "nodes", NULL };
static const char *const node_keys[] = {
	"say",	"next", "prompt", "help",    "input", "store",	  "secret",
	"menu", "back", "action", "results", "end",   "on_limit", NULL,
};
static const char *const input_keys[] = { "min", "max", "term", "keys", NULL };

#define DTMF "0123456789*#"

struct loader {
	struct flow *f;
	const struct ydoc *doc;
	struct diag_list *diags;
};

const char *
flow_action_name(enum flow_action a)
{
	return action_names[a];
}

const struct flow_node *
flow_find(const struct flow *f, const char *name)
{
	for (size_t i = 0; i < f->count; i++)
		if (strcmp(f->nodes[i].name, name) == 0)
			return &f->nodes[i];
	return NULL;
}

const struct flow_node *
flow_result(const struct flow_node *n, const char *result)
{
	for (size_t i = 0; i < n->nresults; i++)
		if (strcmp(n->results[i].name, result) == 0)
			return n->results[i].target;
	return NULL;
}

const struct flow_node *
flow_choice(const struct flow_node *n, char key)
{
	for (size_t i = 0; i < n->nchoices; i++)
		if (n->choices[i].key == key)
			return n->choices[i].target;
	return NULL;
}

void
flow_free(struct flow *f)
{
	if (f == NULL)
		return;
	for (size_t i = 0; i < f->count; i++) {
		struct flow_node *n = &f->nodes[i];

		free(n->name);
		for (size_t j = 0; j < n->nsay; j++)
			free(n->say[j]);
		free(n->prompt);
		free(n->help);
		free(n->store);
	}
	free(f->nodes);
	free(f->name);
	free(f);
}

/* Resolves a node reference; adds "unknown node" (with a hint) if absent. */
static const struct flow_node *
resolve(struct loader *l, const struct ydoc_node *ref, const char *what)
{
	const char *names[FLOW_MAX_NODES + 1];
	const struct flow_node *n;
	const char *hint;

	if (!ydoc_is_str(ref)) {
		ydoc_problem(l->diags, l->doc, ref,
			     "%s must name a node, found %s", what,
			     ydoc_type_name(ref));
		return NULL;
	}
	if ((n = flow_find(l->f, ref->text)) != NULL)
		return n;
	for (size_t i = 0; i < l->f->count; i++)
		names[i] = l->f->nodes[i].name;
	names[l->f->count] = NULL;
	hint = ydoc_suggest(ref->text, names);
	if (hint != NULL)
		ydoc_problem(l->diags, l->doc, ref,
			     "%s: unknown node '%s' (did you mean '%s'?)", what,
			     ref->text, hint);
	else
		ydoc_problem(l->diags, l->doc, ref, "%s: unknown node '%s'",
			     what, ref->text);
	return NULL;
}

/* Checks {placeholders} in a prompt text. */
static void
check_placeholders(struct loader *l, const struct ydoc_node *v)
{
	const char *p = v->text, *close;
	char name[32];

	while ((p = strchr(p, '{')) != NULL) {
		close = strchr(p, '}');
		if (close == NULL || (size_t)(close - p - 1) >= sizeof(name)) {
			ydoc_problem(l->diags, l->doc, v,
				     "unclosed '{' in prompt");
			return;
		}
		memcpy(name, p + 1, (size_t)(close - p - 1));
		name[close - p - 1] = '\0';
		for (size_t i = 0;; i++) {
			if (placeholders[i] == NULL) {
				ydoc_problem(l->diags, l->doc, v,
					     "unknown placeholder '{%s}' (use "
					     "{amount}, {from}, {to} or "
					     "{confirmation})",
					     name);
				break;
			}
			if (strcmp(placeholders[i], name) == 0)
				break;
		}
		p = close + 1;
	}
}

/* A prompt text: a non-empty string with known placeholders. */
static char *
prompt_text(struct loader *l, const struct ydoc_node *node, const char *key,
	    bool required, const char *why)
{
	const struct ydoc_node *v = ydoc_get(node, key);

	if (v == NULL) {
		if (required)
			ydoc_problem(l->diags, l->doc, node,
				     "missing prompt: '%s' is required %s", key,
				     why);
		return NULL;
	}
	if (!ydoc_is_str(v) || v->len == 0) {
		ydoc_problem(l->diags, l->doc, v,
			     "'%s' must be a non-empty prompt text", key);
		return NULL;
	}
	check_placeholders(l, v);
	return strdup(v->text);
}

static void
load_say(struct loader *l, struct flow_node *n, const struct ydoc_node *node)
{
	const struct ydoc_node *v = ydoc_get(node, "say");

	if (v == NULL)
		return;
	if (v->type == YDOC_SCALAR) {
		if ((n->say[0] = prompt_text(l, node, "say", false, "")) !=
		    NULL)
			n->nsay = 1;
		return;
	}
	if (!ydoc_expect_seq(l->diags, l->doc, v, "'say'"))
		return;
	if (v->count == 0 || v->count > FLOW_MAX_SAY) {
		ydoc_problem(l->diags, l->doc, v,
			     "'say' must hold 1 to %d prompts", FLOW_MAX_SAY);
		return;
	}
	for (size_t i = 0; i < v->count; i++) {
		if (!ydoc_is_str(v->items[i]) || v->items[i]->len == 0) {
			ydoc_problem(l->diags, l->doc, v->items[i],
				     "each 'say' entry must be a non-empty "
				     "prompt text");
			continue;
		}
		check_placeholders(l, v->items[i]);
		n->say[n->nsay++] = strdup(v->items[i]->text);
	}
}

static int
find_name(const char *const *names, const char *s)
{
	for (int i = 0; names[i] != NULL; i++)
		if (strcmp(names[i], s) == 0)
			return i;
	return -1;
}

/* True when every character of s is a DTMF key and none repeats. */
static bool
valid_keys(const char *s)
{
	for (size_t i = 0; s[i] != '\0'; i++)
		if (strchr(DTMF, s[i]) == NULL || strchr(s + i + 1, s[i]))
			return false;
	return s[0] != '\0';
}

static void
load_input_spec(struct loader *l, struct flow_node *n,
		const struct ydoc_node *spec)
{
	const char *keys = "0123456789", *term = NULL;
	int64_t min = 1, max = 1;

	if (!ydoc_expect_map(l->diags, l->doc, spec, "'input'"))
		return;
	ydoc_check_keys(l->diags, l->doc, spec, input_keys);
	ydoc_get_int(&min, l->diags, l->doc, spec, "min", true, 1,
		     FLOW_MAX_DIGITS);
	ydoc_get_int(&max, l->diags, l->doc, spec, "max", true, 1,
		     FLOW_MAX_DIGITS);
	if (min > max)
		ydoc_problem(l->diags, l->doc, spec,
			     "'min' (%lld) is larger than 'max' (%lld)",
			     (long long)min, (long long)max);
	if (ydoc_get_str(&keys, l->diags, l->doc, spec, "keys", false) &&
	    !valid_keys(keys))
		ydoc_problem(l->diags, l->doc, ydoc_get(spec, "keys"),
			     "bad digit set '%s': use distinct keys from "
			     "0-9, * and #",
			     keys);
	if (ydoc_get_str(&term, l->diags, l->doc, spec, "term", false) &&
	    (strlen(term) != 1 || strchr(DTMF, term[0]) == NULL ||
	     strchr(keys, term[0]) != NULL))
		ydoc_problem(l->diags, l->doc, ydoc_get(spec, "term"),
			     "bad terminator '%s': one key from 0-9, * or # "
			     "that is not in the digit set",
			     term);
	n->min_digits = (int)min;
	n->max_digits = (int)max;
	n->term = term != NULL ? term[0] : '\0';
	snprintf(n->allowed, sizeof(n->allowed), "%s",
		 strlen(keys) < sizeof(n->allowed) ? keys : "");
}

static void
load_input(struct loader *l, struct flow_node *n, const struct ydoc_node *node)
{
	const char *store = NULL;
	const struct ydoc_node *v;

	n->kind = FLOW_INPUT;
	load_input_spec(l, n, ydoc_get(node, "input"));
	if (ydoc_get_str(&store, l->diags, l->doc, node, "store", true)) {
		if (find_name(variables, store) < 0)
			ydoc_problem(l->diags, l->doc, ydoc_get(node, "store"),
				     "unknown variable '%s' (use account, pin, "
				     "from, to or amount)",
				     store);
		n->store = strdup(store);
	}
	ydoc_get_bool(&n->secret, l->diags, l->doc, node, "secret", false);
	if ((v = ydoc_get(node, "back")) != NULL) {
		n->back = resolve(l, v, "'back'");
		if (strchr(n->allowed, l->f->back_key) != NULL ||
		    n->term == l->f->back_key)
			ydoc_problem(l->diags, l->doc, v,
				     "'back' needs the back key '%c', which "
				     "this input collects as a digit",
				     l->f->back_key);
	}
	if ((v = ydoc_get(node, "next")) != NULL)
		n->next = resolve(l, v, "'next'");
	else
		ydoc_problem(l->diags, l->doc, node, "missing key 'next'");
}

static void
load_menu(struct loader *l, struct flow_node *n, const struct ydoc_node *node)
{
	const struct ydoc_node *menu = ydoc_get(node, "menu");

	n->kind = FLOW_MENU;
	if (ydoc_get(node, "back") != NULL)
		n->back = resolve(l, ydoc_get(node, "back"), "'back'");
	if (!ydoc_expect_map(l->diags, l->doc, menu, "'menu'"))
		return;
	if (menu->count == 0 || menu->count > FLOW_MAX_CHOICES) {
		ydoc_problem(l->diags, l->doc, menu,
			     "a menu needs 1 to %d choices", FLOW_MAX_CHOICES);
		return;
	}
	for (size_t i = 0; i < menu->count; i++) {
		const struct ydoc_node *k = menu->pairs[i].key;
		char key = k->text[0];

		if (k->len != 1 || strchr(DTMF, key) == NULL) {
			ydoc_problem(l->diags, l->doc, k,
				     "bad menu key '%s': one key from 0-9, * "
				     "or #",
				     k->text);
			continue;
		}
		if (key == l->f->repeat_key || key == l->f->back_key) {
			ydoc_problem(l->diags, l->doc, k,
				     "menu key '%c' is taken by '%s' in every "
				     "menu",
				     key,
				     key == l->f->repeat_key ? "repeat"
							     : "back");
			continue;
		}
		n->choices[n->nchoices].key = key;
		n->choices[n->nchoices++].target =
			resolve(l, menu->pairs[i].value, "menu choice");
	}
}

static void
load_results(struct loader *l, struct flow_node *n,
	     const struct ydoc_node *node)
{
	const char *const *known = action_results[n->action];
	const struct ydoc_node *res = ydoc_get(node, "results");

	if (res == NULL) {
		ydoc_problem(l->diags, l->doc, node, "missing key 'results'");
		return;
	}
	if (!ydoc_expect_map(l->diags, l->doc, res, "'results'"))
		return;
	ydoc_check_keys(l->diags, l->doc, res, known);
	for (size_t i = 0; known[i] != NULL; i++) {
		const struct ydoc_node *v = ydoc_get(res, known[i]);

		if (v == NULL) {
			ydoc_problem(l->diags, l->doc, res,
				     "action '%s' needs a node for result "
				     "'%s'",
				     action_names[n->action], known[i]);
			continue;
		}
		n->results[n->nresults].name = known[i];
		n->results[n->nresults++].target = resolve(l, v, "result");
	}
}

static void
load_action(struct loader *l, struct flow_node *n, const struct ydoc_node *node)
{
	const char *name = NULL, *hint;
	int a;

	n->kind = FLOW_ACTION;
	if (!ydoc_get_str(&name, l->diags, l->doc, node, "action", true))
		return;
	if ((a = find_name(action_names, name)) < 0) {
		hint = ydoc_suggest(name, action_names);
		ydoc_problem(l->diags, l->doc, ydoc_get(node, "action"),
			     "unknown action '%s'%s%s%s", name,
			     hint ? " (did you mean '" : "", hint ? hint : "",
			     hint ? "'?)" : "");
		return;
	}
	n->action = (enum flow_action)a;
	load_results(l, n, node);
}

static void
load_end(struct loader *l, struct flow_node *n, const struct ydoc_node *node)
{
	const char *end = NULL;

	n->kind = FLOW_END;
	if (!ydoc_get_str(&end, l->diags, l->doc, node, "end", true))
		return;
	if (strcmp(end, "hangup") == 0)
		n->end = FLOW_END_HANGUP;
	else if (strcmp(end, "agent") == 0)
		n->end = FLOW_END_AGENT;
	else
		ydoc_problem(l->diags, l->doc, ydoc_get(node, "end"),
			     "'end' must be hangup or agent, not '%s'", end);
}

/* Which of the kind-deciding keys a node has; problems if not one. */
static int
node_kind(struct loader *l, const struct ydoc_node *node, const char *name)
{
	static const char *const kinds[] = { "input", "menu", "action", "end",
					     NULL };
	int found = -1, count = 0;

	for (int i = 0; kinds[i] != NULL; i++) {
		if (ydoc_get(node, kinds[i]) != NULL) {
			found = found < 0 ? i : found;
			count++;
		}
	}
	if (count > 1)
		ydoc_problem(l->diags, l->doc, node,
			     "node '%s' must have only one of input, menu, "
			     "action and end",
			     name);
	if (count == 0 && ydoc_get(node, "next") == NULL) {
		ydoc_problem(l->diags, l->doc, node,
			     "node '%s' leads nowhere: give it next, input, "
			     "menu, action or end",
			     name);
		return -2;
	}
	return found;
}

static void
load_node(struct loader *l, struct flow_node *n, const struct ydoc_node *node)
{
	bool asks;
	int kind;

	if (!ydoc_expect_map(l->diags, l->doc, node, "a node"))
		return;
	ydoc_check_keys(l->diags, l->doc, node, node_keys);
	load_say(l, n, node);
	kind = node_kind(l, node, n->name);
	switch (kind) {
	case 0:
		load_input(l, n, node);
		break;
	case 1:
		load_menu(l, n, node);
		break;
	case 2:
		load_action(l, n, node);
		break;
	case 3:
		load_end(l, n, node);
		break;
	case -1:
		n->kind = FLOW_SAY;
		n->next = resolve(l, ydoc_get(node, "next"), "'next'");
		break;
	default:
		return;
	}
	if (n->kind != FLOW_SAY && n->kind != FLOW_INPUT &&
	    ydoc_get(node, "next") != NULL)
		ydoc_problem(l->diags, l->doc, ydoc_get(node, "next"),
			     "'next' has no effect on a %s node",
			     n->kind == FLOW_MENU     ? "menu"
			     : n->kind == FLOW_ACTION ? "action"
						      : "end");
	asks = n->kind == FLOW_INPUT || n->kind == FLOW_MENU;
	if (!asks && (ydoc_get(node, "on_limit") || ydoc_get(node, "back")))
		ydoc_problem(l->diags, l->doc, node,
			     "node '%s' asks nothing: 'back' and 'on_limit' "
			     "belong to input and menu nodes",
			     n->name);
	if (asks && ydoc_get(node, "on_limit") != NULL)
		n->on_limit =
			resolve(l, ydoc_get(node, "on_limit"), "'on_limit'");
	if (asks) {
		n->prompt = prompt_text(l, node, "prompt", true,
					"for a node that asks the caller");
		n->help = prompt_text(l, node, "help", false, "");
	} else if (ydoc_get(node, "prompt") || ydoc_get(node, "help")) {
		ydoc_problem(l->diags, l->doc, node,
			     "node '%s' asks nothing: 'prompt' and 'help' "
			     "belong to input and menu nodes",
			     n->name);
	}
	if (n->kind == FLOW_SAY && n->nsay == 0)
		ydoc_problem(l->diags, l->doc, node,
			     "missing prompt: node '%s' only has 'next'; give "
			     "it 'say'",
			     n->name);
}

/* Calls fn for every node that n can lead to. */
static void
for_each_edge(const struct flow_node *n,
	      void (*fn)(const struct flow_node *to, void *ctx), void *ctx)
{
	if (n->next)
		fn(n->next, ctx);
	if (n->back)
		fn(n->back, ctx);
	if (n->on_limit)
		fn(n->on_limit, ctx);
	for (size_t i = 0; i < n->nchoices; i++)
		if (n->choices[i].target)
			fn(n->choices[i].target, ctx);
	for (size_t i = 0; i < n->nresults; i++)
		if (n->results[i].target)
			fn(n->results[i].target, ctx);
}

struct walk {
	bool seen[FLOW_MAX_NODES];
	const struct flow_node *stack[FLOW_MAX_NODES];
	size_t top;
};

static void
push_unseen(const struct flow_node *to, void *ctx)
{
	struct walk *w = ctx;

	if (!w->seen[to->index]) {
		w->seen[to->index] = true;
		w->stack[w->top++] = to;
	}
}

static void
check_reachable(struct loader *l)
{
	struct walk w = { .top = 0 };

	if (l->f->start == NULL)
		return; /* no start: already reported */
	w.seen[l->f->start->index] = true;
	w.stack[w.top++] = l->f->start;
	if (l->f->on_limit != NULL)
		push_unseen(l->f->on_limit, &w);
	while (w.top > 0)
		for_each_edge(w.stack[--w.top], push_unseen, &w);
	for (size_t i = 0; i < l->f->count; i++) {
		const struct flow_node *n = &l->f->nodes[i];

		if (!w.seen[i])
			diag_add(l->diags, l->doc->path, n->line, n->col,
				 "node '%s' is never reached from '%s'",
				 n->name, l->f->start->name);
	}
}

/* Depth-first search for a loop through nodes that never wait. */
struct loopcheck {
	struct loader *l;
	unsigned char state[FLOW_MAX_NODES]; /* 0 new, 1 on path, 2 done */
	const struct flow_node *from;
	bool reported;
};

static void visit(const struct flow_node *n, struct loopcheck *c);

static void
visit_edge(const struct flow_node *to, void *ctx)
{
	struct loopcheck *c = ctx;
	const struct flow_node *from = c->from;

	if (to->kind != FLOW_SAY && to->kind != FLOW_ACTION)
		return;
	if (c->state[to->index] == 1 && !c->reported) {
		diag_add(c->l->diags, c->l->doc->path, from->line, from->col,
			 "node '%s' loops back to '%s' without waiting for "
			 "the caller",
			 from->name, to->name);
		c->reported = true;
	} else if (c->state[to->index] == 0) {
		visit(to, c);
	}
	c->from = from;
}

static void
visit(const struct flow_node *n, struct loopcheck *c)
{
	c->state[n->index] = 1;
	c->from = n;
	for_each_edge(n, visit_edge, c);
	c->state[n->index] = 2;
}

static void
check_loops(struct loader *l)
{
	struct loopcheck c = { .l = l };

	for (size_t i = 0; i < l->f->count; i++) {
		const struct flow_node *n = &l->f->nodes[i];

		if (c.state[i] == 0 &&
		    (n->kind == FLOW_SAY || n->kind == FLOW_ACTION))
			visit(n, &c);
	}
}

static char
one_key(struct loader *l, const struct ydoc_node *keys, const char *name,
	char dflt)
{
	const char *v = NULL;

	if (!ydoc_get_str(&v, l->diags, l->doc, keys, name, false))
		return dflt;
	if (strlen(v) != 1 || strchr(DTMF, v[0]) == NULL) {
		ydoc_problem(l->diags, l->doc, ydoc_get(keys, name),
			     "'%s' must be one key from 0-9, * or #", name);
		return dflt;
	}
	return v[0];
}

static void
load_top(struct loader *l, const struct ydoc_node *root)
{
	static const char *const key_names[] = { "repeat", "back", NULL };
	const struct ydoc_node *keys = ydoc_get(root, "keys");
	const char *name = NULL;

	ydoc_check_keys(l->diags, l->doc, root, top_keys);
	if (ydoc_get_str(&name, l->diags, l->doc, root, "flow", true))
		l->f->name = strdup(name);
	l->f->repeat_key = '9';
	l->f->back_key = '*';
	if (keys != NULL && ydoc_expect_map(l->diags, l->doc, keys, "'keys'")) {
		ydoc_check_keys(l->diags, l->doc, keys, key_names);
		l->f->repeat_key = one_key(l, keys, "repeat", '9');
		l->f->back_key = one_key(l, keys, "back", '*');
	}
}

static int
load_nodes(struct loader *l, const struct ydoc_node *nodes)
{
	if (!ydoc_expect_map(l->diags, l->doc, nodes, "'nodes'"))
		return -1;
	if (nodes->count == 0 || nodes->count > FLOW_MAX_NODES) {
		ydoc_problem(l->diags, l->doc, nodes,
			     "a flow needs 1 to %d nodes", FLOW_MAX_NODES);
		return -1;
	}
	l->f->nodes = calloc(nodes->count, sizeof(*l->f->nodes));
	if (l->f->nodes == NULL)
		return -1;
	l->f->count = nodes->count;
	for (size_t i = 0; i < nodes->count; i++) {
		struct flow_node *n = &l->f->nodes[i];

		n->name = strdup(nodes->pairs[i].key->text);
		n->index = i;
		n->line = nodes->pairs[i].key->line;
		n->col = nodes->pairs[i].key->col;
	}
	for (size_t i = 0; i < nodes->count; i++)
		load_node(l, &l->f->nodes[i], nodes->pairs[i].value);
	return 0;
}

static void
check_flow(struct loader *l, const struct ydoc_node *root)
{
	const struct ydoc_node *nodes = ydoc_get(root, "nodes");
	const struct ydoc_node *start = ydoc_get(root, "start");

	load_top(l, root);
	if (nodes == NULL) {
		ydoc_problem(l->diags, l->doc, root, "missing key 'nodes'");
		return;
	}
	if (load_nodes(l, nodes) < 0)
		return;
	if (start == NULL)
		ydoc_problem(l->diags, l->doc, root, "missing key 'start'");
	else
		l->f->start = resolve(l, start, "'start'");
	if (ydoc_get(root, "on_limit") == NULL)
		ydoc_problem(l->diags, l->doc, root, "missing key 'on_limit'");
	else
		l->f->on_limit =
			resolve(l, ydoc_get(root, "on_limit"), "'on_limit'");
	if (diag_total(l->diags) > 0)
		return; /* graph checks need every reference resolved */
	check_reachable(l);
	check_loops(l);
}

int
flow_load(struct flow **out, const char *path, struct diag_list *diags,
	  struct err *err)
{
	struct ydoc doc;
	struct loader l = { .diags = diags, .doc = &doc };
	size_t before = diag_total(diags);
	int rc;

	*out = NULL;
	if ((rc = ydoc_load_file(&doc, path, FLOW_FILE_MAX, diags, err)) < 0)
		goto out;
	if ((l.f = calloc(1, sizeof(*l.f))) == NULL) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	if (ydoc_expect_map(diags, &doc, doc.root, "a flow file"))
		check_flow(&l, doc.root);
	else if (doc.root == NULL)
		diag_add(diags, path, 0, 0, "the flow file is empty");
	if (diag_total(diags) > before) {
		rc = err_set(err, ERR_PARSE, "'%s' has problems", path);
		flow_free(l.f);
		goto out;
	}
	*out = l.f;
out:
	ydoc_release(&doc);
	return rc;
}
