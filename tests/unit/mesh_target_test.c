/* mesh_target_test.c: a loop client as a load balancer's target group: health checks, fail-open
 * balancing, draining, undialing and instance states.
 *
 * Every instance is a child process, forked before the test process starts any thread: real
 * Echo servers (hung with SIGSTOP), and a fake instance whose Health answers UNAVAILABLE while
 * a flag file exists. The client runs on mesh_epoll in the test process. Waits are bounded
 * polls; no assertion depends on the machine being fast. */
#include <signal.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "echo.h"
#include "harness.h"
#include "mesh.h"
#include "mesh.pb-c.h"
#include "sample.pb-c.h"

#define MAX_CHILDREN 8

static char dir[128];
static char url_a[256], url_b[256], sick_flag[256];
static mesh_epoll *ep;
static pid_t children[MAX_CHILDREN];

/* checks: health checks with margins that hold on a loaded machine: a check has a second to
 * be answered (an answer takes milliseconds), and runs every CHECK_INTERVAL_MS. A hung instance
 * is unhealthy after two timeouts, about 2 s, and taken for dead a timeout later. */
enum { CHECK_INTERVAL_MS = 250, CHECK_TIMEOUT_MS = 1000 };
static const mesh_health_opts checks = {
    .interval_ms = CHECK_INTERVAL_MS,
    .timeout_ms = CHECK_TIMEOUT_MS,
    .healthy_threshold = 2,
    .unhealthy_threshold = 2,
};

/* WAIT_MS bounds every wait for a state: several times the slowest change the tests expect (a
 * hung instance taken for dead after three check timeouts). CALL_TIMEOUT_MS is the deadline of
 * the tests' calls; a call is waited for past it. */
enum { WAIT_MS = 10000, CALL_TIMEOUT_MS = 5000 };

/* ---- instances in child processes ----------------------------------------------------------- */

/* fork_child forks a child that dies with the test process; returns 0 in the child. */
static pid_t fork_child(void)
{
	pid_t parent = getpid();
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		return 0;
	}
	for (int i = 0; i < MAX_CHILDREN; i++) {
		if (children[i] == 0) {
			children[i] = pid;
			return pid;
		}
	}
	ck_abort_msg("too many children");
	return -1;
}

static void stop_child(pid_t pid)
{
	for (int i = 0; i < MAX_CHILDREN; i++) {
		if (children[i] == pid) {
			children[i] = 0;
			kill(pid, SIGCONT);
			harness_stop(pid, SIGKILL, 2000);
		}
	}
}

/* serve_echo starts a real Echo server at where in a child process. */
static pid_t serve_echo(const char *where)
{
	mesh_server *s;
	pid_t pid = fork_child();
	if (pid != 0)
		return pid;
	if (echo_server_new(&s, NULL) != 0 || mesh_server_listen(s, where) != 0 ||
	    mesh_server_start(s) != 0)
		_exit(2);
	for (;;)
		pause();
}

/* fake_answer turns one mesh.Call into the fake's mesh.Reply, packed into msg's body. */
static void fake_answer(nng_msg *msg)
{
	Mesh__Call *call = mesh__call__unpack(NULL, nng_msg_len(msg), nng_msg_body(msg));
	Mesh__Reply reply = MESH__REPLY__INIT;
	uint8_t payload[512], *packed;
	char label[200];
	size_t len;
	if (call == NULL) {
		reply.status = MESH__STATUS__INVALID_ARGUMENT;
	} else if (strcmp(call->service, "mesh.Mesh") == 0 && strcmp(call->method, "Health") == 0) {
		Mesh__HealthReply health = MESH__HEALTH_REPLY__INIT;
		if (access(sick_flag, F_OK) == 0) {
			reply.status = MESH__STATUS__UNAVAILABLE;
			reply.message = "sick";
		} else {
			health.service = "sample.Echo";
			health.pid = getpid();
			reply.payload.data = payload;
			reply.payload.len = mesh__health_reply__pack(&health, payload);
		}
	} else if (strcmp(call->service, "sample.Echo") == 0 && strcmp(call->method, "Get") == 0) {
		Sample__Inner *in =
		    sample__inner__unpack(NULL, call->payload.len, call->payload.data);
		Sample__Inner out = SAMPLE__INNER__INIT;
		if (in == NULL)
			_exit(4);
		snprintf(label, sizeof(label), "fake:%.100s", in->label);
		out.id = in->id;
		out.label = label;
		reply.payload.data = payload;
		reply.payload.len = sample__inner__pack(&out, payload);
		sample__inner__free_unpacked(in, NULL);
	} else {
		reply.status = MESH__STATUS__UNIMPLEMENTED;
		reply.message = "the fake answers Health and Get";
	}
	len = mesh__reply__get_packed_size(&reply);
	packed = malloc(len + 1);
	if (packed == NULL)
		_exit(5);
	mesh__reply__pack(&reply, packed);
	nng_msg_clear(msg);
	nng_msg_append(msg, packed, len);
	free(packed);
	if (call != NULL)
		mesh__call__free_unpacked(call, NULL);
}

/* serve_fake starts, in a child process, an instance of sample.Echo (Get only: "fake:<label>")
 * whose Health answers UNAVAILABLE while the file sick_flag exists. */
static pid_t serve_fake(const char *where)
{
	nng_socket sock;
	pid_t pid = fork_child();
	if (pid != 0)
		return pid;
	if (nng_rep0_open(&sock) != 0 || nng_listen(sock, where, NULL, 0) != 0)
		_exit(2);
	for (;;) {
		nng_msg *msg;
		if (nng_recvmsg(sock, &msg, 0) != 0)
			_exit(3);
		fake_answer(msg);
		if (nng_sendmsg(sock, msg, 0) != 0)
			nng_msg_free(msg);
	}
}

static void set_sick(int sick)
{
	if (sick) {
		FILE *f = fopen(sick_flag, "w");
		ck_assert_ptr_nonnull(f);
		fclose(f);
	} else {
		ck_assert_int_eq(unlink(sick_flag), 0);
	}
}

/* ---- fixture and helpers -------------------------------------------------------------------- */

static void setup(void)
{
	ck_assert_int_eq(harness_tmpdir(dir, sizeof(dir)), 0);
	snprintf(url_a, sizeof(url_a), "ipc://%s/a.sock", dir);
	snprintf(url_b, sizeof(url_b), "ipc://%s/b.sock", dir);
	snprintf(sick_flag, sizeof(sick_flag), "%s/sick", dir);
	memset(children, 0, sizeof(children));
	ck_assert_int_eq(mesh_epoll_new(&ep), 0);
}

static void teardown(void)
{
	for (int i = 0; i < MAX_CHILDREN; i++) {
		if (children[i] != 0)
			stop_child(children[i]);
	}
	mesh_epoll_free(ep);
	harness_rmtree(dir);
}

static mesh_client *new_client(const mesh_health_opts *health)
{
	mesh_client_opts opts = {
	    .caller = "lb", .loop = mesh_epoll_loop(ep), .timeout_ms = CALL_TIMEOUT_MS};
	mesh_client *c;
	ck_assert_int_eq(mesh_client_new(&c, &sample__echo__descriptor, &opts), 0);
	if (health != NULL)
		ck_assert_int_eq(mesh_client_set_health(c, health), 0);
	return c;
}

/* info_of finds the instance dialed at url; returns 0 if the client lists none. */
static int info_of(const mesh_client *c, const char *url, mesh_instance_info *out)
{
	mesh_instance_info all[MAX_CHILDREN];
	size_t n = mesh_client_instance_info(c, all, MAX_CHILDREN);
	for (size_t i = 0; i < n && i < MAX_CHILDREN; i++) {
		if (strcmp(all[i].url, url) == 0) {
			*out = all[i];
			return 1;
		}
	}
	return 0;
}

static mesh_instance_state state_of(const mesh_client *c, const char *url)
{
	mesh_instance_info info;
	ck_assert_msg(info_of(c, url, &info), "%s is not listed", url);
	return info.state;
}

static uint64_t calls_of(const mesh_client *c, const char *url)
{
	mesh_instance_info info;
	ck_assert_msg(info_of(c, url, &info), "%s is not listed", url);
	return info.calls;
}

/* wait_state turns the loop until url's instance is in state want, for up to timeout_ms;
 * returns the milliseconds it took, or -1. */
static long long wait_state(mesh_client *c, const char *url, mesh_instance_state want,
			    int timeout_ms)
{
	long long start = harness_now_ms();
	mesh_instance_info info;
	do {
		if (info_of(c, url, &info) && info.state == want)
			return harness_now_ms() - start;
		mesh_epoll_run(ep, 5);
	} while (harness_now_ms() - start < timeout_ms);
	return -1;
}

static void expect_state(mesh_client *c, const char *url, mesh_instance_state want)
{
	ck_assert_msg(wait_state(c, url, want, WAIT_MS) >= 0, "%s: %s, not %s after %d s", url,
		      mesh_instance_state_name(state_of(c, url)), mesh_instance_state_name(want),
		      WAIT_MS / 1000);
}

/* run_for turns the loop for ms milliseconds. */
static void run_for(int ms)
{
	long long until = harness_now_ms() + ms;
	while (harness_now_ms() < until)
		mesh_epoll_run(ep, 5);
}

typedef struct echo_result {
	mesh_rpc rpc;
	int called;
	int64_t id;
	char label[128];
} echo_result;

static void on_inner(const Sample__Inner *reply, void *closure_data)
{
	echo_result *r = closure_data;
	r->called++;
	if (reply != NULL) {
		r->id = reply->id;
		snprintf(r->label, sizeof(r->label), "%s", reply->label);
	}
}

/* call_get calls Echo.Get and turns the loop until it completes. */
static void call_get(mesh_client *c, int64_t id, const char *label, echo_result *r)
{
	Sample__Inner in = SAMPLE__INNER__INIT;
	long long until = harness_now_ms() + CALL_TIMEOUT_MS + 5000;
	memset(r, 0, sizeof(*r));
	in.id = id;
	in.label = (char *)label;
	sample__echo__get(mesh_client_service(c), &in, on_inner, r);
	while (r->called == 0 && harness_now_ms() < until)
		mesh_epoll_run(ep, 5);
	ck_assert_int_eq(r->called, 1);
}

/* get_ok makes n Get calls, one after the other, and checks each answers OK. */
static void get_ok(mesh_client *c, int n)
{
	for (int i = 0; i < n; i++) {
		echo_result r;
		call_get(c, 1000 + i, "x", &r);
		ck_assert_msg(r.rpc.status == MESH_OK, "call %d: %s %s", i,
			      mesh_status_name(r.rpc.status), r.rpc.message);
		ck_assert_int_eq(r.id, 1000 + i);
	}
}

/* start_slow invokes Echo.Slow (ms milliseconds) and turns the loop once, so it is sent. */
static void start_slow(mesh_client *c, int ms, echo_result *r)
{
	Sample__Inner in = SAMPLE__INNER__INIT;
	memset(r, 0, sizeof(*r));
	in.id = ms;
	sample__echo__slow(mesh_client_service(c), &in, on_inner, r);
	mesh_epoll_run(ep, 0);
}

static void wait_called(echo_result *r, int timeout_ms)
{
	long long until = harness_now_ms() + timeout_ms;
	while (r->called == 0 && harness_now_ms() < until)
		mesh_epoll_run(ep, 5);
	ck_assert_int_eq(r->called, 1);
}

/* the url of the instance with a call in flight, among a and b */
static const char *busy_one(const mesh_client *c)
{
	mesh_instance_info a, b;
	ck_assert(info_of(c, url_a, &a) && info_of(c, url_b, &b));
	ck_assert_int_eq(a.inflight + b.inflight, 1);
	return a.inflight == 1 ? url_a : url_b;
}

typedef struct health_result {
	mesh_rpc rpc;
	int called;
	uint64_t calls;
} health_result;

static void on_health(const Mesh__HealthReply *reply, void *closure_data)
{
	health_result *h = closure_data;
	h->called++;
	if (reply != NULL)
		h->calls = reply->calls;
}

/* server_calls asks the instance at url how many calls it answered, its Health included. */
static uint64_t server_calls(const char *url)
{
	mesh_client_opts opts = {.loop = mesh_epoll_loop(ep)};
	Mesh__HealthRequest in = MESH__HEALTH_REQUEST__INIT;
	health_result h = {0};
	long long until = harness_now_ms() + WAIT_MS;
	mesh_client *c;
	ck_assert_int_eq(mesh_client_new(&c, &mesh__mesh__descriptor, &opts), 0);
	ck_assert_int_eq(mesh_client_dial(c, url), 0);
	while (mesh_client_instances(c) == 0 && harness_now_ms() < until)
		mesh_epoll_run(ep, 5);
	mesh__mesh__health(mesh_client_service(c), &in, on_health, &h);
	while (h.called == 0 && harness_now_ms() < until)
		mesh_epoll_run(ep, 5);
	ck_assert_int_eq(h.called, 1);
	ck_assert_int_eq(h.rpc.status, MESH_OK);
	mesh_client_free(c);
	return h.calls;
}

/* wait_checked turns the loop until the instance at url has answered n more calls than the
 * server_calls that ask it (the client's health checks, when nothing else calls it), for up to
 * WAIT_MS: n check rounds have passed. */
static void wait_checked(const char *url, uint64_t n)
{
	long long until = harness_now_ms() + WAIT_MS;
	uint64_t base = server_calls(url), asked = 0, calls;
	do {
		run_for(50);
		calls = server_calls(url);
		asked++;
	} while (calls - base - asked < n && harness_now_ms() < until);
	ck_assert_msg(calls - base - asked >= n, "%s answered %llu checks within %d s, not %llu",
		      url, (unsigned long long)(calls - base - asked), WAIT_MS / 1000,
		      (unsigned long long)n);
}

/* ---- tests ---------------------------------------------------------------------------------- */

START_TEST(test_target_new_instance_healthy_and_served)
{
	/* an interval far past the wait below: the first check is the one made on connecting */
	mesh_health_opts slow_checks = {.interval_ms = 60000, .timeout_ms = CHECK_TIMEOUT_MS};
	mesh_client *c = new_client(&slow_checks);
	mesh_instance_info info;
	echo_result r;
	long long took;
	ck_assert_int_eq(mesh_client_dial(c, url_a), 0);
	/* not there yet: starting, and calls fail fast */
	ck_assert_int_eq(state_of(c, url_a), MESH_INSTANCE_STARTING);
	call_get(c, 1, "x", &r);
	ck_assert_int_eq(r.rpc.status, MESH_UNAVAILABLE);
	serve_echo(url_a);
	/* the first check runs as soon as it connects, not an interval later */
	took = wait_state(c, url_a, MESH_INSTANCE_HEALTHY, WAIT_MS);
	ck_assert_msg(took >= 0, "not healthy within %d s with a 60 s interval: %s", WAIT_MS / 1000,
		      mesh_instance_state_name(state_of(c, url_a)));
	ck_assert_int_eq(mesh_client_instances(c), 1);
	get_ok(c, 5);
	call_get(c, 404, "x", &r);
	ck_assert_int_eq(r.rpc.status, MESH_NOT_FOUND);
	ck_assert(info_of(c, url_a, &info));
	ck_assert_str_eq(info.url, url_a);
	ck_assert_int_eq(info.state, MESH_INSTANCE_HEALTHY);
	ck_assert_int_eq(info.inflight, 0);
	ck_assert_int_eq(info.calls, 6);
	ck_assert_int_eq(info.errors, 1);
	ck_assert(info.since_us > 0 && info.since_us <= mesh_now_us());
	/* the client's calls count, its checks do not */
	ck_assert_int_eq(mesh_client_set_health(c, &checks), 0);
	wait_checked(url_a, 2);
	ck_assert(info_of(c, url_a, &info));
	ck_assert_int_eq(info.calls, 6);
	ck_assert_int_eq(info.errors, 1);
	ck_assert_int_eq(mesh_client_inflight(c), 0);
	/* a new instance becomes healthy and takes its share */
	serve_echo(url_b);
	ck_assert_int_eq(mesh_client_dial(c, url_b), 0);
	expect_state(c, url_b, MESH_INSTANCE_HEALTHY);
	get_ok(c, 20);
	ck_assert_msg(calls_of(c, url_b) >= 5, "b took %llu of 20",
		      (unsigned long long)calls_of(c, url_b));
	ck_assert_int_eq(calls_of(c, url_a) + calls_of(c, url_b), 26);
	/* a's server answered the checks too: more calls than the client counts */
	ck_assert_msg(server_calls(url_a) >= 6 + 3 + 1, "a answered only %llu calls",
		      (unsigned long long)server_calls(url_a));
	mesh_client_free(c);
}
END_TEST

START_TEST(test_target_failing_checks_unhealthy_then_back)
{
	mesh_health_opts opts = checks;
	mesh_client *c;
	long long took;
	uint64_t b_calls;
	opts.healthy_threshold = 4;
	c = new_client(&opts);
	serve_echo(url_a);
	serve_fake(url_b);
	ck_assert_int_eq(mesh_client_dial(c, url_a), 0);
	ck_assert_int_eq(mesh_client_dial(c, url_b), 0);
	expect_state(c, url_a, MESH_INSTANCE_HEALTHY);
	expect_state(c, url_b, MESH_INSTANCE_HEALTHY);
	/* b's checks answer UNAVAILABLE: after two of them it is unhealthy */
	set_sick(1);
	expect_state(c, url_b, MESH_INSTANCE_UNHEALTHY);
	b_calls = calls_of(c, url_b);
	get_ok(c, 20);
	ck_assert_int_eq(calls_of(c, url_b), b_calls); /* no call while a is healthy */
	/* four passes in a row, three intervals apart, make it healthy again: not sooner */
	set_sick(0);
	took = wait_state(c, url_b, MESH_INSTANCE_HEALTHY, WAIT_MS);
	ck_assert_msg(took >= 0, "not healthy again within %d s", WAIT_MS / 1000);
	ck_assert_msg(took >= 3 * CHECK_INTERVAL_MS - 10,
		      "healthy again after %lld ms: fewer than 4 passes?", took);
	get_ok(c, 20);
	ck_assert_msg(calls_of(c, url_b) > b_calls, "b took no call once healthy again");
	mesh_client_free(c);
}
END_TEST

START_TEST(test_target_hung_instance_times_out_and_recovers)
{
	mesh_client *c = new_client(&checks);
	pid_t b = serve_echo(url_b);
	uint64_t b_calls;
	serve_echo(url_a);
	ck_assert_int_eq(mesh_client_dial(c, url_a), 0);
	ck_assert_int_eq(mesh_client_dial(c, url_b), 0);
	expect_state(c, url_a, MESH_INSTANCE_HEALTHY);
	expect_state(c, url_b, MESH_INSTANCE_HEALTHY);
	ck_assert_int_eq(kill(b, SIGSTOP), 0);
	expect_state(c, url_b, MESH_INSTANCE_UNHEALTHY);
	/* still connected: unhealthy, not down; and no call waits on it */
	ck_assert_int_eq(mesh_client_instances(c), 2);
	b_calls = calls_of(c, url_b);
	get_ok(c, 20);
	ck_assert_int_eq(calls_of(c, url_b), b_calls);
	/* one more check unanswered: taken for dead (as after a link down), closed, redialed */
	expect_state(c, url_b, MESH_INSTANCE_DOWN);
	ck_assert_int_eq(mesh_client_instances(c), 1);
	ck_assert_int_eq(kill(b, SIGCONT), 0);
	expect_state(c, url_b, MESH_INSTANCE_HEALTHY);
	ck_assert_int_eq(mesh_client_instances(c), 2);
	mesh_client_free(c);
}
END_TEST

START_TEST(test_target_fails_open_when_none_is_healthy)
{
	mesh_client *c = new_client(&checks);
	echo_result r;
	set_sick(1);
	serve_fake(url_b);
	ck_assert_int_eq(mesh_client_dial(c, url_b), 0);
	/* never passed a check: starting, then unhealthy; served all along */
	expect_state(c, url_b, MESH_INSTANCE_UNHEALTHY);
	call_get(c, 7, "open", &r);
	ck_assert_int_eq(r.rpc.status, MESH_OK);
	ck_assert_str_eq(r.label, "fake:open");
	/* a healthy instance takes the calls back */
	serve_echo(url_a);
	ck_assert_int_eq(mesh_client_dial(c, url_a), 0);
	expect_state(c, url_a, MESH_INSTANCE_HEALTHY);
	for (int i = 0; i < 10; i++) {
		call_get(c, i, "back", &r);
		ck_assert_int_eq(r.rpc.status, MESH_OK);
		ck_assert_str_eq(r.label, "echo:back:lb");
	}
	/* the healthy one is undialed: fail open again, to the unhealthy one */
	ck_assert_int_eq(mesh_client_undial(c, url_a), 0);
	call_get(c, 8, "again", &r);
	ck_assert_int_eq(r.rpc.status, MESH_OK);
	ck_assert_str_eq(r.label, "fake:again");
	/* never to a draining one */
	ck_assert_int_eq(mesh_client_drain(c, url_b), 0);
	call_get(c, 9, "none", &r);
	ck_assert_int_eq(r.rpc.status, MESH_UNAVAILABLE);
	ck_assert_int_eq(calls_of(c, url_b), 2);
	mesh_client_free(c);
}
END_TEST

START_TEST(test_target_drain_stops_new_calls_and_lets_inflight_finish)
{
	mesh_client *c = new_client(&checks);
	mesh_instance_info info;
	echo_result slow;
	const char *busy, *other;
	uint64_t busy_calls;
	serve_echo(url_a);
	serve_echo(url_b);
	ck_assert_int_eq(mesh_client_dial(c, url_a), 0);
	ck_assert_int_eq(mesh_client_dial(c, url_b), 0);
	expect_state(c, url_a, MESH_INSTANCE_HEALTHY);
	expect_state(c, url_b, MESH_INSTANCE_HEALTHY);
	start_slow(c, 400, &slow);
	busy = busy_one(c);
	other = busy == url_a ? url_b : url_a;
	busy_calls = calls_of(c, busy);
	ck_assert_int_eq(mesh_client_drain(c, busy), 0);
	ck_assert(info_of(c, busy, &info));
	ck_assert_int_eq(info.state, MESH_INSTANCE_DRAINING);
	ck_assert_int_eq(info.inflight, 1);
	get_ok(c, 10);
	ck_assert_int_eq(calls_of(c, busy), busy_calls);
	/* the call in flight finishes normally */
	wait_called(&slow, 5000);
	ck_assert_int_eq(slow.rpc.status, MESH_OK);
	ck_assert_int_eq(slow.id, 400);
	ck_assert(info_of(c, busy, &info));
	ck_assert_int_eq(info.state, MESH_INSTANCE_DRAINING);
	ck_assert_int_eq(info.inflight, 0);
	ck_assert_int_eq(info.calls, busy_calls + 1);
	ck_assert_int_eq(state_of(c, other), MESH_INSTANCE_HEALTHY);
	/* drained, it stays listed, connected and draining, and takes nothing, while the other
	 * instance is checked twice (it is not) */
	wait_checked(other, 2);
	ck_assert_int_eq(state_of(c, busy), MESH_INSTANCE_DRAINING);
	ck_assert_int_eq(mesh_client_instances(c), 2);
	get_ok(c, 5);
	ck_assert_int_eq(calls_of(c, busy), busy_calls + 1);
	ck_assert_int_eq(mesh_client_drain(c, "ipc:///nowhere.sock"), ENOENT);
	/* dialing it again puts it back in service */
	ck_assert_int_eq(mesh_client_dial(c, busy), 0);
	ck_assert_uint_eq(mesh_client_instance_info(c, NULL, 0), 2);
	expect_state(c, busy, MESH_INSTANCE_HEALTHY);
	get_ok(c, 20);
	ck_assert(calls_of(c, busy) > busy_calls + 1);
	mesh_client_free(c);
}
END_TEST

START_TEST(test_target_undial_removes_after_inflight_completes)
{
	mesh_client *c = new_client(&checks);
	mesh_instance_info info;
	echo_result slow;
	const char *busy, *other;
	serve_echo(url_a);
	serve_echo(url_b);
	ck_assert_int_eq(mesh_client_dial(c, url_a), 0);
	ck_assert_int_eq(mesh_client_dial(c, url_b), 0);
	expect_state(c, url_a, MESH_INSTANCE_HEALTHY);
	expect_state(c, url_b, MESH_INSTANCE_HEALTHY);
	start_slow(c, 300, &slow);
	busy = busy_one(c);
	other = busy == url_a ? url_b : url_a;
	ck_assert_int_eq(mesh_client_undial(c, busy), 0);
	/* listed and connected while its call runs, but out of service */
	ck_assert(info_of(c, busy, &info));
	ck_assert_int_eq(info.state, MESH_INSTANCE_DRAINING);
	ck_assert_int_eq(info.inflight, 1);
	ck_assert_int_eq(mesh_client_instances(c), 2);
	get_ok(c, 10);
	ck_assert_int_eq(calls_of(c, other), 10);
	wait_called(&slow, 5000);
	ck_assert_int_eq(slow.rpc.status, MESH_OK);
	/* then gone for good: not listed, not connected, not reconnected */
	ck_assert_msg(!info_of(c, busy, &info), "still listed after its last call");
	ck_assert_uint_eq(mesh_client_instance_info(c, NULL, 0), 1);
	ck_assert_int_eq(mesh_client_instances(c), 1);
	/* two rounds of checks of the other instance: longer than a redial (its backoff is at
	 * most 200 ms) would take */
	wait_checked(other, 2);
	ck_assert_uint_eq(mesh_client_instance_info(c, NULL, 0), 1);
	ck_assert_int_eq(mesh_client_instances(c), 1);
	ck_assert_int_eq(mesh_client_undial(c, busy), ENOENT);
	/* an idle instance goes at once; then nothing is left to call */
	ck_assert_int_eq(mesh_client_undial(c, other), 0);
	ck_assert_uint_eq(mesh_client_instance_info(c, NULL, 0), 0);
	ck_assert_int_eq(mesh_client_instances(c), 0);
	{
		echo_result r;
		call_get(c, 1, "x", &r);
		ck_assert_int_eq(r.rpc.status, MESH_UNAVAILABLE);
	}
	/* a url can be dialed again after it was removed (the call above turned the loop, whose
	 * turn frees what was closed before it runs a failed call's closure) */
	ck_assert_int_eq(mesh_client_dial(c, busy), 0);
	expect_state(c, busy, MESH_INSTANCE_HEALTHY);
	get_ok(c, 3);
	mesh_client_free(c);
}
END_TEST

START_TEST(test_target_lost_instance_down_then_starting_again)
{
	mesh_client *c = new_client(&checks);
	pid_t b = serve_echo(url_b);
	mesh_instance_info info;
	int64_t healthy_since;
	serve_echo(url_a);
	ck_assert_int_eq(mesh_client_dial(c, url_a), 0);
	ck_assert_int_eq(mesh_client_dial(c, url_b), 0);
	expect_state(c, url_a, MESH_INSTANCE_HEALTHY);
	expect_state(c, url_b, MESH_INSTANCE_HEALTHY);
	ck_assert(info_of(c, url_b, &info));
	healthy_since = info.since_us;
	stop_child(b);
	expect_state(c, url_b, MESH_INSTANCE_DOWN);
	ck_assert(info_of(c, url_b, &info));
	ck_assert(info.since_us > healthy_since);
	get_ok(c, 10);
	serve_echo(url_b);
	expect_state(c, url_b, MESH_INSTANCE_HEALTHY);
	ck_assert_int_eq(mesh_client_instances(c), 2);
	mesh_client_free(c);
}
END_TEST

START_TEST(test_target_checks_off_keeps_plain_balancing)
{
	mesh_client *c = new_client(NULL);
	mesh_health_opts bad = {.interval_ms = 50, .timeout_ms = -1};
	pid_t b;
	serve_echo(url_a);
	b = serve_echo(url_b);
	ck_assert_int_eq(mesh_client_dial(c, url_a), 0);
	ck_assert_int_eq(mesh_client_dial(c, url_b), 0);
	/* without checks a connected instance is healthy at once */
	expect_state(c, url_a, MESH_INSTANCE_HEALTHY);
	expect_state(c, url_b, MESH_INSTANCE_HEALTHY);
	ck_assert_int_eq(mesh_client_set_health(c, &bad), EINVAL);
	/* checks on, then a hung instance is unhealthy; checks off, it is eligible again */
	ck_assert_int_eq(mesh_client_set_health(c, &checks), 0);
	ck_assert_int_eq(kill(b, SIGSTOP), 0);
	expect_state(c, url_b, MESH_INSTANCE_UNHEALTHY);
	ck_assert_int_eq(mesh_client_set_health(c, NULL), 0);
	ck_assert_int_eq(state_of(c, url_b), MESH_INSTANCE_HEALTHY);
	ck_assert_int_eq(kill(b, SIGCONT), 0);
	get_ok(c, 20);
	ck_assert(calls_of(c, url_a) > 0 && calls_of(c, url_b) > 0);
	ck_assert_str_eq(mesh_instance_state_name(MESH_INSTANCE_STARTING), "starting");
	ck_assert_str_eq(mesh_instance_state_name(MESH_INSTANCE_HEALTHY), "healthy");
	ck_assert_str_eq(mesh_instance_state_name(MESH_INSTANCE_UNHEALTHY), "unhealthy");
	ck_assert_str_eq(mesh_instance_state_name(MESH_INSTANCE_DRAINING), "draining");
	ck_assert_str_eq(mesh_instance_state_name(MESH_INSTANCE_DOWN), "down");
	ck_assert_str_eq(mesh_instance_state_name((mesh_instance_state)99), "unknown");
	mesh_client_free(c);
}
END_TEST

START_TEST(test_target_nng_client_reports_what_it_can)
{
	/* the nng transport starts threads: the children are forked first */
	mesh_client *c;
	mesh_instance_info info[2];
	long long until;
	char url_c[300];
	snprintf(url_c, sizeof(url_c), "ipc://%s/c.sock", dir);
	serve_echo(url_a);
	serve_echo(url_c);
	ck_assert_int_eq(mesh_client_new(&c, &sample__echo__descriptor, NULL), 0);
	ck_assert_int_eq(mesh_client_set_health(c, &checks), ENOTSUP);
	ck_assert_int_eq(mesh_client_dial(c, url_a), 0);
	ck_assert_int_eq(mesh_client_dial(c, url_c), 0);
	ck_assert_int_eq(mesh_client_dial(c, url_b), 0); /* nobody there */
	ck_assert_int_eq(mesh_client_drain(c, url_a), ENOTSUP);
	until = harness_now_ms() + WAIT_MS;
	while (mesh_client_instances(c) < 2 && harness_now_ms() < until)
		harness_sleep_ms(5);
	ck_assert_int_eq(mesh_client_instances(c), 2);
	/* undial closes a connected instance at once, and it is not redialed */
	ck_assert_int_eq(mesh_client_undial(c, url_c), 0);
	until = harness_now_ms() + WAIT_MS;
	while (mesh_client_instances(c) > 1 && harness_now_ms() < until)
		harness_sleep_ms(5);
	ck_assert_int_eq(mesh_client_instances(c), 1);
	ck_assert_int_eq(mesh_client_undial(c, url_c), ENOENT);
	/* not redialed: nothing to wait for, so a window of three times nng's longest reconnect
	 * backoff (200 ms), in which a redial would have connected */
	harness_sleep_ms(600);
	ck_assert_int_eq(mesh_client_instances(c), 1);
	ck_assert_uint_eq(mesh_client_instance_info(c, info, 2), 2);
	ck_assert_str_eq(info[0].url, url_a);
	ck_assert_int_eq(info[0].state, MESH_INSTANCE_HEALTHY);
	ck_assert_str_eq(info[1].url, url_b);
	ck_assert_int_eq(info[1].state, MESH_INSTANCE_STARTING);
	stop_child(children[0]);
	until = harness_now_ms() + WAIT_MS;
	do {
		mesh_client_instance_info(c, info, 2);
		if (info[0].state == MESH_INSTANCE_DOWN)
			break;
		harness_sleep_ms(5);
	} while (harness_now_ms() < until);
	ck_assert_str_eq(mesh_instance_state_name(info[0].state), "down");
	/* and one never connected goes too */
	ck_assert_int_eq(mesh_client_undial(c, url_b), 0);
	ck_assert_uint_eq(mesh_client_instance_info(c, info, 2), 1);
	ck_assert_str_eq(info[0].url, url_a);
	mesh_client_free(c);
}
END_TEST

static Suite *mesh_target_suite(void)
{
	Suite *s = suite_create("mesh_target");
	TCase *tc = tcase_create("rt_target");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_target_new_instance_healthy_and_served);
	tcase_add_test(tc, test_target_failing_checks_unhealthy_then_back);
	tcase_add_test(tc, test_target_hung_instance_times_out_and_recovers);
	tcase_add_test(tc, test_target_fails_open_when_none_is_healthy);
	tcase_add_test(tc, test_target_drain_stops_new_calls_and_lets_inflight_finish);
	tcase_add_test(tc, test_target_undial_removes_after_inflight_completes);
	tcase_add_test(tc, test_target_lost_instance_down_then_starting_again);
	tcase_add_test(tc, test_target_checks_off_keeps_plain_balancing);
	tcase_add_test(tc, test_target_nng_client_reports_what_it_can);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return harness_run_suite(mesh_target_suite(), 0);
}
