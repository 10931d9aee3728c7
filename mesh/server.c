/* server.c: mesh_server: serves a protobuf-c service, from event loops (ipc://, tcp://) or nng. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>

#include "nng_errno.h"
#include "server_internal.h"

/* server_use_nng says whether url goes to the nng transport: schemes the event loops do not
 * speak (inproc://, ws://, ...), or every url when CLEAVE_MESH_TRANSPORT=nng. */
static int server_use_nng(const char *url)
{
	const char *forced = getenv("CLEAVE_MESH_TRANSPORT");
	if (forced != NULL && strcmp(forced, "nng") == 0)
		return 1;
	return strncmp(url, "ipc://", 6) != 0 && strncmp(url, "tcp://", 6) != 0 &&
	       strncmp(url, "tls+tcp://", 10) != 0;
}

int mesh_server_new(mesh_server **out, ProtobufCService *impl, const mesh_server_opts *opts)
{
	mesh_server *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return ENOMEM;
	s->impl = impl;
	if (opts != NULL)
		s->opts = *opts;
	if (s->opts.name == NULL)
		s->opts.name = impl->descriptor->name;
	/* the bounds' defaults: from here on every transport reads them from s->opts */
	if (s->opts.max_frame == 0)
		s->opts.max_frame = MESH_SERVER_MAX_FRAME;
	if (s->opts.max_conns <= 0)
		s->opts.max_conns = MESH_SERVER_MAX_CONNS;
	if (s->opts.max_unsent == 0)
		s->opts.max_unsent = MESH_SERVER_MAX_UNSENT;
	if (s->opts.max_inflight <= 0)
		s->opts.max_inflight = MESH_SERVER_MAX_INFLIGHT;
	if (s->opts.idle_timeout_ms <= 0)
		s->opts.idle_timeout_ms = MESH_SERVER_IDLE_TIMEOUT_MS;
	s->started_us = mesh_now_us();
	meshi_stats_init(&s->stats, impl->descriptor);
	*out = s;
	return 0;
}

int mesh_server_listen(mesh_server *s, const char *url)
{
	int rv;
	if (server_use_nng(url)) {
		if (s->nng == NULL && (rv = meshi_server_nng_new(&s->nng, s)) != 0)
			return meshi_errno_from_nng(rv);
		rv = meshi_server_nng_listen(s->nng, url);
		/* nng says NNG_EADDRINVAL or NNG_ENOTSUP for a url it cannot serve */
		return rv == NNG_EADDRINVAL || rv == NNG_ENOTSUP ? EINVAL
								 : meshi_errno_from_nng(rv);
	}
	if (s->loop == NULL && (rv = meshi_server_loop_new(&s->loop, s)) != 0)
		return rv;
	return meshi_server_loop_listen(s->loop, url);
}

int mesh_server_uses_workers(const mesh_server *s)
{
	return s->nng != NULL;
}

int mesh_server_start(mesh_server *s)
{
	int rv;
	if (s->loop != NULL && (rv = meshi_server_loop_start(s->loop)) != 0)
		return rv;
	if (s->nng != NULL && (rv = meshi_server_nng_start(s->nng)) != 0) {
		meshi_server_loop_stop(s->loop);
		return meshi_errno_from_nng(rv);
	}
	s->started = 1;
	return 0;
}

void mesh_server_stop(mesh_server *s)
{
	if (s->stopped)
		return;
	s->stopped = 1;
	if (s->loop != NULL)
		meshi_server_loop_stop(s->loop);
	if (s->nng != NULL)
		meshi_server_nng_stop(s->nng);
}

void mesh_server_set_policy(mesh_server *s, const mesh_policy *policy)
{
	s->policy = policy;
}

void mesh_server_free(mesh_server *s)
{
	if (s == NULL)
		return;
	mesh_server_stop(s);
	meshi_server_loop_free(s->loop);
	meshi_server_nng_free(s->nng);
	meshi_stats_fini(&s->stats);
	free(s);
}

void mesh_server_counters_read(const mesh_server *s, mesh_server_counters *out)
{
	const meshi_server_counters *c = &s->counters;
	out->connections = atomic_load_explicit(&c->connections, memory_order_relaxed);
	out->accepted = atomic_load_explicit(&c->accepted, memory_order_relaxed);
	out->oversize_frames = atomic_load_explicit(&c->oversize_frames, memory_order_relaxed);
	out->idle_closed = atomic_load_explicit(&c->idle_closed, memory_order_relaxed);
	out->stalled = atomic_load_explicit(&c->stalled, memory_order_relaxed);
	out->evicted = atomic_load_explicit(&c->evicted, memory_order_relaxed);
	out->refused = atomic_load_explicit(&c->refused, memory_order_relaxed);
	out->accept_pauses = atomic_load_explicit(&c->accept_pauses, memory_order_relaxed);
	out->reads_paused = atomic_load_explicit(&c->reads_paused, memory_order_relaxed);
	out->costly_requests = atomic_load_explicit(&c->costly_requests, memory_order_relaxed);
}
