/*
 * err: the one error convention of the whole tree.
 *
 * A function that can fail returns int: 0 on success or a negative ERR_*
 * code, and fills the caller's struct err with a message that carries
 * context ("cannot open 'prod.yaml': No such file or directory").  Messages
 * are lower case, say what failed first and quote the subject.  The struct
 * holds its message inline, so it needs no freeing and can live on the stack.
 *
 * Every err_* function accepts a NULL struct err and then only returns the
 * code, so a caller that does not care about the text may pass NULL.
 */
#ifndef IVR_COMMON_ERR_H
#define IVR_COMMON_ERR_H

#include <stddef.h>

enum err_code {
	ERR_OK = 0,
	ERR_INVAL = -1,	     /* bad input: a plan, an argument, a request */
	ERR_IO = -2,	     /* a system call on a file or socket failed */
	ERR_NOMEM = -3,	     /* an allocation failed */
	ERR_OVERFLOW = -4,   /* input larger than its hard cap */
	ERR_RANGE = -5,	     /* a number outside its allowed range */
	ERR_TIMEOUT = -6,    /* a deadline passed */
	ERR_PARSE = -7,	     /* text that does not parse (JSON, YAML, ...) */
	ERR_NOTFOUND = -8,   /* a named thing does not exist */
	ERR_PROTO = -9,	     /* a peer broke the protocol */
	ERR_EOF = -10,	     /* the peer closed the stream */
	ERR_EXISTS = -11,    /* the thing to create is already there */
	ERR_BUSY = -12,	     /* held by someone else (a lock) */
	ERR_BADSTATE = -13,  /* not allowed in the current state */
	ERR_AUTH = -14,	     /* authentication or host key check failed */
	ERR_INTERNAL = -15,  /* a bug or an impossible condition */
	ERR_INTEGRITY = -16, /* a checksum or a manifest does not match */
	ERR_UNSAFE = -17     /* input that would escape its place (paths) */
};

/* Longest message kept; longer ones end in "..." rather than vanish. */
#define ERR_MSG_MAX 512

struct err {
	int code;
	char msg[ERR_MSG_MAX];
};

/* Sets err to "no error" (code 0, empty message).  Allocates nothing. */
void err_init(struct err *err);

/*
 * Sets err's code and message (printf-style) and returns code, so that
 * callers can write `return err_set(err, ERR_INVAL, "...")`.
 */
int err_set(struct err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Like err_set, then appends ": " and strerror(errnum): the message for a
 * failed system call.  Pass errno as errnum before anything can change it.
 */
int err_set_errno(struct err *err, int code, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/*
 * Puts context in front of the current message: "loading 'x.yaml': " +
 * old message.  Returns err's code; with err NULL (a caller that wants no
 * message) ERR_INTERNAL, so that `return err_prefix(err, ...)` on a
 * failure path never returns success.
 */
int err_prefix(struct err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#if defined(__clang_analyzer__) && !defined(IVR_ERR_IMPL)
/* For clang's analyzer only: err_set and err_set_errno return their code,
 * which it cannot see across files, so a failure path is not taken for a
 * success (each use below expands once: the inner name is the function). */
#define err_set(err, code, ...) (err_set((err), (code), __VA_ARGS__), (code))
#define err_set_errno(err, code, errnum, ...) \
	(err_set_errno((err), (code), (errnum), __VA_ARGS__), (code))
#endif

/* A short stable name for a code ("ERR_INVAL" -> "invalid input"). */
const char *err_code_name(int code);

/*
 * Writes s (n bytes, not necessarily NUL-terminated) into dst as text fit to
 * quote in a message: printable ASCII as is, anything else as \xNN, and at
 * most about 60 source bytes, marking a cut with "...".  dst is always
 * NUL-terminated; dstsz must be at least 8.  Returns dst.  Use it whenever a
 * message quotes text that came from a file or the network.
 */
char *err_quote(char *dst, size_t dstsz, const char *s, size_t n);

#endif
