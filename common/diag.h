/*
 * diag: a list of problems found in a file, each at a place
 * ("playbooks/prod.yaml:14:7: unknown key 'hsots'"), so that a loader can
 * report every problem at once instead of stopping at the first.
 *
 * Lines and columns are 1-based (libyaml's marks are 0-based: add 1).  The
 * list keeps at most `max` entries and counts the rest, so a file full of
 * errors cannot exhaust memory.  Problems are sorted by place when
 * formatted.
 */
#ifndef IVR_COMMON_DIAG_H
#define IVR_COMMON_DIAG_H

#include <stddef.h>

#include "buf.h"
#include "err.h"

struct diag {
	char *path;    /* owned */
	unsigned line; /* 1-based; 0 when the problem has no place */
	unsigned col;  /* 1-based; 0 with line 0 */
	char *msg;     /* owned */
	size_t seq;    /* order of arrival: ties at one place keep it */
};

struct diag_list {
	struct diag *items; /* owned */
	size_t count;
	size_t alloc;
	size_t max;	/* the most entries kept */
	size_t dropped; /* problems found beyond max (or lost to OOM) */
};

/* Makes an empty list that keeps at most max entries.  No allocation. */
void diag_list_init(struct diag_list *l, size_t max);

/*
 * Records a problem at path:line:col (path copied).  Cannot fail: past the
 * cap or out of memory it is counted in l->dropped.
 */
void diag_add(struct diag_list *l, const char *path, unsigned line,
	      unsigned col, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* The total number of problems found, kept or not. */
size_t diag_total(const struct diag_list *l);

/*
 * Sorts the entries by path, line, column and appends them to out, one
 * "path:line:col: msg\n" per entry ("path: msg" without a place), then
 * "... and N more problems\n" when some were dropped.  Returns 0 or the
 * buffer's error.
 */
int diag_format(struct buf *out, struct diag_list *l, struct err *err);

/* Frees every entry; the list is empty and keeps its max. */
void diag_list_release(struct diag_list *l);

#endif
