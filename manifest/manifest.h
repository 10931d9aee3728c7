/* manifest.h: a service's manifest (svc/<name>/manifest.yml): its name, service and routes, how
 * many instances run and how they are checked, how many calls the edge keeps in flight to it,
 * what it may call and what it may use. */
#ifndef CLEAVE_MANIFEST_H
#define CLEAVE_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "mesh.h"

/* manifest_route: one entry of routes:, as written. */
typedef struct manifest_route {
	char *method;	/* GET, POST, ... */
	char *path;	/* template, "/api/posts/in-thread/{thread}" */
	char *rpc;	/* method of the service, "ListByThread" */
	char *body;	/* repeated field of the reply sent as a bare array, or NULL */
	char *status;	/* HTTP status of a success ("201"), or NULL for 200 */
	char *location; /* Location of a success, "/api/users/{id}" ({field}s of the reply) */
	char **query;	/* query parameters read into request fields of the same name */
	size_t nquery;
	char *next; /* reply field with the next page's cursor; sets the query parameter named
		     * as the field without "next_" in the Link rel="next" */
	/* split: {service: NAME, weight: 0..100}: weight percent of the route's requests go to
	 * the method of the same name of the manifest called NAME instead */
	char *split_service; /* NAME, or NULL if there is no split: */
	int split_weight;
	int split_line; /* line of the split's service */
	/* timeout: the most a request of the route may wait for its answer, a duration of 1ms to
	 * MANIFEST_ROUTE_TIMEOUT_MAX_MS; a Request-Timeout asking for more is cut to it. 0: not
	 * given (the edge's default and maximum apply) */
	int64_t timeout_ms;
	int line;
} manifest_route;

/* MANIFEST_ROUTE_TIMEOUT_MAX_MS: the longest route timeout: a manifest may give. */
#define MANIFEST_ROUTE_TIMEOUT_MAX_MS 3600000

/* manifest_healthcheck: the healthcheck: mapping, with the defaults of the keys it leaves out
 * (all of them when there is no healthcheck:). Durations are written 500ms, 5s, 2m or 1h, and are
 * at most 24h. The edge and meshctl check instances with it (manifest_health_opts). */
typedef struct manifest_healthcheck {
	int64_t interval_ms;   /* between two checks of an instance; default 5s, > 0 */
	int64_t timeout_ms;    /* a check not answered in this fails; default 2s, > 0, < interval */
	int healthy_threshold; /* passes in a row that make an instance healthy; 1..10, default 2 */
	int unhealthy_threshold; /* failures in a row that make it unhealthy; 1..10, default 2 */
	int64_t grace_period_ms; /* after an instance starts, failures do not count; default 0s */
	int line;		 /* line of healthcheck:, or 0 if there is none */
} manifest_healthcheck;

/* MANIFEST_MAX_INFLIGHT_DEFAULT: a manifest's max_inflight when it gives none. */
#define MANIFEST_MAX_INFLIGHT_DEFAULT 256
#define MANIFEST_MAX_INFLIGHT_MAX     65536

/* manifest_field: what one field of an rpc's request must be (fields: in the manifest), as the
 * service checks it; the OpenAPI document shows it (openapi/). A field is named as in proto/
 * ("created_by"), of the request message of the rpc, and may be filled from the body, the path
 * or the query. */
typedef struct manifest_field {
	char *rpc;	   /* the method whose request holds the field, "Create" */
	char *field;	   /* the field's proto name, "username" */
	char *description; /* what it is, for the document, or NULL */
	int required;	 /* must be given, and not its zero value (proto3 cannot tell them apart) */
	long min_length; /* string: fewest characters (code points); -1: not declared */
	long max_length; /* string: most characters; -1: not declared */
	char *pattern;	 /* string: an ECMA-262 regular expression it matches, or NULL */
	int has_minimum, has_maximum; /* integer: whether minimum and maximum are declared */
	int64_t minimum, maximum;
	int line;
} manifest_field;

/* manifest: one service's manifest. */
typedef struct manifest {
	char *file;    /* the path it was read from */
	char *name;    /* short name, "users" */
	char *service; /* full protobuf service name, "users.Users" */
	int service_line;
	manifest_route *routes;
	size_t nroutes;
	int count;			 /* instances to run, 1..64; default 1 */
	manifest_healthcheck health;	 /* how an instance is checked */
	int64_t deregistration_delay_ms; /* an instance being stopped keeps its calls in flight
					  * this long after it leaves the rotation; default 5s,
					  * at most 300s */
	char **calls;	 /* "service.method" it may call, "users.Get" (service is a manifest
			  * name, method one of its service's); NULL if there is no calls: */
	int *calls_line; /* line of each entry of calls */
	size_t ncalls;
	int max_inflight;     /* the edge's calls in flight to the service (every instance) past
			       * which it answers a request 503 at once; 1..65536, default
			       * MANIFEST_MAX_INFLIGHT_DEFAULT */
	int cpu_millis;	      /* CPU in millicores, 1..64000 ("256" is a quarter of a core), or 0 if
			       * not given */
	int64_t memory_bytes; /* memory, written 512Mi or 1Gi, in bytes, or 0 if not given */
	int policy_audit; /* policy: audit (would-be denials logged, not enforced); 0: enforce */
	manifest_field *fields; /* fields:, in the order written; NULL if there is none */
	size_t nfields;
} manifest;

/* manifest_load reads the manifest at path; optional keys left out take their defaults. Unknown
 * keys, missing keys and values of the wrong kind or out of range fail with "file:line: reason"
 * in err. On success *out is the caller's, to free with manifest_free. Returns 0 or -1. */
int manifest_load(const char *path, manifest **out, char *err, size_t errlen);

/* manifest_load_dir reads every DIR/<name>/manifest.yml, in name order. On success *out is a
 * malloc'd array of *n manifests, all the caller's (free with manifest_free_all).
 * Returns 0 or -1 with a reason in err. */
int manifest_load_dir(const char *dir, manifest ***out, size_t *n, char *err, size_t errlen);

/* manifest_check_calls checks every calls: entry of the n manifests ms against the others: the
 * service part is the name of one of ms, and the method one of that manifest's protobuf service.
 * Returns 0, or -1 with "file:line: calls: reason" in err. */
int manifest_check_calls(manifest *const *ms, size_t n, char *err, size_t errlen);

/* manifest_check_splits checks every route's split: of the n manifests ms against the others:
 * its service is the name of another of ms, whose protobuf service has a method named as the
 * route's rpc with the same request and reply messages (the transcoding is the same).
 * Returns 0, or -1 with "file:line: split: reason" in err. */
int manifest_check_splits(manifest *const *ms, size_t n, char *err, size_t errlen);

/* manifest_check_fields checks every fields: entry of m against the protobuf registry: the rpc is
 * a method of m's service, the field one of its request's (not repeated), lengths and pattern
 * only on a string, minimum and maximum only on an integer. Returns 0, or -1 with
 * "file:line: fields: reason" in err. */
int manifest_check_fields(const manifest *m, char *err, size_t errlen);

/* manifest_field_find returns m's rule of rpc's field (proto name), or NULL; it is m's. */
const manifest_field *manifest_field_find(const manifest *m, const char *rpc, const char *field);

/* manifest_health_opts returns m's healthcheck as the health checks of a target group. */
mesh_health_opts manifest_health_opts(const manifest *m);

/* manifest_rule_fn: one rule of a call policy, given to manifest_policy: caller may call method;
 * why says where the rule comes from, for a comment. The strings are borrowed for the call. */
typedef void (*manifest_rule_fn)(const char *caller, const char *method, const char *why,
				 void *ctx);

/* manifest_policy gives emit(caller, method, why, ctx) every rule of the call policy of ms[k]'s
 * service, from the n manifests: the edge may call the methods its routes name (its own, and
 * those of other manifests' routes that split to it) and Health's detail; each manifest may call
 * what its calls: lists; meshctl, the operator's tool, every method and Health's detail.
 * Everything else is denied. The manifests stay the caller's. */
void manifest_policy(manifest *const *ms, size_t n, size_t k, manifest_rule_fn emit, void *ctx);

/* manifest_free frees m. */
void manifest_free(manifest *m);

/* manifest_free_all frees an array from manifest_load_dir and its n manifests. */
void manifest_free_all(manifest **ms, size_t n);

#endif
