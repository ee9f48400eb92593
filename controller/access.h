/*
 * access: who may do what to an environment (the plan's `access:`,
 * plan.h's struct plan_access).  An operator is the Unix account ivrctl
 * runs as (its real user id, not $USER) and that account's groups; a
 * plan's list names accounts ("alice") and groups ("@ops").
 *
 * The actions: deploy (deploy, resume, scale and the database runs),
 * promote (into this environment; the `deploy` list when `promote` is not
 * given), approve (an approval gate; likewise), rollback (the `oncall`
 * list and the deployers).  Without `access:` everyone may do everything.
 */
#ifndef IVR_CONTROLLER_ACCESS_H
#define IVR_CONTROLLER_ACCESS_H

#include <stdbool.h>

#include "err.h"
#include "plan.h"

enum access_action {
	ACCESS_DEPLOY,
	ACCESS_PROMOTE,
	ACCESS_APPROVE,
	ACCESS_ROLLBACK,
};

/* The action's name as the journal and messages say it. */
const char *access_action_name(enum access_action a);

/* Whether user (an account name) is in role, by name or by a group. */
bool access_in_role(const struct plan_role *role, const char *user);

/*
 * 0 when user may do a in p's environment; ERR_AUTH with err saying who
 * may ("alice may not deploy production: the plan's access.deploy allows
 * ci-bot, @release").
 */
int access_check(const struct plan *p, enum access_action a, const char *user,
		 struct err *err);

/*
 * 0 when user may approve a gate of run id, started by starter: an
 * approver (access_check) and, with distinct_approver, not starter;
 * ERR_AUTH with err saying why not.
 */
int access_check_approver(const struct plan *p, const char *user,
			  const char *starter, const char *id, struct err *err);

#endif
