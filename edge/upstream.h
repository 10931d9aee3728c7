/* upstream.h: the services the edge routes to: one target group (runtime/group.h) each, with
 * the bound on the calls the edge keeps in flight to it and what that bound turned away. */
#ifndef CLEAVE_EDGE_UPSTREAM_H
#define CLEAVE_EDGE_UPSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include "group.h"

/* upstream: one service the edge calls. The counts are the edge loop thread's. */
typedef struct upstream {
	rt_group *group;    /* owned */
	int max_inflight;   /* calls in flight past which a request is answered 503 at once */
	int inflight;	    /* the edge's calls in flight to it now */
	uint64_t shed;	    /* requests answered 503 at once because inflight was max_inflight */
	uint64_t cancelled; /* calls cancelled because their client went away before the answer */
} upstream;

/* upstream_set: every service the edge routes to, in manifest order. */
typedef struct upstream_set {
	upstream **items; /* each owned */
	size_t n;
} upstream_set;

/* upstream_set_add makes a target group of opts (rt_group_new) whose calls in flight are held to
 * max_inflight, and adds it to the set. Returns the upstream (the set's), or NULL with a reason
 * in err. */
upstream *upstream_set_add(upstream_set *set, const rt_group_opts *opts, int max_inflight,
			   char *err, size_t errlen);

/* upstream_set_find returns the upstream of the service called name, or NULL. */
upstream *upstream_set_find(const upstream_set *set, const char *name);

/* upstream_name returns the service's short name; the group's string. */
const char *upstream_name(const upstream *u);

/* upstream_client returns the service's client; the group's. */
mesh_client *upstream_client(const upstream *u);

/* upstream_set_inflight returns the calls in flight over every group. */
int upstream_set_inflight(const upstream_set *set);

/* upstream_set_fini frees every group; no call may be in flight. */
void upstream_set_fini(upstream_set *set);

#endif
