/* upstream.h: the services the edge routes to: one target group (runtime/group.h) each. */
#ifndef CLEAVE_EDGE_UPSTREAM_H
#define CLEAVE_EDGE_UPSTREAM_H

#include <stddef.h>

#include "group.h"

/* upstream_set: every service the edge routes to, a target group each, in manifest order. */
typedef struct upstream_set {
	rt_group **items; /* each owned */
	size_t n;
} upstream_set;

/* upstream_set_add makes a target group of opts (rt_group_new) and adds it to the set. Returns
 * the group (the set's), or NULL with a reason in err. */
rt_group *upstream_set_add(upstream_set *set, const rt_group_opts *opts, char *err, size_t errlen);

/* upstream_set_find returns the group of the service called name, or NULL. */
rt_group *upstream_set_find(const upstream_set *set, const char *name);

/* upstream_set_inflight returns the calls in flight over every group. */
int upstream_set_inflight(const upstream_set *set);

/* upstream_set_fini frees every group; no call may be in flight. */
void upstream_set_fini(upstream_set *set);

#endif
