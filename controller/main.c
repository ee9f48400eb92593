/*
 * ivrctl: the deployment controller (its commands and flags: usage.c).
 * This file parses the arguments, calls the modules, prints what they
 * return and exits with a code from exitcode.h (docs/runbook.md).
 */
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "deploy.h"
#include "diag.h"
#include "dryrun.h"
#include "exitcode.h"
#include "host.h"
#include "init.h"
#include "journal.h"
#include "plan.h"
#include "ssh.h"
#include "status.h"
#include "main_int.h"
#include "usage.h"

#ifndef IVR_VERSION
#define IVR_VERSION "0.0.0"
#endif

#define COUNT(a) (sizeof(a) / sizeof(*(a)))

static char agent_path[PATH_MAX], agent_version[128];

static const struct option long_options[] = {
	{ "output", required_argument, NULL, F_OUTPUT },
	{ "artifact", required_argument, NULL, F_ARTIFACT },
	{ "yes", no_argument, NULL, F_YES },
	{ "approve", required_argument, NULL, F_APPROVE },
	{ "break-lock", no_argument, NULL, F_BREAK_LOCK },
	{ "to", required_argument, NULL, F_TO },
	{ "from", required_argument, NULL, F_FROM },
	{ "defer-contract", no_argument, NULL, F_DEFER_CONTRACT },
	{ "backup", required_argument, NULL, F_BACKUP },
	{ "replace", no_argument, NULL, F_REPLACE },
	{ "restart", no_argument, NULL, F_RESTART },
	{ "remove", required_argument, NULL, F_REMOVE },
	{ NULL, 0, NULL, 0 },
};

static bool
take_option(struct cli *c, int opt)
{
	const char *arg = optarg ? optarg : ""; /* NULL: takes none */

	if (opt == F_OUTPUT && strcmp(arg, "json") != 0 &&
	    strcmp(arg, "text") != 0)
		return false;
	c->o.json = opt == F_OUTPUT ? strcmp(arg, "json") == 0 : c->o.json;
	c->o.artifact = opt == F_ARTIFACT ? arg : c->o.artifact;
	c->o.yes = c->o.yes || opt == F_YES;
	c->o.break_lock = c->o.break_lock || opt == F_BREAK_LOCK;
	c->o.defer_contract = c->o.defer_contract || opt == F_DEFER_CONTRACT;
	c->o.backup = opt == F_BACKUP ? arg : c->o.backup;
	c->o.source = opt == F_FROM ? arg : c->o.source;
	c->o.replace = c->o.replace || opt == F_REPLACE;
	c->o.restart = c->o.restart || opt == F_RESTART;
	c->to = opt == F_TO ? arg : c->to;
	c->from = opt == F_FROM ? arg : c->from;
	if (opt == F_APPROVE)
		c->o.approve[c->o.napprove++] = arg;
	if (opt == F_REMOVE)
		c->o.remove[c->o.nremove++] = arg;
	return true;
}

void
main_usage(FILE *f)
{
	fputs(usage_synopsis, f);
	fputs(usage_text, f);
	fputs(usage_text_more, f);
}

/*
 * argv[1] is the command; allowed its flags; positional says whether it
 * takes PLAN.  Returns 0, or -1 (said) on bad arguments.
 */
int
main_parse(struct cli *c, int argc, char **argv, int allowed, bool positional)
{
	int opt;

	c->o.out = stdout;
	optind = 1;
	opterr = 0;
	/* "-": in order, whatever POSIXLY_CORRECT says (1: not an option) */
	while ((opt = getopt_long(argc - 1, argv + 1, "-", long_options,
				  NULL)) != -1) {
		if (opt == 1 && positional && c->plan == NULL)
			c->plan = optarg;
		else if (opt == 1 || opt == '?' || (opt & allowed) != opt ||
			 !take_option(c, opt))
			goto bad;
	}
	if (!positional || c->plan != NULL)
		return 0;
bad:
	main_usage(stderr);
	return -1;
}

void
main_print_json(json_t *o)
{
	if (json_dumpf(o, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER) == 0)
		putchar('\n');
	json_decref(o);
}

/* What a command shows: its text, or why the text could not be made. */
struct report {
	struct buf text;
	int rc;
	struct err e;
};

/* The report's JSON (taken) with --output json, else its text (or why
 * it could not be made); frees the text. */
static void
print_report(const struct cli *c, json_t *json, struct report *r)
{
	if (c->o.json)
		main_print_json(json);
	else {
		json_decref(json);
		if (r->rc == 0)
			fputs(buf_cstr(&r->text), stdout);
		else
			fprintf(stderr, "ivrctl: %s\n", r->e.msg);
	}
	buf_release(&r->text);
}

static void
print_problems(struct diag_list *d)
{
	struct buf b;

	buf_init(&b, OUT_MAX);
	if (diag_format(&b, d, NULL) == 0)
		fputs(buf_cstr(&b), stderr);
	buf_release(&b);
}

/* Loads a plan or prints why not; NULL on failure. */
struct plan *
main_load_plan(const char *path)
{
	struct diag_list d;
	struct plan *p = NULL;
	struct err e;

	diag_list_init(&d, 200);
	if (plan_load(&p, path, &d, &e) < 0) {
		if (diag_total(&d) > 0)
			print_problems(&d);
		else
			fprintf(stderr, "ivrctl: %s\n", e.msg);
	}
	diag_list_release(&d);
	return p;
}

/* A warning for runtime.tls certificates that expire soon. */
static void
print_expiring(const char *path, const struct plan *p)
{
	char list[2048];
	size_t n = plan_tls_expiring(p, (int64_t)time(NULL), list, sizeof(list),
				     NULL);

	if (n > 0)
		printf("%s: warning: %zu certificate(s) expire within "
		       "tls.expiry_warning (%lld d): %s\n",
		       path, n,
		       (long long)(p->tls.expiry_warning_ms / 86400000), list);
}

static int
cmd_validate(int argc, char **argv)
{
	struct cli c = { 0 };
	struct diag_list d;
	struct plan *p = NULL;
	struct err e;
	int rc;

	if (main_parse(&c, argc, argv, F_OUTPUT, true) < 0)
		return EXITCODE_BAD_INPUT;
	diag_list_init(&d, 200);
	if (plan_load(&p, c.plan, &d, &e) < 0 && !c.o.json) {
		if (diag_total(&d) > 0) {
			print_problems(&d);
			fprintf(stderr, "%s: %zu problem%s; nothing was done\n",
				c.plan, diag_total(&d),
				diag_total(&d) == 1 ? "" : "s");
		} else {
			fprintf(stderr, "ivrctl: %s\n", e.msg);
		}
	} else if (c.o.json) {
		main_print_json(plan_validation_json(c.plan, p, &d, &e));
	} else {
		printf("%s: valid: environment '%s', %zu hosts, %zu phases, "
		       "plan sha256 %.12s\n",
		       c.plan, p->environment, p->nhosts, p->nphases,
		       p->sha256);
		print_expiring(c.plan, p);
	}
	rc = p != NULL ? EXITCODE_DONE : EXITCODE_BAD_INPUT;
	diag_list_release(&d);
	plan_free(p);
	return rc;
}

/* The bundled agent and SSH, for the commands that reach hosts. */
int
main_prepare_fleet(struct agent_bundle *bundle)
{
	struct err e;

	if (host_find_bundle(bundle, agent_path, sizeof(agent_path),
			     agent_version, sizeof(agent_version)) < 0) {
		fprintf(stderr,
			"ivrctl: no ivr-agent beside ivrctl to bundle\n");
		return -1;
	}
	if (ssh_global_init(&e) < 0) {
		fprintf(stderr, "ivrctl: %s\n", e.msg);
		return -1;
	}
	return 0;
}

/* Every --approve names a phase of the plan; says which does not. */
bool
main_approvals_known(const struct plan *p, const struct deploy_opts *o,
		     const char *path)
{
	for (size_t i = 0; i < o->napprove; i++) {
		if (plan_phase_named(p, o->approve[i]) == NULL) {
			fprintf(stderr,
				"ivrctl: --approve %s: %s has no phase of "
				"that name\n",
				o->approve[i], path);
			return false;
		}
	}
	return true;
}

/* A command: on one PLAN with these flags (on_plan, or run through
 * run_deploy), or parsing its own arguments (whole). */
struct command {
	const char *name;
	int flags;
	int (*on_plan)(struct cli *c, const struct plan *p);
	int (*whole)(int argc, char **argv);
	run_fn run;
};

/* Runs fn on the plan and prints why when it was refused. */
int
main_run_deploy(struct cli *c, const struct plan *p, run_fn fn)
{
	struct err e;
	int rc;

	err_init(&e);
	if (!main_approvals_known(p, &c->o, p->path))
		return EXITCODE_BAD_INPUT;
	if (main_prepare_fleet(&c->agent) < 0)
		return EXITCODE_ERROR;
	if ((rc = fn(p, &c->agent, &c->o, &e)) != 0 && e.msg[0] != '\0')
		fprintf(stderr, "ivrctl: %s\n", e.msg);
	return rc;
}

/* A command on one plan: PLAN and flags parsed, the plan loaded. */
static int
on_plan(int argc, char **argv, const struct command *cmd)
{
	const char **approve = calloc(2 * (size_t)argc, sizeof(*approve));
	struct cli c = { .o.approve = approve,
			 .o.remove = approve ? approve + argc : NULL };
	struct plan *p = NULL;
	int rc = EXITCODE_BAD_INPUT;

	if (approve != NULL &&
	    main_parse(&c, argc, argv, cmd->flags, true) == 0 &&
	    (p = main_load_plan(c.plan)) != NULL)
		rc = cmd->on_plan ? cmd->on_plan(&c, p)
				  : main_run_deploy(&c, p, cmd->run);
	plan_free(p);
	free(approve);
	return rc;
}

/* The release to deploy or dry-run: --artifact, else the plan's. */
static bool
artifact_named(struct cli *c, const struct plan *p)
{
	if (c->o.artifact == NULL)
		c->o.artifact = p->artifact;
	if (c->o.artifact == NULL)
		fprintf(stderr, "ivrctl: name the release: --artifact FILE, or "
				"'artifact' in the plan\n");
	return c->o.artifact != NULL;
}

static int
do_deploy(struct cli *c, const struct plan *p)
{
	return artifact_named(c, p) ? main_run_deploy(c, p, deploy_run)
				    : EXITCODE_BAD_INPUT;
}

static int
do_scale(struct cli *c, const struct plan *p)
{
	c->o.artifact = c->o.artifact ? c->o.artifact : p->artifact;
	return main_run_deploy(c, p, deploy_scale);
}

static int
do_rollback(struct cli *c, const struct plan *p)
{
	c->o.to = c->to;
	return main_run_deploy(c, p, deploy_rollback);
}

/* The journal's runs, as a table or as JSON. */
static int
history(const struct cli *c, const struct plan *p, struct err *err)
{
	struct journal j;
	json_t *runs = NULL;
	struct report r;
	int rc;

	if ((rc = journal_paths(&j, p, err)) < 0) {
		journal_close(&j);
		return rc;
	}
	if (c->o.json) {
		if ((rc = journal_runs(&runs, &j, err)) == 0)
			main_print_json(json_pack("{s:s, s:s, s:o}",
						  "environment", p->environment,
						  "journal", journal_where(&j),
						  "runs", runs));
		journal_close(&j);
		return rc;
	}
	buf_init(&r.text, OUT_MAX);
	if ((r.rc = journal_history(&r.text, &j, err)) < 0)
		r.e = *err;
	journal_close(&j);
	print_report(c, NULL, &r);
	return r.rc;
}

static int
do_history(struct cli *c, const struct plan *p)
{
	struct err e;

	if (history(c, p, &e) == 0)
		return EXITCODE_DONE;
	if (c->o.json)
		fprintf(stderr, "ivrctl: %s\n", e.msg);
	return EXITCODE_ERROR;
}

static int
do_status(struct cli *c, const struct plan *p)
{
	struct report r = { .rc = 0 };
	struct fleet_status s;
	int code = EXITCODE_ERROR;

	if (main_prepare_fleet(&c->agent) == 0) {
		status_collect(&s, p, &c->agent);
		buf_init(&r.text, OUT_MAX);
		r.rc = status_format(&r.text, &s, p, &r.e);
		print_report(c, status_json(&s, p), &r);
		code = s.consistent ? EXITCODE_DONE : EXITCODE_INCONSISTENT;
		status_release(&s);
	}
	return code;
}

static int
do_plan(struct cli *c, const struct plan *p)
{
	struct report r;
	struct dryrun d;
	int code;

	if (!artifact_named(c, p) || main_prepare_fleet(&c->agent) < 0)
		return c->o.artifact ? EXITCODE_ERROR : EXITCODE_BAD_INPUT;
	if (dryrun_collect(&d, p, c->o.artifact, &c->agent, &r.e) < 0) {
		fprintf(stderr, "ivrctl: %s\n", r.e.msg);
		dryrun_release(&d);
		return EXITCODE_BAD_INPUT;
	}
	buf_init(&r.text, OUT_MAX);
	r.rc = dryrun_format(&r.text, &d, &r.e);
	print_report(c, dryrun_json(&d), &r);
	code = d.unread > 0 ? EXITCODE_INCONSISTENT : EXITCODE_DONE;
	dryrun_release(&d);
	return code;
}

#define DEPLOY_FLAGS \
	(F_OUTPUT | F_ARTIFACT | F_GATES | F_BREAK_LOCK | F_DEFER_CONTRACT)

static int
do_db_status(struct cli *c, const struct plan *p)
{
	const char *art = c->o.artifact ? c->o.artifact : p->artifact;
	struct report r = { .rc = -1 };
	json_t *st = NULL;
	int code = deploy_db_status(&st, p, art, &r.e);

	buf_init(&r.text, OUT_MAX);
	if (code == 0 &&
	    (r.rc = deploy_db_status_format(&r.text, st, art, &r.e)) < 0)
		code = EXITCODE_ERROR;
	if (code != 0 && c->o.json)
		fprintf(stderr, "ivrctl: %s\n", r.e.msg);
	print_report(c, st, &r);
	return code;
}

#define DB_FLAGS (F_OUTPUT | F_BREAK_LOCK)
static const struct command db_commands[] = {
	{ "status", F_OUTPUT | F_ARTIFACT, do_db_status, NULL, NULL },
	{ "contract", DB_FLAGS | F_ARTIFACT, NULL, NULL, deploy_db_contract },
	{ "restore", DB_FLAGS | F_BACKUP | F_YES, NULL, NULL,
	  deploy_db_restore },
	{ "migrate", DB_FLAGS | F_FROM | F_REPLACE | F_RESTART, NULL, NULL,
	  deploy_db_migrate },
};

/* argv[1] among n commands, run; else the usage. */
static int
dispatch(const struct command *cmds, size_t n, int argc, char **argv)
{
	for (size_t i = 0; argc >= 2 && i < n; i++)
		if (strcmp(argv[1], cmds[i].name) == 0)
			return cmds[i].whole ? cmds[i].whole(argc, argv)
					     : on_plan(argc, argv, &cmds[i]);
	main_usage(stderr);
	return EXITCODE_BAD_INPUT;
}

/* `ivrctl db SUBCOMMAND PLAN ...`: the bank's database (deploy_db.c). */
static int
cmd_db(int argc, char **argv)
{
	return dispatch(db_commands, COUNT(db_commands), argc - 1, argv + 1);
}

/* Most run on one PLAN with these flags; the others parse their own. */
static const struct command commands[] = {
	{ "init", 0, NULL, init_command, NULL },
	{ "validate", 0, NULL, cmd_validate, NULL },
	{ "status", F_OUTPUT, do_status, NULL, NULL },
	{ "plan", F_OUTPUT | F_ARTIFACT, do_plan, NULL, NULL },
	{ "deploy", DEPLOY_FLAGS, do_deploy, NULL, NULL },
	{ "resume", DEPLOY_FLAGS, NULL, NULL, deploy_resume },
	{ "rollback", F_OUTPUT | F_TO | F_BREAK_LOCK, do_rollback, NULL, NULL },
	{ "promote", 0, NULL, main_promote, NULL },
	{ "approve", 0, NULL, main_approve, NULL },
	{ "scale", F_OUTPUT | F_ARTIFACT | F_YES | F_REMOVE | F_BREAK_LOCK,
	  do_scale, NULL, NULL },
	{ "history", F_OUTPUT, do_history, NULL, NULL },
	{ "db", 0, NULL, cmd_db, NULL },
};

int
main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--help") == 0) {
		main_usage(stdout);
		return EXITCODE_DONE;
	}
	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("ivrctl %s\n", IVR_VERSION);
		return EXITCODE_DONE;
	}
	return dispatch(commands, COUNT(commands), argc, argv);
}
