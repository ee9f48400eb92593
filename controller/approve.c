/*
 * approve: see approve.h.
 */
#include "approve.h"

#include <stdio.h>
#include <string.h>

#include "access.h"
#include "exitcode.h"
#include "journal.h"

/* Whether the access rules let this operator approve run; a refusal is
 * journaled. */
static int
allowed(const struct plan *p, struct journal *j, json_t *run, const char *phase,
	struct approval *out, struct err *err)
{
	char starter[64];
	const char *user = journal_user();

	journal_run_user(starter, sizeof(starter), run);
	if (access_check_approver(p, user, starter, out->id, err) == 0)
		return 0;
	journal_write(j, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "event",
				   "approval-refused", "id", out->id, "phase",
				   phase, "user", user, "operator",
				   out->operator, "reason", err->msg));
	return EXITCODE_DENIED;
}

/* The open run, checked against the plan; its id in out. */
static int
open_run(json_t **run, const struct plan *p, struct journal *j,
	 struct approval *out, struct err *err)
{
	const char *sha, *op;

	if ((*run = journal_open_run(j, err)) == NULL && err != NULL &&
	    err->code < 0)
		return ERR_IO;
	if (*run == NULL)
		return err_set(err, ERR_INVAL,
			       "%s: no deployment is open (running, waiting "
			       "or stopped) to approve",
			       journal_where(j));
	snprintf(out->id, sizeof(out->id), "%s",
		 json_string_value(json_object_get(*run, "id")));
	op = json_string_value(json_object_get(*run, "operator"));
	snprintf(out->started, sizeof(out->started), "%s", op ? op : "?");
	sha = json_string_value(json_object_get(*run, "plan_sha256"));
	if (sha == NULL || strcmp(sha, p->sha256) != 0)
		return err_set(err, ERR_INVAL,
			       "deployment %s runs another plan (sha256 %.12s, "
			       "this one %.12s): approve with the plan it runs",
			       out->id, sha ? sha : "?", p->sha256);
	return 0;
}

int
approve_phase(const struct plan *p, const char *phase, struct approval *out,
	      struct err *err)
{
	const struct plan_phase *ph = plan_phase_named(p, phase);
	struct journal j;
	json_t *run = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	journal_operator(out->operator, sizeof(out->operator));
	if (ph == NULL || !ph->approval) {
		err_set(err, ERR_INVAL,
			"%s: the plan has no phase '%s' with an approval gate",
			p->path, phase);
		return EXITCODE_BAD_INPUT;
	}
	if (journal_open(&j, p, err) < 0) {
		journal_close(&j);
		return EXITCODE_ERROR;
	}
	if ((rc = open_run(&run, p, &j, out, err)) < 0)
		rc = rc == ERR_IO ? EXITCODE_ERROR : EXITCODE_BAD_INPUT;
	else if (journal_list_has(json_object_get(run, "approved"), phase)) {
		out->already = true;
		rc = 0;
	} else if ((rc = allowed(p, &j, run, phase, out, err)) == 0)
		journal_write(&j,
			      json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}",
					"event", "approved", "id", out->id,
					"phase", phase, "by", "ivrctl approve",
					"user", journal_user(), "operator",
					out->operator));
	json_decref(run);
	journal_close(&j);
	if (rc == 0 && journal_unwritten(&j) > 0) {
		err_set(err, ERR_IO,
			"the approval did not reach etcd: run it again");
		return EXITCODE_ERROR;
	}
	return rc;
}
