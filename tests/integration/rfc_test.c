/* rfc_test.c: RFC 9110 and RFC 9112 server requirements, asserted over raw HTTP on the mesh. */
/* Each test names the sections it asserts; README's "HTTP conformance" table lists them all, with
 * the requirements h2o 2.2 decides before the edge sees a request. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "fixture.h"
#include "harness.h"
#include "http.h"

#define ANSWER_MS   3000 /* how long the edge may take to answer, or to close */
#define MAX_ANSWERS 4

static fixture_mesh mesh;
static int mesh_up;
static char tag[16]; /* "rfc<pid>": the usernames this run creates start with it */

static const char user1_json[] = "{\"id\":1,\"username\":\"marceline\",\"name\":\"Marceline "
				 "Abadeer\",\"bio\":\"1000 year old vampire queen, musician\"}";

/* mesh_setup starts the mesh the suite's tests share. */
static void mesh_setup(void)
{
	snprintf(tag, sizeof(tag), "rfc%d", (int)(getpid() % 100000));
	mesh_up = fixture_mesh_start(&mesh, NULL) == 0;
}

/* mesh_teardown stops the mesh if a test did not (the last test stops it and checks how). */
static void mesh_teardown(void)
{
	char report[8192];
	if (mesh_up && fixture_mesh_stop(&mesh, report, sizeof(report)) != 0)
		fprintf(stderr, "rfc_test: unclean stop:\n%s", report);
	mesh_up = 0;
}

/* edge_connect opens a connection to the edge; the caller closes it. */
static int edge_connect(void)
{
	int fd;
	ck_assert_msg(mesh_up, "the mesh did not start");
	fd = http_raw_connect(mesh.host, mesh.port);
	ck_assert_int_ge(fd, 0);
	return fd;
}

/* next_answer parses the HTTP/1.1 response at *at (raw bytes up to end) into r (its headers hold
 * the status line and the header section; free with http_response_free) and moves *at past it.
 * The status line must be "HTTP/1.1 DDD " with the space even before an empty reason (RFC 9112
 * 4); a body is Content-Length bytes, none without one (the edge frames every body it sends with
 * a length) or if bodiless (an answer to HEAD). Returns 0, or -1 if no whole response is at
 * *at. */
static int next_answer(const char **at, const char *end, http_response *r, int bodiless)
{
	const char *p = *at, *head_end = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
	char length[32];
	memset(r, 0, sizeof(*r));
	if (head_end == NULL || head_end - p < 13 || memcmp(p, "HTTP/1.1 ", 9) != 0 || p[12] != ' ')
		return -1;
	r->status = strtol(p + 9, NULL, 10);
	r->version = 11;
	r->headers = strndup(p, (size_t)(head_end - p) + 2);
	p = head_end + 4;
	if (!bodiless && http_header(r, "content-length", length, sizeof(length)) != NULL)
		r->body_len = strtoul(length, NULL, 10);
	if (r->body_len > (size_t)(end - p)) {
		http_response_free(r);
		return -1;
	}
	r->body = strndup(p, r->body_len);
	*at = p + r->body_len;
	return 0;
}

/* ask_all_len sends request (len bytes as they are) on a new connection and reads until the edge
 * closes it or ANSWER_MS pass; the first max answers are parsed into rs, answer k without a body
 * if bit k of bodiless is set (HEAD). Sets *closed (the edge closed the connection) and returns
 * how many answers came. */
static int ask_all_len(const char *request, size_t len, http_response *rs, int max,
		       unsigned bodiless, int *closed)
{
	int fd = edge_connect(), n = 0;
	size_t got;
	char *bytes;
	const char *at, *end;
	http_raw_send(fd, request, len);
	bytes = http_raw_read(fd, ANSWER_MS, NULL, &got, closed);
	close(fd);
	for (at = bytes, end = bytes + got; at < end; n++) {
		http_response extra;
		if (next_answer(&at, end, n < max ? &rs[n] : &extra,
				n < 32 && (bodiless >> n) & 1) != 0)
			break;
		if (n >= max)
			http_response_free(&extra);
	}
	free(bytes);
	return n;
}

/* ask_all is ask_all_len for a NUL-terminated request. */
static int ask_all(const char *request, http_response *rs, int max, int *closed)
{
	return ask_all_len(request, strlen(request), rs, max, 0, closed);
}

/* ask sends request, asserts exactly one answer came, parses it into r and returns whether the
 * edge closed the connection after it. */
static int ask(const char *request, http_response *r)
{
	int closed;
	int n = ask_all(request, r, 1, &closed);
	ck_assert_msg(n == 1, "%d answers to %.120s", n, request);
	return closed;
}

/* expect_code asserts r is a JSON error of status whose code is code. */
static void expect_code(const http_response *r, long status, const char *code)
{
	char want[128];
	snprintf(want, sizeof(want), "{\"code\":\"%s\",\"message\":\"", code);
	ck_assert_msg(r->status == status, "status %ld, want %ld: %s", r->status, status, r->body);
	ck_assert_msg(strncmp(r->body, want, strlen(want)) == 0, "body %s is not %s...", r->body,
		      want);
}

/* expect_answer asserts request, which ends its connection (Connection: close, or HTTP/1.0), is
 * answered status, with a JSON error of code unless code is NULL. */
static void expect_answer(const char *request, long status, const char *code)
{
	http_response r;
	ask(request, &r);
	if (code != NULL)
		expect_code(&r, status, code);
	ck_assert_msg(r.status == status, "status %ld, want %ld for %.120s", r.status, status,
		      request);
	http_response_free(&r);
}

/* expect_refused asserts request is answered 400 (a JSON error of code, or h2o's own plain text
 * when code is NULL) with "Connection: close", and that the edge then closes the connection:
 * nothing after the refused request is answered. */
static void expect_refused(const char *request, const char *code)
{
	http_response r;
	char connection[32], type[64];
	int closed = ask(request, &r);
	if (code != NULL)
		expect_code(&r, 400, code);
	else
		ck_assert_msg(r.status == 400 &&
				  http_header(&r, "content-type", type, sizeof(type)) != NULL &&
				  strncmp(type, "text/plain", 10) == 0,
			      "status %ld (%s) for %.120s", r.status, r.body, request);
	ck_assert_msg(closed, "the connection stayed open after %.120s", request);
	ck_assert_ptr_nonnull(http_header(&r, "connection", connection, sizeof(connection)));
	ck_assert_str_eq(connection, "close");
	http_response_free(&r);
}

/* user_exists says whether a user called username is stored. */
static int user_exists(const char *username)
{
	http_response r;
	char url[256], want[96];
	int found;
	fixture_url(&mesh, "/api/users?limit=1000", url, sizeof(url));
	ck_assert_msg(http_get(url, &r) == 0 && r.status == 200, "GET /api/users: %s", r.error);
	snprintf(want, sizeof(want), "\"username\":\"%s\"", username);
	found = strstr(r.body, want) != NULL;
	http_response_free(&r);
	return found;
}

/* create_request writes a POST /api/users creating username into out, with extra header lines
 * (each ending in CRLF) before its Content-Length. */
static void create_request(char *out, size_t outlen, const char *username, const char *extra)
{
	char body[160];
	int n = snprintf(body, sizeof(body), "{\"username\":\"%s\",\"name\":\"RFC\",\"bio\":\"\"}",
			 username);
	snprintf(out, outlen,
		 "POST /api/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n%s"
		 "Content-Length: %d\r\n\r\n%s",
		 extra, n, body);
}

START_TEST(test_rfc_host_missing_duplicate_or_invalid_is_400)
{
	/* RFC 9112 3.2: 400 to an HTTP/1.1 request without Host, to any request with more than one
	 * Host line or an invalid Host */
	static const char *const invalid[] = {"a b",  "x/y",  "user@x", "x:8o",
					      "[::1", "x%zz", "x\"y"};
	static const char *const valid[] = {"", "example.com:8080", "[::1]:80", "127.0.0.1", "x:"};
	char req[256];
	expect_refused("GET /api/users/1 HTTP/1.1\r\n\r\n", "INVALID_ARGUMENT");
	expect_refused("GET /api/users/1 HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
		       "INVALID_ARGUMENT");
	expect_refused("GET /api/users/1 HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n",
		       "INVALID_ARGUMENT");
	for (size_t i = 0; i < sizeof(invalid) / sizeof(*invalid); i++) {
		snprintf(req, sizeof(req), "GET /api/users/1 HTTP/1.1\r\nHost: %s\r\n\r\n",
			 invalid[i]);
		expect_refused(req, "INVALID_ARGUMENT");
	}
	for (size_t i = 0; i < sizeof(valid) / sizeof(*valid); i++) {
		snprintf(req, sizeof(req),
			 "GET /api/users/1 HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n",
			 valid[i]);
		expect_answer(req, 200, NULL);
	}
	/* HTTP/1.0 has no Host requirement */
	expect_answer("GET /api/users/1 HTTP/1.0\r\n\r\n", 200, NULL);
}
END_TEST

START_TEST(test_rfc_absolute_form_is_accepted)
{
	/* RFC 9112 3.2.2: a server accepts the absolute form; an origin server ignores Host then */
	http_response r;
	char link[128];
	ask("GET http://example.com/api/users/1 HTTP/1.1\r\nHost: not a host\r\nConnection: "
	    "close\r\n\r\n",
	    &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, user1_json);
	http_response_free(&r);
	ask("GET HTTP://example.com:80/api/users?limit=1 HTTP/1.1\r\nHost: example.com\r\n"
	    "Connection: close\r\n\r\n",
	    &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(http_header(&r, "link", link, sizeof(link)));
	ck_assert_str_eq(link, "</api/users?limit=1&after=1>; rel=\"next\"");
	http_response_free(&r);
	ask("GET http://example.com HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
	    &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, "Ready to receive requests");
	http_response_free(&r);
	/* RFC 9110 4.2.1: an http URI with an empty host is invalid; 4.2.4: no userinfo */
	expect_answer("GET http:///api/users HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 400,
		      "INVALID_ARGUMENT");
	expect_answer("GET http://u@x/api/users HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		      400, "INVALID_ARGUMENT");
	expect_answer("GET ftp://x/api/users HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 400,
		      "INVALID_ARGUMENT");
	expect_answer("GET api/users HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 400,
		      "INVALID_ARGUMENT");
	/* the absolute form still needs its Host line (RFC 9112 3.2) */
	expect_refused("GET http://x/api/users HTTP/1.1\r\n\r\n", "INVALID_ARGUMENT");
}
END_TEST

START_TEST(test_rfc_https_target_without_tls_is_421)
{
	/* RFC 9110 7.4: a request for an https resource is rejected unless it came over TLS */
	expect_answer("GET https://x/api/users/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		      421, "MISDIRECTED_REQUEST");
}
END_TEST

/* h2_literal appends a header field to an HPACK block as a literal without indexing with a new
 * name, neither Huffman-coded (RFC 7541 6.2.2); name and value are under 127 bytes. */
static size_t h2_literal(unsigned char *out, const char *name, const char *value)
{
	size_t n = strlen(name), v = strlen(value);
	out[0] = 0x00;
	out[1] = (unsigned char)n;
	memcpy(out + 2, name, n);
	out[2 + n] = (unsigned char)v;
	memcpy(out + 3 + n, value, v);
	return 3 + n + v;
}

/* h2_get sends an HTTP/2 GET of path with :scheme scheme (prior knowledge) on a new connection
 * and returns whether the bytes that came back before the edge closed, or ANSWER_MS passed, hold
 * needle (h2o sends the body unencoded in a DATA frame). */
static int h2_get(const char *scheme, const char *path, const char *needle)
{
	static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
	static const unsigned char settings[9] = {0, 0, 0, 4, 0, 0, 0, 0, 0};
	unsigned char frame[512];
	size_t n = 9;
	int fd = edge_connect(), found;
	char *answer;
	size_t got;
	n += h2_literal(frame + n, ":method", "GET");
	n += h2_literal(frame + n, ":scheme", scheme);
	n += h2_literal(frame + n, ":path", path);
	n += h2_literal(frame + n, ":authority", "x");
	/* HEADERS, END_STREAM | END_HEADERS, stream 1 */
	memcpy(frame, (unsigned char[9]){0, 0, (unsigned char)(n - 9), 1, 5, 0, 0, 0, 1}, 9);
	http_raw_send(fd, preface, sizeof(preface) - 1);
	http_raw_send(fd, (const char *)settings, sizeof(settings));
	http_raw_send(fd, (const char *)frame, n);
	answer = http_raw_read(fd, ANSWER_MS, needle, &got, NULL);
	close(fd);
	found = memmem(answer, got, needle, strlen(needle)) != NULL;
	free(answer);
	return found;
}

START_TEST(test_rfc_http2_https_scheme_is_421)
{
	/* RFC 9110 7.4 over HTTP/2, where :scheme names the target's scheme */
	ck_assert_msg(h2_get("http", "/api/users/1", "\"marceline\""),
		      "an HTTP/2 GET with :scheme http was not answered");
	ck_assert_msg(h2_get("https", "/api/users/1", "\"MISDIRECTED_REQUEST\""),
		      "an HTTP/2 GET with :scheme https over cleartext was not refused with 421");
}
END_TEST

START_TEST(test_rfc_asterisk_form_is_server_wide_options)
{
	/* RFC 9112 3.2.4, RFC 9110 9.3.7: OPTIONS * asks about the server as a whole */
	http_response r;
	char allow[96], length[16];
	ask("OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", &r);
	ck_assert_int_eq(r.status, 204);
	ck_assert_ptr_nonnull(http_header(&r, "allow", allow, sizeof(allow)));
	ck_assert_str_eq(allow, "GET, HEAD, POST, OPTIONS");
	ck_assert_ptr_null(http_header(&r, "content-length", length, sizeof(length)));
	http_response_free(&r);
	expect_answer("GET * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 400,
		      "INVALID_ARGUMENT");
}
END_TEST

START_TEST(test_rfc_malformed_field_lines_are_400)
{
	/* RFC 9112 5.1: whitespace between a field name and its colon; 2.2: whitespace before the
	 * first field line, a bare CR; RFC 9110 5.5: NUL, CR or LF in a value (h2o's own 400) */
	static const char nul[] = "GET /api/users/1 HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n";
	http_response r;
	int closed;
	expect_refused("GET /api/users/1 HTTP/1.1\r\nHost : x\r\n\r\n", NULL);
	expect_refused("GET /api/users/1 HTTP/1.1\r\n Host: x\r\n\r\n", NULL);
	expect_refused("GET /api/users/1 HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n", NULL);
	ck_assert_int_eq(ask_all_len(nul, sizeof(nul) - 1, &r, 1, 0, &closed), 1);
	ck_assert_int_eq(r.status, 400);
	ck_assert(closed);
	http_response_free(&r);
}
END_TEST

START_TEST(test_rfc_obsolete_line_folding_is_400)
{
	/* RFC 9112 5.2: obs-fold is refused (not read as "abc" without its continuation) */
	http_response r;
	char id[160];
	int closed =
	    ask("GET /api/users/1 HTTP/1.1\r\nHost: x\r\nX-Request-Id: abc\r\n def\r\n\r\n", &r);
	expect_code(&r, 400, "INVALID_ARGUMENT");
	ck_assert(closed);
	ck_assert_ptr_nonnull(http_header(&r, "x-request-id", id, sizeof(id)));
	ck_assert_msg(strlen(id) == 16 && strcmp(id, "abc") != 0, "id %s", id);
	http_response_free(&r);
}
END_TEST

START_TEST(test_rfc_content_length_conflicts_are_400_and_close)
{
	/* RFC 9112 6.3: Content-Length lines that differ are invalid framing: 400, then close;
	 * what was smuggled after them is never served */
	char req[512], name[40];
	snprintf(name, sizeof(name), "%s_cl", tag);
	create_request(req, sizeof(req), name, "Content-Length: 3\r\n");
	expect_refused(req, "INVALID_ARGUMENT");
	ck_assert_msg(!user_exists(name), "a create with two lengths was stored");
	expect_refused("POST /api/users HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", NULL);
	/* the same length twice is one length */
	expect_answer("GET /api/users/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
		      "Content-Length: 2\r\nConnection: close\r\n\r\n{}",
		      200, NULL);
}
END_TEST

START_TEST(test_rfc_transfer_encoding_with_content_length_is_400_and_close)
{
	/* RFC 9112 6.1: the server must close the connection after answering a request with
	 * both; the edge refuses it (it may) */
	char req[512], name[40];
	snprintf(name, sizeof(name), "%s_te_cl", tag);
	snprintf(req, sizeof(req),
		 "POST /api/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
		 "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
		 "%zx\r\n{\"username\":\"%s\",\"name\":\"R\"}\r\n0\r\n\r\n",
		 strlen(name) + 26, name);
	expect_refused(req, "INVALID_ARGUMENT");
	ck_assert_msg(!user_exists(name), "a create with both framings was stored");
}
END_TEST

START_TEST(test_rfc_transfer_encoding_in_http10_is_400_and_close)
{
	/* RFC 9112 6.1: Transfer-Encoding in HTTP/1.0 is faulty framing; close after it */
	expect_refused("POST /api/users HTTP/1.0\r\nConnection: keep-alive\r\nContent-Type: "
		       "application/json\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
		       "INVALID_ARGUMENT");
}
END_TEST

START_TEST(test_rfc_chunked_not_last_is_400_and_close)
{
	/* RFC 9112 6.3: chunked not the final coding of a request: 400, then close (h2o's) */
	expect_refused("POST /api/users HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n"
		       "\r\n2\r\n{}\r\n0\r\n\r\n",
		       NULL);
	/* RFC 9112 7.1: a chunk size past any integer is an error, not an overflow (h2o's) */
	expect_refused("POST /api/users HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
		       "fffffffffffffffffffff\r\n{}\r\n0\r\n\r\n",
		       NULL);
}
END_TEST

START_TEST(test_rfc_chunked_body_is_decoded)
{
	/* RFC 9112 7.1: decode chunked; 7.1.1: ignore chunk extensions; 7.1.2 and RFC 9110
	 * 6.5.1: a trailer field is not merged into the header section */
	char body[160], req[512], name[40], id[160], location[64];
	http_response r;
	size_t half;
	snprintf(name, sizeof(name), "%s_chunked", tag);
	snprintf(body, sizeof(body), "{\"username\":\"%s\",\"name\":\"Chunked\",\"bio\":\"\"}",
		 name);
	half = strlen(body) / 2;
	snprintf(req, sizeof(req),
		 "POST /api/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
		 "Transfer-Encoding: chunked\r\nX-Request-Id: rfc-chunked\r\nConnection: close\r\n"
		 "\r\n%zx;ext=1\r\n%.*s\r\n%zx;quoted=\"a b\"\r\n%s\r\n0\r\nX-Request-Id: "
		 "from-trailer\r\n\r\n",
		 half, (int)half, body, strlen(body) - half, body + half);
	ask(req, &r);
	ck_assert_msg(r.status == 201, "status %ld: %s", r.status, r.body);
	ck_assert_ptr_nonnull(http_header(&r, "location", location, sizeof(location)));
	ck_assert_ptr_nonnull(http_header(&r, "x-request-id", id, sizeof(id)));
	ck_assert_str_eq(id, "rfc-chunked");
	http_response_free(&r);
	ck_assert(user_exists(name));
}
END_TEST

START_TEST(test_rfc_incomplete_body_is_not_served)
{
	/* RFC 9112 6.3: a body cut short by the client's close is incomplete: close, no answer */
	static const char req[] = "POST /api/users HTTP/1.1\r\nHost: x\r\nContent-Type: "
				  "application/json\r\nContent-Length: 100\r\n\r\n{\"username\":";
	int fd = edge_connect(), closed;
	size_t got;
	char *answer;
	http_raw_send(fd, req, sizeof(req) - 1);
	ck_assert_int_eq(shutdown(fd, SHUT_WR), 0);
	answer = http_raw_read(fd, ANSWER_MS, NULL, &got, &closed);
	close(fd);
	ck_assert_msg(closed && got == 0, "closed %d, answered %s", closed, answer);
	free(answer);
}
END_TEST

START_TEST(test_rfc_head_section_is_complete_before_serving)
{
	/* RFC 9110 5.3: no request is applied before its whole header section has arrived */
	static const char head[] = "GET /api/users/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n";
	int fd = edge_connect(), closed;
	size_t got;
	char *answer;
	const char *at;
	http_response r;
	http_raw_send(fd, head, sizeof(head) - 1);
	answer = http_raw_read(fd, 300, NULL, &got, &closed);
	ck_assert_msg(got == 0 && !closed, "answered before the end of the head: %s", answer);
	free(answer);
	http_raw_send(fd, "\r\n", 2);
	answer = http_raw_read(fd, ANSWER_MS, NULL, &got, &closed);
	close(fd);
	at = answer;
	ck_assert_int_eq(next_answer(&at, answer + got, &r, 0), 0);
	ck_assert_int_eq(r.status, 200);
	http_response_free(&r);
	free(answer);
}
END_TEST

START_TEST(test_rfc_bodies_are_read_whatever_the_answer)
{
	/* RFC 9112 9.3: the whole body is read (or the connection closed) before the next
	 * request; 6: framing is the same for every method, a GET with a body included */
	size_t n = 65537; /* one byte over 64 KiB: read, and refused by the edge */
	char *req = malloc(70000 + 512);
	http_response rs[2];
	int closed, len;
	ck_assert_ptr_nonnull(req);
	len = snprintf(req, 512,
		       "POST /api/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
		       "Content-Length: %zu\r\n\r\n",
		       n);
	memset(req + len, '[', n);
	snprintf(req + len + n, 512 - (size_t)len,
		 "GET /api/users/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	ck_assert_int_eq(ask_all(req, rs, 2, &closed), 2);
	expect_code(&rs[0], 413, "PAYLOAD_TOO_LARGE");
	ck_assert_int_eq(rs[1].status, 200);
	ck_assert_str_eq(rs[1].body, user1_json);
	http_response_free(&rs[0]);
	http_response_free(&rs[1]);
	/* longer still: a 413 as soon as the head is in, before any of the body is sent (a body
	 * sent after it would meet a reset), and the connection closed after it */
	snprintf(req, 512,
		 "POST /api/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
		 "Content-Length: 70000\r\n\r\n");
	ck_assert_int_eq(ask_all(req, rs, 2, &closed), 1);
	expect_code(&rs[0], 413, "PAYLOAD_TOO_LARGE");
	ck_assert(closed);
	http_response_free(&rs[0]);
	free(req);
	ck_assert_int_eq(ask_all("GET /api/users/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n"
				 "GET /GET /api/users/1 HTTP/1.1\r\nHost: x\r\nConnection: "
				 "close\r\n\r\n",
				 rs, 2, &closed),
			 2);
	ck_assert_int_eq(rs[0].status, 200);
	ck_assert_int_eq(rs[1].status, 200);
	http_response_free(&rs[0]);
	http_response_free(&rs[1]);
}
END_TEST

START_TEST(test_rfc_pipelined_answers_come_in_order)
{
	/* RFC 9112 9.3.2: answers in the order of the requests */
	static const char *const paths[] = {"/api/users/3", "/api/users/1", "/api/threads/2",
					    "/api/users/2"};
	static const char *const wants[] = {"\"username\":\"pb\"", "\"username\":\"marceline\"",
					    "\"title\":\"Party", "\"username\":\"finn\""};
	char req[1024];
	size_t len = 0;
	http_response rs[MAX_ANSWERS];
	int closed;
	for (size_t i = 0; i < MAX_ANSWERS; i++)
		len += (size_t)snprintf(req + len, sizeof(req) - len,
					"GET %s HTTP/1.1\r\nHost: x\r\n%s\r\n", paths[i],
					i + 1 == MAX_ANSWERS ? "Connection: close\r\n" : "");
	ck_assert_int_eq(ask_all(req, rs, MAX_ANSWERS, &closed), MAX_ANSWERS);
	for (size_t i = 0; i < MAX_ANSWERS; i++) {
		ck_assert_msg(strstr(rs[i].body, wants[i]) != NULL, "answer %zu is %s", i,
			      rs[i].body);
		http_response_free(&rs[i]);
	}
}
END_TEST

START_TEST(test_rfc_connection_close_ends_the_connection)
{
	/* RFC 9112 9.6: after the answer to a request with "close" the server closes, and no
	 * later request on the connection is processed */
	char create[512], req[1024], name[40], connection[32];
	http_response r;
	snprintf(name, sizeof(name), "%s_after_close", tag);
	create_request(create, sizeof(create), name, "");
	snprintf(req, sizeof(req),
		 "GET /api/users/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n%s", create);
	ck_assert_msg(ask(req, &r), "the connection stayed open");
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(http_header(&r, "connection", connection, sizeof(connection)));
	ck_assert_str_eq(connection, "close");
	http_response_free(&r);
	ck_assert_msg(!user_exists(name), "a request after Connection: close was processed");
}
END_TEST

START_TEST(test_rfc_head_answer_has_no_content)
{
	/* RFC 9110 9.3.2: no content in an answer to HEAD; 8.6: its Content-Length is GET's */
	static const char *const paths[] = {"/api/users/1", "/api/users/99", "/"};
	for (size_t i = 0; i < sizeof(paths) / sizeof(*paths); i++) {
		char req[256], head_length[32], get_length[32];
		http_response rs[2];
		int closed;
		snprintf(req, sizeof(req),
			 "HEAD %s HTTP/1.1\r\nHost: x\r\n\r\nGET %s HTTP/1.1\r\nHost: x\r\n"
			 "Connection: close\r\n\r\n",
			 paths[i], paths[i]);
		/* the GET's status line right after the HEAD's head: no content between */
		ck_assert_int_eq(ask_all_len(req, strlen(req), rs, 2, 1, &closed), 2);
		ck_assert_ptr_nonnull(
		    http_header(&rs[0], "content-length", head_length, sizeof(head_length)));
		ck_assert_ptr_nonnull(
		    http_header(&rs[1], "content-length", get_length, sizeof(get_length)));
		ck_assert_str_eq(head_length, get_length);
		ck_assert_int_eq(rs[0].status, rs[1].status);
		http_response_free(&rs[0]);
		http_response_free(&rs[1]);
	}
}
END_TEST

/* expect_no_content asserts the first answer to request is status with neither Content-Length
 * nor Transfer-Encoding and no content: a pipelined GET / after it is answered right after its
 * head. */
static void expect_no_content(const char *request, long status)
{
	char req[512], value[64];
	http_response rs[2];
	int closed;
	snprintf(req, sizeof(req), "%sGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		 request);
	ck_assert_int_eq(ask_all(req, rs, 2, &closed), 2);
	ck_assert_int_eq(rs[0].status, status);
	ck_assert_ptr_null(http_header(&rs[0], "content-length", value, sizeof(value)));
	ck_assert_ptr_null(http_header(&rs[0], "transfer-encoding", value, sizeof(value)));
	ck_assert_int_eq(rs[1].status, 200);
	ck_assert_str_eq(rs[1].body, "Ready to receive requests");
	http_response_free(&rs[0]);
	http_response_free(&rs[1]);
}

START_TEST(test_rfc_204_has_no_length_and_no_content)
{
	/* RFC 9110 8.6 and RFC 9112 6.1: no Content-Length, no Transfer-Encoding in a 204;
	 * RFC 9110 15.3.5: it ends with its header section */
	expect_no_content("OPTIONS /api/users HTTP/1.1\r\nHost: x\r\n\r\n", 204);
}
END_TEST

START_TEST(test_rfc_http10_answer_is_length_framed)
{
	/* RFC 9112 6.1: no Transfer-Encoding unless the request is HTTP/1.1; RFC 9110 6.2: the
	 * answer's version is one the server conforms to */
	http_response r;
	char value[64];
	ck_assert(ask("GET /api/users HTTP/1.0\r\n\r\n", &r));
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(http_header(&r, "content-length", value, sizeof(value)));
	ck_assert_ptr_null(http_header(&r, "transfer-encoding", value, sizeof(value)));
	http_response_free(&r);
}
END_TEST

/* expect_date asserts r has a Date in IMF-fixdate form ("Sun, 06 Nov 1994 08:49:37 GMT") within
 * a minute of now. */
static void expect_date(const http_response *r)
{
	char date[64];
	struct tm tm = {0};
	const char *end;
	ck_assert_msg(http_header(r, "date", date, sizeof(date)) != NULL, "no Date in a %ld",
		      r->status);
	end = strptime(date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	ck_assert_msg(strlen(date) == 29 && end != NULL && *end == '\0', "Date: %s", date);
	ck_assert_msg(labs((long)(timegm(&tm) - time(NULL))) < 60, "Date: %s is not now", date);
}

START_TEST(test_rfc_every_answer_has_a_date)
{
	/* RFC 9110 6.6.1: a Date in every 2xx, 3xx and 4xx of an origin server with a clock;
	 * 5.6.7: in IMF-fixdate form; RFC 9112 4: a space after the status code (next_answer) */
	static const struct {
		const char *request;
		long status;
	} cases[] = {
	    {"GET /api/users/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 200},
	    {"OPTIONS / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 204},
	    {"GET / HTTP/1.1\r\nHost: x\r\nIf-None-Match: *\r\nConnection: close\r\n\r\n", 304},
	    {"GET /api/users/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 400},
	    {"GET /api/users/99 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 404},
	    {"DELETE /api/users/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 405},
	    {"GET / HTTP/1.1\r\nHost: x\r\nIf-Match: \"a\"\r\nConnection: close\r\n\r\n", 412},
	    {"POST /api/users HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: "
	     "close\r\n\r\n{}",
	     415},
	    {"GET https://x/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 421},
	};
	char name[40], req[512];
	http_response r;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		char value[64];
		ask(cases[i].request, &r);
		ck_assert_int_eq(r.status, cases[i].status);
		expect_date(&r);
		/* RFC 9110 12.5.3: a 415 not about content codings has no Accept-Encoding */
		ck_assert_ptr_null(http_header(&r, "accept-encoding", value, sizeof(value)));
		http_response_free(&r);
	}
	snprintf(name, sizeof(name), "%s_dated", tag);
	create_request(req, sizeof(req), name, "Connection: close\r\n");
	ask(req, &r);
	ck_assert_int_eq(r.status, 201);
	expect_date(&r);
	http_response_free(&r);
}
END_TEST

START_TEST(test_rfc_http2_answer_has_a_date)
{
	/* RFC 9110 6.6.1 over HTTP/2 */
	http_options o = {.http2 = 1};
	http_response r;
	char url[256];
	ck_assert(mesh_up);
	fixture_url(&mesh, "/api/users/99", url, sizeof(url));
	ck_assert_msg(http_request("GET", url, &o, &r) == 0, "%s", r.error);
	ck_assert_int_eq(r.version, 2);
	ck_assert_int_eq(r.status, 404);
	expect_date(&r);
	http_response_free(&r);
}
END_TEST

START_TEST(test_rfc_405_carries_allow)
{
	/* RFC 9110 15.5.6 and 10.2.1: Allow in every 405 (an unknown method is 405 too, by the
	 * contract; 9.1 recommends 501 for it) */
	static const char *const methods[] = {"DELETE", "PUT", "TRACE", "FOO"};
	for (size_t i = 0; i < sizeof(methods) / sizeof(*methods); i++) {
		char req[160], allow[96];
		http_response r;
		snprintf(req, sizeof(req),
			 "%s /api/users/1 HTTP/1.1\r\nHost: x\r\nConnection: "
			 "close\r\n\r\n",
			 methods[i]);
		ask(req, &r);
		expect_code(&r, 405, "METHOD_NOT_ALLOWED");
		ck_assert_ptr_nonnull(http_header(&r, "allow", allow, sizeof(allow)));
		ck_assert_str_eq(allow, "GET, HEAD, OPTIONS");
		http_response_free(&r);
	}
}
END_TEST

START_TEST(test_rfc_connect_is_refused)
{
	/* RFC 9110 9.3.6: no 2xx to a CONNECT (none carries a length), an invalid port refused */
	expect_answer("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nConnection: "
		      "close\r\n\r\n",
		      400, "INVALID_ARGUMENT");
	expect_answer("CONNECT example.com: HTTP/1.1\r\nHost: example.com\r\nConnection: "
		      "close\r\n\r\n",
		      400, "INVALID_ARGUMENT");
}
END_TEST

START_TEST(test_rfc_too_long_target_or_fields_are_4xx)
{
	/* RFC 9112 3: 414 for a request-target longer than the server parses; RFC 9110 5.4: a
	 * 4xx for header fields larger than it processes */
	char *req = malloc(40000), *s = malloc(20001);
	ck_assert_ptr_nonnull(req);
	ck_assert_ptr_nonnull(s);
	memset(s, 'a', 20000);
	s[20000] = '\0';
	snprintf(req, 40000,
		 "GET /api/users/%.9000s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", s);
	expect_answer(req, 414, "URI_TOO_LONG");
	snprintf(req, 40000,
		 "GET /api/users/1 HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\nConnection: close\r\n\r\n",
		 s);
	expect_answer(req, 431, "REQUEST_HEADER_FIELDS_TOO_LARGE");
	free(req);
	free(s);
}
END_TEST

START_TEST(test_rfc_expect_100_continue)
{
	/* RFC 9110 10.1.1: a 100 (Continue) before the body is read, then a final status */
	char req[512], name[40], *answer;
	const char *body, *at;
	int fd = edge_connect(), closed;
	size_t got;
	http_response r;
	snprintf(name, sizeof(name), "%s_continue", tag);
	create_request(req, sizeof(req), name, "Expect: 100-continue\r\nConnection: close\r\n");
	body = strstr(req, "\r\n\r\n") + 4;
	http_raw_send(fd, req, (size_t)(body - req));
	answer = http_raw_read(fd, ANSWER_MS, "\r\n\r\n", &got, NULL);
	ck_assert_msg(strcmp(answer, "HTTP/1.1 100 Continue\r\n\r\n") == 0, "got %s", answer);
	free(answer);
	http_raw_send(fd, body, strlen(body));
	answer = http_raw_read(fd, ANSWER_MS, NULL, &got, &closed);
	close(fd);
	at = answer;
	ck_assert_int_eq(next_answer(&at, answer + got, &r, 0), 0);
	ck_assert_msg(r.status == 201, "status %ld: %s", r.status, r.body);
	http_response_free(&r);
	free(answer);
}
END_TEST

START_TEST(test_rfc_preconditions_of_reads)
{
	/* RFC 9110 13.1.1, 13.1.2, 13.2.2: the edge has no entity tags, so If-Match: "t" fails
	 * (412), If-Match: * holds, If-None-Match: * fails (304 for GET and HEAD),
	 * If-None-Match: "t" holds; 13.2.1: ignored when the answer would not be a 2xx */
	http_response r;
	char value[64];
	expect_no_content("GET /api/users/1 HTTP/1.1\r\nHost: x\r\nIf-None-Match: *\r\n\r\n", 304);
	expect_no_content("HEAD /api/users/1 HTTP/1.1\r\nHost: x\r\nIf-None-Match: *\r\n\r\n", 304);
	expect_no_content("GET /api HTTP/1.1\r\nHost: x\r\nIf-None-Match: , *\r\n\r\n", 304);
	ask("GET /api/users/1 HTTP/1.1\r\nHost: x\r\nIf-None-Match: *\r\nConnection: close\r\n\r\n",
	    &r);
	ck_assert_int_eq(r.status, 304);
	expect_date(&r);
	ck_assert_ptr_nonnull(http_header(&r, "x-request-id", value, sizeof(value)));
	http_response_free(&r);
	expect_answer("GET /api/users/1 HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"t\", W/\"u\"\r\n"
		      "Connection: close\r\n\r\n",
		      200, NULL);
	expect_answer("GET /api/users/1 HTTP/1.1\r\nHost: x\r\nIf-Match: \"t\"\r\nConnection: "
		      "close\r\n\r\n",
		      412, "PRECONDITION_FAILED");
	expect_answer("GET /api/users/1 HTTP/1.1\r\nHost: x\r\nIf-Match: *\r\nConnection: "
		      "close\r\n\r\n",
		      200, NULL);
	expect_answer("GET /api/users/99 HTTP/1.1\r\nHost: x\r\nIf-None-Match: *\r\nIf-Match: "
		      "\"t\"\r\nConnection: close\r\n\r\n",
		      404, "NOT_FOUND");
	/* 13.2.1: ignored for OPTIONS */
	expect_answer("OPTIONS /api/users HTTP/1.1\r\nHost: x\r\nIf-Match: \"t\"\r\nConnection: "
		      "close\r\n\r\n",
		      204, NULL);
}
END_TEST

START_TEST(test_rfc_preconditions_of_creates)
{
	/* RFC 9110 13.1.1, 13.1.2: a failed precondition of a POST is 412 and stores nothing */
	static const struct {
		const char *field;
		const char *suffix;
		long status;
	} cases[] = {
	    {"If-None-Match: *\r\n", "_inm", 412},
	    {"If-Match: \"t\"\r\n", "_im", 412},
	    {"If-Match: *\r\n", "_im_star", 201},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		char req[512], name[40], extra[96];
		snprintf(name, sizeof(name), "%s%s", tag, cases[i].suffix);
		snprintf(extra, sizeof(extra), "%sConnection: close\r\n", cases[i].field);
		create_request(req, sizeof(req), name, extra);
		expect_answer(req, cases[i].status,
			      cases[i].status == 412 ? "PRECONDITION_FAILED" : NULL);
		ck_assert_int_eq(user_exists(name), cases[i].status == 201);
	}
}
END_TEST

START_TEST(test_rfc_unsupported_validators_and_ranges_are_ignored)
{
	/* RFC 9110 13.1.3 and 13.1.4: no modification dates, so If-Modified-Since and
	 * If-Unmodified-Since are ignored; 14.2 and 13.1.5: Range and If-Range too */
	static const char *const fields[] = {
	    "If-Modified-Since: Sun, 06 Nov 2094 08:49:37 GMT\r\n",
	    "If-Unmodified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n",
	    "Range: bytes=0-3\r\n",
	    "Range: bytes=0-3\r\nIf-Range: \"t\"\r\n",
	    "If-Range: \"t\"\r\n",
	};
	for (size_t i = 0; i < sizeof(fields) / sizeof(*fields); i++) {
		char req[256], value[64];
		http_response r;
		snprintf(req, sizeof(req),
			 "GET /api/users/1 HTTP/1.1\r\nHost: x\r\n%sConnection: close\r\n\r\n",
			 fields[i]);
		ask(req, &r);
		ck_assert_int_eq(r.status, 200);
		ck_assert_str_eq(r.body, user1_json);
		ck_assert_ptr_null(http_header(&r, "content-range", value, sizeof(value)));
		http_response_free(&r);
	}
}
END_TEST

START_TEST(test_rfc_connection_options_are_not_passed_on)
{
	/* RFC 9110 7.6.1: a field the Connection header names is for this hop: the edge does not
	 * carry it into the mesh call (X-Request-Id, Idempotency-Key) */
	char req[512], extra[128], name[40], id[160], key[64];
	http_response r;
	snprintf(key, sizeof(key), "Idempotency-Key: %s-hop\r\n", tag);
	ask("GET /api/users/1 HTTP/1.1\r\nHost: x\r\nX-Request-Id: rfc-hop\r\nConnection: close, "
	    "X-Request-Id\r\n\r\n",
	    &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(http_header(&r, "x-request-id", id, sizeof(id)));
	ck_assert_msg(strcmp(id, "rfc-hop") != 0 && strlen(id) == 16, "id %s", id);
	http_response_free(&r);
	/* the same key with two bodies: no conflict, since the key never reached the service */
	snprintf(extra, sizeof(extra), "%sConnection: close, idempotency-key\r\n", key);
	for (int i = 0; i < 2; i++) {
		snprintf(name, sizeof(name), "%s_hop%d", tag, i);
		create_request(req, sizeof(req), name, extra);
		expect_answer(req, 201, NULL);
	}
	/* and as an end-to-end field it does */
	snprintf(extra, sizeof(extra), "%sConnection: close\r\n", key);
	snprintf(name, sizeof(name), "%s_hop2", tag);
	create_request(req, sizeof(req), name, extra);
	expect_answer(req, 201, NULL);
	snprintf(name, sizeof(name), "%s_hop3", tag);
	create_request(req, sizeof(req), name, extra);
	expect_answer(req, 409, "ABORTED");
}
END_TEST

START_TEST(test_rfc_upgrade)
{
	/* RFC 9110 7.8: a 101 names the protocol in Upgrade and carries the "upgrade" connection
	 * option; a protocol the server does not speak is ignored */
	static const char h2c[] = "GET /api HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, "
				  "HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: "
				  "AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n";
	int fd = edge_connect();
	size_t got;
	char *answer;
	const char *at;
	char value[64];
	http_response r;
	http_raw_send(fd, h2c, sizeof(h2c) - 1);
	answer = http_raw_read(fd, ANSWER_MS, "\r\n\r\n", &got, NULL);
	close(fd);
	at = answer;
	ck_assert_int_eq(next_answer(&at, answer + got, &r, 0), 0);
	ck_assert_int_eq(r.status, 101);
	ck_assert_ptr_nonnull(http_header(&r, "upgrade", value, sizeof(value)));
	ck_assert_str_eq(value, "h2c");
	ck_assert_ptr_nonnull(http_header(&r, "connection", value, sizeof(value)));
	ck_assert_msg(strcasecmp(value, "upgrade") == 0, "Connection: %s", value);
	http_response_free(&r);
	free(answer);
	expect_answer("GET /api HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, close\r\nUpgrade: "
		      "websocket\r\n\r\n",
		      200, NULL);
}
END_TEST

START_TEST(test_rfc_everything_stops_cleanly)
{
	char report[8192];
	ck_assert(mesh_up);
	mesh_up = 0;
	ck_assert_msg(fixture_mesh_stop(&mesh, report, sizeof(report)) == 0, "%s", report);
}
END_TEST

/* rfc_suite lists the tests in the order they run on one mesh. */
static Suite *rfc_suite(void)
{
	Suite *s = suite_create("rfc");
	TCase *tc = harness_tcase("conformance", 180);
	tcase_add_unchecked_fixture(tc, mesh_setup, mesh_teardown);
	tcase_add_test(tc, test_rfc_host_missing_duplicate_or_invalid_is_400);
	tcase_add_test(tc, test_rfc_absolute_form_is_accepted);
	tcase_add_test(tc, test_rfc_https_target_without_tls_is_421);
	tcase_add_test(tc, test_rfc_http2_https_scheme_is_421);
	tcase_add_test(tc, test_rfc_asterisk_form_is_server_wide_options);
	tcase_add_test(tc, test_rfc_malformed_field_lines_are_400);
	tcase_add_test(tc, test_rfc_obsolete_line_folding_is_400);
	tcase_add_test(tc, test_rfc_content_length_conflicts_are_400_and_close);
	tcase_add_test(tc, test_rfc_transfer_encoding_with_content_length_is_400_and_close);
	tcase_add_test(tc, test_rfc_transfer_encoding_in_http10_is_400_and_close);
	tcase_add_test(tc, test_rfc_chunked_not_last_is_400_and_close);
	tcase_add_test(tc, test_rfc_chunked_body_is_decoded);
	tcase_add_test(tc, test_rfc_incomplete_body_is_not_served);
	tcase_add_test(tc, test_rfc_head_section_is_complete_before_serving);
	tcase_add_test(tc, test_rfc_bodies_are_read_whatever_the_answer);
	tcase_add_test(tc, test_rfc_pipelined_answers_come_in_order);
	tcase_add_test(tc, test_rfc_connection_close_ends_the_connection);
	tcase_add_test(tc, test_rfc_head_answer_has_no_content);
	tcase_add_test(tc, test_rfc_204_has_no_length_and_no_content);
	tcase_add_test(tc, test_rfc_http10_answer_is_length_framed);
	tcase_add_test(tc, test_rfc_every_answer_has_a_date);
	tcase_add_test(tc, test_rfc_http2_answer_has_a_date);
	tcase_add_test(tc, test_rfc_405_carries_allow);
	tcase_add_test(tc, test_rfc_connect_is_refused);
	tcase_add_test(tc, test_rfc_too_long_target_or_fields_are_4xx);
	tcase_add_test(tc, test_rfc_expect_100_continue);
	tcase_add_test(tc, test_rfc_preconditions_of_reads);
	tcase_add_test(tc, test_rfc_preconditions_of_creates);
	tcase_add_test(tc, test_rfc_unsupported_validators_and_ranges_are_ignored);
	tcase_add_test(tc, test_rfc_connection_options_are_not_passed_on);
	tcase_add_test(tc, test_rfc_upgrade);
	tcase_add_test(tc, test_rfc_everything_stops_cleanly); /* last: it stops the mesh */
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return harness_run_suite(rfc_suite(), 1);
}
