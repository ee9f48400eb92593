#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "config.h"

struct fixture {
	char dir[64];
	char path[128];
	struct config c;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/ivr-test-config.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/runtime.yaml", f->dir);
	if (config_defaults(&f->c, "/opt/ivr/current", NULL) < 0)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	config_release(&f->c);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Writes text as the config file and loads it; problems into out. */
static int
load(struct fixture *f, const char *text, char *out, size_t size)
{
	struct diag_list d;
	struct buf b;
	struct err e;
	FILE *fp = fopen(f->path, "w");
	int rc;

	fputs(text, fp);
	fclose(fp);
	diag_list_init(&d, 50);
	rc = config_load(&f->c, f->path, &d, &e);
	buf_init(&b, 8192);
	diag_format(&b, &d, NULL);
	snprintf(out, size, "%s", buf_cstr(&b));
	buf_release(&b);
	for (char *at; (at = strstr(out, f->path)) != NULL;) {
		memcpy(at, "f.yaml", 6);
		memmove(at + 6, at + strlen(f->path),
			strlen(at + strlen(f->path)) + 1);
	}
	diag_list_release(&d);
	return rc;
}

static void
test_config_defaults__are_safe_and_complete(void **state)
{
	struct fixture *f = *state;

	assert_string_equal(f->c.listen_address, "127.0.0.1");
	assert_int_equal(f->c.port, 8080);
	assert_string_equal(f->c.flows_path,
			    "/opt/ivr/current/share/flows/banking.yaml");
	assert_string_equal(f->c.migrations_dir, "/opt/ivr/current/share/db");
	assert_int_equal(f->c.pin_attempts, 3);
	assert_int_equal(f->c.drain_ms, 60000);
	assert_null(f->c.admin_token_file);
	assert_null(f->c.log_file);
}

static void
test_config_load__overrides_and_resolves_paths(void **state)
{
	struct fixture *f = *state;
	char p[1024], want[256];

	int rc;

	rc = load(f,
		  "listen:\n"
		  "  address: 127.0.1.5\n"
		  "  port: 9090\n"
		  "  threads: 4\n"
		  "database:\n"
		  "  path: data/bank.db\n"
		  "  busy_timeout: 2s\n"
		  "flows: /srv/flows/banking.yaml\n"
		  "calls:\n"
		  "  max_concurrent: 50\n"
		  "  idle_timeout: 90s\n"
		  "  agent_uri: sip:desk@bank.example\n"
		  "timeouts: { first_digit: 7s, inter_digit: 2s }\n"
		  "retries: { noinput: 1, nomatch: 3, "
		  "pin_attempts: 5 }\n"
		  "drain: { deadline: 2m }\n"
		  "log: { file: ivr.log, level: debug, format: "
		  "json }\n"
		  "admin: { token_file: admin.token }\n",
		  p, sizeof(p));
	assert_string_equal(p, "");
	assert_int_equal(rc, 0);
	assert_string_equal(f->c.listen_address, "127.0.1.5");
	assert_int_equal(f->c.port, 9090);
	assert_int_equal(f->c.threads, 4);
	snprintf(want, sizeof(want), "%s/data/bank.db", f->dir);
	assert_string_equal(f->c.db_path, want);
	assert_int_equal(f->c.db_busy_ms, 2000);
	assert_string_equal(f->c.flows_path, "/srv/flows/banking.yaml");
	assert_int_equal(f->c.max_calls, 50);
	assert_int_equal(f->c.idle_ms, 90000);
	assert_string_equal(f->c.agent_uri, "sip:desk@bank.example");
	assert_int_equal(f->c.first_digit_ms, 7000);
	assert_int_equal(f->c.nomatch_max, 3);
	assert_int_equal(f->c.pin_attempts, 5);
	assert_int_equal(f->c.drain_ms, 120000);
	assert_int_equal(f->c.log_level, LOG_LEVEL_DEBUG);
	assert_int_equal(f->c.log_format, LOG_FORMAT_JSON);
	snprintf(want, sizeof(want), "%s/admin.token", f->dir);
	assert_string_equal(f->c.admin_token_file, want);
	/* Keys not in the file keep their defaults. */
	assert_int_equal(f->c.max_connections, 1024);
}

static void
test_config_load__reports_every_problem_with_its_place(void **state)
{
	struct fixture *f = *state;
	char p[2048];

	assert_int_equal(load(f,
			      "listen:\n"
			      "  port: 0\n"
			      "  adress: 1.2.3.4\n"
			      "database: bank.db\n"
			      "retries:\n"
			      "  pin_attempts: 11\n"
			      "log:\n"
			      "  level: loud\n"
			      "drain:\n"
			      "  deadline: soon\n"
			      "extra: 1\n",
			      p, sizeof(p)),
			 ERR_PARSE);
	assert_string_equal(
		p,
		"f.yaml:2:9: 'port': number '0' is out of range (1 to 65535)\n"
		"f.yaml:3:3: unknown key 'adress' (did you mean 'address'?)\n"
		"f.yaml:4:11: 'database' must be a mapping, found a value\n"
		"f.yaml:6:17: 'pin_attempts': number '11' is out of range (1 "
		"to 10)\n"
		"f.yaml:8:10: unknown log level 'loud' (use debug, info, warn "
		"or error)\n"
		"f.yaml:10:13: 'deadline': invalid duration 'soon': expected "
		"a number followed by a unit (e.g. 250ms, 30s, 5m, 1h)\n"
		"f.yaml:11:1: unknown key 'extra'\n");
	/* Nothing was half-applied from the bad values. */
	assert_int_equal(f->c.port, 8080);
	assert_int_equal(f->c.pin_attempts, 3);
}

static void
test_config_load__reports_an_unreadable_file(void **state)
{
	struct fixture *f = *state;
	struct diag_list d;
	struct err e;

	diag_list_init(&d, 5);
	assert_int_equal(
		config_load(&f->c, "/nonexistent/runtime.yaml", &d, &e),
		ERR_NOTFOUND);
	assert_string_equal(e.msg, "cannot open '/nonexistent/runtime.yaml': "
				   "No such file or directory");
	diag_list_release(&d);
}

/* PostgreSQL: one libpq conninfo from the string and its parts. */
static void
test_config_load__builds_the_postgresql_conninfo(void **state)
{
	struct fixture *f = *state;
	char out[2048], pass[160], text[1024];
	FILE *fp;

	snprintf(pass, sizeof(pass), "%s/app.pgpass", f->dir);
	fp = fopen(pass, "w");
	fputs("*:*:bank:ivr_app:secret\n", fp);
	fclose(fp);
	assert_int_equal(chmod(pass, 0600), 0);
	snprintf(text, sizeof(text),
		 "database:\n"
		 "  backend: postgresql\n"
		 "  conninfo: \"application_name=x connect_timeout=3\"\n"
		 "  host: 127.0.0.5\n"
		 "  port: 5433\n"
		 "  dbname: bank\n"
		 "  user: \"o'brien\"\n"
		 "  password_file: app.pgpass\n"
		 "  sslmode: verify-full\n"
		 "  pool_size: 16\n"
		 "  statement_timeout: 2s\n"
		 "  connect_timeout: 500ms\n");
	assert_int_equal(load(f, text, out, sizeof(out)), 0);
	assert_int_equal(f->c.db_backend, BANK_POSTGRESQL);
	snprintf(text, sizeof(text),
		 "application_name=x connect_timeout=3 host='127.0.0.5' "
		 "dbname='bank' user='o\\'brien' port=5433 "
		 "sslmode='verify-full' passfile='%s'",
		 pass);
	assert_string_equal(f->c.db_conninfo, text);
	assert_int_equal(f->c.db_pool_size, 16);
	assert_int_equal(f->c.db_statement_timeout_ms, 2000);
	assert_int_equal(f->c.db_connect_timeout_ms, 500);
	assert_string_equal(f->c.migrations_dir,
			    "/opt/ivr/current/share/db/postgresql");
	unlink(pass);
}

/* A password in the file, a password file others can read, the other
 * backend's keys and a wrong sslmode are refused, each at its place. */
static void
test_config_load__refuses_unsafe_database_settings(void **state)
{
	struct fixture *f = *state;
	char out[4096], pass[160];
	FILE *fp;

	snprintf(pass, sizeof(pass), "%s/open.pgpass", f->dir);
	fp = fopen(pass, "w");
	fputs("*:*:*:*:secret\n", fp);
	fclose(fp);
	assert_int_equal(chmod(pass, 0644), 0);
	assert_int_equal(load(f,
			      "database:\n"
			      "  backend: postgresql\n"
			      "  conninfo: \"host=db password=hunter2\"\n"
			      "  password_file: open.pgpass\n"
			      "  sslmode: sometimes\n"
			      "  path: bank.db\n",
			      out, sizeof(out)),
			 ERR_PARSE);
	assert_non_null(strstr(out, "f.yaml:3:13: a password does not "
				    "belong in the configuration"));
	assert_non_null(strstr(out, "f.yaml:4:18: 'password_file': '"));
	assert_non_null(strstr(out, "must be a file readable by its owner "
				    "only (chmod 600)"));
	assert_non_null(strstr(out, "f.yaml:5:12: 'sslmode' must be one of"));
	assert_non_null(strstr(out, "f.yaml:6:9: 'path' is not a setting of "
				    "backend 'postgresql'"));
	config_release(&f->c);
	assert_int_equal(config_defaults(&f->c, "/opt/ivr/current", NULL), 0);
	assert_int_equal(load(f,
			      "database:\n"
			      "  backend: oracle\n"
			      "  conninfo: \"host=db\"\n",
			      out, sizeof(out)),
			 ERR_PARSE);
	assert_non_null(strstr(out, "f.yaml:2:12: 'backend' must be sqlite or "
				    "postgresql"));
	assert_non_null(strstr(out, "f.yaml:3:13: 'conninfo' is not a "
				    "setting of backend 'sqlite'"));
	assert_int_equal(config_use_conninfo(&f->c, "user=x password=y", NULL),
			 ERR_INVAL);
	unlink(pass);
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_config_load__builds_the_postgresql_conninfo),
		T(test_config_load__refuses_unsafe_database_settings),
		T(test_config_defaults__are_safe_and_complete),
		T(test_config_load__overrides_and_resolves_paths),
		T(test_config_load__reports_every_problem_with_its_place),
		T(test_config_load__reports_an_unreadable_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
