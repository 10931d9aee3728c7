/* server_loop.c: the event-loop transport of a server: SP REP over ipc://, tcp:// and tls+tcp://
 * on epoll.
 *
 * Each loop thread reads every call a connection has sent, serves them in order, and writes all
 * their replies with one write: no hand-off between threads on the way. The wire is nng's, so
 * nng REQ sockets call these servers unchanged. On tls+tcp:// a connection first completes a
 * mutual TLS handshake (tls.h) on the loop; until then nothing of SP is read or written, and a
 * caller without a certificate signed by the mesh CA gets no answer at all. */
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
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "addr.h"
#include "bytes.h"
#include "server_internal.h"
#include "sp.h"
#include "tls.h"

#define LOOP_MAX_FRAME (64u << 20)
#define LOOP_EVENTS    64
/* a tls+tcp:// connection still without a verified peer after this long is closed */
#define LOOP_HANDSHAKE_US (10 * 1000000LL)
enum { WATCH_LISTENER, WATCH_CONN, WATCH_WAKE };

/* loop_watch: the first member of everything registered with epoll. */
typedef struct loop_watch {
	int kind;
} loop_watch;

typedef struct loop_listener {
	loop_watch watch;
	int fd;
	meshi_sp_framing framing;
	int tls;	   /* tls+tcp:// */
	char *unlink_path; /* the ipc socket file to remove at the end */
} loop_listener;

typedef struct loop_thread loop_thread;

/* loop_conn: one caller's connection. */
typedef struct loop_conn {
	loop_watch watch;
	int fd;
	meshi_sp_framing framing;
	int greeted;	     /* the caller's greeting arrived and named REQ */
	long peer_uid;	     /* SO_PEERCRED's uid for ipc://; -1 for tcp:// */
	int writing;	     /* EPOLLOUT is armed */
	meshi_tls_conn *tls; /* tls+tcp://: the TLS state (owned); NULL for plain streams */
	int secured;	     /* tls+tcp://: the handshake is done, the peer verified */
	int64_t accepted_us; /* tls+tcp://: when it was accepted, for the handshake's time limit */
	meshi_bytes in;
	meshi_bytes out;
	struct loop_conn *prev, *next;
} loop_conn;

/* conn_sink: writes a reply envelope straight into the connection's output, framed. */
typedef struct conn_sink {
	meshi_dispatch_sink base;
	loop_conn *conn;
	const uint8_t *backtrace;
	size_t backtrace_len;
} conn_sink;

struct loop_thread {
	meshi_server_loop *loop;
	int epfd;
	loop_watch wake;
	int wakefd;
	pthread_t thread;
	int running;
	loop_conn *conns;
	meshi_server_call call;
	conn_sink sink;
	int64_t refusal_logged_us;  /* when a refused tls+tcp connection was last logged */
	int handshaking;	    /* tls+tcp:// connections whose handshake is not done */
	unsigned refusals_unlogged; /* refused since, not logged */
};

struct meshi_server_loop {
	mesh_server *server;
	loop_listener **listeners;
	size_t nlisteners;
	loop_thread *threads;
	int nthreads;
	atomic_int stopping;
};

static uint8_t *conn_sink_reserve(meshi_dispatch_sink *sink, size_t n)
{
	conn_sink *s = (conn_sink *)sink;
	loop_conn *c = s->conn;
	size_t head = meshi_sp_frame_header_len(c->framing);
	uint8_t *p = meshi_bytes_reserve(&c->out, head + s->backtrace_len + n);
	if (p == NULL)
		return NULL;
	meshi_sp_frame_header(p, c->framing, s->backtrace_len + n);
	memcpy(p + head, s->backtrace, s->backtrace_len);
	meshi_bytes_commit(&c->out, head + s->backtrace_len + n);
	return p + head + s->backtrace_len;
}

static void conn_close(loop_thread *t, loop_conn *c)
{
	epoll_ctl(t->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	if (c->tls != NULL && !c->secured)
		t->handshaking--;
	meshi_tls_conn_free(c->tls);
	close(c->fd);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		t->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	meshi_bytes_fini(&c->in);
	meshi_bytes_fini(&c->out);
	free(c);
}

static int conn_set_events(loop_thread *t, loop_conn *c, int writing)
{
	struct epoll_event ev = {.events = EPOLLIN | (writing ? EPOLLOUT : 0), .data.ptr = c};
	if (c->writing == writing)
		return 0;
	c->writing = writing;
	return epoll_ctl(t->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* conn_flush writes what the connection has to send. Returns 0, or -1 if it was closed. */
static int conn_flush(loop_thread *t, loop_conn *c)
{
	int rv = c->tls == NULL ? meshi_bytes_write_to(&c->out, c->fd)
				: meshi_tls_conn_write(c->tls, &c->out);
	if (rv < 0 || conn_set_events(t, c, rv == 1) != 0) {
		conn_close(t, c);
		return -1;
	}
	return 0;
}

/* conn_serve serves every whole call in the input. Returns 0, or -1 if it closed the
 * connection (a malformed stream). */
static int conn_serve(loop_thread *t, loop_conn *c)
{
	const uint8_t *payload;
	size_t payload_len, consumed;
	int rv;
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
	while ((rv = meshi_sp_frame_next(meshi_bytes_head(&c->in), c->in.len, c->framing,
					 LOOP_MAX_FRAME, &payload, &payload_len, &consumed)) == 1) {
		int backtrace = meshi_sp_rep_split(payload, payload_len);
		/* A request without a request id is dropped, as nng's REP drops it. */
		if (backtrace >= 0) {
			t->sink.conn = c;
			t->sink.backtrace = payload;
			t->sink.backtrace_len = (size_t)backtrace;
			t->call.peer_uid = c->peer_uid;
			t->call.peer_name = c->tls != NULL ? meshi_tls_conn_peer(c->tls) : NULL;
			t->call.peer_unproven = c->framing == SP_TCP && c->tls == NULL &&
						!t->loop->server->opts.insecure;
			meshi_dispatch_call(t->loop->server, &t->call, &t->sink.base,
					    payload + backtrace, payload_len - (size_t)backtrace);
		}
		meshi_bytes_consume(&c->in, consumed);
	}
	if (rv < 0) {
		conn_close(t, c);
		return -1;
	}
	return 0;
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
		if (conn_set_events(t, c, meshi_tls_conn_wants_write(c->tls)) != 0) {
			conn_close(t, c);
			return -1;
		}
		return 0;
	}
	c->secured = 1;
	t->handshaking--;
	return conn_flush(t, c) == 0 ? 1 : -1;
}

static void conn_on_event(loop_thread *t, loop_conn *c, uint32_t events)
{
	int rv;
	if (c->tls != NULL && !c->secured) {
		if (conn_handshake(t, c) != 1)
			return;
		events |= EPOLLIN; /* what came with the handshake's last flight waits inside TLS */
	} else if (events & EPOLLOUT) {
		if (conn_flush(t, c) != 0)
			return;
	}
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	rv = c->tls == NULL ? meshi_bytes_read_from(&c->in, c->fd)
			    : meshi_tls_conn_read(c->tls, &c->in);
	if (rv < 0) {
		conn_close(t, c); /* the caller went away, or an error */
		return;
	}
	if (conn_serve(t, c) != 0)
		return;
	conn_flush(t, c);
}

static void listener_on_event(loop_thread *t, loop_listener *l)
{
	for (;;) {
		struct epoll_event ev = {.events = EPOLLIN};
		uint8_t greeting[SP_HANDSHAKE_LEN];
		loop_conn *c;
		int one = 1;
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return; /* EAGAIN (another thread took it), or an error to retry later */
		if (l->framing == SP_TCP)
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c = calloc(1, sizeof(*c));
		if (c == NULL) {
			close(fd);
			continue;
		}
		c->watch.kind = WATCH_CONN;
		c->fd = fd;
		c->framing = l->framing;
		c->peer_uid = -1;
		if (l->framing != SP_TCP) {
			struct ucred cred;
			socklen_t len = sizeof(cred);
			if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
				c->peer_uid = (long)cred.uid;
		}
		if (t->loop->server->opts.owner_only &&
		    (c->peer_uid < 0 || !meshi_uid_is_owner((uid_t)c->peer_uid))) {
			close(fd); /* not this process's user, nor root: no word */
			free(c);
			continue;
		}
		if (l->tls && (c->tls = meshi_tls_conn_new(fd, 1, NULL)) == NULL) {
			close(fd);
			free(c);
			continue;
		}
		c->accepted_us = mesh_now_us();
		ev.data.ptr = c;
		if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
			meshi_tls_conn_free(c->tls);
			close(fd);
			free(c);
			continue;
		}
		c->next = t->conns;
		if (t->conns != NULL)
			t->conns->prev = c;
		t->conns = c;
		if (c->tls != NULL)
			t->handshaking++;
		meshi_sp_handshake(greeting, SP_PROTO_REP);
		if (meshi_bytes_append(&c->out, greeting, sizeof(greeting)) != 0)
			conn_close(t, c);
		else if (c->tls != NULL)
			conn_handshake(t, c); /* the greeting goes out once the peer is verified */
		else
			conn_flush(t, c);
	}
}

/* handshakes_expire closes the tls+tcp:// connections that have not shown a verified
 * certificate within LOOP_HANDSHAKE_US of their accept: a silent or slow peer holds no TLS state
 * for long. */
static void handshakes_expire(loop_thread *t)
{
	int64_t now = mesh_now_us();
	loop_conn *next;
	for (loop_conn *c = t->conns; c != NULL; c = next) {
		next = c->next;
		if (c->tls != NULL && !c->secured && now - c->accepted_us > LOOP_HANDSHAKE_US)
			conn_refuse(t, c, "no TLS handshake within 10 s");
	}
}

static void *loop_thread_main(void *arg)
{
	loop_thread *t = arg;
	struct epoll_event events[LOOP_EVENTS];
	while (!atomic_load(&t->loop->stopping)) {
		/* with handshakes under way, wake each second to end those past their time */
		int n = epoll_wait(t->epfd, events, LOOP_EVENTS, t->handshaking > 0 ? 1000 : -1);
		for (int i = 0; i < n; i++) {
			loop_watch *w = events[i].data.ptr;
			if (w->kind == WATCH_CONN)
				conn_on_event(t, (loop_conn *)w, events[i].events);
			else if (w->kind == WATCH_LISTENER)
				listener_on_event(t, (loop_listener *)w);
		}
		if (t->handshaking > 0)
			handshakes_expire(t);
	}
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
		t->sink.base.reserve = conn_sink_reserve;
		t->call.shard = meshi_stats_shard_new(&server->stats);
		if (t->call.shard == NULL) {
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
	listener->framing = a.framing;
	listener->tls = a.tls;
	l->listeners[l->nlisteners++] = listener;
	return 0;
}

int meshi_server_loop_start(meshi_server_loop *l)
{
	for (int i = 0; i < l->nthreads; i++) {
		loop_thread *t = &l->threads[i];
		for (size_t k = 0; k < l->nlisteners; k++) {
			/* EPOLLEXCLUSIVE: one thread wakes per new connection */
			struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE,
						 .data.ptr = l->listeners[k]};
			if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, l->listeners[k]->fd, &ev) != 0)
				return errno;
		}
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
		while (t->conns != NULL)
			conn_close(t, t->conns);
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
	}
	for (size_t k = 0; k < l->nlisteners; k++) {
		free(l->listeners[k]->unlink_path);
		free(l->listeners[k]);
	}
	free(l->listeners);
	free(l->threads);
	free(l);
}
