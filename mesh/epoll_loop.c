/* epoll_loop.c: mesh_epoll, a minimal mesh_loop for callers without an event loop of their own. */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "evloop.h"

#define EPOLL_EVENTS 64

struct mesh_epoll {
	meshi_evloop ev; /* first: its mesh_loop is the loop clients get */
	int epfd;
};

int mesh_epoll_new(mesh_epoll **out)
{
	mesh_epoll *e = calloc(1, sizeof(*e));
	if (e == NULL)
		return ENOMEM;
	e->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (e->epfd < 0) {
		int err = errno;
		free(e);
		return err;
	}
	meshi_evloop_init(&e->ev, e->epfd, 0);
	*out = e;
	return 0;
}

mesh_loop *mesh_epoll_loop(mesh_epoll *e)
{
	return &e->ev.base;
}

int mesh_epoll_run(mesh_epoll *e, int timeout_ms)
{
	struct epoll_event events[EPOLL_EVENTS];
	int n = epoll_wait(e->epfd, events, EPOLL_EVENTS, meshi_evloop_timeout(&e->ev, timeout_ms));
	int ran;
	for (int i = 0; i < n; i++)
		meshi_evloop_event(&e->ev, events[i].data.ptr, events[i].events);
	ran = (n > 0 ? n : 0) + meshi_evloop_run_timers(&e->ev);
	meshi_evloop_reap(&e->ev);
	return ran;
}

void mesh_epoll_free(mesh_epoll *e)
{
	if (e == NULL)
		return;
	meshi_evloop_fini(&e->ev);
	close(e->epfd);
	free(e);
}
