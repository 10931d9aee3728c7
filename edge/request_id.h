/* request_id.h: the X-Request-Id of a request: a client's, if well formed, or one made here. */
#ifndef CLEAVE_EDGE_REQUEST_ID_H
#define CLEAVE_EDGE_REQUEST_ID_H

#include <stddef.h>
#include <stdint.h>

#define REQUEST_ID_MAX	   128 /* characters of a client's id (MESH_REQUEST_ID_MAX) */
#define REQUEST_ID_GEN_LEN 16  /* characters of a made id: lowercase hex */

/* request_id_gen: makes ids, on one thread. */
typedef struct request_id_gen {
	uint64_t seed; /* random, per process */
	uint64_t next; /* ids made so far */
} request_id_gen;

/* request_id_gen_init seeds g from the kernel's random source (once; the clock and the pid if
 * that fails). */
void request_id_gen_init(request_id_gen *g);

/* request_id_make writes a new id to out: REQUEST_ID_GEN_LEN lowercase hex digits and a NUL.
 * The ids of one generator are all different (a bijection of its counter), and those of two
 * generators differ unless their random seeds happen to be close; no system call. */
void request_id_make(request_id_gen *g, char out[REQUEST_ID_GEN_LEN + 1]);

/* request_id_valid says whether the len bytes at s may serve as a request id as they are: 1 to
 * REQUEST_ID_MAX characters of [A-Za-z0-9._:-]. */
int request_id_valid(const char *s, size_t len);

#endif
