/*
 * service: starting and stopping the runtime of the current release.
 *
 * Two managers:
 * - supervisor (built in): starts <root>/current/bin/ivr-runtime --config
 *   <root>/shared/runtime.yaml detached (its own session, output appended
 *   to shared/ivr-runtime.log, pid in shared/ivr-runtime.pid); stops it
 *   with SIGTERM (the runtime drains its calls), waits up to a timeout,
 *   then SIGKILL, and says which ended it.
 * - systemd: `systemctl [--user] start|stop UNIT`, which waits for the
 *   unit (with Type=notify, until the runtime says READY=1, or until it has
 *   drained and stopped), within a deadline; the pid is the unit's MainPID.
 *
 * Both are safe to repeat: starting a running service and stopping a
 * stopped one change nothing and say so.
 */
#ifndef IVR_AGENT_SERVICE_H
#define IVR_AGENT_SERVICE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"

enum service_manager {
	SERVICE_SUPERVISOR,
	SERVICE_SYSTEMD,
};

struct service {
	enum service_manager manager;
	const char *root;
	const char *unit;   /* systemd */
	bool user_scope;    /* systemd: the user's manager (systemctl --user) */
	const char *config; /* supervisor: file in shared/ (runtime.yaml) */
	int64_t stop_timeout_ms;
};

struct service_status {
	bool running;
	pid_t pid;	   /* 0 when not running */
	bool already;	   /* start: was running; stop: was stopped */
	const char *how;   /* stop: "sigterm", "sigkill", "not_running",
			      "systemctl" */
	int64_t waited_ms; /* stop: time until it was gone */
};

/*
 * Whether the runtime runs: by its pid file (supervisor) or the unit's
 * MainPID (systemd).  Never fails: what cannot be read counts as stopped.
 */
void service_status(struct service_status *out, const struct service *s);

/*
 * Starts the service.  Returns 0, ERR_NOTFOUND (no current release or no
 * config), or ERR_IO (fork/exec failed, or the program exited at once:
 * "ivr-runtime exited at once; see shared/ivr-runtime.log").
 */
int service_start(struct service_status *out, const struct service *s,
		  struct err *err);

/* Stops the service.  Returns 0 or ERR_IO. */
int service_stop(struct service_status *out, const struct service *s,
		 struct err *err);

/*
 * Whether name can be given to systemctl as a unit: a letter or digit
 * first (never an option), then letters, digits and "@._:-\\", at most
 * 255 bytes.
 */
bool service_unit_valid(const char *name);

/* True while pid is a live process (a zombie counts as gone). */
bool service_alive(pid_t pid);

#endif
