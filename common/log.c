/*
 * log: see log.h.  Text lines are built in a bounded buf and JSON lines with
 * jansson, then written with a single write(2).
 */
#include "log.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "buf.h"

#define LOG_LINE_MAX (256 * 1024)
#define LOG_REDACTED "[secret]"

static const char *const level_names[] = { "debug", "info", "warn", "error" };

static const char *const secret_keys[] = {
	"pin", "passphrase", "password", "secret", "token", "account_number",
};

static void
wall_clock(struct timespec *ts)
{
	clock_gettime(CLOCK_REALTIME, ts);
}

void
log_init(struct log *lg, const char *component, int fd)
{
	lg->fd = fd;
	lg->own_fd = false;
	lg->level = LOG_LEVEL_INFO;
	lg->format = LOG_FORMAT_TEXT;
	lg->component = component;
	lg->clock = wall_clock;
}

int
log_open_file(struct log *lg, const char *path, struct err *err)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);

	if (fd < 0)
		return err_set_errno(err, ERR_IO, errno,
				     "cannot open log file '%s'", path);
	log_close(lg);
	lg->fd = fd;
	lg->own_fd = true;
	return 0;
}

void
log_close(struct log *lg)
{
	if (lg->own_fd && lg->fd >= 0)
		close(lg->fd);
	lg->fd = -1;
	lg->own_fd = false;
}

int
log_level_parse(enum log_level *out, const char *s, struct err *err)
{
	char q[96];

	for (size_t i = 0; i < sizeof(level_names) / sizeof(*level_names);
	     i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	err_quote(q, sizeof(q), s, strlen(s));
	return err_set(err, ERR_INVAL,
		       "unknown log level '%s' (use debug, info, warn or "
		       "error)",
		       q);
}

int
log_format_parse(enum log_format *out, const char *s, struct err *err)
{
	char q[96];

	if (strcmp(s, "text") == 0 || strcmp(s, "json") == 0) {
		*out = s[0] == 't' ? LOG_FORMAT_TEXT : LOG_FORMAT_JSON;
		return 0;
	}
	err_quote(q, sizeof(q), s, strlen(s));
	return err_set(err, ERR_INVAL,
		       "unknown log format '%s' (use text or json)", q);
}

const char *
log_level_name(enum log_level level)
{
	assert((size_t)level < sizeof(level_names) / sizeof(*level_names));
	return level_names[level];
}

bool
log_enabled(const struct log *lg, enum log_level level)
{
	return lg != NULL && lg->fd >= 0 && level >= lg->level;
}

bool
log_key_is_secret(const char *key)
{
	for (size_t i = 0; i < sizeof(secret_keys) / sizeof(*secret_keys); i++)
		if (strcasecmp(key, secret_keys[i]) == 0)
			return true;
	return false;
}

static bool
is_redacted(const struct log_field *f)
{
	return f->type == LOG_FIELD_SECRET || log_key_is_secret(f->key);
}

static void
format_time(char *dst, size_t size, const struct log *lg)
{
	struct timespec ts;
	struct tm tm;
	size_t n;

	lg->clock(&ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(dst, size, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(dst + n, size - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

/* True when s can print bare in a text line: no quoting needed. */
static bool
is_bare(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= ' ' || c >= 0x7f || c == '"' || c == '\\' || c == '=')
			return false;
	}
	return true;
}

/* Appends s with control characters escaped, quoted when asked. */
static void
append_escaped(struct buf *b, const char *s, size_t n, bool quote)
{
	if (quote)
		buf_append(b, "\"", 1, NULL);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\n')
			buf_append(b, "\\n", 2, NULL);
		else if (c == '\t')
			buf_append(b, "\\t", 2, NULL);
		else if (c == '\r')
			buf_append(b, "\\r", 2, NULL);
		else if (quote && (c == '"' || c == '\\'))
			buf_appendf(b, NULL, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			buf_appendf(b, NULL, "\\x%02x", c);
		else
			buf_append(b, &s[i], 1, NULL);
	}
	if (quote)
		buf_append(b, "\"", 1, NULL);
}

static void
append_text_value(struct buf *b, const struct log_field *f)
{
	size_t n;

	if (is_redacted(f)) {
		buf_append_str(b, LOG_REDACTED, NULL);
		return;
	}
	switch (f->type) {
	case LOG_FIELD_INT:
		buf_appendf(b, NULL, "%lld", f->i);
		return;
	case LOG_FIELD_BOOL:
		buf_append_str(b, f->i ? "true" : "false", NULL);
		return;
	default:
		break;
	}
	if (f->s == NULL) {
		buf_append_str(b, "null", NULL);
		return;
	}
	n = strlen(f->s);
	if (n > LOG_VALUE_MAX) {
		append_escaped(b, f->s, LOG_VALUE_MAX, true);
		buf_append_str(b, "...[cut]", NULL);
		return;
	}
	append_escaped(b, f->s, n, !is_bare(f->s, n));
}

static void
format_text(struct buf *b, const struct log *lg, enum log_level level,
	    const char *ts, const char *msg, const struct log_field *fields,
	    size_t nfields)
{
	buf_appendf(b, NULL, "%s %s %s: ", ts, level_names[level],
		    lg->component);
	append_escaped(b, msg, strlen(msg), false);
	for (size_t i = 0; i < nfields; i++) {
		buf_append(b, " ", 1, NULL);
		append_escaped(b, fields[i].key, strlen(fields[i].key), false);
		buf_append(b, "=", 1, NULL);
		append_text_value(b, &fields[i]);
	}
}

/*
 * A JSON string for n bytes of s.  Bytes that are not valid UTF-8 would make
 * jansson refuse the string and the event vanish, so such text is kept with
 * every non-ASCII byte written as \xNN instead.
 */
static json_t *
json_text(const char *s, size_t n, bool cut)
{
	struct buf b;
	json_t *j;

	buf_init(&b, LOG_LINE_MAX);
	buf_append(&b, s, n, NULL);
	if (cut)
		buf_append_str(&b, "...[cut]", NULL);
	j = json_stringn(buf_cstr(&b), b.len);
	if (j == NULL) {
		buf_reset(&b);
		for (size_t i = 0; i < n; i++) {
			unsigned char c = (unsigned char)s[i];

			if (c < 0x80)
				buf_append(&b, &s[i], 1, NULL);
			else
				buf_appendf(&b, NULL, "\\x%02x", c);
		}
		if (cut)
			buf_append_str(&b, "...[cut]", NULL);
		j = json_stringn(buf_cstr(&b), b.len);
	}
	buf_release(&b);
	return j;
}

static json_t *
json_value(const struct log_field *f)
{
	size_t n;

	if (is_redacted(f))
		return json_string(LOG_REDACTED);
	switch (f->type) {
	case LOG_FIELD_INT:
		return json_integer(f->i);
	case LOG_FIELD_BOOL:
		return json_boolean(f->i);
	default:
		break;
	}
	if (f->s == NULL)
		return json_null();
	n = strlen(f->s);
	if (n > LOG_VALUE_MAX)
		return json_text(f->s, LOG_VALUE_MAX, true);
	return json_text(f->s, n, false);
}

static void
format_json(struct buf *b, const struct log *lg, enum log_level level,
	    const char *ts, const char *msg, const struct log_field *fields,
	    size_t nfields)
{
	json_t *o = json_object();
	char *line;

	if (o == NULL)
		return;
	json_object_set_new(o, "ts", json_string(ts));
	json_object_set_new(o, "level", json_string(level_names[level]));
	json_object_set_new(o, "component", json_string(lg->component));
	json_object_set_new(o, "msg", json_text(msg, strlen(msg), false));
	for (size_t i = 0; i < nfields; i++)
		json_object_set_new_nocheck(o, fields[i].key,
					    json_value(&fields[i]));
	line = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
	if (line != NULL)
		buf_append_str(b, line, NULL);
	free(line);
	json_decref(o);
}

static void
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

void
log_event(struct log *lg, enum log_level level, const char *msg,
	  const struct log_field *fields, size_t nfields)
{
	char ts[40];
	struct buf b;

	if (!log_enabled(lg, level))
		return;
	for (size_t i = 0; i < nfields; i++)
		assert(strcmp(fields[i].key, "ts") != 0 &&
		       strcmp(fields[i].key, "level") != 0 &&
		       strcmp(fields[i].key, "component") != 0 &&
		       strcmp(fields[i].key, "msg") != 0);
	format_time(ts, sizeof(ts), lg);
	buf_init(&b, LOG_LINE_MAX);
	if (lg->format == LOG_FORMAT_JSON)
		format_json(&b, lg, level, ts, msg, fields, nfields);
	else
		format_text(&b, lg, level, ts, msg, fields, nfields);
	if (buf_append(&b, "\n", 1, NULL) == 0)
		write_all(lg->fd, b.data, b.len);
	buf_release(&b);
}
