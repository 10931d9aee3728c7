/* request_id_test.c: X-Request-Id end to end: the edge takes a client's well-formed id or makes
 * one, returns it on every answer, writes it in the access log and carries it in the call; the
 * services' log lines about a failed call carry it too. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "fixture.h"
#include "harness.h"
#include "http.h"

#define WAIT_MS 3000 /* the access log is flushed every 100 ms */

static fixture_mesh mesh;
static int mesh_up;

static void mesh_setup(void)
{
	mesh_up = fixture_mesh_start(&mesh, NULL) == 0;
}

static void mesh_teardown(void)
{
	char report[8192];
	if (mesh_up && fixture_mesh_stop(&mesh, report, sizeof(report)) != 0)
		fprintf(stderr, "request_id_test: unclean stop:\n%s", report);
	mesh_up = 0;
}

/* send_request sends method to path with body (JSON; NULL: none), carrying header (a "Name:
 * value" line; NULL: none), over HTTP/2 if http2, and fills r. */
static void send_request(const char *method, const char *path, const char *body, const char *header,
			 int http2, http_response *r)
{
	char url[512];
	const char *headers[] = {header, NULL};
	http_options o = {.http2 = http2};
	ck_assert_msg(mesh_up, "the mesh did not start");
	if (body != NULL) {
		o.body = body;
		o.content_type = "application/json";
	}
	if (header != NULL)
		o.headers = headers;
	fixture_url(&mesh, path, url, sizeof(url));
	ck_assert_msg(http_request(method, url, &o, r) == 0, "%s %s: %s", method, path, r->error);
}

/* response_id copies r's X-Request-Id into id, failing the test if there is none. */
static void response_id(const http_response *r, char *id, size_t idlen)
{
	ck_assert_msg(http_header(r, "x-request-id", id, idlen) != NULL,
		      "no X-Request-Id in the %ld answer:\n%s", r->status, r->headers);
}

/* is_generated says whether id looks like one the edge made: 16 lowercase hex digits. */
static int is_generated(const char *id)
{
	return strlen(id) == 16 && strspn(id, "0123456789abcdef") == 16;
}

/* log_line waits for the line of name's log ("access" for the edge's access log) that holds
 * needle, and copies it to line. */
static int log_line(const char *name, const char *needle, char *line, size_t linelen)
{
	char path[256];
	if (strcmp(name, "access") == 0)
		snprintf(path, sizeof(path), "%s/access.log", mesh.dir);
	else
		fixture_log_path(&mesh, name, path, sizeof(path));
	return harness_wait_for_line(path, needle, line, linelen, WAIT_MS);
}

/* log_has says whether name's log holds needle now (a line already written: the access log's
 * lines of earlier requests are out once a later one's is). */
static int log_has(const char *name, const char *needle)
{
	char path[256];
	char *text;
	int found;
	if (strcmp(name, "access") == 0)
		snprintf(path, sizeof(path), "%s/access.log", mesh.dir);
	else
		fixture_log_path(&mesh, name, path, sizeof(path));
	text = harness_read_file(path);
	found = text != NULL && strstr(text, needle) != NULL;
	free(text);
	return found;
}

/* expect_access_line asserts the access log has a line that ends with " [id]" and holds what
 * ("GET /api/users/1 200 users "). */
static void expect_access_line(const char *id, const char *what)
{
	char needle[200], line[1024];
	snprintf(needle, sizeof(needle), " [%s]", id);
	ck_assert_msg(log_line("access", needle, line, sizeof(line)) == 0,
		      "no access-log line with %s", needle);
	ck_assert_msg(strstr(line, what) != NULL, "'%s' lacks '%s'", line, what);
	ck_assert_msg(strlen(line) >= strlen(needle) &&
			  strcmp(line + strlen(line) - strlen(needle), needle) == 0,
		      "'%s' does not end with '%s'", line, needle);
}

START_TEST(test_request_id_generated_on_every_answer)
{
	static const struct {
		const char *method, *path;
		long status;
		const char *logged;
	} cases[] = {
	    {"GET", "/api/users/1", 200, "GET /api/users/1 200 users "},
	    {"GET", "/api/users/999", 404, "GET /api/users/999 404 users "},
	    {"GET", "/api/nothing-here", 404, "GET /api/nothing-here 404 edge "},
	    {"GET", "/api/users/abc", 400, "GET /api/users/abc 400 edge "},
	    {"DELETE", "/api/users/1", 405, "DELETE /api/users/1 405 edge "},
	    {"OPTIONS", "/api/users", 204, "OPTIONS /api/users 204 edge "},
	    {"GET", "/", 200, "GET / 200 edge "},
	};
	char seen[sizeof(cases) / sizeof(*cases)][64];
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		http_response r;
		send_request(cases[i].method, cases[i].path, NULL, NULL, 0, &r);
		ck_assert_msg(r.status == cases[i].status, "%s %s: %ld", cases[i].method,
			      cases[i].path, r.status);
		response_id(&r, seen[i], sizeof(seen[i]));
		http_response_free(&r);
		ck_assert_msg(is_generated(seen[i]), "'%s' is not a generated id", seen[i]);
		for (size_t k = 0; k < i; k++)
			ck_assert_str_ne(seen[k], seen[i]);
		expect_access_line(seen[i], cases[i].logged);
	}
}
END_TEST

START_TEST(test_request_id_from_the_client_is_kept)
{
	static const char *const ids[] = {"client-abc.123:XYZ_9",
					  "550e8400-e29b-41d4-a716-446655440000", "x"};
	char longest[129], header[200], id[200];
	http_response r;
	for (size_t i = 0; i < sizeof(ids) / sizeof(*ids); i++) {
		snprintf(header, sizeof(header), "X-Request-Id: %s", ids[i]);
		send_request("GET", "/api/users/2", NULL, header, 0, &r);
		ck_assert_int_eq(r.status, 200);
		response_id(&r, id, sizeof(id));
		http_response_free(&r);
		ck_assert_str_eq(id, ids[i]);
		expect_access_line(ids[i], "GET /api/users/2 200 users ");
	}
	/* 128 characters, over HTTP/2, on an error */
	memset(longest, 'L', 128);
	longest[128] = '\0';
	snprintf(header, sizeof(header), "x-request-id: %s", longest);
	send_request("GET", "/api/nope", NULL, header, 1, &r);
	ck_assert_int_eq(r.version, 2);
	ck_assert_int_eq(r.status, 404);
	response_id(&r, id, sizeof(id));
	http_response_free(&r);
	ck_assert_str_eq(id, longest);
	expect_access_line(longest, "GET /api/nope 404 edge ");
}
END_TEST

START_TEST(test_request_id_malformed_is_replaced)
{
	static const char *const bad[] = {"has space", "semi;colon", "a/b",
					  "quote\"d",  "ünï",	     "percent%41"};
	char too_long[130], header[200], id[200];
	http_response r;
	memset(too_long, 'T', 129);
	too_long[129] = '\0';
	for (size_t i = 0; i <= sizeof(bad) / sizeof(*bad); i++) {
		const char *given = i < sizeof(bad) / sizeof(*bad) ? bad[i] : too_long;
		snprintf(header, sizeof(header), "X-Request-Id: %s", given);
		send_request("GET", "/api/threads/1", NULL, header, 0, &r);
		ck_assert_int_eq(r.status, 200);
		response_id(&r, id, sizeof(id));
		http_response_free(&r);
		ck_assert_msg(is_generated(id), "'%s' replaced by '%s'", given, id);
		expect_access_line(id, "GET /api/threads/1 200 threads ");
	}
	/* an empty one too ("Name;" is how libcurl sends a header with no value) */
	send_request("GET", "/api/threads/1", NULL, "X-Request-Id;", 0, &r);
	response_id(&r, id, sizeof(id));
	http_response_free(&r);
	ck_assert(is_generated(id));
	expect_access_line(id, "GET /api/threads/1 200 threads ");
	/* a malformed id never reaches the log */
	ck_assert(!log_has("access", too_long));
	ck_assert(!log_has("access", "[has"));
}
END_TEST

START_TEST(test_request_id_in_the_failed_check_of_posts)
{
	/* posts asks users (over the mesh) whether user 999 exists: the answer is 400, and the
	 * posts service logs the failed check with the request's id */
	static const char body[] = "{\"thread\":1,\"text\":\"Who am I?\",\"user\":999}";
	char id[200], needle[300], line[1024];
	http_response r;
	send_request("POST", "/api/posts", body, "X-Request-Id: post-by-nobody.1", 0, &r);
	ck_assert_msg(r.status == 400, "%ld %s", r.status, r.body);
	ck_assert_str_eq(
	    r.body, "{\"code\":\"FAILED_PRECONDITION\",\"message\":\"user 999 does not exist\"}");
	response_id(&r, id, sizeof(id));
	http_response_free(&r);
	ck_assert_str_eq(id, "post-by-nobody.1");
	ck_assert_msg(log_line("posts", "[post-by-nobody.1]", line, sizeof(line)) == 0,
		      "no line of posts with the request id");
	/* the id, then the trace context (trace_test checks it), then the text */
	ck_assert_msg(strncmp(line, "posts: [post-by-nobody.1] trace=", 32) == 0, "%s", line);
	ck_assert_msg(strstr(line,
			     " check failed: user 999: users.Get answered NOT_FOUND: user 999 "
			     "not found") != NULL &&
			  strcmp(line + strlen(line) - 18, "user 999 not found") == 0,
		      "%s", line);
	expect_access_line(id, "POST /api/posts 400 posts ");
	/* and with an id the edge made */
	send_request("POST", "/api/posts", body, NULL, 0, &r);
	ck_assert_int_eq(r.status, 400);
	response_id(&r, id, sizeof(id));
	http_response_free(&r);
	ck_assert(is_generated(id));
	snprintf(needle, sizeof(needle), "posts: [%s] trace=", id);
	ck_assert_msg(log_line("posts", needle, line, sizeof(line)) == 0, "no '%s' in posts' log",
		      needle);
	ck_assert_msg(strstr(line, " check failed: user 999") != NULL, "%s", line);
	/* a successful create logs nothing */
	send_request("POST", "/api/posts", "{\"thread\":1,\"text\":\"Quiet\",\"user\":1}",
		     "X-Request-Id: quiet-create", 0, &r);
	ck_assert_int_eq(r.status, 201);
	http_response_free(&r);
	expect_access_line("quiet-create", "POST /api/posts 201 posts ");
	ck_assert(!log_has("posts", "[quiet-create]"));
}
END_TEST

START_TEST(test_request_id_in_the_unavailable_answer_of_posts)
{
	/* with users down, posts answers UNAVAILABLE: it logs the failed check, and the runtime
	 * logs the answer, both with the request's id */
	pid_t users = fixture_pid(&mesh, "users");
	char line[1024];
	http_response r;
	ck_assert_int_gt(users, 0);
	ck_assert_int_eq(kill(users, SIGKILL), 0);
	ck_assert(harness_wait(users, 2000) != -1);
	fixture_forget(&mesh, "users");
	send_request("POST", "/api/posts", "{\"thread\":1,\"text\":\"Anyone?\",\"user\":1}",
		     "X-Request-Id: users-down-7", 0, &r);
	ck_assert_msg(r.status == 503, "%ld %s", r.status, r.body);
	http_response_free(&r);
	expect_access_line("users-down-7", "POST /api/posts 503 posts ");
	ck_assert(log_line("posts", "check failed: user 1: users.Get answered UNAVAILABLE: ", line,
			   sizeof(line)) == 0);
	ck_assert_msg(strncmp(line, "posts: [users-down-7] trace=", 28) == 0, "%s", line);
	ck_assert_msg(log_line("posts", "Create answered UNAVAILABLE: checking user 1: ", line,
			       sizeof(line)) == 0,
		      "the runtime did not log the UNAVAILABLE answer");
	ck_assert_msg(strncmp(line, "posts: [users-down-7] trace=", 28) == 0, "%s", line);
	/* users back, for a clean stop */
	ck_assert_int_gt(fixture_service_start(&mesh, "users"), 0);
	for (int i = 0; i < 300; i++) {
		long status;
		send_request("GET", "/api/users/1", NULL, NULL, 0, &r);
		status = r.status;
		http_response_free(&r);
		if (status == 200)
			break;
		harness_sleep_ms(10);
	}
}
END_TEST

START_TEST(test_request_id_http2_one_connection)
{
	/* Many answers multiplexed on one HTTP/2 connection, each with an X-Request-Id of its
	 * own: the edge's HPACK encoder keeps no table (h2_tune.c) while the client's decoder
	 * indexes what it is told to; every field must still decode as sent. nghttp (Debian's
	 * nghttp2-client) sends every URL on one connection and prints each field it decodes
	 * ("[  0.001] recv (stream_id=13) x-request-id: ..."); libcurl 7.88 does not reuse an
	 * HTTP/2 connection with prior knowledge. */
	enum { TIMES = 10, N = 4 * TIMES };
	static const char *const paths[] = {"/api/users/1", "/api/users/999", "/api/nothing-here",
					    "/api/posts/in-thread/2"};
	char cmd[4 * 160 + 64], line[512], url[160], ids[N][64];
	char status[N][8], type[N][64];
	int nids = 0, ok = 0, rc;
	size_t len;
	FILE *f;
	ck_assert_msg(mesh_up, "the mesh did not start");
	len = (size_t)snprintf(cmd, sizeof(cmd), "nghttp -nv -m %d", TIMES); /* each URL 10 times */
	for (int i = 0; i < 4; i++) {
		fixture_url(&mesh, paths[i], url, sizeof(url));
		len += (size_t)snprintf(cmd + len, sizeof(cmd) - len, " '%s'", url);
	}
	snprintf(cmd + len, sizeof(cmd) - len, " 2>&1");
	memset(status, 0, sizeof(status));
	memset(type, 0, sizeof(type));
	ck_assert_ptr_nonnull(f = popen(cmd, "r"));
	while (fgets(line, sizeof(line), f) != NULL) {
		unsigned sid;
		char name[64], value[256];
		const char *p = strstr(line, "recv (stream_id=");
		int k;
		if (p == NULL ||
		    sscanf(p, "recv (stream_id=%u) %63[^:]: %255[^\n]", &sid, name, value) != 3) {
			/* pseudo-header fields start with a colon */
			if (p == NULL || sscanf(p, "recv (stream_id=%u) :%63[^:]: %255[^\n]", &sid,
						name, value) != 3)
				continue;
			memmove(name + 1, name, strlen(name) + 1);
			name[0] = ':';
		}
		/* nghttp opens stream 13 first (1 to 11 carry its priority tree) */
		k = ((int)sid - 13) / 2;
		ck_assert_msg(sid >= 13 && sid % 2 == 1 && k < N, "stream %u", sid);
		if (strcmp(name, ":status") == 0)
			snprintf(status[k], sizeof(status[k]), "%s", value);
		else if (strcmp(name, "content-type") == 0)
			snprintf(type[k], sizeof(type[k]), "%s", value);
		else if (strcmp(name, "x-request-id") == 0) {
			ck_assert_msg(is_generated(value), "stream %u: x-request-id '%s'", sid,
				      value);
			for (int j = 0; j < nids; j++)
				ck_assert_str_ne(ids[j], value);
			snprintf(ids[nids++], sizeof(ids[0]), "%s", value);
		}
	}
	rc = pclose(f);
	ck_assert_msg(rc == 0, "nghttp exited %d (is nghttp2-client installed?)", rc);
	ck_assert_int_eq(nids, N);
	for (int i = 0; i < N; i++) {
		ck_assert_msg(strcmp(status[i], "200") == 0 || strcmp(status[i], "404") == 0,
			      "stream %d: status '%s'", 13 + 2 * i, status[i]);
		ok += strcmp(status[i], "200") == 0;
		ck_assert_str_eq(type[i], "application/json; charset=utf-8");
	}
	ck_assert_int_eq(ok, 2 * TIMES);
}
END_TEST

START_TEST(test_request_id_everything_stops_cleanly)
{
	char report[8192];
	ck_assert(mesh_up);
	mesh_up = 0;
	ck_assert_msg(fixture_mesh_stop(&mesh, report, sizeof(report)) == 0, "%s", report);
}
END_TEST

static Suite *request_id_suite(void)
{
	Suite *s = suite_create("request_id");
	TCase *tc = harness_tcase("request_id", 120);
	tcase_add_unchecked_fixture(tc, mesh_setup, mesh_teardown);
	tcase_add_test(tc, test_request_id_generated_on_every_answer);
	tcase_add_test(tc, test_request_id_from_the_client_is_kept);
	tcase_add_test(tc, test_request_id_malformed_is_replaced);
	tcase_add_test(tc, test_request_id_in_the_failed_check_of_posts);
	tcase_add_test(tc, test_request_id_in_the_unavailable_answer_of_posts);
	tcase_add_test(tc, test_request_id_http2_one_connection);
	tcase_add_test(tc, test_request_id_everything_stops_cleanly); /* last: it stops the mesh */
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	curl_global_init_once();
	return harness_run_suite(request_id_suite(), 1);
}
