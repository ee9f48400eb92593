/*
 * The real ivr-runtime binary on a loopback port with a real SQLite file
 * or, when IVR_TEST_PG_DIR names a scripts/pg-sandbox.sh cluster, a real
 * PostgreSQL: whole calls through the JSON API, lockout, idempotent
 * confirms, concurrent transfers and the ledger, draining, metrics, bad
 * config; on PostgreSQL also the database going away and coming back.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "bank.h"
#include "bankfix.h"
#include "testsupport.h"

#define CUSTOMERS 10

struct server {
	char dir[64];
	char db[128];
	char conninfo[1024]; /* PostgreSQL, as the runtime's role */
	char migrator[1024]; /* and as the migration role (seed) */
	char log[128];
	char base[64];
	pid_t pid;
	json_t *cred;
};

/* The flags naming the database: --db FILE, or --conninfo (the role's). */
static void
db_flags(const char **argv, int *n, struct server *s, const char *role)
{
	if (bankfix_pg_dir() == NULL) {
		argv[(*n)++] = "--db";
		argv[(*n)++] = s->db;
		return;
	}
	char *ci = strcmp(role, "ivr_app") == 0 ? s->conninfo : s->migrator;

	assert_int_equal(bankfix_conninfo(ci, sizeof(s->conninfo), role), 0);
	argv[(*n)++] = "--conninfo";
	argv[(*n)++] = ci;
}

/* A connection to the server's database, as the runtime's role. */
static struct bank *
server_bank(struct server *s)
{
	struct bank *b = NULL;

	assert_int_equal(bankfix_connect(&b, "ivr_app", s->db, NULL), 0);
	return b;
}

/* Seeds a database and starts the runtime with extra flags. */
static void
server_start(struct server *s, const char *const *extra)
{
	char cred[160], port[16];
	const char *seed[16] = {
		IVR_RUNTIME_BIN,    "seed", "--customers",	 "10",
		"--seed",	    "11",   "--credentials-out", cred,
		"--kdf-iterations", "1000"
	};
	const char *argv[32] = { IVR_RUNTIME_BIN, "--port", port,
				 "--drain-deadline", "3s" };
	int n = 5, k = 10;

	ts_tmpdir(s->dir, "runtime");
	snprintf(s->db, sizeof(s->db), "%s/bank.db", s->dir);
	/* PostgreSQL: an empty schema; seed migrates it as the migration
	 * role, and the runtime logs in as its own */
	if (bankfix_pg_dir() != NULL)
		assert_int_equal(bankfix_reset(), 0);
	db_flags(seed, &k, s, "ivr_migrate");
	db_flags(argv, &n, s, "ivr_app");
	snprintf(s->log, sizeof(s->log), "%s/runtime.log", s->dir);
	snprintf(cred, sizeof(cred), "%s/cred.json", s->dir);
	assert_int_equal(ts_run(seed, s->log), 0);
	s->cred = json_load_file(cred, 0, NULL);
	assert_non_null(s->cred);
	snprintf(port, sizeof(port), "%d", ts_free_port());
	snprintf(s->base, sizeof(s->base), "http://127.0.0.1:%s", port);
	for (; extra != NULL && *extra != NULL; extra++)
		argv[n++] = *extra;
	argv[n] = NULL;
	s->pid = ts_spawn(argv, s->log);
	assert_true(s->pid > 0);
	{
		char url[128];

		snprintf(url, sizeof(url), "%s/readyz", s->base);
		assert_true(ts_wait_http_ok(url, 10000));
	}
}

/* A second runtime on the same database: another host of the fleet. */
static void
peer_start(struct server *peer, const struct server *s)
{
	char port[16], url[128];
	const char *argv[16] = { IVR_RUNTIME_BIN, "--port", port,
				 "--drain-deadline", "3s" };
	int n = 5;

	*peer = *s;
	db_flags(argv, &n, peer, "ivr_app");
	snprintf(peer->log, sizeof(peer->log), "%s/peer.log", s->dir);
	snprintf(port, sizeof(port), "%d", ts_free_port());
	snprintf(peer->base, sizeof(peer->base), "http://127.0.0.1:%s", port);
	peer->pid = ts_spawn(argv, peer->log);
	assert_true(peer->pid > 0);
	snprintf(url, sizeof(url), "%s/readyz", peer->base);
	assert_true(ts_wait_http_ok(url, 10000));
}

static void
server_stop(struct server *s)
{
	ts_stop(s->pid, SIGTERM, 10000);
	json_decref(s->cred);
	ts_rmrf(s->dir);
}

static int
setup(void **state)
{
	struct server *s = calloc(1, sizeof(*s));

	server_start(s, NULL);
	*state = s;
	return 0;
}

static int
teardown(void **state)
{
	server_stop(*state);
	free(*state);
	return 0;
}

static const char *
cred(struct server *s, size_t customer, const char *what, size_t account)
{
	json_t *c =
		json_array_get(json_object_get(s->cred, "customers"), customer);

	if (strcmp(what, "pin") == 0)
		return json_string_value(json_object_get(c, "pin"));
	return json_string_value(json_object_get(
		json_array_get(json_object_get(c, "accounts"), account),
		"number"));
}

static json_t *
start_call(struct server *s)
{
	char url[128];
	json_t *o = NULL;

	snprintf(url, sizeof(url), "%s/calls", s->base);
	assert_int_equal(ts_http("POST", url, "{}", NULL, &o), 201);
	return o;
}

/* Sends digits (or, with NULL, a no-input) and returns the answer. */
static json_t *
step(struct server *s, const char *id, const char *digits, const char *header,
     long want)
{
	char url[160], body[128];
	json_t *o = NULL;

	snprintf(url, sizeof(url), "%s/calls/%s/input", s->base, id);
	if (digits != NULL)
		snprintf(body, sizeof(body), "{\"digits\":\"%s\"}", digits);
	else
		snprintf(body, sizeof(body), "{\"event\":\"noinput\"}");
	assert_int_equal(ts_http("POST", url, body, header, &o), want);
	return o;
}

static const char *
node_of(json_t *o)
{
	return json_string_value(json_object_get(o, "node"));
}

/* Starts a call and logs in as customer c; returns the call id. */
static char *
login(struct server *s, size_t c)
{
	json_t *o = start_call(s);
	char keys[16], *id;

	id = strdup(json_string_value(json_object_get(o, "call_id")));
	json_decref(o);
	snprintf(keys, sizeof(keys), "%s#", cred(s, c, "number", 0));
	json_decref(step(s, id, keys, NULL, 200));
	o = step(s, id, cred(s, c, "pin", 0), NULL, 200);
	assert_string_equal(node_of(o), "main_menu");
	json_decref(o);
	return id;
}

static json_t *
data_of(json_t *o, const char *key)
{
	return json_object_get(json_object_get(o, "data"), key);
}

static void
test_runtime__serves_a_whole_call(void **state)
{
	struct server *s = *state;
	char *id = login(s, 0), url[160], *log;
	char from[8], to[8];
	json_t *o, *collect;

	o = step(s, id, "1", NULL, 200);
	assert_true(json_array_size(data_of(o, "accounts")) >= 2);
	collect = json_object_get(o, "collect");
	assert_int_equal(
		json_integer_value(json_object_get(collect, "max_digits")), 1);
	json_decref(o);
	snprintf(from, sizeof(from), "%s", cred(s, 0, "number", 0) + 4);
	snprintf(to, sizeof(to), "%s", cred(s, 0, "number", 1) + 4);
	json_decref(step(s, id, "2", NULL, 200));
	json_decref(step(s, id, from, NULL, 200));
	json_decref(step(s, id, to, NULL, 200));
	o = step(s, id, "7*25#", NULL, 200);
	assert_string_equal(node_of(o), "transfer_confirm");
	assert_int_equal(json_integer_value(data_of(o, "amount_cents")), 725);
	json_decref(o);
	o = step(s, id, "1", NULL, 200);
	assert_int_equal(strlen(json_string_value(data_of(o, "confirmation"))),
			 8);
	json_decref(o);
	o = step(s, id, "3", NULL, 200);
	assert_int_equal(json_integer_value(json_object_get(
				 json_array_get(data_of(o, "transactions"), 0),
				 "amount_cents")),
			 725);
	json_decref(o);
	snprintf(url, sizeof(url), "%s/calls/%s", s->base, id);
	assert_int_equal(ts_http("DELETE", url, NULL, NULL, NULL), 200);
	assert_int_equal(ts_http("DELETE", url, NULL, NULL, NULL), 404);
	snprintf(url, sizeof(url), "%s/calls", s->base);
	assert_int_equal(ts_http("GET", url, NULL, NULL, &o), 200);
	assert_int_equal(json_integer_value(json_object_get(o, "active")), 0);
	json_decref(o);
	/* Nothing secret reached the log. */
	log = ts_read_file(s->log);
	assert_null(strstr(log, cred(s, 0, "pin", 0)));
	assert_null(strstr(log, cred(s, 0, "number", 0)));
	assert_non_null(strstr(log, "caller authentication"));
	free(log);
	free(id);
}

static void
test_runtime__locks_an_account_across_calls(void **state)
{
	struct server *s = *state;
	const char *wrong =
		strcmp(cred(s, 2, "pin", 0), "0000") ? "0000" : "1111";
	char keys[16];
	json_t *o;

	snprintf(keys, sizeof(keys), "%s#", cred(s, 2, "number", 0));
	for (int call = 0; call < 3; call++) {
		char *id;

		o = start_call(s);
		id = strdup(json_string_value(json_object_get(o, "call_id")));
		json_decref(o);
		json_decref(step(s, id, keys, NULL, 200));
		o = step(s, id, wrong, NULL, 200);
		if (call < 2) {
			assert_string_equal(node_of(o), "ask_account");
			assert_false(json_is_true(data_of(o, "authenticated")));
		} else {
			assert_true(json_is_true(json_object_get(o, "ended")));
			assert_string_equal(
				json_string_value(json_object_get(o, "end")),
				"agent");
		}
		json_decref(o);
		free(id);
	}
	o = start_call(s);
	{
		char *id = strdup(
			json_string_value(json_object_get(o, "call_id")));

		json_decref(o);
		json_decref(step(s, id, keys, NULL, 200));
		o = step(s, id, cred(s, 2, "pin", 0), NULL, 200);
		assert_non_null(
			strstr(json_string_value(json_array_get(
				       json_object_get(o, "prompts"), 0)),
			       "locked"));
		free(id);
	}
	json_decref(o);
}

static void
test_runtime__replayed_confirm_gives_the_same_answer(void **state)
{
	struct server *s = *state;
	char *id = login(s, 1), from[8], to[8], body[160], url[160];
	char *first = NULL, *again = NULL;
	const char *token;
	struct bank *b;
	struct bank_ledger l;
	json_t *o, *r;

	snprintf(from, sizeof(from), "%s", cred(s, 1, "number", 0) + 4);
	snprintf(to, sizeof(to), "%s", cred(s, 1, "number", 1) + 4);
	json_decref(step(s, id, "2", NULL, 200));
	json_decref(step(s, id, from, NULL, 200));
	json_decref(step(s, id, to, NULL, 200));
	o = step(s, id, "100#", NULL, 200);
	token = json_string_value(data_of(o, "transfer_token"));
	assert_non_null(token);
	snprintf(url, sizeof(url), "%s/calls/%s/input", s->base, id);
	snprintf(body, sizeof(body), "{\"digits\":\"1\",\"token\":\"%s\"}",
		 token);
	/* The same request twice under one Idempotency-Key: one answer. */
	assert_int_equal(ts_http_text("POST", url, body,
				      "Idempotency-Key: confirm-1", &first),
			 200);
	assert_int_equal(ts_http_text("POST", url, body,
				      "Idempotency-Key: confirm-1", &again),
			 200);
	assert_string_equal(first, again);
	/* Without the key, the token still stops a second transfer. */
	assert_int_equal(ts_http("POST", url, body, NULL, &r), 200);
	assert_true(json_is_true(data_of(r, "replayed")));
	assert_non_null(
		strstr(first, json_string_value(data_of(r, "confirmation"))));
	b = server_bank(s);
	assert_int_equal(bank_ledger(&l, b, NULL), 0);
	assert_int_equal(l.transfers, 1);
	assert_int_equal(l.total_cents, l.seeded_total_cents);
	bank_close(b);
	json_decref(r);
	json_decref(o);
	free(first);
	free(again);
	free(id);
}

#define CALLERS	       20
#define TRANSFERS_EACH 6

struct caller {
	struct server *s;
	size_t customer;
	unsigned seed;
	int acknowledged;
	int failures;
	char confirmations[TRANSFERS_EACH][BANK_CONFIRMATION_LEN + 1];
};

/* One caller: log in, then transfers back and forth at random. */
static void *
caller_run(void *arg)
{
	struct caller *c = arg;
	struct server *s = c->s;
	json_t *o = NULL;
	char *id = NULL, keys[16], amount[16];

	o = start_call(s);
	id = strdup(json_string_value(json_object_get(o, "call_id")));
	json_decref(o);
	snprintf(keys, sizeof(keys), "%s#", cred(s, c->customer, "number", 0));
	json_decref(step(s, id, keys, NULL, 200));
	json_decref(step(s, id, cred(s, c->customer, "pin", 0), NULL, 200));
	for (int i = 0; i < TRANSFERS_EACH; i++) {
		int dir = rand_r(&c->seed) % 2;

		json_decref(step(s, id, "2", NULL, 200));
		json_decref(step(s, id, cred(s, c->customer, "number", dir) + 4,
				 NULL, 200));
		json_decref(step(s, id,
				 cred(s, c->customer, "number", 1 - dir) + 4,
				 NULL, 200));
		snprintf(amount, sizeof(amount), "%d#",
			 1 + rand_r(&c->seed) % 5000);
		o = step(s, id, amount, NULL, 200);
		if (strcmp(node_of(o), "transfer_confirm") != 0) {
			c->failures++; /* e.g. not enough money */
			json_decref(o);
			continue;
		}
		json_decref(o);
		o = step(s, id, "1", NULL, 200);
		if (json_is_string(data_of(o, "confirmation")))
			snprintf(c->confirmations[c->acknowledged++],
				 BANK_CONFIRMATION_LEN + 1, "%s",
				 json_string_value(data_of(o, "confirmation")));
		json_decref(o);
	}
	json_decref(step(s, id, "0", NULL, 200));
	free(id);
	return NULL;
}

static void
test_runtime__concurrent_transfers_conserve_money(void **state)
{
	struct server *s = *state, peer;
	struct caller callers[CALLERS];
	pthread_t threads[CALLERS];
	struct bank_ledger l;
	struct bank *b;
	int acknowledged = 0;

	/* Two processes share the database, as two hosts share the bank's:
	 * the two callers of each customer land on different ones. */
	peer_start(&peer, s);
	for (int i = 0; i < CALLERS; i++) {
		callers[i] = (struct caller){ .s = i % 2 ? &peer : s,
					      .customer = (size_t)i / 2,
					      .seed = (unsigned)i * 7919 };
		assert_int_equal(pthread_create(&threads[i], NULL, caller_run,
						&callers[i]),
				 0);
	}
	for (int i = 0; i < CALLERS; i++)
		pthread_join(threads[i], NULL);
	ts_stop(peer.pid, SIGTERM, 10000);
	b = server_bank(s);
	for (int i = 0; i < CALLERS; i++) {
		for (int k = 0; k < callers[i].acknowledged; k++) {
			int64_t n = 0;

			assert_int_equal(
				bank_transfer_count(&n, b,
						    callers[i].confirmations[k],
						    NULL),
				0);
			assert_int_equal(n, 1);
		}
		acknowledged += callers[i].acknowledged;
	}
	assert_int_equal(bank_ledger(&l, b, NULL), 0);
	printf("concurrent callers: %d on 2 processes, transfers "
	       "acknowledged: %d, in the "
	       "ledger: %lld, total %lld cents (seeded %lld), unbalanced "
	       "accounts: %lld\n",
	       CALLERS, acknowledged, (long long)l.transfers,
	       (long long)l.total_cents, (long long)l.seeded_total_cents,
	       (long long)l.unbalanced_accounts);
	assert_true(acknowledged > CALLERS * TRANSFERS_EACH / 2);
	assert_int_equal(l.transfers, acknowledged);
	assert_int_equal(l.total_cents, l.seeded_total_cents);
	assert_int_equal(l.unbalanced_accounts, 0);
	bank_close(b);
}

static void
test_runtime__drain_lets_calls_finish_then_exits(void **state)
{
	struct server *s = *state;
	char *id = login(s, 3), url[128], *log;
	json_t *o;
	int status;

	kill(s->pid, SIGTERM);
	snprintf(url, sizeof(url), "%s/readyz", s->base);
	for (int i = 0; i < 50; i++)
		if (ts_http("GET", url, NULL, NULL, NULL) == 503)
			break;
	assert_int_equal(ts_http("GET", url, NULL, NULL, &o), 503);
	assert_string_equal(json_string_value(json_object_get(o, "reason")),
			    "draining");
	json_decref(o);
	snprintf(url, sizeof(url), "%s/calls", s->base);
	assert_int_equal(ts_http("POST", url, "{}", NULL, NULL), 503);
	/* The call in progress goes on, on new connections, to its end. */
	o = step(s, id, "1", NULL, 200);
	json_decref(o);
	o = step(s, id, "0", NULL, 200);
	assert_true(json_is_true(json_object_get(o, "ended")));
	json_decref(o);
	status = ts_wait_exit(s->pid, 5000);
	assert_true(status != -1 && WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	s->pid = -1;
	log = ts_read_file(s->log);
	assert_non_null(strstr(log, "drained: stopping calls_cut=0"));
	free(log);
	free(id);
}

static void
test_runtime__drain_deadline_reports_cut_calls(void **state)
{
	struct server *s = *state;
	char *id = login(s, 4), *log;
	int status;

	kill(s->pid, SIGTERM);
	status = ts_wait_exit(s->pid, 8000); /* the deadline is 3s */
	assert_true(status != -1 && WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	s->pid = -1;
	log = ts_read_file(s->log);
	assert_non_null(strstr(log, "warn runtime: drained: stopping "
				    "calls_cut=1"));
	free(log);
	free(id);
}

#define FORM	 "Content-Type: application/x-www-form-urlencoded"
#define VXML_DIR IVR_SOURCE_DIR "/tests/data/vxml21"

struct vxml_call {
	struct server *s;
	char id[40];
	char token[40];
	char files[1024]; /* the documents saved, space separated */
	int count;
	char *doc; /* the last document */
};

/* Saves a document for validation and reads its call id and token. */
static void
keep_doc(struct vxml_call *v, char *doc)
{
	static const char id_var[] = "<var name=\"call_id\" expr=\"'";
	static const char token_var[] = "<var name=\"token\" expr=\"'";
	char path[160], *p;
	FILE *f;

	snprintf(path, sizeof(path), "%s/step%02d.vxml", v->s->dir, v->count++);
	f = fopen(path, "w");
	fputs(doc, f);
	fclose(f);
	strcat(v->files, " ");
	strcat(v->files, path);
	if ((p = strstr(doc, id_var)) != NULL)
		sscanf(p + strlen(id_var), "%32[0-9a-f]", v->id);
	v->token[0] = '\0';
	if ((p = strstr(doc, token_var)) != NULL)
		sscanf(p + strlen(token_var), "%32[0-9a-f]", v->token);
	free(v->doc);
	v->doc = doc;
}

static void
vxml_submit(struct vxml_call *v, const char *fields)
{
	char url[128], body[256], *doc = NULL;

	snprintf(url, sizeof(url), "%s/vxml/step", v->s->base);
	snprintf(body, sizeof(body), "call_id=%s&%s", v->id, fields);
	if (ts_http_text("POST", url, body, FORM, &doc) != 200)
		fail_msg("submit '%s' answered: %s", body, doc);
	keep_doc(v, doc);
}

static void
vxml_keys(struct vxml_call *v, const char *keys)
{
	char fields[128];

	snprintf(fields, sizeof(fields), "digits=%s&token=%s", keys, v->token);
	vxml_submit(v, fields);
}

static void
assert_valid_vxml(const char *dir, const char *files)
{
	char cmd[2048], out[160];
	const char *argv[] = { "sh", "-c", cmd, NULL };

	snprintf(cmd, sizeof(cmd),
		 "XML_CATALOG_FILES=%s/catalog.xml xmllint --nonet --noout "
		 "--schema %s/vxml.xsd %s",
		 VXML_DIR, VXML_DIR, files);
	snprintf(out, sizeof(out), "%s/xmllint.out", dir);
	assert_int_equal(ts_run(argv, out), 0);
}

static void
test_runtime__voicexml_call_validates_at_every_step(void **state)
{
	struct server *s = *state;
	struct vxml_call v = { .s = s };
	char url[128], *doc = NULL, keys[16], late[80];

	snprintf(url, sizeof(url), "%s/vxml", s->base);
	assert_int_equal(ts_http_text("GET", url, NULL, NULL, &doc), 200);
	keep_doc(&v, doc);
	assert_int_equal(strlen(v.id), 32);
	assert_non_null(strstr(v.doc, "<prompt>Welcome to Example Bank"));
	snprintf(keys, sizeof(keys), "%s", cred(s, 6, "number", 0));
	vxml_keys(&v, keys);
	vxml_keys(&v, cred(s, 6, "pin", 0));
	assert_non_null(strstr(v.doc, "For your balances, press 1."));
	vxml_keys(&v, "1");
	assert_non_null(strstr(v.doc, "has a balance of"));
	vxml_keys(&v, "2");
	vxml_keys(&v, cred(s, 6, "number", 0) + 4);
	vxml_keys(&v, cred(s, 6, "number", 1) + 4);
	vxml_keys(&v, "5%2A5"); /* 5*5: the star, form-encoded */
	assert_int_equal(strlen(v.token), 32);
	assert_non_null(strstr(v.doc, "You are moving \xc2\xa3"
				      "5.50"));
	vxml_keys(&v, "1");
	assert_non_null(strstr(v.doc, "Your confirmation number is "));
	vxml_submit(&v, "event=noinput");
	assert_non_null(strstr(v.doc, "Sorry, I did not hear anything."));
	vxml_submit(&v, "event=nomatch");
	assert_non_null(strstr(v.doc, "Sorry, that is not a valid entry."));
	vxml_keys(&v, "0");
	assert_non_null(strstr(v.doc, "<transfer name=\"adviser\""));
	/* The call has ended: a late submit hears it has. */
	snprintf(url, sizeof(url), "%s/vxml/step", s->base);
	snprintf(late, sizeof(late), "call_id=%s&digits=1", v.id);
	assert_int_equal(ts_http_text("POST", url, late, FORM, &doc), 404);
	keep_doc(&v, doc);
	assert_valid_vxml(s->dir, v.files);
	free(v.doc);
}

static void
test_runtime__answers_bad_requests_with_json_errors(void **state)
{
	struct server *s = *state;
	char url[200];
	json_t *o = start_call(s), *e;
	const char *id = json_string_value(json_object_get(o, "call_id"));

	snprintf(url, sizeof(url), "%s/calls/%s/input", s->base, id);
	assert_int_equal(ts_http("POST", url, "{\"digits\":", NULL, &e), 400);
	assert_non_null(strstr(json_string_value(json_object_get(e, "error")),
			       "malformed JSON"));
	json_decref(e);
	assert_int_equal(ts_http("POST", url, "{\"digits\":\"12x\"}", NULL, &e),
			 400);
	assert_string_equal(json_string_value(json_object_get(e, "error")),
			    "'digits' must be 1 to 33 keys from 0-9, * and #");
	json_decref(e);
	assert_int_equal(
		ts_http("POST", url, "{\"digits\":\"1\",\"x\":1}", NULL, NULL),
		400);
	assert_int_equal(ts_http("GET", url, NULL, NULL, NULL), 405);
	snprintf(url, sizeof(url), "%s/calls/%032d/input", s->base, 0);
	assert_int_equal(ts_http("POST", url, "{\"digits\":\"1\"}", NULL, &e),
			 404);
	assert_string_equal(json_string_value(json_object_get(e, "error")),
			    "no such call");
	json_decref(e);
	snprintf(url, sizeof(url), "%s/nowhere", s->base);
	assert_int_equal(ts_http("GET", url, NULL, NULL, NULL), 404);
	json_decref(o);
}

static void
test_runtime__refuses_an_oversize_body_in_the_route_s_language(void **state)
{
	struct server *s = *state;
	size_t n = 17 * 1024; /* over the default 16 KiB */
	char url[200], *big = malloc(n + 1), *doc = NULL;
	json_t *e = NULL;

	memset(big, 'x', n);
	memcpy(big, "{\"digits\":\"", 11);
	big[n] = '\0';
	snprintf(url, sizeof(url), "%s/calls", s->base);
	assert_int_equal(ts_http("POST", url, big, NULL, &e), 413);
	assert_string_equal(json_string_value(json_object_get(e, "error")),
			    "the request body is too large");
	json_decref(e);
	/* A VoiceXML browser hears a VoiceXML document, not JSON. */
	memcpy(big, "call_id=1&digits=", 17);
	snprintf(url, sizeof(url), "%s/vxml/step", s->base);
	assert_int_equal(ts_http_text("POST", url, big, FORM, &doc), 413);
	assert_non_null(strstr(doc, "<vxml"));
	free(doc);
	free(big);
}

static void
test_runtime__refuses_calls_past_capacity(void **state)
{
	static const char *const extra[] = { "--max-calls", "2", NULL };
	struct server s;
	char url[128], *head = NULL;

	(void)state;
	server_start(&s, extra);
	json_decref(start_call(&s));
	json_decref(start_call(&s));
	snprintf(url, sizeof(url), "%s/calls", s.base);
	assert_int_equal(ts_http_headers("POST", url, "{}", NULL, NULL, &head),
			 503);
	assert_non_null(strstr(head, "Retry-After: 5"));
	free(head);
	{
		char *doc = NULL, path[160];
		FILE *f;

		snprintf(url, sizeof(url), "%s/vxml", s.base);
		assert_int_equal(ts_http_text("GET", url, NULL, NULL, &doc),
				 503);
		assert_non_null(strstr(doc, "all our lines are busy"));
		snprintf(path, sizeof(path), "%s/busy.vxml", s.dir);
		f = fopen(path, "w");
		fputs(doc, f);
		fclose(f);
		assert_valid_vxml(s.dir, path);
		free(doc);
	}
	server_stop(&s);
}

static void
test_runtime__metrics_pass_promtool(void **state)
{
	struct server *s = *state;
	char *id = login(s, 5), url[128], path[160], cmd[256], *text = NULL;
	FILE *f;

	json_decref(step(s, id, "1", NULL, 200));
	snprintf(url, sizeof(url), "%s/metrics", s->base);
	assert_int_equal(ts_http_text("GET", url, NULL, NULL, &text), 200);
	/* Every series names the release, for canary analysis. */
	assert_non_null(
		strstr(text, "ivr_calls_active{release=\"0.1.0\"} 1\n"));
	assert_non_null(strstr(
		text, "ivr_build_info{version=\"0.1.0\",release=\"0.1.0\"} 1"));
	assert_non_null(
		strstr(text, "ivr_http_requests_total{route=\"/calls\","));
	assert_non_null(strstr(
		text, "ivr_step_duration_seconds_count{release=\"0.1.0\"} "));
	/* login and one menu step answered 201 and 200; the login's bank
	 * operation timed */
	assert_non_null(strstr(text, "ivr_call_steps_total{outcome=\"ok\","
				     "release=\"0.1.0\"} "));
	assert_non_null(strstr(text, "ivr_call_steps_total{outcome=\"error\","
				     "release=\"0.1.0\"} 0\n"));
	assert_non_null(strstr(text,
			       "ivr_db_operation_duration_seconds_count{op=\""
			       "authenticate\",release=\"0.1.0\"} 1\n"));
	assert_non_null(strstr(text, "ivr_db_errors_total{op=\"balances\","
				     "release=\"0.1.0\"} 0\n"));
	assert_non_null(strstr(text, "ivr_auth_lockouts_total{release=\""
				     "0.1.0\"} 0\n"));
	/* The process's own figures, plausible for a live server. */
	{
		const char *r =
			strstr(text, "\nprocess_resident_memory_bytes{");
		const char *fd = strstr(text, "\nprocess_open_fds{");
		const char *cpu = strstr(text, "\nprocess_cpu_seconds_total{");
		const char *st = strstr(text, "\nprocess_start_time_seconds{");

		assert_non_null(r);
		assert_non_null(fd);
		assert_non_null(cpu);
		assert_non_null(st);
		/* each value follows the labels' closing brace and a space */
		assert_true(strtod(strchr(r, '}') + 2, NULL) > 1e6);
		assert_true(strtol(strchr(fd, '}') + 2, NULL, 10) >= 4);
		assert_true(strtod(strchr(cpu, '}') + 2, NULL) > 0);
		assert_true(strtod(strchr(st, '}') + 2, NULL) > 1.7e9);
	}
	assert_null(strstr(text, id));
	assert_null(strstr(text, cred(s, 5, "number", 0)));
	snprintf(path, sizeof(path), "%s/metrics.txt", s->dir);
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "promtool check metrics < '%s'", path);
	{
		const char *argv[] = { "sh", "-c", cmd, NULL };
		char out[160];

		snprintf(out, sizeof(out), "%s/promtool.out", s->dir);
		assert_int_equal(ts_run(argv, out), 0);
	}
	free(text);
	free(id);
}

/*
 * A runtime never migrates an existing database: with an expand migration
 * of its release missing it refuses to start, saying what to run; a
 * pending contract migration does not stop it.  `ivr-runtime migrate`
 * (the migration role) records the deployment that applied it.
 */
static void
test_runtime__refuses_a_schema_older_than_it_needs(void **state)
{
	struct server *s = *state, peer = *s;
	char dir[160], log[160], path[600], port[16], *out;
	const char *argv[16] = { IVR_RUNTIME_BIN, "--port", port,
				 "--migrations", dir };
	const char *mig[16] = { IVR_RUNTIME_BIN,   "migrate",
				"--migrations",	   dir,
				"--deployment-id", "d-runtime-test" };
	int n = 5, k = 6;
	FILE *f;

	snprintf(dir, sizeof(dir), "%s/db", s->dir);
	snprintf(path, sizeof(path), "mkdir -p '%s' && cp '%s'/0*.sql '%s'/",
		 dir, bankfix_migrations(), dir);
	assert_int_equal(system(path), 0);
	snprintf(path, sizeof(path), "%s/002_nickname.sql", dir);
	f = fopen(path, "w");
	fputs("-- kind: expand\nALTER TABLE accounts ADD COLUMN nickname "
	      "text;\n",
	      f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/003_drop_later.sql", dir);
	f = fopen(path, "w");
	fputs("-- kind: contract\nALTER TABLE accounts DROP COLUMN "
	      "nickname;\n",
	      f);
	fclose(f);
	db_flags(argv, &n, &peer, "ivr_app");
	argv[n] = NULL;
	snprintf(port, sizeof(port), "%d", ts_free_port());
	snprintf(log, sizeof(log), "%s/older.log", s->dir);
	assert_int_equal(ts_run(argv, log), 1);
	out = ts_read_file(log);
	assert_non_null(strstr(out, "the database schema is older than this "
				    "release needs: 1 expand migration(s) "
				    "missing, first 002_nickname.sql"));
	free(out);
	db_flags(mig, &k, &peer, "ivr_migrate");
	mig[k] = NULL;
	assert_int_equal(ts_run(mig, log), 0);
	out = ts_read_file(log);
	assert_non_null(strstr(out, "applied 1 expand migration(s)"));
	assert_non_null(strstr(out, "003_drop_later.sql contract pending"));
	free(out);
	/* the contract one is still pending: the runtime starts anyway */
	snprintf(peer.log, sizeof(peer.log), "%s/newer.log", s->dir);
	snprintf(peer.base, sizeof(peer.base), "http://127.0.0.1:%s", port);
	peer.pid = ts_spawn(argv, peer.log);
	snprintf(path, sizeof(path), "%s/readyz", peer.base);
	assert_true(ts_wait_http_ok(path, 10000));
	ts_stop(peer.pid, SIGTERM, 10000);
}

static void
test_runtime__bad_config_stops_start_up_with_places(void **state)
{
	char dir[64], path[128], log[128], *out;
	const char *argv[] = { IVR_RUNTIME_BIN, "check", "--config", path,
			       NULL };
	FILE *f;

	(void)state;
	ts_tmpdir(dir, "runtime-config");
	snprintf(path, sizeof(path), "%s/runtime.yaml", dir);
	snprintf(log, sizeof(log), "%s/out.log", dir);
	f = fopen(path, "w");
	fputs("listen:\n  prot: 8080\n  threads: many\ncalls:\n"
	      "  idle_timeout: 5x\n",
	      f);
	fclose(f);
	assert_int_equal(ts_run(argv, log), 2);
	out = ts_read_file(log);
	assert_non_null(strstr(out, "runtime.yaml:2:3: unknown key 'prot' "
				    "(did you mean 'port'?)\n"));
	assert_non_null(strstr(out,
			       "runtime.yaml:3:12: 'threads': invalid "
			       "number 'many': expected a whole number\n"));
	assert_non_null(strstr(out, "runtime.yaml:5:17: 'idle_timeout': "
				    "invalid duration '5x'"));
	free(out);
	ts_rmrf(dir);
}

static void
test_runtime__admin_drain_needs_the_token(void **state)
{
	static const char token[] = "s3cret-admin-token-0123456789";
	char dir[64], path[160], url[128];
	const char *extra[] = { "--admin-token-file", path, NULL };
	struct server s;
	FILE *f;
	int status;

	(void)state;
	ts_tmpdir(dir, "admin");
	snprintf(path, sizeof(path), "%s/admin.token", dir);
	f = fopen(path, "w");
	fprintf(f, "%s\n", token);
	fclose(f);
	server_start(&s, extra);
	snprintf(url, sizeof(url), "%s/admin/drain", s.base);
	assert_int_equal(ts_http("POST", url, "", NULL, NULL), 403);
	assert_int_equal(ts_http("POST", url, "",
				 "Authorization: Bearer wrong-token-0123456789",
				 NULL),
			 403);
	{
		char auth[96];
		json_t *o;

		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
		assert_int_equal(ts_http("POST", url, "", auth, &o), 200);
		assert_true(json_is_true(json_object_get(o, "draining")));
		json_decref(o);
	}
	/* No call in progress: the drain ends at once, exit 0. */
	status = ts_wait_exit(s.pid, 5000);
	assert_true(status != -1 && WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	s.pid = -1;
	server_stop(&s);
	ts_rmrf(dir);
}

static void
test_runtime__reaps_abandoned_calls(void **state)
{
	static const char *const extra[] = { "--idle-timeout", "1s", NULL };
	struct server s;
	char url[200], count[128], *text = NULL;
	json_t *o;

	(void)state;
	server_start(&s, extra);
	o = start_call(&s);
	snprintf(url, sizeof(url), "%s/calls/%s/input", s.base,
		 json_string_value(json_object_get(o, "call_id")));
	json_decref(o);
	snprintf(count, sizeof(count), "%s/calls", s.base);
	for (int i = 0; i < 40; i++) {
		json_int_t active;

		assert_int_equal(ts_http("GET", count, NULL, NULL, &o), 200);
		active = json_integer_value(json_object_get(o, "active"));
		json_decref(o);
		if (active == 0)
			break;
		usleep(100 * 1000);
	}
	assert_int_equal(ts_http("POST", url, "{\"digits\":\"1\"}", NULL, NULL),
			 404);
	snprintf(url, sizeof(url), "%s/metrics", s.base);
	assert_int_equal(ts_http_text("GET", url, NULL, NULL, &text), 200);
	assert_non_null(strstr(text, "ivr_calls_total{outcome=\"abandoned\","
				     "release=\"0.1.0\"} 1\n"));
	free(text);
	server_stop(&s);
}

/* Runs scripts/pg-sandbox.sh VERB on the cluster under test. */
static void
pg_sandbox(const char *verb)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd),
		 "%s/scripts/pg-sandbox.sh %s '%s' >/dev/null", IVR_SOURCE_DIR,
		 verb, bankfix_pg_dir());
	assert_int_equal(system(cmd), 0);
}

/* Stops (SIGSTOP) or resumes (SIGCONT) every process of the cluster: a
 * server that is there but does not answer, as behind a cut link. */
static void
pg_freeze(const char *sig)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd),
		 "pid=$(head -n1 '%s/data/postmaster.pid') && "
		 "pkill -%s -P \"$pid\"; kill -%s \"$pid\"",
		 bankfix_pg_dir(), sig, sig);
	assert_int_equal(system(cmd), 0);
}

/* Milliseconds until /readyz answers want (200 or 503), or -1. */
static double
readiness_turns(struct server *s, int want, int within_ms)
{
	struct timespec a, b;
	char url[128];

	snprintf(url, sizeof(url), "%s/readyz", s->base);
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (;;) {
		int got = ts_http("GET", url, NULL, NULL, NULL);
		double ms;

		clock_gettime(CLOCK_MONOTONIC, &b);
		ms = (double)(b.tv_sec - a.tv_sec) * 1e3 +
		     (double)(b.tv_nsec - a.tv_nsec) / 1e6;
		if (got == want)
			return ms;
		if (ms > within_ms)
			return -1;
		usleep(20 * 1000);
	}
}

/*
 * PostgreSQL stopped under a live server: readiness turns false within a
 * second; a call whose step needs the bank hears "try again later" and
 * ends (JSON and VoiceXML), nothing half done; when the server is back,
 * the runtime reconnects by itself and turns ready, and calls work.
 */
static void
test_runtime__database_outage_says_try_later_and_recovers(void **state)
{
	struct server *s = *state;
	struct vxml_call v = { .s = s };
	char url[128], body[160], *id, *doc = NULL, *metrics = NULL;
	double down_ms, up_ms;
	json_t *o;

	if (bankfix_pg_dir() == NULL)
		skip(); /* SQLite is a file beside the runtime */
	id = login(s, 2);
	snprintf(url, sizeof(url), "%s/vxml", s->base);
	assert_int_equal(ts_http_text("GET", url, NULL, NULL, &doc), 200);
	keep_doc(&v, doc);
	vxml_keys(&v, cred(s, 3, "number", 0));
	pg_sandbox("down");
	down_ms = readiness_turns(s, 503, 1000);
	assert_true(down_ms >= 0);
	/* JSON: the balances need the bank */
	snprintf(url, sizeof(url), "%s/calls/%s/input", s->base, id);
	assert_int_equal(ts_http("POST", url, "{\"digits\":\"1\"}", NULL, &o),
			 503);
	assert_true(json_is_true(json_object_get(o, "ended")));
	assert_string_equal(json_string_value(json_object_get(o, "end")),
			    "unavailable");
	assert_non_null(strstr(json_string_value(json_array_get(
				       json_object_get(o, "prompts"), 0)),
			       "Please try again later."));
	json_decref(o);
	/* the call has ended */
	assert_int_equal(ts_http("POST", url, "{\"digits\":\"1\"}", NULL, NULL),
			 404);
	/* VoiceXML: the PIN check needs the bank */
	snprintf(url, sizeof(url), "%s/vxml/step", s->base);
	snprintf(body, sizeof(body), "call_id=%s&digits=%s", v.id,
		 cred(s, 3, "pin", 0));
	assert_int_equal(ts_http_text("POST", url, body, FORM, &doc), 503);
	keep_doc(&v, doc);
	assert_non_null(strstr(v.doc, "Please try again later."));
	assert_non_null(strstr(v.doc, "<disconnect"));
	assert_valid_vxml(s->dir, v.files);
	pg_sandbox("start");
	up_ms = readiness_turns(s, 200, 10000);
	assert_true(up_ms >= 0);
	printf("database stopped: not ready after %.0f ms; started: ready "
	       "again after %.0f ms\n",
	       down_ms, up_ms);
	/* A server that stops answering: the open connection's ping gives
	 * up within the connect timeout (1 s) */
	pg_freeze("STOP");
	down_ms = readiness_turns(s, 503, 2500);
	pg_freeze("CONT");
	assert_true(down_ms >= 0);
	up_ms = readiness_turns(s, 200, 10000);
	assert_true(up_ms >= 0);
	printf("database silent: not ready after %.0f ms; answering: ready "
	       "again after %.0f ms\n",
	       down_ms, up_ms);
	free(id);
	id = login(s, 2);
	json_decref(step(s, id, "1", NULL, 200));
	snprintf(url, sizeof(url), "%s/metrics", s->base);
	assert_int_equal(ts_http_text("GET", url, NULL, NULL, &metrics), 200);
	assert_non_null(strstr(metrics,
			       "ivr_calls_total{outcome=\"unavailable\","
			       "release=\"0.1.0\"} 2\n"));
	free(metrics);
	free(id);
	free(v.doc);
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_runtime__serves_a_whole_call),
		T(test_runtime__locks_an_account_across_calls),
		T(test_runtime__replayed_confirm_gives_the_same_answer),
		T(test_runtime__concurrent_transfers_conserve_money),
		T(test_runtime__refuses_an_oversize_body_in_the_route_s_language),
		T(test_runtime__drain_lets_calls_finish_then_exits),
		T(test_runtime__drain_deadline_reports_cut_calls),
		T(test_runtime__voicexml_call_validates_at_every_step),
		T(test_runtime__answers_bad_requests_with_json_errors),
		T(test_runtime__database_outage_says_try_later_and_recovers),
		cmocka_unit_test(test_runtime__refuses_calls_past_capacity),
		T(test_runtime__metrics_pass_promtool),
		T(test_runtime__refuses_a_schema_older_than_it_needs),
		cmocka_unit_test(test_runtime__admin_drain_needs_the_token),
		cmocka_unit_test(test_runtime__reaps_abandoned_calls),
		cmocka_unit_test(
			test_runtime__bad_config_stops_start_up_with_places),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
