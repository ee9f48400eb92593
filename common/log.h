/*
 * log: one line per event, with a timestamp, a level, the program's
 * component name, a fixed message and typed key=value fields, as plain text
 * (logfmt-like) or as JSON lines.
 *
 *   log_kv(lg, LOG_LEVEL_INFO, "release activated",
 *          LOG_STR("version", "2.5.0"), LOG_INT("calls", 0),
 *          LOG_SECRET("pin", pin));
 *
 * text: 2026-11-26T04:30:00.123Z info agent: release activated
 *       version=2.5.0 calls=0 pin=[secret]
 * json: {"ts":"2026-11-26T04:30:00.123Z","level":"info","component":"agent",
 *        "msg":"release activated","version":"2.5.0","calls":0,
 *        "pin":"[secret]"}
 *
 * Secrets: a LOG_SECRET field never prints its value, and neither does any
 * field whose key names a secret (pin, passphrase, password, secret, token,
 * account_number; case-insensitive), whatever its type.  Each event is
 * written with one write(2), so lines from several processes sharing a file
 * do not interleave.  Control characters in messages and values are escaped:
 * an event can never span two lines.
 *
 * Logging cannot fail from the caller's point of view: a write error is
 * dropped (there is nowhere better to report it).  Modules other than main
 * receive a struct log * and never open their own.
 */
#ifndef IVR_COMMON_LOG_H
#define IVR_COMMON_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "err.h"

enum log_level {
	LOG_LEVEL_DEBUG,
	LOG_LEVEL_INFO,
	LOG_LEVEL_WARN,
	LOG_LEVEL_ERROR,
};

enum log_format {
	LOG_FORMAT_TEXT,
	LOG_FORMAT_JSON,
};

enum log_field_type {
	LOG_FIELD_STR,
	LOG_FIELD_INT,
	LOG_FIELD_BOOL,
	LOG_FIELD_SECRET,
};

struct log_field {
	const char *key; /* not ts, level, component or msg */
	enum log_field_type type;
	const char *s; /* LOG_FIELD_STR; NULL prints as null */
	long long i;   /* LOG_FIELD_INT, LOG_FIELD_BOOL */
};

#define LOG_STR(k, v) \
	((struct log_field){ .key = (k), .type = LOG_FIELD_STR, .s = (v) })
#define LOG_INT(k, v)        \
	((struct log_field){ \
		.key = (k), .type = LOG_FIELD_INT, .i = (long long)(v) })
#define LOG_BOOL(k, v)       \
	((struct log_field){ \
		.key = (k), .type = LOG_FIELD_BOOL, .i = (v) ? 1 : 0 })
/* The value is accepted so that a field can be marked secret in place;
 * it is never read. */
#define LOG_SECRET(k, v)                               \
	((struct log_field){ .key = (k),               \
			     .type = LOG_FIELD_SECRET, \
			     .s = ((void)(v), (const char *)0) })

/* Reads the wall clock into ts; replaceable so tests get fixed times. */
typedef void (*log_clock_fn)(struct timespec *ts);

struct log {
	int fd;		      /* where lines go; -1 drops everything */
	bool own_fd;	      /* log_close closes fd */
	enum log_level level; /* events below it are dropped */
	enum log_format format;
	const char *component; /* borrowed; e.g. "agent", "ivrctl" */
	log_clock_fn clock;
};

/*
 * Sets lg to write text at level info to fd (borrowed, not closed) under
 * the given component name (borrowed for lg's lifetime).  No allocation.
 */
void log_init(struct log *lg, const char *component, int fd);

/*
 * Opens path for appending (created 0640 if missing) and makes it lg's
 * destination, owned by lg.  Returns 0 or ERR_IO ("cannot open log file
 * 'x': ...") and leaves lg unchanged on failure.
 */
int log_open_file(struct log *lg, const char *path, struct err *err);

/* Closes the destination if lg owns it; lg then drops events. */
void log_close(struct log *lg);

/* Parses "debug", "info", "warn" or "error".  Returns 0 or ERR_INVAL. */
int log_level_parse(enum log_level *out, const char *s, struct err *err);

/* Parses "text" or "json".  Returns 0 or ERR_INVAL. */
int log_format_parse(enum log_format *out, const char *s, struct err *err);

/* The lower-case name of a level ("warn"). */
const char *log_level_name(enum log_level level);

/* True when an event at level would be written. */
bool log_enabled(const struct log *lg, enum log_level level);

/* True when a field with this key is always redacted. */
bool log_key_is_secret(const char *key);

/*
 * Writes one event: msg (borrowed) and nfields fields.  String values
 * longer than LOG_VALUE_MAX bytes are cut and marked "...[cut]".
 */
void log_event(struct log *lg, enum log_level level, const char *msg,
	       const struct log_field *fields, size_t nfields);

#define LOG_VALUE_MAX 2048

/* An event without fields. */
#define log_msg(lg, level, msg) log_event((lg), (level), (msg), NULL, 0)

/* An event with one or more LOG_* fields. */
#define log_kv(lg, level, msg, ...)                                   \
	log_event((lg), (level), (msg),                               \
		  (const struct log_field[]){ __VA_ARGS__ },          \
		  sizeof((const struct log_field[]){ __VA_ARGS__ }) / \
			  sizeof(struct log_field))

#endif
