/*
 * lb.get_state and lb.set_state through the real agent against a real
 * HAProxy (runtime API on a unix socket and on a loopback TCP port) and a
 * real nginx (upstream include file, nginx -t, reload), both started here
 * on loopback and stopped by pid; and the pool (lb.members, lb.add,
 * lb.remove) grown and shrunk on both, HAProxy's configuration file kept
 * in step.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "fileio.h"
#include "testsupport.h"

struct fixture {
	char dir[64];
	char root[128];
	char log[128];
	pid_t lb; /* haproxy or nginx */
	struct ts_agent agent;
	int front;   /* the balancer's listening port */
	int back[2]; /* the members' ports */
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char path[160];

	ts_tmpdir(f->dir, "lb");
	snprintf(f->root, sizeof(f->root), "%s/root", f->dir);
	snprintf(f->log, sizeof(f->log), "%s/test.log", f->dir);
	mkdir(f->root, 0755);
	f->front = ts_free_port();
	f->back[0] = ts_free_port();
	f->back[1] = ts_free_port();
	assert_int_equal(
		ts_agent_start(&f->agent, IVR_AGENT_BIN, f->root, f->log), 0);
	snprintf(path, sizeof(path), "%s/transcript.jsonl", f->dir);
	f->agent.transcript = fopen(path, "w");
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char path[160], out[160];
	int rc;

	ts_agent_stop(&f->agent);
	fclose(f->agent.transcript);
	if (f->lb > 0)
		ts_stop(f->lb, SIGTERM, 5000);
	snprintf(path, sizeof(path), "%s/transcript.jsonl", f->dir);
	snprintf(out, sizeof(out), "%s/schema.out", f->dir);
	rc = ts_agent_check_transcript(IVR_SOURCE_DIR, path, out);
	if (rc != 0) {
		char *text = ts_read_file(out);

		printf("%s", text ? text : "(no validator output)\n");
		free(text);
	}
	ts_rmrf(f->dir);
	free(f);
	return rc == 0 ? 0 : -1;
}

static void
write_file(const char *path, const char *text)
{
	assert_int_equal(
		fileio_write_atomic(path, text, strlen(text), 0644, NULL), 0);
}

/* Calls and returns the result, failing the test on an error. */
static json_t *
ok(struct fixture *f, const char *method, json_t *params)
{
	json_t *o = ts_agent_call(&f->agent, method, params), *r;

	assert_non_null(o);
	if (json_object_get(o, "error") != NULL)
		fail_msg("%s: %s", method,
			 json_string_value(json_object_get(
				 json_object_get(o, "error"), "message")));
	r = json_incref(json_object_get(o, "result"));
	json_decref(o);
	return r;
}

/* Calls expecting an error with code; returns its message (static). */
static const char *
fails(struct fixture *f, const char *method, json_t *params, int code)
{
	static char msg[512];
	json_t *o = ts_agent_call(&f->agent, method, params), *e;

	assert_non_null(o);
	e = json_object_get(o, "error");
	assert_non_null(e);
	assert_int_equal(json_integer_value(json_object_get(e, "code")), code);
	snprintf(msg, sizeof(msg), "%s",
		 json_string_value(json_object_get(e, "message")));
	json_decref(o);
	return msg;
}

static const char *
state_of(json_t *r)
{
	return json_string_value(json_object_get(r, "state"));
}

static void
start_haproxy(struct fixture *f, int admin_port)
{
	char cfg[256], text[2048], sock[256], pid[256];
	const char *argv[] = { "haproxy", "-db", "-f", cfg, NULL };

	snprintf(cfg, sizeof(cfg), "%s/haproxy.cfg", f->root);
	snprintf(sock, sizeof(sock), "%s/admin.sock", f->root);
	snprintf(pid, sizeof(pid), "%s/haproxy.pid", f->root);
	snprintf(text, sizeof(text),
		 "global\n"
		 "\tstats socket %s mode 600 level admin\n"
		 "\tstats socket ipv4@127.0.0.1:%d level admin\n"
		 "\tstats maxconn 100\n"
		 "defaults\n\tmode http\n\ttimeout connect 1s\n"
		 "\ttimeout client 5s\n\ttimeout server 5s\n"
		 "frontend fe\n\tbind 127.0.0.1:%d\n\tdefault_backend ivr\n"
		 "backend ivr\n"
		 "\tserver ivr-01 127.0.0.1:%d\n"
		 "\tserver ivr-02 127.0.0.1:%d\n",
		 sock, admin_port, f->front, f->back[0], f->back[1]);
	write_file(cfg, text);
	f->lb = ts_spawn(argv, f->log);
	for (int i = 0; i < 100 && access(sock, F_OK) != 0; i++)
		usleep(20 * 1000);
	assert_int_equal(access(sock, F_OK), 0);
}

static json_t *
haproxy_params(const char *socket, const char *server, const char *state)
{
	json_t *p =
		json_pack("{s:s, s:s, s:s, s:s}", "kind", "haproxy", "socket",
			  socket, "backend", "ivr", "server", server);

	if (state != NULL)
		json_object_set_new(p, "state", json_string(state));
	return p;
}

static void
test_lb__drives_haproxy_through_its_runtime_api(void **state)
{
	struct fixture *f = *state;
	int admin = ts_free_port();
	char sock[256], tcp[64];
	json_t *r;

	start_haproxy(f, admin);
	snprintf(sock, sizeof(sock), "%s/admin.sock", f->root);
	snprintf(tcp, sizeof(tcp), "127.0.0.1:%d", admin);
	r = ok(f, "lb.get_state", haproxy_params(sock, "ivr-02", NULL));
	assert_string_equal(state_of(r), "ready");
	assert_int_equal(json_integer_value(json_object_get(r, "sessions")), 0);
	json_decref(r);
	r = ok(f, "lb.set_state", haproxy_params(sock, "ivr-02", "drain"));
	assert_string_equal(state_of(r), "drain");
	assert_string_equal(json_string_value(json_object_get(r, "previous")),
			    "ready");
	json_decref(r);
	/* Read back through the TCP socket: the same HAProxy state. */
	r = ok(f, "lb.get_state", haproxy_params(tcp, "ivr-02", NULL));
	assert_string_equal(state_of(r), "drain");
	json_decref(r);
	r = ok(f, "lb.set_state", haproxy_params(tcp, "ivr-02", "maint"));
	assert_string_equal(state_of(r), "maint");
	json_decref(r);
	r = ok(f, "lb.set_state", haproxy_params(sock, "ivr-02", "ready"));
	assert_string_equal(state_of(r), "ready");
	json_decref(r);
	/* The other member never moved. */
	r = ok(f, "lb.get_state", haproxy_params(sock, "ivr-01", NULL));
	assert_string_equal(state_of(r), "ready");
	json_decref(r);
	assert_non_null(
		strstr(fails(f, "lb.set_state",
			     haproxy_params(sock, "ivr-09", "drain"), -32001),
		       "no server 'ivr/ivr-09' in HAProxy"));
	fails(f, "lb.set_state", haproxy_params(sock, "ivr-01", "asleep"),
	      -32602);
	assert_non_null(strstr(
		fails(f, "lb.get_state",
		      haproxy_params("/etc/passwd", "ivr-01", NULL), -32602),
		"must name an existing path under the agent's "
		"root"));
}

static void
start_nginx(struct fixture *f)
{
	char conf[256], up[256], text[2048], pid[256];
	const char *argv[] = { "nginx", "-c", conf, NULL };

	snprintf(conf, sizeof(conf), "%s/nginx.conf", f->root);
	snprintf(up, sizeof(up), "%s/upstream.conf", f->root);
	snprintf(pid, sizeof(pid), "%s/nginx.pid", f->root);
	snprintf(text, sizeof(text),
		 "# one live member (%d) and one that is not listening (%d)\n"
		 "server 127.0.0.1:%d;\nserver 127.0.0.1:%d max_fails=0;\n",
		 f->back[0], f->back[1], f->back[0], f->back[1]);
	write_file(up, text);
	snprintf(text, sizeof(text),
		 "daemon off;\nworker_processes 1;\npid %s;\n"
		 "error_log %s/nginx-error.log;\n"
		 "events { worker_connections 64; }\n"
		 "http {\n\taccess_log off;\n"
		 "\tupstream ivr { include %s; }\n"
		 "\tserver { listen 127.0.0.1:%d; location / { proxy_pass "
		 "http://ivr; } }\n"
		 "\tserver { listen 127.0.0.1:%d; location / { return 200 "
		 "\"member\\n\"; } }\n}\n",
		 pid, f->root, up, f->front, f->back[0]);
	write_file(conf, text);
	f->lb = ts_spawn(argv, f->log);
	for (int i = 0; i < 100 && access(pid, F_OK) != 0; i++)
		usleep(20 * 1000);
	assert_int_equal(access(pid, F_OK), 0);
}

static json_t *
nginx_params(struct fixture *f, int port, const char *state)
{
	char up[256], conf[256], pid[256], server[64];
	json_t *p;

	snprintf(up, sizeof(up), "%s/upstream.conf", f->root);
	snprintf(conf, sizeof(conf), "%s/nginx.conf", f->root);
	snprintf(pid, sizeof(pid), "%s/nginx.pid", f->root);
	snprintf(server, sizeof(server), "127.0.0.1:%d", port);
	p = json_pack("{s:s, s:s, s:s, s:s, s:s}", "kind", "nginx", "server",
		      server, "upstream_file", up, "nginx_conf", conf,
		      "nginx_pid", pid);
	if (state != NULL)
		json_object_set_new(p, "state", json_string(state));
	return p;
}

/* Polls the balancer until it answers want (after a reload). */
static long
front_answers(struct fixture *f, long want)
{
	char url[64];
	long got = 0;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", f->front);
	for (int i = 0; i < 100; i++) {
		if ((got = ts_http("GET", url, NULL, NULL, NULL)) == want)
			break;
		usleep(20 * 1000);
	}
	return got;
}

static void
test_lb__drives_nginx_through_its_upstream_file(void **state)
{
	struct fixture *f = *state;
	char up[256], conf[256], *text;
	json_t *r;

	start_nginx(f);
	assert_int_equal(front_answers(f, 200), 200);
	r = ok(f, "lb.set_state", nginx_params(f, f->back[1], "maint"));
	assert_string_equal(state_of(r), "maint");
	assert_true(json_is_null(json_object_get(r, "sessions")));
	json_decref(r);
	r = ok(f, "lb.set_state", nginx_params(f, f->back[0], "drain"));
	assert_string_equal(state_of(r), "drain");
	json_decref(r);
	/* Every member down: nginx reloaded and has no live upstream. */
	assert_int_equal(front_answers(f, 502), 502);
	snprintf(up, sizeof(up), "%s/upstream.conf", f->root);
	text = ts_read_file(up);
	assert_non_null(strstr(text, " down; # ivr:drain\n"));
	assert_non_null(strstr(text, " max_fails=0 down; # ivr:maint\n"));
	free(text);
	r = ok(f, "lb.get_state", nginx_params(f, f->back[0], NULL));
	assert_string_equal(state_of(r), "drain");
	json_decref(r);
	r = ok(f, "lb.set_state", nginx_params(f, f->back[0], "ready"));
	assert_string_equal(state_of(r), "ready");
	assert_string_equal(json_string_value(json_object_get(r, "previous")),
			    "drain");
	json_decref(r);
	assert_int_equal(front_answers(f, 200), 200);

	/* A configuration nginx -t refuses: the change is undone. */
	snprintf(conf, sizeof(conf), "%s/nginx.conf", f->root);
	text = ts_read_file(conf);
	write_file(conf, "this is not nginx;\n");
	assert_non_null(
		strstr(fails(f, "lb.set_state",
			     nginx_params(f, f->back[0], "maint"), -32000),
		       "nginx -t refused the change"));
	write_file(conf, text);
	free(text);
	r = ok(f, "lb.get_state", nginx_params(f, f->back[0], NULL));
	assert_string_equal(state_of(r), "ready");
	json_decref(r);
	assert_non_null(strstr(
		fails(f, "lb.get_state", nginx_params(f, 1, NULL), -32001),
		"no server '127.0.0.1:1'"));
}

/* The members' names, comma-separated, with their states. */
static char *
members(struct fixture *f, json_t *params)
{
	static char out[512];
	json_t *r = ok(f, "lb.members", params), *m;
	size_t i, n = 0;

	out[0] = '\0';
	json_array_foreach (json_object_get(r, "members"), i, m)
		n += (size_t)snprintf(
			out + n, sizeof(out) - n, "%s%s=%s", i ? "," : "",
			json_string_value(json_object_get(m, "name")),
			json_string_value(json_object_get(m, "state")));
	json_decref(r);
	return out;
}

static json_t *
pool_params(const char *sock, const char *cfg, const char *server,
	    const char *line)
{
	json_t *p = haproxy_params(sock, server ? server : "-", NULL);

	if (server == NULL)
		json_object_del(p, "server");
	if (cfg != NULL)
		json_object_set_new(p, "config", json_string(cfg));
	if (line != NULL)
		json_object_set_new(p, "line", json_string(line));
	return p;
}

static void
test_lb__grows_and_shrinks_the_haproxy_pool(void **state)
{
	struct fixture *f = *state;
	char sock[256], cfg[256], line[128], want[256], *text, *before;
	json_t *r;

	start_haproxy(f, ts_free_port());
	snprintf(sock, sizeof(sock), "%s/admin.sock", f->root);
	snprintf(cfg, sizeof(cfg), "%s/haproxy.cfg", f->root);
	assert_string_equal(members(f, pool_params(sock, NULL, NULL, NULL)),
			    "ivr-01=ready,ivr-02=ready");
	r = ok(f, "lb.members", pool_params(sock, NULL, NULL, NULL));
	snprintf(want, sizeof(want), "127.0.0.1:%d", f->back[1]);
	assert_string_equal(
		json_string_value(json_object_get(
			json_array_get(json_object_get(r, "members"), 1),
			"address")),
		want);
	json_decref(r);

	/* Added in maintenance, at once in the file after the last server. */
	snprintf(line, sizeof(line), "127.0.0.1:%d check inter 500ms",
		 f->back[0]);
	r = ok(f, "lb.add", pool_params(sock, cfg, "ivr-03", line));
	assert_string_equal(state_of(r), "maint");
	assert_true(json_is_true(json_object_get(r, "config")));
	json_decref(r);
	assert_string_equal(members(f, pool_params(sock, NULL, NULL, NULL)),
			    "ivr-01=ready,ivr-02=ready,ivr-03=maint");
	text = ts_read_file(cfg);
	snprintf(want, sizeof(want),
		 "\tserver ivr-02 127.0.0.1:%d\n\tserver ivr-03 %s\n",
		 f->back[1], line);
	assert_non_null(strstr(text, want));
	free(text);
	r = ok(f, "lb.set_state", haproxy_params(sock, "ivr-03", "ready"));
	json_decref(r);
	assert_non_null(
		strstr(fails(f, "lb.add",
			     pool_params(sock, cfg, "ivr-03", line), -32005),
		       "already in HAProxy"));

	/* A server line HAProxy refuses leaves the file and pool alone. */
	before = ts_read_file(cfg);
	assert_non_null(strstr(fails(f, "lb.add",
				     pool_params(sock, cfg, "ivr-04",
						 "127.0.0.1:1 no-such-kw"),
				     -32000),
			       "haproxy -c refused the change"));
	text = ts_read_file(cfg);
	assert_string_equal(text, before);
	free(text);
	free(before);
	/* ';' would end the command: refused before it reaches HAProxy. */
	fails(f, "lb.add",
	      pool_params(sock, cfg, "ivr-04", "127.0.0.1:1; show info"),
	      -32602);

	/* Removal: only out of the pool, then from the API and the file. */
	assert_non_null(
		strstr(fails(f, "lb.remove",
			     pool_params(sock, cfg, "ivr-03", NULL), -32000),
		       "not in maintenance"));
	json_decref(
		ok(f, "lb.set_state", haproxy_params(sock, "ivr-03", "maint")));
	r = ok(f, "lb.remove", pool_params(sock, cfg, "ivr-03", NULL));
	assert_true(json_is_true(json_object_get(r, "removed")));
	json_decref(r);
	assert_string_equal(members(f, pool_params(sock, NULL, NULL, NULL)),
			    "ivr-01=ready,ivr-02=ready");
	text = ts_read_file(cfg);
	assert_null(strstr(text, "ivr-03"));
	free(text);
	assert_non_null(
		strstr(fails(f, "lb.remove",
			     pool_params(sock, cfg, "ivr-03", NULL), -32001),
		       "no server 'ivr/ivr-03'"));
}

static void
test_lb__grows_and_shrinks_the_nginx_pool(void **state)
{
	struct fixture *f = *state;
	char up[256], *text;
	json_t *p, *r;
	int extra = ts_free_port();

	start_nginx(f);
	snprintf(up, sizeof(up), "%s/upstream.conf", f->root);
	p = nginx_params(f, f->back[0], NULL);
	json_object_del(p, "server");
	text = members(f, p);
	assert_non_null(strstr(text, "=ready,127.0.0.1:"));
	p = nginx_params(f, extra, NULL);
	json_object_set_new(p, "line", json_string("max_fails=0"));
	r = ok(f, "lb.add", p);
	assert_string_equal(state_of(r), "maint");
	json_decref(r);
	text = ts_read_file(up);
	assert_non_null(strstr(text, " max_fails=0 down; # ivr:maint\n"));
	free(text);
	r = ok(f, "lb.set_state", nginx_params(f, extra, "ready"));
	assert_string_equal(state_of(r), "ready");
	json_decref(r);
	assert_non_null(strstr(
		fails(f, "lb.remove", nginx_params(f, extra, NULL), -32000),
		"takes calls: drain it first"));
	json_decref(ok(f, "lb.set_state", nginx_params(f, extra, "maint")));
	json_decref(ok(f, "lb.remove", nginx_params(f, extra, NULL)));
	text = ts_read_file(up);
	assert_non_null(strstr(text, "server 127.0.0.1:"));
	assert_null(strstr(text, "max_fails=0 down"));
	free(text);
	/* nginx still serves through the member that is left. */
	assert_int_equal(front_answers(f, 200), 200);
	assert_non_null(strstr(
		fails(f, "lb.remove", nginx_params(f, extra, NULL), -32001),
		"no server"));
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_lb__drives_haproxy_through_its_runtime_api),
		T(test_lb__drives_nginx_through_its_upstream_file),
		T(test_lb__grows_and_shrinks_the_haproxy_pool),
		T(test_lb__grows_and_shrinks_the_nginx_pool),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
