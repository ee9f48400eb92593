/*
 * host: see host.h.
 */
#include "host.h"

#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"

#define ANSWER_MAX (4 * 1024 * 1024)
#define CMD_MAX	   20000

void
host_balancer(struct plan_host *out, const struct plan *p)
{
	*out = (struct plan_host){
		.name = p->lb.name,
		.address = p->lb.address,
		.port = p->lb.port,
		.user = p->lb.user ? p->lb.user
				   : (p->nhosts ? p->hosts[0].user : NULL),
	};
}

void
host_target(struct ssh_target *t, const struct plan *p,
	    const struct plan_host *h)
{
	*t = (struct ssh_target){
		.name = h->name,
		.address = h->address,
		.port = h->port,
		.user = h->user,
		.identity_file = p->identity_file,
		.known_hosts = p->known_hosts,
		.connect_timeout_ms = p->connect_timeout_ms,
		.keepalive_ms = p->keepalive_ms,
		.timeout_ms = p->command_timeout_ms,
	};
}

/* `PATH serve --root ROOT` on a new channel.  Nothing reads its stderr
 * here: its log goes to a file under the root, or, read-only (which
 * writes nothing there), to /dev/null. */
static int
start_agent(struct host_session *s, struct err *err)
{
	char qpath[4200], qroot[4200], qlog[4300], log[4200], cmd[CMD_MAX];
	int rc;

	snprintf(log, sizeof(log), "%s/agent.log", s->root);
	if ((rc = ssh_quote(qpath, sizeof(qpath), s->agent_path, err)) < 0 ||
	    (rc = ssh_quote(qroot, sizeof(qroot), s->root, err)) < 0 ||
	    (rc = ssh_quote(qlog, sizeof(qlog), log, err)) < 0)
		return rc;
	if (s->read_only)
		snprintf(cmd, sizeof(cmd),
			 "exec %s serve --root %s --read-only 2>/dev/null",
			 qpath, qroot);
	else
		snprintf(cmd, sizeof(cmd),
			 "mkdir -p %s && exec %s serve --root %s --log-file %s",
			 qroot, qpath, qroot, qlog);
	if ((rc = ssh_channel_open(&s->ch, s->c, cmd, err)) < 0)
		return rc;
	jsonrpc_reader_init(&s->reader, ANSWER_MAX, ssh_channel_read, s->ch);
	return 0;
}

static void
stop_agent(struct host_session *s)
{
	if (s->ch == NULL)
		return;
	jsonrpc_reader_release(&s->reader);
	ssh_channel_close(s->ch);
	s->ch = NULL;
}

/* Reads until the answer to id; notifications are skipped. */
static int
read_answer(struct jsonrpc_msg *msg, struct host_session *s, long id,
	    int64_t timeout_ms, struct err *err)
{
	const char *line;
	size_t len;

	for (;;) {
		if (jsonrpc_reader_next(&s->reader, &line, &len,
					(int)timeout_ms, err) < 0)
			return err_prefix(err, "%s: ", s->h->name);
		if (jsonrpc_parse(msg, line, len, err) < 0) {
			jsonrpc_msg_release(msg);
			return err_prefix(err, "%s: the agent sent ",
					  s->h->name);
		}
		if ((msg->kind == JSONRPC_KIND_RESULT ||
		     msg->kind == JSONRPC_KIND_ERROR) &&
		    json_integer_value(msg->id) == id)
			return 0;
		jsonrpc_msg_release(msg);
	}
}

int
host_call_within(json_t **result, struct host_session *s, const char *method,
		 json_t *params, int64_t timeout_ms, struct err *err)
{
	json_t *req = jsonrpc_request_new(++s->next_id, method, params);
	struct jsonrpc_msg msg;
	struct buf line;
	int rc;

	if (result != NULL)
		*result = NULL;
	buf_init(&line, JSONRPC_LINE_MAX);
	rc = req ? jsonrpc_encode(&line, req, err)
		 : err_set(err, ERR_NOMEM, "out of memory");
	json_decref(req);
	if (rc == 0 && s->ch == NULL)
		rc = err_set(err, ERR_BADSTATE, "%s: no agent running",
			     s->h->name);
	if (rc == 0)
		rc = ssh_channel_write(s->ch, line.data, line.len, err);
	buf_release(&line);
	if (rc < 0 ||
	    (rc = read_answer(&msg, s, s->next_id, timeout_ms, err)) < 0)
		return rc;
	if (msg.kind == JSONRPC_KIND_ERROR)
		rc = err_set(err, ERR_PROTO, "%s: %s: %s", s->h->name, method,
			     msg.error_message);
	else if (result != NULL)
		*result = json_incref(msg.result);
	jsonrpc_msg_release(&msg);
	return rc;
}

int
host_call(json_t **result, struct host_session *s, const char *method,
	  json_t *params, struct err *err)
{
	return host_call_within(result, s, method, params,
				s->p->command_timeout_ms, err);
}

const char *
host_str(const json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));

	return v != NULL ? v : "";
}

static void
copy_str(char *dst, size_t size, json_t *o, const char *key)
{
	snprintf(dst, size, "%s", host_str(o, key));
}

/* What a hello answered: the host's releases and runtime. */
static void
record_hello(struct host_session *s, json_t *hello)
{
	json_t *runtime = json_object_get(hello, "runtime"),
	       *disk = json_object_get(hello, "disk_free_bytes");

	copy_str(s->current, sizeof(s->current), hello, "current");
	copy_str(s->previous, sizeof(s->previous), hello, "previous");
	copy_str(s->deployment_id, sizeof(s->deployment_id), hello,
		 "deployment_id");
	s->disk_free = json_is_integer(disk) ? json_integer_value(disk) : -1;
	s->running = json_is_true(json_object_get(runtime, "running"));
	s->ready = json_is_true(json_object_get(runtime, "ready"));
	copy_str(s->not_ready, sizeof(s->not_ready), runtime, "not_ready");
	copy_str(s->cert_expires, sizeof(s->cert_expires), runtime,
		 "certificate_expires");
}

static json_t *
hello_params(const struct host_session *s, bool probe)
{
	json_t *o = json_object();

	if (probe)
		json_object_set_new(o, "health_url", json_string(s->health));
	/* the CA bundle that the agent's checks trust (the host's own
	 * system bundle without one) */
	if (s->p->tls.ca_pem != NULL)
		json_object_set_new(o, "ca", json_string(s->p->tls.ca_pem));
	if (s->p->tls.client_cert_pem != NULL) {
		json_object_set_new(o, "client_cert",
				    json_string(s->p->tls.client_cert_pem));
		json_object_set_new(o, "client_key",
				    json_string(s->p->tls.client_key_pem));
	}
	/* a runtime under systemd runs as its unit says, not as a pid
	 * file says */
	if (s->p->service_manager != NULL &&
	    strcmp(s->p->service_manager, "systemd") == 0 &&
	    s->p->service_unit != NULL) {
		json_object_set_new(o, "manager", json_string("systemd"));
		json_object_set_new(o, "unit", json_string(s->p->service_unit));
		json_object_set_new(o, "scope",
				    json_string(s->p->service_user_scope
							? "user"
							: "system"));
	}
	return o;
}

int
host_hello(struct host_session *s, bool probe, struct err *err)
{
	json_t *hello = NULL;
	int rc = host_call(&hello, s, "hello", hello_params(s, probe), err);

	if (rc == 0)
		record_hello(s, hello);
	json_decref(hello);
	return rc;
}

/* The version an agent's hello names, as `ivr-agent --version` says it. */
static bool
same_version(json_t *hello, const char *want)
{
	char version[256];

	snprintf(version, sizeof(version), "ivr-agent %s (protocol %lld)\n",
		 host_str(hello, "agent_version"),
		 (long long)json_integer_value(
			 json_object_get(hello, "protocol_version")));
	return strcmp(version, want) == 0;
}

/* Starts the agent there and greets it; a missing agent, one that fails
 * to start or one of another version gets the bundled one first. */
static int
bootstrap(struct host_session *s, const struct agent_bundle *agent, bool probe,
	  struct err *err)
{
	json_t *hello = NULL;

	if (start_agent(s, err) == 0 &&
	    host_call(&hello, s, "hello", hello_params(s, probe), err) == 0 &&
	    same_version(hello, agent->version)) {
		record_hello(s, hello);
		json_decref(hello);
		return 0;
	}
	json_decref(hello);
	hello = NULL;
	stop_agent(s);
	if (ssh_upload(s->c, agent->path, s->agent_path, 0755, err) < 0)
		return err_prefix(err, "uploading the agent: ");
	s->uploaded = true;
	if (start_agent(s, err) < 0 ||
	    host_call(&hello, s, "hello", hello_params(s, probe), err) < 0)
		return err_prefix(err,
				  "the agent did not start with its root "
				  "'%s' (writable? see agent.log there): ",
				  s->root);
	record_hello(s, hello);
	json_decref(hello);
	return 0;
}

int
host_open(struct host_session *s, const struct plan *p,
	  const struct plan_host *h, const char *root_tmpl,
	  const struct agent_bundle *agent, unsigned flags, struct err *err)
{
	int rc;

	memset(s, 0, sizeof(*s));
	s->p = p;
	s->h = h;
	s->disk_free = -1;
	s->read_only = (flags & HOST_READ_ONLY) != 0;
	host_target(&s->t, p, h);
	if ((rc = plan_expand(s->agent_path, sizeof(s->agent_path),
			      p->agent_path, h, err)) < 0 ||
	    (rc = plan_expand(s->root, sizeof(s->root), root_tmpl, h, err)) <
		    0 ||
	    (rc = plan_expand(s->health, sizeof(s->health), p->health_url, h,
			      err)) < 0 ||
	    (p->calls_url && (rc = plan_expand(s->calls, sizeof(s->calls),
					       p->calls_url, h, err)) < 0) ||
	    (rc = ssh_connect(&s->c, &s->t, err)) < 0)
		return rc;
	return bootstrap(s, agent, (flags & HOST_PROBE_HEALTH) != 0, err);
}

json_t *
host_member_params(const struct plan *p, const struct plan_host *h)
{
	const struct plan_lb *lb = &p->lb;

	if (lb->kind == PLAN_LB_NGINX)
		return json_pack("{s:s, s:s, s:s, s:s, s:s}", "kind", "nginx",
				 "server", h->member, "upstream_file",
				 lb->upstream_file, "nginx_conf",
				 lb->nginx_conf, "nginx_pid", lb->nginx_pid);
	return json_pack("{s:s, s:s, s:s, s:s}", "kind", "haproxy", "backend",
			 lb->backend, "socket", lb->socket, "server",
			 h->member);
}

void
host_close(struct host_session *s)
{
	stop_agent(s);
	ssh_close(s->c);
	s->c = NULL;
}

int
host_find_bundle(struct agent_bundle *out, char *path, size_t size,
		 char *version, size_t vsize)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	int p[2], status;
	pid_t pid;

	if (n <= 0)
		return -1;
	exe[n] = '\0';
	snprintf(path, size, "%s/ivr-agent", dirname(exe));
	if (access(path, X_OK) != 0 || pipe(p) < 0)
		return -1;
	if ((pid = fork()) == 0) {
		dup2(p[1], STDOUT_FILENO);
		execl(path, "ivr-agent", "--version", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	n = read(p[0], version, vsize - 1);
	close(p[0]);
	waitpid(pid, &status, 0);
	version[n > 0 ? n : 0] = '\0';
	if (n <= 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return -1;
	out->path = path;
	out->version = version;
	return 0;
}
