/* hostile_test.c: a corpus of malformed requests, generated here and sent over raw sockets to the
 * edge in front of the real mesh: each is answered 4xx (or, for the classes where h2o 2.2 drops
 * the connection by itself: a body that never completes, closed at --client-timeout-ms
 * without an answer), never 5xx, never after a bound; the edge
 * and every service are alive afterwards and no bad create made a record. Slow clients are cut
 * off by --client-timeout-ms, and HTTP/2 connections idle that long closed; a body over 64 KiB
 * gets a JSON 413 before more of it is read (h2o refuses it, and the edge's filter makes its
 * answer the JSON error). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include "fixture.h"
#include "harness.h"
#include "http.h"

#define CLIENT_TIMEOUT_MS 1500
#define ANSWER_BOUND_MS	  (CLIENT_TIMEOUT_MS + 2500) /* no request may take longer */
#define CORPUS_MAX	  600

static fixture_mesh mesh;
static int mesh_up;

static void mesh_setup(void)
{
	static const char *const args[] = {"--client-timeout-ms", "1500", "--access-log", "off",
					   NULL};
	mesh_up = fixture_mesh_start(&mesh, args) == 0;
}

static void mesh_teardown(void)
{
	char report[8192];
	if (mesh_up && fixture_mesh_stop(&mesh, report, sizeof(report)) != 0)
		fprintf(stderr, "hostile_test: unclean stop:\n%s", report);
	mesh_up = 0;
}

/* One request of the corpus. */
typedef struct entry {
	const char *cls; /* its class, for the messages */
	char *bytes;
	size_t len;
	/* h2o 2.2 closes the connection without answering (a body that never completes: the
	 * client timeout) */
	int may_close;
} entry;

static entry corpus[CORPUS_MAX];
static size_t ncorpus;

static void add_bytes(const char *cls, int may_close, const char *bytes, size_t len)
{
	entry *e;
	ck_assert_int_lt(ncorpus, CORPUS_MAX);
	e = &corpus[ncorpus++];
	e->cls = cls;
	e->may_close = may_close;
	e->bytes = malloc(len + 1);
	ck_assert_ptr_nonnull(e->bytes);
	memcpy(e->bytes, bytes, len);
	e->bytes[len] = '\0';
	e->len = len;
}

static void add(const char *cls, int may_close, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;
	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	ck_assert_int_ge(n, 0);
	add_bytes(cls, may_close, s, (size_t)n);
	free(s);
}

/* repeat returns c n times, malloc'd. */
static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);
	ck_assert_ptr_nonnull(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* nested returns depth opening brackets around a leaf and the closing ones, malloc'd: "[[[1]]]"
 * for arrays, {"a":{"a":1}} for objects. */
static char *nested(int depth, int objects)
{
	size_t cap = (size_t)depth * 6 + 8, len = 0;
	char *s = malloc(cap);
	ck_assert_ptr_nonnull(s);
	for (int i = 0; i < depth; i++)
		len += (size_t)sprintf(s + len, objects ? "{\"a\":" : "[");
	len += (size_t)sprintf(s + len, "1");
	for (int i = 0; i < depth; i++)
		s[len++] = objects ? '}' : ']';
	s[len] = '\0';
	return s;
}

/* add_post adds a POST of body (len bytes) to path with content type type (NULL: none). */
static void add_post(const char *cls, const char *path, const char *type, const char *body,
		     size_t len)
{
	char head[512];
	char *all;
	int n =
	    snprintf(head, sizeof(head),
		     "POST %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n%s%s%sContent-Length: "
		     "%zu\r\n\r\n",
		     path, type != NULL ? "Content-Type: " : "", type != NULL ? type : "",
		     type != NULL ? "\r\n" : "", len);
	all = malloc((size_t)n + len);
	ck_assert_ptr_nonnull(all);
	memcpy(all, head, (size_t)n);
	memcpy(all + n, body, len);
	add_bytes(cls, 0, all, (size_t)n + len);
	free(all);
}

static void build_corpus(void)
{
	static const char *const creates[] = {"/api/users", "/api/threads", "/api/posts"};
	/* valid bodies but for the content type */
	static const char *const good[] = {
	    "{\"username\":\"hostile\",\"name\":\"H\",\"bio\":\"\"}",
	    "{\"title\":\"hostile\",\"createdBy\":1}",
	    "{\"thread\":1,\"text\":\"hostile\",\"user\":1}",
	};
	static const char *const bad_json[] = {
	    "",
	    "{",
	    "{\"username\":",
	    "{\"username\":\"abc",
	    "{\"title\":\"x\",",
	    "nul",
	    "[]",
	    "[{\"username\":\"a\"}]",
	    "\"just a string\"",
	    "42",
	    "null",
	    "true",
	    "{\"username\":42,\"name\":\"x\"}",
	    "{\"title\":[\"x\"],\"createdBy\":1}",
	    "{\"thread\":\"one\",\"text\":\"x\",\"user\":1}",
	    "{\"createdBy\":{\"id\":1},\"title\":\"x\"}",
	    "{\"user\":true,\"thread\":1,\"text\":\"x\"}",
	    "{\"thread\":1e400,\"text\":\"x\",\"user\":1}",
	    "{\"thread\":99999999999999999999999,\"text\":\"x\",\"user\":1}",
	    "{\"createdBy\":-9223372036854775809,\"title\":\"x\"}",
	    "{\"thread\":1.5,\"text\":\"x\",\"user\":1}",
	    "{\"username\":\"\xff\xfe\",\"name\":\"x\"}",
	    "{\"title\":\"\xc3\x28\",\"createdBy\":1}",
	    "{\"text\":\"\xed\xa0\x80\",\"thread\":1,\"user\":1}",
	    "{\"username\":\"a\",\"username\":\"b\",\"name\":\"x\"}",
	    "{\"title\":\"a\",\"title\":\"b\",\"createdBy\":1}",
	    "{\"unknownField\":1}",
	    "{\"username\":\"ok_name\",\"name\":\"x\",\"admin\":true}",
	    "{\"title\":\"x\",\"createdBy\":1,\"id\":77}",
	    "{\"text\":\"x\",\"thread\":1,\"user\":1,\"__proto__\":{}}",
	    "{\"username\":\"a\\u0000b\",\"name\":\"x\"}",
	    "{\"title\":\"x\\ud800\",\"createdBy\":1}",
	    "{} trailing",
	    "{}{}",
	    "{'username':'x'}",
	    "{username:\"x\"}",
	    "{\"a\":NaN}",
	    "{\"a\":Infinity}",
	    "{\"thread\":0x10,\"text\":\"x\",\"user\":1}",
	    "\xef\xbb\xbf{}",
	};
	static const char *const bad_types[] = {NULL,
						"text/plain",
						"application/jsonx",
						"application/x-www-form-urlencoded",
						"multipart/form-data; boundary=x",
						"json",
						"application/xml"};
	static const char *const bad_ids[] = {"9223372036854775808",
					      "-9223372036854775809",
					      "99999999999999999999999",
					      "-1",
					      "0",
					      "-0",
					      "1e3",
					      "0x10",
					      "1.0",
					      "%201",
					      "1%00",
					      "+1",
					      "1abc",
					      "%",
					      "%zz",
					      "%0",
					      "%ff%fe",
					      "..",
					      "%2e%2e",
					      "..%2f..%2fetc%2fpasswd",
					      "1%2f2",
					      "%2f",
					      "1;2",
					      "1,2"};
	static const char *const id_routes[] = {"/api/users/", "/api/threads/", "/api/posts/",
						"/api/posts/in-thread/", "/api/posts/by-user/"};
	static const char *const bad_paths[] = {"/api/../etc/passwd",
						"/../../etc/passwd",
						"/api/users/../../../etc/passwd",
						"/api/%2e%2e/%2e%2e/etc/passwd",
						"/api%2fusers%2f1",
						"/api/users%2f1",
						"//api//users//1/../../x",
						"/api/users/1/extra/segments/here",
						"/api/nope",
						"/api/users/1/%",
						"/%00",
						"/api/users/\\..\\..\\x"};
	static const char *const not_allowed[][2] = {
	    {"PUT", "/api/users/1"},	{"DELETE", "/api/users/1"}, {"PATCH", "/api/users"},
	    {"DELETE", "/api/threads"}, {"PUT", "/api/posts/1"},    {"POST", "/api/users/1"},
	    {"POST", "/api/posts/1"},	{"TRACE", "/api/users"},    {"FOO", "/api/threads/1"},
	    {"get", "/api/users/1"},	{"PUT", "/api/threads/1"},  {"DELETE", "/api/posts"}};
	static const char *const bad_cl[] = {"abc",  "-1", "1 2", "99999999999999999999",
					     "0x10", "",   "+5",  "5.0"};
	unsigned seed = 12345;
	char *s;

	/* request lines: garbage bytes, generated */
	for (int i = 0; i < 20; i++) {
		char g[96];
		size_t n = 8 + (size_t)(i * 3);
		for (size_t k = 0; k < n; k++) {
			seed = seed * 1103515245u + 12345u;
			g[k] = (char)((seed >> 16) & 0xff);
			if (g[k] == '\r' || g[k] == '\n')
				g[k] = 'x';
		}
		memcpy(g + n, "\r\n\r\n", 4);
		add_bytes("garbage", 0, g, n + 4);
	}
	add("missing version", 0, "GET /api/users/1\r\nHost: x\r\n\r\n");
	add("missing version", 0, "GET\r\n\r\n");
	add("bad version", 0, "GET /api/users/1 HTTP/9.9\r\nHost: x\r\nConnection: close\r\n\r\n");
	add("bad version", 0, "GET /api/users/1 HTTX/1.1\r\nHost: x\r\n\r\n");
	add("bad version", 0, "GET /api/users/1 HTTP/1.1 extra\r\nHost: x\r\n\r\n");
	add_bytes("NUL in line", 0, "GET /api/users/\0 HTTP/1.1\r\nHost: x\r\n\r\n", 38);
	add_bytes("NUL in line", 0, "GET /api/users/1\0 HTTP/1.1\r\nHost: x\r\n\r\n", 39);
	add_bytes("NUL in line", 0, "G\0T /api/users/1 HTTP/1.1\r\nHost: x\r\n\r\n", 38);
	add("control in line", 0, "GET /api/users/\x01\x02 HTTP/1.1\r\nHost: x\r\n\r\n");
	add("relative target", 0, "GET api/users HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	add("empty line", 0, "\r\n\r\n\r\n");
	for (size_t n = 100; n <= 100000; n *= 10) { /* huge methods */
		s = repeat('X', n);
		add("huge method", 0,
		    "%s /api/users/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", s);
		free(s);
	}
	{
		static const size_t lens[] = {8193, 20000, 100000, 300000};
		for (size_t i = 0; i < sizeof(lens) / sizeof(*lens); i++) {
			s = repeat('a', lens[i]);
			add("long target", 0,
			    "GET /api/users/%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
			    s);
			free(s);
		}
		s = repeat('a', 500000); /* over H2O_MAX_REQLEN: h2o's own 400 */
		add("target over h2o's limit", 0,
		    "GET /api/users/%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", s);
		free(s);
	}
	for (size_t r = 0; r < sizeof(id_routes) / sizeof(*id_routes); r++)
		for (size_t i = 0; i < sizeof(bad_ids) / sizeof(*bad_ids); i++)
			add("bad id", 0,
			    "GET %s%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
			    id_routes[r], bad_ids[i]);
	for (size_t i = 0; i < sizeof(bad_paths) / sizeof(*bad_paths); i++)
		add("bad path", 0, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		    bad_paths[i]);

	/* headers */
	add("no colon", 0, "GET /api/users/1 HTTP/1.1\r\nHost x\r\nConnection: close\r\n\r\n");
	add("no colon", 0, "GET /api/users/1 HTTP/1.1\r\nHost: x\r\nJustAName\r\n\r\n");
	add("empty name", 0, "GET /api/users/1 HTTP/1.1\r\n: value\r\nHost: x\r\n\r\n");
	add("space in name", 0, "GET /api/users/1 HTTP/1.1\r\nBad Name: v\r\nHost: x\r\n\r\n");
	add("NUL in header", 0, "GET /api/users/1 HTTP/1.1\r\nHost: x\r\nX-A: a\001b\r\n\r\n");
	add_bytes("NUL in header", 0, "GET /api/users/1 HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n",
		  48);
	{
		static const size_t lens[] = {16385, 50000, 200000};
		for (size_t i = 0; i < sizeof(lens) / sizeof(*lens); i++) {
			s = repeat('v', lens[i]);
			add("huge header", 0,
			    "GET /api/users/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Big: "
			    "%s\r\n\r\n",
			    s);
			free(s);
		}
		s = repeat('v', 500000);
		add("header over h2o's limit", 0,
		    "GET /api/users/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Big: "
		    "%s\r\n\r\n",
		    s);
		free(s);
	}
	{
		static const int counts[][2] = {{99, 200}, {101, 1}, {150, 10}, {1000, 1}};
		for (size_t c = 0; c < sizeof(counts) / sizeof(*counts); c++) {
			size_t cap = (size_t)counts[c][0] * ((size_t)counts[c][1] + 32) + 256;
			char *h = malloc(cap);
			size_t len = 0;
			char *v = repeat('v', (size_t)counts[c][1]);
			ck_assert_ptr_nonnull(h);
			len += (size_t)sprintf(
			    h, "GET /api/users/1 HTTP/1.1\r\nConnection: close\r\n");
			for (int i = 0; i < counts[c][0] - 1; i++)
				len += (size_t)sprintf(h + len, "X-H%d: %s\r\n", i, v);
			len += (size_t)sprintf(h + len, "\r\n");
			add_bytes("many headers", 0, h, len);
			free(h);
			free(v);
		}
	}
	for (size_t i = 0; i < sizeof(bad_cl) / sizeof(*bad_cl); i++)
		add("bad content-length", 0,
		    "POST /api/users HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: "
		    "application/json\r\nContent-Length: %s\r\n\r\n{}",
		    bad_cl[i]);
	add("two content-lengths", 0,
	    "POST /api/users HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: "
	    "application/json\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\n{}xyz");
	add("content-length and chunked", 0,
	    "POST /api/users HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: "
	    "application/json\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}"
	    "\r\n0\r\n\r\n");
	add("chunked and content-length", 0,
	    "POST /api/threads HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: "
	    "application/json\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n1\r\n["
	    "\r\n0\r\n\r\n");
	add("unknown transfer-encoding", 0,
	    "POST /api/posts HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: "
	    "application/json\r\nTransfer-Encoding: gzip\r\n\r\n{}");
	{
		static const char *const chunks[] = {"zz\r\n{}\r\n0\r\n\r\n",
						     "-1\r\n{}\r\n0\r\n\r\n",
						     "ffffffffffffffffffff\r\n{}\r\n0\r\n\r\n",
						     "2 2\r\n{}\r\n0\r\n\r\n",
						     "2\r\n{}XX0\r\n\r\n",
						     "\r\n\r\n",
						     "200000\r\nabc\r\n0\r\n\r\n"};
		for (size_t i = 0; i < sizeof(chunks) / sizeof(*chunks); i++)
			/* a chunk size over the rest of the bytes waits for more: the timeout */
			add("bad chunk", i == 6,
			    "POST /api/users HTTP/1.1\r\nHost: x\r\nConnection: "
			    "close\r\nContent-Type: application/json\r\nTransfer-Encoding: "
			    "chunked\r\n\r\n%s",
			    chunks[i]);
	}
	add("body shorter than content-length", 1,
	    "POST /api/users HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: "
	    "application/json\r\nContent-Length: 100\r\n\r\n{\"username\":");
	{
		size_t n = 70000;
		char *body = malloc(n);
		ck_assert_ptr_nonnull(body);
		memcpy(body, "{\"bio\":\"", 8);
		memset(body + 8, 'b', n - 10);
		memcpy(body + n - 2, "\"}", 2);
		add_post("body over 64 KiB", "/api/users", "application/json", body, n);
		free(body);
		n = 2 << 20; /* far over what h2o reads: h2o's own 413 */
		body = repeat('[', n);
		add_post("body over 1 MiB", "/api/threads", "application/json", body, n);
		free(body);
	}

	/* JSON bodies for every create */
	for (size_t r = 0; r < 3; r++) {
		for (size_t i = 0; i < sizeof(bad_json) / sizeof(*bad_json); i++)
			add_post("bad json", creates[r], "application/json", bad_json[i],
				 strlen(bad_json[i]));
		add_post("NUL in json", creates[r], "application/json", "{\"a\0\":1}", 8);
		add_post("NUL in json", creates[r], "application/json", "\0{}", 3);
		{
			static const int depths[] = {33, 40, 1000, 3000, 30000};
			for (size_t d = 0; d < sizeof(depths) / sizeof(*depths); d++) {
				s = nested(depths[d], (int)(d % 2));
				add_post("deep json", creates[r], "application/json", s, strlen(s));
				free(s);
			}
			/* valid depth, wrong shape: still a 400 */
			s = nested(32, 1);
			add_post("json at depth 32", creates[r], "application/json", s, strlen(s));
			free(s);
		}
		for (size_t t = 0; t < sizeof(bad_types) / sizeof(*bad_types); t++)
			add_post("bad content-type", creates[r], bad_types[t], good[r],
				 strlen(good[r]));
	}
	for (size_t i = 0; i < sizeof(not_allowed) / sizeof(*not_allowed); i++)
		add("method not allowed", 0,
		    "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
		    not_allowed[i][0], not_allowed[i][1]);
}

/* exchange sends bytes on a new connection and reads until the server closes or bound_ms passes.
 * Returns the answer's status (0: none), and sets *closed (the server closed) and *ms. */
static int exchange(const entry *e, int bound_ms, int *closed, long long *ms, char *first,
		    size_t firstlen)
{
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)mesh.port)};
	long long start = harness_now_ms(), until = start + bound_ms;
	char buf[4096];
	size_t got = 0;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), status = 0;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	*closed = 0;
	first[0] = '\0';
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	for (size_t sent = 0; sent < e->len;) {
		ssize_t w = send(fd, e->bytes + sent, e->len - sent, MSG_NOSIGNAL);
		if (w <= 0)
			break; /* the server may close before reading it all */
		sent += (size_t)w;
	}
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		long long left = until - harness_now_ms();
		ssize_t n;
		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			break;
		n = recv(fd, got < sizeof(buf) - 1 ? buf + got : buf,
			 got < sizeof(buf) - 1 ? sizeof(buf) - 1 - got : sizeof(buf) - 1, 0);
		if (n <= 0) {
			*closed = 1;
			break;
		}
		if (got < sizeof(buf) - 1)
			got += (size_t)n;
	}
	close(fd);
	*ms = harness_now_ms() - start;
	buf[got < sizeof(buf) ? got : sizeof(buf) - 1] = '\0';
	if (got >= 12 && strncmp(buf, "HTTP/1.", 7) == 0)
		status = atoi(buf + 9);
	snprintf(first, firstlen, "%.*s", (int)strcspn(buf, "\r\n"), buf);
	return status;
}

static char *get_body(const char *path, long *status)
{
	http_response r;
	char url[256];
	char *body;
	fixture_url(&mesh, path, url, sizeof(url));
	ck_assert_msg(http_get(url, &r) == 0, "GET %s: %s", path, r.error);
	*status = r.status;
	body = r.body;
	r.body = NULL;
	http_response_free(&r);
	return body;
}

static int count_ids(const char *json)
{
	int n = 0;
	for (const char *p = json; (p = strstr(p, "\"id\":")) != NULL; p++)
		n++;
	return n;
}

START_TEST(test_hostile_corpus_gets_4xx_and_everything_survives)
{
	static const char *const lists[] = {"/api/users?limit=100", "/api/threads?limit=100",
					    "/api/posts?limit=100"};
	static const char *const ones[] = {"/api/users/1", "/api/threads/1", "/api/posts/1"};
	char *before[3];
	int counts[600] = {0}, closed_count = 0;
	long status;
	ck_assert_msg(mesh_up, "the mesh did not start");
	for (int i = 0; i < 3; i++) {
		before[i] = get_body(lists[i], &status);
		ck_assert_int_eq(status, 200);
	}
	build_corpus();
	ck_assert_int_ge(ncorpus, 200);
	for (size_t i = 0; i < ncorpus; i++) {
		char first[160];
		int closed;
		long long ms;
		int st = exchange(&corpus[i], ANSWER_BOUND_MS, &closed, &ms, first, sizeof(first));
		if (getenv("HOSTILE_VERBOSE") != NULL) {
			char shown[61];
			size_t k;
			for (k = 0; k < 60 && k < corpus[i].len; k++)
				shown[k] = corpus[i].bytes[k] >= 0x20 && corpus[i].bytes[k] < 0x7f
					       ? corpus[i].bytes[k]
					       : '.';
			shown[k] = '\0';
			fprintf(stderr, "#%zu %-28s %3d closed=%d %lldms %s | %.70s\n", i,
				corpus[i].cls, st, closed, ms, shown, first);
			if (getenv("HOSTILE_PROBE") != NULL)
				continue;
		}
		ck_assert_msg(ms < ANSWER_BOUND_MS, "#%zu (%s): no end after %lld ms", i,
			      corpus[i].cls, ms);
		if (st == 0) {
			ck_assert_msg(corpus[i].may_close && closed,
				      "#%zu (%s): no answer (closed %d) to %.80s", i, corpus[i].cls,
				      closed, corpus[i].bytes);
			closed_count++;
		} else {
			ck_assert_msg(st >= 400 && st < 500, "#%zu (%s): %s for %.80s", i,
				      corpus[i].cls, first, corpus[i].bytes);
			counts[st]++;
		}
	}
	{
		char line[512];
		size_t len =
		    (size_t)snprintf(line, sizeof(line), "hostile: %zu requests:", ncorpus);
		for (int st = 0; st < 600; st++)
			if (counts[st] > 0)
				len += (size_t)snprintf(line + len, sizeof(line) - len, " %d=%d",
							st, counts[st]);
		snprintf(line + len, sizeof(line) - len, " closed-without-answer=%d", closed_count);
		printf("%s\n", line);
		fflush(stdout);
	}
	ck_assert_int_eq(waitpid(fixture_pid(&mesh, "edge"), NULL, WNOHANG), 0);
	for (int i = 0; i < 3; i++) {
		char *after = get_body(ones[i], &status);
		ck_assert_msg(status == 200, "GET %s after the corpus: %ld", ones[i], status);
		free(after);
		after = get_body(lists[i], &status);
		ck_assert_int_eq(status, 200);
		ck_assert_msg(count_ids(after) == count_ids(before[i]) &&
				  strcmp(after, before[i]) == 0,
			      "%s changed: %d records before, %d after", lists[i],
			      count_ids(before[i]), count_ids(after));
		free(after);
		free(before[i]);
	}
	for (size_t i = 0; i < ncorpus; i++)
		free(corpus[i].bytes);
	ncorpus = 0;
}
END_TEST

/* slow_connect connects to the edge. */
static int slow_connect(void)
{
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)mesh.port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	return fd;
}

/* closed_within says whether the server closes fd within ms (reading and dropping what it
 * sends). */
static int closed_within(int fd, int ms)
{
	long long until = harness_now_ms() + ms;
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		long long left = until - harness_now_ms();
		char buf[512];
		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			return 0;
		if (recv(fd, buf, sizeof(buf), 0) <= 0)
			return 1;
	}
}

START_TEST(test_hostile_slow_headers_are_cut_off)
{
	static const char head[] =
	    "GET /api/users/1 HTTP/1.1\r\nHost: x\r\nX-Slow: "
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
	long long start = harness_now_ms();
	int fd, closed = 0;
	size_t i;
	ck_assert_msg(mesh_up, "the mesh did not start");
	fd = slow_connect();
	/* one byte every 100 ms: the whole head would take over 14 s */
	for (i = 0; i < sizeof(head) - 1; i++) {
		if (send(fd, head + i, 1, MSG_NOSIGNAL) != 1 || closed_within(fd, 100)) {
			closed = 1;
			break;
		}
	}
	close(fd);
	ck_assert_msg(closed, "a byte-by-byte client was never cut off");
	ck_assert_msg(harness_now_ms() - start < CLIENT_TIMEOUT_MS + 1500,
		      "cut off only after %lld ms", harness_now_ms() - start);
	ck_assert_int_eq(waitpid(fixture_pid(&mesh, "edge"), NULL, WNOHANG), 0);
}
END_TEST

START_TEST(test_hostile_stalled_body_is_cut_off)
{
	static const char req[] = "POST /api/users HTTP/1.1\r\nHost: x\r\nContent-Type: "
				  "application/json\r\nContent-Length: 50\r\n\r\n{\"username\":";
	long long start;
	int fd;
	ck_assert_msg(mesh_up, "the mesh did not start");
	fd = slow_connect();
	start = harness_now_ms();
	ck_assert_int_eq(send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL), (ssize_t)sizeof(req) - 1);
	ck_assert_msg(closed_within(fd, CLIENT_TIMEOUT_MS + 1500),
		      "a client stopped mid-body was never cut off");
	ck_assert_int_ge(harness_now_ms() - start, CLIENT_TIMEOUT_MS - 200);
	close(fd);
	/* an idle connection that never sent a byte goes the same way */
	fd = slow_connect();
	ck_assert_msg(closed_within(fd, CLIENT_TIMEOUT_MS + 1500),
		      "an idle connection was never cut off");
	close(fd);
}
END_TEST

START_TEST(test_hostile_bounds_answer_json)
{
	char *s = repeat('a', 9000), *answer, *req;
	ck_assert_msg(mesh_up, "the mesh did not start");
	ck_assert_int_ge(
	    asprintf(&req, "GET /api/users/%s HTTP/1.1\r\nConnection: close\r\n\r\n", s), 0);
	answer = http_raw(mesh.port, req, strlen(req), 3000);
	ck_assert_ptr_nonnull(answer);
	ck_assert_msg(strncmp(answer, "HTTP/1.1 414 ", 13) == 0, "%.200s", answer);
	ck_assert_ptr_nonnull(strstr(answer, "{\"code\":\"URI_TOO_LONG\""));
	free(answer);
	free(req);
	ck_assert_int_ge(
	    asprintf(&req, "GET /api/users/1 HTTP/1.1\r\nConnection: close\r\nX-Big: %s%s\r\n\r\n",
		     s, s),
	    0);
	answer = http_raw(mesh.port, req, strlen(req), 3000);
	ck_assert_ptr_nonnull(answer);
	ck_assert_msg(strncmp(answer, "HTTP/1.1 431 ", 13) == 0, "%.200s", answer);
	ck_assert_ptr_nonnull(strstr(answer, "\"REQUEST_HEADER_FIELDS_TOO_LARGE\""));
	free(answer);
	free(req);
	free(s);
	{
		char *body = nested(33, 1);
		http_options o = {.body = body, .content_type = "application/json"};
		http_response r;
		char url[128];
		fixture_url(&mesh, "/api/users", url, sizeof(url));
		ck_assert_int_eq(http_request("POST", url, &o, &r), 0);
		ck_assert_int_eq(r.status, 400);
		ck_assert_msg(strstr(r.body, "\"INVALID_ARGUMENT\"") != NULL &&
				  strstr(r.body, "deeper than 32") != NULL,
			      "%s", r.body);
		http_response_free(&r);
		free(body);
	}
}
END_TEST

/* head_has says whether the header block of answer (up to its blank line) has a line starting
 * with line, case-insensitively. */
static int head_has(const char *answer, const char *line)
{
	const char *end = strstr(answer, "\r\n\r\n");
	size_t n = strlen(line);
	for (const char *p = strstr(answer, "\r\n"); p != NULL && (end == NULL || p < end);
	     p = strstr(p + 2, "\r\n"))
		if (strncasecmp(p + 2, line, n) == 0)
			return 1;
	return 0;
}

/* expect_h2o_413 sends req (len bytes) on a new connection and asserts the answer to a body over
 * 64 KiB that h2o refuses before the edge sees it (made the edge's JSON 413 by its filter): a
 * JSON 413 PAYLOAD_TOO_LARGE with an X-Request-Id, the connection closed, within bound_ms. */
static void expect_h2o_413(const char *what, const char *req, size_t len, int bound_ms)
{
	long long start = harness_now_ms();
	char *answer = http_raw(mesh.port, req, len, bound_ms + 1000);
	long long ms = harness_now_ms() - start;
	ck_assert_ptr_nonnull(answer);
	ck_assert_msg(strncmp(answer, "HTTP/1.1 413 ", 13) == 0, "%s: %.300s", what, answer);
	ck_assert_msg(head_has(answer, "content-type: application/json; charset=utf-8"),
		      "%s: %.300s", what, answer);
	ck_assert_msg(head_has(answer, "x-request-id:"), "%s: %.300s", what, answer);
	ck_assert_msg(head_has(answer, "connection: close"), "%s: %.300s", what, answer);
	ck_assert_msg(strstr(answer, "\r\n\r\n{\"code\":\"PAYLOAD_TOO_LARGE\",\"message\":") !=
			  NULL,
		      "%s: %.300s", what, answer);
	ck_assert_msg(ms < bound_ms, "%s: answered and closed after %lld ms", what, ms);
	free(answer);
}

START_TEST(test_hostile_body_over_64_kib_is_413_unread)
{
	static const char head[] = "POST /api/threads HTTP/1.1\r\nHost: x\r\nConnection: "
				   "close\r\nContent-Type: application/json\r\n";
	size_t kib64 = 64 << 10;
	char *body = repeat(' ', kib64 + 1), *req, *answer;
	http_options o = {.body = body, .content_type = "application/json"};
	http_response r;
	char url[128], id[64];
	int n;
	ck_assert_msg(mesh_up, "the mesh did not start");
	fixture_url(&mesh, "/api/threads", url, sizeof(url));
	/* one byte over 64 KiB, announced by Content-Length, is still read, and answered by the
	 * edge: its JSON 413 */
	body[0] = '{';
	body[kib64] = '}';
	ck_assert_int_eq(http_request("POST", url, &o, &r), 0);
	ck_assert_msg(r.status == 413 && strstr(r.body, "\"code\":\"PAYLOAD_TOO_LARGE\"") != NULL,
		      "64 KiB + 1: %ld %s", r.status, r.body);
	ck_assert_ptr_nonnull(http_header(&r, "x-request-id", id, sizeof(id)));
	http_response_free(&r);
	/* exactly 64 KiB in chunks passes h2o: the edge reads it (a thread without a title) */
	body[kib64 - 1] = '}';
	body[kib64] = '\0';
	n = asprintf(&req, "%sTransfer-Encoding: chunked\r\n\r\n%zx\r\n%s\r\n0\r\n\r\n", head,
		     kib64, body);
	ck_assert_int_ge(n, 0);
	answer = http_raw(mesh.port, req, (size_t)n, 3000);
	ck_assert_ptr_nonnull(answer);
	ck_assert_msg(strncmp(answer, "HTTP/1.1 400 ", 13) == 0 &&
			  head_has(answer, "x-request-id:"),
		      "a chunk of 64 KiB: %.300s", answer);
	free(answer);
	free(req);
	/* two bytes over, announced by Content-Length: h2o answers at once, before any of the body
	 * is sent (well within --client-timeout-ms, which a read of the body would wait out) */
	ck_assert_int_ge(asprintf(&req, "%sContent-Length: %zu\r\n\r\n", head, kib64 + 2), 0);
	expect_h2o_413("Content-Length: 64 KiB + 2", req, strlen(req), CLIENT_TIMEOUT_MS / 2);
	free(req);
	/* chunked: h2o counts what it reads, and stops at the byte over 64 KiB */
	body[kib64 - 1] = ' ';
	n = asprintf(&req, "%sTransfer-Encoding: chunked\r\n\r\n%zx\r\n%s ", head, kib64 + 1,
		     body); /* kib64 + 1 bytes: the body and a space; no more is sent */
	ck_assert_int_ge(n, 0);
	expect_h2o_413("a chunk of 64 KiB + 1", req, (size_t)n, CLIENT_TIMEOUT_MS / 2);
	free(req);
	free(body);
	ck_assert_int_eq(waitpid(fixture_pid(&mesh, "edge"), NULL, WNOHANG), 0);
}
END_TEST

/* h2c: a raw HTTP/2 connection to the edge with prior knowledge (h2c), and what it read. */
typedef struct h2c {
	int fd;
	unsigned char buf[65536]; /* read, not yet taken as frames */
	size_t len;
	int goaway; /* a GOAWAY frame arrived */
	int closed; /* the edge closed the connection */
} h2c;

/* h2c_frame sends one frame: type and flags on stream sid, with payload (len bytes, at most 64).
 * Returns 0, or -1 if it could not be sent. */
static int h2c_frame(h2c *c, int type, int flags, uint32_t sid, const void *payload, size_t len)
{
	unsigned char f[9 + 64] = {0,
				   0,
				   (unsigned char)len,
				   (unsigned char)type,
				   (unsigned char)flags,
				   (unsigned char)(sid >> 24),
				   (unsigned char)(sid >> 16),
				   (unsigned char)(sid >> 8),
				   (unsigned char)sid};
	ck_assert_uint_le(len, 64);
	if (len > 0)
		memcpy(f + 9, payload, len);
	return send(c->fd, f, 9 + len, MSG_NOSIGNAL) == (ssize_t)(9 + len) ? 0 : -1;
}

/* h2c_open connects to the edge and sends the client preface and an empty SETTINGS frame. */
static void h2c_open(h2c *c)
{
	static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
	memset(c, 0, sizeof(*c));
	c->fd = slow_connect();
	ck_assert_int_eq(send(c->fd, preface, sizeof(preface) - 1, MSG_NOSIGNAL),
			 (ssize_t)sizeof(preface) - 1);
	ck_assert_int_eq(h2c_frame(c, 0x4, 0, 0, NULL, 0), 0);
}

/* h2c_get_root sends GET / on stream sid: one HEADERS frame (END_STREAM, END_HEADERS) of HPACK's
 * static entries :method GET, :path / and :scheme http, and a literal :authority. */
static void h2c_get_root(h2c *c, uint32_t sid)
{
	static const unsigned char block[] = {0x82, 0x84, 0x86, 0x41, 0x01, 'x'};
	ck_assert_msg(h2c_frame(c, 0x1, 0x5, sid, block, sizeof(block)) == 0,
		      "cannot send request %u", sid);
}

/* h2c_read reads frames until stream sid ends (a frame on it with END_STREAM: returns 1), the
 * edge closes the connection (c->closed) or ms pass (both return 0). It acknowledges SETTINGS
 * and notes a GOAWAY. */
static int h2c_read(h2c *c, uint32_t sid, int ms)
{
	long long until = harness_now_ms() + ms;
	for (;;) {
		struct pollfd p = {.fd = c->fd, .events = POLLIN};
		long long left;
		ssize_t n;
		while (c->len >= 9) {
			size_t flen = (size_t)c->buf[0] << 16 | (size_t)c->buf[1] << 8 | c->buf[2];
			int type = c->buf[3], flags = c->buf[4];
			uint32_t id = (uint32_t)(c->buf[5] & 0x7f) << 24 |
				      (uint32_t)c->buf[6] << 16 | (uint32_t)c->buf[7] << 8 |
				      c->buf[8];
			ck_assert_uint_le(9 + flen, sizeof(c->buf));
			if (c->len < 9 + flen)
				break;
			if (type == 0x4 && !(flags & 0x1))
				h2c_frame(c, 0x4, 0x1, 0, NULL, 0); /* fails only once closed */
			c->goaway |= type == 0x7;
			c->len -= 9 + flen;
			memmove(c->buf, c->buf + 9 + flen, c->len);
			if (id == sid && (type == 0x0 || type == 0x1) && (flags & 0x1))
				return 1;
		}
		left = until - harness_now_ms();
		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			return 0;
		n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
		if (n <= 0) {
			c->closed = 1;
			return 0;
		}
		c->len += (size_t)n;
	}
}

START_TEST(test_hostile_idle_http2_connection_is_closed)
{
	long long start, last;
	uint32_t sid = 1;
	h2c c;
	ck_assert_msg(mesh_up, "the mesh did not start");
	h2c_open(&c);
	start = harness_now_ms();
	/* busy for twice --client-timeout-ms, a request every third of it: all answered, as
	 * HTTP/2's timeout is idle time, not the connection's age */
	for (;;) {
		h2c_get_root(&c, sid);
		ck_assert_msg(h2c_read(&c, sid, 1000),
			      "request %u, %lld ms into a busy connection: %s", sid,
			      harness_now_ms() - start, c.closed ? "closed" : "no answer");
		last = harness_now_ms();
		if (last - start >= 2 * CLIENT_TIMEOUT_MS)
			break;
		sid += 2;
		harness_sleep_ms(CLIENT_TIMEOUT_MS / 3);
	}
	/* then idle: a GOAWAY and the connection closed once the timeout has passed */
	ck_assert(!h2c_read(&c, 0, CLIENT_TIMEOUT_MS + 1500));
	close(c.fd);
	ck_assert_msg(c.closed, "an idle HTTP/2 connection was open %lld ms after its last answer",
		      harness_now_ms() - last);
	ck_assert_msg(harness_now_ms() - last >= CLIENT_TIMEOUT_MS - 200,
		      "an HTTP/2 connection was closed after %lld ms idle, before the timeout",
		      harness_now_ms() - last);
	ck_assert_msg(c.goaway, "an idle HTTP/2 connection was closed without a GOAWAY");
	ck_assert_int_eq(waitpid(fixture_pid(&mesh, "edge"), NULL, WNOHANG), 0);
}
END_TEST

START_TEST(test_hostile_everything_stops_cleanly)
{
	char report[8192];
	ck_assert(mesh_up);
	mesh_up = 0;
	ck_assert_msg(fixture_mesh_stop(&mesh, report, sizeof(report)) == 0, "%s", report);
}
END_TEST

static Suite *hostile_suite(void)
{
	Suite *s = suite_create("hostile");
	TCase *tc = harness_tcase("corpus", 240);
	tcase_add_unchecked_fixture(tc, mesh_setup, mesh_teardown);
	tcase_add_test(tc, test_hostile_bounds_answer_json);
	tcase_add_test(tc, test_hostile_corpus_gets_4xx_and_everything_survives);
	tcase_add_test(tc, test_hostile_slow_headers_are_cut_off);
	tcase_add_test(tc, test_hostile_stalled_body_is_cut_off);
	tcase_add_test(tc, test_hostile_body_over_64_kib_is_413_unread);
	tcase_add_test(tc, test_hostile_idle_http2_connection_is_closed);
	tcase_add_test(tc, test_hostile_everything_stops_cleanly); /* last: it stops the mesh */
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return harness_run_suite(hostile_suite(), 1);
}
