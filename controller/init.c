/*
 * init: see init.h.
 */
#include "init.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "diag.h"
#include "fileio.h"
#include "plan.h"

#define PLAN_TEXT_MAX (1024 * 1024)

/* Appends to b unless an earlier append failed (*rc keeps the first
 * error). */
static void __attribute__((format(printf, 3, 4)))
put(struct buf *b, int *rc, const char *fmt, ...)
{
	va_list ap;

	if (*rc < 0)
		return;
	va_start(ap, fmt);
	*rc = buf_vappendf(b, NULL, fmt, ap);
	va_end(ap);
}

enum {
	O_OUT = 1000,
	O_ENVIRONMENT,
	O_USER,
	O_PORT,
	O_IDENTITY,
	O_AGENT_ROOT,
	O_AGENT_PATH,
	O_HEALTH_URL,
	O_CALLS_URL,
	O_CA_FILE,
	O_YES,
	O_FORCE,
};

static const struct option init_options[] = {
	{ "out", required_argument, NULL, O_OUT },
	{ "environment", required_argument, NULL, O_ENVIRONMENT },
	{ "user", required_argument, NULL, O_USER },
	{ "port", required_argument, NULL, O_PORT },
	{ "identity", required_argument, NULL, O_IDENTITY },
	{ "agent-root", required_argument, NULL, O_AGENT_ROOT },
	{ "agent-path", required_argument, NULL, O_AGENT_PATH },
	{ "health-url", required_argument, NULL, O_HEALTH_URL },
	{ "calls-url", required_argument, NULL, O_CALLS_URL },
	{ "ca-file", required_argument, NULL, O_CA_FILE },
	{ "yes", no_argument, NULL, O_YES },
	{ "force", no_argument, NULL, O_FORCE },
	{ NULL, 0, NULL, 0 },
};

/* Whether s is 1-max of [A-Za-z0-9._-] (names, users) or, with more,
 * also those characters (addresses add ':'; paths and URLs any printable
 * character but quotes, backslashes and '#'). */
static bool
made_of(const char *s, size_t max, const char *more)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!(isalnum(c) || c == '.' || c == '_' || c == '-' ||
		      (more != NULL && c > ' ' && c < 127 &&
		       (*more == '\0' || strchr(more, c) != NULL) &&
		       strchr("\"'\\#", c) == NULL)))
			return false;
	}
	return true;
}

static int
parse_port(int *out, const char *s, const char *what, struct err *err)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 1 || v > 65535)
		return err_set(err, ERR_INVAL,
			       "%s '%s' is not a port (1-65535)", what, s);
	*out = (int)v;
	return 0;
}

/* [NAME=]ADDRESS[:PORT], [NAME=][IPV6]:PORT or [NAME=]IPV6. */
static int
parse_host(struct init_host *h, const char *arg, size_t index, int port,
	   struct err *err)
{
	const char *eq = strchr(arg, '='), *a = eq != NULL ? eq + 1 : arg;
	char addr[300], *colon;

	h->port = port;
	if (eq != NULL && (size_t)(eq - arg) < sizeof(h->name))
		snprintf(h->name, sizeof(h->name), "%.*s", (int)(eq - arg),
			 arg);
	if (snprintf(addr, sizeof(addr), "%s", a) >= (int)sizeof(addr))
		return err_set(err, ERR_INVAL, "host '%s': too long", arg);
	if (addr[0] == '[' && (colon = strstr(addr, "]:")) != NULL) {
		*colon = '\0';
		memmove(addr, addr + 1, strlen(addr));
		if (parse_port(&h->port, colon + 2, "host port", err) < 0)
			return ERR_INVAL;
	} else if ((colon = strchr(addr, ':')) != NULL &&
		   strchr(colon + 1, ':') == NULL) {
		*colon = '\0';
		if (parse_port(&h->port, colon + 1, "host port", err) < 0)
			return ERR_INVAL;
	}
	if (!made_of(addr, sizeof(h->address) - 1, ":"))
		return err_set(err, ERR_INVAL,
			       "host '%s': '%s' is not an address or name", arg,
			       addr);
	snprintf(h->address, sizeof(h->address), "%s", addr);
	if (eq == NULL && strchr(addr, ':') == NULL &&
	    isalpha((unsigned char)addr[0]))
		snprintf(h->name, sizeof(h->name), "%.*s",
			 (int)strcspn(addr, "."), addr);
	else if (eq == NULL)
		snprintf(h->name, sizeof(h->name), "ivr-%02zu", index + 1);
	if (!made_of(h->name, 64, NULL))
		return err_set(err, ERR_INVAL,
			       "host '%s': the name must be 1-64 of "
			       "[A-Za-z0-9._-]",
			       arg);
	return 0;
}

static int
take(struct init_opts *o, int opt, const char *arg, struct err *err)
{
	switch (opt) {
	case O_OUT:
		o->out = arg;
		return 0;
	case O_ENVIRONMENT:
		o->environment = arg;
		return 0;
	case O_USER:
		o->user = arg;
		return 0;
	case O_PORT:
		return parse_port(&o->port, arg, "--port", err);
	case O_IDENTITY:
		o->identity = arg;
		return 0;
	case O_AGENT_ROOT:
		o->agent_root = arg;
		return 0;
	case O_AGENT_PATH:
		o->agent_path = arg;
		return 0;
	case O_HEALTH_URL:
		o->health_url = arg;
		return 0;
	case O_CALLS_URL:
		o->calls_url = arg;
		return 0;
	case O_CA_FILE:
		o->ca_file = arg;
		return 0;
	case O_YES:
		o->yes = true;
		return 0;
	case O_FORCE:
		o->force = true;
		return 0;
	default:
		return err_set(err, ERR_INTERNAL, "init: option %d", opt);
	}
}

/* Every value that goes into the plan, checked before anything is
 * scanned or written. */
static int
check_values(const struct init_opts *o, struct err *err)
{
	if (!made_of(o->environment, 64, NULL))
		return err_set(err, ERR_INVAL,
			       "--environment '%s': 1-64 of [A-Za-z0-9._-]",
			       o->environment);
	if (o->user == NULL || !made_of(o->user, 64, NULL))
		return err_set(err, ERR_INVAL,
			       "--user: a login name of [A-Za-z0-9._-]");
	if (o->agent_root[0] != '/' || !made_of(o->agent_root, 1024, "") ||
	    o->agent_path[0] != '/' || !made_of(o->agent_path, 1024, ""))
		return err_set(err, ERR_INVAL,
			       "--agent-root and --agent-path: absolute paths "
			       "without quotes, spaces or '#'");
	if (!made_of(o->health_url, 1024, "") ||
	    !made_of(o->calls_url, 1024, "") ||
	    (o->identity != NULL && !made_of(o->identity, 1024, "")) ||
	    (o->ca_file != NULL && !made_of(o->ca_file, 1024, "")))
		return err_set(err, ERR_INVAL,
			       "--health-url, --calls-url, --identity and "
			       "--ca-file: no quotes, spaces or '#'");
	return 0;
}

/* dir/name into out (PATH_MAX); ERR_OVERFLOW when it does not fit. */
static int
join(char *out, const char *dir, const char *name, struct err *err)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", dir, name);

	if (n < 0 || n >= PATH_MAX)
		return err_set(err, ERR_OVERFLOW, "path too long: '%s/%s'", dir,
			       name);
	return 0;
}

/* The plan's folder and known_hosts beside it; ERR_EXISTS when either
 * file is there and --force is off. */
static int
targets(const struct init_opts *o, char *dir, char *known_hosts,
	struct err *err)
{
	char copy[PATH_MAX];
	const char *d;
	int rc;

	if (strlen(o->out) >= PATH_MAX / 2)
		return err_set(err, ERR_OVERFLOW, "--out: path too long");
	memcpy(copy, o->out, strlen(o->out) + 1);
	d = dirname(copy); /* copy's folder part, or "." */
	memcpy(dir, d, strlen(d) + 1);
	if ((rc = join(known_hosts, dir, "known_hosts", err)) < 0)
		return rc;
	if (!o->force &&
	    (access(o->out, F_OK) == 0 || access(known_hosts, F_OK) == 0))
		return err_set(err, ERR_EXISTS,
			       "init: '%s' exists: nothing was written "
			       "(--force replaces it)",
			       access(o->out, F_OK) == 0 ? o->out
							 : known_hosts);
	return 0;
}

int
init_parse(struct init_opts *o, int argc, char **argv, struct err *err)
{
	const struct passwd *pw = getpwuid(getuid());
	char dir[PATH_MAX], kh[PATH_MAX];
	int opt, rc;

	*o = (struct init_opts){ .out = "plan.yaml",
				 .environment = "staging",
				 .user = pw != NULL ? pw->pw_name : NULL,
				 .agent_root = "/opt/ivr",
				 .health_url = "https://{address}:8080/readyz",
				 .calls_url = "https://{address}:8080/calls",
				 .port = 22 };
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+", init_options, NULL)) != -1) {
		if (opt == '?')
			return err_set(err, ERR_INVAL,
				       "init: unknown option, or one without "
				       "its value: '%s' (ivrctl --help)",
				       argv[optind - 1]);
		if ((rc = take(o, opt, optarg, err)) < 0)
			return rc;
	}
	if (o->agent_path == NULL) {
		snprintf(o->agent_path_buf, sizeof(o->agent_path_buf),
			 "%s/bin/ivr-agent", o->agent_root);
		o->agent_path = o->agent_path_buf;
	}
	/* The plan's paths are its folder's: the key's is made absolute. */
	if (o->identity != NULL) {
		if (realpath(o->identity, o->identity_buf) == NULL)
			return err_set_errno(err, ERR_INVAL, errno,
					     "--identity '%s'", o->identity);
		o->identity = o->identity_buf;
	}
	if (o->ca_file != NULL) {
		if (realpath(o->ca_file, o->ca_file_buf) == NULL)
			return err_set_errno(err, ERR_INVAL, errno,
					     "--ca-file '%s'", o->ca_file);
		o->ca_file = o->ca_file_buf;
	}
	if ((rc = check_values(o, err)) < 0)
		return rc;
	o->nhosts = (size_t)(argc - optind);
	if (o->nhosts == 0 || o->nhosts > INIT_MAX_HOSTS)
		return err_set(
			err, ERR_INVAL,
			"init: name 1 to %d hosts ([NAME=]ADDRESS[:PORT])",
			INIT_MAX_HOSTS);
	if ((o->hosts = calloc(o->nhosts, sizeof(*o->hosts))) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < o->nhosts; i++)
		if ((rc = parse_host(&o->hosts[i], argv[optind + (int)i], i,
				     o->port, err)) < 0)
			return rc;
	/* Refused before any host is asked; init_write checks again. */
	return targets(o, dir, kh, err);
}

int
init_scan(struct init_opts *o, struct err *err)
{
	for (size_t i = 0; i < o->nhosts; i++) {
		struct init_host *h = &o->hosts[i];
		const struct ssh_target t = { .name = h->name,
					      .address = h->address,
					      .port = h->port,
					      .user = o->user,
					      .connect_timeout_ms = 5000,
					      .timeout_ms = 10000 };
		int rc;

		if ((rc = ssh_scan_host_key(&h->key, &t, err)) < 0)
			return rc;
	}
	return 0;
}

static void
render_hosts(struct buf *b, int *rc, const struct init_opts *o)
{
	put(b, rc,
	    "inventory:\n"
	    "  user: \"%s\"    # the SSH login on every host\n"
	    "  port: %d\n"
	    "  hosts:    # in rollout order; each with the key you checked\n",
	    o->user, o->port);
	for (size_t i = 0; i < o->nhosts; i++) {
		const struct init_host *h = &o->hosts[i];

		put(b, rc, "    - { name: \"%s\", address: \"%s\"", h->name,
		    h->address);
		if (h->port != o->port)
			put(b, rc, ", port: %d", h->port);
		put(b, rc, " }    # %s %s\n", h->key.type, h->key.fingerprint);
	}
}

static void
render_fleet(struct buf *b, int *rc, const struct init_opts *o)
{
	put(b, rc,
	    "\n# Without a balancer no host is drained before its restart. "
	    "For HAProxy:\n"
	    "# load_balancer:\n"
	    "#   kind: haproxy\n"
	    "#   address: 10.0.0.10\n"
	    "#   agent_root: /opt/ivr\n"
	    "#   backend: ivr\n"
	    "#   socket: /run/haproxy/admin.sock    # stats socket ... level "
	    "admin\n\n"
	    "ssh:\n"
	    "  known_hosts: known_hosts    # written by init, beside this "
	    "file\n");
	if (o->identity != NULL)
		put(b, rc, "  identity_file: \"%s\"\n", o->identity);
	else
		put(b, rc,
		    "  # identity_file: /home/you/.ssh/id_ed25519    "
		    "# without it, keys come from ssh-agent\n");
	put(b, rc,
	    "  connect_timeout: 5s\n"
	    "  parallel: 8    # hosts worked on at once\n\n"
	    "agent:\n"
	    "  path: \"%s\"    # ivrctl uploads its agent here\n"
	    "  root: \"%s\"    # releases/, current, shared/runtime.yaml\n\n"
	    "service:\n"
	    "  manager: supervisor    # or systemd, with unit: "
	    "ivr-runtime@<root>.service\n"
	    "  stop_timeout: 90s      # above the runtime's drain deadline "
	    "(60s)\n\n",
	    o->agent_path, o->agent_root);
}

static void
render_rollout(struct buf *b, int *rc, const struct init_opts *o)
{
	put(b, rc,
	    "health:\n"
	    "  url: \"%s\"\n"
	    "  calls_url: \"%s\"\n"
	    "  interval: 500ms\n"
	    "  deadline: 60s       # to turn ready with the new release\n"
	    "  min_healthy: 10s    # ready this long before it takes "
	    "calls\n\n"
	    "%s%s%s"
	    "rollout:\n"
	    "  drain_deadline: 60s    # calls still running then are cut\n"
	    "  failure_budget: 0      # the first failed host rolls the "
	    "fleet back\n",
	    o->health_url, o->calls_url,
	    o->ca_file ? "tls:\n  ca_file: \"" : "",
	    o->ca_file ? o->ca_file
		       : "# tls:    # the checks trust the system's CA bundle\n"
			 "#   ca_file: /etc/ivr/ca.pem    # or the CA of the "
			 "runtimes' certificates\n",
	    o->ca_file ? "\"    # the CA of the runtimes' certificates\n\n"
		       : "\n");
	if (o->nhosts > 1)
		put(b, rc,
		    "  capacity_floor: 50%%    # of the pool stays in service\n"
		    "  phases:\n"
		    "    - { name: canary, hosts: 1 }\n"
		    "    - { name: rest, hosts: rest }\n");
	else
		put(b, rc,
		    "  capacity_floor: 0%%    # one host: it leaves the pool "
		    "while it restarts\n"
		    "  phases:\n"
		    "    - { name: all, hosts: rest }\n");
}

/* The plan's text: commented, for a reader who has not read the docs. */
static int
render(struct buf *b, const struct init_opts *o, struct err *err)
{
	char when[32];
	time_t now = time(NULL);
	struct tm tm;
	int rc = 0;

	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", &tm);
	put(b, &rc,
	    "# A deployment plan written by `ivrctl init` on %s.\n"
	    "# Check it with `ivrctl validate`, see the fleet with `ivrctl "
	    "status`.\n"
	    "# Every key: docs/plan-reference.md. Relative paths are taken "
	    "from this\n"
	    "# file's folder.\n"
	    "environment: \"%s\"    # locks and the journal are per "
	    "environment\n\n",
	    when, o->environment);
	render_hosts(b, &rc, o);
	render_fleet(b, &rc, o);
	render_rollout(b, &rc, o);
	if (rc < 0)
		return err_set(err, rc, "cannot write the plan: %s",
			       rc == ERR_NOMEM ? "out of memory" : "too large");
	return 0;
}

/* Loads the written plan; a problem means a bug here, reported whole. */
static int
check_plan(const char *path, struct err *err)
{
	struct diag_list d;
	struct plan *p = NULL;
	struct buf why;
	int rc;

	diag_list_init(&d, 20);
	buf_init(&why, 64 * 1024);
	if ((rc = plan_load(&p, path, &d, err)) < 0 && diag_total(&d) > 0) {
		diag_format(&why, &d, NULL);
		rc = err_set(err, ERR_INTERNAL,
			     "the plan init wrote does not load (nothing "
			     "written): %s",
			     buf_cstr(&why));
	}
	buf_release(&why);
	diag_list_release(&d);
	plan_free(p);
	return rc;
}

static int
known_hosts_text(struct buf *b, const struct init_opts *o, struct err *err)
{
	int rc = 0;

	put(b, &rc,
	    "# Host keys checked by the operator when `ivrctl init` showed "
	    "them.\n");
	for (size_t i = 0; i < o->nhosts; i++)
		put(b, &rc, "# %s %s\n%s\n", o->hosts[i].name,
		    o->hosts[i].key.fingerprint, o->hosts[i].key.line);
	return rc < 0 ? err_set(err, rc, "known_hosts too large") : 0;
}

/* Writes name's text into the staging folder tmp (0644: neither file
 * holds a secret). */
static int
stage_file(const char *tmp, const char *name, const struct buf *b,
	   struct err *err)
{
	char path[PATH_MAX];
	int rc;

	if ((rc = join(path, tmp, name, err)) < 0)
		return rc;
	return fileio_write_atomic(path, b->data, b->len, 0644, err);
}

/* Stages both files in tmp, loads the plan, then renames both into
 * place (the plan last). */
static int
write_staged(const struct init_opts *o, const char *tmp, const char *dir,
	     const char *known_hosts, struct err *err)
{
	char plan_tmp[PATH_MAX], kh_tmp[PATH_MAX];
	struct buf plan, kh;
	int rc;

	buf_init(&plan, PLAN_TEXT_MAX);
	buf_init(&kh, PLAN_TEXT_MAX);
	if ((rc = join(plan_tmp, tmp, "plan.yaml", err)) == 0 &&
	    (rc = join(kh_tmp, tmp, "known_hosts", err)) == 0 &&
	    (rc = render(&plan, o, err)) == 0 &&
	    (rc = known_hosts_text(&kh, o, err)) == 0 &&
	    (rc = stage_file(tmp, "known_hosts", &kh, err)) == 0 &&
	    (rc = stage_file(tmp, "plan.yaml", &plan, err)) == 0 &&
	    (rc = check_plan(plan_tmp, err)) == 0) {
		if (rename(kh_tmp, known_hosts) < 0 ||
		    rename(plan_tmp, o->out) < 0)
			rc = err_set_errno(err, ERR_IO, errno,
					   "cannot put '%s' in place", o->out);
		else
			rc = fileio_fsync_dir(dir, err);
	}
	if (rc < 0) {
		unlink(kh_tmp);
		unlink(plan_tmp);
	}
	buf_release(&plan);
	buf_release(&kh);
	return rc;
}

int
init_write(const struct init_opts *o, char *known_hosts, size_t size,
	   struct err *err)
{
	char dir[PATH_MAX], kh[PATH_MAX], tmp[PATH_MAX];
	int rc;

	if ((rc = targets(o, dir, kh, err)) < 0)
		return rc;
	snprintf(known_hosts, size, "%s", kh);
	if ((rc = join(tmp, dir, ".ivrctl-init.XXXXXX", err)) < 0)
		return rc;
	if (mkdtemp(tmp) == NULL)
		return err_set_errno(err, ERR_IO, errno,
				     "cannot make a folder in '%s'", dir);
	rc = write_staged(o, tmp, dir, kh, err);
	rmdir(tmp);
	return rc;
}

void
init_release(struct init_opts *o)
{
	free(o->hosts);
	o->hosts = NULL;
	o->nhosts = 0;
}
