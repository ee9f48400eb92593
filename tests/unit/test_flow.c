#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "flow.h"

#define BANKING IVR_SOURCE_DIR "/ivr-runtime/share/flows/banking.yaml"

/* Loads text from a temp file; returns rc and the formatted problems. */
static int
load_text(struct flow **f, const char *text, char *problems, size_t size)
{
	char path[] = "/tmp/ivr-test-flow.XXXXXX";
	struct diag_list d;
	struct buf b;
	struct err e;
	int fd = mkstemp(path), rc;
	char *p;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	diag_list_init(&d, 50);
	rc = flow_load(f, path, &d, &e);
	buf_init(&b, 16384);
	diag_format(&b, &d, NULL);
	/* Messages name the temp path: show them as "f.yaml". */
	snprintf(problems, size, "%s", buf_cstr(&b));
	while ((p = strstr(problems, path)) != NULL) {
		memcpy(p, "f.yaml", 6);
		memmove(p + 6, p + strlen(path), strlen(p + strlen(path)) + 1);
	}
	buf_release(&b);
	diag_list_release(&d);
	unlink(path);
	return rc;
}

static void
test_flow_load__accepts_the_banking_flow(void **state)
{
	const struct flow_node *n;
	struct diag_list d;
	struct flow *f = NULL;
	struct err e;

	(void)state;
	diag_list_init(&d, 50);
	assert_int_equal(flow_load(&f, BANKING, &d, &e), 0);
	assert_int_equal(diag_total(&d), 0);
	assert_string_equal(f->name, "banking");
	assert_string_equal(f->start->name, "welcome");
	n = flow_find(f, "ask_account");
	assert_int_equal(n->kind, FLOW_INPUT);
	assert_int_equal(n->max_digits, 8);
	assert_int_equal(n->term, '#');
	assert_string_equal(n->on_limit->name, "goodbye");
	assert_true(flow_find(f, "ask_pin")->secret);
	n = flow_find(f, "main_menu");
	assert_int_equal(n->kind, FLOW_MENU);
	assert_string_equal(flow_choice(n, '1')->name, "balances");
	assert_null(flow_choice(n, '7'));
	n = flow_find(f, "authenticate");
	assert_string_equal(flow_result(n, "locked")->name, "locked_out");
	assert_null(flow_result(n, "nope"));
	assert_string_equal(f->on_limit->name, "agent");
	flow_free(f);
	diag_list_release(&d);
}

static void
test_flow_load__reports_every_reference_problem(void **state)
{
	struct flow *f = (struct flow *)1;
	char p[4096];

	(void)state;
	assert_int_equal(load_text(&f,
				   "flow: t\n"
				   "start: hello\n"
				   "on_limit: bye\n"
				   "nodes:\n"
				   "  hello:\n"
				   "    say: Hi\n"
				   "    next: mian\n"
				   "  main:\n"
				   "    prompt: Press 1\n"
				   "    menu: {\"1\": nowhere, \"9\": main}\n"
				   "  bye:\n"
				   "    say: Bye\n"
				   "    end: hangup\n",
				   p, sizeof(p)),
			 ERR_PARSE);
	assert_null(f);
	assert_string_equal(p,
			    "f.yaml:7:11: 'next': unknown node 'mian' (did "
			    "you mean 'main'?)\n"
			    "f.yaml:10:17: menu choice: unknown node "
			    "'nowhere'\n"
			    "f.yaml:10:26: menu key '9' is taken by 'repeat' "
			    "in every menu\n");
}

static void
test_flow_load__reports_unreachable_nodes_and_silent_loops(void **state)
{
	struct flow *f;
	char p[4096];

	(void)state;
	assert_int_equal(load_text(&f,
				   "flow: t\n"
				   "start: a\n"
				   "on_limit: bye\n"
				   "nodes:\n"
				   "  a:\n"
				   "    say: A\n"
				   "    next: b\n"
				   "  b:\n"
				   "    say: B\n"
				   "    next: a\n"
				   "  orphan:\n"
				   "    say: nobody hears this\n"
				   "    next: bye\n"
				   "  bye:\n"
				   "    end: hangup\n",
				   p, sizeof(p)),
			 ERR_PARSE);
	assert_string_equal(p, "f.yaml:8:3: node 'b' loops back to 'a' without "
			       "waiting for the caller\n"
			       "f.yaml:11:3: node 'orphan' is never reached "
			       "from 'a'\n");
}

static void
test_flow_load__checks_prompts_digits_and_actions(void **state)
{
	struct flow *f;
	char p[4096];

	(void)state;
	assert_int_equal(
		load_text(&f,
			  "flow: t\n"
			  "start: ask\n"
			  "on_limit: bye\n"
			  "nodes:\n"
			  "  ask:\n"
			  "    input: {min: 5, max: 4, keys: \"12a\", term: "
			  "\"1\"}\n"
			  "    store: acount\n"
			  "    next: act\n"
			  "  act:\n"
			  "    action: autenticate\n"
			  "  act2:\n"
			  "    action: balances\n"
			  "    results: {ok: bye, oops: bye}\n"
			  "    prompt: \"Say {balance}\"\n"
			  "  bye:\n"
			  "    say: \"Bye {nme}\"\n"
			  "    end: leave\n"
			  "    colour: red\n",
			  p, sizeof(p)),
		ERR_PARSE);
	assert_string_equal(
		p,
		"f.yaml:6:5: missing prompt: 'prompt' is required for a node "
		"that asks the caller\n"
		"f.yaml:6:12: 'min' (5) is larger than 'max' (4)\n"
		"f.yaml:6:35: bad digit set '12a': use distinct keys from 0-9, "
		"* and #\n"
		"f.yaml:6:48: bad terminator '1': one key from 0-9, * or # "
		"that "
		"is not in the digit set\n"
		"f.yaml:7:12: unknown variable 'acount' (use account, pin, "
		"from, to or amount)\n"
		"f.yaml:10:13: unknown action 'autenticate' (did you mean "
		"'authenticate'?)\n"
		"f.yaml:12:5: node 'act2' asks nothing: 'prompt' and 'help' "
		"belong to input and menu nodes\n"
		"f.yaml:13:24: unknown key 'oops'\n"
		"f.yaml:16:10: unknown placeholder '{nme}' (use {amount}, "
		"{from}, {to} or {confirmation})\n"
		"f.yaml:17:10: 'end' must be hangup or agent, not 'leave'\n"
		"f.yaml:18:5: unknown key 'colour'\n");
}

static void
test_flow_load__reports_yaml_errors_and_empty_files(void **state)
{
	struct flow *f;
	char p[1024];

	(void)state;
	assert_int_equal(load_text(&f, "flow: [\n", p, sizeof(p)), ERR_PARSE);
	assert_string_equal(p, "f.yaml:2:1: did not find expected node "
			       "content while parsing a flow node\n");
	assert_int_equal(load_text(&f, "", p, sizeof(p)), ERR_PARSE);
	assert_string_equal(p, "f.yaml: the flow file is empty\n");
	assert_int_equal(load_text(&f, "- a\n", p, sizeof(p)), ERR_PARSE);
	assert_string_equal(p, "f.yaml:1:1: a flow file must be a mapping, "
			       "found a list\n");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flow_load__accepts_the_banking_flow),
		cmocka_unit_test(
			test_flow_load__reports_every_reference_problem),
		cmocka_unit_test(
			test_flow_load__reports_unreachable_nodes_and_silent_loops),
		cmocka_unit_test(
			test_flow_load__checks_prompts_digits_and_actions),
		cmocka_unit_test(
			test_flow_load__reports_yaml_errors_and_empty_files),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
