/*
 * The real ivr-agent over pipes, on a temporary root, with real artifacts
 * from scripts/package-runtime.sh and the real runtime it starts: staging,
 * activation, the supervisor, health and drain waits, rollback, pruning,
 * bad requests, and SIGKILLs at random moments.
 */
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "fileio.h"
#include "jsonrpc.h"
#include "layout.h"
#include "state.h"
#include "testsupport.h"

#define SCRIPT IVR_SOURCE_DIR "/scripts/package-runtime.sh"

struct fixture {
	char dir[64];
	char root[128];
	char log[128];
	char base[64]; /* the runtime's http://127.0.0.1:port */
	char sha[4][65];
	struct ts_agent agent;
};

static const char *const versions[4] = { "0.9.0", "1.0.0", "1.1.0", "1.2.0" };

/* Packages each version (1.2.0 broken) into incoming/<sha>. */
static void
make_artifacts(struct fixture *f)
{
	for (int i = 0; i < 4; i++) {
		char cmd[1024], sums[256], *text;
		const char *argv[] = { "sh", "-c", cmd, NULL };

		snprintf(cmd, sizeof(cmd),
			 "%s --build %s --version %s --out %s/dist %s && cp "
			 "%s/dist/ivr-runtime-%s.tar.gz %s/incoming/$(cut -d' "
			 "' -f1 %s/dist/ivr-runtime-%s.tar.gz.sha256)",
			 SCRIPT, IVR_BUILD_DIR, versions[i], f->dir,
			 i == 3 ? "--broken" : "", f->dir, versions[i], f->root,
			 f->dir, versions[i]);
		assert_int_equal(ts_run(argv, f->log), 0);
		snprintf(sums, sizeof(sums),
			 "%s/dist/ivr-runtime-%s.tar.gz.sha256", f->dir,
			 versions[i]);
		text = ts_read_file(sums);
		memcpy(f->sha[i], text, 64);
		f->sha[i][64] = '\0';
		free(text);
	}
}

/* The host's shared/: a seeded bank and a runtime.yaml on a free port. */
static void
make_shared(struct fixture *f)
{
	char path[256], cred[256], text[256];
	const char *seed[] = { IVR_RUNTIME_BIN,
			       "seed",
			       "--db",
			       path,
			       "--customers",
			       "3",
			       "--seed",
			       "5",
			       "--credentials-out",
			       cred,
			       "--kdf-iterations",
			       "1000",
			       NULL };
	int port = ts_free_port();

	snprintf(path, sizeof(path), "%s/shared/bank.db", f->root);
	snprintf(cred, sizeof(cred), "%s/cred.json", f->dir);
	assert_int_equal(ts_run(seed, f->log), 0);
	snprintf(path, sizeof(path), "%s/shared/runtime.yaml", f->root);
	snprintf(text, sizeof(text),
		 "listen: { port: %d }\ndatabase: { path: bank.db }\n"
		 "drain: { deadline: 5s }\n",
		 port);
	assert_int_equal(
		fileio_write_atomic(path, text, strlen(text), 0644, NULL), 0);
	snprintf(f->base, sizeof(f->base), "http://127.0.0.1:%d", port);
}

static void
agent_start(struct fixture *f)
{
	char path[160];

	assert_int_equal(
		ts_agent_start(&f->agent, IVR_AGENT_BIN, f->root, f->log), 0);
	snprintf(path, sizeof(path), "%s/transcript.jsonl", f->dir);
	f->agent.transcript = fopen(path, "a");
}

/* Every message exchanged fits the protocol schema. */
static int
check_transcript(struct fixture *f)
{
	char path[160], out[160], *text;
	int rc;

	snprintf(path, sizeof(path), "%s/transcript.jsonl", f->dir);
	snprintf(out, sizeof(out), "%s/schema.out", f->dir);
	rc = ts_agent_check_transcript(IVR_SOURCE_DIR, path, out);
	text = ts_read_file(out);
	printf("%s", text ? text : "(no validator output)\n");
	free(text);
	return rc == 0 ? 0 : -1;
}

/*
 * Calls method with params (stolen; NULL for none).  Returns the result
 * (a new reference) when want_code is 0, else checks the error code and
 * returns the error object.
 */
static json_t *
call(struct fixture *f, const char *method, json_t *params, int want_code)
{
	json_t *o = ts_agent_call(&f->agent, method, params), *out;

	assert_non_null(o);
	if (want_code == 0) {
		if (json_object_get(o, "error") != NULL)
			fail_msg("%s failed: %s", method,
				 json_string_value(json_object_get(
					 json_object_get(o, "error"),
					 "message")));
		out = json_incref(json_object_get(o, "result"));
	} else {
		out = json_incref(json_object_get(o, "error"));
		assert_non_null(out);
		assert_int_equal(
			json_integer_value(json_object_get(out, "code")),
			want_code);
	}
	json_decref(o);
	return out;
}

static json_t *
stage(struct fixture *f, int i, int want_code)
{
	return call(f, "stage",
		    json_pack("{s:s, s:s}", "version", versions[i], "sha256",
			      f->sha[i]),
		    want_code);
}

static json_t *
activate(struct fixture *f, int i)
{
	return call(f, "activate",
		    json_pack("{s:s, s:s}", "version", versions[i],
			      "deployment_id", "d-test"),
		    0);
}

static json_t *
health(struct fixture *f, int i, int deadline_ms)
{
	char url[96];

	snprintf(url, sizeof(url), "%s/readyz", f->base);
	return call(f, "health.wait",
		    json_pack("{s:s, s:s, s:i, s:i}", "url", url,
			      "expect_version", versions[i], "interval_ms", 50,
			      "deadline_ms", deadline_ms),
		    0);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	ts_tmpdir(f->dir, "agent");
	snprintf(f->root, sizeof(f->root), "%s/root", f->dir);
	snprintf(f->log, sizeof(f->log), "%s/test.log", f->dir);
	mkdir(f->root, 0755);
	layout_init(f->root, NULL);
	make_artifacts(f);
	make_shared(f);
	agent_start(f);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	int rc;

	if (f->agent.pid > 0)
		json_decref(call(f, "service.stop",
				 json_pack("{s:i}", "stop_timeout_ms", 5000),
				 0));
	ts_agent_stop(&f->agent);
	if (f->agent.transcript != NULL)
		fclose(f->agent.transcript);
	rc = check_transcript(f);
	ts_rmrf(f->dir);
	free(f);
	return rc;
}

static bool
is_true(json_t *o, const char *key)
{
	return json_is_true(json_object_get(o, key));
}

static const char *
str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static void
test_agent__stages_activates_runs_and_rolls_back(void **state)
{
	struct fixture *f = *state;
	json_t *o;

	o = call(f, "hello", NULL, 0);
	assert_string_equal(str(o, "agent_version"), "0.2.2");
	assert_true(json_is_null(json_object_get(o, "current")));
	assert_true(json_integer_value(json_object_get(o, "disk_free_bytes")) >
		    0);
	json_decref(o);

	o = stage(f, 1, 0);
	assert_false(is_true(o, "already"));
	assert_true(f->agent.progress >= 2); /* verify and unpack, at least */
	json_decref(o);
	json_decref(activate(f, 1));
	o = call(f, "service.start", NULL, 0);
	assert_true(is_true(o, "running"));
	json_decref(o);
	o = health(f, 1, 10000);
	assert_true(is_true(o, "ready"));
	json_decref(o);

	/* The next release, then back with one rollback. */
	json_decref(stage(f, 2, 0));
	json_decref(activate(f, 2));
	json_decref(call(f, "service.restart", NULL, 0));
	o = health(f, 2, 10000);
	assert_true(is_true(o, "ready"));
	json_decref(o);
	o = call(f, "rollback", json_pack("{s:s}", "deployment_id", "d-undo"),
		 0);
	assert_string_equal(str(o, "current"), "1.0.0");
	/* Back on the first release: nothing ran before it. */
	assert_true(json_is_null(json_object_get(o, "previous")));
	json_decref(o);
	o = health(f, 1, 10000);
	assert_true(is_true(o, "ready"));
	json_decref(o);
	o = call(f, "hello", NULL, 0);
	assert_string_equal(str(o, "current"), "1.0.0");
	/* the deployment that brought 1.0.0, not the rollback */
	assert_string_equal(str(o, "deployment_id"), "d-test");
	assert_true(is_true(json_object_get(o, "runtime"), "running"));
	json_decref(o);

	/* Pruning keeps current and previous; the old 0.9.0 goes. */
	json_decref(stage(f, 0, 0));
	/* releases.list also names the artifacts waiting in incoming/. */
	o = call(f, "releases.list", NULL, 0);
	for (int i = 0; i < 3; i++) {
		size_t k;
		json_t *v;
		bool seen = false;

		json_array_foreach (json_object_get(o, "incoming"), k, v)
			seen = seen ||
			       strcmp(json_string_value(v), f->sha[i]) == 0;
		assert_true(seen);
	}
	json_decref(o);
	o = call(f, "releases.prune", json_pack("{s:i}", "keep", 1), 0);
	assert_int_equal(json_array_size(json_object_get(o, "removed")), 1);
	assert_string_equal(json_string_value(json_array_get(
				    json_object_get(o, "removed"), 0)),
			    "0.9.0");
	json_decref(o);
}

/* Settings text for the runtime on the fixture's port with max_concurrent. */
static char *
settings(struct fixture *f, int max_concurrent)
{
	static char text[256];

	snprintf(text, sizeof(text),
		 "# rendered\nlisten: { port: %s }\ndatabase: { path: bank.db "
		 "}\ncalls: { max_concurrent: %d }\ndrain: { deadline: 5s }\n",
		 strrchr(f->base, ':') + 1, max_concurrent);
	return text;
}

static json_t *
put(struct fixture *f, const char *id, const char *text, int v, int code)
{
	return call(f, "config.put",
		    json_pack("{s:s, s:s, s:s}", "config", id, "text", text,
			      "version", versions[v]),
		    code);
}

/* Where shared/runtime.yaml points, "" for a file. */
static const char *
settings_link(struct fixture *f)
{
	static char target[256];
	char path[256];
	ssize_t n;

	snprintf(path, sizeof(path), "%s/shared/runtime.yaml", f->root);
	n = readlink(path, target, sizeof(target) - 1);
	target[n > 0 ? n : 0] = '\0';
	return target;
}

static void
test_agent__ships_settings_with_a_release(void **state)
{
	struct fixture *f = *state;
	char path[256], *text;
	json_t *o;

	json_decref(stage(f, 1, 0));
	json_decref(activate(f, 1));
	json_decref(call(f, "service.start", NULL, 0));

	/* Checked by the release's runtime before they are kept. */
	o = put(f, "aaaaaaaaaaaa", settings(f, 7), 1, 0);
	assert_true(is_true(o, "checked"));
	json_decref(o);
	o = put(f, "bbbbbbbbbbbb", "listen: { port: nope }\n", 1, -32000);
	assert_non_null(strstr(str(o, "message"), "ivr-runtime check refused"));
	json_decref(o);
	snprintf(path, sizeof(path), "%s/shared/runtime.bbbbbbbbbbbb.yaml",
		 f->root);
	assert_int_equal(access(path, F_OK), -1);
	json_decref(put(f, "aaaaaaaaaaaa", settings(f, 8), 1, -32002));
	json_decref(call(
		f, "config.put",
		json_pack("{s:s, s:s}", "config", "../../etc/x", "text", "x"),
		-32602));

	/* Activated with its settings; the host's own file is kept. */
	o = call(f, "activate",
		 json_pack("{s:s, s:s}", "version", "1.0.0+aaaaaaaaaaaa",
			   "deployment_id", "d-cfg"),
		 0);
	assert_string_equal(str(o, "current"), "1.0.0+aaaaaaaaaaaa");
	assert_string_equal(str(o, "previous"), "1.0.0");
	assert_true(is_true(o, "changed"));
	json_decref(o);
	assert_string_equal(settings_link(f), "runtime.aaaaaaaaaaaa.yaml");
	snprintf(path, sizeof(path), "%s/shared/runtime.unmanaged.yaml",
		 f->root);
	text = ts_read_file(path);
	assert_non_null(strstr(text, "drain: { deadline: 5s }"));
	assert_null(strstr(text, "max_concurrent"));
	free(text);
	json_decref(call(f, "service.restart", NULL, 0));
	o = call(f, "health.wait",
		 json_pack("{s:s+, s:s, s:i, s:i}", "url", f->base, "/readyz",
			   "expect_version", "1.0.0+aaaaaaaaaaaa",
			   "interval_ms", 50, "deadline_ms", 10000),
		 0);
	assert_true(is_true(o, "ready"));
	json_decref(o);
	o = call(f, "config.get", NULL, 0);
	assert_string_equal(str(o, "release"), "1.0.0+aaaaaaaaaaaa");
	assert_non_null(strstr(str(o, "text"), "max_concurrent: 7"));
	json_decref(o);

	/* The next release with other settings, then back: both restored. */
	json_decref(stage(f, 2, 0));
	json_decref(put(f, "cccccccccccc", settings(f, 9), 2, 0));
	json_decref(
		call(f, "activate",
		     json_pack("{s:s, s:s}", "version", "1.1.0+cccccccccccc",
			       "deployment_id", "d-next"),
		     0));
	o = call(f, "hello", NULL, 0);
	assert_string_equal(str(o, "current"), "1.1.0+cccccccccccc");
	assert_string_equal(str(o, "previous"), "1.0.0+aaaaaaaaaaaa");
	json_decref(o);
	o = call(f, "rollback",
		 json_pack("{s:s, s:s}", "deployment_id", "r-1", "undoes",
			   "d-next"),
		 0);
	assert_string_equal(str(o, "current"), "1.0.0+aaaaaaaaaaaa");
	json_decref(o);
	assert_string_equal(settings_link(f), "runtime.aaaaaaaaaaaa.yaml");
	o = health(f, 1, 10000);
	assert_true(is_true(o, "ready"));
	json_decref(o);
	/* And once more: the host's own settings, unmanaged again. */
	o = call(f, "rollback", json_pack("{s:s}", "deployment_id", "r-2"), 0);
	assert_string_equal(str(o, "current"), "1.0.0");
	json_decref(o);
	assert_string_equal(settings_link(f), "runtime.unmanaged.yaml");
	o = call(f, "config.get", NULL, 0);
	assert_null(strstr(str(o, "text"), "max_concurrent"));
	json_decref(o);

	/* Pruning drops settings no release of the lineage names. */
	json_decref(
		call(f, "releases.prune", json_pack("{s:i}", "keep", 2), 0));
	snprintf(path, sizeof(path), "%s/shared/runtime.cccccccccccc.yaml",
		 f->root);
	assert_int_equal(access(path, F_OK), -1);
	snprintf(path, sizeof(path), "%s/shared/runtime.unmanaged.yaml",
		 f->root);
	assert_int_equal(access(path, F_OK), 0);
}

static void
test_agent__broken_release_never_turns_ready(void **state)
{
	struct fixture *f = *state;
	json_t *o;

	json_decref(stage(f, 3, 0));
	json_decref(activate(f, 3));
	o = call(f, "service.start", NULL, -32000);
	assert_string_equal(str(o, "message"), "ivr-runtime exited at once; "
					       "see shared/ivr-runtime.log");
	json_decref(o);
	o = health(f, 3, 300);
	assert_false(is_true(o, "ready"));
	assert_true(json_integer_value(json_object_get(o, "attempts")) >= 2);
	assert_non_null(str(o, "last_error"));
	json_decref(o);
}

struct hangup {
	char url[160];
	int after_ms;
};

static void *
hang_up_later(void *arg)
{
	struct hangup *h = arg;

	usleep((useconds_t)h->after_ms * 1000);
	ts_http("DELETE", h->url, NULL, NULL, NULL);
	return NULL;
}

static void
test_agent__waits_for_a_live_call_to_end(void **state)
{
	struct fixture *f = *state;
	struct hangup h = { .after_ms = 1000 };
	char url[96];
	pthread_t t;
	json_t *o, *c = NULL;

	json_decref(stage(f, 1, 0));
	json_decref(activate(f, 1));
	json_decref(call(f, "service.start", NULL, 0));
	json_decref(health(f, 1, 10000));
	snprintf(url, sizeof(url), "%s/calls", f->base);
	assert_int_equal(ts_http("POST", url, "{}", NULL, &c), 201);
	/* A short deadline: the call is still there. */
	o = call(f, "calls.wait_idle",
		 json_pack("{s:s, s:i, s:i}", "url", url, "interval_ms", 50,
			   "deadline_ms", 200),
		 0);
	assert_false(is_true(o, "idle"));
	assert_int_equal(json_integer_value(json_object_get(o, "remaining")),
			 1);
	json_decref(o);
	/* The caller hangs up after a second; the wait returns then. */
	snprintf(h.url, sizeof(h.url), "%s/calls/%s", f->base,
		 str(c, "call_id"));
	pthread_create(&t, NULL, hang_up_later, &h);
	o = call(f, "calls.wait_idle",
		 json_pack("{s:s, s:i, s:i}", "url", url, "interval_ms", 50,
			   "deadline_ms", 10000),
		 0);
	pthread_join(t, NULL);
	assert_true(is_true(o, "idle"));
	assert_true(json_integer_value(json_object_get(o, "waited_ms")) >= 900);
	json_decref(o);
	json_decref(c);
	/* Stopping drains: SIGTERM ended it. */
	o = call(f, "service.stop", NULL, 0);
	assert_string_equal(str(o, "how"), "sigterm");
	json_decref(o);
}

static void
test_agent__answers_bad_requests_and_keeps_serving(void **state)
{
	struct fixture *f = *state;
	char *big = malloc(1100 * 1024);
	json_t *o;

	ts_agent_send(&f->agent, "not json");
	o = ts_agent_read(&f->agent);
	assert_int_equal(json_integer_value(json_object_get(
				 json_object_get(o, "error"), "code")),
			 -32700);
	json_decref(o);
	memset(big, 'x', 1100 * 1024 - 1);
	big[1100 * 1024 - 1] = '\0';
	ts_agent_send(&f->agent, big);
	free(big);
	o = ts_agent_read(&f->agent);
	assert_int_equal(json_integer_value(json_object_get(
				 json_object_get(o, "error"), "code")),
			 -32600);
	json_decref(o);
	json_decref(call(f, "no.such.method", NULL, -32601));
	json_decref(call(f, "activate", json_pack("{s:s}", "version", "1.0.0"),
			 -32602));
	json_decref(call(f, "activate",
			 json_pack("{s:s, s:s}", "version", "7.7.7",
				   "deployment_id", "x"),
			 -32001));
	json_decref(call(f, "stage",
			 json_pack("{s:s, s:s}", "version", "../../etc",
				   "sha256", f->sha[1]),
			 -32602));
	json_decref(call(f, "stage",
			 json_pack("{s:s, s:s}", "version", "1.0.0", "sha256",
				   f->sha[2]),
			 -32002));
	json_decref(call(f, "health.wait",
			 json_pack("{s:s}", "url", "file:///etc/passwd"),
			 -32602));
	o = call(f, "hello", NULL, 0);
	assert_non_null(str(o, "root"));
	json_decref(o);
}

static void
test_agent__fetches_an_artifact_by_url(void **state)
{
	struct fixture *f = *state;
	char port[16], dist[128], url[256], path[256];
	const char *argv[] = { "/usr/bin/python3", "-m",	"http.server",
			       "--bind",	   "127.0.0.1", port,
			       "--directory",	   dist,	NULL };
	pid_t server;
	json_t *o;

	snprintf(port, sizeof(port), "%d", ts_free_port());
	snprintf(dist, sizeof(dist), "%s/dist", f->dir);
	server = ts_spawn(argv, f->log);
	snprintf(url, sizeof(url), "http://127.0.0.1:%s/", port);
	assert_true(ts_wait_http_ok(url, 10000));
	/* Not uploaded: the agent fetches it. */
	snprintf(path, sizeof(path), "%s/incoming/%s", f->root, f->sha[2]);
	unlink(path);
	snprintf(url, sizeof(url),
		 "http://127.0.0.1:%s/ivr-runtime-1.1.0.tar.gz", port);
	o = call(f, "stage",
		 json_pack("{s:s, s:s, s:s}", "version", "1.1.0", "sha256",
			   f->sha[2], "url", url),
		 0);
	assert_false(is_true(o, "already"));
	assert_int_equal(access(path, F_OK), 0);
	json_decref(o);
	/* The wrong bytes for a sha256: refused, and not kept. */
	snprintf(path, sizeof(path), "%s/incoming/%s", f->root, f->sha[1]);
	unlink(path);
	o = call(f, "stage",
		 json_pack("{s:s, s:s, s:s}", "version", "1.0.0", "sha256",
			   f->sha[1], "url", url),
		 -32002);
	assert_non_null(strstr(str(o, "message"), "corrupt or wrong upload"));
	assert_int_equal(access(path, F_OK), -1);
	json_decref(o);
	/* Nothing listening there. */
	o = call(f, "stage",
		 json_pack("{s:s, s:s, s:s}", "version", "1.0.0", "sha256",
			   f->sha[1], "url", "http://127.0.0.1:1/x.tar.gz"),
		 -32000);
	assert_non_null(strstr(str(o, "message"), "cannot fetch"));
	json_decref(o);
	ts_stop(server, SIGTERM, 5000);
}

/* A server that says 1 MB and sends a byte every 200 ms: the stage gives
 * up after its stall timeout instead of waiting for ever. */
static void
test_agent__gives_up_on_a_trickling_download(void **state)
{
	struct fixture *f = *state;
	char port[16], url[128], path[256];
	const char *argv[] = {
		"/usr/bin/python3", "-c",
		"import socket, sys, time\n"
		"s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, "
		"socket.SO_REUSEADDR, 1)\n"
		"s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen(4)\n"
		"end = time.time() + 20\n"
		"while time.time() < end:\n"
		"    c, _ = s.accept(); c.recv(4096)\n"
		"    c.sendall(b'HTTP/1.1 200 OK\\r\\nContent-Length: "
		"1000000\\r\\n\\r\\n')\n"
		"    try:\n"
		"        while time.time() < end:\n"
		"            c.sendall(b'x'); time.sleep(0.2)\n"
		"    except OSError:\n"
		"        c.close()\n",
		port, NULL
	};
	struct timespec a, b;
	pid_t server;
	json_t *o;

	snprintf(port, sizeof(port), "%d", ts_free_port());
	server = ts_spawn(argv, f->log);
	usleep(300 * 1000);
	snprintf(url, sizeof(url), "http://127.0.0.1:%s/slow.tar.gz", port);
	snprintf(path, sizeof(path), "%s/incoming/%s", f->root, f->sha[2]);
	unlink(path); /* not there: the agent fetches it */
	clock_gettime(CLOCK_MONOTONIC, &a);
	o = call(f, "stage",
		 json_pack("{s:s, s:s, s:s, s:i}", "version", "1.1.0", "sha256",
			   f->sha[2], "url", url, "stall_timeout_ms", 1000),
		 -32004);
	clock_gettime(CLOCK_MONOTONIC, &b);
	assert_non_null(strstr(str(o, "message"),
			       "it stalled (under 1024 "
			       "bytes a second for 1000 ms)"));
	json_decref(o);
	assert_true(b.tv_sec - a.tv_sec < 10);
	assert_int_equal(access(path, F_OK), -1);
	ts_stop(server, SIGKILL, 5000);
}

/*
 * current points at a complete release and state.json parses.  Returns
 * whether this round's activation had completed before the kill.
 */
static bool
assert_host_whole(struct fixture *f, int round)
{
	char current[LAYOUT_VERSION_MAX + 1], id[32];
	struct agent_state st;
	struct err e;
	bool done;

	if (layout_current(current, f->root, &e) < 0)
		fail_msg("round %d: %s", round, e.msg);
	if (current[0] != '\0' && !layout_is_staged(f->root, current))
		fail_msg("round %d: current -> releases/%s, not a complete "
			 "release",
			 round, current);
	if (state_load(&st, f->root, &e) < 0)
		fail_msg("round %d: %s", round, e.msg);
	snprintf(id, sizeof(id), "k%d", round);
	done = strcmp(st.deployment_id, id) == 0;
	state_release(&st);
	return done;
}

/* Microseconds from starting an agent to its answer to stage + activate
 * of a release it must unpack. */
static int
round_trip_us(struct fixture *f)
{
	char line[512], dir[256];
	struct timespec a, b;

	snprintf(dir, sizeof(dir), "%s/releases/%s", f->root, versions[2]);
	fileio_remove_tree(dir, NULL);
	clock_gettime(CLOCK_MONOTONIC, &a);
	agent_start(f);
	snprintf(line, sizeof(line),
		 "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"stage\","
		 "\"params\":{\"version\":\"%s\",\"sha256\":\"%s\"}}\n"
		 "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"activate\","
		 "\"params\":{\"version\":\"%s\",\"deployment_id\":\"c\"}}",
		 versions[2], f->sha[2], versions[2]);
	ts_agent_send(&f->agent, line);
	json_decref(ts_agent_read(&f->agent));
	json_decref(ts_agent_read(&f->agent));
	clock_gettime(CLOCK_MONOTONIC, &b);
	fclose(f->agent.transcript);
	f->agent.transcript = NULL;
	ts_agent_stop(&f->agent);
	return (int)((b.tv_sec - a.tv_sec) * 1000000 +
		     (b.tv_nsec - a.tv_nsec) / 1000) +
	       1;
}

static void
test_agent__survives_sigkill_at_any_moment(void **state)
{
	struct fixture *f = *state;
	unsigned seed = 20261126;
	int kills = 0, completed = 0, span;

	fclose(f->agent.transcript);
	f->agent.transcript = NULL;
	ts_agent_stop(&f->agent);
	/* The kills must land before, during and after the work: spread
	 * them over one and a half times what a whole round takes here
	 * (sanitizers and a busy machine make it slower). */
	span = 3 * round_trip_us(f) / 2;
	for (int round = 0; round < 120; round++) {
		int i = 1 + round % 2; /* 1.0.0 and 1.1.0 in turn */
		char line[512], dir[256];
		int delay = rand_r(&seed) % span; /* microseconds */

		/* Unstage the other one now and then, so staging runs. */
		if (rand_r(&seed) % 2) {
			char current[LAYOUT_VERSION_MAX + 1] = "";

			layout_current(current, f->root, NULL);
			if (strcmp(current, versions[i]) != 0) {
				snprintf(dir, sizeof(dir), "%s/releases/%s",
					 f->root, versions[i]);
				fileio_remove_tree(dir, NULL);
			}
		}
		agent_start(f);
		snprintf(
			line, sizeof(line),
			"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"stage\","
			"\"params\":{\"version\":\"%s\",\"sha256\":\"%s\"}}\n"
			"{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"activate\","
			"\"params\":{\"version\":\"%s\",\"deployment_id\":"
			"\"k%d\"}}",
			versions[i], f->sha[i], versions[i], round);
		ts_agent_send(&f->agent, line);
		usleep((useconds_t)delay);
		kill(f->agent.pid, SIGKILL);
		fclose(f->agent.transcript);
		f->agent.transcript = NULL;
		ts_agent_stop(&f->agent);
		kills++;
		completed += assert_host_whole(f, round);
	}
	printf("agent killed %d times within %d ms of starting, during stage "
	       "and activate (%d after the activation, %d before or during "
	       "it): the host stayed whole\n",
	       kills, span / 1000, completed, kills - completed);
	/* The kills must land at different moments to mean anything. */
	assert_true(completed > 0 && completed < kills);
	agent_start(f);
}

/* Sets path's modification time seconds ago (a leftover's age). */
static void
age(const char *path, int seconds)
{
	struct timespec t[2];

	clock_gettime(CLOCK_REALTIME, &t[0]);
	t[0].tv_sec -= seconds;
	t[1] = t[0];
	assert_int_equal(utimensat(AT_FDCWD, path, t, AT_SYMLINK_NOFOLLOW), 0);
}

/* Sends n activations alternating between two versions, without waiting,
 * then reads their answers. */
static void
pipeline(struct ts_agent *a, int n, int first)
{
	char line[256];

	for (int i = 0; i < n; i++) {
		snprintf(line, sizeof(line),
			 "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":"
			 "\"activate\",\"params\":{\"version\":\"%s\","
			 "\"deployment_id\":\"d-%d\"}}",
			 1000 + i, versions[1 + (first + i) % 2], i);
		ts_agent_send(a, line);
	}
	for (int i = 0; i < n; i++)
		json_decref(ts_agent_read(a));
}

struct pipe_job {
	struct ts_agent *a;
	int first;
};

static void *
pipeline_thread(void *ctx)
{
	struct pipe_job *j = ctx;

	pipeline(j->a, 4, j->first);
	return NULL;
}

/*
 * Two agents on one root (two sessions, or a stuck one): 40 rounds of 4
 * activations each at once, alternating releases.  The root's lock runs them
 * one at a time, so `current` and state.json agree after every one; without it
 * 40 of 100 left them disagreeing.  Leftovers of a killed agent go at start.
 */
static void
test_agent__two_agents_on_one_root_never_disagree(void **state)
{
	struct fixture *f = *state;
	struct ts_agent other;
	struct pipe_job a = { &f->agent, 0 }, b = { &other, 1 };
	char current[LAYOUT_VERSION_MAX + 1], path[600], young[600];
	struct agent_state st;
	pthread_t t;

	int disagree = 0;

	json_decref(stage(f, 1, 0));
	json_decref(stage(f, 2, 0));
	assert_int_equal(ts_agent_start(&other, IVR_AGENT_BIN, f->root, f->log),
			 0);
	for (int round = 0; round < 40; round++) {
		assert_int_equal(pthread_create(&t, NULL, pipeline_thread, &b),
				 0);
		pipeline_thread(&a);
		pthread_join(t, NULL);
		assert_int_equal(layout_current(current, f->root, NULL), 0);
		assert_int_equal(state_load(&st, f->root, NULL), 0);
		disagree += strcmp(st.current, current) != 0;
		state_release(&st);
	}
	ts_agent_stop(&other);
	printf("two agents, 40 rounds of 8 activations at once: current and "
	       "state.json disagreed after %d\n",
	       disagree);
	assert_int_equal(disagree, 0);

	/* a killed agent's temporaries, removed when the next one starts */
	snprintf(path, sizeof(path), "%s/.state.json.tmp.AbC123", f->root);
	assert_int_equal(fileio_write_atomic(path, "{", 1, 0600, NULL), 0);
	age(path, 3600);
	snprintf(path, sizeof(path), "%s/releases/.1.0.tmp.2.sha256", f->root);
	assert_int_equal(fileio_write_atomic(path, "x", 1, 0600, NULL), 0);
	snprintf(path, sizeof(path), "%s/releases/.9.9.9.tmp", f->root);
	assert_int_equal(mkdir(path, 0755), 0);
	age(path, 3600);
	snprintf(young, sizeof(young), "%s/.upstream.conf.tmp.Young1", f->root);
	assert_int_equal(fileio_write_atomic(young, "{", 1, 0600, NULL), 0);
	assert_int_equal(ts_agent_start(&other, IVR_AGENT_BIN, f->root, f->log),
			 0);
	json_decref(ts_agent_call(&other, "hello", NULL));
	ts_agent_stop(&other);
	assert_int_equal(access(path, F_OK), -1);
	snprintf(path, sizeof(path), "%s/.state.json.tmp.AbC123", f->root);
	assert_int_equal(access(path, F_OK), -1);
	snprintf(path, sizeof(path), "%s/releases/1.1.0", f->root);
	assert_int_equal(access(path, F_OK), 0);
	/* the marker of a release named 1.0.tmp.2 is no temporary */
	snprintf(path, sizeof(path), "%s/releases/.1.0.tmp.2.sha256", f->root);
	assert_int_equal(access(path, F_OK), 0);
	/* a fresh one may be a write in progress: left */
	assert_int_equal(access(young, F_OK), 0);
}

static void
test_agent__read_only_changes_nothing(void **state)
{
	struct fixture *f = *state;
	struct ts_agent ro;
	char old[600], missing[600];
	json_t *o;

	json_decref(stage(f, 1, 0));
	snprintf(old, sizeof(old), "%s/.state.json.tmp.Old123", f->root);
	assert_int_equal(fileio_write_atomic(old, "{", 1, 0600, NULL), 0);
	age(old, 3600);
	assert_int_equal(ts_agent_start_flag(&ro, IVR_AGENT_BIN, f->root,
					     "--read-only", f->log),
			 0);
	o = ts_agent_call(&ro, "releases.list", NULL);
	assert_int_equal(json_array_size(json_object_get(
				 json_object_get(o, "result"), "incoming")),
			 4);
	assert_int_equal(json_array_size(json_object_get(
				 json_object_get(o, "result"), "releases")),
			 1);
	json_decref(o);
	o = ts_agent_call(&ro, "stage",
			  json_pack("{s:s, s:s}", "version", "1.1.0", "sha256",
				    f->sha[2]));
	assert_non_null(strstr(json_string_value(json_object_get(
				       json_object_get(o, "error"), "message")),
			       "this agent is read-only: 'stage' would change "
			       "the host"));
	json_decref(o);
	ts_agent_stop(&ro);
	/* a read-only agent cleans nothing up */
	assert_int_equal(access(old, F_OK), 0);

	/* A host never deployed to reads as one with nothing on it, and
	 * its root is not created. */
	snprintf(missing, sizeof(missing), "%s/never", f->dir);
	assert_int_equal(ts_agent_start_flag(&ro, IVR_AGENT_BIN, missing,
					     "--read-only", f->log),
			 0);
	o = ts_agent_call(&ro, "hello", NULL);
	assert_true(json_is_null(
		json_object_get(json_object_get(o, "result"), "current")));
	json_decref(o);
	o = ts_agent_call(&ro, "releases.list", NULL);
	assert_int_equal(json_array_size(json_object_get(
				 json_object_get(o, "result"), "releases")),
			 0);
	json_decref(o);
	ts_agent_stop(&ro);
	assert_int_equal(access(missing, F_OK), -1);
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_agent__stages_activates_runs_and_rolls_back),
		T(test_agent__read_only_changes_nothing),
		T(test_agent__ships_settings_with_a_release),
		T(test_agent__broken_release_never_turns_ready),
		T(test_agent__waits_for_a_live_call_to_end),
		T(test_agent__answers_bad_requests_and_keeps_serving),
		T(test_agent__fetches_an_artifact_by_url),
		T(test_agent__gives_up_on_a_trickling_download),
		T(test_agent__survives_sigkill_at_any_moment),
		T(test_agent__two_agents_on_one_root_never_disagree),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
