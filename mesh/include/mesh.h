/* mesh.h: libmesh's public API, the RPC core: serve a protobuf-c service over nng's SP protocol,
 * and call one. It is the library's only header for other code (internal symbols are meshi_).
 *
 * Two rules hold for everything declared here:
 *
 * Errors. A function that can fail returns 0 or a positive errno value (<errno.h>: EINVAL,
 * ENOMEM, ENOENT, ENOTSUP, EADDRINUSE...), which strerror(3) names; one that takes an err buffer
 * also writes the reason there. A call to a service is not such a function: it ends with a
 * mesh_status, given to its closure in the call's mesh_rpc (and returned by mesh_client_call).
 *
 * Callbacks. Every callback is given back the context pointer it was registered with, so no
 * state needs a global. A call invoked on an asynchronous client (one with a mesh_loop or a
 * mesh_queue) ends exactly once and never before invoke returns, failures included (no
 * instance, out of memory, a deadline already past): its closure runs on the loop's thread, or
 * in mesh_queue_drain. A blocking client's invoke returns after the closure ran. */
#ifndef CLEAVE_MESH_H
#define CLEAVE_MESH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <protobuf-c/protobuf-c.h>

/* mesh_status: gRPC's status codes, the same numbers as mesh.Status in proto/mesh.proto. */
typedef enum mesh_status {
	MESH_OK = 0,
	MESH_CANCELLED = 1,
	MESH_UNKNOWN = 2,
	MESH_INVALID_ARGUMENT = 3,
	MESH_DEADLINE_EXCEEDED = 4,
	MESH_NOT_FOUND = 5,
	MESH_ALREADY_EXISTS = 6,
	MESH_PERMISSION_DENIED = 7,
	MESH_RESOURCE_EXHAUSTED = 8,
	MESH_FAILED_PRECONDITION = 9,
	MESH_ABORTED = 10,
	MESH_OUT_OF_RANGE = 11,
	MESH_UNIMPLEMENTED = 12,
	MESH_INTERNAL = 13,
	MESH_UNAVAILABLE = 14,
	MESH_DATA_LOSS = 15,
	MESH_UNAUTHENTICATED = 16,
} mesh_status;

/* mesh_status_name returns the status's name as in mesh.proto ("NOT_FOUND"); a static string.
 * Values outside the enum give "UNKNOWN". */
const char *mesh_status_name(mesh_status status);

/* mesh_now_us returns microseconds on the monotonic clock that deadlines are measured on. */
int64_t mesh_now_us(void);

/* MESH_LATENCY_BUCKETS: how many latency buckets mesh.MethodStats (Health) reports per method. */
#define MESH_LATENCY_BUCKETS 15

/* mesh_latency_bounds_us: the inclusive upper bounds, in microseconds, of those buckets: 50, 100,
 * 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, and
 * UINT64_MAX for +Inf. Bucket i counts latencies in (bound i-1, bound i], as in mesh.proto. */
extern const uint64_t mesh_latency_bounds_us[MESH_LATENCY_BUCKETS];

/* ---- calling a service ---------------------------------------------------------------------- */

#define MESH_MESSAGE_MAX 256

/* MESH_REQUEST_ID_MAX: the longest request id a call may carry, in bytes; a server refuses a
 * call with a longer one (MESH_INVALID_ARGUMENT). */
#define MESH_REQUEST_ID_MAX 128

/* MESH_TRACE_ID_LEN, MESH_SPAN_ID_LEN: the bytes of a W3C trace-id and of a span id (the W3C
 * parent-id). */
#define MESH_TRACE_ID_LEN 16
#define MESH_SPAN_ID_LEN  8

/* mesh_trace: a W3C trace context (https://www.w3.org/TR/trace-context/) as a call carries it:
 * mesh.Call's trace_id, parent_id and trace_flags. */
typedef struct mesh_trace {
	uint8_t trace_id[MESH_TRACE_ID_LEN]; /* the trace; all zero: the call has none */
	uint8_t parent_id[MESH_SPAN_ID_LEN]; /* the span of the caller that makes the call */
	uint8_t flags;			     /* trace-flags; bit 0: sampled */
} mesh_trace;

/* mesh_trace_valid says whether t names a trace: its trace id is not all zero. */
int mesh_trace_valid(const mesh_trace *t);

/* mesh_trace_hex writes id (len bytes) as 2 * len lowercase hex digits and a NUL into out, which
 * has room for them; returns out. */
char *mesh_trace_hex(const uint8_t *id, size_t len, char *out);

/* mesh_rpc: the side channel of one call. protoc-c's closures carry no status, so the
 * closure_data a caller passes to a mesh client's invoke (or to a generated stub) must point at a
 * mesh_rpc, usually the first member of the caller's own context. The caller sets the inputs;
 * the transport sets the outputs before it calls the closure. */
typedef struct mesh_rpc {
	/* in: absolute deadline on mesh_now_us()'s clock; 0 means the client's default timeout */
	int64_t deadline_us;
	/* in: the trace context the call carries (a trace id of zeros: none), copied into the call
	 * before invoke returns: the trace, the caller's own span as parent_id, and the flags */
	mesh_trace trace;
	/* in: a create carrying a key is applied at most once per key; NULL for none. Borrowed:
	 * it is copied into the call before invoke returns. */
	const char *idempotency_key;
	/* in: the id of the request this call serves (mesh.Call.request_id), which the server
	 * puts in its log lines; at most MESH_REQUEST_ID_MAX bytes. Borrowed, copied into the
	 * call before invoke returns; NULL for none. */
	const char *request_id;
	/* out: how the call ended; the closure's message is non-NULL exactly when this is MESH_OK
	 */
	mesh_status status;
	/* out: the reason, when status is not MESH_OK */
	char message[MESH_MESSAGE_MAX];
	/* the transport's while the call is in flight: how a call that fails before it goes out
	 * still ends after invoke returns, with no memory to allocate. Not to be touched. */
	void *reserved[4];
} mesh_rpc;

typedef struct mesh_queue mesh_queue;
typedef struct mesh_client mesh_client;
typedef struct mesh_loop mesh_loop;

/* mesh_client_opts: how a client calls. Zero fields take the defaults. */
typedef struct mesh_client_opts {
	const char *caller; /* identity claimed in every call (copied); default "anonymous" */
	int64_t timeout_ms; /* deadline of calls whose mesh_rpc gives none; default 5000 */
	mesh_loop *loop;    /* the caller's event loop: invoke returns at once, the client's
			     * sockets are driven by the loop and closures run on its thread.
			     * ipc:// and tcp:// instances only. */
	mesh_queue *queue;  /* without a loop: invoke returns at once, nng's threads carry the
			     * call, and the closure runs from mesh_queue_drain(queue). With
			     * neither, invoke blocks until the reply, carried by nng. */
	/* the largest reply taken, in bytes of its SP message (the envelope and its payload). A
	 * loop client ends the call of a longer one with MESH_RESOURCE_EXHAUSTED, logs it and drops
	 * its bytes as they come (never holding them); the connection and its other calls go on.
	 * On nng's threads, nng closes the connection that carried it: its calls end
	 * MESH_UNAVAILABLE. Default MESH_MAX_REPLY_DEFAULT. */
	size_t max_reply_bytes;
	/* loop clients: the bytes of calls framed for one instance's connection and not yet
	 * written to its socket (an instance that stops reading) past which a new call goes to
	 * another instance, or, when every instance is that far behind, ends at once with
	 * MESH_UNAVAILABLE. A call is always taken by a connection with nothing unsent, however
	 * large. Health checks are not held to it. Default MESH_MAX_UNSENT_DEFAULT. */
	size_t max_unsent_bytes;
} mesh_client_opts;

/* MESH_MAX_REPLY_DEFAULT: mesh_client_opts.max_reply_bytes when zero (gRPC's default largest
 * message, 4 MiB). */
#define MESH_MAX_REPLY_DEFAULT ((size_t)4 << 20)

/* MESH_MAX_UNSENT_DEFAULT: mesh_client_opts.max_unsent_bytes when zero, 1 MiB. */
#define MESH_MAX_UNSENT_DEFAULT ((size_t)1 << 20)

/* mesh_client_new creates a client of the service described by service, with no instance yet.
 * service must outlive the client (generated descriptors are static); opts is copied and may be
 * NULL. On success *out is the caller's, to free with mesh_client_free. Returns 0, ENOMEM, or
 * another errno value from nng. */
int mesh_client_new(mesh_client **out, const ProtobufCServiceDescriptor *service,
		    const mesh_client_opts *opts);

/* mesh_client_dial adds an instance: the client connects to url in the background and keeps
 * reconnecting; calls are spread over every connected instance. url is copied.
 * Returns 0, EINVAL (a url this client cannot dial) or ENOMEM. */
int mesh_client_dial(mesh_client *client, const char *url);

/* MESH_ANY_UID: no expectation of who serves an instance. */
#define MESH_ANY_UID ((uid_t)-1)

/* mesh_client_dial_uid is mesh_client_dial for an instance that must be served by the user uid
 * (or root), as an operator's target file says: on ipc:// the server's peer credentials are
 * checked once connected, and a server running as anyone else gets no call (the connection is
 * closed, logged once, and tried again later, as if nobody listened). Other transports prove
 * no uid and ignore it (tls+tcp:// pins the server's certificate instead). MESH_ANY_UID is
 * mesh_client_dial. */
int mesh_client_dial_uid(mesh_client *client, const char *url, uid_t uid);

/* mesh_client_service returns the client as a ProtobufCService to hand to protoc-c's generated
 * stubs (users__users__get(service, &req, closure, &ctx)). It belongs to the client.
 *
 * The stub's input stays the caller's: it is packed before invoke returns. The message given to
 * the closure belongs to the transport and is freed when the closure returns; it is NULL when the
 * call failed. closure_data must point at a mesh_rpc (see above). A call never resends on its
 * own: a connection lost mid-call ends the call with MESH_UNAVAILABLE. With no connected
 * instance a call fails at once with MESH_UNAVAILABLE; past its deadline it ends with
 * MESH_DEADLINE_EXCEEDED. */
ProtobufCService *mesh_client_service(mesh_client *client);

/* mesh_client_cancel ends the call whose closure_data is rpc, invoked on client and not yet
 * completed, and its closure never runs: once it returns 0, rpc and whatever the closure would
 * have used are the caller's again (to free). The call leaves mesh_client_inflight at once. On a
 * loop client, a call still waiting in its connection's output (invoked in this turn of the
 * loop, or held back by a full socket) is taken out of it and never sent; for one already sent,
 * a mesh.Mesh/Cancel follows it on its connection (mesh.proto): a cleave instance that reads it
 * before starting the call answers the call CANCELLED unrun (for one deferred, its
 * mesh_call_on_cancel hook runs; other running work carries on),
 * and any reply is dropped when it comes. A loop client does the same for a call whose deadline
 * passes. On a client with a queue, nng's context abandons the call: the
 * instance is not told and carries it out. Call it on the
 * loop's thread (loop clients) or the thread that drains the client's queue. Returns 0; ENOENT
 * if rpc is not a call of client in flight (its closure ran or is running: cancelling a call
 * from its own closure is ENOENT); ENOTSUP on a blocking client, whose calls end before
 * invoke returns. */
int mesh_client_cancel(mesh_client *client, mesh_rpc *rpc);

/* mesh_client_instances returns how many instances are connected now. */
int mesh_client_instances(const mesh_client *client);

/* mesh_client_inflight returns how many calls have been invoked and not yet completed (nor
 * cancelled). */
int mesh_client_inflight(const mesh_client *client);

/* ---- a client as a load balancer's target group --------------------------------------------- */

/* A client's instances form a target group. Each is in one state; new calls go to the HEALTHY
 * instance with the fewest calls in flight, or, when none is HEALTHY, fail open to any
 * STARTING or UNHEALTHY one that is connected; never to a DRAINING or DOWN one. Without health
 * checks (the default) every connected instance is HEALTHY. Loop clients only: on a client
 * without a mesh_loop, set_health and drain return ENOTSUP, undial closes at once (see
 * there), and instance_info
 * reports one instance per dialed url: HEALTHY while nng holds a connection to it, STARTING
 * before the first, DOWN after one is lost; its inflight, calls and errors stay 0 (nng does
 * not say which connection carried a call). Every function is called on the client's loop
 * thread (loop clients) or any thread (nng clients). */

/* mesh_health_opts: active health checks of a client's instances with the Health method.
 * Zero fields other than interval_ms take defaults: timeout_ms the interval (at most 5000),
 * both thresholds 2, grace_ms none. */
typedef struct mesh_health_opts {
	int interval_ms;	 /* between two checks of one instance; 0 turns checking off */
	int timeout_ms;		 /* a check not answered within this fails */
	int healthy_threshold;	 /* consecutive passes that make an unhealthy instance healthy */
	int unhealthy_threshold; /* consecutive failures that make a healthy instance unhealthy */
	int grace_ms;		 /* after an instance connects, failures within this do not count */
} mesh_health_opts;

typedef enum mesh_instance_state {
	MESH_INSTANCE_STARTING, /* connected, first check not passed yet (or connecting) */
	MESH_INSTANCE_HEALTHY,
	MESH_INSTANCE_UNHEALTHY,
	MESH_INSTANCE_DRAINING, /* no new calls; undialed: removed once its calls are done */
	MESH_INSTANCE_DOWN,	/* not connected (reconnecting) */
} mesh_instance_state;

/* mesh_instance_state_name returns "starting", "healthy", "unhealthy", "draining" or "down"; a
 * static string. Values outside the enum give "unknown". */
const char *mesh_instance_state_name(mesh_instance_state s);

typedef struct mesh_instance_info {
	char url[256];
	mesh_instance_state state;
	int inflight;
	uint64_t calls, errors; /* calls completed through this instance, and those not OK */
	int64_t since_us;	/* mesh_now_us() when it entered this state */
} mesh_instance_info;

/* mesh_client_set_health turns health checks on (opts->interval_ms > 0) or off (0, or opts
 * NULL), before or after dials. A check is a mesh.Mesh/Health call; it passes when answered OK
 * by an instance of the client's service within timeout_ms, and is not counted in inflight,
 * calls or errors. Each connected instance is checked at once when it connects (or when checks
 * are turned on), then every interval_ms, one check at a time. A check goes out behind the
 * calls already sent on the connection, and an instance answers a connection's calls in order
 * (per loop thread), so timeout_ms should exceed the slowest call. A STARTING instance turns
 * HEALTHY on its first pass, and UNHEALTHY after unhealthy_threshold failures; a HEALTHY one
 * turns UNHEALTHY after unhealthy_threshold consecutive failures; an UNHEALTHY one turns
 * HEALTHY after healthy_threshold consecutive passes. When unhealthy_threshold + 1 checks in a
 * row get no reply at all (a peer that vanished without closing: a link down, a frozen
 * process), the connection is taken for dead: closed, its calls ended with MESH_UNAVAILABLE,
 * and redialed (DOWN until it connects again; a connect has 2 s). Failures within grace_ms of
 * connecting do not count. Instances connected when checks are turned on stay HEALTHY until checks
 * say otherwise; turning checks off makes every connected instance HEALTHY. Returns 0, EINVAL
 * (a negative field) or ENOTSUP. */
int mesh_client_set_health(mesh_client *c, const mesh_health_opts *opts);

/* mesh_client_drain stops new calls to the instance dialed at url (every instance, if it was
 * dialed more than once); its calls in flight finish normally. It stays connected and
 * DRAINING, unchecked, until mesh_client_dial(url) puts it back in service (STARTING, checked
 * at once). Returns 0, ENOENT or ENOTSUP. */
int mesh_client_drain(mesh_client *c, const char *url);

/* mesh_client_undial drains url, then closes its connection once its calls in flight are done
 * (at once if none is) and stops reconnecting; from then on instance_info does not list it.
 * A dial of url before that puts it back in service instead. On a client without a mesh_loop
 * (nng), which cannot drain one connection, it closes url's connections and stops
 * reconnecting at once: calls in flight on them end with MESH_UNAVAILABLE. Returns 0 or
 * ENOENT. */
int mesh_client_undial(mesh_client *c, const char *url);

/* mesh_client_instance_info fills out[0..max) with the client's instances in dial order, and
 * returns how many there are (which may exceed max). */
size_t mesh_client_instance_info(const mesh_client *c, mesh_instance_info *out, size_t max);

/* mesh_client_free closes the client's connections and frees it. No call may be in flight
 * (mesh_client_inflight is 0): an asynchronous client's caller drains its queue first. */
void mesh_client_free(mesh_client *client);

/* ---- the caller's event loop ---------------------------------------------------------------- */

enum { MESH_IO_READ = 1, MESH_IO_WRITE = 2 };

typedef struct mesh_timer mesh_timer; /* the loop's */

/* mesh_loop_ops: what a client needs from an event loop. Every function is called on the loop's
 * thread, and every callback runs on it. */
typedef struct mesh_loop_ops {
	/* watch starts reporting fd: cb(arg, MESH_IO_READ) whenever it is readable, and
	 * cb(arg, MESH_IO_WRITE) once after each want_write when it is writable. The loop owns fd
	 * from then on. Returns a handle, or NULL (fd is then closed). */
	void *(*watch)(mesh_loop *loop, int fd, void (*cb)(void *arg, int events), void *arg);
	void (*want_write)(mesh_loop *loop, void *handle);
	/* unwatch stops reporting and closes the fd; safe inside the handle's own callback. */
	void (*unwatch)(mesh_loop *loop, void *handle);
	/* timer_new makes a stopped one-shot timer that calls cb(arg). NULL if out of memory. */
	mesh_timer *(*timer_new)(mesh_loop *loop, void (*cb)(void *arg), void *arg);
	/* timer_arm (re)starts it: cb runs after ms milliseconds (0: once this turn's events are
	 * handled). A loop may fire early; the client checks the time itself. */
	void (*timer_arm)(mesh_loop *loop, mesh_timer *timer, int ms);
	void (*timer_stop)(mesh_loop *loop, mesh_timer *timer);
	void (*timer_free)(mesh_loop *loop, mesh_timer *timer);
} mesh_loop_ops;

/* MESH_LOOP_OPS_INIT(prefix_) initializes a mesh_loop_ops with the functions named prefix_watch,
 * prefix_want_write, prefix_unwatch, prefix_timer_new, prefix_timer_arm, prefix_timer_stop and
 * prefix_timer_free, as protoc-c's ..._INIT macros do for a service's methods. */
#define MESH_LOOP_OPS_INIT(prefix_)                                                                \
	{                                                                                          \
		.watch = prefix_##watch, .want_write = prefix_##want_write,                        \
		.unwatch = prefix_##unwatch, .timer_new = prefix_##timer_new,                      \
		.timer_arm = prefix_##timer_arm, .timer_stop = prefix_##timer_stop,                \
		.timer_free = prefix_##timer_free,                                                 \
	}

/* mesh_loop: an event loop as libmesh sees it; an adapter embeds it as its first member. */
struct mesh_loop {
	const mesh_loop_ops *ops;
};

typedef struct mesh_epoll mesh_epoll;

/* mesh_epoll_new makes a small epoll-based loop, for callers that have none of their own.
 * On success *out is the caller's, to free with mesh_epoll_free. Returns 0 or an errno value. */
int mesh_epoll_new(mesh_epoll **out);

/* mesh_epoll_loop returns the loop to give clients; it belongs to e. */
mesh_loop *mesh_epoll_loop(mesh_epoll *e);

/* mesh_epoll_run handles the events and timers due within timeout_ms (-1: wait for one).
 * Returns how many callbacks ran. */
int mesh_epoll_run(mesh_epoll *e, int timeout_ms);

/* mesh_epoll_free frees the loop; every handle and timer on it must be gone. */
void mesh_epoll_free(mesh_epoll *e);

/* ---- completions delivered to an event loop ------------------------------------------------- */

/* mesh_queue_new creates a queue through which asynchronous clients hand completed calls to one
 * event-loop thread. On success *out is the caller's, to free with mesh_queue_free.
 * Returns 0 or an errno value. */
int mesh_queue_new(mesh_queue **out);

/* mesh_queue_fd returns a descriptor that is readable while completions wait; add it to the
 * event loop and call mesh_queue_drain when it is readable. The queue owns it. */
int mesh_queue_fd(const mesh_queue *queue);

/* mesh_queue_drain runs, on the calling thread, the closure of every call completed so far.
 * Returns how many it ran. */
int mesh_queue_drain(mesh_queue *queue);

/* mesh_queue_free frees the queue. Every client using it must have been freed. */
void mesh_queue_free(mesh_queue *queue);

/* ---- serving a service ---------------------------------------------------------------------- */

typedef struct mesh_server mesh_server;

/* mesh_server_opts: how a server serves. Zero fields take the defaults. */
typedef struct mesh_server_opts {
	int loops;   /* event-loop threads serving ipc:// and tcp:// addresses; default 1 */
	int workers; /* nng worker threads serving other addresses (tls+tcp://); default 8 */
	/* the service's name in mesh_log's lines ("users"); borrowed, it must outlive the
	 * server. Default: the full name of the service served ("users.Users"). */
	const char *name;
	/* 1: only processes of this process's user, or root, may connect (ipc:// only, its
	 * socket file mode 0600; other addresses are refused with EINVAL); others are closed at
	 * once, unanswered. For an operator's control socket. */
	int owner_only;
	/* 1: a caller on plain tcp:// (nng's tls+tcp:// too, which cannot tell a certificate's
	 * name) is who it claims to be, not "anonymous": for a service whose every peer is
	 * trusted by other means (--insecure) */
	int insecure;

	/* Bounds on what one peer can make the server hold (README, "Bounds"); 0 takes the
	 * default. */
	/* the largest call a peer may send, in bytes (its SP message: backtrace and mesh.Call);
	 * a larger one closes the connection, with a log line (at most one a second). Default
	 * MESH_SERVER_MAX_FRAME. On nng: NNG_OPT_RECVMAXSZ (nng closes it, without a word) */
	size_t max_frame;
	/* connections at once per listener (nng: per server). At the cap, the connection idle
	 * longest (at least 1 s) is closed to make room for a new one; if every one was active
	 * within the last second, accepting pauses (loops: for 100 ms; nng closes the newcomer).
	 * Default MESH_SERVER_MAX_CONNS */
	int max_conns;
	/* a connection is not read while it has this many bytes of replies unsent...; default
	 * MESH_SERVER_MAX_UNSENT (event loops) */
	size_t max_unsent;
	/* ...or this many calls read whose replies are not sent; default MESH_SERVER_MAX_INFLIGHT
	 * (event loops) */
	int max_inflight;
	/* a connection that has completed no call this long after it was accepted (a TLS
	 * handshake included), that holds part of a call this long (a peer dribbling bytes), or
	 * whose peer takes none of its replies for this long, is closed. Default
	 * MESH_SERVER_IDLE_TIMEOUT_MS. nng: only the first (no call), and replies not taken
	 * within 1 s (a worker thread waits for them) */
	int idle_timeout_ms;

	/* Per-thread hooks, for implementations that call other services from the thread serving
	 * the call, on its own loop (event-loop threads only: nng's workers run none of them). */
	/* thread_start runs on each loop thread before it serves a call, with the thread's loop
	 * (to make clients on: mesh_client_opts.loop); it returns the thread's context, which
	 * mesh_call_context gives back for every call that thread serves (NULL is allowed) */
	void *(*thread_start)(void *arg, mesh_loop *loop);
	/* thread_ready, if set, is asked after each turn of the thread's loop (its clients'
	 * sockets and timers only) until it returns nonzero: only then does the thread serve
	 * calls, and mesh_server_start return. Time for the thread's clients to connect. */
	int (*thread_ready)(void *arg, void *context);
	/* thread_stop runs on the thread as it stops: it takes no new call, and its deferred
	 * calls were answered or MESH_SERVER_DRAIN_MS passed. It must end those left (their
	 * closures called; the replies are dropped) and free what thread_start made. */
	void (*thread_stop)(void *arg, void *context);
	/* batch, if set, runs on a loop thread before (begins 1) and after (begins 0) it serves
	 * the calls it read together from one connection. Each of them was sent before the batch
	 * began, so their reads may share one snapshot (store_read_batch). */
	void (*batch)(void *arg, void *context, int begins);
	void *thread_arg; /* given to each hook; borrowed, it must outlive the server */
} mesh_server_opts;

/* MESH_SERVER_DRAIN_MS: how long a stopping loop thread waits for its deferred calls. */
#define MESH_SERVER_DRAIN_MS 2000

/* The defaults of mesh_server_opts' bounds. */
#define MESH_SERVER_MAX_FRAME	    ((size_t)4 << 20) /* 4 MiB, gRPC's default receive limit */
#define MESH_SERVER_MAX_CONNS	    1024
#define MESH_SERVER_MAX_UNSENT	    ((size_t)1 << 20) /* 1 MiB */
#define MESH_SERVER_MAX_INFLIGHT    128
#define MESH_SERVER_IDLE_TIMEOUT_MS 10000

/* mesh_server_counters: what a server's bounds have done since it started (every transport
 * and listener together); Health reports them too (mesh.WireStats). */
typedef struct mesh_server_counters {
	uint64_t connections;	  /* open now */
	uint64_t accepted;	  /* connections accepted */
	uint64_t oversize_frames; /* connections closed for a call over max_frame (loops) */
	uint64_t idle_closed;	  /* closed by idle_timeout_ms: no call, part of a call */
	uint64_t stalled;	  /* closed because the peer took no reply for too long */
	uint64_t evicted;	  /* closed at max_conns to make room for a new connection */
	uint64_t refused;	  /* closed at once at max_conns (nng) */
	uint64_t accept_pauses;	  /* accepting paused: at max_conns, or out of descriptors */
	uint64_t reads_paused;	  /* a connection stopped being read: max_unsent, max_inflight */
	uint64_t costly_requests; /* calls refused: unpacking them would cost too much memory */
} mesh_server_counters;

/* mesh_server_counters_read copies the server's counters into *out. Any thread. */
void mesh_server_counters_read(const mesh_server *server, mesh_server_counters *out);

/* mesh_server_new creates a server of impl, a service built with protoc-c's ..._INIT macro.
 * impl must outlive the server. Every method implementation is called on a worker thread, with a
 * closure_data that identifies the call; it must call the closure before it returns (unless it
 * deferred the call: mesh_call_defer), with the reply (which stays the implementation's: it is
 * packed at once) or with NULL after mesh_fail.
 * Health (mesh.Mesh) is answered by the server itself, with what each method has cost. opts may be
 * NULL. On success *out is the caller's, to free with mesh_server_free. Returns 0 or ENOMEM. */
int mesh_server_new(mesh_server **out, ProtobufCService *impl, const mesh_server_opts *opts);

/* mesh_server_uses_workers says whether an address given to mesh_server_listen is served by
 * nng's workers (CLEAVE_MESH_TRANSPORT=nng, or a scheme the loops do not speak): calls served
 * there have no loop (mesh_call_loop is NULL) and are answered before their method returns. */
int mesh_server_uses_workers(const mesh_server *server);

/* mesh_server_listen starts listening on url (ipc://path, tcp://host:port); call it once per
 * address. url is copied. Returns 0, EINVAL (not a url it can serve, or tls+tcp:// without
 * mesh_tls_configure), EADDRINUSE, or another errno value. */
int mesh_server_listen(mesh_server *server, const char *url);

/* mesh_server_start starts the workers and loop threads, and returns once every loop thread
 * serves (see thread_ready). Returns 0 or an errno value. */
int mesh_server_start(mesh_server *server);

/* mesh_server_stop closes the listeners and waits for the workers to finish their calls. */
void mesh_server_stop(mesh_server *server);

/* mesh_server_set_policy sets who may call what: from then on every call but Health must be
 * allowed by policy for its caller, who is the identity the transport proves (the CN of a
 * verified certificate on tls+tcp://; the service its uid runs as on ipc://, root being the
 * operator, who may call anything); the caller's claim only where the transport proves nothing
 * yet the peer is local (the same user on ipc://, inproc://); "anonymous" for anyone else
 * (plain tcp://, any other transport). A denied call ends with MESH_PERMISSION_DENIED and one
 * log line. Without a policy (NULL, the default) every call but Health is denied. Health is
 * open to every caller, but only those the policy allows "Health" (and the operator) get its
 * detail (pid, uptime, CPU, memory, each method's counts); the others get the service's name.
 * policy is borrowed and must outlive the server. Set it before mesh_server_start. */
typedef struct mesh_policy mesh_policy;
void mesh_server_set_policy(mesh_server *server, const mesh_policy *policy);

/* mesh_policy_new makes an empty policy (it allows nothing) to fill with mesh_policy_allow. On
 * success *out is the caller's, to free with mesh_policy_free. Returns 0 or ENOMEM. */
int mesh_policy_new(mesh_policy **out);

/* mesh_policy_allow lets caller call method ("edge", "Get"); "*" for either matches any (for
 * caller: anonymous too). Both are copied, at most 63 bytes. Returns 0, EINVAL (empty or too
 * long) or ENOMEM. */
int mesh_policy_allow(mesh_policy *p, const char *caller, const char *method);

/* mesh_policy_allow_because is mesh_policy_allow with the rule's reason (NULL: none), copied
 * (at most 127 bytes kept), which names the rule when it decides: "POST /api/posts". */
int mesh_policy_allow_because(mesh_policy *p, const char *caller, const char *method,
			      const char *why);

/* mesh_policy_decide says whether caller may call method under p (NULL: the default, which
 * allows nothing), and writes the rule that decided into rule (rulelen bytes): the first rule
 * allowing it ("edge Create # POST /api/posts"), or "default deny; allowed callers: edge,
 * meshctl". Health is not special here. Returns 1 (allowed) or 0 (denied). */
int mesh_policy_decide(const mesh_policy *p, const char *caller, const char *method, char *rule,
		       size_t rulelen);

/* mesh_policy_set_audit puts p in audit mode (audit 1) or back in enforce mode (0): in audit
 * mode a server whose policy would deny a call logs "audit: would deny ..." with the rule,
 * counts it (Health's MethodStats.would_deny) and runs the call. A claim that does not match
 * the caller's proven identity is denied in both modes: that is identity, not policy. */
void mesh_policy_set_audit(mesh_policy *p, int audit);

/* mesh_policy_audits says whether p is in audit mode. */
int mesh_policy_audits(const mesh_policy *p);

/* mesh_policy_load reads the policy file at path: one rule per line, "CALLER METHOD" ("edge
 * Get", "threads Get", "meshctl *"), '#' starting a comment, which is the rule's reason when it
 * follows one. On success *out is the caller's, to
 * free with mesh_policy_free. Returns 0, or an errno value with "path:line: reason" in err. */
int mesh_policy_load(const char *path, mesh_policy **out, char *err, size_t errlen);

/* mesh_policy_free frees p; NULL is allowed. */
void mesh_policy_free(mesh_policy *p);

/* mesh_server_free stops the server if needed and frees it. */
void mesh_server_free(mesh_server *server);

/* mesh_fail records how the call identified by closure_data ends; the implementation then calls
 * closure(NULL, closure_data). A closure called with NULL and no mesh_fail ends with
 * MESH_INTERNAL. fmt is printf's. */
void mesh_fail(void *closure_data, mesh_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* mesh_call_caller returns the identity the caller of this call claimed; valid until the closure
 * is called. */
const char *mesh_call_caller(const void *closure_data);

/* mesh_call_idempotency_key returns the call's idempotency key, or NULL if it carries none;
 * valid until the closure is called. */
const char *mesh_call_idempotency_key(const void *closure_data);

/* mesh_call_request_id returns the request id the call carries (the edge's X-Request-Id), or
 * NULL if it carries none; valid until the closure is called. */
const char *mesh_call_request_id(const void *closure_data);

/* mesh_log writes one line to stderr: the server's name (mesh_server_opts.name), the request id
 * of the call identified by closure_data in brackets ("[-]" without one), its trace context if it
 * has one (the W3C trace id, the span the server opened for the call and the caller's span), then
 * fmt (printf's): "posts: [9f86d081884c7d65] trace=4bf92f3577b34da6a3ce929d0e0e4736
 * span=b7ad6b7169203331 parent=00f067aa0ba902b7 user 99 does not exist". Control characters are
 * written as '?', so a line cannot forge others; a line is cut at 1 KiB, and written with one
 * write(2), so lines of concurrent calls do not mix. It costs a system call: for calls that fail
 * for a reason an operator should see, never on the path of a successful call. The runtime itself
 * logs every call answered MESH_INTERNAL, MESH_UNAVAILABLE or MESH_DEADLINE_EXCEEDED, with its
 * method and message. */
void mesh_log(const void *closure_data, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* mesh_call_deadline returns the absolute deadline (mesh_now_us clock) of the call identified by
 * closure_data, or 0 if it has none. A server counts the call's budget (mesh.Call.timeout_us)
 * from when its transport read the call, so time spent waiting behind other calls is spent from
 * it; a call whose deadline passed before it started is answered DEADLINE_EXCEEDED unrun. */
int64_t mesh_call_deadline(const void *closure_data);

/* mesh_call_loop returns the event loop of the thread serving the call identified by
 * closure_data, on which a client's closures run on that thread (mesh_client_opts.loop), or NULL
 * when nng's workers serve it. */
mesh_loop *mesh_call_loop(const void *closure_data);

/* mesh_call_context returns the context mesh_server_opts.thread_start made for the thread serving
 * the call identified by closure_data, or NULL (no hook, or nng's workers). */
void *mesh_call_context(const void *closure_data);

/* mesh_call_defer lets the implementation answer the call identified by closure_data after it
 * returns. On an event-loop thread it returns 0: the method may then return without calling the
 * closure, and calls it later, once, on the same thread (from a callback of mesh_call_loop's
 * loop: a client's closure, a timer). Until then closure_data and the method's input stay
 * valid, and mesh_fail, mesh_log and the mesh_call_ functions work on it. If the caller's
 * connection is gone by then, the reply is dropped. A deferred call counts against the
 * connection's max_inflight. Returns ENOTSUP where the call cannot wait (nng's workers, a
 * route of more than SP's hops): the method answers before it returns, as always; EINVAL if
 * the call was answered already. Deferring a deferred call again (after the method returned
 * too) returns 0. */
int mesh_call_defer(void *closure_data);

/* MESH_CHILD_MARGIN_MIN_US, MESH_CHILD_MARGIN_MAX_US: a call made on another's behalf ends this
 * much before the other's deadline (a tenth of the time left, within these bounds), so the
 * other still has time to answer (with DEADLINE_EXCEEDED naming the hop that ran out) before its
 * own caller gives up on it. */
#define MESH_CHILD_MARGIN_MIN_US 1000
#define MESH_CHILD_MARGIN_MAX_US 100000

/* mesh_call_child_deadline returns the deadline to give the calls made on behalf of the call
 * identified by closure_data (the mesh_rpc's deadline_us): its own deadline less the margin
 * above, so a nested call never outlives its parent; 0 if the call has none. A deadline already
 * too close gives a time already past: the nested call then fails at once, unsent. */
int64_t mesh_call_child_deadline(const void *closure_data);

/* mesh_call_trace fills *out with the trace context to give the calls made on behalf of the call
 * identified by closure_data (the mesh_rpc's trace): the call's trace id and flags, and as
 * parent_id the span the server opened for the call, a fresh id of its own (so every hop is a new
 * span of the same trace). Returns 1, or 0 with *out all zero if the call carries no trace. */
int mesh_call_trace(const void *closure_data, mesh_trace *out);

/* mesh_call_cancelled says whether the caller of the call identified by closure_data cancelled
 * it (a mesh.Mesh/Cancel for it came on its connection, or the connection closed), as far as the
 * server has read. A call cancelled before it started is answered CANCELLED without running;
 * for one running, its answer goes nowhere, so the implementation should do no more work (a
 * store write) and answer at once (mesh_fail with MESH_CANCELLED). It reads a flag: no system
 * call. */
int mesh_call_cancelled(const void *closure_data);

/* mesh_call_on_cancel gives the deferred call identified by closure_data (mesh_call_defer) a
 * hook: fn(arg) runs once, on the call's thread from the server's loop, if the call's caller
 * cancels it before it is answered (a mesh.Mesh/Cancel naming it is read, or its connection
 * closes); mesh_call_cancelled is 1 by then. fn stops the work the call waits on (its own
 * nested calls: mesh_client_cancel) and may answer the call, with MESH_CANCELLED: that answer
 * is counted as cancelled, and is dropped if the connection is gone. fn NULL removes the hook:
 * do so before answering by another path. arg stays the implementation's. Returns 0, or EINVAL
 * if the call is not deferred or was answered already. */
int mesh_call_on_cancel(void *closure_data, void (*fn)(void *arg), void *arg);

/* ---- mutual TLS (tls+tcp://) ---------------------------------------------------------------- */

/* mesh_tls_configure sets this process's certificate, its private key and the CA bundle its
 * peers' certificates must be signed by, for every tls+tcp:// server and client the process
 * makes afterwards. A NULL argument falls back to the environment: the file named by
 * CLEAVE_TLS_CERT, CLEAVE_TLS_KEY, CLEAVE_TLS_CA, else the PEM text of CLEAVE_TLS_CERT_PEM,
 * CLEAVE_TLS_KEY_PEM, CLEAVE_TLS_CA_PEM (for secret stores that hand out variables). With none
 * of the three given, TLS stays off and 0 is returned. The files are read and checked now (the
 * key matches the certificate; the bundle loads); nothing is read later. Call it before making
 * servers and clients, from one thread. Returns 0, or an errno value with the reason in err.
 *
 * Over tls+tcp:// both sides verify each other against the CA: a server requires a client
 * certificate, whose CN is the caller's proven identity (a claim that differs is denied); a
 * client requires the server's CN to be the package of the service it calls ("posts" for
 * posts.Posts; any CN for mesh.Mesh). */
int mesh_tls_configure(const char *cert, const char *key, const char *ca, char *err, size_t errlen);

/* mesh_tls_enabled says whether mesh_tls_configure loaded a certificate. */
int mesh_tls_enabled(void);

/* mesh_tls_check_url returns 0 for a url that needs no TLS or when TLS is configured; else
 * ENOKEY with a reason (which flags or variables to set) in err. */
int mesh_tls_check_url(const char *url, char *err, size_t errlen);

/* ---- health checks ------------------------------------------------------------------------ */

/* mesh_check calls mesh.Mesh/Health at url (ipc://, tcp://, any address a client dials) and
 * waits at most timeout_ms for an OK answer. Returns 0 with a one-line summary in out, or an
 * errno value (ETIMEDOUT: nothing answered; EPROTO: it answered, not OK) with the reason in
 * out. url is borrowed; out is the caller's (outlen bytes). */
int mesh_check(const char *url, int timeout_ms, char *out, size_t outlen);

/* mesh_client_call calls method (by name) of client's service with input and waits, however
 * the client was made to deliver. parent is the closure_data of the call being served, whose
 * request id, trace (a new span of it) and deadline (less a margin: mesh_call_child_deadline)
 * this call inherits (NULL: the client's default timeout, no id, no trace). On
 * MESH_OK, if output is not NULL, *output is the reply, the caller's, to free with
 * protobuf_c_message_free_unpacked(o, NULL). Otherwise message holds the reason. Only for blocking
 * clients. */
mesh_status mesh_client_call(mesh_client *client, const char *method, const ProtobufCMessage *input,
			     ProtobufCMessage **output, const void *parent, char *message,
			     size_t message_len);

#endif
