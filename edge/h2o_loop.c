/* h2o_loop.c: mesh_loop on h2o 2.2's evloop: sockets watched by h2o, timers on h2o timeouts.
 *
 * h2o 2.2 timeouts have fixed durations, so a timer goes into the longest of a few fixed
 * durations that is not longer than asked: it may fire early, never late, and libmesh checks
 * the clock when it fires.
 *
 * Replies are taken between h2o's events too (loop_poll), in two cases:
 * - h2o_mesh_loop_poll, which the edge calls while it serves thousands of connections: h2o's loop
 *   reports a busy socket once per round of every ready one, far too seldom for a service's
 *   replies, whose calls hold its max_inflight slots until they are read.
 * - The reply pump: h2o stops reading an HTTP/1.1 connection while its request is answered, and
 *   the next turn's first step applies that to epoll (EPOLL_CTL_DEL), to be undone
 *   (EPOLL_CTL_ADD) in the turn that sends the answer: two system calls per proxied request,
 *   which a request answered within its own turn does not pay. So when a client's turn timer (a
 *   0 ms timer: the calls of the turn written out) fires, the pump hands over the replies
 *   already there in the same turn. It does not wait for more: waiting 100 us cost 13 % of
 *   GET /api/users/1's req/s at 64 connections (wrk), the edge idle while its clients' next
 *   requests queued (tests/bench/run, side by side). */
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <time.h>

#include <h2o.h>
#include <h2o/socket/evloop.h>

#include "h2o_loop.h"

static const int bucket_ms[] = {0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000};
#define NBUCKETS (sizeof(bucket_ms) / sizeof(bucket_ms[0]))

/* The most sockets h2o_mesh_loop_poll looks at in one poll(2); more are taken in turns. */
#define POLL_MAX 64

typedef struct watch_handle watch_handle;

struct h2o_mesh_loop {
	mesh_loop base; /* first: the ops get the wrapper back from it */
	h2o_evloop_t *loop;
	h2o_timeout_t buckets[NBUCKETS];
	watch_handle *watched;	 /* every socket watched, for h2o_mesh_loop_poll */
	watch_handle *unwatched; /* unwatched while a poll ran its callbacks: freed after it */
	int polling;
	int in_cb;	  /* a mesh callback runs: a poll now would re-enter its client */
	size_t poll_next; /* where the next poll starts when more than POLL_MAX are watched */
	size_t nwatched;
	h2o_timeout_entry_t pump; /* in buckets[0], after the turn timers */
};

/* watch_handle: one socket watched for a mesh client. */
struct watch_handle {
	h2o_mesh_loop *l;
	h2o_socket_t *sock;
	int fd;
	void (*cb)(void *arg, int events);
	void *arg;
	int write_pending;
	int gone; /* unwatched during a poll; on the unwatched list */
	watch_handle *prev, *next;
};

struct mesh_timer {
	h2o_timeout_entry_t entry; /* first: h2o hands it back */
	h2o_mesh_loop *l;
	void (*cb)(void *arg);
	void *arg;
};

static void on_readable(h2o_socket_t *sock, const char *err)
{
	watch_handle *h = sock->data;
	h2o_mesh_loop *l = h->l;
	l->in_cb++;
	h->cb(h->arg, MESH_IO_READ); /* errors show up in the client's own recv */
	l->in_cb--;
}

static void on_writable(h2o_socket_t *sock, const char *err)
{
	watch_handle *h = sock->data;
	h2o_mesh_loop *l = h->l;
	h->write_pending = 0;
	l->in_cb++;
	h->cb(h->arg, MESH_IO_WRITE);
	l->in_cb--;
}

static void *loop_watch(mesh_loop *loop, int fd, void (*cb)(void *, int), void *arg)
{
	h2o_mesh_loop *l = (h2o_mesh_loop *)loop;
	watch_handle *h = calloc(1, sizeof(*h));
	if (h == NULL)
		return NULL;
	h->l = l;
	h->cb = cb;
	h->arg = arg;
	h->fd = fd;
	h->sock = h2o_evloop_socket_create(l->loop, fd, H2O_SOCKET_FLAG_DONT_READ);
	h->sock->data = h;
	h2o_socket_read_start(h->sock, on_readable);
	h->next = l->watched;
	if (l->watched != NULL)
		l->watched->prev = h;
	l->watched = h;
	l->nwatched++;
	return h;
}

static void loop_want_write(mesh_loop *loop, void *handle)
{
	watch_handle *h = handle;
	if (h->write_pending)
		return;
	h->write_pending = 1;
	h2o_socket_notify_write(h->sock, on_writable);
}

static void loop_unwatch(mesh_loop *loop, void *handle)
{
	h2o_mesh_loop *l = (h2o_mesh_loop *)loop;
	watch_handle *h = handle;
	h2o_socket_read_stop(h->sock);
	h->sock->data = NULL;
	h2o_socket_close(h->sock); /* closes the fd; h2o frees the socket once it is safe */
	if (h->prev != NULL)
		h->prev->next = h->next;
	else
		l->watched = h->next;
	if (h->next != NULL)
		h->next->prev = h->prev;
	l->nwatched--;
	if (l->polling) { /* the poll may still hold it: freed when the poll ends */
		h->gone = 1;
		h->prev = NULL;
		h->next = l->unwatched;
		l->unwatched = h;
		return;
	}
	free(h);
}

static void on_timeout(h2o_timeout_entry_t *entry)
{
	mesh_timer *t = (mesh_timer *)entry;
	h2o_mesh_loop *l = t->l;
	l->in_cb++;
	t->cb(t->arg);
	l->in_cb--;
}

static mesh_timer *loop_timer_new(mesh_loop *loop, void (*cb)(void *), void *arg)
{
	mesh_timer *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	t->entry.cb = on_timeout;
	t->l = (h2o_mesh_loop *)loop;
	t->cb = cb;
	t->arg = arg;
	return t;
}

static void loop_timer_arm(mesh_loop *loop, mesh_timer *t, int ms)
{
	h2o_mesh_loop *l = (h2o_mesh_loop *)loop;
	size_t b = 0;
	while (b + 1 < NBUCKETS && bucket_ms[b + 1] <= ms)
		b++;
	if (h2o_timeout_is_linked(&t->entry))
		h2o_timeout_unlink(&t->entry);
	h2o_timeout_link(l->loop, &l->buckets[b], &t->entry);
	/* a turn's calls go out: the pump follows them */
	if (b == 0 && l->nwatched > 0 && l->nwatched <= POLL_MAX) {
		if (h2o_timeout_is_linked(&l->pump))
			h2o_timeout_unlink(&l->pump);
		h2o_timeout_link(l->loop, &l->buckets[0], &l->pump);
	}
}

static void loop_timer_stop(mesh_loop *loop, mesh_timer *t)
{
	if (h2o_timeout_is_linked(&t->entry))
		h2o_timeout_unlink(&t->entry);
}

static void loop_timer_free(mesh_loop *loop, mesh_timer *t)
{
	loop_timer_stop(loop, t);
	free(t);
}

static const mesh_loop_ops h2o_ops = MESH_LOOP_OPS_INIT(loop_);

/* loop_poll has the clients of the watched sockets with something to read read it now, without
 * waiting; returns how many sockets it had read. See h2o_mesh_loop_poll. */
static int loop_poll(h2o_mesh_loop *l)
{
	struct timespec wait = {0, 0};
	struct pollfd fds[POLL_MAX];
	watch_handle *hs[POLL_MAX];
	size_t n = 0, total = 0, skip;
	int ran = 0;
	if (l == NULL || l->polling || l->in_cb > 0 || l->watched == NULL)
		return 0;
	for (watch_handle *h = l->watched; h != NULL; h = h->next)
		total++;
	skip = total > POLL_MAX ? l->poll_next % total : 0;
	for (watch_handle *h = l->watched; h != NULL && n < POLL_MAX; h = h->next) {
		if (skip > 0) {
			skip--;
			continue;
		}
		hs[n] = h;
		fds[n++] = (struct pollfd){.fd = h->fd, .events = POLLIN};
	}
	l->poll_next += n;
	if (ppoll(fds, n, &wait, NULL) <= 0)
		return 0;
	l->polling = 1;
	l->in_cb++;
	for (size_t i = 0; i < n; i++) {
		if (fds[i].revents == 0 || hs[i]->gone)
			continue;
		hs[i]->cb(hs[i]->arg, MESH_IO_READ);
		ran++;
	}
	l->in_cb--;
	l->polling = 0;
	while (l->unwatched != NULL) {
		watch_handle *h = l->unwatched;
		l->unwatched = h->next;
		free(h);
	}
	return ran;
}

int h2o_mesh_loop_poll(h2o_mesh_loop *l)
{
	return loop_poll(l);
}

/* on_pump hands the clients' sockets with replies to read to their clients now, in this turn;
 * it runs only while at most POLL_MAX sockets are watched. */
static void on_pump(h2o_timeout_entry_t *entry)
{
	loop_poll((h2o_mesh_loop *)((char *)entry - offsetof(h2o_mesh_loop, pump)));
}

h2o_mesh_loop *h2o_mesh_loop_new(h2o_evloop_t *loop)
{
	h2o_mesh_loop *l = calloc(1, sizeof(*l));
	if (l == NULL)
		return NULL;
	l->base.ops = &h2o_ops;
	l->loop = loop;
	l->pump.cb = on_pump;
	for (size_t b = 0; b < NBUCKETS; b++)
		h2o_timeout_init(loop, &l->buckets[b], (uint64_t)bucket_ms[b]);
	return l;
}

mesh_loop *h2o_mesh_loop_get(h2o_mesh_loop *l)
{
	return &l->base;
}

void h2o_mesh_loop_free(h2o_mesh_loop *l)
{
	if (l == NULL)
		return;
	if (h2o_timeout_is_linked(&l->pump))
		h2o_timeout_unlink(&l->pump);
	for (size_t b = 0; b < NBUCKETS; b++)
		h2o_timeout_dispose(l->loop, &l->buckets[b]);
	free(l);
}
