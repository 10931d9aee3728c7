/* manifest_test.c: unit tests of service manifests: loading, checking against the registry, errors
 * with file:line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <check.h>

#include "harness.h"
#include "manifest.h"
#include "route.h"

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
	ck_assert_msg(manifest_add_routes(m, &t, err, sizeof(err)) == -1, "routes added:\n%s",
		      text);
	assert_at(err, path, line, reason);
	route_table_fini(&t);
	manifest_free(m);
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

	route_table_init(&t);
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(manifest_add_routes(ms[i], &t, err, sizeof(err)) == 0, "%s", err);
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
		ck_assert_msg(manifest_add_routes(ms[i], &t, err, sizeof(err)) == 0, "%s", err);
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
	ck_assert_msg(manifest_add_routes(m, &t, err, sizeof(err)) == 0, "%s", err);
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
	ck_assert_int_eq(manifest_add_routes(m, &t, err, sizeof(err)), 0);
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

/* ---- errors from manifest_add_routes -------------------------------------------------------- */

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
	ck_assert_msg(manifest_add_routes(m, &t, err, sizeof(err)) == 0, "%s", err);
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
	ck_assert_int_eq(manifest_add_routes(m, &t, err, sizeof(err)), -1);
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
	ck_assert_int_eq(manifest_add_routes(a, &t, err, sizeof(err)), 0);
	ck_assert_int_eq(manifest_add_routes(b, &t, err, sizeof(err)), -1);
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
	ck_assert_int_eq(manifest_add_routes(a, &t, err, sizeof(err)), 0);
	ck_assert_int_eq(manifest_add_routes(b, &t, err, sizeof(err)), -1);
	assert_at(err, path_b, 4, "declared twice");
	ck_assert_msg(strstr(err, path_a) != NULL, "'%s' does not name %s", err, path_a);
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
	TCase *dir = tcase_create("load_dir");

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
	suite_add_tcase(s, routes);

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
