/* server_nng.c: the nng transport of a server: workers loop RECV -> WORK -> SEND on REP contexts.
 *
 * The server's bounds, as far as nng lets them be kept (mesh_server_opts): NNG_OPT_RECVMAXSZ is
 * max_frame (nng closes a connection sending more, without a word); a table of the connections
 * (pipes) holds max_conns at most, closing the one idle longest for a newcomer, or the newcomer;
 * a sweeper thread closes those that completed no call within idle_timeout_ms; and a reply its
 * peer does not take within NNG_SEND_STALL_MS (the worker sending it waits meanwhile) closes the
 * connection. nng itself reads one call per
 * connection ahead of the workers, and sends one reply per connection at a time, so a connection
 * holds little. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/supplemental/tls/tls.h>

#include "server_internal.h"
#include "tls.h"

/* nng_sink: the reply of one call, as an nng message. */
typedef struct nng_sink {
	meshi_dispatch_sink base;
	nng_msg *msg;
} nng_sink;

/* nng_sink_reserve is the sink's reserve: the reply is written straight into a new message. */
static uint8_t *nng_sink_reserve(meshi_dispatch_sink *sink, size_t n)
{
	nng_sink *s = (nng_sink *)sink;
	if (nng_msg_alloc(&s->msg, n) != 0)
		return NULL;
	return nng_msg_body(s->msg);
}

/* nng_peer tells call what the transport proves of the peer of pipe: ipc:// its uid; inproc://
 * that it is this process (its claim stands); anything else, tcp:// and tls+tcp:// included
 * (nng does not say which certificate a peer showed), nothing: it is anonymous. */
static void nng_peer(nng_pipe pipe, meshi_server_call *call)
{
	nng_sockaddr sa;
	uint64_t uid;
	call->peer_uid = -1;
	call->peer_unproven = 1;
	if (nng_pipe_get_uint64(pipe, NNG_OPT_IPC_PEER_UID, &uid) == 0) {
		call->peer_uid = (long)uid;
		call->peer_unproven = 0;
	} else if (nng_pipe_get_addr(pipe, NNG_OPT_REMADDR, &sa) == 0 &&
		   sa.s_family == NNG_AF_INPROC) {
		call->peer_unproven = 0;
	}
}

/* a reply its peer does not take within this closes the connection: the worker waits for it */
#define NNG_SEND_STALL_MS 1000
/* how often the sweeper looks for connections past the idle timeout */
#define NNG_SWEEP_MS 1000
/* at the cap, only a connection that completed no call this long may be closed for a new one */
#define NNG_EVICT_IDLE_US 1000000

/* nng_worker: one call served at a time, on its own thread and nng context. */
typedef struct nng_worker {
	meshi_server_nng *nng;
	nng_ctx ctx;
	nng_aio *aio;
	pthread_t thread;
	int running;
	meshi_server_call call;
} nng_worker;

/* nng_conn: what the server knows of one connection (pipe). */
typedef struct nng_conn {
	uint32_t id; /* the pipe's id; 0: a free slot */
	int called;  /* a call came on it */
	int64_t accepted_us;
	int64_t active_us; /* when a call last came on it, else accepted_us */
} nng_conn;

struct meshi_server_nng {
	mesh_server *server;
	nng_socket sock;
	nng_listener *listeners;
	size_t nlisteners;
	nng_worker *workers;
	int nworkers;
	atomic_int stopping;
	/* the open connections: a hash table (linear probing) of ncap slots, a power of two
	 * over twice max_conns, under mu */
	pthread_mutex_t mu;
	pthread_cond_t wake; /* the sweeper's: stop */
	nng_conn *conns;
	size_t ncap, nconns;
	uint32_t *closing; /* the sweeper's list of connections to close (ncap) */
	pthread_t sweeper;
	int sweeping;
	meshi_ratelog stall_log; /* a connection taking no reply */
};

static size_t conns_home(const meshi_server_nng *n, uint32_t id)
{
	return (size_t)(id * 2654435761u) & (n->ncap - 1);
}

/* conns_find returns the entry of connection id, or NULL. Under mu. */
static nng_conn *conns_find(meshi_server_nng *n, uint32_t id)
{
	for (size_t i = conns_home(n, id);; i = (i + 1) & (n->ncap - 1)) {
		if (n->conns[i].id == id)
			return &n->conns[i];
		if (n->conns[i].id == 0)
			return NULL;
	}
}

/* conns_add enters a connection; there is room (nconns < max_conns < ncap). Under mu. */
static void conns_add(meshi_server_nng *n, uint32_t id, int64_t now)
{
	size_t i = conns_home(n, id);
	while (n->conns[i].id != 0)
		i = (i + 1) & (n->ncap - 1);
	n->conns[i] = (nng_conn){.id = id, .accepted_us = now, .active_us = now};
	n->nconns++;
	meshi_count(&n->server->counters.connections, 1);
}

/* conns_remove takes e out of the table, moving back the entries its slot had pushed along.
 * Under mu. */
static void conns_remove(meshi_server_nng *n, nng_conn *e)
{
	size_t mask = n->ncap - 1, hole = (size_t)(e - n->conns);
	for (size_t j = (hole + 1) & mask; n->conns[j].id != 0; j = (j + 1) & mask) {
		size_t home = conns_home(n, n->conns[j].id);
		/* the entry at j stays unless its home is not cyclically within (hole, j] */
		int stays = hole < j ? (home > hole && home <= j) : (home > hole || home <= j);
		if (!stays) {
			n->conns[hole] = n->conns[j];
			hole = j;
		}
	}
	n->conns[hole].id = 0;
	n->nconns--;
	meshi_count(&n->server->counters.connections, -1);
}

/* nng_worker_note notes that a call came on the connection pipe. */
static void nng_worker_note(nng_worker *w, nng_pipe pipe)
{
	meshi_server_nng *n = w->nng;
	nng_conn *e;
	pthread_mutex_lock(&n->mu);
	if ((e = conns_find(n, (uint32_t)nng_pipe_id(pipe))) != NULL) {
		e->called = 1;
		e->active_us = mesh_now_us();
	}
	pthread_mutex_unlock(&n->mu);
}

/* nng_worker_stalled closes the connection pipe, whose peer took no reply within
 * NNG_SEND_STALL_MS, and forgets it; counted once, as every worker waiting on it times out
 * together. */
static void nng_worker_stalled(nng_worker *w, nng_pipe pipe)
{
	meshi_server_nng *n = w->nng;
	nng_conn *e;
	int known;
	pthread_mutex_lock(&n->mu);
	if ((known = (e = conns_find(n, (uint32_t)nng_pipe_id(pipe))) != NULL))
		conns_remove(n, e);
	pthread_mutex_unlock(&n->mu);
	if (!known)
		return;
	meshi_count(&n->server->counters.stalled, 1);
	meshi_ratelog_line(&n->stall_log, n->server,
			   "closed a connection whose peer took no reply for %d ms",
			   NNG_SEND_STALL_MS);
	nng_pipe_close(pipe);
}

static void *nng_worker_main(void *arg)
{
	nng_worker *w = arg;
	meshi_server_nng *n = w->nng;
	while (!atomic_load(&n->stopping)) {
		nng_sink sink = {.base.reserve = nng_sink_reserve};
		nng_msg *msg;
		nng_pipe pipe;
		int rv;
		nng_aio_set_timeout(w->aio, NNG_DURATION_DEFAULT);
		nng_ctx_recv(w->ctx, w->aio);
		nng_aio_wait(w->aio);
		rv = nng_aio_result(w->aio);
		if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
			break;
		if (rv != 0)
			continue;
		msg = nng_aio_get_msg(w->aio);
		pipe = nng_msg_get_pipe(msg);
		nng_peer(pipe, &w->call);
		if (n->server->opts.insecure)
			w->call.peer_unproven = 0; /* its claim stands */
		nng_worker_note(w, pipe); /* before a slow call runs: the idle timeout spares it */
		/* nng reads a call ahead of the worker: its budget counts from now. A Cancel
		 * cannot find the call it names here (another worker may serve it): unanswered */
		w->call.arrived_us = mesh_now_us();
		w->call.cancelled = 0;
		rv = meshi_dispatch_call(n->server, &w->call, &sink.base, nng_msg_body(msg),
					 nng_msg_len(msg));
		nng_msg_free(msg);
		if (rv != 0)
			continue; /* a Cancel, or out of memory: the caller's deadline answers */
		/* A peer that takes no reply (it pipelines calls and never reads) would hold this
		 * worker, then every other, in the send: it waits NNG_SEND_STALL_MS at most, then
		 * the connection is closed. (nng 1.5.2's reaper can then wait forever for that
		 * connection's pending send or receive: README, "Bounds".) */
		nng_aio_set_msg(w->aio, sink.msg);
		nng_aio_set_timeout(w->aio, NNG_SEND_STALL_MS);
		nng_ctx_send(w->ctx, w->aio);
		nng_aio_wait(w->aio);
		if ((rv = nng_aio_result(w->aio)) != 0)
			nng_msg_free(sink.msg);
		if (rv == NNG_ETIMEDOUT)
			nng_worker_stalled(w, pipe);
	}
	return NULL;
}

/* server_nng_pipe_added admits a new connection: an owner-only server's only from a process of
 * this one's user or root, and every server's within max_conns, making room by closing the
 * connection idle longest if it completed no call for NNG_EVICT_IDLE_US; else the newcomer is
 * closed before it is used (its peer is not told: it sees the connection close). */
static void server_nng_pipe_added(nng_pipe pipe, nng_pipe_ev ev, void *arg)
{
	meshi_server_nng *n = arg;
	mesh_server *s = n->server;
	uint64_t uid;
	int64_t now = mesh_now_us();
	uint32_t evict = 0;
	int admit = 1;
	(void)ev;
	if (s->opts.owner_only && (nng_pipe_get_uint64(pipe, NNG_OPT_IPC_PEER_UID, &uid) != 0 ||
				   !meshi_uid_is_owner((uid_t)uid))) {
		nng_pipe_close(pipe);
		return;
	}
	pthread_mutex_lock(&n->mu);
	if (n->nconns >= (size_t)s->opts.max_conns) {
		nng_conn *oldest = NULL;
		for (size_t i = 0; i < n->ncap; i++)
			if (n->conns[i].id != 0 &&
			    (oldest == NULL || n->conns[i].active_us < oldest->active_us))
				oldest = &n->conns[i];
		if (oldest != NULL && now - oldest->active_us >= NNG_EVICT_IDLE_US) {
			evict = oldest->id;
			conns_remove(n, oldest);
		} else {
			admit = 0;
		}
	}
	if (admit)
		conns_add(n, (uint32_t)nng_pipe_id(pipe), now);
	pthread_mutex_unlock(&n->mu);
	if (evict != 0) {
		nng_pipe old = NNG_PIPE_INITIALIZER;
		old.id = evict;
		meshi_count(&s->counters.evicted, 1);
		nng_pipe_close(old);
	}
	if (!admit) {
		meshi_count(&s->counters.refused, 1);
		nng_pipe_close(pipe);
		return;
	}
	meshi_count(&s->counters.accepted, 1);
}

/* server_nng_pipe_removed forgets a connection that closed. */
static void server_nng_pipe_removed(nng_pipe pipe, nng_pipe_ev ev, void *arg)
{
	meshi_server_nng *n = arg;
	nng_conn *e;
	(void)ev;
	pthread_mutex_lock(&n->mu);
	if ((e = conns_find(n, (uint32_t)nng_pipe_id(pipe))) != NULL)
		conns_remove(n, e);
	pthread_mutex_unlock(&n->mu);
}

/* server_nng_sweeper closes, every NNG_SWEEP_MS, the connections that completed no call within
 * idle_timeout_ms of their accept. */
static void *server_nng_sweeper(void *arg)
{
	meshi_server_nng *n = arg;
	int64_t idle_us = (int64_t)n->server->opts.idle_timeout_ms * 1000;
	pthread_mutex_lock(&n->mu);
	while (!atomic_load(&n->stopping)) {
		struct timespec until;
		size_t nclosing = 0;
		int64_t now;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += NNG_SWEEP_MS / 1000;
		pthread_cond_timedwait(&n->wake, &n->mu, &until);
		if (atomic_load(&n->stopping))
			break;
		now = mesh_now_us();
		for (size_t i = 0; i < n->ncap; i++) {
			nng_conn *e = &n->conns[i];
			if (e->id != 0 && !e->called && now - e->accepted_us > idle_us)
				n->closing[nclosing++] = e->id;
		}
		for (size_t i = 0; i < nclosing; i++) {
			nng_conn *e = conns_find(n, n->closing[i]);
			if (e != NULL)
				conns_remove(n, e);
		}
		pthread_mutex_unlock(&n->mu);
		for (size_t i = 0; i < nclosing; i++) {
			nng_pipe p = NNG_PIPE_INITIALIZER;
			p.id = n->closing[i];
			meshi_count(&n->server->counters.idle_closed, 1);
			nng_pipe_close(p);
		}
		pthread_mutex_lock(&n->mu);
	}
	pthread_mutex_unlock(&n->mu);
	return NULL;
}

int meshi_server_nng_new(meshi_server_nng **out, mesh_server *server)
{
	meshi_server_nng *n = calloc(1, sizeof(*n));
	int rv = NNG_ENOMEM;
	if (n == NULL)
		return rv;
	n->server = server;
	n->nworkers = server->opts.workers > 0 ? server->opts.workers : 8;
	n->workers = calloc((size_t)n->nworkers, sizeof(*n->workers));
	for (n->ncap = 16; n->ncap <= 2 * (size_t)server->opts.max_conns; n->ncap *= 2)
		;
	n->conns = calloc(n->ncap, sizeof(*n->conns));
	n->closing = calloc(n->ncap, sizeof(*n->closing));
	pthread_mutex_init(&n->mu, NULL);
	pthread_cond_init(&n->wake, NULL);
	if (n->workers == NULL || n->conns == NULL || n->closing == NULL)
		goto out_free;
	if ((rv = nng_rep0_open(&n->sock)) != 0)
		goto out_free;
	if ((rv = nng_socket_set_size(n->sock, NNG_OPT_RECVMAXSZ, server->opts.max_frame)) != 0 ||
	    (rv = nng_pipe_notify(n->sock, NNG_PIPE_EV_ADD_PRE, server_nng_pipe_added, n)) != 0 ||
	    (rv = nng_pipe_notify(n->sock, NNG_PIPE_EV_REM_POST, server_nng_pipe_removed, n)) != 0)
		goto out_close;
	for (int i = 0; i < n->nworkers; i++) {
		nng_worker *w = &n->workers[i];
		w->nng = n;
		w->call.shard = meshi_stats_shard_new(&server->stats);
		if (w->call.shard == NULL) {
			rv = NNG_ENOMEM;
			goto out_close;
		}
		if ((rv = nng_ctx_open(&w->ctx, n->sock)) != 0 ||
		    (rv = nng_aio_alloc(&w->aio, NULL, NULL)) != 0)
			goto out_close;
	}
	*out = n;
	return 0;

out_close:
	for (int i = 0; i < n->nworkers; i++) {
		if (n->workers[i].aio != NULL)
			nng_aio_free(n->workers[i].aio);
		if (nng_ctx_id(n->workers[i].ctx) > 0)
			nng_ctx_close(n->workers[i].ctx);
	}
	nng_close(n->sock);
out_free:
	pthread_cond_destroy(&n->wake);
	pthread_mutex_destroy(&n->mu);
	free(n->closing);
	free(n->conns);
	free(n->workers);
	free(n);
	return rv;
}

/* server_nng_tls gives a tls+tcp:// listener the process's certificate, and makes it require
 * a client certificate signed by the CA. Returns 0 or an nng error number. */
static int server_nng_tls(nng_listener l)
{
	nng_tls_config *cfg;
	int rv = meshi_tls_nng_config(&cfg, 1, NULL);
	if (rv != 0)
		return rv;
	rv = nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, cfg);
	nng_tls_config_free(cfg); /* the listener holds its own reference */
	return rv;
}

int meshi_server_nng_listen(meshi_server_nng *n, const char *url)
{
	nng_listener *grown = realloc(n->listeners, (n->nlisteners + 1) * sizeof(*grown));
	int rv;
	if (grown == NULL)
		return NNG_ENOMEM;
	n->listeners = grown;
	if (n->server->opts.owner_only && strncmp(url, "ipc://", 6) != 0)
		return NNG_EADDRINVAL; /* only ipc:// tells who the peer is */
	rv = nng_listener_create(&n->listeners[n->nlisteners], n->sock, url);
	if (rv == 0) {
		/* as the loop transport: any local process may connect, the policy decides; an
		 * owner-only server's socket is its owner's */
		if (strncmp(url, "ipc://", 6) == 0)
			nng_listener_set_int(n->listeners[n->nlisteners], NNG_OPT_IPC_PERMISSIONS,
					     n->server->opts.owner_only ? 0600 : 0666);
		/* the socket's NNG_OPT_RECVMAXSZ, said again to its listener */
		nng_listener_set_size(n->listeners[n->nlisteners], NNG_OPT_RECVMAXSZ,
				      n->server->opts.max_frame);
		if (meshi_tls_url(url))
			rv = server_nng_tls(n->listeners[n->nlisteners]);
		if (rv == 0)
			rv = nng_listener_start(n->listeners[n->nlisteners], 0);
		if (rv != 0)
			nng_listener_close(n->listeners[n->nlisteners]);
	}
	if (rv == 0)
		n->nlisteners++;
	return rv;
}

int meshi_server_nng_start(meshi_server_nng *n)
{
	if (pthread_create(&n->sweeper, NULL, server_nng_sweeper, n) != 0)
		return NNG_ENOMEM;
	n->sweeping = 1;
	for (int i = 0; i < n->nworkers; i++) {
		nng_worker *w = &n->workers[i];
		if (pthread_create(&w->thread, NULL, nng_worker_main, w) != 0) {
			meshi_server_nng_stop(n);
			return NNG_ENOMEM;
		}
		w->running = 1;
	}
	return 0;
}

void meshi_server_nng_stop(meshi_server_nng *n)
{
	if (atomic_exchange(&n->stopping, 1))
		return;
	pthread_mutex_lock(&n->mu);
	pthread_cond_signal(&n->wake);
	pthread_mutex_unlock(&n->mu);
	if (n->sweeping)
		pthread_join(n->sweeper, NULL);
	n->sweeping = 0;
	for (size_t i = 0; i < n->nlisteners; i++)
		nng_listener_close(n->listeners[i]);
	for (int i = 0; i < n->nworkers; i++)
		nng_ctx_close(n->workers[i].ctx);
	for (int i = 0; i < n->nworkers; i++)
		if (n->workers[i].running)
			pthread_join(n->workers[i].thread, NULL);
}

void meshi_server_nng_free(meshi_server_nng *n)
{
	if (n == NULL)
		return;
	meshi_server_nng_stop(n);
	for (int i = 0; i < n->nworkers; i++)
		nng_aio_free(n->workers[i].aio);
	nng_close(n->sock);
	pthread_cond_destroy(&n->wake);
	pthread_mutex_destroy(&n->mu);
	free(n->closing);
	free(n->conns);
	free(n->listeners);
	free(n->workers);
	free(n);
}
