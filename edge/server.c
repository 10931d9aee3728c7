/* server.c: h2o request handling: match a route, answer it or call its service, reply as JSON. */
#include <errno.h>
#include <malloc.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <h2o.h>
#include <h2o/socket/evloop.h>

#include "conform.h"
#include "h2_tune.h"
#include "h2o_loop.h"
#include "http_status.h"
#include "metrics.h"
#include "process.h"
#include "request_id.h"
#include "traceparent.h"
#include "server.h"
#include "transcode.h"
#include "upstream.h"

#define JSON_TYPE     "application/json; charset=utf-8"
#define TEXT_TYPE     "text/plain; charset=utf-8"
#define FLUSH_MS      100
#define EDGE_BODY_MAX 65536 /* bytes of a request body */
#define EDGE_KEY_MAX  200   /* bytes of an Idempotency-Key */
/* What h2o reads of a body at all: one byte over EDGE_BODY_MAX, so that a body of exactly 64 KiB
 * passes in either framing (h2o refuses a chunked body once it holds max bytes, one with a
 * Content-Length above max at once, unread), and a Content-Length of one byte over gets the
 * edge's own JSON 413. Anything longer gets h2o's plain-text 413 (HTTP/1) or REFUSED_STREAM
 * (HTTP/2) before more of it is read. */
#define EDGE_ENTITY_MAX (EDGE_BODY_MAX + 1)
/* After EMFILE or ENFILE on accept, the listeners rest this long before trying again (a
 * level-triggered listener would otherwise spin on the connection it cannot take). */
#define EDGE_ACCEPT_RETRY_MS 100
/* An HTTP/2 connection's reset budget: each request whose client resets it (RST_STREAM) while
 * its call is in flight costs one, each request answered gives one back, up to this; a
 * connection that spends it all is closed (rapid reset, CVE-2023-44487). h2o's own limit of
 * concurrent streams per connection, 100, is the same number. */
#define EDGE_RESET_BUDGET 100
/* An HTTP/1 request's connection is watched for its client leaving once its call has been in
 * flight this long (up to twice this): most calls end sooner, and cost no system call for it. */
#define EDGE_HUP_DELAY_MS 20
/* Between two turns of h2o's loop, the edge reads what the services have sent (so that their
 * calls' slots are free again) once it has taken this many requests since it last did.
 * h2o reports at most 256 sockets a turn, and a busy socket once per round of every ready one:
 * with thousands of ready client connections, the services' few sockets would wait a whole
 * round, holding every slot (the goodput of a full upstream would be max_inflight a round). */
#define EDGE_POLL_REQUESTS 16
/* How often, while it serves requests, the edge gives the free pages of its heap back to the
 * system (malloc_trim walks the heap and releases every free page, not only the top). Under
 * load h2o's short-lived allocations (an HTTP/2 connection's 80 KiB write buffer per flush, a
 * request's pool chunks) land all over the heap, and the pages they touched stay resident
 * once freed: with thousands of HTTP/2 connections, 8 to 10 MB more than the edge holds. */
#define EDGE_TRIM_MS 250
/* What a request shed at an upstream's max_inflight is told to wait, in seconds. */
#define EDGE_RETRY_AFTER     "1"
#define EDGE_REQUEST_ID	     "x-request-id"
#define EDGE_TRACEPARENT     "traceparent"
#define EDGE_REQUEST_TIMEOUT "request-timeout"
/* What the edge takes of a request's head. h2o 2.2 itself parses a head of up to
 * H2O_MAX_REQLEN (417792) bytes and H2O_MAX_HEADERS (100) header fields, both fixed when
 * libh2o was compiled: a longer head, or more fields, gets a 400 text/plain "Bad Request" and
 * its connection closed. Below those, the edge answers 414 and 431 itself. */
#define EDGE_TARGET_MAX	 8192  /* bytes of the method and the request target */
#define EDGE_HEADERS_MAX 16384 /* bytes of the header fields, counted as "name: value\r\n" */

typedef struct edge_handler {
	h2o_handler_t super;
	edge_server *server;
} edge_handler;

/* edge_conn: what the edge keeps of one connection of the main port, from its accept to its
 * socket's close (h2o calls edge_conn_on_close then, after every request on it is disposed). */
typedef struct edge_conn {
	edge_server *server;
	h2o_socket_t *sock; /* valid until the close */
	int reset_budget;   /* see EDGE_RESET_BUDGET */
	int shut;	    /* shut down for spending it */
	SSL_CTX *ssl_ctx;   /* the TLS context it was accepted with (a reference), or NULL */
} edge_conn;

struct edge_server {
	h2o_globalconf_t config;
	h2o_context_t ctx;
	/* Each listener sees one host, so a connection to the main port can never reach the admin
	 * handler, nor the reverse: h2o takes a connection's only host whatever its Host header. */
	h2o_hostconf_t *main_hosts[2];
	h2o_hostconf_t *admin_hosts[2];
	h2o_accept_ctx_t accept_ctx;
	h2o_accept_ctx_t admin_accept_ctx;
	h2o_evloop_t *loop;
	h2o_socket_t *listener;
	h2o_socket_t *admin_listener; /* NULL unless edge_server_listen_admin */
	h2o_socket_t *queue_sock;     /* NULL unless clients use nng's threads */
	mesh_queue *queue;
	h2o_socket_t *signal_sock;
	h2o_mesh_loop *mesh_loop;
	h2o_timeout_t flush_timeout;
	h2o_timeout_entry_t flush_entry;
	edge_server_opts opts;
	pbjson_buf body;       /* scratch for JSON bodies; the loop thread's alone */
	pbjson_buf header;     /* scratch for Location and Link */
	edge_metrics *metrics; /* NULL: not counting (no admin listener) */
	pbjson_buf metrics_text;
	int inflight;
	int polled_requests; /* requests taken since the services' sockets were last read */
	int trim_requests;   /* requests taken since the heap was last trimmed */
	int stop_signal;
	request_id_gen request_ids;
	trace_gen traces;
	/* the connection cap and accept pauses */
	metrics_overload overload;
	int paused_fds;			 /* out of descriptors: accepting rests */
	int main_reading, admin_reading; /* each listener is watched */
	h2o_timeout_t accept_timeout;
	h2o_timeout_entry_t accept_entry;
	int64_t reset_logged_us; /* when a reset-budget close was last logged */
	int64_t fds_logged_us;	 /* when a shortage of descriptors was last logged */
	/* HTTP/1 clients that go away while their call is in flight: their sockets, in an epoll
	 * set of their own watched for EPOLLRDHUP alone (h2o stops reading an HTTP/1 connection
	 * while its request is served, so it cannot tell) */
	int hup_fd;
	h2o_socket_t *hup_sock;
	struct edge_call *hup_pending; /* HTTP/1 calls to watch at the next tick */
	h2o_timeout_t hup_timeout;
	h2o_timeout_entry_t hup_entry;
};

/* edge_call: one mesh call made for one request. */
typedef struct edge_call {
	mesh_rpc rpc; /* first: the client's side channel */
	edge_server *server;
	h2o_req_t *req; /* NULL once h2o disposed of the request */
	struct edge_call_guard *guard;
	const route *route;
	edge_conn *conn; /* the request's connection, or NULL */
	int http2;
	/* HTTP/1: its socket, to watch in the server's hup_fd set (-1: none); in the server's
	 * hup_pending list until the next tick watches it (hup_watched) */
	int hup_fd;
	int hup_watched;
	struct edge_call *hup_prev, *hup_next;
	int64_t start_us;
	int64_t budget_ms; /* its deadline: start_us plus this (edge_call_budget) */
	/* a read's request (in the request's pool), kept to send it once more to another instance
	 * when the first ends UNAVAILABLE (an instance lost mid-call); NULL for writes */
	ProtobufCMessage *retry_input;
} edge_call;

/* edge_call_guard: lives in the request's pool; when h2o disposes of the request, it tells the
 * call that its request is gone. */
typedef struct edge_call_guard {
	edge_call *call;
} edge_call_guard;

static h2o_socket_t *edge_socket(h2o_req_t *req);
static void edge_conn_on_close(void *data);
static void edge_on_accept(h2o_socket_t *listener, const char *err);

/* edge_field returns the index of the request's first header field called name (len bytes,
 * lower case), or -1 if it has none or its Connection header field names it: a connection option
 * is for this hop alone, so the edge, a gateway, neither reads it nor passes it on in a mesh call
 * (RFC 9110 7.6.1). */
static ssize_t edge_field(h2o_req_t *req, const char *name, size_t len)
{
	for (ssize_t c = -1; (c = h2o_find_header(&req->headers, H2O_TOKEN_CONNECTION, c)) >= 0;)
		if (h2o_contains_token(req->headers.entries[c].value.base,
				       req->headers.entries[c].value.len, name, len, ','))
			return -1;
	return h2o_find_header_by_str(&req->headers, name, len, -1);
}

/* edge_request_id_begin gives req its request id, its X-Request-Id if that is well formed (and
 * trusted: not from a head the edge refuses), else a new one, and puts it in the response's
 * X-Request-Id now, so every answer carries it. Returns the id, NUL-terminated in req's pool. */
static const char *edge_request_id_begin(edge_server *s, h2o_req_t *req, int trusted)
{
	ssize_t i = trusted ? edge_field(req, H2O_STRLIT(EDGE_REQUEST_ID)) : -1;
	h2o_iovec_t id;
	if (i >= 0 && request_id_valid(req->headers.entries[i].value.base,
				       req->headers.entries[i].value.len)) {
		id = h2o_strdup(&req->pool, req->headers.entries[i].value.base,
				req->headers.entries[i].value.len);
	} else {
		id = h2o_iovec_init(h2o_mem_alloc_pool(&req->pool, REQUEST_ID_GEN_LEN + 1),
				    REQUEST_ID_GEN_LEN);
		request_id_make(&s->request_ids, id.base);
	}
	h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT(EDGE_REQUEST_ID), 0, NULL,
			      id.base, id.len);
	return id.base;
}

/* edge_trace_begin gives req its trace context: the trace of its traceparent if that is one
 * valid header (and trusted: not from a head the edge refuses), else a new trace (sampled); and
 * a new span of the edge's own, the parent of the call's. It puts the traceparent naming that
 * span in the response now, so every answer carries it, and in *out (the caller's), which the
 * call takes: not read back from the header. */
static void edge_trace_begin(edge_server *s, h2o_req_t *req, int trusted, mesh_trace *out)
{
	ssize_t i = trusted ? edge_field(req, H2O_STRLIT(EDGE_TRACEPARENT)) : -1;
	mesh_trace t;
	char *value;
	if (i < 0 || h2o_find_header_by_str(&req->headers, H2O_STRLIT(EDGE_TRACEPARENT), i) >= 0 ||
	    traceparent_parse(req->headers.entries[i].value.base, req->headers.entries[i].value.len,
			      &t) != 0) {
		trace_gen_trace_id(&s->traces, t.trace_id);
		t.flags = 1;
	}
	trace_gen_span_id(&s->traces, t.parent_id);
	value = h2o_mem_alloc_pool(&req->pool, TRACEPARENT_LEN + 1);
	traceparent_format(&t, value);
	h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT(EDGE_TRACEPARENT), 0, NULL,
			      value, TRACEPARENT_LEN);
	*out = t;
}

/* edge_trace returns the traceparent edge_trace_begin gave req's answer (empty: none). */
static h2o_iovec_t edge_trace(h2o_req_t *req)
{
	ssize_t i = h2o_find_header_by_str(&req->res.headers, H2O_STRLIT(EDGE_TRACEPARENT), -1);
	return i >= 0 ? req->res.headers.entries[i].value : h2o_iovec_init(NULL, 0);
}

/* edge_request_id returns the id edge_request_id_begin gave req, NUL-terminated in the
 * request's pool. */
static h2o_iovec_t edge_request_id(h2o_req_t *req)
{
	ssize_t i = h2o_find_header_by_str(&req->res.headers, H2O_STRLIT(EDGE_REQUEST_ID), -1);
	return i >= 0 ? req->res.headers.entries[i].value : h2o_iovec_init(NULL, 0);
}

/* edge_413_filter: on the hosts' fallback path, where h2o answers a request before any handler
 * runs, it makes h2o's own 413 (a body over EDGE_ENTITY_MAX) the JSON error every other answer
 * is, with an X-Request-Id; h2o's other answers of its own stay as they are. */
typedef struct edge_413_filter {
	h2o_filter_t super;
	edge_server *server;
} edge_413_filter;

/* edge_413_ostream: sends the JSON body instead of h2o's text. */
typedef struct edge_413_ostream {
	h2o_ostream_t super;
	h2o_iovec_t body; /* in the request's pool; sent once */
} edge_413_ostream;

static void edge_413_send(h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *bufs, size_t bufcnt,
			  h2o_send_state_t state)
{
	edge_413_ostream *o = (edge_413_ostream *)self;
	h2o_iovec_t body = o->body;
	(void)bufs;
	(void)bufcnt;
	o->body = h2o_iovec_init(NULL, 0);
	h2o_ostream_send_next(self, req, &body, body.len > 0 ? 1 : 0, state);
}

static void edge_413_setup(h2o_filter_t *self, h2o_req_t *req, h2o_ostream_t **slot)
{
	edge_server *s = ((edge_413_filter *)self)->server;
	edge_413_ostream *o;
	mesh_trace trace;
	ssize_t i;
	char why[96];
	if (req->res.status != 413) {
		h2o_setup_next_ostream(req, slot);
		return;
	}
	pbjson_buf_reset(&s->body);
	snprintf(why, sizeof(why), "the body is over %d bytes", EDGE_BODY_MAX);
	transcode_error(&s->body, "PAYLOAD_TOO_LARGE", why);
	o = (edge_413_ostream *)h2o_add_ostream(req, sizeof(*o), slot);
	o->super.do_send = edge_413_send;
	o->body = h2o_strdup(&req->pool, s->body.data, s->body.len);
	req->res.content_length = o->body.len;
	if ((i = h2o_find_header(&req->res.headers, H2O_TOKEN_CONTENT_TYPE, -1)) >= 0)
		req->res.headers.entries[i].value = h2o_iovec_init(H2O_STRLIT(JSON_TYPE));
	edge_request_id_begin(s, req, 0); /* none of its head is read */
	edge_trace_begin(s, req, 0, &trace);
	h2o_setup_next_ostream(req, &o->super.next);
}

/* edge_respond answers req, which matched route r (NULL: none), and logs and counts it. */
static void edge_respond(edge_server *s, h2o_req_t *req, const route *r, int status,
			 const char *content_type, const char *body, size_t len,
			 const char *service, int64_t start_us)
{
	req->res.status = status;
	req->res.reason = http_reason(status);
	if (content_type != NULL)
		h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
			       content_type, strlen(content_type));
	/* A 204 carries no Content-Length (RFC 9110 8.6), nor does a 304 here (its length would
	 * have to be the 200's); h2o then sends no body framing, and neither has a body. */
	req->res.content_length = status == 204 || status == 304 ? SIZE_MAX : len;
	if (s->opts.log->out != NULL) { /* no clock read per request when logging is off */
		h2o_iovec_t id = edge_request_id(req), trace = edge_trace(req);
		access_log_write(s->opts.log, req->method.base, req->method.len, req->path.base,
				 req->path.len, status, service, mesh_now_us() - start_us,
				 trace.len == TRACEPARENT_LEN ? trace.base + 3 : NULL, id.base,
				 id.len);
		if (!h2o_timeout_is_linked(&s->flush_entry))
			h2o_timeout_link(s->loop, &s->flush_timeout, &s->flush_entry);
	}
	h2o_send_inline(req, body, len); /* copies body; sends no body for HEAD */
	/* req may be gone from here on: count with what is on the stack */
	if (s->metrics != NULL)
		metrics_request_end(s->metrics, r, status, mesh_now_us() - start_us);
}

static void edge_respond_error(edge_server *s, h2o_req_t *req, const route *r, int status,
			       const char *code, const char *message, const char *service,
			       int64_t start_us)
{
	pbjson_buf_reset(&s->body);
	transcode_error(&s->body, code, message);
	edge_respond(s, req, r, status, JSON_TYPE, s->body.data, s->body.len, service, start_us);
}

/* edge_add_allow adds an Allow header naming the methods of allow (ROUTE_* bits). */
static void edge_add_allow(h2o_req_t *req, unsigned allow)
{
	char value[96];
	h2o_iovec_t copy;
	route_allow_string(allow, value, sizeof(value));
	copy = h2o_strdup(&req->pool, value, strlen(value)); /* h2o keeps the pointer */
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, copy.base, copy.len);
}

/* edge_precondition evaluates the request's preconditions (RFC 9110 13.2.2) for a target whose
 * answer without them is a 2xx: If-Match, then If-None-Match. The edge gives no entity tags, so
 * an If-Match holds only as "*" (the target exists) and an If-None-Match fails only as "*"; it
 * has no modification dates and serves no ranges, so If-Unmodified-Since, If-Modified-Since and
 * If-Range never apply (13.1.3 to 13.1.5). Returns 0 to go on, or the answer: 412, or 304 for a
 * failed If-None-Match of a GET or HEAD (safe), with *why the reason (a static string). */
static int edge_precondition(h2o_req_t *req, int safe, const char **why)
{
	ssize_t i = -1;
	while ((i = h2o_find_header(&req->headers, H2O_TOKEN_IF_MATCH, i)) >= 0) {
		h2o_iovec_t v = req->headers.entries[i].value;
		if (conform_etag_list(v.base, v.len) == 2) {
			*why = "If-Match names entity tags, and the edge gives none: none matches";
			return 412;
		}
	}
	while ((i = h2o_find_header(&req->headers, H2O_TOKEN_IF_NONE_MATCH, i)) >= 0) {
		h2o_iovec_t v = req->headers.entries[i].value;
		if (conform_etag_list(v.base, v.len) == 1) {
			*why = "If-None-Match is *, and the target exists";
			return safe ? 304 : 412;
		}
	}
	return 0;
}

/* edge_answer_precondition answers req, which matched route r (NULL: none) of service, when its
 * preconditions fail (edge_precondition), and returns 1; else returns 0. */
static int edge_answer_precondition(edge_server *s, h2o_req_t *req, const route *r, int safe,
				    const char *service, int64_t start_us)
{
	const char *why = NULL;
	int status = edge_precondition(req, safe, &why);
	if (status == 304)
		edge_respond(s, req, r, 304, NULL, "", 0, service, start_us);
	else if (status == 412)
		edge_respond_error(s, req, r, 412, "PRECONDITION_FAILED", why, service, start_us);
	return status != 0;
}

/* edge_hup_watch has the HTTP/1 connection of call's request watched for its client going away
 * (EPOLLRDHUP: it closed or shut down its side; EPOLLHUP, EPOLLERR: it reset) from the next tick
 * of EDGE_HUP_DELAY_MS on, while the call is in flight. */
static void edge_hup_watch(edge_server *s, edge_call *call, h2o_socket_t *sock)
{
	call->hup_fd = h2o_socket_get_fd(sock);
	call->hup_watched = 0;
	if (call->hup_fd < 0 || s->hup_fd < 0) {
		call->hup_fd = -1;
		return;
	}
	call->hup_prev = NULL;
	call->hup_next = s->hup_pending;
	if (s->hup_pending != NULL)
		s->hup_pending->hup_prev = call;
	s->hup_pending = call;
	if (!h2o_timeout_is_linked(&s->hup_entry))
		h2o_timeout_link(s->loop, &s->hup_timeout, &s->hup_entry);
}

/* edge_on_hup_tick watches the connections of the HTTP/1 calls still in flight. */
static void edge_on_hup_tick(h2o_timeout_entry_t *entry)
{
	edge_server *s = (edge_server *)((char *)entry - offsetof(edge_server, hup_entry));
	while (s->hup_pending != NULL) {
		edge_call *call = s->hup_pending;
		struct epoll_event ev = {.events = EPOLLRDHUP, .data.ptr = call};
		s->hup_pending = call->hup_next;
		call->hup_prev = call->hup_next = NULL;
		if (epoll_ctl(s->hup_fd, EPOLL_CTL_ADD, call->hup_fd, &ev) == 0)
			call->hup_watched = 1;
		else
			call->hup_fd = -1;
	}
}

static void edge_hup_unwatch(edge_server *s, edge_call *call)
{
	if (call->hup_fd < 0)
		return;
	if (call->hup_watched) {
		epoll_ctl(s->hup_fd, EPOLL_CTL_DEL, call->hup_fd, NULL);
	} else {
		if (call->hup_prev != NULL)
			call->hup_prev->hup_next = call->hup_next;
		else
			s->hup_pending = call->hup_next;
		if (call->hup_next != NULL)
			call->hup_next->hup_prev = call->hup_prev;
		call->hup_prev = call->hup_next = NULL;
	}
	call->hup_fd = -1;
	call->hup_watched = 0;
}

/* edge_conn_ending says whether the connection c is ending: its client closed it (or reset
 * it), or the edge shut it down; h2o then disposes of every stream still open on it, which are
 * no resets. */
static int edge_conn_ending(const edge_conn *c)
{
	char byte;
	ssize_t n;
	if (c->shut)
		return 1;
	n = recv(h2o_socket_get_fd(c->sock), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
	return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* edge_conn_reset_spent charges the connection c (NULL: none) one reset of a request whose call
 * was in flight; one that has spent its budget is shut down, and h2o closes it as it reads the
 * end: its other streams are disposed of, their calls cancelled too. */
static void edge_conn_reset_spent(edge_server *s, edge_conn *c)
{
	int64_t now;
	if (c == NULL || c->shut || --c->reset_budget > 0)
		return;
	c->shut = 1;
	shutdown(h2o_socket_get_fd(c->sock), SHUT_RDWR);
	s->overload.reset_closes++;
	now = mesh_now_us();
	if (now - s->reset_logged_us >= 1000000) { /* a line a second at most, under attack */
		s->reset_logged_us = now;
		fprintf(
		    stderr,
		    "edge: closed an HTTP/2 connection that reset %d more streams with calls in "
		    "flight than it let be answered (%llu such closes so far)\n",
		    EDGE_RESET_BUDGET, (unsigned long long)s->overload.reset_closes);
	}
}

/* edge_call_abandon ends call, whose client went away before its answer: the mesh call is
 * cancelled (its slot freed at once, its closure never run; a call not yet written is never
 * sent), counted, and call freed. Returns 0, or -1 if the call could not be cancelled (then
 * nothing changed). */
static int edge_call_abandon(edge_call *call)
{
	edge_server *s = call->server;
	upstream *up = call->route->upstream;
	if (mesh_client_cancel(upstream_client(up), &call->rpc) != 0)
		return -1;
	edge_hup_unwatch(s, call);
	s->inflight--;
	up->inflight--;
	up->cancelled++;
	if (s->metrics != NULL)
		metrics_request_abandoned(s->metrics);
	free(call);
	return 0;
}

/* edge_call_guard_dispose runs when h2o frees the request's pool, before its answer when the
 * client went away (HTTP/2: RST_STREAM, or the connection closed): the call is abandoned. */
static void edge_call_guard_dispose(void *p)
{
	edge_call_guard *guard = p;
	edge_call *call = guard->call;
	edge_server *s;
	edge_conn *conn;
	int reset;
	if (call == NULL)
		return;
	s = call->server;
	conn = call->conn;
	/* a stream reset by the client, rather than closed with its whole connection */
	reset = call->http2 && conn != NULL && !edge_conn_ending(conn);
	if (edge_call_abandon(call) != 0) {
		call->req = NULL; /* not in flight: its closure frees it */
		return;
	}
	/* call is freed */
	if (reset)
		edge_conn_reset_spent(s, conn);
}

/* edge_on_hangup runs when HTTP/1 clients whose calls are in flight went away: each call is
 * abandoned, and its request ended on a socket shut down, so h2o closes the connection. */
static void edge_on_hangup(h2o_socket_t *sock, const char *err)
{
	edge_server *s = sock->data;
	struct epoll_event evs[64];
	int n = epoll_wait(s->hup_fd, evs, 64, 0);
	for (int i = 0; i < n; i++) {
		edge_call *call = evs[i].data.ptr;
		h2o_req_t *req = call->req;
		int fd = call->hup_fd;
		edge_hup_unwatch(s, call);
		call->guard->call = NULL;
		if (edge_call_abandon(call) != 0) {
			call->guard->call = call;
			continue;
		}
		/* nothing is sent to a client that left; h2o needs an answer to end the request */
		shutdown(fd, SHUT_RDWR);
		req->http1_is_persistent = 0;
		req->res.status = 499;
		req->res.reason = "Client Closed Request";
		req->res.content_length = 0;
		h2o_send_inline(req, "", 0);
	}
}

/* edge_set_header adds a header whose value (len bytes) is copied into the request's pool. */
static void edge_set_header(h2o_req_t *req, const h2o_token_t *token, const char *value, size_t len)
{
	h2o_iovec_t copy = h2o_strdup(&req->pool, value, len); /* h2o keeps the pointer */
	h2o_add_header(&req->pool, &req->res.headers, token, NULL, copy.base, copy.len);
}

/* edge_answer_reply answers req with a successful reply: the route's status, body, Location
 * and Link. */
static void edge_answer_reply(edge_server *s, h2o_req_t *req, const edge_call *call,
			      const ProtobufCMessage *reply)
{
	const route *r = call->route;
	pbjson_buf_reset(&s->header);
	if (r->has_location && transcode_location(r, reply, &s->header) == 0)
		edge_set_header(req, H2O_TOKEN_LOCATION, s->header.data, s->header.len);
	pbjson_buf_reset(&s->header);
	if (r->next_field != NULL &&
	    transcode_next_link(r, reply, req->path.base, req->path.len, &s->header) == 1)
		edge_set_header(req, H2O_TOKEN_LINK, s->header.data, s->header.len);
	pbjson_buf_reset(&s->body);
	if (transcode_reply(r, reply, &s->body) != 0) {
		edge_respond_error(s, req, r, 500, "INTERNAL", "out of memory", r->service_name,
				   call->start_us);
		return;
	}
	edge_respond(s, req, r, r->status, JSON_TYPE, s->body.data, s->body.len, r->service_name,
		     call->start_us);
}

/* edge_call_done is the closure of every mesh call; it runs on the loop thread. */
static void edge_call_done(const ProtobufCMessage *reply, void *closure_data)
{
	edge_call *call = closure_data;
	edge_server *s = call->server;
	h2o_req_t *req = call->req;
	upstream *up = call->route->upstream;
	s->inflight--;
	up->inflight--;
	if (req == NULL) {
		free(call); /* the client went away; its request is gone */
		if (s->metrics != NULL)
			metrics_request_abandoned(s->metrics);
		return;
	}
	if (call->rpc.status == MESH_UNAVAILABLE && call->retry_input != NULL &&
	    s->opts.retry_reads && mesh_now_us() < call->rpc.deadline_us &&
	    mesh_client_instances(upstream_client(up)) > 0) {
		/* a read is safe to repeat: once, on another instance that is connected */
		ProtobufCMessage *input = call->retry_input;
		mesh_client *client = upstream_client(up);
		call->retry_input = NULL;
		s->inflight++;
		up->inflight++;
		mesh_client_service(client)->invoke(mesh_client_service(client),
						    call->route->method_index, input,
						    edge_call_done, call);
		return;
	}
	edge_hup_unwatch(s, call);
	if (call->conn != NULL && call->conn->reset_budget < EDGE_RESET_BUDGET)
		call->conn->reset_budget++; /* answered: the client is no rapid resetter */
	call->guard->call = NULL;
	if (call->rpc.status == MESH_OK) {
		/* a read's preconditions need its answer: they apply to a 2xx only (13.2.1) */
		if (call->route->method != ROUTE_GET ||
		    !edge_answer_precondition(s, req, call->route, 1, call->route->service_name,
					      call->start_us))
			edge_answer_reply(s, req, call, reply);
	} else if (call->rpc.status == MESH_DEADLINE_EXCEEDED) {
		/* the message names the hop that ran out; the budget it had is the edge's to say */
		char why[MESH_MESSAGE_MAX + 64];
		snprintf(why, sizeof(why), "%s (the request's deadline: %lld ms)",
			 call->rpc.message, (long long)call->budget_ms);
		edge_respond_error(s, req, call->route, http_status_for(call->rpc.status),
				   mesh_status_name(call->rpc.status), why,
				   call->route->service_name, call->start_us);
	} else {
		edge_respond_error(s, req, call->route, http_status_for(call->rpc.status),
				   mesh_status_name(call->rpc.status), call->rpc.message,
				   call->route->service_name, call->start_us);
	}
	free(call);
}

/* edge_body_is_json says whether the request declares a JSON body. */
static int edge_body_is_json(h2o_req_t *req)
{
	static const char json[] = "application/json";
	ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
	h2o_iovec_t v;
	if (i < 0)
		return 0;
	v = req->headers.entries[i].value;
	return v.len >= sizeof(json) - 1 && strncasecmp(v.base, json, sizeof(json) - 1) == 0 &&
	       (v.len == sizeof(json) - 1 || v.base[sizeof(json) - 1] == ';' ||
		v.base[sizeof(json) - 1] == ' ');
}

/* edge_idempotency_key copies the request's Idempotency-Key into the pool: *key is NULL without
 * one. Returns 0, or -1 with a reason in why if the key is malformed. */
static int edge_idempotency_key(h2o_req_t *req, const char **key, char *why, size_t whylen)
{
	ssize_t i = edge_field(req, H2O_STRLIT("idempotency-key"));
	h2o_iovec_t v;
	*key = NULL;
	if (i < 0)
		return 0;
	v = req->headers.entries[i].value;
	if (v.len == 0 || v.len > EDGE_KEY_MAX) {
		snprintf(why, whylen, "Idempotency-Key must be 1 to %d characters", EDGE_KEY_MAX);
		return -1;
	}
	for (size_t k = 0; k < v.len; k++) {
		if (v.base[k] < 0x21 || v.base[k] > 0x7e) {
			snprintf(why, whylen, "Idempotency-Key must be printable ASCII");
			return -1;
		}
	}
	*key = h2o_strdup(&req->pool, v.base, v.len).base;
	return 0;
}

/* edge_request_input makes the call's request message from the path, the query and, for
 * POST, PUT and PATCH, the JSON body, once the request passed its checks and, for a write, its
 * preconditions. On success returns it; *owned says whether the caller frees it (a body's
 * message) or the request's pool does. Otherwise answers req and returns NULL. */
static ProtobufCMessage *edge_request_input(edge_server *s, h2o_req_t *req, const route *r,
					    const route_path *path, int *owned, int64_t start_us)
{
	const ProtobufCMessageDescriptor *desc = r->service->methods[r->method_index].input;
	ProtobufCMessage *input;
	char why[320];
	*owned = 0;
	if (r->has_body) {
		if (!edge_body_is_json(req)) {
			edge_respond_error(s, req, r, 415, "UNSUPPORTED_MEDIA_TYPE",
					   "the body must be application/json", "edge", start_us);
			return NULL;
		}
		if (req->entity.len > EDGE_BODY_MAX) {
			snprintf(why, sizeof(why), "the body is over %d bytes", EDGE_BODY_MAX);
			edge_respond_error(s, req, r, 413, "PAYLOAD_TOO_LARGE", why, "edge",
					   start_us);
			return NULL;
		}
	}
	/* a write's preconditions are evaluated before its body is read (RFC 9110 13.2.1) */
	if (r->method != ROUTE_GET && edge_answer_precondition(s, req, r, 0, "edge", start_us))
		return NULL;
	if (r->has_body) {
		input = transcode_body(r, req->entity.base != NULL ? req->entity.base : "",
				       req->entity.len, why, sizeof(why));
		if (input == NULL) {
			edge_respond_error(s, req, r, 400, "INVALID_ARGUMENT", why, "edge",
					   start_us);
			return NULL;
		}
		*owned = 1;
	} else {
		input = h2o_mem_alloc_pool(&req->pool, desc->sizeof_message);
		desc->message_init(input);
	}
	if (transcode_params(r, path, input, why, sizeof(why)) != 0 ||
	    (r->nquery > 0 && req->query_at != SIZE_MAX &&
	     transcode_query(r, req->path.base + req->query_at + 1,
			     req->path.len - req->query_at - 1, input, why, sizeof(why)) != 0)) {
		edge_respond_error(s, req, r, 400, "INVALID_ARGUMENT", why, "edge", start_us);
		if (*owned)
			protobuf_c_message_free_unpacked(input, NULL);
		return NULL;
	}
	return input;
}

/* edge_poll_upstreams reads, without waiting, what the services' sockets hold, and ends the
 * calls it answers (h2o_mesh_loop_poll). */
static void edge_poll_upstreams(edge_server *s)
{
	s->polled_requests = 0;
	h2o_mesh_loop_poll(s->mesh_loop);
}

/* edge_call_budget sets *ms to the time req may take for its answer on route r: its
 * Request-Timeout, else r's timeout, else the server's default; and never more than r's timeout
 * nor the server's maximum. Returns 0, or -1 with the reason in why (a malformed value, or two). */
static int edge_call_budget(edge_server *s, h2o_req_t *req, const route *r, int64_t *ms, char *why,
			    size_t whylen)
{
	ssize_t i = edge_field(req, H2O_STRLIT(EDGE_REQUEST_TIMEOUT));
	*ms = r->timeout_ms > 0 ? r->timeout_ms : s->opts.timeout_ms;
	if (i >= 0) {
		if (h2o_find_header_by_str(&req->headers, H2O_STRLIT(EDGE_REQUEST_TIMEOUT), i) >=
		    0) {
			snprintf(why, whylen, "Request-Timeout is given more than once");
			return -1;
		}
		if (request_timeout_parse(req->headers.entries[i].value.base,
					  req->headers.entries[i].value.len, ms, why, whylen) != 0)
			return -1;
	}
	if (r->timeout_ms > 0 && *ms > r->timeout_ms)
		*ms = r->timeout_ms;
	if (s->opts.max_timeout_ms > 0 && *ms > s->opts.max_timeout_ms)
		*ms = s->opts.max_timeout_ms;
	return 0;
}

/* edge_call_start makes req's mesh call for route r, whose parameters are in path; its closure,
 * edge_call_done, answers req. Answers req itself if the request is refused first. The call
 * copies trace; request_id is borrowed (req's pool: the envelope is packed before invoke returns).
 */
static void edge_call_start(edge_server *s, h2o_req_t *req, const route *r, const route_path *path,
			    const mesh_trace *trace, const char *request_id, int64_t start_us)
{
	mesh_client *client;
	ProtobufCMessage *input;
	const char *key;
	edge_call *call;
	upstream *up;
	h2o_socket_t *sock;
	edge_conn *conn;
	char why[256];
	int64_t budget_ms;
	int owned;

	sock = edge_socket(req);
	conn = sock != NULL && sock->on_close.cb == edge_conn_on_close ? sock->on_close.data : NULL;
	if (conn != NULL && conn->shut) {
		/* the rest of what a connection shut for its resets had sent: no call for it */
		edge_respond_error(s, req, r, 503, mesh_status_name(MESH_UNAVAILABLE),
				   "this connection reset too many streams and is being closed",
				   "edge", start_us);
		return;
	}
	if (edge_idempotency_key(req, &key, why, sizeof(why)) != 0 ||
	    edge_call_budget(s, req, r, &budget_ms, why, sizeof(why)) != 0) {
		edge_respond_error(s, req, r, 400, "INVALID_ARGUMENT", why, "edge", start_us);
		return;
	}
	input = edge_request_input(s, req, r, path, &owned, start_us);
	if (input == NULL)
		return;
	call = calloc(1, sizeof(*call));
	if (call == NULL) {
		edge_respond_error(s, req, r, 503, "RESOURCE_EXHAUSTED", "out of memory", "edge",
				   start_us);
		goto out_free_input;
	}
	if (r->split != NULL) /* the other group's copy of the route, for a share of requests */
		r = route_split_pick(r);
	up = r->upstream;
	if (up->inflight >= up->max_inflight) {
		/* before shedding, take the replies already waiting: they free slots */
		edge_poll_upstreams(s);
	}
	if (up->inflight >= up->max_inflight) {
		/* shed: the service has all the calls it may have; say so at once */
		snprintf(why, sizeof(why),
			 "%s: %d calls in flight, the most it takes (max_inflight); try again",
			 r->service_name, up->inflight);
		up->shed++;
		h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL,
			       H2O_STRLIT(EDGE_RETRY_AFTER));
		edge_respond_error(s, req, r, 503, mesh_status_name(MESH_UNAVAILABLE), why,
				   r->service_name, start_us);
		free(call);
		goto out_free_input;
	}
	client = upstream_client(up);
	call->server = s;
	call->req = req;
	call->route = r;
	call->conn = conn;
	call->hup_fd = -1;
	call->http2 = req->version >= 0x200;
	if (req->version < 0x200 && call->conn != NULL)
		edge_hup_watch(s, call, sock);
	call->start_us = start_us;
	call->rpc.deadline_us = start_us + budget_ms * 1000;
	call->budget_ms = budget_ms;
	call->rpc.trace = *trace;
	call->rpc.idempotency_key = key;
	call->rpc.request_id = request_id;
	if (!owned && !r->has_body)
		call->retry_input = input;
	call->guard =
	    h2o_mem_alloc_shared(&req->pool, sizeof(*call->guard), edge_call_guard_dispose);
	call->guard->call = call;
	s->inflight++;
	up->inflight++;
	/* The input is packed before invoke returns. */
	mesh_client_service(client)->invoke(mesh_client_service(client), r->method_index, input,
					    edge_call_done, call);
out_free_input:
	if (owned)
		protobuf_c_message_free_unpacked(input, NULL);
}

/* edge_head_too_large answers 414 for a request line over EDGE_TARGET_MAX, 431 for header
 * fields over EDGE_HEADERS_MAX, and returns 1; else returns 0. */
static int edge_head_too_large(edge_server *s, h2o_req_t *req, int64_t start_us)
{
	size_t total = 0;
	char why[160];
	if (req->method.len + req->path.len > EDGE_TARGET_MAX) {
		snprintf(why, sizeof(why), "the method and request target are over %d bytes",
			 EDGE_TARGET_MAX);
		edge_respond_error(s, req, NULL, 414, "URI_TOO_LONG", why, "edge", start_us);
		return 1;
	}
	for (size_t i = 0; i < req->headers.size; i++)
		total += req->headers.entries[i].name->len + req->headers.entries[i].value.len + 4;
	if (total > EDGE_HEADERS_MAX) {
		snprintf(why, sizeof(why), "the header fields are over %d bytes", EDGE_HEADERS_MAX);
		edge_respond_error(s, req, NULL, 431, "REQUEST_HEADER_FIELDS_TOO_LARGE", why,
				   "edge", start_us);
		return 1;
	}
	return 0;
}

/* edge_socket returns the socket req came on, or NULL. */
static h2o_socket_t *edge_socket(h2o_req_t *req)
{
	return req->conn->callbacks->get_socket != NULL
		   ? req->conn->callbacks->get_socket(req->conn)
		   : NULL;
}

/* edge_head_conforms says whether req may be served as far as its head goes: not an HTTP/1
 * request whose head RFC 9112 says a server must refuse with a 400 and h2o 2.2 lets through
 * (conform_head_check: Host, framing, line folding); if not, why says why. h2o takes Host,
 * Content-Length, Transfer-Encoding, Expect and Upgrade out of req->headers, keeping one of
 * each, so the edge reads the head as it came: h2o 2.2 keeps an HTTP/1 request's bytes at the
 * start of its socket's input until the response has been sent (http1.c consumes them in
 * on_send_complete). */
static int edge_head_conforms(h2o_req_t *req, char *why, size_t whylen)
{
	h2o_socket_t *sock = req->version < 0x200 ? edge_socket(req) : NULL;
	conform_request head;
	if (sock == NULL || sock->input == NULL)
		return 1;
	head = (conform_request){.head = sock->input->bytes,
				 .len = sock->input->size,
				 .method = req->input.method.base,
				 .method_len = req->input.method.len,
				 .target = req->input.path.base,
				 .target_len = req->input.path.len,
				 .minor_version = req->version & 0xff};
	return conform_head_check(&head, why, whylen) >= 0;
}

/* edge_origin_form makes req->path the path and query of its absolute-form request-target, which
 * start at path_at ("/" for an empty path), and moves req->query_at with it: routes, links and
 * the access log read the origin form. The edge reads no Host, so ignoring the Host of an
 * absolute-form request (RFC 9112 3.2.2) needs nothing more. */
static void edge_origin_form(h2o_req_t *req, size_t path_at)
{
	h2o_iovec_t path = h2o_iovec_init(req->path.base + path_at, req->path.len - path_at);
	const char *query;
	if (path.len == 0 || path.base[0] != '/')
		path = h2o_concat(&req->pool, h2o_iovec_init(H2O_STRLIT("/")), path);
	query = memchr(path.base, '?', path.len);
	req->path = path;
	req->query_at = query != NULL ? (size_t)(query - path.base) : SIZE_MAX;
}

/* edge_req_tls says whether req came over TLS. */
static int edge_req_tls(h2o_req_t *req)
{
	h2o_socket_t *sock = edge_socket(req);
	return sock != NULL && sock->ssl != NULL;
}

/* edge_target_answered reads req's request-target (conform_target): an origin form goes on, an
 * absolute form goes on in origin form (edge_origin_form), "OPTIONS *" is answered 204 with the
 * server's Allow, and any other target is refused, as is a request for an https resource that
 * did not come over TLS (misdirected, RFC 9110 7.4: an https target, or HTTP/2's :scheme https;
 * over TLS h2o makes every HTTP/1 request's scheme https). Returns 1 if req was answered, else
 * 0. */
static int edge_target_answered(edge_server *s, h2o_req_t *req, unsigned method, int64_t start_us)
{
	size_t path_at = 0;
	int status = 400, tls = edge_req_tls(req);
	char why[128];
	switch (req->input.scheme == &H2O_URL_SCHEME_HTTPS && !tls
		    ? CONFORM_BAD
		    : conform_target(req->path.base, req->path.len, tls, &path_at, &status, why,
				     sizeof(why))) {
	case CONFORM_ORIGIN:
		return 0;
	case CONFORM_ABSOLUTE:
		edge_origin_form(req, path_at);
		return 0;
	case CONFORM_ASTERISK:
		if (method == ROUTE_OPTIONS) {
			edge_add_allow(req, route_table_methods(s->opts.routes));
			edge_respond(s, req, NULL, 204, NULL, "", 0, "edge", start_us);
			return 1;
		}
		snprintf(why, sizeof(why), "the request-target * is for OPTIONS only");
		break;
	case CONFORM_BAD:
		if (req->input.scheme == &H2O_URL_SCHEME_HTTPS && !tls) {
			status = 421;
			snprintf(why, sizeof(why),
				 "https is not served here: this connection has no TLS");
		}
		break;
	}
	edge_respond_error(s, req, NULL, status,
			   status == 421 ? "MISDIRECTED_REQUEST" : "INVALID_ARGUMENT", why, "edge",
			   start_us);
	return 1;
}

/* edge_on_req answers a request of the main port: its checks, then its route. */
static int edge_on_req(h2o_handler_t *self, h2o_req_t *req)
{
	edge_server *s = ((edge_handler *)self)->server;
	int64_t start_us = mesh_now_us();
	unsigned method = route_method_bit(req->method.base, req->method.len);
	size_t scratch_len;
	char *scratch;
	const route *r = NULL;
	unsigned allow = 0;
	route_path path;
	mesh_trace trace;
	const char *request_id;
	char why[320];
	int head_ok = edge_head_conforms(req, why, sizeof(why));

	request_id =
	    edge_request_id_begin(s, req, head_ok); /* no field of a refused head is read */
	edge_trace_begin(s, req, head_ok, &trace);
	s->polled_requests++;
	s->trim_requests++;
	h2_tune_no_response_index(req);
	if (s->metrics != NULL)
		metrics_request_begin(s->metrics);
	if (edge_head_too_large(s, req, start_us))
		return 0;
	if (!head_ok) {
		/* what follows a head with doubtful framing on this connection is no request */
		req->http1_is_persistent = 0;
		edge_respond_error(s, req, NULL, 400, "INVALID_ARGUMENT", why, "edge", start_us);
		return 0;
	}
	if (edge_target_answered(s, req, method, start_us))
		return 0;
	scratch_len = req->path.len + ROUTE_MAX_SEGMENTS; /* the path in origin form now */
	scratch = h2o_mem_alloc_pool(&req->pool, scratch_len);
	if (route_path_parse(&path, req->path.base, req->path.len, scratch, scratch_len) != 0) {
		edge_respond_error(s, req, NULL, 400, "INVALID_ARGUMENT",
				   "malformed path (bad percent-encoding or too many segments)",
				   "edge", start_us);
		return 0;
	}
	switch (route_table_match(s->opts.routes, &path, method, &r, &allow)) {
	case ROUTE_MATCH_NO_PATH:
		snprintf(why, sizeof(why), "no route for %.*s %.*s", (int)req->method.len,
			 req->method.base, (int)(req->path.len > 256 ? 256 : req->path.len),
			 req->path.base);
		edge_respond_error(s, req, NULL, 404, "NOT_FOUND", why, "edge", start_us);
		return 0;
	case ROUTE_MATCH_NO_METHOD:
		edge_add_allow(req, allow);
		if (method == ROUTE_OPTIONS) {
			edge_respond(s, req, NULL, 204, NULL, "", 0, "edge", start_us);
			return 0;
		}
		snprintf(why, sizeof(why), "%.*s is not allowed here; allowed: ",
			 (int)(req->method.len > 32 ? 32 : req->method.len), req->method.base);
		route_allow_string(allow, why + strlen(why), sizeof(why) - strlen(why));
		edge_respond_error(s, req, NULL, 405, "METHOD_NOT_ALLOWED", why, "edge", start_us);
		return 0;
	case ROUTE_MATCH_FOUND:
		break;
	}
	if (r->kind == ROUTE_TEXT) {
		if (!edge_answer_precondition(s, req, r, 1, "edge", start_us))
			edge_respond(s, req, r, 200,
				     r->content_type != NULL ? r->content_type : TEXT_TYPE, r->text,
				     strlen(r->text), "edge", start_us);
		return 0;
	}
	edge_call_start(s, req, r, &path, &trace, request_id, start_us);
	return 0;
}

/* edge_admin_send answers a request of the admin port with status and body (len bytes, copied),
 * of content_type (NULL: none); a 304 carries no length. */
static void edge_admin_send(h2o_req_t *req, int status, const char *content_type, const char *body,
			    size_t len)
{
	req->res.status = status;
	req->res.reason = http_reason(status);
	if (content_type != NULL)
		h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
			       content_type, strlen(content_type));
	req->res.content_length = status == 304 ? SIZE_MAX : len;
	h2o_send_inline(req, body, len);
}

/* edge_admin_error answers a request of the admin port with a JSON error. */
static void edge_admin_error(edge_server *s, h2o_req_t *req, int status, const char *code,
			     const char *message)
{
	pbjson_buf_reset(&s->body);
	transcode_error(&s->body, code, message);
	edge_admin_send(req, status, JSON_TYPE, s->body.data, s->body.len);
}

/* edge_on_admin_req answers the admin port: GET /metrics (any query), and 404 for every other
 * path; the same head checks, absolute form and preconditions as the main port. Its requests
 * are neither logged nor counted. */
static int edge_on_admin_req(h2o_handler_t *self, h2o_req_t *req)
{
	static const char metrics_path[] = "/metrics";
	edge_server *s = ((edge_handler *)self)->server;
	unsigned method = route_method_bit(req->method.base, req->method.len);
	const char *reason = NULL;
	char why[128];
	int head_ok = edge_head_conforms(req, why, sizeof(why)), status;
	size_t path_len, path_at;

	edge_request_id_begin(s, req, head_ok);
	if (!head_ok) {
		req->http1_is_persistent = 0; /* as on the main port */
		edge_admin_error(s, req, 400, "INVALID_ARGUMENT", why);
		return 0;
	}
	switch (
	    conform_target(req->path.base, req->path.len, 0, &path_at, &status, why, sizeof(why))) {
	case CONFORM_ABSOLUTE:
		edge_origin_form(req, path_at);
		break;
	case CONFORM_BAD:
		if (status == 421) {
			edge_admin_error(s, req, 421, "MISDIRECTED_REQUEST", why);
			return 0;
		}
		break; /* not /metrics: 404 */
	default:
		break;
	}
	path_len = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
	if (path_len != sizeof(metrics_path) - 1 ||
	    memcmp(req->path.base, metrics_path, path_len) != 0) {
		edge_admin_error(s, req, 404, "NOT_FOUND",
				 "the admin port serves only GET /metrics");
		return 0;
	}
	if (method != ROUTE_GET && method != ROUTE_HEAD) {
		edge_add_allow(req, ROUTE_GET | ROUTE_HEAD);
		edge_admin_error(s, req, 405, "METHOD_NOT_ALLOWED",
				 "/metrics allows GET and HEAD only");
		return 0;
	}
	switch (edge_precondition(req, 1, &reason)) {
	case 304:
		edge_admin_send(req, 304, NULL, "", 0);
		return 0;
	case 412:
		edge_admin_error(s, req, 412, "PRECONDITION_FAILED", reason);
		return 0;
	}
	pbjson_buf_reset(&s->metrics_text);
	if (metrics_render(s->metrics, &s->metrics_text) != 0) {
		edge_admin_error(s, req, 500, "INTERNAL", "out of memory");
		return 0;
	}
	edge_admin_send(req, 200, METRICS_CONTENT_TYPE, s->metrics_text.data, s->metrics_text.len);
	return 0;
}

/* edge_listeners_update watches each listener, or stops, as the connection cap and a shortage
 * of descriptors say: the main port takes connections while fewer than max_connections are
 * open; neither port does while accepting rests after EMFILE. Connections not taken wait in
 * the kernel's backlog. */
static void edge_listeners_update(edge_server *s)
{
	int main_on = !s->paused_fds && s->overload.connections < s->overload.max_connections;
	int admin_on = !s->paused_fds;
	if (s->listener != NULL && main_on != s->main_reading) {
		if (main_on) {
			h2o_socket_read_start(s->listener, edge_on_accept);
		} else {
			h2o_socket_read_stop(s->listener);
			if (!s->paused_fds)
				s->overload.accept_paused[METRICS_PAUSE_CAP]++;
		}
		s->main_reading = main_on;
	}
	if (s->admin_listener != NULL && admin_on != s->admin_reading) {
		if (admin_on)
			h2o_socket_read_start(s->admin_listener, edge_on_accept);
		else
			h2o_socket_read_stop(s->admin_listener);
		s->admin_reading = admin_on;
	}
}

/* edge_on_accept_retry ends the rest after a shortage of descriptors. */
static void edge_on_accept_retry(h2o_timeout_entry_t *entry)
{
	edge_server *s = (edge_server *)((char *)entry - offsetof(edge_server, accept_entry));
	s->paused_fds = 0;
	edge_listeners_update(s);
}

/* edge_conn_on_close runs once a main-port connection's socket is closed and disposed. */
static void edge_conn_on_close(void *data)
{
	edge_conn *c = data;
	edge_server *s = c->server;
	s->overload.connections--;
	SSL_CTX_free(c->ssl_ctx); /* its SSL object, freed by now, held one of its own */
	free(c);
	edge_listeners_update(s);
}

static void edge_on_accept(h2o_socket_t *listener, const char *err)
{
	edge_server *s = listener->data;
	int main_port = listener == s->listener;
	h2o_socket_t *sock;
	edge_conn *c = NULL;
	if (err != NULL)
		return;
	if (main_port && s->overload.connections >= s->overload.max_connections) {
		edge_listeners_update(s);
		return;
	}
	if ((sock = h2o_evloop_socket_accept(listener)) == NULL) {
		int err = errno;
		if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
			/* the connection stays in the backlog, the listener readable: rest */
			if (!s->paused_fds) {
				s->paused_fds = 1;
				s->overload.accept_paused[METRICS_PAUSE_FDS]++;
				h2o_timeout_link(s->loop, &s->accept_timeout, &s->accept_entry);
				if (mesh_now_us() - s->fds_logged_us >= 10000000) {
					s->fds_logged_us = mesh_now_us();
					fprintf(stderr,
						"edge: accept: %s: resting %d ms between tries "
						"(said at most every 10 s)\n",
						strerror(err), EDGE_ACCEPT_RETRY_MS);
				}
			}
			edge_listeners_update(s);
		}
		return;
	}
	if (main_port) {
		if ((c = calloc(1, sizeof(*c))) == NULL) {
			h2o_socket_close(sock);
			return;
		}
		c->server = s;
		c->sock = sock;
		c->reset_budget = EDGE_RESET_BUDGET;
		if (s->opts.https != NULL) {
			/* h2o makes the connection's SSL object when its first bytes arrive, from
			 * the context it was given now: the reference keeps that context alive
			 * until then, whatever reload comes first */
			c->ssl_ctx = edge_https_ctx(s->opts.https);
			s->accept_ctx.ssl_ctx = c->ssl_ctx;
		}
		sock->on_close.cb = edge_conn_on_close;
		sock->on_close.data = c;
		s->overload.connections++;
		if (s->overload.connections >= s->overload.max_connections)
			edge_listeners_update(s); /* at the cap: no more until one closes */
	}
	h2o_accept(main_port ? &s->accept_ctx : &s->admin_accept_ctx, sock);
}

static void edge_on_queue(h2o_socket_t *sock, const char *err)
{
	edge_server *s = sock->data;
	mesh_queue_drain(s->queue);
}

static void edge_on_signal(h2o_socket_t *sock, const char *err)
{
	edge_server *s = sock->data;
	struct signalfd_siginfo info;
	if (read(h2o_socket_get_fd(sock), &info, sizeof(info)) == sizeof(info))
		s->stop_signal = (int)info.ssi_signo;
}

static void edge_on_flush(h2o_timeout_entry_t *entry)
{
	edge_server *s = (edge_server *)((char *)entry - offsetof(edge_server, flush_entry));
	access_log_flush(s->opts.log);
}

/* edge_watch_fd adds a copy of fd to the loop; h2o owns and closes the copy. */
static h2o_socket_t *edge_watch_fd(edge_server *s, int fd, h2o_socket_cb cb)
{
	h2o_socket_t *sock;
	int copy = dup(fd);
	if (copy < 0)
		return NULL;
	sock = h2o_evloop_socket_create(s->loop, copy, H2O_SOCKET_FLAG_DONT_READ);
	sock->data = s;
	h2o_socket_read_start(sock, cb);
	return sock;
}

int edge_server_new(edge_server **out, const edge_server_opts *opts, char *err, size_t errlen)
{
	edge_server *s = calloc(1, sizeof(*s));
	edge_413_filter *f413;
	edge_handler *handler;
	sigset_t stop_signals;
	int sfd;
	if (s == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	s->opts = *opts;
	s->hup_fd = -1;
	s->overload.max_connections =
	    opts->max_connections > 0 ? opts->max_connections : EDGE_MAX_CONNECTIONS_DEFAULT;
	request_id_gen_init(&s->request_ids);
	trace_gen_init(&s->traces);
	pbjson_buf_init(&s->body);
	pbjson_buf_init(&s->header);
	pbjson_buf_init(&s->metrics_text);
	h2o_config_init(&s->config);
	s->config.server_name = h2o_iovec_init(H2O_STRLIT("cleave"));
	s->config.max_request_entity_size = EDGE_ENTITY_MAX;
	if (opts->client_timeout_ms > 0) {
		/* HTTP/1: the time from a request's first byte to the last of its body (h2o closes
		 * the connection, answering nothing); HTTP/2: the time a connection may idle */
		s->config.http1.req_timeout = (uint64_t)opts->client_timeout_ms;
		s->config.http2.idle_timeout = (uint64_t)opts->client_timeout_ms;
		s->config.handshake_timeout = (uint64_t)opts->client_timeout_ms;
	}
	s->main_hosts[0] =
	    h2o_config_register_host(&s->config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
	f413 =
	    (edge_413_filter *)h2o_create_filter(&s->main_hosts[0]->fallback_path, sizeof(*f413));
	f413->super.on_setup_ostream = edge_413_setup;
	f413->server = s;
	handler = (edge_handler *)h2o_create_handler(
	    h2o_config_register_path(s->main_hosts[0], "/", 0), sizeof(*handler));
	handler->super.on_req = edge_on_req;
	handler->server = s;
	s->admin_hosts[0] =
	    h2o_config_register_host(&s->config, h2o_iovec_init(H2O_STRLIT("admin")), 65535);
	handler = (edge_handler *)h2o_create_handler(
	    h2o_config_register_path(s->admin_hosts[0], "/", 0), sizeof(*handler));
	handler->super.on_req = edge_on_admin_req;
	handler->server = s;
	s->loop = h2o_evloop_create();
	h2o_context_init(&s->ctx, s->loop, &s->config);
	s->accept_ctx.ctx = &s->ctx;
	s->accept_ctx.hosts = s->main_hosts;
	s->admin_accept_ctx.ctx = &s->ctx;
	s->admin_accept_ctx.hosts = s->admin_hosts;
	h2o_timeout_init(s->loop, &s->flush_timeout, FLUSH_MS);
	s->flush_entry.cb = edge_on_flush;
	h2o_timeout_init(s->loop, &s->accept_timeout, EDGE_ACCEPT_RETRY_MS);
	s->accept_entry.cb = edge_on_accept_retry;
	if (opts->https != NULL && edge_https_watch(opts->https, s->loop, err, errlen) != 0) {
		*out = s;
		return -1;
	}
	h2o_timeout_init(s->loop, &s->hup_timeout, EDGE_HUP_DELAY_MS);
	s->hup_entry.cb = edge_on_hup_tick;
	s->hup_fd = epoll_create1(EPOLL_CLOEXEC);
	if (s->hup_fd < 0 || (s->hup_sock = edge_watch_fd(s, s->hup_fd, edge_on_hangup)) == NULL) {
		snprintf(err, errlen, "cannot watch for clients going away: %s", strerror(errno));
		*out = s;
		return -1;
	}

	rt_stop_signals(&stop_signals);
	s->mesh_loop = h2o_mesh_loop_new(s->loop);
	sfd = signalfd(-1, &stop_signals, SFD_NONBLOCK | SFD_CLOEXEC);
	if (s->mesh_loop == NULL || sfd < 0 ||
	    (s->signal_sock = edge_watch_fd(s, sfd, edge_on_signal)) == NULL) {
		snprintf(err, errlen, "cannot watch signals: %s", strerror(errno));
		if (sfd >= 0)
			close(sfd);
		*out = s; /* the loop is set up; let the caller free it */
		return -1;
	}
	close(sfd);
	*out = s;
	return 0;
}

mesh_loop *edge_server_mesh_loop(edge_server *s)
{
	return h2o_mesh_loop_get(s->mesh_loop);
}

int edge_server_watch_queue(edge_server *s, mesh_queue *queue, char *err, size_t errlen)
{
	s->queue = queue;
	s->queue_sock = edge_watch_fd(s, mesh_queue_fd(queue), edge_on_queue);
	if (s->queue_sock == NULL) {
		snprintf(err, errlen, "cannot watch the reply queue: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* edge_listen_on listens on host:port (port 0 picks a free one), sets *bound_port and returns the
 * listener on the loop, or NULL with a reason in err. */
static h2o_socket_t *edge_listen_on(edge_server *s, const char *host, int port, int *bound_port,
				    char *err, size_t errlen)
{
	struct addrinfo hints = {
	    .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
	struct addrinfo *res;
	struct sockaddr_storage addr;
	socklen_t addrlen = sizeof(addr);
	char service[16];
	h2o_socket_t *sock;
	int fd, one = 1, rv;

	snprintf(service, sizeof(service), "%d", port);
	if ((rv = getaddrinfo(host, service, &hints, &res)) != 0) {
		snprintf(err, errlen, "cannot resolve %s: %s", host, gai_strerror(rv));
		return NULL;
	}
	fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0 ||
	    getsockname(fd, (struct sockaddr *)&addr, &addrlen) != 0) {
		snprintf(err, errlen, "cannot listen on %s:%d: %s", host, port, strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(res);
		return NULL;
	}
	freeaddrinfo(res);
	*bound_port = ntohs(addr.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&addr)->sin6_port
						       : ((struct sockaddr_in *)&addr)->sin_port);
	sock = h2o_evloop_socket_create(s->loop, fd, H2O_SOCKET_FLAG_DONT_READ);
	sock->data = s;
	h2o_socket_read_start(sock, edge_on_accept);
	return sock;
}

int edge_server_listen(edge_server *s, const char *host, int port, int *bound_port, char *err,
		       size_t errlen)
{
	s->listener = edge_listen_on(s, host, port, bound_port, err, errlen);
	s->main_reading = s->listener != NULL;
	return s->listener != NULL ? 0 : -1;
}

int edge_server_listen_admin(edge_server *s, const char *host, int port, int *bound_port, char *err,
			     size_t errlen)
{
	if (s->metrics == NULL) {
		if ((s->metrics = malloc(sizeof(*s->metrics))) == NULL ||
		    metrics_init(s->metrics, s->opts.routes, s->opts.upstreams, &s->overload) !=
			0) {
			free(s->metrics);
			s->metrics = NULL;
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	}
	s->admin_listener = edge_listen_on(s, host, port, bound_port, err, errlen);
	s->admin_reading = s->admin_listener != NULL;
	return s->admin_listener != NULL ? 0 : -1;
}

int edge_server_run(edge_server *s)
{
	int64_t until, trimmed_us = mesh_now_us(), now_us;
	while (s->stop_signal == 0) {
		/* idle since the last trim: nothing new to give back, so no need to wake */
		h2o_evloop_run(s->loop, s->trim_requests > 0 ? EDGE_TRIM_MS : INT32_MAX);
		if (s->polled_requests >= EDGE_POLL_REQUESTS)
			edge_poll_upstreams(s);
		now_us = mesh_now_us();
		if (s->trim_requests > 0 && now_us - trimmed_us >= EDGE_TRIM_MS * 1000) {
			malloc_trim(0);
			s->trim_requests = 0;
			trimmed_us = now_us;
		}
	}
	/* Stop taking connections, then give the calls in flight their time. */
	if (s->listener != NULL) {
		h2o_socket_read_stop(s->listener);
		h2o_socket_close(s->listener);
		s->listener = NULL;
	}
	if (s->admin_listener != NULL) {
		h2o_socket_read_stop(s->admin_listener);
		h2o_socket_close(s->admin_listener);
		s->admin_listener = NULL;
	}
	until = mesh_now_us() + s->opts.drain_ms * 1000;
	while (s->inflight > 0 && mesh_now_us() < until)
		h2o_evloop_run(s->loop, 10);
	access_log_flush(s->opts.log);
	return s->stop_signal;
}

int edge_server_inflight(const edge_server *s)
{
	return s->inflight;
}

void edge_server_free(edge_server *s)
{
	if (s == NULL)
		return;
	if (h2o_timeout_is_linked(&s->flush_entry))
		h2o_timeout_unlink(&s->flush_entry);
	if (h2o_timeout_is_linked(&s->accept_entry))
		h2o_timeout_unlink(&s->accept_entry);
	if (h2o_timeout_is_linked(&s->hup_entry))
		h2o_timeout_unlink(&s->hup_entry);
	if (s->hup_sock != NULL) {
		h2o_socket_read_stop(s->hup_sock);
		h2o_socket_close(s->hup_sock);
	}
	if (s->hup_fd >= 0)
		close(s->hup_fd);
	if (s->queue_sock != NULL) {
		h2o_socket_read_stop(s->queue_sock);
		h2o_socket_close(s->queue_sock);
	}
	if (s->signal_sock != NULL) {
		h2o_socket_read_stop(s->signal_sock);
		h2o_socket_close(s->signal_sock);
	}
	h2o_mesh_loop_free(s->mesh_loop);
	s->mesh_loop = NULL;
	pbjson_buf_fini(&s->body);
	pbjson_buf_fini(&s->header);
	pbjson_buf_fini(&s->metrics_text);
	if (s->metrics != NULL) {
		metrics_fini(s->metrics);
		free(s->metrics);
		s->metrics = NULL;
	}
	/* h2o has no way to close the connections still open in 2.2; the loop, the context and
	 * their connections stay reachable from the process until it exits. */
}
