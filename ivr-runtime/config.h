/*
 * config: the runtime's settings, from built-in defaults, then a YAML file
 * (runtime.yaml), then command-line flags (applied by main).  A bad file is
 * reported as path:line:col for every problem at once.
 *
 *   listen:    { address, port, threads, max_connections,
 *                max_connections_per_client, max_body_bytes,
 *                connection_timeout, request_deadline,
 *                tls: { cert, key, client_ca } }
 *   database:  { backend: sqlite | postgresql, migrations,
 *                sqlite: path, busy_timeout;
 *                postgresql: conninfo, host, port, dbname, user,
 *                password_file, sslmode, sslrootcert, pool_size,
 *                statement_timeout, connect_timeout }
 *   flows:     path of the call-flow file
 *   calls:     { max_concurrent, idle_timeout, max_duration, agent_uri,
 *                affinity_cookie }
 *   timeouts:  { first_digit, inter_digit }
 *   retries:   { noinput, nomatch, pin_attempts }
 *   drain:     { deadline }
 *   log:       { file, level, format }
 *   admin:     { token_file }
 *
 * Relative paths in the file are taken from the file's folder.
 */
#ifndef IVR_RUNTIME_CONFIG_H
#define IVR_RUNTIME_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bank.h"
#include "diag.h"
#include "err.h"
#include "log.h"

struct config {
	char *listen_address;
	char *tls_cert;	     /* PEM chain; NULL: plain HTTP (loopback only) */
	char *tls_key;	     /* PEM key, mode 0600 */
	char *tls_client_ca; /* PEM: clients must show a cert it signed */
	int port;
	int threads;
	int max_connections;
	int max_connections_per_client; /* from one address */
	int64_t max_body_bytes;
	int64_t connection_timeout_ms;
	int64_t request_deadline_ms; /* a request's headers, and its body */
	enum bank_backend_kind db_backend;
	char *db_path; /* SQLite */
	int64_t db_busy_ms;
	char *db_conninfo; /* PostgreSQL: libpq's, built from the keys */
	int db_pool_size;  /* 0: one per HTTP thread */
	int64_t db_statement_timeout_ms;
	int64_t db_connect_timeout_ms;
	char *migrations_dir;
	char *flows_path;
	int max_calls;
	char *agent_uri; /* where VoiceXML transfers callers to advisers */
	char *affinity_cookie; /* a cookie naming this server, or NULL */
	int64_t idle_ms;
	int64_t max_call_ms;
	int64_t first_digit_ms;
	int64_t inter_digit_ms;
	int noinput_max;
	int nomatch_max;
	int pin_attempts;
	int64_t drain_ms;
	char *log_file; /* NULL: standard error */
	enum log_level log_level;
	enum log_format log_format;
	char *admin_token_file; /* NULL: the admin API is off */
	/*
	 * A test release's faults, from its release.json (`"faults":
	 * {"step_error_every": N, "after_seconds": S, "login": "refused"}`,
	 * written by
	 * scripts/package-runtime.sh --fault), never from runtime.yaml: the
	 * release that is ready but bad, which canary analysis and smoke
	 * calls must stop.  Zero and false in any real release.
	 */
	int fault_step_every; /* every Nth call step answers 500 */
	int fault_after_s;    /* ... once the server has run this long */
	bool fault_login;     /* every login is refused */
};

/*
 * Fills c with the defaults; release_root (the folder holding bin/ and
 * share/) locates the default flows and migrations.  0 or ERR_NOMEM.
 */
int config_defaults(struct config *c, const char *release_root,
		    struct err *err);

/*
 * Reads the file at path over c: keys present replace c's values.  Returns
 * 0; ERR_PARSE with every problem in diags; or the error of reading it.
 */
int config_load(struct config *c, const char *path, struct diag_list *diags,
		struct err *err);

/* Replaces a string setting (copies value).  0 or ERR_NOMEM. */
/*
 * Whether the listening settings may serve: plain HTTP (no listen.tls) is
 * for a loopback address only.  0, or ERR_INVAL saying why.
 */
int config_check_listen(const struct config *c, struct err *err);

int config_set_str(char **field, const char *value, struct err *err);

/*
 * Adds libpq "key=value" settings to the database's (a later key wins)
 * and makes PostgreSQL the backend.  A password is refused.  0 or
 * ERR_INVAL.
 */
int config_use_conninfo(struct config *c, const char *text, struct err *err);

/* The bank's settings from c (pointing into c). */
void config_bank(struct bank_config *out, const struct config *c);

/* Frees the strings; c can be filled again by config_defaults. */
void config_release(struct config *c);

#endif
