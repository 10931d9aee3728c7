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

/* h2o_mesh_loop_poll gives the mesh clients, at once, what their sockets hold: each watched
 * socket with something to read (poll(2), no wait) has its client read it, as if the loop had
 * reported it readable. The edge calls it so that replies are taken, and their calls' slots
 * freed, between client connections' events: h2o's loop reports a busy socket once per round of
 * every ready socket, which with thousands of client connections is far too seldom. Call it on
 * the loop's thread, outside any mesh client's callback; it runs the clients' closures. Returns
 * how many sockets it had read (0 when none was ready; a no-op on NULL). */
int h2o_mesh_loop_poll(h2o_mesh_loop *l);

/* h2o_mesh_loop_free frees the wrapper (not the h2o loop). */
void h2o_mesh_loop_free(h2o_mesh_loop *l);

#endif
