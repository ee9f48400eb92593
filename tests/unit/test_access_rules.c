/*
 * access: the plan's rules for each action, by account and by group, and
 * etcd's answers as the shared journal and lock read them (etcd_parse,
 * etcd_kv_decode; the live cluster is tests/fleet/test_etcd.sh's).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "access.h"
#include "etcd.h"

static char alice[] = "alice", root_group[] = "@root", carol[] = "carol",
	    bob[] = "bob", no_group[] = "@no-such-group-here",
	    production[] = "production";
static char *names_deploy[] = { alice, root_group };
static char *names_oncall[] = { carol };
static char *names_approve[] = { bob };

static void
role(struct plan_role *r, char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		r->names[i] = names[i];
	r->n = n;
	r->set = true;
}

static void
test_access__each_action_by_its_list(void **state)
{
	struct plan p = { .environment = production };
	struct err e;

	(void)state;
	/* no rules: anyone */
	assert_int_equal(access_check(&p, ACCESS_DEPLOY, "mallory", NULL), 0);
	p.access.enabled = true;
	role(&p.access.deploy, names_deploy, 2);
	role(&p.access.oncall, names_oncall, 1);
	assert_int_equal(access_check(&p, ACCESS_DEPLOY, "alice", NULL), 0);
	assert_int_equal(access_check(&p, ACCESS_DEPLOY, "carol", &e),
			 ERR_AUTH);
	assert_string_equal(e.msg, "carol may not deploy production: the "
				   "plan's access.deploy allows alice, @root");
	/* the group root holds the account root */
	assert_int_equal(access_check(&p, ACCESS_DEPLOY, "root", NULL), 0);
	/* promote and approve default to deploy's list */
	assert_int_equal(access_check(&p, ACCESS_PROMOTE, "alice", NULL), 0);
	assert_int_equal(access_check(&p, ACCESS_APPROVE, "alice", NULL), 0);
	assert_int_equal(access_check(&p, ACCESS_APPROVE, "bob", NULL),
			 ERR_AUTH);
	role(&p.access.approve, names_approve, 1);
	assert_int_equal(access_check(&p, ACCESS_APPROVE, "bob", NULL), 0);
	assert_int_equal(access_check(&p, ACCESS_APPROVE, "alice", NULL),
			 ERR_AUTH);
	/* rollback: on-call and the deployers */
	assert_int_equal(access_check(&p, ACCESS_ROLLBACK, "carol", NULL), 0);
	assert_int_equal(access_check(&p, ACCESS_ROLLBACK, "alice", NULL), 0);
	assert_int_equal(access_check(&p, ACCESS_ROLLBACK, "bob", &e),
			 ERR_AUTH);
	assert_string_equal(e.msg,
			    "bob may not rollback production: the plan's "
			    "access.oncall allows carol, and access.deploy "
			    "alice, @root");
	/* a group that does not exist holds nobody */
	p.access.deploy.names[1] = no_group;
	assert_int_equal(access_check(&p, ACCESS_DEPLOY, "root", NULL),
			 ERR_AUTH);
}

static void
test_etcd_parse__answers_and_errors(void **state)
{
	static const char range[] =
		"{\"header\":{\"revision\":\"3\"},\"kvs\":[{\"key\":"
		"\"L2l2ci9wcm9kL2xvY2s=\",\"create_revision\":\"2\","
		"\"value\":\"aG9sZGVyMQ==\",\"lease\":\"2324035711230376973\"},"
		"{\"key\":\"YQ==\"}],\"more\":true}";
	static const char lost[] =
		"{\"error\":\"etcdserver: requested lease not found\","
		"\"message\":\"etcdserver: requested lease not found\","
		"\"code\":5}";
	static const char noleader[] = "{\"error\":\"etcdserver: no leader\","
				       "\"message\":\"etcdserver: no "
				       "leader\",\"code\":14}";
	struct etcd_kv kv;
	json_t *doc;
	struct err e;

	(void)state;
	assert_int_equal(etcd_parse(&doc, range, strlen(range), 200, &e), 0);
	assert_int_equal(
		etcd_kv_decode(&kv,
			       json_array_get(json_object_get(doc, "kvs"), 0),
			       &e),
		0);
	assert_string_equal(kv.key, "/ivr/prod/lock");
	assert_string_equal(kv.value, "holder1");
	assert_int_equal(kv.len, 7);
	assert_int_equal(kv.create_revision, 2);
	assert_true(kv.lease == 2324035711230376973LL);
	etcd_kv_release(&kv);
	/* an empty value is left out by the gateway */
	assert_int_equal(
		etcd_kv_decode(&kv,
			       json_array_get(json_object_get(doc, "kvs"), 1),
			       &e),
		0);
	assert_string_equal(kv.value, "");
	etcd_kv_release(&kv);
	json_decref(doc);

	assert_int_equal(etcd_parse(&doc, lost, strlen(lost), 404, &e),
			 ERR_PROTO);
	assert_null(doc);
	assert_string_equal(
		e.msg,
		"etcd answered 404: etcdserver: requested lease not found");
	/* no leader: another member may answer */
	assert_int_equal(etcd_parse(&doc, noleader, strlen(noleader), 503, &e),
			 ERR_IO);
	assert_int_equal(etcd_parse(&doc, "<html>", 6, 502, &e), ERR_IO);
	assert_string_equal(e.msg, "etcd answered HTTP 502");
	assert_int_equal(etcd_parse(&doc, "[1]", 3, 200, &e), ERR_PARSE);
	/* a value that is not base64 */
	doc = json_pack("{s:s, s:s}", "key", "YQ==", "value", "a=bc");
	assert_int_equal(etcd_kv_decode(&kv, doc, &e), ERR_PARSE);
	assert_null(kv.key);
	json_decref(doc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_access__each_action_by_its_list),
		cmocka_unit_test(test_etcd_parse__answers_and_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
