/* client_internal.h: the event-loop transport of mesh_client, as client.c uses it. */
#ifndef CLEAVE_MESH_CLIENT_INTERNAL_H
#define CLEAVE_MESH_CLIENT_INTERNAL_H

#include <stdint.h>

#include "mesh.h"

typedef struct client_loop client_loop;

/* client_loop_new makes the loop transport of a client of service, whose calls claim caller
 * (borrowed: it must outlive the transport) and last timeout_us without a deadline of their
 * own. Returns 0 or an errno value. */
int client_loop_new(client_loop **out, const ProtobufCServiceDescriptor *service,
		    const char *caller, int64_t timeout_us, mesh_loop *loop);

/* client_loop_dial adds an instance at url (ipc:// or tcp://) and starts connecting.
 * Returns 0, or EINVAL for a url this transport does not speak. */
int client_loop_dial(client_loop *cl, const char *url);

/* client_loop_invoke is mesh_client's invoke over the loop transport. */
void client_loop_invoke(client_loop *cl, unsigned method_index, const ProtobufCMessage *input,
			ProtobufCClosure closure, void *closure_data);

/* client_loop_instances returns how many instances are connected and greeted. */
int client_loop_instances(const client_loop *cl);

/* client_loop_inflight returns the calls invoked and not yet completed. */
int client_loop_inflight(const client_loop *cl);

/* client_loop_set_health is mesh_client_set_health (opts NULL: checks off). Returns 0 or
 * EINVAL. */
int client_loop_set_health(client_loop *cl, const mesh_health_opts *opts);

/* client_loop_drain stops new calls to every instance dialed at url; with undial, also closes
 * each once its calls are done and forgets it. Returns 0 or ENOENT. */
int client_loop_drain(client_loop *cl, const char *url, int undial);

/* client_loop_instance_info is mesh_client_instance_info. */
size_t client_loop_instance_info(const client_loop *cl, mesh_instance_info *out, size_t max);

/* client_loop_free closes every connection and frees the transport; no call may be in flight. */
void client_loop_free(client_loop *cl);

#endif
