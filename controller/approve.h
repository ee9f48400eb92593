/*
 * approve: `ivrctl approve PLAN PHASE`: an approval of a phase's gate for
 * the environment's open deployment, recorded in its journal (on etcd: the
 * shared one, so that a deployment waiting on another machine goes on, or
 * a later resume passes the gate).  The plan's access rules are checked:
 * the approver must be allowed to approve and, with distinct_approver,
 * must not be the one who started the run.  A refusal is journaled too.
 */
#ifndef IVR_CONTROLLER_APPROVE_H
#define IVR_CONTROLLER_APPROVE_H

#include "buf.h"
#include "plan.h"

struct approval {
	char id[64];	    /* the run approved */
	char started[400];  /* who started it */
	char operator[400]; /* who approved */
	bool already;	    /* the phase was approved before */
};

/*
 * Approves phase of p's open deployment.  Returns an exit code (exitcode.h):
 * 0 (out filled), EXITCODE_BAD_INPUT (no such phase or gate, no open
 * deployment, another plan), EXITCODE_DENIED (the access rules) or
 * EXITCODE_ERROR (the journal cannot be read or written), err saying why.
 */
int approve_phase(const struct plan *p, const char *phase, struct approval *out,
		  struct err *err);

#endif
