/* evloop.h: a mesh_loop on an epoll descriptor that its owner runs (mesh_epoll, a server's loop
 * threads): descriptors watched for clients and one-shot timers, dispatched when the owner says.
 */
#ifndef CLEAVE_MESH_EVLOOP_H
#define CLEAVE_MESH_EVLOOP_H

#include <stdint.h>

#include "mesh.h"

/* meshi_evloop_handle: one descriptor watched for a client. Its first member is the kind the
 * owner gave meshi_evloop_init, so an owner that registers other things with the same epoll
 * descriptor tells them apart by the first int of an event's data.ptr. */
typedef struct meshi_evloop_handle {
	int kind;
	int fd;
	int wants_write;
	void (*cb)(void *arg, int events);
	void *arg;
	struct meshi_evloop_handle *next_closed; /* freed by meshi_evloop_reap */
} meshi_evloop_handle;

/* meshi_evloop: the loop; its mesh_loop is base (hand &base to clients). */
typedef struct meshi_evloop {
	mesh_loop base; /* first: the ops get the loop back from it */
	int epfd;	/* borrowed from the owner */
	int kind;	/* what the handles carry first */
	struct mesh_timer *timers;
	int armed; /* timers armed */
	meshi_evloop_handle *closed;
} meshi_evloop;

/* meshi_evloop_init makes l a loop whose handles are registered with epfd (the owner's, which
 * stays the owner's) and carry kind first. */
void meshi_evloop_init(meshi_evloop *l, int epfd, int kind);

/* meshi_evloop_event reports an epoll event of handle (an event's data.ptr that carries l's kind):
 * the handle's callback runs for what it is waiting for. */
void meshi_evloop_event(meshi_evloop *l, void *handle, uint32_t events);

/* meshi_evloop_timeout returns how long the owner may wait for events, in milliseconds: at most
 * timeout_ms (-1: no bound of the owner's), less if a timer is due sooner (0 if one is due). */
int meshi_evloop_timeout(const meshi_evloop *l, int timeout_ms);

/* meshi_evloop_run_timers runs the callback of every armed timer that is due, and those they arm
 * due now. Returns how many ran. */
int meshi_evloop_run_timers(meshi_evloop *l);

/* meshi_evloop_reap frees the handles unwatched since the last call: once no event of the turn can
 * name them. */
void meshi_evloop_reap(meshi_evloop *l);

/* meshi_evloop_fini frees what is left: handles unwatched, and timers their owners did not free.
 * No client may use the loop any more. */
void meshi_evloop_fini(meshi_evloop *l);

#endif
