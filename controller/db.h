/*
 * db: the bank's database as ivrctl reaches it (the plan's `database`
 * section, as the migration role): a release's migrations read from its
 * artifact, the connection, and backups.
 *
 * ivrctl runs the database step itself, over libpq (or on the SQLite
 * file), rather than on a host: the step happens once per deployment
 * before any host swaps, no host is special, the migration role's
 * password stays with the controller that holds the plan, and the backup
 * lands in the plan's backups folder beside the journal that records it.
 * docs/database.md.
 */
#ifndef IVR_CONTROLLER_DB_H
#define IVR_CONTROLLER_DB_H

#include <jansson.h>

#include "bank.h"
#include "err.h"
#include "plan.h"

/*
 * The migrations the artifact at path brings for backend: its
 * share/db/[postgresql/]NNN_name.sql files, each matched against the
 * list in its release.json (name, kind, sha256: a file missing, unlisted
 * or different is refused).  Returns 0, ERR_IO (unreadable) or ERR_PARSE
 * ("the artifact's release.json lists 002_x.sql as expand, its file says
 * contract").
 */
int db_release_migrations(struct bank_migrations *out, const char *path,
			  enum plan_db_backend backend, struct err *err);

/*
 * What a deploy of the artifact at path would do to the plan's database,
 * read without changing it (`ivrctl plan`): a new object {"backend",
 * "backups", "applied": n, "pending": [{name, kind, sha256}], "refusal":
 * why the deploy would stop before staging, or null}.  Returns 0, or the
 * error of reading the artifact or reaching the database.
 */
int db_preview(json_t **out, const struct plan *p, const char *path,
	       struct err *err);

/* A connection to the plan's database as its migration role. */
int db_connect(struct bank **out, const struct plan *p, struct err *err);

/* A backup in the plan's backups folder. */
struct db_backup {
	char id[64];	 /* the deployment's id, or the operator's */
	char path[4096]; /* <backups>/<id>.dump (pg_dump -Fc) or .sqlite */
	long long size;
	char sha256[65];
	json_t *tables; /* each table's row count in the backup */
	long long took_ms;
};

/*
 * Backs up the plan's database as id: PostgreSQL with pg_dump's custom
 * format in the snapshot that the row counts were taken in; SQLite with
 * the online backup API, counted on the copy.  Written beside as a
 * ".part" file, readable by its owner only, renamed into place once
 * whole (a run killed half-way leaves no backup that looks whole).  Within
 * the plan's backup_timeout.  Returns 0, ERR_IO or ERR_TIMEOUT.
 */
int db_backup(struct db_backup *out, const struct plan *p, struct bank *b,
	      const char *id, struct err *err);

void db_backup_release(struct db_backup *b);

/* The backup as the journal keeps it (a new reference). */
json_t *db_backup_json(const struct db_backup *b);

/*
 * Restores the backup whose file is path into the plan's database:
 * pg_restore --clean --if-exists --single-transaction (all or nothing);
 * SQLite: the copy is backed up over the live file with the online backup
 * API.  Within the plan's backup_timeout.  0, ERR_IO or ERR_TIMEOUT.
 */
int db_restore(const struct plan *p, const char *path, struct err *err);

#endif
