/* openapi.h: the OpenAPI 3.1 document of the API the edge serves, generated from the manifests and
 * the protobuf descriptors, for `meshctl openapi` and the edge's GET /api/openapi.json. */
#ifndef CLEAVE_OPENAPI_H
#define CLEAVE_OPENAPI_H

#include <stddef.h>

#include "manifest.h"

/* OPENAPI_PATH: where the edge serves the document. */
#define OPENAPI_PATH "/api/openapi.json"

/* openapi_document writes the document describing the edge's own routes (GET /, GET /api and
 * GET OPENAPI_PATH) and every route of the n manifests ms: path and query parameters, request
 * body, success status and headers (Location, Link), and the JSON errors the edge answers, with
 * the rules each manifest's fields: declare (manifest_check_fields checks them). The output is
 * deterministic: paths, components and tags in name order, methods in OpenAPI's order, fields in
 * schema order, whatever the order of ms. On success *out is the document, malloc'd and
 * NUL-terminated JSON text of *len bytes (indented by two spaces, ending with a newline), the
 * caller's to free; the manifests stay the caller's. Returns 0, or -1 with a reason in err
 * ("file:line: reason" for a manifest's). */
int openapi_document(manifest *const *ms, size_t n, char **out, size_t *len, char *err,
		     size_t errlen);

#endif
