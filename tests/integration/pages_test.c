/* pages_test.c: a long list (10 000 posts) is answered a bounded page at a time, through the edge
 * and to mesh callers that skip it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>

#include "fixture.h"
#include "harness.h"
#include "http.h"

#define NPOSTS	     10000 /* the long list */
#define NTHREADS     3	   /* the seed's threads: post i is in thread 1 + (i - 1) % NTHREADS */
#define PAGE_DEFAULT 100   /* README, Pages */
#define PAGE_MAX     1000

static fixture_mesh mesh;
static int mesh_up;
static char seed_dir[128];
static const char *skip_reason; /* why this environment cannot run the suite, or NULL */

/* write_seed writes NPOSTS posts to path, a posts seed: ids 1 to NPOSTS, each in a seed thread
 * and by a seed user. Returns 0 or -1. */
static int write_seed(const char *path)
{
	FILE *f = fopen(path, "w");
	if (f == NULL)
		return -1;
	fputs("[\n", f);
	for (int i = 1; i <= NPOSTS; i++)
		fprintf(f,
			"{\"id\":%d,\"thread\":%d,\"text\":\"long list post %d\",\"user\":%d}%s\n",
			i, 1 + (i - 1) % NTHREADS, i, 1 + (i - 1) % 4, i < NPOSTS ? "," : "");
	fputs("]\n", f);
	return fclose(f) == 0 ? 0 : -1;
}

static void mesh_setup(void)
{
	char path[256];
	fixture_seed seed = {.name = "posts", .path = path};
	fixture_opts opts = {.seeds = &seed, .nseeds = 1};
	if (fixture_external() != NULL) {
		skip_reason = "pages_test: seeding 10 000 posts needs a mesh of this test's own, "
			      "not CLEAVE_TEST_EDGE_URL's";
		return;
	}
	if (fixture_monolith()) {
		skip_reason = "pages_test: the monolith loads its services' own seeds only";
		return;
	}
	if (harness_tmpdir(seed_dir, sizeof(seed_dir)) != 0) {
		fprintf(stderr, "pages_test: no temporary directory\n");
		return;
	}
	snprintf(path, sizeof(path), "%s/posts.json", seed_dir);
	if (write_seed(path) != 0) {
		fprintf(stderr, "pages_test: cannot write %s\n", path);
		return;
	}
	mesh_up = fixture_mesh_start_with(&mesh, &opts) == 0;
}

static void mesh_teardown(void)
{
	char report[8192];
	if (mesh_up && fixture_mesh_stop(&mesh, report, sizeof(report)) != 0)
		harness_note_unclean("pages_test's mesh", report);
	mesh_up = 0;
	if (seed_dir[0] != '\0')
		harness_rmtree(seed_dir);
}

/* skipped says (and reports) whether the running test cannot run here. */
static int skipped(void)
{
	if (skip_reason == NULL)
		return 0;
	harness_skip("%s", skip_reason);
	return 1;
}

static void get(const char *path, http_response *r)
{
	char url[512];
	ck_assert_msg(mesh_up, "the mesh did not start");
	fixture_url(&mesh, path, url, sizeof(url));
	ck_assert_msg(http_get(url, r) == 0, "GET %s: %s", path, r->error);
}

/* get_page GETs path, a list, asserts 200 and appends its items' ids to ids (room for max).
 * Returns how many it appended; next gets the Link rel="next" target ("" on the last page). */
static size_t get_page(const char *path, long long *ids, size_t *n, size_t max, char *next,
		       size_t nextlen)
{
	http_response r;
	json_t *list, *item;
	char link[600];
	size_t i, before = *n;
	get(path, &r);
	ck_assert_msg(r.status == 200, "%s: %ld %.300s", path, r.status, r.body);
	list = json_loads(r.body, 0, NULL);
	ck_assert_msg(json_is_array(list), "%s is not a list: %.300s", path, r.body);
	json_array_foreach(list, i, item)
	{
		ck_assert_msg(*n < max, "%s: more than %zu items in all", path, max);
		ids[(*n)++] = json_integer_value(json_object_get(item, "id"));
	}
	json_decref(list);
	next[0] = '\0';
	if (http_header(&r, "link", link, sizeof(link)) != NULL) {
		char format[32];
		snprintf(format, sizeof(format), "<%%%zu[^>]>; rel=\"next\"", nextlen - 1);
		ck_assert_msg(sscanf(link, format, next) == 1, "%s: Link %s", path, link);
	}
	http_response_free(&r);
	return *n - before;
}

/* walk follows Link rel="next" from path to the last page, every id into ids (room for max),
 * and asserts that no page holds more than page_max items. Returns the pages. */
static int walk(const char *path, long long *ids, size_t *n, size_t max, size_t page_max)
{
	char here[512], next[512];
	int pages = 0;
	snprintf(here, sizeof(here), "%s", path);
	for (;;) {
		size_t got = get_page(here, ids, n, max, next, sizeof(next));
		ck_assert_msg(got <= page_max, "%s: %zu items, more than %zu", here, got, page_max);
		pages++;
		ck_assert_msg(pages <= NPOSTS, "%s: no end to the pages", path);
		if (next[0] == '\0')
			return pages;
		ck_assert_msg(got > 0, "%s: an empty page with a Link", here);
		snprintf(here, sizeof(here), "%s", next);
	}
}

START_TEST(test_pages_long_list_answers_one_page_and_a_link)
{
	static long long ids[PAGE_MAX];
	char next[512];
	size_t n = 0;
	if (skipped())
		return;
	/* without parameters: the first PAGE_DEFAULT, and where the next page is */
	ck_assert_uint_eq(get_page("/api/posts", ids, &n, PAGE_MAX, next, sizeof(next)),
			  PAGE_DEFAULT);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(ids[i], (long long)i + 1);
	ck_assert_str_eq(next, "/api/posts?after=100");
	/* a filtered list too */
	n = 0;
	ck_assert_uint_eq(get_page("/api/posts/by-user/2", ids, &n, PAGE_MAX, next, sizeof(next)),
			  PAGE_DEFAULT);
	ck_assert_int_eq(ids[0], 2);
	ck_assert_int_eq(ids[PAGE_DEFAULT - 1], 2 + 4 * (PAGE_DEFAULT - 1));
	ck_assert_str_eq(next, "/api/posts/by-user/2?after=398");
}
END_TEST

START_TEST(test_pages_walk_the_long_list_once_in_order)
{
	static long long ids[NPOSTS + 1];
	size_t n = 0;
	long long thread2 = 0;
	if (skipped())
		return;
	/* default pages, from no parameters: every post once, in id order */
	ck_assert_int_eq(walk("/api/posts", ids, &n, NPOSTS + 1, PAGE_DEFAULT),
			 NPOSTS / PAGE_DEFAULT);
	ck_assert_uint_eq(n, NPOSTS);
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(ids[i] == (long long)i + 1, "item %zu of the walk is post %lld", i,
			      ids[i]);
	/* the largest pages */
	n = 0;
	ck_assert_int_eq(walk("/api/posts?limit=1000", ids, &n, NPOSTS + 1, PAGE_MAX),
			 NPOSTS / PAGE_MAX);
	ck_assert_uint_eq(n, NPOSTS);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(ids[i], (long long)i + 1);
	/* a filtered list: every post of thread 2, once, in order */
	n = 0;
	walk("/api/posts/in-thread/2", ids, &n, NPOSTS + 1, PAGE_DEFAULT);
	for (long long id = 1; id <= NPOSTS; id++)
		if (1 + (id - 1) % NTHREADS == 2)
			ck_assert_int_eq(ids[thread2++], id);
	ck_assert_uint_eq(n, (size_t)thread2);
}
END_TEST

START_TEST(test_pages_limit_is_1_to_1000_and_0_is_the_default)
{
	static long long ids[PAGE_MAX + 1];
	static const char *const lists[] = {"/api/posts", "/api/posts/in-thread/1",
					    "/api/posts/by-user/1", "/api/users", "/api/threads"};
	static const char *const bad[] = {"/api/posts?limit=-1", "/api/posts?limit=abc",
					  "/api/posts?limit=2147483648",
					  "/api/posts?limit=1&limit=2"};
	char next[512], path[128];
	size_t n = 0;
	http_response r, plain;
	if (skipped())
		return;
	ck_assert_uint_eq(
	    get_page("/api/posts?limit=1000", ids, &n, PAGE_MAX + 1, next, sizeof(next)), PAGE_MAX);
	ck_assert_int_eq(ids[PAGE_MAX - 1], PAGE_MAX);
	ck_assert_str_eq(next, "/api/posts?limit=1000&after=1000");
	n = 0;
	ck_assert_uint_eq(get_page("/api/posts?limit=1", ids, &n, PAGE_MAX + 1, next, sizeof(next)),
			  1);
	ck_assert_str_eq(next, "/api/posts?limit=1&after=1");
	/* limit=0 is the default page, as no limit is */
	get("/api/posts", &plain);
	get("/api/posts?limit=0", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, plain.body);
	ck_assert_ptr_nonnull(http_header(&r, "link", next, sizeof(next)));
	ck_assert_str_eq(next, "</api/posts?limit=0&after=100>; rel=\"next\"");
	http_response_free(&r);
	http_response_free(&plain);
	/* an empty limit is 0 too */
	n = 0;
	ck_assert_uint_eq(get_page("/api/posts?limit=", ids, &n, PAGE_MAX + 1, next, sizeof(next)),
			  PAGE_DEFAULT);
	/* not a page size: 400 from the edge */
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		get(bad[i], &r);
		ck_assert_msg(r.status == 400 &&
				  strstr(r.body, "\"code\":\"INVALID_ARGUMENT\"") != NULL,
			      "%s: %ld %s", bad[i], r.status, r.body);
		http_response_free(&r);
	}
	/* above the maximum: 400, on every list route */
	for (size_t i = 0; i < sizeof(lists) / sizeof(*lists); i++) {
		snprintf(path, sizeof(path), "%s?limit=1001", lists[i]);
		get(path, &r);
		ck_assert_msg(r.status == 400, "%s: %ld %s", path, r.status, r.body);
		ck_assert_msg(strstr(r.body, "\"code\":\"INVALID_ARGUMENT\"") != NULL &&
				  strstr(r.body, "limit must be 1 to 1000") != NULL,
			      "%s: %s", path, r.body);
		http_response_free(&r);
	}
}
END_TEST

/* meshctl_call calls posts.METHOD with request at the posts service's own socket, as meshctl
 * (not the edge), and returns the exit status; *out gets what it printed (malloc'd, the
 * caller's). */
static int meshctl_call(const char *method, const char *request, char **out)
{
	char exe[512], target[64], address[256], log[256];
	char *argv[] = {exe, "call", target, (char *)request, "--address", address, NULL};
	pid_t pid;
	int status;
	snprintf(exe, sizeof(exe), "%s/meshctl", CLEAVE_BUILD_DIR);
	snprintf(target, sizeof(target), "posts.%s", method);
	snprintf(address, sizeof(address), "ipc://%s/posts.sock", mesh.dir);
	snprintf(log, sizeof(log), "%s/call.out", seed_dir);
	unlink(log);
	pid = harness_spawn(argv, log);
	ck_assert_int_gt(pid, 0);
	status = harness_wait(pid, 10000);
	ck_assert_msg(status != -1, "meshctl call %s %s did not end", method, request);
	*out = harness_read_file(log);
	ck_assert_ptr_nonnull(*out);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* expect_mesh_page calls posts.METHOD with request past the edge and asserts a page of want
 * posts, the first being first, and the next page's cursor next_after. */
static void expect_mesh_page(const char *method, const char *request, size_t want, long long first,
			     long long next_after)
{
	char *out;
	json_t *reply, *posts;
	json_error_t error;
	ck_assert_msg(meshctl_call(method, request, &out) == 0, "posts.%s %s: %s", method, request,
		      out);
	reply = json_loads(out, 0, &error);
	ck_assert_msg(reply != NULL, "posts.%s %s: not JSON (%s): %.300s", method, request,
		      error.text, out);
	posts = json_object_get(reply, "posts");
	ck_assert_msg(json_array_size(posts) == want, "posts.%s %s: %zu posts, want %zu", method,
		      request, json_array_size(posts), want);
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(posts, 0), "id")),
			 first);
	ck_assert_int_eq(json_integer_value(json_object_get(reply, "nextAfter")), next_after);
	json_decref(reply);
	free(out);
}

START_TEST(test_pages_mesh_callers_get_bounded_pages_too)
{
	char *out;
	if (skipped())
		return;
	ck_assert_msg(mesh_up, "the mesh did not start");
	/* the service bounds its pages itself: the same default and maximum without the edge */
	expect_mesh_page("List", "{}", PAGE_DEFAULT, 1, PAGE_DEFAULT);
	expect_mesh_page("List", "{\"limit\": 0, \"after\": 9950}", 50, 9951, 0);
	expect_mesh_page("List", "{\"limit\": 1000}", PAGE_MAX, 1, PAGE_MAX);
	expect_mesh_page("ListByThread", "{\"thread\": 3}", PAGE_DEFAULT, 3, 300);
	ck_assert_int_eq(meshctl_call("List", "{\"limit\": 1001}", &out), 1);
	ck_assert_msg(strstr(out, "INVALID_ARGUMENT") != NULL &&
			  strstr(out, "limit must be 1 to 1000") != NULL,
		      "%s", out);
	free(out);
	ck_assert_int_eq(meshctl_call("ListByUser", "{\"user\": 1, \"limit\": 2147483647}", &out),
			 1);
	ck_assert_msg(strstr(out, "INVALID_ARGUMENT") != NULL, "%s", out);
	free(out);
}
END_TEST

static Suite *pages_suite(void)
{
	Suite *s = suite_create("pages");
	TCase *tc = harness_tcase("pages", 120);
	tcase_add_unchecked_fixture(tc, mesh_setup, mesh_teardown);
	tcase_add_test(tc, test_pages_long_list_answers_one_page_and_a_link);
	tcase_add_test(tc, test_pages_walk_the_long_list_once_in_order);
	tcase_add_test(tc, test_pages_limit_is_1_to_1000_and_0_is_the_default);
	tcase_add_test(tc, test_pages_mesh_callers_get_bounded_pages_too);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	curl_global_init_once();
	return harness_run_suite(pages_suite(), 1);
}
