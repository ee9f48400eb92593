/*
 * methods: the agent's JSON-RPC methods.  Each checks its params, calls the
 * module that does the work and shapes the result.  docs/agent-protocol.md
 * and schemas/agent/ describe them.
 */
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "fileio.h"
#include "hash.h"
#include "layout.h"
#include "caps.h"
#include "lb_methods.h"
#include "params.h"
#include "probe.h"
#include "smoke.h"
#include "releases.h"
#include "rpc.h"
#include "service.h"
#include "stage.h"
#include "state.h"

#define MIB (1024LL * 1024)

static int service_params(struct service *s, struct agent *a,
			  const json_t *params, struct err *err);

/* "2026-12-30T06:15:52Z" */
static json_t *
iso_time(int64_t t)
{
	time_t tt = (time_t)t;
	char out[32];
	struct tm tm;

	strftime(out, sizeof(out), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&tt, &tm));
	return json_string(out);
}

/* hello's TLS for the session's checks: the CA bundle they trust, and the
 * client certificate they present (both or neither). */
static int
hello_tls(const json_t *params, struct err *err)
{
	const char *ca = NULL, *cert = NULL, *key = NULL;
	int rc;

	if ((rc = params_str(&ca, params, "ca", false, PROBE_TRUST_MAX, err)) <
		    0 ||
	    (rc = params_str(&cert, params, "client_cert", false,
			     PROBE_TRUST_MAX, err)) < 0 ||
	    (rc = params_str(&key, params, "client_key", false, PROBE_TRUST_MAX,
			     err)) < 0)
		return rc;
	if ((cert == NULL) != (key == NULL))
		return err_set(err, ERR_INVAL,
			       "params 'client_cert' and 'client_key' go "
			       "together");
	if (ca != NULL && (rc = probe_set_trust(ca, err)) < 0)
		return rc;
	return cert != NULL ? probe_set_identity(cert, key, err) : 0;
}

/* hello: the host, the releases, and whether the runtime runs as the
 * service params (optional: the supervisor's pid file by default) say. */
static int
m_hello(json_t **result, struct agent *a, json_t *params, struct err *err)
{
	static const char *const allowed[] = {
		"health_url", "manager",     "unit",	   "scope",
		"ca",	      "client_cert", "client_key", NULL,
	};
	char host[256] = "", current[LAYOUT_RELEASE_MAX + 1];
	const char *health_url = NULL;
	struct service s;
	struct service_status ss;
	struct agent_state st;
	struct statvfs vfs;
	json_t *runtime;
	int rc;

	if ((rc = params_check(params, allowed, err)) < 0 ||
	    (rc = params_str(&health_url, params, "health_url", false, 1024,
			     err)) < 0 ||
	    (rc = hello_tls(params, err)) < 0 ||
	    (rc = service_params(&s, a, params, err)) < 0 ||
	    (rc = state_load(&st, a->root, err)) < 0)
		return rc;
	if ((rc = releases_current(current, a->root, err)) < 0) {
		state_release(&st);
		return rc;
	}
	gethostname(host, sizeof(host) - 1);
	service_status(&ss, &s);
	runtime = json_pack("{s:b, s:I}", "running", ss.running, "pid",
			    (json_int_t)ss.pid);
	if (health_url != NULL) {
		struct probe_wait w = { .url = health_url, .timeout_ms = 1000 };
		struct probe_health h;

		probe_health_wait(&h, &w, NULL);
		json_object_set_new(runtime, "ready", json_boolean(h.ready));
		json_object_set_new(runtime, "version",
				    h.version[0] ? json_string(h.version)
						 : json_null());
		if (!h.ready && h.last_error[0] != '\0')
			json_object_set_new(runtime, "not_ready",
					    json_string(h.last_error));
		if (h.cert_expires > 0)
			json_object_set_new(runtime, "certificate_expires",
					    iso_time(h.cert_expires));
	}
	*result =
		json_pack("{s:s, s:i, s:s, s:s, s:s?, s:s?, s:s?, s:I, s:o}",
			  "agent_version", AGENT_VERSION, "protocol_version",
			  AGENT_PROTOCOL, "hostname", host, "root", a->root,
			  "current", current[0] ? current : NULL, "previous",
			  st.previous[0] ? st.previous : NULL, "deployment_id",
			  st.deployment_id[0] ? st.deployment_id : NULL,
			  "disk_free_bytes",
			  (json_int_t)(statvfs(a->root, &vfs) == 0
					       ? (long long)vfs.f_bavail *
							 (long long)vfs.f_frsize
					       : -1),
			  "runtime", runtime);
	state_release(&st);
	return 0;
}

static void
stage_progress(void *ctx, const char *step, uint64_t done, uint64_t total)
{
	rpc_progress(ctx, step, done, total);
}

/* Fetches the artifact from url unless incoming/ already has it. */
static int
fetch_if_missing(struct agent *a, const char *sha256, const char *url,
		 int64_t max_bytes, int64_t stall_ms, struct err *err)
{
	char dest[LAYOUT_PATH_MAX];
	int rc;

	if ((rc = layout_artifact(dest, a->root, sha256, err)) < 0)
		return rc;
	if (access(dest, F_OK) == 0)
		return 0;
	rpc_progress(a, "fetch", 0, 1);
	return probe_fetch(url, dest, (uint64_t)max_bytes, stall_ms, err);
}

static int
m_stage(json_t **result, struct agent *a, json_t *params, struct err *err)
{
	static const char *const allowed[] = {
		"version",     "sha256",	   "url", "max_bytes",
		"max_entries", "stall_timeout_ms", NULL
	};
	const char *version = NULL, *sha256 = NULL, *url = NULL;
	int64_t max_bytes = 512 * MIB, max_entries = 10000, stall_ms = 30000;
	struct stage_limits lim;
	struct stage_result r;
	int rc;

	if ((rc = params_check(params, allowed, err)) < 0 ||
	    (rc = params_version(&version, params, "version", true, err)) < 0 ||
	    (rc = params_sha256(&sha256, params, "sha256", true, err)) < 0 ||
	    (rc = params_str(&url, params, "url", false, 2048, err)) < 0 ||
	    (rc = params_int(&max_bytes, params, "max_bytes", false, 1,
			     8192 * MIB, err)) < 0 ||
	    (rc = params_int(&max_entries, params, "max_entries", false, 1,
			     1000000, err)) < 0 ||
	    (rc = params_int(&stall_ms, params, "stall_timeout_ms", false, 1000,
			     CAPS_WAIT_MAX_MS, err)) < 0)
		return rc;
	if (url != NULL && (rc = fetch_if_missing(a, sha256, url, max_bytes,
						  stall_ms, err)) < 0)
		return rc;
	lim = (struct stage_limits){ (uint64_t)max_bytes, (unsigned)max_entries,
				     0 };
	if ((rc = stage_release(&r, a->root, version, sha256, &lim,
				stage_progress, a, err)) < 0)
		return rc;
	*result = json_pack("{s:s, s:b, s:b, s:i, s:I}", "version", version,
			    "staged", 1, "already", r.already, "files",
			    (int)r.files, "bytes", (json_int_t)r.bytes);
	return 0;
}

static int
deployment_id(const char **out, const json_t *params, struct err *err)
{
	return params_str(out, params, "deployment_id", true, STATE_ID_MAX,
			  err);
}

static json_t *
activation_json(const struct activate_result *r)
{
	return json_pack("{s:s?, s:s?, s:b}", "current",
			 r->current[0] ? r->current : NULL, "previous",
			 r->previous[0] ? r->previous : NULL, "changed",
			 r->changed);
}

static int
m_activate(json_t **result, struct agent *a, json_t *params, struct err *err)
{
	static const char *const allowed[] = { "version", "deployment_id",
					       NULL };
	const char *version = NULL, *id = NULL;
	struct activate_result r;
	int rc;

	if ((rc = params_check(params, allowed, err)) < 0 ||
	    (rc = params_release(&version, params, "version", true, err)) < 0 ||
	    (rc = deployment_id(&id, params, err)) < 0 ||
	    (rc = releases_activate(&r, a->root, version, id, NULL, err)) < 0)
		return rc;
	*result = activation_json(&r);
	return 0;
}

/* The service params shared by service.* and rollback. */
static int
service_params(struct service *s, struct agent *a, const json_t *params,
	       struct err *err)
{
	const char *manager = "supervisor", *scope = "system";
	int64_t timeout = 30000;
	int rc;

	*s = (struct service){ .root = a->root, .config = "runtime.yaml" };
	if ((rc = params_str(&manager, params, "manager", false, 16, err)) <
		    0 ||
	    (rc = params_str(&scope, params, "scope", false, 16, err)) < 0 ||
	    (rc = params_str(&s->unit, params, "unit", false, 256, err)) < 0 ||
	    (rc = params_str(&s->config, params, "config", false, 255, err)) <
		    0 ||
	    (rc = params_int(&timeout, params, "stop_timeout_ms", false, 0,
			     CAPS_WAIT_MAX_MS, err)) < 0)
		return rc;
	s->stop_timeout_ms = timeout;
	if (strcmp(manager, "systemd") == 0) {
		s->manager = SERVICE_SYSTEMD;
		if (s->unit == NULL)
			return err_set(err, ERR_INVAL,
				       "param 'unit' is required with the "
				       "systemd manager");
		if (!service_unit_valid(s->unit))
			return err_set(err, ERR_INVAL,
				       "param 'unit' is not a systemd unit "
				       "name");
	} else if (strcmp(manager, "supervisor") != 0) {
		return err_set(err, ERR_INVAL,
			       "param 'manager' must be supervisor or systemd");
	}
	if (strcmp(scope, "user") == 0)
		s->user_scope = true;
	else if (strcmp(scope, "system") != 0)
		return err_set(err, ERR_INVAL,
			       "param 'scope' must be system or user");
	if (strchr(s->config, '/') != NULL || s->config[0] == '.')
		return err_set(err, ERR_INVAL,
			       "param 'config' must name a file in shared/");
	return 0;
}

static const char *const service_keys[] = { "manager",	       "unit",
					    "scope",	       "config",
					    "stop_timeout_ms", NULL };

static json_t *
service_json(const struct service_status *ss)
{
	json_t *o = json_pack("{s:b, s:I, s:b}", "running", ss->running, "pid",
			      (json_int_t)ss->pid, "already", ss->already);

	if (ss->how != NULL) {
		json_object_set_new(o, "how", json_string(ss->how));
		json_object_set_new(o, "waited_ms",
				    json_integer(ss->waited_ms));
	}
	return o;
}

/* service.start and service.stop: the same params, one action. */
static int
service_method(json_t **result, struct agent *a, json_t *params,
	       int (*action)(struct service_status *, const struct service *,
			     struct err *),
	       struct err *err)
{
	struct service s;
	struct service_status ss;
	int rc;

	if ((rc = params_check(params, service_keys, err)) < 0 ||
	    (rc = service_params(&s, a, params, err)) < 0 ||
	    (rc = action(&ss, &s, err)) < 0)
		return rc;
	*result = service_json(&ss);
	return 0;
}

static int
m_service_start(json_t **result, struct agent *a, json_t *params,
		struct err *err)
{
	return service_method(result, a, params, service_start, err);
}

static int
m_service_stop(json_t **result, struct agent *a, json_t *params,
	       struct err *err)
{
	return service_method(result, a, params, service_stop, err);
}

/* Stops then starts; the result tells both halves. */
static int
restart(json_t **result, const struct service *s, struct err *err)
{
	struct service_status stopped, started;
	int rc;

	if ((rc = service_stop(&stopped, s, err)) < 0 ||
	    (rc = service_start(&started, s, err)) < 0)
		return rc;
	*result = json_pack("{s:o, s:o}", "stopped", service_json(&stopped),
			    "started", service_json(&started));
	return 0;
}

static int
m_service_restart(json_t **result, struct agent *a, json_t *params,
		  struct err *err)
{
	struct service s;
	int rc;

	if ((rc = params_check(params, service_keys, err)) < 0 ||
	    (rc = service_params(&s, a, params, err)) < 0)
		return rc;
	return restart(result, &s, err);
}

/* url, interval, timeout and deadline for the wait methods. */
static int
wait_params(struct probe_wait *w, const json_t *params, struct err *err)
{
	int rc;

	*w = (struct probe_wait){ .interval_ms = 500,
				  .timeout_ms = 2000,
				  .deadline_ms = 60000 };
	if ((rc = params_str(&w->url, params, "url", true, 1024, err)) < 0 ||
	    (rc = params_int(&w->interval_ms, params, "interval_ms", false,
			     CAPS_INTERVAL_MIN_MS, CAPS_INTERVAL_MAX_MS, err)) <
		    0 ||
	    (rc = params_int(&w->timeout_ms, params, "timeout_ms", false,
			     CAPS_PROBE_MIN_MS, CAPS_PROBE_MAX_MS, err)) < 0 ||
	    (rc = params_int(&w->deadline_ms, params, "deadline_ms", false, 0,
			     CAPS_WAIT_MAX_MS, err)) < 0)
		return rc;
	if (strncmp(w->url, "http://", 7) != 0 &&
	    strncmp(w->url, "https://", 8) != 0)
		return err_set(err, ERR_INVAL,
			       "param 'url' must be an http:// or https:// "
			       "URL");
	return 0;
}

static int
m_health_wait(json_t **result, struct agent *a, json_t *params, struct err *err)
{
	static const char *const allowed[] = { "url",	      "expect_version",
					       "interval_ms", "timeout_ms",
					       "deadline_ms", NULL };
	char version[LAYOUT_VERSION_MAX + 1], config[LAYOUT_CONFIG_ID + 1];
	const char *expect = NULL;
	struct probe_wait w;
	struct probe_health h;
	int rc;

	(void)a;
	if ((rc = params_check(params, allowed, err)) < 0 ||
	    (rc = wait_params(&w, params, err)) < 0 ||
	    (rc = params_release(&expect, params, "expect_version", false,
				 err)) < 0)
		return rc;
	/* the runtime answers its version; a release's settings are ours */
	if (expect != NULL && layout_split_release(version, config, expect))
		w.expect_version = version;
	if ((rc = probe_health_wait(&h, &w, err)) < 0)
		return rc;
	*result = json_pack("{s:b, s:i, s:I, s:s?, s:s?}", "ready", h.ready,
			    "attempts", (int)h.attempts, "waited_ms",
			    (json_int_t)h.waited_ms, "version",
			    h.version[0] ? h.version : NULL, "last_error",
			    h.last_error[0] ? h.last_error : NULL);
	return 0;
}

static int
m_calls_wait_idle(json_t **result, struct agent *a, json_t *params,
		  struct err *err)
{
	static const char *const allowed[] = { "url", "interval_ms",
					       "timeout_ms", "deadline_ms",
					       NULL };
	struct probe_wait w;
	struct probe_idle i;
	int rc;

	(void)a;
	if ((rc = params_check(params, allowed, err)) < 0 ||
	    (rc = wait_params(&w, params, err)) < 0 ||
	    (rc = probe_wait_idle(&i, &w, err)) < 0)
		return rc;
	*result = json_pack(
		"{s:b, s:b, s:I, s:i, s:I, s:s?}", "idle", i.idle, "reachable",
		i.reachable, "remaining", (json_int_t)i.remaining, "attempts",
		(int)i.attempts, "waited_ms", (json_int_t)i.waited_ms,
		"last_error", i.last_error[0] ? i.last_error : NULL);
	return 0;
}

/* The release to roll back to: the one asked for, else previous. */
static int
rollback_target(char *out, struct agent *a, const json_t *params,
		struct err *err)
{
	const char *version = NULL;
	struct agent_state st;
	int rc;

	if ((rc = params_release(&version, params, "version", false, err)) < 0)
		return rc;
	if (version != NULL) {
		snprintf(out, LAYOUT_RELEASE_MAX + 1, "%s", version);
		return 0;
	}
	if ((rc = state_load(&st, a->root, err)) == 0) {
		snprintf(out, LAYOUT_RELEASE_MAX + 1, "%s", st.previous);
		if (out[0] == '\0')
			rc = err_set(err, ERR_NOTFOUND,
				     "no previous release to roll back to");
	}
	state_release(&st);
	return rc;
}

static int
m_rollback(json_t **result, struct agent *a, json_t *params, struct err *err)
{
	static const char *const allowed[] = {
		"version", "deployment_id", "undoes", "manager",
		"unit",	   "scope",	    "config", "stop_timeout_ms",
		NULL,
	};
	char target[LAYOUT_RELEASE_MAX + 1];
	struct activate_result r;
	struct service s;
	const char *id = NULL, *undoes = NULL;
	json_t *service = NULL;
	int rc;

	if ((rc = params_check(params, allowed, err)) < 0 ||
	    (rc = deployment_id(&id, params, err)) < 0 ||
	    (rc = params_str(&undoes, params, "undoes", false, STATE_ID_MAX,
			     err)) < 0 ||
	    (rc = service_params(&s, a, params, err)) < 0 ||
	    (rc = rollback_target(target, a, params, err)) < 0 ||
	    /* without "undoes": the deployment that brought current */
	    (rc = releases_activate(&r, a->root, target, id,
				    undoes ? undoes : "", err)) < 0 ||
	    (rc = restart(&service, &s, err)) < 0)
		return rc;
	*result = activation_json(&r);
	json_object_set_new(*result, "service", service);
	return 0;
}

static int
m_releases_list(json_t **result, struct agent *a, json_t *params,
		struct err *err)
{
	static const char *const allowed[] = { NULL };
	json_t *list, *incoming;
	int rc;

	if ((rc = params_check(params, allowed, err)) < 0)
		return rc;
	if ((list = releases_list(a->root, err)) == NULL)
		return err->code ? err->code : ERR_IO;
	if ((incoming = releases_incoming(a->root, err)) == NULL) {
		json_decref(list);
		return err->code ? err->code : ERR_IO;
	}
	*result =
		json_pack("{s:o, s:o}", "releases", list, "incoming", incoming);
	return 0;
}

/* A param that is absent or a list of strings each passing ok. */
static int
params_list(const json_t *params, const char *key, bool (*ok)(const char *),
	    const char *what, struct err *err)
{
	const json_t *list = json_object_get(params, key);
	size_t i;
	json_t *v;

	if (list != NULL && !json_is_array(list))
		return err_set(err, ERR_INVAL,
			       "param '%s' must be a list of %s", key, what);
	json_array_foreach (list, i, v)
		if (!json_is_string(v) || !ok(json_string_value(v)))
			return err_set(err, ERR_INVAL,
				       "param '%s' must be a list of %s", key,
				       what);
	return 0;
}

static int
m_releases_prune(json_t **result, struct agent *a, json_t *params,
		 struct err *err)
{
	static const char *const allowed[] = { "keep", "protect", "incoming",
					       "protect_artifacts", NULL };
	json_t *removed = NULL, *gone = NULL;
	bool incoming = false;
	int64_t keep = 0;
	int rc;

	if ((rc = params_check(params, allowed, err)) < 0 ||
	    (rc = params_int(&keep, params, "keep", true, 1, 1000, err)) < 0 ||
	    (rc = params_bool(&incoming, params, "incoming", err)) < 0 ||
	    (rc = params_list(params, "protect", layout_valid_version,
			      "versions", err)) < 0 ||
	    (rc = params_list(params, "protect_artifacts", hash_is_sha256_hex,
			      "sha256", err)) < 0)
		return rc;
	rc = releases_prune(&removed, a->root, (int)keep,
			    json_object_get(params, "protect"), err);
	if (rc == 0 && incoming)
		rc = releases_prune_incoming(
			&gone, a->root,
			json_object_get(params, "protect_artifacts"), err);
	if (rc < 0) {
		json_decref(removed);
		json_decref(gone);
		return rc;
	}
	*result = json_pack("{s:o, s:o, s:o}", "removed", removed,
			    "removed_artifacts", gone ? gone : json_array(),
			    "releases", releases_list(a->root, NULL));
	return 0;
}

/* config.put's tls: {cert, key, client_ca?}, PEM texts. */
static int
put_tls(struct agent *a, const char *config, const json_t *tls, struct err *err)
{
	static const char *const allowed[] = { "cert", "key", "client_ca",
					       NULL };
	const char *cert = NULL, *key = NULL, *ca = NULL;
	int rc;

	if (!json_is_object(tls))
		return err_set(err, ERR_INVAL, "param 'tls' must be an object");
	if ((rc = params_check(tls, allowed, err)) < 0 ||
	    (rc = params_str(&cert, tls, "cert", true, PROBE_TRUST_MAX, err)) <
		    0 ||
	    (rc = params_str(&key, tls, "key", true, PROBE_TRUST_MAX, err)) <
		    0 ||
	    (rc = params_str(&ca, tls, "client_ca", false, PROBE_TRUST_MAX,
			     err)) < 0)
		return rc;
	return releases_put_tls(a->root, config, cert, key, ca, err);
}

static int
m_config_put(json_t **result, struct agent *a, json_t *params, struct err *err)
{
	static const char *const allowed[] = { "config", "text", "version",
					       "tls", NULL };
	const char *config = NULL, *text = NULL, *version = NULL;
	int rc;

	if ((rc = params_check(params, allowed, err)) < 0 ||
	    (rc = params_str(&config, params, "config", true, 16, err)) < 0 ||
	    (rc = params_version(&version, params, "version", false, err)) < 0)
		return rc;
	if (strlen(config) != LAYOUT_CONFIG_ID ||
	    strspn(config, "0123456789abcdef") != LAYOUT_CONFIG_ID)
		return err_set(err, ERR_INVAL,
			       "a configuration id is 12 lower-case hex "
			       "digits");
	if (json_object_get(params, "tls") != NULL &&
	    (rc = put_tls(a, config, json_object_get(params, "tls"), err)) < 0)
		return rc;
	text = json_string_value(json_object_get(params, "text"));
	if (text == NULL ||
	    strlen(text) != json_string_length(json_object_get(params, "text")))
		return err_set(err, ERR_INVAL,
			       "param 'text' must be a string without NUL");
	if ((rc = releases_put_config(a->root, config, text, version, err)) < 0)
		return rc;
	*result = json_pack("{s:s, s:b}", "config", config, "checked",
			    version != NULL);
	return 0;
}

/* config.get: the settings the runtime reads now, and its release. */
static int
m_config_get(json_t **result, struct agent *a, json_t *params, struct err *err)
{
	static const char *const allowed[] = { NULL };
	char current[LAYOUT_RELEASE_MAX + 1], path[LAYOUT_PATH_MAX];
	struct buf b;
	int rc;

	if ((rc = params_check(params, allowed, err)) < 0 ||
	    (rc = releases_current(current, a->root, err)) < 0 ||
	    (rc = layout_path(path, a->root, HOSTLAYOUT_SHARED, "runtime.yaml",
			      err)) < 0)
		return rc;
	buf_init(&b, 256 * 1024);
	rc = fileio_read_all(&b, path, err);
	if (rc == 0 || rc == ERR_NOTFOUND)
		*result = json_pack("{s:s?, s:s?}", "release",
				    current[0] ? current : NULL, "text",
				    rc == 0 ? buf_cstr(&b) : NULL);
	buf_release(&b);
	if ((rc == 0 || rc == ERR_NOTFOUND) && *result == NULL)
		return err_set(err, ERR_PARSE, "'%s' is not UTF-8 text", path);
	return rc == ERR_NOTFOUND ? 0 : rc;
}

const struct rpc_method agent_methods[] = {
	{ "hello", m_hello, false },
	{ "stage", m_stage, true },
	{ "activate", m_activate, true },
	{ "service.start", m_service_start, true },
	{ "service.stop", m_service_stop, true },
	{ "service.restart", m_service_restart, true },
	{ "health.wait", m_health_wait, false },
	{ "calls.wait_idle", m_calls_wait_idle, false },
	{ "smoke.call", smoke_call_method, false },
	{ "rollback", m_rollback, true },
	{ "config.put", m_config_put, true },
	{ "config.get", m_config_get, false },
	{ "releases.list", m_releases_list, false },
	{ "releases.prune", m_releases_prune, true },
	{ "lb.get_state", lb_get_state_method, false },
	{ "lb.set_state", lb_set_state_method, true },
	{ "lb.members", lb_members_method, false },
	{ "lb.add", lb_add_method, true },
	{ "lb.remove", lb_remove_method, true },
	{ NULL, NULL, false },
};
