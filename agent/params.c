/*
 * params: see params.h.
 */
#include "params.h"

#include <stdint.h>
#include <string.h>

#include "hash.h"
#include "layout.h"

int
params_check(const json_t *p, const char *const *allowed, struct err *err)
{
	const char *key;
	json_t *v;

	json_object_foreach ((json_t *)(uintptr_t)p, key, v) {
		size_t i;

		for (i = 0; allowed[i] != NULL; i++)
			if (strcmp(key, allowed[i]) == 0)
				break;
		if (allowed[i] == NULL) {
			char q[96];

			err_quote(q, sizeof(q), key, strlen(key));
			return err_set(err, ERR_INVAL, "unknown param '%s'", q);
		}
	}
	return 0;
}

/* The value of key: NULL when absent (an error if required). */
static int
lookup(json_t **v, const json_t *p, const char *key, bool required,
       struct err *err)
{
	*v = json_object_get(p, key);
	if (*v == NULL && required)
		return err_set(err, ERR_INVAL, "missing param '%s'", key);
	return 0;
}

int
params_str(const char **out, const json_t *p, const char *key, bool required,
	   size_t max, struct err *err)
{
	json_t *v;
	int rc;

	if ((rc = lookup(&v, p, key, required, err)) < 0 || v == NULL)
		return rc;
	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    json_string_length(v) > max ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return err_set(err, ERR_INVAL,
			       "param '%s' must be a string of 1 to %zu bytes",
			       key, max);
	*out = json_string_value(v);
	return 0;
}

int
params_version(const char **out, const json_t *p, const char *key,
	       bool required, struct err *err)
{
	const char *v = NULL;
	int rc;

	if ((rc = params_str(&v, p, key, required, LAYOUT_VERSION_MAX, err)) <
		    0 ||
	    v == NULL)
		return rc;
	if (!layout_valid_version(v))
		return err_set(
			err, ERR_INVAL,
			"param '%s' must match [A-Za-z0-9][A-Za-z0-9._-]{0,63}",
			key);
	*out = v;
	return 0;
}

int
params_release(const char **out, const json_t *p, const char *key,
	       bool required, struct err *err)
{
	const char *v = NULL;
	int rc;

	if ((rc = params_str(&v, p, key, required, LAYOUT_RELEASE_MAX, err)) <
		    0 ||
	    v == NULL)
		return rc;
	if (!layout_valid_release(v))
		return err_set(err, ERR_INVAL,
			       "param '%s' must be a version, or "
			       "<version>+<12 hex digits>",
			       key);
	*out = v;
	return 0;
}

int
params_sha256(const char **out, const json_t *p, const char *key, bool required,
	      struct err *err)
{
	const char *v = NULL;
	int rc;

	if ((rc = params_str(&v, p, key, required, 64, err)) < 0 || v == NULL)
		return rc;
	if (!hash_is_sha256_hex(v))
		return err_set(err, ERR_INVAL,
			       "param '%s' must be 64 lower-case hex digits",
			       key);
	*out = v;
	return 0;
}

int
params_int(int64_t *out, const json_t *p, const char *key, bool required,
	   int64_t min, int64_t max, struct err *err)
{
	json_t *v;
	int rc;

	if ((rc = lookup(&v, p, key, required, err)) < 0 || v == NULL)
		return rc;
	if (!json_is_integer(v) || json_integer_value(v) < min ||
	    json_integer_value(v) > max)
		return err_set(err, ERR_INVAL,
			       "param '%s' must be a whole number from %lld to "
			       "%lld",
			       key, (long long)min, (long long)max);
	*out = json_integer_value(v);
	return 0;
}

int
params_bool(bool *out, const json_t *p, const char *key, struct err *err)
{
	json_t *v = json_object_get(p, key);

	if (v == NULL)
		return 0;
	if (!json_is_boolean(v))
		return err_set(err, ERR_INVAL,
			       "param '%s' must be true or false", key);
	*out = json_is_true(v);
	return 0;
}
