/*
 * proc: a program the agent runs to check a file before it is used: a
 * balancer's configuration (`nginx -t`, `haproxy -c`), the runtime's
 * settings (`ivr-runtime check`).
 */
#ifndef IVR_AGENT_PROC_H
#define IVR_AGENT_PROC_H

#include "err.h"

/* Runs argv (at most 7 words, NULL-ended; found on PATH unless a path);
 * 0 when it exits 0, else ERR_IO with "<what> refused the change: <its
 * first line of output>". */
int proc_check(const char *const argv[], const char *what, struct err *err);

#endif
