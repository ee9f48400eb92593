/*
 * deploy_events: the run's events (deploy_int.h): progress lines on the
 * terminal, JSON lines with --output json, the journal's events, the
 * environment's lock and the operator's answer at an approval gate.  The
 * one file of the controller, with main.c, that writes to the terminal.
 */
#include "deploy.h"
#include "deploy_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "access.h"
#include "clock.h"
#include "exitcode.h"
#include "hash.h"

/* With --output json: ev as one line on out, with the elapsed time. */
static void
emit(struct run *r, json_t *ev)
{
	char *text;

	json_object_set_new(ev, "elapsed_ms",
			    json_integer(clock_now_ms() - r->start_ms));
	if ((text = json_dumps(ev, JSON_COMPACT)) == NULL)
		return;
	pthread_mutex_lock(&r->out_lock);
	fprintf(r->o->out, "%s\n", text);
	fflush(r->o->out);
	pthread_mutex_unlock(&r->out_lock);
	free(text);
}

void
deploy_say(struct run *r, const char *fmt, ...)
{
	char text[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (r->o->json) {
		json_t *ev = json_pack("{s:s, s:s, s:s}", "event", "message",
				       "id", r->id, "text", text);

		emit(r, ev);
		json_decref(ev);
		return;
	}
	pthread_mutex_lock(&r->out_lock);
	fprintf(r->o->out, "[%7.1fs] %s\n",
		(double)(clock_now_ms() - r->start_ms) / 1000.0, text);
	fflush(r->o->out);
	pthread_mutex_unlock(&r->out_lock);
}

/* An event for the journal, and for out with --output json. */
void
deploy_record(struct run *r, json_t *ev)
{
	if (ev == NULL)
		return;
	if (r->o->json) {
		json_t *copy = json_deep_copy(ev);

		emit(r, copy);
		json_decref(copy);
	}
	journal_write(&r->j, ev);
}

void
deploy_notify(struct run *r, const char *event, json_t *fields)
{
	if (r->notify == NULL) {
		json_decref(fields);
		return;
	}
	if (fields == NULL)
		fields = json_object();
	json_object_set_new(fields, "id", json_string(r->id));
	json_object_set_new(fields, "kind", json_string(r->kind));
	if (r->from[0] != '\0') /* unknown until the fleet is read */
		json_object_set_new(fields, "from", json_string(r->from));
	json_object_set_new(fields, "to", json_string(r->to));
	notify_send(r->notify, event, fields);
}

/* The webhooks' last deliveries, within their timeout, and what was
 * lost. */
static void
notify_end(struct run *r)
{
	struct notify_report rep;

	if (r->notify == NULL)
		return;
	notify_finish(r->notify, &rep);
	r->notify = NULL;
	if (rep.lost > 0)
		deploy_say(r,
			   "notifications: %zu delivered, %zu not delivered "
			   "(last: %s); the run's outcome stands",
			   rep.delivered, rep.lost, rep.last_error);
	else
		deploy_say(r, "notifications: %zu delivered", rep.delivered);
}

void
deploy_make_id(char *out, size_t size, char kind)
{
	unsigned char raw[3];
	char hex[7], when[32];
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y%m%dT%H%M%SZ", &tm);
	hash_random(raw, sizeof(raw), NULL);
	hash_hex(hex, raw, sizeof(raw));
	snprintf(out, size, "%c-%s-%s", kind, when, hex);
}

/* A host step in the journal: before it starts, and how it ended. */
void
deploy_step_event(struct run *r, struct hostrun *hr, const char *step,
		  const struct err *e)
{
	json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:s}", "event", "step",
			       "id", r->id, "host", hr->h->name, "step", step,
			       "target", r->target);

	if (e != NULL)
		json_object_set_new(ev, "error", json_string(e->msg));
	deploy_record(r, ev);
}

json_t *
deploy_host_json(const struct plan_host *h)
{
	return json_pack("{s:s, s:s, s:i, s:s, s:s}", "name", h->name,
			 "address", h->address, "port", h->port, "user",
			 h->user, "member", h->member);
}

void
deploy_record_inventory(struct run *r, json_t *hosts)
{
	json_t *last = journal_events(&r->j, "inventory", "event");

	if (hosts != NULL &&
	    !json_equal(json_object_get(json_array_get(last, 0), "hosts"),
			hosts))
		deploy_record(r,
			      json_pack("{s:s, s:s, s:O}", "event", "inventory",
					"id", r->id, "hosts", hosts));
	json_decref(hosts);
	json_decref(last);
}

/* What the run is, for the plan's access rules. */
static enum access_action
action_of(const struct run *r)
{
	if (r->rollback)
		return ACCESS_ROLLBACK;
	return r->o->promoted_from != NULL ? ACCESS_PROMOTE : ACCESS_DEPLOY;
}

/* A run the access rules refuse, in the journal as a run of its own that
 * ends "denied" (no webhook: nothing started). */
static void
record_denied(struct run *r, const struct err *why)
{
	char who[400];

	journal_operator(who, sizeof(who));
	if (r->id[0] == '\0')
		deploy_make_id(r->id, sizeof(r->id), 'x');
	r->denied = true;
	r->j.started = true;
	deploy_record(r, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
				   "event", "start", "id", r->id, "kind",
				   r->kind, "plan_sha256", r->p->sha256,
				   "operator", who, "user", journal_user(),
				   "to", r->release, "denied", why->msg));
}

/* The environment's lock; 0, or the exit code to stop with. */
int
deploy_take_lock(struct run *r, struct err *err)
{
	int rc;

	if (journal_open(&r->j, r->p, err) < 0)
		return EXITCODE_INCONSISTENT;
	if (access_check(r->p, action_of(r), journal_user(), err) < 0) {
		record_denied(r, err);
		return EXITCODE_DENIED;
	}
	snprintf(r->j.run, sizeof(r->j.run), "%s", r->id);
	if ((rc = journal_lock(&r->j, r->o->break_lock, err)) < 0)
		return rc == ERR_BUSY ? EXITCODE_LOCKED : EXITCODE_ERROR;
	return 0;
}

bool
deploy_safe_point(struct run *r)
{
	char why[512];

	if (r->stopped)
		return false;
	if (journal_lock_held(&r->j, why, sizeof(why)))
		return true;
	r->stopped = true;
	deploy_say(r,
		   "LOST THE ENVIRONMENT'S LOCK (%s): stopping here, before "
		   "another host is touched. Every host moved so far is whole; "
		   "finish from any machine with: ivrctl resume %s (or ivrctl "
		   "rollback %s)",
		   why, r->p->path, r->p->path);
	deploy_record(r, json_pack("{s:s, s:s, s:s}", "event", "lock-lost",
				   "id", r->id, "reason", why));
	return false;
}

void
deploy_journal_start(struct run *r, const char *kind, const char *to)
{
	char who[400];
	const char *user = journal_user();

	journal_operator(who, sizeof(who));
	r->j.started = true;
	r->kind = kind;
	snprintf(r->to, sizeof(r->to), "%s", to);
	snprintf(r->starter, sizeof(r->starter), "%s", user);
	deploy_record(
		r, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s?, s:s, s:i, "
			     "s:s*, s:s*, s:s*}",
			     "event", "start", "id", r->id, "kind", kind,
			     "plan_sha256", r->p->sha256, "operator", who,
			     "user", user, "from", r->from[0] ? r->from : NULL,
			     "to", to, "hosts", (int)r->p->nhosts, "artifact",
			     r->art.path[0] ? r->art.path : NULL, "sha256",
			     r->art.sha256[0] ? r->art.sha256 : NULL,
			     "promoted_from", r->o->promoted_from));
	deploy_notify(r, "started",
		      json_pack("{s:s, s:i}", "operator", who, "hosts",
				(int)r->p->nhosts));
}

/* The run's last JSON line: its outcome and every host's release. */
static void
summary_json(struct run *r, const char *outcome, int code, json_int_t took)
{
	json_t *sum, *hosts = json_array();

	for (size_t i = 0; i < r->n; i++) {
		const struct hostrun *hr = &r->hosts[i];

		json_array_append_new(
			hosts,
			json_pack("{s:s, s:s?, s:b, s:b, s:s?}", "name",
				  hr->h->name, "release",
				  hr->s.current[0] ? hr->s.current : NULL,
				  "touched", hr->touched, "failed", hr->failed,
				  "error", hr->error[0] ? hr->error : NULL));
	}
	sum = json_pack("{s:s, s:s, s:s?, s:s?, s:s?, s:s, s:i, s:I, s:s?, "
			"s:o}",
			"event", "summary", "id", r->id, "kind", r->kind,
			"from", r->from[0] ? r->from : NULL, "to",
			r->to[0] ? r->to : NULL, "outcome", outcome,
			"exit_code", code, "duration_ms", took, "waiting_phase",
			r->waiting, "hosts", hosts);
	emit(r, sum);
	json_decref(sum);
}

/* The run's last line for people. */
static void
summary_line(struct run *r, const char *outcome, int code, json_int_t took)
{
	size_t touched = 0, failed = 0;

	for (size_t i = 0; i < r->n; i++) {
		touched += r->hosts[i].touched;
		failed += r->hosts[i].failed;
	}
	if (r->n == 0) { /* no host read: a database run, or refused early */
		deploy_say(r, "summary: %s %s: %s (exit %d) in %.1f s", r->kind,
			   r->id, outcome, code, (double)took / 1000.0);
		return;
	}
	deploy_say(r,
		   "summary: %s %s, %s -> %s: %s (exit %d) in %.1f s; %zu of "
		   "%zu host(s) touched, %zu failed",
		   r->kind, r->id, r->from[0] ? r->from : "nothing",
		   r->to[0] ? r->to : "?", outcome, code, (double)took / 1000.0,
		   touched, r->n, failed);
}

void
deploy_journal_end(struct run *r, int code)
{
	static const char *const outcomes[] = { "done",	   "rolled_back",
						"refused", "inconsistent",
						"locked",  "denied" };
	const char *outcome = r->waiting	       ? "waiting"
			      : r->stopped	       ? "stopped"
			      : code >= 0 && code <= 5 ? outcomes[code]
						       : "failed";
	json_int_t took = (json_int_t)(clock_now_ms() - r->start_ms);

	if (r->j.started)
		deploy_record(r, json_pack("{s:s, s:s, s:s, s:i, s:I, s:s?}",
					   "event", "end", "id", r->id,
					   "outcome", outcome, "exit_code",
					   code, "duration_ms", took, "phase",
					   r->waiting));
	journal_close(&r->j);
	if (journal_unwritten(&r->j) > 0)
		deploy_say(r,
			   "%zu journal event(s) did not reach etcd; this "
			   "machine's copy '%s' holds them",
			   journal_unwritten(&r->j), r->j.path);
	if (r->j.started && !r->denied)
		deploy_notify(r, "finished",
			      json_pack("{s:s, s:i, s:I, s:s?}", "outcome",
					outcome, "exit_code", code,
					"duration_ms", took, "phase",
					r->waiting));
	notify_end(r);
	if (r->o->json)
		summary_json(r, outcome, code, took);
	else if (r->j.started)
		summary_line(r, outcome, code, took);
}

bool
deploy_ask(struct run *r, const char *question)
{
	FILE *tty = r->o->json ? stderr : r->o->out;
	char answer[16] = "";

	pthread_mutex_lock(&r->out_lock);
	fprintf(tty, "%s [y/N] ", question);
	fflush(tty);
	pthread_mutex_unlock(&r->out_lock);
	return fgets(answer, sizeof(answer), stdin) != NULL &&
	       (answer[0] == 'y' || answer[0] == 'Y');
}
