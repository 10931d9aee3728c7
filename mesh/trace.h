/* trace.h: span ids for libmesh's servers (mesh.h has the public side of trace context). */
#ifndef CLEAVE_MESH_TRACE_H
#define CLEAVE_MESH_TRACE_H

#include <stdint.h>

#include "mesh.h"

/* meshi_span_new writes a fresh span id, never all zero, into out, from the generator *seed
 * (splitmix64 over a random start: unpredictable enough for ids, not for secrets), seeding it
 * from getrandom when it is 0. *seed is one thread's. */
void meshi_span_new(uint64_t *seed, uint8_t out[MESH_SPAN_ID_LEN]);

#endif
