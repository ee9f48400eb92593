/*
 * hostlayout: see hostlayout.h.
 */
#include "hostlayout.h"

#include <stdio.h>

int
hostlayout_artifact(char *out, size_t size, const char *root,
		    const char *sha256, struct err *err)
{
	int n = snprintf(out, size, "%s/" HOSTLAYOUT_INCOMING "/%s", root,
			 sha256);

	if (n < 0 || (size_t)n >= size)
		return err_set(err, ERR_OVERFLOW,
			       "the artifact's path under '%s' is too long",
			       root);
	return 0;
}
