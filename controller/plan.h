/*
 * plan: a deployment plan, one YAML file per environment, loaded and
 * checked in full.  Every problem is reported as path:line:col (unknown
 * keys with a "did you mean", types, durations, percentages, unique host
 * names and addresses, phases that cover the fleet, a health URL with
 * known placeholders, a coherent load-balancer section, readable key
 * files); nothing is touched.  docs/plan-reference.md describes each key and
 * schemas/plan.schema.json the shape.  Paths in a plan are relative to the
 * plan's folder.
 */
#ifndef IVR_CONTROLLER_PLAN_H
#define IVR_CONTROLLER_PLAN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diag.h"
#include "err.h"

#define PLAN_MAX_HOSTS	1000
#define PLAN_MAX_PHASES 20
#define PLAN_MAX_LABELS 16
#define PLAN_MAX_CHECKS 16
#define PLAN_MAX_HOOKS	8

struct plan_label {
	char *key;
	char *value;
};

struct plan_host {
	char *name;
	char *address;
	int port;
	char *user;
	struct plan_label labels[PLAN_MAX_LABELS];
	size_t nlabels;
	char *member;  /* the load balancer's name for it (default: name) */
	char *runtime; /* its runtime.yaml from the plan's `runtime`, or NULL */
	/* runtime.tls: PEM texts shipped with the settings (NULL: none) */
	char *tls_cert, *tls_key, *tls_client_ca;
	int64_t tls_not_after; /* the certificate's expiry (s) */
};

/* A release as the fleet runs it: "<version>" or, with the plan's
 * runtime settings, "<version>+<config id>", and its NUL. */
#define PLAN_RELEASE_MAX 80

enum plan_lb_kind {
	PLAN_LB_NONE,
	PLAN_LB_HAPROXY,
	PLAN_LB_NGINX,
};

struct plan_lb {
	enum plan_lb_kind kind;
	char *name;    /* fills {name} in the agent's paths; "lb" */
	char *address; /* the balancer host, reached over SSH */
	int port;
	char *user;
	char *agent_root; /* the agent's root on the balancer host */
	char *backend;	  /* haproxy */
	char *socket;	  /* haproxy: unix path or host:port */
	char *upstream_file, *nginx_conf, *nginx_pid; /* nginx */
	/* the pool (`ivrctl scale`) */
	char *config;	   /* haproxy: its configuration file, kept in step */
	char *server_line; /* a new member's line after its name; {name},
			      {address} */
};

/* A phase's size: a count, a percentage of the fleet, or the rest. */
struct plan_size {
	int count;   /* > 0 for a count */
	int percent; /* > 0 for a percentage */
	bool rest;
};

struct plan_phase {
	char *name;
	struct plan_size hosts;
	struct plan_size batch;	  /* hosts per batch within the phase */
	int64_t pause_ms;	  /* after the phase */
	bool approval;		  /* ask before the phase starts */
	int64_t approval_wait_ms; /* how long the gate waits for an
				     `ivrctl approve` (0: stops at once) */
	/* the analysis checks run during the pause: indexes into
	 * plan.analysis.checks */
	size_t checks[PLAN_MAX_CHECKS];
	size_t nchecks;
};

/*
 * Canary analysis (the plan's `analysis:`): Prometheus queries evaluated
 * every interval during a phase's pause.  A threshold check fails when a
 * value of its query passes fail_above or fail_below; a compare check
 * runs its query over the window for the new release and for the old one
 * and fails when a one-sided Mann-Whitney U test finds the new release
 * worse at the given confidence.  Queries may hold {release} (the new
 * version) and {baseline} (the old one); a compare query's {release}
 * takes each in turn.
 */
enum plan_check_kind {
	PLAN_CHECK_THRESHOLD,
	PLAN_CHECK_COMPARE,
};

struct plan_check {
	char *name;
	enum plan_check_kind kind;
	char *query;
	bool has_above, has_below;
	double fail_above, fail_below; /* threshold */
	int failure_limit;	       /* failed evaluations tolerated */
	bool lower_is_worse;	       /* compare: `worse: lower` */
	int min_samples;	       /* compare: per release */
	double confidence;	       /* compare: 0.5 to 0.9999 */
};

/*
 * Smoke calls (the plan's `smoke:`): after a host of a deployment turns
 * ready and before its member goes READY, its agent places one scripted
 * call on it as the smoke-test customer (account and PIN from a file only
 * its owner may read), optionally with a transfer of transfer_cents
 * between the customer's own accounts.  A failed call fails the host.
 */
struct plan_smoke {
	bool enabled;
	char *credentials; /* the file, resolved */
	char account[33], pin[33];
	int64_t transfer_cents; /* 0: no transfer */
	int64_t timeout_ms;	/* the whole call */
};

/*
 * A webhook (the plan's `notify:` list; notify.h sends): the run's
 * notable moments POSTed to url, signed with the secret from secret_file
 * (its owner's only), each attempt within timeout_ms, retried `retries`
 * times with backoff.
 */
struct plan_hook {
	char *url;
	char *secret; /* the file's first line */
	size_t secret_len;
	unsigned events; /* bit i: plan_notify_events[i] */
	int64_t timeout_ms;
	int retries;
};

/* The events a hook may ask for, NULL-ended: started, phase_done,
 * waiting, analysis_failed, rolled_back, finished. */
extern const char *const plan_notify_events[];

struct plan_analysis {
	char *prometheus;    /* base URL: http(s)://host[:port][/path] */
	const char *ca_file; /* the plan's tls.ca_file (borrowed), or NULL */
	int64_t interval_ms;
	int64_t query_timeout_ms;
	bool inconclusive_wait; /* inconclusive: wait for a human (else fail) */
	struct plan_check checks[PLAN_MAX_CHECKS];
	size_t nchecks;
};

/*
 * The bank's database, for the deploy's database step (backup, expand
 * migrations) and `ivrctl db`: reached from the controller as the
 * migration role.  Absent (backend PLAN_DB_NONE): no database step.
 */
enum plan_db_backend {
	PLAN_DB_NONE,
	PLAN_DB_POSTGRESQL,
	PLAN_DB_SQLITE,
};

/* The old IVR system's tables, for `ivrctl db migrate` (names checked
 * as SQL identifiers: letters, digits, '_'). */
#define PLAN_IDENT_MAX 64
struct plan_legacy {
	char accounts[PLAN_IDENT_MAX], account_id[PLAN_IDENT_MAX],
		number[PLAN_IDENT_MAX], balance[PLAN_IDENT_MAX],
		customer[PLAN_IDENT_MAX];
	char transactions[PLAN_IDENT_MAX], transaction_id[PLAN_IDENT_MAX],
		account[PLAN_IDENT_MAX], amount[PLAN_IDENT_MAX],
		date[PLAN_IDENT_MAX], description[PLAN_IDENT_MAX];
	int cents_per_unit; /* money: units (100) or cents (1) */
	int batch;	    /* rows copied per transaction */
};

struct plan_db {
	enum plan_db_backend backend;
	struct plan_legacy legacy;
	char *conninfo; /* postgresql: libpq's, passfile= added */
	char *path;	/* sqlite: the file, resolved */
	char *backups;	/* the folder for backups, resolved */
	int64_t lock_timeout_ms;
	int64_t statement_timeout_ms;
	int64_t backup_timeout_ms;
};

/*
 * Where the environment's lock and journal live (the plan's `state:`):
 * files on the controller's machine (the default), or an etcd cluster
 * shared by every controller (etcd.h, journal.h).
 */
enum plan_state_backend {
	PLAN_STATE_FILE,
	PLAN_STATE_ETCD,
};

#define PLAN_MAX_ENDPOINTS 8

struct plan_state {
	enum plan_state_backend backend;
	char *endpoints[PLAN_MAX_ENDPOINTS]; /* http(s)://host:port */
	size_t nendpoints;
	char *prefix; /* the environment's keys: <prefix><environment>/ */
	int64_t lease_ttl_ms;
	int64_t timeout_ms;		      /* each request to one member */
	char *ca_file, *cert_file, *key_file; /* resolved; NULL: none */
};

/*
 * Who may do what (the plan's `access:`): lists of Unix accounts ("alice")
 * and groups ("@ops").  Absent (enabled false): everyone may do
 * everything.  access.h checks them.
 */
#define PLAN_MAX_PRINCIPALS 64

struct plan_role {
	char *names[PLAN_MAX_PRINCIPALS];
	size_t n;
	bool set; /* the key was in the plan */
};

struct plan_access {
	bool enabled;
	struct plan_role deploy;  /* deploy, resume, scale, database runs */
	struct plan_role promote; /* promote into this environment */
	struct plan_role approve; /* pass an approval gate */
	struct plan_role oncall;  /* roll back (deployers may too) */
	bool distinct_approver;	  /* an approval must not come from the
				     run's operator */
};

/*
 * TLS (the plan's `tls:`): the CA bundle that the agents' checks (health,
 * calls, smoke calls), Prometheus queries and webhooks trust, and how long
 * before a certificate's expiry validate, preflight and status warn.
 */
struct plan_tls {
	char *ca_file; /* resolved; NULL: the system's bundle */
	char *ca_pem;  /* its text, given to each agent at hello */
	/* what the agents' checks present to runtimes that ask for a client
	 * certificate (PEM texts; NULL: none) */
	char *client_cert_pem, *client_key_pem;
	int64_t expiry_warning_ms;
	bool runtime; /* runtime.tls: certificates go out with the settings */
};

struct plan {
	char *path; /* the file, as given */
	char *dir;  /* its folder: relative paths start here */
	char *environment;
	struct plan_host *hosts;
	size_t nhosts;
	char *inventory_user; /* the inventory's defaults */
	int inventory_port;
	struct plan_lb lb;
	/* ssh */
	char *identity_file; /* resolved; NULL: keys from ssh-agent */
	char *known_hosts;   /* resolved */
	int64_t connect_timeout_ms;
	int64_t keepalive_ms;
	int64_t command_timeout_ms;
	int parallel;
	/* agent */
	char *agent_path; /* on hosts; may hold {name} */
	char *agent_root; /* on hosts; may hold {name} */
	/* service */
	char *service_manager; /* supervisor | systemd */
	char *service_unit;
	bool service_user_scope; /* systemd: systemctl --user */
	int64_t stop_timeout_ms;
	/* health */
	char *health_url; /* {address}, {name}, {port} */
	char *calls_url;
	int64_t health_interval_ms, health_timeout_ms, health_deadline_ms;
	int64_t min_healthy_ms;
	/* rollout */
	struct plan_phase phases[PLAN_MAX_PHASES];
	size_t nphases;
	int64_t drain_deadline_ms;
	struct plan_size failure_budget;
	int capacity_floor_percent;
	int keep_releases; /* staged releases each host keeps after a deploy */
	struct plan_analysis analysis;
	struct plan_smoke smoke;
	struct plan_hook hooks[PLAN_MAX_HOOKS];
	size_t nhooks;
	struct plan_db db;
	/* runtime: each host's settings (plan_host.runtime) and their id,
	 * 12 hex digits ("" without the section) */
	char config_id[13];
	/* other */
	char *artifact; /* resolved; NULL when the plan names none */
	char *journal;	/* resolved; NULL: the default location */
	struct plan_state state;
	struct plan_access access;
	struct plan_tls tls;
	char sha256[65]; /* of the file's bytes: the plan hash */
};

/*
 * Loads and checks the plan at path.  Returns 0 with *out set (free with
 * plan_free); ERR_PARSE with every problem in diags; or the error of
 * reading the file.
 */
int plan_load(struct plan **out, const char *path, struct diag_list *diags,
	      struct err *err);

/*
 * The release version goes out as under p: "<version>+<config id>" with
 * the plan's runtime settings, else version; into out (PLAN_RELEASE_MAX).
 */
void plan_release(char *out, const struct plan *p, const char *version);

/* Whether a host on release current is on target: the same release, or
 * (target a plain version, as `rollback --to` takes it) that version with
 * any settings.  Choosing which hosts to move compares releases exactly. */
bool plan_release_is(const char *current, const char *target);

/* The expiry (notAfter, seconds since the epoch) of the first
 * certificate in pem, or -1 when it holds none. */
int64_t plan_cert_not_after(const char *pem);

/* t as "2026-12-30T06:15:52Z" into out. */
void plan_tls_time(char *out, size_t size, int64_t t);

/* Whether a certificate ending at not_after (s) is within the plan's
 * tls.expiry_warning of now. */
bool plan_tls_soon(const struct plan *p, int64_t not_after, int64_t now);

/*
 * The hosts whose runtime.tls certificate expires before now plus
 * tls.expiry_warning: how many, and "ivr-01's (2026-12-30T06:15:52Z, in
 * 9 d), ..." into out (size may be 0); with list, each as {host,
 * expires} appended to it.
 */
size_t plan_tls_expiring(const struct plan *p, int64_t now, char *out,
			 size_t size, json_t *list);

/* Frees a plan; NULL is a no-op. */
void plan_free(struct plan *p);

/* The number of hosts a size stands for, out of total (rest: remaining). */
size_t plan_size_hosts(const struct plan_size *s, size_t total,
		       size_t remaining);

/*
 * Hosts that may be out of the pool at once without breaking the capacity
 * floor: the fleet less its floor share (rounded up), at least 1.
 */
size_t plan_max_down(const struct plan *p);

/* The phase of p called name, or NULL. */
const struct plan_phase *plan_phase_named(const struct plan *p,
					  const char *name);

/* Where a phase falls in the inventory. */
struct plan_slice {
	size_t first; /* index of its first host */
	size_t count; /* how many hosts, in inventory order */
	size_t batch; /* how many at a time: 1 to plan_max_down */
};

/* Phase i (< p->nphases) of p as a slice of p's hosts. */
struct plan_slice plan_phase_slice(const struct plan *p, size_t i);

/*
 * Expands {name}, {address} and {port} in tmpl for host h into out (size
 * bytes).  Returns 0 or ERR_OVERFLOW.
 */
int plan_expand(char *out, size_t size, const char *tmpl,
		const struct plan_host *h, struct err *err);

/*
 * `ivrctl validate --output json` for the plan at path: p when it loaded
 * (NULL when not), its problems d (sorted by place here) or, without
 * problems, e's message.  A new reference; the shape is
 * schemas/ivrctl-output.schema.json's "validate".
 */
json_t *plan_validation_json(const char *path, const struct plan *p,
			     struct diag_list *d, const struct err *e);

#endif
