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
static const double bounds[METRICS_BUCKETS - 1] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
};

#define RELAXED memory_order_relaxed

void
metrics_init(struct metrics *m, const char *version)
{
	struct timespec now;

	memset(m, 0, sizeof(*m));
	m->version = version;
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

void
metrics_step(struct metrics *m, uint64_t micros)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < METRICS_BUCKETS - 1; i++)
		if ((double)micros / 1e6 <= bounds[i])
			break;
	atomic_fetch_add_explicit(&m->step_buckets[i], 1, RELAXED);
	atomic_fetch_add_explicit(&m->step_count, 1, RELAXED);
	atomic_fetch_add_explicit(&m->step_sum_us, micros, RELAXED);
}

static unsigned long long
get(const atomic_uint_fast64_t *v)
{
	return (unsigned long long)atomic_load_explicit(v, RELAXED);
}

static int
render_counters(struct buf *out, const struct metrics *m, struct err *err)
{
	int rc = buf_append_str(out,
				"# HELP ivr_calls_total Calls ended, by "
				"outcome.\n# TYPE ivr_calls_total counter\n",
				err);

	for (int i = 0; i < METRICS_CALL_OUTCOMES && rc == 0; i++)
		rc = buf_appendf(out, err,
				 "ivr_calls_total{outcome=\"%s\"} %llu\n",
				 outcome_names[i], get(&m->calls[i]));
	if (rc == 0)
		rc = buf_appendf(out, err,
				 "# HELP ivr_auth_failures_total Failed caller "
				 "authentications.\n# TYPE "
				 "ivr_auth_failures_total counter\n"
				 "ivr_auth_failures_total %llu\n",
				 get(&m->auth_failures));
	if (rc == 0)
		rc = buf_append_str(out,
				    "# HELP ivr_transfers_total Transfers, by "
				    "result.\n# TYPE ivr_transfers_total "
				    "counter\n",
				    err);
	for (int i = 0; i < METRICS_TRANSFER_RESULTS && rc == 0; i++)
		rc = buf_appendf(out, err,
				 "ivr_transfers_total{result=\"%s\"} %llu\n",
				 transfer_names[i], get(&m->transfers[i]));
	return rc;
}

static int
render_http(struct buf *out, const struct metrics *m, struct err *err)
{
	int rc = buf_append_str(out,
				"# HELP ivr_http_requests_total HTTP "
				"responses, by route and status code.\n"
				"# TYPE ivr_http_requests_total counter\n",
				err);

	for (int r = 0; r < METRICS_ROUTES && rc == 0; r++)
		for (int c = 0; c < METRICS_CODES && rc == 0; c++)
			if (get(&m->http[r][c]) > 0)
				rc = buf_appendf(
					out, err,
					"ivr_http_requests_total{route=\"%s\","
					"code=\"%u\"} %llu\n",
					route_names[r], codes[c],
					get(&m->http[r][c]));
	return rc;
}

static int
render_histogram(struct buf *out, const struct metrics *m, struct err *err)
{
	unsigned long long cumulative = 0;
	int rc = buf_append_str(out,
				"# HELP ivr_step_duration_seconds Time to "
				"answer one call step.\n# TYPE "
				"ivr_step_duration_seconds histogram\n",
				err);

	for (int i = 0; i < METRICS_BUCKETS && rc == 0; i++) {
		cumulative += get(&m->step_buckets[i]);
		if (i < METRICS_BUCKETS - 1)
			rc = buf_appendf(out, err,
					 "ivr_step_duration_seconds_bucket{le="
					 "\"%g\"} %llu\n",
					 bounds[i], cumulative);
		else
			rc = buf_appendf(out, err,
					 "ivr_step_duration_seconds_bucket{le="
					 "\"+Inf\"} %llu\n",
					 cumulative);
	}
	if (rc == 0)
		rc = buf_appendf(out, err,
				 "ivr_step_duration_seconds_sum %.6f\n"
				 "ivr_step_duration_seconds_count %llu\n",
				 (double)get(&m->step_sum_us) / 1e6,
				 cumulative);
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
	return buf_appendf(
		out, err,
		"# HELP process_cpu_seconds_total User and system CPU time "
		"spent in seconds.\n"
		"# TYPE process_cpu_seconds_total counter\n"
		"process_cpu_seconds_total %.3f\n"
		"# HELP process_resident_memory_bytes Resident memory size in "
		"bytes.\n"
		"# TYPE process_resident_memory_bytes gauge\n"
		"process_resident_memory_bytes %llu\n"
		"# HELP process_virtual_memory_bytes Virtual memory size in "
		"bytes.\n"
		"# TYPE process_virtual_memory_bytes gauge\n"
		"process_virtual_memory_bytes %llu\n"
		"# HELP process_open_fds Number of open file descriptors.\n"
		"# TYPE process_open_fds gauge\n"
		"process_open_fds %u\n"
		"# HELP process_max_fds Maximum number of open file "
		"descriptors.\n"
		"# TYPE process_max_fds gauge\n"
		"process_max_fds %llu\n"
		"# HELP process_start_time_seconds Start time of the process "
		"since unix epoch in seconds.\n"
		"# TYPE process_start_time_seconds gauge\n"
		"process_start_time_seconds %.3f\n",
		cpu, rss * (unsigned long long)page,
		size * (unsigned long long)page, open_fds(), max_fds,
		m->start_time);
}

int
metrics_render(struct buf *out, const struct metrics *m, unsigned calls_active,
	       int draining, struct err *err)
{
	int rc = buf_appendf(out, err,
			     "# HELP ivr_calls_active Calls in progress.\n"
			     "# TYPE ivr_calls_active gauge\n"
			     "ivr_calls_active %u\n"
			     "# HELP ivr_draining 1 while the server drains "
			     "its calls before stopping.\n"
			     "# TYPE ivr_draining gauge\nivr_draining %d\n"
			     "# HELP ivr_build_info The running release.\n"
			     "# TYPE ivr_build_info gauge\n"
			     "ivr_build_info{version=\"%s\"} 1\n",
			     calls_active, draining ? 1 : 0, m->version);

	if (rc == 0)
		rc = render_counters(out, m, err);
	if (rc == 0)
		rc = render_http(out, m, err);
	if (rc == 0)
		rc = render_histogram(out, m, err);
	if (rc == 0)
		rc = render_process(out, m, err);
	if (rc == 0)
		rc = buf_appendf(
			out, err,
			"# HELP ivr_http_connections_cut_total Connections "
			"shut down because a request's headers or body did not "
			"arrive within the deadline.\n"
			"# TYPE ivr_http_connections_cut_total counter\n"
			"ivr_http_connections_cut_total %llu\n",
			(unsigned long long)get(&m->connections_cut));
	return rc;
}
