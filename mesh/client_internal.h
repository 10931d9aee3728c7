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

/* meshi_rpc_early_of returns the early failure kept in rpc's reserved words. */
static inline meshi_rpc_early *meshi_rpc_early_of(mesh_rpc *rpc)
{
	return (meshi_rpc_early *)(void *)rpc->reserved;
}

/* meshi_rpc_of_early returns the mesh_rpc (the closure_data) an early failure is kept in. */
static inline mesh_rpc *meshi_rpc_of_early(meshi_rpc_early *early)
{
	return (mesh_rpc *)(void *)((char *)early - offsetof(mesh_rpc, reserved));
}

typedef struct meshi_client_loop meshi_client_loop;

/* meshi_client_loop_new makes the loop transport of a client of service, whose calls claim caller
 * (borrowed: it must outlive the transport) and last timeout_us without a deadline of their
 * own. Returns 0 or an errno value. */
int meshi_client_loop_new(meshi_client_loop **out, const ProtobufCServiceDescriptor *service,
			  const char *caller, int64_t timeout_us, mesh_loop *loop);

/* meshi_client_loop_dial adds an instance at url (ipc:// or tcp://) and starts connecting; on
 * ipc:// a server whose uid is neither uid nor root is refused (uid MESH_ANY_UID: anyone).
 * Returns 0, or EINVAL for a url this transport does not speak. */
int meshi_client_loop_dial(meshi_client_loop *cl, const char *url, uid_t uid);

/* meshi_client_loop_invoke is mesh_client's invoke over the loop transport. */
void meshi_client_loop_invoke(meshi_client_loop *cl, unsigned method_index,
			      const ProtobufCMessage *input, ProtobufCClosure closure,
			      void *closure_data);

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
