/* upstream.h: the edge's target groups: one mesh client per service, dialed to every instance. */
#ifndef CLEAVE_EDGE_UPSTREAM_H
#define CLEAVE_EDGE_UPSTREAM_H

#include <stddef.h>

#include "mesh.h"
#include "resolve.h"
#include "targets.h"

/* upstream: one service as the edge reaches it. */
typedef struct upstream {
	char *name;	     /* the manifest's name, "users" */
	char *urls;	     /* comma-separated instance addresses, as given */
	mesh_client *client; /* owned */
	int follows_targets; /* instances come from a target file */
	mesh_targets_watch targets;
	mesh_resolve_watch **names; /* its URLs with a DNS name (resolve.h); each owned */
	size_t nnames;
} upstream;

/* upstream_set: every service the edge routes to. */
typedef struct upstream_set {
	upstream **items;
	size_t n;
	mesh_loop *loop;   /* the watch timer's loop; borrowed */
	mesh_timer *timer; /* re-reads target files while set */
	/* how often DNS names in addresses are resolved again; set before the first add (0: the
	 * default) */
	int resolve_interval_ms;
	mesh_resolver *resolver; /* resolves them off the loop; owned */
} upstream_set;

/* upstream_set_add adds a target group for the service desc named name, dialing each address in
 * urls (comma-separated); an address whose host is a DNS name is resolved now (blocking) and
 * each of its addresses dialed. name and urls are copied; opts is passed to mesh_client_new.
 * Returns the new upstream (the set's), or NULL with a reason in err. */
upstream *upstream_set_add(upstream_set *set, const char *name,
			   const ProtobufCServiceDescriptor *desc, const char *urls,
			   const mesh_client_opts *opts, char *err, size_t errlen);

/* upstream_set_find returns the upstream called name, or NULL. */
upstream *upstream_set_find(const upstream_set *set, const char *name);

/* upstream_set_inflight returns the calls in flight over every upstream. */
int upstream_set_inflight(const upstream_set *set);

/* upstream_follow_targets makes u's instances those listed in the target file at path (copied):
 * they are dialed, drained and closed as the file changes. Returns 0 or -1 (out of memory). */
int upstream_follow_targets(upstream *u, const char *path);

/* upstream_set_watch_targets re-reads every followed target file now and every
 * UPSTREAM_TARGETS_POLL_MS on loop (which must outlive the set, or upstream_set_fini must run
 * first), and starts a thread re-resolving the DNS names of addresses every
 * resolve_interval_ms; the loop's timer applies what it finds. Returns 0 or -1. */
#define UPSTREAM_TARGETS_POLL_MS 250
int upstream_set_watch_targets(upstream_set *set, mesh_loop *loop);

/* upstream_set_fini frees every upstream; no call may be in flight. */
void upstream_set_fini(upstream_set *set);

#endif
