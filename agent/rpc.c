/*
 * rpc: see rpc.h.
 */
#include "rpc.h"

#include <string.h>
#include <time.h>

#include "clock.h"
#include "jsonrpc.h"
#include "layout.h"

/* How long a request waits for another agent on the same root, and how
 * often it tries. */
#define RPC_LOCK_WAIT_MS 30000
#define RPC_LOCK_POLL_MS 50

int
rpc_error_code(int code)
{
	switch (code) {
	case ERR_INVAL:
	case ERR_RANGE:
		return JSONRPC_INVALID_PARAMS;
	case ERR_NOTFOUND:
		return AGENT_E_NOT_FOUND;
	case ERR_INTEGRITY:
	case ERR_PARSE:
		return AGENT_E_INTEGRITY;
	case ERR_UNSAFE:
		return AGENT_E_UNSAFE;
	case ERR_TIMEOUT:
		return AGENT_E_TIMEOUT;
	case ERR_EXISTS:
	case ERR_BUSY:
		return AGENT_E_EXISTS;
	case ERR_OVERFLOW:
		return AGENT_E_TOO_LARGE;
	default:
		return AGENT_E_FAILED;
	}
}

/* Writes msg (stolen); a failed write ends serving. */
static int
send_msg(struct agent *a, json_t *msg, struct err *err)
{
	int rc;

	if (msg == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	rc = jsonrpc_write_fd(a->out_fd, msg, AGENT_LINE_MAX, err);
	json_decref(msg);
	return rc;
}

void
rpc_progress(struct agent *a, const char *step, uint64_t done, uint64_t total)
{
	int64_t now = clock_now_ms();

	if (a->id == NULL || (done < total && now - a->last_progress_ms < 200))
		return;
	a->last_progress_ms = now;
	send_msg(a,
		 jsonrpc_notification_new(
			 "progress",
			 json_pack("{s:O, s:s, s:I, s:I}", "id", a->id, "step",
				   step, "done", (json_int_t)done, "total",
				   (json_int_t)total)),
		 NULL);
}

/*
 * The root's lock, waited for up to RPC_LOCK_WAIT_MS with "lock" progress
 * notifications (each starts the controller's command timeout again, so
 * the wait is one the controller sees).  0, or ERR_BUSY naming the holder.
 */
static int
lock_root(int *fd, struct agent *a, struct err *err)
{
	int64_t start = clock_now_ms(), waited;
	int rc;

	while ((rc = layout_lock(fd, a->root, err)) == ERR_BUSY &&
	       (waited = clock_now_ms() - start) < RPC_LOCK_WAIT_MS) {
		rpc_progress(a, "lock", (uint64_t)waited, RPC_LOCK_WAIT_MS);
		clock_sleep_ms(RPC_LOCK_POLL_MS);
	}
	return rc;
}

static const struct rpc_method *
find(const char *name)
{
	for (const struct rpc_method *m = agent_methods; m->name; m++)
		if (strcmp(m->name, name) == 0)
			return m;
	return NULL;
}

/* Runs one request and builds its answer. */
static json_t *
call(struct agent *a, const struct jsonrpc_msg *msg)
{
	const struct rpc_method *m = find(msg->method);
	json_t *params, *result = NULL;
	struct err e;
	int rc, lock = -1;

	if (m == NULL) {
		char why[128];

		snprintf(why, sizeof(why), "unknown method '%.64s'",
			 msg->method);
		return jsonrpc_error_new(msg->id, JSONRPC_METHOD_NOT_FOUND, why,
					 NULL);
	}
	if (msg->params != NULL && !json_is_object(msg->params))
		return jsonrpc_error_new(msg->id, JSONRPC_INVALID_PARAMS,
					 "params must be an object", NULL);
	params = msg->params ? json_incref(msg->params) : json_object();
	a->id = msg->id;
	a->last_progress_ms = 0;
	err_init(&e);
	if (m->locks && a->read_only)
		rc = err_set(&e, ERR_BADSTATE,
			     "this agent is read-only: '%s' would change the "
			     "host",
			     m->name);
	else if (!m->locks || (rc = lock_root(&lock, a, &e)) == 0)
		rc = m->fn(&result, a, params, &e);
	layout_unlock(lock);
	a->id = NULL;
	json_decref(params);
	log_kv(a->log, rc == 0 ? LOG_LEVEL_INFO : LOG_LEVEL_WARN, "request",
	       LOG_STR("method", msg->method),
	       LOG_STR("result", rc == 0 ? "ok" : e.msg));
	if (rc < 0)
		return jsonrpc_error_new(msg->id, rpc_error_code(rc), e.msg,
					 NULL);
	return jsonrpc_result_new(msg->id, result);
}

/* Handles one line; returns < 0 only when the answer cannot be sent. */
static int
handle_line(struct agent *a, const char *line, size_t len, struct err *err)
{
	struct jsonrpc_msg msg;
	struct err e;
	json_t *reply = NULL;

	if (jsonrpc_parse(&msg, line, len, &e) < 0)
		reply = jsonrpc_reject(&msg, &e);
	else if (msg.kind == JSONRPC_KIND_REQUEST)
		reply = call(a, &msg);
	/* Notifications and responses ask for no answer. */
	jsonrpc_msg_release(&msg);
	return reply ? send_msg(a, reply, err) : 0;
}

int
rpc_serve(struct agent *a, int in_fd, struct err *err)
{
	struct jsonrpc_reader r;
	const char *line;
	size_t len;
	struct err e;
	int rc;

	jsonrpc_reader_init(&r, AGENT_LINE_MAX, jsonrpc_fd_read, &in_fd);
	for (;;) {
		rc = jsonrpc_reader_next(&r, &line, &len, -1, &e);
		if (rc == ERR_EOF) {
			rc = 0;
			break;
		}
		if (rc == ERR_OVERFLOW) {
			rc = send_msg(a,
				      jsonrpc_error_new(NULL,
							JSONRPC_INVALID_REQUEST,
							e.msg, NULL),
				      err);
		} else if (rc == 0) {
			rc = handle_line(a, line, len, err);
		} else {
			err_set(err, rc, "%s", e.msg);
		}
		if (rc < 0)
			break;
	}
	jsonrpc_reader_release(&r);
	return rc;
}
