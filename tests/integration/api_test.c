/* api_test.c: the HTTP contract of DESIGN.md, asserted over real HTTP against the real mesh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "fixture.h"
#include "harness.h"
#include "http.h"

#define JSON_TYPE "application/json; charset=utf-8"
#define TEXT_TYPE "text/plain; charset=utf-8"

static fixture_mesh mesh;
static int mesh_up;

static const char users_json[] =
    "[{\"id\":1,\"username\":\"marceline\",\"name\":\"Marceline Abadeer\",\"bio\":\"1000 year "
    "old vampire queen, musician\"},{\"id\":2,\"username\":\"finn\",\"name\":\"Finn 'the "
    "Human' Mertens\",\"bio\":\"Adventurer and hero, last human, defender of "
    "good\"},{\"id\":3,\"username\":\"pb\",\"name\":\"Bonnibel Bubblegum\",\"bio\":\"Scientist, "
    "bearer of candy power, ruler of the candy kingdom\"},{\"id\":4,\"username\":\"jake\","
    "\"name\":\"Jake the Dog\",\"bio\":\"Former criminal, now magical dog adventurer, and "
    "father\"}]";
static const char user1_json[] = "{\"id\":1,\"username\":\"marceline\",\"name\":\"Marceline "
				 "Abadeer\",\"bio\":\"1000 year old vampire queen, musician\"}";
static const char threads_json[] =
    "[{\"id\":1,\"title\":\"What's up with the Lich?\",\"createdBy\":4},{\"id\":2,\"title\":"
    "\"Party at the candy kingdom tomorrow\",\"createdBy\":3},{\"id\":3,\"title\":\"In search "
    "of a new guitar\",\"createdBy\":1}]";
static const char post1[] =
    "{\"id\":1,\"thread\":1,\"text\":\"Has anyone checked on the lich recently?\",\"user\":4}";
static const char post2[] = "{\"id\":2,\"thread\":1,\"text\":\"I'll stop by and see how he's "
			    "doing tomorrow!\",\"user\":2}";
static const char post3[] =
    "{\"id\":3,\"thread\":2,\"text\":\"Come party with the candy people tomorrow!\",\"user\":3}";
static const char post4[] = "{\"id\":4,\"thread\":2,\"text\":\"Mathematical!\",\"user\":2}";
static const char post5[] = "{\"id\":5,\"thread\":2,\"text\":\"I'll bring my guitar\",\"user\":1}";
static const char post6[] = "{\"id\":6,\"thread\":3,\"text\":\"I need a new guitar to play the "
			    "most savory licks in Ooo\",\"user\":1}";

static void mesh_setup(void)
{
	mesh_up = fixture_mesh_start(&mesh, NULL) == 0;
}

static void mesh_teardown(void)
{
	char report[8192];
	if (mesh_up && fixture_mesh_stop(&mesh, report, sizeof(report)) != 0)
		fprintf(stderr, "api_test: unclean stop:\n%s", report);
	mesh_up = 0;
}

/* request sends method to path on the edge and fills r. */
static void request(const char *method, const char *path, http_response *r)
{
	char url[512];
	ck_assert_msg(mesh_up, "the mesh did not start");
	fixture_url(&mesh, path, url, sizeof(url));
	ck_assert_msg(http_request(method, url, NULL, r) == 0, "%s %s: %s", method, path, r->error);
}

/* expect asserts a GET of path answers status with exactly body and content type. */
static void expect(const char *path, long status, const char *type, const char *body)
{
	http_response r;
	char value[256];
	request("GET", path, &r);
	ck_assert_msg(r.status == status, "GET %s: status %ld, want %ld (body %s)", path, r.status,
		      status, r.body);
	ck_assert_msg(http_header(&r, "content-type", value, sizeof(value)) != NULL,
		      "GET %s: no content-type", path);
	ck_assert_str_eq(value, type);
	if (body != NULL)
		ck_assert_msg(strcmp(r.body, body) == 0, "GET %s:\n got  %s\n want %s", path,
			      r.body, body);
	http_response_free(&r);
}

/* expect_error asserts path answers status with a JSON error whose code is code. */
static void expect_error(const char *method, const char *path, long status, const char *code)
{
	http_response r;
	char value[256], want[128];
	request(method, path, &r);
	ck_assert_msg(r.status == status, "%s %s: status %ld, want %ld (body %s)", method, path,
		      r.status, status, r.body);
	ck_assert_msg(http_header(&r, "content-type", value, sizeof(value)) != NULL &&
			  strcmp(value, JSON_TYPE) == 0,
		      "%s %s: error is not JSON", method, path);
	snprintf(want, sizeof(want), "{\"code\":\"%s\",\"message\":\"", code);
	ck_assert_msg(strncmp(r.body, want, strlen(want)) == 0 && r.body[r.body_len - 1] == '}' &&
			  r.body[r.body_len - 2] == '"',
		      "%s %s: body %s does not start with %s", method, path, r.body, want);
	http_response_free(&r);
}

START_TEST(test_api_root_answers_text)
{
	expect("/", 200, TEXT_TYPE, "Ready to receive requests");
	expect("/api", 200, TEXT_TYPE, "API ready to receive requests");
	expect("/api/", 200, TEXT_TYPE, "API ready to receive requests");
}
END_TEST

START_TEST(test_api_users_seed_bytes)
{
	expect("/api/users", 200, JSON_TYPE, users_json);
	expect("/api/users/1", 200, JSON_TYPE, user1_json);
	expect("/api/users/4", 200, JSON_TYPE,
	       "{\"id\":4,\"username\":\"jake\",\"name\":\"Jake the Dog\",\"bio\":\"Former "
	       "criminal, now magical dog adventurer, and father\"}");
}
END_TEST

START_TEST(test_api_threads_seed_bytes)
{
	expect("/api/threads", 200, JSON_TYPE, threads_json);
	expect("/api/threads/1", 200, JSON_TYPE,
	       "{\"id\":1,\"title\":\"What's up with the Lich?\",\"createdBy\":4}");
	expect("/api/threads/3", 200, JSON_TYPE,
	       "{\"id\":3,\"title\":\"In search of a new guitar\",\"createdBy\":1}");
}
END_TEST

START_TEST(test_api_posts_seed_bytes)
{
	char all[2048], want[1024];
	snprintf(all, sizeof(all), "[%s,%s,%s,%s,%s,%s]", post1, post2, post3, post4, post5, post6);
	expect("/api/posts", 200, JSON_TYPE, all);
	expect("/api/posts/1", 200, JSON_TYPE, post1);
	expect("/api/posts/6", 200, JSON_TYPE, post6);
	snprintf(want, sizeof(want), "[%s,%s,%s]", post3, post4, post5);
	expect("/api/posts/in-thread/2", 200, JSON_TYPE, want);
	snprintf(want, sizeof(want), "[%s,%s]", post1, post2);
	expect("/api/posts/in-thread/1", 200, JSON_TYPE, want);
	snprintf(want, sizeof(want), "[%s,%s]", post5, post6);
	expect("/api/posts/by-user/1", 200, JSON_TYPE, want);
	snprintf(want, sizeof(want), "[%s,%s]", post2, post4);
	expect("/api/posts/by-user/2", 200, JSON_TYPE, want);
}
END_TEST

START_TEST(test_api_filter_without_match_is_empty_array)
{
	expect("/api/posts/in-thread/99", 200, JSON_TYPE, "[]");
	expect("/api/posts/by-user/99", 200, JSON_TYPE, "[]");
	expect("/api/posts/in-thread/9223372036854775807", 200, JSON_TYPE, "[]");
}
END_TEST

START_TEST(test_api_bad_ids_are_400)
{
	static const char *const bad[] = {"abc", "1abc", "-1",	 "1.9", "0x2",
					  "+3",	 "%20",	 "%202", "0",	"9223372036854775808",
					  "%zz", "1%00"};
	static const char *const prefixes[] = {"/api/users/", "/api/threads/", "/api/posts/",
					       "/api/posts/in-thread/", "/api/posts/by-user/"};
	for (size_t p = 0; p < sizeof(prefixes) / sizeof(*prefixes); p++) {
		for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
			char path[256];
			snprintf(path, sizeof(path), "%s%s", prefixes[p], bad[i]);
			expect_error("GET", path, 400, "INVALID_ARGUMENT");
		}
	}
}
END_TEST

START_TEST(test_api_missing_ids_are_404)
{
	expect("/api/users/99", 404, JSON_TYPE,
	       "{\"code\":\"NOT_FOUND\",\"message\":\"user 99 not found\"}");
	expect("/api/threads/99", 404, JSON_TYPE,
	       "{\"code\":\"NOT_FOUND\",\"message\":\"thread 99 not found\"}");
	expect("/api/posts/99", 404, JSON_TYPE,
	       "{\"code\":\"NOT_FOUND\",\"message\":\"post 99 not found\"}");
	expect_error("GET", "/api/users/9223372036854775807", 404, "NOT_FOUND");
}
END_TEST

START_TEST(test_api_unknown_paths_are_404_json)
{
	expect_error("GET", "/nope", 404, "NOT_FOUND");
	expect_error("GET", "/api/nope", 404, "NOT_FOUND");
	expect_error("GET", "/API/users", 404, "NOT_FOUND");
	expect_error("GET", "/api/Users/1", 404, "NOT_FOUND");
	expect_error("GET", "/api/users/1/extra", 404, "NOT_FOUND");
	expect_error("GET", "/api//users", 404, "NOT_FOUND");
}
END_TEST

START_TEST(test_api_trailing_slash_query_and_escapes)
{
	expect("/api/users/", 200, JSON_TYPE, users_json);
	expect("/api/users/1/", 200, JSON_TYPE, user1_json);
	expect("/api/users/1?verbose=1&x=%zz", 200, JSON_TYPE, user1_json);
	expect("/api/users?verbose=1", 200, JSON_TYPE, users_json);
	expect("/api/users/%31", 200, JSON_TYPE, user1_json);
	expect("/api/%75sers/1", 200, JSON_TYPE, user1_json);
}
END_TEST

START_TEST(test_api_other_methods_are_405_with_allow)
{
	static const char *const methods[] = {"POST", "PUT", "PATCH", "DELETE", "FOO"};
	static const struct {
		const char *path;
		const char *allow;
	} paths[] = {
	    {"/", "GET, HEAD, OPTIONS"},
	    {"/api", "GET, HEAD, OPTIONS"},
	    {"/api/users", "GET, HEAD, POST, OPTIONS"},
	    {"/api/threads", "GET, HEAD, POST, OPTIONS"},
	    {"/api/posts", "GET, HEAD, POST, OPTIONS"},
	    {"/api/users/1", "GET, HEAD, OPTIONS"},
	    {"/api/posts/in-thread/1", "GET, HEAD, OPTIONS"},
	};
	for (size_t m = 0; m < sizeof(methods) / sizeof(*methods); m++) {
		for (size_t p = 0; p < sizeof(paths) / sizeof(*paths); p++) {
			http_response r;
			char allow[128];
			if (strcmp(methods[m], "POST") == 0 && strstr(paths[p].allow, "POST"))
				continue; /* a create route: see writes_test */
			expect_error(methods[m], paths[p].path, 405, "METHOD_NOT_ALLOWED");
			request(methods[m], paths[p].path, &r);
			ck_assert_msg(http_header(&r, "allow", allow, sizeof(allow)) != NULL,
				      "%s %s: no Allow", methods[m], paths[p].path);
			ck_assert_str_eq(allow, paths[p].allow);
			http_response_free(&r);
		}
	}
}
END_TEST

START_TEST(test_api_options_is_204_with_allow)
{
	http_response r;
	char allow[128];
	request("OPTIONS", "/api/users/1", &r);
	ck_assert_int_eq(r.status, 204);
	ck_assert_ptr_nonnull(http_header(&r, "allow", allow, sizeof(allow)));
	ck_assert_str_eq(allow, "GET, HEAD, OPTIONS");
	ck_assert_uint_eq(r.body_len, 0);
	ck_assert_ptr_null(http_header(&r, "content-length", allow, sizeof(allow)));
	http_response_free(&r);
	request("OPTIONS", "/", &r);
	ck_assert_int_eq(r.status, 204);
	http_response_free(&r);
	expect_error("OPTIONS", "/nope", 404, "NOT_FOUND");
}
END_TEST

START_TEST(test_api_head_answers_like_get_without_body)
{
	static const char *const paths[] = {"/", "/api/users/1", "/api/posts/in-thread/2",
					    "/api/users/99"};
	for (size_t i = 0; i < sizeof(paths) / sizeof(*paths); i++) {
		http_response get, head;
		char length[32], type[128], want[32];
		request("GET", paths[i], &get);
		request("HEAD", paths[i], &head);
		ck_assert_int_eq(head.status, get.status);
		ck_assert_uint_eq(head.body_len, 0);
		ck_assert_ptr_nonnull(http_header(&head, "content-length", length, sizeof(length)));
		snprintf(want, sizeof(want), "%zu", get.body_len);
		ck_assert_str_eq(length, want);
		ck_assert_ptr_nonnull(http_header(&head, "content-type", type, sizeof(type)));
		http_response_free(&get);
		http_response_free(&head);
	}
}
END_TEST

START_TEST(test_api_http2_prior_knowledge)
{
	http_options o = {.http2 = 1};
	http_response r;
	char url[256];
	ck_assert(mesh_up);
	fixture_url(&mesh, "/api/users/1", url, sizeof(url));
	ck_assert_msg(http_request("GET", url, &o, &r) == 0, "%s", r.error);
	ck_assert_int_eq(r.version, 2);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, user1_json);
	http_response_free(&r);
	fixture_url(&mesh, "/api/users/abc", url, sizeof(url));
	ck_assert(http_request("GET", url, &o, &r) == 0);
	ck_assert_int_eq(r.status, 400);
	http_response_free(&r);
}
END_TEST

START_TEST(test_api_access_log_line_per_request)
{
	char path[256], line[512];
	http_response r;
	if (fixture_external() != NULL) {
		harness_skip("the access log of an external edge (CLEAVE_TEST_EDGE_URL) is not "
			     "readable here");
		return;
	}
	request("GET", "/api/threads/2?from=access-log-test", &r);
	http_response_free(&r);
	snprintf(path, sizeof(path), "%s/access.log", mesh.dir);
	ck_assert_msg(harness_wait_for_line(path,
					    "GET /api/threads/2?from=access-log-test 200 threads ",
					    line, sizeof(line), 3000) == 0,
		      "no access-log line for the request");
	ck_assert_msg(strstr(line, "ms") != NULL, "no duration in '%s'", line);
	request("GET", "/api/users/abc", &r);
	http_response_free(&r);
	ck_assert(harness_wait_for_line(path, "GET /api/users/abc 400 edge ", line, sizeof(line),
					3000) == 0);
}
END_TEST

START_TEST(test_api_malformed_requests_get_4xx_and_edge_survives)
{
	static const char *const raw[] = {
	    "GARBAGE\r\n\r\n",
	    "GET /api/users/1 HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
	    "GET /api/users/\x01\x02 HTTP/1.1\r\nHost: x\r\n\r\n",
	    "GET api/users HTTP/1.1\r\nHost: x\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(raw) / sizeof(*raw); i++) {
		char *answer = http_raw_at(mesh.host, mesh.port, raw[i], strlen(raw[i]), 2000);
		ck_assert_msg(answer != NULL && strncmp(answer, "HTTP/1.1 4", 10) == 0,
			      "request %zu was answered: %.80s", i, answer ? answer : "(nothing)");
		free(answer);
	}
	expect("/api/users/1", 200, JSON_TYPE, user1_json);
}
END_TEST

START_TEST(test_api_everything_stops_cleanly)
{
	char report[8192];
	ck_assert(mesh_up);
	mesh_up = 0;
	ck_assert_msg(fixture_mesh_stop(&mesh, report, sizeof(report)) == 0, "%s", report);
}
END_TEST

static Suite *api_suite(void)
{
	Suite *s = suite_create("api");
	TCase *tc = harness_tcase("contract", 120);
	tcase_add_unchecked_fixture(tc, mesh_setup, mesh_teardown);
	tcase_add_test(tc, test_api_root_answers_text);
	tcase_add_test(tc, test_api_users_seed_bytes);
	tcase_add_test(tc, test_api_threads_seed_bytes);
	tcase_add_test(tc, test_api_posts_seed_bytes);
	tcase_add_test(tc, test_api_filter_without_match_is_empty_array);
	tcase_add_test(tc, test_api_bad_ids_are_400);
	tcase_add_test(tc, test_api_missing_ids_are_404);
	tcase_add_test(tc, test_api_unknown_paths_are_404_json);
	tcase_add_test(tc, test_api_trailing_slash_query_and_escapes);
	tcase_add_test(tc, test_api_other_methods_are_405_with_allow);
	tcase_add_test(tc, test_api_options_is_204_with_allow);
	tcase_add_test(tc, test_api_head_answers_like_get_without_body);
	tcase_add_test(tc, test_api_http2_prior_knowledge);
	tcase_add_test(tc, test_api_access_log_line_per_request);
	tcase_add_test(tc, test_api_malformed_requests_get_4xx_and_edge_survives);
	tcase_add_test(tc, test_api_everything_stops_cleanly); /* last: it stops the mesh */
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return harness_run_suite(api_suite(), 1);
}
