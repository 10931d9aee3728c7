/* manifest.h: a service's manifest (svc/<name>/manifest.yml): its name, service and routes. */
#ifndef CLEAVE_EDGE_MANIFEST_H
#define CLEAVE_EDGE_MANIFEST_H

#include <stddef.h>

#include "route.h"

/* manifest_route: one entry of routes:, as written. */
typedef struct manifest_route {
	char *method;	/* GET, POST, ... */
	char *path;	/* template, "/api/posts/in-thread/{thread}" */
	char *rpc;	/* method of the service, "ListByThread" */
	char *body;	/* repeated field of the reply sent as a bare array, or NULL */
	char *status;	/* HTTP status of a success ("201"), or NULL for 200 */
	char *location; /* Location of a success, "/api/users/{id}" ({field}s of the reply) */
	char **query;	/* query parameters read into request fields of the same name */
	size_t nquery;
	char *next; /* reply field with the next page's cursor; sets the query parameter named
		     * as the field without "next_" in the Link rel="next" */
	int line;
} manifest_route;

/* manifest: one service's manifest. */
typedef struct manifest {
	char *file;    /* the path it was read from */
	char *name;    /* short name, "users" */
	char *service; /* full protobuf service name, "users.Users" */
	int service_line;
	manifest_route *routes;
	size_t nroutes;
} manifest;

/* manifest_load reads the manifest at path. Unknown keys, missing keys and values of the wrong
 * kind fail with "file:line: reason" in err. On success *out is the caller's, to free with
 * manifest_free. Returns 0 or -1. */
int manifest_load(const char *path, manifest **out, char *err, size_t errlen);

/* manifest_load_dir reads every DIR/<name>/manifest.yml, in name order. On success *out is a
 * malloc'd array of *n manifests, all the caller's (free with manifest_free_all).
 * Returns 0 or -1 with a reason in err. */
int manifest_load_dir(const char *dir, manifest ***out, size_t *n, char *err, size_t errlen);

/* manifest_add_routes checks m against the protobuf registry (the service exists, each rpc is
 * one of its methods, each path parameter is a field of the method's request with a type a path
 * can carry, body is a repeated field of the reply) and adds its routes to t.
 * Returns 0, or -1 with "file:line: reason" in err. */
int manifest_add_routes(const manifest *m, route_table *t, char *err, size_t errlen);

/* manifest_free frees m. */
void manifest_free(manifest *m);

/* manifest_free_all frees an array from manifest_load_dir and its n manifests. */
void manifest_free_all(manifest **ms, size_t n);

#endif
