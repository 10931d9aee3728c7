/* control.h: meshctl's side of a running mesh's control service, and calls to one instance. */
#ifndef CLEAVE_MESHCTL_CONTROL_H
#define CLEAVE_MESHCTL_CONTROL_H

#include <protobuf-c/protobuf-c.h>

#include "mesh.h"
#include "paths.h"

/* control_pid returns the pid of the supervisor running from paths' state dir, or 0. */
long control_pid(const meshctl_paths *paths);

/* control_call calls method of the supervisor's Control service and waits up to timeout_ms.
 * On MESH_OK *out is the reply, the caller's (protobuf_c_message_free_unpacked). Otherwise
 * message holds the reason (no mesh running, say). */
mesh_status control_call(const meshctl_paths *paths, const char *method,
			 const ProtobufCMessage *input, ProtobufCMessage **out, char *message,
			 size_t message_len);

/* instance_call calls method of service desc at the one instance url, waiting up to
 * timeout_ms (also for the connection). Same ownership as control_call. */
mesh_status instance_call(const ProtobufCServiceDescriptor *desc, const char *url,
			  const char *method, const ProtobufCMessage *input, ProtobufCMessage **out,
			  int timeout_ms, char *message, size_t message_len);

#endif
