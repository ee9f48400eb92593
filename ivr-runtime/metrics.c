/*
 * metrics: see metrics.h.  Relaxed atomics: each figure is exact, the set
 * of figures in one scrape is not a snapshot (Prometheus does not need it).
 */
#include "metrics.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static const char *const outcome_names[] = {
	"hangup",  "agent", "caller_hangup", "abandoned",
	"timeout", "cut",   "rejected",	     "unavailable",
};
static const char *const transfer_names[] = {
	"ok", "replayed", "insufficient", "refused", "failed",
};
static const char *const route_names[] = {
	"/calls",  "/calls/{id}/input", "/calls/{id}", "/vxml",	 "/healthz",
	"/readyz", "/version",		"/metrics",    "/admin", "other",
};
static const unsigned codes[METRICS_CODES] = {
	200, 201, 204, 400, 403, 404, 405, 413, 500, 503,
};
static const char *const step_names[] = {
	"ok",
	"rejected",
	"unavailable",
	"error",
};
static const char *const db_op_names[] = {
	"authenticate", "balances", "recent", "transfer_prepare", "transfer",
};
static const double bounds[METRICS_BUCKETS - 1] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
};

#define RELAXED memory_order_relaxed

/* v as a label value: backslash, quote and newline escaped. */
static void
escape_label(char *out, size_t size, const char *v)
{
	size_t o = 0;

	for (; v != NULL && *v != '\0' && o + 3 < size; v++) {
		if (*v == '\\' || *v == '"' || *v == '\n') {
			out[o++] = '\\';
			out[o++] = *v == '\n' ? 'n' : *v;
		} else
			out[o++] = *v;
	}
	out[o] = '\0';
}

void
metrics_init(struct metrics *m, const char *version)
{
	struct timespec now;

	memset(m, 0, sizeof(*m));
	escape_label(m->release, sizeof(m->release), version);
	if (clock_gettime(CLOCK_REALTIME, &now) == 0)
		m->start_time = (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

void
metrics_call_ended(struct metrics *m, enum metrics_outcome o)
{
	if (m != NULL)
		atomic_fetch_add_explicit(&m->calls[o], 1, RELAXED);
}

void
metrics_connections_cut(struct metrics *m, unsigned n)
{
	if (m != NULL && n > 0)
		atomic_fetch_add_explicit(&m->connections_cut, n, RELAXED);
}

void
metrics_auth_failure(struct metrics *m)
{
	if (m != NULL)
		atomic_fetch_add_explicit(&m->auth_failures, 1, RELAXED);
}

void
metrics_auth_lockout(struct metrics *m)
{
	if (m != NULL)
		atomic_fetch_add_explicit(&m->auth_lockouts, 1, RELAXED);
}

void
metrics_transfer(struct metrics *m, enum metrics_transfer r)
{
	if (m != NULL)
		atomic_fetch_add_explicit(&m->transfers[r], 1, RELAXED);
}

void
metrics_http(struct metrics *m, enum metrics_route r, unsigned code)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < METRICS_CODES - 1; i++)
		if (codes[i] == code)
			break;
	if (codes[i] != code)
		i = 8; /* 500 */
	atomic_fetch_add_explicit(&m->http[r][i], 1, RELAXED);
}

static void
observe(struct metrics_histogram *h, uint64_t micros)
{
	size_t i;

	for (i = 0; i < METRICS_BUCKETS - 1; i++)
		if ((double)micros / 1e6 <= bounds[i])
			break;
	atomic_fetch_add_explicit(&h->buckets[i], 1, RELAXED);
	atomic_fetch_add_explicit(&h->sum_us, micros, RELAXED);
}

void
metrics_step(struct metrics *m, unsigned status, uint64_t micros)
{
	enum metrics_step o = status < 400    ? METRICS_STEP_OK
			      : status < 500  ? METRICS_STEP_REJECTED
			      : status == 503 ? METRICS_STEP_UNAVAILABLE
					      : METRICS_STEP_ERROR;

	if (m == NULL)
		return;
	atomic_fetch_add_explicit(&m->steps[o], 1, RELAXED);
	observe(&m->step_time, micros);
}

void
metrics_db(struct metrics *m, enum metrics_db_op op, uint64_t micros,
	   int failed)
{
	if (m == NULL)
		return;
	observe(&m->db_time[op], micros);
	if (failed)
		atomic_fetch_add_explicit(&m->db_errors[op], 1, RELAXED);
}

static unsigned long long
get(const atomic_uint_fast64_t *v)
{
	return (unsigned long long)atomic_load_explicit(v, RELAXED);
}

static int
head(struct buf *out, const char *name, const char *type, const char *help,
     struct err *err)
{
	return buf_appendf(out, err, "# HELP %s %s\n# TYPE %s %s\n", name, help,
			   name, type);
}

/* name{labels,release="..."} value: labels is "" or `k="v"` pairs. */
static int
sample(struct buf *out, const struct metrics *m, const char *name,
       const char *labels, unsigned long long value, struct err *err)
{
	return buf_appendf(out, err, "%s{%s%srelease=\"%s\"} %llu\n", name,
			   labels, labels[0] ? "," : "", m->release, value);
}

static int
family(struct buf *out, const struct metrics *m, const char *name,
       const char *help, const char *label, const char *const *names,
       const atomic_uint_fast64_t *v, int n, struct err *err)
{
	char l[96];
	int rc = head(out, name, "counter", help, err);

	for (int i = 0; i < n && rc == 0; i++) {
		snprintf(l, sizeof(l), "%s=\"%s\"", label, names[i]);
		rc = sample(out, m, name, l, get(&v[i]), err);
	}
	return rc;
}

static int
render_counters(struct buf *out, const struct metrics *m, struct err *err)
{
	int rc = family(out, m, "ivr_calls_total", "Calls ended, by outcome.",
			"outcome", outcome_names, m->calls,
			METRICS_CALL_OUTCOMES, err);

	if (rc == 0)
		rc = family(out, m, "ivr_call_steps_total",
			    "Call steps answered, by outcome.", "outcome",
			    step_names, m->steps, METRICS_STEP_OUTCOMES, err);
	if (rc == 0)
		rc = head(out, "ivr_auth_failures_total", "counter",
			  "Failed caller authentications.", err);
	if (rc == 0)
		rc = sample(out, m, "ivr_auth_failures_total", "",
			    get(&m->auth_failures), err);
	if (rc == 0)
		rc = head(out, "ivr_auth_lockouts_total", "counter",
			  "Authentications answered with a locked account.",
			  err);
	if (rc == 0)
		rc = sample(out, m, "ivr_auth_lockouts_total", "",
			    get(&m->auth_lockouts), err);
	if (rc == 0)
		rc = family(out, m, "ivr_transfers_total",
			    "Transfers, by result.", "result", transfer_names,
			    m->transfers, METRICS_TRANSFER_RESULTS, err);
	if (rc == 0)
		rc = family(out, m, "ivr_db_errors_total",
			    "Bank operations that failed, by operation.", "op",
			    db_op_names, m->db_errors, METRICS_DB_OPS, err);
	return rc;
}

static int
render_http(struct buf *out, const struct metrics *m, struct err *err)
{
	char l[96];
	int rc = head(out, "ivr_http_requests_total", "counter",
		      "HTTP responses, by route and status code.", err);

	for (int r = 0; r < METRICS_ROUTES && rc == 0; r++)
		for (int c = 0; c < METRICS_CODES && rc == 0; c++) {
			if (get(&m->http[r][c]) == 0)
				continue;
			snprintf(l, sizeof(l), "route=\"%s\",code=\"%u\"",
				 route_names[r], codes[c]);
			rc = sample(out, m, "ivr_http_requests_total", l,
				    get(&m->http[r][c]), err);
		}
	return rc;
}

/* The series of one histogram (its head written by the caller); labels
 * as for sample(). */
static int
histogram(struct buf *out, const struct metrics *m, const char *name,
	  const char *labels, const struct metrics_histogram *h,
	  struct err *err)
{
	unsigned long long cumulative = 0;
	const char *sep = labels[0] ? "," : "";
	int rc = 0;

	for (int i = 0; i < METRICS_BUCKETS && rc == 0; i++) {
		char le[16];

		cumulative += get(&h->buckets[i]);
		if (i < METRICS_BUCKETS - 1)
			snprintf(le, sizeof(le), "%g", bounds[i]);
		else
			snprintf(le, sizeof(le), "+Inf");
		rc = buf_appendf(out, err,
				 "%s_bucket{%s%sle=\"%s\",release=\"%s\"} "
				 "%llu\n",
				 name, labels, sep, le, m->release, cumulative);
	}
	if (rc == 0)
		rc = buf_appendf(out, err,
				 "%s_sum{%s%srelease=\"%s\"} %.6f\n"
				 "%s_count{%s%srelease=\"%s\"} %llu\n",
				 name, labels, sep, m->release,
				 (double)get(&h->sum_us) / 1e6, name, labels,
				 sep, m->release, cumulative);
	return rc;
}

static int
render_histograms(struct buf *out, const struct metrics *m, struct err *err)
{
	char l[64];
	int rc = head(out, "ivr_step_duration_seconds", "histogram",
		      "Time to answer one call step.", err);

	if (rc == 0)
		rc = histogram(out, m, "ivr_step_duration_seconds", "",
			       &m->step_time, err);
	if (rc == 0)
		rc = head(out, "ivr_db_operation_duration_seconds", "histogram",
			  "Time of one bank operation of a call, by "
			  "operation.",
			  err);
	for (int i = 0; i < METRICS_DB_OPS && rc == 0; i++) {
		snprintf(l, sizeof(l), "op=\"%s\"", db_op_names[i]);
		rc = histogram(out, m, "ivr_db_operation_duration_seconds", l,
			       &m->db_time[i], err);
	}
	return rc;
}

/* Open descriptors, from /proc/self/fd (0 when it cannot be read). */
static unsigned
open_fds(void)
{
	unsigned n = 0;
	struct dirent *de;
	DIR *d = opendir("/proc/self/fd");

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n > 0 ? n - 1 : 0; /* less the listing's own descriptor */
}

static int
process_lines(struct buf *out, const struct metrics *m, double cpu,
	      unsigned long long rss, unsigned long long vsize,
	      unsigned long long max_fds, struct err *err)
{
	const char *r = m->release;

	return buf_appendf(
		out, err,
		"# HELP process_cpu_seconds_total User and system CPU time "
		"spent in seconds.\n"
		"# TYPE process_cpu_seconds_total counter\n"
		"process_cpu_seconds_total{release=\"%s\"} %.3f\n"
		"# HELP process_resident_memory_bytes Resident memory size in "
		"bytes.\n"
		"# TYPE process_resident_memory_bytes gauge\n"
		"process_resident_memory_bytes{release=\"%s\"} %llu\n"
		"# HELP process_virtual_memory_bytes Virtual memory size in "
		"bytes.\n"
		"# TYPE process_virtual_memory_bytes gauge\n"
		"process_virtual_memory_bytes{release=\"%s\"} %llu\n"
		"# HELP process_open_fds Number of open file descriptors.\n"
		"# TYPE process_open_fds gauge\n"
		"process_open_fds{release=\"%s\"} %u\n"
		"# HELP process_max_fds Maximum number of open file "
		"descriptors.\n"
		"# TYPE process_max_fds gauge\n"
		"process_max_fds{release=\"%s\"} %llu\n"
		"# HELP process_start_time_seconds Start time of the process "
		"since unix epoch in seconds.\n"
		"# TYPE process_start_time_seconds gauge\n"
		"process_start_time_seconds{release=\"%s\"} %.3f\n",
		r, cpu, r, rss, r, vsize, r, open_fds(), r, max_fds, r,
		m->start_time);
}

/* The process's own figures, under the names Prometheus' client
 * libraries use (dashboards and alerts expect them). */
static int
render_process(struct buf *out, const struct metrics *m, struct err *err)
{
	unsigned long long size = 0, rss = 0, max_fds = 0;
	long page = sysconf(_SC_PAGESIZE);
	struct rusage ru;
	struct rlimit rl;
	double cpu = 0;
	FILE *f;

	if (getrusage(RUSAGE_SELF, &ru) == 0)
		cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
		      (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
	if ((f = fopen("/proc/self/statm", "re")) != NULL) {
		if (fscanf(f, "%llu %llu", &size, &rss) != 2)
			size = rss = 0;
		fclose(f);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		max_fds = (unsigned long long)rl.rlim_cur;
	if (page < 0)
		page = 0;
	return process_lines(out, m, cpu, rss * (unsigned long long)page,
			     size * (unsigned long long)page, max_fds, err);
}

int
metrics_render(struct buf *out, const struct metrics *m, unsigned calls_active,
	       int draining, struct err *err)
{
	int rc = head(out, "ivr_calls_active", "gauge", "Calls in progress.",
		      err);

	if (rc == 0)
		rc = sample(out, m, "ivr_calls_active", "", calls_active, err);
	if (rc == 0)
		rc = head(out, "ivr_draining", "gauge",
			  "1 while the server drains its calls before "
			  "stopping.",
			  err);
	if (rc == 0)
		rc = sample(out, m, "ivr_draining", "", draining ? 1 : 0, err);
	if (rc == 0)
		rc = head(out, "ivr_build_info", "gauge",
			  "The running release.", err);
	if (rc == 0)
		rc = buf_appendf(
			out, err,
			"ivr_build_info{version=\"%s\",release=\"%s\"} "
			"1\n",
			m->release, m->release);
	if (rc == 0)
		rc = render_counters(out, m, err);
	if (rc == 0)
		rc = render_http(out, m, err);
	if (rc == 0)
		rc = render_histograms(out, m, err);
	if (rc == 0)
		rc = render_process(out, m, err);
	if (rc == 0)
		rc = head(out, "ivr_http_connections_cut_total", "counter",
			  "Connections shut down because a request's headers "
			  "or body did not arrive within the deadline.",
			  err);
	if (rc == 0)
		rc = sample(out, m, "ivr_http_connections_cut_total", "",
			    get(&m->connections_cut), err);
	return rc;
}
