/* metrics.c: per-route request counters and duration histograms, and their Prometheus text. */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "metrics.h"

/* The HTTP statuses the edge sends (http_status.c and server.c): slot k counts
 * metrics_statuses[k]; the last slot counts any other status. */
static const int metrics_statuses[] = {200, 201, 204, 304, 400, 403, 404, 405, 409, 412, 413,
				       414, 415, 421, 429, 431, 499, 500, 501, 503, 504};
_Static_assert(sizeof(metrics_statuses) / sizeof(*metrics_statuses) == METRICS_STATUSES - 1,
	       "METRICS_STATUSES counts metrics_statuses and the slot for other statuses");
#define METRICS_SLOT_OTHER (METRICS_STATUSES - 1)

/* Upper bounds of the histogram buckets in microseconds, and as the le label writes them. */
static const int64_t metrics_bounds_us[METRICS_BUCKETS - 1] = {
    100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000};
static const char *const metrics_le[METRICS_BUCKETS] = {
    "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025",
    "0.05",   "0.1",	 "0.25",   "0.5",   "1",      "2.5",   "+Inf"};

void metrics_append_label_value(pbjson_buf *out, const char *s)
{
	const char *run = s;
	for (; *s != '\0'; s++) {
		const char *esc = *s == '\\'   ? "\\\\"
				  : *s == '"'  ? "\\\""
				  : *s == '\n' ? "\\n"
					       : NULL;
		if (esc == NULL)
			continue;
		pbjson_buf_append(out, run, (size_t)(s - run));
		pbjson_buf_append(out, esc, 2);
		run = s + 1;
	}
	pbjson_buf_append(out, run, (size_t)(s - run));
}

static void put(pbjson_buf *out, const char *s)
{
	pbjson_buf_append(out, s, strlen(s));
}

static void put_u64(pbjson_buf *out, uint64_t v)
{
	char num[24];
	int n = snprintf(num, sizeof(num), "%" PRIu64, v);
	pbjson_buf_append(out, num, (size_t)n);
}

static void put_i64(pbjson_buf *out, int64_t v)
{
	char num[24];
	int n = snprintf(num, sizeof(num), "%" PRId64, v);
	pbjson_buf_append(out, num, (size_t)n);
}

/* put_seconds writes us microseconds as seconds, exactly ("1.000250"). */
static void put_seconds(pbjson_buf *out, uint64_t us)
{
	char num[32];
	int n = snprintf(num, sizeof(num), "%" PRIu64 ".%06" PRIu64, us / 1000000, us % 1000000);
	pbjson_buf_append(out, num, (size_t)n);
}

/* make_labels returns route="<route>",service="<service>",method="<method>", escaped and
 * malloc'd, or NULL. */
static char *make_labels(const char *route_label, const char *service, const char *method)
{
	pbjson_buf b;
	char *s = NULL;
	pbjson_buf_init(&b);
	put(&b, "route=\"");
	metrics_append_label_value(&b, route_label);
	put(&b, "\",service=\"");
	metrics_append_label_value(&b, service);
	put(&b, "\",method=\"");
	metrics_append_label_value(&b, method);
	put(&b, "\"");
	if (!b.failed && (s = malloc(b.len + 1)) != NULL) {
		memcpy(s, b.data, b.len);
		s[b.len] = '\0';
	}
	pbjson_buf_fini(&b);
	return s;
}

int metrics_init(edge_metrics *m, const route_table *routes, const upstream_set *upstreams,
		 const metrics_overload *overload)
{
	memset(m, 0, sizeof(*m));
	m->upstreams = upstreams;
	m->overload = overload;
	memset(m->slot_of, METRICS_SLOT_OTHER, sizeof(m->slot_of));
	for (unsigned k = 0; k < METRICS_SLOT_OTHER; k++)
		m->slot_of[metrics_statuses[k]] = (uint8_t)k;
	m->nroutes = routes->nids;
	m->routes = calloc(routes->nids + 1, sizeof(*m->routes));
	if (m->routes == NULL)
		return -1;
	for (size_t i = 0; i < routes->n; i++) {
		const route *r = routes->routes[i];
		const char *method = route_method_name(r->method);
		size_t len = strlen(method) + 1 + strlen(r->path) + 1;
		char *name = malloc(len);
		if (name == NULL)
			goto out_oom;
		snprintf(name, len, "%s %s", method, r->path);
		if (r->kind == ROUTE_RPC)
			m->routes[r->id].labels = make_labels(
			    name, r->service_name, r->service->methods[r->method_index].name);
		else
			m->routes[r->id].labels = make_labels(name, "", "");
		/* a split route's requests served by the other group: the service is that group */
		if (r->split != NULL && m->routes[r->id].labels != NULL)
			m->routes[r->split->alt.id].labels =
			    make_labels(name, r->split->alt.service_name,
					r->service->methods[r->method_index].name);
		free(name);
		if (m->routes[r->id].labels == NULL ||
		    (r->split != NULL && m->routes[r->split->alt.id].labels == NULL))
			goto out_oom;
	}
	if ((m->routes[routes->nids].labels = make_labels("unmatched", "", "")) == NULL)
		goto out_oom;
	return 0;

out_oom:
	metrics_fini(m);
	return -1;
}

void metrics_request_end(edge_metrics *m, const route *r, int status, int64_t duration_us)
{
	metrics_route *mr = &m->routes[r != NULL ? r->id : m->nroutes];
	unsigned b = 0;
	if (duration_us < 0)
		duration_us = 0;
	while (b < METRICS_BUCKETS - 1 && duration_us > metrics_bounds_us[b])
		b++;
	mr->by_status[(unsigned)status < METRICS_STATUS_MAX ? m->slot_of[status]
							    : METRICS_SLOT_OTHER]++;
	mr->buckets[b]++;
	mr->sum_us += (uint64_t)duration_us;
	m->in_flight--;
}

/* family writes the HELP and TYPE lines of a metric. */
static void family(pbjson_buf *out, const char *name, const char *type, const char *help)
{
	put(out, "# HELP ");
	put(out, name);
	put(out, " ");
	put(out, help);
	put(out, "\n# TYPE ");
	put(out, name);
	put(out, " ");
	put(out, type);
	put(out, "\n");
}

static void render_requests(const edge_metrics *m, pbjson_buf *out)
{
	family(out, "cleave_http_requests_total", "counter",
	       "Requests answered on the main port, by route (method and path template), service, "
	       "service method and HTTP status.");
	for (size_t i = 0; i <= m->nroutes; i++) {
		const metrics_route *mr = &m->routes[i];
		for (unsigned k = 0; k < METRICS_STATUSES; k++) {
			if (mr->by_status[k] == 0)
				continue;
			put(out, "cleave_http_requests_total{");
			put(out, mr->labels);
			put(out, ",status=\"");
			if (k == METRICS_SLOT_OTHER)
				put(out, "other");
			else
				put_u64(out, (uint64_t)metrics_statuses[k]);
			put(out, "\"} ");
			put_u64(out, mr->by_status[k]);
			put(out, "\n");
		}
	}
}

static void render_durations(const edge_metrics *m, pbjson_buf *out)
{
	static const char name[] = "cleave_http_request_duration_seconds";
	family(out, name, "histogram",
	       "Time from a request's arrival at the edge's handler to its response being handed "
	       "to the socket, by route.");
	for (size_t i = 0; i <= m->nroutes; i++) {
		const metrics_route *mr = &m->routes[i];
		uint64_t cumulative = 0;
		for (unsigned b = 0; b < METRICS_BUCKETS; b++) {
			cumulative += mr->buckets[b];
			put(out, name);
			put(out, "_bucket{");
			put(out, mr->labels);
			put(out, ",le=\"");
			put(out, metrics_le[b]);
			put(out, "\"} ");
			put_u64(out, cumulative);
			put(out, "\n");
		}
		put(out, name);
		put(out, "_sum{");
		put(out, mr->labels);
		put(out, "} ");
		put_seconds(out, mr->sum_us);
		put(out, "\n");
		put(out, name);
		put(out, "_count{");
		put(out, mr->labels);
		put(out, "} ");
		put_u64(out, cumulative);
		put(out, "\n");
	}
}

/* render_per_service writes one gauge per upstream: value(client) of each service. */
static void render_per_service(const edge_metrics *m, pbjson_buf *out, const char *name,
			       const char *help, int (*value)(const mesh_client *))
{
	family(out, name, "gauge", help);
	for (size_t i = 0; m->upstreams != NULL && i < m->upstreams->n; i++) {
		const upstream *u = m->upstreams->items[i];
		put(out, name);
		put(out, "{service=\"");
		metrics_append_label_value(out, upstream_name(u));
		put(out, "\"} ");
		put_i64(out, value(upstream_client(u)));
		put(out, "\n");
	}
}

/* render_service_counter writes one sample per upstream, its count at offset (a uint64_t of
 * upstream), labelled with the service and, if not NULL, extra (label="value"). */
static void render_service_counter(const edge_metrics *m, pbjson_buf *out, const char *name,
				   const char *extra, size_t offset)
{
	for (size_t i = 0; m->upstreams != NULL && i < m->upstreams->n; i++) {
		const upstream *u = m->upstreams->items[i];
		put(out, name);
		put(out, "{service=\"");
		metrics_append_label_value(out, upstream_name(u));
		put(out, "\"");
		if (extra != NULL) {
			put(out, ",");
			put(out, extra);
		}
		put(out, "} ");
		put_u64(out, *(const uint64_t *)(const void *)((const char *)u + offset));
		put(out, "\n");
	}
}

/* render_overload writes what the edge shed, cancelled and paused to stay within its bounds. */
static void render_overload(const edge_metrics *m, pbjson_buf *out)
{
	static const char *const pause_reason[METRICS_PAUSES] = {"connection_cap", "fd_limit"};
	const metrics_overload *o = m->overload;
	family(out, "cleave_shed_requests_total", "counter",
	       "Requests answered 503 at once, without calling their service, by service and "
	       "reason (inflight_cap: the service's max_inflight calls were in flight).");
	render_service_counter(m, out, "cleave_shed_requests_total", "reason=\"inflight_cap\"",
			       offsetof(upstream, shed));
	family(out, "cleave_mesh_calls_cancelled_total", "counter",
	       "Calls cancelled because their client went away before the answer (an HTTP/1 "
	       "connection closed, an HTTP/2 stream reset), by service.");
	render_service_counter(m, out, "cleave_mesh_calls_cancelled_total", NULL,
			       offsetof(upstream, cancelled));
	if (o == NULL)
		return;
	family(out, "cleave_http_connections", "gauge", "Connections open on the main port.");
	put(out, "cleave_http_connections ");
	put_i64(out, o->connections);
	put(out, "\n");
	family(out, "cleave_http_connections_max", "gauge",
	       "The connection cap of the main port (--max-connections).");
	put(out, "cleave_http_connections_max ");
	put_i64(out, o->max_connections);
	put(out, "\n");
	family(out, "cleave_http_accept_paused_total", "counter",
	       "Times the edge stopped accepting connections, by reason (connection_cap: at "
	       "--max-connections; fd_limit: out of file descriptors).");
	for (unsigned r = 0; r < METRICS_PAUSES; r++) {
		put(out, "cleave_http_accept_paused_total{reason=\"");
		put(out, pause_reason[r]);
		put(out, "\"} ");
		put_u64(out, o->accept_paused[r]);
		put(out, "\n");
	}
	family(out, "cleave_http2_reset_closes_total", "counter",
	       "HTTP/2 connections closed for resetting more streams with calls in flight than "
	       "their reset budget allows (rapid reset, CVE-2023-44487).");
	put(out, "cleave_http2_reset_closes_total ");
	put_u64(out, o->reset_closes);
	put(out, "\n");
}

/* render_instance_states writes one sample per instance of every target group: 1, labelled
 * with its address and state (healthy, unhealthy, starting, draining, down). */
static void render_instance_states(const edge_metrics *m, pbjson_buf *out)
{
	mesh_instance_info info[64];
	family(out, "cleave_upstream_instance_state", "gauge",
	       "Each instance of each service the edge sends to, labelled with its state.");
	for (size_t i = 0; m->upstreams != NULL && i < m->upstreams->n; i++) {
		const upstream *u = m->upstreams->items[i];
		size_t n = mesh_client_instance_info(upstream_client(u), info, 64);
		for (size_t k = 0; k < n && k < 64; k++) {
			put(out, "cleave_upstream_instance_state{service=\"");
			metrics_append_label_value(out, upstream_name(u));
			put(out, "\",address=\"");
			metrics_append_label_value(out, info[k].url);
			put(out, "\",state=\"");
			put(out, mesh_instance_state_name(info[k].state));
			put(out, "\"} 1\n");
		}
	}
}

static void render_process(pbjson_buf *out)
{
	struct rusage ru;
	long pages = 0, page_size = sysconf(_SC_PAGESIZE);
	FILE *statm;
	uint64_t cpu_us = 0;
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		cpu_us = (uint64_t)ru.ru_utime.tv_sec * 1000000 + (uint64_t)ru.ru_utime.tv_usec +
			 (uint64_t)ru.ru_stime.tv_sec * 1000000 + (uint64_t)ru.ru_stime.tv_usec;
	family(out, "cleave_edge_process_cpu_seconds_total", "counter",
	       "User and system CPU time of the edge process, every thread.");
	put(out, "cleave_edge_process_cpu_seconds_total ");
	put_seconds(out, cpu_us);
	put(out, "\n");
	if ((statm = fopen("/proc/self/statm", "r")) != NULL) {
		if (fscanf(statm, "%*d %ld", &pages) != 1)
			pages = 0;
		fclose(statm);
	}
	family(out, "cleave_edge_resident_memory_bytes", "gauge",
	       "Resident set size of the edge process.");
	put(out, "cleave_edge_resident_memory_bytes ");
	put_i64(out, (int64_t)pages * (page_size > 0 ? page_size : 4096));
	put(out, "\n");
}

int metrics_render(const edge_metrics *m, pbjson_buf *out)
{
	render_requests(m, out);
	render_durations(m, out);
	family(out, "cleave_http_requests_in_flight", "gauge",
	       "Requests on the main port begun and not yet answered.");
	put(out, "cleave_http_requests_in_flight ");
	put_i64(out, m->in_flight);
	put(out, "\n");
	render_per_service(m, out, "cleave_mesh_calls_in_flight",
			   "Calls to the service sent and not yet completed.",
			   mesh_client_inflight);
	render_per_service(m, out, "cleave_upstream_instances",
			   "Instances of the service connected now.", mesh_client_instances);
	render_instance_states(m, out);
	render_overload(m, out);
	render_process(out);
	return out->failed ? -1 : 0;
}

void metrics_fini(edge_metrics *m)
{
	if (m->routes != NULL)
		for (size_t i = 0; i <= m->nroutes; i++)
			free(m->routes[i].labels);
	free(m->routes);
	m->routes = NULL;
}
