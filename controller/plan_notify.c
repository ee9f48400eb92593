/*
 * plan_notify: the plan's `notify:` list of webhooks (plan_int.h, plan.h's
 * struct plan_hook): an http(s) URL, a secret file only its owner may read
 * (its first line is the HMAC key, at least 16 bytes), the events wanted,
 * a timeout per attempt and a number of retries.
 */
#include "plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "plan_int.h"
#include "ydoc.h"

const char *const plan_notify_events[] = {
	"started",     "phase_done", "waiting", "analysis_failed",
	"rolled_back", "finished",   NULL,
};

#define SECRET_MAX 4096

/* The secret: the file's first line, its owner's only, 16+ bytes. */
static void
load_secret(struct loader *l, struct plan_hook *h, const struct ydoc_node *n)
{
	const struct ydoc_node *at = ydoc_get(n, "secret_file");
	char *path = plan_readable_file(l, n, "secret_file", true),
	     buf[SECRET_MAX];
	struct stat st;
	size_t len = 0;
	FILE *f;

	if (path == NULL || stat(path, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (f = fopen(path, "re")) == NULL) {
		free(path);
		return;
	}
	if ((st.st_mode & 077) != 0)
		ydoc_problem(l->d, l->doc, at,
			     "'secret_file': '%s' must be readable by its "
			     "owner only (chmod 600)",
			     path);
	else if (fgets(buf, sizeof(buf), f) != NULL &&
		 (len = strcspn(buf, "\r\n")) >= 16) {
		buf[len] = '\0';
		h->secret = strdup(buf);
		h->secret_len = len;
	} else
		ydoc_problem(l->d, l->doc, at,
			     "'secret_file': '%s' must hold a secret of at "
			     "least 16 bytes on its first line",
			     path);
	explicit_bzero(buf, sizeof(buf));
	fclose(f);
	free(path);
}

static void
load_events(struct loader *l, struct plan_hook *h, const struct ydoc_node *n)
{
	const struct ydoc_node *list = ydoc_get(n, "events");

	h->events = ~0u;
	if (list == NULL || !ydoc_expect_seq(l->d, l->doc, list, "'events'"))
		return;
	h->events = 0;
	for (size_t i = 0; i < list->count; i++) {
		const struct ydoc_node *e = list->items[i];
		const char *name = ydoc_is_str(e) ? e->text : "";
		const char *hint = ydoc_suggest(name, plan_notify_events);
		size_t k;

		for (k = 0; plan_notify_events[k] != NULL; k++)
			if (strcmp(plan_notify_events[k], name) == 0)
				break;
		if (plan_notify_events[k] != NULL)
			h->events |= 1u << k;
		else
			ydoc_problem(l->d, l->doc, e,
				     "unknown event '%s'%s%s%s (started, "
				     "phase_done, waiting, analysis_failed, "
				     "rolled_back, finished)",
				     name, hint ? " (did you mean '" : "",
				     hint ? hint : "", hint ? "'?)" : "");
	}
}

static void
load_hook(struct loader *l, struct plan_hook *h, const struct ydoc_node *n)
{
	static const char *const keys[] = { "url",     "secret_file", "events",
					    "timeout", "retries",     NULL };
	const char *url = NULL;
	int64_t v;

	h->timeout_ms = 2000;
	h->retries = 3;
	if (!ydoc_expect_map(l->d, l->doc, n, "a webhook"))
		return;
	ydoc_check_keys(l->d, l->doc, n, keys);
	if (ydoc_get_str(&url, l->d, l->doc, n, "url", true)) {
		if ((strncmp(url, "http://", 7) != 0 &&
		     strncmp(url, "https://", 8) != 0) ||
		    strlen(url) > 1024 || strpbrk(url, " \t\r\n") != NULL)
			ydoc_problem(l->d, l->doc, ydoc_get(n, "url"),
				     "'url': '%s' is not an http:// or "
				     "https:// URL",
				     url);
		else
			h->url = strdup(url);
	}
	load_secret(l, h, n);
	load_events(l, h, n);
	ydoc_get_duration(&h->timeout_ms, l->d, l->doc, n, "timeout", false,
			  100, 30000);
	if (ydoc_get_int(&v, l->d, l->doc, n, "retries", false, 0, 10))
		h->retries = (int)v;
}

void
plan_load_notify(struct loader *l, const struct ydoc_node *s)
{
	if (!ydoc_expect_seq(l->d, l->doc, s, "'notify'"))
		return;
	if (s->count == 0 || s->count > PLAN_MAX_HOOKS) {
		ydoc_problem(l->d, l->doc, s, "'notify' takes 1 to %d webhooks",
			     PLAN_MAX_HOOKS);
		return;
	}
	l->p->nhooks = s->count;
	for (size_t i = 0; i < s->count; i++)
		load_hook(l, &l->p->hooks[i], s->items[i]);
}

void
plan_free_notify(struct plan *p)
{
	for (size_t i = 0; i < p->nhooks; i++) {
		free(p->hooks[i].url);
		if (p->hooks[i].secret != NULL)
			explicit_bzero(p->hooks[i].secret,
				       p->hooks[i].secret_len);
		free(p->hooks[i].secret);
	}
}
