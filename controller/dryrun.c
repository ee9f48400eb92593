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

#define DIFF_LINES_MAX 2000

/* The lines of text (a copy, cut in place) into lines; how many. */
static size_t
split_lines(char ***lines, char *text)
{
	size_t n = 0;

	*lines = calloc(DIFF_LINES_MAX, sizeof(**lines));
	for (char *p = text, *save = NULL, *l;
	     *lines != NULL && n < DIFF_LINES_MAX &&
	     (l = strtok_r(p, "\n", &save)) != NULL;
	     p = NULL)
		(*lines)[n++] = l;
	return n;
}

/* The lines that go from a and come from b ("-" and "+"), by their
 * longest common subsequence; NULL when a and b are the same text. */
static char *
diff_lines(const char *a, const char *b)
{
	char *ca = strdup(a), *cb = strdup(b), **la = NULL, **lb = NULL;
	size_t n = ca ? split_lines(&la, ca) : 0,
	       m = cb ? split_lines(&lb, cb) : 0;
	unsigned short *t = calloc((n + 1) * (m + 1), sizeof(*t));
	struct buf out;

	buf_init(&out, 1024 * 1024);
	for (size_t i = n; t != NULL && i-- > 0;)
		for (size_t j = m; j-- > 0;)
			t[i * (m + 1) + j] =
				strcmp(la[i], lb[j]) == 0
					? t[(i + 1) * (m + 1) + j + 1] + 1
				: t[(i + 1) * (m + 1) + j] >
						t[i * (m + 1) + j + 1]
					? t[(i + 1) * (m + 1) + j]
					: t[i * (m + 1) + j + 1];
	for (size_t i = 0, j = 0; t != NULL && (i < n || j < m);) {
		if (i < n && j < m && strcmp(la[i], lb[j]) == 0) {
			i++, j++;
		} else if (j == m ||
			   (i < n && t[(i + 1) * (m + 1) + j] >=
					     t[i * (m + 1) + j + 1])) {
			buf_appendf(&out, NULL, "-%s\n", la[i++]);
		} else {
			buf_appendf(&out, NULL, "+%s\n", lb[j++]);
		}
	}
	free(t);
	free(la);
	free(lb);
	free(ca);
	free(cb);
	ca = out.len > 0 ? strdup(buf_cstr(&out)) : NULL;
	buf_release(&out);
	return ca;
}

/* What the plan's settings would change in the host's runtime.yaml. */
static void
settings_diff(struct dryrun_host *dh, struct host_session *s)
{
	json_t *res = NULL;

	if (dh->host->runtime == NULL ||
	    host_call(&res, s, "config.get", NULL, NULL) < 0)
		return;
	dh->settings_diff =
		diff_lines(host_str(res, "text"), dh->host->runtime);
	json_decref(res);
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
		settings_diff(dh, &s);
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
	plan_release(d->release, p, d->art.version);
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
	for (size_t i = 0; i < d->n; i++)
		free(d->hosts[i].settings_diff);
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
		json_t *h =
			json_pack("{s:s, s:s, s:o, s:o, s:s, s:b}", "name",
				  dh->host->name, "address", dh->host->address,
				  "current", str_or_null(dh->current),
				  "previous", str_or_null(dh->previous),
				  "action", host_action(dh, d->release, true),
				  "agent_uploaded", dh->agent_uploaded);

		if (dh->settings_diff != NULL) {
			json_t *lines = json_array();
			char *copy = strdup(dh->settings_diff), *save = NULL;

			for (char *l = copy ? strtok_r(copy, "\n", &save)
					    : NULL;
			     l != NULL; l = strtok_r(NULL, "\n", &save))
				json_array_append_new(lines, json_string(l));
			free(copy);
			json_object_set_new(h, "settings_diff", lines);
		}
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
			      d->release, "sha256", d->art.sha256, "size",
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
	int rc = buf_appendf(out, err, "%-12s %-16s %-18s    %-18s %s\n",
			     "HOST", "ADDRESS", "CURRENT", "TARGET",
			     "WHAT WOULD HAPPEN");

	for (size_t i = 0; i < d->n && rc == 0; i++) {
		const struct dryrun_host *dh = &d->hosts[i];

		rc = buf_appendf(out, err,
				 "%-12s %-16s %-18s -> %-18s %s%s%s\n",
				 dh->host->name, dh->host->address,
				 dh->current[0] ? dh->current : "(none)",
				 d->release, host_action(dh, d->release, false),
				 dh->error[0] ? ": " : "", dh->error);
		for (const char *l = dh->settings_diff;
		     l != NULL && *l != '\0' && rc == 0;) {
			size_t k = strcspn(l, "\n");

			rc = buf_appendf(out, err, "    runtime.yaml %.*s\n",
					 (int)k, l);
			l += k + (l[k] != '\0');
		}
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
			 p->environment, d->release, d->art.sha256,
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
