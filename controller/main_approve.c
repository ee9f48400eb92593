/*
 * main_approve: `ivrctl approve PLAN PHASE [--output json]` (approve.h):
 * an approval of a phase's gate for the environment's open deployment,
 * from any machine that shares its journal.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "approve.h"
#include "exitcode.h"
#include "main_int.h"

/* argv without its second positional (PHASE), for main_parse. */
static int
split(int argc, char **argv, char **rest, const char **phase)
{
	int n = 0, positional = 0;

	for (int i = 0; i < argc; i++) {
		bool value = i > 0 && strcmp(argv[i - 1], "--output") == 0;

		if (i >= 2 && argv[i][0] != '-' && !value &&
		    ++positional == 2) {
			*phase = argv[i];
			continue;
		}
		rest[n++] = argv[i];
	}
	rest[n] = NULL;
	return n;
}

static void
print_approval(const struct cli *c, const struct plan *p, const char *phase,
	       const struct approval *a)
{
	if (c->o.json)
		main_print_json(json_pack(
			"{s:s, s:s, s:s, s:s, s:s, s:s, s:b}", "event",
			"approved", "environment", p->environment, "id", a->id,
			"phase", phase, "operator", a->operator, "started_by",
			a->started, "already", a->already));
	else if (a->already)
		printf("approve: phase %s of deployment %s was already "
		       "approved\n",
		       phase, a->id);
	else
		printf("approve: phase %s of deployment %s (started by %s) "
		       "approved by %s; a deployment waiting at the gate goes "
		       "on, a stopped one with: ivrctl resume %s\n",
		       phase, a->id, a->started, a->operator, p->path);
}

int
main_approve(int argc, char **argv)
{
	char **rest = calloc((size_t)argc + 1, sizeof(*rest));
	const char *phase = NULL;
	struct cli c = { 0 };
	struct plan *p = NULL;
	struct approval a;
	struct err e;
	int rc = EXITCODE_BAD_INPUT, n;

	err_init(&e);
	if (rest == NULL)
		return EXITCODE_ERROR;
	n = split(argc, argv, rest, &phase);
	if (phase == NULL) {
		fprintf(stderr, "ivrctl: approve takes PLAN PHASE\n");
		main_usage(stderr);
	} else if (main_parse(&c, n, rest, F_OUTPUT, true) == 0 &&
		   (p = main_load_plan(c.plan)) != NULL) {
		rc = approve_phase(p, phase, &a, &e);
		if (rc == 0)
			print_approval(&c, p, phase, &a);
		else
			fprintf(stderr, "ivrctl: %s\n", e.msg);
	}
	plan_free(p);
	free(rest);
	return rc;
}
