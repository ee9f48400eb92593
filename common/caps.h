/*
 * caps: the caps on durations that the controller's plan and the
 * agent's params share, so that a plan `validate` accepts is never
 * refused by an agent half way through a deployment.
 *
 * A host step is one agent call bounded by ssh.command_timeout; the
 * waits inside it (a drain, a readiness wait, a stop) are each at most
 * CAPS_WAIT_MAX_MS, and the plan must give command_timeout at least
 * the longest of them plus CAPS_STEP_SLACK_MS (see plan.c).
 */
#ifndef IVR_COMMON_CAPS_H
#define IVR_COMMON_CAPS_H

/* One wait on a host: drain deadline, health deadline, stop timeout. */
#define CAPS_WAIT_MAX_MS (3600 * 1000LL)

/* A check the agent runs before a file is used (`haproxy -c`, `nginx -t`,
 * `ivr-runtime check`): killed past this. */
#define CAPS_CHECK_MS 30000

/* A poll interval, and one probe's timeout. */
#define CAPS_INTERVAL_MIN_MS 10
#define CAPS_INTERVAL_MAX_MS 60000
#define CAPS_PROBE_MIN_MS    50
#define CAPS_PROBE_MAX_MS    60000

/* What a step adds beyond its wait: the start check, the last probe, the
 * answer over SSH. */
#define CAPS_STEP_SLACK_MS 10000

/* ssh.command_timeout: at most the longest wait plus its slack. */
#define CAPS_COMMAND_MIN_MS 1000
#define CAPS_COMMAND_MAX_MS (CAPS_WAIT_MAX_MS + CAPS_STEP_SLACK_MS)

#endif
