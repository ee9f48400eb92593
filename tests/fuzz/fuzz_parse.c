/* libFuzzer: any text as an integer, a duration and a percentage. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), text[32];
	int64_t v;
	struct err e;
	int p;

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	parse_int64(&v, s, INT64_MIN, INT64_MAX, &e);
	if (parse_duration_ms(&v, s, 0, INT64_MAX, &e) == 0) {
		int64_t back;

		/* What parses must format and parse back to the same. */
		parse_format_duration(text, v);
		if (parse_duration_ms(&back, text, 0, INT64_MAX, &e) != 0 ||
		    back != v)
			abort();
	}
	parse_percent(&p, s, 0, 100, &e);
	free(s);
	return 0;
}
