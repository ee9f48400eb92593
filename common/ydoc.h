/*
 * ydoc: a YAML file as a tree of nodes that remember where they were
 * written, so that loaders of plans, configs and call flows can check
 * structure and meaning and report `path:line:col: message` for every
 * problem.  libyaml lives behind this module only.
 *
 * What is refused, because a deployment file should not need it and an
 * attacker could abuse it: anchors and aliases, more than one document,
 * non-scalar mapping keys, duplicate keys, nesting deeper than YDOC_MAX_DEPTH,
 * more than YDOC_MAX_NODES nodes, files larger than the caller's cap.
 *
 * The typed getters (ydoc_get_str, ydoc_get_int, ...) each check one key of
 * a mapping and add a problem to a struct diag_list when it is missing
 * (if required) or of the wrong type, so a loader can walk the whole file
 * and report everything at once.
 */
#ifndef IVR_COMMON_YDOC_H
#define IVR_COMMON_YDOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diag.h"
#include "err.h"

#define YDOC_MAX_DEPTH 64
#define YDOC_MAX_NODES 200000

enum ydoc_type {
	YDOC_SCALAR,
	YDOC_MAP,
	YDOC_SEQ,
};

struct ydoc_node;

struct ydoc_pair {
	struct ydoc_node *key; /* always a scalar */
	struct ydoc_node *value;
};

struct ydoc_node {
	enum ydoc_type type;
	unsigned line; /* 1-based place of the node's first character */
	unsigned col;
	/* YDOC_SCALAR */
	char *text; /* NUL-terminated; may hold NUL bytes before len */
	size_t len;
	bool quoted; /* written in quotes or as a block: always a string */
	/* YDOC_SEQ */
	struct ydoc_node **items;
	/* YDOC_MAP */
	struct ydoc_pair *pairs;
	size_t count; /* items or pairs */
};

struct ydoc {
	char *path;		/* owned copy, used in messages */
	struct ydoc_node *root; /* NULL for an empty file */
	size_t nodes;
};

/*
 * Reads and parses the file at path (at most max_bytes).  Returns 0;
 * ERR_PARSE when the file is not acceptable YAML, with the problem added to
 * diags at its place; or ERR_IO / ERR_NOTFOUND / ERR_OVERFLOW in err when
 * the file cannot be read.  Release doc in every case.
 */
int ydoc_load_file(struct ydoc *doc, const char *path, size_t max_bytes,
		   struct diag_list *diags, struct err *err);

/* The same for n bytes of text, reported under the name path. */
int ydoc_load_string(struct ydoc *doc, const char *path, const char *text,
		     size_t n, struct diag_list *diags, struct err *err);

/* Frees the tree; doc is empty afterwards. */
void ydoc_release(struct ydoc *doc);

/* Adds a problem at node's place (doc's path).  node may be NULL. */
void ydoc_problem(struct diag_list *diags, const struct ydoc *doc,
		  const struct ydoc_node *node, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* "a mapping", "a list", "a string": for messages. */
const char *ydoc_type_name(const struct ydoc_node *node);

/*
 * True when node is a mapping; otherwise adds "<what> must be a mapping,
 * found <type>" (NULL node: nothing added, false).
 */
bool ydoc_expect_map(struct diag_list *diags, const struct ydoc *doc,
		     const struct ydoc_node *node, const char *what);

/* The same for a list (sequence). */
bool ydoc_expect_seq(struct diag_list *diags, const struct ydoc *doc,
		     const struct ydoc_node *node, const char *what);

/* The value under key in map, or NULL (also when map is not a mapping). */
const struct ydoc_node *ydoc_get(const struct ydoc_node *map, const char *key);

/*
 * Adds "unknown key 'k'" for each key of map not in allowed (NULL-ended),
 * with "(did you mean 'x'?)" when one allowed key is a near miss.
 */
void ydoc_check_keys(struct diag_list *diags, const struct ydoc *doc,
		     const struct ydoc_node *map, const char *const *allowed);

/*
 * Typed getters.  Each looks up key in map; when it is absent, a required
 * key adds "missing key 'k'" at the map and the getter returns false, an
 * optional one returns false quietly (out untouched).  A present value of
 * the wrong type or out of range adds a problem at the value and returns
 * false.  Strings are borrowed from the tree.
 */
bool ydoc_get_str(const char **out, struct diag_list *diags,
		  const struct ydoc *doc, const struct ydoc_node *map,
		  const char *key, bool required);
bool ydoc_get_int(int64_t *out, struct diag_list *diags, const struct ydoc *doc,
		  const struct ydoc_node *map, const char *key, bool required,
		  int64_t min, int64_t max);
bool ydoc_get_bool(bool *out, struct diag_list *diags, const struct ydoc *doc,
		   const struct ydoc_node *map, const char *key, bool required);
bool ydoc_get_duration(int64_t *out_ms, struct diag_list *diags,
		       const struct ydoc *doc, const struct ydoc_node *map,
		       const char *key, bool required, int64_t min_ms,
		       int64_t max_ms);

/* True when node is a scalar that reads as a string (not null). */
bool ydoc_is_str(const struct ydoc_node *node);

/*
 * The closest of the candidates (NULL-ended) to word, when close enough to
 * be a likely typo, else NULL.  Borrowed from candidates.
 */
const char *ydoc_suggest(const char *word, const char *const *candidates);

#endif
