/*
 * buf: see buf.h.  Growth doubles, but never allocates more than the limit
 * plus the NUL byte, so a cap of 1 MiB costs at most 1 MiB + 1.
 */
#include "buf.h"

#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
buf_init(struct buf *b, size_t limit)
{
	assert(limit > 0 && limit < SIZE_MAX / 2);
	b->data = NULL;
	b->len = 0;
	b->alloc = 0;
	b->limit = limit;
}

static int
reserve(struct buf *b, size_t extra, struct err *err)
{
	size_t need, size;
	char *p;

	if (extra > b->limit - b->len)
		return err_set(err, ERR_OVERFLOW,
			       "content exceeds the limit of %zu bytes",
			       b->limit);
	need = b->len + extra + 1;
	if (need <= b->alloc)
		return 0;
	size = b->alloc ? b->alloc : 64;
	while (size < need)
		size = size > (b->limit + 1) / 2 ? b->limit + 1 : size * 2;
	p = realloc(b->data, size);
	if (p == NULL)
		return err_set(err, ERR_NOMEM, "out of memory (%zu bytes)",
			       size);
	b->data = p;
	b->alloc = size;
	return 0;
}

int
buf_append(struct buf *b, const void *p, size_t n, struct err *err)
{
	int rc;

	if ((rc = reserve(b, n, err)) < 0)
		return rc;
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int
buf_append_str(struct buf *b, const char *s, struct err *err)
{
	return buf_append(b, s, strlen(s), err);
}

int
buf_vappendf(struct buf *b, struct err *err, const char *fmt, va_list ap)
{
	va_list ap2;
	int n, rc;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return err_set(err, ERR_INTERNAL, "cannot format text");
	if ((rc = reserve(b, (size_t)n, err)) < 0)
		return rc;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int
buf_appendf(struct buf *b, struct err *err, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = buf_vappendf(b, err, fmt, ap);
	va_end(ap);
	return rc;
}

void
buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		buf_reset(b);
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	b->data[b->len] = '\0';
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

const char *
buf_cstr(const struct buf *b)
{
	return b->data != NULL ? b->data : "";
}

char *
buf_detach(struct buf *b, size_t *len)
{
	char *p = b->data;

	if (len != NULL)
		*len = b->len;
	b->data = NULL;
	b->len = 0;
	b->alloc = 0;
	return p;
}

void
buf_wipe(struct buf *b)
{
	if (b->data != NULL)
		explicit_bzero(b->data, b->alloc);
	b->len = 0;
}

void
buf_release(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->alloc = 0;
}
