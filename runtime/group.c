/* group.c: target groups: a mesh client per service, its instances from a target file or DNS
 * names, followed as they change. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "group.h"
#include "resolve.h"
#include "targets.h"

struct rt_group {
	char *name;
	mesh_client *client; /* owned */
	mesh_loop *loop;     /* the client's loop, or NULL */
	int follows_targets; /* its instances come from a target file */
	rt_targets_watch targets;
	rt_resolve_watch **names; /* its addresses with a DNS name; each owned */
	size_t nnames;
	int resolve_interval_ms;
	/* a loop client: the timer that applies changes on the loop, and the thread resolving */
	mesh_timer *timer;
	rt_resolver *resolver;
	/* any other client: one thread resolves and applies */
	pthread_t thread;
	int thread_started;
	pthread_mutex_t lock; /* guards stop, for the thread's timed wait */
	pthread_cond_t wake;
	int stop;
};

/* group_sync applies what changed since the last call: the target file's instances and the
 * addresses the last resolutions found. Where the client's calls are made. */
static void group_sync(rt_group *g)
{
	if (g->follows_targets)
		rt_targets_sync(&g->targets, g->client);
	for (size_t i = 0; i < g->nnames; i++)
		rt_resolve_sync(g->names[i], g->client);
}

static void group_on_timer(void *arg)
{
	rt_group *g = arg;
	group_sync(g);
	g->loop->ops->timer_arm(g->loop, g->timer, RT_GROUP_POLL_MS);
}

/* group_follow is the thread of a group whose client is not on a loop: it applies changes
 * every RT_GROUP_POLL_MS and resolves the names every resolve interval, until told to stop. */
static void *group_follow(void *arg)
{
	rt_group *g = arg;
	int64_t next_resolve = mesh_now_us() + (int64_t)g->resolve_interval_ms * 1000;
	pthread_mutex_lock(&g->lock);
	while (!g->stop) {
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_nsec += RT_GROUP_POLL_MS * 1000000L;
		until.tv_sec += until.tv_nsec / 1000000000L;
		until.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&g->wake, &g->lock, &until);
		if (g->stop)
			break;
		pthread_mutex_unlock(&g->lock);
		if (mesh_now_us() >= next_resolve) {
			for (size_t i = 0; i < g->nnames; i++)
				rt_resolve_refresh(g->names[i]);
			next_resolve = mesh_now_us() + (int64_t)g->resolve_interval_ms * 1000;
		}
		group_sync(g);
		pthread_mutex_lock(&g->lock);
	}
	pthread_mutex_unlock(&g->lock);
	return NULL;
}

/* group_add_name resolves url, an address whose host is a DNS name, dials what it finds and
 * keeps it for resolving again. label prefixes its log lines. Returns 0 or ENOMEM. */
static int group_add_name(rt_group *g, const char *url, const char *label)
{
	rt_resolve_watch *w = malloc(sizeof(*w)), **grown;
	if (w == NULL)
		return ENOMEM;
	if (rt_resolve_watch_init(w, url, label) != 0) {
		free(w);
		return ENOMEM;
	}
	grown = realloc(g->names, (g->nnames + 1) * sizeof(*grown));
	if (grown == NULL) {
		rt_resolve_watch_fini(w);
		free(w);
		return ENOMEM;
	}
	g->names = grown;
	g->names[g->nnames++] = w;
	rt_resolve_refresh(w); /* before anything runs: blocking is fine */
	rt_resolve_sync(w, g->client);
	return 0;
}

/* group_dial_list dials each address of urls (comma-separated). Returns 0, or an errno value
 * with the reason in err. */
static int group_dial_list(rt_group *g, const rt_group_opts *opts, char *err, size_t errlen)
{
	char label[256], *list = strdup(opts->urls), *url, *save = NULL;
	int rv = 0;
	if (list == NULL)
		return ENOMEM;
	snprintf(label, sizeof(label), "%s: %s", opts->log_prefix ? opts->log_prefix : "mesh",
		 g->name);
	for (url = strtok_r(list, ",", &save); url != NULL && rv == 0;
	     url = strtok_r(NULL, ",", &save)) {
		if (rt_resolve_is_name(url))
			rv = group_add_name(g, url, label);
		else if ((rv = mesh_client_dial(g->client, url)) != 0)
			snprintf(err, errlen, "%s: cannot dial '%s': %s", g->name, url,
				 strerror(rv));
	}
	if (rv == ENOMEM)
		snprintf(err, errlen, "%s: out of memory", g->name);
	free(list);
	return rv;
}

/* group_start starts following what can change: a target file, DNS names. */
static int group_start(rt_group *g)
{
	if (!g->follows_targets && g->nnames == 0)
		return 0;
	if (g->loop != NULL) {
		int rv;
		g->timer = g->loop->ops->timer_new(g->loop, group_on_timer, g);
		if (g->timer == NULL)
			return ENOMEM;
		g->loop->ops->timer_arm(g->loop, g->timer, RT_GROUP_POLL_MS);
		if (g->nnames > 0 && (rv = rt_resolver_start(&g->resolver, g->names, g->nnames,
							     g->resolve_interval_ms)) != 0)
			return rv;
		return 0;
	}
	if (pthread_create(&g->thread, NULL, group_follow, g) != 0)
		return EAGAIN;
	g->thread_started = 1;
	return 0;
}

int rt_group_new(rt_group **out, const rt_group_opts *opts, char *err, size_t errlen)
{
	rt_group *g = calloc(1, sizeof(*g));
	int rv = ENOMEM;
	if (g == NULL || (g->name = strdup(opts->name)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", opts->name);
		free(g);
		return rv;
	}
	pthread_mutex_init(&g->lock, NULL);
	{
		pthread_condattr_t attr;
		pthread_condattr_init(&attr);
		pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
		pthread_cond_init(&g->wake, &attr);
		pthread_condattr_destroy(&attr);
	}
	g->loop = opts->client.loop;
	g->resolve_interval_ms = opts->resolve_interval_ms > 0 ? opts->resolve_interval_ms
							       : RT_RESOLVE_INTERVAL_DEFAULT_MS;
	if ((rv = mesh_client_new(&g->client, opts->service, &opts->client)) != 0) {
		snprintf(err, errlen, "%s: cannot make a client: %s", g->name, strerror(rv));
		goto out_free;
	}
	/* checks are the loop transport's; a client on nng's threads has none (ENOTSUP) */
	if (opts->health.interval_ms > 0 &&
	    (rv = mesh_client_set_health(g->client, &opts->health)) != 0 && rv != ENOTSUP) {
		snprintf(err, errlen, "%s: bad health checks: %s", g->name, strerror(rv));
		goto out_free;
	}
	if (opts->targets != NULL) {
		if (rt_targets_watch_init(&g->targets, opts->targets) != 0) {
			rv = ENOMEM;
			snprintf(err, errlen, "%s: out of memory", g->name);
			goto out_free;
		}
		g->follows_targets = 1;
		rt_targets_sync(&g->targets, g->client);
	} else if (opts->urls != NULL && (rv = group_dial_list(g, opts, err, errlen)) != 0) {
		goto out_free;
	}
	if ((rv = group_start(g)) != 0) {
		snprintf(err, errlen, "%s: cannot follow its instances: %s", g->name, strerror(rv));
		goto out_free;
	}
	*out = g;
	return 0;

out_free:
	rt_group_free(g);
	return rv;
}

mesh_client *rt_group_client(const rt_group *g)
{
	return g->client;
}

const char *rt_group_name(const rt_group *g)
{
	return g->name;
}

void rt_group_free(rt_group *g)
{
	if (g == NULL)
		return;
	if (g->thread_started) {
		pthread_mutex_lock(&g->lock);
		g->stop = 1;
		pthread_cond_signal(&g->wake);
		pthread_mutex_unlock(&g->lock);
		pthread_join(g->thread, NULL);
	}
	rt_resolver_stop(g->resolver); /* first: it refreshes the watches */
	if (g->timer != NULL) {
		g->loop->ops->timer_stop(g->loop, g->timer);
		g->loop->ops->timer_free(g->loop, g->timer);
	}
	mesh_client_free(g->client);
	if (g->follows_targets)
		rt_targets_watch_fini(&g->targets);
	for (size_t i = 0; i < g->nnames; i++) {
		rt_resolve_watch_fini(g->names[i]);
		free(g->names[i]);
	}
	free(g->names);
	pthread_cond_destroy(&g->wake);
	pthread_mutex_destroy(&g->lock);
	free(g->name);
	free(g);
}
