/* split_test.c: a route's traffic split by weight between two target groups (a manifest's split:),
 * asserted against the real mesh: svc/users' manifests copied with GET /api/users/{id} split to
 * users_b, a second svc-users with data of its own. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <check.h>

#include "fixture.h"
#include "harness.h"
#include "http.h"

#define WARM_UP_PATH "/api/users/1?from=warm-up"
#define SERIES(service)                                                                            \
	"cleave_http_requests_total{route=\"GET /api/users/{id}\",service=\"" service              \
	"\",method=\"Get\",status=\"200\"}"

/* users_b's user 1: its name tells which group answered */
static const char users_b_seed[] =
    "[{\"id\": 1, \"username\": \"marceline_b\", \"name\": \"Marceline of users_b\", "
    "\"bio\": \"served by the users_b target group\"}]\n";
static const char from_users[] = "\"username\":\"marceline\"";
static const char from_users_b[] = "\"username\":\"marceline_b\"";

static fixture_mesh mesh;
static int mesh_up;
static char manifests[128]; /* the edge's --manifests: modified copies of svc/'s */
static int weight;
static int runs; /* run_split's so far: each run's requests have a query of their own */

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	ck_assert_msg(f != NULL, "cannot write %s", path);
	ck_assert_int_ge(fputs(text, f), 0);
	ck_assert_int_eq(fclose(f), 0);
}

/* write_manifest writes text as dir/name/manifest.yml. */
static void write_manifest(const char *dir, const char *name, const char *text)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/%s/manifest.yml", dir, name);
	write_file(path, text);
}

/* read_manifest returns svc/name/manifest.yml, malloc'd. */
static char *read_manifest(const char *name)
{
	char path[256];
	char *text;
	snprintf(path, sizeof(path), "%s/svc/%s/manifest.yml", CLEAVE_SOURCE_DIR, name);
	text = harness_read_file(path);
	ck_assert_msg(text != NULL, "cannot read %s", path);
	return text;
}

/* write_manifests fills dir with copies of svc/'s manifests where users' GET /api/users/{id} is
 * split to users_b with weight split_weight, and, if with_b, users_b's manifest: users' without
 * its routes, named users_b. */
static void write_manifests(const char *dir, int split_weight, int with_b)
{
	static const char get_route[] = "    path: /api/users/{id}\n    rpc: Get\n";
	char *users = read_manifest("users"), *copy, *at, split[128];
	size_t len = strlen(users);
	copy = malloc(len + sizeof(split));
	ck_assert_ptr_nonnull(copy);
	at = strstr(users, get_route);
	ck_assert_msg(at != NULL, "svc/users/manifest.yml has no GET /api/users/{id} -> Get");
	at += strlen(get_route);
	snprintf(split, sizeof(split), "    split: {service: users_b, weight: %d}\n", split_weight);
	snprintf(copy, len + sizeof(split), "%.*s%s%s", (int)(at - users), users, split, at);
	write_manifest(dir, "users", copy);
	if (with_b) {
		/* users' run keys (its healthcheck) under another name, with no route */
		const char *name = strstr(users, "\nname: users\n"), *rest, *routes;
		ck_assert_ptr_nonnull(name);
		rest = name + strlen("\nname: users"); /* from the newline after the name */
		routes = strstr(rest, "\nroutes:\n");
		ck_assert_ptr_nonnull(routes);
		snprintf(copy, len + sizeof(split),
			 "# users_b: a second target group of users.Users, reached by the split "
			 "of users' GET /api/users/{id}\n"
			 "name: users_b%.*s\nroutes: []\n",
			 (int)(routes - rest), rest);
		write_manifest(dir, "users_b", copy);
	}
	free(copy);
	free(users);
	for (int i = 0; i < 2; i++) {
		const char *name = i == 0 ? "threads" : "posts";
		char *text = read_manifest(name);
		write_manifest(dir, name, text);
		free(text);
	}
}

static void mesh_setup_weight(int w)
{
	static const char *const edge_args[] = {"--manifests", manifests, "--admin-port", "0",
						NULL};
	char seed[256];
	fixture_extra users_b = {.name = "users_b", .binary = "users", .seed = seed};
	fixture_opts opts = {.edge_args = edge_args, .extra = &users_b, .nextra = 1};
	weight = w;
	runs = 0;
	mesh_up = 0;
	if (harness_tmpdir(manifests, sizeof(manifests)) != 0)
		return;
	write_manifests(manifests, w, 1);
	snprintf(seed, sizeof(seed), "%s/users_b.seed.json", manifests); /* beside the manifests */
	write_file(seed, users_b_seed);
	mesh_up = fixture_mesh_start_with(&mesh, &opts) == 0 && mesh.admin_port > 0;
}

static void mesh_setup_25(void)
{
	mesh_setup_weight(25);
}

static void mesh_setup_0(void)
{
	mesh_setup_weight(0);
}

static void mesh_setup_100(void)
{
	mesh_setup_weight(100);
}

static void mesh_teardown(void)
{
	char report[8192];
	if (mesh_up && fixture_mesh_stop(&mesh, report, sizeof(report)) != 0)
		fprintf(stderr, "split_test: unclean stop:\n%s", report);
	mesh_up = 0;
	if (manifests[0] != '\0')
		harness_rmtree(manifests);
	manifests[0] = '\0';
}

/* get sends GET path to the main port (admin 0) or the admin port (admin 1). */
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

/* group_of GETs path (of the split route) and returns the group that answered: 'a' (users) or 'b'
 * (users_b), or '?' for anything but a 200 from one of them. */
static char group_of(const char *path)
{
	http_response r;
	char group;
	get(0, path, &r);
	group = r.status != 200		       ? '?'
		: strstr(r.body, from_users_b) ? 'b'
		: strstr(r.body, from_users)   ? 'a'
					       : '?';
	http_response_free(&r);
	return group;
}

/* warm_up waits until every group the weight sends requests to has answered. */
static void warm_up(void)
{
	long long until = harness_now_ms() + 10000;
	int seen_a = weight == 100, seen_b = weight == 0;
	while (!(seen_a && seen_b) && harness_now_ms() < until) {
		char group = group_of(WARM_UP_PATH);
		seen_a |= group == 'a';
		seen_b |= group == 'b';
		if (group == '?')
			harness_sleep_ms(20);
	}
	ck_assert_msg(seen_a && seen_b, "users %s, users_b %s", seen_a ? "answered" : "did not",
		      seen_b ? "answered" : "did not");
}

/* scrape returns the body of GET /metrics, malloc'd. */
static char *scrape(void)
{
	http_response r;
	char *body;
	get(1, "/metrics", &r);
	ck_assert_msg(r.status == 200, "GET /metrics: %ld", r.status);
	body = r.body;
	r.body = NULL;
	http_response_free(&r);
	return body;
}

/* value returns the value of the sample called series, or 0 if it is absent. */
static double value(const char *text, const char *series)
{
	size_t len = strlen(series);
	for (const char *at = strstr(text, series); at != NULL; at = strstr(at + 1, series))
		if ((at == text || at[-1] == '\n') && at[len] == ' ')
			return strtod(at + len + 1, NULL);
	return 0;
}

/* count returns how many whole lines of text hold needle: a line the edge is still writing (its
 * buffer flushed mid-line) has no newline yet, and is not counted. */
static int count(const char *text, const char *needle)
{
	int n = 0;
	for (const char *at = strstr(text, needle); at != NULL; at = strstr(at + 1, needle))
		n += strchr(at, '\n') != NULL;
	return n;
}

/* access_log waits until the access log holds want lines holding needle (it is flushed every
 * 100 ms) and returns it, malloc'd. */
static char *access_log(const char *needle, int want)
{
	long long until = harness_now_ms() + 5000;
	char path[256];
	snprintf(path, sizeof(path), "%s/access.log", mesh.dir);
	for (;;) {
		char *text = harness_read_file(path);
		if (text != NULL && (count(text, needle) >= want || harness_now_ms() > until))
			return text;
		free(text);
		ck_assert_msg(harness_now_ms() <= until, "no access log at %s", path);
		harness_sleep_ms(20);
	}
}

/* run_split sends 100 requests to the split route after a warm-up and asserts that exactly
 * weight of them were answered by users_b, in the answers, the access log and /metrics. */
static void run_split(void)
{
	char groups[101] = "", path[64], line[128], *before, *after, *log;
	int from_b = 0, from_a = 0, first_b = -1;
	snprintf(path, sizeof(path), "/api/users/1?from=split-run-%d", ++runs);
	warm_up();
	before = scrape();
	for (int i = 0; i < 100; i++) {
		groups[i] = group_of(path);
		ck_assert_msg(groups[i] != '?', "request %d was not answered by either group", i);
		from_b += groups[i] == 'b';
		from_a += groups[i] == 'a';
		if (groups[i] == 'b' && first_b < 0)
			first_b = i;
	}
	ck_assert_msg(from_b == weight && from_a == 100 - weight,
		      "weight %d: users_b answered %d, users %d: %s", weight, from_b, from_a,
		      groups);
	/* spread evenly: with 25, every fourth request */
	if (weight == 25)
		for (int i = 0; i < 100; i++)
			ck_assert_msg((groups[i] == 'b') == ((i - first_b) % 4 == 0),
				      "not every fourth: %s", groups);

	/* the access log names the group that served each request */
	snprintf(line, sizeof(line), "GET %s 200 ", path);
	log = access_log(line, 100);
	ck_assert_int_eq(count(log, line), 100);
	snprintf(line, sizeof(line), "GET %s 200 users_b ", path);
	ck_assert_int_eq(count(log, line), weight);
	snprintf(line, sizeof(line), "GET %s 200 users ", path);
	ck_assert_int_eq(count(log, line), 100 - weight);
	free(log);

	/* so do the labels of /metrics */
	after = scrape();
	ck_assert_double_eq(value(after, SERIES("users_b")) - value(before, SERIES("users_b")),
			    weight);
	ck_assert_double_eq(value(after, SERIES("users")) - value(before, SERIES("users")),
			    100 - weight);
	if (weight == 0)
		ck_assert_ptr_null(strstr(after, "service=\"users_b\",method=\"Get\",status="));
	free(before);
	free(after);
}

START_TEST(test_split_edge_reports_the_groups)
{
	char log[256], line[512];
	ck_assert_msg(mesh_up, "the mesh did not start");
	fixture_log_path(&mesh, "edge", log, sizeof(log));
	ck_assert_int_eq(
	    harness_wait_for_line(log, "edge: users_b (users.Users) at ", line, sizeof(line), 3000),
	    0);
	ck_assert_msg(strstr(line, ", 0 routes, a share of 1 split route") != NULL, "%s", line);
	ck_assert_int_eq(
	    harness_wait_for_line(log, "edge: users (users.Users) at ", line, sizeof(line), 3000),
	    0);
	ck_assert_msg(strstr(line, ", 3 routes") != NULL && strstr(line, "split") == NULL, "%s",
		      line);
}
END_TEST

START_TEST(test_split_sends_weight_of_100)
{
	run_split();
}
END_TEST

START_TEST(test_split_twice_more)
{
	/* any 100 requests in a row: the round does not restart */
	run_split();
	run_split();
}
END_TEST

START_TEST(test_split_other_routes_stay)
{
	/* GET /api/users is not split: users (4 users), never users_b (1) */
	for (int i = 0; i < 8; i++) {
		http_response r;
		get(0, "/api/users", &r);
		ck_assert_int_eq(r.status, 200);
		ck_assert_msg(strstr(r.body, "\"username\":\"finn\"") != NULL, "%s", r.body);
		http_response_free(&r);
	}
}
END_TEST

START_TEST(test_split_missing_answers_404_from_its_group)
{
	/* users_b has no user 3: a 404 from the group that served it, logged as that group */
	char path[256], line[512];
	int from_b = 0;
	snprintf(path, sizeof(path), "%s/access.log", mesh.dir);
	for (int i = 0; i < 4; i++) {
		http_response r;
		get(0, "/api/users/3?from=split-404", &r);
		ck_assert_msg(r.status == 200 || (r.status == 404 && weight > 0), "%ld: %s",
			      r.status, r.body);
		from_b += r.status == 404;
		http_response_free(&r);
	}
	ck_assert_int_eq(from_b, weight == 25 ? 1 : weight == 100 ? 4 : 0);
	if (from_b > 0)
		ck_assert_int_eq(
		    harness_wait_for_line(path, "GET /api/users/3?from=split-404 404 users_b ",
					  line, sizeof(line), 3000),
		    0);
}
END_TEST

START_TEST(test_split_everything_stops_cleanly)
{
	char report[8192];
	ck_assert(mesh_up);
	mesh_up = 0;
	ck_assert_msg(fixture_mesh_stop(&mesh, report, sizeof(report)) == 0, "%s", report);
}
END_TEST

START_TEST(test_split_to_a_missing_manifest_stops_the_edge)
{
	char dir[128], exe[512], log[256], line[512], want[256];
	char *argv[] = {exe, "--port", "0", "--manifests", dir, "--access-log", "off", NULL};
	int status;
	pid_t pid;
	char *text;
	ck_assert_int_eq(harness_tmpdir(dir, sizeof(dir)), 0);
	write_manifests(dir, 10, 0); /* no users_b */
	snprintf(exe, sizeof(exe), "%s/edge", CLEAVE_BUILD_DIR);
	snprintf(log, sizeof(log), "%s/edge.log", dir);
	pid = harness_spawn(argv, log);
	ck_assert_int_gt(pid, 0);
	status = harness_wait(pid, 10000);
	if (status == -1)
		harness_stop(pid, SIGKILL, 1000);
	text = harness_read_file(log);
	ck_assert_msg(status != -1 && !harness_exited_cleanly(status), "the edge started:\n%s",
		      text != NULL ? text : "");
	free(text);
	snprintf(want, sizeof(want), "edge: %s/users/manifest.yml:", dir);
	ck_assert_int_eq(harness_wait_for_line(log, want, line, sizeof(line), 1000), 0);
	ck_assert_msg(strstr(line, ": split: no manifest named 'users_b' is loaded") != NULL, "%s",
		      line);
	harness_rmtree(dir);
}
END_TEST

/* weight_case makes the test case of one weight, on its own mesh. */
static TCase *weight_case(const char *name, void (*setup)(void))
{
	TCase *tc = harness_tcase(name, 120);
	tcase_add_unchecked_fixture(tc, setup, mesh_teardown);
	tcase_add_test(tc, test_split_edge_reports_the_groups);
	tcase_add_test(tc, test_split_sends_weight_of_100);
	tcase_add_test(tc, test_split_twice_more);
	tcase_add_test(tc, test_split_other_routes_stay);
	tcase_add_test(tc, test_split_missing_answers_404_from_its_group);
	tcase_add_test(tc, test_split_everything_stops_cleanly); /* last: it stops the mesh */
	return tc;
}

static Suite *split_suite(void)
{
	Suite *s = suite_create("split");
	TCase *refused = harness_tcase("refused", 30);
	suite_add_tcase(s, weight_case("weight_25", mesh_setup_25));
	suite_add_tcase(s, weight_case("weight_0", mesh_setup_0));
	suite_add_tcase(s, weight_case("weight_100", mesh_setup_100));
	tcase_add_test(refused, test_split_to_a_missing_manifest_stops_the_edge);
	suite_add_tcase(s, refused);
	return s;
}

int main(void)
{
	return harness_run_suite(split_suite(), 1);
}
