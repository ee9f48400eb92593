/*
 * testsupport: see testsupport.h.
 */
#include "testsupport.h"

#include "jsonrpc.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void
ts_tmpdir(char *out, const char *name)
{
	snprintf(out, 64, "/tmp/ivr-%s.XXXXXX", name);
	if (mkdtemp(out) == NULL) {
		perror("mkdtemp");
		abort();
	}
}

void
ts_rmrf(const char *dir)
{
	const char *argv[] = { "rm", "-rf", dir, NULL };

	if (strncmp(dir, "/tmp/ivr-", 9) == 0)
		ts_run(argv, "/dev/null");
}

pid_t
ts_spawn(const char *const argv[], const char *log_path)
{
	/* execvp takes char *const[] for history's sake; it writes nothing. */
	union {
		const char *const *c;
		char *const *m;
	} args = { .c = argv };
	pid_t pid = fork();
	int fd;

	if (pid != 0)
		return pid;
	fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (fd >= 0) {
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		close(fd);
	}
	execvp(args.m[0], args.m);
	_exit(127);
}

pid_t
ts_spawn_pipes(const char *const argv[], int *to, int *from,
	       const char *log_path)
{
	union {
		const char *const *c;
		char *const *m;
	} args = { .c = argv };
	int in[2], out[2], fd;
	pid_t pid;

	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
		return -1;
	if ((pid = fork()) == 0) {
		dup2(in[0], STDIN_FILENO);
		dup2(out[1], STDOUT_FILENO);
		fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0)
			dup2(fd, STDERR_FILENO);
		execvp(args.m[0], args.m);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	*to = in[1];
	*from = out[0];
	return pid;
}

static void
sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

int
ts_wait_exit(pid_t pid, int timeout_ms)
{
	int status;

	for (int waited = 0; waited <= timeout_ms; waited += 10) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return status;
		sleep_ms(10);
	}
	return -1;
}

int
ts_stop(pid_t pid, int sig, int timeout_ms)
{
	int status;

	if (pid <= 0)
		return -1;
	kill(pid, sig);
	status = ts_wait_exit(pid, timeout_ms);
	if (status != -1)
		return status;
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

int
ts_run(const char *const argv[], const char *log_path)
{
	pid_t pid = ts_spawn(argv, log_path);
	int status;

	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int
ts_free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
		port = ntohs(sa.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

struct sink {
	char *data;
	size_t len;
};

static size_t
collect(char *p, size_t size, size_t n, void *ctx)
{
	struct sink *s = ctx;
	char *grown = realloc(s->data, s->len + size * n + 1);

	if (grown == NULL)
		return 0;
	s->data = grown;
	memcpy(s->data + s->len, p, size * n);
	s->len += size * n;
	s->data[s->len] = '\0';
	return size * n;
}

long
ts_http_text(const char *method, const char *url, const char *body,
	     const char *header, char **text)
{
	return ts_http_headers(method, url, body, header, text, NULL);
}

long
ts_http_headers(const char *method, const char *url, const char *body,
		const char *header, char **text, char **head)
{
	CURL *curl = curl_easy_init();
	struct curl_slist *headers = NULL;
	struct sink s = { NULL, 0 }, h = { NULL, 0 };
	long status = 0;

	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, collect);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, &h);
	if (header == NULL || strncasecmp(header, "Content-Type:", 13) != 0)
		headers = curl_slist_append(headers,
					    "Content-Type: application/json");
	if (header != NULL)
		headers = curl_slist_append(headers, header);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	if (body != NULL)
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
	if (curl_easy_perform(curl) == CURLE_OK)
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(headers);
	curl_easy_cleanup(curl);
	if (text != NULL)
		*text = s.data;
	else
		free(s.data);
	if (head != NULL)
		*head = h.data;
	else
		free(h.data);
	return status;
}

long
ts_http(const char *method, const char *url, const char *body,
	const char *header, json_t **out)
{
	char *text = NULL;
	long status = ts_http_text(method, url, body, header, &text);

	if (out != NULL)
		*out = text ? json_loads(text, 0, NULL) : NULL;
	free(text);
	return status;
}

bool
ts_wait_http_ok(const char *url, int timeout_ms)
{
	for (int waited = 0; waited <= timeout_ms; waited += 50) {
		if (ts_http("GET", url, NULL, NULL, NULL) == 200)
			return true;
		sleep_ms(50);
	}
	return false;
}

char *
ts_read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *text;
	long n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	text = calloc(1, (size_t)n + 1);
	if (text != NULL && fread(text, 1, (size_t)n, f) != (size_t)n) {
		free(text);
		text = NULL;
	}
	fclose(f);
	return text;
}

int
ts_agent_start(struct ts_agent *a, const char *bin, const char *root,
	       const char *log)
{
	return ts_agent_start_flag(a, bin, root, NULL, log);
}

int
ts_agent_start_flag(struct ts_agent *a, const char *bin, const char *root,
		    const char *flag, const char *log)
{
	const char *argv[] = { bin, "serve", "--root", root, flag, NULL };
	struct jsonrpc_reader *r = calloc(1, sizeof(*r));

	memset(a, 0, sizeof(*a));
	a->pid = ts_spawn_pipes(argv, &a->to, &a->from, log);
	if (a->pid <= 0 || r == NULL) {
		free(r);
		return -1;
	}
	jsonrpc_reader_init(r, 2 * 1024 * 1024, jsonrpc_fd_read, &a->from);
	a->reader = r;
	return 0;
}

void
ts_agent_stop(struct ts_agent *a)
{
	if (a->pid <= 0)
		return;
	close(a->to);
	if (ts_wait_exit(a->pid, 5000) == -1)
		ts_stop(a->pid, SIGKILL, 1000);
	close(a->from);
	jsonrpc_reader_release(a->reader);
	free(a->reader);
	a->reader = NULL;
	a->pid = -1;
}

/* Appends {"dir": dir, "msg": line-as-JSON-or-string} to the transcript. */
static void
record(struct ts_agent *a, const char *dir, const char *line, size_t len)
{
	json_t *msg, *entry;
	char *text;

	if (a->transcript == NULL)
		return;
	msg = json_loadb(line, len, 0, NULL);
	if (msg == NULL)
		msg = json_stringn_nocheck(line, len < 200 ? len : 200);
	entry = json_pack("{s:s, s:o}", "dir", dir, "msg", msg);
	text = json_dumps(entry, JSON_COMPACT);
	fprintf(a->transcript, "%s\n", text);
	free(text);
	json_decref(entry);
}

int
ts_agent_check_transcript(const char *source_dir, const char *path,
			  const char *log)
{
	char script[512], schema[512];
	const char *argv[] = { script, schema, path, NULL };

	snprintf(script, sizeof(script),
		 "%s/scripts/validate-agent-transcript.py", source_dir);
	snprintf(schema, sizeof(schema),
		 "%s/schemas/agent-protocol.schema.json", source_dir);
	return ts_run(argv, log);
}

void
ts_agent_send(struct ts_agent *a, const char *line)
{
	size_t n = strlen(line);

	record(a, "to", line, n);
	if (write(a->to, line, n) != (ssize_t)n || write(a->to, "\n", 1) != 1)
		perror("ts_agent_send");
}

json_t *
ts_agent_read(struct ts_agent *a)
{
	const char *line;
	size_t len;
	json_t *o;

	a->progress = 0;
	for (;;) {
		if (jsonrpc_reader_next(a->reader, &line, &len, 60000, NULL) <
		    0)
			return NULL;
		record(a, "from", line, len);
		if ((o = json_loadb(line, len, 0, NULL)) == NULL)
			return NULL;
		if (json_object_get(o, "id") != NULL)
			return o;
		a->progress++;
		json_decref(o);
	}
}

json_t *
ts_agent_call(struct ts_agent *a, const char *method, json_t *params)
{
	json_t *req = jsonrpc_request_new(++a->next_id, method, params);
	char *text = json_dumps(req, JSON_COMPACT);
	json_t *o;

	json_decref(req);
	ts_agent_send(a, text);
	free(text);
	o = ts_agent_read(a);
	if (o != NULL &&
	    json_integer_value(json_object_get(o, "id")) != a->next_id) {
		json_decref(o);
		return NULL;
	}
	return o;
}
