/*
 * dryrun: see dryrun.h.
 */
#include "dryrun.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "fanout.h"

struct work {
	struct dryrun *d;
	const struct agent_bundle *agent;
};

/* Whether list (strings, or objects with key) holds want. */
static bool
has(json_t *list, const char *key, const char *want)
{
	size_t i;
	json_t *v;

	json_array_foreach (list, i, v) {
		const char *s = key ? host_str(v, key) : json_string_value(v);

		if (s != NULL && strcmp(s, want) == 0)
			return true;
	}
	return false;
}

static void
read_host(void *ctx, size_t i)
{
	struct work *w = ctx;
	struct dryrun *d = w->d;
	struct dryrun_host *dh = &d->hosts[i];
	struct host_session s;
	json_t *res = NULL;
	struct err e;

	if (host_open(&s, d->p, dh->host, d->p->agent_root, w->agent,
		      HOST_READ_ONLY, &e) < 0 ||
	    host_call(&res, &s, "releases.list", NULL, &e) < 0) {
		snprintf(dh->error, sizeof(dh->error), "%s", e.msg);
	} else {
		snprintf(dh->current, sizeof(dh->current), "%s", s.current);
		snprintf(dh->previous, sizeof(dh->previous), "%s", s.previous);
		dh->staged = has(json_object_get(res, "releases"), "version",
				 d->art.version);
		dh->uploaded = has(json_object_get(res, "incoming"), NULL,
				   d->art.sha256);
	}
	dh->agent_uploaded = s.uploaded;
	json_decref(res);
	host_close(&s);
}

int
dryrun_collect(struct dryrun *d, const struct plan *p, const char *artifact,
	       const struct agent_bundle *agent, struct err *err)
{
	struct work w = { .d = d, .agent = agent };
	int rc;

	memset(d, 0, sizeof(*d));
	d->p = p;
	if ((rc = artifact_read(&d->art, artifact, err)) < 0)
		return rc;
	if ((d->hosts = calloc(p->nhosts ? p->nhosts : 1, sizeof(*d->hosts))) ==
	    NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	d->n = p->nhosts;
	for (size_t i = 0; i < d->n; i++)
		d->hosts[i].host = &p->hosts[i];
	fanout_run(d->n, p->parallel, read_host, &w);
	for (size_t i = 0; i < d->n; i++)
		d->unread += d->hosts[i].error[0] != '\0';
	if (p->db.backend != PLAN_DB_NONE) {
		struct err e;

		if (db_preview(&d->db, p, d->art.path, &e) < 0) {
			snprintf(d->db_error, sizeof(d->db_error), "%s", e.msg);
			d->unread++;
		}
	}
	return 0;
}

void
dryrun_release(struct dryrun *d)
{
	free(d->hosts);
	d->hosts = NULL;
	d->n = 0;
	json_decref(d->db);
	d->db = NULL;
}

/* What a deployment would do on a host: a word for JSON, a phrase for
 * people. */
static const char *
host_action(const struct dryrun_host *dh, const char *version, bool words)
{
	if (dh->error[0])
		return words ? "unknown" : "cannot be read";
	if (strcmp(dh->current, version) == 0)
		return words ? "none" : "already live: nothing to do";
	if (dh->staged)
		return words ? "activate" : "staged already: activate";
	if (dh->uploaded)
		return words ? "unpack" : "artifact there: unpack, activate";
	return words ? "upload" : "upload, unpack, activate";
}

static json_t *
str_or_null(const char *s)
{
	return s[0] ? json_string(s) : json_null();
}

static json_t *
hosts_json(const struct dryrun *d)
{
	json_t *hosts = json_array();

	for (size_t i = 0; i < d->n; i++) {
		const struct dryrun_host *dh = &d->hosts[i];
		json_t *h = json_pack("{s:s, s:s, s:o, s:o, s:s, s:b}", "name",
				      dh->host->name, "address",
				      dh->host->address, "current",
				      str_or_null(dh->current), "previous",
				      str_or_null(dh->previous), "action",
				      host_action(dh, d->art.version, true),
				      "agent_uploaded", dh->agent_uploaded);

		if (dh->error[0])
			json_object_set_new(h, "error", json_string(dh->error));
		json_array_append_new(hosts, h);
	}
	return hosts;
}

/* The names of the checks phase ph runs during its pause (a new array). */
static json_t *
check_names(const struct plan *p, const struct plan_phase *ph)
{
	json_t *a = json_array();

	for (size_t k = 0; k < ph->nchecks; k++)
		json_array_append_new(
			a, json_string(p->analysis.checks[ph->checks[k]].name));
	return a;
}

static json_t *
phases_json(const struct plan *p)
{
	json_t *phases = json_array();

	for (size_t i = 0; i < p->nphases; i++) {
		struct plan_slice sl = plan_phase_slice(p, i);
		size_t next = sl.first, end = sl.first + sl.count;
		json_t *batches = json_array();

		while (next < end) {
			json_t *b = json_array();

			for (size_t k = 0; k < sl.batch && next < end; k++)
				json_array_append_new(
					b, json_string(p->hosts[next++].name));
			json_array_append_new(batches, b);
		}
		json_array_append_new(
			phases, json_pack("{s:s, s:b, s:I, s:I, s:o, s:o}",
					  "name", p->phases[i].name, "approval",
					  p->phases[i].approval, "hosts",
					  (json_int_t)sl.count, "pause_ms",
					  (json_int_t)p->phases[i].pause_ms,
					  "batches", batches, "analysis",
					  check_names(p, &p->phases[i])));
	}
	return phases;
}

json_t *
dryrun_json(const struct dryrun *d)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:i, s:I, s:b, s:o, s:o}",
			      "environment", d->p->environment, "release",
			      d->art.version, "sha256", d->art.sha256, "size",
			      (json_int_t)d->art.size, "capacity_floor_percent",
			      d->p->capacity_floor_percent, "max_down",
			      (json_int_t)plan_max_down(d->p), "complete",
			      d->unread == 0, "hosts", hosts_json(d), "phases",
			      phases_json(d->p));

	if (d->db != NULL)
		json_object_set(o, "database", d->db);
	else if (d->db_error[0] != '\0')
		json_object_set_new(o, "database",
				    json_pack("{s:s}", "error", d->db_error));
	return o;
}

/* The database step's lines. */
static int
format_db(struct buf *out, const struct dryrun *d, struct err *err)
{
	const json_t *pend = json_object_get(d->db, "pending"), *m;
	const char *why = json_string_value(json_object_get(d->db, "refusal"));
	size_t i, expand = 0;
	int rc;

	if (d->db_error[0] != '\0')
		return buf_appendf(out, err, "\ndatabase: cannot be read: %s\n",
				   d->db_error);
	if (d->db == NULL)
		return 0;
	if (why != NULL)
		return buf_appendf(out, err,
				   "\ndatabase: the deploy would stop here, "
				   "nothing touched: %s\n",
				   why);
	json_array_foreach (pend, i, m)
		expand += strcmp(json_string_value(json_object_get(m, "kind")),
				 "expand") == 0;
	rc = buf_appendf(out, err,
			 "\ndatabase (%s): a backup into %s, then %zu expand "
			 "migration%s before the first swap%s\n",
			 json_string_value(json_object_get(d->db, "backend")),
			 json_string_value(json_object_get(d->db, "backups")),
			 expand, expand == 1 ? "" : "s", expand ? ":" : "");
	json_array_foreach (pend, i, m)
		if (rc == 0)
			rc = buf_appendf(
				out, err, "  %s (%s)\n",
				json_string_value(json_object_get(m, "name")),
				json_string_value(json_object_get(m, "kind")));
	return rc;
}

static int
format_hosts(struct buf *out, const struct dryrun *d, struct err *err)
{
	int rc = buf_appendf(out, err, "%-12s %-16s %-12s    %-12s %s\n",
			     "HOST", "ADDRESS", "CURRENT", "TARGET",
			     "WHAT WOULD HAPPEN");

	for (size_t i = 0; i < d->n && rc == 0; i++) {
		const struct dryrun_host *dh = &d->hosts[i];

		rc = buf_appendf(
			out, err, "%-12s %-16s %-12s -> %-12s %s%s%s\n",
			dh->host->name, dh->host->address,
			dh->current[0] ? dh->current : "(none)", d->art.version,
			host_action(dh, d->art.version, false),
			dh->error[0] ? ": " : "", dh->error);
	}
	return rc;
}

/* One phase and its batches, hosts in inventory order. */
static int
format_phase(struct buf *out, const struct plan *p, size_t i, struct err *err)
{
	const struct plan_phase *ph = &p->phases[i];
	struct plan_slice sl = plan_phase_slice(p, i);
	size_t next = sl.first, end = sl.first + sl.count;
	int rc = buf_appendf(out, err, "  %zu. %s%s: %zu host%s\n", i + 1,
			     ph->name,
			     ph->approval ? " (asks for approval first)" : "",
			     sl.count, sl.count == 1 ? "" : "s");

	for (size_t b = 1; next < end && rc == 0; b++) {
		rc = buf_appendf(out, err, "     batch %zu:", b);
		for (size_t k = 0; k < sl.batch && next < end && rc == 0; k++)
			rc = buf_appendf(out, err, " %s",
					 p->hosts[next++].name);
		if (rc == 0)
			rc = buf_append_str(out, "\n", err);
	}
	if (rc == 0 && ph->pause_ms > 0 && ph->nchecks == 0)
		rc = buf_appendf(out, err, "     then pause %lld ms\n",
				 (long long)ph->pause_ms);
	else if (rc == 0 && ph->nchecks > 0) {
		rc = buf_appendf(
			out, err,
			"     then soak %lld ms, checked every %lld ms "
			"against %s:",
			(long long)ph->pause_ms,
			(long long)p->analysis.interval_ms,
			p->analysis.prometheus);
		for (size_t k = 0; k < ph->nchecks && rc == 0; k++)
			rc = buf_appendf(
				out, err, " %s",
				p->analysis.checks[ph->checks[k]].name);
		if (rc == 0)
			rc = buf_append_str(out, "\n", err);
	}
	if (rc == 0 && p->smoke.enabled && i == 0)
		rc = buf_append_str(out,
				    "     (each host smoke-called before it "
				    "takes calls)\n",
				    err);
	return rc;
}

int
dryrun_format(struct buf *out, const struct dryrun *d, struct err *err)
{
	const struct plan *p = d->p;
	size_t max_down = plan_max_down(p);
	int rc;

	rc = buf_appendf(out, err,
			 "dry run: %s, release %s (sha256 %.12s..., %lld "
			 "bytes); nothing is changed\n\n",
			 p->environment, d->art.version, d->art.sha256,
			 d->art.size);
	if (rc == 0)
		rc = format_hosts(out, d, err);
	if (rc == 0)
		rc = format_db(out, d, err);
	if (rc == 0)
		rc = buf_appendf(out, err,
				 "\nphases (capacity floor %d%%: at most %zu "
				 "host%s out of the pool at once):\n",
				 p->capacity_floor_percent, max_down,
				 max_down == 1 ? "" : "s");
	for (size_t i = 0; i < p->nphases && rc == 0; i++)
		rc = format_phase(out, p, i, err);
	return rc;
}
