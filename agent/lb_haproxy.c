/*
 * lb_haproxy: see lb.h.  One command per connection (the runtime API's
 * non-interactive mode): send a line, read the answer to EOF, capped.
 */
#include "lb.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "parse.h"

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

/* The admin-state and operational-state fields of the member's line in
 * `show servers state`. */
static int
admin_state(int64_t *admin, int64_t *op_state, const struct lb_target *t,
	    struct err *err)
{
	char cmd[256];
	struct buf b;
	int rc;

	snprintf(cmd, sizeof(cmd), "show servers state %s", t->backend);
	buf_init(&b, ANSWER_MAX);
	if ((rc = command(&b, t, cmd, err)) == 0)
		rc = lb_haproxy_parse_state(admin, op_state, b.data, t->backend,
					    t->server, err);
	buf_release(&b);
	return rc;
}

int
lb_haproxy_parse_state(int64_t *admin, int64_t *op_state, char *text,
		       const char *backend, const char *server, struct err *err)
{
	char *line, *save = NULL, name[128];

	for (line = text ? strtok_r(text, "\n", &save) : NULL; line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		long long be_id, srv_id, op, adm;
		char be[128];

		/* be_id be_name srv_id srv_name srv_addr op_state admin ... */
		if (sscanf(line, "%lld %127s %lld %127s %*s %lld %lld", &be_id,
			   be, &srv_id, name, &op, &adm) == 6 &&
		    strcmp(be, backend) == 0 && strcmp(name, server) == 0) {
			*admin = adm;
			*op_state = op;
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

	if ((rc = admin_state(&admin, &op, t, err)) < 0)
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
