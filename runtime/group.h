/* group.h: a target group: one service as a process calls it, the way a cloud load balancer's
 * target group is one: a mesh client dialed to every instance, whose instances follow a target
 * file (meshctl publishes them) or the addresses of DNS names, checked as the service's manifest
 * says. The edge, the services and meshctl's supervisor all reach their callees through one.
 *
 * How instances follow what they come from: a target file is re-read every RT_GROUP_POLL_MS
 * (new instances dialed, draining ones drained, vanished ones undialed); a tcp-family address
 * whose host is a DNS name stands for every address the name has (resolve.h), resolved again
 * every resolve interval. For a client on an event loop this is applied by a timer on that loop
 * (the client's functions are the loop thread's) and resolving runs on a thread of its own;
 * for any other client, one thread of the group's does both. */
#ifndef CLEAVE_RUNTIME_GROUP_H
#define CLEAVE_RUNTIME_GROUP_H

#include <stddef.h>

#include "mesh.h"

#define RT_GROUP_POLL_MS 250

/* rt_group_opts: what a group is. Strings are copied by rt_group_new. */
typedef struct rt_group_opts {
	const char *name;			   /* the service's short name, "users" */
	const ProtobufCServiceDescriptor *service; /* what it serves; static */
	const char *log_prefix;	 /* the caller's name in log lines ("edge": "edge: users: ...") */
	mesh_client_opts client; /* how the group's client calls (caller, timeout, loop, queue) */
	/* where the instances are: a target file to follow, else comma-separated instance
	 * addresses (DNS names among them resolved); with neither, the owner dials them with
	 * mesh_client_dial on rt_group_client */
	const char *targets;
	const char *urls;
	mesh_health_opts health; /* active checks of the instances; interval_ms 0: none. Loop
				  * clients only (a client on nng's threads ignores them) */
	int resolve_interval_ms; /* how often DNS names are resolved again; 0: the default */
} rt_group_opts;

typedef struct rt_group rt_group;

/* rt_group_new makes the group's client, dials what opts names (resolving DNS names now, which
 * blocks) and starts following changes: a loop client's timer runs on its loop from the loop's
 * next turn. opts and its strings stay the caller's. On success *out is the caller's, to free
 * with rt_group_free. Returns 0, or an errno value with the reason in err (EINVAL: an address
 * the client cannot dial; ENOMEM). */
int rt_group_new(rt_group **out, const rt_group_opts *opts, char *err, size_t errlen);

/* rt_group_client returns the group's client, to call through (mesh_client_service) and, for a
 * group with neither targets nor urls, to dial; it belongs to the group. */
mesh_client *rt_group_client(const rt_group *g);

/* rt_group_name returns the service's short name; the group's string. */
const char *rt_group_name(const rt_group *g);

/* rt_group_free stops following changes and frees the group and its client; no call may be in
 * flight (mesh_client_inflight is 0). Called on the client's loop thread for a loop client.
 * NULL is allowed. */
void rt_group_free(rt_group *g);

#endif
