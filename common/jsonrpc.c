/*
 * jsonrpc: see jsonrpc.h.  Input is untrusted: every branch of the parser
 * ends in either a well-formed message or an error code to answer with.
 */
#include "jsonrpc.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"

#define JSONRPC_CHUNK 65536

int
jsonrpc_fd_read(void *ctx, void *dst, size_t cap, int timeout_ms, size_t *got,
		struct err *err)
{
	int fd = *(int *)ctx;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	ssize_t n;
	int rc;

	do
		rc = poll(&pfd, 1, timeout_ms);
	while (rc < 0 && errno == EINTR);
	if (rc < 0)
		return err_set_errno(err, ERR_IO, errno,
				     "cannot wait for input");
	if (rc == 0)
		return err_set(err, ERR_TIMEOUT, "no input within %d ms",
			       timeout_ms);
	do
		n = read(fd, dst, cap);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return err_set_errno(err, ERR_IO, errno, "cannot read input");
	if (n == 0)
		return err_set(err, ERR_EOF, "end of input");
	*got = (size_t)n;
	return 0;
}

void
jsonrpc_reader_init(struct jsonrpc_reader *r, size_t max_line,
		    jsonrpc_read_fn read, void *ctx)
{
	/* Room for one whole line plus one chunk read after it. */
	buf_init(&r->in, max_line + JSONRPC_CHUNK + 1);
	r->max_line = max_line;
	r->handed = 0;
	r->discarding = 0;
	r->read = read;
	r->ctx = ctx;
}

void
jsonrpc_reader_release(struct jsonrpc_reader *r)
{
	buf_release(&r->in);
}

/*
 * Looks for a whole line in what was read.  Returns 1 with the line set, 0
 * when more input is needed, ERR_OVERFLOW when the line is too long.
 */
static int
take_line(struct jsonrpc_reader *r, const char **line, size_t *len,
	  struct err *err)
{
	char *nl;

	for (;;) {
		nl = r->in.len ? memchr(r->in.data, '\n', r->in.len) : NULL;
		if (nl == NULL)
			break;
		if (r->discarding) {
			buf_consume(&r->in, (size_t)(nl - r->in.data) + 1);
			r->discarding = 0;
			continue;
		}
		*line = r->in.data;
		*len = (size_t)(nl - r->in.data);
		r->handed = *len + 1;
		if (*len > r->max_line)
			goto overflow;
		if (*len > 0 && (*line)[*len - 1] == '\r')
			(*len)--;
		return 1;
	}
	if (r->discarding) {
		buf_reset(&r->in);
		return 0;
	}
	if (r->in.len <= r->max_line)
		return 0;
	r->discarding = 1;
	buf_reset(&r->in);
overflow:
	return err_set(err, ERR_OVERFLOW,
		       "message exceeds the limit of %zu "
		       "bytes",
		       r->max_line);
}

int
jsonrpc_reader_next(struct jsonrpc_reader *r, const char **line, size_t *len,
		    int timeout_ms, struct err *err)
{
	long long deadline = timeout_ms < 0 ? 0 : clock_now_ms() + timeout_ms;
	char chunk[4096];
	size_t got;
	int rc, wait;

	buf_consume(&r->in, r->handed);
	r->handed = 0;
	for (;;) {
		if ((rc = take_line(r, line, len, err)) != 0)
			return rc < 0 ? rc : 0;
		wait = -1;
		if (timeout_ms >= 0) {
			long long left = deadline - clock_now_ms();

			if (left <= 0)
				return err_set(err, ERR_TIMEOUT,
					       "no whole message within %d ms",
					       timeout_ms);
			wait = (int)left;
		}
		rc = r->read(r->ctx, chunk, sizeof(chunk), wait, &got, err);
		if (rc == ERR_TIMEOUT)
			return err_set(err, ERR_TIMEOUT,
				       "no whole message within %d ms",
				       timeout_ms);
		if (rc == ERR_EOF && r->in.len > 0 && !r->discarding) {
			buf_reset(&r->in);
			return err_set(err, ERR_EOF,
				       "stream ended inside a message");
		}
		if (rc < 0)
			return rc;
		if ((rc = buf_append(&r->in, chunk, got, err)) < 0)
			return rc;
	}
}

static int
invalid(struct jsonrpc_msg *msg, struct err *err, const char *why)
{
	msg->kind = JSONRPC_KIND_INVALID;
	msg->error_code = JSONRPC_INVALID_REQUEST;
	return err_set(err, ERR_PROTO, "invalid request: %s", why);
}

static int
valid_id(const json_t *id)
{
	return json_is_string(id) || json_is_integer(id) || json_is_null(id);
}

static int
parse_call(struct jsonrpc_msg *msg, struct err *err)
{
	json_t *method = json_object_get(msg->root, "method");
	json_t *params = json_object_get(msg->root, "params");

	if (!json_is_string(method))
		return invalid(msg, err, "'method' must be a string");
	if (json_object_get(msg->root, "result") != NULL ||
	    json_object_get(msg->root, "error") != NULL)
		return invalid(msg, err,
			       "a request cannot carry 'result' or 'error'");
	if (params != NULL && !json_is_object(params) && !json_is_array(params))
		return invalid(msg, err,
			       "'params' must be an object or an array");
	msg->method = json_string_value(method);
	msg->params = params;
	msg->kind = msg->id ? JSONRPC_KIND_REQUEST : JSONRPC_KIND_NOTIFICATION;
	return 0;
}

static int
parse_response(struct jsonrpc_msg *msg, struct err *err)
{
	json_t *result = json_object_get(msg->root, "result");
	json_t *error = json_object_get(msg->root, "error");
	json_t *code, *message;

	if (msg->id == NULL)
		return invalid(msg, err, "a response must carry an 'id'");
	if ((result == NULL) == (error == NULL))
		return invalid(msg, err,
			       "a response carries exactly one of 'result' "
			       "and 'error'");
	if (result != NULL) {
		msg->kind = JSONRPC_KIND_RESULT;
		msg->result = result;
		return 0;
	}
	code = json_object_get(error, "code");
	message = json_object_get(error, "message");
	if (!json_is_object(error) || !json_is_integer(code) ||
	    !json_is_string(message))
		return invalid(msg, err,
			       "'error' must be an object with an integer "
			       "'code' and a string 'message'");
	if (json_integer_value(code) < -2147483647 - 1 ||
	    json_integer_value(code) > 2147483647)
		return invalid(msg, err, "error 'code' out of range");
	msg->kind = JSONRPC_KIND_ERROR;
	msg->error_code = (int)json_integer_value(code);
	msg->error_message = json_string_value(message);
	msg->error_data = json_object_get(error, "data");
	return 0;
}

int
jsonrpc_parse(struct jsonrpc_msg *msg, const char *line, size_t len,
	      struct err *err)
{
	json_error_t jerr;
	json_t *version, *id;

	memset(msg, 0, sizeof(*msg));
	msg->root = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (msg->root == NULL) {
		msg->kind = JSONRPC_KIND_INVALID;
		msg->error_code = JSONRPC_PARSE_ERROR;
		return err_set(err, ERR_PARSE, "parse error at column %d: %s",
			       jerr.column, jerr.text);
	}
	if (json_is_array(msg->root))
		return invalid(msg, err, "batch requests are not supported");
	if (!json_is_object(msg->root))
		return invalid(msg, err, "a message must be a JSON object");
	id = json_object_get(msg->root, "id");
	if (id != NULL && valid_id(id))
		msg->id = id;
	version = json_object_get(msg->root, "jsonrpc");
	if (!json_is_string(version) ||
	    strcmp(json_string_value(version), "2.0") != 0)
		return invalid(msg, err, "'jsonrpc' must be \"2.0\"");
	if (id != NULL && !valid_id(id))
		return invalid(msg, err,
			       "'id' must be a string, an integer or null");
	if (json_object_get(msg->root, "method") != NULL)
		return parse_call(msg, err);
	return parse_response(msg, err);
}

void
jsonrpc_msg_release(struct jsonrpc_msg *msg)
{
	json_decref(msg->root);
	memset(msg, 0, sizeof(*msg));
}

json_t *
jsonrpc_reject(const struct jsonrpc_msg *msg, const struct err *err)
{
	int code = msg->error_code ? msg->error_code : JSONRPC_INVALID_REQUEST;

	return jsonrpc_error_new(msg->id, code, err->msg, NULL);
}

static json_t *
envelope(void)
{
	json_t *o = json_object();

	if (o != NULL &&
	    json_object_set_new(o, "jsonrpc", json_string("2.0")) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* Sets key to v (stolen) in o; on failure frees o and returns NULL. */
static json_t *
put(json_t *o, const char *key, json_t *v)
{
	if (o == NULL) {
		json_decref(v);
		return NULL;
	}
	if (v == NULL || json_object_set_new(o, key, v) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *
copy_id(const json_t *id)
{
	return id != NULL ? json_deep_copy(id) : json_null();
}

json_t *
jsonrpc_request_new(json_int_t id, const char *method, json_t *params)
{
	json_t *o = put(envelope(), "id", json_integer(id));

	o = put(o, "method", json_string(method));
	return params != NULL ? put(o, "params", params) : o;
}

json_t *
jsonrpc_notification_new(const char *method, json_t *params)
{
	json_t *o = put(envelope(), "method", json_string(method));

	return params != NULL ? put(o, "params", params) : o;
}

json_t *
jsonrpc_result_new(const json_t *id, json_t *result)
{
	json_t *o = put(envelope(), "id", copy_id(id));

	return put(o, "result", result != NULL ? result : json_null());
}

json_t *
jsonrpc_error_new(const json_t *id, int code, const char *message, json_t *data)
{
	json_t *o = put(envelope(), "id", copy_id(id));
	json_t *e = put(json_object(), "code", json_integer(code));

	e = put(e, "message", json_string(message));
	if (data != NULL)
		e = put(e, "data", data);
	return put(o, "error", e);
}

int
jsonrpc_encode(struct buf *out, const json_t *msg, struct err *err)
{
	char *text = json_dumps(msg, JSON_COMPACT);
	size_t before = out->len;
	int rc;

	if (text == NULL)
		return err_set(err, ERR_INTERNAL, "cannot encode message");
	rc = buf_append_str(out, text, err);
	free(text);
	if (rc == 0)
		rc = buf_append(out, "\n", 1, err);
	if (rc == 0)
		return 0;
	out->len = before;
	if (out->data != NULL)
		out->data[before] = '\0';
	return err_prefix(err, "cannot send message: ");
}

int
jsonrpc_write_fd(int fd, const json_t *msg, size_t max, struct err *err)
{
	struct buf b;
	size_t off = 0;
	int rc;

	buf_init(&b, max + 1);
	if ((rc = jsonrpc_encode(&b, msg, err)) < 0)
		goto out;
	while (off < b.len) {
		ssize_t n = write(fd, b.data + off, b.len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = err_set_errno(err,
					   errno == EPIPE ? ERR_EOF : ERR_IO,
					   errno, "cannot write message");
			goto out;
		}
		off += (size_t)n;
	}
out:
	buf_release(&b);
	return rc;
}
