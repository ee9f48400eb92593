/*
 * http: see http.h.
 */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "bank.h"
#include "buf.h"
#include "hash.h"
#include "vxml.h"

#define RETRY_AFTER_S "5"
/* How long a call step waits for a database connection of the pool. */
#define POOL_WAIT_MS 2000

/* The fields a voice browser submits to /vxml/step. */
struct form {
	char call_id[CALLS_ID_LEN + 1];
	char digits[FLOW_MAX_DIGITS + 2];
	char event[16];
	char token[ENGINE_TOKEN_LEN + 1];
};

/* One HTTP request in progress (libmicrohttpd's per-request pointer). */
struct request {
	struct buf body;
	bool too_large;
	int64_t started_us;
	struct MHD_PostProcessor *pp; /* form bodies (VoiceXML submits) */
	bool form_read;		      /* pp finished: every field is in */
	struct form form;
	bool no_client_cert; /* listen.tls.client_ca and none verified */
};

/*
 * One request's answer: sent on a libmicrohttpd connection, or, with
 * conn NULL (http_exchange: the fuzz target and tests drive the handlers
 * without a socket), captured here with the request's headers given as
 * name/value pairs.
 */
struct exchange {
	struct MHD_Connection *conn;
	const char *const *headers; /* captured: name, value, ..., NULL */
	unsigned status;
	const char *type;
	char *text;
	size_t len;
};

/* A request header's value, or NULL. */
static const char *
header(const struct exchange *x, const char *name)
{
	if (x->conn != NULL)
		return MHD_lookup_connection_value(x->conn, MHD_HEADER_KIND,
						   name);
	for (const char *const *h = x->headers; h && h[0] && h[1]; h += 2)
		if (strcasecmp(h[0], name) == 0)
			return h[1];
	return NULL;
}

static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/*
 * Whether the database answers, on readiness's own connection (so that
 * busy call steps never make a server look down): within the connect
 * timeout, and a second more when another check holds it.
 */
static bool
database_ready(struct http_server *srv, struct err *err)
{
	struct bank_config bc;
	struct timespec until;
	bool ok;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 1;
	if (pthread_mutex_timedlock(&srv->probe_lock, &until) != 0) {
		err_set(err, ERR_BUSY, "a readiness check is still waiting");
		return false;
	}
	config_bank(&bc, srv->cfg);
	if (srv->probe == NULL)
		(void)bank_connect(&srv->probe, &bc, err);
	ok = srv->probe != NULL && bank_ping(srv->probe, err) == 0;
	pthread_mutex_unlock(&srv->probe_lock);
	return ok;
}

static enum MHD_Result
send_text(struct exchange *x, struct http_server *srv, enum metrics_route route,
	  unsigned status, const char *type, char *text, size_t len)
{
	struct MHD_Response *r;
	enum MHD_Result ok;

	metrics_http(&srv->metrics, route, status);
	x->status = status;
	if (x->conn == NULL) { /* captured: http_exchange's caller reads it */
		free(x->text);
		x->text = text;
		x->len = len;
		x->type = type;
		return MHD_YES;
	}
	if ((r = MHD_create_response_from_buffer(
		     len, text, MHD_RESPMEM_MUST_FREE)) == NULL) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(r, "X-IVR-Version", srv->version);
	/* A balancer without cookies of its own (nginx) keeps a call on
	 * this server by this cookie. */
	if (srv->affinity[0] != '\0')
		MHD_add_response_header(r, MHD_HTTP_HEADER_SET_COOKIE,
					srv->affinity);
	if (status == MHD_HTTP_SERVICE_UNAVAILABLE)
		MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER,
					RETRY_AFTER_S);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW,
					"GET, POST, DELETE");
	ok = MHD_queue_response(x->conn, status, r);
	MHD_destroy_response(r);
	return ok;
}

/* Sends obj (stolen) as JSON. */
static enum MHD_Result
send_json(struct exchange *x, struct http_server *srv, enum metrics_route route,
	  unsigned status, json_t *obj)
{
	char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;

	json_decref(obj);
	if (text == NULL)
		return MHD_NO;
	return send_text(x, srv, route, status, "application/json", text,
			 strlen(text));
}

static enum MHD_Result
send_error(struct exchange *x, struct http_server *srv,
	   enum metrics_route route, unsigned status, const char *message)
{
	return send_json(x, srv, route, status,
			 json_pack("{s:s}", "error", message));
}

static enum MHD_Result
get_healthz(struct exchange *x, struct http_server *srv)
{
	return send_json(x, srv, METRICS_ROUTE_HEALTHZ, MHD_HTTP_OK,
			 json_pack("{s:s, s:s}", "status", "alive", "version",
				   srv->version));
}

static enum MHD_Result
get_readyz(struct exchange *x, struct http_server *srv)
{
	struct err e;
	const char *why = NULL;
	char expires[32] = "";
	struct tm tm;

	if (http_draining(srv))
		why = "draining";
	else if (!database_ready(srv, &e))
		why = "database unavailable";
	if (srv->tls.cert != NULL)
		strftime(expires, sizeof(expires), "%Y-%m-%dT%H:%M:%SZ",
			 gmtime_r(&srv->tls.not_after, &tm));
	return send_json(x, srv, METRICS_ROUTE_READYZ,
			 why ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_OK,
			 json_pack("{s:b, s:s, s:s*, s:s*}", "ready",
				   why == NULL, "version", srv->version,
				   "reason", why, "certificate_expires",
				   expires[0] ? expires : NULL));
}

static enum MHD_Result
get_version(struct exchange *x, struct http_server *srv)
{
	return send_json(x, srv, METRICS_ROUTE_VERSION, MHD_HTTP_OK,
			 json_pack("{s:s, s:s, s:s}", "version", srv->version,
				   "build_id", srv->build_id, "flow",
				   srv->engine.flow->name));
}

static enum MHD_Result
get_metrics(struct exchange *x, struct http_server *srv)
{
	struct buf b;
	size_t len;
	char *text;

	buf_init(&b, 1024 * 1024);
	if (metrics_render(&b, &srv->metrics, calls_active(&srv->calls),
			   http_draining(srv), NULL) < 0) {
		buf_release(&b);
		return send_error(x, srv, METRICS_ROUTE_METRICS,
				  MHD_HTTP_INTERNAL_SERVER_ERROR,
				  "cannot render metrics");
	}
	text = buf_detach(&b, &len);
	return send_text(x, srv, METRICS_ROUTE_METRICS, MHD_HTTP_OK,
			 "text/plain; version=0.0.4; charset=utf-8", text, len);
}

static enum metrics_outcome
outcome_of(const struct call_state *st)
{
	return st->end == FLOW_END_AGENT ? METRICS_CALL_AGENT
					 : METRICS_CALL_HANGUP;
}

/* The answer to a step: what the caller hears and what to collect. */
static json_t *
step_body(struct http_server *srv, const struct call *c,
	  const struct engine_out *out)
{
	json_t *o = json_pack("{s:s, s:O, s:s?, s:b}", "call_id", c->id,
			      "prompts", out->prompts, "node",
			      c->st.node ? c->st.node->name : NULL, "ended",
			      c->st.ended);

	if (o == NULL)
		return NULL;
	engine_collect(&srv->engine, &c->st, o);
	if (c->st.ended)
		json_object_set_new(o, "end",
				    json_string(c->st.end == FLOW_END_AGENT
							? "agent"
							: "hangup"));
	if (json_object_size(out->data) > 0)
		json_object_set(o, "data", out->data);
	return o;
}

/* Parses a request body that must be empty or a JSON object. */
static json_t *
body_object(const struct request *req, char *why, size_t size)
{
	json_error_t jerr;
	json_t *o;

	if (req->body.len == 0)
		return json_object();
	o = json_loadb(req->body.data, req->body.len, JSON_REJECT_DUPLICATES,
		       &jerr);
	if (o == NULL) {
		snprintf(why, size, "malformed JSON at column %d: %s",
			 jerr.column, jerr.text);
		return NULL;
	}
	if (!json_is_object(o)) {
		snprintf(why, size, "the body must be a JSON object");
		json_decref(o);
		return NULL;
	}
	return o;
}

/* One step's input; digits and event NULL for the start of a call. */
struct step_input {
	const char *digits;
	const char *event; /* "noinput" or "nomatch" */
	const char *token;
};

/* Runs one step of c (its lock held) and fills out. */
static int
run_step(struct http_server *srv, struct call *c, const struct step_input *in,
	 struct engine_out *out, struct err *err)
{
	struct bank *b = NULL;
	int rc;

	if ((rc = bank_pool_get(&b, srv->pool, POOL_WAIT_MS, err)) < 0)
		return rc;
	if ((rc = engine_out_init(out, err)) < 0) {
		bank_pool_put(srv->pool, b);
		return rc;
	}
	if (in->digits != NULL)
		rc = engine_digits(&srv->engine, &c->st, b, in->digits,
				   in->token, out, err);
	else if (in->event == NULL)
		rc = engine_start(&srv->engine, &c->st, b, out, err);
	else if (strcmp(in->event, "noinput") == 0)
		rc = engine_noinput(&srv->engine, &c->st, b, out, err);
	else
		rc = engine_nomatch(&srv->engine, &c->st, b, out, err);
	bank_pool_put(srv->pool, b);
	__atomic_store_n(&c->last_ms, calls_now_ms(), __ATOMIC_RELAXED);
	if (rc < 0)
		engine_out_release(out);
	return rc;
}

/* After a step: an ended call leaves the table and is counted. */
static void
finish_step(struct http_server *srv, struct call *c)
{
	if (!c->st.ended)
		return;
	calls_remove(&srv->calls, c);
	metrics_call_ended(&srv->metrics, outcome_of(&c->st));
}

/* Whether a failed step failed because the bank could not be reached
 * in time (the caller may try again later; nothing was half done). */
static bool
bank_fault(int rc)
{
	return rc == ERR_IO || rc == ERR_TIMEOUT || rc == ERR_BUSY;
}

static const char *const try_later =
	"We cannot reach your accounts right now. Nothing has been "
	"changed. Please try again later. Goodbye.";

/* The answer to a step the bank failed: the call ends with an apology. */
static enum MHD_Result
send_unavailable(struct exchange *x, struct http_server *srv,
		 enum metrics_route route, const char *call_id)
{
	metrics_call_ended(&srv->metrics, METRICS_CALL_UNAVAILABLE);
	return send_json(x, srv, route, MHD_HTTP_SERVICE_UNAVAILABLE,
			 json_pack("{s:s, s:s, s:[s], s:b, s:s}", "error",
				   "the bank is unavailable: try again later",
				   "call_id", call_id, "prompts", try_later,
				   "ended", 1, "end", "unavailable"));
}

/* Runs a step and renders it as JSON into *body. */
static int
json_step(struct http_server *srv, struct call *c, const struct step_input *in,
	  json_t **body, struct err *err)
{
	struct engine_out out;
	int rc = run_step(srv, c, in, &out, err);

	if (rc < 0)
		return rc;
	*body = step_body(srv, c, &out);
	engine_out_release(&out);
	finish_step(srv, c);
	return 0;
}

static enum MHD_Result
post_calls(struct exchange *x, struct http_server *srv,
	   const struct request *req)
{
	static const char *const keys[] = { "caller", NULL };
	const struct step_input start = { NULL, NULL, NULL };
	json_t *in, *body = NULL, *v;
	char why[256], id[CALLS_ID_LEN + 1];
	struct call *c;
	const char *key;
	struct err e;
	int rc;

	if ((in = body_object(req, why, sizeof(why))) == NULL)
		return send_error(x, srv, METRICS_ROUTE_CALLS,
				  MHD_HTTP_BAD_REQUEST, why);
	json_object_foreach (in, key, v) {
		if (strcmp(key, keys[0]) != 0 || !json_is_string(v)) {
			json_decref(in);
			return send_error(x, srv, METRICS_ROUTE_CALLS,
					  MHD_HTTP_BAD_REQUEST,
					  "the body may only carry \"caller\", "
					  "a string");
		}
	}
	json_decref(in);
	if (http_draining(srv)) {
		metrics_call_ended(&srv->metrics, METRICS_CALL_REJECTED);
		return send_error(x, srv, METRICS_ROUTE_CALLS,
				  MHD_HTTP_SERVICE_UNAVAILABLE,
				  "draining: no new calls");
	}
	if ((rc = calls_create(&c, &srv->calls, &e)) < 0) {
		metrics_call_ended(&srv->metrics, METRICS_CALL_REJECTED);
		return send_error(x, srv, METRICS_ROUTE_CALLS,
				  rc == ERR_BUSY
					  ? MHD_HTTP_SERVICE_UNAVAILABLE
					  : MHD_HTTP_INTERNAL_SERVER_ERROR,
				  e.msg);
	}
	pthread_mutex_lock(&c->lock);
	snprintf(id, sizeof(id), "%s", c->id);
	rc = json_step(srv, c, &start, &body, &e);
	if (rc < 0)
		calls_remove(&srv->calls, c);
	pthread_mutex_unlock(&c->lock);
	calls_put(&srv->calls, c);
	if (rc < 0) {
		log_kv(srv->log, LOG_LEVEL_ERROR, "call start failed",
		       LOG_STR("error", e.msg));
		json_decref(body);
		if (bank_fault(rc))
			return send_unavailable(x, srv, METRICS_ROUTE_CALLS,
						id);
		return send_error(x, srv, METRICS_ROUTE_CALLS,
				  MHD_HTTP_INTERNAL_SERVER_ERROR,
				  "the call could not start");
	}
	return send_json(x, srv, METRICS_ROUTE_CALLS, MHD_HTTP_CREATED, body);
}

/* Checks an input body: exactly one of digits and event. */
static bool
parse_input(struct step_input *in, json_t *o, char *why, size_t size)
{
	const char *key;
	json_t *v;

	memset(in, 0, sizeof(*in));
	json_object_foreach (o, key, v) {
		const char **dst = strcmp(key, "digits") == 0  ? &in->digits
				   : strcmp(key, "event") == 0 ? &in->event
				   : strcmp(key, "token") == 0 ? &in->token
							       : NULL;

		if (dst == NULL || !json_is_string(v)) {
			snprintf(why, size,
				 "unexpected \"%.32s\": the body carries "
				 "\"digits\" or \"event\", and may carry "
				 "\"token\", all strings",
				 key);
			return false;
		}
		*dst = json_string_value(v);
	}
	if ((in->digits == NULL) == (in->event == NULL) ||
	    (in->event != NULL && strcmp(in->event, "noinput") != 0 &&
	     strcmp(in->event, "nomatch") != 0)) {
		snprintf(why, size,
			 "give either \"digits\" or \"event\": "
			 "\"noinput\" or \"nomatch\"");
		return false;
	}
	return true;
}

/* Remembers the answer given under an Idempotency-Key. */
static void
remember(struct call *c, const char *key, unsigned status, const json_t *body)
{
	free(c->idem_body);
	c->idem_body = json_dumps(body, JSON_COMPACT);
	snprintf(c->idem_key, sizeof(c->idem_key), "%s", key);
	c->idem_status = status;
}

static bool
valid_idem_key(const char *key)
{
	size_t n = strlen(key);

	if (n == 0 || n > CALLS_IDEM_KEY_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (key[i] <= ' ' || key[i] > '~')
			return false;
	return true;
}

/* The step under the call's lock: a replay, or the engine. */
static enum MHD_Result
locked_input(struct exchange *x, struct http_server *srv, struct call *c,
	     const struct step_input *in, const char *idem)
{
	json_t *body = NULL;
	struct err e;
	int rc;

	if (idem != NULL && c->idem_body != NULL &&
	    strcmp(c->idem_key, idem) == 0)
		return send_text(x, srv, METRICS_ROUTE_CALL_INPUT,
				 c->idem_status, "application/json",
				 strdup(c->idem_body), strlen(c->idem_body));
	rc = json_step(srv, c, in, &body, &e);
	if (rc == ERR_INVAL || rc == ERR_BADSTATE)
		return send_error(x, srv, METRICS_ROUTE_CALL_INPUT,
				  MHD_HTTP_BAD_REQUEST, e.msg);
	if (rc < 0) {
		log_kv(srv->log, LOG_LEVEL_ERROR, "call step failed",
		       LOG_STR("error", e.msg));
		/* the call stopped inside a step: it cannot go on */
		calls_remove(&srv->calls, c);
		if (bank_fault(rc))
			return send_unavailable(
				x, srv, METRICS_ROUTE_CALL_INPUT, c->id);
		return send_error(x, srv, METRICS_ROUTE_CALL_INPUT,
				  MHD_HTTP_INTERNAL_SERVER_ERROR,
				  "the step could not be completed");
	}
	if (idem != NULL)
		remember(c, idem, MHD_HTTP_OK, body);
	return send_json(x, srv, METRICS_ROUTE_CALL_INPUT, MHD_HTTP_OK, body);
}

static enum MHD_Result
post_input(struct exchange *x, struct http_server *srv, const char *id,
	   const struct request *req)
{
	const char *idem = header(x, "Idempotency-Key");
	struct step_input in;
	enum MHD_Result ok;
	struct call *c;
	char why[256];
	json_t *o;

	if (idem != NULL && !valid_idem_key(idem))
		return send_error(x, srv, METRICS_ROUTE_CALL_INPUT,
				  MHD_HTTP_BAD_REQUEST,
				  "Idempotency-Key must be 1 to 64 printable "
				  "characters");
	if ((o = body_object(req, why, sizeof(why))) == NULL ||
	    !parse_input(&in, o, why, sizeof(why))) {
		json_decref(o);
		return send_error(x, srv, METRICS_ROUTE_CALL_INPUT,
				  MHD_HTTP_BAD_REQUEST, why);
	}
	if ((c = calls_get(&srv->calls, id)) == NULL) {
		json_decref(o);
		return send_error(x, srv, METRICS_ROUTE_CALL_INPUT,
				  MHD_HTTP_NOT_FOUND, "no such call");
	}
	pthread_mutex_lock(&c->lock);
	ok = locked_input(x, srv, c, &in, idem);
	pthread_mutex_unlock(&c->lock);
	calls_put(&srv->calls, c);
	json_decref(o);
	return ok;
}

static enum MHD_Result
delete_call(struct exchange *x, struct http_server *srv, const char *id)
{
	struct call *c = calls_get(&srv->calls, id);

	if (c == NULL)
		return send_error(x, srv, METRICS_ROUTE_CALL,
				  MHD_HTTP_NOT_FOUND, "no such call");
	pthread_mutex_lock(&c->lock);
	calls_remove(&srv->calls, c);
	pthread_mutex_unlock(&c->lock);
	metrics_call_ended(&srv->metrics, METRICS_CALL_CALLER);
	calls_put(&srv->calls, c);
	return send_json(x, srv, METRICS_ROUTE_CALL, MHD_HTTP_OK,
			 json_pack("{s:s, s:b}", "call_id", id, "ended", 1));
}

static bool
from_loopback(struct exchange *x)
{
	const union MHD_ConnectionInfo *ci =
		x->conn == NULL
			? NULL
			: MHD_get_connection_info(
				  x->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;

	if (sa == NULL)
		return false;
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)(const void *)sa)
				      ->sin_addr.s_addr) >>
			24) == 127;
	if (sa->sa_family == AF_INET6)
		return IN6_IS_ADDR_LOOPBACK(
			&((const struct sockaddr_in6 *)(const void *)sa)
				 ->sin6_addr);
	return false;
}

static bool
token_ok(struct exchange *x, struct http_server *srv)
{
	const char *auth = header(x, MHD_HTTP_HEADER_AUTHORIZATION);
	size_t want = strlen(srv->admin_token);

	if (auth == NULL || strncmp(auth, "Bearer ", 7) != 0)
		return false;
	auth += 7;
	return strlen(auth) == want && hash_equal(auth, srv->admin_token, want);
}

static enum MHD_Result
post_drain(struct exchange *x, struct http_server *srv)
{
	if (srv->admin_token[0] == '\0')
		return send_error(x, srv, METRICS_ROUTE_ADMIN,
				  MHD_HTTP_FORBIDDEN,
				  "the admin API is off: no token file is "
				  "configured");
	if (!from_loopback(x) || !token_ok(x, srv))
		return send_error(x, srv, METRICS_ROUTE_ADMIN,
				  MHD_HTTP_FORBIDDEN,
				  "admin requests need a loopback address and "
				  "the admin token");
	http_drain(srv);
	return send_json(x, srv, METRICS_ROUTE_ADMIN, MHD_HTTP_OK,
			 json_pack("{s:b, s:i}", "draining", 1, "active",
				   (int)calls_active(&srv->calls)));
}

static const char *const vxml_busy =
	"Sorry, all our lines are busy. Please call again later.";
static const char *const vxml_gone =
	"Sorry, this call has ended. Please call again.";
static const char *const vxml_fault =
	"Sorry, something went wrong. Please call again later.";

static enum MHD_Result
send_vxml_message(struct exchange *x, struct http_server *srv, unsigned status,
		  const char *text)
{
	struct buf b;
	size_t len;
	char *doc;

	buf_init(&b, 64 * 1024);
	vxml_message(&b, text, NULL);
	doc = buf_detach(&b, &len);
	if (doc == NULL)
		return MHD_NO;
	return send_text(x, srv, METRICS_ROUTE_VXML, status, VXML_CONTENT_TYPE,
			 doc, len);
}

/* Runs a step and renders it as a VoiceXML document into *doc. */
static int
vxml_run(struct http_server *srv, struct call *c, const struct step_input *in,
	 struct buf *doc, struct err *err)
{
	const struct flow_node *n;
	struct engine_out out;
	struct vxml_step v;
	int rc = run_step(srv, c, in, &out, err);

	if (rc < 0)
		return rc;
	n = c->st.node;
	v = (struct vxml_step){
		.call_id = c->id,
		.prompts = out.prompts,
		.token = c->st.token,
		.submit_url = "/vxml/step",
		.ended = c->st.ended,
		.to_agent = c->st.end == FLOW_END_AGENT,
		.agent_uri = srv->cfg->agent_uri,
		.max_digits = n->kind == FLOW_MENU ? 1 : n->max_digits,
		.term = n->kind == FLOW_MENU ? '\0' : n->term,
		.timeout_ms = (int)srv->cfg->first_digit_ms,
		.inter_digit_ms = (int)srv->cfg->inter_digit_ms,
	};
	rc = vxml_step(doc, &v, err);
	engine_out_release(&out);
	finish_step(srv, c);
	return rc;
}

/* The step for c, its lock taken here, sent as VoiceXML. */
static enum MHD_Result
vxml_answer(struct exchange *x, struct http_server *srv, struct call *c,
	    const struct step_input *in, unsigned status)
{
	struct buf doc;
	struct err e;
	size_t len;
	char *text;
	int rc;

	buf_init(&doc, 256 * 1024);
	pthread_mutex_lock(&c->lock);
	rc = vxml_run(srv, c, in, &doc, &e);
	if (rc < 0 && rc != ERR_INVAL && rc != ERR_BADSTATE)
		calls_remove(&srv->calls, c);
	pthread_mutex_unlock(&c->lock);
	calls_put(&srv->calls, c);
	if (rc < 0) {
		buf_release(&doc);
		if (rc != ERR_INVAL && rc != ERR_BADSTATE)
			log_kv(srv->log, LOG_LEVEL_ERROR, "call step failed",
			       LOG_STR("error", e.msg));
		if (bank_fault(rc)) {
			metrics_call_ended(&srv->metrics,
					   METRICS_CALL_UNAVAILABLE);
			return send_vxml_message(x, srv,
						 MHD_HTTP_SERVICE_UNAVAILABLE,
						 try_later);
		}
		return send_vxml_message(
			x, srv,
			rc == ERR_INVAL ? MHD_HTTP_BAD_REQUEST
					: MHD_HTTP_INTERNAL_SERVER_ERROR,
			vxml_fault);
	}
	text = buf_detach(&doc, &len);
	return send_text(x, srv, METRICS_ROUTE_VXML, status, VXML_CONTENT_TYPE,
			 text, len);
}

static enum MHD_Result
get_vxml(struct exchange *x, struct http_server *srv)
{
	const struct step_input start = { NULL, NULL, NULL };
	struct call *c;
	struct err e;

	if (http_draining(srv) || calls_create(&c, &srv->calls, &e) < 0) {
		metrics_call_ended(&srv->metrics, METRICS_CALL_REJECTED);
		return send_vxml_message(x, srv, MHD_HTTP_SERVICE_UNAVAILABLE,
					 vxml_busy);
	}
	return vxml_answer(x, srv, c, &start, MHD_HTTP_OK);
}

static enum MHD_Result
post_vxml_step(struct exchange *x, struct http_server *srv,
	       const struct request *req)
{
	const struct form *f = &req->form;
	struct step_input in = { NULL, NULL, NULL };
	struct call *c;

	if (!req->form_read || req->too_large ||
	    (f->digits[0] == '\0') == (f->event[0] == '\0'))
		return send_vxml_message(x, srv, MHD_HTTP_BAD_REQUEST,
					 vxml_fault);
	if (f->digits[0] != '\0')
		in.digits = f->digits;
	else if (strcmp(f->event, "noinput") == 0 ||
		 strcmp(f->event, "nomatch") == 0)
		in.event = f->event;
	else
		return send_vxml_message(x, srv, MHD_HTTP_BAD_REQUEST,
					 vxml_fault);
	in.token = f->token[0] != '\0' ? f->token : NULL;
	if ((c = calls_get(&srv->calls, f->call_id)) == NULL)
		return send_vxml_message(x, srv, MHD_HTTP_NOT_FOUND, vxml_gone);
	return vxml_answer(x, srv, c, &in, MHD_HTTP_OK);
}

/* libmicrohttpd's form iterator: keeps the four fields, capped. */
static enum MHD_Result
form_field(void *cls, enum MHD_ValueKind kind, const char *key,
	   const char *filename, const char *content_type,
	   const char *transfer_encoding, const char *data, uint64_t off,
	   size_t size)
{
	struct request *req = cls;
	struct form *f = &req->form;
	char *dst = NULL;
	size_t cap = 0;

	(void)kind, (void)filename, (void)content_type;
	(void)transfer_encoding;
	if (strcmp(key, "call_id") == 0)
		dst = f->call_id, cap = sizeof(f->call_id);
	else if (strcmp(key, "digits") == 0)
		dst = f->digits, cap = sizeof(f->digits);
	else if (strcmp(key, "event") == 0)
		dst = f->event, cap = sizeof(f->event);
	else if (strcmp(key, "token") == 0)
		dst = f->token, cap = sizeof(f->token);
	if (dst == NULL)
		return MHD_YES; /* browsers may add fields of their own */
	if (off + size >= cap) {
		req->too_large = true;
		return MHD_YES;
	}
	memcpy(dst + off, data, size);
	dst[off + size] = '\0';
	return MHD_YES;
}

static enum MHD_Result
not_allowed(struct exchange *x, struct http_server *srv,
	    enum metrics_route route)
{
	return send_error(x, srv, route, MHD_HTTP_METHOD_NOT_ALLOWED,
			  "method not allowed");
}

static enum MHD_Result
route_call(struct exchange *x, struct http_server *srv, const char *rest,
	   const char *method, const struct request *req)
{
	const char *slash = strchr(rest, '/');
	size_t n = slash ? (size_t)(slash - rest) : strlen(rest);
	char id[CALLS_ID_LEN + 1];

	if (n != CALLS_ID_LEN)
		return send_error(x, srv, METRICS_ROUTE_CALL,
				  MHD_HTTP_NOT_FOUND, "no such call");
	memcpy(id, rest, n);
	id[n] = '\0';
	if (slash == NULL) {
		if (strcmp(method, MHD_HTTP_METHOD_DELETE) != 0)
			return not_allowed(x, srv, METRICS_ROUTE_CALL);
		return delete_call(x, srv, id);
	}
	if (strcmp(slash, "/input") != 0)
		return send_error(x, srv, METRICS_ROUTE_OTHER,
				  MHD_HTTP_NOT_FOUND, "not found");
	if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
		return not_allowed(x, srv, METRICS_ROUTE_CALL_INPUT);
	return post_input(x, srv, id, req);
}

static enum MHD_Result
route(struct exchange *x, struct http_server *srv, const char *url,
      const char *method, const struct request *req)
{
	bool get = strcmp(method, MHD_HTTP_METHOD_GET) == 0;
	bool post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;

	if (req->too_large && strcmp(url, "/vxml/step") == 0)
		return send_vxml_message(x, srv, MHD_HTTP_CONTENT_TOO_LARGE,
					 vxml_fault);
	if (req->too_large)
		return send_error(x, srv, METRICS_ROUTE_OTHER,
				  MHD_HTTP_CONTENT_TOO_LARGE,
				  "the request body is too large");
	if (strcmp(url, "/calls") == 0) {
		if (post)
			return post_calls(x, srv, req);
		if (!get)
			return not_allowed(x, srv, METRICS_ROUTE_CALLS);
		return send_json(x, srv, METRICS_ROUTE_CALLS, MHD_HTTP_OK,
				 json_pack("{s:i}", "active",
					   (int)calls_active(&srv->calls)));
	}
	if (strncmp(url, "/calls/", 7) == 0)
		return route_call(x, srv, url + 7, method, req);
	if (strcmp(url, "/vxml/step") == 0)
		return post ? post_vxml_step(x, srv, req)
			    : not_allowed(x, srv, METRICS_ROUTE_VXML);
	if (strcmp(url, "/admin/drain") == 0)
		return post ? post_drain(x, srv)
			    : not_allowed(x, srv, METRICS_ROUTE_ADMIN);
	if (!get)
		return not_allowed(x, srv, METRICS_ROUTE_OTHER);
	if (strcmp(url, "/vxml") == 0)
		return get_vxml(x, srv);
	if (strcmp(url, "/healthz") == 0)
		return get_healthz(x, srv);
	if (strcmp(url, "/readyz") == 0)
		return get_readyz(x, srv);
	if (strcmp(url, "/version") == 0)
		return get_version(x, srv);
	if (strcmp(url, "/metrics") == 0)
		return get_metrics(x, srv);
	return send_error(x, srv, METRICS_ROUTE_OTHER, MHD_HTTP_NOT_FOUND,
			  "not found");
}

/* A call step: a new call, a call's input, a VoiceXML document. */
static bool
is_step(const char *url, const char *method)
{
	return (strncmp(url, "/calls", 6) == 0 &&
		strcmp(method, MHD_HTTP_METHOD_POST) == 0) ||
	       strncmp(url, "/vxml", 5) == 0;
}

/*
 * A test release's fault (release.json "faults", config.h): every Nth
 * call step (once the server has run after_seconds) answers 500 before
 * it is looked at, so that the call stays where it was.  True when this
 * step is one.
 */
static bool
fault_due(struct http_server *srv)
{
	unsigned every = (unsigned)srv->cfg->fault_step_every;

	return every > 0 &&
	       now_us() / 1000 - srv->started_ms >=
		       (int64_t)srv->cfg->fault_after_s * 1000 &&
	       (atomic_fetch_add(&srv->fault_steps, 1) + 1) % every == 0;
}

/* The request through the fault switch and the router. */
static enum MHD_Result
serve(struct exchange *x, struct http_server *srv, const char *url,
      const char *method, const struct request *req)
{
	if (is_step(url, method) && fault_due(srv))
		return send_error(
			x, srv,
			strncmp(url, "/vxml", 5) == 0 ? METRICS_ROUTE_VXML
			: strcmp(url, "/calls") == 0  ? METRICS_ROUTE_CALLS
						     : METRICS_ROUTE_CALL_INPUT,
			MHD_HTTP_INTERNAL_SERVER_ERROR,
			"fault injected by a test release");
	return route(x, srv, url, method, req);
}

/* The deadline entry of conn (conns.h), or NULL. */
static struct conn_entry *
entry_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *i = MHD_get_connection_info(
		conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return i != NULL ? i->socket_context : NULL;
}

static int64_t
now_ms(void)
{
	return now_us() / 1000;
}

/* Whether the TLS peer showed a certificate the client CA signed. */
static bool
client_verified(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *i = MHD_get_connection_info(
		conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);

	return i != NULL && tls_peer_verified(i->tls_session);
}

static enum MHD_Result
handle(void *cls, struct MHD_Connection *conn, const char *url,
       const char *method, const char *version, const char *upload,
       size_t *upload_size, void **ctx)
{
	struct http_server *srv = cls;
	struct request *req = *ctx;
	struct exchange x = { .conn = conn };
	enum MHD_Result ok;
	int64_t started;

	(void)version;
	if (req == NULL) {
		/* First call: headers only.  Answering now would make
		 * libmicrohttpd close the connection; answer on the next. */
		if ((req = calloc(1, sizeof(*req))) == NULL)
			return MHD_NO;
		buf_init(&req->body, (size_t)srv->cfg->max_body_bytes);
		req->started_us = now_us();
		req->no_client_cert =
			srv->tls.client_ca != NULL && !client_verified(conn);
		conns_phase(&srv->conns, entry_of(conn), CONNS_BODY,
			    req->started_us / 1000);
		if (strcmp(url, "/vxml/step") == 0 &&
		    strcmp(method, MHD_HTTP_METHOD_POST) == 0)
			req->pp = MHD_create_post_processor(conn, 1024,
							    form_field, req);
		*ctx = req;
		return MHD_YES;
	}
	if (*upload_size > 0) {
		if (req->pp != NULL)
			MHD_post_process(req->pp, upload, *upload_size);
		else if (!req->too_large &&
			 buf_append(&req->body, upload, *upload_size, NULL) < 0)
			req->too_large = true;
		*upload_size = 0;
		return MHD_YES;
	}
	if (req->pp != NULL) {
		/* The last field is only delivered when the processor ends. */
		req->form_read = MHD_destroy_post_processor(req->pp) == MHD_YES;
		req->pp = NULL;
	}
	started = req->started_us;
	conns_phase(&srv->conns, entry_of(conn), CONNS_BUSY, now_ms());
	if (req->no_client_cert)
		return send_error(&x, srv, METRICS_ROUTE_OTHER,
				  MHD_HTTP_FORBIDDEN,
				  "a client certificate from the CA of "
				  "listen.tls.client_ca is required");
	ok = serve(&x, srv, url, method, req);
	if (is_step(url, method))
		metrics_step(&srv->metrics, x.status,
			     (uint64_t)(now_us() - started));
	return ok;
}

static void
completed(void *cls, struct MHD_Connection *conn, void **ctx,
	  enum MHD_RequestTerminationCode toe)
{
	struct http_server *srv = cls;
	struct request *req = *ctx;

	(void)toe;
	/* Answered: the next request's headers are awaited from now. */
	conns_phase(&srv->conns, entry_of(conn), CONNS_HEADERS, now_ms());
	if (req == NULL)
		return;
	if (req->pp != NULL)
		MHD_destroy_post_processor(req->pp);
	buf_release(&req->body);
	free(req);
	*ctx = NULL;
}

/* Each connection gets a deadline entry when it opens; it goes before
 * libmicrohttpd closes the descriptor. */
static void
notify_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
		  enum MHD_ConnectionNotificationCode code)
{
	struct http_server *srv = cls;
	const union MHD_ConnectionInfo *i;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		i = MHD_get_connection_info(conn,
					    MHD_CONNECTION_INFO_CONNECTION_FD);
		*socket_ctx = i != NULL ? conns_opened(&srv->conns,
						       i->connect_fd, now_ms())
					: NULL;
	} else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		conns_closed(&srv->conns, *socket_ctx);
		*socket_ctx = NULL;
	}
}

unsigned
http_sweep(struct http_server *srv, int64_t now)
{
	unsigned n = conns_sweep(&srv->conns, now);

	metrics_connections_cut(&srv->metrics, n);
	return n;
}

/* Fills a socket address for address:port; returns its length or 0. */
static socklen_t
make_addr(struct sockaddr_storage *ss, const char *address, int port)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, address, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		return sizeof(*in4);
	}
	if (inet_pton(AF_INET6, address, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		return sizeof(*in6);
	}
	return 0;
}

static void
release_banks(struct http_server *srv)
{
	bank_pool_free(srv->pool);
	srv->pool = NULL;
	bank_close(srv->probe);
	srv->probe = NULL;
	pthread_mutex_destroy(&srv->probe_lock);
}

static int
setup(struct http_server *srv, const struct config *cfg,
      const struct flow *flow, struct log *log, struct err *err)
{
	struct bank_config bc;
	int rc;

	srv->cfg = cfg;
	srv->log = log;
	srv->engine.flow = flow;
	srv->engine.log = log;
	srv->engine.metrics = &srv->metrics;
	srv->engine.fault_login = cfg->fault_login;
	srv->engine.limits = (struct engine_limits){
		.noinput_max = cfg->noinput_max,
		.nomatch_max = cfg->nomatch_max,
		.pin_attempts = cfg->pin_attempts,
		.first_digit_ms = (int)cfg->first_digit_ms,
		.inter_digit_ms = (int)cfg->inter_digit_ms,
	};
	metrics_init(&srv->metrics, srv->version);
	atomic_init(&srv->draining, 0);
	if ((rc = calls_init(&srv->calls, (unsigned)cfg->max_calls,
			     &srv->engine, err)) < 0)
		return rc;
	config_bank(&bc, cfg);
	if ((rc = bank_pool_new(&srv->pool, &bc,
				cfg->db_pool_size > 0 ? cfg->db_pool_size
						      : cfg->threads,
				err)) < 0) {
		calls_release(&srv->calls);
		return rc;
	}
	pthread_mutex_init(&srv->probe_lock, NULL);
	return 0;
}

int
http_init(struct http_server *srv, const struct config *cfg,
	  const struct flow *flow, struct log *log, const char *version,
	  const char *build_id, const char *admin_token, struct err *err)
{
	int rc;

	memset(srv, 0, sizeof(*srv));
	snprintf(srv->version, sizeof(srv->version), "%s", version);
	snprintf(srv->build_id, sizeof(srv->build_id), "%s", build_id);
	snprintf(srv->admin_token, sizeof(srv->admin_token), "%s",
		 admin_token ? admin_token : "");
	if (cfg->affinity_cookie != NULL)
		snprintf(srv->affinity, sizeof(srv->affinity),
			 "%s=%s:%d; Path=/; HttpOnly", cfg->affinity_cookie,
			 cfg->listen_address, cfg->port);
	if ((rc = setup(srv, cfg, flow, log, err)) < 0)
		return rc;
	conns_init(&srv->conns, cfg->request_deadline_ms,
		   cfg->connection_timeout_ms);
	srv->started_ms = now_us() / 1000;
	return 0;
}

/* A form body as "k=v&k=v", its fields given to form_field as they are
 * (libmicrohttpd decodes %xx on a connection; here the bytes stay raw). */
static void
split_form(struct request *req, const char *body, size_t n)
{
	char key[32];
	size_t i = 0;

	while (i < n) {
		size_t end = i, eq;

		while (end < n && body[end] != '&')
			end++;
		for (eq = i; eq < end && body[eq] != '='; eq++)
			;
		if (eq < end && eq - i < sizeof(key)) {
			memcpy(key, body + i, eq - i);
			key[eq - i] = '\0';
			form_field(req, MHD_POSTDATA_KIND, key, NULL, NULL,
				   NULL, body + eq + 1, 0, end - eq - 1);
		}
		i = end + 1;
	}
}

int
http_exchange(struct http_server *srv, const char *method, const char *url,
	      const char *body, size_t n, const char *const *headers,
	      unsigned *status, char **text, size_t *len)
{
	struct exchange x = { .conn = NULL, .headers = headers };
	struct request req;
	int rc = 0;

	memset(&req, 0, sizeof(req));
	buf_init(&req.body, (size_t)srv->cfg->max_body_bytes);
	if (n > 0 && buf_append(&req.body, body, n, NULL) < 0)
		req.too_large = true;
	if (strcmp(url, "/vxml/step") == 0 && !req.too_large)
		split_form(&req, body, n);
	req.form_read = true;
	if (serve(&x, srv, url, method, &req) != MHD_YES || x.text == NULL)
		rc = ERR_NOMEM;
	else if (is_step(url, method))
		metrics_step(&srv->metrics, x.status, 0);
	buf_release(&req.body);
	*status = x.status;
	*text = x.text;
	*len = x.len;
	return rc;
}

int
http_start(struct http_server *srv, const struct config *cfg,
	   const struct flow *flow, struct log *log, const char *version,
	   const char *build_id, const char *admin_token, struct err *err)
{
	struct sockaddr_storage ss;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL;
	static char priorities[] = TLS_PRIORITIES;
	struct MHD_OptionItem opts[5];
	size_t n = 0;
	int rc;

	if (make_addr(&ss, cfg->listen_address, cfg->port) == 0)
		return err_set(err, ERR_INVAL, "bad listen address '%s'",
			       cfg->listen_address);
	if ((rc = http_init(srv, cfg, flow, log, version, build_id, admin_token,
			    err)) < 0)
		return rc;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if ((rc = config_check_listen(cfg, err)) < 0 ||
	    (cfg->tls_cert != NULL &&
	     (rc = tls_load(&srv->tls, cfg->tls_cert, cfg->tls_key,
			    cfg->tls_client_ca, err)) < 0)) {
		http_stop(srv);
		return rc;
	}
	if (cfg->tls_cert != NULL)
		flags |= MHD_USE_TLS;
	/* options that take no effect without TLS are given with it only */
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_PRIORITIES, 0,
					     priorities };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0,
					     srv->tls.cert };
	opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0,
					     srv->tls.key };
	if (srv->tls.client_ca != NULL)
		opts[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_TRUST,
						     0, srv->tls.client_ca };
	opts[n] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };
	srv->mhd = MHD_start_daemon(
		flags, 0, NULL, NULL, handle, srv, MHD_OPTION_ARRAY,
		cfg->tls_cert != NULL ? opts : opts + n, MHD_OPTION_SOCK_ADDR,
		(struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE,
		(unsigned)cfg->threads, MHD_OPTION_CONNECTION_LIMIT,
		(unsigned)cfg->max_connections,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT,
		(unsigned)cfg->max_connections_per_client,
		MHD_OPTION_CONNECTION_TIMEOUT,
		(unsigned)(cfg->connection_timeout_ms / 1000),
		MHD_OPTION_NOTIFY_COMPLETED, completed, srv,
		MHD_OPTION_NOTIFY_CONNECTION, notify_connection, srv,
		MHD_OPTION_END);
	if (srv->mhd == NULL) {
		int e = errno;

		http_stop(srv);
		return err_set_errno(err, ERR_IO, e, "cannot listen on %s:%d",
				     cfg->listen_address, cfg->port);
	}
	return 0;
}

void
http_drain(struct http_server *srv)
{
	atomic_store(&srv->draining, 1);
}

bool
http_draining(struct http_server *srv)
{
	return atomic_load(&srv->draining) != 0;
}

void
http_stop(struct http_server *srv)
{
	if (srv->mhd != NULL)
		MHD_stop_daemon(srv->mhd);
	srv->mhd = NULL;
	conns_release(&srv->conns);
	release_banks(srv);
	calls_release(&srv->calls);
	tls_release(&srv->tls);
}
