/* durability_test.c: concurrent creates while the users service is killed -9 and restarted:
 * every acknowledged write is kept exactly once, and nothing appears half-written. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>

#include "fixture.h"
#include "harness.h"
#include "http.h"

#define WRITERS	   4
#define WRITES_MAX 20000 /* per writer; they run until the kills are over */
#define RETRIES	   200	 /* per write, 10 ms apart */
#define KILLS	   3

static fixture_mesh mesh;
static int mesh_up;
static atomic_int stop;

/* writer_state: one writer's acknowledged writes. The counts are read by the test while the
 * writer runs. */
typedef struct writer_state {
	int index;
	long long ids[WRITES_MAX]; /* the id each write was acknowledged with; 0 if it never was */
	atomic_int attempted;
	atomic_int acknowledged;
	atomic_int failed_attempts; /* answers other than 201 along the way (the kills) */
	char last_failure[512];	    /* the last answer other than 201, for the report */
} writer_state;

/* WAIT_MS bounds each wait for the writers: to get going, to see the killed service fail, to see
 * the restarted one serve again. */
enum { WAIT_MS = 20000 };

/* failed_attempts sums the writers' failed attempts. */
static int failed_attempts(writer_state *w)
{
	int n = 0;
	for (int k = 0; k < WRITERS; k++)
		n += atomic_load(&w[k].failed_attempts);
	return n;
}

/* wait_each_acknowledged waits until every writer has had AHEAD writes acknowledged past its
 * count in since (WRITERS of them), for up to WAIT_MS; since is then updated. Returns 0, or -1.
 * Several each, not one: the writes between kills then do not depend on how fast the store
 * commits (SQLite in-process, or PostgreSQL a round trip away). */
#define AHEAD 5
static int wait_each_acknowledged(writer_state *w, int *since)
{
	long long until = harness_now_ms() + WAIT_MS;
	int behind;
	do {
		behind = 0;
		for (int k = 0; k < WRITERS; k++)
			behind += atomic_load(&w[k].acknowledged) < since[k] + AHEAD;
		if (behind > 0)
			harness_sleep_ms(10);
	} while (behind > 0 && harness_now_ms() < until);
	for (int k = 0; k < WRITERS; k++)
		since[k] = atomic_load(&w[k].acknowledged);
	return behind == 0 ? 0 : -1;
}

static void mesh_setup(void)
{
	mesh_up = fixture_mesh_start(&mesh, NULL) == 0;
}

static void mesh_teardown(void)
{
	char report[8192];
	if (mesh_up && fixture_mesh_stop(&mesh, report, sizeof(report)) != 0)
		fprintf(stderr, "durability_test: unclean stop:\n%s", report);
	mesh_up = 0;
}

static void write_body(char *out, size_t outlen, int writer, int i)
{
	snprintf(
	    out, outlen,
	    "{\"username\":\"d%d_%d\",\"name\":\"Writer %d item %d\",\"bio\":\"durable %d.%d\"}",
	    writer, i, writer, i, writer, i);
}

/* writer creates users until told to stop, retrying each create with its Idempotency-Key until
 * it is acknowledged. */
static void *writer(void *arg)
{
	writer_state *w = arg;
	char url[128];
	snprintf(url, sizeof(url), "%s/api/users", mesh.base);
	for (int i = 0; i < WRITES_MAX && !atomic_load(&stop); i++) {
		char body[256], key_line[64];
		const char *headers[] = {key_line, NULL};
		http_options o = {.body = body,
				  .content_type = "application/json",
				  .headers = headers,
				  .timeout_ms = 3000};
		write_body(body, sizeof(body), w->index, i);
		snprintf(key_line, sizeof(key_line), "Idempotency-Key: dur-%d-%d", w->index, i);
		w->attempted++;
		for (int attempt = 0; attempt < RETRIES; attempt++) {
			http_response r;
			json_t *user;
			int ok = http_request("POST", url, &o, &r) == 0 && r.status == 201;
			if (ok) {
				user = json_loads(r.body, 0, NULL);
				w->ids[i] = json_integer_value(json_object_get(user, "id"));
				json_decref(user);
				w->acknowledged++;
				http_response_free(&r);
				break;
			}
			w->failed_attempts++;
			snprintf(w->last_failure, sizeof(w->last_failure),
				 "write %d: HTTP %ld %.200s", i, r.status,
				 r.status != 0 ? r.body : r.error);
			http_response_free(&r);
			harness_sleep_ms(10);
		}
	}
	return NULL;
}

START_TEST(test_durability_kill9_during_concurrent_writes)
{
	writer_state *w = calloc(WRITERS, sizeof(*w));
	pthread_t threads[WRITERS];
	int failed = 0, acknowledged = 0, present = 0, since[WRITERS] = {0};
	json_t *all, *item;
	size_t i;
	ck_assert(mesh_up);
	curl_global_init_once();
	for (int k = 0; k < WRITERS; k++) {
		w[k].index = k;
		ck_assert_int_eq(pthread_create(&threads[k], NULL, writer, &w[k]), 0);
	}
	/* every writer is writing */
	ck_assert_msg(wait_each_acknowledged(w, since) == 0,
		      "the writers did not each have %d writes acknowledged within %d s", AHEAD,
		      WAIT_MS / 1000);
	for (int kill_round = 0; kill_round < KILLS; kill_round++) {
		pid_t users = fixture_pid(&mesh, "users");
		int failed_before = failed_attempts(w);
		long long until = harness_now_ms() + WAIT_MS;
		ck_assert_int_gt(users, 0);
		ck_assert_int_eq(kill(users, SIGKILL), 0);
		ck_assert(harness_wait(users, 3000) != -1);
		fixture_forget(&mesh, "users");
		/* the kill lands mid-run: a write fails while users is down */
		while (failed_attempts(w) == failed_before && harness_now_ms() < until)
			harness_sleep_ms(5);
		ck_assert_msg(failed_attempts(w) > failed_before,
			      "kill %d: no write failed within %d s", kill_round + 1,
			      WAIT_MS / 1000);
		ck_assert_int_gt(fixture_service_start(&mesh, "users"), 0);
		/* back in service: every writer gets writes through again */
		ck_assert_msg(
		    wait_each_acknowledged(w, since) == 0,
		    "kill %d: the writers did not each have %d writes acknowledged within "
		    "%d s of the restart",
		    kill_round + 1, AHEAD, WAIT_MS / 1000);
	}
	atomic_store(&stop, 1);
	for (int k = 0; k < WRITERS; k++) {
		pthread_join(threads[k], NULL);
		failed += w[k].failed_attempts;
		acknowledged += w[k].acknowledged;
		/* every write was eventually acknowledged: the keys made retrying safe */
		ck_assert_msg(w[k].acknowledged == w[k].attempted,
			      "writer %d: %d of %d writes acknowledged; last failure: %s", k,
			      w[k].acknowledged, w[k].attempted, w[k].last_failure);
	}
	ck_assert_msg(failed > 0, "no write failed: the kills did not land mid-run");
	ck_assert_msg(acknowledged > WRITERS * 10, "only %d writes acknowledged", acknowledged);

	/* afterwards: every acknowledged write once, with its id, whole (every page of users) */
	{
		char url[128];
		snprintf(url, sizeof(url), "%s/api/users?limit=1000", mesh.base);
		all = http_get_list(url);
	}
	ck_assert_msg(all != NULL, "GET /api/users and its pages failed");
	json_array_foreach(all, i, item)
	{
		const char *username = json_string_value(json_object_get(item, "username"));
		long long id = json_integer_value(json_object_get(item, "id"));
		int writer_index, n;
		char want[256];
		json_t *expect;
		if (username == NULL || sscanf(username, "d%d_%d", &writer_index, &n) != 2)
			continue;
		ck_assert(writer_index >= 0 && writer_index < WRITERS && n >= 0 && n < WRITES_MAX);
		/* acknowledged with exactly this id: not a second copy */
		ck_assert_msg(w[writer_index].ids[n] == id, "%s has id %lld, acknowledged as %lld",
			      username, id, w[writer_index].ids[n]);
		/* whole: every field as sent */
		write_body(want, sizeof(want), writer_index, n);
		expect = json_loads(want, 0, NULL);
		json_object_set_new(expect, "id", json_integer(id));
		ck_assert_msg(json_equal(expect, item), "%s is not as written", username);
		json_decref(expect);
		present++;
	}
	ck_assert_int_eq(present, acknowledged);
	fprintf(stderr,
		"durability: %d writes acknowledged by %d writers across %d kill -9s; %d attempts "
		"failed and were retried with their keys; all present once, whole\n",
		acknowledged, WRITERS, KILLS, failed);
	json_decref(all);
	free(w);
}
END_TEST

START_TEST(test_durability_everything_stops_cleanly)
{
	char report[8192];
	ck_assert(mesh_up);
	mesh_up = 0;
	ck_assert_msg(fixture_mesh_stop(&mesh, report, sizeof(report)) == 0, "%s", report);
}
END_TEST

static Suite *durability_suite(void)
{
	Suite *s = suite_create("durability");
	TCase *tc = harness_tcase("durability", 120);
	tcase_add_unchecked_fixture(tc, mesh_setup, mesh_teardown);
	tcase_add_test(tc, test_durability_kill9_during_concurrent_writes);
	tcase_add_test(tc, test_durability_everything_stops_cleanly);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return harness_run_suite(durability_suite(), 1);
}
