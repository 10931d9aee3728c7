/* isolation_test.c: one service crashing, hanging or losing its client never takes down the rest.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <check.h>

#include "fixture.h"
#include "harness.h"
#include "http.h"

static fixture_mesh mesh;
static int mesh_up;
/* The edge's call deadline in this suite, EDGE_TIMEOUT_MS: what fails fast is told from what
 * waits for the deadline by FAST_MS, half of it (a fast answer takes milliseconds, tens on a
 * loaded machine). It cannot be longer: the edge's health checks of threads (every 2 s, 1 s to
 * answer) take a frozen instance for dead, and end its calls UNAVAILABLE, 4 s at the earliest
 * after it froze, and the hung call must meet its deadline first. The admin port serves
 * /metrics, which say when the edge's calls have ended. */
#define EDGE_TIMEOUT_MS 2000
enum { FAST_MS = EDGE_TIMEOUT_MS / 2, CLIENT_TIMEOUT_MS = EDGE_TIMEOUT_MS + 10000 };
static const char *const edge_args[] = {"--timeout-ms", "2000", "--admin-port", "0", NULL};

static void mesh_setup(void)
{
	mesh_up = fixture_mesh_start(&mesh, edge_args) == 0;
}

static void mesh_teardown(void)
{
	char report[8192];
	if (mesh_up && fixture_mesh_stop(&mesh, report, sizeof(report)) != 0)
		fprintf(stderr, "isolation_test: unclean stop:\n%s", report);
	mesh_up = 0;
}

/* get_status GETs path, waiting past the edge's deadline for the answer; its status (0: none). */
static long get_status(const char *path, http_response *keep)
{
	http_options o = {.timeout_ms = CLIENT_TIMEOUT_MS};
	http_response r;
	char url[256];
	long status;
	ck_assert_msg(mesh_up, "the mesh did not start");
	fixture_url(&mesh, path, url, sizeof(url));
	http_request("GET", url, &o, &r);
	status = r.status;
	if (keep != NULL)
		*keep = r;
	else
		http_response_free(&r);
	return status;
}

/* wait_status polls path until it answers want; returns the milliseconds it took, or -1. */
static long long wait_status(const char *path, long want, int timeout_ms)
{
	long long start = harness_now_ms();
	while (harness_now_ms() - start < timeout_ms) {
		if (get_status(path, NULL) == want)
			return harness_now_ms() - start;
		harness_sleep_ms(10);
	}
	return -1;
}

/* posts_calls returns how many calls the edge has in flight to posts, from its /metrics. */
static long posts_calls(void)
{
	static const char series[] = "\ncleave_mesh_calls_in_flight{service=\"posts\"} ";
	http_response r;
	char url[256];
	const char *at;
	long n;
	fixture_admin_url(&mesh, "/metrics", url, sizeof(url));
	ck_assert_int_eq(http_get(url, &r), 0);
	ck_assert_msg(r.status == 200, "GET %s: %ld", url, r.status);
	at = strstr(r.body, series);
	ck_assert_msg(at != NULL, "/metrics has no %s", series + 1);
	n = strtol(at + strlen(series), NULL, 10);
	http_response_free(&r);
	return n;
}

/* wait_posts_calls polls /metrics until the edge's calls to posts in flight satisfy
 * (at_least ? >= n : == n), for up to 10 s; returns the last count. */
static long wait_posts_calls(long n, int at_least)
{
	long long until = harness_now_ms() + 10000;
	long calls;
	while ((calls = posts_calls()) != n && !(at_least && calls > n) && harness_now_ms() < until)
		harness_sleep_ms(10);
	return calls;
}

static int nng_transport(void)
{
	const char *t = getenv("CLEAVE_MESH_TRANSPORT");
	return t != NULL && strcmp(t, "nng") == 0;
}

START_TEST(test_isolation_killed_service_fails_fast_others_serve)
{
	pid_t users = fixture_pid(&mesh, "users");
	http_response r;
	long long start;
	ck_assert(mesh_up && users > 0);
	ck_assert_int_eq(get_status("/api/users/1", NULL), 200);

	ck_assert_int_eq(kill(users, SIGKILL), 0);
	start = harness_now_ms();
	if (nng_transport() && get_status("/api/users/1", &r) == 504) {
		/* nng 1.5.2 may learn of the lost connection only after a call sent at once has
		 * waited out its deadline (README, "Two transports"); the next one fails fast */
		http_response_free(&r);
		start = harness_now_ms();
		ck_assert_int_eq(get_status("/api/users/1", &r), 503);
	} else if (!nng_transport()) {
		ck_assert_int_eq(get_status("/api/users/1", &r), 503);
	}
	ck_assert_int_eq(r.status, 503);
	ck_assert_msg(harness_now_ms() - start < FAST_MS, "503 took %lld ms (the deadline is %d)",
		      harness_now_ms() - start, EDGE_TIMEOUT_MS);
	ck_assert_msg(strncmp(r.body, "{\"code\":\"UNAVAILABLE\",\"message\":", 32) == 0, "%s",
		      r.body);
	http_response_free(&r);
	ck_assert(harness_wait(users, 2000) != -1);
	fixture_forget(&mesh, "users");

	for (int i = 0; i < 20; i++) {
		ck_assert_int_eq(get_status("/api/threads/1", NULL), 200);
		ck_assert_int_eq(get_status("/api/posts", NULL), 200);
		ck_assert_int_eq(get_status("/api/posts/in-thread/2", NULL), 200);
		start = harness_now_ms();
		ck_assert_int_eq(get_status("/api/users", NULL), 503);
		ck_assert_msg(harness_now_ms() - start < FAST_MS,
			      "503 took %lld ms (the deadline is %d)", harness_now_ms() - start,
			      EDGE_TIMEOUT_MS);
	}
}
END_TEST

START_TEST(test_isolation_restarted_service_is_served_again)
{
	long long took;
	ck_assert(mesh_up);
	ck_assert_msg(fixture_service_start(&mesh, "users") > 0, "cannot restart users");
	took = wait_status("/api/users/1", 200, 15000);
	ck_assert_msg(took >= 0, "users did not come back within 15 s");
	ck_assert_int_eq(get_status("/api/users/4", NULL), 200);
}
END_TEST

START_TEST(test_isolation_hung_service_hits_the_deadline)
{
	pid_t threads = fixture_pid(&mesh, "threads");
	http_response r;
	long long start, took;
	ck_assert(mesh_up && threads > 0);
	ck_assert_int_eq(harness_freeze(threads), 0);
	start = harness_now_ms();
	ck_assert_int_eq(get_status("/api/threads/1", &r), 504);
	took = harness_now_ms() - start;
	ck_assert_msg(strncmp(r.body, "{\"code\":\"DEADLINE_EXCEEDED\",", 28) == 0, "%s", r.body);
	http_response_free(&r);
	/* the edge waited for the deadline, and not much longer (a health check would have ended
	 * the call 4 s after the freeze) */
	ck_assert_msg(took >= EDGE_TIMEOUT_MS - 100 && took < EDGE_TIMEOUT_MS + 2000,
		      "504 after %lld ms (the deadline is %d)", took, EDGE_TIMEOUT_MS);
	/* other services are not held up by the hung one: well under its deadline */
	start = harness_now_ms();
	ck_assert_int_eq(get_status("/api/users/1", NULL), 200);
	ck_assert_int_eq(get_status("/api/posts/1", NULL), 200);
	ck_assert_msg(harness_now_ms() - start < FAST_MS,
		      "other routes slowed to %lld ms (the deadline is %d)",
		      harness_now_ms() - start, EDGE_TIMEOUT_MS);
	ck_assert_int_eq(harness_thaw(threads), 0);
	ck_assert_msg(wait_status("/api/threads/1", 200, 15000) >= 0, "threads did not recover");
}
END_TEST

START_TEST(test_isolation_client_gone_before_reply)
{
	pid_t posts = fixture_pid(&mesh, "posts");
	http_options h2 = {.http2 = 1, .timeout_ms = 100};
	http_options h1 = {.timeout_ms = 100};
	char url[256];
	long long start;
	long calls;
	ck_assert(mesh_up && posts > 0);
	fixture_url(&mesh, "/api/posts/1", url, sizeof(url));
	/* Hold the replies back, send requests whose clients give up, then let the replies
	 * arrive for requests that are gone. */
	ck_assert_int_eq(harness_freeze(posts), 0);
	for (int i = 0; i < 10; i++) {
		http_response r;
		static const char raw[] = "GET /api/posts/2 HTTP/1.1\r\nHost: x\r\n\r\n";
		char *answer;
		http_request("GET", url, i % 2 ? &h2 : &h1, &r);
		ck_assert_int_eq(r.status, 0); /* the client timed out */
		http_response_free(&r);
		answer = http_raw(mesh.port, raw, sizeof(raw) - 1, 20);
		free(answer);
	}
	/* the calls of requests that are gone are cancelled as their clients leave, posts still
	 * frozen: none is left in flight, though the last ones are far from their deadline */
	start = harness_now_ms();
	calls = wait_posts_calls(0, 0);
	ck_assert_msg(calls == 0 && harness_now_ms() - start < FAST_MS,
		      "%ld calls to posts still in flight %lld ms after their clients left", calls,
		      harness_now_ms() - start);
	ck_assert_int_eq(harness_thaw(posts), 0);
	/* the replies to the cancelled calls that were sent come back, and the edge drops them */
	harness_sleep_ms(200);
	ck_assert_int_eq(posts_calls(), 0);
	ck_assert_int_eq(get_status("/api/posts/1", NULL), 200);
	ck_assert_int_eq(get_status("/api/users/1", NULL), 200);
	ck_assert_int_eq(waitpid(fixture_pid(&mesh, "edge"), NULL, WNOHANG), 0);
}
END_TEST

START_TEST(test_isolation_everything_stops_cleanly)
{
	char report[8192];
	ck_assert(mesh_up);
	mesh_up = 0;
	ck_assert_msg(fixture_mesh_stop(&mesh, report, sizeof(report)) == 0, "%s", report);
}
END_TEST

static Suite *isolation_suite(void)
{
	Suite *s = suite_create("isolation");
	TCase *tc = harness_tcase("isolation", 120);
	tcase_add_unchecked_fixture(tc, mesh_setup, mesh_teardown);
	tcase_add_test(tc, test_isolation_killed_service_fails_fast_others_serve);
	tcase_add_test(tc, test_isolation_restarted_service_is_served_again);
	tcase_add_test(tc, test_isolation_hung_service_hits_the_deadline);
	tcase_add_test(tc, test_isolation_client_gone_before_reply);
	tcase_add_test(tc, test_isolation_everything_stops_cleanly); /* last: it stops the mesh */
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return harness_run_suite(isolation_suite(), 1);
}
