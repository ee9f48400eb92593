/*
 * main_int: what the files of ivrctl's main share (main.c, main_*.c): the
 * parsed command line, and the helpers every command uses.
 */
#ifndef IVR_CONTROLLER_MAIN_INT_H
#define IVR_CONTROLLER_MAIN_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "deploy.h"
#include "host.h"
#include "plan.h"

#define OUT_MAX (64 * 1024 * 1024)

/* The flags each command takes (an option's bit is its getopt value:
 * never 1, which getopt returns for an argument that is not an option). */
enum {
	F_OUTPUT = 1 << 1,
	F_ARTIFACT = 1 << 2,
	F_YES = 1 << 3,
	F_APPROVE = 1 << 4,
	F_BREAK_LOCK = 1 << 5,
	F_TO = 1 << 6,
	F_FROM = 1 << 7,
	F_DEFER_CONTRACT = 1 << 8,
	F_BACKUP = 1 << 9,
	F_REPLACE = 1 << 10,
	F_RESTART = 1 << 11,
	F_REMOVE = 1 << 12,
	F_GATES = F_YES | F_APPROVE,
};

struct cli {
	const char *plan;      /* the positional PLAN */
	const char *from, *to; /* promote's plans; rollback's --to */
	struct deploy_opts o;
	struct agent_bundle agent;
};

/* The usage text, to f. */
void main_usage(FILE *f);

/*
 * argv[1] is the command; allowed its flags; positional says whether it
 * takes PLAN.  Returns 0, or -1 (said) on bad arguments.
 */
int main_parse(struct cli *c, int argc, char **argv, int allowed,
	       bool positional);

/* One JSON line on stdout (o taken). */
void main_print_json(json_t *o);

/* Loads a plan or prints why not; NULL on failure. */
struct plan *main_load_plan(const char *path);

/* The bundled agent and SSH, for the commands that reach hosts. */
int main_prepare_fleet(struct agent_bundle *bundle);

/* Every --approve names a phase of the plan; says which does not. */
bool main_approvals_known(const struct plan *p, const struct deploy_opts *o,
			  const char *path);

typedef int (*run_fn)(const struct plan *p, const struct agent_bundle *agent,
		      const struct deploy_opts *o, struct err *err);

/* Runs fn on the plan and prints why when it was refused. */
int main_run_deploy(struct cli *c, const struct plan *p, run_fn fn);

/* `ivrctl promote` (main_promote.c). */
int main_promote(int argc, char **argv);

/* `ivrctl approve PLAN PHASE` (main_approve.c). */
int main_approve(int argc, char **argv);

#endif
