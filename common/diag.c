/*
 * diag: see diag.h.
 */
#include "diag.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
diag_list_init(struct diag_list *l, size_t max)
{
	l->items = NULL;
	l->count = 0;
	l->alloc = 0;
	l->max = max;
	l->dropped = 0;
}

static int
grow(struct diag_list *l)
{
	size_t n = l->alloc ? l->alloc * 2 : 8;
	struct diag *p;

	if (n > l->max)
		n = l->max;
	p = realloc(l->items, n * sizeof(*p));
	if (p == NULL)
		return -1;
	l->items = p;
	l->alloc = n;
	return 0;
}

void
diag_add(struct diag_list *l, const char *path, unsigned line, unsigned col,
	 const char *fmt, ...)
{
	struct diag *d;
	va_list ap;
	int n;

	if (l->count == l->max || (l->count == l->alloc && grow(l) < 0)) {
		l->dropped++;
		return;
	}
	d = &l->items[l->count];
	d->path = strdup(path);
	d->line = line;
	d->col = line ? col : 0;
	d->seq = l->count;
	va_start(ap, fmt);
	n = vasprintf(&d->msg, fmt, ap);
	va_end(ap);
	if (d->path == NULL || n < 0) {
		free(d->path);
		if (n >= 0)
			free(d->msg);
		l->dropped++;
		return;
	}
	l->count++;
}

size_t
diag_total(const struct diag_list *l)
{
	return l->count + l->dropped;
}

static int
by_place(const void *pa, const void *pb)
{
	const struct diag *a = pa, *b = pb;
	int c = strcmp(a->path, b->path);

	if (c != 0)
		return c;
	if (a->line != b->line)
		return a->line < b->line ? -1 : 1;
	if (a->col != b->col)
		return a->col < b->col ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

int
diag_format(struct buf *out, struct diag_list *l, struct err *err)
{
	int rc = 0;

	if (l->count > 1)
		qsort(l->items, l->count, sizeof(*l->items), by_place);
	for (size_t i = 0; i < l->count && rc == 0; i++) {
		const struct diag *d = &l->items[i];

		if (d->line)
			rc = buf_appendf(out, err, "%s:%u:%u: %s\n", d->path,
					 d->line, d->col, d->msg);
		else
			rc = buf_appendf(out, err, "%s: %s\n", d->path, d->msg);
	}
	if (rc == 0 && l->dropped)
		rc = buf_appendf(out, err, "... and %zu more problem%s\n",
				 l->dropped, l->dropped == 1 ? "" : "s");
	return rc;
}

void
diag_list_release(struct diag_list *l)
{
	for (size_t i = 0; i < l->count; i++) {
		free(l->items[i].path);
		free(l->items[i].msg);
	}
	free(l->items);
	l->items = NULL;
	l->count = 0;
	l->alloc = 0;
	l->dropped = 0;
}
