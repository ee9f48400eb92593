/*
 * ydoc: see ydoc.h.  The tree is built from libyaml's event stream by a
 * recursive descent that counts depth and nodes, so hostile input costs at
 * most YDOC_MAX_NODES allocations and YDOC_MAX_DEPTH stack frames.
 */
#include "ydoc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "buf.h"
#include "fileio.h"
#include "parse.h"

struct builder {
	yaml_parser_t parser;
	struct ydoc *doc;
	struct diag_list *diags;
	const char *text; /* the input, borrowed, n bytes */
	size_t n;
	int failed;
};

static void
node_free(struct ydoc_node *n)
{
	if (n == NULL)
		return;
	for (size_t i = 0; n->type == YDOC_SEQ && i < n->count; i++)
		node_free(n->items[i]);
	for (size_t i = 0; n->type == YDOC_MAP && i < n->count; i++) {
		node_free(n->pairs[i].key);
		node_free(n->pairs[i].value);
	}
	free(n->items);
	free(n->pairs);
	free(n->text);
	free(n);
}

void
ydoc_release(struct ydoc *doc)
{
	node_free(doc->root);
	free(doc->path);
	doc->root = NULL;
	doc->path = NULL;
	doc->nodes = 0;
}

void
ydoc_problem(struct diag_list *diags, const struct ydoc *doc,
	     const struct ydoc_node *node, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	diag_add(diags, doc->path, node ? node->line : 0, node ? node->col : 0,
		 "%s", msg);
}

/* Records a problem at a libyaml mark (0-based) and fails the build. */
static void fail_at(struct builder *b, const yaml_mark_t *mark, const char *fmt,
		    ...) __attribute__((format(printf, 3, 4)));

static void
fail_at(struct builder *b, const yaml_mark_t *mark, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	diag_add(b->diags, b->doc->path, (unsigned)mark->line + 1,
		 (unsigned)mark->column + 1, "%s", msg);
	b->failed = 1;
}

/* The line and column (0-based) of byte offset in the input: libyaml's
 * reader errors (bad UTF-8, NUL and other control bytes) carry only an
 * offset, and their mark stays at the start. */
static yaml_mark_t
mark_at(const struct builder *b, size_t offset)
{
	yaml_mark_t m = { .index = offset };
	size_t line_start = 0;

	for (size_t i = 0; i < offset && i < b->n; i++)
		if (b->text[i] == '\n') {
			m.line++;
			line_start = i + 1;
		}
	m.column = offset - line_start; /* in bytes */
	return m;
}

static int
next_event(struct builder *b, yaml_event_t *ev)
{
	const yaml_mark_t *at = &b->parser.problem_mark;
	yaml_mark_t reader;

	if (yaml_parser_parse(&b->parser, ev))
		return 0;
	if (b->parser.error == YAML_READER_ERROR) {
		reader = mark_at(b, b->parser.problem_offset);
		if (b->parser.problem_offset < b->n &&
		    b->text[b->parser.problem_offset] == '\0')
			fail_at(b, &reader, "a NUL byte cannot be in YAML");
		else
			fail_at(b, &reader, "%s (byte 0x%02x)",
				b->parser.problem ? b->parser.problem
						  : "unreadable input",
				(unsigned)(b->parser.problem_value & 0xff));
		return -1;
	}
	if (at->index < b->n && b->text[at->index] == '\t') {
		fail_at(b, at, "a tab cannot indent YAML: use spaces (%s)",
			b->parser.problem ? b->parser.problem : "invalid YAML");
		return -1;
	}
	if (b->parser.context != NULL)
		fail_at(b, &b->parser.problem_mark, "%s %s", b->parser.problem,
			b->parser.context);
	else
		fail_at(b, &b->parser.problem_mark, "%s",
			b->parser.problem ? b->parser.problem : "invalid YAML");
	return -1;
}

static struct ydoc_node *
new_node(struct builder *b, enum ydoc_type type, const yaml_mark_t *mark)
{
	struct ydoc_node *n;

	if (++b->doc->nodes > YDOC_MAX_NODES) {
		fail_at(b, mark, "too many nodes (the limit is %d)",
			YDOC_MAX_NODES);
		return NULL;
	}
	n = calloc(1, sizeof(*n));
	if (n == NULL) {
		fail_at(b, mark, "out of memory");
		return NULL;
	}
	n->type = type;
	n->line = (unsigned)mark->line + 1;
	n->col = (unsigned)mark->column + 1;
	return n;
}

static struct ydoc_node *build(struct builder *b, yaml_event_t *ev, int depth);

static struct ydoc_node *
build_scalar(struct builder *b, yaml_event_t *ev)
{
	struct ydoc_node *n = new_node(b, YDOC_SCALAR, &ev->start_mark);
	size_t len = ev->data.scalar.length;

	if (n == NULL)
		return NULL;
	n->text = malloc(len + 1);
	if (n->text == NULL) {
		fail_at(b, &ev->start_mark, "out of memory");
		free(n);
		return NULL;
	}
	memcpy(n->text, ev->data.scalar.value, len);
	n->text[len] = '\0';
	n->len = len;
	n->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
	return n;
}

/* Appends child to a sequence or (with key) a mapping. */
static int
add_child(struct builder *b, struct ydoc_node *parent, struct ydoc_node *key,
	  struct ydoc_node *child)
{
	yaml_mark_t mark = { 0, child->line - 1, child->col - 1 };
	size_t n = parent->count + 1;
	void *p;

	if (parent->type == YDOC_SEQ)
		p = realloc(parent->items, n * sizeof(*parent->items));
	else
		p = realloc(parent->pairs, n * sizeof(*parent->pairs));
	if (p == NULL) {
		fail_at(b, &mark, "out of memory");
		return -1;
	}
	if (parent->type == YDOC_SEQ) {
		parent->items = p;
		parent->items[parent->count] = child;
	} else {
		parent->pairs = p;
		parent->pairs[parent->count].key = key;
		parent->pairs[parent->count].value = child;
	}
	parent->count = n;
	return 0;
}

/* Checks a mapping key: a scalar, not seen before in this mapping. */
static int
check_key(struct builder *b, struct ydoc_node *map, struct ydoc_node *key)
{
	yaml_mark_t mark = { 0, key->line - 1, key->col - 1 };
	char q[256];

	if (key->type != YDOC_SCALAR) {
		fail_at(b, &mark, "a mapping key must be a plain value, not %s",
			ydoc_type_name(key));
		return -1;
	}
	for (size_t i = 0; i < map->count; i++) {
		if (strcmp(map->pairs[i].key->text, key->text) == 0) {
			err_quote(q, sizeof(q), key->text, key->len);
			fail_at(b, &mark,
				"duplicate key '%s' (first at line %u)", q,
				map->pairs[i].key->line);
			return -1;
		}
	}
	return 0;
}

static int
build_children(struct builder *b, struct ydoc_node *n, int depth)
{
	yaml_event_type_t end = n->type == YDOC_SEQ ? YAML_SEQUENCE_END_EVENT
						    : YAML_MAPPING_END_EVENT;
	struct ydoc_node *key = NULL, *child;
	yaml_event_t ev;

	for (;;) {
		if (next_event(b, &ev) < 0)
			break;
		if (ev.type == end) {
			yaml_event_delete(&ev);
			return 0;
		}
		child = build(b, &ev, depth + 1);
		yaml_event_delete(&ev);
		if (child == NULL)
			break;
		if (n->type == YDOC_MAP && key == NULL) {
			key = child;
			if (check_key(b, n, key) < 0)
				break;
			continue;
		}
		if (add_child(b, n, key, child) < 0) {
			node_free(child);
			break;
		}
		key = NULL;
	}
	node_free(key);
	return -1;
}

static struct ydoc_node *
build(struct builder *b, yaml_event_t *ev, int depth)
{
	enum ydoc_type type;
	struct ydoc_node *n;

	if (depth > YDOC_MAX_DEPTH) {
		fail_at(b, &ev->start_mark, "nesting deeper than %d levels",
			YDOC_MAX_DEPTH);
		return NULL;
	}
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		if (ev->data.scalar.anchor != NULL)
			goto anchor;
		return build_scalar(b, ev);
	case YAML_SEQUENCE_START_EVENT:
		if (ev->data.sequence_start.anchor != NULL)
			goto anchor;
		type = YDOC_SEQ;
		break;
	case YAML_MAPPING_START_EVENT:
		if (ev->data.mapping_start.anchor != NULL)
			goto anchor;
		type = YDOC_MAP;
		break;
	case YAML_ALIAS_EVENT:
		fail_at(b, &ev->start_mark,
			"aliases (*name) are not supported: write the value "
			"out");
		return NULL;
	default:
		fail_at(b, &ev->start_mark, "unexpected YAML structure");
		return NULL;
	}
	if ((n = new_node(b, type, &ev->start_mark)) == NULL)
		return NULL;
	if (build_children(b, n, depth) < 0) {
		node_free(n);
		return NULL;
	}
	return n;
anchor:
	fail_at(b, &ev->start_mark,
		"anchors (&name) are not supported: write the value out");
	return NULL;
}

/* Expects the event type t next; on anything else fails with why. */
static int
expect_event(struct builder *b, yaml_event_type_t t, const char *why)
{
	yaml_event_t ev;
	int rc = 0;

	if (next_event(b, &ev) < 0)
		return -1;
	if (ev.type != t) {
		fail_at(b, &ev.start_mark, "%s", why);
		rc = -1;
	}
	yaml_event_delete(&ev);
	return rc;
}

static int
build_document(struct builder *b)
{
	yaml_event_t ev;

	if (expect_event(b, YAML_STREAM_START_EVENT, "invalid YAML") < 0)
		return -1;
	if (next_event(b, &ev) < 0)
		return -1;
	if (ev.type == YAML_STREAM_END_EVENT) {
		yaml_event_delete(&ev);
		return 0; /* an empty file: no root */
	}
	yaml_event_delete(&ev);
	if (next_event(b, &ev) < 0)
		return -1;
	b->doc->root = build(b, &ev, 1);
	yaml_event_delete(&ev);
	if (b->doc->root == NULL)
		return -1;
	if (expect_event(b, YAML_DOCUMENT_END_EVENT, "invalid YAML") < 0)
		return -1;
	return expect_event(b, YAML_STREAM_END_EVENT,
			    "only one YAML document is allowed per file");
}

int
ydoc_load_string(struct ydoc *doc, const char *path, const char *text, size_t n,
		 struct diag_list *diags, struct err *err)
{
	struct builder b = { .doc = doc, .diags = diags, .text = text, .n = n };
	int rc = 0;

	memset(doc, 0, sizeof(*doc));
	if ((doc->path = strdup(path)) == NULL)
		return err_set(err, ERR_NOMEM, "out of memory");
	if (!yaml_parser_initialize(&b.parser))
		return err_set(err, ERR_NOMEM, "out of memory");
	yaml_parser_set_input_string(&b.parser, (const unsigned char *)text, n);
	if (build_document(&b) < 0 || b.failed) {
		node_free(doc->root);
		doc->root = NULL;
		rc = err_set(err, ERR_PARSE, "'%s' is not valid YAML", path);
	}
	yaml_parser_delete(&b.parser);
	return rc;
}

int
ydoc_load_file(struct ydoc *doc, const char *path, size_t max_bytes,
	       struct diag_list *diags, struct err *err)
{
	struct buf text;
	int rc;

	memset(doc, 0, sizeof(*doc));
	buf_init(&text, max_bytes);
	rc = fileio_read_all(&text, path, err);
	if (rc == 0)
		rc = ydoc_load_string(doc, path, buf_cstr(&text), text.len,
				      diags, err);
	buf_release(&text);
	return rc;
}

const char *
ydoc_type_name(const struct ydoc_node *node)
{
	if (node == NULL)
		return "nothing";
	switch (node->type) {
	case YDOC_MAP:
		return "a mapping";
	case YDOC_SEQ:
		return "a list";
	default:
		break;
	}
	if (!node->quoted && (node->len == 0 || strcmp(node->text, "~") == 0 ||
			      strcmp(node->text, "null") == 0))
		return "an empty value";
	return "a value";
}

bool
ydoc_is_str(const struct ydoc_node *node)
{
	return node != NULL && node->type == YDOC_SCALAR &&
	       strcmp(ydoc_type_name(node), "a value") == 0 &&
	       strlen(node->text) == node->len;
}

static bool
expect_type(struct diag_list *diags, const struct ydoc *doc,
	    const struct ydoc_node *node, enum ydoc_type type, const char *what,
	    const char *name)
{
	if (node == NULL)
		return false;
	if (node->type == type)
		return true;
	ydoc_problem(diags, doc, node, "%s must be %s, found %s", what, name,
		     ydoc_type_name(node));
	return false;
}

bool
ydoc_expect_map(struct diag_list *diags, const struct ydoc *doc,
		const struct ydoc_node *node, const char *what)
{
	return expect_type(diags, doc, node, YDOC_MAP, what, "a mapping");
}

bool
ydoc_expect_seq(struct diag_list *diags, const struct ydoc *doc,
		const struct ydoc_node *node, const char *what)
{
	return expect_type(diags, doc, node, YDOC_SEQ, what, "a list");
}

const struct ydoc_node *
ydoc_get(const struct ydoc_node *map, const char *key)
{
	if (map == NULL || map->type != YDOC_MAP)
		return NULL;
	for (size_t i = 0; i < map->count; i++)
		if (strcmp(map->pairs[i].key->text, key) == 0)
			return map->pairs[i].value;
	return NULL;
}

/* Levenshtein distance of two short strings (longer ones: a large value). */
static size_t
distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), prev[65], cur[65];

	if (la > 64 || lb > 64)
		return (size_t)-1;
	for (size_t j = 0; j <= lb; j++)
		prev[j] = j;
	for (size_t i = 1; i <= la; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
			size_t del = prev[j] + 1, ins = cur[j - 1] + 1;

			cur[j] = sub < del ? (sub < ins ? sub : ins)
					   : (del < ins ? del : ins);
		}
		memcpy(prev, cur, (lb + 1) * sizeof(size_t));
	}
	return prev[lb];
}

const char *
ydoc_suggest(const char *word, const char *const *candidates)
{
	size_t best = (size_t)-1, limit = strlen(word) / 3 + 1;
	const char *found = NULL;

	if (limit > 3)
		limit = 3;
	for (size_t i = 0; candidates[i] != NULL; i++) {
		size_t d = distance(word, candidates[i]);

		if (d < best) {
			best = d;
			found = candidates[i];
		}
	}
	return best <= limit ? found : NULL;
}

void
ydoc_check_keys(struct diag_list *diags, const struct ydoc *doc,
		const struct ydoc_node *map, const char *const *allowed)
{
	if (map == NULL || map->type != YDOC_MAP)
		return;
	for (size_t i = 0; i < map->count; i++) {
		const struct ydoc_node *k = map->pairs[i].key;
		const char *hint;
		size_t j;
		char q[256];

		for (j = 0; allowed[j] != NULL; j++)
			if (strcmp(k->text, allowed[j]) == 0)
				break;
		if (allowed[j] != NULL)
			continue;
		err_quote(q, sizeof(q), k->text, k->len);
		hint = ydoc_suggest(k->text, allowed);
		if (hint != NULL)
			ydoc_problem(diags, doc, k,
				     "unknown key '%s' (did you mean '%s'?)", q,
				     hint);
		else
			ydoc_problem(diags, doc, k, "unknown key '%s'", q);
	}
}

/* Looks key up; adds "missing key" for a required one.  NULL if absent. */
static const struct ydoc_node *
lookup(struct diag_list *diags, const struct ydoc *doc,
       const struct ydoc_node *map, const char *key, bool required)
{
	const struct ydoc_node *v = ydoc_get(map, key);

	if (v == NULL && required && map != NULL)
		ydoc_problem(diags, doc, map, "missing key '%s'", key);
	return v;
}

static bool
want_scalar(struct diag_list *diags, const struct ydoc *doc,
	    const struct ydoc_node *v, const char *key, const char *kind)
{
	if (ydoc_is_str(v))
		return true;
	ydoc_problem(diags, doc, v, "'%s' must be %s, found %s", key, kind,
		     ydoc_type_name(v));
	return false;
}

bool
ydoc_get_str(const char **out, struct diag_list *diags, const struct ydoc *doc,
	     const struct ydoc_node *map, const char *key, bool required)
{
	const struct ydoc_node *v = lookup(diags, doc, map, key, required);

	if (v == NULL || !want_scalar(diags, doc, v, key, "a string"))
		return false;
	*out = v->text;
	return true;
}

bool
ydoc_get_int(int64_t *out, struct diag_list *diags, const struct ydoc *doc,
	     const struct ydoc_node *map, const char *key, bool required,
	     int64_t min, int64_t max)
{
	const struct ydoc_node *v = lookup(diags, doc, map, key, required);
	struct err e;

	if (v == NULL || !want_scalar(diags, doc, v, key, "a whole number"))
		return false;
	if (parse_int64(out, v->text, min, max, &e) < 0) {
		ydoc_problem(diags, doc, v, "'%s': %s", key, e.msg);
		return false;
	}
	return true;
}

bool
ydoc_get_bool(bool *out, struct diag_list *diags, const struct ydoc *doc,
	      const struct ydoc_node *map, const char *key, bool required)
{
	const struct ydoc_node *v = lookup(diags, doc, map, key, required);

	if (v == NULL || !want_scalar(diags, doc, v, key, "true or false"))
		return false;
	if (!v->quoted && strcmp(v->text, "true") == 0) {
		*out = true;
		return true;
	}
	if (!v->quoted && strcmp(v->text, "false") == 0) {
		*out = false;
		return true;
	}
	ydoc_problem(diags, doc, v, "'%s' must be true or false", key);
	return false;
}

bool
ydoc_get_duration(int64_t *out_ms, struct diag_list *diags,
		  const struct ydoc *doc, const struct ydoc_node *map,
		  const char *key, bool required, int64_t min_ms,
		  int64_t max_ms)
{
	const struct ydoc_node *v = lookup(diags, doc, map, key, required);
	struct err e;

	if (v == NULL || !want_scalar(diags, doc, v, key, "a duration"))
		return false;
	if (parse_duration_ms(out_ms, v->text, min_ms, max_ms, &e) < 0) {
		ydoc_problem(diags, doc, v, "'%s': %s", key, e.msg);
		return false;
	}
	return true;
}
