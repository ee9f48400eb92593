/*
 * smoke: see smoke.h.
 */
#include "smoke.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "hash.h"
#include "params.h"
#include "probe.h"

struct smoke {
	const char *url; /* the runtime's /calls */
	const char *account, *pin;
	int64_t transfer_cents;
	int64_t deadline; /* clock_now_ms() */
	char call_id[65];
	int steps;
	char error[512];
	char confirmation[64];
	size_t accounts;
};

/* One request; the answer when its status is want, else NULL (error
 * set, "what" naming the step). */
static json_t *
request(struct smoke *s, const char *what, const char *method,
	const char *suffix, const char *body, const char *idem, long want)
{
	char url[1200], why[PROBE_ERROR_MAX] = "";
	int64_t left = s->deadline - clock_now_ms();
	json_t *answer = NULL;
	long status;

	if (left <= 0) {
		snprintf(s->error, sizeof(s->error),
			 "%s: the smoke call's deadline passed", what);
		return NULL;
	}
	snprintf(url, sizeof(url), "%s%s", s->url, suffix);
	status = probe_request(&answer, method, url, body, idem, left, why);
	s->steps++;
	if (status == want)
		return answer;
	if (status == 0)
		snprintf(s->error, sizeof(s->error), "%s: no answer: %s", what,
			 why);
	else
		snprintf(s->error, sizeof(s->error), "%s: answered %ld%s%.80s",
			 what, status,
			 json_string_value(json_object_get(answer, "error"))
				 ? ": "
				 : "",
			 json_string_value(json_object_get(answer, "error"))
				 ? json_string_value(
					   json_object_get(answer, "error"))
				 : "");
	json_decref(answer);
	return NULL;
}

static const json_t *
data(const json_t *answer, const char *key)
{
	return json_object_get(json_object_get(answer, "data"), key);
}

/* Digits at the call's step; the answer (200) or NULL. */
static json_t *
press(struct smoke *s, const char *what, const char *digits, const char *token,
      const char *idem)
{
	char suffix[128];
	json_t *body =
		json_pack("{s:s, s:s*}", "digits", digits, "token", token);
	char *text = json_dumps(body, JSON_COMPACT);
	json_t *answer;

	snprintf(suffix, sizeof(suffix), "/%s/input", s->call_id);
	answer =
		text ? request(s, what, "POST", suffix, text, idem, 200) : NULL;
	if (text != NULL) /* it may hold the PIN */
		explicit_bzero(text, strlen(text));
	free(text);
	json_decref(body);
	return answer;
}

/* The last four digits of the fullest account (from) and another (to). */
static bool
pick_accounts(const json_t *list, char *from, char *to)
{
	json_int_t best = -1;
	size_t i;
	json_t *a;

	from[0] = to[0] = '\0';
	json_array_foreach (list, i, a) {
		const char *l4 = json_string_value(json_object_get(a, "last4"));
		json_int_t bal =
			json_integer_value(json_object_get(a, "balance_cents"));

		if (l4 != NULL && strlen(l4) == 4 && bal > best) {
			best = bal;
			snprintf(from, 5, "%s", l4);
		}
	}
	json_array_foreach (list, i, a) {
		const char *l4 = json_string_value(json_object_get(a, "last4"));

		if (l4 != NULL && strlen(l4) == 4 && strcmp(l4, from) != 0 &&
		    to[0] == '\0')
			snprintf(to, 5, "%s", l4);
	}
	return from[0] != '\0' && to[0] != '\0';
}

/* The confirm, then the same confirm again under the same key: one
 * confirmation number both times. */
static bool
confirm_twice(struct smoke *s, const char *token)
{
	unsigned char raw[8];
	char key[17];
	json_t *o, *again;
	const char *c1, *c2;
	bool ok;

	if (hash_random(raw, sizeof(raw), NULL) < 0)
		return false;
	hash_hex(key, raw, sizeof(raw));
	if ((o = press(s, "transfer confirm", "1", token, key)) == NULL)
		return false;
	if ((again = press(s, "transfer confirm replayed", "1", token, key)) ==
	    NULL) {
		json_decref(o);
		return false;
	}
	c1 = json_string_value(data(o, "confirmation"));
	c2 = json_string_value(data(again, "confirmation"));
	ok = c1 != NULL && c2 != NULL && strcmp(c1, c2) == 0;
	if (ok)
		snprintf(s->confirmation, sizeof(s->confirmation), "%s", c1);
	else
		snprintf(s->error, sizeof(s->error),
			 "transfer: confirmation %s, and %s when replayed with "
			 "its idempotency key",
			 c1 ? c1 : "missing", c2 ? c2 : "missing");
	json_decref(o);
	json_decref(again);
	return ok;
}

static bool
transfer(struct smoke *s, const json_t *accounts)
{
	char from[5], to[5], amount[32];
	const char *token;
	json_t *o;
	bool ok;

	if (!pick_accounts(accounts, from, to)) {
		snprintf(s->error, sizeof(s->error),
			 "transfer: the smoke customer needs two accounts");
		return false;
	}
	snprintf(amount, sizeof(amount), "%lld#", (long long)s->transfer_cents);
	if ((o = press(s, "transfer menu", "2", NULL, NULL)) == NULL)
		return false;
	json_decref(o);
	if ((o = press(s, "transfer from", from, NULL, NULL)) == NULL)
		return false;
	json_decref(o);
	if ((o = press(s, "transfer to", to, NULL, NULL)) == NULL)
		return false;
	json_decref(o);
	if ((o = press(s, "transfer amount", amount, NULL, NULL)) == NULL)
		return false;
	if ((token = json_string_value(data(o, "transfer_token"))) == NULL) {
		snprintf(s->error, sizeof(s->error),
			 "transfer amount: no read-back (not enough money in "
			 "the account ending %s?)",
			 from);
		json_decref(o);
		return false;
	}
	ok = confirm_twice(s, token);
	json_decref(o);
	return ok;
}

/* Log in, balances, (transfer); the call is hung up by the caller. */
static bool
script(struct smoke *s)
{
	char keys[80];
	json_t *o;
	bool ok;

	snprintf(keys, sizeof(keys), "%s#", s->account);
	if ((o = press(s, "account number", keys, NULL, NULL)) == NULL)
		return false;
	json_decref(o);
	if ((o = press(s, "PIN", s->pin, NULL, NULL)) == NULL)
		return false;
	ok = json_is_true(data(o, "authenticated"));
	json_decref(o);
	explicit_bzero(keys, sizeof(keys));
	if (!ok) {
		snprintf(s->error, sizeof(s->error),
			 "login: the smoke customer's account number and PIN "
			 "were refused");
		return false;
	}
	if ((o = press(s, "balances", "1", NULL, NULL)) == NULL)
		return false;
	s->accounts = json_array_size(data(o, "accounts"));
	if (s->accounts == 0) {
		snprintf(s->error, sizeof(s->error),
			 "balances: no account was read");
		json_decref(o);
		return false;
	}
	ok = s->transfer_cents <= 0 || transfer(s, data(o, "accounts"));
	json_decref(o);
	return ok;
}

static bool
call(struct smoke *s)
{
	char suffix[80], saved[sizeof(s->error)];
	json_t *o = request(s, "answer", "POST", "", "{}", NULL, 201);
	const char *id = json_string_value(json_object_get(o, "call_id"));
	bool ok;

	if (o == NULL)
		return false;
	if (id == NULL || strlen(id) >= sizeof(s->call_id) ||
	    strchr(id, '/') != NULL) {
		snprintf(s->error, sizeof(s->error), "answer: no call id");
		json_decref(o);
		return false;
	}
	snprintf(s->call_id, sizeof(s->call_id), "%s", id);
	json_decref(o);
	ok = script(s);
	if (!ok) /* the script's error says more than the hang-up's */
		snprintf(saved, sizeof(saved), "%s", s->error);
	snprintf(suffix, sizeof(suffix), "/%s", s->call_id);
	o = request(s, "hang up", "DELETE", suffix, NULL, NULL, 200);
	if (!ok)
		snprintf(s->error, sizeof(s->error), "%s", saved);
	json_decref(o);
	return ok && o != NULL;
}

int
smoke_call_method(json_t **result, struct agent *a, json_t *params,
		  struct err *err)
{
	static const char *const allowed[] = { "url",	     "account",
					       "pin",	     "transfer_cents",
					       "timeout_ms", NULL };
	struct smoke s = { 0 };
	int64_t timeout = 10000, start = clock_now_ms();
	bool ok;
	int rc;

	(void)a;
	if ((rc = params_check(params, allowed, err)) < 0 ||
	    (rc = params_str(&s.url, params, "url", true, 1024, err)) < 0 ||
	    (rc = params_str(&s.account, params, "account", true, 32, err)) <
		    0 ||
	    (rc = params_str(&s.pin, params, "pin", true, 32, err)) < 0 ||
	    (rc = params_int(&s.transfer_cents, params, "transfer_cents", false,
			     0, 100000, err)) < 0 ||
	    (rc = params_int(&timeout, params, "timeout_ms", false, 100, 600000,
			     err)) < 0)
		return rc;
	if (strncmp(s.url, "http://", 7) != 0 &&
	    strncmp(s.url, "https://", 8) != 0)
		return err_set(err, ERR_INVAL,
			       "param 'url' must be an http:// or https:// "
			       "URL");
	if (strspn(s.account, "0123456789") != strlen(s.account) ||
	    strspn(s.pin, "0123456789") != strlen(s.pin))
		return err_set(err, ERR_INVAL,
			       "params 'account' and 'pin' must be digits");
	s.deadline = start + timeout;
	ok = call(&s);
	*result =
		json_pack("{s:b, s:i, s:I, s:I, s:s*, s:s*}", "ok", ok, "steps",
			  s.steps, "ms", (json_int_t)(clock_now_ms() - start),
			  "accounts", (json_int_t)s.accounts, "confirmation",
			  s.confirmation[0] ? s.confirmation : NULL, "error",
			  ok ? NULL : s.error);
	return 0;
}
