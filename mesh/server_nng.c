/* server_nng.c: the nng transport of a server: workers loop RECV -> WORK -> SEND on REP contexts.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

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

/* nng_worker: one call served at a time, on its own thread and nng context. */
typedef struct nng_worker {
	meshi_server_nng *nng;
	nng_ctx ctx;
	nng_aio *aio;
	pthread_t thread;
	int running;
	meshi_server_call call;
} nng_worker;

struct meshi_server_nng {
	mesh_server *server;
	nng_socket sock;
	nng_listener *listeners;
	size_t nlisteners;
	nng_worker *workers;
	int nworkers;
	atomic_int stopping;
};

static void *nng_worker_main(void *arg)
{
	nng_worker *w = arg;
	meshi_server_nng *n = w->nng;
	while (!atomic_load(&n->stopping)) {
		nng_sink sink = {.base.reserve = nng_sink_reserve};
		nng_msg *msg;
		int rv;
		nng_ctx_recv(w->ctx, w->aio);
		nng_aio_wait(w->aio);
		rv = nng_aio_result(w->aio);
		if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
			break;
		if (rv != 0)
			continue;
		msg = nng_aio_get_msg(w->aio);
		nng_peer(nng_msg_get_pipe(msg), &w->call);
		if (n->server->opts.insecure)
			w->call.peer_unproven = 0; /* its claim stands */
		rv = meshi_dispatch_call(n->server, &w->call, &sink.base, nng_msg_body(msg),
					 nng_msg_len(msg));
		nng_msg_free(msg);
		if (rv != 0)
			continue; /* out of memory: the caller's deadline answers */
		nng_aio_set_msg(w->aio, sink.msg);
		nng_ctx_send(w->ctx, w->aio);
		nng_aio_wait(w->aio);
		if (nng_aio_result(w->aio) != 0)
			nng_msg_free(sink.msg);
	}
	return NULL;
}

/* server_nng_owner_check closes, before it is used, a connection of an owner-only server from
 * a process of another user than this one's and root. */
static void server_nng_owner_check(nng_pipe pipe, nng_pipe_ev ev, void *arg)
{
	uint64_t uid;
	(void)ev;
	(void)arg;
	if (nng_pipe_get_uint64(pipe, NNG_OPT_IPC_PEER_UID, &uid) != 0 ||
	    !meshi_uid_is_owner((uid_t)uid))
		nng_pipe_close(pipe);
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
	if (n->workers == NULL)
		goto out_free;
	if ((rv = nng_rep0_open(&n->sock)) != 0)
		goto out_free;
	/* replies and requests may be large lists */
	nng_socket_set_size(n->sock, NNG_OPT_RECVMAXSZ, 0);
	if (server->opts.owner_only &&
	    (rv = nng_pipe_notify(n->sock, NNG_PIPE_EV_ADD_PRE, server_nng_owner_check, n)) != 0)
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
	free(n->listeners);
	free(n->workers);
	free(n);
}
