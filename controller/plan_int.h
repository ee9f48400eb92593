/*
 * plan_int: what the files of the plan module share (not for use outside
 * it).  plan.c loads the file and its top level, plan_hosts.c the
 * inventory and the balancer, plan_sections.c the other sections; each
 * records every problem it finds in the loader's list.
 */
#ifndef IVR_CONTROLLER_PLAN_INT_H
#define IVR_CONTROLLER_PLAN_INT_H

#include <stdbool.h>

#include "plan.h"
#include "ydoc.h"

#define HOUR_MS (3600 * 1000LL)

struct loader {
	struct plan *p;
	struct ydoc *doc;
	struct diag_list *d;
};

/* plan.c: helpers for every section */

/* A path in the plan, relative to its folder, made absolute (new). */
char *plan_resolve(struct loader *l, const char *path);

/* The file named by map's key, resolved and checked readable (a problem
 * otherwise); NULL when absent or unreadable. */
char *plan_readable_file(struct loader *l, const struct ydoc_node *map,
			 const char *key, bool required);

/* True when s is 1-64 of [A-Za-z0-9._-]. */
bool plan_valid_name(const char *s);

/* A copy of the string at map's key (a problem when required and
 * missing); NULL when absent. */
char *plan_get_dup(struct loader *l, const struct ydoc_node *map,
		   const char *key, bool required);

/*
 * The sequence at map's key holding 1 to max items; NULL (and a problem:
 * "missing key 'hosts'", "the inventory needs 1 to 1000 hosts", where
 * whole is "the inventory") when it does not.
 */
const struct ydoc_node *plan_get_list(struct loader *l,
				      const struct ydoc_node *map,
				      const char *key, const char *whole,
				      size_t max);

/* plan_hosts.c */
void plan_load_inventory(struct loader *l, const struct ydoc_node *inv);
void plan_load_lb(struct loader *l, const struct ydoc_node *s);

/* plan_tls.c: `tls`, and `runtime.tls` read for every host */
void plan_tls_defaults(struct plan *p);
void plan_load_tls(struct loader *l, const struct ydoc_node *s);
void plan_free_tls(struct plan *p);
void plan_load_runtime_tls(struct loader *l, const struct ydoc_node *t);

/* plan_runtime.c: `runtime`, rendered per host */
void plan_load_runtime(struct loader *l, const struct ydoc_node *s);

/* plan_sections.c */
void plan_load_ssh(struct loader *l, const struct ydoc_node *s);
void plan_load_agent_service(struct loader *l, const struct ydoc_node *agent,
			     const struct ydoc_node *service);
void plan_load_health(struct loader *l, const struct ydoc_node *s);
void plan_load_rollout(struct loader *l, const struct ydoc_node *s);

/* plan_analysis.c: the analysis section, then each phase's `analysis`
 * list (rollout is the rollout section, for the phases' nodes). */
void plan_load_analysis(struct loader *l, const struct ydoc_node *s,
			const struct ydoc_node *rollout);
void plan_free_analysis(struct plan *p);
void plan_load_smoke(struct loader *l, const struct ydoc_node *s);

/* plan_notify.c */
void plan_load_notify(struct loader *l, const struct ydoc_node *s);
void plan_free_notify(struct plan *p);

/* plan_state.c: `state` and `access` */
void plan_load_state(struct loader *l, const struct ydoc_node *s);
void plan_load_access(struct loader *l, const struct ydoc_node *s);
void plan_free_state(struct plan *p);

/* plan_database.c */
void plan_load_database(struct loader *l, const struct ydoc_node *s);

#endif
