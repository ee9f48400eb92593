/*
 * access: see access.h.
 */
#include "access.h"

#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GROUPS_MAX 256

const char *
access_action_name(enum access_action a)
{
	static const char *const names[] = { "deploy", "promote", "approve",
					     "rollback" };

	return names[a];
}

/* Whether user belongs to the group called name. */
static bool
in_group(const char *user, const char *name)
{
	const struct passwd *pw = getpwnam(user);
	const struct group *gr = getgrnam(name);
	gid_t groups[GROUPS_MAX];
	int n = GROUPS_MAX;

	if (pw == NULL || gr == NULL)
		return false;
	if (getgrouplist(user, pw->pw_gid, groups, &n) < 0)
		n = GROUPS_MAX; /* more than we keep: those we have */
	for (int i = 0; i < n; i++)
		if (groups[i] == gr->gr_gid)
			return true;
	return false;
}

bool
access_in_role(const struct plan_role *role, const char *user)
{
	for (size_t i = 0; i < role->n; i++) {
		const char *name = role->names[i];

		if (name[0] == '@' ? in_group(user, name + 1)
				   : strcmp(name, user) == 0)
			return true;
	}
	return false;
}

/* The names of a role for a message. */
static void
role_text(char *out, size_t size, const struct plan_role *role)
{
	size_t o = 0;

	out[0] = '\0';
	for (size_t i = 0; i < role->n && o < size; i++) {
		int n = snprintf(out + o, size - o, "%s%s", i ? ", " : "",
				 role->names[i]);

		o += n > 0 ? (size_t)n : 0;
	}
	if (role->n == 0)
		snprintf(out, size, "nobody");
}

int
access_check_approver(const struct plan *p, const char *user,
		      const char *starter, const char *id, struct err *err)
{
	int rc = access_check(p, ACCESS_APPROVE, user, err);

	if (rc == 0 && p->access.enabled && p->access.distinct_approver &&
	    strcmp(starter, user) == 0)
		rc = err_set(err, ERR_AUTH,
			     "%s started deployment %s and may not approve it: "
			     "the plan asks for another person "
			     "(access.distinct_approver)",
			     user, id);
	return rc;
}

int
access_check(const struct plan *p, enum access_action a, const char *user,
	     struct err *err)
{
	const struct plan_access *ac = &p->access;
	const struct plan_role *role = &ac->deploy, *also = NULL;
	const char *key = "deploy";
	char who[512], more[256] = "";

	if (!ac->enabled)
		return 0;
	if (a == ACCESS_PROMOTE && ac->promote.set) {
		role = &ac->promote;
		key = "promote";
	} else if (a == ACCESS_APPROVE && ac->approve.set) {
		role = &ac->approve;
		key = "approve";
	} else if (a == ACCESS_ROLLBACK) {
		role = &ac->oncall;
		key = "oncall";
		also = &ac->deploy;
	}
	if (access_in_role(role, user) ||
	    (also != NULL && access_in_role(also, user)))
		return 0;
	role_text(who, sizeof(who), role);
	if (also != NULL) {
		role_text(more, sizeof(more), also);
		return err_set(err, ERR_AUTH,
			       "%s may not %s %s: the plan's access.%s "
			       "allows %s, and access.deploy %s",
			       user, access_action_name(a), p->environment, key,
			       who, more);
	}
	return err_set(err, ERR_AUTH,
		       "%s may not %s %s: the plan's access.%s allows %s", user,
		       access_action_name(a), p->environment, key, who);
}
