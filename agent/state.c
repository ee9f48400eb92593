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
	     !layout_valid_release(json_string_value(v))))
		return -1;
	snprintf(dst, size, "%s", json_string_value(v));
	return 0;
}

/* A lineage entry: a valid version and a deployment id string. */
static bool
valid_entry(json_t *e)
{
	const char *v = json_string_value(json_object_get(e, "version"));
	const char *id = json_string_value(json_object_get(e, "deployment_id"));

	return json_is_object(e) && v != NULL && layout_valid_release(v) &&
	       id != NULL && strlen(id) <= STATE_ID_MAX;
}

static json_t *
entry(const char *version, const char *deployment_id)
{
	char at[32];
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_pack("{s:s, s:s, s:s}", "version", version, "deployment_id",
			 deployment_id, "at", at);
}

/* previous and deployment_id from the lineage's top two entries. */
static void
derive(struct agent_state *st)
{
	size_t n = json_array_size(st->lineage);
	json_t *top = n ? json_array_get(st->lineage, n - 1) : NULL;
	json_t *below = n > 1 ? json_array_get(st->lineage, n - 2) : NULL;
	const char *v;

	v = json_string_value(json_object_get(below, "version"));
	snprintf(st->previous, sizeof(st->previous), "%s", v ? v : "");
	v = json_string_value(json_object_get(top, "deployment_id"));
	snprintf(st->deployment_id, sizeof(st->deployment_id), "%s",
		 v ? v : "");
}

/* The lineage from the file, or (a file from an agent that kept none)
 * made from its previous and current. */
static int
load_lineage(struct agent_state *st, json_t *o)
{
	json_t *l = json_object_get(o, "lineage"), *e;
	size_t i;

	if (l != NULL) {
		if (!json_is_array(l))
			return -1;
		json_array_foreach (l, i, e)
			if (!valid_entry(e))
				return -1;
		st->lineage = json_incref(l);
		return 0;
	}
	st->lineage = json_array();
	if (st->previous[0])
		json_array_append_new(st->lineage, entry(st->previous, ""));
	if (st->current[0])
		json_array_append_new(st->lineage,
				      entry(st->current, st->deployment_id));
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
	if ((rc = layout_path(path, root, HOSTLAYOUT_STATE, NULL, err)) < 0)
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
	     !json_is_array(json_object_get(o, "history"))) ||
	    load_lineage(st, o) < 0) {
		json_decref(o);
		return err_set(err, ERR_PARSE,
			       "'%s' is not a valid state file: bad fields",
			       path);
	}
	st->history = json_incref(json_object_get(o, "history"));
	json_decref(o);
	derive(st);
empty:
	if (st->history == NULL)
		st->history = json_array();
	if (st->lineage == NULL)
		st->lineage = json_array();
	return 0;
}

json_t *
state_to_json(const struct agent_state *st)
{
	return json_pack("{s:s?, s:s?, s:s?, s:O, s:O}", "current",
			 st->current[0] ? st->current : NULL, "previous",
			 st->previous[0] ? st->previous : NULL, "deployment_id",
			 st->deployment_id[0] ? st->deployment_id : NULL,
			 "lineage", st->lineage, "history", st->history);
}

int
state_save(const struct agent_state *st, const char *root, struct err *err)
{
	char path[LAYOUT_PATH_MAX], *text;
	json_t *o = state_to_json(st);
	int rc;

	if ((rc = layout_path(path, root, HOSTLAYOUT_STATE, NULL, err)) < 0) {
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

static const char *
field(json_t *list, size_t i, const char *key)
{
	return json_string_value(json_object_get(json_array_get(list, i), key));
}

/* A rollback to version: down to the nearest entry of version, which
 * pops what the undone deployments pushed; when the lineage does not hold
 * it (rollback --to a release this host never stood on), version goes on
 * top, as a deployment's would, so the release before stays below. */
static void
undo(struct agent_state *st, const char *version)
{
	json_t *l = st->lineage;
	size_t n = json_array_size(l), i;

	for (i = n; i-- > 0;)
		if (strcmp(field(l, i, "version"), version) == 0)
			break;
	if (i >= n)
		return; /* not found: pushed by the caller */
	while (json_array_size(l) > i + 1)
		json_array_remove(l, json_array_size(l) - 1);
}

const char *
state_nearest(const struct agent_state *st, const char *version)
{
	char v[LAYOUT_VERSION_MAX + 1], c[LAYOUT_CONFIG_ID + 1];
	size_t n = json_array_size(st->lineage);

	for (size_t i = n; i-- > 0;)
		if (strcmp(field(st->lineage, i, "version"), version) == 0)
			return field(st->lineage, i, "version");
	for (size_t i = n; i-- > 0;) {
		const char *r = field(st->lineage, i, "version");

		if (layout_split_release(v, c, r) && strcmp(v, version) == 0)
			return r;
	}
	return NULL;
}

void
state_record(struct agent_state *st, const char *version,
	     const char *deployment_id, const char *undoes)
{
	json_t *h = entry(version, deployment_id);
	size_t n;

	if (undoes != NULL)
		/* "": the deployment that brought the current release */
		json_object_set_new(
			h, "undoes",
			json_string(undoes[0] ? undoes : st->deployment_id));
	if (undoes != NULL)
		undo(st, version);
	n = json_array_size(st->lineage);
	if (n == 0 ||
	    strcmp(field(st->lineage, n - 1, "version"), version) != 0)
		json_array_append_new(st->lineage,
				      entry(version, deployment_id));
	while (json_array_size(st->lineage) > STATE_HISTORY_MAX)
		json_array_remove(st->lineage, 0);
	snprintf(st->current, sizeof(st->current), "%s", version);
	derive(st);
	json_object_set_new(h, "kind",
			    json_string(undoes ? "rollback" : "deploy"));
	json_array_append_new(st->history, h);
	while (json_array_size(st->history) > STATE_HISTORY_MAX)
		json_array_remove(st->history, 0);
}

void
state_release(struct agent_state *st)
{
	json_decref(st->history);
	json_decref(st->lineage);
	st->history = NULL;
	st->lineage = NULL;
}
