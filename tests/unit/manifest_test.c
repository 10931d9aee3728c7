/* manifest_test.c: unit tests of service manifests: loading, checking against the registry, the
 * keys on running a service (count, healthcheck, deregistration_delay, max_inflight, calls, cpu,
 * memory), routes' split:, the requests' fields:, errors with file:line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <check.h>

#include "harness.h"
#include "manifest.h"
#include "route.h"
#include "routes.h"

static char tmpdir[128];

static void tmpdir_setup(void)
{
	ck_assert_int_eq(harness_tmpdir(tmpdir, sizeof(tmpdir)), 0);
}

static void tmpdir_teardown(void)
{
	harness_rmtree(tmpdir);
}

/* write_at writes text to tmpdir/rel (creating one level of directory if rel has one) and
 * stores the file's path in out. */
static void write_at(const char *rel, const char *text, char *out, size_t outlen)
{
	const char *slash = strchr(rel, '/');
	FILE *f;
	if (slash != NULL) {
		char dir[256];
		snprintf(dir, sizeof(dir), "%s/%.*s", tmpdir, (int)(slash - rel), rel);
		mkdir(dir, 0755);
	}
	snprintf(out, outlen, "%s/%s", tmpdir, rel);
	f = fopen(out, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_ge(fputs(text, f), 0);
	ck_assert_int_eq(fclose(f), 0);
}

/* assert_at asserts err names path at line and holds reason. */
static void assert_at(const char *err, const char *path, int line, const char *reason)
{
	char want[512];
	snprintf(want, sizeof(want), "%s:%d: ", path, line);
	ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "'%s' does not start with '%s'", err,
		      want);
	ck_assert_msg(strstr(err, reason) != NULL, "'%s' does not say '%s'", err, reason);
}

/* assert_load_fails asserts the manifest text fails to load, at line, saying reason. */
static void assert_load_fails(const char *text, int line, const char *reason)
{
	char path[256], err[1024] = "";
	manifest *m = NULL;
	write_at("m.yml", text, path, sizeof(path));
	ck_assert_msg(manifest_load(path, &m, err, sizeof(err)) == -1, "loaded:\n%s", text);
	ck_assert_ptr_null(m);
	assert_at(err, path, line, reason);
}

/* assert_routes_fail asserts the manifest text loads but its routes are refused, at line,
 * saying reason; the table keeps only what was added before. */
static void assert_routes_fail(const char *text, int line, const char *reason)
{
	char path[256], err[1024] = "";
	manifest *m = NULL;
	route_table t;
	write_at("m.yml", text, path, sizeof(path));
	ck_assert_msg(manifest_load(path, &m, err, sizeof(err)) == 0, "%s", err);
	route_table_init(&t);
	ck_assert_msg(routes_add_manifest(&t, m, err, sizeof(err)) == -1, "routes added:\n%s",
		      text);
	assert_at(err, path, line, reason);
	route_table_fini(&t);
	manifest_free(m);
}

/* load_ok loads the manifest text, which must load. */
static manifest *load_ok(const char *text)
{
	char path[256], err[1024] = "";
	manifest *m = NULL;
	write_at("m.yml", text, path, sizeof(path));
	ck_assert_msg(manifest_load(path, &m, err, sizeof(err)) == 0, "%s\n%s", err, text);
	return m;
}

/* assert_key_fails asserts the manifest "name: x\nservice: users.Users\n" followed by rest fails
 * to load at line (counted in the whole text), saying reason. */
static void assert_key_fails(const char *rest, int line, const char *reason)
{
	char text[1024];
	snprintf(text, sizeof(text), "name: x\nservice: users.Users\n%s", rest);
	assert_load_fails(text, line, reason);
}

/* ---- the real manifests --------------------------------------------------------------------- */

START_TEST(test_manifest_real_manifests_load)
{
	manifest **ms = NULL;
	size_t n = 0;
	char err[1024] = "";
	route_table t;
	static const char *const names[] = {"posts", "threads", "users"};
	static const char *const services[] = {"posts.Posts", "threads.Threads", "users.Users"};

	ck_assert_msg(manifest_load_dir(CLEAVE_SOURCE_DIR "/svc", &ms, &n, err, sizeof(err)) == 0,
		      "%s", err);
	ck_assert_uint_eq(n, 3);
	for (size_t i = 0; i < n; i++) {
		ck_assert_str_eq(ms[i]->name, names[i]); /* in name order */
		ck_assert_str_eq(ms[i]->service, services[i]);
		ck_assert_int_eq(ms[i]->service_line, 3);
	}
	ck_assert_uint_eq(ms[0]->nroutes, 5);
	ck_assert_uint_eq(ms[1]->nroutes, 3);
	ck_assert_uint_eq(ms[2]->nroutes, 3);
	ck_assert_str_eq(ms[2]->routes[0].body, "users");
	ck_assert_ptr_null(ms[2]->routes[1].body);

	for (size_t i = 0; i < n; i++) {
		ck_assert_int_eq(ms[i]->count, 1);
		ck_assert_int_eq(ms[i]->health.interval_ms, 2000);
		ck_assert_int_eq(ms[i]->health.timeout_ms, 1000);
		ck_assert_int_eq(ms[i]->health.healthy_threshold, 2);
		ck_assert_int_eq(ms[i]->health.unhealthy_threshold, 2);
		ck_assert_int_eq(ms[i]->health.grace_period_ms, 1000);
		ck_assert_int_gt(ms[i]->health.line, 3);
		ck_assert_int_eq(ms[i]->deregistration_delay_ms, 2000);
		ck_assert_ptr_nonnull(ms[i]->calls);
		ck_assert_int_eq(ms[i]->cpu_millis, 0);
		ck_assert_int_eq(ms[i]->memory_bytes, 0);
	}
	ck_assert_uint_eq(ms[0]->ncalls, 2);
	ck_assert_str_eq(ms[0]->calls[0], "threads.Get");
	ck_assert_str_eq(ms[0]->calls[1], "users.Get");
	ck_assert_uint_eq(ms[1]->ncalls, 1);
	ck_assert_str_eq(ms[1]->calls[0], "users.Get");
	ck_assert_uint_eq(ms[2]->ncalls, 0);
	ck_assert_msg(manifest_check_calls(ms, n, err, sizeof(err)) == 0, "%s", err);

	route_table_init(&t);
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(routes_add_manifest(&t, ms[i], err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(t.n, 11);
	route_table_fini(&t);
	manifest_free_all(ms, n);
}
END_TEST

START_TEST(test_manifest_real_routes_match)
{
	manifest **ms = NULL;
	size_t n = 0;
	char err[1024] = "", scratch[256];
	route_table t;
	route_path p;
	const route *found = NULL;
	unsigned allow = 0;
	const char *path = "/api/posts/in-thread/2";

	ck_assert_msg(manifest_load_dir(CLEAVE_SOURCE_DIR "/svc", &ms, &n, err, sizeof(err)) == 0,
		      "%s", err);
	route_table_init(&t);
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(routes_add_manifest(&t, ms[i], err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(route_path_parse(&p, path, strlen(path), scratch, sizeof(scratch)), 0);
	ck_assert_int_eq(route_table_match(&t, &p, ROUTE_GET, &found, &allow), ROUTE_MATCH_FOUND);
	ck_assert_int_eq(found->kind, ROUTE_RPC);
	ck_assert_str_eq(found->service->name, "posts.Posts");
	ck_assert_str_eq(found->service->methods[found->method_index].name, "ListByThread");
	ck_assert_str_eq(found->service_name, "posts");
	ck_assert_ptr_nonnull(found->body_field);
	ck_assert_str_eq(found->body_field->name, "posts");
	ck_assert_ptr_nonnull(found->segments[3].field);
	ck_assert_str_eq(found->segments[3].field->name, "thread");
	ck_assert_ptr_nonnull(strstr(found->source, "svc/posts/manifest.yml:"));
	ck_assert_uint_eq(allow, ROUTE_GET | ROUTE_HEAD | ROUTE_OPTIONS);
	route_table_fini(&t);
	manifest_free_all(ms, n);
}
END_TEST

/* ---- a manifest of our own ------------------------------------------------------------------ */

START_TEST(test_manifest_load_fields_and_lines)
{
	char path[256], err[1024] = "";
	manifest *m = NULL;
	route_table t;
	write_at("m.yml",
		 "# a test manifest\n"	       /* 1 */
		 "name: people\n"	       /* 2 */
		 "service: users.Users\n"      /* 3 */
		 "routes:\n"		       /* 4 */
		 "  - method: GET\n"	       /* 5 */
		 "    path: /people\n"	       /* 6 */
		 "    rpc: List\n"	       /* 7 */
		 "    body: users   # array\n" /* 8 */
		 "\n"			       /* 9 */
		 "  - method: GET\n"	       /* 10 */
		 "    path: /people/{id}\n"    /* 11 */
		 "    rpc: Get\n",	       /* 12 */
		 path, sizeof(path));
	ck_assert_msg(manifest_load(path, &m, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(m->file, path);
	ck_assert_str_eq(m->name, "people");
	ck_assert_str_eq(m->service, "users.Users");
	ck_assert_int_eq(m->service_line, 3);
	ck_assert_uint_eq(m->nroutes, 2);
	ck_assert_str_eq(m->routes[0].method, "GET");
	ck_assert_str_eq(m->routes[0].path, "/people");
	ck_assert_str_eq(m->routes[0].rpc, "List");
	ck_assert_str_eq(m->routes[0].body, "users");
	ck_assert_int_eq(m->routes[0].line, 5);
	ck_assert_str_eq(m->routes[1].path, "/people/{id}");
	ck_assert_ptr_null(m->routes[1].body);
	ck_assert_int_eq(m->routes[1].line, 10);

	route_table_init(&t);
	ck_assert_msg(routes_add_manifest(&t, m, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(t.n, 2);
	ck_assert_str_eq(t.routes[1]->service_name, "people");
	{
		char want[300];
		snprintf(want, sizeof(want), "%s:10", path);
		ck_assert_str_eq(t.routes[1]->source, want);
	}
	route_table_fini(&t);
	manifest_free(m);
}
END_TEST

START_TEST(test_manifest_no_routes)
{
	char path[256], err[1024] = "";
	manifest *m = NULL;
	route_table t;
	write_at("m.yml", "name: quiet\nservice: users.Users\n", path, sizeof(path));
	ck_assert_msg(manifest_load(path, &m, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(m->nroutes, 0);
	route_table_init(&t);
	ck_assert_int_eq(routes_add_manifest(&t, m, err, sizeof(err)), 0);
	ck_assert_uint_eq(t.n, 0);
	route_table_fini(&t);
	manifest_free(m);
}
END_TEST

/* ---- errors from manifest_load -------------------------------------------------------------- */

START_TEST(test_manifest_unknown_top_level_key)
{
	assert_load_fails("name: x\n"
			  "service: users.Users\n"
			  "colour: blue\n"
			  "routes: []\n",
			  3, "unknown key 'colour'");
}
END_TEST

START_TEST(test_manifest_unknown_route_key)
{
	assert_load_fails("name: x\n"
			  "service: users.Users\n"
			  "routes:\n"
			  "  - method: GET\n"
			  "    path: /x\n"
			  "    rpc: List\n"
			  "    verb: GET\n",
			  7, "unknown route key 'verb'");
}
END_TEST

START_TEST(test_manifest_routes_not_a_list)
{
	assert_load_fails("name: x\n"
			  "service: users.Users\n"
			  "routes: GET /x\n",
			  3, "'routes' wants a list");
	assert_load_fails("# routes as a mapping\n"
			  "name: x\n"
			  "service: users.Users\n"
			  "routes:\n"
			  "  method: GET\n"
			  "  path: /x\n",
			  5, "'routes' wants a list");
}
END_TEST

START_TEST(test_manifest_route_not_a_mapping)
{
	assert_load_fails("name: x\n"
			  "service: users.Users\n"
			  "routes:\n"
			  "  - method: GET\n"
			  "    path: /x\n"
			  "    rpc: List\n"
			  "  - GET /y\n",
			  7, "each route is a mapping");
}
END_TEST

START_TEST(test_manifest_route_missing_rpc)
{
	assert_load_fails("# two routes, the second without rpc\n"
			  "name: x\n"
			  "service: users.Users\n"
			  "routes:\n"
			  "  - method: GET\n"
			  "    path: /x\n"
			  "    rpc: List\n"
			  "  - method: GET\n"
			  "    path: /y\n",
			  8, "needs method, path and rpc");
	assert_load_fails("name: x\n"
			  "service: users.Users\n"
			  "routes:\n"
			  "  - path: /y\n"
			  "    rpc: List\n",
			  4, "needs method, path and rpc");
}
END_TEST

START_TEST(test_manifest_value_kinds)
{
	assert_load_fails("name: x\n"
			  "service: users.Users\n"
			  "routes:\n"
			  "  - method: GET\n"
			  "    path: [/a, /b]\n"
			  "    rpc: List\n",
			  5, "'path' wants a non-empty string");
	assert_load_fails("name: x\n"
			  "service: users.Users\n"
			  "routes:\n"
			  "  - method: GET\n"
			  "    path: /x\n"
			  "    rpc: \"\"\n",
			  6, "'rpc' wants a non-empty string");
	assert_load_fails("name:\n"
			  "  - a\n"
			  "service: users.Users\n",
			  2, "'name' wants a non-empty string");
	assert_load_fails("name: x\n"
			  "service: users.Users\n"
			  "routes:\n"
			  "  - method: GET\n"
			  "    path: /x\n"
			  "    path: /y\n"
			  "    rpc: List\n",
			  6, "'path' is given twice");
	assert_load_fails("name: x\n"
			  "service: users.Users\n"
			  "routes: []\n"
			  "routes: []\n",
			  4, "'routes' is given twice");
}
END_TEST

START_TEST(test_manifest_missing_name_or_service)
{
	assert_load_fails("# no service\n"
			  "name: x\n"
			  "routes: []\n",
			  2, "needs name and service");
	assert_load_fails("service: users.Users\n", 1, "needs name and service");
	assert_load_fails("- name: x\n", 1, "a manifest is a mapping");
	assert_load_fails("", 1, "a manifest is a mapping");
}
END_TEST

START_TEST(test_manifest_malformed_yaml)
{
	assert_load_fails("name: x\n"
			  "service: users.Users\n"
			  "routes:\n"
			  "  - method: GET\n"
			  "    path: /x: y\n"
			  "    rpc: List\n",
			  5, "mapping values are not allowed");
	assert_load_fails("name: x\n"
			  "service: users.Users\n"
			  "routes:\n"
			  "  - method: GET\n"
			  "\tpath: /x\n",
			  5, "tab");
}
END_TEST

START_TEST(test_manifest_bad_name_characters)
{
	assert_load_fails("name: Users\n"
			  "service: users.Users\n",
			  1, "name 'Users' may hold only [a-z0-9_-]");
	assert_load_fails("name: a/b\n"
			  "service: users.Users\n",
			  1, "may hold only");
	assert_load_fails("name: a b\n"
			  "service: users.Users\n",
			  1, "may hold only");
}
END_TEST

START_TEST(test_manifest_bad_name_line)
{
	/* the line is the name's, not the first key's */
	assert_load_fails("# name after service\n"
			  "service: users.Users\n"
			  "name: Bad.Name\n",
			  3, "name 'Bad.Name' may hold only");
}
END_TEST

START_TEST(test_manifest_missing_file)
{
	char path[256], err[1024] = "";
	manifest *m = NULL;
	snprintf(path, sizeof(path), "%s/none.yml", tmpdir);
	ck_assert_int_eq(manifest_load(path, &m, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, path) != NULL, "%s", err);
}
END_TEST

/* ---- errors from routes_add_manifest -------------------------------------------------------- */

START_TEST(test_manifest_bad_method)
{
	static const char *const bad[] = {"FETCH", "get", "HEAD", "OPTIONS", "TRACE"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[512], reason[64];
		snprintf(text, sizeof(text),
			 "name: x\n"
			 "service: users.Users\n"
			 "routes:\n"
			 "  - method: GET\n"
			 "    path: /x\n"
			 "    rpc: List\n"
			 "  - method: %s\n"
			 "    path: /y\n"
			 "    rpc: List\n",
			 bad[i]);
		snprintf(reason, sizeof(reason), "method '%s' is not one of GET, POST", bad[i]);
		assert_routes_fail(text, 7, reason);
	}
}
END_TEST

START_TEST(test_manifest_good_methods)
{
	char path[256], err[1024] = "";
	manifest *m = NULL;
	route_table t;
	write_at("m.yml",
		 "name: x\n"
		 "service: users.Users\n"
		 "routes:\n"
		 "  - {method: GET, path: /x, rpc: List}\n"
		 "  - {method: POST, path: /x, rpc: List}\n"
		 "  - {method: PUT, path: /x, rpc: List}\n"
		 "  - {method: PATCH, path: /x, rpc: List}\n"
		 "  - {method: DELETE, path: /x, rpc: List}\n",
		 path, sizeof(path));
	ck_assert_msg(manifest_load(path, &m, err, sizeof(err)) == 0, "%s", err);
	route_table_init(&t);
	ck_assert_msg(routes_add_manifest(&t, m, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(t.n, 5);
	ck_assert_uint_eq(t.routes[0]->method, ROUTE_GET);
	ck_assert_uint_eq(t.routes[1]->method, ROUTE_POST);
	ck_assert_uint_eq(t.routes[2]->method, ROUTE_PUT);
	ck_assert_uint_eq(t.routes[3]->method, ROUTE_PATCH);
	ck_assert_uint_eq(t.routes[4]->method, ROUTE_DELETE);
	ck_assert_int_eq(m->routes[4].line, 8);
	route_table_fini(&t);
	manifest_free(m);
}
END_TEST

START_TEST(test_manifest_unknown_rpc)
{
	assert_routes_fail("name: x\n"
			   "service: users.Users\n"
			   "routes:\n"
			   "  - method: GET\n"
			   "    path: /x\n"
			   "    rpc: List\n"
			   "  - method: POST\n"
			   "    path: /x\n"
			   "    rpc: Delete\n",
			   7, "users.Users has no method 'Delete'");
}
END_TEST

START_TEST(test_manifest_unknown_service)
{
	assert_routes_fail("# not built\n"
			   "name: x\n"
			   "service: nope.Nope\n"
			   "routes: []\n",
			   3, "no service 'nope.Nope'");
	/* test-only protos are never in the registry */
	assert_routes_fail("name: x\n"
			   "service: sample.Echo\n",
			   2, "no service 'sample.Echo'");
}
END_TEST

START_TEST(test_manifest_param_not_a_field)
{
	assert_routes_fail("name: x\n"
			   "service: users.Users\n"
			   "routes:\n"
			   "  - method: GET\n"
			   "    path: /api/users/{uid}\n"
			   "    rpc: Get\n",
			   4, "{uid} is not a field of users.GetUserRequest");
	assert_routes_fail("name: x\n"
			   "service: users.Users\n"
			   "routes:\n"
			   "  - method: GET\n"
			   "    path: /api/users/{id}\n"
			   "    rpc: List\n",
			   4, "{id} is not a field of users.ListUsersRequest");
}
END_TEST

START_TEST(test_manifest_bad_path_template)
{
	assert_routes_fail("name: x\n"
			   "service: users.Users\n"
			   "routes:\n"
			   "  - method: GET\n"
			   "    path: api/users\n"
			   "    rpc: List\n",
			   4, "must start with '/'");
	assert_routes_fail("name: x\n"
			   "service: users.Users\n"
			   "routes:\n"
			   "  - method: GET\n"
			   "    path: /api/users/\n"
			   "    rpc: List\n",
			   4, "must not end with '/'");
}
END_TEST

START_TEST(test_manifest_body_not_repeated)
{
	assert_routes_fail("name: x\n"
			   "service: users.Users\n"
			   "routes:\n"
			   "  - method: GET\n"
			   "    path: /api/users/{id}\n"
			   "    rpc: Get\n"
			   "    body: username\n",
			   4, "body 'username' is not a repeated field of users.User");
	assert_routes_fail("name: x\n"
			   "service: users.Users\n"
			   "routes:\n"
			   "  - method: GET\n"
			   "    path: /api/users\n"
			   "    rpc: List\n"
			   "    body: people\n",
			   4, "body 'people' is not a repeated field of users.ListUsersReply");
}
END_TEST

START_TEST(test_manifest_duplicate_route)
{
	char path[256], err[1024] = "", earlier[300];
	manifest *m = NULL;
	route_table t;
	write_at("m.yml",
		 "name: x\n"		       /* 1 */
		 "service: users.Users\n"      /* 2 */
		 "routes:\n"		       /* 3 */
		 "  - method: GET\n"	       /* 4 */
		 "    path: /api/users/{id}\n" /* 5 */
		 "    rpc: Get\n"	       /* 6 */
		 "  - method: GET\n"	       /* 7 */
		 "    path: /api/users\n"      /* 8 */
		 "    rpc: List\n"	       /* 9 */
		 "  - method: GET\n"	       /* 10 */
		 "    path: /api/users/{id}\n" /* 11 */
		 "    rpc: Get\n",	       /* 12 */
		 path, sizeof(path));
	ck_assert_msg(manifest_load(path, &m, err, sizeof(err)) == 0, "%s", err);
	route_table_init(&t);
	ck_assert_int_eq(routes_add_manifest(&t, m, err, sizeof(err)), -1);
	assert_at(err, path, 10, "route GET /api/users/{id} is declared twice");
	snprintf(earlier, sizeof(earlier), "%s:4", path);
	ck_assert_msg(strstr(err, earlier) != NULL, "'%s' does not name '%s'", err, earlier);
	ck_assert_uint_eq(t.n, 2); /* the routes before it were added */
	route_table_fini(&t);
	manifest_free(m);
}
END_TEST

START_TEST(test_manifest_duplicate_route_across_manifests)
{
	char path_a[256], path_b[256], err[1024] = "";
	manifest *a = NULL, *b = NULL;
	route_table t;
	write_at("a.yml",
		 "name: a\n"
		 "service: users.Users\n"
		 "routes:\n"
		 "  - {method: GET, path: /api/users, rpc: List}\n",
		 path_a, sizeof(path_a));
	write_at("b.yml",
		 "name: b\n"
		 "service: threads.Threads\n"
		 "routes:\n"
		 "  - {method: GET, path: /api/threads, rpc: List}\n"
		 "  - {method: GET, path: /api/users/, rpc: List}\n",
		 path_b, sizeof(path_b));
	ck_assert_int_eq(manifest_load(path_a, &a, err, sizeof(err)), 0);
	ck_assert_int_eq(manifest_load(path_b, &b, err, sizeof(err)), 0);
	route_table_init(&t);
	ck_assert_int_eq(routes_add_manifest(&t, a, err, sizeof(err)), 0);
	ck_assert_int_eq(routes_add_manifest(&t, b, err, sizeof(err)), -1);
	/* "/api/users/" is refused as a template before it could be a duplicate */
	assert_at(err, path_b, 5, "must not end with '/'");
	route_table_fini(&t);
	manifest_free(b);

	write_at("b.yml",
		 "name: b\n"
		 "service: threads.Threads\n"
		 "routes:\n"
		 "  - {method: GET, path: /api/users, rpc: List}\n",
		 path_b, sizeof(path_b));
	ck_assert_int_eq(manifest_load(path_b, &b, err, sizeof(err)), 0);
	route_table_init(&t);
	ck_assert_int_eq(routes_add_manifest(&t, a, err, sizeof(err)), 0);
	ck_assert_int_eq(routes_add_manifest(&t, b, err, sizeof(err)), -1);
	assert_at(err, path_b, 4, "declared twice");
	ck_assert_msg(strstr(err, path_a) != NULL, "'%s' does not name %s", err, path_a);
	route_table_fini(&t);
	manifest_free(a);
	manifest_free(b);
}
END_TEST

/* ---- count, healthcheck, deregistration_delay, max_inflight, calls, cpu, memory ------------- */

START_TEST(test_manifest_run_keys_default)
{
	manifest *m = load_ok("name: x\nservice: users.Users\n");
	ck_assert_int_eq(m->count, 1);
	ck_assert_int_eq(m->health.interval_ms, 5000);
	ck_assert_int_eq(m->health.timeout_ms, 2000);
	ck_assert_int_eq(m->health.healthy_threshold, 2);
	ck_assert_int_eq(m->health.unhealthy_threshold, 2);
	ck_assert_int_eq(m->health.grace_period_ms, 0);
	ck_assert_int_eq(m->health.line, 0);
	ck_assert_int_eq(m->deregistration_delay_ms, 5000);
	ck_assert_ptr_null(m->calls);
	ck_assert_ptr_null(m->calls_line);
	ck_assert_uint_eq(m->ncalls, 0);
	ck_assert_int_eq(m->cpu_millis, 0);
	ck_assert_int_eq(m->memory_bytes, 0);
	ck_assert_int_eq(m->max_inflight, 256);
	manifest_free(m);

	/* a healthcheck: with some keys keeps the defaults of the others */
	m = load_ok("name: x\n"
		    "service: users.Users\n"
		    "healthcheck:\n"
		    "  healthy_threshold: 3\n");
	ck_assert_int_eq(m->health.line, 3);
	ck_assert_int_eq(m->health.interval_ms, 5000);
	ck_assert_int_eq(m->health.timeout_ms, 2000);
	ck_assert_int_eq(m->health.healthy_threshold, 3);
	ck_assert_int_eq(m->health.unhealthy_threshold, 2);
	ck_assert_int_eq(m->health.grace_period_ms, 0);
	manifest_free(m);

	m = load_ok("name: x\nservice: users.Users\nhealthcheck: {}\ncalls: []\n");
	ck_assert_int_eq(m->health.line, 3);
	ck_assert_int_eq(m->health.interval_ms, 5000);
	ck_assert_ptr_nonnull(m->calls);
	ck_assert_uint_eq(m->ncalls, 0);
	manifest_free(m);
}
END_TEST

START_TEST(test_manifest_policy_mode)
{
	manifest *m = load_ok("name: x\nservice: users.Users\n");
	ck_assert_int_eq(m->policy_audit, 0);
	manifest_free(m);
	m = load_ok("name: x\nservice: users.Users\npolicy: audit\n");
	ck_assert_int_eq(m->policy_audit, 1);
	manifest_free(m);
	m = load_ok("name: x\nservice: users.Users\npolicy: enforce\n");
	ck_assert_int_eq(m->policy_audit, 0);
	manifest_free(m);
	assert_key_fails("policy: lax\n", 3, "policy is enforce or audit, not 'lax'");
	assert_key_fails("policy: audit\npolicy: audit\n", 4, "'policy' is given twice");
}
END_TEST

START_TEST(test_manifest_run_keys_parsed)
{
	manifest *m = load_ok("name: x\n"		     /* 1 */
			      "service: users.Users\n"	     /* 2 */
			      "count: 64\n"		     /* 3 */
			      "healthcheck:\n"		     /* 4 */
			      "  interval: 2m\n"	     /* 5 */
			      "  timeout: 500ms\n"	     /* 6 */
			      "  healthy_threshold: 10\n"    /* 7 */
			      "  unhealthy_threshold: 1\n"   /* 8 */
			      "  grace_period: 1h\n"	     /* 9 */
			      "deregistration_delay: 300s\n" /* 10 */
			      "calls:\n"		     /* 11 */
			      "  - threads.Get\n"	     /* 12 */
			      "  - users.List\n"	     /* 13 */
			      "  - my-svc_2.Do_it2\n"	     /* 14 */
			      "cpu: 256\n"		     /* 15 */
			      "memory: 512Mi\n"		     /* 16 */
			      "routes: []\n");		     /* 17 */
	ck_assert_int_eq(m->count, 64);
	ck_assert_int_eq(m->health.line, 4);
	ck_assert_int_eq(m->health.interval_ms, 120000);
	ck_assert_int_eq(m->health.timeout_ms, 500);
	ck_assert_int_eq(m->health.healthy_threshold, 10);
	ck_assert_int_eq(m->health.unhealthy_threshold, 1);
	ck_assert_int_eq(m->health.grace_period_ms, 3600000);
	ck_assert_int_eq(m->deregistration_delay_ms, 300000);
	ck_assert_uint_eq(m->ncalls, 3);
	ck_assert_str_eq(m->calls[0], "threads.Get");
	ck_assert_str_eq(m->calls[1], "users.List");
	ck_assert_str_eq(m->calls[2], "my-svc_2.Do_it2");
	ck_assert_int_eq(m->calls_line[0], 12);
	ck_assert_int_eq(m->calls_line[1], 13);
	ck_assert_int_eq(m->calls_line[2], 14);
	ck_assert_int_eq(m->cpu_millis, 256);
	ck_assert_int_eq(m->memory_bytes, INT64_C(512) * 1024 * 1024);
	manifest_free(m);

	m = load_ok("name: x\n"
		    "service: users.Users\n"
		    "count: 1\n"
		    "healthcheck: {interval: 1s, timeout: 999ms, grace_period: 0s}\n"
		    "deregistration_delay: 0s\n"
		    "calls: [users.Get]\n"
		    "cpu: 64000\n"
		    "memory: 1Gi\n");
	ck_assert_int_eq(m->count, 1);
	ck_assert_int_eq(m->health.interval_ms, 1000);
	ck_assert_int_eq(m->health.timeout_ms, 999);
	ck_assert_int_eq(m->health.grace_period_ms, 0);
	ck_assert_int_eq(m->deregistration_delay_ms, 0);
	ck_assert_uint_eq(m->ncalls, 1);
	ck_assert_int_eq(m->calls_line[0], 6);
	ck_assert_int_eq(m->cpu_millis, 64000);
	ck_assert_int_eq(m->memory_bytes, INT64_C(1) << 30);
	manifest_free(m);

	m = load_ok("name: x\nservice: users.Users\nmax_inflight: 1\n");
	ck_assert_int_eq(m->max_inflight, 1);
	manifest_free(m);
	m = load_ok("name: x\nservice: users.Users\nmax_inflight: 65536\n");
	ck_assert_int_eq(m->max_inflight, 65536);
	manifest_free(m);

	m = load_ok("name: x\nservice: users.Users\ncpu: 1\nmemory: 1Ki\n");
	ck_assert_int_eq(m->cpu_millis, 1);
	ck_assert_int_eq(m->memory_bytes, 1024);
	manifest_free(m);
	m = load_ok("name: x\nservice: users.Users\nmemory: 2Ti\n");
	ck_assert_int_eq(m->memory_bytes, INT64_C(2) << 40);
	manifest_free(m);
}
END_TEST

START_TEST(test_manifest_bad_count)
{
	assert_key_fails("count: 0\n", 3, "'count' wants a whole number from 1 to 64, not '0'");
	assert_key_fails("count: 65\n", 3, "'count' wants a whole number from 1 to 64, not '65'");
	assert_key_fails("routes: []\ncount: -1\n", 4, "'count' wants a whole number from 1 to 64");
	assert_key_fails("count: 2.0\n", 3, "'count' wants a whole number");
	assert_key_fails("count: two\n", 3, "'count' wants a whole number");
	assert_key_fails("count: \"\"\n", 3, "'count' wants a whole number");
	assert_key_fails("count: 99999999999999999999999\n", 3, "'count' wants a whole number");
	assert_key_fails("count:\n  - 1\n", 4,
			 "'count' wants a whole number from 1 to 64, not a list");
	assert_key_fails("count: 1\ncount: 2\n", 4, "'count' is given twice");
}
END_TEST

START_TEST(test_manifest_bad_max_inflight)
{
	assert_key_fails("max_inflight: 0\n", 3,
			 "'max_inflight' wants a whole number from 1 to 65536, not '0'");
	assert_key_fails("max_inflight: 65537\n", 3,
			 "'max_inflight' wants a whole number from 1 to 65536, not '65537'");
	assert_key_fails("max_inflight: -5\n", 3, "'max_inflight' wants a whole number");
	assert_key_fails("max_inflight: lots\n", 3, "'max_inflight' wants a whole number");
	assert_key_fails("max_inflight: {}\n", 3, "'max_inflight' wants a whole number");
	assert_key_fails("max_inflight: 5\nmax_inflight: 6\n", 4, "'max_inflight' is given twice");
}
END_TEST

START_TEST(test_manifest_bad_healthcheck)
{
	assert_key_fails("healthcheck:\n"
			 "  interval: 5s\n"
			 "  retries: 3\n",
			 5, "unknown healthcheck key 'retries' (known: interval, timeout");
	assert_key_fails("healthcheck: 5s\n", 3, "'healthcheck' wants a mapping");
	assert_key_fails("healthcheck:\n  - interval: 5s\n", 4, "'healthcheck' wants a mapping");
	assert_key_fails("healthcheck:\n"
			 "  interval: 2s\n"
			 "  timeout: 2s\n",
			 5, "'timeout' (2s) must be less than 'interval' (2s)");
	assert_key_fails("healthcheck:\n"
			 "  timeout: 3s\n"
			 "  interval: 1500ms\n",
			 4, "'timeout' (3s) must be less than 'interval' (1500ms)");
	/* the default timeout, 2s, is not less than an interval of 1s: the interval's line */
	assert_key_fails("healthcheck:\n"
			 "  grace_period: 1s\n"
			 "  interval: 1s\n",
			 5, "'timeout' (2s, the default) must be less than 'interval' (1s)");
	assert_key_fails("healthcheck:\n"
			 "  timeout: 6s\n",
			 4, "'timeout' (6s) must be less than 'interval' (5s, the default)");
	assert_key_fails("healthcheck:\n"
			 "  healthy_threshold: 0\n",
			 4, "'healthy_threshold' wants a whole number from 1 to 10, not '0'");
	assert_key_fails("healthcheck:\n"
			 "  unhealthy_threshold: 11\n",
			 4, "'unhealthy_threshold' wants a whole number from 1 to 10, not '11'");
	assert_key_fails("healthcheck:\n"
			 "  interval: 0s\n",
			 4, "'interval' must be more than 0, not '0s'");
	assert_key_fails("healthcheck:\n"
			 "  timeout: 0ms\n",
			 4, "'timeout' must be more than 0, not '0ms'");
	assert_key_fails("healthcheck:\n"
			 "  timeout: 1s\n"
			 "  timeout: 1s\n",
			 5, "'timeout' is given twice");
	assert_key_fails("healthcheck: {}\n"
			 "healthcheck: {}\n",
			 4, "'healthcheck' is given twice");
}
END_TEST

START_TEST(test_manifest_bad_duration)
{
	static const char *const garbage[] = {"-5s", "5 s",  "1.5s",  "5sec", "5S",
					      "s",   "5ms5", "0x10s", "\"\""};
	assert_key_fails("deregistration_delay: 5\n", 3,
			 "'deregistration_delay' wants a unit: '5' is not a duration (a whole "
			 "number with ms, s, m or h, like 500ms, 5s or 2m)");
	assert_key_fails("healthcheck:\n  interval: 10\n", 4, "'interval' wants a unit: '10'");
	assert_key_fails("healthcheck:\n  grace_period: 0\n", 4, "'grace_period' wants a unit");
	for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
		char rest[128];
		snprintf(rest, sizeof(rest), "healthcheck:\n  timeout: %s\n", garbage[i]);
		assert_key_fails(rest, 4,
				 "'timeout' wants a duration, a whole number with ms, s, m or h, "
				 "like 500ms, 5s or 2m");
	}
	assert_key_fails("deregistration_delay: [5s]\n", 3,
			 "'deregistration_delay' wants a duration, a whole number with ms, s, m or "
			 "h, like 500ms, 5s or 2m, not a list");
	assert_key_fails("deregistration_delay: 301s\n", 3,
			 "'deregistration_delay' is at most 300s, not '301s'");
	assert_key_fails("deregistration_delay: 6m\n", 3, "'deregistration_delay' is at most 300s");
	assert_key_fails("healthcheck:\n  grace_period: 25h\n", 4,
			 "'grace_period' is at most 24h, not '25h'");
	assert_key_fails("healthcheck:\n  interval: 99999999999999999999999h\n", 4,
			 "'interval' is at most 24h");
	assert_key_fails("deregistration_delay: 1s\n"
			 "deregistration_delay: 1s\n",
			 4, "'deregistration_delay' is given twice");
}
END_TEST

START_TEST(test_manifest_bad_cpu_and_memory)
{
	assert_key_fails("cpu: 0\n", 3, "'cpu' wants a whole number from 1 to 64000, not '0'");
	assert_key_fails("cpu: 64001\n", 3, "'cpu' wants a whole number from 1 to 64000");
	assert_key_fails("cpu: 0.5\n", 3, "'cpu' wants a whole number from 1 to 64000, not '0.5'");
	assert_key_fails("cpu: 256m\n", 3, "'cpu' wants a whole number from 1 to 64000");
	assert_key_fails("cpu: 1\ncpu: 2\n", 4, "'cpu' is given twice");
	assert_key_fails("memory: lots\n", 3,
			 "'memory' wants a size, a whole number with Ki, Mi, Gi or Ti, like 512Mi "
			 "or 1Gi, not 'lots'");
	assert_key_fails("memory: 512MB\n", 3, "'memory' wants a size");
	assert_key_fails("memory: 512M\n", 3, "'memory' wants a size");
	assert_key_fails("memory: -1Gi\n", 3, "'memory' wants a size");
	assert_key_fails("memory: 1.5Gi\n", 3, "'memory' wants a size");
	assert_key_fails("memory: {size: 1Gi}\n", 3, "'memory' wants a size");
	assert_key_fails("memory: 536870912\n", 3,
			 "'memory' wants a unit: '536870912' is not a size");
	assert_key_fails("memory: 0Mi\n", 3, "'memory' must be more than 0");
	assert_key_fails("memory: 9999999999Ti\n", 3, "'memory' '9999999999Ti' is too large");
	assert_key_fails("memory: 1Gi\nmemory: 1Gi\n", 4, "'memory' is given twice");
}
END_TEST

START_TEST(test_manifest_bad_calls_shape)
{
	static const char *const bad[] = {"users",	"users.",     ".Get",	    "users.Get.x",
					  "Users.Get",	"users.1Get", "users.Ge-t", "us ers.Get",
					  "users..Get", "users.Get()"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char rest[256], reason[128];
		snprintf(rest, sizeof(rest), "calls:\n  - users.Get\n  - \"%s\"\n", bad[i]);
		snprintf(reason, sizeof(reason), "calls: '%s' is not service.method", bad[i]);
		assert_key_fails(rest, 5, reason);
	}
	assert_key_fails("calls: users.Get\n", 3, "'calls' wants a list of service.method");
	assert_key_fails("calls:\n  users: Get\n", 4, "'calls' wants a list of service.method");
	assert_key_fails("calls: [users.Get, [threads.Get]]\n", 3,
			 "'calls' wants a non-empty string");
	assert_key_fails("calls: [\"\"]\n", 3, "'calls' wants a non-empty string");
	assert_key_fails("calls:\n  - users.Get\n  - threads.Get\n  - users.Get\n", 6,
			 "calls: 'users.Get' is listed twice");
	assert_key_fails("calls: []\ncalls: [users.Get]\n", 4, "'calls' is given twice");
}
END_TEST

/* ---- fields: what the requests' fields must be ------------------------------------------- */

START_TEST(test_manifest_fields_parsed)
{
	manifest *m = load_ok("name: x\n"
			      "service: users.Users\n"
			      "fields:\n"
			      "  Create:\n"
			      "    username: {required: true, min_length: 1, max_length: 32,\n"
			      "               pattern: '^[a-z]+$', description: who}\n"
			      "    bio: {max_length: 0}\n"
			      "  List:\n"
			      "    after: {minimum: -5, maximum: 900000000000000000}\n");
	const manifest_field *f;
	char err[512] = "";
	ck_assert_uint_eq(m->nfields, 3);
	f = manifest_field_find(m, "Create", "username");
	ck_assert_ptr_eq(f, &m->fields[0]);
	ck_assert_int_eq(f->line, 5);
	ck_assert_int_eq(f->required, 1);
	ck_assert_int_eq(f->min_length, 1);
	ck_assert_int_eq(f->max_length, 32);
	ck_assert_str_eq(f->pattern, "^[a-z]+$");
	ck_assert_str_eq(f->description, "who");
	ck_assert(!f->has_minimum && !f->has_maximum);
	f = manifest_field_find(m, "Create", "bio");
	ck_assert_int_eq(f->required, 0);
	ck_assert_int_eq(f->min_length, -1);
	ck_assert_int_eq(f->max_length, 0);
	ck_assert_ptr_null(f->pattern);
	f = manifest_field_find(m, "List", "after");
	ck_assert(f->has_minimum && f->has_maximum);
	ck_assert_int_eq(f->minimum, -5);
	ck_assert_int_eq(f->maximum, INT64_C(900000000000000000));
	ck_assert_ptr_null(manifest_field_find(m, "List", "limit"));
	ck_assert_ptr_null(manifest_field_find(m, "Get", "username"));
	ck_assert_msg(manifest_check_fields(m, err, sizeof(err)) == 0, "%s", err);
	manifest_free(m);
}
END_TEST

START_TEST(test_manifest_fields_bad_shape)
{
	assert_key_fails("fields: [Create]\n", 3, "'fields' wants a mapping of rpc");
	assert_key_fails("fields:\n  Create: [name]\n", 4, "fields: Create wants a mapping");
	assert_key_fails("fields:\n  Create:\n    name: 3\n", 5,
			 "fields: Create.name wants a mapping of required, min_length");
	assert_key_fails("fields:\n  Create:\n    name: {size: 3}\n", 5,
			 "unknown field rule 'size' (known: required, min_length");
	assert_key_fails("fields:\n  Create:\n    name: {required: yes}\n", 5,
			 "'required' wants true or false, not 'yes'");
	assert_key_fails("fields:\n  Create:\n    name: {max_length: -1}\n", 5,
			 "'max_length' wants a whole number from 0 to");
	assert_key_fails("fields:\n  Create:\n    name: {minimum: 1.5}\n", 5,
			 "'minimum' wants a whole number (at most 18 digits), not '1.5'");
	assert_key_fails("fields:\n  Create:\n    name: {maximum: 1234567890123456789}\n", 5,
			 "'maximum' wants a whole number (at most 18 digits)");
	assert_key_fails("fields:\n  Create:\n    name: {min_length: 5, max_length: 4}\n", 5,
			 "fields: Create.name: min_length 5 is over max_length 4");
	assert_key_fails("fields:\n  Create:\n    name: {minimum: 5, maximum: -4}\n", 5,
			 "fields: Create.name: minimum 5 is over maximum -4");
	assert_key_fails("fields:\n  Create:\n    name: {pattern: ''}\n", 5,
			 "'pattern' wants a non-empty string");
	assert_key_fails("fields:\n  Create:\n    name: {required: true, required: false}\n", 5,
			 "'required' is given twice");
	assert_key_fails("fields:\n  Create:\n    name: {}\n  Create:\n    name: {}\n", 7,
			 "fields: Create.name is given twice");
	assert_key_fails("fields: {}\nfields: {}\n", 4, "'fields' is given twice");
}
END_TEST

/* assert_fields_refused asserts the users.Users manifest with fields: rest loads, and
 * manifest_check_fields refuses it at line 5 (the rule's), saying reason. */
static void assert_fields_refused(const char *rest, const char *reason)
{
	char text[512], err[512] = "";
	manifest *m;
	snprintf(text, sizeof(text), "name: x\nservice: users.Users\nfields:\n%s", rest);
	m = load_ok(text);
	ck_assert_msg(manifest_check_fields(m, err, sizeof(err)) == -1, "accepted:\n%s", text);
	assert_at(err, m->file, 5, reason);
	manifest_free(m);
}

START_TEST(test_manifest_check_fields)
{
	char err[512] = "";
	manifest *m;
	assert_fields_refused("  Delete:\n    id: {required: true}\n",
			      "fields: Delete.id: no such method");
	assert_fields_refused("  Create:\n    email: {required: true}\n",
			      "fields: Create.email: not a field of the method's request "
			      "(users.CreateUserRequest)");
	assert_fields_refused("  List:\n    limit: {max_length: 3}\n",
			      "min_length, max_length and pattern are for a string field");
	assert_fields_refused("  List:\n    limit: {pattern: '^1$'}\n",
			      "min_length, max_length and pattern are for a string field");
	assert_fields_refused("  Create:\n    name: {minimum: 3}\n",
			      "minimum and maximum are for an integer field");
	m = load_ok("name: x\nservice: users.Users\nfields:\n  Get:\n    id: {minimum: 1}\n"
		    "  Create:\n    bio: {max_length: 9, pattern: a}\n");
	ck_assert_msg(manifest_check_fields(m, err, sizeof(err)) == 0, "%s", err);
	manifest_free(m);
	m = load_ok("name: x\nservice: nope.Nope\nfields:\n  Get:\n    id: {minimum: 1}\n");
	ck_assert_int_eq(manifest_check_fields(m, err, sizeof(err)), -1);
	assert_at(err, m->file, 5, "the manifest's service is not in proto/");
	manifest_free(m);
}
END_TEST

/* load_three loads the manifests a (users.Users), b (threads.Threads) and c (posts.Posts) with
 * their text after name: and service:, into ms and their paths into paths. */
static void load_three(const char *a, const char *b, const char *c, manifest **ms,
		       char paths[3][256])
{
	static const char *const names[] = {"a", "b", "c"};
	static const char *const services[] = {"users.Users", "threads.Threads", "posts.Posts"};
	const char *rest[] = {a, b, c};
	for (int i = 0; i < 3; i++) {
		char rel[32], text[1024], err[1024] = "";
		snprintf(rel, sizeof(rel), "%s.yml", names[i]);
		snprintf(text, sizeof(text), "name: %s\nservice: %s\n%s", names[i], services[i],
			 rest[i]);
		write_at(rel, text, paths[i], sizeof(paths[i]));
		ms[i] = NULL;
		ck_assert_msg(manifest_load(paths[i], &ms[i], err, sizeof(err)) == 0, "%s", err);
	}
}

static void free_three(manifest **ms)
{
	for (int i = 0; i < 3; i++)
		manifest_free(ms[i]);
}

START_TEST(test_manifest_check_calls)
{
	manifest *ms[3];
	char paths[3][256], err[1024] = "";

	load_three("calls: []\n", "calls: [a.Get, a.List]\n", "calls: [b.Get, a.Get, c.Create]\n",
		   ms, paths);
	ck_assert_msg(manifest_check_calls(ms, 3, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(manifest_check_calls(ms, 0, err, sizeof(err)), 0);
	free_three(ms);

	/* no calls: at all is fine too */
	load_three("", "", "", ms, paths);
	ck_assert_msg(manifest_check_calls(ms, 3, err, sizeof(err)) == 0, "%s", err);
	free_three(ms);

	/* a service that is not a loaded manifest's name */
	load_three("", "calls: [a.Get]\n",
		   "calls:\n"	     /* 3 */
		   "  - b.Get\n"     /* 4 */
		   "  - users.Get\n" /* 5: users is the protobuf package, not a manifest name */
		   ,
		   ms, paths);
	ck_assert_int_eq(manifest_check_calls(ms, 3, err, sizeof(err)), -1);
	assert_at(err, paths[2], 5, "calls: no service 'users'");
	/* only among the manifests given */
	ck_assert_int_eq(manifest_check_calls(ms + 1, 1, err, sizeof(err)), -1);
	assert_at(err, paths[1], 3, "calls: no service 'a'");
	free_three(ms);

	/* a method its service does not have */
	load_three("", "calls: [a.Get, a.Delete]\n", "", ms, paths);
	ck_assert_int_eq(manifest_check_calls(ms, 3, err, sizeof(err)), -1);
	assert_at(err, paths[1], 3, "calls: a has no method 'Delete'");
	free_three(ms);

	/* a method of another service: ListByThread is posts', not threads' */
	load_three("", "", "calls:\n  - b.ListByThread\n", ms, paths);
	ck_assert_int_eq(manifest_check_calls(ms, 3, err, sizeof(err)), -1);
	assert_at(err, paths[2], 4, "calls: b has no method 'ListByThread'");
	free_three(ms);

	/* method names are case-sensitive */
	load_three("calls: [a.get]\n", "", "", ms, paths);
	ck_assert_int_eq(manifest_check_calls(ms, 3, err, sizeof(err)), -1);
	assert_at(err, paths[0], 3, "calls: a has no method 'get'");
	free_three(ms);
}
END_TEST

START_TEST(test_manifest_check_calls_service_not_built)
{
	char path[256], err[1024] = "";
	manifest *ms[2] = {NULL, NULL};
	write_at("a.yml", "name: a\nservice: users.Users\ncalls: [b.Get]\n", path, sizeof(path));
	ck_assert_int_eq(manifest_load(path, &ms[0], err, sizeof(err)), 0);
	write_at("b.yml", "name: b\nservice: nope.Nope\n", path, sizeof(path));
	ck_assert_int_eq(manifest_load(path, &ms[1], err, sizeof(err)), 0);
	ck_assert_int_eq(manifest_check_calls(ms, 2, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "a.yml:3: calls: b serves 'nope.Nope', which is not in proto/") !=
			  NULL,
		      "%s", err);
	manifest_free(ms[0]);
	manifest_free(ms[1]);
}
END_TEST

/* ---- a route's timeout: -----------------------------------------------------------------------
 */

START_TEST(test_manifest_route_timeout)
{
	char err[1024] = "";
	route_table t;
	manifest *m = load_ok("name: users\n"
			      "service: users.Users\n"
			      "routes:\n"
			      "  - method: GET\n"
			      "    path: /api/users/{id}\n"
			      "    rpc: Get\n"
			      "    timeout: 1500ms\n"
			      "  - {method: GET, path: /api/users, rpc: List, timeout: 1h,\n"
			      "     split: {service: users_v2, weight: 10}}\n"
			      "  - {method: POST, path: /api/users, rpc: Create}\n");
	ck_assert_int_eq(m->routes[0].timeout_ms, 1500);
	ck_assert_int_eq(m->routes[1].timeout_ms, 3600000);
	ck_assert_int_eq(m->routes[2].timeout_ms, 0); /* none: the edge's default and maximum */
	route_table_init(&t);
	ck_assert_msg(routes_add_manifest(&t, m, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(t.routes[0]->timeout_ms, 1500);
	ck_assert_int_eq(t.routes[1]->timeout_ms, 3600000);
	ck_assert_int_eq(t.routes[1]->split->alt.timeout_ms, 3600000); /* the other group's too */
	ck_assert_int_eq(t.routes[2]->timeout_ms, 0);
	route_table_fini(&t);
	manifest_free(m);
	assert_key_fails("routes:\n  - {method: GET, path: /x, rpc: Get, timeout: 5}\n", 4,
			 "'timeout' wants a unit");
	assert_key_fails("routes:\n  - {method: GET, path: /x, rpc: Get, timeout: 0ms}\n", 4,
			 "'timeout'");
	assert_key_fails("routes:\n  - {method: GET, path: /x, rpc: Get, timeout: 2h}\n", 4,
			 "'timeout'");
	assert_key_fails("routes:\n  - {method: GET, path: /x, rpc: Get, timeout: soon}\n", 4,
			 "'timeout' wants a duration");
}
END_TEST

/* ---- split: -------------------------------------------------------------------------------- */

START_TEST(test_manifest_split_parsed)
{
	char path[256], err[1024] = "";
	manifest *m = NULL;
	route_table t;
	write_at("m.yml",
		 "name: users\n"					 /* 1 */
		 "service: users.Users\n"				 /* 2 */
		 "routes:\n"						 /* 3 */
		 "  - method: GET\n"					 /* 4 */
		 "    path: /api/users/{id}\n"				 /* 5 */
		 "    rpc: Get\n"					 /* 6 */
		 "    split: {service: users_v2, weight: 10}   # 10 %\n" /* 7 */
		 "  - method: GET\n"					 /* 8 */
		 "    path: /api/users\n"				 /* 9 */
		 "    rpc: List\n"					 /* 10 */
		 "    split:\n"						 /* 11 */
		 "      weight: 100\n"					 /* 12 */
		 "      service: users-3\n"				 /* 13 */
		 "  - method: POST\n"					 /* 14 */
		 "    path: /api/users\n"				 /* 15 */
		 "    rpc: Create\n"					 /* 16 */
		 "    location: /api/users/{id}\n"			 /* 17 */
		 "    split: {service: users_v2, weight: 0}\n"		 /* 18 */
		 "  - {method: GET, path: /api/people, rpc: List}\n",	 /* 19 */
		 path, sizeof(path));
	ck_assert_msg(manifest_load(path, &m, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(m->nroutes, 4);
	ck_assert_str_eq(m->routes[0].split_service, "users_v2");
	ck_assert_int_eq(m->routes[0].split_weight, 10);
	ck_assert_int_eq(m->routes[0].split_line, 7);
	ck_assert_str_eq(m->routes[1].split_service, "users-3");
	ck_assert_int_eq(m->routes[1].split_weight, 100);
	ck_assert_int_eq(m->routes[1].split_line, 13);
	ck_assert_str_eq(m->routes[2].split_service, "users_v2");
	ck_assert_int_eq(m->routes[2].split_weight, 0);
	ck_assert_ptr_null(m->routes[3].split_service);

	route_table_init(&t);
	ck_assert_msg(routes_add_manifest(&t, m, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(t.n, 4);
	ck_assert_uint_eq(t.nids, 7); /* the three split routes have an id for the other group */
	ck_assert_ptr_nonnull(t.routes[0]->split);
	ck_assert_uint_eq(t.routes[0]->split->weight, 10);
	ck_assert_str_eq(t.routes[0]->service_name, "users");
	ck_assert_str_eq(t.routes[0]->split->alt.service_name, "users_v2");
	ck_assert_uint_eq(t.routes[0]->split->alt.method_index, t.routes[0]->method_index);
	ck_assert_ptr_eq(t.routes[0]->split->alt.segments[2].field, t.routes[0]->segments[2].field);
	ck_assert_uint_eq(t.routes[1]->split->weight, 100);
	ck_assert_str_eq(t.routes[1]->split->alt.service_name, "users-3");
	ck_assert_ptr_eq(t.routes[1]->split->alt.body_field, t.routes[1]->body_field);
	ck_assert_uint_eq(t.routes[1]->split->alt.nquery, t.routes[1]->nquery);
	ck_assert_uint_eq(t.routes[2]->split->weight, 0);
	ck_assert_int_eq(t.routes[2]->split->alt.has_location, 1);
	ck_assert_int_eq(t.routes[2]->split->alt.status, 200);
	ck_assert_ptr_null(t.routes[3]->split);
	route_table_fini(&t);
	manifest_free(m);
}
END_TEST

/* assert_split_fails asserts the route "GET /x/{id} rpc Get" with split: written as split fails
 * to load at line 7, saying reason. */
static void assert_split_fails(const char *split, const char *reason)
{
	char text[512];
	snprintf(text, sizeof(text),
		 "name: x\n"		  /* 1 */
		 "service: users.Users\n" /* 2 */
		 "routes:\n"		  /* 3 */
		 "  - method: GET\n"	  /* 4 */
		 "    path: /x/{id}\n"	  /* 5 */
		 "    rpc: Get\n"	  /* 6 */
		 "    split: %s\n",	  /* 7 */
		 split);
	assert_load_fails(text, 7, reason);
}

START_TEST(test_manifest_split_bad_weight)
{
	assert_split_fails("{service: b, weight: -1}",
			   "'weight' wants a whole number from 0 to 100, not '-1'");
	assert_split_fails("{service: b, weight: 101}",
			   "'weight' wants a whole number from 0 to 100, not '101'");
	assert_split_fails("{service: b, weight: x}",
			   "'weight' wants a whole number from 0 to 100, not 'x'");
	assert_split_fails("{service: b, weight: \"x\"}", "'weight' wants a whole number");
	assert_split_fails("{service: b, weight: 10%}", "'weight' wants a whole number");
	assert_split_fails("{service: b, weight: 2.5}", "'weight' wants a whole number");
	assert_split_fails("{service: b, weight: \"\"}", "'weight' wants a whole number");
	assert_split_fails("{service: b, weight: [10]}",
			   "'weight' wants a whole number from 0 to 100, not a list");
	/* the weight's own line */
	assert_load_fails("name: x\n"
			  "service: users.Users\n"
			  "routes:\n"
			  "  - method: GET\n"
			  "    path: /x/{id}\n"
			  "    rpc: Get\n"
			  "    split:\n"
			  "      service: b\n"
			  "      weight: 1000\n",
			  9, "'weight' wants a whole number from 0 to 100, not '1000'");
}
END_TEST

START_TEST(test_manifest_split_bad_shape)
{
	assert_split_fails("{service: b, weight: 10, sticky: true}",
			   "unknown split key 'sticky' (known: service, weight)");
	assert_split_fails("{service: b}", "'split' needs service and weight");
	assert_split_fails("{weight: 10}", "'split' needs service and weight");
	assert_split_fails("{}", "'split' needs service and weight");
	assert_split_fails("b", "'split' wants a mapping {service: NAME, weight: PERCENT}");
	assert_split_fails("[b, 10]", "'split' wants a mapping");
	assert_split_fails("{service: b, service: c, weight: 1}", "'service' is given twice");
	assert_split_fails("{service: b, weight: 1, weight: 2}", "'weight' is given twice");
	assert_split_fails("{service: [b], weight: 1}", "'service' wants a non-empty string");
	assert_split_fails("{service: \"\", weight: 1}", "'service' wants a non-empty string");
	assert_split_fails("{service: users.Users, weight: 1}",
			   "split: service 'users.Users' is not a manifest name");
	assert_split_fails("{service: Users, weight: 1}", "is not a manifest name");
	/* an unknown key inside a block mapping: its own line */
	assert_load_fails("name: x\n"
			  "service: users.Users\n"
			  "routes:\n"
			  "  - method: GET\n"
			  "    path: /x/{id}\n"
			  "    rpc: Get\n"
			  "    split:\n"
			  "      service: b\n"
			  "      weight: 10\n"
			  "      percent: 10\n",
			  10, "unknown split key 'percent'");
	assert_load_fails("name: x\n"
			  "service: users.Users\n"
			  "routes:\n"
			  "  - method: GET\n"
			  "    path: /x/{id}\n"
			  "    rpc: Get\n"
			  "    split: {service: b, weight: 1}\n"
			  "    split: {service: c, weight: 2}\n",
			  8, "'split' is given twice");
}
END_TEST

START_TEST(test_manifest_check_splits)
{
	manifest *ms[3];
	char paths[3][256], err[1024] = "";

	/* no split at all */
	load_three("routes:\n"
		   "  - {method: GET, path: \"/x/{id}\", rpc: Get}\n",
		   "", "", ms, paths);
	ck_assert_msg(manifest_check_splits(ms, 3, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(manifest_check_splits(ms, 0, err, sizeof(err)), 0);
	free_three(ms);

	/* a manifest that is not loaded: named */
	load_three("routes:\n"					      /* 3 */
		   "  - {method: GET, path: /x, rpc: List}\n"	      /* 4 */
		   "  - {method: GET, path: \"/x/{id}\", rpc: Get,\n" /* 5 */
		   "     split: {service: users_v2, weight: 10}}\n",  /* 6 */
		   "", "", ms, paths);
	ck_assert_int_eq(manifest_check_splits(ms, 3, err, sizeof(err)), -1);
	assert_at(err, paths[0], 6, "split: no manifest named 'users_v2' is loaded");
	free_three(ms);
	/* only among the manifests given */
	load_three(
	    "routes:\n"
	    "  - {method: GET, path: \"/x/{id}\", rpc: Get, split: {service: b, weight: 5}}\n",
	    "", "", ms, paths);
	ck_assert_int_eq(manifest_check_splits(ms, 1, err, sizeof(err)), -1);
	assert_at(err, paths[0], 4, "split: no manifest named 'b' is loaded");
	free_three(ms);

	/* a service without the method: posts' ListByThread is not users' */
	load_three("", "",
		   "routes:\n"		     /* 3 */
		   "  - method: GET\n"	     /* 4 */
		   "    path: /x/{thread}\n" /* 5 */
		   "    rpc: ListByThread\n" /* 6 */
		   "    split:\n"	     /* 7 */
		   "      service: a\n"	     /* 8 */
		   "      weight: 50\n",     /* 9 */
		   ms, paths);
	ck_assert_int_eq(manifest_check_splits(ms, 3, err, sizeof(err)), -1);
	assert_at(err, paths[2], 8, "split: a (users.Users) has no method 'ListByThread'");
	free_three(ms);

	/* the same method name, other messages: users' Get is not threads' Get */
	load_three(
	    "routes:\n"
	    "  - {method: GET, path: \"/x/{id}\", rpc: Get, split: {service: b, weight: 1}}\n",
	    "", "", ms, paths);
	ck_assert_int_eq(manifest_check_splits(ms, 3, err, sizeof(err)), -1);
	assert_at(err, paths[0], 4,
		  "split: b's Get takes threads.GetThreadRequest and returns threads.Thread, not "
		  "users.GetUserRequest and users.User like a's");
	free_three(ms);
	load_three("", "",
		   "routes:\n"
		   "  - {method: GET, path: /x, rpc: List, split: {service: b, weight: 1}}\n",
		   ms, paths);
	ck_assert_int_eq(manifest_check_splits(ms, 3, err, sizeof(err)), -1);
	assert_at(err, paths[2], 4, "split: b's List takes threads.ListThreadsRequest");
	free_three(ms);

	/* a split to the route's own service */
	load_three(
	    "routes:\n"
	    "  - {method: GET, path: \"/x/{id}\", rpc: Get, split: {service: a, weight: 1}}\n",
	    "", "", ms, paths);
	ck_assert_int_eq(manifest_check_splits(ms, 3, err, sizeof(err)), -1);
	assert_at(err, paths[0], 4, "split: 'a' is the route's own service");
	free_three(ms);
}
END_TEST

START_TEST(test_manifest_check_splits_same_service)
{
	/* two manifests of one protobuf service: the split of a migration */
	char a[256], b[256], err[1024] = "";
	manifest *ms[2] = {NULL, NULL};
	route_table t;
	write_at("a.yml",
		 "name: users\n"
		 "service: users.Users\n"
		 "routes:\n"
		 "  - method: GET\n"
		 "    path: /api/users/{id}\n"
		 "    rpc: Get\n"
		 "    split: {service: users_b, weight: 25}\n",
		 a, sizeof(a));
	write_at("b.yml", "name: users_b\nservice: users.Users\n", b, sizeof(b));
	ck_assert_int_eq(manifest_load(a, &ms[0], err, sizeof(err)), 0);
	ck_assert_int_eq(manifest_load(b, &ms[1], err, sizeof(err)), 0);
	ck_assert_msg(manifest_check_splits(ms, 2, err, sizeof(err)) == 0, "%s", err);
	route_table_init(&t);
	ck_assert_msg(routes_add_manifest(&t, ms[0], err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(routes_add_manifest(&t, ms[1], err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(t.n, 1); /* the split target needs no route of its own */
	ck_assert_str_eq(t.routes[0]->split->alt.service_name, "users_b");
	ck_assert_uint_eq(t.routes[0]->split->weight, 25);
	route_table_fini(&t);

	/* a target whose service is not built */
	manifest_free(ms[1]);
	ms[1] = NULL;
	write_at("b.yml", "name: users_b\nservice: nope.Nope\n", b, sizeof(b));
	ck_assert_int_eq(manifest_load(b, &ms[1], err, sizeof(err)), 0);
	ck_assert_int_eq(manifest_check_splits(ms, 2, err, sizeof(err)), -1);
	assert_at(err, a, 7, "split: users_b serves 'nope.Nope', which is not in proto/");
	manifest_free(ms[0]);
	manifest_free(ms[1]);
}
END_TEST

START_TEST(test_manifest_duplicate_route_other_param_names)
{
	/* {id} and {thread} match the same paths: one route, twice */
	char path_a[256], path_b[256], err[1024] = "";
	manifest *a = NULL, *b = NULL;
	route_table t;
	write_at("a.yml",
		 "name: a\n"
		 "service: users.Users\n"
		 "routes:\n"
		 "  - {method: GET, path: \"/api/x/{id}\", rpc: Get}\n",
		 path_a, sizeof(path_a));
	write_at("b.yml",
		 "name: b\n"
		 "service: posts.Posts\n"
		 "routes:\n"
		 "  - {method: DELETE, path: \"/api/x/{id}\", rpc: Get}\n"
		 "  - {method: GET, path: \"/api/x/{thread}\", rpc: ListByThread}\n",
		 path_b, sizeof(path_b));
	ck_assert_int_eq(manifest_load(path_a, &a, err, sizeof(err)), 0);
	ck_assert_int_eq(manifest_load(path_b, &b, err, sizeof(err)), 0);
	route_table_init(&t);
	ck_assert_int_eq(routes_add_manifest(&t, a, err, sizeof(err)), 0);
	ck_assert_int_eq(routes_add_manifest(&t, b, err, sizeof(err)), -1);
	assert_at(err, path_b, 5, "route GET /api/x/{thread} is declared twice");
	ck_assert_msg(strstr(err, path_a) != NULL, "'%s' does not name %s", err, path_a);
	ck_assert_uint_eq(t.n, 2); /* DELETE on the same path is another route */
	route_table_fini(&t);
	manifest_free(a);
	manifest_free(b);
}
END_TEST

/* ---- manifest_load_dir ---------------------------------------------------------------------- */

START_TEST(test_manifest_load_dir_empty)
{
	manifest **ms = NULL;
	size_t n = 0;
	char err[1024] = "", path[256];
	ck_assert_int_eq(manifest_load_dir(tmpdir, &ms, &n, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, tmpdir) != NULL, "%s", err);
	ck_assert_msg(strstr(err, "no */manifest.yml") != NULL, "%s", err);
	/* a directory without a manifest.yml, and a manifest.yml at the top, do not count */
	write_at("svc/other.yml", "name: x\nservice: users.Users\n", path, sizeof(path));
	write_at("manifest.yml", "name: x\nservice: users.Users\n", path, sizeof(path));
	ck_assert_int_eq(manifest_load_dir(tmpdir, &ms, &n, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "no */manifest.yml") != NULL, "%s", err);
}
END_TEST

START_TEST(test_manifest_load_dir_missing)
{
	manifest **ms = NULL;
	size_t n = 0;
	char err[1024] = "", dir[256];
	snprintf(dir, sizeof(dir), "%s/none", tmpdir);
	ck_assert_int_eq(manifest_load_dir(dir, &ms, &n, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, dir) != NULL, "%s", err);
}
END_TEST

START_TEST(test_manifest_load_dir_order)
{
	manifest **ms = NULL;
	size_t n = 0;
	char err[1024] = "", path[256];
	write_at("zeta/manifest.yml", "name: zeta\nservice: users.Users\n", path, sizeof(path));
	write_at("alpha/manifest.yml", "name: alpha\nservice: users.Users\n", path, sizeof(path));
	write_at("mid/manifest.yml", "name: mid\nservice: users.Users\n", path, sizeof(path));
	write_at(".hidden/manifest.yml", "name: hidden\nservice: users.Users\n", path,
		 sizeof(path));
	ck_assert_msg(manifest_load_dir(tmpdir, &ms, &n, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(ms[0]->name, "alpha");
	ck_assert_str_eq(ms[1]->name, "mid");
	ck_assert_str_eq(ms[2]->name, "zeta");
	manifest_free_all(ms, n);
}
END_TEST

START_TEST(test_manifest_load_dir_duplicate_name)
{
	manifest **ms = NULL;
	size_t n = 0;
	char err[1024] = "", a[256], b[256];
	write_at("a/manifest.yml", "name: same\nservice: users.Users\n", a, sizeof(a));
	write_at("b/manifest.yml", "name: same\nservice: threads.Threads\n", b, sizeof(b));
	ck_assert_int_eq(manifest_load_dir(tmpdir, &ms, &n, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "name 'same' is taken") != NULL, "%s", err);
	ck_assert_msg(strstr(err, a) != NULL && strstr(err, b) != NULL, "%s", err);
}
END_TEST

START_TEST(test_manifest_load_dir_bad_manifest)
{
	manifest **ms = NULL;
	size_t n = 0;
	char err[1024] = "", a[256], b[256];
	write_at("a/manifest.yml", "name: a\nservice: users.Users\n", a, sizeof(a));
	write_at("b/manifest.yml", "name: b\nservice: users.Users\nextra: 1\n", b, sizeof(b));
	ck_assert_int_eq(manifest_load_dir(tmpdir, &ms, &n, err, sizeof(err)), -1);
	assert_at(err, b, 3, "unknown key 'extra'");
}
END_TEST

static Suite *manifest_suite(void)
{
	Suite *s = suite_create("manifest");
	TCase *real = tcase_create("real");
	TCase *load = tcase_create("load");
	TCase *routes = tcase_create("add_routes");
	TCase *run = tcase_create("run_keys");
	TCase *dir = tcase_create("load_dir");
	TCase *split = tcase_create("split");

	tcase_add_test(real, test_manifest_real_manifests_load);
	tcase_add_test(real, test_manifest_real_routes_match);
	suite_add_tcase(s, real);

	tcase_add_checked_fixture(load, tmpdir_setup, tmpdir_teardown);
	tcase_add_test(load, test_manifest_load_fields_and_lines);
	tcase_add_test(load, test_manifest_no_routes);
	tcase_add_test(load, test_manifest_unknown_top_level_key);
	tcase_add_test(load, test_manifest_unknown_route_key);
	tcase_add_test(load, test_manifest_routes_not_a_list);
	tcase_add_test(load, test_manifest_route_not_a_mapping);
	tcase_add_test(load, test_manifest_route_missing_rpc);
	tcase_add_test(load, test_manifest_value_kinds);
	tcase_add_test(load, test_manifest_missing_name_or_service);
	tcase_add_test(load, test_manifest_malformed_yaml);
	tcase_add_test(load, test_manifest_bad_name_characters);
	tcase_add_test(load, test_manifest_bad_name_line);
	tcase_add_test(load, test_manifest_missing_file);
	suite_add_tcase(s, load);

	tcase_add_checked_fixture(routes, tmpdir_setup, tmpdir_teardown);
	tcase_add_test(routes, test_manifest_bad_method);
	tcase_add_test(routes, test_manifest_good_methods);
	tcase_add_test(routes, test_manifest_unknown_rpc);
	tcase_add_test(routes, test_manifest_unknown_service);
	tcase_add_test(routes, test_manifest_param_not_a_field);
	tcase_add_test(routes, test_manifest_bad_path_template);
	tcase_add_test(routes, test_manifest_body_not_repeated);
	tcase_add_test(routes, test_manifest_duplicate_route);
	tcase_add_test(routes, test_manifest_duplicate_route_across_manifests);
	tcase_add_test(routes, test_manifest_duplicate_route_other_param_names);
	suite_add_tcase(s, routes);

	tcase_add_checked_fixture(split, tmpdir_setup, tmpdir_teardown);
	tcase_add_test(split, test_manifest_split_parsed);
	tcase_add_test(split, test_manifest_route_timeout);
	tcase_add_test(split, test_manifest_split_bad_weight);
	tcase_add_test(split, test_manifest_split_bad_shape);
	tcase_add_test(split, test_manifest_check_splits);
	tcase_add_test(split, test_manifest_check_splits_same_service);
	suite_add_tcase(s, split);

	tcase_add_checked_fixture(run, tmpdir_setup, tmpdir_teardown);
	tcase_add_test(run, test_manifest_run_keys_default);
	tcase_add_test(run, test_manifest_run_keys_parsed);
	tcase_add_test(run, test_manifest_bad_count);
	tcase_add_test(run, test_manifest_bad_max_inflight);
	tcase_add_test(run, test_manifest_bad_healthcheck);
	tcase_add_test(run, test_manifest_bad_duration);
	tcase_add_test(run, test_manifest_policy_mode);
	tcase_add_test(run, test_manifest_bad_cpu_and_memory);
	tcase_add_test(run, test_manifest_bad_calls_shape);
	tcase_add_test(run, test_manifest_check_calls);
	tcase_add_test(run, test_manifest_check_calls_service_not_built);
	tcase_add_test(run, test_manifest_fields_parsed);
	tcase_add_test(run, test_manifest_fields_bad_shape);
	tcase_add_test(run, test_manifest_check_fields);
	suite_add_tcase(s, run);

	tcase_add_checked_fixture(dir, tmpdir_setup, tmpdir_teardown);
	tcase_add_test(dir, test_manifest_load_dir_empty);
	tcase_add_test(dir, test_manifest_load_dir_missing);
	tcase_add_test(dir, test_manifest_load_dir_order);
	tcase_add_test(dir, test_manifest_load_dir_duplicate_name);
	tcase_add_test(dir, test_manifest_load_dir_bad_manifest);
	suite_add_tcase(s, dir);
	return s;
}

int main(void)
{
	return harness_run_suite(manifest_suite(), 0);
}
