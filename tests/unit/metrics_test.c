/* metrics_test.c: unit tests of the edge's metrics: counting, buckets, escaping, the text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "harness.h"

#include "http_status.h"
#include "metrics.h"

static const ProtobufCMethodDescriptor fake_methods[] = {{"Get\"It", NULL, NULL}};
static const ProtobufCServiceDescriptor fake_service = {
    .name = "fake.Fake", .n_methods = 1, .methods = fake_methods};

static route_table table;
static edge_metrics metrics;
static pbjson_buf text;

/* add_route adds METHOD template to the table: an RPC route of service (the fake one) when
 * service is not NULL, else a text route. */
static route *add_route(unsigned method, const char *template, const char *service)
{
	char err[256];
	route *r = route_new();
	ck_assert_ptr_nonnull(r);
	ck_assert_msg(route_template_parse(r, template, err, sizeof(err)) == 0, "%s", err);
	r->method = method;
	if (service != NULL) {
		r->kind = ROUTE_RPC;
		r->service_name = strdup(service);
		r->service = &fake_service;
		r->method_index = 0;
	} else {
		r->kind = ROUTE_TEXT;
		r->text = strdup("hello");
	}
	ck_assert_msg(route_table_add(&table, r, err, sizeof(err)) == 0, "%s", err);
	return r;
}

static void setup(void)
{
	route_table_init(&table);
	pbjson_buf_init(&text);
	memset(&metrics, 0, sizeof(metrics));
}

static void teardown(void)
{
	metrics_fini(&metrics);
	route_table_fini(&table);
	pbjson_buf_fini(&text);
}

/* render returns the metrics text, NUL-terminated (valid until the next render). */
static const char *render(void)
{
	pbjson_buf_reset(&text);
	ck_assert_int_eq(metrics_render(&metrics, &text), 0);
	pbjson_buf_append(&text, "", 1);
	ck_assert(!text.failed);
	return text.data;
}

/* has_line says whether text holds line as a whole line. */
static int has_line(const char *text, const char *line)
{
	size_t len = strlen(line);
	for (const char *at = strstr(text, line); at != NULL; at = strstr(at + 1, line))
		if ((at == text || at[-1] == '\n') && at[len] == '\n')
			return 1;
	return 0;
}

#define ck_assert_line(text, line)                                                                 \
	ck_assert_msg(has_line(text, line), "no line\n%s\nin\n%s", line, text)

START_TEST(test_metrics_label_escaping)
{
	pbjson_buf b;
	pbjson_buf_init(&b);
	metrics_append_label_value(&b, "a\\b\"c\nd");
	pbjson_buf_append(&b, "", 1);
	ck_assert_str_eq(b.data, "a\\\\b\\\"c\\nd");
	pbjson_buf_reset(&b);
	metrics_append_label_value(&b, "plain {id}");
	pbjson_buf_append(&b, "", 1);
	ck_assert_str_eq(b.data, "plain {id}");
	pbjson_buf_fini(&b);
}
END_TEST

START_TEST(test_metrics_counts_by_route_and_status)
{
	const route *get = add_route(ROUTE_GET, "/api/fakes/{id}", "fa\"ke");
	const route *root = add_route(ROUTE_GET, "/", NULL);
	const char *t;
	ck_assert_int_eq(metrics_init(&metrics, &table, NULL, NULL), 0);
	for (int i = 0; i < 3; i++) {
		metrics_request_begin(&metrics);
		metrics_request_end(&metrics, get, 200, 10);
	}
	metrics_request_begin(&metrics);
	metrics_request_end(&metrics, get, 404, 10);
	metrics_request_begin(&metrics);
	metrics_request_end(&metrics, root, 200, 10);
	metrics_request_begin(&metrics);
	metrics_request_end(&metrics, NULL, 404, 10);
	metrics_request_begin(&metrics);
	metrics_request_end(&metrics, NULL, 302, 10); /* not a status the edge sends */
	t = render();
	ck_assert_line(
	    t, "cleave_http_requests_total{route=\"GET /api/fakes/{id}\",service=\"fa\\\"ke\","
	       "method=\"Get\\\"It\",status=\"200\"} 3");
	ck_assert_line(
	    t, "cleave_http_requests_total{route=\"GET /api/fakes/{id}\",service=\"fa\\\"ke\","
	       "method=\"Get\\\"It\",status=\"404\"} 1");
	ck_assert_line(t, "cleave_http_requests_total{route=\"GET "
			  "/\",service=\"\",method=\"\",status=\"200\"} 1");
	ck_assert_line(t, "cleave_http_requests_total{route=\"unmatched\",service=\"\",method=\"\","
			  "status=\"404\"} 1");
	ck_assert_line(t, "cleave_http_requests_total{route=\"unmatched\",service=\"\",method=\"\","
			  "status=\"other\"} 1");
	ck_assert_ptr_null(strstr(t, "status=\"201\""));
	ck_assert_line(t, "# TYPE cleave_http_requests_total counter");
	ck_assert_line(t, "# TYPE cleave_http_request_duration_seconds histogram");
	ck_assert_line(t, "cleave_http_requests_in_flight 0");
}
END_TEST

START_TEST(test_metrics_split_route_counts_the_group_used)
{
	char err[256];
	const route *before = add_route(ROUTE_GET, "/api/fakes", "fake");
	const route *after;
	route *r = route_new();
	const char *t;
	ck_assert_int_eq(route_template_parse(r, "/api/fakes/{id}", err, sizeof(err)), 0);
	r->kind = ROUTE_RPC;
	r->method = ROUTE_GET;
	r->service_name = strdup("fake");
	r->service = &fake_service;
	ck_assert_int_eq(route_set_split(r, "fake_v2", 50, err, sizeof(err)), 0);
	ck_assert_msg(route_table_add(&table, r, err, sizeof(err)) == 0, "%s", err);
	after = add_route(ROUTE_GET, "/", NULL);
	ck_assert_int_eq(metrics_init(&metrics, &table, NULL, NULL), 0);
	for (int i = 0; i < 4; i++) {
		metrics_request_begin(&metrics);
		metrics_request_end(&metrics, route_split_pick(r), 200, 10);
	}
	metrics_request_begin(&metrics);
	metrics_request_end(&metrics, &r->split->alt, 504, 10);
	metrics_request_begin(&metrics);
	metrics_request_end(&metrics, before, 200, 10);
	metrics_request_begin(&metrics);
	metrics_request_end(&metrics, after, 200, 10);
	metrics_request_begin(&metrics);
	metrics_request_end(&metrics, NULL, 404, 10);
	t = render();
	ck_assert_line(t,
		       "cleave_http_requests_total{route=\"GET /api/fakes/{id}\",service=\"fake\","
		       "method=\"Get\\\"It\",status=\"200\"} 2");
	ck_assert_line(t, "cleave_http_requests_total{route=\"GET /api/fakes/{id}\",service=\"fake_"
			  "v2\",method=\"Get\\\"It\",status=\"200\"} 2");
	ck_assert_line(t, "cleave_http_requests_total{route=\"GET /api/fakes/{id}\",service=\"fake_"
			  "v2\",method=\"Get\\\"It\",status=\"504\"} 1");
	ck_assert_line(t, "cleave_http_requests_total{route=\"GET /api/fakes\",service=\"fake\","
			  "method=\"Get\\\"It\",status=\"200\"} 1");
	ck_assert_line(t, "cleave_http_requests_total{route=\"GET "
			  "/\",service=\"\",method=\"\",status=\"200\"} 1");
	ck_assert_line(t, "cleave_http_requests_total{route=\"unmatched\",service=\"\",method=\"\","
			  "status=\"404\"} 1");
	ck_assert_line(t, "cleave_http_request_duration_seconds_count{route=\"GET "
			  "/api/fakes/{id}\",service=\"fake_v2\",method=\"Get\\\"It\"} 3");
	ck_assert_line(t, "cleave_http_requests_in_flight 0");
}
END_TEST

START_TEST(test_metrics_every_edge_status_has_its_own_counter)
{
	const route *get = add_route(ROUTE_GET, "/x", NULL);
	static const int edge_statuses[] = {200, 201, 204, 304, 400, 404, 405,
					    412, 413, 414, 415, 421, 431, 503};
	char want[160];
	const char *t;
	ck_assert_int_eq(metrics_init(&metrics, &table, NULL, NULL), 0);
	for (int st = MESH_OK; st <= MESH_UNAUTHENTICATED; st++)
		metrics_request_end(&metrics, get, http_status_for((mesh_status)st), 1);
	for (size_t i = 0; i < sizeof(edge_statuses) / sizeof(*edge_statuses); i++)
		metrics_request_end(&metrics, get, edge_statuses[i], 1);
	t = render();
	ck_assert_msg(strstr(t, "status=\"other\"") == NULL, "a status fell in other:\n%s", t);
	for (int st = MESH_OK; st <= MESH_UNAUTHENTICATED; st++) {
		snprintf(want, sizeof(want),
			 "route=\"GET /x\",service=\"\",method=\"\",status=\"%d\"}",
			 http_status_for((mesh_status)st));
		ck_assert_msg(strstr(t, want) != NULL, "no %s in\n%s", want, t);
	}
}
END_TEST

START_TEST(test_metrics_histogram_buckets_are_cumulative)
{
	static const char *const le[] = {"0.0001", "0.00025", "0.0005", "0.001", "0.0025",
					 "0.005",  "0.01",    "0.025",	"0.05",	 "0.1",
					 "0.25",   "0.5",     "1",	"2.5",	 "+Inf"};
	/* durations 50, 100 (on the bound: le is <=), 101 and 3 000 000 microseconds */
	static const int want[] = {2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 4};
	const route *get = add_route(ROUTE_GET, "/x", NULL);
	char line[256];
	const char *t;
	ck_assert_int_eq(metrics_init(&metrics, &table, NULL, NULL), 0);
	metrics_request_end(&metrics, get, 200, 50);
	metrics_request_end(&metrics, get, 200, 100);
	metrics_request_end(&metrics, get, 200, 101);
	metrics_request_end(&metrics, get, 500, 3000000);
	t = render();
	for (size_t i = 0; i < sizeof(le) / sizeof(*le); i++) {
		snprintf(
		    line, sizeof(line),
		    "cleave_http_request_duration_seconds_bucket{route=\"GET /x\",service=\"\","
		    "method=\"\",le=\"%s\"} %d",
		    le[i], want[i]);
		ck_assert_line(t, line);
	}
	ck_assert_line(t, "cleave_http_request_duration_seconds_sum{route=\"GET /x\",service=\"\","
			  "method=\"\"} 3.000251");
	ck_assert_line(t,
		       "cleave_http_request_duration_seconds_count{route=\"GET /x\",service=\"\","
		       "method=\"\"} 4");
	/* a route with no request still has its (empty) histogram, unmatched too */
	ck_assert_line(t, "cleave_http_request_duration_seconds_count{route=\"unmatched\",service="
			  "\"\",method=\"\"} 0");
}
END_TEST

START_TEST(test_metrics_in_flight_gauge)
{
	const route *get = add_route(ROUTE_GET, "/x", NULL);
	ck_assert_int_eq(metrics_init(&metrics, &table, NULL, NULL), 0);
	metrics_request_begin(&metrics);
	metrics_request_begin(&metrics);
	metrics_request_begin(&metrics);
	ck_assert_line(render(), "cleave_http_requests_in_flight 3");
	metrics_request_end(&metrics, get, 200, 1);
	metrics_request_abandoned(&metrics);
	ck_assert_line(render(), "cleave_http_requests_in_flight 1");
	/* an abandoned request is counted nowhere else */
	ck_assert_line(render(), "cleave_http_request_duration_seconds_count{route=\"GET /x\","
				 "service=\"\",method=\"\"} 1");
}
END_TEST

START_TEST(test_metrics_every_family_has_help_and_type)
{
	static const char *const families[][2] = {
	    {"cleave_http_requests_total", "counter"},
	    {"cleave_http_request_duration_seconds", "histogram"},
	    {"cleave_http_requests_in_flight", "gauge"},
	    {"cleave_mesh_calls_in_flight", "gauge"},
	    {"cleave_upstream_instances", "gauge"},
	    {"cleave_edge_process_cpu_seconds_total", "counter"},
	    {"cleave_edge_resident_memory_bytes", "gauge"},
	};
	char line[128];
	const char *t, *at;
	add_route(ROUTE_GET, "/x", NULL);
	ck_assert_int_eq(metrics_init(&metrics, &table, NULL, NULL), 0);
	t = render();
	for (size_t i = 0; i < sizeof(families) / sizeof(*families); i++) {
		snprintf(line, sizeof(line), "# TYPE %s %s", families[i][0], families[i][1]);
		ck_assert_line(t, line);
		snprintf(line, sizeof(line), "# HELP %s ", families[i][0]);
		ck_assert_msg(strstr(t, line) != NULL, "no %s", line);
	}
	at = strstr(t, "\ncleave_edge_resident_memory_bytes ");
	ck_assert_ptr_nonnull(at);
	ck_assert_msg(atol(at + strlen("\ncleave_edge_resident_memory_bytes ")) > 0, "%s", at);
	ck_assert_msg(t[strlen(t) - 1] == '\n', "the text must end with a newline");
}
END_TEST

static Suite *metrics_suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("metrics");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_metrics_label_escaping);
	tcase_add_test(tc, test_metrics_counts_by_route_and_status);
	tcase_add_test(tc, test_metrics_split_route_counts_the_group_used);
	tcase_add_test(tc, test_metrics_every_edge_status_has_its_own_counter);
	tcase_add_test(tc, test_metrics_histogram_buckets_are_cumulative);
	tcase_add_test(tc, test_metrics_in_flight_gauge);
	tcase_add_test(tc, test_metrics_every_family_has_help_and_type);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return harness_run_suite(metrics_suite(), 0);
}
