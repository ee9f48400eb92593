/*
 * lb_nginx: see lb.h.  The upstream include file is the state: each member
 * is one `server ADDR [params];` line, and the agent owns only the `down`
 * flag and its `# ivr:drain` / `# ivr:maint` note on that line.
 */
#include "lb.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "fileio.h"
#include "parse.h"
#include "proc.h"

#define FILE_MAX     (1024 * 1024)
#define LINE_MAX_LEN 1024

/* Finds the member's line; sets *start and *len, or returns false. */
static bool
find_line(const char *text, const char *addr, size_t *start, size_t *len)
{
	size_t alen = strlen(addr);

	for (const char *p = text; *p != '\0';) {
		const char *end = strchr(p, '\n'), *q = p;
		size_t n = end ? (size_t)(end - p) : strlen(p);

		while (*q == ' ' || *q == '\t')
			q++;
		if (strncmp(q, "server", 6) == 0 &&
		    (q[6] == ' ' || q[6] == '\t')) {
			q += 6;
			while (*q == ' ' || *q == '\t')
				q++;
			if (strncmp(q, addr, alen) == 0 &&
			    strchr(" \t;", q[alen]) != NULL) {
				*start = (size_t)(p - text);
				*len = n;
				return true;
			}
		}
		p += n + (end ? 1 : 0);
	}
	return false;
}

static enum lb_state
line_state(const char *line, size_t n)
{
	char copy[LINE_MAX_LEN];

	snprintf(copy, sizeof(copy), "%.*s", (int)n, line);
	if (strstr(copy, "# ivr:drain") != NULL)
		return LB_STATE_DRAIN;
	if (strstr(copy, " down") != NULL || strstr(copy, "\tdown") != NULL)
		return LB_STATE_MAINT;
	return LB_STATE_READY;
}

/* The member's line rewritten for state into out. */
static int
rewrite(struct buf *out, const char *line, size_t n, enum lb_state state,
	struct err *err)
{
	char copy[LINE_MAX_LEN], *semi, *down;
	int rc;

	if (n >= sizeof(copy))
		return err_set(err, ERR_OVERFLOW, "upstream line too long");
	memcpy(copy, line, n);
	copy[n] = '\0';
	if ((semi = strchr(copy, ';')) == NULL)
		return err_set(err, ERR_PARSE, "upstream line without ';'");
	*semi = '\0';
	/* Drop a `down` flag: it is ours to set. */
	while ((down = strstr(copy, " down")) != NULL &&
	       (down[5] == '\0' || down[5] == ' '))
		memmove(down, down + 5, strlen(down + 5) + 1);
	rc = buf_append_str(out, copy, err);
	if (rc == 0 && state != LB_STATE_READY)
		rc = buf_appendf(out, err, " down; # ivr:%s",
				 lb_state_name(state));
	else if (rc == 0)
		rc = buf_append_str(out, ";", err);
	return rc;
}

int
lb_nginx_get(struct lb_member *out, const struct lb_target *t, struct err *err)
{
	struct buf b;
	int rc;

	buf_init(&b, FILE_MAX);
	if ((rc = fileio_read_all(&b, t->upstream_file, err)) == 0 &&
	    (rc = lb_nginx_parse(out, buf_cstr(&b), t->server, err)) < 0)
		err_prefix(err, "'%s': ", t->upstream_file);
	buf_release(&b);
	return rc;
}

int
lb_nginx_parse(struct lb_member *out, const char *text, const char *server,
	       struct err *err)
{
	size_t start, len;

	if (!find_line(text, server, &start, &len))
		return err_set(err, ERR_NOTFOUND, "no server '%s'", server);
	out->state = line_state(text + start, len);
	out->sessions = -1;
	out->up = -1;
	out->checked = -1;
	return 0;
}

int
lb_nginx_rewrite(struct buf *out, const char *text, const char *server,
		 enum lb_state state, struct err *err)
{
	size_t start, len;
	int rc;

	if (!find_line(text, server, &start, &len))
		return err_set(err, ERR_NOTFOUND, "no server '%s'", server);
	if ((rc = buf_append(out, text, start, err)) < 0 ||
	    (rc = rewrite(out, text + start, len, state, err)) < 0 ||
	    (rc = buf_append_str(out, text + start + len, err)) < 0)
		return rc;
	return 0;
}

/* Runs `nginx -t -c conf`; on failure err holds nginx's first line. */
static int
nginx_test(const char *conf, struct err *err)
{
	const char *const argv[] = { "nginx", "-t", "-q", "-c", conf, NULL };

	return proc_check(argv, "nginx -t", PROC_CHECK_MS, err);
}

static int
nginx_reload(const char *pid_file, struct err *err)
{
	struct buf b;
	int64_t pid = 0;
	int rc;

	buf_init(&b, 64);
	if ((rc = fileio_read_all(&b, pid_file, err)) == 0) {
		char *nl = strchr(b.data ? b.data : "", '\n');

		if (nl != NULL)
			*nl = '\0';
		rc = parse_int64(&pid, buf_cstr(&b), 1, INT32_MAX, err);
	}
	buf_release(&b);
	if (rc < 0)
		return err_prefix(err, "nginx pid file: ");
	if (kill((pid_t)pid, SIGHUP) < 0)
		return err_set_errno(err, ERR_IO, errno,
				     "cannot reload nginx (pid %lld)",
				     (long long)pid);
	return 0;
}

/* Puts new in place of the upstream file (old), tests and reloads; the
 * old file goes back when nginx refuses the new one. */
static int
replace_upstream(const struct lb_target *t, const struct buf *old,
		 const struct buf *new, struct err *err)
{
	int rc;

	if ((rc = fileio_write_atomic(t->upstream_file, new->data, new->len,
				      0644, err)) < 0)
		return rc;
	if ((rc = nginx_test(t->nginx_conf, err)) < 0) {
		fileio_write_atomic(t->upstream_file, old->data, old->len, 0644,
				    NULL);
		return rc;
	}
	return nginx_reload(t->nginx_pid, err);
}

int
lb_nginx_set(struct lb_member *out, const struct lb_target *t,
	     enum lb_state state, struct err *err)
{
	struct buf old, new;
	int rc;

	buf_init(&old, FILE_MAX);
	buf_init(&new, FILE_MAX + LINE_MAX_LEN);
	if ((rc = fileio_read_all(&old, t->upstream_file, err)) < 0)
		goto out;
	if ((rc = lb_nginx_rewrite(&new, buf_cstr(&old), t->server, state,
				   err)) < 0) {
		err_prefix(err, "'%s': ", t->upstream_file);
		goto out;
	}
	if ((rc = replace_upstream(t, &old, &new, err)) < 0 ||
	    (rc = lb_nginx_get(out, t, err)) < 0)
		goto out;
	if (out->state != state)
		rc = err_set(err, ERR_IO,
			     "'%s' shows %s as %s after setting %s",
			     t->upstream_file, t->server,
			     lb_state_name(out->state), lb_state_name(state));
out:
	buf_release(&old);
	buf_release(&new);
	return rc;
}

int
lb_nginx_parse_members(const char *text, lb_entry_fn fn, void *ctx,
		       struct err *err)
{
	for (const char *p = text; *p != '\0';) {
		const char *end = strchr(p, '\n'), *q = p, *line = p;
		size_t n = end ? (size_t)(end - p) : strlen(p), k;
		struct lb_entry e = { .up = -1 };
		int rc;

		while (*q == ' ' || *q == '\t')
			q++;
		p += n + (end ? 1 : 0);
		if (strncmp(q, "server", 6) != 0 ||
		    (q[6] != ' ' && q[6] != '\t'))
			continue;
		for (q += 6; *q == ' ' || *q == '\t'; q++)
			;
		k = strcspn(q, " \t;\n");
		if (k == 0 || k >= sizeof(e.name))
			continue;
		memcpy(e.name, q, k);
		memcpy(e.address, q, k);
		e.state = line_state(line, n);
		if ((rc = fn(ctx, &e)) < 0)
			return err_set(err, rc, "listing stopped at '%s'",
				       e.name);
	}
	return 0;
}

int
lb_nginx_members(const struct lb_target *t, lb_entry_fn fn, void *ctx,
		 struct err *err)
{
	struct buf b;
	int rc;

	buf_init(&b, FILE_MAX);
	if ((rc = fileio_read_all(&b, t->upstream_file, err)) == 0)
		rc = lb_nginx_parse_members(buf_cstr(&b), fn, ctx, err);
	buf_release(&b);
	return rc;
}

int
lb_nginx_add_line(struct buf *out, const char *text, const char *server,
		  const char *line, struct err *err)
{
	size_t start, len, n = strlen(text);
	int rc;

	if (find_line(text, server, &start, &len))
		return err_set(err, ERR_EXISTS, "server '%s' is already there",
			       server);
	if ((rc = buf_append(out, text, n, err)) < 0 ||
	    (n > 0 && text[n - 1] != '\n' &&
	     (rc = buf_append_str(out, "\n", err)) < 0))
		return rc;
	return buf_appendf(out, err, "server %s%s%s down; # ivr:maint\n",
			   server, line[0] ? " " : "", line);
}

int
lb_nginx_remove_line(struct buf *out, const char *text, const char *server,
		     struct err *err)
{
	size_t start, len;
	int rc;

	if (!find_line(text, server, &start, &len))
		return err_set(err, ERR_NOTFOUND, "no server '%s'", server);
	if (text[start + len] == '\n')
		len++;
	if ((rc = buf_append(out, text, start, err)) < 0)
		return rc;
	return buf_append_str(out, text + start + len, err);
}

/* Adds or removes t->server's line, then tests and reloads. */
static int
change_pool(const struct lb_target *t, bool add, struct err *err)
{
	struct lb_member m;
	struct buf old, new;
	int rc;

	buf_init(&old, FILE_MAX);
	buf_init(&new, FILE_MAX + LINE_MAX_LEN);
	if ((rc = fileio_read_all(&old, t->upstream_file, err)) < 0)
		goto out;
	if (!add && lb_nginx_parse(&m, buf_cstr(&old), t->server, NULL) == 0 &&
	    m.state == LB_STATE_READY) {
		rc = err_set(err, ERR_BADSTATE,
			     "server '%s' takes calls: drain it first",
			     t->server);
		goto out;
	}
	rc = add ? lb_nginx_add_line(&new, buf_cstr(&old), t->server,
				     t->line ? t->line : "", err)
		 : lb_nginx_remove_line(&new, buf_cstr(&old), t->server, err);
	if (rc < 0)
		err_prefix(err, "'%s': ", t->upstream_file);
	else
		rc = replace_upstream(t, &old, &new, err);
out:
	buf_release(&old);
	buf_release(&new);
	return rc;
}

int
lb_nginx_add(const struct lb_target *t, struct err *err)
{
	return change_pool(t, true, err);
}

int
lb_nginx_remove(const struct lb_target *t, struct err *err)
{
	return change_pool(t, false, err);
}
