/*
 * dryrun: see dryrun.h.
 */
#include "dryrun.h"

#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "artifact.h"
#include "buf.h"
#include "fanout.h"
#include "ssh.h"
#include "status.h"

#define MARK "--ivr-dryrun--"

struct dry_host {
	char current[65];
	char previous[65];
	bool staged;   /* the target release is unpacked there */
	bool uploaded; /* the artifact is in incoming/ */
	char error[512];
};

struct dry {
	const struct plan *p;
	const char *version;
	const char *sha;
	struct dry_host *hosts;
};

/* One section of the command's output, between markers. */
static char *
section(char **text)
{
	char *s = *text, *end = s ? strstr(s, MARK "\n") : NULL;

	if (s == NULL)
		return NULL;
	if (end != NULL) {
		*end = '\0';
		*text = end + strlen(MARK) + 1;
	} else {
		*text = NULL;
	}
	return s;
}

static bool
has_line(const char *text, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = text; p && *p; p = strchr(p, '\n') + 1) {
		if (strncmp(p, word, n) == 0 && (p[n] == '\n' || p[n] == '\0'))
			return true;
		if (strchr(p, '\n') == NULL)
			break;
	}
	return false;
}

/* Reads a host's layout with plain read-only commands. */
static void
read_host(void *ctx, size_t i)
{
	struct dry *d = ctx;
	const struct plan_host *h = &d->p->hosts[i];
	struct dry_host *dh = &d->hosts[i];
	char root[4096], q[8200], cmd[40000], *text, *cur, *state, *rel, *inc;
	struct ssh_conn *c = NULL;
	struct ssh_target t;
	struct buf out;
	json_t *st;
	struct err e;
	int status = 0;

	buf_init(&out, 1024 * 1024);
	status_target(&t, d->p, h->name, h->address, h->port, h->user);
	if (plan_expand(root, sizeof(root), d->p->agent_root, h, &e) < 0 ||
	    ssh_quote(q, sizeof(q), root, &e) < 0 ||
	    ssh_connect(&c, &t, &e) < 0)
		goto fail;
	snprintf(cmd, sizeof(cmd),
		 "cd %s 2>/dev/null && { readlink current; echo " MARK
		 "; cat state.json; echo " MARK "; ls releases; echo " MARK
		 "; ls incoming; } 2>/dev/null; true",
		 q);
	if (ssh_exec(c, cmd, &out, &status, &e) < 0)
		goto fail;
	text = out.data;
	cur = section(&text);
	state = section(&text);
	rel = section(&text);
	inc = section(&text);
	if (cur != NULL && strncmp(cur, "releases/", 9) == 0)
		snprintf(dh->current, sizeof(dh->current), "%.*s",
			 (int)strcspn(cur + 9, "\n"), cur + 9);
	st = state ? json_loads(state, 0, NULL) : NULL;
	if (json_is_string(json_object_get(st, "previous")))
		snprintf(dh->previous, sizeof(dh->previous), "%s",
			 json_string_value(json_object_get(st, "previous")));
	json_decref(st);
	dh->staged = rel && has_line(rel, d->version);
	dh->uploaded = inc && has_line(inc, d->sha);
	goto out;
fail:
	snprintf(dh->error, sizeof(dh->error), "%s", e.msg);
out:
	buf_release(&out);
	ssh_close(c);
}

static const char *
host_action(const struct dry_host *dh, const char *version)
{
	if (dh->error[0])
		return "cannot be read";
	if (strcmp(dh->current, version) == 0)
		return "already live: nothing to do";
	if (dh->staged)
		return "staged already: activate";
	if (dh->uploaded)
		return "artifact there: unpack, activate";
	return "upload, unpack, activate";
}

static void
print_hosts(FILE *f, const struct dry *d)
{
	fprintf(f, "%-12s %-16s %-12s    %-12s %s\n", "HOST", "ADDRESS",
		"CURRENT", "TARGET", "WHAT WOULD HAPPEN");
	for (size_t i = 0; i < d->p->nhosts; i++) {
		const struct dry_host *dh = &d->hosts[i];

		fprintf(f, "%-12s %-16s %-12s -> %-12s %s%s%s\n",
			d->p->hosts[i].name, d->p->hosts[i].address,
			dh->current[0] ? dh->current : "(none)", d->version,
			host_action(dh, d->version), dh->error[0] ? ": " : "",
			dh->error);
	}
}

/* Phases and their batches, hosts in inventory order. */
static void
print_phases(FILE *f, const struct plan *p)
{
	size_t max_down = plan_max_down(p);

	fprintf(f,
		"\nphases (capacity floor %d%%: at most %zu host%s out of "
		"the pool at once):\n",
		p->capacity_floor_percent, max_down, max_down == 1 ? "" : "s");
	for (size_t i = 0; i < p->nphases; i++) {
		const struct plan_phase *ph = &p->phases[i];
		struct plan_slice sl = plan_phase_slice(p, i);
		size_t next = sl.first, end = sl.first + sl.count;

		fprintf(f, "  %zu. %s%s: %zu host%s\n", i + 1, ph->name,
			ph->approval ? " (asks for approval first)" : "",
			sl.count, sl.count == 1 ? "" : "s");
		for (size_t b = 1; next < end; b++) {
			fprintf(f, "     batch %zu:", b);
			for (size_t k = 0; k < sl.batch && next < end; k++)
				fprintf(f, " %s", p->hosts[next++].name);
			fputc('\n', f);
		}
		if (ph->pause_ms > 0)
			fprintf(f, "     then pause %lld ms\n",
				(long long)ph->pause_ms);
	}
}

int
dryrun(FILE *f, const struct plan *p, const char *artifact)
{
	struct artifact art;
	struct dry d = { .p = p, .version = art.version, .sha = art.sha256 };
	struct err e;
	int rc = 0;

	if (artifact_read(&art, artifact, &e) < 0) {
		fprintf(stderr, "ivrctl: %s\n", e.msg);
		return 2;
	}
	if ((d.hosts = calloc(p->nhosts, sizeof(*d.hosts))) == NULL)
		return 1;
	fanout_run(p->nhosts, p->parallel, read_host, &d);
	fprintf(f,
		"dry run: %s, release %s (sha256 %.12s..., %lld bytes); "
		"nothing is changed\n\n",
		p->environment, art.version, art.sha256, art.size);
	print_hosts(f, &d);
	print_phases(f, p);
	for (size_t i = 0; i < p->nhosts; i++)
		if (d.hosts[i].error[0])
			rc = 3;
	free(d.hosts);
	return rc;
}
