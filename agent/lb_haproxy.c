/*
 * lb_haproxy: see lb.h.  One command per connection (the runtime API's
 * non-interactive mode): send a line, read the answer to EOF, capped.
 */
#include "lb.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "fileio.h"
#include "parse.h"
#include "proc.h"

#define ANSWER_MAX (1024 * 1024)

const char *
lb_state_name(enum lb_state s)
{
	return s == LB_STATE_READY   ? "ready"
	       : s == LB_STATE_DRAIN ? "drain"
				     : "maint";
}

int
lb_state_parse(enum lb_state *out, const char *s, struct err *err)
{
	for (int i = LB_STATE_READY; i <= LB_STATE_MAINT; i++) {
		if (strcmp(s, lb_state_name((enum lb_state)i)) == 0) {
			*out = (enum lb_state)i;
			return 0;
		}
	}
	return err_set(err, ERR_INVAL,
		       "state must be ready, drain or maint, not '%.16s'", s);
}

/* Connects to a unix socket path or a host:port. */
static int
dial(int *fd, const char *where, struct err *err)
{
	const char *colon = strrchr(where, ':');
	int64_t port;

	if (where[0] == '/') {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };

		if (strlen(where) >= sizeof(sa.sun_path))
			return err_set(err, ERR_INVAL, "socket path too long");
		memcpy(sa.sun_path, where, strlen(where) + 1);
		*fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (*fd >= 0 &&
		    connect(*fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return 0;
	} else {
		struct sockaddr_in sa = { .sin_family = AF_INET };
		char host[64];

		if (colon == NULL || (size_t)(colon - where) >= sizeof(host) ||
		    parse_int64(&port, colon + 1, 1, 65535, NULL) < 0)
			return err_set(err, ERR_INVAL,
				       "bad HAProxy address '%.64s'", where);
		memcpy(host, where, (size_t)(colon - where));
		host[colon - where] = '\0';
		if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
			return err_set(err, ERR_INVAL,
				       "bad HAProxy address '%.64s'", where);
		sa.sin_port = htons((uint16_t)port);
		*fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (*fd >= 0 &&
		    connect(*fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return 0;
	}
	err_set_errno(err, ERR_IO, errno,
		      "cannot reach the HAProxy runtime API at '%s'", where);
	if (*fd >= 0)
		close(*fd);
	return ERR_IO;
}

/* Sends one command and reads the whole answer into out. */
static int
command(struct buf *out, const struct lb_target *t, const char *cmd,
	struct err *err)
{
	char chunk[4096];
	struct pollfd pfd;
	ssize_t n;
	int fd = -1, rc;

	if ((rc = dial(&fd, t->socket, err)) < 0)
		return rc;
	if (write(fd, cmd, strlen(cmd)) != (ssize_t)strlen(cmd) ||
	    write(fd, "\n", 1) != 1) {
		rc = err_set_errno(err, ERR_IO, errno,
				   "cannot send to HAProxy");
		goto out;
	}
	pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
	for (;;) {
		if (poll(&pfd, 1, (int)t->timeout_ms) <= 0) {
			rc = err_set(err, ERR_IO,
				     "HAProxy did not answer '%s' in %lld ms",
				     cmd, (long long)t->timeout_ms);
			goto out;
		}
		if ((n = read(fd, chunk, sizeof(chunk))) <= 0)
			break;
		if ((rc = buf_append(out, chunk, (size_t)n, err)) < 0)
			goto out;
	}
	rc = 0;
out:
	close(fd);
	return rc;
}

/* `show servers state` of the target's backend into b (ANSWER_MAX). */
static int
servers_state(struct buf *b, const struct lb_target *t, struct err *err)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "show servers state %s", t->backend);
	buf_init(b, ANSWER_MAX);
	return command(b, t, cmd, err);
}

/* The admin-state and operational-state fields of the member's line in
 * `show servers state`, and (checked may be NULL) its health check's. */
static int
admin_state(int64_t *admin, int64_t *op_state, int *checked,
	    const struct lb_target *t, struct err *err)
{
	struct buf b;
	int rc;

	if ((rc = servers_state(&b, t, err)) == 0)
		rc = lb_haproxy_parse_state(admin, op_state, checked, b.data,
					    t->backend, t->server, err);
	buf_release(&b);
	return rc;
}

/* HAProxy's check result "passed" (CHK_RES_PASSED, _CONDPASS) and the
 * check state's "enabled" bit (CHK_ST_ENABLED). */
#define CHECK_PASSED   3
#define CHECK_CONDPASS 4
#define CHECK_ENABLED  0x4

int
lb_haproxy_parse_state(int64_t *admin, int64_t *op_state, int *checked,
		       char *text, const char *backend, const char *server,
		       struct err *err)
{
	char *line, *save = NULL, name[128];

	for (line = text ? strtok_r(text, "\n", &save) : NULL; line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		long long be_id, srv_id, op, adm, result = -1, state = 0;
		char be[128];
		int n;

		/* be_id be_name srv_id srv_name srv_addr op_state admin
		 * uweight iweight since check_status check_result
		 * check_health check_state ... */
		n = sscanf(line,
			   "%lld %127s %lld %127s %*s %lld %lld %*s %*s %*s "
			   "%*s %lld %*s %lld",
			   &be_id, be, &srv_id, name, &op, &adm, &result,
			   &state);
		if (n >= 6 && strcmp(be, backend) == 0 &&
		    strcmp(name, server) == 0) {
			*admin = adm;
			*op_state = op;
			if (checked != NULL)
				*checked =
					n < 8 || !(state & CHECK_ENABLED)
						? -1
						: result == CHECK_PASSED ||
							  result ==
								  CHECK_CONDPASS;
			return 0;
		}
	}
	return err_set(err, ERR_NOTFOUND, "no server '%s/%s' in HAProxy",
		       backend, server);
}

/* Current sessions of the member from `show stat` (CSV, scur). */
static int64_t
sessions(const struct lb_target *t)
{
	int64_t scur = -1;
	struct buf b;

	buf_init(&b, ANSWER_MAX);
	if (command(&b, t, "show stat -1 4 -1", NULL) == 0)
		scur = lb_haproxy_parse_scur(b.data, t->backend, t->server);
	buf_release(&b);
	return scur;
}

int64_t
lb_haproxy_parse_scur(char *text, const char *backend, const char *server)
{
	char *line, *save = NULL;
	int64_t scur = -1;

	for (line = text ? strtok_r(text, "\n", &save) : NULL; line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		char px[128], sv[128];
		long long v;

		/* pxname,svname,qcur,qmax,scur,... */
		if (sscanf(line, "%127[^,],%127[^,],%*[^,],%*[^,],%lld", px, sv,
			   &v) == 3 &&
		    strcmp(px, backend) == 0 && strcmp(sv, server) == 0)
			scur = v;
	}
	return scur;
}

/* HAProxy's SRV_ADMF_* bits: maintenance of any kind, drain. */
#define ADMIN_MAINT (0x01 | 0x02 | 0x04 | 0x20 | 0x40)
#define ADMIN_DRAIN (0x08 | 0x10)

int
lb_haproxy_get(struct lb_member *out, const struct lb_target *t,
	       struct err *err)
{
	int64_t admin = 0, op = 0;
	int rc;

	if ((rc = admin_state(&admin, &op, &out->checked, t, err)) < 0)
		return rc;
	/* SRV_ST_RUNNING: the health check passes (or there is none). */
	out->up = op == 2;
	out->state = admin & ADMIN_MAINT   ? LB_STATE_MAINT
		     : admin & ADMIN_DRAIN ? LB_STATE_DRAIN
					   : LB_STATE_READY;
	out->sessions = sessions(t);
	return 0;
}

int
lb_haproxy_set(struct lb_member *out, const struct lb_target *t,
	       enum lb_state state, struct err *err)
{
	char cmd[300];
	struct buf b;
	int rc;

	snprintf(cmd, sizeof(cmd), "set server %s/%s state %s", t->backend,
		 t->server, lb_state_name(state));
	buf_init(&b, ANSWER_MAX);
	rc = command(&b, t, cmd, err);
	/* Success is an empty answer; anything else is HAProxy's reason. */
	if (rc == 0 && strspn(buf_cstr(&b), "\n") != b.len) {
		char *nl = strchr(b.data, '\n');

		if (nl != NULL)
			*nl = '\0';
		rc = err_set(err,
			     strstr(b.data, "No such") ? ERR_NOTFOUND : ERR_IO,
			     "HAProxy refused '%s': %s", cmd, b.data);
	}
	buf_release(&b);
	if (rc < 0 || (rc = lb_haproxy_get(out, t, err)) < 0)
		return rc;
	if (out->state != state)
		return err_set(err, ERR_IO,
			       "HAProxy reports %s/%s as %s after setting %s",
			       t->backend, t->server, lb_state_name(out->state),
			       lb_state_name(state));
	return 0;
}

/* The pool */

int
lb_haproxy_parse_members(char *text, const char *backend, lb_entry_fn fn,
			 void *ctx, struct err *err)
{
	char *line, *save = NULL;

	for (line = text ? strtok_r(text, "\n", &save) : NULL; line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		/* be_id be_name srv_id srv_name srv_addr op_state admin
		 * ... srv_port (the 19th) */
		char *f[19], *tok, *words = NULL;
		struct lb_entry e = { 0 };
		int64_t op, admin;
		size_t k = 0;
		int rc;

		for (tok = strtok_r(line, " ", &words); tok != NULL && k < 19;
		     tok = strtok_r(NULL, " ", &words))
			f[k++] = tok;
		if (k < 19 || strcmp(f[1], backend) != 0 ||
		    parse_int64(&op, f[5], 0, 3, NULL) < 0 ||
		    parse_int64(&admin, f[6], 0, 0xffff, NULL) < 0 ||
		    strlen(f[3]) >= sizeof(e.name) ||
		    snprintf(e.address, sizeof(e.address), "%s:%s", f[4],
			     f[18]) >= (int)sizeof(e.address))
			continue;
		memcpy(e.name, f[3], strlen(f[3]) + 1);
		e.up = op == 2;
		e.state = admin & ADMIN_MAINT	? LB_STATE_MAINT
			  : admin & ADMIN_DRAIN ? LB_STATE_DRAIN
						: LB_STATE_READY;
		if ((rc = fn(ctx, &e)) < 0)
			return err_set(err, rc, "listing stopped at '%s'",
				       e.name);
	}
	return 0;
}

int
lb_haproxy_members(const struct lb_target *t, lb_entry_fn fn, void *ctx,
		   struct err *err)
{
	struct buf b;
	int rc;

	if ((rc = servers_state(&b, t, err)) == 0)
		rc = lb_haproxy_parse_members(b.data, t->backend, fn, ctx, err);
	buf_release(&b);
	return rc;
}

/* A word of a configuration line. */
struct span {
	const char *p;
	size_t n;
};

static bool
span_is(const struct span *w, const char *s)
{
	return w->n == strlen(s) && memcmp(w->p, s, w->n) == 0;
}

/* Up to max words of the n bytes at line; returns how many. */
static size_t
split_words(struct span *w, size_t max, const char *line, size_t n)
{
	size_t k = 0, i = 0;

	while (k < max) {
		while (i < n && strchr(" \t\r", line[i]) != NULL)
			i++;
		if (i == n)
			break;
		w[k].p = line + i;
		while (i < n && strchr(" \t\r", line[i]) == NULL)
			i++;
		w[k].n = (size_t)(line + i - w[k].p);
		k++;
	}
	return k;
}

static bool
starts_section(const struct span *w)
{
	static const char *const kw[] = {
		"global",  "defaults",	  "frontend", "backend", "listen",
		"peers",   "resolvers",	  "userlist", "program", "ring",
		"mailers", "http-errors", "cache",    NULL,
	};

	for (size_t i = 0; kw[i] != NULL; i++)
		if (span_is(w, kw[i]))
			return true;
	return false;
}

/* Where backend's section is in a configuration, and server in it. */
struct section {
	bool found;
	size_t end;	   /* where it ends */
	size_t after_last; /* after its last server line; 0: none */
	struct span indent;
	bool has; /* server's line */
	size_t at, len;
};

static void
find_section(struct section *sec, const char *text, const char *backend,
	     const char *server)
{
	bool in = false;

	*sec = (struct section){ .indent = { "\t", 1 } };
	for (const char *p = text; *p != '\0';) {
		const char *end = strchr(p, '\n');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		size_t full = n + (end ? 1 : 0);
		struct span w[2];
		size_t k = split_words(w, 2, p, n);

		if (k >= 1 && starts_section(&w[0])) {
			if (in)
				sec->end = (size_t)(p - text);
			in = !sec->found && k == 2 && span_is(&w[1], backend) &&
			     (span_is(&w[0], "backend") ||
			      span_is(&w[0], "listen"));
			sec->found = sec->found || in;
		} else if (in && k == 2 && span_is(&w[0], "server")) {
			sec->after_last = (size_t)(p - text) + full;
			sec->indent = (struct span){ p, (size_t)(w[0].p - p) };
			if (span_is(&w[1], server)) {
				sec->has = true;
				sec->at = (size_t)(p - text);
				sec->len = full;
			}
		}
		p += full;
	}
	if (in)
		sec->end = strlen(text);
}

int
lb_haproxy_config_add(struct buf *out, const char *text, const char *backend,
		      const char *server, const char *line, struct err *err)
{
	struct section sec;
	size_t at;
	int rc;

	find_section(&sec, text, backend, server);
	if (!sec.found)
		return err_set(err, ERR_NOTFOUND,
			       "no backend '%s' in the configuration", backend);
	if (sec.has)
		return err_set(err, ERR_EXISTS,
			       "server '%s' is already in backend '%s'", server,
			       backend);
	at = sec.after_last ? sec.after_last : sec.end;
	if ((rc = buf_append(out, text, at, err)) < 0 ||
	    (at > 0 && text[at - 1] != '\n' &&
	     (rc = buf_append_str(out, "\n", err)) < 0) ||
	    (rc = buf_append(out, sec.indent.p, sec.indent.n, err)) < 0 ||
	    (rc = buf_appendf(out, err, "server %s %s\n", server, line)) < 0)
		return rc;
	return buf_append_str(out, text + at, err);
}

int
lb_haproxy_config_remove(struct buf *out, const char *text, const char *backend,
			 const char *server, struct err *err)
{
	struct section sec;
	int rc;

	find_section(&sec, text, backend, server);
	if (!sec.has)
		return err_set(err, ERR_NOTFOUND,
			       "no server '%s' in backend '%s' of the "
			       "configuration",
			       server, backend);
	if ((rc = buf_append(out, text, sec.at, err)) < 0)
		return rc;
	return buf_append_str(out, text + sec.at + sec.len, err);
}

/* Replaces the configuration file with b once `haproxy -c` accepts it
 * (checked as a file beside it, removed after), keeping its mode (into
 * *mode). */
static int
write_config(mode_t *mode, const char *path, const struct buf *b,
	     struct err *err)
{
	char check[4200];
	const char *slash = strrchr(path, '/');
	const char *const argv[] = { "haproxy", "-c", "-q", "-f", check, NULL };
	struct stat st;
	int rc;

	if (stat(path, &st) < 0)
		return err_set_errno(err, ERR_IO, errno, "cannot stat '%s'",
				     path);
	*mode = st.st_mode & 07777;
	snprintf(check, sizeof(check), "%.*s.%s.ivr-check",
		 slash ? (int)(slash - path + 1) : 0, path,
		 slash ? slash + 1 : path);
	if ((rc = fileio_write_atomic(check, b->data, b->len,
				      st.st_mode & 07777, err)) < 0)
		return rc;
	rc = proc_check(argv, "haproxy -c", PROC_CHECK_MS, err);
	unlink(check);
	if (rc < 0)
		return rc;
	return fileio_write_atomic(path, b->data, b->len, st.st_mode & 07777,
				   err);
}

/* One runtime API command whose answer must hold want (NULL: must be
 * empty). */
static int
expect(const struct lb_target *t, const char *cmd, const char *want,
       struct err *err)
{
	struct buf b;
	int rc;

	buf_init(&b, ANSWER_MAX);
	rc = command(&b, t, cmd, err);
	if (rc == 0 && (want ? strstr(buf_cstr(&b), want) == NULL
			     : strspn(buf_cstr(&b), "\n") != b.len)) {
		char *nl = strchr(buf_cstr(&b), '\n');

		if (nl != NULL)
			*nl = '\0';
		rc = err_set(err,
			     strstr(buf_cstr(&b), "Already exists") ? ERR_EXISTS
								    : ERR_IO,
			     "HAProxy refused '%s': %s", cmd,
			     b.len ? b.data : "(no answer)");
	}
	buf_release(&b);
	return rc;
}

/* Whether a server line asks for health checks. */
static bool
has_check(const char *line)
{
	struct span w[32];
	size_t k = split_words(w, 32, line, strlen(line));

	for (size_t i = 0; i < k; i++)
		if (span_is(&w[i], "check"))
			return true;
	return false;
}

/* The configuration file's text into old and, changed, into new;
 * *changed false when the change is there already. */
static int
config_change(struct buf *old, struct buf *new, bool *changed,
	      const struct lb_target *t, bool add, struct err *err)
{
	int rc;

	*changed = false;
	if (t->config == NULL)
		return 0;
	if ((rc = fileio_read_all(old, t->config, err)) < 0)
		return rc;
	rc = add ? lb_haproxy_config_add(new, buf_cstr(old), t->backend,
					 t->server, t->line, err)
		 : lb_haproxy_config_remove(new, buf_cstr(old), t->backend,
					    t->server, err);
	if (rc == (add ? ERR_EXISTS : ERR_NOTFOUND))
		return 0;
	if (rc < 0)
		return err_prefix(err, "'%s': ", t->config);
	*changed = true;
	return 0;
}

int
lb_haproxy_add(const struct lb_target *t, struct err *err)
{
	int64_t admin, op;
	struct buf old, new;
	char cmd[1024];
	mode_t mode = 0600;
	bool changed;
	int rc;

	if (admin_state(&admin, &op, NULL, t, NULL) == 0)
		return err_set(err, ERR_EXISTS,
			       "server '%s/%s' is already in HAProxy",
			       t->backend, t->server);
	buf_init(&old, ANSWER_MAX);
	buf_init(&new, ANSWER_MAX + sizeof(cmd));
	if ((rc = config_change(&old, &new, &changed, t, true, err)) < 0 ||
	    (changed && (rc = write_config(&mode, t->config, &new, err)) < 0))
		goto out;
	snprintf(cmd, sizeof(cmd), "add server %s/%s %s", t->backend, t->server,
		 t->line);
	rc = expect(t, cmd, "New server registered", err);
	if (rc == 0 && has_check(t->line)) {
		snprintf(cmd, sizeof(cmd), "enable health %s/%s", t->backend,
			 t->server);
		rc = expect(t, cmd, NULL, err);
	}
	if (rc < 0 && changed) /* the file as it was */
		fileio_write_atomic(t->config, old.data, old.len, mode, NULL);
out:
	buf_release(&old);
	buf_release(&new);
	return rc;
}

int
lb_haproxy_remove(const struct lb_target *t, struct err *err)
{
	int64_t admin = 0, op;
	struct buf old, new;
	bool changed, gone;
	mode_t mode;
	char cmd[300];
	int rc;

	rc = admin_state(&admin, &op, NULL, t, err);
	if (rc < 0 && rc != ERR_NOTFOUND)
		return rc;
	if ((gone = rc == ERR_NOTFOUND) == false && !(admin & ADMIN_MAINT))
		return err_set(err, ERR_BADSTATE,
			       "server '%s/%s' is not in maintenance: drain "
			       "it first",
			       t->backend, t->server);
	snprintf(cmd, sizeof(cmd), "del server %s/%s", t->backend, t->server);
	if (!gone && (rc = expect(t, cmd, "Server deleted", err)) < 0)
		return rc;
	buf_init(&old, ANSWER_MAX);
	buf_init(&new, ANSWER_MAX);
	rc = config_change(&old, &new, &changed, t, false, err);
	if (rc == 0 && changed)
		rc = write_config(&mode, t->config, &new, err);
	else if (rc == 0 && gone)
		rc = err_set(err, ERR_NOTFOUND, "no server '%s/%s' in HAProxy",
			     t->backend, t->server);
	buf_release(&old);
	buf_release(&new);
	return rc;
}
