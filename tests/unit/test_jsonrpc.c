#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "jsonrpc.h"

/* Parses text, expecting success and the given kind. */
static void
parse_ok(struct jsonrpc_msg *m, const char *text, enum jsonrpc_kind kind)
{
	struct err e;

	err_init(&e);
	assert_int_equal(jsonrpc_parse(m, text, strlen(text), &e), 0);
	assert_int_equal(m->kind, kind);
}

static void
test_jsonrpc_parse__reads_a_request(void **state)
{
	struct jsonrpc_msg m;

	(void)state;
	parse_ok(&m,
		 "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"hello\","
		 "\"params\":{\"a\":1}}",
		 JSONRPC_KIND_REQUEST);
	assert_string_equal(m.method, "hello");
	assert_int_equal(json_integer_value(m.id), 7);
	assert_int_equal(json_integer_value(json_object_get(m.params, "a")), 1);
	jsonrpc_msg_release(&m);
}

static void
test_jsonrpc_parse__reads_notifications_and_responses(void **state)
{
	struct jsonrpc_msg m;

	(void)state;
	parse_ok(&m, "{\"jsonrpc\":\"2.0\",\"method\":\"progress\"}",
		 JSONRPC_KIND_NOTIFICATION);
	assert_null(m.id);
	assert_null(m.params);
	jsonrpc_msg_release(&m);
	parse_ok(&m, "{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"result\":[1,2]}",
		 JSONRPC_KIND_RESULT);
	assert_string_equal(json_string_value(m.id), "a");
	assert_int_equal(json_array_size(m.result), 2);
	jsonrpc_msg_release(&m);
	parse_ok(&m,
		 "{\"jsonrpc\":\"2.0\",\"id\":3,\"error\":{\"code\":-32001,"
		 "\"message\":\"disk full\",\"data\":{\"free\":0}}}",
		 JSONRPC_KIND_ERROR);
	assert_int_equal(m.error_code, -32001);
	assert_string_equal(m.error_message, "disk full");
	assert_non_null(m.error_data);
	jsonrpc_msg_release(&m);
}

struct bad_case {
	const char *text;
	int rc;
	int rpc_code;
	const char *msg;
};

static void
test_jsonrpc_parse__rejects_malformed_input_with_rpc_errors(void **state)
{
	static const struct bad_case cases[] = {
		{ "{\"jsonrpc\":\"2.0\",", ERR_PARSE, JSONRPC_PARSE_ERROR,
		  "parse error at column 17: string or '}' expected near "
		  "end of file" },
		{ "[]", ERR_PROTO, JSONRPC_INVALID_REQUEST,
		  "invalid request: batch requests are not supported" },
		{ "42", ERR_PARSE, JSONRPC_PARSE_ERROR, NULL },
		{ "{\"id\":1,\"method\":\"x\"}", ERR_PROTO,
		  JSONRPC_INVALID_REQUEST,
		  "invalid request: 'jsonrpc' must be \"2.0\"" },
		{ "{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"x\"}", ERR_PROTO,
		  JSONRPC_INVALID_REQUEST, NULL },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":5}", ERR_PROTO,
		  JSONRPC_INVALID_REQUEST,
		  "invalid request: 'method' must be a string" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"x\"}",
		  ERR_PROTO, JSONRPC_INVALID_REQUEST,
		  "invalid request: 'id' must be a string, an integer or "
		  "null" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\",\"params\":"
		  "3}",
		  ERR_PROTO, JSONRPC_INVALID_REQUEST,
		  "invalid request: 'params' must be an object or an array" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1}", ERR_PROTO,
		  JSONRPC_INVALID_REQUEST,
		  "invalid request: a response carries exactly one of "
		  "'result' and 'error'" },
		{ "{\"jsonrpc\":\"2.0\",\"result\":1}", ERR_PROTO,
		  JSONRPC_INVALID_REQUEST,
		  "invalid request: a response must carry an 'id'" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":\"x\"}}",
		  ERR_PROTO, JSONRPC_INVALID_REQUEST, NULL },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"id\":2,\"method\":\"x\"}",
		  ERR_PARSE, JSONRPC_PARSE_ERROR, NULL },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\\u0000b\"}",
		  ERR_PARSE, JSONRPC_PARSE_ERROR, NULL },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\",\"result\":"
		  "1}",
		  ERR_PROTO, JSONRPC_INVALID_REQUEST, NULL },
	};
	struct jsonrpc_msg m;
	struct err e;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		const struct bad_case *c = &cases[i];

		assert_int_equal(
			jsonrpc_parse(&m, c->text, strlen(c->text), &e), c->rc);
		assert_int_equal(m.kind, JSONRPC_KIND_INVALID);
		assert_int_equal(m.error_code, c->rpc_code);
		if (c->msg != NULL)
			assert_string_equal(e.msg, c->msg);
		jsonrpc_msg_release(&m);
	}
}

static void
test_jsonrpc_reject__answers_with_the_id_when_known(void **state)
{
	const char *text = "{\"jsonrpc\":\"1.0\",\"id\":9,\"method\":\"x\"}";
	struct jsonrpc_msg m;
	struct err e;
	json_t *reply, *error;
	char *s;

	(void)state;
	assert_int_equal(jsonrpc_parse(&m, text, strlen(text), &e), ERR_PROTO);
	reply = jsonrpc_reject(&m, &e);
	s = json_dumps(reply, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(s, "{\"error\":{\"code\":-32600,\"message\":"
			       "\"invalid request: 'jsonrpc' must be "
			       "\\\"2.0\\\"\"},\"id\":9,\"jsonrpc\":\"2.0\"}");
	free(s);
	json_decref(reply);
	jsonrpc_msg_release(&m);

	assert_int_equal(jsonrpc_parse(&m, "{oops", 5, &e), ERR_PARSE);
	reply = jsonrpc_reject(&m, &e);
	assert_true(json_is_null(json_object_get(reply, "id")));
	error = json_object_get(reply, "error");
	assert_int_equal(json_integer_value(json_object_get(error, "code")),
			 JSONRPC_PARSE_ERROR);
	json_decref(reply);
	jsonrpc_msg_release(&m);
}

static void
test_jsonrpc_parse__survives_random_bytes(void **state)
{
	unsigned char text[256];
	struct jsonrpc_msg m;
	struct err e;

	(void)state;
	srand(12345);
	for (int round = 0; round < 20000; round++) {
		size_t n = (size_t)(rand() % (int)sizeof(text));

		for (size_t i = 0; i < n; i++)
			text[i] = (unsigned char)("{}[]\":,0123 aeijnorstu\\-."
						  "\x01\xff"[rand() % 28]);
		if (jsonrpc_parse(&m, (const char *)text, n, &e) < 0) {
			json_t *r = jsonrpc_reject(&m, &e);

			assert_non_null(r);
			json_decref(r);
		}
		jsonrpc_msg_release(&m);
	}
}

static void
test_jsonrpc_builders__make_valid_messages(void **state)
{
	json_t *id = json_string("req-1");
	json_t *msgs[4];
	struct jsonrpc_msg m;
	struct buf b;
	struct err e;

	(void)state;
	msgs[0] = jsonrpc_request_new(1, "stage", json_pack("{s:s}", "v", "1"));
	msgs[1] = jsonrpc_notification_new("progress", NULL);
	msgs[2] = jsonrpc_result_new(id, json_true());
	msgs[3] = jsonrpc_error_new(id, JSONRPC_METHOD_NOT_FOUND,
				    "unknown method 'x'", NULL);
	buf_init(&b, 4096);
	for (int i = 0; i < 4; i++) {
		buf_reset(&b);
		assert_int_equal(jsonrpc_encode(&b, msgs[i], &e), 0);
		assert_int_equal(b.data[b.len - 1], '\n');
		assert_null(memchr(b.data, '\n', b.len - 1));
		assert_int_equal(jsonrpc_parse(&m, b.data, b.len - 1, &e), 0);
		assert_int_equal(m.kind, (enum jsonrpc_kind)(i + 1));
		jsonrpc_msg_release(&m);
		json_decref(msgs[i]);
	}
	buf_release(&b);
	json_decref(id);
}

static void
test_jsonrpc_encode__respects_the_cap(void **state)
{
	json_t *msg = jsonrpc_notification_new("progress", NULL);
	struct buf b;
	struct err e;

	(void)state;
	buf_init(&b, 10);
	assert_int_equal(jsonrpc_encode(&b, msg, &e), ERR_OVERFLOW);
	assert_string_equal(e.msg, "cannot send message: content exceeds "
				   "the limit of 10 bytes");
	assert_int_equal(b.len, 0);
	/* Without an err the failure is still one (it once returned 0). */
	assert_true(jsonrpc_encode(&b, msg, NULL) < 0);
	assert_int_equal(b.len, 0);
	buf_release(&b);
	json_decref(msg);
}

/* A pipe whose read end feeds a reader. */
struct pipe_reader {
	int fds[2];
	struct jsonrpc_reader r;
};

static void
pipe_open(struct pipe_reader *p, size_t max_line)
{
	assert_int_equal(pipe(p->fds), 0);
	jsonrpc_reader_init(&p->r, max_line, jsonrpc_fd_read, &p->fds[0]);
}

static void
pipe_close(struct pipe_reader *p)
{
	jsonrpc_reader_release(&p->r);
	if (p->fds[0] >= 0)
		close(p->fds[0]);
	if (p->fds[1] >= 0)
		close(p->fds[1]);
}

static void
put(struct pipe_reader *p, const char *s)
{
	assert_int_equal(write(p->fds[1], s, strlen(s)), (ssize_t)strlen(s));
}

static void
test_jsonrpc_reader__splits_lines_across_reads(void **state)
{
	struct pipe_reader p;
	const char *line;
	size_t len;
	struct err e;

	(void)state;
	pipe_open(&p, 100);
	put(&p, "first\nsec");
	assert_int_equal(jsonrpc_reader_next(&p.r, &line, &len, 1000, &e), 0);
	assert_int_equal(len, 5);
	assert_memory_equal(line, "first", 5);
	put(&p, "ond\r\nthird\n");
	assert_int_equal(jsonrpc_reader_next(&p.r, &line, &len, 1000, &e), 0);
	assert_int_equal(len, 6);
	assert_memory_equal(line, "second", 6);
	assert_int_equal(jsonrpc_reader_next(&p.r, &line, &len, 1000, &e), 0);
	assert_memory_equal(line, "third", 5);
	pipe_close(&p);
}

static void
test_jsonrpc_reader__times_out_without_a_whole_line(void **state)
{
	struct pipe_reader p;
	const char *line;
	size_t len;
	struct err e;

	(void)state;
	pipe_open(&p, 100);
	put(&p, "partial");
	assert_int_equal(jsonrpc_reader_next(&p.r, &line, &len, 50, &e),
			 ERR_TIMEOUT);
	assert_string_equal(e.msg, "no whole message within 50 ms");
	put(&p, " line\n");
	assert_int_equal(jsonrpc_reader_next(&p.r, &line, &len, 1000, &e), 0);
	assert_int_equal(len, 12);
	assert_memory_equal(line, "partial line", 12);
	pipe_close(&p);
}

static void
test_jsonrpc_reader__skips_an_oversize_line_and_goes_on(void **state)
{
	struct pipe_reader p;
	char big[9000];
	const char *line;
	size_t len;
	struct err e;

	(void)state;
	pipe_open(&p, 100);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	put(&p, big);
	put(&p, "\nshort\n");
	memset(big, 'y', 101);
	big[100] = '\n';
	big[101] = '\0';
	put(&p, big); /* exactly the limit: accepted */
	big[100] = 'y';
	big[101] = '\n';
	big[102] = '\0';
	put(&p, big); /* one byte over */
	put(&p, "after\n");
	assert_int_equal(jsonrpc_reader_next(&p.r, &line, &len, 1000, &e),
			 ERR_OVERFLOW);
	assert_string_equal(e.msg, "message exceeds the limit of 100 bytes");
	assert_int_equal(jsonrpc_reader_next(&p.r, &line, &len, 1000, &e), 0);
	assert_memory_equal(line, "short", 5);
	assert_int_equal(jsonrpc_reader_next(&p.r, &line, &len, 1000, &e), 0);
	assert_int_equal(len, 100);
	assert_int_equal(jsonrpc_reader_next(&p.r, &line, &len, 1000, &e),
			 ERR_OVERFLOW);
	assert_int_equal(jsonrpc_reader_next(&p.r, &line, &len, 1000, &e), 0);
	assert_int_equal(len, 5);
	assert_memory_equal(line, "after", 5);
	pipe_close(&p);
}

static void
test_jsonrpc_reader__reports_end_of_stream(void **state)
{
	struct pipe_reader p;
	const char *line;
	size_t len;
	struct err e;

	(void)state;
	pipe_open(&p, 100);
	put(&p, "whole\ncut off");
	close(p.fds[1]);
	p.fds[1] = -1;
	assert_int_equal(jsonrpc_reader_next(&p.r, &line, &len, 1000, &e), 0);
	assert_int_equal(jsonrpc_reader_next(&p.r, &line, &len, 1000, &e),
			 ERR_EOF);
	assert_string_equal(e.msg, "stream ended inside a message");
	assert_int_equal(jsonrpc_reader_next(&p.r, &line, &len, 1000, &e),
			 ERR_EOF);
	assert_string_equal(e.msg, "end of input");
	pipe_close(&p);
}

static void
test_jsonrpc_write_fd__writes_a_line_and_reports_a_gone_reader(void **state)
{
	json_t *msg = jsonrpc_request_new(5, "hello", NULL);
	struct pipe_reader p;
	struct jsonrpc_msg m;
	const char *line;
	size_t len;
	struct err e;

	(void)state;
	pipe_open(&p, 4096);
	assert_int_equal(jsonrpc_write_fd(p.fds[1], msg, 4096, &e), 0);
	assert_int_equal(jsonrpc_reader_next(&p.r, &line, &len, 1000, &e), 0);
	assert_int_equal(jsonrpc_parse(&m, line, len, &e), 0);
	assert_string_equal(m.method, "hello");
	jsonrpc_msg_release(&m);
	assert_int_equal(jsonrpc_write_fd(p.fds[1], msg, 8, &e), ERR_OVERFLOW);
	close(p.fds[0]);
	p.fds[0] = -1;
	assert_int_equal(jsonrpc_write_fd(p.fds[1], msg, 4096, &e), ERR_EOF);
	assert_string_equal(e.msg, "cannot write message: Broken pipe");
	json_decref(msg);
	pipe_close(&p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_jsonrpc_parse__reads_a_request),
		cmocka_unit_test(
			test_jsonrpc_parse__reads_notifications_and_responses),
		cmocka_unit_test(
			test_jsonrpc_parse__rejects_malformed_input_with_rpc_errors),
		cmocka_unit_test(
			test_jsonrpc_reject__answers_with_the_id_when_known),
		cmocka_unit_test(test_jsonrpc_parse__survives_random_bytes),
		cmocka_unit_test(test_jsonrpc_builders__make_valid_messages),
		cmocka_unit_test(test_jsonrpc_encode__respects_the_cap),
		cmocka_unit_test(
			test_jsonrpc_reader__splits_lines_across_reads),
		cmocka_unit_test(
			test_jsonrpc_reader__times_out_without_a_whole_line),
		cmocka_unit_test(
			test_jsonrpc_reader__skips_an_oversize_line_and_goes_on),
		cmocka_unit_test(test_jsonrpc_reader__reports_end_of_stream),
		cmocka_unit_test(
			test_jsonrpc_write_fd__writes_a_line_and_reports_a_gone_reader),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
