/* h2o_loop.h: libmesh's event-loop interface (mesh_loop) on an h2o evloop. */
#ifndef CLEAVE_EDGE_H2O_LOOP_H
#define CLEAVE_EDGE_H2O_LOOP_H

#include <h2o.h>

#include "mesh.h"

typedef struct h2o_mesh_loop h2o_mesh_loop;

/* h2o_mesh_loop_new wraps loop so mesh clients can run on it. Returns NULL if out of memory;
 * otherwise the caller's, to free with h2o_mesh_loop_free after every client on it. */
h2o_mesh_loop *h2o_mesh_loop_new(h2o_evloop_t *loop);

/* h2o_mesh_loop_get returns the mesh_loop to give clients; it belongs to l. */
mesh_loop *h2o_mesh_loop_get(h2o_mesh_loop *l);

/* h2o_mesh_loop_free frees the wrapper (not the h2o loop). */
void h2o_mesh_loop_free(h2o_mesh_loop *l);

#endif
