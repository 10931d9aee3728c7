/* server.h: the edge's HTTP server: h2o on one event loop, answering from the route table. */
#ifndef CLEAVE_EDGE_SERVER_H
#define CLEAVE_EDGE_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "access_log.h"
#include "https.h"
#include "mesh.h"
#include "route.h"
#include "upstream.h"

typedef struct edge_server edge_server;

/* EDGE_MAX_CONNECTIONS_DEFAULT: edge_server_opts.max_connections when zero. */
#define EDGE_MAX_CONNECTIONS_DEFAULT 4096

/* edge_server_opts: what the server answers with and how. */
typedef struct edge_server_opts {
	const route_table *routes;     /* borrowed; must outlive the server */
	access_log *log;	       /* borrowed */
	mesh_queue *queue;	       /* borrowed: the queue the upstream clients complete on */
	const upstream_set *upstreams; /* borrowed, may fill later: the gauges of /metrics */
	/* the deadline of a request (its mesh call's budget, which every hop spends from): its
	 * Request-Timeout header, else its route's timeout (manifest), else timeout_ms; and never
	 * more than its route's timeout nor max_timeout_ms */
	int64_t timeout_ms;
	int64_t max_timeout_ms;
	int64_t drain_ms; /* how long a stop waits for calls in flight */
	/* how long a client may take to send a request (HTTP/1) or stay idle (HTTP/2) before its
	 * connection is closed; 0: h2o's default (10 s) */
	int64_t client_timeout_ms;
	/* connections the main port holds open at most (0: EDGE_MAX_CONNECTIONS_DEFAULT); at the
	 * cap it stops accepting until one closes, the others waiting in the listen backlog */
	int max_connections;
	/* send a read (GET) once more when its instance is lost mid-call and another is connected:
	 * for clients whose instance count is exact at once (the loop transport; nng reports a
	 * lost connection after the call has failed) */
	int retry_reads;
	/* the main port's TLS (borrowed; must outlive the server), or NULL for cleartext HTTP; the
	 * server watches its files on the loop. The admin port is always cleartext. */
	edge_https *https;
} edge_server_opts;

/* edge_server_new creates the server on a new event loop. On success *out is the caller's, to
 * free with edge_server_free. Returns 0, or -1 with a reason in err. */
int edge_server_new(edge_server **out, const edge_server_opts *opts, char *err, size_t errlen);

/* edge_server_mesh_loop returns the server's event loop as libmesh drives it: clients made on
 * it run their sockets and closures on the server's thread. It belongs to the server. */
mesh_loop *edge_server_mesh_loop(edge_server *server);

/* edge_server_watch_queue makes the server drain queue (borrowed) whenever clients that use
 * nng's threads complete calls on it. Returns 0, or -1 with a reason in err. */
int edge_server_watch_queue(edge_server *server, mesh_queue *queue, char *err, size_t errlen);

/* edge_server_listen listens on host:port (port 0 picks a free one) and sets *bound_port.
 * Returns 0, or -1 with a reason in err. */
int edge_server_listen(edge_server *server, const char *host, int port, int *bound_port, char *err,
		       size_t errlen);

/* edge_server_listen_admin listens on host:port (port 0 picks a free one) for the admin port,
 * which answers GET /metrics only, sets *bound_port, and starts counting every request of the
 * main port. Returns 0, or -1 with a reason in err. */
int edge_server_listen_admin(edge_server *server, const char *host, int port, int *bound_port,
			     char *err, size_t errlen);

/* edge_server_run serves until SIGINT or SIGTERM arrives, then stops accepting and waits up to
 * drain_ms for calls in flight. The caller must have blocked both signals in every thread.
 * Returns the signal that stopped it. */
int edge_server_run(edge_server *server);

/* edge_server_inflight returns the mesh calls the server is waiting on. */
int edge_server_inflight(const edge_server *server);

/* edge_server_free frees the buffers and watchers the server owns; free every client made on
 * edge_server_mesh_loop first. Its h2o loop and context, and any connection still open on them,
 * are left to the process's exit (h2o 2.2 cannot close its connections), so the caller keeps
 * the pointer until then. */
void edge_server_free(edge_server *server);

#endif
