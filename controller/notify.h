/*
 * notify: the plan's webhooks (plan.h's struct plan_hook): a run's
 * notable moments (started, phase done, waiting, analysis failed, rolled
 * back, finished) POSTed as JSON to each hook that wants them, signed
 * with HMAC-SHA256 of "<timestamp>.<body>" under the hook's secret
 * (headers X-IVR-Timestamp and X-IVR-Signature: sha256=<hex>), each
 * retried with backoff.  Delivery runs on a thread of its own: it never
 * blocks a deployment and never fails it, and notify_finish waits for
 * what is left at most the longest hook timeout.  libcurl does HTTP.
 */
#ifndef IVR_CONTROLLER_NOTIFY_H
#define IVR_CONTROLLER_NOTIFY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "plan.h"

struct notifier;

/* What was delivered, for the run's last lines. */
struct notify_report {
	size_t delivered, lost;
	char last_error[256]; /* why the last lost one was lost */
};

/*
 * A notifier for p's hooks (borrowed), its thread started; NULL when p
 * has none or the thread cannot start (then nothing is sent).
 */
struct notifier *notify_start(const struct plan *p);

/*
 * Queues event (one of plan_notify_events: "started", ...) with fields (an
 * object, stolen: environment and time are added) for every hook that wants it.
 * Never blocks on the network.  n may be NULL.
 */
void notify_send(struct notifier *n, const char *event, json_t *fields);

/* Lets the queue drain for at most the longest hook timeout, stops the
 * thread, fills *out and frees n (NULL: nothing). */
void notify_finish(struct notifier *n, struct notify_report *out);

/* The signature header's value for body at ts under secret, into out
 * (at least 72 bytes): "sha256=<64 hex>". */
void notify_sign(char *out, const char *secret, size_t secret_len, long ts,
		 const char *body);

#endif
