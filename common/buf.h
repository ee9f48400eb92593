/*
 * buf: a growable byte buffer with a hard cap.
 *
 * Anything read from a file or the network grows only in a buf: once the
 * content would pass the buffer's limit, the append fails with ERR_OVERFLOW
 * and leaves the buffer as it was, so input is rejected, never silently cut.
 * The content is always followed by a NUL byte (not counted in len), so text
 * can be used as a C string.
 *
 * Lifecycle: buf_init (no allocation), appends (allocate as needed),
 * buf_release (frees).  A released buffer is empty and can be reused.
 */
#ifndef IVR_COMMON_BUF_H
#define IVR_COMMON_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "err.h"

struct buf {
	char *data;   /* NULL until the first append */
	size_t len;   /* bytes of content */
	size_t alloc; /* bytes allocated (content + NUL + spare) */
	size_t limit; /* the most content the buffer may hold */
};

/* Makes b empty with the given cap on its content (> 0).  No allocation. */
void buf_init(struct buf *b, size_t limit);

/*
 * Appends n bytes of p.  Returns 0, ERR_OVERFLOW ("... exceeds the limit of
 * N bytes") when the result would pass the limit, or ERR_NOMEM.  On failure b
 * is unchanged.
 */
int buf_append(struct buf *b, const void *p, size_t n, struct err *err);

/* Appends the C string s, as buf_append. */
int buf_append_str(struct buf *b, const char *s, struct err *err);

/*
 * Appends printf-style text, as buf_append.  (err comes before the format,
 * an exception to "err last" that varargs force.)
 */
int buf_appendf(struct buf *b, struct err *err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The va_list form of buf_appendf. */
int buf_vappendf(struct buf *b, struct err *err, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

/* Drops the first n bytes (all when n >= len); keeps the memory. */
void buf_consume(struct buf *b, size_t n);

/* Empties b and keeps its memory. */
void buf_reset(struct buf *b);

/*
 * The content as a NUL-terminated string, borrowed: valid until the next
 * change to b.  Never NULL (an empty buffer gives "").
 */
const char *buf_cstr(const struct buf *b);

/*
 * Hands the content to the caller, who frees it with free(); b is left empty.
 * Returns NULL (and sets *len to 0 when len is not NULL) for an empty buffer
 * that never allocated.
 */
char *buf_detach(struct buf *b, size_t *len);

/* Wipes the content with explicit_bzero (for secrets), then empties b. */
void buf_wipe(struct buf *b);

/* Frees the content; b is empty and keeps its limit. */
void buf_release(struct buf *b);

#endif
