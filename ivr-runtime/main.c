/*
 * ivr-runtime: the banking IVR application server.
 *
 *   ivr-runtime [serve] [--config FILE] [flags]   run the server
 *   ivr-runtime check [--config FILE] [flags]     check config and flows
 *   ivr-runtime migrate [--config FILE] [--kind K] [flags]   apply migrations
 *   ivr-runtime seed --db FILE --customers N --seed S --credentials-out F
 *
 * Exit codes: 0 done (also after a graceful drain), 1 a runtime failure,
 * 2 bad input (arguments, config, flows).
 */
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "bank.h"
#include "buf.h"
#include "config.h"
#include "fileio.h"
#include "flow.h"
#include "http.h"
#include "tls.h"
#include "log.h"
#include "parse.h"

#ifndef IVR_VERSION
#define IVR_VERSION "0.0.0"
#endif

#define EXIT_FAIL      1
#define EXIT_BAD_INPUT 2
#define TICK_MS	       100

enum opt {
	OPT_CONFIG = 256,
	OPT_LISTEN,
	OPT_PORT,
	OPT_DB,
	OPT_CONNINFO,
	OPT_FLOWS,
	OPT_MIGRATIONS,
	OPT_MAX_CALLS,
	OPT_DRAIN_DEADLINE,
	OPT_IDLE_TIMEOUT,
	OPT_THREADS,
	OPT_LOG_FILE,
	OPT_LOG_LEVEL,
	OPT_LOG_FORMAT,
	OPT_ADMIN_TOKEN_FILE,
	OPT_CUSTOMERS,
	OPT_SEED,
	OPT_CREDENTIALS_OUT,
	OPT_KDF_ITERATIONS,
	OPT_KIND,
	OPT_DEPLOYMENT_ID,
	OPT_HELP,
	OPT_VERSION,
};

static const struct option options[] = {
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "listen", required_argument, NULL, OPT_LISTEN },
	{ "port", required_argument, NULL, OPT_PORT },
	{ "db", required_argument, NULL, OPT_DB },
	{ "conninfo", required_argument, NULL, OPT_CONNINFO },
	{ "flows", required_argument, NULL, OPT_FLOWS },
	{ "migrations", required_argument, NULL, OPT_MIGRATIONS },
	{ "max-calls", required_argument, NULL, OPT_MAX_CALLS },
	{ "drain-deadline", required_argument, NULL, OPT_DRAIN_DEADLINE },
	{ "idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT },
	{ "threads", required_argument, NULL, OPT_THREADS },
	{ "log-file", required_argument, NULL, OPT_LOG_FILE },
	{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
	{ "log-format", required_argument, NULL, OPT_LOG_FORMAT },
	{ "admin-token-file", required_argument, NULL, OPT_ADMIN_TOKEN_FILE },
	{ "customers", required_argument, NULL, OPT_CUSTOMERS },
	{ "seed", required_argument, NULL, OPT_SEED },
	{ "credentials-out", required_argument, NULL, OPT_CREDENTIALS_OUT },
	{ "kdf-iterations", required_argument, NULL, OPT_KDF_ITERATIONS },
	{ "kind", required_argument, NULL, OPT_KIND },
	{ "deployment-id", required_argument, NULL, OPT_DEPLOYMENT_ID },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

static const char usage[] =
	"usage: ivr-runtime [serve|check|migrate] [options]\n"
	"       ivr-runtime seed --db FILE --customers N --seed S "
	"--credentials-out FILE\n"
	"\n"
	"serve (the default) runs the banking IVR server; check loads the\n"
	"config and the call flows and exits 0 when they are sound, 2 if not.\n"
	"migrate applies the release's pending schema migrations of one kind\n"
	"(--kind expand, the default; contract; or all) in one transaction\n"
	"(on PostgreSQL, as the migration role: the runtime's cannot change\n"
	"tables).  serve never migrates an existing database: it refuses to\n"
	"start while an expand migration of its release is missing.\n"
	"seed fills a new database with deterministic demo customers and\n"
	"writes their account numbers and PINs to a JSON file (test data).\n"
	"\n"
	"Options (each overrides the config file):\n"
	"  --config FILE            runtime.yaml to read\n"
	"  --listen ADDRESS         address to listen on (127.0.0.1)\n"
	"  --port N                 TCP port (8080)\n"
	"  --db FILE                SQLite database (bank.db)\n"
	"  --conninfo 'K=V ...'     PostgreSQL: libpq settings added to the\n"
	"                           config's (user=, passfile=, ...)\n"
	"  --flows FILE             call-flow file (share/flows/banking.yaml)\n"
	"  --migrations DIR         SQL migrations (share/db)\n"
	"  --max-calls N            calls at once before 503 (1000)\n"
	"  --drain-deadline D       how long SIGTERM waits for calls (60s)\n"
	"  --idle-timeout D         reap calls silent this long (2m)\n"
	"  --threads N              HTTP threads (8)\n"
	"  --log-file FILE          log here instead of standard error\n"
	"  --log-level LEVEL        debug, info, warn or error (info)\n"
	"  --log-format FORMAT      text or json (text)\n"
	"  --admin-token-file FILE  enables POST /admin/drain with its token\n"
	"Migrate options:\n"
	"  --kind expand|contract|all  which migrations (expand)\n"
	"  --deployment-id ID       recorded with each migration applied\n"
	"Seed options:\n"
	"  --customers N  --seed S  --credentials-out FILE\n"
	"  --kdf-iterations N       PBKDF2 iterations per PIN (100000)\n"
	"  --help, --version\n";

struct ctx {
	struct config cfg;
	struct log log;
	const char *command;
	const char *config_path;
	char root[PATH_MAX];
	char version[64];
	char build_id[64];
	int fault_step_every; /* release.json's test faults (config.h) */
	int fault_after_s;
	bool fault_login;
	/* seed */
	int customers;
	int64_t seed;
	int kdf_iterations;
	const char *credentials_out;
	/* migrate */
	const char *kind;
	const char *deployment_id;
};

/* The release folder: the parent of the folder holding this binary. */
static void
find_root(char *root, size_t size)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n <= 0) {
		snprintf(root, size, ".");
		return;
	}
	exe[n] = '\0';
	snprintf(root, size, "%s", dirname(dirname(exe)));
}

/* A test release's faults: release.json's "faults" (config.h). */
static void
read_faults(struct ctx *x, const json_t *f)
{
	json_int_t every =
		json_integer_value(json_object_get(f, "step_error_every"));
	json_int_t after =
		json_integer_value(json_object_get(f, "after_seconds"));
	const char *login = json_string_value(json_object_get(f, "login"));

	if (every > 0 && every <= 1000000)
		x->fault_step_every = (int)every;
	if (after > 0 && after <= 86400)
		x->fault_after_s = (int)after;
	x->fault_login = login != NULL && strcmp(login, "refused") == 0;
}

/* Version, build id and test faults from <root>/release.json, else
 * built in. */
static void
read_release(struct ctx *x)
{
	char path[PATH_MAX + 16];
	json_t *r;

	snprintf(x->version, sizeof(x->version), "%s", IVR_VERSION);
	snprintf(x->build_id, sizeof(x->build_id), "dev");
	snprintf(path, sizeof(path), "%s/release.json", x->root);
	if ((r = json_load_file(path, 0, NULL)) == NULL)
		return;
	if (json_is_string(json_object_get(r, "version")))
		snprintf(x->version, sizeof(x->version), "%s",
			 json_string_value(json_object_get(r, "version")));
	if (json_is_string(json_object_get(r, "build_id")))
		snprintf(x->build_id, sizeof(x->build_id), "%s",
			 json_string_value(json_object_get(r, "build_id")));
	read_faults(x, json_object_get(r, "faults"));
	json_decref(r);
}

/* Flags as given, applied after the config file so that they win. */
struct flag {
	int opt;
	const char *arg;
};

#define FLAGS_MAX 64

static int
bad_flag(const char *name, const struct err *e)
{
	fprintf(stderr, "ivr-runtime: --%s: %s\n", name, e->msg);
	return -1;
}

static int
flag_int(int *out, const char *name, const char *arg, int64_t min, int64_t max)
{
	struct err e;
	int64_t v;

	if (parse_int64(&v, arg, min, max, &e) < 0)
		return bad_flag(name, &e);
	*out = (int)v;
	return 0;
}

static int
flag_duration(int64_t *out, const char *name, const char *arg)
{
	struct err e;

	if (parse_duration_ms(out, arg, 0, 24 * 3600 * 1000LL, &e) < 0)
		return bad_flag(name, &e);
	return 0;
}

static int
apply_flag(struct ctx *x, const struct flag *f)
{
	struct config *c = &x->cfg;
	struct err e;

	switch (f->opt) {
	case OPT_LISTEN:
		return config_set_str(&c->listen_address, f->arg, NULL);
	case OPT_PORT:
		return flag_int(&c->port, "port", f->arg, 1, 65535);
	case OPT_DB:
		return config_set_str(&c->db_path, f->arg, NULL);
	case OPT_CONNINFO:
		return config_use_conninfo(c, f->arg, &e) < 0
			       ? bad_flag("conninfo", &e)
			       : 0;
	case OPT_FLOWS:
		return config_set_str(&c->flows_path, f->arg, NULL);
	case OPT_MIGRATIONS:
		return config_set_str(&c->migrations_dir, f->arg, NULL);
	case OPT_MAX_CALLS:
		return flag_int(&c->max_calls, "max-calls", f->arg, 1, 1000000);
	case OPT_THREADS:
		return flag_int(&c->threads, "threads", f->arg, 1, 256);
	case OPT_DRAIN_DEADLINE:
		return flag_duration(&c->drain_ms, "drain-deadline", f->arg);
	case OPT_IDLE_TIMEOUT:
		return flag_duration(&c->idle_ms, "idle-timeout", f->arg);
	case OPT_LOG_FILE:
		return config_set_str(&c->log_file, f->arg, NULL);
	case OPT_LOG_LEVEL:
		return log_level_parse(&c->log_level, f->arg, &e) < 0
			       ? bad_flag("log-level", &e)
			       : 0;
	case OPT_LOG_FORMAT:
		return log_format_parse(&c->log_format, f->arg, &e) < 0
			       ? bad_flag("log-format", &e)
			       : 0;
	case OPT_ADMIN_TOKEN_FILE:
		return config_set_str(&c->admin_token_file, f->arg, NULL);
	default:
		return 0;
	}
}

static int
seed_flag(struct ctx *x, int opt, const char *arg)
{
	struct err e;
	int64_t v;

	switch (opt) {
	case OPT_CUSTOMERS:
		return flag_int(&x->customers, "customers", arg, 1, 1000000);
	case OPT_SEED:
		if (parse_int64(&v, arg, 0, INT64_MAX, &e) < 0)
			return bad_flag("seed", &e);
		x->seed = v;
		return 0;
	case OPT_KDF_ITERATIONS:
		return flag_int(&x->kdf_iterations, "kdf-iterations", arg, 1000,
				10000000);
	case OPT_CREDENTIALS_OUT:
		x->credentials_out = arg;
		return 0;
	case OPT_KIND:
		if (strcmp(arg, "expand") != 0 &&
		    strcmp(arg, "contract") != 0 && strcmp(arg, "all") != 0) {
			fprintf(stderr,
				"ivr-runtime: --kind: '%s' is not "
				"expand, contract or all\n",
				arg);
			return -1;
		}
		x->kind = arg;
		return 0;
	case OPT_DEPLOYMENT_ID:
		if (strlen(arg) >= BANK_DEPLOYMENT_ID_MAX) {
			fprintf(stderr,
				"ivr-runtime: --deployment-id: longer "
				"than %d bytes\n",
				BANK_DEPLOYMENT_ID_MAX - 1);
			return -1;
		}
		x->deployment_id = arg;
		return 0;
	default:
		return 1;
	}
}

/* Parses argv; returns -1 on bad input, 1 when --help/--version ran. */
static int
parse_args(struct ctx *x, struct flag *flags, size_t *nflags, int argc,
	   char **argv)
{
	int opt, rc;

	x->command = "serve";
	if (argc > 1 && argv[1][0] != '-') {
		x->command = argv[1];
		argc--;
		argv++;
	}
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		if (opt == OPT_HELP) {
			fputs(usage, stdout);
			return 1;
		}
		if (opt == OPT_VERSION) {
			printf("ivr-runtime %s (build %s)\n", x->version,
			       x->build_id);
			return 1;
		}
		if (opt == '?')
			return -1;
		if (opt == OPT_CONFIG) {
			x->config_path = optarg;
			continue;
		}
		if ((rc = seed_flag(x, opt, optarg)) < 0)
			return -1;
		if (rc == 0)
			continue;
		if (*nflags == FLAGS_MAX) {
			fprintf(stderr, "ivr-runtime: too many options\n");
			return -1;
		}
		flags[(*nflags)++] = (struct flag){ opt, optarg };
	}
	if (optind < argc) {
		fprintf(stderr, "ivr-runtime: unexpected argument '%s'\n",
			argv[optind]);
		return -1;
	}
	return 0;
}

/* Prints the collected problems of a file to standard error. */
static void
print_diags(struct diag_list *d)
{
	struct buf b;

	buf_init(&b, 1024 * 1024);
	if (diag_format(&b, d, NULL) == 0)
		fputs(buf_cstr(&b), stderr);
	buf_release(&b);
}

/* Reports why a file did not load: its problems, else the error. */
static void
report_load(struct diag_list *d, const struct err *e)
{
	if (diag_total(d) > 0)
		print_diags(d);
	else
		fprintf(stderr, "ivr-runtime: %s\n", e->msg);
}

/* Defaults, then the config file, then the flags.  Exit code or 0. */
static int
load_config(struct ctx *x, const struct flag *flags, size_t nflags)
{
	struct diag_list d;
	struct err e;
	int rc = 0;

	if (config_defaults(&x->cfg, x->root, &e) < 0) {
		fprintf(stderr, "ivr-runtime: %s\n", e.msg);
		return EXIT_FAIL;
	}
	diag_list_init(&d, 100);
	if (x->config_path != NULL &&
	    config_load(&x->cfg, x->config_path, &d, &e) < 0) {
		report_load(&d, &e);
		rc = EXIT_BAD_INPUT;
	}
	diag_list_release(&d);
	/* --migrations after the rest: --conninfo moves the default */
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < nflags && rc == 0; i++)
			if ((flags[i].opt == OPT_MIGRATIONS) == (pass == 1) &&
			    apply_flag(x, &flags[i]) < 0)
				rc = EXIT_BAD_INPUT;
	return rc;
}

static int
load_flows(struct flow **flow, const struct ctx *x)
{
	struct diag_list d;
	struct err e;
	int rc = 0;

	diag_list_init(&d, 100);
	if (flow_load(flow, x->cfg.flows_path, &d, &e) < 0) {
		report_load(&d, &e);
		rc = EXIT_BAD_INPUT;
	}
	diag_list_release(&d);
	return rc;
}

static int
cmd_check(struct ctx *x)
{
	struct flow *flow = NULL;
	struct tls_files tls;
	struct err e;
	int rc = load_flows(&flow, x);

	if (rc == 0)
		printf("%s: %zu nodes, sound\n", x->cfg.flows_path,
		       flow->count);
	if (rc == 0 && (config_check_listen(&x->cfg, &e) < 0 ||
			(x->cfg.tls_cert != NULL &&
			 tls_load(&tls, x->cfg.tls_cert, x->cfg.tls_key,
				  x->cfg.tls_client_ca, &e) < 0))) {
		fprintf(stderr, "ivr-runtime: %s\n", e.msg);
		rc = EXIT_BAD_INPUT;
	} else if (rc == 0 && x->cfg.tls_cert != NULL) {
		printf("%s: %s, expires %s", x->cfg.tls_cert, tls.subject,
		       asctime(gmtime(&tls.not_after)));
		tls_release(&tls);
	}
	flow_free(flow);
	return rc;
}

static int
write_credentials(const char *path, json_t *cred, struct err *err)
{
	char *text = json_dumps(cred, JSON_INDENT(2));
	int rc;

	if (text == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	rc = fileio_write_atomic(path, text, strlen(text), 0600, err);
	free(text);
	return rc;
}

/* Where the bank is, for messages: a file, or PostgreSQL's settings. */
static const char *
db_where(const struct ctx *x)
{
	return x->cfg.db_backend == BANK_POSTGRESQL ? x->cfg.db_conninfo
						    : x->cfg.db_path;
}

static int
cmd_seed(struct ctx *x)
{
	struct bank_config bc;
	struct bank *b = NULL;
	json_t *cred = NULL;
	struct err e;
	int rc = EXIT_FAIL;

	if (x->customers == 0 || x->credentials_out == NULL) {
		fprintf(stderr, "ivr-runtime: seed needs --customers N and "
				"--credentials-out FILE\n");
		return EXIT_BAD_INPUT;
	}
	config_bank(&bc, &x->cfg);
	if (bank_connect(&b, &bc, &e) < 0 ||
	    bank_migrate(b, x->cfg.migrations_dir, NULL, &e) < 0 ||
	    bank_seed(&cred, b, x->customers, (uint64_t)x->seed,
		      x->kdf_iterations, &e) < 0 ||
	    write_credentials(x->credentials_out, cred, &e) < 0) {
		fprintf(stderr, "ivr-runtime: seed: %s\n", e.msg);
		goto out;
	}
	printf("seeded %d customers into '%s' (total %lld cents); "
	       "credentials in '%s'\n",
	       x->customers, db_where(x),
	       (long long)json_integer_value(
		       json_object_get(cred, "total_cents")),
	       x->credentials_out);
	rc = 0;
out:
	json_decref(cred);
	bank_close(b);
	return rc;
}

static int
read_token(char *out, size_t size, const char *path, struct err *err)
{
	struct buf b;
	size_t n;

	buf_init(&b, size - 1);
	if (fileio_read_all(&b, path, err) < 0) {
		buf_release(&b);
		return err_prefix(err, "admin token: ");
	}
	n = b.len;
	while (n > 0 && (b.data[n - 1] == '\n' || b.data[n - 1] == '\r' ||
			 b.data[n - 1] == ' '))
		n--;
	if (n < 16) {
		buf_wipe(&b);
		buf_release(&b);
		return err_set(err, ERR_INVAL,
			       "admin token in '%s' is shorter than 16 "
			       "characters",
			       path);
	}
	memcpy(out, b.data, n);
	out[n] = '\0';
	buf_wipe(&b);
	buf_release(&b);
	return 0;
}

static int
open_log(struct ctx *x)
{
	struct err e;

	log_init(&x->log, "runtime", STDERR_FILENO);
	x->log.level = x->cfg.log_level;
	x->log.format = x->cfg.log_format;
	if (x->cfg.log_file != NULL &&
	    log_open_file(&x->log, x->cfg.log_file, &e) < 0) {
		fprintf(stderr, "ivr-runtime: %s\n", e.msg);
		return EXIT_BAD_INPUT;
	}
	return 0;
}

/*
 * Checks that the database holds every expand migration of this release;
 * a runtime never changes an existing schema (ivrctl's database step or
 * `ivr-runtime migrate` does).  A new SQLite file is the one exception: the
 * runtime owns it and makes the bank there.
 */
static int
prepare_db(struct ctx *x, struct err *err)
{
	struct bank_config bc;
	struct bank *b = NULL;
	char first[256];
	int applied = 0, pending = 0, rc;
	bool fresh = false;

	config_bank(&bc, &x->cfg);
	if ((rc = bank_connect(&b, &bc, err)) < 0)
		return rc;
	rc = bank_pending(&pending, &fresh, first, sizeof(first), b,
			  x->cfg.migrations_dir, err);
	if (rc == 0 && fresh && x->cfg.db_backend == BANK_SQLITE)
		rc = bank_migrate(b, x->cfg.migrations_dir, &applied, err);
	else if (rc == 0 && fresh)
		rc = err_set(err, ERR_BADSTATE,
			     "the database holds no bank schema yet: apply "
			     "this release's migrations first (ivrctl "
			     "deploy's database step, or `ivr-runtime "
			     "migrate` as the migration role)");
	else if (rc == 0 && pending > 0)
		rc = err_set(err, ERR_BADSTATE,
			     "the database schema is older than this release "
			     "needs: %d expand migration(s) missing, first %s; "
			     "apply them first (ivrctl deploy's database "
			     "step, or `ivr-runtime migrate`%s)",
			     pending, first,
			     x->cfg.db_backend == BANK_POSTGRESQL
				     ? " as the migration role"
				     : "");
	if (rc == 0)
		log_kv(&x->log, LOG_LEVEL_INFO, "database ready",
		       LOG_STR("backend", bank_backend_name(x->cfg.db_backend)),
		       LOG_STR("where", db_where(x)),
		       LOG_INT("migrations_applied", applied));
	bank_close(b);
	return rc;
}

static int
cmd_migrate(struct ctx *x)
{
	struct bank_migrations s = { 0 };
	struct bank_migrate_opts o = { .deployment_id = x->deployment_id };
	const char *kind = x->kind ? x->kind : "expand";
	struct bank_config bc;
	struct bank *b = NULL;
	int applied = 0, rc = 0;
	struct err e;

	o.expand = strcmp(kind, "contract") != 0;
	o.contract = strcmp(kind, "expand") != 0;
	config_bank(&bc, &x->cfg);
	if (bank_migrations_load(&s, x->cfg.migrations_dir, &e) < 0 ||
	    bank_connect(&b, &bc, &e) < 0 ||
	    bank_migrations_apply(&s, b, &o, &applied, &e) < 0) {
		fprintf(stderr, "ivr-runtime: migrate: %s\n", e.msg);
		rc = EXIT_FAIL;
	} else {
		for (size_t i = 0; i < s.n; i++) {
			const struct bank_migration *m = &s.m[i];

			printf("%s %-8s %s\n", m->name,
			       bank_migration_kind_name(m->kind),
			       m->applied ? m->applied_at : "pending");
		}
		printf("applied %d %s migration(s) from '%s' to %s\n", applied,
		       kind, x->cfg.migrations_dir, db_where(x));
	}
	bank_migrations_free(&s);
	bank_close(b);
	return rc;
}

/* Reaps idle calls; during a drain, ends the loop when it is over. */
static bool
tick(struct ctx *x, struct http_server *srv, int64_t *deadline, unsigned *cut)
{
	unsigned idle = 0, overlong = 0;
	int64_t now = calls_now_ms();

	http_sweep(srv, now);
	calls_reap(&srv->calls, now, x->cfg.idle_ms, x->cfg.max_call_ms, false,
		   &idle, &overlong);
	for (unsigned i = 0; i < idle; i++)
		metrics_call_ended(&srv->metrics, METRICS_CALL_ABANDONED);
	for (unsigned i = 0; i < overlong; i++)
		metrics_call_ended(&srv->metrics, METRICS_CALL_TIMEOUT);
	if (!http_draining(srv))
		return true;
	if (*deadline == 0) {
		*deadline = now + x->cfg.drain_ms;
		log_kv(&x->log, LOG_LEVEL_INFO, "draining",
		       LOG_INT("active_calls", calls_active(&srv->calls)),
		       LOG_INT("deadline_ms", x->cfg.drain_ms));
		/* Under systemd (Type=notify): the stop has begun. */
		sd_notifyf(0, "STOPPING=1\nSTATUS=draining %u call(s)",
			   calls_active(&srv->calls));
	}
	if (calls_active(&srv->calls) == 0)
		return false;
	if (now < *deadline)
		return true;
	calls_reap(&srv->calls, now, 0, 0, true, cut, &overlong);
	for (unsigned i = 0; i < *cut; i++)
		metrics_call_ended(&srv->metrics, METRICS_CALL_CUT);
	return false;
}

static void
run_until_drained(struct ctx *x, struct http_server *srv,
		  const sigset_t *signals)
{
	struct timespec wait = { 0, TICK_MS * 1000000L };
	int64_t deadline = 0;
	unsigned cut = 0;
	int sig;

	for (;;) {
		sig = sigtimedwait(signals, NULL, &wait);
		if (sig == SIGTERM || sig == SIGINT) {
			if (!http_draining(srv))
				log_kv(&x->log, LOG_LEVEL_INFO,
				       "signal: stop taking calls",
				       LOG_STR("signal", sig == SIGTERM
								 ? "SIGTERM"
								 : "SIGINT"));
			http_drain(srv);
		}
		if (!tick(x, srv, &deadline, &cut))
			break;
	}
	log_kv(&x->log, cut ? LOG_LEVEL_WARN : LOG_LEVEL_INFO,
	       "drained: stopping", LOG_INT("calls_cut", cut));
}

static int
cmd_serve(struct ctx *x)
{
	char token[HTTP_TOKEN_MAX] = "";
	struct http_server srv;
	struct flow *flow = NULL;
	sigset_t signals;
	struct err e;
	int rc;

	if ((rc = open_log(x)) != 0 || (rc = load_flows(&flow, x)) != 0)
		return rc;
	if (x->cfg.admin_token_file != NULL &&
	    read_token(token, sizeof(token), x->cfg.admin_token_file, &e) < 0)
		goto bad;
	if (prepare_db(x, &e) < 0)
		goto fail;
	sigemptyset(&signals);
	sigaddset(&signals, SIGTERM);
	sigaddset(&signals, SIGINT);
	pthread_sigmask(SIG_BLOCK, &signals, NULL); /* inherited by threads */
	signal(SIGPIPE, SIG_IGN);
	if (http_start(&srv, &x->cfg, flow, &x->log, x->version, x->build_id,
		       token, &e) < 0)
		goto fail;
	explicit_bzero(token, sizeof(token));
	if (x->cfg.fault_step_every > 0 || x->cfg.fault_login)
		log_kv(&x->log, LOG_LEVEL_WARN,
		       "TEST RELEASE: faults injected (release.json)",
		       LOG_INT("step_error_every", x->cfg.fault_step_every),
		       LOG_INT("after_seconds", x->cfg.fault_after_s),
		       LOG_BOOL("login_refused", x->cfg.fault_login));
	log_kv(&x->log, LOG_LEVEL_INFO, "listening",
	       LOG_STR("address", x->cfg.listen_address),
	       LOG_INT("port", x->cfg.port),
	       LOG_STR("scheme", srv.tls.cert ? "https" : "http"),
	       LOG_STR("certificate", srv.tls.subject),
	       LOG_INT("certificate_expires", (int64_t)srv.tls.not_after),
	       LOG_STR("version", x->version),
	       LOG_INT("max_calls", x->cfg.max_calls));
	/* Under systemd (Type=notify): listening, database checked. */
	if ((rc = sd_notifyf(0,
			     "READY=1\nSTATUS=taking calls: version %s on "
			     "%s:%d",
			     x->version, x->cfg.listen_address, x->cfg.port)) <
	    0)
		log_kv(&x->log, LOG_LEVEL_WARN,
		       "cannot tell systemd the runtime is ready",
		       LOG_STR("error", strerror(-rc)));
	run_until_drained(x, &srv, &signals);
	http_stop(&srv);
	flow_free(flow);
	return 0;
bad:
	rc = EXIT_BAD_INPUT;
	goto out;
fail:
	rc = EXIT_FAIL;
out:
	log_kv(&x->log, LOG_LEVEL_ERROR, "cannot start",
	       LOG_STR("error", e.msg));
	flow_free(flow);
	return rc;
}

/* listen.max_connections (up to 65536) needs as many descriptors, and the
 * usual soft limit is 1024: take what the hard limit allows. */
static void
raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	rl.rlim_cur = rl.rlim_max < 70000 ? rl.rlim_max : 70000;
	(void)setrlimit(RLIMIT_NOFILE, &rl);
}

int
main(int argc, char **argv)
{
	static struct flag flags[FLAGS_MAX];
	struct ctx x = { .kdf_iterations = 100000 };
	size_t nflags = 0;
	int rc;

	/* Every file the runtime makes (the bank, its -wal and -shm, the
	 * credentials of seed) holds secrets or money: its owner's only. */
	umask(077);
	raise_fd_limit();
	find_root(x.root, sizeof(x.root));
	read_release(&x);
	rc = parse_args(&x, flags, &nflags, argc, argv);
	if (rc != 0)
		return rc > 0 ? 0 : EXIT_BAD_INPUT;
	if ((rc = load_config(&x, flags, nflags)) != 0)
		goto out;
	x.cfg.fault_step_every = x.fault_step_every;
	x.cfg.fault_after_s = x.fault_after_s;
	x.cfg.fault_login = x.fault_login;
	if (strcmp(x.command, "serve") == 0)
		rc = cmd_serve(&x);
	else if (strcmp(x.command, "check") == 0)
		rc = cmd_check(&x);
	else if (strcmp(x.command, "seed") == 0)
		rc = cmd_seed(&x);
	else if (strcmp(x.command, "migrate") == 0)
		rc = cmd_migrate(&x);
	else {
		fprintf(stderr,
			"ivr-runtime: unknown command '%s' (serve, "
			"check, migrate or seed; see --help)\n",
			x.command);
		rc = EXIT_BAD_INPUT;
	}
out:
	log_close(&x.log);
	config_release(&x.cfg);
	return rc;
}
