/* metrics_test.c: GET /metrics on the edge's admin port, asserted against the real mesh. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <check.h>

#include "fixture.h"
#include "harness.h"
#include "http.h"

#define METRICS_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define JSON_TYPE    "application/json; charset=utf-8"

#define USERS_GET    "route=\"GET /api/users/{id}\",service=\"users\",method=\"Get\""
#define THREADS_LIST "route=\"GET /api/threads\",service=\"threads\",method=\"List\""
#define UNMATCHED    "route=\"unmatched\",service=\"\",method=\"\""
#define REQUESTS     "cleave_http_requests_total"
#define DURATION     "cleave_http_request_duration_seconds"

static fixture_mesh mesh;
static int mesh_up;

static void mesh_setup(void)
{
	static const char *const args[] = {"--admin-port", "0", NULL};
	curl_global_init_once(); /* before the in-flight test's thread */
	mesh_up = fixture_mesh_start(&mesh, args) == 0 && mesh.admin_port > 0;
}

static void mesh_teardown(void)
{
	char report[8192];
	if (mesh_up && fixture_mesh_stop(&mesh, report, sizeof(report)) != 0)
		fprintf(stderr, "metrics_test: unclean stop:\n%s", report);
	mesh_up = 0;
}

/* get sends a GET of path to the main port (admin 0) or the admin port (admin 1). */
static void get(int admin, const char *path, http_response *r)
{
	char url[512];
	ck_assert_msg(mesh_up, "the mesh did not start");
	if (admin)
		fixture_admin_url(&mesh, path, url, sizeof(url));
	else
		fixture_url(&mesh, path, url, sizeof(url));
	ck_assert_msg(http_get(url, r) == 0, "GET %s: %s", url, r->error);
}

/* expect_status GETs path from the main port and asserts its status. */
static void expect_status(const char *path, long status)
{
	http_response r;
	get(0, path, &r);
	ck_assert_msg(r.status == status, "GET %s: %ld, want %ld (%s)", path, r.status, status,
		      r.body);
	http_response_free(&r);
}

/* scrape returns the body of GET /metrics on the admin port (malloc'd), after checking its status
 * and Content-Type. */
static char *scrape(void)
{
	http_response r;
	char type[128];
	char *body;
	get(1, "/metrics", &r);
	ck_assert_msg(r.status == 200, "GET /metrics: %ld (%s)", r.status, r.body);
	ck_assert_ptr_nonnull(http_header(&r, "content-type", type, sizeof(type)));
	ck_assert_str_eq(type, METRICS_TYPE);
	body = r.body;
	r.body = NULL;
	http_response_free(&r);
	return body;
}

/* value returns the value of the sample called series (name{labels}), or -1 if absent. */
static double value(const char *text, const char *series)
{
	size_t len = strlen(series);
	for (const char *at = strstr(text, series); at != NULL; at = strstr(at + 1, series))
		if ((at == text || at[-1] == '\n') && at[len] == ' ')
			return strtod(at + len + 1, NULL);
	return -1;
}

/* value0 is value, with an absent counter read as 0. */
static double value0(const char *text, const char *series)
{
	double v = value(text, series);
	return v < 0 ? 0 : v;
}

/* sum_of returns the sum of every sample whose line starts with prefix. */
static double sum_of(const char *text, const char *prefix)
{
	double sum = 0;
	size_t len = strlen(prefix);
	for (const char *line = text; *line != '\0';) {
		const char *end = strchr(line, '\n'), *space;
		if (end == NULL)
			end = line + strlen(line);
		space = end;
		while (space > line && *space != ' ') /* the value follows the last space */
			space--;
		if (strncmp(line, prefix, len) == 0 && *space == ' ')
			sum += strtod(space + 1, NULL);
		line = *end ? end + 1 : end;
	}
	return sum;
}

START_TEST(test_metrics_count_known_requests)
{
	char *before, *after;
	before = scrape();
	for (int i = 0; i < 3; i++)
		expect_status("/api/users/2", 200);
	expect_status("/api/users/999", 404);
	expect_status("/api/users/998", 404);
	expect_status("/api/threads", 200);
	expect_status("/no/such/path", 404);
	after = scrape();

	ck_assert_double_eq(value0(after, REQUESTS "{" USERS_GET ",status=\"200\"}") -
				value0(before, REQUESTS "{" USERS_GET ",status=\"200\"}"),
			    3);
	/* the fixture's readiness checks never ask for these: they are exact, not deltas */
	ck_assert_double_eq(value(after, REQUESTS "{" USERS_GET ",status=\"404\"}"), 2);
	ck_assert_double_eq(value(after, REQUESTS "{" THREADS_LIST ",status=\"200\"}"), 1);
	ck_assert_double_eq(value0(after, REQUESTS "{" UNMATCHED ",status=\"404\"}") -
				value0(before, REQUESTS "{" UNMATCHED ",status=\"404\"}"),
			    1);
	/* nothing else was counted */
	ck_assert_double_eq(sum_of(after, REQUESTS "{") - sum_of(before, REQUESTS "{"), 7);
	/* the raw path never becomes a label */
	ck_assert_ptr_null(strstr(after, "/no/such/path"));
	ck_assert_ptr_null(strstr(after, "/api/users/2\""));

	ck_assert_double_eq(value(after, DURATION "_count{" USERS_GET "}") -
				value(before, DURATION "_count{" USERS_GET "}"),
			    5);
	ck_assert_double_eq(value(after, DURATION "_count{" THREADS_LIST "}"), 1);
	ck_assert_double_eq(value(after, DURATION "_count{" UNMATCHED "}") -
				value(before, DURATION "_count{" UNMATCHED "}"),
			    1);
	ck_assert_msg(value(after, DURATION "_sum{" THREADS_LIST "}") > 0,
		      "a request takes some time");
	free(before);
	free(after);
}
END_TEST

/* check_histogram asserts the histogram whose first _bucket line is at line: the 15 fixed bounds
 * in order, cumulative counts, +Inf equal to _count, and _count equal to the requests counted
 * for its labels. Returns the end of its _count line. */
static const char *check_histogram(const char *text, const char *line)
{
	static const char *const le[] = {"0.0001", "0.00025", "0.0005", "0.001", "0.0025",
					 "0.005",  "0.01",    "0.025",	"0.05",	 "0.1",
					 "0.25",   "0.5",     "1",	"2.5",	 "+Inf"};
	const char *labels = line + strlen(DURATION "_bucket{"), *le_at = strstr(labels, ",le=\"");
	char series[512], prefix[512];
	size_t labels_len = (size_t)(le_at - labels);
	double last = 0, count, requests;
	ck_assert_ptr_nonnull(le_at);
	ck_assert_uint_lt(labels_len, 400);
	for (size_t i = 0; i < sizeof(le) / sizeof(*le); i++) {
		double v;
		snprintf(series, sizeof(series), DURATION "_bucket{%.*s,le=\"%s\"}",
			 (int)labels_len, labels, le[i]);
		v = value(text, series);
		ck_assert_msg(v >= 0, "no %s", series);
		ck_assert_msg(v >= last, "%s is %g, below the bucket before (%g)", series, v, last);
		last = v;
	}
	snprintf(series, sizeof(series), DURATION "_count{%.*s}", (int)labels_len, labels);
	count = value(text, series);
	ck_assert_msg(count == last, "%s is %g, +Inf is %g", series, count, last);
	snprintf(prefix, sizeof(prefix), REQUESTS "{%.*s,status=", (int)labels_len, labels);
	requests = sum_of(text, prefix);
	ck_assert_msg(count == requests, "%s is %g, %s...} sum to %g", series, count, prefix,
		      requests);
	snprintf(series, sizeof(series), DURATION "_sum{%.*s}", (int)labels_len, labels);
	ck_assert_msg(value(text, series) >= 0, "no %s", series);
	if (count == 0)
		ck_assert_double_eq(value(text, series), 0);
	snprintf(series, sizeof(series), "\n" DURATION "_count{%.*s}", (int)labels_len, labels);
	return strstr(line, series) + 1;
}

START_TEST(test_metrics_histograms_are_cumulative_and_match_counters)
{
	char *text;
	int histograms = 0, counts = 0;
	expect_status("/api/posts/in-thread/2", 200);
	text = scrape();
	for (const char *at = strstr(text, "\n" DURATION "_bucket{"); at != NULL;
	     at = strstr(at, "\n" DURATION "_bucket{")) {
		at = check_histogram(text, at + 1);
		histograms++;
	}
	for (const char *at = strstr(text, "\n" DURATION "_count{"); at != NULL;
	     at = strstr(at + 1, "\n" DURATION "_count{"))
		counts++;
	/* one per route, those never asked included, and one for unmatched requests */
	ck_assert_int_eq(histograms, counts);
	ck_assert_int_ge(histograms, 14); /* 2 routes of the edge, 11 of the manifests */
	ck_assert_msg(value(text, DURATION "_count{" UNMATCHED "}") >= 0, "no unmatched histogram");
	ck_assert_double_eq(value(text,
				  DURATION "_count{route=\"GET /api/posts/in-thread/{thread}\","
					   "service=\"posts\",method=\"ListByThread\"}"),
			    1);
	free(text);
}
END_TEST

START_TEST(test_metrics_text_format)
{
	static const char *const families[][2] = {
	    {REQUESTS, "counter"},
	    {DURATION, "histogram"},
	    {"cleave_http_requests_in_flight", "gauge"},
	    {"cleave_mesh_calls_in_flight", "gauge"},
	    {"cleave_upstream_instances", "gauge"},
	    {"cleave_upstream_instance_state", "gauge"},
	    {"cleave_edge_process_cpu_seconds_total", "counter"},
	    {"cleave_edge_resident_memory_bytes", "gauge"},
	};
	char *text = scrape(), want[160];
	for (size_t i = 0; i < sizeof(families) / sizeof(*families); i++) {
		snprintf(want, sizeof(want), "\n# TYPE %s %s\n", families[i][0], families[i][1]);
		ck_assert_msg(strstr(text, want) != NULL, "no TYPE line for %s", families[i][0]);
		snprintf(want, sizeof(want), "# HELP %s ", families[i][0]);
		ck_assert_msg(strstr(text, want) != NULL, "no HELP line for %s", families[i][0]);
	}
	/* every other line is a sample: name, optional {labels}, one space, a number */
	for (char *line = text, *end; *line != '\0'; line = end + 1) {
		char *space, *num_end;
		end = strchr(line, '\n');
		ck_assert_msg(end != NULL, "the text must end with a newline");
		*end = '\0';
		if (line[0] == '#')
			continue;
		ck_assert_msg(strncmp(line, "cleave_", 7) == 0, "bad line: %s", line);
		space = strrchr(line, ' ');
		ck_assert_msg(space != NULL, "bad line: %s", line);
		strtod(space + 1, &num_end);
		ck_assert_msg(num_end > space + 1 && *num_end == '\0', "bad value: %s", line);
		ck_assert_msg(strchr(line, '{') == NULL || space[-1] == '}', "bad labels: %s",
			      line);
	}
	free(text);
	text = scrape();
	ck_assert_double_gt(value(text, "cleave_edge_process_cpu_seconds_total"), 0);
	ck_assert_double_gt(value(text, "cleave_edge_resident_memory_bytes"), 1000000);
	free(text);
}
END_TEST

START_TEST(test_metrics_gauges_at_rest)
{
	static const char *const services[] = {"users", "threads", "posts"};
	char *text = scrape(), series[512];
	/* the scrape itself is on the admin port: it is not a request in flight */
	ck_assert_double_eq(value(text, "cleave_http_requests_in_flight"), 0);
	for (size_t i = 0; i < 3; i++) {
		snprintf(series, sizeof(series), "cleave_mesh_calls_in_flight{service=\"%s\"}",
			 services[i]);
		ck_assert_msg(value(text, series) == 0, "%s: %g", series, value(text, series));
		snprintf(series, sizeof(series), "cleave_upstream_instances{service=\"%s\"}",
			 services[i]);
		ck_assert_msg(value(text, series) == 1, "%s: %g", series, value(text, series));
		/* its one instance, at the fixture's socket, in rotation once its first health
		 * check passed */
		snprintf(
		    series, sizeof(series),
		    "cleave_upstream_instance_state{service=\"%s\",address=\"ipc://%s/%s.sock\","
		    "state=\"healthy\"}",
		    services[i], mesh.dir, services[i]);
		for (int tries = 0; tries < 300 && value(text, series) != 1; tries++) {
			free(text);
			harness_sleep_ms(10);
			text = scrape();
		}
		ck_assert_msg(value(text, series) == 1, "%s: %g", series, value(text, series));
	}
	free(text);
}
END_TEST

typedef struct slow_get {
	char url[256];
	long status;
	double seconds;
} slow_get;

static void *slow_get_run(void *arg)
{
	slow_get *g = arg;
	http_response r;
	http_get(g->url, &r);
	g->status = r.status;
	g->seconds = r.seconds;
	http_response_free(&r);
	return NULL;
}

START_TEST(test_metrics_gauges_count_a_call_in_flight)
{
	if (fixture_monolith()) {
		harness_skip("metrics_test: stopping users alone needs a process per service, "
			     "which the monolith has not");
		return;
	}
	pid_t users = fixture_pid(&mesh, "users");
	slow_get g = {.status = -1};
	pthread_t thread;
	double requests = -1, calls = -1, other_calls = -1;
	long long until;
	pid_t stopped;
	int wstatus = 0;
	char *text;
	ck_assert(mesh_up && users > 0);
	fixture_url(&mesh, "/api/users/3", g.url, sizeof(g.url));
	/* a stopped service keeps its connection: the call waits there, in flight */
	ck_assert_int_eq(kill(users, SIGSTOP), 0);
	/* kill returns before every thread has stopped: one could still answer the call */
	until = harness_now_ms() + 4000;
	while ((stopped = waitpid(users, &wstatus, WUNTRACED | WNOHANG)) == 0 &&
	       harness_now_ms() < until)
		harness_sleep_ms(1);
	if (stopped != users || !WIFSTOPPED(wstatus)) {
		kill(users, SIGCONT);
		ck_abort_msg("users did not stop (waitpid %d, status %#x)", (int)stopped, wstatus);
	}
	ck_assert_int_eq(pthread_create(&thread, NULL, slow_get_run, &g), 0);
	until = harness_now_ms() + 4000;
	do {
		text = scrape();
		requests = value(text, "cleave_http_requests_in_flight");
		calls = value(text, "cleave_mesh_calls_in_flight{service=\"users\"}");
		other_calls = value(text, "cleave_mesh_calls_in_flight{service=\"threads\"}");
		free(text);
		if (requests == 1 && calls == 1)
			break;
		harness_sleep_ms(10);
	} while (harness_now_ms() < until);
	/* let the service go before asserting, so a failure leaves nothing stopped */
	kill(users, SIGCONT);
	pthread_join(thread, NULL);
	ck_assert_msg(requests == 1 && calls == 1 && other_calls == 0,
		      "in flight: %g requests, %g users calls, %g threads calls; the GET ended %ld "
		      "after %.3f s",
		      requests, calls, other_calls, g.status, g.seconds);
	ck_assert_int_eq(g.status, 200);
	text = scrape();
	ck_assert_double_eq(value(text, "cleave_http_requests_in_flight"), 0);
	ck_assert_double_eq(value(text, "cleave_mesh_calls_in_flight{service=\"users\"}"), 0);
	free(text);
}
END_TEST

/* expect_json_error asserts r is status with a JSON error of code. */
static void expect_json_error(const http_response *r, const char *what, long status,
			      const char *code)
{
	char type[128], want[64];
	ck_assert_msg(r->status == status, "%s: %ld, want %ld (%s)", what, r->status, status,
		      r->body);
	ck_assert_msg(http_header(r, "content-type", type, sizeof(type)) != NULL &&
			  strcmp(type, JSON_TYPE) == 0,
		      "%s: not JSON", what);
	snprintf(want, sizeof(want), "{\"code\":\"%s\",", code);
	ck_assert_msg(strncmp(r->body, want, strlen(want)) == 0, "%s: %s", what, r->body);
}

START_TEST(test_metrics_not_served_on_the_main_port)
{
	static const char *const admin_host[] = {"Host: admin", NULL};
	http_options opts = {.headers = admin_host};
	http_response r;
	char url[256];
	get(0, "/metrics", &r);
	expect_json_error(&r, "GET /metrics on the main port", 404, "NOT_FOUND");
	http_response_free(&r);
	/* not through the admin host's name either */
	fixture_url(&mesh, "/metrics", url, sizeof(url));
	ck_assert_int_eq(http_request("GET", url, &opts, &r), 0);
	expect_json_error(&r, "GET /metrics with Host: admin on the main port", 404, "NOT_FOUND");
	http_response_free(&r);
}
END_TEST

START_TEST(test_metrics_admin_port_serves_nothing_else)
{
	static const char *const paths[] = {"/",	 "/api/users/1", "/api",      "/metrics/",
					    "/metricsx", "/Metrics",	 "/metrics/x"};
	char *before = scrape(), *after, url[256], allow[64];
	http_response r;
	for (size_t i = 0; i < sizeof(paths) / sizeof(*paths); i++) {
		get(1, paths[i], &r);
		expect_json_error(&r, paths[i], 404, "NOT_FOUND");
		http_response_free(&r);
	}
	fixture_admin_url(&mesh, "/metrics", url, sizeof(url));
	ck_assert_int_eq(http_request("POST", url, NULL, &r), 0);
	expect_json_error(&r, "POST /metrics", 405, "METHOD_NOT_ALLOWED");
	ck_assert_ptr_nonnull(http_header(&r, "allow", allow, sizeof(allow)));
	ck_assert_str_eq(allow, "GET, HEAD");
	http_response_free(&r);
	/* a query does not change the path */
	get(1, "/metrics?name=x", &r);
	ck_assert_int_eq(r.status, 200);
	http_response_free(&r);
	/* the admin port's requests are not counted as the API's */
	after = scrape();
	ck_assert_double_eq(sum_of(after, REQUESTS "{"), sum_of(before, REQUESTS "{"));
	free(before);
	free(after);
}
END_TEST

START_TEST(test_metrics_admin_port_follows_rfc_9110_and_9112)
{
	/* the admin port does as the main one (see rfc_test): RFC 9112 3.2 and 6.1 refusals,
	 * 3.2.2's absolute form, RFC 9110 7.4's https targets, 13.1's preconditions */
	static const struct {
		const char *head;
		const char *status; /* the answer starts with it */
	} cases[] = {
	    {"GET /metrics HTTP/1.1\r\n\r\n", "HTTP/1.1 400 "},
	    {"GET /metrics HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "HTTP/1.1 400 "},
	    {"GET /metrics HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nTransfer-Encoding: "
	     "chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
	     "HTTP/1.1 400 "},
	    {"GET http://x/metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
	     "HTTP/1.1 200 "},
	    {"GET https://x/metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
	     "HTTP/1.1 421 "},
	    {"GET /metrics HTTP/1.1\r\nHost: x\r\nIf-None-Match: *\r\nConnection: close\r\n\r\n",
	     "HTTP/1.1 304 "},
	    {"GET /metrics HTTP/1.1\r\nHost: x\r\nIf-Match: \"t\"\r\nConnection: close\r\n\r\n",
	     "HTTP/1.1 412 "},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		const char *head = cases[i].head;
		char *answer = http_raw_at(mesh.host, mesh.admin_port, head, strlen(head), 3000);
		ck_assert_ptr_nonnull(answer);
		ck_assert_msg(strncmp(answer, cases[i].status, strlen(cases[i].status)) == 0,
			      "case %zu: %.200s", i, answer);
		ck_assert_msg(strncmp(cases[i].status, "HTTP/1.1 4", 10) != 0 ||
				  strstr(answer, "{\"code\":\"") != NULL,
			      "case %zu is no JSON error: %.200s", i, answer);
		free(answer);
	}
}
END_TEST

START_TEST(test_metrics_everything_stops_cleanly)
{
	char report[8192];
	ck_assert(mesh_up);
	mesh_up = 0;
	ck_assert_msg(fixture_mesh_stop(&mesh, report, sizeof(report)) == 0, "%s", report);
}
END_TEST

static Suite *metrics_suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = harness_tcase("metrics", 120);
	tcase_add_unchecked_fixture(tc, mesh_setup, mesh_teardown);
	tcase_add_test(tc, test_metrics_count_known_requests);
	tcase_add_test(tc, test_metrics_histograms_are_cumulative_and_match_counters);
	tcase_add_test(tc, test_metrics_text_format);
	tcase_add_test(tc, test_metrics_gauges_at_rest);
	tcase_add_test(tc, test_metrics_gauges_count_a_call_in_flight);
	tcase_add_test(tc, test_metrics_not_served_on_the_main_port);
	tcase_add_test(tc, test_metrics_admin_port_serves_nothing_else);
	tcase_add_test(tc, test_metrics_admin_port_follows_rfc_9110_and_9112);
	tcase_add_test(tc, test_metrics_everything_stops_cleanly); /* last: it stops the mesh */
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return harness_run_suite(metrics_suite(), 1);
}
