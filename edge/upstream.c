/* upstream.c: target groups: a mesh client per service, dialed to each instance address. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>

#include "upstream.h"

static void upstream_free(upstream *u)
{
	if (u == NULL)
		return;
	mesh_client_free(u->client);
	mesh_targets_watch_fini(&u->targets);
	for (size_t i = 0; i < u->nnames; i++) {
		mesh_resolve_watch_fini(u->names[i]);
		free(u->names[i]);
	}
	free(u->names);
	free(u->name);
	free(u->urls);
	free(u);
}

/* upstream_add_name resolves url, a URL whose host is a DNS name, dials its addresses and keeps
 * it for re-resolving. Returns 0 or -1 (out of memory). */
static int upstream_add_name(upstream *u, const char *url)
{
	char label[256];
	mesh_resolve_watch *w = malloc(sizeof(*w)), **grown;
	if (w == NULL)
		return -1;
	snprintf(label, sizeof(label), "edge: %s", u->name);
	if (mesh_resolve_watch_init(w, url, label) != 0) {
		free(w);
		return -1;
	}
	grown = realloc(u->names, (u->nnames + 1) * sizeof(*grown));
	if (grown == NULL) {
		mesh_resolve_watch_fini(w);
		free(w);
		return -1;
	}
	u->names = grown;
	u->names[u->nnames++] = w;
	mesh_resolve_refresh(w); /* at start-up, before the loop runs: blocking is fine */
	mesh_resolve_sync(w, u->client);
	return 0;
}

upstream *upstream_set_add(upstream_set *set, const char *name,
			   const ProtobufCServiceDescriptor *desc, const char *urls,
			   const mesh_client_opts *opts, char *err, size_t errlen)
{
	upstream *u = calloc(1, sizeof(*u));
	upstream **grown;
	char *list, *url, *save = NULL;
	int rv;
	if (u == NULL || (u->name = strdup(name)) == NULL || (u->urls = strdup(urls)) == NULL)
		goto out_oom;
	if ((rv = mesh_client_new(&u->client, desc, opts)) != 0) {
		snprintf(err, errlen, "%s: cannot create a client: %s", name, nng_strerror(rv));
		goto out_free;
	}
	list = strdup(urls);
	if (list == NULL)
		goto out_oom;
	for (url = strtok_r(list, ",", &save); url != NULL; url = strtok_r(NULL, ",", &save)) {
		if (mesh_resolve_is_name(url)) {
			if (upstream_add_name(u, url) != 0) {
				free(list);
				goto out_oom;
			}
			continue;
		}
		if ((rv = mesh_client_dial(u->client, url)) != 0) {
			snprintf(err, errlen, "%s: cannot dial '%s': %s", name, url,
				 nng_strerror(rv));
			free(list);
			goto out_free;
		}
	}
	free(list);
	grown = realloc(set->items, (set->n + 1) * sizeof(*grown));
	if (grown == NULL)
		goto out_oom;
	set->items = grown;
	set->items[set->n++] = u;
	return u;

out_oom:
	snprintf(err, errlen, "%s: out of memory", name);
out_free:
	upstream_free(u);
	return NULL;
}

upstream *upstream_set_find(const upstream_set *set, const char *name)
{
	for (size_t i = 0; i < set->n; i++)
		if (strcmp(set->items[i]->name, name) == 0)
			return set->items[i];
	return NULL;
}

int upstream_set_inflight(const upstream_set *set)
{
	int n = 0;
	for (size_t i = 0; i < set->n; i++)
		n += mesh_client_inflight(set->items[i]->client);
	return n;
}

int upstream_follow_targets(upstream *u, const char *path)
{
	if (mesh_targets_watch_init(&u->targets, path) != 0)
		return -1;
	u->follows_targets = 1;
	return 0;
}

static void upstream_set_sync(void *arg)
{
	upstream_set *set = arg;
	for (size_t i = 0; i < set->n; i++) {
		upstream *u = set->items[i];
		if (u->follows_targets)
			mesh_targets_sync(&u->targets, u->client);
		for (size_t k = 0; k < u->nnames; k++)
			mesh_resolve_sync(u->names[k], u->client);
	}
	set->loop->ops->timer_arm(set->loop, set->timer, UPSTREAM_TARGETS_POLL_MS);
}

int upstream_set_watch_targets(upstream_set *set, mesh_loop *loop)
{
	mesh_resolve_watch **all = NULL;
	size_t nall = 0;
	set->loop = loop;
	set->timer = loop->ops->timer_new(loop, upstream_set_sync, set);
	if (set->timer == NULL)
		return -1;
	for (size_t i = 0; i < set->n; i++)
		nall += set->items[i]->nnames;
	if (nall > 0) {
		size_t at = 0;
		int rv;
		if ((all = malloc(nall * sizeof(*all))) == NULL)
			return -1;
		for (size_t i = 0; i < set->n; i++)
			for (size_t k = 0; k < set->items[i]->nnames; k++)
				all[at++] = set->items[i]->names[k];
		rv = mesh_resolver_start(&set->resolver, all, nall,
					 set->resolve_interval_ms > 0
					     ? set->resolve_interval_ms
					     : MESH_RESOLVE_INTERVAL_DEFAULT_MS);
		free(all);
		if (rv != 0)
			return -1;
	}
	upstream_set_sync(set);
	return 0;
}

void upstream_set_fini(upstream_set *set)
{
	mesh_resolver_stop(set->resolver); /* first: it refreshes the upstreams' watches */
	set->resolver = NULL;
	if (set->timer != NULL) {
		set->loop->ops->timer_stop(set->loop, set->timer);
		set->loop->ops->timer_free(set->loop, set->timer);
		set->timer = NULL;
	}
	for (size_t i = 0; i < set->n; i++)
		upstream_free(set->items[i]);
	free(set->items);
	set->items = NULL;
	set->n = 0;
}
