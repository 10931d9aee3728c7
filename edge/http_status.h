/* http_status.h: the standard mapping of mesh status codes to HTTP statuses. */
#ifndef CLEAVE_EDGE_HTTP_STATUS_H
#define CLEAVE_EDGE_HTTP_STATUS_H

#include "mesh.h"

/* http_status_for returns the HTTP status answering a call that ended with status. */
int http_status_for(mesh_status status);

/* http_reason returns the reason phrase of an HTTP status ("Not Found"), a static string. */
const char *http_reason(int status);

#endif
