/* mesh_loop_test.c: libmesh's event-loop client on mesh_epoll, against loop and nng servers. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "echo.h"
#include "harness.h"
#include "mesh.h"
#include "mesh.pb-c.h"
#include "sample.pb-c.h"

/* CALL_TIMEOUT_MS: the deadline of the suite's calls that set none of their own (the loop
 * clients' timeout_ms), and WAIT_MS how long a test waits for one to end: past its deadline, so
 * a call that does not end is told from one that failed. */
enum { CALL_TIMEOUT_MS = 10000, WAIT_MS = CALL_TIMEOUT_MS + 5000 };

static char dir[128];
static char url[256];
static mesh_server *server;
static mesh_epoll *ep;

static void start_server_at(mesh_server **out, const char *where)
{
	ck_assert_int_eq(echo_server_new(out, NULL), 0);
	ck_assert_int_eq(mesh_server_listen(*out, where), 0);
	ck_assert_int_eq(mesh_server_start(*out), 0);
}

static void setup(void)
{
	ck_assert_int_eq(harness_tmpdir(dir, sizeof(dir)), 0);
	snprintf(url, sizeof(url), "ipc://%s/echo.sock", dir);
	atomic_store(&echo_slow_started, 0);
	start_server_at(&server, url);
	ck_assert_int_eq(mesh_epoll_new(&ep), 0);
}

static void teardown(void)
{
	mesh_server_free(server);
	server = NULL;
	mesh_epoll_free(ep);
	harness_rmtree(dir);
}

/* run_until turns the loop until *flag reaches want or timeout_ms passes. */
static void run_until(const int *flag, int want, int timeout_ms)
{
	long long until = harness_now_ms() + timeout_ms;
	while (*flag < want && harness_now_ms() < until)
		mesh_epoll_run(ep, 10);
}

static mesh_client *loop_client(const ProtobufCServiceDescriptor *desc, const char *where)
{
	mesh_client_opts opts = {
	    .caller = "looper", .loop = mesh_epoll_loop(ep), .timeout_ms = CALL_TIMEOUT_MS};
	mesh_client *c;
	long long until = harness_now_ms() + 5000;
	ck_assert_int_eq(mesh_client_new(&c, desc, &opts), 0);
	ck_assert_int_eq(mesh_client_dial(c, where), 0);
	while (mesh_client_instances(c) == 0 && harness_now_ms() < until)
		mesh_epoll_run(ep, 10);
	ck_assert_int_eq(mesh_client_instances(c), 1);
	return c;
}

typedef struct echo_result {
	mesh_rpc rpc;
	int called;
	int64_t id;
	char label[128];
} echo_result;

static int completed;

static void on_inner(const Sample__Inner *reply, void *closure_data)
{
	echo_result *r = closure_data;
	r->called++;
	completed++;
	if (reply != NULL) {
		r->id = reply->id;
		snprintf(r->label, sizeof(r->label), "%s", reply->label);
	}
}

/* call_get invokes Echo.Get and turns the loop until it completes. */
static void call_get(mesh_client *c, int64_t id, const char *label, echo_result *r)
{
	Sample__Inner in = SAMPLE__INNER__INIT;
	int before = completed;
	memset(r, 0, sizeof(*r));
	in.id = id;
	in.label = (char *)label;
	sample__echo__get(mesh_client_service(c), &in, on_inner, r);
	ck_assert_int_eq(r->called, 0); /* never inside invoke */
	run_until(&completed, before + 1, WAIT_MS);
	ck_assert_int_eq(r->called, 1);
}

START_TEST(test_loop_call_ok_and_status)
{
	mesh_client *c = loop_client(&sample__echo__descriptor, url);
	echo_result r;
	call_get(c, 7, "hi", &r);
	ck_assert_int_eq(r.rpc.status, MESH_OK);
	ck_assert_int_eq(r.id, 7);
	ck_assert_str_eq(r.label, "echo:hi:looper");
	call_get(c, 404, "x", &r);
	ck_assert_int_eq(r.rpc.status, MESH_NOT_FOUND);
	ck_assert_str_eq(r.rpc.message, "no 404");
	ck_assert_int_eq(mesh_client_inflight(c), 0);
	mesh_client_free(c);
}
END_TEST

START_TEST(test_loop_many_calls_pipelined)
{
	/* all CALLS in flight at once, each with DEADLINE_MS: what the test waits for them */
	enum { CALLS = 2000, DEADLINE_MS = 20000 };
	mesh_client *c = loop_client(&sample__echo__descriptor, url);
	echo_result *r = calloc(CALLS, sizeof(*r));
	int64_t deadline = mesh_now_us() + DEADLINE_MS * 1000LL;
	int before = completed;
	for (int i = 0; i < CALLS; i++) {
		Sample__Inner in = SAMPLE__INNER__INIT;
		char label[16];
		snprintf(label, sizeof(label), "n%d", i);
		in.id = 1000 + i; /* clear of 404, which Echo answers NOT_FOUND */
		in.label = label;
		r[i].rpc.deadline_us = deadline;
		sample__echo__get(mesh_client_service(c), &in, on_inner, &r[i]);
	}
	ck_assert_int_eq(mesh_client_inflight(c), CALLS);
	run_until(&completed, before + CALLS, DEADLINE_MS + 5000);
	for (int i = 0; i < CALLS; i++) {
		char want[32];
		snprintf(want, sizeof(want), "echo:n%d:looper", i);
		ck_assert_int_eq(r[i].called, 1);
		ck_assert_int_eq(r[i].rpc.status, MESH_OK);
		ck_assert_int_eq(r[i].id, 1000 + i);
		ck_assert_str_eq(r[i].label, want);
	}
	free(r);
	ck_assert_int_eq(mesh_client_inflight(c), 0);
	mesh_client_free(c);
}
END_TEST

START_TEST(test_loop_survives_full_socket_buffers)
{
	/* 5000 calls of 8 KiB, WINDOW of them in flight at a time: 2 MiB written in one turn, so
	 * writes hit EAGAIN and resume when mesh_epoll reports the socket writable. The window is
	 * refilled as calls complete, so no call waits behind thousands of others: each has
	 * CALL_DEADLINE_MS of its own, and the whole run RUN_MS. */
	enum {
		CALLS = 5000,
		LABEL = 8192,
		WINDOW = 256,
		CALL_DEADLINE_MS = 10000,
		RUN_MS = 20000,
	};
	mesh_client *c = loop_client(&sample__echo__descriptor, url);
	echo_result *r = calloc(CALLS, sizeof(*r));
	char *label = malloc(LABEL + 1);
	long long until = harness_now_ms() + RUN_MS;
	int before = completed, sent = 0;
	memset(label, 'b', LABEL);
	label[LABEL] = '\0';
	while (completed - before < CALLS && harness_now_ms() < until) {
		for (; sent < CALLS && sent - (completed - before) < WINDOW; sent++) {
			Sample__Inner in = SAMPLE__INNER__INIT;
			in.id = 1000 + sent;
			in.label = label;
			r[sent].rpc.deadline_us = mesh_now_us() + CALL_DEADLINE_MS * 1000LL;
			sample__echo__get(mesh_client_service(c), &in, on_inner, &r[sent]);
		}
		mesh_epoll_run(ep, 10);
	}
	ck_assert_msg(completed - before == CALLS, "%d of %d calls done within %d s",
		      completed - before, CALLS, RUN_MS / 1000);
	for (int i = 0; i < CALLS; i++) {
		ck_assert_msg(r[i].rpc.status == MESH_OK, "call %d: %s %s", i,
			      mesh_status_name(r[i].rpc.status), r[i].rpc.message);
		ck_assert_int_eq(r[i].id, 1000 + i);
	}
	ck_assert_int_eq(mesh_client_inflight(c), 0);
	free(label);
	free(r);
	mesh_client_free(c);
}
END_TEST

START_TEST(test_loop_no_instance_fails_fast)
{
	/* fast: well under the call's deadline (CALL_TIMEOUT_MS), which it does not wait out */
	mesh_client_opts opts = {.loop = mesh_epoll_loop(ep), .timeout_ms = CALL_TIMEOUT_MS};
	mesh_client *c;
	echo_result r;
	char nowhere[300];
	long long start = harness_now_ms();
	snprintf(nowhere, sizeof(nowhere), "ipc://%s/nobody.sock", dir);
	ck_assert_int_eq(mesh_client_new(&c, &sample__echo__descriptor, &opts), 0);
	ck_assert_int_eq(mesh_client_dial(c, nowhere), 0);
	call_get(c, 1, "x", &r);
	ck_assert_int_eq(r.rpc.status, MESH_UNAVAILABLE);
	ck_assert_msg(harness_now_ms() - start < 3000, "took %lld ms of a %d ms deadline",
		      harness_now_ms() - start, CALL_TIMEOUT_MS);
	mesh_client_free(c);
}
END_TEST

START_TEST(test_loop_deadline_exceeded_and_late_reply_dropped)
{
	mesh_client *c = loop_client(&sample__echo__descriptor, url);
	Sample__Inner in = SAMPLE__INNER__INIT;
	echo_result r = {0}, after;
	long long start = harness_now_ms(), took;
	/* the call ends at its deadline (200 ms), not with the reply (2.5 s): the bound between
	 * them is generous on both sides */
	in.id = 2500; /* the method sleeps 2.5 s */
	r.rpc.deadline_us = mesh_now_us() + 200 * 1000;
	sample__echo__slow(mesh_client_service(c), &in, on_inner, &r);
	run_until(&r.called, 1, WAIT_MS);
	took = harness_now_ms() - start;
	ck_assert_int_eq(r.rpc.status, MESH_DEADLINE_EXCEEDED);
	ck_assert_msg(took >= 195 && took < 2000, "took %lld ms", took);
	/* the late reply arrives and is dropped; the next call gets its own answer */
	call_get(c, 5, "next", &after);
	ck_assert_int_eq(after.rpc.status, MESH_OK);
	ck_assert_int_eq(after.id, 5);
	ck_assert_int_eq(r.called, 1);
	mesh_client_free(c);
}
END_TEST

START_TEST(test_loop_past_deadline_is_not_sent)
{
	mesh_client *c = loop_client(&sample__echo__descriptor, url);
	Sample__Inner in = SAMPLE__INNER__INIT;
	echo_result r = {0}, after;
	in.id = 1;
	r.rpc.deadline_us = mesh_now_us() - 1;
	sample__echo__slow(mesh_client_service(c), &in, on_inner, &r);
	ck_assert_int_eq(r.called, 0);
	run_until(&r.called, 1, WAIT_MS);
	ck_assert_int_eq(r.rpc.status, MESH_DEADLINE_EXCEEDED);
	/* the server answers a connection's calls in order: once a later call is answered, the
	 * Slow call, had it been sent, would have started */
	call_get(c, 2, "after", &after);
	ck_assert_int_eq(after.rpc.status, MESH_OK);
	ck_assert_int_eq(atomic_load(&echo_slow_started), 0);
	mesh_client_free(c);
}
END_TEST

START_TEST(test_loop_lost_connection_is_unavailable_and_never_resent)
{
	char doomed_url[sizeof(url)];
	nng_socket doomed;
	nng_msg *msg;
	mesh_client *c;
	mesh_server *healthy;
	Sample__Inner in = SAMPLE__INNER__INIT;
	echo_result r = {0}, after;
	long long until;
	snprintf(doomed_url, sizeof(doomed_url), "ipc://%s/doomed.sock", dir);
	ck_assert_int_eq(nng_rep0_open(&doomed), 0);
	ck_assert_int_eq(nng_listen(doomed, doomed_url, NULL, 0), 0);
	c = loop_client(&sample__echo__descriptor, doomed_url);
	in.id = 1;
	sample__echo__slow(mesh_client_service(c), &in, on_inner, &r);
	mesh_epoll_run(ep, 0); /* the turn writes the call */
	ck_assert_int_eq(nng_recvmsg(doomed, &msg, 0), 0);
	nng_msg_free(msg);
	nng_close(doomed); /* the instance dies without answering */
	run_until(&r.called, 1, WAIT_MS);
	ck_assert_int_eq(r.rpc.status, MESH_UNAVAILABLE);
	ck_assert_int_eq(mesh_client_inflight(c), 0);
	/* a healthy instance takes the address; the lost call is not sent to it */
	start_server_at(&healthy, doomed_url);
	until = harness_now_ms() + 5000;
	while (mesh_client_instances(c) == 0 && harness_now_ms() < until)
		mesh_epoll_run(ep, 10);
	ck_assert_int_eq(mesh_client_instances(c), 1);
	/* a call resent on the new connection would go out before one answered there, and the
	 * server answers a connection's calls in order. The first connection counted may not
	 * last (mesh_test sees the nng client's dropped right after the nng socket at this
	 * address closed), so calls are retried until one is answered. */
	until = harness_now_ms() + 5000;
	for (call_get(c, 2, "after", &after);
	     after.rpc.status == MESH_UNAVAILABLE && harness_now_ms() < until;
	     call_get(c, 2, "after", &after))
		mesh_epoll_run(ep, 10);
	ck_assert_msg(after.rpc.status == MESH_OK, "%s", after.rpc.message);
	ck_assert_int_eq(atomic_load(&echo_slow_started), 0);
	mesh_client_free(c);
	mesh_server_free(healthy);
}
END_TEST

START_TEST(test_loop_client_talks_to_an_nng_server)
{
	char nng_url[sizeof(url)];
	mesh_server *nng_server;
	mesh_client *c;
	echo_result r;
	snprintf(nng_url, sizeof(nng_url), "ipc://%s/nng.sock", dir);
	setenv("CLEAVE_MESH_TRANSPORT", "nng", 1);
	start_server_at(&nng_server, nng_url);
	unsetenv("CLEAVE_MESH_TRANSPORT");
	c = loop_client(&sample__echo__descriptor, nng_url);
	for (int i = 0; i < 20; i++) {
		call_get(c, i, "via-nng", &r);
		ck_assert_int_eq(r.rpc.status, MESH_OK);
		ck_assert_int_eq(r.id, i);
		ck_assert_str_eq(r.label, "echo:via-nng:looper");
	}
	mesh_client_free(c);
	mesh_server_free(nng_server);
}
END_TEST

/* health_calls: the closure_data of Health calls; the mesh_rpc comes first. */
typedef struct health_calls {
	mesh_rpc rpc;
	uint64_t calls;
} health_calls;

static void on_health(const Mesh__HealthReply *reply, void *data)
{
	health_calls *h = data;
	if (reply != NULL)
		h->calls = reply->calls;
}

START_TEST(test_loop_over_tcp_and_spread_over_instances)
{
	mesh_server *a = NULL, *b = NULL;
	mesh_client_opts opts = {.caller = "looper", .loop = mesh_epoll_loop(ep)};
	mesh_client *c, *health;
	Mesh__HealthRequest hin = MESH__HEALTH_REQUEST__INIT;
	char url_a[64], url_b[64];
	long long until = harness_now_ms() + 5000;
	int port_a = 0, port_b = 0;
	health_calls h = {0};
	/* free ports: try a few from a random base */
	for (int p = 20000 + (int)(harness_now_ms() % 20000); port_b == 0; p += 7) {
		mesh_server *s;
		char u[64];
		snprintf(u, sizeof(u), "tcp://127.0.0.1:%d", p);
		ck_assert_int_eq(echo_server_new(&s, NULL), 0);
		if (mesh_server_listen(s, u) != 0) {
			mesh_server_free(s);
			continue;
		}
		ck_assert_int_eq(mesh_server_start(s), 0);
		if (port_a == 0) {
			port_a = p;
			a = s;
			snprintf(url_a, sizeof(url_a), "%s", u);
		} else {
			port_b = p;
			b = s;
			snprintf(url_b, sizeof(url_b), "%s", u);
		}
	}
	ck_assert_int_eq(mesh_client_new(&c, &sample__echo__descriptor, &opts), 0);
	ck_assert_int_eq(mesh_client_dial(c, url_a), 0);
	ck_assert_int_eq(mesh_client_dial(c, url_b), 0);
	while (mesh_client_instances(c) < 2 && harness_now_ms() < until)
		mesh_epoll_run(ep, 10);
	ck_assert_int_eq(mesh_client_instances(c), 2);
	for (int i = 0; i < 50; i++) {
		echo_result r;
		call_get(c, i, "tcp", &r);
		ck_assert_int_eq(r.rpc.status, MESH_OK);
	}
	mesh_client_free(c);
	/* instance b answered some of the 50 (and counts this Health call too) */
	ck_assert_int_eq(mesh_client_new(&health, &mesh__mesh__descriptor, NULL), 0);
	ck_assert_int_eq(mesh_client_dial(health, url_b), 0);
	until = harness_now_ms() + 5000;
	while (mesh_client_instances(health) == 0 && harness_now_ms() < until)
		harness_sleep_ms(5);
	mesh__mesh__health(mesh_client_service(health), &hin, on_health, &h);
	ck_assert_int_eq(h.rpc.status, MESH_OK);
	ck_assert_msg(h.calls > 10 && h.calls < 41, "instance b answered %llu of 50",
		      (unsigned long long)h.calls - 1);
	mesh_client_free(health);
	mesh_server_free(a);
	mesh_server_free(b);
}
END_TEST

START_TEST(test_loop_request_id_reaches_loop_and_nng_servers)
{
	char nng_url[sizeof(url)];
	mesh_server *nng_server;
	const char *const urls[2] = {url, nng_url};
	snprintf(nng_url, sizeof(nng_url), "ipc://%s/nng.sock", dir);
	setenv("CLEAVE_MESH_TRANSPORT", "nng", 1);
	start_server_at(&nng_server, nng_url);
	unsetenv("CLEAVE_MESH_TRANSPORT");
	for (int i = 0; i < 2; i++) {
		mesh_client *c = loop_client(&sample__echo__descriptor, urls[i]);
		Sample__Inner in = SAMPLE__INNER__INIT;
		echo_result r[3];
		char id[3][32];
		int before = completed;
		/* several in one turn, each with its own id (the ids are copied at invoke) */
		in.label = "request-id";
		for (int k = 0; k < 3; k++) {
			memset(&r[k], 0, sizeof(r[k]));
			snprintf(id[k], sizeof(id[k]), "loop-%d-%d", i, k);
			r[k].rpc.request_id = k < 2 ? id[k] : NULL;
			sample__echo__get(mesh_client_service(c), &in, on_inner, &r[k]);
			memset(id[k], '?', sizeof(id[k]) - 1);
		}
		run_until(&completed, before + 3, WAIT_MS);
		for (int k = 0; k < 3; k++) {
			char want[40];
			snprintf(want, sizeof(want), "rid:loop-%d-%d", i, k);
			ck_assert_int_eq(r[k].rpc.status, MESH_OK);
			ck_assert_str_eq(r[k].label, k < 2 ? want : "rid:(none)");
		}
		mesh_client_free(c);
	}
	mesh_server_free(nng_server);
}
END_TEST

static Suite *mesh_loop_suite(void)
{
	Suite *s = suite_create("mesh_loop");
	TCase *tc = tcase_create("mesh_loop");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_loop_call_ok_and_status);
	tcase_add_test(tc, test_loop_many_calls_pipelined);
	tcase_add_test(tc, test_loop_survives_full_socket_buffers);
	tcase_add_test(tc, test_loop_no_instance_fails_fast);
	tcase_add_test(tc, test_loop_deadline_exceeded_and_late_reply_dropped);
	tcase_add_test(tc, test_loop_past_deadline_is_not_sent);
	tcase_add_test(tc, test_loop_lost_connection_is_unavailable_and_never_resent);
	tcase_add_test(tc, test_loop_client_talks_to_an_nng_server);
	tcase_add_test(tc, test_loop_over_tcp_and_spread_over_instances);
	tcase_add_test(tc, test_loop_request_id_reaches_loop_and_nng_servers);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return harness_run_suite(mesh_loop_suite(), 0);
}
