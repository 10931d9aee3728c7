/* postgres_hosts_test.c: two posts instances on two hosts (network namespaces, as in
 * multihost_test) share one PostgreSQL database over TCP: started together they seed it once,
 * their concurrent creates all land, and the same Idempotency-Key sent to both at once makes one
 * row. Root only. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include "fixture.h"
#include "harness.h"
#include "mesh.h"
#include "pg.h"
#include "posts.pb-c.h"

#define HOSTS	   2
#define SAME_KEYS  25 /* rounds of one key sent to both hosts at once */
#define EACH_PLAIN 40 /* creates without a key per host, both at once */

/* the world the suite builds, torn down by cleanup() however the process ends */
static struct {
	int ready;	/* built: the tests run */
	int lacking;	/* not built because the environment cannot: the tests skip */
	char why[1200]; /* why not, when !ready */
	const char *ip; /* the ip(8) binary */
	int subnet;	/* 10.214.SUBNET.0/24, a /30 per host */
	char ns[HOSTS][32];
	char root_if[HOSTS][16];
	char dir[128]; /* logs, data dirs */
	int made;      /* something was made: cleanup has work */
	pg_server pg;
	fixture_store users, threads, posts;
	int users_port, threads_port;
	pid_t users_pid, threads_pid, posts_pid[HOSTS];
} T;

/* sh runs a shell command quietly; returns its exit status (or -1). */
static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	int rv;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	strncat(cmd, " >/dev/null 2>&1", sizeof(cmd) - strlen(cmd) - 1);
	rv = system(cmd);
	return rv == -1 || !WIFEXITED(rv) ? -1 : WEXITSTATUS(rv);
}

/* root_ip is this host's address (the root namespace's) on host h's link; host_ip is h's. */
static void root_ip(int h, char *out, size_t len)
{
	snprintf(out, len, "10.214.%d.%d", T.subnet, 1 + 4 * h);
}

static void host_ip(int h, char *out, size_t len)
{
	snprintf(out, len, "10.214.%d.%d", T.subnet, 2 + 4 * h);
}

static void cleanup(void)
{
	if (!T.made)
		return;
	T.made = 0;
	for (int h = 0; h < HOSTS; h++)
		if (T.posts_pid[h] > 0)
			harness_stop(T.posts_pid[h], SIGTERM, 3000);
	if (T.users_pid > 0)
		harness_stop(T.users_pid, SIGTERM, 3000);
	if (T.threads_pid > 0)
		harness_stop(T.threads_pid, SIGTERM, 3000);
	T.users_pid = T.threads_pid = T.posts_pid[0] = T.posts_pid[1] = 0;
	pg_server_remove(&T.pg);
	for (int h = 0; h < HOSTS; h++) {
		sh("%s netns del %s", T.ip, T.ns[h]);
		sh("%s link del %s", T.ip, T.root_if[h]);
	}
	if (T.dir[0] != '\0')
		harness_rmtree(T.dir);
}

static void on_signal(int sig)
{
	cleanup();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* start_root_service starts svc-<name> here, on tcp://<host 0's root address>:port, with its
 * own database. */
static pid_t start_root_service(const char *name, const fixture_store *store, int port)
{
	char exe[256], listen[64], ip[32], data[256], log[256], users[96];
	char *argv[] = {"/usr/bin/env",
			"CLEAVE_INSECURE=1",
			users,
			exe,
			"--listen",
			listen,
			"--data-dir",
			data,
			"--store",
			(char *)store->url,
			"--run-dir",
			T.dir,
			NULL};
	root_ip(0, ip, sizeof(ip));
	snprintf(exe, sizeof(exe), "%s/svc-%s", CLEAVE_BUILD_DIR, name);
	snprintf(listen, sizeof(listen), "tcp://%s:%d", ip, port);
	/* threads calls users */
	snprintf(users, sizeof(users), "CLEAVE_CALL_USERS=tcp://%s:%d", ip, T.users_port);
	snprintf(data, sizeof(data), "%s/%s", T.dir, name);
	snprintf(log, sizeof(log), "%s/%s.log", T.dir, name);
	return harness_spawn(argv, log);
}

/* start_posts starts posts on host h, in its namespace, configured by its environment alone:
 * its database over TCP, users and threads at the root's address. */
static pid_t start_posts(int h)
{
	char exe[256], data[256], log[256], ip[32], store[480], users[96], threads[96];
	char *argv[] = {"/usr/bin/env",
			"CLEAVE_INSECURE=1",
			"CLEAVE_LISTEN=tcp://0.0.0.0:7000",
			store,
			users,
			threads,
			(char *)T.ip,
			"netns",
			"exec",
			T.ns[h],
			exe,
			"--data-dir",
			data,
			"--run-dir",
			T.dir,
			NULL};
	root_ip(0, ip, sizeof(ip));
	snprintf(exe, sizeof(exe), "%s/svc-posts", CLEAVE_BUILD_DIR);
	snprintf(data, sizeof(data), "%s/posts%d", T.dir, h);
	snprintf(log, sizeof(log), "%s/posts%d.log", T.dir, h);
	snprintf(store, sizeof(store), "CLEAVE_STORE_URL=%s", T.posts.url);
	snprintf(users, sizeof(users), "CLEAVE_CALL_USERS=tcp://%s:%d", ip, T.users_port);
	snprintf(threads, sizeof(threads), "CLEAVE_CALL_THREADS=tcp://%s:%d", ip, T.threads_port);
	return harness_spawn(argv, log);
}

/* provision gives service name a database and role on the server, reached over TCP if tcp. */
static int provision(fixture_store *st, const char *name, int tcp)
{
	char err[512];
	snprintf(st->name, sizeof(st->name), "%s", name);
	if (pg_server_provision(&T.pg, name, tcp, st->password, st->url, sizeof(st->url), err,
				sizeof(err)) != 0) {
		snprintf(T.why, sizeof(T.why), "cannot provision %s: %s", name, err);
		return -1;
	}
	return 0;
}

static int build(void)
{
	char ip[32], peer[32], err[1024], bin[128];
	T.ip = access("/usr/sbin/ip", X_OK) == 0 ? "/usr/sbin/ip"
	       : access("/sbin/ip", X_OK) == 0	 ? "/sbin/ip"
						 : NULL;
	T.lacking = 1;
	if (geteuid() != 0) {
		snprintf(T.why, sizeof(T.why), "needs root (network namespaces)");
		return -1;
	}
	if (T.ip == NULL) {
		snprintf(T.why, sizeof(T.why), "needs ip(8) from iproute2");
		return -1;
	}
	if (pg_server_find(bin, sizeof(bin), T.why, sizeof(T.why)) != 0)
		return -1;
	if (sh("%s netns add clpg%d-probe", T.ip, (int)getpid()) != 0) {
		snprintf(T.why, sizeof(T.why),
			 "root here cannot make a network namespace (an unprivileged container?)");
		return -1;
	}
	sh("%s netns delete clpg%d-probe", T.ip, (int)getpid());
	T.lacking = 0;
	T.subnet = 20 + (int)(getpid() % 200);
	T.made = 1;
	atexit(cleanup);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	if (harness_tmpdir(T.dir, sizeof(T.dir)) != 0)
		goto fail;
	/* a host per posts instance: its namespace, a cable to this one, a route to it */
	for (int h = 0; h < HOSTS; h++) {
		snprintf(T.ns[h], sizeof(T.ns[h]), "clpg%d-%c", (int)getpid(), 'a' + h);
		snprintf(T.root_if[h], sizeof(T.root_if[h]), "cp%d%c", (int)getpid() % 1000000,
			 'a' + h);
		root_ip(h, ip, sizeof(ip));
		host_ip(h, peer, sizeof(peer));
		if (sh("%s netns add %s", T.ip, T.ns[h]) != 0 ||
		    sh("%s -n %s link set lo up", T.ip, T.ns[h]) != 0 ||
		    sh("%s link add %s type veth peer name eth0 netns %s", T.ip, T.root_if[h],
		       T.ns[h]) != 0 ||
		    sh("%s addr add %s/30 dev %s", T.ip, ip, T.root_if[h]) != 0 ||
		    sh("%s link set %s up", T.ip, T.root_if[h]) != 0 ||
		    sh("%s -n %s addr add %s/30 dev eth0", T.ip, T.ns[h], peer) != 0 ||
		    sh("%s -n %s link set eth0 up", T.ip, T.ns[h]) != 0 ||
		    sh("%s -n %s route add default via %s", T.ip, T.ns[h], ip) != 0)
			goto fail;
	}
	/* the database on this host, reached by both over TCP */
	root_ip(0, ip, sizeof(ip));
	if (pg_server_start(&T.pg, ip, 0, err, sizeof(err)) != 0) {
		snprintf(T.why, sizeof(T.why), "cannot start PostgreSQL on %s: %s", ip, err);
		return -1;
	}
	if (provision(&T.users, "users", 0) != 0 || provision(&T.threads, "threads", 0) != 0 ||
	    provision(&T.posts, "posts", 1) != 0)
		return -1;
	T.users_port = harness_free_port();
	T.threads_port = harness_free_port();
	if ((T.users_pid = start_root_service("users", &T.users, T.users_port)) < 0 ||
	    (T.threads_pid = start_root_service("threads", &T.threads, T.threads_port)) < 0)
		goto fail;
	/* then both posts at once, on a database nobody has seeded yet */
	for (int pass = 0; pass < 2; pass++) {
		const char *logs[] = {"users", "threads", "posts0", "posts1"};
		if (pass == 1)
			for (int h = 0; h < HOSTS; h++)
				if ((T.posts_pid[h] = start_posts(h)) < 0)
					goto fail;
		for (size_t i = 2 * (size_t)pass; i < 2 + 2 * (size_t)pass; i++) {
			char log[256], line[512];
			snprintf(log, sizeof(log), "%s/%s.log", T.dir, logs[i]);
			if (harness_wait_for_line(log, "serving", line, sizeof(line), 20000) != 0) {
				char *text = harness_read_file(log);
				snprintf(T.why, sizeof(T.why), "%s did not start: %.900s", logs[i],
					 text != NULL ? text : "(no log)");
				free(text);
				return -1;
			}
		}
	}
	return 0;
fail:
	snprintf(T.why, sizeof(T.why), "could not build the hosts (ip netns, veth, routes)");
	return -1;
}

static void setup(void)
{
	long long start = harness_now_ms();
	T.ready = build() == 0;
	if (!T.ready)
		printf("postgres_hosts_test: cannot run: %s\n", T.why);
	else
		printf("postgres_hosts_test: 2 posts hosts on one database up in %lld ms (logs in "
		       "%s)\n",
		       harness_now_ms() - start, T.dir);
}

static void teardown(void)
{
	cleanup();
}

/* must_run fails the test when the hosts could have been built and were not, and says whether
 * to go on. */
static int must_run(void)
{
	if (T.ready)
		return 1;
	ck_assert_msg(T.lacking, "could not set up: %s", T.why);
	harness_skip("postgres_hosts_test: %s", T.why);
	return 0;
}

/* count_posts returns how many posts the database holds whose text is LIKE pattern. */
static long count_posts(const char *pattern)
{
	char sql[256], out[32], err[512];
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM posts WHERE text LIKE '%s'", pattern);
	ck_assert_msg(pg_server_query(&T.pg, "posts", "posts", T.posts.password, sql, out,
				      sizeof(out), err, sizeof(err)) == 0,
		      "%s", err);
	return atol(out);
}

START_TEST(test_postgres_hosts_start_together_seed_once)
{
	if (!must_run())
		return;
	/* svc/posts/seed.json's 6 posts, once, though both started on an empty database */
	ck_assert_int_eq(count_posts("%"), 6);
}
END_TEST

/* host_client: a blocking client of posts on one host, as the edge. */
typedef struct host_client {
	mesh_client *client;
	int host;
	pthread_barrier_t *start; /* every round starts on both at once */
	int rounds;
	const char *mode; /* "key": the same key on both; "plain": no key */
	int64_t ids[EACH_PLAIN > SAME_KEYS ? EACH_PLAIN : SAME_KEYS];
	mesh_status status[EACH_PLAIN > SAME_KEYS ? EACH_PLAIN : SAME_KEYS];
	char message[MESH_MESSAGE_MAX];
} host_client;

typedef struct create_call {
	mesh_rpc rpc; /* first: the closure's data is a mesh_rpc */
	int64_t id;
} create_call;

static void create_done(const Posts__Post *post, void *data)
{
	create_call *call = data;
	call->id = post != NULL ? post->id : 0;
}

static void *host_creates(void *arg)
{
	host_client *hc = arg;
	for (int i = 0; i < hc->rounds; i++) {
		Posts__CreatePostRequest req = POSTS__CREATE_POST_REQUEST__INIT;
		create_call call = {.rpc = {.deadline_us = 0}};
		char text[64], key[64];
		int keyed = strcmp(hc->mode, "key") == 0;
		if (keyed)
			snprintf(text, sizeof(text), "same key %d", i);
		else
			snprintf(text, sizeof(text), "plain %d from host %d", i, hc->host);
		snprintf(key, sizeof(key), "hosts-%d", i);
		req.thread = 1;
		req.user = 1;
		req.text = text;
		call.rpc.idempotency_key = keyed ? key : NULL;
		pthread_barrier_wait(hc->start);
		posts__posts__create(mesh_client_service(hc->client), &req, create_done, &call);
		hc->status[i] = call.rpc.status;
		hc->ids[i] = call.id;
		if (call.rpc.status != MESH_OK)
			snprintf(hc->message, sizeof(hc->message), "%s", call.rpc.message);
	}
	return NULL;
}

/* run_hosts sends rounds creates to both hosts at once, as mode says, into hc[HOSTS]. */
static void run_hosts(host_client *hc, const char *mode, int rounds)
{
	pthread_barrier_t start;
	pthread_t threads[HOSTS];
	ck_assert_int_eq(pthread_barrier_init(&start, NULL, HOSTS), 0);
	for (int h = 0; h < HOSTS; h++) {
		mesh_client_opts o = {.caller = "edge", .timeout_ms = 10000};
		char url[64], ip[32];
		long long until = harness_now_ms() + 10000;
		memset(&hc[h], 0, sizeof(hc[h]));
		hc[h].host = h;
		hc[h].start = &start;
		hc[h].rounds = rounds;
		hc[h].mode = mode;
		host_ip(h, ip, sizeof(ip));
		snprintf(url, sizeof(url), "tcp://%s:7000", ip);
		ck_assert_int_eq(mesh_client_new(&hc[h].client, &posts__posts__descriptor, &o), 0);
		ck_assert_int_eq(mesh_client_dial(hc[h].client, url), 0);
		while (mesh_client_instances(hc[h].client) == 0 && harness_now_ms() < until)
			harness_sleep_ms(5);
		ck_assert_msg(mesh_client_instances(hc[h].client) > 0, "posts on host %d at %s", h,
			      url);
	}
	for (int h = 0; h < HOSTS; h++)
		ck_assert_int_eq(pthread_create(&threads[h], NULL, host_creates, &hc[h]), 0);
	for (int h = 0; h < HOSTS; h++)
		pthread_join(threads[h], NULL);
	for (int h = 0; h < HOSTS; h++)
		mesh_client_free(hc[h].client);
	pthread_barrier_destroy(&start);
	for (int h = 0; h < HOSTS; h++)
		for (int i = 0; i < rounds; i++)
			ck_assert_msg(hc[h].status[i] == MESH_OK, "host %d, round %d: %s: %s", h, i,
				      mesh_status_name(hc[h].status[i]), hc[h].message);
}

START_TEST(test_postgres_hosts_same_key_at_once_makes_one_row)
{
	static host_client hc[HOSTS];
	if (!must_run())
		return;
	run_hosts(hc, "key", SAME_KEYS);
	for (int i = 0; i < SAME_KEYS; i++) {
		char text[64];
		/* both hosts answered with the one row that was made */
		ck_assert_msg(hc[0].ids[i] == hc[1].ids[i] && hc[0].ids[i] > 0,
			      "key hosts-%d: ids %lld and %lld", i, (long long)hc[0].ids[i],
			      (long long)hc[1].ids[i]);
		snprintf(text, sizeof(text), "same key %d", i);
		ck_assert_int_eq(count_posts(text), 1);
	}
	ck_assert_int_eq(count_posts("same key %"), SAME_KEYS);
}
END_TEST

START_TEST(test_postgres_hosts_concurrent_creates_all_land)
{
	static host_client hc[HOSTS];
	if (!must_run())
		return;
	run_hosts(hc, "plain", EACH_PLAIN);
	/* every create stored, under ids of its own */
	for (int h = 0; h < HOSTS; h++)
		for (int i = 0; i < EACH_PLAIN; i++)
			for (int g = 0; g < HOSTS; g++)
				for (int j = 0; j < EACH_PLAIN; j++)
					ck_assert(hc[h].ids[i] != hc[g].ids[j] ||
						  (h == g && i == j));
	ck_assert_int_eq(count_posts("plain % from host %"), HOSTS * EACH_PLAIN);
}
END_TEST

START_TEST(test_postgres_hosts_stop_cleanly)
{
	const char *names[] = {"posts0", "posts1", "users", "threads"};
	pid_t *pids[] = {&T.posts_pid[0], &T.posts_pid[1], &T.users_pid, &T.threads_pid};
	if (!must_run())
		return;
	for (size_t i = 0; i < 4; i++) {
		char log[256];
		snprintf(log, sizeof(log), "%s/%s.log", T.dir, names[i]);
		harness_stop_clean(*pids[i], SIGTERM, 5000, names[i], log);
		*pids[i] = 0;
	}
	ck_assert_int_eq(pg_server_stop(&T.pg, SIGINT, 10000), 0);
}
END_TEST

static Suite *postgres_hosts_suite(void)
{
	Suite *s = suite_create("postgres_hosts");
	TCase *tc = harness_tcase("hosts", 120);
	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_postgres_hosts_start_together_seed_once);
	tcase_add_test(tc, test_postgres_hosts_same_key_at_once_makes_one_row);
	tcase_add_test(tc, test_postgres_hosts_concurrent_creates_all_land);
	tcase_add_test(tc, test_postgres_hosts_stop_cleanly); /* last */
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return harness_run_suite(postgres_hosts_suite(), 1);
}
