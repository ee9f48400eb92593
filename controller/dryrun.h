/*
 * dryrun: `ivrctl plan`: what a deployment of an artifact would do, read
 * from the hosts without changing anything on them (no agent is started:
 * only the `current` link, state.json and the releases/ and incoming/
 * listings are read over SSH).
 */
#ifndef IVR_CONTROLLER_DRYRUN_H
#define IVR_CONTROLLER_DRYRUN_H

#include <stdio.h>

#include "plan.h"

/*
 * Prints the dry run for artifact (a local ivr-runtime-<version>.tar.gz)
 * to f.  Returns 0, 2 (bad input: the artifact), or 3 (a host could not be
 * read).
 */
int dryrun(FILE *f, const struct plan *p, const char *artifact);

#endif
