/*
 * engine: see engine.h.
 */
#include "engine.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hash.h"
#include "metrics.h"

/* Steps that may pass without the caller answering: a guard, since
 * flow_load already refuses loops that never wait. */
#define MAX_AUTO_STEPS 64
#define RECENT_MAX     5

static const char *const sorry_noinput = "Sorry, I did not hear anything.";
static const char *const sorry_nomatch = "Sorry, that is not a valid entry.";

int
engine_call_init(struct call_state *c, const struct engine *e, struct err *err)
{
	memset(c, 0, sizeof(*c));
	c->noinput = calloc(e->flow->count, 1);
	c->nomatch = calloc(e->flow->count, 1);
	if (c->noinput == NULL || c->nomatch == NULL) {
		engine_call_release(c);
		return err_set(err, ERR_NOMEM, "out of memory");
	}
	return 0;
}

void
engine_call_release(struct call_state *c)
{
	free(c->noinput);
	free(c->nomatch);
	explicit_bzero(c, sizeof(*c));
}

int
engine_out_init(struct engine_out *out, struct err *err)
{
	out->prompts = json_array();
	out->data = json_object();
	if (out->prompts == NULL || out->data == NULL) {
		engine_out_release(out);
		return err_set(err, ERR_NOMEM, "out of memory");
	}
	return 0;
}

void
engine_out_release(struct engine_out *out)
{
	json_decref(out->prompts);
	json_decref(out->data);
	out->prompts = NULL;
	out->data = NULL;
}

char *
engine_format_money(char *dst, int64_t cents)
{
	char whole[24], grouped[32];
	int64_t v = cents < 0 ? -cents : cents;
	size_t n, o = 0;

	snprintf(whole, sizeof(whole), "%lld", (long long)(v / 100));
	n = strlen(whole);
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && (n - i) % 3 == 0)
			grouped[o++] = ',';
		grouped[o++] = whole[i];
	}
	grouped[o] = '\0';
	snprintf(dst, ENGINE_MONEY_MAX, "%s\xc2\xa3%s.%02lld",
		 cents < 0 ? "minus " : "", grouped, (long long)(v % 100));
	return dst;
}

int
engine_parse_amount(int64_t *cents, const char *keys, struct err *err)
{
	const char *star = strchr(keys, '*');
	int64_t whole = 0, frac = 0;
	size_t fdigits = 0;

	if (keys[0] == '\0' || (star && strchr(star + 1, '*')))
		return err_set(err, ERR_INVAL, "not an amount");
	for (const char *p = keys; *p != '\0' && p != star; p++) {
		if (*p < '0' || *p > '9' || whole > 100000000000LL)
			return err_set(err, ERR_INVAL, "not an amount");
		whole = whole * 10 + (*p - '0');
	}
	if (star == NULL) {
		*cents = whole;
		return 0;
	}
	for (const char *p = star + 1; *p != '\0'; p++, fdigits++) {
		if (*p < '0' || *p > '9' || fdigits >= 2)
			return err_set(err, ERR_INVAL, "not an amount");
		frac = frac * 10 + (*p - '0');
	}
	*cents = whole * 100 + (fdigits == 1 ? frac * 10 : frac);
	return 0;
}

/* Appends a prompt with {placeholders} filled from the call. */
static void
say(struct engine_out *out, const struct call_state *c, const char *text)
{
	char result[1024], value[ENGINE_MONEY_MAX];
	size_t o = 0;

	for (const char *p = text; *p != '\0' && o < sizeof(result) - 48;) {
		const char *v = NULL;

		if (strncmp(p, "{amount}", 8) == 0) {
			v = engine_format_money(value, c->amount_cents);
			p += 8;
		} else if (strncmp(p, "{from}", 6) == 0) {
			v = c->from;
			p += 6;
		} else if (strncmp(p, "{to}", 4) == 0) {
			v = c->to;
			p += 4;
		} else if (strncmp(p, "{confirmation}", 14) == 0) {
			v = c->confirmation;
			p += 14;
		}
		if (v == NULL) {
			result[o++] = *p++;
			continue;
		}
		o += (size_t)snprintf(result + o, sizeof(result) - o, "%s", v);
	}
	result[o] = '\0';
	json_array_append_new(out->prompts, json_string(result));
}

static void sayf(struct engine_out *out, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
sayf(struct engine_out *out, const char *fmt, ...)
{
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	json_array_append_new(out->prompts, json_string(text));
}

static void
log_event_last4(const struct engine *e, enum log_level level, const char *msg,
		const char *number, const char *reason)
{
	size_t n = strlen(number);

	log_kv(e->log, level, msg,
	       LOG_STR("account_last4", n >= 4 ? number + n - 4 : ""),
	       LOG_STR("result", reason));
}

static int
act_authenticate(const char **result, const struct engine *e,
		 struct call_state *c, struct bank *bank,
		 struct engine_out *out, struct err *err)
{
	enum bank_auth r;
	int64_t id = 0;
	int rc;

	if (e->fault_login) /* a test release: every login refused */
		r = BANK_AUTH_FAILED, rc = 0;
	else
		rc = bank_authenticate(&r, &id, bank, c->account, c->pin,
				       e->limits.pin_attempts, err);
	explicit_bzero(c->pin, sizeof(c->pin));
	if (rc < 0)
		return rc;
	if (r == BANK_AUTH_OK) {
		c->authenticated = true;
		c->customer_id = id;
		c->auth_failures = 0;
		*result = "ok";
	} else {
		metrics_auth_failure(e->metrics);
		if (r == BANK_AUTH_LOCKED)
			metrics_auth_lockout(e->metrics);
		c->auth_failures++;
		*result = r == BANK_AUTH_LOCKED ? "locked"
			  : c->auth_failures >= e->limits.pin_attempts
				  ? "too_many"
				  : "failed";
	}
	log_event_last4(e, r == BANK_AUTH_OK ? LOG_LEVEL_INFO : LOG_LEVEL_WARN,
			"caller authentication", c->account, *result);
	json_object_set_new(out->data, "authenticated",
			    json_boolean(c->authenticated));
	explicit_bzero(c->account, sizeof(c->account));
	return 0;
}

static int
act_balances(const char **result, const struct engine *e, struct call_state *c,
	     struct bank *bank, struct engine_out *out, struct err *err)
{
	struct bank_account a[BANK_ACCOUNTS_MAX];
	json_t *list = json_array();
	char money[ENGINE_MONEY_MAX];
	size_t n;
	int rc;

	(void)e;
	if ((rc = bank_accounts(a, BANK_ACCOUNTS_MAX, &n, bank, c->customer_id,
				err)) < 0) {
		json_decref(list);
		return rc;
	}
	for (size_t i = 0; i < n; i++) {
		sayf(out, "Your %s account ending %s has a balance of %s.",
		     a[i].kind, a[i].number + 4,
		     engine_format_money(money, a[i].balance_cents));
		json_array_append_new(
			list,
			json_pack("{s:s, s:s, s:I}", "last4", a[i].number + 4,
				  "kind", a[i].kind, "balance_cents",
				  (json_int_t)a[i].balance_cents));
	}
	json_object_set_new(out->data, "accounts", list);
	*result = "ok";
	return 0;
}

static int
act_recent(const char **result, const struct engine *e, struct call_state *c,
	   struct bank *bank, struct engine_out *out, struct err *err)
{
	struct bank_txn t[RECENT_MAX];
	json_t *list = json_array();
	char money[ENGINE_MONEY_MAX];
	size_t n;
	int rc;

	(void)e;
	if ((rc = bank_recent(t, RECENT_MAX, &n, bank, c->customer_id, err)) <
	    0) {
		json_decref(list);
		return rc;
	}
	if (n == 0)
		sayf(out, "You have no recent transactions.");
	else
		sayf(out, "Your last %zu transactions, newest first.", n);
	for (size_t i = 0; i < n; i++) {
		sayf(out, "%.10s: %s of %s, account ending %s.",
		     t[i].created_at, t[i].description,
		     engine_format_money(money, t[i].amount_cents < 0
							? -t[i].amount_cents
							: t[i].amount_cents),
		     t[i].account_last4);
		json_array_append_new(
			list, json_pack("{s:s, s:I, s:I, s:s, s:s}", "last4",
					t[i].account_last4, "amount_cents",
					(json_int_t)t[i].amount_cents,
					"balance_after_cents",
					(json_int_t)t[i].balance_after_cents,
					"description", t[i].description, "date",
					t[i].created_at));
	}
	json_object_set_new(out->data, "transactions", list);
	*result = "ok";
	return 0;
}

/* The account among a[n] whose number ends in last4, or NULL. */
static const struct bank_account *
by_last4(const struct bank_account *a, size_t n, const char *last4)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(last4) == 4 && strcmp(a[i].number + 4, last4) == 0)
			return &a[i];
	return NULL;
}

static int
act_transfer_prepare(const char **result, const struct engine *e,
		     struct call_state *c, struct bank *bank,
		     struct engine_out *out, struct err *err)
{
	struct bank_account a[BANK_ACCOUNTS_MAX];
	const struct bank_account *from, *to;
	unsigned char raw[ENGINE_TOKEN_LEN / 2];
	size_t n;
	int rc;

	(void)e;
	c->token[0] = '\0';
	if ((rc = bank_accounts(a, BANK_ACCOUNTS_MAX, &n, bank, c->customer_id,
				err)) < 0)
		return rc;
	from = by_last4(a, n, c->from);
	to = by_last4(a, n, c->to);
	*result = "ok";
	if (from == NULL || to == NULL)
		*result = "unknown_account";
	else if (from == to)
		*result = "same_account";
	else if (engine_parse_amount(&c->amount_cents, c->amount, NULL) < 0 ||
		 c->amount_cents <= 0)
		*result = "bad_amount";
	else if (from->balance_cents < c->amount_cents)
		*result = "insufficient";
	if (strcmp(*result, "ok") != 0)
		return 0;
	c->from_id = from->id;
	c->to_id = to->id;
	if ((rc = hash_random(raw, sizeof(raw), err)) < 0)
		return rc;
	hash_hex(c->token, raw, sizeof(raw));
	json_object_set_new(out->data, "transfer_token", json_string(c->token));
	json_object_set_new(out->data, "amount_cents",
			    json_integer(c->amount_cents));
	return 0;
}

static void
transfer_done(struct call_state *c, struct engine_out *out)
{
	json_object_set_new(out->data, "confirmation",
			    json_string(c->confirmation));
	json_object_set_new(out->data, "amount_cents",
			    json_integer(c->done_amount_cents));
}

static int
act_transfer(const char **result, const struct engine *e, struct call_state *c,
	     struct bank *bank, struct engine_out *out, struct err *err)
{
	struct bank_transfer_req req = {
		.token = c->token,
		.customer_id = c->customer_id,
		.from_account_id = c->from_id,
		.to_account_id = c->to_id,
		.amount_cents = c->amount_cents,
	};
	enum bank_transfer_result r;
	bool replayed = false;
	int rc;

	if (c->token[0] == '\0') {
		*result = "failed";
		return 0;
	}
	if ((rc = bank_transfer(&r, c->confirmation, &replayed, bank, &req,
				err)) < 0) {
		metrics_transfer(e->metrics, METRICS_TRANSFER_FAILED);
		return rc;
	}
	*result = r == BANK_TRANSFER_OK		    ? "ok"
		  : r == BANK_TRANSFER_INSUFFICIENT ? "insufficient"
						    : "failed";
	metrics_transfer(e->metrics,
			 r == BANK_TRANSFER_OK
				 ? (replayed ? METRICS_TRANSFER_REPLAYED
					     : METRICS_TRANSFER_OK)
			 : r == BANK_TRANSFER_INSUFFICIENT
				 ? METRICS_TRANSFER_INSUFFICIENT
				 : METRICS_TRANSFER_REFUSED);
	log_kv(e->log, LOG_LEVEL_INFO, "transfer", LOG_STR("result", *result),
	       LOG_STR("from_last4", c->from), LOG_STR("to_last4", c->to),
	       LOG_INT("amount_cents", c->amount_cents),
	       LOG_BOOL("replayed", replayed));
	if (r == BANK_TRANSFER_OK) {
		memcpy(c->done_token, c->token, sizeof(c->done_token));
		c->done_amount_cents = c->amount_cents;
		transfer_done(c, out);
	}
	c->token[0] = '\0';
	return 0;
}

typedef int (*action_fn)(const char **result, const struct engine *e,
			 struct call_state *c, struct bank *bank,
			 struct engine_out *out, struct err *err);

static const action_fn actions[] = {
	[FLOW_ACTION_AUTHENTICATE] = act_authenticate,
	[FLOW_ACTION_BALANCES] = act_balances,
	[FLOW_ACTION_RECENT] = act_recent,
	[FLOW_ACTION_TRANSFER_PREPARE] = act_transfer_prepare,
	[FLOW_ACTION_TRANSFER] = act_transfer,
};

/* The metrics' name for each action's bank operation. */
static const enum metrics_db_op db_ops[] = {
	[FLOW_ACTION_AUTHENTICATE] = METRICS_DB_AUTHENTICATE,
	[FLOW_ACTION_BALANCES] = METRICS_DB_BALANCES,
	[FLOW_ACTION_RECENT] = METRICS_DB_RECENT,
	[FLOW_ACTION_TRANSFER_PREPARE] = METRICS_DB_TRANSFER_PREPARE,
	[FLOW_ACTION_TRANSFER] = METRICS_DB_TRANSFER,
};

static uint64_t
micros_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* An action, timed as its bank operation. */
static int
act(const char **result, const struct engine *e, struct call_state *c,
    struct bank *bank, const struct flow_node *n, struct engine_out *out,
    struct err *err)
{
	uint64_t t0 = micros_now();
	int rc = actions[n->action](result, e, c, bank, out, err);

	metrics_db(e->metrics, db_ops[n->action], micros_now() - t0, rc < 0);
	return rc;
}

static void
ask(struct engine_out *out, const struct call_state *c,
    const struct flow_node *n, bool help)
{
	say(out, c, help && n->help != NULL ? n->help : n->prompt);
}

/*
 * Moves the call to n and on through nodes that do not wait, until one
 * asks the caller or ends the call.
 */
static int
enter(const struct engine *e, struct call_state *c, struct bank *bank,
      const struct flow_node *n, struct engine_out *out, struct err *err)
{
	const char *result;
	int rc;

	for (int steps = 0; steps < MAX_AUTO_STEPS; steps++) {
		for (size_t i = 0; i < n->nsay; i++)
			say(out, c, n->say[i]);
		c->node = n;
		switch (n->kind) {
		case FLOW_SAY:
			n = n->next;
			continue;
		case FLOW_ACTION:
			if ((rc = act(&result, e, c, bank, n, out, err)) < 0)
				return rc;
			n = flow_result(n, result);
			continue;
		case FLOW_INPUT:
		case FLOW_MENU:
			ask(out, c, n, false);
			return 0;
		case FLOW_END:
			c->ended = true;
			c->end = n->end;
			return 0;
		}
	}
	return err_set(err, ERR_INTERNAL,
		       "flow passed %d nodes without waiting for the caller",
		       MAX_AUTO_STEPS);
}

int
engine_start(const struct engine *e, struct call_state *c, struct bank *bank,
	     struct engine_out *out, struct err *err)
{
	return enter(e, c, bank, e->flow->start, out, err);
}

/* A no-input or no-match at the waiting node: reprompt or give up. */
static int
retry(const struct engine *e, struct call_state *c, struct bank *bank,
      bool silence, struct engine_out *out, struct err *err)
{
	const struct flow_node *n = c->node;
	unsigned char *count =
		silence ? &c->noinput[n->index] : &c->nomatch[n->index];
	int max = silence ? e->limits.noinput_max : e->limits.nomatch_max;

	say(out, c, silence ? sorry_noinput : sorry_nomatch);
	if (*count >= max) {
		c->noinput[n->index] = c->nomatch[n->index] = 0;
		return enter(e, c, bank,
			     n->on_limit ? n->on_limit : e->flow->on_limit, out,
			     err);
	}
	(*count)++;
	ask(out, c, n, true);
	return 0;
}

/* The variable an input node stores into. */
static char *
slot(struct call_state *c, const char *name)
{
	if (strcmp(name, "account") == 0)
		return c->account;
	if (strcmp(name, "pin") == 0)
		return c->pin;
	if (strcmp(name, "from") == 0)
		return c->from;
	if (strcmp(name, "to") == 0)
		return c->to;
	return c->amount;
}

static bool
fits(const struct flow_node *n, const char *keys, size_t len)
{
	if (len < (size_t)n->min_digits || len > (size_t)n->max_digits)
		return false;
	for (size_t i = 0; i < len; i++)
		if (strchr(n->allowed, keys[i]) == NULL)
			return false;
	return true;
}

static int
answer_input(const struct engine *e, struct call_state *c, struct bank *bank,
	     const char *keys, size_t len, struct engine_out *out,
	     struct err *err)
{
	const struct flow_node *n = c->node;
	char *dst;

	if (len == 1 && keys[0] == e->flow->back_key && n->back != NULL)
		return enter(e, c, bank, n->back, out, err);
	if (!fits(n, keys, len))
		return retry(e, c, bank, false, out, err);
	dst = slot(c, n->store);
	memcpy(dst, keys, len);
	dst[len] = '\0';
	c->noinput[n->index] = c->nomatch[n->index] = 0;
	return enter(e, c, bank, n->next, out, err);
}

static int
answer_menu(const struct engine *e, struct call_state *c, struct bank *bank,
	    const char *keys, size_t len, struct engine_out *out,
	    struct err *err)
{
	const struct flow_node *n = c->node, *target;

	if (len == 1 && keys[0] == e->flow->repeat_key) {
		ask(out, c, n, false);
		return 0;
	}
	if (len == 1 && keys[0] == e->flow->back_key && n->back != NULL)
		return enter(e, c, bank, n->back, out, err);
	if (len != 1 || (target = flow_choice(n, keys[0])) == NULL)
		return retry(e, c, bank, false, out, err);
	c->noinput[n->index] = c->nomatch[n->index] = 0;
	return enter(e, c, bank, target, out, err);
}

/* A confirm replayed after its transfer was made: the same answer. */
static bool
replayed_confirm(struct call_state *c, const char *token,
		 struct engine_out *out)
{
	if (token == NULL || c->done_token[0] == '\0' ||
	    strcmp(token, c->done_token) != 0)
		return false;
	say(out, c,
	    "Your transfer is complete. Your confirmation number is "
	    "{confirmation}.");
	transfer_done(c, out);
	json_object_set_new(out->data, "replayed", json_true());
	if (c->node != NULL && !c->ended)
		ask(out, c, c->node, false);
	return true;
}

int
engine_digits(const struct engine *e, struct call_state *c, struct bank *bank,
	      const char *digits, const char *token, struct engine_out *out,
	      struct err *err)
{
	size_t len = strlen(digits);

	if (len == 0 || len > FLOW_MAX_DIGITS + 1 ||
	    strspn(digits, "0123456789*#") != len)
		return err_set(err, ERR_INVAL,
			       "'digits' must be 1 to %d keys from 0-9, * "
			       "and #",
			       FLOW_MAX_DIGITS + 1);
	if (replayed_confirm(c, token, out))
		return 0;
	if (c->ended)
		return err_set(err, ERR_BADSTATE, "the call has ended");
	if (c->node->term != '\0' && digits[len - 1] == c->node->term)
		len--;
	if (len == 0)
		return retry(e, c, bank, false, out, err);
	if (c->node->kind == FLOW_MENU)
		return answer_menu(e, c, bank, digits, len, out, err);
	return answer_input(e, c, bank, digits, len, out, err);
}

int
engine_noinput(const struct engine *e, struct call_state *c, struct bank *bank,
	       struct engine_out *out, struct err *err)
{
	if (c->ended)
		return err_set(err, ERR_BADSTATE, "the call has ended");
	return retry(e, c, bank, true, out, err);
}

int
engine_nomatch(const struct engine *e, struct call_state *c, struct bank *bank,
	       struct engine_out *out, struct err *err)
{
	if (c->ended)
		return err_set(err, ERR_BADSTATE, "the call has ended");
	return retry(e, c, bank, false, out, err);
}

void
engine_collect(const struct engine *e, const struct call_state *c, json_t *obj)
{
	const struct flow_node *n = c->node;
	json_t *collect;

	if (c->ended || n == NULL)
		return;
	collect = json_pack("{s:i, s:i, s:i, s:i}", "max_digits",
			    n->kind == FLOW_MENU ? 1 : n->max_digits,
			    "min_digits",
			    n->kind == FLOW_MENU ? 1 : n->min_digits,
			    "timeout_ms", e->limits.first_digit_ms,
			    "inter_digit_timeout_ms", e->limits.inter_digit_ms);
	if (n->term != '\0')
		json_object_set_new(collect, "term", json_stringn(&n->term, 1));
	if (n->secret)
		json_object_set_new(collect, "secret", json_true());
	json_object_set_new(obj, "collect", collect);
}
