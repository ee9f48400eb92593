/*
 * db: see db.h.
 */
#include "db.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "fileio.h"
#include "hash.h"

#define RELEASE_JSON_MAX (4 * 1024 * 1024)
#define TOOL_ERR_MAX	 4096

static const char *
db_prefix(enum plan_db_backend backend)
{
	return backend == PLAN_DB_POSTGRESQL ? "share/db/postgresql/"
					     : "share/db/";
}

/* The file name when path is a migration directly under prefix. */
static const char *
migration_file(const char *path, const char *prefix)
{
	size_t n = strlen(prefix), len;

	if (strncmp(path, "./", 2) == 0)
		path += 2;
	if (strncmp(path, prefix, n) != 0 || strchr(path + n, '/') != NULL)
		return NULL;
	len = strlen(path + n);
	return len > 4 && strcmp(path + n + len - 4, ".sql") == 0 ? path + n
								  : NULL;
}

/* Checks the files read against release.json's list for the backend. */
static int
match_listing(const struct bank_migrations *s, json_t *release,
	      enum plan_db_backend backend, struct err *err)
{
	const char *name =
		backend == PLAN_DB_POSTGRESQL ? "postgresql" : "sqlite";
	json_t *list = json_object_get(json_object_get(release, "migrations"),
				       name),
	       *v;
	size_t i;

	if (!json_is_array(list))
		return err_set(err, ERR_PARSE,
			       "the artifact's release.json lists no %s "
			       "migrations (a release packaged before "
			       "migrations were listed?)",
			       name);
	if (json_array_size(list) != s->n)
		return err_set(err, ERR_PARSE,
			       "the artifact's release.json lists %zu %s "
			       "migrations, it holds %zu",
			       json_array_size(list), name, s->n);
	json_array_foreach (list, i, v) {
		const char *file =
			json_string_value(json_object_get(v, "name"));
		const char *kind =
			json_string_value(json_object_get(v, "kind"));
		const char *sha =
			json_string_value(json_object_get(v, "sha256"));
		const struct bank_migration *m = NULL;

		for (size_t k = 0; file != NULL && k < s->n; k++)
			if (strcmp(s->m[k].name, file) == 0)
				m = &s->m[k];
		if (m == NULL)
			return err_set(err, ERR_PARSE,
				       "the artifact's release.json lists "
				       "migration '%s', which it does not hold",
				       file ? file : "?");
		if (kind == NULL ||
		    strcmp(kind, bank_migration_kind_name(m->kind)) != 0)
			return err_set(err, ERR_PARSE,
				       "the artifact's release.json lists %s "
				       "as %s, its file says %s",
				       m->name, kind ? kind : "no kind",
				       bank_migration_kind_name(m->kind));
		if (sha == NULL || strcmp(sha, m->sha256) != 0)
			return err_set(err, ERR_PARSE,
				       "%s in the artifact does not match the "
				       "sha256 its release.json lists",
				       m->name);
	}
	return 0;
}

/* Reads the current entry's bytes into text (emptied first). */
static int
read_entry(struct buf *text, struct archive *a, const char *name,
	   struct err *err)
{
	char chunk[65536];
	ssize_t n;

	buf_reset(text);
	while ((n = archive_read_data(a, chunk, sizeof(chunk))) > 0)
		if (buf_append(text, chunk, (size_t)n, err) < 0)
			return err_set(err, ERR_PARSE,
				       "the artifact's %s is too large", name);
	if (n < 0)
		return err_set(err, ERR_IO, "cannot read the artifact: %s",
			       archive_error_string(a));
	return 0;
}

/* The artifact's release.json (*release) and migrations (out). */
static int
read_entries(struct bank_migrations *out, json_t **release, struct archive *a,
	     const char *prefix, struct err *err)
{
	struct archive_entry *e;
	struct buf text;
	int rc = 0, r;

	buf_init(&text, RELEASE_JSON_MAX);
	while (rc == 0 && (r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		const char *name = archive_entry_pathname(e);
		const char *file = migration_file(name, prefix);
		bool is_release = strcmp(name, "release.json") == 0 ||
				  strcmp(name, "./release.json") == 0;

		if ((!is_release && file == NULL) ||
		    archive_entry_filetype(e) != AE_IFREG ||
		    (rc = read_entry(&text, a, name, err)) < 0)
			continue;
		if (is_release) {
			json_decref(*release);
			*release = json_loadb(text.data ? text.data : "",
					      text.len, 0, NULL);
			if (*release == NULL)
				rc = err_set(err, ERR_PARSE,
					     "the artifact's release.json is "
					     "not JSON");
		} else {
			rc = bank_migrations_add(out, file,
						 text.data ? text.data : "",
						 text.len, err);
		}
	}
	if (rc == 0 && r != ARCHIVE_EOF)
		rc = err_set(err, ERR_IO, "cannot read the artifact: %s",
			     archive_error_string(a));
	buf_release(&text);
	return rc;
}

int
db_release_migrations(struct bank_migrations *out, const char *path,
		      enum plan_db_backend backend, struct err *err)
{
	struct archive *a = archive_read_new();
	json_t *release = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if (a == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	archive_read_support_filter_gzip(a);
	archive_read_support_format_tar(a);
	if (archive_read_open_filename(a, path, 65536) != ARCHIVE_OK)
		rc = err_set(err, ERR_IO, "cannot read the artifact '%s': %s",
			     path, archive_error_string(a));
	else if ((rc = read_entries(out, &release, a, db_prefix(backend),
				    err)) == 0 &&
		 release == NULL)
		rc = err_set(err, ERR_PARSE,
			     "the artifact has no release.json");
	if (rc == 0)
		rc = match_listing(out, release, backend, err);
	if (rc < 0)
		bank_migrations_free(out);
	json_decref(release);
	archive_read_free(a);
	return rc;
}

int
db_connect(struct bank **out, const struct plan *p, struct err *err)
{
	struct bank_config bc = {
		.backend = p->db.backend == PLAN_DB_POSTGRESQL ? BANK_POSTGRESQL
							       : BANK_SQLITE,
		.path = p->db.path,
		.busy_ms = (int)p->db.lock_timeout_ms,
		.conninfo = p->db.conninfo,
		.statement_timeout_ms = (int)p->db.statement_timeout_ms,
		.connect_timeout_ms = 5000,
	};
	if (p->db.backend == PLAN_DB_NONE)
		return err_set(err, ERR_INVAL,
			       "the plan has no 'database' section");
	return bank_connect(out, &bc, err);
}

/*
 * Runs argv (a PostgreSQL client tool) with the child's umask 077 and its
 * standard error kept in msg, killed at deadline_ms.  Returns 0 when it
 * exits 0; ERR_TIMEOUT; or ERR_IO "<tool> failed: <its last words>".
 */
/* In the child: argv with the umask 077, stdin and stdout on /dev/null,
 * stderr into the pipe.  Never returns. */
static void
exec_tool(const char *const argv[], int err_fd, pid_t parent)
{
	int null = open("/dev/null", O_RDWR);
	char *v[16];
	size_t i;

	/* exec wants char *: copies, in the child only */
	for (i = 0; i + 1 < sizeof(v) / sizeof(*v) && argv[i] != NULL; i++)
		v[i] = strdup(argv[i]);
	v[i] = NULL;
	/* a killed ivrctl takes its tool along: no orphan writes on (and
	 * one killed before this line is seen at once) */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
	umask(077);
	dup2(null, STDIN_FILENO);
	dup2(null, STDOUT_FILENO);
	dup2(err_fd, STDERR_FILENO);
	execvp(v[0], v);
	_exit(127); /* the parent says so */
}

/* How the tool ended, with its last words in msg (one line). */
static int
tool_result(const char *tool, int status, char *msg, size_t got,
	    struct err *err)
{
	while (got > 0 && (msg[got - 1] == '\n' || msg[got - 1] == ' '))
		msg[--got] = '\0';
	for (char *c = msg; *c != '\0'; c++)
		if (*c == '\n' || *c == '\t')
			*c = ' ';
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127 && got == 0)
		return err_set(err, ERR_IO,
			       "cannot run %s (is postgresql-client "
			       "installed?)",
			       tool);
	return err_set(err, ERR_IO, "%s failed (%s %d): %s", tool,
		       WIFEXITED(status) ? "exit" : "signal",
		       WIFEXITED(status) ? WEXITSTATUS(status)
					 : WTERMSIG(status),
		       msg[0] ? msg : "no message");
}

/*
 * Runs argv (a PostgreSQL client tool), its standard error kept in msg,
 * killed at deadline_ms.  Returns 0 when it exits 0; ERR_TIMEOUT; or
 * ERR_IO "<tool> failed: <its last words>".
 */
static int
run_tool(const char *const argv[], int64_t deadline_ms, char *msg, size_t size,
	 struct err *err)
{
	int pipefd[2], status = 0;
	pid_t pid, parent = getpid();
	size_t got = 0;

	msg[0] = '\0';
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return err_set_errno(err, ERR_IO, errno, "pipe");
	if ((pid = fork()) < 0) {
		close(pipefd[0]);
		close(pipefd[1]);
		return err_set_errno(err, ERR_IO, errno, "fork");
	}
	if (pid == 0)
		exec_tool(argv, pipefd[1], parent);
	close(pipefd[1]);
	fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
	for (;;) {
		ssize_t n;

		while (got + 1 < size &&
		       (n = read(pipefd[0], msg + got, size - 1 - got)) > 0)
			got += (size_t)n;
		msg[got] = '\0';
		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
		if (clock_now_ms() >= deadline_ms) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			close(pipefd[0]);
			return err_set(err, ERR_TIMEOUT,
				       "%s did not finish in time: stopped",
				       argv[0]);
		}
		clock_sleep_ms(20);
	}
	close(pipefd[0]);
	return tool_result(argv[0], status, msg, got, err);
}

/* The backups folder, made for its owner only when missing. */
static int
backups_dir(const struct plan *p, struct err *err)
{
	struct stat st;

	if (mkdir(p->db.backups, 0700) < 0 && errno != EEXIST)
		return err_set_errno(err, ERR_IO, errno,
				     "cannot make the backups folder '%s'",
				     p->db.backups);
	if (stat(p->db.backups, &st) < 0 || !S_ISDIR(st.st_mode))
		return err_set(err, ERR_IO, "'%s' is not a folder",
			       p->db.backups);
	/* backups hold every account and PIN hash */
	if ((st.st_mode & 077) != 0)
		return err_set(err, ERR_IO,
			       "the backups folder '%s' is open to others "
			       "(mode %03o): chmod 700 it",
			       p->db.backups, (unsigned)(st.st_mode & 0777));
	return 0;
}

static int
dump_pg(struct db_backup *out, const struct plan *p, struct bank *b,
	const char *part, int64_t deadline, struct err *err)
{
	char snapshot[128], arg_snap[160], arg_file[4300], msg[TOOL_ERR_MAX];
	size_t n = strlen(p->db.conninfo) + 16;
	char *arg_db = malloc(n);
	int rc;

	if (arg_db == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	snprintf(arg_db, n, "--dbname=%s", p->db.conninfo);
	if ((rc = bank_snapshot_begin(snapshot, sizeof(snapshot), b, err)) <
	    0) {
		free(arg_db);
		return rc;
	}
	snprintf(arg_snap, sizeof(arg_snap), "--snapshot=%s", snapshot);
	snprintf(arg_file, sizeof(arg_file), "--file=%s", part);
	{
		const char *const argv[] = {
			"pg_dump", "--format=custom", "--no-password",
			arg_snap,  arg_file,	      arg_db,
			NULL
		};

		if ((rc = bank_table_counts(&out->tables, b, err)) == 0)
			rc = run_tool(argv, deadline, msg, sizeof(msg), err);
	}
	bank_snapshot_end(b);
	free(arg_db);
	return rc;
}

static int
copy_sqlite(struct db_backup *out, struct bank *b, const char *part,
	    int64_t deadline, struct err *err)
{
	struct bank *copy = NULL;
	int rc;

	if ((rc = bank_sqlite_backup(b, part, deadline - clock_now_ms(), err)) <
		    0 ||
	    (rc = bank_open(&copy, part, 1000, err)) < 0)
		return rc;
	rc = bank_table_counts(&out->tables, copy, err);
	bank_close(copy);
	return rc;
}

int
db_backup(struct db_backup *out, const struct plan *p, struct bank *b,
	  const char *id, struct err *err)
{
	int64_t start = clock_now_ms(),
		deadline = start + p->db.backup_timeout_ms;
	unsigned char digest[HASH_SHA256_LEN];
	char part[4200];
	char dir[PATH_MAX];
	struct stat st;
	int rc;

	memset(out, 0, sizeof(*out));
	snprintf(out->id, sizeof(out->id), "%s", id);
	if ((rc = backups_dir(p, err)) < 0)
		return rc;
	/* the journal keeps an absolute path: restore may run elsewhere */
	if (realpath(p->db.backups, dir) == NULL)
		return err_set_errno(err, ERR_IO, errno, "'%s'", p->db.backups);
	if (snprintf(out->path, sizeof(out->path), "%s/%s.%s", dir, id,
		     p->db.backend == PLAN_DB_POSTGRESQL ? "dump" : "sqlite") >=
	    (int)sizeof(out->path))
		return err_set(err, ERR_OVERFLOW, "backup path too long");
	snprintf(part, sizeof(part), "%s.part", out->path);
	unlink(part); /* a killed run's leftover */
	if (p->db.backend == PLAN_DB_POSTGRESQL)
		rc = dump_pg(out, p, b, part, deadline, err);
	else
		rc = copy_sqlite(out, b, part, deadline, err);
	if (rc == 0 && chmod(part, 0600) < 0)
		rc = err_set_errno(err, ERR_IO, errno, "chmod '%s'", part);
	if (rc == 0) {
		int fd = open(part, O_RDONLY | O_CLOEXEC);

		if (fd < 0 || fsync(fd) < 0 || fstat(fd, &st) < 0)
			rc = err_set_errno(err, ERR_IO, errno, "'%s'", part);
		if (fd >= 0)
			close(fd);
	}
	if (rc == 0 && (rc = hash_sha256_file(digest, part, err)) == 0) {
		hash_hex(out->sha256, digest, sizeof(digest));
		out->size = (long long)st.st_size;
		if (rename(part, out->path) < 0)
			rc = err_set_errno(err, ERR_IO, errno,
					   "cannot rename '%s'", part);
		else
			rc = fileio_fsync_dir(p->db.backups, err);
	}
	if (rc < 0) {
		unlink(part);
		db_backup_release(out);
		return err_prefix(err, "backup: ");
	}
	out->took_ms = clock_now_ms() - start;
	return 0;
}

void
db_backup_release(struct db_backup *b)
{
	json_decref(b->tables);
	b->tables = NULL;
}

json_t *
db_backup_json(const struct db_backup *b)
{
	return json_pack("{s:s, s:s, s:I, s:s, s:o, s:I}", "backup", b->id,
			 "path", b->path, "size", (json_int_t)b->size, "sha256",
			 b->sha256, "tables",
			 b->tables ? json_incref(b->tables) : json_object(),
			 "duration_ms", (json_int_t)b->took_ms);
}

int
db_restore(const struct plan *p, const char *path, struct err *err)
{
	int64_t deadline = clock_now_ms() + p->db.backup_timeout_ms;
	char msg[TOOL_ERR_MAX];
	struct bank *copy = NULL;
	int rc;

	if (p->db.backend == PLAN_DB_SQLITE) {
		if ((rc = bank_open(&copy, path, 1000, err)) < 0)
			return rc;
		rc = bank_sqlite_backup(copy, p->db.path,
					deadline - clock_now_ms(), err);
		bank_close(copy);
		return rc < 0 ? err_prefix(err, "restore: ") : 0;
	}
	{
		size_t n = strlen(p->db.conninfo) + 16;
		char *arg_db = malloc(n);
		const char *const argv[] = { "pg_restore",
					     "--clean",
					     "--if-exists",
					     "--single-transaction",
					     "--exit-on-error",
					     "--no-password",
					     arg_db,
					     path,
					     NULL };

		if (arg_db == NULL)
			return err_set(err, ERR_NOMEM, "out of memory");
		snprintf(arg_db, n, "--dbname=%s", p->db.conninfo);
		rc = run_tool(argv, deadline, msg, sizeof(msg), err);
		free(arg_db);
	}
	return rc < 0 ? err_prefix(err, "restore: ") : 0;
}

/* Why a deploy would stop at the database check, into out ("" if not). */
static void
refusal(char *out, size_t size, const struct bank_migrations *s, int rc,
	const struct err *e)
{
	out[0] = '\0';
	if (rc == ERR_BADSTATE) {
		snprintf(out, size, "%s", e->msg);
		return;
	}
	for (size_t i = 0; i < s->n; i++) {
		if (!s->m[i].applied && s->m[i].kind == BANK_CONTRACT) {
			snprintf(out, size,
				 "contract migration %s is pending: refused "
				 "without --defer-contract",
				 s->m[i].name);
			return;
		}
	}
}

int
db_preview(json_t **out, const struct plan *p, const char *path,
	   struct err *err)
{
	struct bank_migrations s = { 0 };
	struct bank *b = NULL;
	json_t *pending = json_array();
	char why[ERR_MSG_MAX];
	size_t applied = 0;
	struct err e;
	int rc;

	*out = NULL;
	if ((rc = db_release_migrations(&s, path, p->db.backend, err)) < 0 ||
	    (rc = db_connect(&b, p, err)) < 0)
		goto done;
	rc = bank_migrations_read(&s, b, &e);
	if (rc < 0 && rc != ERR_BADSTATE) {
		*err = e;
		goto done;
	}
	refusal(why, sizeof(why), &s, rc, &e);
	for (size_t i = 0; i < s.n; i++) {
		applied += s.m[i].applied;
		if (!s.m[i].applied)
			json_array_append_new(
				pending,
				json_pack("{s:s, s:s, s:s}", "name",
					  s.m[i].name, "kind",
					  bank_migration_kind_name(s.m[i].kind),
					  "sha256", s.m[i].sha256));
	}
	*out = json_pack(
		"{s:s, s:s, s:I, s:O, s:s?}", "backend",
		p->db.backend == PLAN_DB_POSTGRESQL ? "postgresql" : "sqlite",
		"backups", p->db.backups, "applied", (json_int_t)applied,
		"pending", pending, "refusal", why[0] ? why : NULL);
	rc = 0;
done:
	json_decref(pending);
	bank_close(b);
	bank_migrations_free(&s);
	return rc;
}
