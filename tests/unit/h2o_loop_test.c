/* h2o_loop_test.c: mesh clients on the edge's h2o loop adapter, including full socket buffers. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <h2o.h>
#include <h2o/socket/evloop.h>

#include "echo.h"
#include "h2o_loop.h"
#include "harness.h"
#include "mesh.h"
#include "sample.pb-c.h"

static char dir[128];
static char url[256];
static mesh_server *server;
static h2o_evloop_t *evloop;
static h2o_mesh_loop *adapter;

static void setup(void)
{
	ck_assert_int_eq(harness_tmpdir(dir, sizeof(dir)), 0);
	snprintf(url, sizeof(url), "ipc://%s/echo.sock", dir);
	ck_assert_int_eq(echo_server_new(&server, NULL), 0);
	ck_assert_int_eq(mesh_server_listen(server, url), 0);
	ck_assert_int_eq(mesh_server_start(server), 0);
	evloop = h2o_evloop_create();
	adapter = h2o_mesh_loop_new(evloop);
	ck_assert_ptr_nonnull(adapter);
}

static void teardown(void)
{
	mesh_server_free(server);
	h2o_mesh_loop_free(adapter);
	harness_rmtree(dir);
	/* the h2o loop is left to the process's exit: h2o 2.2 disposes of sockets lazily */
}

typedef struct result {
	mesh_rpc rpc;
	int64_t id;
	size_t label_len;
} result;

static int done;

static void on_inner(const Sample__Inner *reply, void *closure_data)
{
	result *r = closure_data;
	done++;
	if (reply != NULL) {
		r->id = reply->id;
		r->label_len = strlen(reply->label);
	}
}

static void run_until(int want, int timeout_ms)
{
	long long until = harness_now_ms() + timeout_ms;
	while (done < want && harness_now_ms() < until)
		h2o_evloop_run(evloop, 10);
}

/* connected_with returns a client with max_unsent (0: the default) connected to the server. */
static mesh_client *connected_with(size_t max_unsent)
{
	mesh_client_opts opts = {
	    .caller = "h2o", .loop = h2o_mesh_loop_get(adapter), .max_unsent_bytes = max_unsent};
	mesh_client *c;
	long long until = harness_now_ms() + 5000;
	ck_assert_int_eq(mesh_client_new(&c, &sample__echo__descriptor, &opts), 0);
	ck_assert_int_eq(mesh_client_dial(c, url), 0);
	while (mesh_client_instances(c) == 0 && harness_now_ms() < until)
		h2o_evloop_run(evloop, 10);
	ck_assert_int_eq(mesh_client_instances(c), 1);
	return c;
}

static mesh_client *connected(void)
{
	return connected_with(0);
}

START_TEST(test_h2o_loop_calls_complete_on_the_loop)
{
	mesh_client *c = connected();
	Sample__Inner in = SAMPLE__INNER__INIT;
	result r = {0};
	in.id = 42;
	in.label = "x";
	done = 0;
	sample__echo__get(mesh_client_service(c), &in, on_inner, &r);
	ck_assert_int_eq(done, 0);
	run_until(1, 5000);
	ck_assert_int_eq(done, 1);
	ck_assert_int_eq(r.rpc.status, MESH_OK);
	ck_assert_int_eq(r.id, 42);
	mesh_client_free(c);
}
END_TEST

START_TEST(test_h2o_loop_survives_full_socket_buffers)
{
	/* 20000 calls of 4 KiB each, WINDOW of them in flight at a time: 1 MiB written in one
	 * turn, far past a unix socket's buffer, so writes hit EAGAIN and continue when the loop
	 * reports the socket writable. The window is refilled as calls complete, so no call waits
	 * behind thousands of others: each has CALL_DEADLINE_MS of its own, and the whole run
	 * RUN_MS. The output bound (max_unsent_bytes, 1 MiB by default) is raised past a
	 * window's worth: no call is shed here. */
	enum {
		CALLS = 20000,
		LABEL = 4096,
		WINDOW = 256,
		CALL_DEADLINE_MS = 10000,
		RUN_MS = 60000,
	};
	mesh_client *c = connected_with((size_t)128 << 20);
	result *r = calloc(CALLS, sizeof(*r));
	char *label = malloc(LABEL + 1);
	long long until = harness_now_ms() + RUN_MS;
	int sent = 0;
	memset(label, 'a', LABEL);
	label[LABEL] = '\0';
	done = 0;
	while (done < CALLS && harness_now_ms() < until) {
		for (; sent < CALLS && sent - done < WINDOW; sent++) {
			Sample__Inner in = SAMPLE__INNER__INIT;
			in.id = 1000 + sent;
			in.label = label;
			r[sent].rpc.deadline_us = mesh_now_us() + CALL_DEADLINE_MS * 1000LL;
			sample__echo__get(mesh_client_service(c), &in, on_inner, &r[sent]);
		}
		h2o_evloop_run(evloop, 10);
	}
	ck_assert_msg(done == CALLS, "%d of %d calls done within %d s", done, CALLS, RUN_MS / 1000);
	for (int i = 0; i < CALLS; i++) {
		ck_assert_msg(r[i].rpc.status == MESH_OK, "call %d: %s %s", i,
			      mesh_status_name(r[i].rpc.status), r[i].rpc.message);
		ck_assert_int_eq(r[i].id, 1000 + i);
		ck_assert_uint_eq(r[i].label_len, 127); /* Echo answers at most 127 bytes */
	}
	ck_assert_int_eq(mesh_client_inflight(c), 0);
	free(label);
	free(r);
	mesh_client_free(c);
}
END_TEST

static int polled_in_closure;

static void on_inner_polling(const Sample__Inner *reply, void *closure_data)
{
	on_inner(reply, closure_data);
	polled_in_closure = h2o_mesh_loop_poll(adapter); /* refused: this is a client's callback */
}

START_TEST(test_h2o_loop_poll_takes_replies_between_turns)
{
	/* The edge reads replies between client events with h2o_mesh_loop_poll, without a turn of
	 * the loop: a call is written in one turn; its reply, which comes after the turn's reply
	 * pump gave up waiting (Slow answers 500 ms later), is left in the socket and taken by the
	 * poll alone. */
	mesh_client *c = connected();
	Sample__Inner in = SAMPLE__INNER__INIT;
	result r;
	memset(&r, 0, sizeof(r));
	done = 0;
	ck_assert_int_eq(h2o_mesh_loop_poll(adapter), 0); /* nothing to read */
	in.id = 500;
	in.label = "poll";
	sample__echo__slow(mesh_client_service(c), &in, on_inner_polling, &r);
	h2o_evloop_run(evloop, 0); /* writes the call; the pump waits 100 us at most */
	ck_assert_int_eq(done, 0);
	harness_sleep_ms(1500); /* the reply is in the socket now */
	ck_assert_int_eq(h2o_mesh_loop_poll(adapter), 1);
	ck_assert_int_eq(done, 1);
	ck_assert_int_eq(r.rpc.status, MESH_OK);
	ck_assert_int_eq(r.id, 500);
	ck_assert_int_eq(polled_in_closure, 0);
	ck_assert_int_eq(h2o_mesh_loop_poll(adapter), 0);
	ck_assert_int_eq(mesh_client_inflight(c), 0);
	mesh_client_free(c);
	ck_assert_int_eq(h2o_mesh_loop_poll(adapter), 0); /* no socket watched any more */
}
END_TEST

static Suite *h2o_loop_suite(void)
{
	Suite *s = suite_create("h2o_loop");
	TCase *tc = tcase_create("h2o_loop");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 90);
	tcase_add_test(tc, test_h2o_loop_calls_complete_on_the_loop);
	tcase_add_test(tc, test_h2o_loop_survives_full_socket_buffers);
	tcase_add_test(tc, test_h2o_loop_poll_takes_replies_between_turns);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return harness_run_suite(h2o_loop_suite(), 0);
}
