/* upstream.c: the edge's target groups, one per service it routes to. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "upstream.h"

rt_group *upstream_set_add(upstream_set *set, const rt_group_opts *opts, char *err, size_t errlen)
{
	rt_group **grown = realloc(set->items, (set->n + 1) * sizeof(*grown));
	if (grown == NULL) {
		snprintf(err, errlen, "%s: out of memory", opts->name);
		return NULL;
	}
	set->items = grown;
	if (rt_group_new(&set->items[set->n], opts, err, errlen) != 0)
		return NULL;
	return set->items[set->n++];
}

rt_group *upstream_set_find(const upstream_set *set, const char *name)
{
	for (size_t i = 0; i < set->n; i++)
		if (strcmp(rt_group_name(set->items[i]), name) == 0)
			return set->items[i];
	return NULL;
}

int upstream_set_inflight(const upstream_set *set)
{
	int n = 0;
	for (size_t i = 0; i < set->n; i++)
		n += mesh_client_inflight(rt_group_client(set->items[i]));
	return n;
}

void upstream_set_fini(upstream_set *set)
{
	for (size_t i = 0; i < set->n; i++)
		rt_group_free(set->items[i]);
	free(set->items);
	set->items = NULL;
	set->n = 0;
}
