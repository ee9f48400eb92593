/*
 * parse: see parse.h.  Digits are accumulated by hand with an overflow check
 * rather than through strtoll, so that "+5", " 5", "0x10" and "5 " are all
 * rejected the same way and the messages can say why.
 */
#include "parse.h"

#include <stdio.h>
#include <string.h>

#define QUOTE_MAX 256

/* Reads digits at *p into *val; returns the count, or -1 on overflow. */
static int
read_digits(int64_t *val, const char **p)
{
	const char *s = *p;
	int64_t v = 0;
	int n = 0;

	while (*s >= '0' && *s <= '9') {
		int d = *s - '0';

		if (v > (INT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
		s++;
		n++;
	}
	*val = v;
	*p = s;
	return n;
}

static int
bad(struct err *err, int code, const char *what, const char *s, const char *why)
{
	char q[QUOTE_MAX];

	err_quote(q, sizeof(q), s, strlen(s));
	return err_set(err, code, "invalid %s '%s': %s", what, q, why);
}

static int
out_of_range(struct err *err, const char *what, const char *s, const char *lo,
	     const char *hi)
{
	char q[QUOTE_MAX];

	err_quote(q, sizeof(q), s, strlen(s));
	return err_set(err, ERR_RANGE, "%s '%s' is out of range (%s to %s)",
		       what, q, lo, hi);
}

int
parse_int64(int64_t *out, const char *s, int64_t min, int64_t max,
	    struct err *err)
{
	char lo[32], hi[32];
	const char *p = s;
	int64_t v;
	int neg = 0, n;

	if (*p == '-') {
		neg = 1;
		p++;
	}
	n = read_digits(&v, &p);
	if (n < 0)
		goto range;
	if (n == 0 || *p != '\0')
		return bad(err, ERR_INVAL, "number", s,
			   "expected a whole number");
	if (neg)
		v = -v;
	if (v < min || v > max)
		goto range;
	*out = v;
	return 0;
range:
	snprintf(lo, sizeof(lo), "%lld", (long long)min);
	snprintf(hi, sizeof(hi), "%lld", (long long)max);
	return out_of_range(err, "number", s, lo, hi);
}

/* Unit multipliers in the only order they may appear. */
static const struct {
	const char *name;
	int64_t ms;
} units[] = {
	{ "h", 3600000 },
	{ "m", 60000 },
	{ "s", 1000 },
	{ "ms", 1 },
};

#define NUNITS (sizeof(units) / sizeof(units[0]))

/* Matches the unit at *p (longest first); returns its index or -1. */
static int
match_unit(const char **p)
{
	if (strncmp(*p, "ms", 2) == 0) {
		*p += 2;
		return 3;
	}
	for (int i = 0; i < 3; i++) {
		if (**p == units[i].name[0]) {
			*p += 1;
			return i;
		}
	}
	return -1;
}

static int
duration_unit_error(struct err *err, const char *s, const char *at)
{
	char why[96], q[16];
	size_t n = strcspn(at, "0123456789");

	if (n == 0)
		return bad(err, ERR_INVAL, "duration", s,
			   "missing unit after the number (use ms, s, m or h)");
	err_quote(q, sizeof(q), at, n > 8 ? 8 : n);
	snprintf(why, sizeof(why), "unknown unit '%s' (use ms, s, m or h)", q);
	return bad(err, ERR_INVAL, "duration", s, why);
}

int
parse_duration_ms(int64_t *out, const char *s, int64_t min_ms, int64_t max_ms,
		  struct err *err)
{
	char lo[32], hi[32];
	const char *p = s;
	int64_t total = 0, v;
	int last = -1, u, n;

	if (strcmp(s, "0") == 0) {
		v = 0;
		goto check;
	}
	if (*p == '\0')
		return bad(err, ERR_INVAL, "duration", s,
			   "empty (write e.g. 250ms, 30s, 5m or 1h)");
	while (*p != '\0') {
		n = read_digits(&v, &p);
		if (n < 0)
			goto range;
		if (n == 0)
			return bad(err, ERR_INVAL, "duration", s,
				   "expected a number followed by a unit "
				   "(e.g. 250ms, 30s, 5m, 1h)");
		if ((u = match_unit(&p)) < 0)
			return duration_unit_error(err, s, p);
		if (u <= last)
			return bad(err, ERR_INVAL, "duration", s,
				   "units must go from larger to smaller, "
				   "each once");
		last = u;
		if (v > (INT64_MAX - total) / units[u].ms)
			goto range;
		total += v * units[u].ms;
	}
	v = total;
check:
	if (v < min_ms || v > max_ms)
		goto range;
	*out = v;
	return 0;
range:
	return out_of_range(err, "duration", s,
			    parse_format_duration(lo, min_ms),
			    parse_format_duration(hi, max_ms));
}

int
parse_percent(int *out, const char *s, int min, int max, struct err *err)
{
	char lo[16], hi[16];
	const char *p = s;
	int64_t v;
	int n;

	n = read_digits(&v, &p);
	if (n < 0)
		goto range;
	if (n > 0 && *p == '.')
		return bad(err, ERR_INVAL, "percentage", s,
			   "use a whole number such as 25%");
	if (n == 0 || *p != '%' || p[1] != '\0')
		return bad(err, ERR_INVAL, "percentage", s,
			   "expected a whole number followed by '%', "
			   "such as 25%");
	if (v < min || v > max)
		goto range;
	*out = (int)v;
	return 0;
range:
	snprintf(lo, sizeof(lo), "%d%%", min);
	snprintf(hi, sizeof(hi), "%d%%", max);
	return out_of_range(err, "percentage", s, lo, hi);
}

char *
parse_format_duration(char *dst, int64_t ms)
{
	size_t o = 0;

	if (ms <= 0) {
		snprintf(dst, 32, ms == 0 ? "0s" : "%lldms", (long long)ms);
		return dst;
	}
	for (size_t i = 0; i < NUNITS; i++) {
		int64_t q = ms / units[i].ms;

		if (q == 0)
			continue;
		o += (size_t)snprintf(dst + o, 32 - o, "%lld%s", (long long)q,
				      units[i].name);
		ms -= q * units[i].ms;
	}
	return dst;
}
