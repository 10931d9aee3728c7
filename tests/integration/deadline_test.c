/* deadline_test.c: deadlines and cancellation end to end: the Request-Timeout header and its
 * bounds (400 on a bad value), a 504 naming the hop that ran out (a stopped service), and a
 * cancel carried from a client that went away to the service, which skips the call unrun or,
 * for a create waiting on its checks, cancels them. */
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "fixture.h"
#include "harness.h"
#include "http.h"
#include "mesh.h"
#include "mesh.pb-c.h"

/* the edge's --max-timeout-ms in this suite, and the timeout: its copy of the manifests gives
 * GET /api/threads/{id} */
#define MAX_TIMEOUT	   "1500"
#define THREAD_GET_TIMEOUT "700"

static fixture_mesh mesh;
static int mesh_up;
static char manifests[256]; /* the manifests the edge reads: the checkout's, one route changed */

/* copy_manifest writes the checkout's svc/name/manifest.yml under manifests/name/, with the first
 * occurrence of from (NULL: none) replaced by to. Returns 0 or -1. */
static int copy_manifest(const char *name, const char *from, const char *to)
{
	char path[512];
	char *text, *at;
	FILE *f;
	snprintf(path, sizeof(path), "%s/svc/%s/manifest.yml", CLEAVE_SOURCE_DIR, name);
	if ((text = harness_read_file(path)) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/%s", manifests, name);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%s/manifest.yml", manifests, name);
	if ((f = fopen(path, "w")) == NULL) {
		free(text);
		return -1;
	}
	at = from != NULL ? strstr(text, from) : NULL;
	if (at != NULL)
		fprintf(f, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
	else
		fputs(text, f);
	free(text);
	return fclose(f) == 0 && (from == NULL || at != NULL) ? 0 : -1;
}

/* mesh_start starts the suite's mesh, the edge's --max-timeout-ms max_timeout. */
static void mesh_start(const char *max_timeout)
{
	const char *const args[] = {
	    "--admin-port", "0", "--max-timeout-ms", max_timeout, "--manifests", manifests, NULL};
	if (fixture_external() != NULL || fixture_monolith())
		return; /* each test skips */
	if (harness_tmpdir(manifests, sizeof(manifests)) != 0 ||
	    copy_manifest("users", NULL, NULL) != 0 || copy_manifest("posts", NULL, NULL) != 0 ||
	    copy_manifest("threads", "    rpc: Get\n",
			  "    rpc: Get\n    timeout: " THREAD_GET_TIMEOUT "ms\n") != 0) {
		fprintf(stderr, "deadline_test: cannot copy the manifests to %s\n", manifests);
		return;
	}
	mesh_up = fixture_mesh_start(&mesh, args) == 0 && mesh.admin_port > 0;
}

static void mesh_setup(void)
{
	mesh_start(MAX_TIMEOUT);
}

/* mesh_setup_long: a mesh whose requests may wait a minute, so that a call ended by its cancel
 * and not by its deadline is told apart by far */
static void mesh_setup_long(void)
{
	mesh_start("60000");
}

static void mesh_teardown(void)
{
	char report[8192];
	if (mesh_up && fixture_mesh_stop(&mesh, report, sizeof(report)) != 0)
		harness_note_unclean("the mesh", report);
	mesh_up = 0;
	if (manifests[0] != '\0')
		harness_rmtree(manifests);
}

/* own_mesh returns 1, or skips the test (0: it returns at once) where the suite cannot stop one
 * service: a mesh started elsewhere, or the monolith. */
static int own_mesh(void)
{
	if (fixture_external() != NULL || fixture_monolith()) {
		harness_skip("needs its own mesh of one process per service (it stops one)");
		return 0;
	}
	ck_assert_msg(mesh_up, "the mesh did not start");
	return 1;
}

/* request sends method to path with body (JSON; NULL: none) and a Request-Timeout of timeout
 * (NULL: none), and fills r; the client waits 10 s at most, far past every bound here. */
static void request(const char *method, const char *path, const char *body, const char *timeout,
		    http_response *r)
{
	char url[256], header[128];
	const char *headers[] = {header, NULL};
	http_options o = {.timeout_ms = 10000};
	ck_assert_msg(mesh_up, "the mesh did not start");
	if (body != NULL) {
		o.body = body;
		o.content_type = "application/json";
	}
	if (timeout != NULL) {
		snprintf(header, sizeof(header), "Request-Timeout: %s", timeout);
		o.headers = headers;
	}
	fixture_url(&mesh, path, url, sizeof(url));
	ck_assert_msg(http_request(method, url, &o, r) == 0, "%s %s: %s", method, path, r->error);
}

/* signal_service stops (SIGSTOP: every thread stopped when it returns) or continues (SIGCONT)
 * service name. */
static void signal_service(const char *name, int sig)
{
	pid_t pid = fixture_pid(&mesh, name);
	ck_assert_int_gt(pid, 0);
	ck_assert_int_eq(sig == SIGSTOP ? harness_freeze(pid) : harness_thaw(pid), 0);
}

START_TEST(test_request_timeout_values)
{
	static const char *const good[] = {"2", "250ms", "1.5s", "0.25", " 3s ", "99999999"};
	static const char *const bad[] = {"abc",   "0",		"0ms", "0.0004", "1.2345", "-1",
					  "1.5ms", "123456789", "2 s", "1e3",	 "5m"};
	http_response r;
	if (!own_mesh())
		return;
	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++) {
		request("GET", "/api/users/1", NULL, good[i], &r);
		ck_assert_msg(r.status == 200, "'%s': %ld %s", good[i], r.status, r.body);
		http_response_free(&r);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		request("GET", "/api/users/1", NULL, bad[i], &r);
		ck_assert_msg(r.status == 400, "'%s': %ld %s", bad[i], r.status, r.body);
		ck_assert_msg(
		    strncmp(r.body, "{\"code\":\"INVALID_ARGUMENT\",\"message\":\"Request-Timeout ",
			    54) == 0,
		    "'%s': %s", bad[i], r.body);
		http_response_free(&r);
	}
	{ /* given twice */
		const char *headers[] = {"Request-Timeout: 1s", "Request-Timeout: 2s", NULL};
		http_options o = {.headers = headers};
		char url[256];
		fixture_url(&mesh, "/api/users/1", url, sizeof(url));
		ck_assert_int_eq(http_request("GET", url, &o, &r), 0);
		ck_assert_msg(r.status == 400, "%ld %s", r.status, r.body);
		ck_assert_ptr_nonnull(strstr(r.body, "Request-Timeout is given more than once"));
		http_response_free(&r);
	}
}
END_TEST

static int service_stats(const char *service, const char *method, long long *calls,
			 long long *cancelled);

/* method_stats: service_stats of posts. */
static int method_stats(const char *method, long long *calls, long long *cancelled)
{
	return service_stats("posts", method, calls, cancelled);
}

/* loop_transport says whether the edge's calls travel on its loop transport, which tells a service
 * of the calls it gives up (nng's client does not). */
static int loop_transport(void)
{
	const char *transport = getenv("CLEAVE_MESH_TRANSPORT");
	return transport == NULL || strcmp(transport, "nng") != 0;
}

START_TEST(test_504_names_the_service_that_ran_out)
{
	/* posts stopped: its own call runs out, and the answer names it; the edge tells posts,
	 * which skips the call once it runs again */
	http_response r;
	long long calls0, cancelled0, calls, cancelled, until;
	if (!own_mesh())
		return;
	ck_assert_int_eq(method_stats("Get", &calls0, &cancelled0), 0);
	signal_service("posts", SIGSTOP);
	request("GET", "/api/posts/1", NULL, "300ms", &r);
	signal_service("posts", SIGCONT);
	ck_assert_msg(r.status == 504, "%ld %s", r.status, r.body);
	ck_assert_msg(strstr(r.body, "\"code\":\"DEADLINE_EXCEEDED\"") != NULL &&
			  strstr(r.body, "posts.Posts") != NULL &&
			  strstr(r.body, "(the request's deadline: 300 ms)") != NULL,
		      "%s", r.body);
	http_response_free(&r);
	if (!loop_transport())
		return; /* nng's client abandons the call untold: posts runs it */
	until = harness_now_ms() + 5000;
	do
		ck_assert_int_eq(method_stats("Get", &calls, &cancelled), 0);
	while (cancelled == cancelled0 && harness_now_ms() < until && (harness_sleep_ms(20), 1));
	ck_assert_msg(calls == calls0 + 1 && cancelled == cancelled0 + 1,
		      "posts counted %lld more Get calls, %lld of them cancelled", calls - calls0,
		      cancelled - cancelled0);
}
END_TEST

START_TEST(test_504_names_the_nested_hop_that_ran_out)
{
	/* users stopped: posts's check of the author runs out first (a nested call ends before its
	 * parent, by 100 ms here: time enough for posts to answer even under load), and posts
	 * answers in time with the hop that ran out */
	http_response r;
	if (!own_mesh())
		return;
	signal_service("users", SIGSTOP);
	request("POST", "/api/posts", "{\"thread\":1,\"text\":\"Late\",\"user\":1}", "1500ms", &r);
	signal_service("users", SIGCONT);
	ck_assert_msg(r.status == 504, "%ld %s", r.status, r.body);
	ck_assert_msg(strstr(r.body, "\"code\":\"DEADLINE_EXCEEDED\"") != NULL &&
			  strstr(r.body, "checking user 1: users.Users.Get: deadline exceeded") !=
			      NULL,
		      "not posts's answer naming users: %s", r.body);
	http_response_free(&r);
}
END_TEST

START_TEST(test_the_global_maximum_bounds_a_longer_request_timeout)
{
	/* an hour asked for, MAX_TIMEOUT_MS given: the stopped service's request ends in a 504
	 * well before the client's 10 s */
	http_response r;
	if (!own_mesh())
		return;
	signal_service("threads", SIGSTOP);
	request("GET", "/api/threads", NULL, "3600", &r);
	signal_service("threads", SIGCONT);
	ck_assert_msg(r.status == 504 && strstr(r.body, "deadline: " MAX_TIMEOUT " ms)") != NULL,
		      "%ld %s (%.1f s)", r.status, r.body, r.seconds);
	http_response_free(&r);
	/* no header on a route without a timeout: the edge's default (5 s) cut to the maximum */
	signal_service("threads", SIGSTOP);
	request("GET", "/api/threads", NULL, NULL, &r);
	signal_service("threads", SIGCONT);
	ck_assert_msg(r.status == 504 && strstr(r.body, "deadline: " MAX_TIMEOUT " ms)") != NULL,
		      "%ld %s", r.status, r.body);
	http_response_free(&r);
}
END_TEST

START_TEST(test_a_route_timeout_bounds_the_request)
{
	/* GET /api/threads/{id} has a timeout of its own: it is the default, and the most a
	 * Request-Timeout gets; a shorter one stands */
	static const struct {
		const char *asked, *given;
	} cases[] = {{NULL, THREAD_GET_TIMEOUT}, {"3600", THREAD_GET_TIMEOUT}, {"250ms", "250"}};
	http_response r;
	char want[64];
	if (!own_mesh())
		return;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		signal_service("threads", SIGSTOP);
		request("GET", "/api/threads/1", NULL, cases[i].asked, &r);
		signal_service("threads", SIGCONT);
		snprintf(want, sizeof(want), "(the request's deadline: %s ms)", cases[i].given);
		ck_assert_msg(r.status == 504 && strstr(r.body, want) != NULL, "%s: %ld %s",
			      cases[i].asked != NULL ? cases[i].asked : "none", r.status, r.body);
		http_response_free(&r);
	}
}
END_TEST

/* metric returns the value of the sample name on the edge's /metrics, or -1 if there is none. */
static double metric(const char *name)
{
	http_response r;
	char url[256];
	double v = -1;
	size_t n = strlen(name);
	fixture_admin_url(&mesh, "/metrics", url, sizeof(url));
	ck_assert_int_eq(http_get(url, &r), 0);
	for (const char *line = r.body; line != NULL && *line != '\0';) {
		if (strncmp(line, name, n) == 0 && line[n] == ' ') {
			v = strtod(line + n + 1, NULL);
			break;
		}
		line = strchr(line, '\n');
		if (line != NULL)
			line++;
	}
	http_response_free(&r);
	return v;
}

/* service_stats fills *calls and *cancelled with service's counters of method, asking it Health
 * as the operator does; returns 0, or -1 if it does not answer. */
static int service_stats(const char *service, const char *method, long long *calls,
			 long long *cancelled)
{
	mesh_client_opts o = {.caller = "meshctl", .timeout_ms = 5000};
	Mesh__HealthRequest req = MESH__HEALTH_REQUEST__INIT;
	ProtobufCMessage *out = NULL;
	char url[256], msg[256];
	long long until = harness_now_ms() + 5000;
	mesh_client *c;
	int rv = -1;
	snprintf(url, sizeof(url), "ipc://%s/%s.sock", mesh.dir, service);
	if (mesh_client_new(&c, &mesh__mesh__descriptor, &o) != 0)
		return -1;
	mesh_client_dial(c, url);
	while (mesh_client_instances(c) == 0 && harness_now_ms() < until)
		harness_sleep_ms(5);
	*calls = *cancelled = 0;
	if (mesh_client_call(c, "Health", &req.base, &out, NULL, msg, sizeof(msg)) == MESH_OK) {
		Mesh__HealthReply *h = (Mesh__HealthReply *)out;
		for (size_t i = 0; i < h->n_methods; i++)
			if (strcmp(h->methods[i]->method, method) == 0) {
				*calls = (long long)h->methods[i]->calls;
				*cancelled = (long long)h->methods[i]->cancelled;
			}
		protobuf_c_message_free_unpacked(out, NULL);
		rv = 0;
	}
	mesh_client_free(c);
	return rv;
}

START_TEST(test_a_cancel_reaches_the_service)
{
	/* posts stopped, two requests wait in its connection; the second's client goes away, the
	 * edge sends its Cancel after it; posts, let go, serves the first and skips the second */
	static const char first[] = "GET /api/posts/1 HTTP/1.1\r\nHost: t\r\n\r\n";
	static const char second[] = "GET /api/posts/2 HTTP/1.1\r\nHost: t\r\n\r\n";
	const char *cancel = "cleave_mesh_calls_cancelled_total{service=\"posts\"}";
	long long calls0, cancelled0, calls, cancelled, until;
	double cancelled_at_edge;
	int a, b;
	char *answer;
	if (!own_mesh())
		return;
	if (!loop_transport()) {
		harness_skip(
		    "CLEAVE_MESH_TRANSPORT=nng: nng's client abandons a call without telling "
		    "the service, and nng's workers cannot find the call a Cancel names "
		    "(README, Deadlines and cancellation)");
		return;
	}
	ck_assert_int_eq(method_stats("Get", &calls0, &cancelled0), 0);
	cancelled_at_edge = metric(cancel);
	signal_service("posts", SIGSTOP);
	a = http_raw_connect("127.0.0.1", mesh.port);
	b = http_raw_connect("127.0.0.1", mesh.port);
	ck_assert(a >= 0 && b >= 0);
	http_raw_send(a, first, sizeof(first) - 1);
	http_raw_send(b, second, sizeof(second) - 1);
	harness_sleep_ms(100); /* both calls sent to posts */
	close(b);
	until = harness_now_ms() + 5000;
	while (metric(cancel) <= cancelled_at_edge && harness_now_ms() < until)
		harness_sleep_ms(10);
	signal_service("posts", SIGCONT);
	ck_assert_msg(metric(cancel) > cancelled_at_edge, "the edge did not cancel the call");
	answer = http_raw_read(a, 5000, "\r\n\r\n", NULL, NULL);
	close(a);
	ck_assert_msg(strncmp(answer, "HTTP/1.1 200", 12) == 0, "%s", answer);
	free(answer);
	ck_assert_int_eq(method_stats("Get", &calls, &cancelled), 0);
	ck_assert_msg(calls == calls0 + 2 && cancelled == cancelled0 + 1,
		      "posts counted %lld more Get calls, %lld of them cancelled", calls - calls0,
		      cancelled - cancelled0);
}
END_TEST

/* unread_at says whether a connection to service's socket holds bytes the (stopped) service has
 * not read, as ss(8) shows the connections it accepted. */
static int unread_at(const char *service)
{
	char path[300], line[1024];
	int found = 0;
	FILE *ss;
	snprintf(path, sizeof(path), "%s/%s.sock ", mesh.dir, service);
	if ((ss = popen("ss -x -H 2>/dev/null", "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), ss) != NULL) {
		char type[16], state[16];
		unsigned long recv_q;
		if (strstr(line, path) != NULL &&
		    sscanf(line, "%15s %15s %lu", type, state, &recv_q) == 3 && recv_q > 0)
			found = 1;
	}
	pclose(ss);
	return found;
}

START_TEST(test_a_cancel_stops_the_nested_calls_of_a_running_create)
{
	/* users stopped: a create waits in posts for its check of the author; its client goes
	 * away; posts, told by the edge's Cancel, cancels its own call to users (which, let go,
	 * skips it) and answers CANCELLED at once: within 10 s, where the deadline is 40 s */
	static const char body[] = "{\"thread\":1,\"text\":\"Abandoned\",\"user\":1}";
	char request[512];
	long long creates0, cancelled0, creates, cancelled, gets0, gets_cancelled0, gets,
	    gets_cancelled, until;
	int fd, n;
	if (!own_mesh())
		return;
	if (!loop_transport()) {
		harness_skip(
		    "CLEAVE_MESH_TRANSPORT=nng: the services' calls run on nng's workers, "
		    "which answer before they return (README, Deadlines and cancellation)");
		return;
	}
	ck_assert_int_eq(method_stats("Create", &creates0, &cancelled0), 0);
	ck_assert_int_eq(service_stats("users", "Get", &gets0, &gets_cancelled0), 0);
	signal_service("users", SIGSTOP);
	n = snprintf(request, sizeof(request),
		     "POST /api/posts HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
		     "Request-Timeout: 40s\r\nContent-Length: %zu\r\n\r\n%s",
		     sizeof(body) - 1, body);
	fd = http_raw_connect("127.0.0.1", mesh.port);
	ck_assert(fd >= 0);
	http_raw_send(fd, request, (size_t)n);
	/* the create reached posts, and its check of the author reached users, unread */
	until = harness_now_ms() + 5000;
	while (!unread_at("users") && harness_now_ms() < until)
		harness_sleep_ms(10);
	ck_assert_msg(unread_at("users"), "posts's check of the author did not reach users");
	close(fd);
	/* posts answered the create CANCELLED: counted so (a deadline would not be) */
	until = harness_now_ms() + 10000;
	do
		ck_assert_int_eq(method_stats("Create", &creates, &cancelled), 0);
	while (cancelled == cancelled0 && harness_now_ms() < until && (harness_sleep_ms(10), 1));
	signal_service("users", SIGCONT);
	ck_assert_msg(creates == creates0 + 1 && cancelled == cancelled0 + 1,
		      "posts counted %lld more Create calls, %lld of them cancelled",
		      creates - creates0, cancelled - cancelled0);
	/* users, let go, finds its Get cancelled behind it and skips it */
	until = harness_now_ms() + 10000;
	do
		ck_assert_int_eq(service_stats("users", "Get", &gets, &gets_cancelled), 0);
	while (gets_cancelled == gets_cancelled0 && harness_now_ms() < until &&
	       (harness_sleep_ms(10), 1));
	ck_assert_msg(gets == gets0 + 1 && gets_cancelled == gets_cancelled0 + 1,
		      "users counted %lld more Get calls, %lld of them cancelled", gets - gets0,
		      gets_cancelled - gets_cancelled0);
}
END_TEST

static Suite *deadline_suite(void)
{
	Suite *s = suite_create("deadline");
	TCase *tc = tcase_create("deadline");
	tcase_add_unchecked_fixture(tc, mesh_setup, mesh_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_request_timeout_values);
	tcase_add_test(tc, test_504_names_the_service_that_ran_out);
	tcase_add_test(tc, test_504_names_the_nested_hop_that_ran_out);
	tcase_add_test(tc, test_the_global_maximum_bounds_a_longer_request_timeout);
	tcase_add_test(tc, test_a_route_timeout_bounds_the_request);
	tcase_add_test(tc, test_a_cancel_reaches_the_service);
	suite_add_tcase(s, tc);
	tc = tcase_create("cancel");
	tcase_add_unchecked_fixture(tc, mesh_setup_long, mesh_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_a_cancel_stops_the_nested_calls_of_a_running_create);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return harness_run_suite(deadline_suite(), 1);
}
