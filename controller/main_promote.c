/*
 * main_promote: `ivrctl promote --from STAGING --to PROD`: staging's
 * release, once staging serves it everywhere, found and checked
 * (promote.h), then deployed on production as `ivrctl deploy` would.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exitcode.h"
#include "main_int.h"
#include "promote.h"
#include "status.h"

/* Staging live and healthy on one release, into release; else says why. */
static bool
staging_serves(char *release, size_t size, const struct plan *staging,
	       const struct agent_bundle *agent)
{
	struct fleet_status s;
	struct buf why;
	bool ok;

	status_collect(&s, staging, agent);
	buf_init(&why, OUT_MAX);
	ok = status_problems(&why, &s, staging, "staging", NULL) == 0 &&
	     why.len == 0;
	for (const char *l = buf_cstr(&why); *l != '\0';) {
		size_t n = strcspn(l, "\n");

		fprintf(stderr, "ivrctl: %.*s\n", (int)n, l);
		l += n + (l[n] != '\0');
	}
	if (!ok)
		fprintf(stderr, "ivrctl: staging is not live and healthy on "
				"one release: nothing was promoted\n");
	snprintf(release, size, "%s", s.release);
	buf_release(&why);
	status_release(&s);
	return ok;
}

static void
print_promote(const struct cli *c, const struct plan *staging,
	      const char *release, const struct promote_source *src)
{
	if (c->o.json)
		main_print_json(json_pack("{s:s, s:s, s:s, s:s}", "event",
					  "promote", "from_environment",
					  staging->environment, "release",
					  release, "sha256", src->sha256));
	else
		printf("promote: %s runs %s on every host, healthy and READY; "
		       "artifact sha256 %.12s verified (from %s)\n",
		       staging->environment, release, src->sha256, src->from);
	fflush(stdout);
}

/* Staging's release found, checked and deployed on production. */
static int
promote(struct cli *c, const struct plan *staging, const struct plan *prod)
{
	struct promote_source src;
	char release[PLAN_RELEASE_MAX];
	struct err e;
	int rc;

	if (strcmp(staging->environment, prod->environment) == 0) {
		fprintf(stderr,
			"ivrctl: both plans are environment '%s': promote "
			"goes from one environment to another\n",
			prod->environment);
		return EXITCODE_BAD_INPUT;
	}
	if (!main_approvals_known(prod, &c->o, prod->path))
		return EXITCODE_BAD_INPUT;
	if (main_prepare_fleet(&c->agent) < 0)
		return EXITCODE_ERROR;
	if (!staging_serves(release, sizeof(release), staging, &c->agent))
		return EXITCODE_BAD_INPUT;
	/* the binary goes on; production runs its own plan's settings */
	release[strcspn(release, "+")] = '\0';
	if (promote_find(&src, staging, release, &c->agent, &e) < 0) {
		fprintf(stderr, "ivrctl: %s\n", e.msg);
		return EXITCODE_BAD_INPUT;
	}
	print_promote(c, staging, release, &src);
	c->o.artifact = src.artifact;
	c->o.promoted_from = staging->environment;
	rc = main_run_deploy(c, prod, deploy_run);
	c->o.artifact = NULL; /* src ends here */
	return rc;
}

int
main_promote(int argc, char **argv)
{
	const char **approve = calloc((size_t)argc, sizeof(*approve));
	struct cli c = { .o.approve = approve }; /* takes no --remove */
	struct plan *staging = NULL, *prod = NULL;
	int rc = EXITCODE_BAD_INPUT;

	/* deploy's flags; no --artifact: it is staging's. */
	if (approve == NULL ||
	    main_parse(&c, argc, argv,
		       F_OUTPUT | F_GATES | F_BREAK_LOCK | F_TO | F_FROM |
			       F_DEFER_CONTRACT,
		       false) < 0)
		goto out;
	if (c.from == NULL || c.to == NULL)
		main_usage(stderr);
	else if ((staging = main_load_plan(c.from)) != NULL &&
		 (prod = main_load_plan(c.to)) != NULL)
		rc = promote(&c, staging, prod);
out:
	plan_free(staging);
	plan_free(prod);
	free(approve);
	return rc;
}
