#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "log.h"

/* 2026-11-26T04:30:00.123Z */
static void
fixed_clock(struct timespec *ts)
{
	ts->tv_sec = 1795667400;
	ts->tv_nsec = 123456789;
}

struct capture {
	struct log lg;
	FILE *f;
	char text[65536];
};

static int
setup(void **state)
{
	struct capture *c = calloc(1, sizeof(*c));

	c->f = tmpfile();
	log_init(&c->lg, "agent", fileno(c->f));
	c->lg.clock = fixed_clock;
	*state = c;
	return 0;
}

static int
teardown(void **state)
{
	struct capture *c = *state;

	fclose(c->f);
	free(c);
	return 0;
}

/* Everything written so far. */
static const char *
captured(struct capture *c)
{
	size_t n;

	rewind(c->f);
	n = fread(c->text, 1, sizeof(c->text) - 1, c->f);
	c->text[n] = '\0';
	return c->text;
}

static void
test_log_kv__writes_one_text_line(void **state)
{
	struct capture *c = *state;

	log_kv(&c->lg, LOG_LEVEL_INFO, "release activated",
	       LOG_STR("version", "2.5.0"), LOG_INT("calls", 3),
	       LOG_BOOL("forced", false), LOG_STR("note", "two words"),
	       LOG_STR("missing", NULL));
	assert_string_equal(captured(c),
			    "2026-11-26T04:30:00.123Z info agent: release "
			    "activated version=2.5.0 calls=3 forced=false "
			    "note=\"two words\" missing=null\n");
}

static void
test_log_event__drops_events_below_the_level(void **state)
{
	struct capture *c = *state;

	c->lg.level = LOG_LEVEL_WARN;
	log_msg(&c->lg, LOG_LEVEL_INFO, "not shown");
	log_msg(&c->lg, LOG_LEVEL_DEBUG, "not shown");
	log_msg(&c->lg, LOG_LEVEL_ERROR, "shown");
	assert_string_equal(captured(c),
			    "2026-11-26T04:30:00.123Z error agent: shown\n");
	assert_false(log_enabled(&c->lg, LOG_LEVEL_INFO));
	assert_true(log_enabled(&c->lg, LOG_LEVEL_WARN));
}

static void
test_log_event__never_prints_a_secret(void **state)
{
	struct capture *c = *state;
	const char *out;

	log_kv(&c->lg, LOG_LEVEL_INFO, "caller authenticated",
	       LOG_SECRET("digits", "4921"), LOG_STR("pin", "1234"),
	       LOG_STR("Account_Number", "12345678"), LOG_INT("token", 99));
	out = captured(c);
	assert_null(strstr(out, "4921"));
	assert_null(strstr(out, "1234"));
	assert_null(strstr(out, "12345678"));
	assert_null(strstr(out, "99"));
	assert_non_null(strstr(out, "digits=[secret] pin=[secret] "
				    "Account_Number=[secret] token=[secret]"));
	c->lg.format = LOG_FORMAT_JSON;
	rewind(c->f);
	assert_int_equal(ftruncate(fileno(c->f), 0), 0);
	log_kv(&c->lg, LOG_LEVEL_INFO, "x", LOG_SECRET("digits", "4921"),
	       LOG_STR("passphrase", "hunter2"));
	out = captured(c);
	assert_null(strstr(out, "4921"));
	assert_null(strstr(out, "hunter2"));
}

static void
test_log_event__escapes_newlines_so_one_event_is_one_line(void **state)
{
	struct capture *c = *state;

	log_kv(&c->lg, LOG_LEVEL_WARN, "bad\nmessage",
	       LOG_STR("value", "a\nb\"c"));
	assert_string_equal(
		captured(c),
		"2026-11-26T04:30:00.123Z warn agent: bad\\nmessage "
		"value=\"a\\nb\\\"c\"\n");
}

static void
test_log_event__writes_json_lines(void **state)
{
	struct capture *c = *state;
	json_error_t jerr;
	json_t *o;

	c->lg.format = LOG_FORMAT_JSON;
	log_kv(&c->lg, LOG_LEVEL_ERROR, "swap failed",
	       LOG_STR("host", "ivr-01"), LOG_INT("attempt", 2),
	       LOG_BOOL("rolled_back", true), LOG_STR("bytes", "\xff\xfe"));
	o = json_loads(captured(c), 0, &jerr);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "ts")),
			    "2026-11-26T04:30:00.123Z");
	assert_string_equal(json_string_value(json_object_get(o, "level")),
			    "error");
	assert_string_equal(json_string_value(json_object_get(o, "component")),
			    "agent");
	assert_string_equal(json_string_value(json_object_get(o, "msg")),
			    "swap failed");
	assert_string_equal(json_string_value(json_object_get(o, "host")),
			    "ivr-01");
	assert_int_equal(json_integer_value(json_object_get(o, "attempt")), 2);
	assert_true(json_is_true(json_object_get(o, "rolled_back")));
	assert_string_equal(json_string_value(json_object_get(o, "bytes")),
			    "\\xff\\xfe");
	assert_int_equal(strchr(c->text, '\n') - c->text,
			 (long)strlen(c->text) - 1);
	json_decref(o);
}

static void
test_log_event__cuts_huge_values_visibly(void **state)
{
	struct capture *c = *state;
	char *big = malloc(LOG_VALUE_MAX * 2 + 1);
	const char *out;

	memset(big, 'v', LOG_VALUE_MAX * 2);
	big[LOG_VALUE_MAX * 2] = '\0';
	log_kv(&c->lg, LOG_LEVEL_INFO, "big", LOG_STR("v", big));
	out = captured(c);
	assert_non_null(strstr(out, "...[cut]\n"));
	assert_true(strlen(out) < LOG_VALUE_MAX + 100);
	free(big);
}

static void
test_log_level_parse__accepts_names_and_rejects_others(void **state)
{
	enum log_level lv = LOG_LEVEL_INFO;
	enum log_format fmt = LOG_FORMAT_TEXT;
	struct err e;

	(void)state;
	assert_int_equal(log_level_parse(&lv, "debug", &e), 0);
	assert_int_equal(lv, LOG_LEVEL_DEBUG);
	assert_int_equal(log_level_parse(&lv, "loud", &e), ERR_INVAL);
	assert_string_equal(e.msg, "unknown log level 'loud' (use debug, "
				   "info, warn or error)");
	assert_int_equal(lv, LOG_LEVEL_DEBUG);
	assert_int_equal(log_format_parse(&fmt, "json", &e), 0);
	assert_int_equal(fmt, LOG_FORMAT_JSON);
	assert_int_equal(log_format_parse(&fmt, "xml", &e), ERR_INVAL);
	assert_string_equal(e.msg,
			    "unknown log format 'xml' (use text or json)");
	assert_string_equal(log_level_name(LOG_LEVEL_WARN), "warn");
}

static void
test_log_open_file__appends_and_reports_failure(void **state)
{
	char dir[] = "/tmp/ivr-test-log.XXXXXX", path[128], text[256];
	struct log lg;
	struct err e;
	FILE *f;
	size_t n;

	(void)state;
	assert_non_null(mkdtemp(dir));
	log_init(&lg, "runtime", -1);
	lg.clock = fixed_clock;
	snprintf(path, sizeof(path), "%s/no/such/dir/x.log", dir);
	assert_int_equal(log_open_file(&lg, path, &e), ERR_IO);
	assert_true(strncmp(e.msg, "cannot open log file '", 22) == 0);
	assert_non_null(strstr(e.msg, ": No such file or directory"));
	snprintf(path, sizeof(path), "%s/x.log", dir);
	assert_int_equal(log_open_file(&lg, path, &e), 0);
	log_msg(&lg, LOG_LEVEL_INFO, "one");
	log_msg(&lg, LOG_LEVEL_INFO, "two");
	log_close(&lg);
	log_msg(&lg, LOG_LEVEL_INFO, "dropped after close");
	f = fopen(path, "r");
	n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	fclose(f);
	assert_string_equal(text,
			    "2026-11-26T04:30:00.123Z info runtime: one\n"
			    "2026-11-26T04:30:00.123Z info runtime: two\n");
	unlink(path);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_log_kv__writes_one_text_line, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_log_event__drops_events_below_the_level, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_log_event__never_prints_a_secret, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_log_event__escapes_newlines_so_one_event_is_one_line,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_log_event__writes_json_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_log_event__cuts_huge_values_visibly, setup,
			teardown),
		cmocka_unit_test(
			test_log_level_parse__accepts_names_and_rejects_others),
		cmocka_unit_test(
			test_log_open_file__appends_and_reports_failure),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
