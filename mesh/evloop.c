/* evloop.c: mesh_loop's operations on an epoll descriptor that another loop runs. */
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "evloop.h"

struct mesh_timer {
	void (*cb)(void *arg);
	void *arg;
	int64_t due_us;
	int armed;
	struct mesh_timer *next; /* in the loop's list of timers */
};

static void *evloop_watch(mesh_loop *loop, int fd, void (*cb)(void *, int), void *arg)
{
	meshi_evloop *l = (meshi_evloop *)loop;
	meshi_evloop_handle *h = calloc(1, sizeof(*h));
	struct epoll_event ev = {.events = EPOLLIN};
	if (h == NULL) {
		close(fd);
		return NULL;
	}
	h->kind = l->kind;
	h->fd = fd;
	h->cb = cb;
	h->arg = arg;
	ev.data.ptr = h;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
		close(fd);
		free(h);
		return NULL;
	}
	return h;
}

static void evloop_want_write(mesh_loop *loop, void *handle)
{
	meshi_evloop *l = (meshi_evloop *)loop;
	meshi_evloop_handle *h = handle;
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = h};
	if (h->wants_write || h->fd < 0)
		return;
	h->wants_write = 1;
	epoll_ctl(l->epfd, EPOLL_CTL_MOD, h->fd, &ev);
}

static void evloop_unwatch(mesh_loop *loop, void *handle)
{
	meshi_evloop *l = (meshi_evloop *)loop;
	meshi_evloop_handle *h = handle;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, h->fd, NULL);
	close(h->fd);
	h->fd = -1;
	h->cb = NULL;
	/* events for it may still be in this turn's batch: free it afterwards */
	h->next_closed = l->closed;
	l->closed = h;
}

static mesh_timer *evloop_timer_new(mesh_loop *loop, void (*cb)(void *), void *arg)
{
	meshi_evloop *l = (meshi_evloop *)loop;
	mesh_timer *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	t->cb = cb;
	t->arg = arg;
	t->next = l->timers;
	l->timers = t;
	return t;
}

static void evloop_timer_arm(mesh_loop *loop, mesh_timer *t, int ms)
{
	meshi_evloop *l = (meshi_evloop *)loop;
	t->due_us = mesh_now_us() + (int64_t)ms * 1000;
	if (!t->armed)
		l->armed++;
	t->armed = 1;
}

static void evloop_timer_stop(mesh_loop *loop, mesh_timer *t)
{
	meshi_evloop *l = (meshi_evloop *)loop;
	if (t->armed)
		l->armed--;
	t->armed = 0;
}

static void evloop_timer_free(mesh_loop *loop, mesh_timer *t)
{
	meshi_evloop *l = (meshi_evloop *)loop;
	evloop_timer_stop(loop, t);
	for (mesh_timer **p = &l->timers; *p != NULL; p = &(*p)->next) {
		if (*p == t) {
			*p = t->next;
			break;
		}
	}
	free(t);
}

static const mesh_loop_ops evloop_ops = MESH_LOOP_OPS_INIT(evloop_);

void meshi_evloop_init(meshi_evloop *l, int epfd, int kind)
{
	*l = (meshi_evloop){.base.ops = &evloop_ops, .epfd = epfd, .kind = kind};
}

void meshi_evloop_event(meshi_evloop *l, void *handle, uint32_t events)
{
	meshi_evloop_handle *h = handle;
	if (h->cb == NULL)
		return; /* unwatched earlier in this turn */
	if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) && h->wants_write) {
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = h};
		h->wants_write = 0;
		epoll_ctl(l->epfd, EPOLL_CTL_MOD, h->fd, &ev);
		h->cb(h->arg, MESH_IO_WRITE);
	}
	if (h->cb != NULL && (events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
		h->cb(h->arg, MESH_IO_READ);
}

int meshi_evloop_timeout(const meshi_evloop *l, int timeout_ms)
{
	int64_t now, wait_ms = timeout_ms;
	if (l->armed == 0)
		return timeout_ms;
	now = mesh_now_us();
	for (const mesh_timer *t = l->timers; t != NULL; t = t->next) {
		if (t->armed) {
			int64_t left = t->due_us > now ? (t->due_us - now + 999) / 1000 : 0;
			if (wait_ms < 0 || left < wait_ms)
				wait_ms = left;
		}
	}
	return (int)wait_ms;
}

int meshi_evloop_run_timers(meshi_evloop *l)
{
	int ran = 0, again = l->armed > 0;
	while (again) {
		int64_t now = mesh_now_us();
		again = 0;
		for (mesh_timer *t = l->timers; t != NULL; t = t->next) {
			if (t->armed && t->due_us <= now) {
				t->armed = 0;
				l->armed--;
				t->cb(t->arg);
				ran++;
				again = l->armed > 0; /* the callback may have changed the list */
				break;
			}
		}
	}
	return ran;
}

void meshi_evloop_reap(meshi_evloop *l)
{
	while (l->closed != NULL) {
		meshi_evloop_handle *h = l->closed;
		l->closed = h->next_closed;
		free(h);
	}
}

void meshi_evloop_fini(meshi_evloop *l)
{
	meshi_evloop_reap(l);
	while (l->timers != NULL) {
		mesh_timer *t = l->timers;
		l->timers = t->next;
		free(t);
	}
	l->armed = 0;
}
