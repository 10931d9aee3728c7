/* route_test.c: unit tests of the edge's route table: id syntax, path parsing, templates, matching.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "harness.h"

#include "route.h"

/* ---- route_parse_id ------------------------------------------------------------------------- */

static int parse_id(const char *s, uint64_t max, uint64_t *out)
{
	return route_parse_id(s, strlen(s), max, out);
}

START_TEST(test_route_parse_id_accepts_digits)
{
	static const struct {
		const char *text;
		uint64_t want;
	} cases[] = {
	    {"1", 1},
	    {"42", 42},
	    {"007", 7},
	    {"9223372036854775807", INT64_MAX},
	    {"0000000000000000000000009", 9},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t v = 0;
		ck_assert_msg(parse_id(cases[i].text, INT64_MAX, &v) == 0, "'%s' rejected",
			      cases[i].text);
		ck_assert_msg(v == cases[i].want, "'%s' read as %llu", cases[i].text,
			      (unsigned long long)v);
	}
}
END_TEST

START_TEST(test_route_parse_id_rejects)
{
	static const char *const bad[] = {
	    "",
	    "0",
	    "00",
	    "abc",
	    "1abc",
	    "-1",
	    "1.9",
	    "0x2",
	    "+3",
	    " 2",
	    "2 ",
	    "1e3",
	    "\xd9\xa1",
	    "9223372036854775808",
	    "18446744073709551616",
	    "99999999999999999999999",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t v = 12345;
		ck_assert_msg(parse_id(bad[i], INT64_MAX, &v) == -1, "'%s' accepted as %llu",
			      bad[i], (unsigned long long)v);
		ck_assert_msg(v == 12345, "'%s' wrote the output on failure", bad[i]);
	}
}
END_TEST

START_TEST(test_route_parse_id_honours_max_and_length)
{
	uint64_t v = 0;
	ck_assert_int_eq(parse_id("255", 255, &v), 0);
	ck_assert_uint_eq(v, 255);
	ck_assert_int_eq(parse_id("256", 255, &v), -1);
	ck_assert_int_eq(parse_id("2147483647", INT32_MAX, &v), 0);
	ck_assert_int_eq(parse_id("2147483648", INT32_MAX, &v), -1);
	ck_assert_int_eq(parse_id("18446744073709551615", UINT64_MAX, &v), 0);
	ck_assert_uint_eq(v, UINT64_MAX);
	ck_assert_int_eq(parse_id("18446744073709551616", UINT64_MAX, &v), -1);
	/* only len bytes are read: no NUL needed, the rest ignored */
	ck_assert_int_eq(route_parse_id("12x", 2, INT64_MAX, &v), 0);
	ck_assert_uint_eq(v, 12);
	ck_assert_int_eq(route_parse_id("1\0002", 3, INT64_MAX, &v), -1);
}
END_TEST

/* ---- route_path_parse ----------------------------------------------------------------------- */

/* path_parse splits path into out, using scratch (which must outlive out). */
static int path_parse(route_path *out, const char *path, char *scratch, size_t scratch_len)
{
	return route_path_parse(out, path, strlen(path), scratch, scratch_len);
}

/* assert_segments asserts path parses into exactly the n segments given. */
static void assert_segments(const char *path, size_t n, const char *const *want)
{
	char scratch[512];
	route_path p;
	ck_assert_msg(path_parse(&p, path, scratch, sizeof(scratch)) == 0, "'%s' rejected", path);
	ck_assert_msg(p.n == n, "'%s': %zu segments, want %zu", path, p.n, n);
	for (size_t i = 0; i < n; i++) {
		ck_assert_msg(p.lengths[i] == strlen(want[i]) &&
				  memcmp(p.segments[i], want[i], p.lengths[i]) == 0,
			      "'%s': segment %zu is '%.*s', want '%s'", path, i, (int)p.lengths[i],
			      p.segments[i], want[i]);
		ck_assert_msg(p.segments[i][p.lengths[i]] == '\0',
			      "'%s': segment %zu not NUL-ended", path, i);
	}
}

START_TEST(test_route_path_parse_root)
{
	assert_segments("/", 0, NULL);
	assert_segments("/?x=1", 0, NULL);
}
END_TEST

START_TEST(test_route_path_parse_segments)
{
	static const char *const api[] = {"api"};
	static const char *const users[] = {"api", "users"};
	static const char *const user1[] = {"api", "users", "1"};
	assert_segments("/api", 1, api);
	assert_segments("/api/", 1, api);
	assert_segments("/api/users", 2, users);
	assert_segments("/api/users/1", 3, user1);
	assert_segments("/api/users/1/", 3, user1);
}
END_TEST

START_TEST(test_route_path_parse_strips_query)
{
	static const char *const users[] = {"api", "users"};
	static const char *const odd[] = {"api", "a=b"};
	assert_segments("/api/users?x=1", 2, users);
	assert_segments("/api/users/?x", 2, users);
	assert_segments("/api/users?x=/a/b/c", 2, users);
	assert_segments("/api/users?", 2, users);
	assert_segments("/api/a=b?c", 2, odd);
}
END_TEST

START_TEST(test_route_path_parse_percent_decoding)
{
	static const char *const one[] = {"api", "users", "1"};
	static const char *const slash[] = {"api", "a/b"};
	static const char *const space[] = {"api", " x "};
	static const char *const upper[] = {"api", "\xc3\xa9"};
	static const char *const percent[] = {"api", "%", "?"};
	assert_segments("/api/users/%31", 3, one);
	assert_segments("/api/a%2Fb", 2, slash);
	assert_segments("/api/a%2fb", 2, slash);
	assert_segments("/api/%20x%20", 2, space);
	assert_segments("/api/%C3%a9", 2, upper);
	assert_segments("/api/%25/%3F", 3, percent);
}
END_TEST

START_TEST(test_route_path_parse_percent_nul)
{
	char scratch[64];
	route_path p;
	ck_assert_int_eq(path_parse(&p, "/a%00b", scratch, sizeof(scratch)), 0);
	ck_assert_uint_eq(p.n, 1);
	ck_assert_uint_eq(p.lengths[0], 3);
	ck_assert_mem_eq(p.segments[0], "a\0b", 3);
}
END_TEST

START_TEST(test_route_path_parse_rejects)
{
	static const char *const bad[] = {
	    "",	    "api/users", "?x=/", "/api/%",     "/api/%2",   "/api/%zz",
	    "/%g0", "/api/%2/x", "/a%",	 "/api/x%2?y", "/api/%%31",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char scratch[128];
		route_path p;
		ck_assert_msg(path_parse(&p, bad[i], scratch, sizeof(scratch)) == -1,
			      "'%s' accepted", bad[i]);
	}
}
END_TEST

START_TEST(test_route_path_parse_segment_limit)
{
	char path[256] = "", scratch[512];
	route_path p;
	for (int i = 0; i < ROUTE_MAX_SEGMENTS; i++)
		strcat(path, "/s");
	ck_assert_int_eq(path_parse(&p, path, scratch, sizeof(scratch)), 0);
	ck_assert_uint_eq(p.n, ROUTE_MAX_SEGMENTS);
	strcat(path, "/");
	ck_assert_int_eq(path_parse(&p, path, scratch, sizeof(scratch)), 0);
	ck_assert_uint_eq(p.n, ROUTE_MAX_SEGMENTS);
	strcat(path, "s");
	ck_assert_int_eq(path_parse(&p, path, scratch, sizeof(scratch)), -1);
}
END_TEST

START_TEST(test_route_path_parse_scratch_too_small)
{
	const char *path = "/api/users";
	char scratch[64];
	route_path p;
	ck_assert_int_eq(route_path_parse(&p, path, strlen(path), scratch,
					  strlen(path) + ROUTE_MAX_SEGMENTS - 1),
			 -1);
	ck_assert_int_eq(
	    route_path_parse(&p, path, strlen(path), scratch, strlen(path) + ROUTE_MAX_SEGMENTS),
	    0);
}
END_TEST

START_TEST(test_route_path_parse_length_bounded)
{
	/* Only len bytes are the path; what follows is not read. */
	static const char text[] = "/api/usersXYZ";
	char scratch[64];
	route_path p;
	ck_assert_int_eq(route_path_parse(&p, text, 10, scratch, sizeof(scratch)), 0);
	ck_assert_uint_eq(p.n, 2);
	ck_assert_uint_eq(p.lengths[1], 5);
	ck_assert_str_eq(p.segments[1], "users");
}
END_TEST

/* ---- route_template_parse ------------------------------------------------------------------- */

START_TEST(test_route_template_parse_good)
{
	char err[256] = "";
	route *r = route_new();
	ck_assert_ptr_nonnull(r);
	ck_assert_msg(route_template_parse(r, "/api/posts/in-thread/{thread}", err, sizeof(err)) ==
			  0,
		      "%s", err);
	ck_assert_str_eq(r->path, "/api/posts/in-thread/{thread}");
	ck_assert_uint_eq(r->nsegments, 4);
	ck_assert_str_eq(r->segments[0].text, "api");
	ck_assert_int_eq(r->segments[0].is_param, 0);
	ck_assert_str_eq(r->segments[1].text, "posts");
	ck_assert_str_eq(r->segments[2].text, "in-thread");
	ck_assert_int_eq(r->segments[2].is_param, 0);
	ck_assert_str_eq(r->segments[3].text, "thread");
	ck_assert_int_eq(r->segments[3].is_param, 1);
	route_free(r);

	r = route_new();
	ck_assert_int_eq(route_template_parse(r, "/", err, sizeof(err)), 0);
	ck_assert_str_eq(r->path, "/");
	ck_assert_uint_eq(r->nsegments, 0);
	route_free(r);

	r = route_new();
	ck_assert_msg(route_template_parse(r, "/a/{id}/b/{other_2}", err, sizeof(err)) == 0, "%s",
		      err);
	ck_assert_uint_eq(r->nsegments, 4);
	ck_assert_int_eq(r->segments[1].is_param, 1);
	ck_assert_str_eq(r->segments[1].text, "id");
	ck_assert_int_eq(r->segments[3].is_param, 1);
	ck_assert_str_eq(r->segments[3].text, "other_2");
	route_free(r);

	r = route_new();
	ck_assert_msg(route_template_parse(r, "/{_x}", err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(r->segments[0].text, "_x");
	route_free(r);
}
END_TEST

/* assert_template_fails asserts template is rejected with a reason holding needle. */
static void assert_template_fails(const char *template, const char *needle)
{
	char err[256] = "";
	route *r = route_new();
	ck_assert_ptr_nonnull(r);
	ck_assert_msg(route_template_parse(r, template, err, sizeof(err)) == -1, "'%s' accepted",
		      template);
	route_free(r); /* frees whatever the parse kept */
	ck_assert_msg(strstr(err, needle) != NULL, "'%s': reason '%s' lacks '%s'", template, err,
		      needle);
}

START_TEST(test_route_template_parse_errors)
{
	assert_template_fails("", "must start with '/'");
	assert_template_fails("api/users", "must start with '/'");
	assert_template_fails("/api/", "must not end with '/'");
	assert_template_fails("/api/users/{id}/", "must not end with '/'");
	assert_template_fails("//api", "empty segment");
	assert_template_fails("/api//users", "empty segment");
	assert_template_fails("/api/{}", "parameter");
	assert_template_fails("/api/{Id}", "parameter");
	assert_template_fails("/api/{1d}", "parameter");
	assert_template_fails("/api/{i-d}", "parameter");
	assert_template_fails("/api/{id", "parameter");
	assert_template_fails("/api/{", "parameter");
	assert_template_fails("/api/{id}x", "parameter");
	assert_template_fails("/api/{id}/{id}", "twice");
	assert_template_fails("/a/{x}/b/{x}", "{x} twice");
	assert_template_fails("/api/us{ers", "literal");
	assert_template_fails("/api/x{id}", "literal");
	assert_template_fails("/api/us}ers", "literal");
	assert_template_fails("/api/%31", "literal");
	assert_template_fails("/api/a?b", "literal");
}
END_TEST

START_TEST(test_route_template_parse_segment_limit)
{
	char template[256] = "", err[256];
	route *r = route_new();
	for (int i = 0; i < ROUTE_MAX_SEGMENTS; i++)
		strcat(template, "/s");
	ck_assert_msg(route_template_parse(r, template, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(r->nsegments, ROUTE_MAX_SEGMENTS);
	route_free(r);
	strcat(template, "/s");
	assert_template_fails(template, "more than");
}
END_TEST

/* ---- route table ---------------------------------------------------------------------------- */

static route_table table;

/* add adds a ROUTE_TEXT route answering method on template with body text. */
static void add(unsigned method, const char *template, const char *text)
{
	char err[256] = "";
	route *r = route_new();
	ck_assert_ptr_nonnull(r);
	r->kind = ROUTE_TEXT;
	r->method = method;
	r->text = strdup(text);
	ck_assert_msg(route_template_parse(r, template, err, sizeof(err)) == 0, "%s: %s", template,
		      err);
	ck_assert_msg(route_table_add(&table, r, err, sizeof(err)) == 0, "%s: %s", template, err);
}

static void table_setup(void)
{
	route_table_init(&table);
	add(ROUTE_GET, "/", "root");
	add(ROUTE_GET, "/api", "api");
	add(ROUTE_GET, "/api/users", "users");
	add(ROUTE_GET, "/api/users/{id}", "user");
	add(ROUTE_GET, "/api/posts/{id}", "post");
	add(ROUTE_GET, "/api/posts/in-thread/{thread}", "in-thread");
	add(ROUTE_GET, "/api/posts/{id}/x", "post-x");
	add(ROUTE_GET, "/a/{x}", "a-param");
	add(ROUTE_GET, "/a/b", "a-literal");
	add(ROUTE_POST, "/api/users", "create");
	add(ROUTE_DELETE, "/api/users/{id}", "delete");
}

static void table_teardown(void)
{
	route_table_fini(&table);
}

/* match matches method on path against the table; on a match *text is the route's text. */
static route_match_result match(unsigned method, const char *path, const char **text,
				unsigned *allow)
{
	char scratch[512];
	route_path p;
	const route *found = NULL;
	route_match_result res;
	ck_assert_msg(path_parse(&p, path, scratch, sizeof(scratch)) == 0, "'%s' rejected", path);
	*allow = 0xdead;
	res = route_table_match(&table, &p, method, &found, allow);
	if (res == ROUTE_MATCH_FOUND) {
		ck_assert_ptr_nonnull(found);
		*text = found->text;
	} else {
		*text = NULL;
	}
	return res;
}

/* assert_found asserts method on path finds the route whose text is want. */
static void assert_found(unsigned method, const char *path, const char *want)
{
	const char *text;
	unsigned allow;
	route_match_result res = match(method, path, &text, &allow);
	ck_assert_msg(res == ROUTE_MATCH_FOUND, "%s %s: result %d", route_method_name(method), path,
		      (int)res);
	ck_assert_msg(strcmp(text, want) == 0, "%s %s: found '%s', want '%s'",
		      route_method_name(method), path, text, want);
}

START_TEST(test_route_match_exact)
{
	assert_found(ROUTE_GET, "/", "root");
	assert_found(ROUTE_GET, "/api", "api");
	assert_found(ROUTE_GET, "/api/users", "users");
	assert_found(ROUTE_GET, "/api/users/1", "user");
	assert_found(ROUTE_GET, "/api/users/abc", "user"); /* the id's syntax is checked later */
	assert_found(ROUTE_POST, "/api/users", "create");
	assert_found(ROUTE_DELETE, "/api/users/7", "delete");
}
END_TEST

START_TEST(test_route_match_trailing_slash_and_query_ignored)
{
	assert_found(ROUTE_GET, "/api/", "api");
	assert_found(ROUTE_GET, "/api/users/", "users");
	assert_found(ROUTE_GET, "/api/users/1/", "user");
	assert_found(ROUTE_GET, "/api/users?page=2", "users");
	assert_found(ROUTE_GET, "/?x", "root");
}
END_TEST

START_TEST(test_route_match_case_sensitive)
{
	const char *text;
	unsigned allow;
	ck_assert_int_eq(match(ROUTE_GET, "/API/users", &text, &allow), ROUTE_MATCH_NO_PATH);
	ck_assert_int_eq(match(ROUTE_GET, "/api/Users", &text, &allow), ROUTE_MATCH_NO_PATH);
	ck_assert_int_eq(match(ROUTE_GET, "/Api", &text, &allow), ROUTE_MATCH_NO_PATH);
}
END_TEST

START_TEST(test_route_match_head_matches_get)
{
	const char *text;
	unsigned allow;
	assert_found(ROUTE_HEAD, "/api/users", "users");
	assert_found(ROUTE_HEAD, "/api/users/3", "user");
	assert_found(ROUTE_HEAD, "/", "root");
	ck_assert_int_eq(match(ROUTE_HEAD, "/api/users", &text, &allow), ROUTE_MATCH_FOUND);
	ck_assert_uint_eq(allow, ROUTE_GET | ROUTE_HEAD | ROUTE_POST | ROUTE_OPTIONS);
}
END_TEST

START_TEST(test_route_match_no_path)
{
	const char *text;
	unsigned allow;
	ck_assert_int_eq(match(ROUTE_GET, "/nope", &text, &allow), ROUTE_MATCH_NO_PATH);
	ck_assert_uint_eq(allow, 0);
	ck_assert_int_eq(match(ROUTE_GET, "/api/users/1/2", &text, &allow), ROUTE_MATCH_NO_PATH);
	ck_assert_int_eq(match(ROUTE_GET, "/api/threads", &text, &allow), ROUTE_MATCH_NO_PATH);
	ck_assert_int_eq(match(ROUTE_POST, "/nope", &text, &allow), ROUTE_MATCH_NO_PATH);
	ck_assert_int_eq(match(ROUTE_GET, "/api/posts", &text, &allow), ROUTE_MATCH_NO_PATH);
}
END_TEST

START_TEST(test_route_match_no_method_gives_allow)
{
	const char *text;
	unsigned allow;
	ck_assert_int_eq(match(ROUTE_POST, "/api", &text, &allow), ROUTE_MATCH_NO_METHOD);
	ck_assert_uint_eq(allow, ROUTE_GET | ROUTE_HEAD | ROUTE_OPTIONS);
	ck_assert_int_eq(match(ROUTE_PUT, "/api/posts/1", &text, &allow), ROUTE_MATCH_NO_METHOD);
	ck_assert_uint_eq(allow, ROUTE_GET | ROUTE_HEAD | ROUTE_OPTIONS);
	ck_assert_int_eq(match(ROUTE_PATCH, "/api/users/2", &text, &allow), ROUTE_MATCH_NO_METHOD);
	ck_assert_uint_eq(allow, ROUTE_GET | ROUTE_HEAD | ROUTE_DELETE | ROUTE_OPTIONS);
	ck_assert_int_eq(match(ROUTE_DELETE, "/api/users", &text, &allow), ROUTE_MATCH_NO_METHOD);
	ck_assert_uint_eq(allow, ROUTE_GET | ROUTE_HEAD | ROUTE_POST | ROUTE_OPTIONS);
	ck_assert_int_eq(match(ROUTE_OPTIONS, "/", &text, &allow), ROUTE_MATCH_NO_METHOD);
	ck_assert_uint_eq(allow, ROUTE_GET | ROUTE_HEAD | ROUTE_OPTIONS);
}
END_TEST

START_TEST(test_route_table_methods_is_the_server_allow)
{
	route_table empty;
	ck_assert_uint_eq(route_table_methods(&table),
			  ROUTE_GET | ROUTE_HEAD | ROUTE_POST | ROUTE_DELETE | ROUTE_OPTIONS);
	route_table_init(&empty);
	ck_assert_uint_eq(route_table_methods(&empty), ROUTE_OPTIONS);
	route_table_fini(&empty);
}
END_TEST

START_TEST(test_route_match_literal_beats_parameter)
{
	assert_found(ROUTE_GET, "/api/posts/in-thread/3", "in-thread");
	assert_found(ROUTE_GET, "/api/posts/in-thread/x", "in-thread");
	assert_found(ROUTE_GET, "/api/posts/7/x", "post-x");
	assert_found(ROUTE_GET, "/api/posts/in-thread", "post");
	assert_found(ROUTE_GET, "/a/b", "a-literal");
	assert_found(ROUTE_GET, "/a/c", "a-param");
	assert_found(ROUTE_GET, "/a/B", "a-param");
}
END_TEST

START_TEST(test_route_match_literal_beats_parameter_any_order)
{
	/* The same routes added in the other order match the same way. */
	route_table_fini(&table);
	add(ROUTE_GET, "/a/b", "a-literal");
	add(ROUTE_GET, "/a/{x}", "a-param");
	add(ROUTE_GET, "/api/posts/{id}/x", "post-x");
	add(ROUTE_GET, "/api/posts/in-thread/{thread}", "in-thread");
	assert_found(ROUTE_GET, "/a/b", "a-literal");
	assert_found(ROUTE_GET, "/a/z", "a-param");
	assert_found(ROUTE_GET, "/api/posts/in-thread/3", "in-thread");
	assert_found(ROUTE_GET, "/api/posts/in-thread/x", "in-thread");
	assert_found(ROUTE_GET, "/api/posts/9/x", "post-x");
}
END_TEST

START_TEST(test_route_match_decoded_segments)
{
	assert_found(ROUTE_GET, "/api/user%73", "users");
	assert_found(ROUTE_GET, "/%61pi", "api");
	assert_found(ROUTE_GET, "/a/%62", "a-literal");
	/* an escaped slash stays inside one segment */
	assert_found(ROUTE_GET, "/a/b%2Fc", "a-param");
}
END_TEST

START_TEST(test_route_table_add_rejects_duplicate)
{
	char err[256] = "";
	route *r = route_new();
	ck_assert_int_eq(route_template_parse(r, "/api/users/{id}", err, sizeof(err)), 0);
	r->method = ROUTE_GET;
	r->source = strdup("svc/x/manifest.yml:9");
	ck_assert_int_eq(route_table_add(&table, r, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "GET /api/users/{id}") != NULL, "%s", err);
	ck_assert_msg(strstr(err, "twice") != NULL, "%s", err);
	ck_assert_msg(strstr(err, "svc/x/manifest.yml:9") != NULL, "%s", err);
	route_free(r); /* still the caller's after a failed add */

	/* another parameter name is the same shape */
	r = route_new();
	ck_assert_int_eq(route_template_parse(r, "/api/users/{user}", err, sizeof(err)), 0);
	r->method = ROUTE_GET;
	ck_assert_int_eq(route_table_add(&table, r, err, sizeof(err)), -1);
	route_free(r);

	/* another method on the same template is fine */
	r = route_new();
	ck_assert_int_eq(route_template_parse(r, "/api/users/{id}", err, sizeof(err)), 0);
	r->method = ROUTE_PUT;
	ck_assert_msg(route_table_add(&table, r, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(table.n, 12);
}
END_TEST

START_TEST(test_route_table_grows)
{
	route_table_fini(&table);
	for (int i = 0; i < 100; i++) {
		char template[32], text[32];
		snprintf(template, sizeof(template), "/r%d", i);
		snprintf(text, sizeof(text), "t%d", i);
		add(ROUTE_GET, template, text);
	}
	ck_assert_uint_eq(table.n, 100);
	assert_found(ROUTE_GET, "/r0", "t0");
	assert_found(ROUTE_GET, "/r57", "t57");
	assert_found(ROUTE_GET, "/r99", "t99");
}
END_TEST

START_TEST(test_route_table_fini_empties)
{
	route_table_fini(&table);
	ck_assert_ptr_null(table.routes);
	ck_assert_uint_eq(table.n, 0);
	ck_assert_uint_eq(table.cap, 0);
	route_table_fini(&table); /* twice is harmless */
}
END_TEST

/* ---- splits --------------------------------------------------------------------------------- */

/* split_route returns an RPC route GET template of service "a", with weight percent split to
 * "b", not in a table. */
static route *split_route(const char *template, unsigned weight)
{
	char err[256];
	route *r = route_new();
	ck_assert_ptr_nonnull(r);
	ck_assert_msg(route_template_parse(r, template, err, sizeof(err)) == 0, "%s", err);
	r->kind = ROUTE_RPC;
	r->method = ROUTE_GET;
	r->service_name = strdup("a");
	ck_assert_msg(route_set_split(r, "b", weight, err, sizeof(err)) == 0, "%s", err);
	return r;
}

START_TEST(test_route_split_alt_and_ids)
{
	char err[256];
	route_table t;
	route *plain = route_new(), *split = split_route("/api/users/{id}", 10), *next;
	route_table_init(&t);
	ck_assert_int_eq(route_template_parse(plain, "/api/users", err, sizeof(err)), 0);
	ck_assert_int_eq(route_table_add(&t, plain, err, sizeof(err)), 0);
	ck_assert_int_eq(route_table_add(&t, split, err, sizeof(err)), 0);
	next = split_route("/api/posts/{id}", 0);
	ck_assert_int_eq(route_table_add(&t, next, err, sizeof(err)), 0);
	ck_assert_uint_eq(t.n, 3);
	ck_assert_uint_eq(t.nids, 5); /* one per route, one per split's alt */
	ck_assert_ptr_null(plain->split);
	ck_assert_uint_eq(plain->id, 0);
	ck_assert_uint_eq(split->id, 1);
	ck_assert_uint_eq(split->split->alt.id, 2);
	ck_assert_uint_eq(next->id, 3);
	ck_assert_uint_eq(next->split->alt.id, 4);
	/* the alt is the route as the other group serves it */
	ck_assert_uint_eq(split->split->weight, 10);
	ck_assert_str_eq(split->split->alt.service_name, "b");
	ck_assert_str_eq(split->service_name, "a");
	ck_assert_ptr_eq(split->split->alt.path, split->path);
	ck_assert_ptr_null(split->split->alt.split);
	ck_assert_uint_eq(split->split->alt.nsegments, 3);
	ck_assert_ptr_null(split->split->alt.upstream);
	/* a duplicate is refused; freeing it frees its split */
	{
		route *dup = split_route("/api/users/{x}", 50);
		ck_assert_int_eq(route_table_add(&t, dup, err, sizeof(err)), -1);
		route_free(dup);
	}
	ck_assert_uint_eq(t.nids, 5);
	route_table_fini(&t); /* frees the splits and their alts' names (ASan checks) */
}
END_TEST

START_TEST(test_route_split_weight_bounds)
{
	char err[256] = "";
	route *r = route_new();
	ck_assert_int_eq(route_set_split(r, "b", 101, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "over 100"));
	ck_assert_int_eq(route_set_split(r, "b", 100, err, sizeof(err)), 0);
	ck_assert_int_eq(route_set_split(r, "c", 0, err, sizeof(err)), 0); /* replaces */
	ck_assert_str_eq(r->split->alt.service_name, "c");
	ck_assert_uint_eq(r->split->weight, 0);
	route_free(r);
}
END_TEST

START_TEST(test_route_split_pick_counts)
{
	char err[256];
	route_table t;
	route_table_init(&t);
	for (unsigned weight = 0; weight <= 100; weight++) {
		char template[64];
		route *r;
		snprintf(template, sizeof(template), "/w/%u", weight);
		r = split_route(template, weight);
		ck_assert_int_eq(route_table_add(&t, r, err, sizeof(err)), 0);
		/* any 100 requests in a row, wherever the round starts, send exactly weight */
		for (unsigned offset = 0; offset < 3; offset++) {
			unsigned other = 0, run = 0, longest_run = 0;
			for (unsigned i = 0; i < 100; i++) {
				const route *got = route_split_pick(r);
				ck_assert(got == r || got == &r->split->alt);
				other += got != r;
				run = got == r ? run + 1 : 0;
				longest_run = run > longest_run ? run : longest_run;
			}
			ck_assert_msg(other == weight, "weight %u: %u of 100 to the other group",
				      weight, other);
			/* spread evenly: never more of the own group in a row than a fair share */
			if (weight > 0)
				ck_assert_msg(longest_run <= 100 / weight,
					      "weight %u: %u own requests in a row", weight,
					      longest_run);
			for (unsigned skip = 0; skip < offset * 37 + 1; skip++)
				route_split_pick(r);
		}
	}
	route_table_fini(&t);
}
END_TEST

START_TEST(test_route_split_pick_order)
{
	char err[256];
	route_table t;
	route *r = split_route("/x", 25);
	char seen[9] = "";
	route_table_init(&t);
	ck_assert_int_eq(route_table_add(&t, r, err, sizeof(err)), 0);
	for (int i = 0; i < 8; i++)
		seen[i] = route_split_pick(r) == r ? 'a' : 'b';
	ck_assert_str_eq(seen, "baaabaaa"); /* request n is the other group's when 25n % 100 < 25 */
	route_table_fini(&t);
}
END_TEST

/* ---- methods -------------------------------------------------------------------------------- */

START_TEST(test_route_allow_string)
{
	char out[128];
	route_allow_string(ROUTE_GET | ROUTE_HEAD | ROUTE_OPTIONS, out, sizeof(out));
	ck_assert_str_eq(out, "GET, HEAD, OPTIONS");
	route_allow_string(ROUTE_OPTIONS | ROUTE_DELETE | ROUTE_GET, out, sizeof(out));
	ck_assert_str_eq(out, "GET, DELETE, OPTIONS");
	route_allow_string(0x7f, out, sizeof(out));
	ck_assert_str_eq(out, "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");
	route_allow_string(ROUTE_POST, out, sizeof(out));
	ck_assert_str_eq(out, "POST");
	route_allow_string(0, out, sizeof(out));
	ck_assert_str_eq(out, "");
	/* too small: truncated, NUL-terminated, never past outlen */
	memset(out, 'x', sizeof(out));
	route_allow_string(ROUTE_GET | ROUTE_HEAD | ROUTE_OPTIONS, out, 10);
	ck_assert_str_eq(out, "GET, HEAD");
	ck_assert_int_eq(out[10], 'x');
}
END_TEST

START_TEST(test_route_method_bit)
{
	static const struct {
		const char *name;
		unsigned bit;
	} cases[] = {
	    {"GET", ROUTE_GET},		{"HEAD", ROUTE_HEAD},	{"POST", ROUTE_POST},
	    {"PUT", ROUTE_PUT},		{"PATCH", ROUTE_PATCH}, {"DELETE", ROUTE_DELETE},
	    {"OPTIONS", ROUTE_OPTIONS},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_uint_eq(route_method_bit(cases[i].name, strlen(cases[i].name)),
				  cases[i].bit);
		ck_assert_str_eq(route_method_name(cases[i].bit), cases[i].name);
	}
	ck_assert_uint_eq(route_method_bit("get", 3), 0);
	ck_assert_uint_eq(route_method_bit("TRACE", 5), 0);
	ck_assert_uint_eq(route_method_bit("CONNECT", 7), 0);
	ck_assert_uint_eq(route_method_bit("GE", 2), 0);
	ck_assert_uint_eq(route_method_bit("GETX", 4), 0);
	ck_assert_uint_eq(route_method_bit("", 0), 0);
	ck_assert_uint_eq(route_method_bit("GETTING", 3), ROUTE_GET); /* only len bytes count */
	ck_assert_str_eq(route_method_name(0), "?");
	ck_assert_str_eq(route_method_name(ROUTE_GET | ROUTE_HEAD), "?");
}
END_TEST

static Suite *route_suite(void)
{
	Suite *s = suite_create("route");
	TCase *id = tcase_create("parse_id");
	TCase *path = tcase_create("path_parse");
	TCase *tmpl = tcase_create("template_parse");
	TCase *match_tc = tcase_create("table");
	TCase *methods = tcase_create("methods");
	TCase *split = tcase_create("split");

	tcase_add_test(id, test_route_parse_id_accepts_digits);
	tcase_add_test(id, test_route_parse_id_rejects);
	tcase_add_test(id, test_route_parse_id_honours_max_and_length);
	suite_add_tcase(s, id);

	tcase_add_test(path, test_route_path_parse_root);
	tcase_add_test(path, test_route_path_parse_segments);
	tcase_add_test(path, test_route_path_parse_strips_query);
	tcase_add_test(path, test_route_path_parse_percent_decoding);
	tcase_add_test(path, test_route_path_parse_percent_nul);
	tcase_add_test(path, test_route_path_parse_rejects);
	tcase_add_test(path, test_route_path_parse_segment_limit);
	tcase_add_test(path, test_route_path_parse_scratch_too_small);
	tcase_add_test(path, test_route_path_parse_length_bounded);
	suite_add_tcase(s, path);

	tcase_add_test(tmpl, test_route_template_parse_good);
	tcase_add_test(tmpl, test_route_template_parse_errors);
	tcase_add_test(tmpl, test_route_template_parse_segment_limit);
	suite_add_tcase(s, tmpl);

	tcase_add_checked_fixture(match_tc, table_setup, table_teardown);
	tcase_add_test(match_tc, test_route_match_exact);
	tcase_add_test(match_tc, test_route_match_trailing_slash_and_query_ignored);
	tcase_add_test(match_tc, test_route_match_case_sensitive);
	tcase_add_test(match_tc, test_route_match_head_matches_get);
	tcase_add_test(match_tc, test_route_match_no_path);
	tcase_add_test(match_tc, test_route_match_no_method_gives_allow);
	tcase_add_test(match_tc, test_route_table_methods_is_the_server_allow);
	tcase_add_test(match_tc, test_route_match_literal_beats_parameter);
	tcase_add_test(match_tc, test_route_match_literal_beats_parameter_any_order);
	tcase_add_test(match_tc, test_route_match_decoded_segments);
	tcase_add_test(match_tc, test_route_table_add_rejects_duplicate);
	tcase_add_test(match_tc, test_route_table_grows);
	tcase_add_test(match_tc, test_route_table_fini_empties);
	suite_add_tcase(s, match_tc);

	tcase_add_test(split, test_route_split_alt_and_ids);
	tcase_add_test(split, test_route_split_weight_bounds);
	tcase_add_test(split, test_route_split_pick_counts);
	tcase_add_test(split, test_route_split_pick_order);
	suite_add_tcase(s, split);

	tcase_add_test(methods, test_route_allow_string);
	tcase_add_test(methods, test_route_method_bit);
	suite_add_tcase(s, methods);
	return s;
}

int main(void)
{
	return harness_run_suite(route_suite(), 0);
}
