/* mesh_wire_test.c: a server's bounds on its peers, in one process over ipc, on both transports
 * (event loops and nng): requests whose unpacking would cost too much (unknown fields), the
 * frame cap, replies that stop the reading of their connection and let it resume, a peer that
 * takes no reply (loops; nng's is in wire_test, as closing it can wedge nng 1.5.2's reaper), the
 * connection cap making room, and accepting paused when the process is out of descriptors. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <check.h>

#include "echo.h"
#include "harness.h"
#include "mesh.h"
#include "mesh.pb-c.h"
#include "peer.h"
#include "sample.pb-c.h"
#include "sp.h"

static char dir[128];
static char sock[200];
static char url[256];
static mesh_server *server;

static void setup(void)
{
	ck_assert_int_eq(harness_tmpdir(dir, sizeof(dir)), 0);
	snprintf(sock, sizeof(sock), "%s/echo.sock", dir);
	snprintf(url, sizeof(url), "ipc://%s", sock);
	unsetenv("CLEAVE_MESH_TRANSPORT");
}

static void teardown(void)
{
	mesh_server_free(server);
	server = NULL;
	unsetenv("CLEAVE_MESH_TRANSPORT");
	harness_rmtree(dir);
}

/* start serves echo at url with opts (NULL: the defaults), on nng's transport or the loops. */
static void start(int nng, const mesh_server_opts *opts)
{
	if (nng)
		setenv("CLEAVE_MESH_TRANSPORT", "nng", 1);
	else
		unsetenv("CLEAVE_MESH_TRANSPORT");
	ck_assert_int_eq(echo_server_new(&server, opts), 0);
	ck_assert_int_eq(mesh_server_listen(server, url), 0);
	ck_assert_int_eq(mesh_server_start(server), 0);
}

static const char *transport(int nng)
{
	return nng ? "nng" : "loops";
}

/* connect_greeted returns a raw peer on the server's socket that sent its greeting. */
static int connect_greeted(void)
{
	int fd = peer_ipc(sock);
	ck_assert_msg(fd >= 0, "connect: %s", strerror(errno));
	ck_assert_int_eq(peer_greet(fd), 0);
	return fd;
}

/* get_payload packs a sample.Inner (id, label) followed by unknown unknown fields (field 1000,
 * a varint 0: 3 bytes each) into a new buffer (the caller's to free); *len is its size. */
static uint8_t *get_payload(int64_t id, const char *label, size_t unknown, size_t *len)
{
	Sample__Inner in = SAMPLE__INNER__INIT;
	size_t known;
	uint8_t *p;
	in.id = id;
	in.label = (char *)label;
	known = sample__inner__get_packed_size(&in);
	p = malloc(known + 3 * unknown);
	ck_assert_ptr_nonnull(p);
	sample__inner__pack(&in, p);
	for (size_t i = 0; i < unknown; i++) {
		p[known + 3 * i] = 0xc0; /* field 1000, varint: key 8000 */
		p[known + 3 * i + 1] = 0x3e;
		p[known + 3 * i + 2] = 0x00;
	}
	*len = known + 3 * unknown;
	return p;
}

/* get_call sends Echo.Get with payload on a new raw peer, and returns the reply's status. */
static mesh_status get_call(const uint8_t *payload, size_t len)
{
	size_t cap = len + 256, n;
	uint8_t *frame = malloc(cap);
	peer_reader r = {0};
	mesh_status status;
	int fd = connect_greeted(), got;
	ck_assert_ptr_nonnull(frame);
	n = peer_call_frame(frame, cap, SP_IPC, 1, "sample.Echo", "Get", payload, len);
	ck_assert_uint_gt(n, 0);
	ck_assert_int_eq(peer_send(fd, frame, n, 5000), 0);
	got = peer_read_replies(fd, &r, SP_IPC, 1, 10000);
	ck_assert_int_eq(got, 1);
	free(frame);
	close(fd);
	status = r.last;
	peer_reader_fini(&r);
	return status;
}

static void unknown_fields(int nng)
{
	mesh_server_counters c;
	size_t len;
	uint8_t *p;
	start(nng, NULL);
	/* a few fields this server does not know (a newer caller's) are no harm */
	p = get_payload(7, "x", 10, &len);
	ck_assert_int_eq(get_call(p, len), MESH_OK);
	free(p);
	/* 400 000 of them, 1.2 MB on the wire, would take some 35 MB to unpack: refused */
	p = get_payload(7, "x", 400000, &len);
	ck_assert_int_eq(get_call(p, len), MESH_INVALID_ARGUMENT);
	free(p);
	/* a large known field costs what it weighs: served */
	{
		char *label = malloc(1 << 20);
		ck_assert_ptr_nonnull(label);
		memset(label, 'a', (1 << 20) - 1);
		label[(1 << 20) - 1] = '\0';
		p = get_payload(7, label, 0, &len);
		ck_assert_int_eq(get_call(p, len), MESH_OK);
		free(p);
		free(label);
	}
	mesh_server_counters_read(server, &c);
	ck_assert_msg(c.costly_requests == 1, "%s: costly_requests %llu", transport(nng),
		      (unsigned long long)c.costly_requests);
}

START_TEST(test_wire_unknown_fields_are_bounded_loops)
{
	unknown_fields(0);
}
END_TEST

START_TEST(test_wire_unknown_fields_are_bounded_nng)
{
	unknown_fields(1);
}
END_TEST

/* frame_cap: with max_frame 64 KiB, a 60 KiB call is answered and a 100 KiB one closes its
 * connection; the server serves others. */
static void frame_cap(int nng)
{
	mesh_server_opts opts = {.max_frame = 64 << 10};
	static uint8_t frame[128 << 10];
	mesh_server_counters c;
	peer_reader r = {0};
	char why[512];
	size_t n;
	int fd;
	start(nng, &opts);
	fd = connect_greeted();
	n = peer_health_frame(frame, sizeof(frame), SP_IPC, 1, 60 << 10);
	ck_assert_int_eq(peer_send(fd, frame, n, 5000), 0);
	ck_assert_int_eq(peer_read_replies(fd, &r, SP_IPC, 1, 5000), 1);
	n = peer_health_frame(frame, sizeof(frame), SP_IPC, 2, 100 << 10);
	ck_assert_uint_gt(n, 100 << 10);
	(void)peer_send(fd, frame, n, 5000); /* may fail: closed as soon as the header is in */
	ck_assert_msg(peer_closed(fd, 5000), "%s: a call over the cap did not close its connection",
		      transport(nng));
	close(fd);
	peer_reader_fini(&r);
	ck_assert_msg(peer_health(url, 5000, NULL, why, sizeof(why)), "%s", why);
	mesh_server_counters_read(server, &c);
	if (!nng) /* nng closes it without telling */
		ck_assert_uint_eq(c.oversize_frames, 1);
}

START_TEST(test_wire_frame_cap_loops)
{
	frame_cap(0);
}
END_TEST

START_TEST(test_wire_frame_cap_nng)
{
	frame_cap(1);
}
END_TEST

START_TEST(test_wire_unsent_replies_pause_reading_until_they_drain)
{
	/* 20 000 Health calls pipelined at once by a peer that reads its replies only once its
	 * writes block: the server stops reading it at 4 KiB or 8 replies unsent, and, as the
	 * peer reads, resumes until every call is answered, in order */
	enum { CALLS = 20000 };
	mesh_server_opts opts = {.max_unsent = 4096, .max_inflight = 8};
	size_t frame_len, len = 0, off = 0;
	uint8_t *calls;
	peer_reader r = {0};
	mesh_server_counters c;
	int fd, got = 0, blocked = 0;
	long long until;
	start(0, &opts);
	frame_len = peer_health_frame((uint8_t[64]){0}, 64, SP_IPC, 1, 0);
	calls = malloc(CALLS * frame_len);
	ck_assert_ptr_nonnull(calls);
	for (int i = 0; i < CALLS; i++)
		len += peer_health_frame(calls + len, frame_len, SP_IPC, (uint32_t)i + 1, 0);
	fd = connect_greeted();
	until = harness_now_ms() + 30000;
	while (off < len && harness_now_ms() < until) {
		ssize_t n = send(fd, calls + off, len - off, MSG_NOSIGNAL);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		ck_assert_msg(n < 0 && errno == EAGAIN, "send: %s", strerror(errno));
		if (blocked++ == 0) {
			/* the peer's writes blocked: the server stopped reading it */
			harness_sleep_ms(100);
			mesh_server_counters_read(server, &c);
			ck_assert_uint_ge(c.reads_paused, 1);
		}
		got += peer_read_replies(fd, &r, SP_IPC, CALLS - got, 10);
	}
	ck_assert_uint_eq(off, len);
	ck_assert_int_gt(blocked, 0);
	while (got < CALLS && harness_now_ms() < until) {
		int more = peer_read_replies(fd, &r, SP_IPC, CALLS - got, 100);
		ck_assert_int_ge(more, 0);
		got += more;
	}
	ck_assert_int_eq(got, CALLS);
	ck_assert_int_eq(r.last, MESH_OK);
	close(fd);
	free(calls);
	peer_reader_fini(&r);
}
END_TEST

/* pipeline_until writes calls (len bytes, again and again) to fd without reading, until the
 * server closes it, for up to timeout_ms. Returns 1 if the server closed it. */
static int pipeline_until(int fd, const uint8_t *calls, size_t len, int timeout_ms)
{
	long long until = harness_now_ms() + timeout_ms;
	size_t off = 0;
	while (harness_now_ms() < until) {
		struct pollfd pfd = {.fd = fd, .events = POLLOUT};
		ssize_t n = send(fd, calls + off, len - off, MSG_NOSIGNAL);
		if (n < 0 && errno != EAGAIN)
			return 1;
		if (n > 0) /* whole frames only, around and around */
			off = (off + (size_t)n) % len;
		poll(&pfd, 1, 50);
	}
	/* the frame it is in the middle of, finished */
	return off > 0 && peer_send(fd, calls + off, len - off, 5000) != 0;
}

START_TEST(test_wire_a_peer_that_takes_no_reply_is_closed_loops)
{
	/* on the loops, once it has taken none of its replies for the idle timeout (500 ms) */
	mesh_server_opts opts = {.idle_timeout_ms = 500};
	static uint8_t calls[1 << 16];
	size_t len = 0, frame_len;
	mesh_server_counters c;
	int fd;
	start(0, &opts);
	frame_len = peer_health_frame(calls, sizeof(calls), SP_IPC, 1, 0);
	while (len + frame_len <= sizeof(calls))
		len += peer_health_frame(calls + len, frame_len, SP_IPC, 1, 0);
	fd = connect_greeted();
	ck_assert_msg(pipeline_until(fd, calls, len, 15000),
		      "loops: a peer that takes no reply was not closed");
	close(fd);
	mesh_server_counters_read(server, &c);
	ck_assert_uint_eq(c.stalled, 1);
}
END_TEST

/* cap: with max_conns 4, four idle peers are held; a fifth client is served once they have
 * been idle a second, the idlest closed to make room. */
static void cap(int nng)
{
	mesh_server_opts opts = {.max_conns = 4};
	mesh_server_counters c;
	Mesh__WireStats wire;
	char why[512];
	int fds[4], closed = 0;
	start(nng, &opts);
	for (int i = 0; i < 4; i++)
		fds[i] = connect_greeted();
	harness_sleep_ms(200);
	mesh_server_counters_read(server, &c);
	ck_assert_uint_eq(c.connections, 4);
	harness_sleep_ms(1000);
	ck_assert_msg(peer_health(url, 10000, &wire, why, sizeof(why)), "%s: %s", transport(nng),
		      why);
	ck_assert_uint_le(wire.connections, 4);
	/* the one accepted first (nng may take them in another order than they connected) */
	for (int i = 0; i < 4; i++) {
		closed += peer_closed(fds[i], 1000);
		close(fds[i]);
	}
	ck_assert_msg(closed == 1, "%s: %d peers closed, not the idlest alone", transport(nng),
		      closed);
	mesh_server_counters_read(server, &c);
	ck_assert_uint_eq(c.evicted, 1);
}

START_TEST(test_wire_connection_cap_makes_room_loops)
{
	cap(0);
}
END_TEST

START_TEST(test_wire_connection_cap_makes_room_nng)
{
	cap(1);
}
END_TEST

/* process_cpu_ms returns the process's CPU time (user and system) in milliseconds. */
static long long process_cpu_ms(void)
{
	struct rusage ru;
	ck_assert_int_eq(getrusage(RUSAGE_SELF, &ru), 0);
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000LL +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
}

/* fd_limit_leaving returns the descriptor limit under which exactly free descriptors are free
 * (new ones take the lowest free numbers: the limit bounds numbers, not a count). */
static rlim_t fd_limit_leaving(int free)
{
	int fd = 0;
	for (;; fd++)
		if (fcntl(fd, F_GETFD) == -1 && --free == 0)
			return (rlim_t)fd + 1;
}

START_TEST(test_wire_out_of_descriptors_pauses_accepting)
{
	/* the loops' listener is level-triggered: with a connection waiting and accept failing
	 * (EMFILE), a loop that kept watching it would spin; it stops watching it for 100 ms at a
	 * time, and takes the connection once descriptors are free again */
	enum { PEERS = 5 };
	struct rlimit saved, low;
	mesh_server_counters c;
	int fds[PEERS];
	long long cpu;
	char why[512];
	start(0, NULL);
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &saved), 0);
	low = saved;
	/* room for the peers' own sockets and all but one of the server's */
	low.rlim_cur = fd_limit_leaving(2 * PEERS - 1);
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	for (int i = 0; i < PEERS; i++) {
		fds[i] = peer_ipc(sock);
		ck_assert_msg(fds[i] >= 0, "connect %d: %s", i, strerror(errno));
	}
	harness_sleep_ms(300);
	mesh_server_counters_read(server, &c);
	ck_assert_uint_eq(c.connections, PEERS - 1);
	ck_assert_uint_ge(c.accept_pauses, 1);
	cpu = process_cpu_ms();
	harness_sleep_ms(1000);
	cpu = process_cpu_ms() - cpu;
	ck_assert_msg(cpu < 300, "the loop spent %lld ms of CPU in a second out of descriptors",
		      cpu);
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &saved), 0);
	harness_sleep_ms(300);
	mesh_server_counters_read(server, &c);
	ck_assert_uint_eq(c.connections, PEERS);
	ck_assert_msg(peer_health(url, 5000, NULL, why, sizeof(why)), "%s", why);
	for (int i = 0; i < PEERS; i++)
		close(fds[i]);
}
END_TEST

static Suite *mesh_wire_suite(void)
{
	Suite *s = suite_create("mesh_wire");
	TCase *tc = harness_tcase("wire", 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_wire_unknown_fields_are_bounded_loops);
	tcase_add_test(tc, test_wire_unknown_fields_are_bounded_nng);
	tcase_add_test(tc, test_wire_frame_cap_loops);
	tcase_add_test(tc, test_wire_frame_cap_nng);
	tcase_add_test(tc, test_wire_unsent_replies_pause_reading_until_they_drain);
	tcase_add_test(tc, test_wire_a_peer_that_takes_no_reply_is_closed_loops);
	tcase_add_test(tc, test_wire_connection_cap_makes_room_loops);
	tcase_add_test(tc, test_wire_connection_cap_makes_room_nng);
	tcase_add_test(tc, test_wire_out_of_descriptors_pauses_accepting);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	return harness_run_suite(mesh_wire_suite(), 0);
}
