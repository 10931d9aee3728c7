/* postgres_test.c: a mesh whose services keep their data in PostgreSQL: each role reaches its own
 * database only; writers keep writing while an instance is killed -9 and while the database
 * restarts (fast, then as a crash): every acknowledged create is kept once, and what was asked
 * while the database was down is answered 503 and not stored. */
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
#include "pg.h"

#define WRITERS	   4
#define WRITES_MAX 20000 /* per writer; they run until the outages are over */
#define PROBES	   8	 /* creates sent while the database is down */

static const char *const services[] = {"users", "threads", "posts"};

static fixture_mesh mesh;
static int mesh_up;
static atomic_int stop;

/* WAIT_MS bounds each wait: the writers to get going, failures to show, service to come back. */
enum { WAIT_MS = 20000, RETRY_FOR_MS = 40000 };

static void mesh_setup(void)
{
	char bin[128], why[256];
	if (pg_server_find(bin, sizeof(bin), why, sizeof(why)) != 0 || fixture_external() != NULL ||
	    fixture_monolith())
		return; /* the tests skip, saying why */
	mesh_up = fixture_mesh_start(&mesh, NULL) == 0;
}

static void mesh_teardown(void)
{
	char report[8192];
	if (mesh_up && fixture_mesh_stop(&mesh, report, sizeof(report)) != 0)
		fprintf(stderr, "postgres_test: unclean stop:\n%s", report);
	mesh_up = 0;
}

/* need_mesh says whether the tests can run: skipped where PostgreSQL is not installed, failed
 * where the mesh did not start. */
static int need_mesh(void)
{
	char bin[128], why[256];
	if (pg_server_find(bin, sizeof(bin), why, sizeof(why)) != 0) {
		harness_skip("postgres_test: %s", why);
		return 0;
	}
	if (fixture_external() != NULL || fixture_monolith()) {
		harness_skip("postgres_test: it kills services and restarts the database: it needs "
			     "a process per service and a mesh of its own");
		return 0;
	}
	ck_assert_msg(mesh_up, "the mesh on PostgreSQL did not start");
	ck_assert(mesh.pg_up);
	return 1;
}

START_TEST(test_postgres_each_role_reaches_its_own_database_only)
{
	char out[64], err[512];
	if (!need_mesh())
		return;
	for (size_t a = 0; a < 3; a++) {
		const fixture_store *own = fixture_store_of(&mesh, services[a]);
		char sql[128];
		ck_assert_ptr_nonnull(own);
		/* its own rows, as its own role; a role that is no superuser */
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM \"%s\"", services[a]);
		ck_assert_msg(pg_server_query(&mesh.pg, own->name, own->name, own->password, sql,
					      out, sizeof(out), err, sizeof(err)) == 0,
			      "%s reading its own: %s", own->name, err);
		ck_assert_int_gt(atoi(out), 0);
		ck_assert_int_eq(pg_server_query(&mesh.pg, own->name, own->name, own->password,
						 "SELECT rolsuper OR rolcreaterole OR rolcreatedb "
						 "FROM pg_roles WHERE rolname = current_user",
						 out, sizeof(out), err, sizeof(err)),
				 0);
		ck_assert_str_eq(out, "f");
		for (size_t b = 0; b < 3; b++) {
			const fixture_store *other = fixture_store_of(&mesh, services[b]);
			if (a == b)
				continue;
			/* another's credentials do not open its database */
			ck_assert_int_ne(pg_server_query(&mesh.pg, own->name, other->name,
							 other->password, sql, out, sizeof(out),
							 err, sizeof(err)),
					 0);
			ck_assert_msg(strstr(err, "permission denied for database") != NULL,
				      "%s into %s: %s", other->name, own->name, err);
			/* nor is its table in the other's own database */
			ck_assert_int_ne(pg_server_query(&mesh.pg, other->name, other->name,
							 other->password, sql, out, sizeof(out),
							 err, sizeof(err)),
					 0);
			ck_assert_msg(strstr(err, "does not exist") != NULL, "%s", err);
		}
	}
}
END_TEST

/* writer_state: one writer's acknowledged creates, read by the test while it runs. */
typedef struct writer_state {
	int index;
	long long ids[WRITES_MAX]; /* the id each create was acknowledged with; 0 if never */
	atomic_int attempted;
	atomic_int acknowledged;
	atomic_int unavailable; /* 503s along the way */
	char last_failure[512];
} writer_state;

static void write_body(char *out, size_t outlen, const char *prefix, int writer, int i)
{
	snprintf(out, outlen,
		 "{\"username\":\"%s%d_%d\",\"name\":\"Writer %d item %d\",\"bio\":\"pg %d.%d\"}",
		 prefix, writer, i, writer, i, writer, i);
}

/* writer creates users until told to stop, each retried with its Idempotency-Key until it is
 * acknowledged: a 503 (the database or users away) is retried, anything else is a failure. */
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
				  .timeout_ms = 5000};
		long long until = harness_now_ms() + RETRY_FOR_MS;
		write_body(body, sizeof(body), "w", w->index, i);
		snprintf(key_line, sizeof(key_line), "Idempotency-Key: pg-%d-%d", w->index, i);
		atomic_fetch_add(&w->attempted, 1);
		while (harness_now_ms() < until) {
			http_response r;
			int ok = http_request("POST", url, &o, &r) == 0 && r.status == 201;
			if (ok) {
				json_t *user = json_loads(r.body, 0, NULL);
				w->ids[i] = json_integer_value(json_object_get(user, "id"));
				json_decref(user);
				atomic_fetch_add(&w->acknowledged, 1);
				http_response_free(&r);
				break;
			}
			if (r.status == 503)
				atomic_fetch_add(&w->unavailable, 1);
			snprintf(w->last_failure, sizeof(w->last_failure),
				 "write %d: HTTP %ld %.200s", i, r.status,
				 r.status != 0 ? r.body : r.error);
			http_response_free(&r);
			harness_sleep_ms(10);
		}
	}
	return NULL;
}

/* wait_each_acknowledged waits until every writer has AHEAD creates acknowledged past
 * since[k]; since is then updated. Returns 0, or -1 after WAIT_MS. */
#define AHEAD 10
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

static int unavailable_total(writer_state *w)
{
	int n = 0;
	for (int k = 0; k < WRITERS; k++)
		n += atomic_load(&w[k].unavailable);
	return n;
}

/* probe_outage asserts, with the database down, that reads and creates answer 503
 * (UNAVAILABLE) at once; the creates' usernames are p<round>_<i>, not to be stored. */
static void probe_outage(int round)
{
	char url[128];
	for (int i = 0; i < PROBES; i++) {
		char body[256], key_line[64];
		const char *headers[] = {key_line, NULL};
		http_options o = {.body = body,
				  .content_type = "application/json",
				  .headers = i % 2 ? headers : NULL,
				  .timeout_ms = 5000};
		http_response r;
		long long start = harness_now_ms();
		write_body(body, sizeof(body), "p", round, i);
		snprintf(key_line, sizeof(key_line), "Idempotency-Key: probe-%d-%d", round, i);
		snprintf(url, sizeof(url), "%s/api/users", mesh.base);
		ck_assert_int_eq(http_request("POST", url, &o, &r), 0);
		ck_assert_msg(r.status == 503 && strstr(r.body, "\"code\":\"UNAVAILABLE\"") != NULL,
			      "a create while the database is down: %ld %s", r.status, r.body);
		ck_assert_msg(strstr(r.body, "database is unavailable") != NULL, "%s", r.body);
		ck_assert_int_lt(harness_now_ms() - start, 1000);
		http_response_free(&r);
		snprintf(url, sizeof(url), "%s/api/posts/1", mesh.base);
		ck_assert_int_eq(http_get(url, &r), 0);
		ck_assert_msg(r.status == 503, "a read while the database is down: %ld %s",
			      r.status, r.body);
		http_response_free(&r);
	}
}

/* restart_database stops the database with sig (SIGINT: fast; SIGQUIT: immediate, as a crash),
 * probes the outage, and starts it again. */
static void restart_database(int sig, int round, writer_state *w)
{
	char err[1024];
	int before = unavailable_total(w);
	long long until;
	ck_assert_int_eq(pg_server_stop(&mesh.pg, sig, 10000), 0);
	/* the writers see it too */
	until = harness_now_ms() + WAIT_MS;
	while (unavailable_total(w) == before && harness_now_ms() < until)
		harness_sleep_ms(5);
	ck_assert_msg(unavailable_total(w) > before, "no writer saw the database down");
	probe_outage(round);
	ck_assert_msg(pg_server_restart(&mesh.pg, err, sizeof(err)) == 0, "%s", err);
}

START_TEST(test_postgres_writes_survive_kills_and_database_restarts)
{
	writer_state *w = calloc(WRITERS, sizeof(*w));
	pthread_t threads[WRITERS];
	int acknowledged = 0, present = 0, probes_found = 0, since[WRITERS] = {0};
	json_t *all, *item;
	char url[128];
	size_t i;
	if (!need_mesh())
		return;
	ck_assert_ptr_nonnull(w);
	curl_global_init_once();
	for (int k = 0; k < WRITERS; k++) {
		w[k].index = k;
		ck_assert_int_eq(pthread_create(&threads[k], NULL, writer, &w[k]), 0);
	}
	ck_assert_msg(wait_each_acknowledged(w, since) == 0, "the writers did not get going");

	/* users killed -9 mid-run, and started again */
	{
		pid_t users = fixture_pid(&mesh, "users");
		int before = unavailable_total(w);
		long long until = harness_now_ms() + WAIT_MS;
		ck_assert_int_gt(users, 0);
		ck_assert_int_eq(kill(users, SIGKILL), 0);
		ck_assert(harness_wait(users, 3000) != -1);
		fixture_forget(&mesh, "users");
		while (unavailable_total(w) == before && harness_now_ms() < until)
			harness_sleep_ms(5);
		ck_assert_msg(unavailable_total(w) > before,
			      "no write failed while users was down");
		ck_assert_int_gt(fixture_service_start(&mesh, "users"), 0);
		ck_assert_msg(wait_each_acknowledged(w, since) == 0,
			      "the writers did not get through after users came back");
	}
	/* the database: a fast shutdown, then a crash */
	restart_database(SIGINT, 0, w);
	ck_assert_msg(wait_each_acknowledged(w, since) == 0,
		      "the writers did not get through after the restart");
	restart_database(SIGQUIT, 1, w);
	ck_assert_msg(wait_each_acknowledged(w, since) == 0,
		      "the writers did not get through after the crash");

	atomic_store(&stop, 1);
	for (int k = 0; k < WRITERS; k++) {
		pthread_join(threads[k], NULL);
		acknowledged += w[k].acknowledged;
		ck_assert_msg(w[k].acknowledged == w[k].attempted,
			      "writer %d: %d of %d creates acknowledged; last failure: %s", k,
			      w[k].acknowledged, w[k].attempted, w[k].last_failure);
	}

	/* every acknowledged create once, with its id, whole; no create of the outages */
	snprintf(url, sizeof(url), "%s/api/users?limit=1000", mesh.base);
	all = http_get_list(url);
	ck_assert_msg(all != NULL, "GET /api/users and its pages failed");
	json_array_foreach(all, i, item)
	{
		const char *username = json_string_value(json_object_get(item, "username"));
		long long id = json_integer_value(json_object_get(item, "id"));
		int k, n;
		char want[256];
		json_t *expect;
		if (username != NULL && username[0] == 'p' &&
		    sscanf(username, "p%d_%d", &k, &n) == 2)
			probes_found++;
		if (username == NULL || sscanf(username, "w%d_%d", &k, &n) != 2)
			continue;
		ck_assert(k >= 0 && k < WRITERS && n >= 0 && n < WRITES_MAX);
		ck_assert_msg(w[k].ids[n] == id, "%s has id %lld, acknowledged as %lld", username,
			      id, w[k].ids[n]);
		write_body(want, sizeof(want), "w", k, n);
		expect = json_loads(want, 0, NULL);
		json_object_set_new(expect, "id", json_integer(id));
		ck_assert_msg(json_equal(expect, item), "%s is not as written", username);
		json_decref(expect);
		present++;
	}
	json_decref(all);
	ck_assert_int_eq(present, acknowledged);
	ck_assert_msg(probes_found == 0, "%d creates sent while the database was down were stored",
		      probes_found);
	fprintf(stderr,
		"postgres: %d creates acknowledged by %d writers across a kill -9 and two database "
		"restarts; %d answers were 503 and retried with their keys; all present once; "
		"%d creates sent during the outages answered 503, none stored\n",
		acknowledged, WRITERS, unavailable_total(w), 2 * PROBES);
	free(w);
}
END_TEST

START_TEST(test_postgres_service_without_its_database_does_not_start)
{
	char exe[256], url[300], data[256], log[256], line[512], err[1024];
	const fixture_store *users;
	pid_t pid;
	int status;
	if (!need_mesh())
		return;
	users = fixture_store_of(&mesh, "users");
	ck_assert_ptr_nonnull(users);
	ck_assert_int_eq(pg_server_stop(&mesh.pg, SIGINT, 10000), 0);
	snprintf(exe, sizeof(exe), "%s/svc-users", CLEAVE_BUILD_DIR);
	snprintf(url, sizeof(url), "ipc://%s/users_nodb.sock", mesh.dir);
	snprintf(data, sizeof(data), "%s/data/users_nodb", mesh.dir);
	snprintf(log, sizeof(log), "%s/users_nodb.log", mesh.dir);
	{
		char *argv[] = {exe,	   "--listen",	       url,	    "--data-dir", data,
				"--store", (char *)users->url, "--run-dir", mesh.dir,	  NULL};
		pid = harness_spawn(argv, log);
	}
	ck_assert_int_gt(pid, 0);
	status = harness_wait(pid, 10000);
	ck_assert_msg(status != -1 && !harness_exited_cleanly(status), "it started without it");
	ck_assert_int_eq(harness_wait_for_line(log, "cannot open the store", line, sizeof(line), 0),
			 0);
	ck_assert_msg(strstr(line, "cannot connect to the database") != NULL, "%s", line);
	ck_assert_msg(strstr(line, users->password) == NULL, "the password shows: %s", line);
	ck_assert_msg(pg_server_restart(&mesh.pg, err, sizeof(err)) == 0, "%s", err);
}
END_TEST

START_TEST(test_postgres_everything_stops_cleanly)
{
	char report[8192];
	if (!need_mesh())
		return;
	mesh_up = 0;
	ck_assert_msg(fixture_mesh_stop(&mesh, report, sizeof(report)) == 0, "%s", report);
}
END_TEST

static Suite *postgres_suite(void)
{
	Suite *s = suite_create("postgres");
	TCase *tc = harness_tcase("postgres", 150);
	tcase_add_unchecked_fixture(tc, mesh_setup, mesh_teardown);
	tcase_add_test(tc, test_postgres_each_role_reaches_its_own_database_only);
	tcase_add_test(tc, test_postgres_writes_survive_kills_and_database_restarts);
	tcase_add_test(tc, test_postgres_service_without_its_database_does_not_start);
	tcase_add_test(tc, test_postgres_everything_stops_cleanly); /* last: it stops the mesh */
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	/* this suite's mesh keeps its data in PostgreSQL, whatever the caller's environment */
	setenv("CLEAVE_TEST_STORE", "postgres", 1);
	return harness_run_suite(postgres_suite(), 1);
}
