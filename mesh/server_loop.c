/* server_loop.c: the event-loop transport of a server: SP REP over ipc://, tcp:// and tls+tcp://
 * on epoll.
 *
 * Each loop thread reads the calls a connection has sent, serves them in order, and writes their
 * replies with one write: no hand-off between threads on the way. The wire is nng's, so nng REQ
 * sockets call these servers unchanged. On tls+tcp:// a connection first completes a mutual TLS
 * handshake (tls.h) on the loop; until then nothing of SP is read or written, and a caller
 * without a certificate signed by the mesh CA gets no answer at all.
 *
 * Every peer is held to the server's bounds (mesh_server_opts): a call over max_frame closes
 * its connection; a connection is not read while max_unsent bytes or max_inflight calls of its
 * replies wait to be sent (the kernel's buffers then stop its peer); at most
 * LOOP_FRAMES_PER_TURN calls and LOOP_READ_PER_TURN bytes of one connection are handled before
 * the others get their turn; each listener holds at most max_conns connections (then the one
 * idle longest is closed to make room, or accepting pauses); and a connection is closed when it
 * completes no call within idle_timeout_ms of its accept, holds part of a call that long, or
 * its peer takes none of its replies that long.
 *
 * Each thread is also a mesh_loop (evloop.h) for the clients an implementation calls other
 * services with, so a method can defer its answer (mesh_call_defer) while its calls are out:
 * the thread serves other calls meanwhile, and writes the reply when the method gives it. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "addr.h"
#include "bytes.h"
#include "envelope.h"
#include "evloop.h"
#include "list_internal.h"
#include "server_internal.h"
#include "sp.h"
#include "tls.h"

#define LOOP_EVENTS 64
/* calls served from one connection before the others get their turn */
#define LOOP_FRAMES_PER_TURN 32
/* bytes read from one connection in one turn */
#define LOOP_READ_PER_TURN ((size_t)256 << 10)
/* whole calls read ahead of serving them, at most (a call being read may make it more) */
#define LOOP_READ_AHEAD ((size_t)256 << 10)
/* replies written at once when the connection has more calls to serve in its next turn */
#define LOOP_FLUSH_AT ((size_t)64 << 10)
/* an empty buffer with more room than this is freed: a burst leaves no idle connection holding
 * its peak */
#define LOOP_KEEP_BUFFER ((size_t)64 << 10)
/* new connections accepted per listener event, before the connections get their turn */
#define LOOP_ACCEPTS_PER_TURN 64
/* accepting paused (at the cap with none to evict, or out of descriptors) resumes after this */
#define LOOP_PAUSE_MS 100
/* a call that took this long is followed by a read of its connection before the next call is
 * served, so the Cancels its caller sent meanwhile are seen */
#define LOOP_SLOW_CALL_NS 1000000
/* how often connections are checked against the idle timeout */
#define LOOP_SWEEP_MS 1000
/* at the cap, only a connection that completed no call this long may be closed for a new one */
#define LOOP_EVICT_IDLE_US 1000000
/* the SP hops of a deferred call's route kept with it (a direct caller's is one) */
#define LOOP_BACKTRACE_MAX (4 * SP_MAX_HOPS)
/* calls kept for reuse per thread, once served */
#define LOOP_SPARE_CALLS 64
/* a thread's loop turns while it waits for thread_ready, at most this long each */
#define LOOP_READY_TURN_MS 10
enum { WATCH_LISTENER, WATCH_CONN, WATCH_WAKE, WATCH_CLIENT };

/* loop_watch: the first member of everything registered with epoll. */
typedef struct loop_watch {
	int kind;
} loop_watch;

typedef struct loop_listener {
	loop_watch watch;
	int fd;
	size_t index; /* in meshi_server_loop.listeners */
	meshi_sp_framing framing;
	int tls;	   /* tls+tcp:// */
	char *unlink_path; /* the ipc socket file to remove at the end */
	atomic_int conns;  /* its connections open now, on every thread */
} loop_listener;

typedef struct loop_thread loop_thread;
typedef struct loop_served loop_served;

/* loop_conn: one caller's connection. */
typedef struct loop_conn {
	loop_watch watch;
	int fd;
	loop_listener *listener; /* where it was accepted */
	meshi_sp_framing framing;
	int greeted;		   /* the caller's greeting arrived and named REQ */
	long peer_uid;		   /* SO_PEERCRED's uid for ipc://; -1 for tcp:// */
	uint32_t events;	   /* what epoll reports of it now: EPOLLIN, EPOLLOUT */
	meshi_tls_conn *tls;	   /* tls+tcp://: the TLS state (owned); NULL for plain streams */
	int secured;		   /* tls+tcp://: the handshake is done, the peer verified */
	int closed;		   /* closed, freed at the end of the loop turn */
	int called;		   /* it completed a call: the idle timeout no longer applies */
	int queued;		   /* on the thread's ready list */
	int tls_more;		   /* a bounded TLS read left plaintext inside OpenSSL */
	int paused;		   /* not read: its unsent replies are at a bound */
	int unsent_calls;	   /* replies in out since it was last empty */
	int deferred;		   /* calls read whose methods answer later */
	meshi_list deferred_calls; /* those calls (loop_served.link), the latest first */
	int dirty;		   /* a deferred reply waits in out: flush at the end of the turn */
	meshi_slink dirty_link;	   /* on the thread's dirty stack */
	int64_t accepted_us;
	int64_t active_us;  /* when it last completed a call, else accepted_us */
	int64_t partial_us; /* since when part of a call waits for the rest; 0: none does */
	int64_t stalled_us; /* since when replies wait and the peer has taken none; 0: none */
	meshi_bytes in;
	meshi_bytes out;
	meshi_link link;       /* in the thread's connections, least recently active first */
	meshi_link ready_link; /* in the thread's ready list */
	meshi_slink dead_link; /* closed: on the thread's stack of those to free */
} loop_conn;

/* conn_sink: writes a reply envelope straight into the connection's output, framed. */
typedef struct conn_sink {
	meshi_dispatch_sink base;
	loop_conn *conn; /* NULL once a deferred call's connection is gone */
	const uint8_t *backtrace;
	size_t backtrace_len;
} conn_sink;

/* loop_served: a call a thread serves, with its sink; kept until its reply is written. */
struct loop_served {
	meshi_server_call call; /* first: its address is the call's closure_data */
	conn_sink sink;
	loop_thread *t;
	uint8_t backtrace[LOOP_BACKTRACE_MAX]; /* a deferred call's own copy */
	meshi_link link;		       /* deferred: in its connection's deferred calls */
	meshi_slink spare_link;		       /* once served: on the thread's spares */
};

struct loop_thread {
	meshi_server_loop *loop;
	int epfd;
	loop_watch wake;
	int wakefd;
	pthread_t thread;
	int running;
	meshi_list conns; /* its connections (loop_conn.link), least recently active first */
	int nconns;
	meshi_list ready; /* connections with calls left for another turn (loop_conn.ready_link) */
	int nready;
	meshi_stack dead;  /* closed this turn, to free once no event can name them */
	meshi_stack dirty; /* with deferred replies to write at the end of the turn */
	meshi_evloop ev;   /* the thread's loop for clients (mesh_call_loop) */
	void *context;	   /* mesh_server_opts.thread_start's */
	meshi_stats_shard *shard;
	meshi_stack spares; /* calls to serve with (loop_served.spare_link) */
	int nspares;
	int deferred;		    /* deferred calls of every connection */
	pthread_mutex_t ready_lock; /* started, for meshi_server_loop_start */
	pthread_cond_t ready_cond;
	int started;		    /* 1: serving; -1: failed to start */
	unsigned char *paused;	    /* per listener: this thread stopped watching it */
	int npaused;		    /* listeners paused */
	int64_t resume_us;	    /* when to watch them again */
	int64_t swept_us;	    /* the last idle check */
	int64_t refusal_logged_us;  /* when a refused tls+tcp connection was last logged */
	unsigned refusals_unlogged; /* refused since, not logged */
};

struct meshi_server_loop {
	mesh_server *server;
	loop_listener **listeners;
	size_t nlisteners;
	loop_thread *threads;
	int nthreads;
	atomic_int stopping;
	meshi_ratelog accept_log;  /* accept failing for want of descriptors */
	meshi_ratelog partial_log; /* a connection closed holding part of a call */
	meshi_ratelog stall_log;   /* a connection closed with replies its peer does not take */
};

static uint8_t *conn_sink_reserve(meshi_dispatch_sink *sink, size_t n)
{
	conn_sink *s = (conn_sink *)sink;
	loop_conn *c = s->conn;
	size_t head;
	uint8_t *p;
	if (c == NULL)
		return NULL; /* a deferred call whose caller is gone: the reply is dropped */
	head = meshi_sp_frame_header_len(c->framing);
	p = meshi_bytes_reserve(&c->out, head + s->backtrace_len + n);
	if (p == NULL)
		return NULL;
	meshi_sp_frame_header(p, c->framing, s->backtrace_len + n);
	memcpy(p + head, s->backtrace, s->backtrace_len);
	meshi_bytes_commit(&c->out, head + s->backtrace_len + n);
	return p + head + s->backtrace_len;
}

/* conn_sink_defer keeps a copy of the call's route: the input it points into is consumed once
 * the dispatch returns. */
static int conn_sink_defer(meshi_dispatch_sink *sink, meshi_server_call *call)
{
	conn_sink *s = (conn_sink *)sink;
	loop_served *sv = (loop_served *)call;
	if (s->backtrace_len > sizeof(sv->backtrace))
		return ENOTSUP;
	memcpy(sv->backtrace, s->backtrace, s->backtrace_len);
	s->backtrace = sv->backtrace;
	return 0;
}

static void served_release(loop_thread *t, loop_served *sv);
static void conn_mark_dirty(loop_thread *t, loop_conn *c);

/* conn_sink_done takes back a deferred call once its reply is written (or dropped): its
 * connection is flushed at the end of the turn. */
static void conn_sink_done(meshi_dispatch_sink *sink, meshi_server_call *call)
{
	conn_sink *s = (conn_sink *)sink;
	loop_served *sv = (loop_served *)call;
	loop_thread *t = sv->t;
	loop_conn *c = s->conn;
	t->deferred--;
	if (c != NULL) {
		meshi_list_unlink(&c->deferred_calls, &sv->link);
		c->deferred--;
		if (call->written)
			c->unsent_calls++;
		conn_mark_dirty(t, c);
	}
	served_release(t, sv);
}

/* served_get returns a call to serve with: a spare, or a new one (NULL if memory ran out). */
static loop_served *served_get(loop_thread *t)
{
	meshi_slink *spare = meshi_stack_pop(&t->spares);
	loop_served *sv;
	if (spare != NULL) {
		sv = MESHI_CONTAINER(spare, loop_served, spare_link);
		t->nspares--;
	} else if ((sv = calloc(1, sizeof(*sv))) == NULL) {
		return NULL;
	}
	sv->t = t;
	sv->sink.base.reserve = conn_sink_reserve;
	sv->sink.base.defer = conn_sink_defer;
	sv->sink.base.done = conn_sink_done;
	sv->call.shard = t->shard;
	sv->call.loop = &t->ev.base;
	sv->call.context = t->context;
	return sv;
}

/* served_release keeps sv as a spare, or frees it past LOOP_SPARE_CALLS. */
static void served_release(loop_thread *t, loop_served *sv)
{
	if (t->nspares >= LOOP_SPARE_CALLS) {
		free(sv);
		return;
	}
	meshi_stack_push(&t->spares, &sv->spare_link);
	t->nspares++;
}

/* conn_of returns the connection whose link (in the thread's connections) is at link, or NULL. */
static inline loop_conn *conn_of(meshi_link *link)
{
	return link != NULL ? MESHI_CONTAINER(link, loop_conn, link) : NULL;
}

/* ready_push puts c on the ready list: it has calls to serve in the next turn. */
static void ready_push(loop_thread *t, loop_conn *c)
{
	if (c->queued)
		return;
	c->queued = 1;
	meshi_list_append(&t->ready, &c->ready_link);
	t->nready++;
}

/* ready_remove takes c off the ready list, if it is on it. */
static void ready_remove(loop_thread *t, loop_conn *c)
{
	if (!c->queued)
		return;
	meshi_list_unlink(&t->ready, &c->ready_link);
	c->queued = 0;
	t->nready--;
}

/* conn_close closes c now; its memory stays until conns_reap, as an event of this turn may still
 * name it. */
static void conn_close(loop_thread *t, loop_conn *c)
{
	if (c->closed)
		return;
	c->closed = 1;
	/* its deferred calls end later with nowhere to answer */
	while (c->deferred_calls.head != NULL) {
		loop_served *sv = MESHI_CONTAINER(c->deferred_calls.head, loop_served, link);
		meshi_list_unlink(&c->deferred_calls, &sv->link);
		sv->sink.conn = NULL;
		sv->call.peer_name = NULL; /* the TLS state's, freed below */
		/* nobody is left to answer (mesh_call_cancelled); its hook may end it now (sv is
		 * released then, and not touched again here) */
		meshi_call_cancel(&sv->call);
	}
	c->deferred = 0;
	epoll_ctl(t->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	meshi_tls_conn_free(c->tls);
	c->tls = NULL;
	close(c->fd);
	ready_remove(t, c);
	meshi_list_unlink(&t->conns, &c->link);
	t->nconns--;
	atomic_fetch_sub(&c->listener->conns, 1);
	meshi_count(&t->loop->server->counters.connections, -1);
	meshi_bytes_fini(&c->in);
	meshi_bytes_fini(&c->out);
	meshi_stack_push(&t->dead, &c->dead_link);
}

/* conns_reap frees the connections closed since the last call. */
static void conns_reap(loop_thread *t)
{
	meshi_slink *dead;
	while ((dead = meshi_stack_pop(&t->dead)) != NULL)
		free(MESHI_CONTAINER(dead, loop_conn, dead_link));
}

/* conn_out_full says whether c's unsent replies are at a bound: no call of it is served, and
 * it is not read, until its peer takes some. */
static int conn_out_full(const loop_thread *t, const loop_conn *c)
{
	const mesh_server_opts *o = &t->loop->server->opts;
	return c->out.len >= o->max_unsent || c->unsent_calls + c->deferred >= o->max_inflight;
}

/* conn_frame_ready says whether c's input starts with a whole call (or a stream to give up on,
 * which serving it finds out). */
static int conn_frame_ready(const loop_thread *t, const loop_conn *c)
{
	const uint8_t *payload;
	size_t payload_len, consumed;
	if (!c->greeted)
		return c->in.len >= SP_HANDSHAKE_LEN;
	return meshi_sp_frame_next(meshi_bytes_head(&c->in), c->in.len, c->framing,
				   t->loop->server->opts.max_frame, &payload, &payload_len,
				   &consumed) != 0;
}

/* conn_can_read says whether c is to be read: its replies are not at a bound, and its input
 * holds less than LOOP_READ_AHEAD or no whole call. */
static int conn_can_read(const loop_thread *t, const loop_conn *c)
{
	if (conn_out_full(t, c))
		return 0;
	return c->in.len < LOOP_READ_AHEAD || !conn_frame_ready(t, c);
}

/* conn_has_turn says whether c has work for another turn: a call to serve (its replies not at a
 * bound), or plaintext left inside OpenSSL. */
static int conn_has_turn(const loop_thread *t, const loop_conn *c)
{
	if (conn_out_full(t, c))
		return 0;
	return conn_frame_ready(t, c) || (c->tls_more && conn_can_read(t, c));
}

static int conn_set_events(loop_thread *t, loop_conn *c, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = c};
	if (c->events == events)
		return 0;
	c->events = events;
	return epoll_ctl(t->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* conn_flush writes what the connection has to send. Returns 0, or -1 if it was closed. */
static int conn_flush(loop_thread *t, loop_conn *c)
{
	size_t before = c->out.len;
	int rv;
	if (before == 0)
		return 0;
	rv = c->tls == NULL ? meshi_bytes_write_to(&c->out, c->fd)
			    : meshi_tls_conn_write(c->tls, &c->out);
	if (rv < 0) {
		conn_close(t, c);
		return -1;
	}
	if (c->out.len == 0) {
		c->unsent_calls = 0;
		c->stalled_us = 0;
		/* one that has not called yet keeps nothing: it may never call */
		meshi_bytes_trim(&c->out, c->called ? LOOP_KEEP_BUFFER : 0);
	} else if (c->out.len < before || c->stalled_us == 0) {
		c->stalled_us = mesh_now_us(); /* the peer's clock starts (again) */
	}
	return 0;
}

/* conn_watch sets what epoll reports of c from its state, and the clocks of the idle timeout.
 * Returns 0, or -1 if it closed c. */
static int conn_watch(loop_thread *t, loop_conn *c)
{
	uint32_t events = 0;
	int reading = conn_can_read(t, c);
	if (reading)
		events |= EPOLLIN;
	if (c->out.len > 0)
		events |= EPOLLOUT;
	if (!reading && !c->paused && conn_out_full(t, c)) {
		c->paused = 1;
		meshi_count(&t->loop->server->counters.reads_paused, 1);
	} else if (reading) {
		c->paused = 0;
	}
	/* part of a call waits for its peer only while the peer may send it */
	if (reading && c->greeted && c->in.len > 0 && !conn_frame_ready(t, c)) {
		if (c->partial_us == 0)
			c->partial_us = mesh_now_us();
	} else {
		c->partial_us = 0;
	}
	if (conn_set_events(t, c, events) != 0) {
		conn_close(t, c);
		return -1;
	}
	return 0;
}

/* conn_oversize closes c, whose peer sent the header of a call of size bytes, over the cap. */
static void conn_oversize(loop_thread *t, loop_conn *c, size_t size)
{
	mesh_server *s = t->loop->server;
	meshi_count(&s->counters.oversize_frames, 1);
	meshi_ratelog_line(&s->oversize_log, s,
			   "closed a connection that sent a call of %zu bytes (more than the %zu "
			   "allowed)",
			   size, s->opts.max_frame);
	conn_close(t, c);
}

/* conn_cancel_behind says whether c's input, from offset from on, holds a mesh.Mesh/Cancel under
 * the backtrace bt (bt_len bytes: the SP request id of a call before it); any Cancel at all if
 * bt is NULL. */
static int conn_cancel_behind(const loop_thread *t, const loop_conn *c, size_t from,
			      const uint8_t *bt, size_t bt_len)
{
	const uint8_t *p = meshi_bytes_head(&c->in) + from,
		      *end = meshi_bytes_head(&c->in) + c->in.len;
	const uint8_t *payload;
	size_t payload_len, consumed;
	while (p < end && meshi_sp_frame_next(p, (size_t)(end - p), c->framing,
					      t->loop->server->opts.max_frame, &payload,
					      &payload_len, &consumed) == 1) {
		int b = meshi_sp_rep_split(payload, payload_len);
		if (b >= 0 && meshi_envelope_is_cancel(payload + b, payload_len - (size_t)b) &&
		    (bt == NULL || ((size_t)b == bt_len && memcmp(payload, bt, bt_len) == 0)))
			return 1;
		p += consumed;
	}
	return 0;
}

/* conn_cancel_deferred cancels c's deferred call whose SP request id is bt (bt_len bytes), if
 * one waits: a Cancel naming it came while it ran (meshi_call_cancel). */
static void conn_cancel_deferred(loop_conn *c, const uint8_t *bt, size_t bt_len)
{
	for (meshi_link *l = c->deferred_calls.head; l != NULL; l = l->next) {
		loop_served *sv = MESHI_CONTAINER(l, loop_served, link);
		if (sv->sink.backtrace_len == bt_len && memcmp(sv->backtrace, bt, bt_len) == 0) {
			if (!sv->call.cancelled)
				meshi_call_cancel(&sv->call); /* may end sv: nothing after */
			return;
		}
	}
}

/* conn_read_more reads what c's peer sent while a slow call ran (if c may be read), so the
 * Cancels among it are seen before the calls they name are served. Returns 0, or -1 if the peer
 * went away or an error came (the connection is to be closed). */
static int conn_read_more(loop_thread *t, loop_conn *c)
{
	if (!conn_can_read(t, c))
		return 0;
	return (c->tls == NULL
		    ? meshi_bytes_read_max(&c->in, c->fd, LOOP_READ_PER_TURN)
		    : meshi_tls_conn_read_max(c->tls, &c->in, LOOP_READ_PER_TURN, &c->tls_more)) < 0
		   ? -1
		   : 0;
}

/* thread_batch tells the server's batch hook (mesh_server_opts.batch) that t begins (begins 1)
 * or ends serving the calls read together from one connection. */
static void thread_batch(loop_thread *t, int begins)
{
	const mesh_server_opts *o = &t->loop->server->opts;
	if (o->batch != NULL)
		o->batch(o->thread_arg, t->context, begins);
}

/* conn_serve serves the whole calls at the front of the input: at most LOOP_FRAMES_PER_TURN,
 * and none once the replies are at a bound. Returns how many, or -1 if it closed the connection
 * (a malformed stream, a call over the cap). */
static int conn_serve(loop_thread *t, loop_conn *c)
{
	mesh_server *s = t->loop->server;
	const uint8_t *payload;
	size_t payload_len, consumed;
	int rv = 0, served = 0, cancels;
	if (!c->greeted) {
		if (c->in.len < SP_HANDSHAKE_LEN)
			return 0;
		if (meshi_sp_handshake_check(meshi_bytes_head(&c->in), SP_PROTO_REQ) != 0) {
			conn_close(t, c);
			return -1;
		}
		meshi_bytes_consume(&c->in, SP_HANDSHAKE_LEN);
		c->greeted = 1;
	}
	/* a call whose Cancel waits behind it is answered CANCELLED unrun (dispatch) */
	cancels = conn_cancel_behind(t, c, 0, NULL, 0);
	while (served < LOOP_FRAMES_PER_TURN && !conn_out_full(t, c) &&
	       (rv = meshi_sp_frame_next(meshi_bytes_head(&c->in), c->in.len, c->framing,
					 s->opts.max_frame, &payload, &payload_len, &consumed)) ==
		   1) {
		int backtrace = meshi_sp_rep_split(payload, payload_len), slow = 0;
		/* A request without a request id is dropped, as nng's REP drops it. */
		loop_served *sv;
		if (backtrace >= 0 && c->deferred_calls.head != NULL &&
		    meshi_envelope_is_cancel(payload + backtrace, payload_len - (size_t)backtrace))
			conn_cancel_deferred(c, payload, (size_t)backtrace);
		if (backtrace >= 0 && (sv = served_get(t)) != NULL) {
			int done;
			sv->sink.conn = c;
			sv->sink.backtrace = payload;
			sv->sink.backtrace_len = (size_t)backtrace;
			sv->call.peer_uid = c->peer_uid;
			sv->call.peer_name = c->tls != NULL ? meshi_tls_conn_peer(c->tls) : NULL;
			sv->call.peer_unproven =
			    c->framing == SP_TCP && c->tls == NULL && !s->opts.insecure;
			sv->call.arrived_us = 0;
			sv->call.cancelled = cancels && conn_cancel_behind(t, c, consumed, payload,
									   (size_t)backtrace);
			done =
			    meshi_dispatch_call(s, &sv->call, &sv->sink.base, payload + backtrace,
						payload_len - (size_t)backtrace);
			slow = done != 1 && sv->call.stats.replied_ns - sv->call.stats.start_ns >=
						LOOP_SLOW_CALL_NS;
			if (done == 1) { /* answered later: kept with its connection */
				meshi_list_prepend(&c->deferred_calls, &sv->link);
				c->deferred++;
				t->deferred++;
			} else {
				if (done == 0)
					c->unsent_calls++;
				served_release(t, sv);
			}
		}
		meshi_bytes_consume(&c->in, consumed);
		served++;
		if (slow) {
			/* what is read now may have been sent after the batch's snapshot */
			thread_batch(t, 0);
			thread_batch(t, 1);
			if (conn_read_more(t, c) != 0) {
				conn_close(t, c);
				return -1;
			}
			cancels = conn_cancel_behind(t, c, 0, NULL, 0);
		}
	}
	if (rv == -2) {
		conn_oversize(t, c, payload_len);
		return -1;
	}
	if (rv < 0) {
		conn_close(t, c);
		return -1;
	}
	if (served > 0) {
		/* the least recently active connection is the first to go at the cap */
		c->called = 1;
		c->active_us = mesh_now_us();
		c->partial_us = 0;
		meshi_list_unlink(&t->conns, &c->link);
		meshi_list_append(&t->conns, &c->link);
	}
	meshi_bytes_trim(&c->in, c->called ? LOOP_KEEP_BUFFER : 0);
	return served;
}

/* conn_refuse closes a tls+tcp:// connection whose peer was not verified, and logs why: one
 * line a second at most, as a misconfigured caller redials every 200 ms. */
static void conn_refuse(loop_thread *t, loop_conn *c, const char *why)
{
	int64_t now = mesh_now_us();
	if (now - t->refusal_logged_us >= 1000000) {
		mesh_log(NULL,
			 "refused a tls+tcp connection: %s (and %u more since the last such line)",
			 why, t->refusals_unlogged);
		t->refusal_logged_us = now;
		t->refusals_unlogged = 0;
	} else {
		t->refusals_unlogged++;
	}
	conn_close(t, c);
}

/* conn_handshake advances a tls+tcp:// connection's handshake. Returns 1 once it is done (the
 * greeting is then sent), 0 while it waits for the socket, -1 if it closed the connection. */
static int conn_handshake(loop_thread *t, loop_conn *c)
{
	int rv = meshi_tls_conn_handshake(c->tls);
	if (rv < 0) {
		/* no certificate, one of another CA, or no TLS at all: the peer learns nothing */
		conn_refuse(t, c, meshi_tls_conn_error(c->tls));
		return -1;
	}
	if (rv == 0) {
		if (conn_set_events(
			t, c, EPOLLIN | (meshi_tls_conn_wants_write(c->tls) ? EPOLLOUT : 0)) != 0) {
			conn_close(t, c);
			return -1;
		}
		return 0;
	}
	c->secured = 1;
	return conn_flush(t, c) == 0 ? 1 : -1;
}

/* conn_turn gives c one turn: what its events ask (events 0: a turn from the ready list), then
 * its calls served (LOOP_FRAMES_PER_TURN at most), their replies written, and what to watch
 * next. */
static void conn_turn(loop_thread *t, loop_conn *c, uint32_t events)
{
	int served, reading;
	if (events & EPOLLERR) {
		conn_close(t, c);
		return;
	}
	if (c->tls != NULL && !c->secured) {
		if (conn_handshake(t, c) != 1)
			return;
		events |= EPOLLIN; /* what came with the handshake's last flight waits inside TLS */
	} else if (events & EPOLLOUT) {
		if (conn_flush(t, c) != 0)
			return;
	}
	reading = conn_can_read(t, c);
	if ((events & (EPOLLIN | EPOLLHUP)) || c->tls_more) {
		/* before its greeting, a connection is read 8 bytes at a time: one that never
		 * calls holds a small buffer */
		size_t max = c->greeted ? LOOP_READ_PER_TURN : SP_HANDSHAKE_LEN - c->in.len;
		int rv = 0;
		if (reading)
			rv = c->tls == NULL
				 ? meshi_bytes_read_max(&c->in, c->fd, max)
				 : meshi_tls_conn_read_max(c->tls, &c->in, max, &c->tls_more);
		/* the caller went away, or an error; a hang-up while not reading: nobody is left
		 * to take the replies */
		if (rv < 0 || (!reading && (events & EPOLLHUP))) {
			conn_close(t, c);
			return;
		}
	}
	thread_batch(t, 1);
	served = conn_serve(t, c);
	thread_batch(t, 0);
	if (served < 0)
		return;
	/* the replies go out at once, unless more calls are served in the next turn */
	if (!conn_has_turn(t, c) || conn_out_full(t, c) || c->out.len >= LOOP_FLUSH_AT) {
		if (conn_flush(t, c) != 0)
			return;
	}
	if (conn_watch(t, c) != 0)
		return;
	if (conn_has_turn(t, c))
		ready_push(t, c);
}

/* conn_mark_dirty lists c for conns_flush_dirty: a deferred reply went into its output. */
static void conn_mark_dirty(loop_thread *t, loop_conn *c)
{
	if (c->dirty || c->closed)
		return;
	c->dirty = 1;
	meshi_stack_push(&t->dirty, &c->dirty_link);
}

/* conns_flush_dirty writes the deferred replies given this turn, one write per connection, and
 * lets the connections read again that their deferred calls held at a bound. */
static void conns_flush_dirty(loop_thread *t)
{
	meshi_slink *dirty;
	while ((dirty = meshi_stack_pop(&t->dirty)) != NULL) {
		loop_conn *c = MESHI_CONTAINER(dirty, loop_conn, dirty_link);
		c->dirty = 0;
		if (c->closed || conn_flush(t, c) != 0 || conn_watch(t, c) != 0)
			continue;
		if (conn_has_turn(t, c))
			ready_push(t, c);
	}
}

/* listener_pause stops this thread watching l for LOOP_PAUSE_MS: it is at its cap, or the
 * process is out of descriptors, and a level-triggered listener would wake the loop at once. */
static void listener_pause(loop_thread *t, loop_listener *l)
{
	if (t->paused[l->index])
		return;
	epoll_ctl(t->epfd, EPOLL_CTL_DEL, l->fd, NULL);
	t->paused[l->index] = 1;
	if (t->npaused++ == 0)
		t->resume_us = mesh_now_us() + LOOP_PAUSE_MS * 1000;
	meshi_count(&t->loop->server->counters.accept_pauses, 1);
}

/* listeners_resume watches again the listeners this thread paused. */
static void listeners_resume(loop_thread *t)
{
	meshi_server_loop *loop = t->loop;
	for (size_t k = 0; k < loop->nlisteners; k++) {
		/* EPOLLEXCLUSIVE: one thread wakes per new connection */
		struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE,
					 .data.ptr = loop->listeners[k]};
		if (!t->paused[k])
			continue;
		if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, loop->listeners[k]->fd, &ev) != 0) {
			t->resume_us = mesh_now_us() + LOOP_PAUSE_MS * 1000; /* try again later */
			continue;
		}
		t->paused[k] = 0;
		t->npaused--;
	}
}

/* conn_evictable returns the connection to close to make room on l at its cap: l's connection
 * on this thread that has been idle longest, if it completed no call for LOOP_EVICT_IDLE_US;
 * else NULL. */
static loop_conn *conn_evictable(loop_thread *t, loop_listener *l)
{
	int64_t now = mesh_now_us();
	/* least recently active first: past the first one active too recently, all are */
	for (loop_conn *c = conn_of(t->conns.head); c != NULL; c = conn_of(c->link.next)) {
		if (now - c->active_us < LOOP_EVICT_IDLE_US)
			return NULL;
		if (c->listener == l)
			return c;
	}
	return NULL;
}

/* conn_accept takes the connection fd accepted on l. */
static void conn_accept(loop_thread *t, loop_listener *l, int fd)
{
	mesh_server *s = t->loop->server;
	struct epoll_event ev = {.events = EPOLLIN};
	uint8_t greeting[SP_HANDSHAKE_LEN];
	loop_conn *c;
	int one = 1;
	if (l->framing == SP_TCP)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		close(fd);
		return;
	}
	c->watch.kind = WATCH_CONN;
	c->fd = fd;
	c->listener = l;
	c->framing = l->framing;
	c->peer_uid = -1;
	if (l->framing != SP_TCP) {
		struct ucred cred;
		socklen_t len = sizeof(cred);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
			c->peer_uid = (long)cred.uid;
	}
	if (s->opts.owner_only && (c->peer_uid < 0 || !meshi_uid_is_owner((uid_t)c->peer_uid))) {
		close(fd); /* not this process's user, nor root: no word */
		free(c);
		return;
	}
	if (l->tls && (c->tls = meshi_tls_conn_new(fd, 1, NULL)) == NULL) {
		close(fd);
		free(c);
		return;
	}
	c->accepted_us = c->active_us = mesh_now_us();
	c->events = ev.events;
	ev.data.ptr = c;
	if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
		meshi_tls_conn_free(c->tls);
		close(fd);
		free(c);
		return;
	}
	meshi_list_append(&t->conns, &c->link);
	t->nconns++;
	atomic_fetch_add(&l->conns, 1);
	meshi_count(&s->counters.connections, 1);
	meshi_count(&s->counters.accepted, 1);
	meshi_sp_handshake(greeting, SP_PROTO_REP);
	if (meshi_bytes_append(&c->out, greeting, sizeof(greeting)) != 0)
		conn_close(t, c);
	else if (c->tls != NULL)
		conn_handshake(t, c); /* the greeting goes out once the peer is verified */
	else
		conn_flush(t, c);
}

static void listener_on_event(loop_thread *t, loop_listener *l)
{
	meshi_server_loop *loop = t->loop;
	for (int n = 0; n < LOOP_ACCEPTS_PER_TURN; n++) {
		loop_conn *evict = NULL;
		int fd;
		if (atomic_load(&l->conns) >= loop->server->opts.max_conns &&
		    (evict = conn_evictable(t, l)) == NULL) {
			listener_pause(t, l);
			return;
		}
		fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			if (evict != NULL) { /* room for the newcomer, now that there is one */
				meshi_count(&loop->server->counters.evicted, 1);
				conn_close(t, evict);
			}
			conn_accept(t, l, fd);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			/* the connection waits in the backlog; a level-triggered listener would
			 * report it again at once */
			meshi_ratelog_line(
			    &loop->accept_log, loop->server,
			    "cannot accept a connection: %s: accepting paused for %d ms",
			    strerror(errno), LOOP_PAUSE_MS);
			listener_pause(t, l);
		}
		return; /* EAGAIN: another thread took it, or nothing is left */
	}
}

/* conn_has_bytes says whether c's socket holds bytes not read yet: a call arriving. */
static int conn_has_bytes(const loop_conn *c)
{
	int n = 0;
	return ioctl(c->fd, FIONREAD, &n) == 0 && n > 0;
}

/* conn_close_timed_out closes c, which held bytes (of a call, or of replies) past the idle
 * timeout: counted in *counter, and logged through log (at most once a second) as a connection
 * closed that is what why says. */
static void conn_close_timed_out(loop_thread *t, loop_conn *c, _Atomic uint64_t *counter,
				 meshi_ratelog *log, const char *why, size_t bytes)
{
	mesh_server *s = t->loop->server;
	meshi_count(counter, 1);
	meshi_ratelog_line(log, s, "closed a connection %s (%zu bytes) for %d ms", why, bytes,
			   s->opts.idle_timeout_ms);
	conn_close(t, c);
}

/* conns_sweep frees the buffers of the connections with nothing in them, and closes those past
 * the idle timeout: no call completed since the accept (the TLS handshake included), part of a
 * call held, or replies not taken, that long. */
static void conns_sweep(loop_thread *t, int64_t now)
{
	mesh_server *s = t->loop->server;
	int64_t idle_us = (int64_t)s->opts.idle_timeout_ms * 1000;
	loop_conn *next;
	for (loop_conn *c = conn_of(t->conns.head); c != NULL; c = next) {
		next = conn_of(c->link.next);
		/* an idle connection holds no buffer */
		meshi_bytes_trim(&c->in, 0);
		meshi_bytes_trim(&c->out, 0);
		if (c->tls != NULL && !c->secured && now - c->accepted_us > idle_us) {
			char why[64];
			snprintf(why, sizeof(why), "no TLS handshake within %d s",
				 s->opts.idle_timeout_ms / 1000);
			meshi_count(&s->counters.idle_closed, 1);
			conn_refuse(t, c, why);
		} else if (!c->called && now - c->accepted_us > idle_us && !conn_has_bytes(c)) {
			/* not logged: a legitimate client that dialed and has not called yet is
			 * closed too (it redials); one whose first call is arriving is spared */
			meshi_count(&s->counters.idle_closed, 1);
			conn_close(t, c);
		} else if (c->partial_us != 0 && now - c->partial_us > idle_us) {
			conn_close_timed_out(t, c, &s->counters.idle_closed, &t->loop->partial_log,
					     "that held part of a call", c->in.len);
		} else if (c->stalled_us != 0 && now - c->stalled_us > idle_us) {
			conn_close_timed_out(t, c, &s->counters.stalled, &t->loop->stall_log,
					     "whose peer took none of its replies", c->out.len);
		}
	}
}

/* loop_timeout returns how long epoll_wait may wait: not at all while connections have calls
 * left, else until the next idle check or the listeners' resumption. */
static int loop_timeout(const loop_thread *t, int64_t now)
{
	int timeout = -1;
	if (t->ready.head != NULL)
		return 0;
	if (t->nconns > 0)
		timeout = LOOP_SWEEP_MS;
	if (t->npaused > 0) {
		int64_t left_ms = (t->resume_us - now + 999) / 1000;
		if (left_ms < 0)
			left_ms = 0;
		if (timeout < 0 || left_ms < timeout)
			timeout = (int)left_ms;
	}
	return timeout;
}

/* loop_clients_turn turns the thread's loop once for its clients alone: their socket events
 * (waited for LOOP_READY_TURN_MS at most), then their timers due. */
static void loop_clients_turn(loop_thread *t)
{
	struct epoll_event events[LOOP_EVENTS];
	int n = epoll_wait(t->epfd, events, LOOP_EVENTS,
			   meshi_evloop_timeout(&t->ev, LOOP_READY_TURN_MS));
	for (int i = 0; i < n; i++) {
		loop_watch *w = events[i].data.ptr;
		if (w->kind == WATCH_CLIENT)
			meshi_evloop_event(&t->ev, w, events[i].events);
	}
	meshi_evloop_run_timers(&t->ev);
}

/* loop_ready_wait turns the thread's loop for its clients alone (their sockets and timers)
 * until thread_ready says the thread may serve. Returns 0, or -1 if the server stops first. */
static int loop_ready_wait(loop_thread *t)
{
	const mesh_server_opts *o = &t->loop->server->opts;
	while (o->thread_ready != NULL && !o->thread_ready(o->thread_arg, t->context)) {
		if (atomic_load(&t->loop->stopping))
			return -1;
		loop_clients_turn(t);
		meshi_evloop_reap(&t->ev);
	}
	return 0;
}

/* loop_watch_listeners registers every listener with the thread's epoll. Returns 0 or errno. */
static int loop_watch_listeners(loop_thread *t)
{
	meshi_server_loop *l = t->loop;
	for (size_t k = 0; k < l->nlisteners; k++) {
		/* EPOLLEXCLUSIVE: one thread wakes per new connection */
		struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE,
					 .data.ptr = l->listeners[k]};
		if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, l->listeners[k]->fd, &ev) != 0)
			return errno;
	}
	return 0;
}

/* loop_set_ready tells meshi_server_loop_start how the thread started: 1 serving, -1 failed. */
static void loop_set_ready(loop_thread *t, int ready)
{
	pthread_mutex_lock(&t->ready_lock);
	t->started = ready;
	pthread_cond_broadcast(&t->ready_cond);
	pthread_mutex_unlock(&t->ready_lock);
}

/* loop_drain turns the loop for the clients of the deferred calls left, until they are answered
 * or MESH_SERVER_DRAIN_MS passed; no new call is read. */
static void loop_drain(loop_thread *t)
{
	int64_t until = mesh_now_us() + (int64_t)MESH_SERVER_DRAIN_MS * 1000;
	if (t->deferred == 0)
		return;
	/* the wake-up and the listeners would report at every turn */
	epoll_ctl(t->epfd, EPOLL_CTL_DEL, t->wakefd, NULL);
	for (size_t k = 0; k < t->loop->nlisteners; k++)
		epoll_ctl(t->epfd, EPOLL_CTL_DEL, t->loop->listeners[k]->fd, NULL);
	while (t->deferred > 0 && mesh_now_us() < until) {
		loop_clients_turn(t);
		conns_flush_dirty(t);
		conns_reap(t);
		meshi_evloop_reap(&t->ev);
	}
}

static void *loop_thread_main(void *arg)
{
	loop_thread *t = arg;
	const mesh_server_opts *o = &t->loop->server->opts;
	struct epoll_event events[LOOP_EVENTS];
	if (o->thread_start != NULL)
		t->context = o->thread_start(o->thread_arg, &t->ev.base);
	if (loop_ready_wait(t) != 0 || loop_watch_listeners(t) != 0) {
		loop_set_ready(t, -1);
		goto out;
	}
	loop_set_ready(t, 1);
	t->swept_us = mesh_now_us();
	while (!atomic_load(&t->loop->stopping)) {
		int n = epoll_wait(t->epfd, events, LOOP_EVENTS,
				   meshi_evloop_timeout(&t->ev, loop_timeout(t, mesh_now_us())));
		int turns = t->nready;
		int64_t now;
		for (int i = 0; i < n; i++) {
			loop_watch *w = events[i].data.ptr;
			if (w->kind == WATCH_CONN) {
				loop_conn *c = (loop_conn *)w;
				if (c->closed)
					continue;   /* by another's event this turn */
				ready_remove(t, c); /* this is its turn */
				conn_turn(t, c, events[i].events);
			} else if (w->kind == WATCH_LISTENER) {
				listener_on_event(t, (loop_listener *)w);
			} else if (w->kind == WATCH_CLIENT) {
				meshi_evloop_event(&t->ev, w, events[i].events);
			}
		}
		/* the connections that had calls left at the start of this turn, one turn each */
		for (; turns > 0 && t->ready.head != NULL; turns--) {
			loop_conn *c = MESHI_CONTAINER(t->ready.head, loop_conn, ready_link);
			ready_remove(t, c);
			conn_turn(t, c, 0);
		}
		/* the clients' timers (a deferred call's work due at the end of the turn among
		 * them), then the replies deferred calls gave */
		meshi_evloop_run_timers(&t->ev);
		conns_flush_dirty(t);
		now = mesh_now_us();
		if (t->npaused > 0 && now >= t->resume_us)
			listeners_resume(t);
		if (now - t->swept_us >= LOOP_SWEEP_MS * 1000) {
			t->swept_us = now;
			conns_sweep(t, now);
		}
		conns_reap(t);
		meshi_evloop_reap(&t->ev);
	}
	loop_drain(t);
out:
	if (o->thread_stop != NULL)
		o->thread_stop(o->thread_arg, t->context);
	conns_flush_dirty(t);
	meshi_evloop_reap(&t->ev);
	return NULL;
}

int meshi_server_loop_new(meshi_server_loop **out, mesh_server *server)
{
	meshi_server_loop *l = calloc(1, sizeof(*l));
	if (l == NULL)
		return ENOMEM;
	l->server = server;
	l->nthreads = server->opts.loops > 0 ? server->opts.loops : 1;
	l->threads = calloc((size_t)l->nthreads, sizeof(*l->threads));
	if (l->threads == NULL) {
		free(l);
		return ENOMEM;
	}
	for (int i = 0; i < l->nthreads; i++) {
		l->threads[i].loop = l;
		l->threads[i].epfd = l->threads[i].wakefd = -1;
	}
	for (int i = 0; i < l->nthreads; i++) {
		loop_thread *t = &l->threads[i];
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &t->wake};
		t->wake.kind = WATCH_WAKE;
		t->shard = meshi_stats_shard_new(&server->stats);
		pthread_mutex_init(&t->ready_lock, NULL);
		pthread_cond_init(&t->ready_cond, NULL);
		if (t->shard == NULL) {
			meshi_server_loop_free(l);
			return ENOMEM;
		}
		t->epfd = epoll_create1(EPOLL_CLOEXEC);
		t->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (t->epfd < 0 || t->wakefd < 0 ||
		    epoll_ctl(t->epfd, EPOLL_CTL_ADD, t->wakefd, &ev) != 0) {
			int err = errno;
			meshi_server_loop_free(l);
			return err;
		}
		meshi_evloop_init(&t->ev, t->epfd, WATCH_CLIENT);
	}
	*out = l;
	return 0;
}

/* listen_on binds and listens at a; a stale ipc socket file nobody listens on is replaced.
 * owner_only makes an ipc socket file its owner's alone (0600). */
static int listen_on(const meshi_addr *a, int owner_only, int *out)
{
	int fd, one = 1, err;
	fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno;
	if (a->framing == SP_TCP)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&a->ss, a->len) != 0) {
		int probe, alive;
		err = errno;
		if (err != EADDRINUSE || a->framing != SP_IPC)
			goto out_close;
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		alive = probe >= 0 && connect(probe, (const struct sockaddr *)&a->ss, a->len) == 0;
		if (probe >= 0)
			close(probe);
		if (alive)
			goto out_close;
		unlink(a->path);
		if (bind(fd, (const struct sockaddr *)&a->ss, a->len) != 0) {
			err = errno;
			goto out_close;
		}
	}
	/* any local process may connect: who it is (its uid) and what it may call is the
	 * server's decision (mesh_server_set_policy), not the socket file's; an owner-only
	 * server's socket is its owner's (and root's) */
	if (a->framing == SP_IPC && a->path != NULL)
		chmod(a->path, owner_only ? 0600 : 0666);
	if (listen(fd, SOMAXCONN) != 0) {
		err = errno;
		goto out_close;
	}
	*out = fd;
	return 0;

out_close:
	close(fd);
	return err;
}

int meshi_server_loop_listen(meshi_server_loop *l, const char *url)
{
	loop_listener *listener, **grown;
	meshi_addr a;
	int fd = -1, err;
	if ((err = meshi_addr_parse(url, 1, &a)) != 0)
		return err;
	if (a.tls && !mesh_tls_enabled())
		return ENOKEY;
	if (l->server->opts.owner_only && a.framing != SP_IPC)
		return EINVAL; /* only ipc:// tells who the peer is */
	if ((err = listen_on(&a, l->server->opts.owner_only, &fd)) != 0)
		return err;
	listener = calloc(1, sizeof(*listener));
	grown = realloc(l->listeners, (l->nlisteners + 1) * sizeof(*grown));
	if (grown != NULL)
		l->listeners = grown;
	if (listener == NULL || grown == NULL ||
	    (a.path != NULL && (listener->unlink_path = strdup(a.path)) == NULL)) {
		free(listener);
		close(fd);
		if (a.path != NULL)
			unlink(a.path);
		return ENOMEM;
	}
	listener->watch.kind = WATCH_LISTENER;
	listener->fd = fd;
	listener->index = l->nlisteners;
	listener->framing = a.framing;
	listener->tls = a.tls;
	l->listeners[l->nlisteners++] = listener;
	return 0;
}

int meshi_server_loop_start(meshi_server_loop *l)
{
	int failed = 0;
	for (int i = 0; i < l->nthreads; i++) {
		loop_thread *t = &l->threads[i];
		if ((t->paused = calloc(l->nlisteners + 1, 1)) == NULL)
			return ENOMEM;
	}
	for (int i = 0; i < l->nthreads; i++) {
		int err =
		    pthread_create(&l->threads[i].thread, NULL, loop_thread_main, &l->threads[i]);
		if (err != 0) {
			meshi_server_loop_stop(l);
			return err;
		}
		l->threads[i].running = 1;
	}
	/* each thread serves once its clients are ready (thread_ready) */
	for (int i = 0; i < l->nthreads; i++) {
		loop_thread *t = &l->threads[i];
		pthread_mutex_lock(&t->ready_lock);
		while (t->started == 0)
			pthread_cond_wait(&t->ready_cond, &t->ready_lock);
		failed |= t->started < 0;
		pthread_mutex_unlock(&t->ready_lock);
	}
	if (failed) {
		meshi_server_loop_stop(l);
		return EIO;
	}
	return 0;
}

void meshi_server_loop_stop(meshi_server_loop *l)
{
	if (l == NULL || atomic_exchange(&l->stopping, 1))
		return;
	for (int i = 0; i < l->nthreads; i++) {
		uint64_t one = 1;
		if (write(l->threads[i].wakefd, &one, sizeof(one)) < 0) {
			/* the counter is full: the thread is awake anyway */
		}
	}
	for (int i = 0; i < l->nthreads; i++) {
		loop_thread *t = &l->threads[i];
		if (t->running)
			pthread_join(t->thread, NULL);
		t->running = 0;
		while (t->conns.head != NULL)
			conn_close(t, conn_of(t->conns.head));
		conns_reap(t);
		for (meshi_slink *spare; (spare = meshi_stack_pop(&t->spares)) != NULL;)
			free(MESHI_CONTAINER(spare, loop_served, spare_link));
		t->nspares = 0;
	}
	for (size_t k = 0; k < l->nlisteners; k++) {
		close(l->listeners[k]->fd);
		if (l->listeners[k]->unlink_path != NULL)
			unlink(l->listeners[k]->unlink_path);
	}
}

void meshi_server_loop_free(meshi_server_loop *l)
{
	if (l == NULL)
		return;
	meshi_server_loop_stop(l);
	for (int i = 0; i < l->nthreads; i++) {
		if (l->threads[i].epfd >= 0)
			close(l->threads[i].epfd);
		if (l->threads[i].wakefd >= 0)
			close(l->threads[i].wakefd);
		free(l->threads[i].paused);
		meshi_evloop_fini(&l->threads[i].ev);
		pthread_mutex_destroy(&l->threads[i].ready_lock);
		pthread_cond_destroy(&l->threads[i].ready_cond);
	}
	for (size_t k = 0; k < l->nlisteners; k++) {
		free(l->listeners[k]->unlink_path);
		free(l->listeners[k]);
	}
	free(l->listeners);
	free(l->threads);
	free(l);
}
