/*
 * bank_migrate: the schema's migrations (see bank.h): read from a folder
 * or handed in from an artifact, checked against schema_migrations by
 * checksum, and applied under the migration lock, together in one
 * transaction (a "transaction: none" one on its own, between them).
 */
#include "bank.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bank_int.h"
#include "buf.h"
#include "fileio.h"
#include "hash.h"

static int has_version(void *ctx, int ncols, const char *const *v);

const char *
bank_migration_kind_name(enum bank_migration_kind k)
{
	return k == BANK_CONTRACT ? "contract" : "expand";
}

/* True for names like 001_initial.sql; sets *version. */
static bool
migration_name(const char *name, int *version)
{
	size_t n = strlen(name);

	if (n < 9 || n >= BANK_MIGRATION_NAME_MAX ||
	    strcmp(name + n - 4, ".sql") != 0 || name[3] != '_')
		return false;
	for (int i = 0; i < 3; i++)
		if (name[i] < '0' || name[i] > '9')
			return false;
	for (size_t i = 4; i < n - 4; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') ||
		      (name[i] >= '0' && name[i] <= '9') || name[i] == '_'))
			return false;
	*version =
		(name[0] - '0') * 100 + (name[1] - '0') * 10 + (name[2] - '0');
	return *version > 0;
}

/* A header comment's text (after "--" and blanks) is word (n bytes). */
static bool
header_is(const char *q, size_t m, const char *word)
{
	return m == strlen(word) && strncmp(q, word, m) == 0;
}

/*
 * The header: the "-- kind: expand|contract" line (required) and a
 * "-- transaction: none" line among the file's leading comment lines
 * (blank lines allowed).  0, or -1 when there is no kind line.
 */
static int
read_header(struct bank_migration *m, const char *text, size_t len)
{
	const char *p = text, *end = text + len;
	bool kind = false;

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		size_t n = eol ? (size_t)(eol - p) : (size_t)(end - p), k;
		const char *q = p + 2;

		while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == ' ' ||
				 p[n - 1] == '\t'))
			n--;
		if (n > 0 && (n < 2 || p[0] != '-' || p[1] != '-'))
			break; /* the SQL began */
		for (k = n >= 2 ? n - 2 : 0; k > 0 && (*q == ' ' || *q == '\t');
		     k--)
			q++;
		if (header_is(q, k, "kind: expand")) {
			m->kind = BANK_EXPAND;
			kind = true;
		} else if (header_is(q, k, "kind: contract")) {
			m->kind = BANK_CONTRACT;
			kind = true;
		} else if (header_is(q, k, "transaction: none")) {
			m->no_transaction = true;
		}
		p = eol ? eol + 1 : end;
	}
	return kind ? 0 : -1;
}

int
bank_migrations_add(struct bank_migrations *s, const char *name,
		    const char *text, size_t len, struct err *err)
{
	unsigned char digest[HASH_SHA256_LEN];
	struct bank_migration m = { 0 }, *grown;
	size_t at;
	int rc;

	if (!migration_name(name, &m.version))
		return err_set(err, ERR_PARSE,
			       "'%.*s' is not a migration name "
			       "(NNN_name.sql: three digits from 001, then "
			       "lower-case letters, digits, '_')",
			       BANK_MIGRATION_NAME_MAX, name);
	if (len > BANK_MIGRATION_MAX_BYTES)
		return err_set(err, ERR_PARSE, "%s: larger than %d bytes", name,
			       BANK_MIGRATION_MAX_BYTES);
	if (memchr(text, '\0', len) != NULL)
		return err_set(err, ERR_PARSE, "%s: not a text file", name);
	if (read_header(&m, text, len) < 0)
		return err_set(err, ERR_PARSE,
			       "%s: no '-- kind: expand' or '-- kind: "
			       "contract' line before its SQL",
			       name);
	if (s->n == BANK_MIGRATIONS_MAX)
		return err_set(err, ERR_PARSE, "more than %d migrations",
			       BANK_MIGRATIONS_MAX);
	for (at = 0; at < s->n && s->m[at].version < m.version; at++)
		;
	if (at < s->n && s->m[at].version == m.version)
		return err_set(err, ERR_PARSE, "%s: version %03d is also %s",
			       name, m.version, s->m[at].name);
	if ((rc = hash_sha256_buf(digest, text, len, err)) < 0)
		return rc;
	hash_hex(m.sha256, digest, sizeof(digest));
	snprintf(m.name, sizeof(m.name), "%s", name);
	if ((m.sql = malloc(len + 1)) == NULL ||
	    (grown = realloc(s->m, (s->n + 1) * sizeof(*s->m))) == NULL) {
		free(m.sql);
		return err_set(err, ERR_NOMEM, "out of memory");
	}
	memcpy(m.sql, text, len);
	m.sql[len] = '\0';
	s->m = grown;
	memmove(&s->m[at + 1], &s->m[at], (s->n - at) * sizeof(*s->m));
	s->m[at] = m;
	s->n++;
	return 0;
}

int
bank_migrations_load(struct bank_migrations *s, const char *dir,
		     struct err *err)
{
	char path[PATH_MAX];
	struct dirent *de;
	int rc = 0, v;
	DIR *d;

	if ((d = opendir(dir)) == NULL)
		return err_set_errno(err, ERR_IO, errno,
				     "cannot open migrations folder '%s'", dir);
	while (rc == 0 && (de = readdir(d)) != NULL) {
		struct buf text;
		size_t n = strlen(de->d_name);

		if (n < 4 || strcmp(de->d_name + n - 4, ".sql") != 0)
			continue;
		if (!migration_name(de->d_name, &v)) {
			rc = err_set(err, ERR_PARSE,
				     "%s/%s: not a migration name "
				     "(NNN_name.sql)",
				     dir, de->d_name);
			break;
		}
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		buf_init(&text, BANK_MIGRATION_MAX_BYTES);
		if ((rc = fileio_read_all(&text, path, err)) == 0)
			rc = bank_migrations_add(s, de->d_name, text.data,
						 text.len, err);
		buf_release(&text);
	}
	closedir(d);
	if (rc == 0 && s->n == 0)
		rc = err_set(err, ERR_IO,
			     "no migrations (NNN_name.sql) in '%s'", dir);
	return rc;
}

void
bank_migrations_free(struct bank_migrations *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->m[i].sql);
	free(s->m);
	memset(s, 0, sizeof(*s));
}

static struct bank_migration *
find_version(struct bank_migrations *s, int64_t version)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->m[i].version == version)
			return &s->m[i];
	return NULL;
}

struct applied_rows {
	struct bank_migrations *s;
	struct err *err;
	int rc;
};

static int
applied_row(void *ctx, int ncols, const char *const *v)
{
	struct applied_rows *a = ctx;
	struct bank_migration *m;

	if (ncols < 4)
		return ERR_INTERNAL;
	if ((m = find_version(a->s, bank_col_int(v[0]))) == NULL) {
		a->s->unknown_applied++;
		return 0;
	}
	m->applied = true;
	bank_col(m->applied_at, sizeof(m->applied_at), v[2]);
	bank_col(m->deployment_id, sizeof(m->deployment_id), v[3]);
	if (a->rc == 0 && v[1] != NULL && v[1][0] != '\0' &&
	    strcmp(v[1], m->sha256) != 0)
		a->rc = err_set(a->err, ERR_BADSTATE,
				"%s was applied with sha256 %.12s... but the "
				"release's file hashes to %.12s...: an applied "
				"migration never changes; add a new one",
				m->name, v[1], m->sha256);
	return 0;
}

/* Reads schema_migrations (which exists, with every column) into s. */
static int
read_applied(struct bank_migrations *s, struct bank *b, struct err *err)
{
	struct applied_rows a = { s, err, 0 };
	int rc;

	s->unknown_applied = 0;
	for (size_t i = 0; i < s->n; i++) {
		s->m[i].applied = false;
		s->m[i].applied_at[0] = s->m[i].deployment_id[0] = '\0';
	}
	rc = bank_q(b, err, applied_row, &a,
		    b->kind == BANK_POSTGRESQL
			    ? "SELECT version, checksum, "
			      "to_char(applied_at AT TIME ZONE 'UTC', "
			      "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
			      "deployment_id FROM schema_migrations "
			      "ORDER BY version"
			    : "SELECT version, checksum, applied_at, "
			      "deployment_id FROM schema_migrations "
			      "ORDER BY version",
		    "");
	if (rc < 0)
		return BANK_FAIL(rc, err, "cannot read schema_migrations: ");
	return a.rc;
}

static json_t *
str_or_null(const char *v)
{
	return v != NULL ? json_string(v) : json_null();
}

static int
list_row(void *ctx, int ncols, const char *const *v)
{
	if (ncols < 6)
		return ERR_INTERNAL;
	json_array_append_new(
		ctx, json_pack("{s:I, s:o, s:o, s:o, s:o, s:o}", "version",
			       (json_int_t)bank_col_int(v[0]), "name",
			       str_or_null(v[1]), "kind", str_or_null(v[2]),
			       "checksum", str_or_null(v[3]), "applied_at",
			       str_or_null(v[4]), "deployment_id",
			       str_or_null(v[5])));
	return 0;
}

int
bank_migrations_list(json_t *out, struct bank *b, struct err *err)
{
	bool exists = false;
	int rc;

	/* an older table gets its columns; a missing one stays missing */
	if ((rc = b->be->has_migrations_table(b, &exists, err)) < 0 ||
	    !exists || (rc = b->be->migrations_table(b, err)) < 0)
		return rc;
	rc = bank_q(b, err, list_row, out,
		    b->kind == BANK_POSTGRESQL
			    ? "SELECT version, name, kind, checksum, "
			      "to_char(applied_at AT TIME ZONE 'UTC', "
			      "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
			      "deployment_id FROM schema_migrations "
			      "ORDER BY version"
			    : "SELECT version, name, kind, checksum, "
			      "applied_at, deployment_id FROM "
			      "schema_migrations ORDER BY version",
		    "");
	return rc < 0 ? BANK_FAIL(rc, err, "cannot read schema_migrations: ")
		      : 0;
}

int
bank_migrations_read(struct bank_migrations *s, struct bank *b, struct err *err)
{
	bool exists = false;
	int rc;

	for (size_t i = 0; i < s->n; i++)
		s->m[i].applied = false;
	if ((rc = b->be->has_migrations_table(b, &exists, err)) < 0 || !exists)
		return rc;
	if ((rc = read_applied(s, b, err)) != ERR_IO)
		return rc;
	/* a table from before checksums were kept: versions only */
	return bank_q(b, err, has_version, s,
		      "SELECT version FROM schema_migrations", "");
}

int
bank_migrations_check(struct bank_migrations *s, struct bank *b,
		      struct err *err)
{
	int rc;

	if ((rc = b->be->migrations_table(b, err)) < 0)
		return BANK_FAIL(rc, err, "schema_migrations: ");
	return read_applied(s, b, err);
}

/* Records a migration that ran (and adopts the checksum of one applied
 * before checksums were kept). */
static int
record(struct bank *b, const struct bank_migration *m,
       const struct bank_migrate_opts *o, struct err *err)
{
	return bank_q(b, err, NULL, NULL,
		      "INSERT INTO schema_migrations (version, name, kind, "
		      "checksum, deployment_id) VALUES ($1, $2, $3, $4, $5)",
		      "itttt", (int64_t)m->version, m->name,
		      bank_migration_kind_name(m->kind), m->sha256,
		      o->deployment_id);
}

static bool
chosen(const struct bank_migration *m, const struct bank_migrate_opts *o)
{
	return !m->applied &&
	       (m->kind == BANK_EXPAND ? o->expand : o->contract);
}

/* PostgreSQL's session for migrating: a migrator that dies mid-way is
 * noticed within a second (its transaction and the lock go with it), a
 * lock not had within lock_timeout is given up.  take false: undone. */
static int
pg_session(struct bank *b, const struct bank_migrate_opts *o, bool take,
	   struct err *err)
{
	char set[160];
	int n;

	if (b->kind != BANK_POSTGRESQL)
		return 0;
	if (!take)
		return b->be->script(
			b, "settings",
			"SELECT pg_advisory_unlock(7201207); RESET "
			"client_connection_check_interval; RESET "
			"lock_timeout",
			err);
	/* SET takes no parameters: the number is ours */
	n = snprintf(set, sizeof(set),
		     "SET client_connection_check_interval = 1000");
	if (o->lock_timeout_ms > 0)
		snprintf(set + n, sizeof(set) - (size_t)n,
			 "; SET lock_timeout = %d", o->lock_timeout_ms);
	return b->be->script(b, "settings", set, err);
}

/*
 * From s->m[*i]: a "transaction: none" migration alone, or the chosen
 * migrations up to the next such one in one transaction.  Advances *i.
 */
static int
apply_segment(struct bank_migrations *s, size_t *i, struct bank *b,
	      const struct bank_migrate_opts *o, int *count, struct err *err)
{
	struct bank_migration *m = &s->m[*i];
	bool alone = m->no_transaction && b->kind == BANK_POSTGRESQL;
	int rc;

	if (alone) {
		(*i)++;
		if ((rc = b->be->script(b, m->name, m->sql, err)) < 0 ||
		    (rc = record(b, m, o, err)) < 0)
			return rc;
		(*count)++;
		return 0;
	}
	if ((rc = bank_begin(b, err)) < 0)
		return rc;
	for (; *i < s->n; (*i)++) {
		m = &s->m[*i];
		if (!chosen(m, o))
			continue;
		if (m->no_transaction && b->kind == BANK_POSTGRESQL)
			break;
		if ((rc = b->be->script(b, m->name, m->sql, err)) < 0 ||
		    (rc = record(b, m, o, err)) < 0) {
			bank_rollback(b);
			return rc;
		}
		(*count)++;
	}
	if ((rc = bank_commit(b, err)) < 0)
		return BANK_FAIL(rc, err, "committing the migrations: ");
	return 0;
}

int
bank_migrations_apply(struct bank_migrations *s, struct bank *b,
		      const struct bank_migrate_opts *o, int *applied,
		      struct err *err)
{
	int rc, count = 0;

	if (applied != NULL)
		*applied = 0;
	if ((rc = b->be->migrations_table(b, err)) < 0)
		return BANK_FAIL(rc, err, "schema_migrations: ");
	if ((rc = pg_session(b, o, true, err)) < 0)
		return rc;
	if (b->kind == BANK_POSTGRESQL &&
	    (rc = bank_q(b, err, NULL, NULL, "SELECT pg_advisory_lock(7201207)",
			 "")) < 0)
		rc = BANK_FAIL(rc, err, "the migration lock: ");
	else if ((rc = read_applied(s, b, err)) == 0) {
		for (size_t i = 0; i < s->n && rc == 0;) {
			if (chosen(&s->m[i], o))
				rc = apply_segment(s, &i, b, o, &count, err);
			else
				i++;
		}
	}
	if (!b->be->lost(b))
		pg_session(b, o, false, NULL);
	if (applied != NULL)
		*applied = count;
	return rc < 0 ? rc : read_applied(s, b, err);
}

int
bank_migrate(struct bank *b, const char *dir, int *applied, struct err *err)
{
	struct bank_migrations s = { 0 };
	const struct bank_migrate_opts o = { .expand = true, .contract = true };
	int rc;

	if ((rc = bank_migrations_load(&s, dir, err)) == 0)
		rc = bank_migrations_apply(&s, b, &o, applied, err);
	bank_migrations_free(&s);
	return rc;
}

static int
has_version(void *ctx, int ncols, const char *const *v)
{
	struct bank_migrations *s = ctx;
	struct bank_migration *m;

	if (ncols < 1)
		return ERR_INTERNAL;
	if ((m = find_version(s, bank_col_int(v[0]))) != NULL)
		m->applied = true;
	return 0;
}

int
bank_pending(int *pending, bool *fresh, char *first, size_t size,
	     struct bank *b, const char *dir, struct err *err)
{
	struct bank_migrations s = { 0 };
	bool exists = false;
	int rc;

	*pending = 0;
	if (fresh != NULL)
		*fresh = false;
	if (first != NULL && size > 0)
		first[0] = '\0';
	if ((rc = bank_migrations_load(&s, dir, err)) < 0)
		goto out;
	if ((rc = b->be->has_migrations_table(b, &exists, err)) < 0)
		goto out;
	if (!exists && fresh != NULL)
		*fresh = true;
	if (exists &&
	    (rc = bank_q(b, err, has_version, &s,
			 "SELECT version FROM schema_migrations", "")) < 0)
		goto out;
	for (size_t i = 0; i < s.n; i++) {
		if (s.m[i].applied || s.m[i].kind != BANK_EXPAND)
			continue;
		if (*pending == 0 && first != NULL && size > 0)
			snprintf(first, size, "%s", s.m[i].name);
		(*pending)++;
	}
out:
	bank_migrations_free(&s);
	return rc;
}
