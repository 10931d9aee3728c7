/* upstream.c: the edge's target groups, one per service it routes to. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "upstream.h"

upstream *upstream_set_add(upstream_set *set, const rt_group_opts *opts, int max_inflight,
			   char *err, size_t errlen)
{
	upstream **grown = realloc(set->items, (set->n + 1) * sizeof(*grown));
	upstream *u;
	if (grown == NULL || (u = calloc(1, sizeof(*u))) == NULL) {
		if (grown != NULL)
			set->items = grown;
		snprintf(err, errlen, "%s: out of memory", opts->name);
		return NULL;
	}
	set->items = grown;
	if (rt_group_new(&u->group, opts, err, errlen) != 0) {
		free(u);
		return NULL;
	}
	u->max_inflight = max_inflight;
	set->items[set->n++] = u;
	return u;
}

upstream *upstream_set_find(const upstream_set *set, const char *name)
{
	for (size_t i = 0; i < set->n; i++)
		if (strcmp(rt_group_name(set->items[i]->group), name) == 0)
			return set->items[i];
	return NULL;
}

const char *upstream_name(const upstream *u)
{
	return rt_group_name(u->group);
}

mesh_client *upstream_client(const upstream *u)
{
	return rt_group_client(u->group);
}

int upstream_set_inflight(const upstream_set *set)
{
	int n = 0;
	for (size_t i = 0; i < set->n; i++)
		n += mesh_client_inflight(upstream_client(set->items[i]));
	return n;
}

void upstream_set_fini(upstream_set *set)
{
	for (size_t i = 0; i < set->n; i++) {
		rt_group_free(set->items[i]->group);
		free(set->items[i]);
	}
	free(set->items);
	set->items = NULL;
	set->n = 0;
}
