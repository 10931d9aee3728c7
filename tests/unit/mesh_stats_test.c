/* mesh_stats_test.c: per-method calls, errors, latency and CPU reported by Health, counted by a
 * real server over every transport (event loops and nng, ipc:// and tcp://), and the counters'
 * arithmetic (buckets, percentiles, CPU sampling) on their own. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "echo.h"
#include "envelope.h"
#include "harness.h"
#include "mesh.h"
#include "mesh.pb-c.h"
#include "sample.pb-c.h"
#include "stats.h"

/* transports: what each run of the loop tests serves on. */
static const struct {
	const char *name;
	int nng; /* CLEAVE_MESH_TRANSPORT=nng */
	int ipc; /* ipc:// rather than tcp:// */
	int loops;
} transports[] = {
    {"loop ipc", 0, 1, 2},
    {"loop tcp", 0, 0, 2},
    {"nng ipc", 1, 1, 0},
    {"nng tcp", 1, 0, 0},
};

static char dir[128];
static char url[256];
static mesh_server *server;

/* start_server serves echo_service on transport i, at a fresh ipc path or a free tcp port. */
static void start_server(int i)
{
	mesh_server_opts opts = {.loops = transports[i].loops};
	if (transports[i].nng)
		setenv("CLEAVE_MESH_TRANSPORT", "nng", 1);
	else
		unsetenv("CLEAVE_MESH_TRANSPORT");
	ck_assert_int_eq(echo_server_new(&server, &opts), 0);
	if (transports[i].ipc) {
		snprintf(url, sizeof(url), "ipc://%s/echo.sock", dir);
		ck_assert_int_eq(mesh_server_listen(server, url), 0);
	} else {
		int tries = 0;
		for (int p = 20000 + (int)(harness_now_ms() % 20000);; p += 7) {
			snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", p);
			if (mesh_server_listen(server, url) == 0)
				break;
			ck_assert_int_lt(++tries, 50);
		}
	}
	ck_assert_int_eq(mesh_server_start(server), 0);
	unsetenv("CLEAVE_MESH_TRANSPORT");
}

static void setup(void)
{
	ck_assert_int_eq(harness_tmpdir(dir, sizeof(dir)), 0);
}

static void teardown(void)
{
	mesh_server_free(server);
	server = NULL;
	harness_rmtree(dir);
}

/* blocking_client makes a blocking client of desc connected to the server. */
static mesh_client *blocking_client(const ProtobufCServiceDescriptor *desc)
{
	mesh_client_opts opts = {.caller = "stats"};
	mesh_client *c;
	long long until = harness_now_ms() + 5000;
	ck_assert_int_eq(mesh_client_new(&c, desc, &opts), 0);
	ck_assert_int_eq(mesh_client_dial(c, url), 0);
	while (mesh_client_instances(c) == 0 && harness_now_ms() < until)
		harness_sleep_ms(2);
	ck_assert_int_eq(mesh_client_instances(c), 1);
	return c;
}

/* echo calls method of the Echo service with id, and returns the status. */
static mesh_status echo(mesh_client *c, const char *method, int64_t id)
{
	Sample__Inner in = SAMPLE__INNER__INIT;
	ProtobufCMessage *out = NULL;
	char message[MESH_MESSAGE_MAX];
	mesh_status st;
	in.id = id;
	in.label = "x";
	st = mesh_client_call(c, method, &in.base, &out, NULL, message, sizeof(message));
	if (out != NULL)
		protobuf_c_message_free_unpacked(out, NULL);
	return st;
}

/* health calls Health; the reply is the caller's, to free with free_unpacked. */
static Mesh__HealthReply *health(mesh_client *c)
{
	Mesh__HealthRequest in = MESH__HEALTH_REQUEST__INIT;
	ProtobufCMessage *out = NULL;
	char message[MESH_MESSAGE_MAX];
	ck_assert_int_eq(
	    mesh_client_call(c, "Health", &in.base, &out, NULL, message, sizeof(message)), MESH_OK);
	ck_assert_ptr_nonnull(out);
	return (Mesh__HealthReply *)out;
}

/* raw_call sends one hand-made mesh.Call over a bare nng REQ socket and returns the status. */
static mesh_status raw_call(const char *method, int64_t timeout_us, const uint8_t *payload,
			    size_t payload_len)
{
	Mesh__Call call = MESH__CALL__INIT;
	meshi_envelope_reply reply;
	nng_socket req;
	nng_msg *msg;
	mesh_status st;
	uint8_t packed[256];
	call.service = "sample.Echo";
	call.method = (char *)method;
	call.timeout_us = timeout_us;
	call.payload.data = (uint8_t *)payload;
	call.payload.len = payload_len;
	ck_assert_uint_le(mesh__call__get_packed_size(&call), sizeof(packed));
	ck_assert_int_eq(nng_req0_open(&req), 0);
	ck_assert_int_eq(nng_dial(req, url, NULL, 0), 0);
	ck_assert_int_eq(nng_msg_alloc(&msg, 0), 0);
	ck_assert_int_eq(nng_msg_append(msg, packed, mesh__call__pack(&call, packed)), 0);
	ck_assert_int_eq(nng_sendmsg(req, msg, 0), 0);
	ck_assert_int_eq(nng_recvmsg(req, &msg, 0), 0);
	ck_assert_int_eq(meshi_envelope_reply_read(&reply, nng_msg_body(msg), nng_msg_len(msg)), 0);
	st = reply.status;
	nng_msg_free(msg);
	nng_close(req);
	return st;
}

/* method_stats finds name in the reply's methods, or NULL. */
static const Mesh__MethodStats *method_stats(const Mesh__HealthReply *h, const char *name)
{
	for (size_t i = 0; i < h->n_methods; i++)
		if (strcmp(h->methods[i]->method, name) == 0)
			return h->methods[i];
	return NULL;
}

/* check_method asserts a method's counts, and that its latency figures agree with them. */
static const Mesh__MethodStats *check_method(const Mesh__HealthReply *h, const char *name,
					     uint64_t calls, uint64_t errors)
{
	const Mesh__MethodStats *m = method_stats(h, name);
	uint64_t sum = 0;
	ck_assert_msg(m != NULL, "%s is not in the health reply", name);
	ck_assert_uint_eq(m->calls, calls);
	ck_assert_uint_eq(m->errors, errors);
	ck_assert_uint_eq(m->n_latency_buckets, MESH_LATENCY_BUCKETS);
	for (size_t b = 0; b < m->n_latency_buckets; b++)
		sum += m->latency_buckets[b];
	ck_assert_uint_eq(sum, calls);
	ck_assert_uint_le(m->latency_p50_us, m->latency_p99_us);
	if (calls > 0)
		ck_assert_uint_ge(m->latency_p50_us, mesh_latency_bounds_us[0]);
	return m;
}

START_TEST(test_stats_count_each_method_exactly)
{
	mesh_client *c, *hc;
	Mesh__HealthReply *h;
	const Mesh__MethodStats *m;
	static const uint8_t garbage[] = {0xff, 0xff, 0xff};
	start_server(_i);
	c = blocking_client(&sample__echo__descriptor);
	hc = blocking_client(&mesh__mesh__descriptor);

	/* before any call: Health is listed, with nothing counted yet */
	h = health(hc);
	ck_assert_uint_eq(h->calls, 0);
	ck_assert_uint_eq(h->n_methods, 1);
	check_method(h, "Health", 0, 0);
	ck_assert_uint_gt(h->cpu_us, 0);
	ck_assert_int_gt(h->rss_bytes, 0);
	protobuf_c_message_free_unpacked(&h->base, NULL);

	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(echo(c, "Get", i), MESH_OK);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(echo(c, "Get", 404), MESH_NOT_FOUND);
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(echo(c, "Fail", 0), MESH_INTERNAL);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(echo(c, "Spin", 5), MESH_OK); /* 5 ms of CPU each */
	/* refused before the method ran: still calls and errors of the method */
	ck_assert_int_eq(raw_call("Get", 0, garbage, sizeof(garbage)), MESH_INVALID_ARGUMENT);
	ck_assert_int_eq(raw_call("Slow", -1, NULL, 0), MESH_DEADLINE_EXCEEDED);
	/* no such method: in the totals only */
	ck_assert_int_eq(raw_call("Nope", 0, NULL, 0), MESH_UNIMPLEMENTED);
	protobuf_c_message_free_unpacked(&health(hc)->base, NULL);

	h = health(hc);
	ck_assert_str_eq(h->service, "sample.Echo");
	/* the service's methods in declaration order, then Health */
	ck_assert_uint_eq(h->n_methods, 5);
	ck_assert_str_eq(h->methods[0]->method, "Get");
	ck_assert_str_eq(h->methods[1]->method, "Slow");
	ck_assert_str_eq(h->methods[2]->method, "Fail");
	ck_assert_str_eq(h->methods[3]->method, "Spin");
	ck_assert_str_eq(h->methods[4]->method, "Health");
	check_method(h, "Get", 14, 4);
	check_method(h, "Fail", 2, 2);
	m = check_method(h, "Slow", 1, 1);
	ck_assert_uint_eq(m->cpu_us, 0); /* it never ran */
	m = check_method(h, "Spin", 3, 0);
	ck_assert_uint_ge(m->cpu_us, 15000);
	ck_assert_uint_lt(m->cpu_us, 15000 + 3 * 2000);
	ck_assert_uint_ge(m->latency_p50_us, 5000); /* at least its 5 ms of CPU */
	ck_assert_uint_ge(m->latency_p99_us, 5000);
	check_method(h, "Health", 2, 0);
	/* totals: every call above, the one naming no method too, and two earlier Health calls */
	ck_assert_uint_eq(h->calls, 14 + 2 + 1 + 3 + 1 + 2);
	ck_assert_uint_eq(h->errors, 4 + 2 + 1 + 1);
	ck_assert_uint_ge(h->cpu_us, 15000);
	ck_assert_int_gt(h->rss_bytes, 1 << 20);
	protobuf_c_message_free_unpacked(&h->base, NULL);

	/* the Health call just made is counted by the next one */
	h = health(hc);
	check_method(h, "Health", 3, 0);
	protobuf_c_message_free_unpacked(&h->base, NULL);
	mesh_client_free(c);
	mesh_client_free(hc);
}
END_TEST

enum { CALLERS = 4, CALLS_OK = 40, CALLS_FAILED = 10 };

static void *caller_main(void *arg)
{
	mesh_client *c = arg;
	int bad = 0;
	for (int i = 0; i < CALLS_OK + CALLS_FAILED; i++)
		bad += echo(c, "Get", i < CALLS_OK ? i : 404) !=
		       (i < CALLS_OK ? MESH_OK : MESH_NOT_FOUND);
	return (void *)(intptr_t)bad;
}

START_TEST(test_stats_sum_over_threads)
{
	mesh_client *c[CALLERS], *hc;
	pthread_t t[CALLERS];
	Mesh__HealthReply *h;
	start_server(_i);
	for (int i = 0; i < CALLERS; i++)
		c[i] = blocking_client(&sample__echo__descriptor);
	hc = blocking_client(&mesh__mesh__descriptor);
	for (int i = 0; i < CALLERS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, caller_main, c[i]), 0);
	for (int i = 0; i < CALLERS; i++) {
		void *bad;
		pthread_join(t[i], &bad);
		ck_assert_int_eq((int)(intptr_t)bad, 0);
	}
	h = health(hc);
	check_method(h, "Get", CALLERS * (CALLS_OK + CALLS_FAILED), CALLERS * CALLS_FAILED);
	check_method(h, "Health", 0, 0);
	ck_assert_uint_eq(h->n_methods, 2);
	ck_assert_uint_eq(h->calls, CALLERS * (CALLS_OK + CALLS_FAILED));
	ck_assert_uint_eq(h->errors, CALLERS * CALLS_FAILED);
	protobuf_c_message_free_unpacked(&h->base, NULL);
	for (int i = 0; i < CALLERS; i++)
		mesh_client_free(c[i]);
	mesh_client_free(hc);
}
END_TEST

/* ---- the counters alone, with made-up latencies -------------------------------------------- */

/* count_call counts one call of slot that took latency_us, cpu_us of it in the implementation. */
static void count_call(meshi_stats_shard *sh, size_t slot, int64_t latency_us, int64_t cpu_us,
		       int error)
{
	meshi_stats_call c = {.slot = slot, .start_ns = 1000000000, .invoked = 1};
	c.replied_ns = c.start_ns + latency_us * 1000;
	c.sampled = sh->slots[slot].unsampled_wall_ns >= STATS_CPU_SAMPLE_WALL_NS;
	c.cpu_ns = cpu_us * 1000;
	meshi_stats_call_end(sh, &c, error);
}

START_TEST(test_stats_buckets_and_percentiles)
{
	meshi_stats st;
	meshi_stats_shard *a, *b;
	Mesh__HealthReply h = MESH__HEALTH_REPLY__INIT;
	const Mesh__MethodStats *get, *slow, *fail;
	meshi_stats_init(&st, &sample__echo__descriptor);
	a = meshi_stats_shard_new(&st);
	b = meshi_stats_shard_new(&st);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	/* Get: 98 calls at 30 us, over two shards, and 2 at 3 ms: p50 50 us, p99 5 ms */
	for (int i = 0; i < 98; i++)
		count_call(i % 2 ? a : b, 0, 30, 30, i < 5);
	count_call(a, 0, 3000, 3000, 0);
	count_call(b, 0, 3000, 3000, 0);
	/* Slow: bucket edges are inclusive upper bounds; 2 s is in +Inf */
	count_call(a, 1, 50, 0, 0);   /* bucket 0 */
	count_call(a, 1, 51, 0, 0);   /* bucket 1 */
	count_call(a, 1, 1000, 0, 0); /* bucket 4 */
	count_call(a, 1, 2000000, 0, 1);
	/* Fail: one call beyond every finite bound */
	count_call(b, 2, 1500000, 0, 1);
	ck_assert_int_eq(meshi_stats_health(&st, &h), 0);
	ck_assert_uint_eq(h.n_methods, 4); /* Get, Slow, Fail, Health */
	get = method_stats(&h, "Get");
	ck_assert_uint_eq(get->calls, 100);
	ck_assert_uint_eq(get->errors, 5);
	ck_assert_uint_eq(get->latency_buckets[0], 98);
	ck_assert_uint_eq(get->latency_buckets[6], 2);
	ck_assert_uint_eq(get->latency_p50_us, 50);
	ck_assert_uint_eq(get->latency_p99_us, 5000);
	/* CPU: calls of 20 us or more are each followed by a measured call: all are measured */
	ck_assert_uint_eq(get->cpu_us, 98 * 30 + 2 * 3000);
	slow = method_stats(&h, "Slow");
	ck_assert_uint_eq(slow->calls, 4);
	ck_assert_uint_eq(slow->errors, 1);
	ck_assert_uint_eq(slow->latency_buckets[0], 1);
	ck_assert_uint_eq(slow->latency_buckets[1], 1);
	ck_assert_uint_eq(slow->latency_buckets[4], 1);
	ck_assert_uint_eq(slow->latency_buckets[MESH_LATENCY_BUCKETS - 1], 1);
	ck_assert_uint_eq(slow->latency_p50_us, 100);
	ck_assert_uint_eq(slow->latency_p99_us, 2000000); /* +Inf: the largest seen */
	fail = method_stats(&h, "Fail");
	ck_assert_uint_eq(fail->latency_p50_us, 1500000);
	ck_assert_uint_eq(fail->latency_p99_us, 1500000);
	ck_assert_ptr_null(method_stats(&h, "Spin"));
	ck_assert_uint_eq(h.calls, 105);
	ck_assert_uint_eq(h.errors, 7);
	ck_assert_uint_eq(mesh_latency_bounds_us[MESH_LATENCY_BUCKETS - 1], UINT64_MAX);
	meshi_stats_health_free(&h);
	meshi_stats_fini(&st);
}
END_TEST

START_TEST(test_stats_cpu_sampling_scales_to_every_call)
{
	meshi_stats st;
	meshi_stats_shard *sh;
	Mesh__HealthReply h = MESH__HEALTH_REPLY__INIT;
	const Mesh__MethodStats *get;
	meshi_stats_init(&st, &sample__echo__descriptor);
	sh = meshi_stats_shard_new(&st);
	ck_assert_ptr_nonnull(sh);
	/* 1 us calls, 1 us of CPU each: only about one in 20 is measured */
	for (int i = 0; i < 10000; i++)
		count_call(sh, 0, 1, 1, 0);
	ck_assert_uint_lt(atomic_load(&sh->slots[0].sampled), 10000 / 15);
	ck_assert_uint_gt(atomic_load(&sh->slots[0].sampled), 10000 / 25);
	ck_assert_int_eq(meshi_stats_health(&st, &h), 0);
	get = method_stats(&h, "Get");
	ck_assert_uint_eq(get->cpu_us, 10000);
	meshi_stats_health_free(&h);
	meshi_stats_fini(&st);
}
END_TEST

static Suite *mesh_stats_suite(void)
{
	Suite *s = suite_create("mesh_stats");
	TCase *tc = tcase_create("served");
	TCase *counters = tcase_create("counters");
	int n = (int)(sizeof(transports) / sizeof(transports[0]));
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, test_stats_count_each_method_exactly, 0, n);
	tcase_add_loop_test(tc, test_stats_sum_over_threads, 0, n);
	suite_add_tcase(s, tc);
	tcase_add_test(counters, test_stats_buckets_and_percentiles);
	tcase_add_test(counters, test_stats_cpu_sampling_scales_to_every_call);
	suite_add_tcase(s, counters);
	return s;
}

int main(void)
{
	return harness_run_suite(mesh_stats_suite(), 0);
}
