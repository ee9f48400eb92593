/*
 * deploy_legacy: `ivrctl db migrate` (deploy.h), the old IVR system's data
 * imported as a run of its own: the lock, the journal (the report, the
 * backup, the swap), the operator's lines; the import itself is
 * legacy.c's.
 */
#include "deploy.h"
#include "deploy_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "db.h"
#include "exitcode.h"
#include "legacy.h"

static void
say_line(void *ctx, const char *line)
{
	deploy_say(ctx, "%s", line);
}

/* The report's checks, one line each, with the first rows of a failed
 * one. */
static void
say_report(struct run *r, const json_t *report)
{
	json_t *c, *row;
	size_t i, k;

	json_array_foreach (json_object_get(report, "checks"), i, c) {
		bool ok = json_is_true(json_object_get(c, "passed"));

		deploy_say(r, "check %s: %s (%s)",
			   json_string_value(json_object_get(c, "name")),
			   ok ? "passed" : "FAILED",
			   json_string_value(json_object_get(c, "detail")));
		json_array_foreach (json_object_get(c, "rows"), k, row) {
			char *text = json_dumps(row, JSON_COMPACT);

			deploy_say(r, "  %s", text ? text : "?");
			free(text);
		}
	}
}

/* Steps 1-3 and, when every check passed, the backup and the swap; an
 * exit code. */
static int
import(struct run *r, struct bank *source)
{
	const struct legacy_say say = { say_line, r };
	json_t *report = NULL, *ev;
	struct err e;
	bool passed;

	if (legacy_stage(&report, r->p, r->db, source, &say, &e) < 0) {
		deploy_say(r, "legacy: %s: nothing live was changed", e.msg);
		return EXITCODE_ROLLED_BACK;
	}
	say_report(r, report);
	passed = json_is_true(json_object_get(report, "passed"));
	ev = json_pack("{s:s, s:s, s:O}", "event", "db_import", "id", r->id,
		       "report", report);
	deploy_record(r, ev);
	json_decref(report);
	if (!passed) {
		deploy_say(r, "legacy: a check failed: nothing live was "
			      "changed; the staged data stays in "
			      "legacy_import for a look");
		return EXITCODE_ROLLED_BACK;
	}
	if (deploy_db_backup(r) >= 0)
		return EXITCODE_ROLLED_BACK;
	if (legacy_swap(r->db, r->id, &e) < 0) {
		deploy_say(r, "legacy: %s", e.msg);
		return EXITCODE_ROLLED_BACK;
	}
	deploy_record(
		r, json_pack("{s:s, s:s}", "event", "db_swapped", "id", r->id));
	deploy_say(r, "legacy: every check passed: the imported customers, "
		      "accounts and transactions are live");
	return EXITCODE_DONE;
}

/* Where the import stands: -1 to go on, else an exit code. */
static int
ready_to_import(struct run *r)
{
	char done_by[64];
	int64_t live = 0;
	struct err e;
	int rc;

	if ((rc = legacy_prepare(done_by, sizeof(done_by), r->db, r->o->source,
				 r->o->restart, &e)) < 0) {
		deploy_say(r, "legacy: %s", e.msg);
		return rc == ERR_BADSTATE ? EXITCODE_BAD_INPUT
					  : EXITCODE_ROLLED_BACK;
	}
	if (done_by[0] != '\0') {
		deploy_say(r, "legacy: '%s' was imported by %s: nothing to do",
			   r->o->source, done_by);
		return EXITCODE_DONE;
	}
	if (legacy_live_accounts(&live, r->db, &e) < 0) {
		deploy_say(r, "legacy: %s", e.msg);
		return EXITCODE_ROLLED_BACK;
	}
	if (live > 0 && !r->o->replace) {
		deploy_say(r,
			   "legacy: the bank holds %" PRId64 " accounts, which "
			   "the import replaces: say so with --replace (a "
			   "backup is taken first); nothing was changed",
			   live);
		return EXITCODE_BAD_INPUT;
	}
	return -1;
}

int
deploy_db_migrate(const struct plan *p, const struct agent_bundle *agent,
		  const struct deploy_opts *o, struct err *err)
{
	struct bank *source = NULL;
	struct run r = { 0 };
	int rc;

	deploy_run_init(&r, p, agent, o, "db-migrate");
	if (p->db.backend != PLAN_DB_POSTGRESQL)
		err_set(err, ERR_INVAL,
			"the legacy import goes into a PostgreSQL bank: the "
			"plan's database is %s",
			p->db.backend == PLAN_DB_NONE ? "missing" : "SQLite");
	else if (o->source == NULL)
		err_set(err, ERR_INVAL,
			"name the old system's database: --from "
			"FILE (SQLite) or --from 'host=... "
			"dbname=...'");
	else if (legacy_open_source(&source, o->source, err) == 0 &&
		 db_connect(&r.db, p, err) == 0) {
		deploy_make_id(r.id, sizeof(r.id), 'm');
		if ((rc = deploy_take_lock(&r, err)) == 0) {
			deploy_journal_start(&r, "db-migrate", "legacy");
			if ((rc = ready_to_import(&r)) < 0)
				rc = import(&r, source);
		}
		bank_close(source);
		return deploy_run_finish(&r, rc);
	}
	bank_close(source);
	return deploy_run_finish(&r, EXITCODE_BAD_INPUT);
}
