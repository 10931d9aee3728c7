/* routes.h: the edge's route table from the manifests: the edge's own text routes (GET / and GET
 * /api), then every manifest's routes, checked against the protobuf registry. */
#ifndef CLEAVE_EDGE_ROUTES_H
#define CLEAVE_EDGE_ROUTES_H

#include <stddef.h>

#include "manifest.h"
#include "route.h"

/* routes_add_manifest checks m against the protobuf registry (the service exists, each rpc is
 * one of its methods, each path parameter is a field of the method's request with a type a path
 * can carry, body is a repeated field of the reply) and adds its routes to t, with their splits
 * (which manifest_check_splits checks). m stays the caller's: the routes copy what they keep.
 * Returns 0, or -1 with "file:line: reason" in err. */
int routes_add_manifest(route_table *t, const manifest *m, char *err, size_t errlen);

/* routes_build fills t as the edge serves it: GET / and GET /api answered by the edge, then
 * every route of the n manifests ms, whose calls: and split: are checked against each other
 * (manifest_check_calls, manifest_check_splits), then GET OPENAPI_PATH, answered with their
 * OpenAPI document (openapi_document, made once, here). ms stays the caller's. Returns 0, or -1
 * with a reason in err (t then holds what was added, freed by route_table_fini). */
int routes_build(route_table *t, manifest *const *ms, size_t n, char *err, size_t errlen);

#endif
