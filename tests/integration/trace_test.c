/* trace_test.c: W3C trace context end to end: the edge takes a valid traceparent or starts a
 * trace, returns a traceparent on every answer, writes the trace id in the access log, and the
 * service's log lines carry it with the service's own span, child of the edge's (unit/mesh_test
 * follows a trace over two hops). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "fixture.h"
#include "harness.h"
#include "http.h"

#define WAIT_MS 3000 /* the access log is flushed every 100 ms */
#define TRACE	"4bf92f3577b34da6a3ce929d0e0e4736"
#define PARENT	"00f067aa0ba902b7"

static fixture_mesh mesh;
static int mesh_up;

static void mesh_setup(void)
{
	if (fixture_external() == NULL)
		mesh_up = fixture_mesh_start(&mesh, NULL) == 0;
}

static void mesh_teardown(void)
{
	char report[8192];
	if (mesh_up && fixture_mesh_stop(&mesh, report, sizeof(report)) != 0)
		harness_note_unclean("the mesh", report);
	mesh_up = 0;
}

/* own_mesh returns 1, or skips the test (0: it returns at once) where the suite has no logs to read
 * (a mesh started elsewhere). */
static int own_mesh(void)
{
	if (fixture_external() != NULL) {
		harness_skip("reads the logs of a mesh of its own");
		return 0;
	}
	ck_assert_msg(mesh_up, "the mesh did not start");
	return 1;
}

/* send sends method to path with body (JSON; NULL: none) and the header lines h0 and h1 (NULL:
 * none), and fills r. */
static void send(const char *method, const char *path, const char *body, const char *h0,
		 const char *h1, http_response *r)
{
	char url[512];
	const char *headers[] = {h0, h1, NULL};
	http_options o = {.headers = headers, .timeout_ms = 10000};
	if (body != NULL) {
		o.body = body;
		o.content_type = "application/json";
	}
	fixture_url(&mesh, path, url, sizeof(url));
	ck_assert_msg(http_request(method, url, &o, r) == 0, "%s %s: %s", method, path, r->error);
}

/* traceparent copies r's traceparent into out (56 bytes), checking its form: version 00, ids of
 * lowercase hex not all zero. */
static void traceparent(const http_response *r, char *out)
{
	ck_assert_msg(http_header(r, "traceparent", out, 56) != NULL, "no traceparent:\n%s",
		      r->headers);
	ck_assert_msg(strlen(out) == 55 && strncmp(out, "00-", 3) == 0 && out[35] == '-' &&
			  out[52] == '-' && strspn(out + 3, "0123456789abcdef") == 32 &&
			  strspn(out + 36, "0123456789abcdef") == 16 &&
			  strspn(out + 53, "0123456789abcdef") == 2 &&
			  strncmp(out + 3, "00000000000000000000000000000000", 32) != 0 &&
			  strncmp(out + 36, "0000000000000000", 16) != 0,
		      "malformed traceparent '%s'", out);
}

/* log_line waits for the line of name's log ("access": the edge's access log) holding needle. */
static int log_line(const char *name, const char *needle, char *line, size_t linelen)
{
	char path[256];
	if (strcmp(name, "access") == 0)
		snprintf(path, sizeof(path), "%s/access.log", mesh.dir);
	else
		fixture_log_path(&mesh, name, path, sizeof(path));
	return harness_wait_for_line(path, needle, line, linelen, WAIT_MS);
}

START_TEST(test_a_valid_traceparent_is_continued)
{
	char tp[56], line[1024];
	http_response r;
	if (!own_mesh())
		return;
	send("GET", "/api/users/1", NULL, "traceparent: 00-" TRACE "-" PARENT "-01",
	     "X-Request-Id: traced-1", &r);
	ck_assert_int_eq(r.status, 200);
	traceparent(&r, tp);
	http_response_free(&r);
	/* the same trace and flags; the edge's own span as the parent */
	ck_assert_msg(strncmp(tp, "00-" TRACE "-", 36) == 0, "%s", tp);
	ck_assert_msg(strncmp(tp + 36, PARENT, 16) != 0, "the edge kept the client's span: %s", tp);
	ck_assert_str_eq(tp + 52, "-01");
	ck_assert_msg(log_line("access", "[traced-1]", line, sizeof(line)) == 0, "no access line");
	ck_assert_msg(strstr(line, " 200 users ") != NULL &&
			  strstr(line, " trace=" TRACE " [") != NULL,
		      "%s", line);
	/* a later version is read by its first fields; unsampled stays unsampled */
	send("GET", "/api/users/1", NULL, "traceparent: 01-" TRACE "-" PARENT "-00-what-comes-next",
	     NULL, &r);
	traceparent(&r, tp);
	http_response_free(&r);
	ck_assert_msg(strncmp(tp, "00-" TRACE "-", 36) == 0 && strcmp(tp + 52, "-00") == 0, "%s",
		      tp);
}
END_TEST

START_TEST(test_an_invalid_or_missing_traceparent_starts_a_trace)
{
	static const char *const bad[] = {
	    "traceparent: 00-4BF92F3577B34DA6A3CE929D0E0E4736-" PARENT "-01", /* uppercase */
	    "traceparent: 00-00000000000000000000000000000000-" PARENT "-01", /* zero trace */
	    "traceparent: 00-" TRACE "-0000000000000000-01",		      /* zero span */
	    "traceparent: ff-" TRACE "-" PARENT "-01",			      /* version ff */
	    "traceparent: 00-" TRACE "-" PARENT "-01-more",		      /* 00 with more */
	    "traceparent: 00-" TRACE "-" PARENT "-1",			      /* short */
	    "traceparent: 00_" TRACE "_" PARENT "_01",			      /* separators */
	    "traceparent: 00-" TRACE "-" PARENT "-0g",			      /* flags */
	    "X-Nothing: 1",						      /* none */
	};
	char tp[56], first[56] = "";
	http_response r;
	if (!own_mesh())
		return;
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		send("GET", "/api/threads/1", NULL, bad[i], NULL, &r);
		ck_assert_int_eq(r.status, 200);
		traceparent(&r, tp);
		http_response_free(&r);
		ck_assert_msg(strncmp(tp + 3, TRACE, 32) != 0, "'%s' was continued: %s", bad[i],
			      tp);
		ck_assert_str_eq(tp + 52, "-01"); /* a trace the edge starts is sampled */
		ck_assert_msg(strncmp(tp, first, 36) != 0, "two requests share trace %s", tp);
		memcpy(first, tp, sizeof(first));
	}
	/* answers the edge makes itself carry one too */
	send("GET", "/api/nothing-here", NULL, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 404);
	traceparent(&r, tp);
	http_response_free(&r);
	send("GET", "/api/users/1", NULL, "Request-Timeout: nope", NULL, &r);
	ck_assert_int_eq(r.status, 400);
	traceparent(&r, tp);
	http_response_free(&r);
}
END_TEST

START_TEST(test_every_hop_logs_the_trace_with_its_span)
{
	/* users stopped: posts's check of the author runs out, and posts logs its answer with the
	 * trace, its own span and the edge's as its parent (that every hop opens a span of its own
	 * and passes the trace on is mesh_test's test_mesh_trace_reaches_every_hop_as_a_new_span)
	 */
	char tp[56], line[1024], posts_span[17];
	const char *at;
	http_response r;
	pid_t users;
	if (!own_mesh())
		return;
	if (fixture_monolith()) {
		harness_skip("stops users: needs a process per service");
		return;
	}
	users = fixture_pid(&mesh, "users");
	ck_assert_int_gt(users, 0);
	ck_assert_int_eq(harness_freeze(users), 0);
	send("POST", "/api/posts", "{\"thread\":1,\"text\":\"Traced\",\"user\":1}",
	     "traceparent: 00-" TRACE "-" PARENT "-01", "Request-Timeout: 400ms", &r);
	ck_assert_int_eq(harness_thaw(users), 0);
	ck_assert_msg(r.status == 504, "%ld %s", r.status, r.body);
	traceparent(&r, tp);
	http_response_free(&r);
	/* posts: the trace, its own span, the edge's span as its parent */
	ck_assert_msg(log_line("posts", "Create answered DEADLINE_EXCEEDED", line, sizeof(line)) ==
			  0,
		      "posts logged no DEADLINE_EXCEEDED answer");
	ck_assert_msg((at = strstr(line, "trace=" TRACE " span=")) != NULL, "%s", line);
	memcpy(posts_span, at + 44, 16);
	posts_span[16] = '\0';
	ck_assert_msg(strspn(posts_span, "0123456789abcdef") == 16 &&
			  strncmp(at + 60, " parent=", 8) == 0 &&
			  strncmp(at + 68, tp + 36, 16) == 0,
		      "posts's parent is not the edge's span %.16s: %s", tp + 36, line);
}
END_TEST

static Suite *trace_suite(void)
{
	Suite *s = suite_create("trace");
	TCase *tc = tcase_create("trace");
	tcase_add_unchecked_fixture(tc, mesh_setup, mesh_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_a_valid_traceparent_is_continued);
	tcase_add_test(tc, test_an_invalid_or_missing_traceparent_starts_a_trace);
	tcase_add_test(tc, test_every_hop_logs_the_trace_with_its_span);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return harness_run_suite(trace_suite(), 1);
}
