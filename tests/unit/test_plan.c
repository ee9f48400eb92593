#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "plan.h"

#define GOOD IVR_SOURCE_DIR "/tests/data/plans/good.yaml"

static void
test_plan_load__reads_every_section(void **state)
{
	struct diag_list d;
	struct plan *p = NULL;
	struct err e;

	(void)state;
	diag_list_init(&d, 50);
	assert_int_equal(plan_load(&p, GOOD, &d, &e), 0);
	assert_string_equal(p->environment, "corpus");
	assert_int_equal(p->nhosts, 4);
	assert_string_equal(p->hosts[2].name, "h3");
	assert_string_equal(p->hosts[2].address, "127.0.1.3");
	assert_int_equal(p->hosts[2].port, 2222);
	assert_string_equal(p->hosts[2].user, "root");
	assert_string_equal(p->hosts[2].member, "h3");
	assert_int_equal(p->lb.kind, PLAN_LB_HAPROXY);
	assert_string_equal(p->lb.backend, "ivr");
	assert_string_equal(p->identity_file,
			    IVR_SOURCE_DIR "/tests/data/plans/identity");
	assert_int_equal(p->connect_timeout_ms, 2000);
	assert_int_equal(p->keepalive_ms, 15000); /* the default */
	assert_int_equal(p->parallel, 4);
	assert_int_equal(p->health_deadline_ms, 30000);
	assert_int_equal(p->nphases, 3);
	assert_int_equal(p->phases[1].hosts.percent, 50);
	assert_int_equal(p->phases[1].pause_ms, 1000);
	assert_true(p->phases[2].hosts.rest);
	assert_true(p->phases[2].approval);
	/* canary analysis */
	assert_string_equal(p->analysis.prometheus, "http://127.0.1.9:9090");
	assert_int_equal(p->analysis.interval_ms, 2000);
	assert_int_equal(p->analysis.query_timeout_ms, 5000); /* default */
	assert_true(p->analysis.inconclusive_wait);
	assert_int_equal(p->analysis.nchecks, 2);
	assert_int_equal(p->analysis.checks[0].kind, PLAN_CHECK_THRESHOLD);
	assert_true(p->analysis.checks[0].has_above);
	assert_false(p->analysis.checks[0].has_below);
	assert_true(p->analysis.checks[0].fail_above == 0.05);
	assert_int_equal(p->analysis.checks[0].failure_limit, 1);
	assert_int_equal(p->analysis.checks[1].kind, PLAN_CHECK_COMPARE);
	assert_int_equal(p->analysis.checks[1].min_samples, 6);
	assert_true(p->analysis.checks[1].confidence == 0.99);
	assert_false(p->analysis.checks[1].lower_is_worse);
	assert_int_equal(p->phases[0].nchecks, 2);
	assert_int_equal(p->phases[0].checks[1], 1);
	assert_int_equal(p->phases[1].nchecks, 0);
	assert_ptr_equal(plan_phase_named(p, p->phases[1].name), &p->phases[1]);
	assert_null(plan_phase_named(p, "nosuch"));
	assert_int_equal(p->capacity_floor_percent, 50);
	assert_int_equal(strlen(p->sha256), 64);
	assert_null(p->artifact);
	plan_free(p);
	diag_list_release(&d);
}

static void
test_plan_size_hosts__counts_percentages_and_the_rest(void **state)
{
	struct plan_size one = { .count = 1 }, quarter = { .percent = 25 },
			 rest = { .rest = true }, many = { .count = 10 };

	(void)state;
	assert_int_equal(plan_size_hosts(&one, 8, 8), 1);
	assert_int_equal(plan_size_hosts(&quarter, 8, 7), 2);
	assert_int_equal(plan_size_hosts(&quarter, 5, 5), 2); /* rounds up */
	assert_int_equal(plan_size_hosts(&rest, 8, 5), 5);
	assert_int_equal(plan_size_hosts(&many, 8, 3), 3);
}

static void
test_plan_expand__fills_placeholders(void **state)
{
	char name[] = "ivr-01", address[] = "127.0.1.1", out[64];
	struct plan_host h = { .name = name, .address = address, .port = 2222 };
	struct err e;

	(void)state;
	assert_int_equal(plan_expand(out, sizeof(out),
				     "http://{address}:8080/{name}?p={port}",
				     &h, &e),
			 0);
	assert_string_equal(out, "http://127.0.1.1:8080/ivr-01?p=2222");
	assert_int_equal(plan_expand(out, 10, "/a/very/long/{name}", &h, &e),
			 ERR_OVERFLOW);
}

static void
test_plan_phase_slice__splits_the_fleet_within_the_capacity_floor(void **st)
{
	struct plan p = { .nhosts = 10,
			  .nphases = 3,
			  .capacity_floor_percent = 75 };
	struct plan_slice s;

	(void)st;
	p.phases[0].hosts.count = 1;
	p.phases[0].batch.count = 1;
	p.phases[1].hosts.percent = 50;
	p.phases[1].batch.count = 4;
	p.phases[2].hosts.rest = true;
	p.phases[2].batch.percent = 10;
	/* 75% of 10 stays: at most 2 out (8 kept, rounded up). */
	assert_int_equal(plan_max_down(&p), 2);
	s = plan_phase_slice(&p, 0);
	assert_int_equal(s.first, 0);
	assert_int_equal(s.count, 1);
	assert_int_equal(s.batch, 1);
	s = plan_phase_slice(&p, 1);
	assert_int_equal(s.first, 1);
	assert_int_equal(s.count, 5);
	assert_int_equal(s.batch, 2); /* 4 asked, the floor allows 2 */
	s = plan_phase_slice(&p, 2);
	assert_int_equal(s.first, 6);
	assert_int_equal(s.count, 4);
	assert_int_equal(s.batch, 1);
	/* A floor of 100% still lets one host go at a time. */
	p.capacity_floor_percent = 100;
	assert_int_equal(plan_max_down(&p), 1);
}

/* good.yaml's runtime section: each host's settings and one id. */
static void
test_plan_load__renders_each_hosts_runtime_settings(void **state)
{
	struct diag_list d;
	struct plan *p = NULL, *again = NULL;
	char release[PLAN_RELEASE_MAX];
	struct err e;

	(void)state;
	diag_list_init(&d, 50);
	assert_int_equal(plan_load(&p, GOOD, &d, &e), 0);
	assert_int_equal(strlen(p->config_id), 12);
	assert_string_equal(p->hosts[0].runtime,
			    "# h1's ivr-runtime settings, rendered by ivrctl "
			    "from its plan's runtime section\n"
			    "listen:\n  address: \"127.0.1.1\"\n  port: 8080\n"
			    "  threads: 4\n"
			    "database:\n  path: /tmp/corpus/bank.db\n"
			    "calls:\n  max_concurrent: 500\n"
			    "  agent_uri: \"sip:advisers@bank.example\"\n"
			    "drain:\n  deadline: 20s\n");
	/* h2's own values, merged key by key, and a section of its own */
	assert_non_null(strstr(p->hosts[1].runtime,
			       "calls:\n  max_concurrent: 300\n  agent_uri:"));
	assert_non_null(strstr(p->hosts[1].runtime, "log:\n  file: h2.log\n"));
	assert_non_null(strstr(p->hosts[1].runtime, "address: \"127.0.1.2\""));
	plan_release(release, p, "1.4.0");
	assert_int_equal(strlen(release), 6 + 12);
	assert_true(plan_release_is(release, "1.4.0"));
	assert_false(plan_release_is(release, "1.4.1"));
	assert_false(plan_release_is("1.4.0", release));
	/* the same plan, the same id */
	assert_int_equal(plan_load(&again, GOOD, &d, &e), 0);
	assert_string_equal(again->config_id, p->config_id);
	plan_free(again);
	plan_free(p);
	diag_list_release(&d);
}

static void
test_plan_load__reports_an_unreadable_file(void **state)
{
	struct diag_list d;
	struct plan *p = NULL;
	struct err e;

	(void)state;
	diag_list_init(&d, 5);
	assert_int_equal(plan_load(&p, "/nonexistent/prod.yaml", &d, &e),
			 ERR_NOTFOUND);
	assert_string_equal(e.msg, "cannot open '/nonexistent/prod.yaml': No "
				   "such file or directory");
	assert_null(p);
	diag_list_release(&d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan_load__reads_every_section),
		cmocka_unit_test(
			test_plan_size_hosts__counts_percentages_and_the_rest),
		cmocka_unit_test(test_plan_expand__fills_placeholders),
		cmocka_unit_test(
			test_plan_phase_slice__splits_the_fleet_within_the_capacity_floor),
		cmocka_unit_test(test_plan_load__reports_an_unreadable_file),
		cmocka_unit_test(
			test_plan_load__renders_each_hosts_runtime_settings),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
