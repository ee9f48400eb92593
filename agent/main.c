/*
 * ivr-agent: the program on each host that stages, verifies, swaps, runs
 * and health-checks releases, speaking JSON-RPC 2.0 on stdin/stdout.
 *
 *   ivr-agent serve --root DIR [--log-file F] [--log-level L] [--read-only]
 *   ivr-agent --version
 *
 * Exit codes: 0 when stdin closes, 1 on a failure to serve, 2 bad input.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "layout.h"
#include "log.h"
#include "probe.h"
#include "rpc.h"

static const char usage[] =
	"usage: ivr-agent serve --root DIR [--log-file FILE] "
	"[--log-level LEVEL] [--read-only]\n"
	"       ivr-agent --version\n"
	"\n"
	"serve reads JSON-RPC 2.0 requests, one per line, on standard input\n"
	"and answers on standard output until standard input closes. Logs go\n"
	"to standard error or FILE. With --read-only it changes nothing under\n"
	"DIR (which may be missing): methods that would are refused, and the\n"
	"root is neither created nor cleaned. See docs/agent-protocol.md.\n";

enum {
	OPT_ROOT = 256,
	OPT_LOG_FILE,
	OPT_LOG_LEVEL,
	OPT_READ_ONLY,
	OPT_HELP,
	OPT_VERSION
};

static const struct option options[] = {
	{ "root", required_argument, NULL, OPT_ROOT },
	{ "log-file", required_argument, NULL, OPT_LOG_FILE },
	{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
	{ "read-only", no_argument, NULL, OPT_READ_ONLY },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

struct args {
	const char *root;
	const char *log_file;
	const char *log_level;
	bool read_only;
};

/* Returns 0 to serve, 1 when done (help, version), -1 on bad input. */
static int
parse_args(struct args *x, int argc, char **argv)
{
	int opt;

	if (argc > 1 && strcmp(argv[1], "serve") == 0) {
		argc--;
		argv++;
	} else if (argc < 2 || argv[1][0] != '-') {
		fputs(usage, stderr);
		return -1;
	}
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (opt) {
		case OPT_ROOT:
			x->root = optarg;
			break;
		case OPT_LOG_FILE:
			x->log_file = optarg;
			break;
		case OPT_LOG_LEVEL:
			x->log_level = optarg;
			break;
		case OPT_READ_ONLY:
			x->read_only = true;
			break;
		case OPT_HELP:
			fputs(usage, stdout);
			return 1;
		case OPT_VERSION:
			printf("ivr-agent %s (protocol %d)\n", AGENT_VERSION,
			       AGENT_PROTOCOL);
			return 1;
		default:
			return -1;
		}
	}
	if (x->root == NULL || optind < argc) {
		fputs(usage, stderr);
		return -1;
	}
	return 0;
}

static int
setup(struct agent *a, struct log *lg, const struct args *x, struct err *e)
{
	enum log_level level = LOG_LEVEL_INFO;
	unsigned cleaned = 0;
	int lock = -1;

	log_init(lg, "agent", STDERR_FILENO);
	if (x->log_level != NULL &&
	    log_level_parse(&level, x->log_level, e) < 0)
		return 2;
	lg->level = level;
	if (x->log_file != NULL && log_open_file(lg, x->log_file, e) < 0)
		return 2;
	a->read_only = x->read_only;
	if (realpath(x->root, a->root) == NULL) {
		/* A host never deployed to reads, read-only, as one with
		 * nothing on it. */
		if (!x->read_only || errno != ENOENT || x->root[0] != '/') {
			err_set_errno(e, ERR_NOTFOUND, errno, "root '%s'",
				      x->root);
			return 2;
		}
		snprintf(a->root, sizeof(a->root), "%s", x->root);
	}
	if (x->read_only)
		goto ready;
	if (layout_init(a->root, e) < 0)
		return 2;
	/* What a killed agent left, removed while no other agent works
	 * here (if one does, its leftovers wait for the next start). */
	if (layout_lock(&lock, a->root, NULL) == 0)
		cleaned = layout_clean(a->root);
	layout_unlock(lock);
	if (cleaned > 0)
		log_kv(lg, LOG_LEVEL_INFO,
		       "removed leftovers of a killed agent",
		       LOG_INT("entries", cleaned));
ready:
	a->log = lg;
	a->out_fd = STDOUT_FILENO;
	return probe_global_init(e) < 0 ? 1 : 0;
}

int
main(int argc, char **argv)
{
	struct args x = { NULL, NULL, NULL, false };
	struct agent a;
	struct log lg;
	struct err e;
	int rc;

	if ((rc = parse_args(&x, argc, argv)) != 0)
		return rc > 0 ? 0 : 2;
	memset(&a, 0, sizeof(a));
	err_init(&e);
	if ((rc = setup(&a, &lg, &x, &e)) != 0) {
		fprintf(stderr, "ivr-agent: %s\n", e.msg);
		return rc;
	}
	signal(SIGPIPE, SIG_IGN);
	log_kv(&lg, LOG_LEVEL_INFO, "serving", LOG_STR("root", a.root),
	       LOG_STR("version", AGENT_VERSION));
	rc = rpc_serve(&a, STDIN_FILENO, &e);
	if (rc < 0)
		log_kv(&lg, LOG_LEVEL_ERROR, "stopped",
		       LOG_STR("error", e.msg));
	log_close(&lg);
	return rc < 0 ? 1 : 0;
}
