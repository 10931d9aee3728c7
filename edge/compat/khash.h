/* khash.h: the little of klib's khash that h2o 2.2's h2o/http2_internal.h names, so the edge can
 * read an HTTP/2 connection's fields (h2_tune.c); Debian installs that header, not khash.h.
 *
 * Only the type of the connection's stream table is real (a pointer to an opaque struct); the
 * lookup macros exist so that the header's inline h2o_http2_conn_get_stream compiles, and must
 * never be used: the edge does not call it. */
#ifndef CLEAVE_EDGE_COMPAT_KHASH_H
#define CLEAVE_EDGE_COMPAT_KHASH_H

typedef unsigned khiter_t;
#define khash_t(name)			 kh_##name##_t
#define KHASH_MAP_INIT_INT64(name, type) typedef struct kh_##name##_s kh_##name##_t;
#define kh_get(name, h, k)		 ((void)(h), (void)(k), (khiter_t)0)
#define kh_end(h)			 ((void)(h), (khiter_t)0)
#define kh_val(h, x)			 ((void)(h), (void)(x), NULL)

#endif
