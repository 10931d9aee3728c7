/* h2o_loop.c: mesh_loop on h2o 2.2's evloop: sockets watched by h2o, timers on h2o timeouts.
 *
 * h2o 2.2 timeouts have fixed durations, so a timer goes into the longest of a few fixed
 * durations that is not longer than asked: it may fire early, never late, and libmesh checks
 * the clock when it fires.
 *
 * The reply pump: h2o stops reading an HTTP/1.1 connection while its request is answered, and
 * the next turn's first step applies that to epoll (EPOLL_CTL_DEL), to be undone (EPOLL_CTL_ADD)
 * in the turn that sends the answer: two system calls per proxied request, which a request
 * answered within its own turn does not pay. So when a client's turn timer (a 0 ms timer: the
 * calls of the turn written out) fires, the pump waits a little (LOOP_PUMP_WAIT_US at most) for
 * the replies on the clients' sockets and hands them over in the same turn. */
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <time.h>

#include <h2o.h>
#include <h2o/socket/evloop.h>

#include "h2o_loop.h"

static const int bucket_ms[] = {0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000};
#define NBUCKETS (sizeof(bucket_ms) / sizeof(bucket_ms[0]))

/* how long the reply pump waits, and for how many sockets at most */
#define LOOP_PUMP_WAIT_US 100
#define LOOP_PUMP_MAX	  64

/* watch_handle: one socket watched for a mesh client. */
typedef struct watch_handle {
	h2o_socket_t *sock;
	int fd;
	void (*cb)(void *arg, int events);
	void *arg;
	int write_pending;
	struct watch_handle *prev, *next; /* the loop's */
} watch_handle;

struct h2o_mesh_loop {
	mesh_loop base; /* first: the ops get the wrapper back from it */
	h2o_evloop_t *loop;
	h2o_timeout_t buckets[NBUCKETS];
	watch_handle *handles;
	int nhandles;
	h2o_timeout_entry_t pump; /* in buckets[0], after the turn timers */
};

struct mesh_timer {
	h2o_timeout_entry_t entry; /* first: h2o hands it back */
	void (*cb)(void *arg);
	void *arg;
};

static void on_readable(h2o_socket_t *sock, const char *err)
{
	watch_handle *h = sock->data;
	h->cb(h->arg, MESH_IO_READ); /* errors show up in the client's own recv */
}

static void on_writable(h2o_socket_t *sock, const char *err)
{
	watch_handle *h = sock->data;
	h->write_pending = 0;
	h->cb(h->arg, MESH_IO_WRITE);
}

static void *loop_watch(mesh_loop *loop, int fd, void (*cb)(void *, int), void *arg)
{
	h2o_mesh_loop *l = (h2o_mesh_loop *)loop;
	watch_handle *h = calloc(1, sizeof(*h));
	if (h == NULL)
		return NULL;
	h->cb = cb;
	h->arg = arg;
	h->fd = fd;
	h->sock = h2o_evloop_socket_create(l->loop, fd, H2O_SOCKET_FLAG_DONT_READ);
	h->sock->data = h;
	h2o_socket_read_start(h->sock, on_readable);
	h->next = l->handles;
	if (h->next != NULL)
		h->next->prev = h;
	l->handles = h;
	l->nhandles++;
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
	if (h->prev != NULL)
		h->prev->next = h->next;
	else
		l->handles = h->next;
	if (h->next != NULL)
		h->next->prev = h->prev;
	l->nhandles--;
	h2o_socket_read_stop(h->sock);
	h->sock->data = NULL;
	h2o_socket_close(h->sock); /* closes the fd; h2o frees the socket once it is safe */
	free(h);
}

static void on_timeout(h2o_timeout_entry_t *entry)
{
	mesh_timer *t = (mesh_timer *)entry;
	t->cb(t->arg);
}

static mesh_timer *loop_timer_new(mesh_loop *loop, void (*cb)(void *), void *arg)
{
	mesh_timer *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	t->entry.cb = on_timeout;
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
	if (b == 0 && l->nhandles > 0 && l->nhandles <= LOOP_PUMP_MAX) {
		if (h2o_timeout_is_linked(&l->pump))
			h2o_timeout_unlink(&l->pump);
		h2o_timeout_link(l->loop, &l->buckets[0], &l->pump);
	}
}

/* on_pump waits at most LOOP_PUMP_WAIT_US for replies on the clients' sockets, and hands those
 * readable to their clients now, in this turn. */
static void on_pump(h2o_timeout_entry_t *entry)
{
	h2o_mesh_loop *l = (h2o_mesh_loop *)((char *)entry - offsetof(h2o_mesh_loop, pump));
	struct pollfd fds[LOOP_PUMP_MAX];
	watch_handle *hs[LOOP_PUMP_MAX];
	struct timespec wait = {0, LOOP_PUMP_WAIT_US * 1000};
	nfds_t n = 0;
	for (watch_handle *h = l->handles; h != NULL && n < LOOP_PUMP_MAX; h = h->next) {
		fds[n] = (struct pollfd){.fd = h->fd, .events = POLLIN};
		hs[n++] = h;
	}
	if (n == 0 || ppoll(fds, n, &wait, NULL) <= 0)
		return;
	for (nfds_t i = 0; i < n; i++) {
		/* a callback may unwatch another handle: only those still watched are called */
		watch_handle *h;
		if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		for (h = l->handles; h != NULL && h != hs[i]; h = h->next)
			;
		if (h != NULL)
			h->cb(h->arg, MESH_IO_READ);
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
