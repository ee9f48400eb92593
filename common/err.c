/*
 * err: see err.h.  Messages that exceed ERR_MSG_MAX end in "..." so that a
 * cut is visible instead of silent.
 */
#define IVR_ERR_IMPL /* the functions themselves: no analyzer macros */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define ERR_QUOTE_MAX_SRC 60

void
err_init(struct err *err)
{
	if (err == NULL)
		return;
	err->code = 0;
	err->msg[0] = '\0';
}

static void
mark_cut(char *msg, size_t size, int wanted)
{
	if (wanted >= 0 && (size_t)wanted < size)
		return;
	memcpy(msg + size - 4, "...", 4);
}

static void vset(struct err *err, int code, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

static void
vset(struct err *err, int code, const char *fmt, va_list ap)
{
	int n;

	err->code = code;
	n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	if (n < 0) {
		snprintf(err->msg, sizeof(err->msg), "(unprintable message)");
		return;
	}
	mark_cut(err->msg, sizeof(err->msg), n);
}

int
err_set(struct err *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return code;
	va_start(ap, fmt);
	vset(err, code, fmt, ap);
	va_end(ap);
	return code;
}

int
err_set_errno(struct err *err, int code, int errnum, const char *fmt, ...)
{
	va_list ap;
	size_t len;
	int n;

	if (err == NULL)
		return code;
	va_start(ap, fmt);
	vset(err, code, fmt, ap);
	va_end(ap);
	len = strlen(err->msg);
	n = snprintf(err->msg + len, sizeof(err->msg) - len, ": %s",
		     strerror(errnum));
	if (n >= 0 && (size_t)n >= sizeof(err->msg) - len)
		mark_cut(err->msg, sizeof(err->msg), -1);
	return code;
}

int
err_prefix(struct err *err, const char *fmt, ...)
{
	char old[ERR_MSG_MAX];
	va_list ap;
	size_t len;
	int n;

	/* Called on a failure path: without an err to read the code from,
	 * still a failure, never 0. */
	if (err == NULL)
		return ERR_INTERNAL;
	memcpy(old, err->msg, sizeof(old));
	va_start(ap, fmt);
	n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(err->msg)) {
		mark_cut(err->msg, sizeof(err->msg), -1);
		return err->code;
	}
	len = (size_t)n;
	n = snprintf(err->msg + len, sizeof(err->msg) - len, "%s", old);
	if (n >= 0 && (size_t)n >= sizeof(err->msg) - len)
		mark_cut(err->msg, sizeof(err->msg), -1);
	return err->code;
}

const char *
err_code_name(int code)
{
	static const char *const names[] = {
		"ok",
		"invalid input",
		"i/o error",
		"out of memory",
		"over the size limit",
		"out of range",
		"timed out",
		"parse error",
		"not found",
		"protocol error",
		"end of stream",
		"already exists",
		"busy",
		"wrong state",
		"authentication failed",
		"internal error",
		"integrity check failed",
		"unsafe input",
	};
	int i = -code;

	if (i < 0 || (size_t)i >= sizeof(names) / sizeof(names[0]))
		return "unknown error";
	return names[i];
}

char *
err_quote(char *dst, size_t dstsz, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0, i;

	for (i = 0; i < n && i < ERR_QUOTE_MAX_SRC; i++) {
		unsigned char c = (unsigned char)s[i];

		if (o + 5 > dstsz - 4)
			break;
		if (c >= 0x20 && c < 0x7f && c != '\\') {
			dst[o++] = (char)c;
		} else if (c == '\\') {
			dst[o++] = '\\';
			dst[o++] = '\\';
		} else {
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[c >> 4];
			dst[o++] = hex[c & 15];
		}
	}
	if (i < n) {
		memcpy(dst + o, "...", 3);
		o += 3;
	}
	dst[o] = '\0';
	return dst;
}
