/*
 * params: checks a request's params before a method touches anything.
 * Each getter fails with ERR_INVAL and a message naming the param
 * ("param 'version' must match [A-Za-z0-9._-]{1,64}"); an optional param
 * that is absent leaves *out as it was.
 */
#ifndef IVR_AGENT_PARAMS_H
#define IVR_AGENT_PARAMS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "err.h"

/* Refuses any key of p not in allowed (NULL-ended). */
int params_check(const json_t *p, const char *const *allowed, struct err *err);

/* A string of 1 to max bytes. */
int params_str(const char **out, const json_t *p, const char *key,
	       bool required, size_t max, struct err *err);

/* A release version: [A-Za-z0-9._-]{1,64}, not "." or "..". */
int params_version(const char **out, const json_t *p, const char *key,
		   bool required, struct err *err);

/* A release: a version, or "<version>+<12 hex digits>" (layout.h). */
int params_release(const char **out, const json_t *p, const char *key,
		   bool required, struct err *err);

/* A sha256: 64 lower-case hex digits. */
int params_sha256(const char **out, const json_t *p, const char *key,
		  bool required, struct err *err);

/* A whole number in [min, max]. */
int params_int(int64_t *out, const json_t *p, const char *key, bool required,
	       int64_t min, int64_t max, struct err *err);

/* true or false. */
int params_bool(bool *out, const json_t *p, const char *key, struct err *err);

#endif
