#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ydoc.h"

/* Loads text as "t.yaml"; returns the rc and the formatted problems. */
static int
load(struct ydoc *doc, const char *text, char *problems, size_t size)
{
	struct diag_list d;
	struct buf b;
	int rc;

	diag_list_init(&d, 20);
	rc = ydoc_load_string(doc, "t.yaml", text, strlen(text), &d, NULL);
	buf_init(&b, 8192);
	diag_format(&b, &d, NULL);
	snprintf(problems, size, "%s", buf_cstr(&b));
	buf_release(&b);
	diag_list_release(&d);
	return rc;
}

static void
test_ydoc_load__builds_a_tree_with_places(void **state)
{
	struct ydoc doc;
	const struct ydoc_node *hosts, *h;
	char p[1024];

	(void)state;
	assert_int_equal(load(&doc,
			      "environment: prod\n"
			      "hosts:\n"
			      "  - name: ivr-01\n"
			      "    port: 22\n"
			      "  - name: 'ivr-02'\n",
			      p, sizeof(p)),
			 0);
	assert_string_equal(p, "");
	assert_int_equal(doc.root->type, YDOC_MAP);
	assert_string_equal(ydoc_get(doc.root, "environment")->text, "prod");
	hosts = ydoc_get(doc.root, "hosts");
	assert_int_equal(hosts->type, YDOC_SEQ);
	assert_int_equal(hosts->count, 2);
	h = hosts->items[1];
	assert_int_equal(ydoc_get(h, "name")->line, 5);
	assert_int_equal(ydoc_get(h, "name")->col, 11);
	assert_true(ydoc_get(h, "name")->quoted);
	assert_false(ydoc_get(hosts->items[0], "port")->quoted);
	assert_null(ydoc_get(doc.root, "absent"));
	ydoc_release(&doc);
}

static void
test_ydoc_load__reports_syntax_errors_at_their_place(void **state)
{
	struct ydoc doc;
	char p[1024];

	(void)state;
	assert_int_equal(load(&doc, "a: 1\nb: [1, 2\n", p, sizeof(p)),
			 ERR_PARSE);
	assert_string_equal(p, "t.yaml:3:1: did not find expected ',' or ']' "
			       "while parsing a flow sequence\n");
	assert_null(doc.root);
	ydoc_release(&doc);
	assert_int_equal(load(&doc, "a: 1\n  b: 2\n", p, sizeof(p)), ERR_PARSE);
	assert_string_equal(p, "t.yaml:2:4: mapping values are not allowed "
			       "in this context\n");
	ydoc_release(&doc);
}

static void
test_ydoc_load__refuses_duplicates_aliases_and_documents(void **state)
{
	struct ydoc doc;
	char p[1024];

	(void)state;
	assert_int_equal(load(&doc, "a: 1\nb: 2\na: 3\n", p, sizeof(p)),
			 ERR_PARSE);
	assert_string_equal(p, "t.yaml:3:1: duplicate key 'a' (first at "
			       "line 1)\n");
	ydoc_release(&doc);
	assert_int_equal(load(&doc, "a: &x 1\nb: *x\n", p, sizeof(p)),
			 ERR_PARSE);
	assert_string_equal(p, "t.yaml:1:4: anchors (&name) are not "
			       "supported: write the value out\n");
	ydoc_release(&doc);
	assert_int_equal(load(&doc, "a: 1\n---\nb: 2\n", p, sizeof(p)),
			 ERR_PARSE);
	assert_string_equal(p, "t.yaml:2:1: only one YAML document is "
			       "allowed per file\n");
	ydoc_release(&doc);
	assert_int_equal(load(&doc, "? [a]\n: 1\n", p, sizeof(p)), ERR_PARSE);
	assert_string_equal(p, "t.yaml:1:3: a mapping key must be a plain "
			       "value, not a list\n");
	ydoc_release(&doc);
}

static void
test_ydoc_load__caps_the_depth(void **state)
{
	char text[400], p[1024];
	struct ydoc doc;

	(void)state;
	memset(text, '[', 100);
	memset(text + 100, ']', 100);
	text[200] = '\0';
	assert_int_equal(load(&doc, text, p, sizeof(p)), ERR_PARSE);
	assert_string_equal(p, "t.yaml:1:65: nesting deeper than 64 levels\n");
	ydoc_release(&doc);
}

static void
test_ydoc_load__accepts_an_empty_file(void **state)
{
	struct ydoc doc;
	char p[64];

	(void)state;
	assert_int_equal(load(&doc, "", p, sizeof(p)), 0);
	assert_null(doc.root);
	ydoc_release(&doc);
}

static void
test_ydoc_load_file__reports_a_missing_file(void **state)
{
	struct diag_list d;
	struct ydoc doc;
	struct err e;

	(void)state;
	diag_list_init(&d, 5);
	assert_int_equal(
		ydoc_load_file(&doc, "/nonexistent/plan.yaml", 4096, &d, &e),
		ERR_NOTFOUND);
	assert_string_equal(e.msg, "cannot open '/nonexistent/plan.yaml': No "
				   "such file or directory");
	assert_int_equal(diag_total(&d), 0);
	ydoc_release(&doc);
	diag_list_release(&d);
}

static void
test_ydoc_check_keys__suggests_near_misses(void **state)
{
	static const char *const allowed[] = { "hosts", "environment",
					       "rollout", NULL };
	struct diag_list d;
	struct ydoc doc;
	struct buf b;
	char p[64];

	(void)state;
	load(&doc, "hsots: []\nenvironment: x\nzzz: 1\n", p, sizeof(p));
	diag_list_init(&d, 10);
	ydoc_check_keys(&d, &doc, doc.root, allowed);
	buf_init(&b, 4096);
	diag_format(&b, &d, NULL);
	assert_string_equal(buf_cstr(&b),
			    "t.yaml:1:1: unknown key 'hsots' (did you mean "
			    "'hosts'?)\n"
			    "t.yaml:3:1: unknown key 'zzz'\n");
	buf_release(&b);
	diag_list_release(&d);
	ydoc_release(&doc);
	assert_null(ydoc_suggest("x", allowed));
	assert_string_equal(ydoc_suggest("rolout", allowed), "rollout");
}

static void
test_ydoc_getters__check_types_and_ranges(void **state)
{
	struct diag_list d;
	struct ydoc doc;
	struct buf b;
	const char *s = NULL;
	int64_t i = 0, ms = 0;
	bool flag = false;
	char p[64];

	(void)state;
	load(&doc,
	     "name: ivr\nport: 99999\nenabled: yes\ntimeout: 5x\n"
	     "list: [1]\nok_port: 8080\nok_timeout: 30s\nok: true\nnull_v: ~\n",
	     p, sizeof(p));
	diag_list_init(&d, 20);
	assert_true(ydoc_get_str(&s, &d, &doc, doc.root, "name", true));
	assert_string_equal(s, "ivr");
	assert_false(
		ydoc_get_int(&i, &d, &doc, doc.root, "port", true, 1, 65535));
	assert_false(ydoc_get_bool(&flag, &d, &doc, doc.root, "enabled", true));
	assert_false(ydoc_get_duration(&ms, &d, &doc, doc.root, "timeout", true,
				       0, 60000));
	assert_false(ydoc_get_str(&s, &d, &doc, doc.root, "list", true));
	assert_false(ydoc_get_str(&s, &d, &doc, doc.root, "null_v", true));
	assert_false(ydoc_get_str(&s, &d, &doc, doc.root, "absent", true));
	assert_false(ydoc_get_str(&s, &d, &doc, doc.root, "optional", false));
	assert_true(ydoc_get_int(&i, &d, &doc, doc.root, "ok_port", true, 1,
				 65535));
	assert_int_equal(i, 8080);
	assert_true(ydoc_get_duration(&ms, &d, &doc, doc.root, "ok_timeout",
				      true, 0, 60000));
	assert_int_equal(ms, 30000);
	assert_true(ydoc_get_bool(&flag, &d, &doc, doc.root, "ok", true));
	assert_true(flag);
	buf_init(&b, 4096);
	diag_format(&b, &d, NULL);
	assert_string_equal(
		buf_cstr(&b),
		"t.yaml:1:1: missing key 'absent'\n"
		"t.yaml:2:7: 'port': number '99999' is out of range (1 to "
		"65535)\n"
		"t.yaml:3:10: 'enabled' must be true or false\n"
		"t.yaml:4:10: 'timeout': invalid duration '5x': unknown unit "
		"'x' (use ms, s, m or h)\n"
		"t.yaml:5:7: 'list' must be a string, found a list\n"
		"t.yaml:9:9: 'null_v' must be a string, found an empty "
		"value\n");
	buf_release(&b);
	diag_list_release(&d);
	ydoc_release(&doc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ydoc_load__builds_a_tree_with_places),
		cmocka_unit_test(
			test_ydoc_load__reports_syntax_errors_at_their_place),
		cmocka_unit_test(
			test_ydoc_load__refuses_duplicates_aliases_and_documents),
		cmocka_unit_test(test_ydoc_load__caps_the_depth),
		cmocka_unit_test(test_ydoc_load__accepts_an_empty_file),
		cmocka_unit_test(test_ydoc_load_file__reports_a_missing_file),
		cmocka_unit_test(test_ydoc_check_keys__suggests_near_misses),
		cmocka_unit_test(test_ydoc_getters__check_types_and_ranges),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
