/*
 * ivrctl: the deployment controller.
 *
 *   ivrctl validate PLAN      check the plan, touch nothing
 *
 * Exit codes (docs/runbook.md): 0 done; 1 deployment failed and rolled
 * back; 2 bad input, nothing touched; 3 fleet inconsistent; 4 locked.
 */
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "diag.h"
#include "plan.h"

#ifndef IVR_VERSION
#define IVR_VERSION "0.0.0"
#endif

#define EXIT_BAD_INPUT 2

static const char usage[] =
	"usage: ivrctl validate PLAN\n"
	"       ivrctl --help | --version\n"
	"\n"
	"validate  load the plan and report every problem as "
	"path:line:col;\n"
	"          exit 0 when it is sound, 2 when it is not. Touches no "
	"host.\n"
	"\n"
	"The deploy, rollback, status, plan, history, resume and promote\n"
	"commands described in docs/architecture.md are not built yet.\n";

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
		rc = EXIT_BAD_INPUT;
	} else {
		printf("%s: valid: environment '%s', %zu hosts, %zu phases, "
		       "plan sha256 %.12s\n",
		       path, p->environment, p->nhosts, p->nphases, p->sha256);
	}
	plan_free(p);
	diag_list_release(&d);
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
	fputs(usage, stderr);
	return EXIT_BAD_INPUT;
}
