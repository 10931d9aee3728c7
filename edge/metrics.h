/* metrics.h: the edge's request counters, rendered in Prometheus text format for GET /metrics. */
#ifndef CLEAVE_EDGE_METRICS_H
#define CLEAVE_EDGE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "pbjson.h"
#include "route.h"
#include "upstream.h"

/* The Content-Type of metrics_render's text (Prometheus text exposition format 0.0.4). */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Histogram buckets: 14 fixed upper bounds (0.0001 s to 2.5 s) and +Inf. */
#define METRICS_BUCKETS 15

/* Status slots: one per HTTP status the edge sends (the list is in metrics.c), and one that
 * counts any other status as status="other". */
#define METRICS_STATUSES   22
#define METRICS_STATUS_MAX 600 /* statuses from 0 to 599 have a slot in the lookup table */

/* metrics_route: what was counted for one route (or for the requests that matched none). */
typedef struct metrics_route {
	char *labels;			      /* route="...",service="...",method="...", escaped */
	uint64_t by_status[METRICS_STATUSES]; /* requests answered, by status slot */
	uint64_t buckets[METRICS_BUCKETS];    /* durations; each request in one bucket only */
	uint64_t sum_us;		      /* total duration, microseconds */
} metrics_route;

/* Why accepting paused: at the connection cap, or out of file descriptors (EMFILE, ENFILE). */
enum { METRICS_PAUSE_CAP, METRICS_PAUSE_FDS, METRICS_PAUSES };

/* metrics_overload: what the edge turned away or cut short to stay within its bounds, kept by the
 * server whether or not metrics are on (per service in each upstream: shed, cancelled). */
typedef struct metrics_overload {
	int64_t connections;			/* open on the main port now */
	int64_t max_connections;		/* the cap */
	uint64_t accept_paused[METRICS_PAUSES]; /* times accepting paused, by why */
	uint64_t reset_closes; /* HTTP/2 connections closed for resetting streams too fast */
} metrics_overload;

/* edge_metrics: every counter of one edge. It is updated and rendered on the edge's event-loop
 * thread only (the edge runs one), so counting takes no lock and no atomic. */
typedef struct edge_metrics {
	/* indexed by route id (a split route's alt has its own); routes[nroutes] counts unmatched
	 * requests */
	metrics_route *routes;
	size_t nroutes;
	int64_t in_flight;		     /* requests begun and not yet answered */
	const upstream_set *upstreams;	     /* borrowed, may be NULL: per-service gauges */
	const metrics_overload *overload;    /* borrowed, may be NULL */
	uint8_t slot_of[METRICS_STATUS_MAX]; /* status -> slot */
} edge_metrics;

/* metrics_init makes zeroed counters for every route of routes (borrowed; its routes must keep
 * their ids while m lives) and reads upstreams and overload (borrowed, either may be NULL;
 * upstreams may fill later) when rendering. Returns 0, or -1 if out of memory. */
int metrics_init(edge_metrics *m, const route_table *routes, const upstream_set *upstreams,
		 const metrics_overload *overload);

/* metrics_request_begin counts a request arriving. */
static inline void metrics_request_begin(edge_metrics *m)
{
	m->in_flight++;
}

/* metrics_request_end counts a request answered with status after duration_us: r is the route
 * it matched (its split's alt when the other group served it), or NULL if it matched none. */
void metrics_request_end(edge_metrics *m, const route *r, int status, int64_t duration_us);

/* metrics_request_abandoned counts a request that will never be answered (its client went away
 * while its call was in flight): it leaves the in-flight gauge and is counted nowhere else. */
static inline void metrics_request_abandoned(edge_metrics *m)
{
	m->in_flight--;
}

/* metrics_render appends every metric, with HELP and TYPE lines, to out. Returns 0, or -1 if out
 * of memory. */
int metrics_render(const edge_metrics *m, pbjson_buf *out);

/* metrics_append_label_value appends s as a label value of the text format: backslash, double
 * quote and newline escaped. */
void metrics_append_label_value(pbjson_buf *out, const char *s);

/* metrics_fini frees what m holds. */
void metrics_fini(edge_metrics *m);

#endif
