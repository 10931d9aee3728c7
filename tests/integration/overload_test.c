/* overload_test.c: the edge's bounds against the real mesh: a stalled service under many
 * concurrent clients, clients that go away mid-call, HTTP/2 rapid reset (CVE-2023-44487), and
 * accepting paused at the connection cap or out of descriptors. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#include <curl/curl.h>

#include "fixture.h"
#include "harness.h"
#include "http.h"
#include "mesh.h"
#include "mesh.pb-c.h"

#define TIMEOUT_MS   3000 /* the edge's call deadline in this suite */
#define MAX_INFLIGHT 256  /* posts' max_inflight: the shipped manifest gives none, the default */
#define CLIENTS	     512  /* concurrent clients on a stalled service */
#define RESET_BUDGET 100  /* an HTTP/2 connection's reset budget (edge/server.c) */

#define POSTS_INFLIGHT "cleave_mesh_calls_in_flight{service=\"posts\"}"
#define POSTS_SHED     "cleave_shed_requests_total{service=\"posts\",reason=\"inflight_cap\"}"
#define POSTS_CANCEL   "cleave_mesh_calls_cancelled_total{service=\"posts\"}"
#define USERS_CANCEL   "cleave_mesh_calls_cancelled_total{service=\"users\"}"
#define RESET_CLOSES   "cleave_http2_reset_closes_total"

static fixture_mesh mesh;
static int mesh_up;

static void mesh_setup(void)
{
	static const char *const args[] = {"--admin-port", "0", "--timeout-ms", "3000", NULL};
	struct rlimit lim;
	/* this process holds CLIENTS sockets at once */
	if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
		lim.rlim_cur = lim.rlim_max;
		setrlimit(RLIMIT_NOFILE, &lim);
	}
	curl_global_init_once(); /* before the tests' threads */
	mesh_up = fixture_mesh_start(&mesh, args) == 0 && mesh.admin_port > 0;
}

static void mesh_teardown(void)
{
	char report[8192];
	if (mesh_up && fixture_mesh_stop(&mesh, report, sizeof(report)) != 0)
		harness_note_unclean("the mesh", report);
	mesh_up = 0;
}

/* get_status GETs path from the main port; returns its status (0: no answer). */
static long get_status(const char *path)
{
	http_response r;
	char url[256];
	long status;
	fixture_url(&mesh, path, url, sizeof(url));
	http_get(url, &r);
	status = r.status;
	http_response_free(&r);
	return status;
}

/* wait_status polls path until it answers want; returns 0, or -1 after timeout_ms. */
static int wait_status(const char *path, long want, int timeout_ms)
{
	long long until = harness_now_ms() + timeout_ms;
	while (harness_now_ms() < until) {
		if (get_status(path) == want)
			return 0;
		harness_sleep_ms(20);
	}
	return -1;
}

/* metric returns the value of the sample named name (with its labels, as the text writes them)
 * on the edge's /metrics, or -1 if there is none. */
static double metric(const char *name)
{
	http_response r;
	char url[256];
	double v = -1;
	size_t n = strlen(name);
	fixture_admin_url(&mesh, "/metrics", url, sizeof(url));
	ck_assert_int_eq(http_get(url, &r), 0);
	ck_assert_int_eq(r.status, 200);
	for (const char *line = r.body; line != NULL && *line != '\0';) {
		if (strncmp(line, name, n) == 0 && line[n] == ' ') {
			v = strtod(line + n + 1, NULL);
			break;
		}
		line = strchr(line, '\n');
		if (line != NULL)
			line++;
	}
	http_response_free(&r);
	return v;
}

/* wait_metric polls the sample name until it is want; returns the milliseconds it took, or -1
 * after timeout_ms. */
static long long wait_metric(const char *name, double want, int timeout_ms)
{
	long long start = harness_now_ms();
	while (harness_now_ms() - start < timeout_ms) {
		if (metric(name) == want)
			return harness_now_ms() - start;
		harness_sleep_ms(10);
	}
	return -1;
}

/* rss_kb returns the resident set of pid in KiB, from /proc, or -1. */
static long rss_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* get_calls returns how many Get calls the users service has answered, from its Health (asked
 * as meshctl, the operator, whom the manifests' policy shows Health's counters). */
static long long users_get_calls(void)
{
	mesh_client_opts o = {.caller = "meshctl", .timeout_ms = 2000};
	Mesh__HealthRequest req = MESH__HEALTH_REQUEST__INIT;
	char url[256], msg[256] = "";
	long long n = -1;
	snprintf(url, sizeof(url), "ipc://%s/users.sock", mesh.dir);
	for (int attempt = 0; attempt < 3 && n < 0; attempt++) {
		ProtobufCMessage *out = NULL;
		mesh_client *c;
		ck_assert_int_eq(mesh_client_new(&c, &mesh__mesh__descriptor, &o), 0);
		ck_assert_int_eq(mesh_client_dial(c, url), 0);
		for (int i = 0; i < 1000 && mesh_client_instances(c) == 0; i++)
			harness_sleep_ms(5);
		if (mesh_client_call(c, "Health", &req.base, &out, NULL, msg, sizeof(msg)) ==
		    MESH_OK) {
			Mesh__HealthReply *r = (Mesh__HealthReply *)out;
			n = 0;
			for (size_t i = 0; i < r->n_methods; i++)
				if (strcmp(r->methods[i]->method, "Get") == 0)
					n = (long long)r->methods[i]->calls;
			protobuf_c_message_free_unpacked(out, NULL);
		}
		mesh_client_free(c);
	}
	ck_assert_msg(n >= 0, "users did not answer Health: %s", msg);
	return n;
}

/* ---- a client of the users routes, served while the test does something else ---------------- */

typedef struct bystander {
	pthread_t thread;
	atomic_int stop;
	int ok, bad;
	long bad_status;
} bystander;

static void *bystander_run(void *arg)
{
	bystander *b = arg;
	char url[256];
	fixture_url(&mesh, "/api/users/1", url, sizeof(url));
	while (!atomic_load(&b->stop)) {
		http_options o = {.timeout_ms = 5000};
		http_response r;
		http_request("GET", url, &o, &r);
		if (r.status == 200) {
			b->ok++;
		} else {
			b->bad++;
			b->bad_status = r.status;
		}
		http_response_free(&r);
		harness_sleep_ms(5);
	}
	return NULL;
}

static void bystander_start(bystander *b)
{
	memset(b, 0, sizeof(*b));
	ck_assert_int_eq(pthread_create(&b->thread, NULL, bystander_run, b), 0);
}

/* bystander_stop stops b and asserts every request it made was answered 200. */
static void bystander_stop(bystander *b, const char *during)
{
	atomic_store(&b->stop, 1);
	pthread_join(b->thread, NULL);
	ck_assert_msg(b->bad == 0 && b->ok > 0,
		      "GET /api/users/1 during %s: %d answered 200, %d not (last: %ld)", during,
		      b->ok, b->bad, b->bad_status);
}

/* ---- many clients at once (libcurl's multi interface) ----------------------------------------
 */

typedef struct answer {
	CURL *easy;
	long status;
	long long ms; /* from the start of the wave to the answer */
	int retry_after;
	char body[160];
	size_t body_len;
} answer;

static size_t answer_body(char *data, size_t size, size_t n, void *arg)
{
	answer *a = arg;
	size_t len = size * n, room = sizeof(a->body) - 1 - a->body_len;
	memcpy(a->body + a->body_len, data, len < room ? len : room);
	a->body_len += len < room ? len : room;
	a->body[a->body_len] = '\0';
	return len;
}

static size_t answer_header(char *data, size_t size, size_t n, void *arg)
{
	answer *a = arg;
	size_t len = size * n;
	if (len >= 14 && strncasecmp(data, "retry-after: 1", 14) == 0)
		a->retry_after = 1;
	return len;
}

/* wave sends n GETs of paths (taken in turn) at once, each on a connection of its own, and
 * waits up to timeout_ms for every answer, sampling the edge's resident set meanwhile (its
 * largest into *peak_kb). Fills a[0..n). */
static void wave(answer *a, int n, const char *const *paths, int npaths, int timeout_ms,
		 long *peak_kb)
{
	CURLM *multi = curl_multi_init();
	long long start = harness_now_ms();
	pid_t edge = fixture_pid(&mesh, "edge");
	int running = 0, left = n;
	ck_assert_ptr_nonnull(multi);
	curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long)n);
	for (int i = 0; i < n; i++) {
		char url[256];
		memset(&a[i], 0, sizeof(a[i]));
		fixture_url(&mesh, paths[i % npaths], url, sizeof(url));
		a[i].easy = curl_easy_init();
		ck_assert_ptr_nonnull(a[i].easy);
		curl_easy_setopt(a[i].easy, CURLOPT_URL, url);
		curl_easy_setopt(a[i].easy, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
		curl_easy_setopt(a[i].easy, CURLOPT_WRITEFUNCTION, answer_body);
		curl_easy_setopt(a[i].easy, CURLOPT_WRITEDATA, &a[i]);
		curl_easy_setopt(a[i].easy, CURLOPT_HEADERFUNCTION, answer_header);
		curl_easy_setopt(a[i].easy, CURLOPT_HEADERDATA, &a[i]);
		curl_easy_setopt(a[i].easy, CURLOPT_PRIVATE, &a[i]);
		curl_easy_setopt(a[i].easy, CURLOPT_FORBID_REUSE, 1L);
		curl_multi_add_handle(multi, a[i].easy);
	}
	while (left > 0 && harness_now_ms() - start < timeout_ms + 5000) {
		CURLMsg *m;
		int queued;
		long kb;
		curl_multi_perform(multi, &running);
		while ((m = curl_multi_info_read(multi, &queued)) != NULL) {
			answer *x;
			if (m->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
			if (m->data.result == CURLE_OK)
				curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE,
						  &x->status);
			x->ms = harness_now_ms() - start;
			left--;
		}
		if ((kb = rss_kb(edge)) > *peak_kb)
			*peak_kb = kb;
		curl_multi_poll(multi, NULL, 0, 20, NULL);
	}
	for (int i = 0; i < n; i++) {
		curl_multi_remove_handle(multi, a[i].easy);
		curl_easy_cleanup(a[i].easy);
		a[i].easy = NULL;
	}
	curl_multi_cleanup(multi);
}

static int nng_transport(void)
{
	const char *t = getenv("CLEAVE_MESH_TRANSPORT");
	return t != NULL && strcmp(t, "nng") == 0;
}

START_TEST(test_overload_stalled_service_sheds_at_once_and_recovers)
{
	static const char *const paths[] = {"/api/posts/1", "/api/posts/in-thread/1",
					    "/api/posts/2"};
	static const char shed_body[] = "{\"code\":\"UNAVAILABLE\",\"message\":\"posts: ";
	pid_t posts = fixture_pid(&mesh, "posts"), edge = fixture_pid(&mesh, "edge");
	answer *a = calloc(CLIENTS, sizeof(*a));
	long before_kb, peak_kb = 0;
	int shed = 0, held = 0, n504 = 0;
	long long slowest_shed = 0, slowest = 0;
	double shed_before;
	bystander users;
	ck_assert_msg(mesh_up, "the mesh did not start");
	if (fixture_monolith()) {
		harness_skip("a stalled service needs a process of its own (not the monolith)");
		free(a);
		return;
	}
	ck_assert_int_eq(get_status("/api/posts/1"), 200);
	before_kb = rss_kb(edge);
	shed_before = metric(POSTS_SHED);
	ck_assert_msg(before_kb > 0 && shed_before >= 0, "rss %ld, shed %.0f", before_kb,
		      shed_before);

	ck_assert_int_eq(harness_freeze(posts), 0);
	bystander_start(&users);
	wave(a, CLIENTS, paths, 3, TIMEOUT_MS + 5000, &peak_kb);
	bystander_stop(&users, "a stalled posts");

	/* every request came back: MAX_INFLIGHT of them held to the call deadline (504, or 503
	 * when a health check found the connection dead first), the rest shed at once: 503 with
	 * Retry-After and the JSON error naming the service, before any deadline came */
	for (int i = 0; i < CLIENTS; i++) {
		ck_assert_msg(a[i].status != 0, "request %d got no answer", i);
		if (a[i].status == 503 && a[i].retry_after) {
			ck_assert_msg(strncmp(a[i].body, shed_body, sizeof(shed_body) - 1) == 0,
				      "%s", a[i].body);
			ck_assert_msg(a[i].ms < TIMEOUT_MS,
				      "a shed request waited %lld ms, as long as a call", a[i].ms);
			shed++;
			if (a[i].ms > slowest_shed)
				slowest_shed = a[i].ms;
		} else {
			n504 += a[i].status == 504;
			if (a[i].ms > slowest)
				slowest = a[i].ms;
			ck_assert_msg(a[i].status == 504 || a[i].status == 503, "%ld %s",
				      a[i].status, a[i].body);
			held++;
		}
	}
	ck_assert_msg(shed >= CLIENTS - MAX_INFLIGHT && held <= MAX_INFLIGHT,
		      "%d shed, %d held to the deadline", shed, held);
	ck_assert_msg(metric(POSTS_SHED) - shed_before >= shed, "shed %.0f, want %d more than %.0f",
		      metric(POSTS_SHED), shed, shed_before);
	/* the edge held CLIENTS connections and MAX_INFLIGHT calls in little memory */
	ck_assert_msg(peak_kb - before_kb < 48 * 1024, "the edge grew from %ld to %ld KiB",
		      before_kb, peak_kb);
	fprintf(
	    stderr,
	    "overload: %d clients on a stalled posts: %d shed (the last after %lld ms), %d held "
	    "(%d ended 504, the last after %lld ms); edge RSS %ld -> %ld KiB\n",
	    CLIENTS, shed, slowest_shed, held, n504, slowest, before_kb, peak_kb);

	/* after the stall, everything is served again */
	ck_assert_int_eq(harness_thaw(posts), 0);
	ck_assert_msg(wait_status("/api/posts/1", 200, 10000) == 0, "posts did not recover");
	ck_assert_msg(wait_metric(POSTS_INFLIGHT, 0, 5000) >= 0, "posts calls still in flight");
	ck_assert_int_eq(get_status("/api/posts/in-thread/1"), 200);
	ck_assert_int_eq(get_status("/api/users/1"), 200);
	ck_assert_int_eq(waitpid(edge, NULL, WNOHANG), 0);
	free(a);
}
END_TEST

/* ---- raw HTTP/2 (h2c, prior knowledge) ------------------------------------------------------ */

/* h2_connect opens a connection to the edge and sends the client preface and an empty
 * SETTINGS frame; returns the socket, non-blocking, or -1. */
static int h2_connect(void)
{
	/* the preface, an empty SETTINGS, and a connection window grown to nearly 2 GiB: the
	 * answers read never wait for a WINDOW_UPDATE */
	static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
				      "\x00\x00\x00\x04\x00\x00\x00\x00\x00"
				      "\x00\x00\x04\x08\x00\x00\x00\x00\x00\x7f\xff\x00\x00";
	int fd = http_raw_connect("127.0.0.1", mesh.port);
	if (fd < 0)
		return -1;
	if (send(fd, preface, sizeof(preface) - 1, MSG_NOSIGNAL) != (ssize_t)sizeof(preface) - 1) {
		close(fd);
		return -1;
	}
	return fd;
}

/* h2_frame writes one frame (type, flags, stream sid, payload of len bytes) at out; returns
 * its length. */
static size_t h2_frame(unsigned char *out, int type, int flags, uint32_t sid, const void *payload,
		       size_t len)
{
	out[0] = (unsigned char)(len >> 16);
	out[1] = (unsigned char)(len >> 8);
	out[2] = (unsigned char)len;
	out[3] = (unsigned char)type;
	out[4] = (unsigned char)flags;
	out[5] = (unsigned char)(sid >> 24 & 0x7f);
	out[6] = (unsigned char)(sid >> 16);
	out[7] = (unsigned char)(sid >> 8);
	out[8] = (unsigned char)sid;
	memcpy(out + 9, payload, len);
	return 9 + len;
}

/* h2_get writes a HEADERS frame (END_STREAM, END_HEADERS) of GET path on stream sid at out:
 * HPACK's static :method GET and :scheme http, literal :path and :authority, never indexed;
 * returns its length. */
static size_t h2_get(unsigned char *out, uint32_t sid, const char *path)
{
	unsigned char block[128];
	size_t n = 0, len = strlen(path);
	block[n++] = 0x82; /* :method GET */
	block[n++] = 0x86; /* :scheme http */
	block[n++] = 0x04; /* :path, literal without indexing */
	block[n++] = (unsigned char)len;
	memcpy(block + n, path, len);
	n += len;
	block[n++] = 0x01; /* :authority */
	block[n++] = 1;
	block[n++] = 'x';
	return h2_frame(out, 0x1, 0x5, sid, block, n);
}

/* h2_rst writes RST_STREAM (CANCEL) on stream sid at out; returns its length. */
static size_t h2_rst(unsigned char *out, uint32_t sid)
{
	static const unsigned char cancel[4] = {0, 0, 0, 0x8};
	return h2_frame(out, 0x3, 0, sid, cancel, sizeof(cancel));
}

/* h2_send sends len bytes on the non-blocking fd, reading and dropping what the edge sends
 * meanwhile (so neither side blocks). Returns 0, or -1 once the edge has closed it. */
static int h2_send(int fd, const unsigned char *data, size_t len)
{
	unsigned char sink[16384];
	long long until = harness_now_ms() + 5000;
	while (len > 0 && harness_now_ms() < until) {
		struct pollfd p = {.fd = fd, .events = POLLIN | POLLOUT};
		ssize_t n;
		poll(&p, 1, 50);
		if (p.revents & POLLIN) {
			n = recv(fd, sink, sizeof(sink), MSG_DONTWAIT);
			if (n == 0 || (n < 0 && errno != EAGAIN))
				return -1;
		}
		if (p.revents & (POLLERR | POLLHUP))
			return -1;
		n = send(fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0) {
			data += n;
			len -= (size_t)n;
		} else if (n < 0 && errno != EAGAIN) {
			return -1;
		}
	}
	return len == 0 ? 0 : -1;
}

/* h2_reader: what a raw HTTP/2 client has read of the edge's frames. */
typedef struct h2_reader {
	unsigned char buf[65536];
	size_t len;
	int ended; /* streams the edge ended (END_STREAM on HEADERS or DATA) */
} h2_reader;

/* h2_read_until reads frames from fd until the edge has ended want streams in all, acknowledging
 * its SETTINGS. Returns 0, or -1 if the edge closed the connection or timeout_ms passed. */
static int h2_read_until(int fd, h2_reader *r, int want, int timeout_ms)
{
	static const unsigned char ack[9] = {0, 0, 0, 0x4, 0x1, 0, 0, 0, 0};
	long long until = harness_now_ms() + timeout_ms;
	while (r->ended < want) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t n;
		while (r->len >= 9) {
			size_t flen = (size_t)r->buf[0] << 16 | (size_t)r->buf[1] << 8 | r->buf[2];
			int type = r->buf[3], flags = r->buf[4];
			ck_assert_uint_le(9 + flen, sizeof(r->buf));
			if (r->len < 9 + flen)
				break;
			if (type == 0x4 && !(flags & 0x1))
				send(fd, ack, sizeof(ack), MSG_NOSIGNAL);
			if ((type == 0x0 || type == 0x1) && (flags & 0x1))
				r->ended++;
			r->len -= 9 + flen;
			memmove(r->buf, r->buf + 9 + flen, r->len);
		}
		if (r->ended >= want)
			break;
		if (harness_now_ms() >= until || poll(&p, 1, 50) < 0)
			return -1;
		n = recv(fd, r->buf + r->len, sizeof(r->buf) - r->len, MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN))
			return -1;
		if (n > 0)
			r->len += (size_t)n;
	}
	return 0;
}

START_TEST(test_overload_clients_that_leave_free_their_calls_at_once)
{
	static const char get[] = "GET /api/posts/1 HTTP/1.1\r\nHost: x\r\n\r\n";
	enum { H2_STREAMS = 2 * (RESET_BUDGET / 2) - 2 }; /* within the budget, and h2o's 100 */
	pid_t posts = fixture_pid(&mesh, "posts");
	int fds[MAX_INFLIGHT], h2;
	double cancelled = metric(POSTS_CANCEL), shed = metric(POSTS_SHED);
	unsigned char *buf = malloc(H2_STREAMS * 64);
	size_t len = 0;
	long long took;
	http_response r;
	char url[256];
	ck_assert_msg(mesh_up, "the mesh did not start");
	if (fixture_monolith()) {
		harness_skip("a stalled service needs a process of its own (not the monolith)");
		free(buf);
		return;
	}
	ck_assert_int_eq(wait_metric(POSTS_INFLIGHT, 0, 5000) >= 0, 1);
	ck_assert_int_eq(harness_freeze(posts), 0);

	/* HTTP/1: as many clients as posts may have calls, then one more: shed */
	for (int i = 0; i < MAX_INFLIGHT; i++) {
		fds[i] = http_raw_connect("127.0.0.1", mesh.port);
		ck_assert_int_ge(fds[i], 0);
		http_raw_send(fds[i], get, sizeof(get) - 1);
	}
	ck_assert_msg(wait_metric(POSTS_INFLIGHT, MAX_INFLIGHT, 5000) >= 0, "in flight: %.0f",
		      metric(POSTS_INFLIGHT));
	fixture_url(&mesh, "/api/posts/2", url, sizeof(url));
	ck_assert_int_eq(http_get(url, &r), 0);
	ck_assert_int_eq(r.status, 503);
	http_response_free(&r);
	ck_assert_int_eq(metric(POSTS_SHED), shed + 1);
	/* they leave: every call is cancelled, well before its deadline */
	for (int i = 0; i < MAX_INFLIGHT; i++)
		close(fds[i]);
	took = wait_metric(POSTS_INFLIGHT, 0, TIMEOUT_MS);
	ck_assert_msg(took >= 0 && took < TIMEOUT_MS / 2, "calls freed after %lld ms", took);
	ck_assert_int_eq(metric(POSTS_CANCEL), cancelled + MAX_INFLIGHT);

	/* HTTP/2: streams reset by the client (half), then the connection closed (the others) */
	h2 = h2_connect();
	ck_assert_int_ge(h2, 0);
	for (uint32_t k = 0; k < H2_STREAMS; k++)
		len += h2_get(buf + len, 1 + 2 * k, "/api/posts/1");
	ck_assert_int_eq(h2_send(h2, buf, len), 0);
	ck_assert_msg(wait_metric(POSTS_INFLIGHT, H2_STREAMS, 5000) >= 0, "in flight: %.0f",
		      metric(POSTS_INFLIGHT));
	len = 0;
	for (uint32_t k = 0; k < H2_STREAMS / 2; k++)
		len += h2_rst(buf + len, 1 + 2 * k);
	ck_assert_int_eq(h2_send(h2, buf, len), 0);
	took = wait_metric(POSTS_INFLIGHT, H2_STREAMS / 2, TIMEOUT_MS);
	ck_assert_msg(took >= 0 && took < TIMEOUT_MS / 2, "reset calls freed after %lld ms", took);
	close(h2);
	took = wait_metric(POSTS_INFLIGHT, 0, TIMEOUT_MS);
	ck_assert_msg(took >= 0 && took < TIMEOUT_MS / 2, "calls freed after %lld ms", took);
	ck_assert_int_eq(metric(POSTS_CANCEL), cancelled + MAX_INFLIGHT + H2_STREAMS);
	ck_assert_int_eq(metric(RESET_CLOSES), 0); /* within its budget: not closed for it */

	ck_assert_int_eq(harness_thaw(posts), 0);
	ck_assert_msg(wait_status("/api/posts/1", 200, 10000) == 0, "posts did not recover");
	ck_assert_int_eq(waitpid(fixture_pid(&mesh, "edge"), NULL, WNOHANG), 0);
	free(buf);
}
END_TEST

START_TEST(test_overload_rapid_reset_reaches_few_calls)
{
	enum { ROUNDS = 100, RESETS = RESET_BUDGET / 2, ANSWERED = RESET_BUDGET / 2 };
	enum { STREAMS = 30000, BATCH = 200, SECONDS = 10 };
	unsigned char *buf = malloc((RESETS + ANSWERED + BATCH) * 64);
	long long calls_before, calls, start;
	double cancelled = metric(USERS_CANCEL), closes;
	int sent = 0, connections = 0, fd;
	uint32_t sid = 1;
	h2_reader *rd = calloc(1, sizeof(*rd));
	bystander users;
	ck_assert_msg(mesh_up, "the mesh did not start");

	/* Within the budget: each round resets RESETS streams for /api/users/1 as soon as they
	 * are opened, then has ANSWERED more answered, which give the budget back; the connection
	 * lives on. On the event loop a reset stream's call, in the same read as its reset, is
	 * taken out of the output before it is written: the service sees none of it. */
	calls_before = users_get_calls();
	ck_assert_int_ge(fd = h2_connect(), 0);
	for (int round = 0; round < ROUNDS; round++) {
		size_t len = 0;
		for (int k = 0; k < RESETS; k++, sid += 2) {
			len += h2_get(buf + len, sid, "/api/users/1");
			len += h2_rst(buf + len, sid);
		}
		for (int k = 0; k < ANSWERED; k++, sid += 2)
			len += h2_get(buf + len, sid, "/api/users/2");
		ck_assert_msg(h2_send(fd, buf, len) == 0, "closed in round %d", round);
		ck_assert_msg(h2_read_until(fd, rd, (round + 1) * ANSWERED, 5000) == 0,
			      "round %d: %d answers", round, rd->ended);
	}
	close(fd);
	calls = users_get_calls() - calls_before - ROUNDS * ANSWERED;
	fprintf(stderr,
		"overload: %d streams reset at once among %d answered on one connection: users saw "
		"%lld calls for them\n",
		ROUNDS * RESETS, ROUNDS * ANSWERED, calls);
	ck_assert_int_eq(metric(RESET_CLOSES), 0);
	ck_assert_int_eq(metric(USERS_CANCEL) - cancelled, ROUNDS * RESETS);
	if (!nng_transport())
		ck_assert_msg(calls <= ROUNDS * RESETS / 20,
			      "users answered %lld calls for %d reset streams", calls,
			      ROUNDS * RESETS);

	/* As fast as the client can: the budget spent, the edge closes the connection; the
	 * client opens another and goes on. Another client is served all along. */
	closes = metric(RESET_CLOSES);
	calls_before = users_get_calls();
	bystander_start(&users);
	start = harness_now_ms();
	fd = -1;
	while (sent < STREAMS && harness_now_ms() - start < SECONDS * 1000) {
		size_t len = 0;
		if (fd < 0) {
			ck_assert_int_ge(fd = h2_connect(), 0);
			connections++;
			sid = 1;
		}
		for (int k = 0; k < BATCH; k++, sid += 2) {
			len += h2_get(buf + len, sid, "/api/users/1");
			len += h2_rst(buf + len, sid);
		}
		if (h2_send(fd, buf, len) != 0) {
			close(fd);
			fd = -1;
			continue;
		}
		sent += BATCH;
	}
	if (fd >= 0)
		close(fd);
	harness_sleep_ms(300); /* what was sent reaches users, or not */
	bystander_stop(&users, "a rapid reset");
	calls = users_get_calls() - calls_before - users.ok;
	fprintf(stderr,
		"overload: rapid reset: %d streams on %d connections in %lld ms; users saw %lld "
		"calls for them; %.0f connections closed for resets\n",
		sent, connections, harness_now_ms() - start, calls, metric(RESET_CLOSES) - closes);
	ck_assert_msg(sent >= 5 * BATCH, "only %d streams sent", sent);
	ck_assert_msg(metric(RESET_CLOSES) - closes >= 1, "no connection closed for its resets");
	/* on nng's threads a call is on its way at once and cannot be taken back: the reset
	 * budget is what bounds them */
	ck_assert_msg(calls <= sent / (nng_transport() ? 2 : 20),
		      "users answered %lld calls for %d reset streams", calls, sent);
	ck_assert_int_eq(get_status("/api/users/1"), 200);
	ck_assert_int_eq(waitpid(fixture_pid(&mesh, "edge"), NULL, WNOHANG), 0);
	free(rd);
	free(buf);
}
END_TEST

/* cpu_ms returns the user and system CPU time pid has used, in milliseconds, from /proc. */
static long long cpu_ms(pid_t pid)
{
	char path[64], stat[1024], *p;
	unsigned long long utime, stime;
	long tick = sysconf(_SC_CLK_TCK);
	FILE *f;
	size_t n;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	ck_assert_ptr_nonnull(f = fopen(path, "r"));
	n = fread(stat, 1, sizeof(stat) - 1, f);
	fclose(f);
	stat[n] = '\0';
	ck_assert_ptr_nonnull(p = strrchr(stat, ')')); /* the name may hold spaces */
	ck_assert_int_eq(
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime),
	    2);
	return (long long)(utime + stime) * 1000 / (tick > 0 ? tick : 100);
}

/* lowest_free_fd returns the lowest descriptor number pid has free: the one its next open would
 * take (a limit on open files of that number makes it fail with EMFILE). */
static int lowest_free_fd(pid_t pid)
{
	char path[64];
	unsigned char used[4096] = {0};
	struct dirent *ent;
	int fd = 0;
	DIR *d;
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	ck_assert_ptr_nonnull(d = opendir(path));
	while ((ent = readdir(d)) != NULL) {
		int n = atoi(ent->d_name);
		if (ent->d_name[0] != '.' && n >= 0 && n < (int)sizeof(used))
			used[n] = 1;
	}
	closedir(d);
	while (fd < (int)sizeof(used) && used[fd])
		fd++;
	return fd;
}

/* capped: a second edge in front of the suite's services, with a small connection cap. */
typedef struct capped {
	pid_t pid;
	int port, admin_port;
	char log[256];
} capped;

static void capped_start(capped *e, int max_connections)
{
	char exe[256], port[16], admin[16], cap[16], line[512];
	char *argv[] = {exe,	  "--port",	  port,	 "--admin-port",      admin, "--run-dir",
			mesh.dir, "--access-log", "off", "--max-connections", cap,   NULL};
	e->port = harness_free_port();
	e->admin_port = harness_free_port();
	ck_assert(e->port > 0 && e->admin_port > 0 && e->port != e->admin_port);
	snprintf(exe, sizeof(exe), "%s/edge", CLEAVE_BUILD_DIR);
	snprintf(port, sizeof(port), "%d", e->port);
	snprintf(admin, sizeof(admin), "%d", e->admin_port);
	snprintf(cap, sizeof(cap), "%d", max_connections);
	snprintf(e->log, sizeof(e->log), "%s/edge-capped.log", mesh.dir);
	ck_assert_int_gt(e->pid = harness_spawn(argv, e->log), 0);
	ck_assert_msg(
	    harness_wait_for_line(e->log, "listening on http://", line, sizeof(line), 10000) == 0,
	    "the capped edge did not start");
	/* its connection to users is up (with nng it is dialed after the edge listens) */
	for (long long until = harness_now_ms() + 10000;; harness_sleep_ms(20)) {
		static const char req[] =
		    "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
		char *answer = http_raw(e->admin_port, req, sizeof(req) - 1, 3000), *at, *eol;
		int healthy = 0;
		at = answer != NULL
			 ? strstr(answer, "cleave_upstream_instance_state{service=\"users\"")
			 : NULL;
		if (at != NULL) {
			eol = strchr(at, '\n');
			healthy =
			    (eol == NULL || (size_t)(eol - at) > strlen("state=\"healthy\"")) &&
			    strstr(at, "state=\"healthy\"") != NULL &&
			    (eol == NULL || strstr(at, "state=\"healthy\"") < eol);
		}
		free(answer);
		if (healthy)
			break;
		ck_assert_msg(harness_now_ms() < until, "the capped edge did not reach users");
	}
}

/* capped_metric is metric() on the capped edge's admin port. */
static double capped_metric(const capped *e, const char *name)
{
	char *answer, req[128];
	const char *at;
	double v = -1;
	snprintf(req, sizeof(req), "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	answer = http_raw(e->admin_port, req, strlen(req), 3000);
	ck_assert_ptr_nonnull(answer);
	for (at = strstr(answer, name); at != NULL; at = strstr(at + 1, name)) {
		if ((at == answer || at[-1] == '\n') && at[strlen(name)] == ' ') {
			v = strtod(at + strlen(name) + 1, NULL);
			break;
		}
	}
	free(answer);
	return v;
}

/* keepalive_get sends GET /api/users/1 on the open connection fd and says whether a 200 came
 * within ms. */
static int keepalive_get(int fd, int ms)
{
	static const char get[] = "GET /api/users/1 HTTP/1.1\r\nHost: x\r\n\r\n";
	char *answer;
	size_t got;
	int ok;
	http_raw_send(fd, get, sizeof(get) - 1);
	answer = http_raw_read(fd, ms, "\"bio\"", &got, NULL);
	ok = strncmp(answer, "HTTP/1.1 200 ", 13) == 0;
	free(answer);
	return ok;
}

START_TEST(test_overload_accepting_pauses_without_spinning)
{
	enum { CAP = 8 };
	capped e;
	int fds[CAP], extra, late;
	long long cpu;
	struct rlimit lim, low;
	ck_assert_msg(mesh_up, "the mesh did not start");
	capped_start(&e, CAP);

	/* at the cap: a connection more waits in the backlog, unanswered, and the edge rests */
	for (int i = 0; i < CAP; i++) {
		ck_assert_int_ge(fds[i] = http_raw_connect("127.0.0.1", e.port), 0);
		ck_assert_msg(keepalive_get(fds[i], 3000), "connection %d not served", i);
	}
	ck_assert_int_ge(extra = http_raw_connect("127.0.0.1", e.port), 0); /* the kernel's */
	cpu = cpu_ms(e.pid);
	ck_assert_msg(!keepalive_get(extra, 1000), "served a connection over the cap");
	cpu = cpu_ms(e.pid) - cpu;
	ck_assert_msg(cpu < 300, "the edge spent %lld ms of CPU in a second at its cap", cpu);
	ck_assert_int_eq(capped_metric(&e, "cleave_http_connections"), CAP);
	ck_assert_int_ge(
	    capped_metric(&e, "cleave_http_accept_paused_total{reason=\"connection_cap\"}"), 1);
	/* one closes: the waiting one is taken and served (its request was sent already) */
	close(fds[0]);
	{
		char *answer = http_raw_read(extra, 3000, "\"bio\"", NULL, NULL);
		ck_assert_msg(strncmp(answer, "HTTP/1.1 200 ", 13) == 0,
			      "not served once a connection closed: %.100s", answer);
		free(answer);
	}
	for (int i = 1; i < CAP; i++)
		close(fds[i]);
	close(extra);
	for (int i = 0; i < 100 && capped_metric(&e, "cleave_http_connections") != 0; i++)
		harness_sleep_ms(20);

	/* out of descriptors: accept fails with EMFILE; the edge rests between tries, no spin */
	ck_assert_int_eq(prlimit(e.pid, RLIMIT_NOFILE, NULL, &lim), 0);
	low = lim;
	low.rlim_cur = (rlim_t)lowest_free_fd(e.pid);
	ck_assert_int_eq(prlimit(e.pid, RLIMIT_NOFILE, &low, NULL), 0);
	ck_assert_int_ge(late = http_raw_connect("127.0.0.1", e.port), 0);
	cpu = cpu_ms(e.pid);
	ck_assert_msg(!keepalive_get(late, 1000), "served with no descriptor to spare");
	cpu = cpu_ms(e.pid) - cpu;
	ck_assert_msg(cpu < 300, "the edge spent %lld ms of CPU in a second without descriptors",
		      cpu);
	ck_assert_int_eq(prlimit(e.pid, RLIMIT_NOFILE, &lim, NULL), 0);
	{
		char *answer = http_raw_read(late, 3000, "\"bio\"", NULL, NULL);
		ck_assert_msg(strncmp(answer, "HTTP/1.1 200 ", 13) == 0,
			      "not served once descriptors were back: %.100s", answer);
		free(answer);
	}
	close(late);
	ck_assert_int_ge(capped_metric(&e, "cleave_http_accept_paused_total{reason=\"fd_limit\"}"),
			 1);
	harness_stop_clean(e.pid, SIGTERM, 5000, "the capped edge", e.log);
}
END_TEST

START_TEST(test_overload_everything_stops_cleanly)
{
	char report[8192];
	ck_assert(mesh_up);
	mesh_up = 0;
	ck_assert_msg(fixture_mesh_stop(&mesh, report, sizeof(report)) == 0, "%s", report);
}
END_TEST

static Suite *overload_suite(void)
{
	Suite *s = suite_create("overload");
	TCase *tc = harness_tcase("overload", 200);
	tcase_add_unchecked_fixture(tc, mesh_setup, mesh_teardown);
	tcase_add_test(tc, test_overload_stalled_service_sheds_at_once_and_recovers);
	tcase_add_test(tc, test_overload_clients_that_leave_free_their_calls_at_once);
	tcase_add_test(tc, test_overload_rapid_reset_reaches_few_calls);
	tcase_add_test(tc, test_overload_accepting_pauses_without_spinning);
	tcase_add_test(tc, test_overload_everything_stops_cleanly); /* last: it stops the mesh */
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return harness_run_suite(overload_suite(), 1);
}
