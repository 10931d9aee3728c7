/* server_internal.h: what the server's transports share: the call being served and dispatch. */
#ifndef CLEAVE_MESH_SERVER_INTERNAL_H
#define CLEAVE_MESH_SERVER_INTERNAL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "mesh.h"
#include "policy.h"
#include "stats.h"

#define SERVER_CALLER_MAX 128
#define SERVER_KEY_MAX	  256

/* meshi_dispatch_sink: where a transport wants the reply envelope written. */
typedef struct meshi_dispatch_sink {
	/* reserve returns room for n bytes of reply envelope, or NULL if memory ran out; it is
	 * called at most once per call. */
	uint8_t *(*reserve)(struct meshi_dispatch_sink *sink, size_t n);
} meshi_dispatch_sink;

/* meshi_server_call: the call being served; its address is the closure_data implementations see.
 * Each transport thread owns one and serves one call at a time with it. */
typedef struct meshi_server_call {
	mesh_server *server;
	meshi_dispatch_sink *sink;
	int closed;  /* the closure was called */
	int failed;  /* mesh_fail was called */
	int written; /* the reply went to the sink */
	mesh_status status;
	char message[MESH_MESSAGE_MAX];
	char caller[SERVER_CALLER_MAX];
	char idempotency_key[SERVER_KEY_MAX];
	int has_idempotency_key;
	char request_id[MESH_REQUEST_ID_MAX + 1];
	int has_request_id;
	const char *method_name; /* for log lines: the method's, once known; else NULL */
	long peer_uid;	   /* the calling process's uid, from the transport; -1 if unknown (tcp) */
	char identity[64]; /* who the caller is, as the transport proves it; "" if unproven */
	/* the CN of the caller's verified TLS certificate (tls+tcp://): its proven identity;
	 * borrowed from the connection for the call; NULL when the transport has none */
	const char *peer_name;
	/* 1: a network peer nothing proves (plain tcp://): under a policy its claim is not
	 * trusted and it is "anonymous" */
	int peer_unproven;
	int64_t deadline_us;
	/* set by the transport before each call: when it read the call (its budget counts from
	 * then; 0: from when dispatch began), and whether its caller already cancelled it (a
	 * Cancel for it waits behind it: it is answered CANCELLED unrun) */
	int64_t arrived_us;
	int cancelled;
	int uncounted; /* a Cancel: neither answered nor counted */
	/* the call's W3C trace context, and the span the server opened for it */
	int has_trace;
	mesh_trace trace; /* parent_id: the caller's span */
	uint8_t span_id[MESH_SPAN_ID_LEN];
	uint64_t span_seed; /* the thread's generator of span ids (splitmix64); 0: not seeded */
	meshi_stats_shard *shard; /* the thread's counters, made with the transport */
	meshi_stats_call stats;	  /* what is measured of this call */
} meshi_server_call;

typedef struct meshi_server_loop meshi_server_loop;
typedef struct meshi_server_nng meshi_server_nng;

/* meshi_server_counters: mesh_server_counters, counted by every transport thread (relaxed
 * atomics: the events they count are rare, or cost far more than the count). */
typedef struct meshi_server_counters {
	_Atomic uint64_t connections, accepted, oversize_frames, idle_closed, stalled, evicted,
	    refused, accept_pauses, reads_paused, costly_requests;
} meshi_server_counters;

/* meshi_count adds n to counter c. */
static inline void meshi_count(_Atomic uint64_t *c, int64_t n)
{
	atomic_fetch_add_explicit(c, (uint64_t)n, memory_order_relaxed);
}

/* meshi_server_log writes one line as mesh_log does, for no call: "users: [-] ...". */
void meshi_server_log(const mesh_server *server, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* meshi_ratelog: one kind of event logged at most once a second (a peer can cause it at will),
 * the line saying how many were not logged since the last one. */
typedef struct meshi_ratelog {
	_Atomic int64_t last_us;
	_Atomic uint64_t unlogged;
} meshi_ratelog;

/* meshi_ratelog_line logs fmt (printf's) as the server's line ("users: [-] ...") unless r
 * logged one less than a second ago; then it only counts it. Any thread. */
void meshi_ratelog_line(meshi_ratelog *r, const mesh_server *server, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

struct mesh_server {
	ProtobufCService *impl;
	mesh_server_opts opts;
	int64_t started_us;
	meshi_stats stats;	 /* per-method counters, one shard per transport thread */
	meshi_server_loop *loop; /* ipc:// and tcp:// served from event loops */
	meshi_server_nng *nng;	 /* everything else, or all when CLEAVE_MESH_TRANSPORT=nng */
	int started;
	int stopped;
	const mesh_policy *policy; /* borrowed; NULL: every call allowed */
	meshi_server_counters counters;
	meshi_ratelog oversize_log; /* "closed a connection: a call of N bytes..." */
};

/* meshi_dispatch_call serves the packed mesh.Call in data (len bytes) with call, writes the reply
 * envelope through sink, and counts the call in call->shard. The transport sets call's
 * arrived_us and cancelled first. Returns 0 if a reply was written, -1 if none could be (memory
 * ran out: the caller's deadline answers) or none is due (a mesh.Mesh/Cancel). */
int meshi_dispatch_call(mesh_server *server, meshi_server_call *call, meshi_dispatch_sink *sink,
			const uint8_t *data, size_t len);

/* meshi_server_loop_new makes the event-loop transport of server. Returns 0 or an errno value. */
int meshi_server_loop_new(meshi_server_loop **out, mesh_server *server);
/* meshi_server_loop_listen listens on an ipc://, tcp:// or tls+tcp:// url. Returns 0, or an errno
 * value (EINVAL: not a url this transport serves; ENOKEY: tls+tcp:// without mesh_tls_configure).
 */
int meshi_server_loop_listen(meshi_server_loop *loop, const char *url);
/* meshi_server_loop_start starts the loop threads. Returns 0 or an errno value. */
int meshi_server_loop_start(meshi_server_loop *loop);
/* meshi_server_loop_stop stops the threads and closes every connection and listener. */
void meshi_server_loop_stop(meshi_server_loop *loop);
/* meshi_server_loop_free frees the transport, stopping it if needed. */
void meshi_server_loop_free(meshi_server_loop *loop);

/* meshi_server_nng_new makes the nng transport of server (worker threads on nng REP contexts).
 * Returns 0 or an nng error number. */
int meshi_server_nng_new(meshi_server_nng **out, mesh_server *server);
/* meshi_server_nng_listen listens on any url nng knows. Returns 0 or an nng error number. */
int meshi_server_nng_listen(meshi_server_nng *nng, const char *url);
/* meshi_server_nng_start starts the workers. Returns 0 or an nng error number. */
int meshi_server_nng_start(meshi_server_nng *nng);
/* meshi_server_nng_stop closes the listeners and waits for the workers. */
void meshi_server_nng_stop(meshi_server_nng *nng);
/* meshi_server_nng_free frees the transport, stopping it if needed. */
void meshi_server_nng_free(meshi_server_nng *nng);

#endif
