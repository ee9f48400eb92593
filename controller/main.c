/*
 * ivrctl: the deployment controller.
 *
 *   ivrctl validate PLAN                   check the plan, touch nothing
 *   ivrctl status PLAN [--output json]     what every host runs
 *   ivrctl plan PLAN [--artifact F]        the dry run of a deployment
 *   ivrctl deploy PLAN [--artifact F] [--yes] [--approve PHASE]...
 *   ivrctl resume PLAN [--artifact F] [--yes] [--approve PHASE]...
 *   ivrctl rollback PLAN [--to VERSION] [--output json]
 *   ivrctl promote --from STAGING_PLAN --to PROD_PLAN [deploy's flags]
 *   ivrctl history PLAN
 *
 * Exit codes (docs/runbook.md): 0 done; 1 deployment failed and rolled
 * back; 2 bad input, nothing touched; 3 fleet inconsistent; 4 locked.
 */
#include <libgen.h>
#include <stdbool.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "deploy.h"
#include "diag.h"
#include "dryrun.h"
#include "exitcode.h"
#include "journal.h"
#include "plan.h"
#include "promote.h"
#include "ssh.h"
#include "status.h"

#ifndef IVR_VERSION
#define IVR_VERSION "0.0.0"
#endif

static const char usage[] =
	"usage: ivrctl validate PLAN\n"
	"       ivrctl status PLAN [--output text|json]\n"
	"       ivrctl plan PLAN [--artifact FILE]\n"
	"       ivrctl deploy PLAN [--artifact FILE] [--yes] [--approve "
	"PHASE]...\n"
	"                          [--break-lock] [--output text|json]\n"
	"       ivrctl resume PLAN [--artifact FILE] [--yes] [--approve "
	"PHASE]...\n"
	"                          [--break-lock] [--output text|json]\n"
	"       ivrctl rollback PLAN [--to VERSION] [--break-lock]\n"
	"                            [--output text|json]\n"
	"       ivrctl promote --from STAGING_PLAN --to PROD_PLAN [--yes]\n"
	"                          [--approve PHASE]... [--break-lock]\n"
	"                          [--output text|json]\n"
	"       ivrctl history PLAN\n"
	"       ivrctl --help | --version\n"
	"\n"
	"validate  load the plan and report every problem as "
	"path:line:col;\n"
	"          exit 0 when it is sound, 2 when it is not. Touches no "
	"host.\n"
	"status    read every host (over SSH, through its agent) and the\n"
	"          load balancer: current and previous release, health, pool\n"
	"          state. Exit 0 when the fleet is consistent, 3 when not.\n"
	"plan      the dry run: per host current -> target release and what\n"
	"          would be done, the phases and batches in order. Reads the\n"
	"          hosts and changes nothing on them.\n"
	"deploy    roll the release out in the plan's phases; on failure\n"
	"          roll every touched host back. --yes passes every approval\n"
	"          gate, --approve PHASE that phase's; without them and\n"
	"          without a terminal the deployment stops at the gate.\n"
	"          Exit 0 done, 1 failed and rolled back, 3 the fleet is not\n"
	"          consistent or waits at a gate.\n"
	"resume    continue the deployment the journal holds open (the\n"
	"          controller was killed, or it stopped at a gate) with the\n"
	"          same plan and artifact; ivrctl rollback undoes it instead.\n"
	"rollback  the whole fleet back to the release before the last\n"
	"          deployment (read from the hosts), or to --to VERSION.\n"
	"          deploy and rollback hold the environment's lock (exit 4\n"
	"          when another holds it; --break-lock removes one left by a\n"
	"          process that is gone) and write the journal.\n"
	"promote   deploy to production, with its plan, the release live on\n"
	"          staging: staging must run one release everywhere, healthy\n"
	"          and READY; the artifact is the one staging's hosts staged\n"
	"          (sha256 checked), from staging's journal or a host.\n"
	"history   the deployments and rollbacks in the journal.\n";

static void
print_problems(struct diag_list *d)
{
	struct buf b;

	buf_init(&b, 4 * 1024 * 1024);
	if (diag_format(&b, d, NULL) == 0)
		fputs(buf_cstr(&b), stderr);
	buf_release(&b);
}

static int
cmd_validate(const char *path)
{
	struct diag_list d;
	struct plan *p = NULL;
	struct err e;
	int rc = 0;

	diag_list_init(&d, 200);
	if (plan_load(&p, path, &d, &e) < 0) {
		if (diag_total(&d) > 0) {
			print_problems(&d);
			fprintf(stderr, "%s: %zu problem%s; nothing was done\n",
				path, diag_total(&d),
				diag_total(&d) == 1 ? "" : "s");
		} else {
			fprintf(stderr, "ivrctl: %s\n", e.msg);
		}
		rc = EXITCODE_BAD_INPUT;
	} else {
		printf("%s: valid: environment '%s', %zu hosts, %zu phases, "
		       "plan sha256 %.12s\n",
		       path, p->environment, p->nhosts, p->nphases, p->sha256);
	}
	plan_free(p);
	diag_list_release(&d);
	return rc;
}

/* Loads a plan or prints why not; NULL on failure. */
static struct plan *
load_plan(const char *path)
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

/* The agent bundled beside this program, and what it says it is. */
static int
find_agent(char *path, size_t size, char *version, size_t vsize)
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
	return n > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static char agent_path[PATH_MAX], agent_version[128];

/* The bundled agent and SSH, for the commands that reach hosts. */
static int
prepare_fleet(struct agent_bundle *bundle)
{
	struct err e;

	if (find_agent(agent_path, sizeof(agent_path), agent_version,
		       sizeof(agent_version)) < 0) {
		fprintf(stderr,
			"ivrctl: no ivr-agent beside ivrctl to bundle\n");
		return -1;
	}
	if (ssh_global_init(&e) < 0) {
		fprintf(stderr, "ivrctl: %s\n", e.msg);
		return -1;
	}
	bundle->path = agent_path;
	bundle->version = agent_version;
	return 0;
}

enum deploy_cmd {
	CMD_DEPLOY,
	CMD_RESUME,
	CMD_ROLLBACK
};

/* Every --approve names a phase of the plan; says which does not. */
static bool
approvals_known(const struct plan *p, const struct deploy_opts *o,
		const char *path)
{
	for (size_t i = 0; i < o->napprove; i++) {
		size_t k = 0;

		while (k < p->nphases &&
		       strcmp(p->phases[k].name, o->approve[i]) != 0)
			k++;
		if (k == p->nphases) {
			fprintf(stderr,
				"ivrctl: --approve %s: %s has no phase of "
				"that name\n",
				o->approve[i], path);
			return false;
		}
	}
	return true;
}

static int
cmd_deploy(const char *path, struct deploy_opts *o, enum deploy_cmd cmd)
{
	struct agent_bundle bundle;
	struct plan *p;
	int rc;

	if ((p = load_plan(path)) == NULL)
		return EXITCODE_BAD_INPUT;
	if (cmd == CMD_DEPLOY && o->artifact == NULL)
		o->artifact = p->artifact;
	if (cmd == CMD_DEPLOY && o->artifact == NULL) {
		fprintf(stderr, "ivrctl: name the release: --artifact FILE, or "
				"'artifact' in the plan\n");
		plan_free(p);
		return EXITCODE_BAD_INPUT;
	}
	if (!approvals_known(p, o, path)) {
		plan_free(p);
		return EXITCODE_BAD_INPUT;
	}
	if (prepare_fleet(&bundle) < 0) {
		plan_free(p);
		return EXITCODE_ROLLED_BACK;
	}
	o->out = stdout;
	rc = cmd == CMD_ROLLBACK ? deploy_rollback(p, &bundle, o)
	     : cmd == CMD_RESUME ? deploy_resume(p, &bundle, o)
				 : deploy_run(p, &bundle, o);
	plan_free(p);
	return rc;
}

/* deploy, resume and rollback flags; returns 0 or -1 on bad input. */
static int
deploy_flags(struct deploy_opts *o, int argc, char **argv, enum deploy_cmd cmd)
{
	bool rollback = cmd == CMD_ROLLBACK;

	for (int i = 3; i < argc; i++) {
		if (!rollback && strcmp(argv[i], "--yes") == 0)
			o->yes = true;
		else if (!rollback && strcmp(argv[i], "--approve") == 0 &&
			 i + 1 < argc)
			o->approve[o->napprove++] = argv[++i];
		else if (strcmp(argv[i], "--break-lock") == 0)
			o->break_lock = true;
		else if (strcmp(argv[i], "--output") == 0 && i + 1 < argc &&
			 (strcmp(argv[i + 1], "json") == 0 ||
			  strcmp(argv[i + 1], "text") == 0))
			o->json = strcmp(argv[++i], "json") == 0;
		else if (!rollback && strcmp(argv[i], "--artifact") == 0 &&
			 i + 1 < argc)
			o->artifact = argv[++i];
		else if (rollback && strcmp(argv[i], "--to") == 0 &&
			 i + 1 < argc)
			o->to = argv[++i];
		else
			return -1;
	}
	return 0;
}

static int
cmd_promote(int argc, char **argv)
{
	const char **approve = calloc((size_t)argc, sizeof(*approve));
	struct deploy_opts o = { .approve = approve, .out = stdout };
	struct agent_bundle bundle;
	struct plan *staging = NULL, *prod = NULL;
	int rc = EXITCODE_BAD_INPUT;

	/* deploy's flags after the two plans; no --artifact: it is
	 * staging's. */
	if (approve == NULL ||
	    deploy_flags(&o, argc - 3, argv + 3, CMD_DEPLOY) < 0 ||
	    o.artifact != NULL) {
		fputs(usage, stderr);
		goto out;
	}
	if ((staging = load_plan(argv[3])) == NULL ||
	    (prod = load_plan(argv[5])) == NULL)
		goto out;
	if (!approvals_known(prod, &o, argv[5]))
		goto out;
	if (prepare_fleet(&bundle) < 0) {
		rc = EXITCODE_ROLLED_BACK;
		goto out;
	}
	rc = promote_run(staging, prod, &bundle, &o);
out:
	plan_free(staging);
	plan_free(prod);
	free(approve);
	return rc;
}

static int
cmd_history(const char *path)
{
	struct journal j;
	struct plan *p;
	struct err e;
	int rc = 0;

	if ((p = load_plan(path)) == NULL)
		return EXITCODE_BAD_INPUT;
	if (journal_paths(&j, p, &e) < 0 ||
	    journal_history(stdout, j.path, &e) < 0) {
		fprintf(stderr, "ivrctl: %s\n", e.msg);
		rc = EXITCODE_ROLLED_BACK;
	}
	journal_close(&j);
	plan_free(p);
	return rc;
}

static int
cmd_status(const char *path, bool json)
{
	struct agent_bundle bundle;
	struct fleet_status s;
	struct plan *p;

	if ((p = load_plan(path)) == NULL)
		return EXITCODE_BAD_INPUT;
	if (prepare_fleet(&bundle) < 0) {
		plan_free(p);
		return EXITCODE_ROLLED_BACK;
	}
	status_collect(&s, p, &bundle);
	if (json) {
		json_t *o = status_json(&s, p);
		char *text = json_dumps(o, JSON_COMPACT);

		printf("%s\n", text);
		free(text);
		json_decref(o);
	} else {
		status_print(stdout, &s, p);
	}
	int rc = s.consistent ? 0 : EXITCODE_INCONSISTENT;
	status_release(&s);
	plan_free(p);
	return rc;
}

static int
cmd_plan(const char *path, const char *artifact)
{
	struct plan *p;
	struct err e;
	int rc;

	if ((p = load_plan(path)) == NULL)
		return EXITCODE_BAD_INPUT;
	if (artifact == NULL)
		artifact = p->artifact;
	if (artifact == NULL) {
		fprintf(stderr, "ivrctl: name the release: --artifact FILE, or "
				"'artifact' in the plan\n");
		plan_free(p);
		return EXITCODE_BAD_INPUT;
	}
	if (ssh_global_init(&e) < 0) {
		fprintf(stderr, "ivrctl: %s\n", e.msg);
		plan_free(p);
		return EXITCODE_ROLLED_BACK;
	}
	rc = dryrun(stdout, p, artifact);
	plan_free(p);
	return rc;
}

int
main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--help") == 0) {
		fputs(usage, stdout);
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("ivrctl %s\n", IVR_VERSION);
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "validate") == 0)
		return cmd_validate(argv[2]);
	if (argc >= 3 &&
	    (strcmp(argv[1], "deploy") == 0 || strcmp(argv[1], "resume") == 0 ||
	     strcmp(argv[1], "rollback") == 0)) {
		enum deploy_cmd cmd =
			strcmp(argv[1], "deploy") == 0	 ? CMD_DEPLOY
			: strcmp(argv[1], "resume") == 0 ? CMD_RESUME
							 : CMD_ROLLBACK;
		const char **approve = calloc((size_t)argc, sizeof(*approve));
		struct deploy_opts o = { .approve = approve };
		int rc;

		if (approve == NULL || deploy_flags(&o, argc, argv, cmd) < 0) {
			free(approve);
			fputs(usage, stderr);
			return EXITCODE_BAD_INPUT;
		}
		rc = cmd_deploy(argv[2], &o, cmd);
		free(approve);
		return rc;
	}
	if (argc >= 6 && strcmp(argv[1], "promote") == 0 &&
	    strcmp(argv[2], "--from") == 0 && strcmp(argv[4], "--to") == 0)
		return cmd_promote(argc, argv);
	if (argc == 3 && strcmp(argv[1], "history") == 0)
		return cmd_history(argv[2]);
	if (argc >= 3 && strcmp(argv[1], "plan") == 0) {
		if (argc == 3)
			return cmd_plan(argv[2], NULL);
		if (argc == 5 && strcmp(argv[3], "--artifact") == 0)
			return cmd_plan(argv[2], argv[4]);
		fputs(usage, stderr);
		return EXITCODE_BAD_INPUT;
	}
	if (argc >= 3 && strcmp(argv[1], "status") == 0) {
		bool json = false;

		for (int i = 3; i < argc; i++) {
			if (strcmp(argv[i], "--output") == 0 && i + 1 < argc &&
			    (strcmp(argv[i + 1], "json") == 0 ||
			     strcmp(argv[i + 1], "text") == 0)) {
				json = strcmp(argv[++i], "json") == 0;
			} else {
				fputs(usage, stderr);
				return EXITCODE_BAD_INPUT;
			}
		}
		return cmd_status(argv[2], json);
	}
	fputs(usage, stderr);
	return EXITCODE_BAD_INPUT;
}
