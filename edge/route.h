/* route.h: the edge's route table: path templates, request path parsing, matching, id syntax. */
#ifndef CLEAVE_EDGE_ROUTE_H
#define CLEAVE_EDGE_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#define ROUTE_MAX_SEGMENTS 16
#define ROUTE_MAX_QUERY	   4

/* HTTP methods a route can name, as bits of an allow set. */
enum {
	ROUTE_GET = 1 << 0,
	ROUTE_HEAD = 1 << 1,
	ROUTE_POST = 1 << 2,
	ROUTE_PUT = 1 << 3,
	ROUTE_PATCH = 1 << 4,
	ROUTE_DELETE = 1 << 5,
	ROUTE_OPTIONS = 1 << 6,
};

/* route_segment: one segment of a template: literal text, or a {parameter}. */
typedef struct route_segment {
	char *text; /* literal text, or the parameter's name */
	int is_param;
	const ProtobufCFieldDescriptor *field; /* the request field a parameter fills */
} route_segment;

/* route_query: a query parameter a route reads into a request field. */
typedef struct route_query {
	char *name;
	const ProtobufCFieldDescriptor *field;
} route_query;

typedef enum route_kind {
	ROUTE_TEXT, /* answered by the edge with a fixed text/plain body */
	ROUTE_RPC,  /* answered by calling a service method */
} route_kind;

struct route_split;
struct upstream;

/* route: one method + path template, and what answers it. */
typedef struct route {
	route_kind kind;
	unsigned method; /* one ROUTE_* bit */
	char *path;	 /* the template as written */
	route_segment segments[ROUTE_MAX_SEGMENTS];
	size_t nsegments;
	char *source; /* where it was declared ("svc/users/manifest.yml:9"), for messages */
	/* ROUTE_TEXT */
	char *text;
	const char *content_type; /* static; NULL: text/plain; charset=utf-8 */
	/* ROUTE_RPC */
	char *service_name; /* the manifest's name ("users"), for the access log */
	const ProtobufCServiceDescriptor *service;
	unsigned method_index;
	/* the reply field sent as the body (a bare array); NULL: the whole reply */
	const ProtobufCFieldDescriptor *body_field;
	int status;	    /* HTTP status of a success: 200, or 201 for a create */
	int64_t timeout_ms; /* the manifest's timeout: the most a request may take; 0: none */
	int has_body; /* the request's JSON body fills the request message (POST, PUT, PATCH) */
	route_query query[ROUTE_MAX_QUERY];
	size_t nquery;
	/* the reply field holding the next page's cursor, and the query parameter the
	 * Link rel="next" sets to it */
	const ProtobufCFieldDescriptor *next_field;
	char *next_param;
	/* the Location of a success, with {field}s of the reply */
	route_segment location[ROUTE_MAX_SEGMENTS];
	size_t nlocation;
	int has_location;
	struct upstream *upstream; /* the service's target group and bounds (upstream.h); not
				    * owned */
	size_t id; /* its slot in the table's ids, set by route_table_add (metrics count by it) */
	/* NULL, or the share of its requests another target group serves (route_set_split) */
	struct route_split *split;
} route;

/* route_split: a route's traffic split between its own target group and another one (a
 * manifest's split:). */
typedef struct route_split {
	unsigned weight; /* percent of the route's requests the other group serves, 0 to 100 */
	unsigned turn;	 /* the next request's place in a round of 100, 0 to 99 */
	/* the route as the other group serves it, filled by route_table_add: a copy of the route
	 * that shares its templates and strings, with its own service_name (the other group's
	 * manifest name), upstream and id, and no split. It is not in the table, and never
	 * route_free'd. */
	route alt;
} route_split;

typedef struct route_table {
	route **routes;
	size_t n;
	size_t cap;
	size_t nids; /* ids handed out: one per route, and one more per split route's alt */
} route_table;

/* route_path: a request path split into percent-decoded segments, without query or trailing
 * slash. Each segment is NUL-terminated and points into the scratch buffer given to
 * route_path_parse. */
typedef struct route_path {
	size_t n;
	const char *segments[ROUTE_MAX_SEGMENTS];
	size_t lengths[ROUTE_MAX_SEGMENTS];
} route_path;

typedef enum route_match_result {
	ROUTE_MATCH_FOUND,
	ROUTE_MATCH_NO_METHOD, /* the path is known, not with this method */
	ROUTE_MATCH_NO_PATH,
} route_match_result;

/* route_method_bit returns the ROUTE_* bit of an HTTP method name, or 0 for an unknown one. */
unsigned route_method_bit(const char *name, size_t len);

/* route_method_name returns the name of one ROUTE_* bit ("GET"), a static string. */
const char *route_method_name(unsigned bit);

/* route_allow_string writes an Allow header value ("GET, HEAD, OPTIONS") for the allow set. */
void route_allow_string(unsigned allow, char *out, size_t outlen);

/* route_template_parse fills r's path and segments from a template such as
 * "/api/posts/in-thread/{thread}". Returns 0, or -1 with a reason in err. */
int route_template_parse(route *r, const char *template, char *err, size_t errlen);

/* route_template_split splits template into at most ROUTE_MAX_SEGMENTS segments; their texts
 * are malloc'd and freed with the route that holds them. Returns 0, or -1 with a reason in
 * err. */
int route_template_split(const char *template, route_segment *segments, size_t *n, char *err,
			 size_t errlen);

/* route_path_parse splits path (len bytes, may carry a query) into out. Decoded segments are
 * written to scratch, which needs len + ROUTE_MAX_SEGMENTS bytes and stays the caller's.
 * Returns 0, or -1 if the path is malformed (no leading '/', a bad percent escape, too many
 * segments). */
int route_path_parse(route_path *out, const char *path, size_t len, char *scratch,
		     size_t scratch_len);

/* route_parse_id reads an id: decimal digits only, value 1 to max. Returns 0, or -1. */
int route_parse_id(const char *s, size_t len, uint64_t max, uint64_t *out);

/* route_table_init makes an empty table. */
void route_table_init(route_table *t);

/* route_table_add adds r (heap, from route_new) to the table, which owns it from then on, and
 * gives it the next id; a route with a split also gets its alt filled (a copy of r as it is now)
 * with the id after. Fails with a reason in err, freeing nothing, if the same method and
 * template exist already. Returns 0 or -1. */
int route_table_add(route_table *t, route *r, char *err, size_t errlen);

/* route_table_match finds the route for method (a ROUTE_* bit; HEAD matches GET routes) on
 * path. On ROUTE_MATCH_FOUND *found is the route (the table's). On ROUTE_MATCH_FOUND and
 * ROUTE_MATCH_NO_METHOD *allow is the set of methods the path accepts. */
route_match_result route_table_match(const route_table *t, const route_path *path, unsigned method,
				     const route **found, unsigned *allow);

/* route_table_methods returns every method some route of t accepts (HEAD with GET), and
 * OPTIONS: the Allow of the server as a whole, for "OPTIONS *". */
unsigned route_table_methods(const route_table *t);

/* route_table_fini frees every route in the table. */
void route_table_fini(route_table *t);

/* route_new returns a zeroed route, the caller's until added to a table; NULL if out of
 * memory. */
route *route_new(void);

/* route_free frees a route that is in no table. */
void route_free(route *r);

/* route_set_split makes weight percent (0 to 100) of r's requests go to the target group called
 * service (copied), before r is added to a table. Returns 0, or -1 with a reason in err. */
int route_set_split(route *r, const char *service, unsigned weight, char *err, size_t errlen);

/* route_split_pick returns the route that serves r's next request: r itself, or the other
 * group's r->split->alt. Request n of every round of 100 goes to the other group when
 * (n * weight) % 100 < weight: exactly weight of any 100 requests in a row, spread evenly
 * (Bresenham's line). Loop thread only: the turn is counted without a lock. */
static inline const route *route_split_pick(const route *r)
{
	route_split *split = r->split;
	unsigned turn = split->turn;
	split->turn = turn == 99 ? 0 : turn + 1;
	return turn * split->weight % 100 < split->weight ? &split->alt : r;
}

#endif
