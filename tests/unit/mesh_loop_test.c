/* mesh_loop_test.c: libmesh's event-loop client on mesh_epoll, against loop and nng servers. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <check.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "echo.h"
#include "envelope.h"
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

/* loop_client_with returns a client of desc on the loop with opts (caller and loop set here)
 * connected to where. */
static mesh_client *loop_client_with(const ProtobufCServiceDescriptor *desc, const char *where,
				     mesh_client_opts opts)
{
	mesh_client *c;
	long long until = harness_now_ms() + 5000;
	opts.caller = "looper";
	opts.loop = mesh_epoll_loop(ep);
	if (opts.timeout_ms == 0)
		opts.timeout_ms = CALL_TIMEOUT_MS;
	ck_assert_int_eq(mesh_client_new(&c, desc, &opts), 0);
	ck_assert_int_eq(mesh_client_dial(c, where), 0);
	while (mesh_client_instances(c) == 0 && harness_now_ms() < until)
		mesh_epoll_run(ep, 10);
	ck_assert_int_eq(mesh_client_instances(c), 1);
	return c;
}

static mesh_client *loop_client(const ProtobufCServiceDescriptor *desc, const char *where)
{
	return loop_client_with(desc, where, (mesh_client_opts){0});
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
	 * CALL_DEADLINE_MS of its own, and the whole run RUN_MS. The output bound
	 * (max_unsent_bytes, 1 MiB by default) is raised past a window's worth: none is shed. */
	enum {
		CALLS = 5000,
		LABEL = 8192,
		WINDOW = 256,
		CALL_DEADLINE_MS = 10000,
		RUN_MS = 20000,
	};
	mesh_client *c = loop_client_with(&sample__echo__descriptor, url,
					  (mesh_client_opts){.max_unsent_bytes = (size_t)64 << 20});
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

/* A loop server's method may defer its answer: the thread serves the connection's other calls
 * meanwhile, and each deferred call is answered once, later, to its own caller; nng's workers
 * cannot defer (ENOTSUP, answered at once). */
START_TEST(test_loop_server_defers_answers)
{
	enum { CALLS = 300 };
	char nng_url[sizeof(url)];
	mesh_server *nng_server;
	mesh_client *c = loop_client(&sample__echo__descriptor, url), *n;
	echo_result *r = calloc(CALLS, sizeof(*r));
	int before = completed;
	char want[32];
	for (int i = 0; i < CALLS; i++) {
		Sample__Inner in = SAMPLE__INNER__INIT;
		in.id = 1000 + i;
		/* deferred to a timer 50 ms away, to the end of the turn, or answered at once */
		in.label = (char *)(i % 3 == 0 ? "defer:50" : i % 3 == 1 ? "defer:0" : "now");
		sample__echo__get(mesh_client_service(c), &in, on_inner, &r[i]);
	}
	run_until(&completed, before + CALLS, WAIT_MS);
	for (int i = 0; i < CALLS; i++) {
		ck_assert_int_eq(r[i].called, 1);
		ck_assert_int_eq(r[i].rpc.status, MESH_OK);
		ck_assert_int_eq(r[i].id, 1000 + i);
		ck_assert_str_eq(r[i].label, i % 3 == 2 ? "echo:now:looper" : "later:looper");
	}
	ck_assert_int_eq(mesh_client_inflight(c), 0);
	mesh_client_free(c);
	free(r);

	snprintf(nng_url, sizeof(nng_url), "ipc://%s/nng.sock", dir);
	setenv("CLEAVE_MESH_TRANSPORT", "nng", 1);
	start_server_at(&nng_server, nng_url);
	unsetenv("CLEAVE_MESH_TRANSPORT");
	n = loop_client(&sample__echo__descriptor, nng_url);
	{
		echo_result one;
		call_get(n, 7, "defer:0", &one);
		ck_assert_int_eq(one.rpc.status, MESH_OK);
		snprintf(want, sizeof(want), "now:%d", ENOTSUP);
		ck_assert_str_eq(one.label, want);
	}
	mesh_client_free(n);
	mesh_server_free(nng_server);
}
END_TEST

/* A deferred call whose caller goes away is answered into nothing, and the server goes on. */
START_TEST(test_loop_server_deferred_reply_to_a_closed_connection_is_dropped)
{
	mesh_client *c = loop_client(&sample__echo__descriptor, url);
	echo_result r[4], ok;
	memset(r, 0, sizeof(r));
	for (int i = 0; i < 4; i++) {
		Sample__Inner in = SAMPLE__INNER__INIT;
		in.id = 1000 + i;
		in.label = (char *)"defer:200";
		sample__echo__get(mesh_client_service(c), &in, on_inner, &r[i]);
	}
	for (int i = 0; i < 5; i++)
		mesh_epoll_run(ep, 10); /* the calls go out */
	mesh_client_cancel(c, &r[0].rpc);
	mesh_client_cancel(c, &r[1].rpc);
	mesh_client_cancel(c, &r[2].rpc);
	mesh_client_cancel(c, &r[3].rpc);
	mesh_client_free(c); /* closes the connection; the server's timers fire later */
	harness_sleep_ms(300);
	c = loop_client(&sample__echo__descriptor, url);
	call_get(c, 5, "defer:0", &ok);
	ck_assert_int_eq(ok.rpc.status, MESH_OK);
	ck_assert_str_eq(ok.label, "later:looper");
	call_get(c, 6, "plain", &ok);
	ck_assert_str_eq(ok.label, "echo:plain:looper");
	mesh_client_free(c);
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

/* ---- cancelling calls ----------------------------------------------------------------------- */

/* invoke_slow invokes Echo.Slow (the method sleeps id milliseconds) into r. */
static void invoke_slow(mesh_client *c, int64_t id, echo_result *r)
{
	Sample__Inner in = SAMPLE__INNER__INIT;
	memset(r, 0, sizeof(*r));
	in.id = id;
	sample__echo__slow(mesh_client_service(c), &in, on_inner, r);
}

/* turn_for turns the loop for ms milliseconds. */
static void turn_for(int ms)
{
	long long until = harness_now_ms() + ms;
	while (harness_now_ms() < until)
		mesh_epoll_run(ep, 10);
}

START_TEST(test_loop_cancel_before_sending_never_sends)
{
	mesh_client *c = loop_client(&sample__echo__descriptor, url);
	echo_result r, after;
	invoke_slow(c, 50, &r);
	ck_assert_int_eq(mesh_client_inflight(c), 1);
	/* in the same turn: the frame still waits in the connection's output */
	ck_assert_int_eq(mesh_client_cancel(c, &r.rpc), 0);
	ck_assert_int_eq(mesh_client_inflight(c), 0);
	ck_assert_int_eq(mesh_client_cancel(c, &r.rpc), ENOENT);
	turn_for(300);
	ck_assert_int_eq(r.called, 0);
	ck_assert_int_eq(atomic_load(&echo_slow_started), 0); /* it never went out */
	call_get(c, 5, "next", &after);
	ck_assert_int_eq(after.rpc.status, MESH_OK);
	ck_assert_int_eq(after.id, 5);
	mesh_client_free(c);
}
END_TEST

START_TEST(test_loop_cancel_takes_one_frame_out_of_many)
{
	enum { CALLS = 9 };
	mesh_client *c = loop_client(&sample__echo__descriptor, url);
	echo_result r[CALLS];
	int before = completed;
	for (int i = 0; i < CALLS; i++) {
		Sample__Inner in = SAMPLE__INNER__INIT;
		char label[16];
		memset(&r[i], 0, sizeof(r[i]));
		snprintf(label, sizeof(label), "c%d", i);
		in.id = 100 + i;
		in.label = label;
		sample__echo__get(mesh_client_service(c), &in, on_inner, &r[i]);
	}
	/* the first, one in the middle and the last frames of the turn */
	ck_assert_int_eq(mesh_client_cancel(c, &r[0].rpc), 0);
	ck_assert_int_eq(mesh_client_cancel(c, &r[4].rpc), 0);
	ck_assert_int_eq(mesh_client_cancel(c, &r[CALLS - 1].rpc), 0);
	ck_assert_int_eq(mesh_client_inflight(c), CALLS - 3);
	run_until(&completed, before + CALLS - 3, 5000);
	turn_for(100);
	for (int i = 0; i < CALLS; i++) {
		char want[32];
		if (i == 0 || i == 4 || i == CALLS - 1) {
			ck_assert_int_eq(r[i].called, 0);
			continue;
		}
		snprintf(want, sizeof(want), "echo:c%d:looper", i);
		ck_assert_int_eq(r[i].called, 1);
		ck_assert_int_eq(r[i].rpc.status, MESH_OK);
		ck_assert_int_eq(r[i].id, 100 + i);
		ck_assert_str_eq(r[i].label, want);
	}
	ck_assert_int_eq(mesh_client_inflight(c), 0);
	mesh_client_free(c);
}
END_TEST

START_TEST(test_loop_cancel_after_sending_drops_the_late_reply)
{
	enum { AFTER = 50 };
	mesh_client *c = loop_client(&sample__echo__descriptor, url);
	mesh_instance_info info;
	echo_result r, *after = calloc(AFTER, sizeof(*after));
	long long until;
	int before;
	invoke_slow(c, 200, &r);
	until = harness_now_ms() + 3000;
	while (atomic_load(&echo_slow_started) == 0 && harness_now_ms() < until)
		mesh_epoll_run(ep, 10);
	ck_assert_int_eq(atomic_load(&echo_slow_started), 1); /* it went out */
	ck_assert_int_eq(mesh_client_cancel(c, &r.rpc), 0);
	ck_assert_int_eq(mesh_client_inflight(c), 0); /* its slot is the caller's no more */
	ck_assert_int_eq(mesh_client_cancel(c, &r.rpc), ENOENT);
	memset(&r, 0xa5, sizeof(r)); /* the caller may reuse or free it now */
	/* calls made while the cancelled one is served get their own answers, then its reply
	 * comes and goes nowhere */
	before = completed;
	for (int i = 0; i < AFTER; i++) {
		Sample__Inner in = SAMPLE__INNER__INIT;
		char label[16];
		snprintf(label, sizeof(label), "a%d", i);
		in.id = 1000 + i;
		in.label = label;
		sample__echo__get(mesh_client_service(c), &in, on_inner, &after[i]);
	}
	run_until(&completed, before + AFTER, 5000);
	turn_for(100);
	ck_assert_int_eq(completed, before + AFTER);
	for (int i = 0; i < AFTER; i++) {
		char want[32];
		snprintf(want, sizeof(want), "echo:a%d:looper", i);
		ck_assert_int_eq(after[i].called, 1);
		ck_assert_int_eq(after[i].rpc.status, MESH_OK);
		ck_assert_str_eq(after[i].label, want);
	}
	ck_assert_int_eq(mesh_client_inflight(c), 0);
	ck_assert_uint_eq(mesh_client_instance_info(c, &info, 1), 1);
	ck_assert_int_eq(info.inflight, 0); /* the cancelled call's reply came and was dropped */
	free(after);
	mesh_client_free(c);
}
END_TEST

START_TEST(test_loop_cancel_of_a_call_that_failed_before_sending)
{
	mesh_client_opts opts = {.loop = mesh_epoll_loop(ep)};
	mesh_client *c;
	echo_result r, done_r;
	char nowhere[300];
	snprintf(nowhere, sizeof(nowhere), "ipc://%s/nobody.sock", dir);
	ck_assert_int_eq(mesh_client_new(&c, &sample__echo__descriptor, &opts), 0);
	ck_assert_int_eq(mesh_client_dial(c, nowhere), 0);
	invoke_slow(c, 1, &r); /* UNAVAILABLE, its closure due after this turn */
	ck_assert_int_eq(mesh_client_cancel(c, &r.rpc), 0);
	ck_assert_int_eq(mesh_client_inflight(c), 0);
	turn_for(100);
	ck_assert_int_eq(r.called, 0);
	/* one not cancelled still ends, and cancelling it afterwards is too late */
	call_get(c, 1, "x", &done_r);
	ck_assert_int_eq(done_r.rpc.status, MESH_UNAVAILABLE);
	ck_assert_int_eq(mesh_client_cancel(c, &done_r.rpc), ENOENT);
	mesh_client_free(c);
}
END_TEST

/* raw_peer: an SP REP peer made by hand on an ipc socket, to misbehave. */
typedef struct raw_peer {
	char url[256];
	int listen_fd;
	int fd;
} raw_peer;

static void raw_peer_listen(raw_peer *p, const char *name)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	ck_assert_int_lt(snprintf(a.sun_path, sizeof(a.sun_path), "%.60s/%.40s", dir, name),
			 (int)sizeof(a.sun_path));
	snprintf(p->url, sizeof(p->url), "ipc://%s", a.sun_path);
	p->fd = -1;
	p->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	ck_assert_int_ge(p->listen_fd, 0);
	ck_assert_int_eq(bind(p->listen_fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(p->listen_fd, 4), 0);
}

/* raw_peer_connect dials p with a new loop client (opts) and, turning the loop, accepts it and
 * greets it as REP; the peer reads nothing more unless told to. */
static mesh_client *raw_peer_connect(raw_peer *p, mesh_client_opts opts)
{
	static const uint8_t rep_greeting[8] = {0, 'S', 'P', 0, 0, 0x31, 0, 0};
	uint8_t greeting[8];
	long long until = harness_now_ms() + 3000;
	mesh_client *c;
	opts.loop = mesh_epoll_loop(ep);
	ck_assert_int_eq(mesh_client_new(&c, &sample__echo__descriptor, &opts), 0);
	ck_assert_int_eq(mesh_client_dial(c, p->url), 0);
	while (p->fd < 0 && harness_now_ms() < until) {
		mesh_epoll_run(ep, 10);
		p->fd = accept(p->listen_fd, NULL, NULL);
	}
	ck_assert_int_ge(p->fd, 0);
	ck_assert_int_eq(write(p->fd, rep_greeting, sizeof(rep_greeting)), 8);
	while (mesh_client_instances(c) == 0 && harness_now_ms() < until)
		mesh_epoll_run(ep, 10);
	ck_assert_int_eq(mesh_client_instances(c), 1);
	ck_assert_int_eq(recv(p->fd, greeting, sizeof(greeting), MSG_DONTWAIT), 8);
	return c;
}

static void raw_peer_close(raw_peer *p)
{
	if (p->fd >= 0)
		close(p->fd);
	close(p->listen_fd);
}

START_TEST(test_loop_unsent_bytes_are_bounded)
{
	/* an instance that takes no more bytes: calls fill its socket, then its connection's
	 * output up to max_unsent_bytes; past that, calls end at once, UNAVAILABLE, shed */
	enum { CALLS = 200, LABEL = 16384, BOUND = 256 << 10 };
	raw_peer p;
	mesh_client *c;
	echo_result *r = calloc(CALLS, sizeof(*r));
	char *label = malloc(LABEL + 1);
	int taken = 0, shed = 0;
	raw_peer_listen(&p, "deaf.sock");
	c = raw_peer_connect(&p, (mesh_client_opts){.max_unsent_bytes = BOUND});
	memset(label, 'u', LABEL);
	label[LABEL] = '\0';
	for (int i = 0; i < CALLS; i++) {
		Sample__Inner in = SAMPLE__INNER__INIT;
		in.id = i + 1;
		in.label = label;
		sample__echo__get(mesh_client_service(c), &in, on_inner, &r[i]);
		mesh_epoll_run(ep, 0); /* each turn writes what the socket takes */
	}
	turn_for(100);
	for (int i = 0; i < CALLS; i++) {
		if (r[i].called == 0) {
			taken++;
			continue;
		}
		ck_assert_int_eq(r[i].rpc.status, MESH_UNAVAILABLE);
		ck_assert_msg(strstr(r[i].rpc.message, "max_unsent_bytes") != NULL, "%s",
			      r[i].rpc.message);
		shed++;
	}
	/* what the kernel took, and the bound: about 20 calls of 16 KiB, not 200 */
	ck_assert_msg(taken > 0 && taken < CALLS / 2, "%d calls taken, %d shed", taken, shed);
	ck_assert_int_eq(mesh_client_inflight(c), taken);
	/* the calls still waiting in the output are taken back out when cancelled */
	for (int i = 0; i < CALLS; i++)
		if (r[i].called == 0)
			ck_assert_int_eq(mesh_client_cancel(c, &r[i].rpc), 0);
	ck_assert_int_eq(mesh_client_inflight(c), 0);
	turn_for(50);
	for (int i = 0; i < CALLS; i++)
		ck_assert_int_le(r[i].called, 1);
	mesh_client_free(c);
	raw_peer_close(&p);
	free(label);
	free(r);
}
END_TEST

/* raw_peer_read_calls reads n call frames the client sent p into ids (their SP request ids),
 * turning the loop meanwhile. */
static void raw_peer_read_calls(raw_peer *p, uint32_t *ids, int n)
{
	uint8_t buf[65536];
	size_t len = 0;
	long long until = harness_now_ms() + 3000;
	int got = 0;
	while (got < n && harness_now_ms() < until) {
		ssize_t k;
		mesh_epoll_run(ep, 5);
		k = recv(p->fd, buf + len, sizeof(buf) - len, MSG_DONTWAIT);
		if (k > 0)
			len += (size_t)k;
		while (got < n && len >= 13) {
			uint64_t flen = 0;
			for (int i = 1; i < 9; i++)
				flen = flen << 8 | buf[i];
			if (len < 9 + flen)
				break;
			ids[got++] = (uint32_t)buf[9] << 24 | (uint32_t)buf[10] << 16 |
				     (uint32_t)buf[11] << 8 | buf[12];
			memmove(buf, buf + 9 + flen, len - 9 - flen);
			len -= 9 + flen;
		}
	}
	ck_assert_int_eq(got, n);
}

/* raw_peer_send writes len bytes to the client, turning the loop while its socket is full. */
static void raw_peer_send(raw_peer *p, const uint8_t *data, size_t len)
{
	long long until = harness_now_ms() + 10000;
	while (len > 0 && harness_now_ms() < until) {
		ssize_t k = send(p->fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (k > 0) {
			data += k;
			len -= (size_t)k;
		}
		mesh_epoll_run(ep, 0);
	}
	ck_assert_uint_eq(len, 0);
}

/* frame_header writes an ipc frame's header for a payload of len bytes and the request id. */
static void frame_header(uint8_t h[13], uint64_t len, uint32_t id)
{
	h[0] = 1;
	for (int i = 0; i < 8; i++)
		h[1 + i] = (uint8_t)(len >> (56 - 8 * i));
	h[9] = (uint8_t)(id >> 24);
	h[10] = (uint8_t)(id >> 16);
	h[11] = (uint8_t)(id >> 8);
	h[12] = (uint8_t)id;
}

START_TEST(test_loop_reply_over_max_reply_bytes_fails_its_call_alone)
{
	enum { HUGE = 5 << 20 }; /* over the 4 MiB default */
	raw_peer p;
	mesh_client *c;
	echo_result a, b;
	uint32_t ids[2];
	uint8_t h[13], *junk = calloc(1, HUGE), reply[256];
	size_t payload_len,
	    rlen = meshi_envelope_reply_size(MESH_NOT_FOUND, "fine", NULL, &payload_len);
	raw_peer_listen(&p, "huge.sock");
	c = raw_peer_connect(&p, (mesh_client_opts){0});
	invoke_slow(c, 1, &a);
	invoke_slow(c, 2, &b);
	raw_peer_read_calls(&p, ids, 2);
	/* a's reply announces 5 MiB: a fails, the bytes are dropped as they come */
	frame_header(h, (uint64_t)HUGE + 4, ids[0]);
	raw_peer_send(&p, h, sizeof(h));
	raw_peer_send(&p, junk, HUGE);
	run_until(&a.called, 1, 2000);
	ck_assert_int_eq(a.rpc.status, MESH_RESOURCE_EXHAUSTED);
	ck_assert_msg(strstr(a.rpc.message, "max_reply_bytes") != NULL, "%s", a.rpc.message);
	ck_assert_int_eq(b.called, 0);
	/* the connection stays: b's reply, after the junk, is read */
	ck_assert_uint_lt(rlen, sizeof(reply) - 13);
	frame_header(reply, rlen + 4, ids[1]);
	meshi_envelope_reply_write(reply + 13, MESH_NOT_FOUND, "fine", NULL, payload_len);
	raw_peer_send(&p, reply, 13 + rlen);
	run_until(&b.called, 1, 2000);
	ck_assert_int_eq(b.rpc.status, MESH_NOT_FOUND);
	ck_assert_str_eq(b.rpc.message, "fine");
	ck_assert_int_eq(mesh_client_instances(c), 1);
	ck_assert_int_eq(mesh_client_inflight(c), 0);
	mesh_client_free(c);
	raw_peer_close(&p);
	free(junk);
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
	tcase_add_test(tc, test_loop_server_defers_answers);
	tcase_add_test(tc, test_loop_server_deferred_reply_to_a_closed_connection_is_dropped);
	tcase_add_test(tc, test_loop_survives_full_socket_buffers);
	tcase_add_test(tc, test_loop_no_instance_fails_fast);
	tcase_add_test(tc, test_loop_deadline_exceeded_and_late_reply_dropped);
	tcase_add_test(tc, test_loop_past_deadline_is_not_sent);
	tcase_add_test(tc, test_loop_lost_connection_is_unavailable_and_never_resent);
	tcase_add_test(tc, test_loop_client_talks_to_an_nng_server);
	tcase_add_test(tc, test_loop_cancel_before_sending_never_sends);
	tcase_add_test(tc, test_loop_cancel_takes_one_frame_out_of_many);
	tcase_add_test(tc, test_loop_cancel_after_sending_drops_the_late_reply);
	tcase_add_test(tc, test_loop_cancel_of_a_call_that_failed_before_sending);
	tcase_add_test(tc, test_loop_unsent_bytes_are_bounded);
	tcase_add_test(tc, test_loop_reply_over_max_reply_bytes_fails_its_call_alone);
	tcase_add_test(tc, test_loop_over_tcp_and_spread_over_instances);
	tcase_add_test(tc, test_loop_request_id_reaches_loop_and_nng_servers);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return harness_run_suite(mesh_loop_suite(), 0);
}
