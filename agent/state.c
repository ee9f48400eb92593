/*
 * state: see state.h.
 */
#include "state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fileio.h"

#define STATE_FILE_MAX (256 * 1024)

static int
copy_field(char *dst, size_t size, json_t *o, const char *key, bool version)
{
	json_t *v = json_object_get(o, key);

	dst[0] = '\0';
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v) || json_string_length(v) >= size ||
	    (version && json_string_length(v) > 0 &&
	     !layout_valid_version(json_string_value(v))))
		return -1;
	snprintf(dst, size, "%s", json_string_value(v));
	return 0;
}

int
state_load(struct agent_state *st, const char *root, struct err *err)
{
	char path[LAYOUT_PATH_MAX];
	json_error_t jerr;
	json_t *o;
	int rc;

	memset(st, 0, sizeof(*st));
	if ((rc = layout_path(path, root, "state.json", NULL, err)) < 0)
		return rc;
	o = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (o == NULL && json_error_code(&jerr) == json_error_cannot_open_file)
		goto empty;
	if (o == NULL)
		return err_set(err, ERR_PARSE,
			       "'%s' is not a valid state file: line %d: %s",
			       path, jerr.line, jerr.text);
	if (!json_is_object(o) ||
	    copy_field(st->current, sizeof(st->current), o, "current", true) ||
	    copy_field(st->previous, sizeof(st->previous), o, "previous",
		       true) ||
	    copy_field(st->deployment_id, sizeof(st->deployment_id), o,
		       "deployment_id", false) ||
	    (json_object_get(o, "history") != NULL &&
	     !json_is_array(json_object_get(o, "history")))) {
		json_decref(o);
		return err_set(err, ERR_PARSE,
			       "'%s' is not a valid state file: bad fields",
			       path);
	}
	st->history = json_incref(json_object_get(o, "history"));
	json_decref(o);
empty:
	if (st->history == NULL)
		st->history = json_array();
	return 0;
}

json_t *
state_to_json(const struct agent_state *st)
{
	return json_pack("{s:s?, s:s?, s:s?, s:O}", "current",
			 st->current[0] ? st->current : NULL, "previous",
			 st->previous[0] ? st->previous : NULL, "deployment_id",
			 st->deployment_id[0] ? st->deployment_id : NULL,
			 "history", st->history);
}

int
state_save(const struct agent_state *st, const char *root, struct err *err)
{
	char path[LAYOUT_PATH_MAX], *text;
	json_t *o = state_to_json(st);
	int rc;

	if ((rc = layout_path(path, root, "state.json", NULL, err)) < 0) {
		json_decref(o);
		return rc;
	}
	text = o ? json_dumps(o, JSON_INDENT(2)) : NULL;
	json_decref(o);
	if (text == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	rc = fileio_write_atomic(path, text, strlen(text), 0644, err);
	free(text);
	return rc;
}

/*
 * The release that ran before version's latest activation in the history,
 * "" when none: where a host goes after rolling back to version.
 */
static const char *
before_last(const struct agent_state *st, const char *version)
{
	for (size_t i = json_array_size(st->history); i-- > 1;) {
		json_t *e = json_array_get(st->history, i);
		const char *v =
			json_string_value(json_object_get(e, "version"));
		const char *prev;

		if (v == NULL || strcmp(v, version) != 0)
			continue;
		prev = json_string_value(json_object_get(
			json_array_get(st->history, i - 1), "version"));
		return prev ? prev : "";
	}
	return "";
}

void
state_record(struct agent_state *st, const char *version,
	     const char *deployment_id)
{
	char at[32], back[LAYOUT_VERSION_MAX + 1];
	time_t now = time(NULL);
	struct tm tm;

	if (strcmp(st->current, version) != 0) {
		/* Going back to the previous release: previous becomes the
		 * one before it, so that "previous" always names the
		 * release to roll back to, never the one just undone. */
		if (strcmp(st->previous, version) == 0)
			snprintf(back, sizeof(back), "%s",
				 before_last(st, version));
		else
			snprintf(back, sizeof(back), "%s", st->current);
		snprintf(st->previous, sizeof(st->previous), "%s", back);
		snprintf(st->current, sizeof(st->current), "%s", version);
	}
	snprintf(st->deployment_id, sizeof(st->deployment_id), "%s",
		 deployment_id);
	gmtime_r(&now, &tm);
	strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_array_append_new(st->history,
			      json_pack("{s:s, s:s, s:s}", "deployment_id",
					deployment_id, "version", version, "at",
					at));
	while (json_array_size(st->history) > STATE_HISTORY_MAX)
		json_array_remove(st->history, 0);
}

void
state_release(struct agent_state *st)
{
	json_decref(st->history);
	st->history = NULL;
}
