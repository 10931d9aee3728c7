/* epoll_loop.c: mesh_epoll, a minimal mesh_loop for callers without an event loop of their own. */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "mesh.h"

#define EPOLL_EVENTS 64

/* epoll_handle: one watched fd. */
typedef struct epoll_handle {
	int fd;
	int wants_write;
	void (*cb)(void *arg, int events);
	void *arg;
	struct epoll_handle *next_closed; /* freed at the end of the turn */
} epoll_handle;

struct mesh_timer {
	void (*cb)(void *arg);
	void *arg;
	int64_t due_us;
	int armed;
	struct mesh_timer *next; /* in the loop's list of timers */
};

struct mesh_epoll {
	mesh_loop base; /* first: the ops get the loop back from it */
	int epfd;
	mesh_timer *timers;
	epoll_handle *closed;
};

static void *epoll_watch(mesh_loop *loop, int fd, void (*cb)(void *, int), void *arg)
{
	mesh_epoll *e = (mesh_epoll *)loop;
	epoll_handle *h = calloc(1, sizeof(*h));
	struct epoll_event ev = {.events = EPOLLIN};
	if (h == NULL) {
		close(fd);
		return NULL;
	}
	h->fd = fd;
	h->cb = cb;
	h->arg = arg;
	ev.data.ptr = h;
	if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
		close(fd);
		free(h);
		return NULL;
	}
	return h;
}

static void epoll_want_write(mesh_loop *loop, void *handle)
{
	mesh_epoll *e = (mesh_epoll *)loop;
	epoll_handle *h = handle;
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = h};
	if (h->wants_write || h->fd < 0)
		return;
	h->wants_write = 1;
	epoll_ctl(e->epfd, EPOLL_CTL_MOD, h->fd, &ev);
}

static void epoll_unwatch(mesh_loop *loop, void *handle)
{
	mesh_epoll *e = (mesh_epoll *)loop;
	epoll_handle *h = handle;
	epoll_ctl(e->epfd, EPOLL_CTL_DEL, h->fd, NULL);
	close(h->fd);
	h->fd = -1;
	h->cb = NULL;
	/* events for it may still be in this turn's batch: free it afterwards */
	h->next_closed = e->closed;
	e->closed = h;
}

static mesh_timer *epoll_timer_new(mesh_loop *loop, void (*cb)(void *), void *arg)
{
	mesh_epoll *e = (mesh_epoll *)loop;
	mesh_timer *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	t->cb = cb;
	t->arg = arg;
	t->next = e->timers;
	e->timers = t;
	return t;
}

static void epoll_timer_arm(mesh_loop *loop, mesh_timer *t, int ms)
{
	t->due_us = mesh_now_us() + (int64_t)ms * 1000;
	t->armed = 1;
}

static void epoll_timer_stop(mesh_loop *loop, mesh_timer *t)
{
	t->armed = 0;
}

static void epoll_timer_free(mesh_loop *loop, mesh_timer *t)
{
	mesh_epoll *e = (mesh_epoll *)loop;
	for (mesh_timer **p = &e->timers; *p != NULL; p = &(*p)->next) {
		if (*p == t) {
			*p = t->next;
			break;
		}
	}
	free(t);
}

static const mesh_loop_ops epoll_ops = MESH_LOOP_OPS_INIT(epoll_);

int mesh_epoll_new(mesh_epoll **out)
{
	mesh_epoll *e = calloc(1, sizeof(*e));
	if (e == NULL)
		return ENOMEM;
	e->base.ops = &epoll_ops;
	e->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (e->epfd < 0) {
		int err = errno;
		free(e);
		return err;
	}
	*out = e;
	return 0;
}

mesh_loop *mesh_epoll_loop(mesh_epoll *e)
{
	return &e->base;
}

/* epoll_run_timers runs every armed timer that is due; returns how many ran. */
static int epoll_run_timers(mesh_epoll *e)
{
	int ran = 0, again = 1;
	while (again) {
		int64_t now = mesh_now_us();
		again = 0;
		for (mesh_timer *t = e->timers; t != NULL; t = t->next) {
			if (t->armed && t->due_us <= now) {
				t->armed = 0;
				t->cb(t->arg);
				ran++;
				again = 1; /* the callback may have changed the list */
				break;
			}
		}
	}
	return ran;
}

int mesh_epoll_run(mesh_epoll *e, int timeout_ms)
{
	struct epoll_event events[EPOLL_EVENTS];
	int64_t now = mesh_now_us(), wait_ms = timeout_ms;
	int n, ran;
	for (mesh_timer *t = e->timers; t != NULL; t = t->next) {
		if (t->armed) {
			int64_t left = t->due_us > now ? (t->due_us - now + 999) / 1000 : 0;
			if (wait_ms < 0 || left < wait_ms)
				wait_ms = left;
		}
	}
	n = epoll_wait(e->epfd, events, EPOLL_EVENTS, (int)wait_ms);
	for (int i = 0; i < n; i++) {
		epoll_handle *h = events[i].data.ptr;
		if (h->cb == NULL)
			continue;
		if ((events[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) && h->wants_write) {
			struct epoll_event ev = {.events = EPOLLIN, .data.ptr = h};
			h->wants_write = 0;
			epoll_ctl(e->epfd, EPOLL_CTL_MOD, h->fd, &ev);
			h->cb(h->arg, MESH_IO_WRITE);
		}
		if (h->cb != NULL && (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
			h->cb(h->arg, MESH_IO_READ);
	}
	ran = (n > 0 ? n : 0) + epoll_run_timers(e);
	while (e->closed != NULL) {
		epoll_handle *h = e->closed;
		e->closed = h->next_closed;
		free(h);
	}
	return ran;
}

void mesh_epoll_free(mesh_epoll *e)
{
	if (e == NULL)
		return;
	while (e->closed != NULL) {
		epoll_handle *h = e->closed;
		e->closed = h->next_closed;
		free(h);
	}
	close(e->epfd);
	free(e);
}
