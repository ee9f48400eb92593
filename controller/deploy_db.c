/*
 * deploy_db: the database half of a release (deploy_int.h, deploy.h):
 * the deploy's database step (check before staging; backup and expand
 * migrations after it, before the first swap), and `ivrctl db contract`,
 * `db restore` and `db status`.
 */
#include "deploy.h"
#include "deploy_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "db.h"
#include "exitcode.h"
#include "hash.h"

/* The string at o's key, or dflt. */
static const char *
str_at(const json_t *o, const char *key, const char *dflt)
{
	const char *v = json_string_value(json_object_get(o, key));

	return v != NULL ? v : dflt;
}

static size_t
count_pending(const struct bank_migrations *s, enum bank_migration_kind k,
	      const char **first)
{
	size_t n = 0;

	*first = NULL;
	for (size_t i = 0; i < s->n; i++) {
		if (s->m[i].applied || s->m[i].kind != k)
			continue;
		if (n++ == 0)
			*first = s->m[i].name;
	}
	return n;
}

/* The pending migrations as the journal keeps them. */
static json_t *
pending_json(const struct bank_migrations *s)
{
	json_t *list = json_array();

	for (size_t i = 0; i < s->n; i++)
		if (!s->m[i].applied)
			json_array_append_new(
				list, json_pack("{s:s, s:s, s:s}", "name",
						s->m[i].name, "kind",
						bank_migration_kind_name(
							s->m[i].kind),
						"sha256", s->m[i].sha256));
	return list;
}

/* The release's migrations and the connection, checked; an exit code or
 * -1.  Sets *pending_contract. */
static int
open_db(struct run *r, size_t *pending_expand, size_t *pending_contract)
{
	const char *first;
	struct err e;
	int rc;

	if (db_release_migrations(&r->mig, r->art.path, r->p->db.backend, &e) <
	    0) {
		deploy_say(r, "database: %s", e.msg);
		return EXITCODE_BAD_INPUT;
	}
	if (db_connect(&r->db, r->p, &e) < 0) {
		deploy_say(r, "database: %s: nothing was changed", e.msg);
		return EXITCODE_ROLLED_BACK;
	}
	if ((rc = bank_migrations_check(&r->mig, r->db, &e)) < 0) {
		deploy_say(r, "database: %s", e.msg);
		return rc == ERR_BADSTATE ? EXITCODE_BAD_INPUT
					  : EXITCODE_ROLLED_BACK;
	}
	*pending_expand = count_pending(&r->mig, BANK_EXPAND, &first);
	*pending_contract = count_pending(&r->mig, BANK_CONTRACT, &first);
	return -1;
}

int
deploy_db_check(struct run *r)
{
	size_t expand = 0, contract = 0, applied = 0;
	const char *first = NULL;
	int rc;

	if (r->p->db.backend == PLAN_DB_NONE)
		return -1;
	if ((rc = open_db(r, &expand, &contract)) >= 0)
		return rc;
	for (size_t i = 0; i < r->mig.n; i++)
		applied += r->mig.m[i].applied;
	deploy_say(r,
		   "database: %zu migration(s) in %s: %zu applied, %zu "
		   "expand and %zu contract pending",
		   r->mig.n, r->art.version, applied, expand, contract);
	deploy_record(r, json_pack("{s:s, s:s, s:i, s:o}", "event", "db_check",
				   "id", r->id, "applied", (int)applied,
				   "pending", pending_json(&r->mig)));
	count_pending(&r->mig, BANK_CONTRACT, &first);
	if (contract > 0 && !r->o->defer_contract && !r->resumed) {
		deploy_say(
			r,
			"%s brings contract migration %s, which a rolling "
			"deploy never applies: hosts still on %s may use what "
			"it removes. Deploy with --defer-contract (it waits, "
			"and %s runs without it), then, once every host runs "
			"%s: ivrctl db contract %s --artifact %s",
			r->art.version, first,
			r->from[0] ? r->from
				   : "the "
				     "old "
				     "release",
			r->art.version, r->art.version, r->p->path,
			r->art.path);
		return EXITCODE_BAD_INPUT;
	}
	return -1;
}

int
deploy_db_backup(struct run *r)
{
	struct db_backup b;
	struct err e;
	json_t *ev;

	deploy_say(r, "database: backing up to %s", r->p->db.backups);
	if (db_backup(&b, r->p, r->db, r->id, &e) < 0) {
		deploy_say(r, "database: %s: nothing serving was changed",
			   e.msg);
		return EXITCODE_ROLLED_BACK;
	}
	deploy_say(r,
		   "database: backup %s: %lld bytes, sha256 %.12s, %zu "
		   "tables, %lld ms",
		   b.path, b.size, b.sha256, json_object_size(b.tables),
		   b.took_ms);
	ev = db_backup_json(&b);
	json_object_set_new(ev, "event", json_string("db_backup"));
	json_object_set_new(ev, "id", json_string(r->id));
	deploy_record(r, ev);
	db_backup_release(&b);
	return -1;
}

/* Applies the pending migrations of one kind with the run's id; an exit
 * code or -1. */
static int
migrate(struct run *r, enum bank_migration_kind kind)
{
	struct bank_migrate_opts o = {
		.expand = kind == BANK_EXPAND,
		.contract = kind == BANK_CONTRACT,
		.deployment_id = r->id,
		.lock_timeout_ms = (int)r->p->db.lock_timeout_ms,
	};
	json_t *pending = json_array(), *names = json_array();
	int64_t start = clock_now_ms();
	int applied = 0;
	struct err e;

	for (size_t i = 0; i < r->mig.n; i++)
		if (!r->mig.m[i].applied && r->mig.m[i].kind == kind)
			json_array_append_new(pending,
					      json_string(r->mig.m[i].name));
	if (bank_migrations_apply(&r->mig, r->db, &o, &applied, &e) < 0) {
		deploy_say(r,
			   "database: the %s migrations failed, none of them "
			   "stays: %s",
			   bank_migration_kind_name(kind), e.msg);
		deploy_record(r,
			      json_pack("{s:s, s:s, s:s, s:o, s:s}", "event",
					"db_migration_failed", "id", r->id,
					"kind", bank_migration_kind_name(kind),
					"migrations", pending, "error", e.msg));
		json_decref(names);
		return EXITCODE_ROLLED_BACK;
	}
	for (size_t i = 0; i < r->mig.n; i++)
		if (r->mig.m[i].kind == kind &&
		    strcmp(r->mig.m[i].deployment_id, r->id) == 0) {
			deploy_say(r, "database: applied %s (%s)",
				   r->mig.m[i].name,
				   bank_migration_kind_name(kind));
			json_array_append_new(
				names, json_pack("{s:s, s:s, s:s}", "name",
						 r->mig.m[i].name, "kind",
						 bank_migration_kind_name(kind),
						 "sha256", r->mig.m[i].sha256));
		}
	deploy_record(r,
		      json_pack("{s:s, s:s, s:o, s:I}", "event", "db_migrated",
				"id", r->id, "applied", names, "duration_ms",
				(json_int_t)(clock_now_ms() - start)));
	json_decref(pending);
	deploy_say(r, "database: %d %s migration(s) applied in %lld ms",
		   applied, bank_migration_kind_name(kind),
		   (long long)(clock_now_ms() - start));
	return -1;
}

int
deploy_db_step(struct run *r)
{
	const char *first;
	size_t expand;
	int rc;

	if (r->p->db.backend == PLAN_DB_NONE || r->db == NULL)
		return -1;
	expand = count_pending(&r->mig, BANK_EXPAND, &first);
	/* A resume backs up again only when it has a migration to apply. */
	if ((!r->resumed || expand > 0) && (rc = deploy_db_backup(r)) >= 0)
		return rc;
	if (expand == 0) {
		deploy_say(r, "database: no expand migration to apply");
		return -1;
	}
	return migrate(r, BANK_EXPAND);
}

/* The run's database, closed. */
static void
close_db(struct run *r)
{
	bank_close(r->db);
	r->db = NULL;
	bank_migrations_free(&r->mig);
}

/* The release whose contract migrations run: --artifact, else the
 * plan's. */
static int
contract_release(struct run *r, struct err *err)
{
	const char *art = r->o->artifact ? r->o->artifact : r->p->artifact;

	if (r->p->db.backend == PLAN_DB_NONE)
		return err_set(err, ERR_INVAL,
			       "the plan has no 'database' section");
	if (art == NULL)
		return err_set(err, ERR_INVAL,
			       "name the release: --artifact FILE, or "
			       "'artifact' in the plan");
	return artifact_read(&r->art, art, err);
}

int
deploy_db_contract(const struct plan *p, const struct agent_bundle *agent,
		   const struct deploy_opts *o, struct err *err)
{
	size_t expand = 0, contract = 0;
	struct run r = { 0 };
	int rc;

	deploy_run_init(&r, p, agent, o, "db-contract");
	if (contract_release(&r, err) < 0)
		return deploy_run_finish(&r, EXITCODE_BAD_INPUT);
	deploy_make_id(r.id, sizeof(r.id), 'c');
	if ((rc = deploy_take_lock(&r, err)) != 0)
		return deploy_run_finish(&r, rc);
	deploy_journal_start(&r, "db-contract", r.art.version);
	rc = EXITCODE_INCONSISTENT;
	if (!deploy_open_fleet(&r) ||
	    !deploy_fleet_release(&r, r.from, sizeof(r.from)))
		goto out;
	deploy_record(&r, json_pack("{s:s, s:s, s:s}", "event", "from", "id",
				    r.id, "from", r.from));
	if (!plan_release_is(r.from, r.art.version)) {
		deploy_say(&r,
			   "the contract migrations of %s run once every host "
			   "runs %s; the fleet runs %s: nothing was changed",
			   r.art.version, r.art.version,
			   r.from[0] ? r.from : "nothing");
		rc = EXITCODE_BAD_INPUT;
		goto out;
	}
	if ((rc = open_db(&r, &expand, &contract)) >= 0)
		goto out;
	if (expand > 0) {
		deploy_say(&r,
			   "%zu expand migration(s) of %s are not applied, "
			   "though every host runs it: deploy it again "
			   "(ivrctl deploy) first",
			   expand, r.art.version);
		rc = EXITCODE_BAD_INPUT;
		goto out;
	}
	if (contract == 0) {
		deploy_say(&r,
			   "database: no contract migration of %s is "
			   "pending: nothing to do",
			   r.art.version);
		rc = EXITCODE_DONE;
		goto out;
	}
	if ((rc = deploy_db_backup(&r)) >= 0 ||
	    (rc = migrate(&r, BANK_CONTRACT)) >= 0)
		goto out;
	rc = EXITCODE_DONE;
out:
	close_db(&r);
	return deploy_run_finish(&r, rc);
}

/* The journal's backups: the last record of each. */
static json_t *
journal_backups(const struct plan *p)
{
	struct journal j;
	json_t *list;

	if (journal_paths(&j, p, NULL) < 0) {
		journal_close(&j);
		return json_array();
	}
	list = journal_events(&j, "db_backup", "backup");
	journal_close(&j);
	return list;
}

/* The journal's record of backup id, or NULL (borrowed from list). */
static json_t *
find_backup(json_t *list, const char *id)
{
	size_t i;
	json_t *b;

	json_array_foreach (list, i, b) {
		const char *v = json_string_value(json_object_get(b, "backup"));

		if (v != NULL && strcmp(v, id) == 0)
			return b;
	}
	return NULL;
}

/*
 * The journal's record of the backup o names, its file checked against
 * the sha256 recorded (into sha); NULL (err set) when it cannot be used.
 * A new reference.
 */
static json_t *
checked_backup(char sha[65], const struct plan *p, const char *id,
	       struct err *err)
{
	unsigned char digest[HASH_SHA256_LEN];
	json_t *backups = journal_backups(p), *b;
	const char *path, *want;
	struct err e;

	if ((b = find_backup(backups, id)) == NULL) {
		err_set(err, ERR_INVAL,
			"the journal records no backup '%s' (ivrctl db status "
			"lists them)",
			id);
		json_decref(backups);
		return NULL;
	}
	json_incref(b);
	json_decref(backups);
	path = json_string_value(json_object_get(b, "path"));
	want = json_string_value(json_object_get(b, "sha256"));
	if (path == NULL || want == NULL)
		err_set(err, ERR_INVAL,
			"backup %s: the journal's record is "
			"incomplete",
			id);
	else if (hash_sha256_file(digest, path, &e) < 0)
		err_set(err, ERR_INVAL, "backup %s: %s", id, e.msg);
	else if (hash_hex(sha, digest, HASH_SHA256_LEN), strcmp(sha, want) != 0)
		err_set(err, ERR_INVAL,
			"backup %s: '%s' hashes to %.12s..., the journal "
			"recorded %.12s...: it changed since it was taken; "
			"nothing restored",
			id, path, sha, want);
	else
		return b;
	json_decref(b);
	return NULL;
}

/* Restores and journals; the exit code. */
static int
restore(struct run *r, const char *path, const char *sha)
{
	int64_t start = clock_now_ms();
	struct err e;

	deploy_say(r, "database: restoring backup %s from %s", r->to, path);
	if (db_restore(r->p, path, &e) < 0) {
		deploy_say(r, "database: %s", e.msg);
		return EXITCODE_INCONSISTENT;
	}
	deploy_record(r, json_pack("{s:s, s:s, s:s, s:s, s:I}", "event",
				   "db_restored", "id", r->id, "backup", r->to,
				   "sha256", sha, "duration_ms",
				   (json_int_t)(clock_now_ms() - start)));
	deploy_say(r, "database: backup %s restored in %lld ms", r->to,
		   (long long)(clock_now_ms() - start));
	return EXITCODE_DONE;
}

int
deploy_db_restore(const struct plan *p, const struct agent_bundle *agent,
		  const struct deploy_opts *o, struct err *err)
{
	struct run r = { 0 };
	json_t *b = NULL;
	char sha[65], q[256];
	int rc = EXITCODE_BAD_INPUT;

	deploy_run_init(&r, p, agent, o, "db-restore");
	if (p->db.backend == PLAN_DB_NONE)
		err_set(err, ERR_INVAL, "the plan has no 'database' section");
	else if (o->backup == NULL)
		err_set(err, ERR_INVAL,
			"name the backup: --backup ID (ivrctl "
			"db status lists them)");
	else if ((b = checked_backup(sha, p, o->backup, err)) == NULL)
		;
	else if (snprintf(q, sizeof(q),
			  "Restore backup %s over the live database of %s? "
			  "Every change made since it was taken is lost.",
			  o->backup, p->environment),
		 !o->yes && (!isatty(STDIN_FILENO) || !deploy_ask(&r, q)))
		err_set(err, ERR_INVAL,
			"not confirmed: nothing restored "
			"(--yes confirms without a terminal)");
	else {
		deploy_make_id(r.id, sizeof(r.id), 'x');
		if ((rc = deploy_take_lock(&r, err)) == 0) {
			deploy_journal_start(&r, "db-restore", o->backup);
			rc = restore(
				&r,
				json_string_value(json_object_get(b, "path")),
				sha);
		}
	}
	json_decref(b);
	return deploy_run_finish(&r, rc);
}

/* The applied migrations, and the artifact's pending ones (s, may be
 * empty), into a new status object; an exit code or -1. */
static int
read_status(json_t **out, const struct plan *p, struct bank_migrations *s,
	    const char *artifact, struct err *err)
{
	json_t *applied = json_array();
	struct bank *db = NULL;
	int rc;

	if (artifact != NULL &&
	    db_release_migrations(s, artifact, p->db.backend, err) < 0) {
		json_decref(applied);
		return EXITCODE_BAD_INPUT;
	}
	if ((rc = db_connect(&db, p, err)) < 0 ||
	    (rc = bank_migrations_list(applied, db, err)) < 0 ||
	    (artifact != NULL &&
	     (rc = bank_migrations_check(s, db, err)) < 0)) {
		bank_close(db);
		json_decref(applied);
		return rc == ERR_BADSTATE ? EXITCODE_BAD_INPUT : EXITCODE_ERROR;
	}
	bank_close(db);
	*out = json_pack(
		"{s:s, s:s, s:o}", "environment", p->environment, "backend",
		p->db.backend == PLAN_DB_POSTGRESQL ? "postgresql" : "sqlite",
		"applied", applied);
	if (artifact != NULL)
		json_object_set_new(*out, "pending", pending_json(s));
	return -1;
}

int
deploy_db_status(json_t **out, const struct plan *p, const char *artifact,
		 struct err *err)
{
	struct bank_migrations s = { 0 };
	json_t *backups, *b;
	struct stat st;
	size_t i;
	int rc;

	*out = NULL;
	if (p->db.backend == PLAN_DB_NONE) {
		err_set(err, ERR_INVAL, "the plan has no 'database' section");
		return EXITCODE_BAD_INPUT;
	}
	rc = read_status(out, p, &s, artifact, err);
	bank_migrations_free(&s);
	if (rc >= 0)
		return rc;
	backups = journal_backups(p);
	json_array_foreach (backups, i, b) {
		const char *path =
			json_string_value(json_object_get(b, "path"));

		json_object_del(b, "event");
		json_object_set_new(
			b, "present",
			json_boolean(path != NULL && stat(path, &st) == 0));
	}
	json_object_set_new(*out, "backups", backups);
	return EXITCODE_DONE;
}

int
deploy_db_status_format(struct buf *b, const json_t *st, const char *artifact,
			struct err *err)
{
	json_t *m;
	size_t i;
	int rc;

	rc = buf_appendf(
		b, err, "database of %s (%s)\napplied migrations:%s\n",
		str_at(st, "environment", "?"), str_at(st, "backend", "?"),
		json_array_size(json_object_get(st, "applied")) ? "" : " none");
	json_array_foreach (json_object_get(st, "applied"), i, m)
		rc = rc < 0 ? rc
			    : buf_appendf(b, err, "  %-32s %-8s %-20s %s\n",
					  str_at(m, "name", "?"),
					  str_at(m, "kind", "?"),
					  str_at(m, "applied_at", ""),
					  str_at(m, "deployment_id", "-"));
	if (rc == 0 && artifact != NULL)
		rc = buf_appendf(b, err, "pending in %s:%s\n", artifact,
				 json_array_size(json_object_get(st, "pending"))
					 ? ""
					 : " none");
	json_array_foreach (json_object_get(st, "pending"), i, m)
		rc = rc < 0 ? rc
			    : buf_appendf(b, err, "  %-32s %s\n",
					  str_at(m, "name", "?"),
					  str_at(m, "kind", "?"));
	if (rc == 0)
		rc = buf_appendf(b, err, "backups:%s\n",
				 json_array_size(json_object_get(st, "backups"))
					 ? ""
					 : " none");
	json_array_foreach (json_object_get(st, "backups"), i, m)
		rc = rc < 0 ? rc
			    : buf_appendf(b, err,
					  "  %-32s %10lld bytes  sha256 %.12s  "
					  "%s%s\n",
					  str_at(m, "backup", "?"),
					  (long long)json_integer_value(
						  json_object_get(m, "size")),
					  str_at(m, "sha256", "?"),
					  str_at(m, "path", "?"),
					  json_is_true(
						  json_object_get(m, "present"))
						  ? ""
						  : " (file missing)");
	return rc;
}
