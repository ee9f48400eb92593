/*
 * parse: range-checked parsing of the numbers people write in plans,
 * configs and requests: integers, durations ("250ms", "30s", "5m", "1h",
 * "1m30s") and percentages ("25%").
 *
 * Every function takes the whole text: leading or trailing garbage, an empty
 * string or a value outside [min, max] is an error whose message quotes the
 * bad text, e.g. "invalid duration '5x': unknown unit 'x' (use ms, s, m or
 * h)".  On error *out is left unchanged.  Never use atoi/strtol directly.
 */
#ifndef IVR_COMMON_PARSE_H
#define IVR_COMMON_PARSE_H

#include <stdint.h>

#include "err.h"

/*
 * Parses a decimal integer (optional leading '-') into *out.  Returns 0,
 * ERR_INVAL for text that is not an integer, ERR_RANGE for one outside
 * [min, max].
 */
int parse_int64(int64_t *out, const char *s, int64_t min, int64_t max,
		struct err *err);

/*
 * Parses a duration into milliseconds: one or more <digits><unit> pairs with
 * unit ms, s, m or h ("1m30s"), each unit at most once and from larger to
 * smaller.  "0" alone is accepted as zero.  Returns 0, ERR_INVAL or
 * ERR_RANGE as parse_int64.
 */
int parse_duration_ms(int64_t *out, const char *s, int64_t min_ms,
		      int64_t max_ms, struct err *err);

/*
 * Parses a whole-number percentage with its sign, "25%", into *out (25).
 * Returns 0, ERR_INVAL (no '%', not a number, fractions) or ERR_RANGE.
 */
int parse_percent(int *out, const char *s, int min, int max, struct err *err);

/*
 * Formats ms as the shortest duration text that parse_duration_ms reads
 * back ("1m30s", "250ms", "0s") into dst (at least 32 bytes).  Returns dst.
 */
char *parse_format_duration(char *dst, int64_t ms);

#endif
