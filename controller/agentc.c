/*
 * agentc: see agentc.h.
 */
#include "agentc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jsonrpc.h"

#define ANSWER_MAX (4 * 1024 * 1024)
#define CMD_MAX	   20000

struct agentc {
	struct ssh_channel *ch;
	struct jsonrpc_reader r;
	long next_id;
	char where[128];
};

int
agentc_start(struct agentc **out, struct ssh_conn *c, const char *path,
	     const char *root, const char *where, struct err *err)
{
	char qpath[4200], qroot[4200], qlog[4300], log[4200], cmd[CMD_MAX];
	struct agentc *a = calloc(1, sizeof(*a));
	int rc;

	if (a == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	snprintf(a->where, sizeof(a->where), "%s", where);
	snprintf(log, sizeof(log), "%s/agent.log", root);
	if ((rc = ssh_quote(qpath, sizeof(qpath), path, err)) < 0 ||
	    (rc = ssh_quote(qroot, sizeof(qroot), root, err)) < 0 ||
	    (rc = ssh_quote(qlog, sizeof(qlog), log, err)) < 0)
		goto fail;
	/* The agent's log goes to a file: nothing reads its stderr here. */
	snprintf(cmd, sizeof(cmd),
		 "mkdir -p %s && exec %s serve --root %s --log-file %s", qroot,
		 qpath, qroot, qlog);
	if ((rc = ssh_channel_open(&a->ch, c, cmd, err)) < 0)
		goto fail;
	jsonrpc_reader_init(&a->r, ANSWER_MAX, ssh_channel_read, a->ch);
	*out = a;
	return 0;
fail:
	free(a);
	return rc;
}

/* Reads until the answer to id; notifications are skipped. */
static int
read_answer(struct jsonrpc_msg *msg, struct agentc *a, long id,
	    int64_t timeout_ms, struct err *err)
{
	const char *line;
	size_t len;
	int rc;

	for (;;) {
		rc = jsonrpc_reader_next(&a->r, &line, &len, (int)timeout_ms,
					 err);
		if (rc < 0)
			return err_prefix(err, "%s: ", a->where);
		if (jsonrpc_parse(msg, line, len, err) < 0) {
			jsonrpc_msg_release(msg);
			return err_prefix(err, "%s: the agent sent ", a->where);
		}
		if ((msg->kind == JSONRPC_KIND_RESULT ||
		     msg->kind == JSONRPC_KIND_ERROR) &&
		    json_integer_value(msg->id) == id)
			return 0;
		jsonrpc_msg_release(msg);
	}
}

int
agentc_call(json_t **result, struct agentc *a, const char *method,
	    json_t *params, int64_t timeout_ms, struct err *err)
{
	json_t *req = jsonrpc_request_new(++a->next_id, method, params);
	struct jsonrpc_msg msg;
	struct buf line;
	int rc;

	buf_init(&line, JSONRPC_LINE_MAX);
	rc = req ? jsonrpc_encode(&line, req, err)
		 : err_set(err, ERR_NOMEM, "out of memory");
	json_decref(req);
	if (rc == 0)
		rc = ssh_channel_write(a->ch, line.data, line.len, err);
	buf_release(&line);
	if (rc < 0 ||
	    (rc = read_answer(&msg, a, a->next_id, timeout_ms, err)) < 0)
		return rc;
	if (msg.kind == JSONRPC_KIND_ERROR)
		rc = err_set(err, ERR_PROTO, "%s: %s: %s", a->where, method,
			     msg.error_message);
	else
		*result = json_incref(msg.result);
	jsonrpc_msg_release(&msg);
	return rc;
}

void
agentc_close(struct agentc *a)
{
	if (a == NULL)
		return;
	jsonrpc_reader_release(&a->r);
	ssh_channel_close(a->ch);
	free(a);
}

int
agentc_open(struct agentc **out, bool *uploaded, struct ssh_conn *c,
	    const char *path, const char *root, const char *where,
	    const char *local_agent, const char *local_version,
	    int64_t timeout_ms, struct err *err)
{
	json_t *hello = NULL;
	char version[256];

	*uploaded = false;
	*out = NULL;
	/* Most runs find the agent there: start it and ask. */
	if (agentc_start(out, c, path, root, where, err) == 0 &&
	    agentc_call(&hello, *out, "hello", NULL, timeout_ms, err) == 0) {
		snprintf(version, sizeof(version),
			 "ivr-agent %s (protocol %lld)\n",
			 json_string_value(
				 json_object_get(hello, "agent_version")),
			 (long long)json_integer_value(
				 json_object_get(hello, "protocol_version")));
		json_decref(hello);
		if (strcmp(version, local_version) == 0)
			return 0;
	}
	agentc_close(*out);
	*out = NULL;
	/* Missing, or another version: this controller's goes there. */
	if (ssh_upload(c, local_agent, path, 0755, err) < 0)
		return err_prefix(err, "uploading the agent: ");
	*uploaded = true;
	if (agentc_start(out, c, path, root, where, err) < 0 ||
	    agentc_call(&hello, *out, "hello", NULL, timeout_ms, err) < 0) {
		agentc_close(*out);
		*out = NULL;
		return err_prefix(err,
				  "the agent did not start with its root "
				  "'%s' (writable? see agent.log there): ",
				  root);
	}
	json_decref(hello);
	return 0;
}
