/* traceparent.h: the W3C trace context of a request at the edge (its traceparent header), and
 * its Request-Timeout. */
#ifndef CLEAVE_EDGE_TRACEPARENT_H
#define CLEAVE_EDGE_TRACEPARENT_H

#include <stddef.h>
#include <stdint.h>

#include "mesh.h"

/* TRACEPARENT_LEN: characters of a version 00 traceparent, "00-" 32 hex "-" 16 hex "-" 2 hex. */
#define TRACEPARENT_LEN 55

/* traceparent_parse reads a traceparent header value (len bytes at s) into *out: its trace id,
 * its parent id, and its flags' sampled bit. A version 00 value is exactly TRACEPARENT_LEN
 * characters; a later version (not ff) may go on after them, past a '-'. Hex digits are
 * lowercase; neither id may be all zero. Returns 0, or -1 if the value is not a valid
 * traceparent (a caller then starts a new trace, as the W3C says). */
int traceparent_parse(const char *s, size_t len, mesh_trace *out);

/* traceparent_format writes t as a version 00 traceparent (TRACEPARENT_LEN characters and a NUL)
 * into out. */
void traceparent_format(const mesh_trace *t, char out[TRACEPARENT_LEN + 1]);

/* trace_gen: makes trace and span ids, on one thread. */
typedef struct trace_gen {
	uint64_t state; /* splitmix64's, seeded at random */
} trace_gen;

/* trace_gen_init seeds g from the kernel's random source (the clock and the pid if that fails). */
void trace_gen_init(trace_gen *g);

/* trace_gen_trace_id and trace_gen_span_id write a new random id, never all zero. */
void trace_gen_trace_id(trace_gen *g, uint8_t out[MESH_TRACE_ID_LEN]);
void trace_gen_span_id(trace_gen *g, uint8_t out[MESH_SPAN_ID_LEN]);

/* request_timeout_parse reads a Request-Timeout value (len bytes at s, spaces and tabs around it
 * ignored) into *ms: whole milliseconds followed by "ms" ("250ms"), or seconds, whole or with up
 * to three decimals, followed by "s" or nothing ("2", "1.5s", "0.25"); at most 8 digits before
 * the point. It must come to at least 1 ms. Returns 0, or -1 with the reason in why. */
int request_timeout_parse(const char *s, size_t len, int64_t *ms, char *why, size_t whylen);

#endif
