/*
 * exitcode: what ivrctl's exit status means, in one place.  The commands
 * that drive a fleet return one of these as the outcome of a run (the
 * journal records it with the outcome's name); main.c exits with it.
 * docs/runbook.md explains each to the operator.
 */
#ifndef IVR_CONTROLLER_EXITCODE_H
#define IVR_CONTROLLER_EXITCODE_H

enum exitcode {
	/* Done: the fleet is whole on the release asked for. */
	EXITCODE_DONE = 0,
	/* The deployment failed and was rolled back; the fleet is whole on
	 * the release it ran before. */
	EXITCODE_ROLLED_BACK = 1,
	/* ivrctl itself could not do its work (no bundled agent, no SSH
	 * library, an unreadable journal): the same status as above, as the
	 * runbook has it. */
	EXITCODE_ERROR = 1,
	/* Bad input (plan, artifact, arguments): nothing was touched. */
	EXITCODE_BAD_INPUT = 2,
	/* The fleet is not consistent, could not be read, or the run waits
	 * at an approval gate: a human must look. */
	EXITCODE_INCONSISTENT = 3,
	/* Another run holds the environment's lock. */
	EXITCODE_LOCKED = 4,
	/* The plan's access rules do not let this operator do it: nothing
	 * was touched (the refusal is journaled). */
	EXITCODE_DENIED = 5,
};

#endif
