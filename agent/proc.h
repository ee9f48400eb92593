/*
 * proc: a program the agent runs to check a file before it is used: a
 * balancer's configuration (`nginx -t`, `haproxy -c`), the runtime's
 * settings (`ivr-runtime check`).
 */
#ifndef IVR_AGENT_PROC_H
#define IVR_AGENT_PROC_H

#include <stdint.h>

#include "caps.h"
#include "err.h"

/* How long a check may take: every caller's deadline (the plan's
 * command_timeout covers it). */
#define PROC_CHECK_MS CAPS_CHECK_MS

/* Runs argv (at most 7 words, NULL-ended; found on PATH unless a path);
 * 0 when it exits 0, else ERR_IO with "<what> refused the change: <its
 * first line of output>", or ERR_TIMEOUT (the child killed) when it has
 * not finished within timeout_ms. */
int proc_check(const char *const argv[], const char *what, int64_t timeout_ms,
	       struct err *err);

#endif
