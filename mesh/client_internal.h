/* client_internal.h: the event-loop transport of mesh_client, as client.c uses it. */
#ifndef CLEAVE_MESH_CLIENT_INTERNAL_H
#define CLEAVE_MESH_CLIENT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "mesh.h"
#include "queue.h"

/* meshi_rpc_early: a call that ended before the transport had anything of its own to keep it
 * in (out of call slots or memory). It lives in the call's mesh_rpc, in the words reserved for
 * the transport, until its closure runs after invoke returns (mesh.h's rule). */
typedef struct meshi_rpc_early {
	meshi_queue_item item; /* how it waits for its turn: a queue's, or a loop client's list */
	ProtobufCClosure closure;
	void *owner; /* the client that counts it in flight */
} meshi_rpc_early;

_Static_assert(sizeof(meshi_rpc_early) <= sizeof(((mesh_rpc *)0)->reserved),
	       "mesh_rpc.reserved holds a meshi_rpc_early");

/* meshi_rpc_state: what a call's mesh_rpc keeps in its reserved words, so mesh_client_cancel
 * finds the call from its rpc alone: an early failure (whose item.run is never NULL), or, while
 * the call holds a transport object (a loop client's slot, an nng client's call), that object
 * (held.none NULL, where an early failure's run is). All NULL when the call is neither. */
typedef union meshi_rpc_state {
	meshi_rpc_early early;
	struct {
		void *call;
		void *none;
	} held;
} meshi_rpc_state;

_Static_assert(sizeof(meshi_rpc_state) <= sizeof(((mesh_rpc *)0)->reserved),
	       "mesh_rpc.reserved holds a meshi_rpc_state");
_Static_assert(offsetof(meshi_rpc_state, held.none) ==
		   offsetof(meshi_rpc_state, early.item) + offsetof(meshi_queue_item, run),
	       "held.none is where an early failure's run is");

static inline meshi_rpc_state *meshi_rpc_state_of(mesh_rpc *rpc)
{
	return (meshi_rpc_state *)(void *)rpc->reserved;
}

/* meshi_rpc_early_of returns the early failure kept in rpc's reserved words. */
static inline meshi_rpc_early *meshi_rpc_early_of(mesh_rpc *rpc)
{
	return &meshi_rpc_state_of(rpc)->early;
}

/* meshi_rpc_hold notes in rpc the transport object (borrowed) its call holds. */
static inline void meshi_rpc_hold(mesh_rpc *rpc, void *call)
{
	meshi_rpc_state_of(rpc)->held.call = call;
	meshi_rpc_state_of(rpc)->held.none = NULL;
}

/* meshi_rpc_held returns the transport object rpc's call holds, or NULL (none, or an early
 * failure). */
static inline void *meshi_rpc_held(mesh_rpc *rpc)
{
	meshi_rpc_state *st = meshi_rpc_state_of(rpc);
	return st->early.item.run == NULL ? st->held.call : NULL;
}

/* meshi_rpc_is_early says whether rpc keeps an early failure whose closure has not run. */
static inline int meshi_rpc_is_early(mesh_rpc *rpc)
{
	return meshi_rpc_state_of(rpc)->early.item.run != NULL;
}

/* meshi_rpc_forget clears rpc's state: its call holds nothing any more (its closure is about
 * to run, or it was cancelled). */
static inline void meshi_rpc_forget(mesh_rpc *rpc)
{
	meshi_rpc_state_of(rpc)->held.call = NULL;
	meshi_rpc_state_of(rpc)->held.none = NULL;
}

/* meshi_rpc_of_early returns the mesh_rpc (the closure_data) an early failure is kept in. */
static inline mesh_rpc *meshi_rpc_of_early(meshi_rpc_early *early)
{
	return (mesh_rpc *)(void *)((char *)early - offsetof(mesh_rpc, reserved));
}

typedef struct meshi_client_loop meshi_client_loop;

/* meshi_client_loop_new makes the loop transport of a client of service, whose calls claim caller
 * (borrowed: it must outlive the transport) and last timeout_us without a deadline of their
 * own; replies over max_reply bytes close their connection, and calls past max_unsent bytes
 * waiting in a connection's output go elsewhere or fail (mesh_client_opts). Returns 0 or an
 * errno value. */
int meshi_client_loop_new(meshi_client_loop **out, const ProtobufCServiceDescriptor *service,
			  const char *caller, int64_t timeout_us, size_t max_reply,
			  size_t max_unsent, mesh_loop *loop);

/* meshi_client_loop_dial adds an instance at url (ipc:// or tcp://) and starts connecting; on
 * ipc:// a server whose uid is neither uid nor root is refused (uid MESH_ANY_UID: anyone).
 * Returns 0, or EINVAL for a url this transport does not speak. */
int meshi_client_loop_dial(meshi_client_loop *cl, const char *url, uid_t uid);

/* meshi_client_loop_invoke is mesh_client's invoke over the loop transport. */
void meshi_client_loop_invoke(meshi_client_loop *cl, unsigned method_index,
			      const ProtobufCMessage *input, ProtobufCClosure closure,
			      void *closure_data);

/* meshi_client_loop_cancel is mesh_client_cancel over the loop transport: 0 or ENOENT. */
int meshi_client_loop_cancel(meshi_client_loop *cl, mesh_rpc *rpc);

/* meshi_client_loop_instances returns how many instances are connected and greeted. */
int meshi_client_loop_instances(const meshi_client_loop *cl);

/* meshi_client_loop_inflight returns the calls invoked and not yet completed. */
int meshi_client_loop_inflight(const meshi_client_loop *cl);

/* meshi_client_loop_set_health is mesh_client_set_health (opts NULL: checks off). Returns 0 or
 * EINVAL. */
int meshi_client_loop_set_health(meshi_client_loop *cl, const mesh_health_opts *opts);

/* meshi_client_loop_drain stops new calls to every instance dialed at url; with undial, also closes
 * each once its calls are done and forgets it. Returns 0 or ENOENT. */
int meshi_client_loop_drain(meshi_client_loop *cl, const char *url, int undial);

/* meshi_client_loop_instance_info is mesh_client_instance_info. */
size_t meshi_client_loop_instance_info(const meshi_client_loop *cl, mesh_instance_info *out,
				       size_t max);

/* meshi_client_loop_free closes every connection and frees the transport; no call may be in flight.
 */
void meshi_client_loop_free(meshi_client_loop *cl);

#endif
