/* https_test.c: the edge serving HTTPS: HTTP/1.1 and HTTP/2 (ALPN) over TLS, cleartext refused,
 * the certificate reloaded as its files change or on SIGHUP, bad files kept out, real processes. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "fixture.h"
#include "harness.h"
#include "http.h"
#include "https.h"

#define RELOAD_MS 6000 /* a change of the files is served within this (polled every 1 s) */

static fixture_mesh mesh;
static int mesh_up;
static https_edge edge;
static int admin_port;
/* the mesh's directory: certs/ (meshctl certs: ca.crt, edge, edge-b, edge-c), live/ (the files
 * the HTTPS edge is given: server.crt, server.key) */
static char certs[200], live[200], live_cert[256], live_key[256], ca[256];

static const char user1_json[] = "{\"id\":1,\"username\":\"marceline\",\"name\":\"Marceline "
				 "Abadeer\",\"bio\":\"1000 year old vampire queen, musician\"}";

/* cert_file writes certs/NAME.EXT to out. */
static const char *cert_file(char *out, size_t outlen, const char *name, const char *ext)
{
	snprintf(out, outlen, "%s/%s.%s", certs, name, ext);
	return out;
}

/* install puts identity name's certificate and key in live/, each atomically (renamed over). */
static void install(const char *name)
{
	char from[256];
	ck_assert_int_eq(https_copy_atomic(cert_file(from, sizeof(from), name, "crt"), live_cert),
			 0);
	ck_assert_int_eq(https_copy_atomic(cert_file(from, sizeof(from), name, "key"), live_key),
			 0);
}

/* serial_of returns the serial (hex) of identity name's certificate, in out. */
static const char *serial_of(const char *name, char *out, size_t outlen)
{
	char path[256];
	FILE *f = fopen(cert_file(path, sizeof(path), name, "crt"), "r");
	X509 *x = f != NULL ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
	BIGNUM *bn = x != NULL ? ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL) : NULL;
	char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;
	snprintf(out, outlen, "%s", hex != NULL ? hex : "?");
	OPENSSL_free(hex);
	BN_free(bn);
	X509_free(x);
	if (f != NULL)
		fclose(f);
	return out;
}

/* ready_paths: a route of every service, through the edge */
static const char *const ready_paths[] = {"/api/users/1", "/api/threads", "/api/posts/in-thread/2"};

static void mesh_setup(void)
{
	const char *names[] = {"edge", "edge-b", "edge-c", NULL};
	const char *extra[] = {"--admin-port", "0", NULL};
	char line[512], *at;
	curl_global_init_once();
	if (fixture_external() != NULL)
		return; /* the tests skip: they start edges of their own beside the services */
	if (fixture_mesh_start(&mesh, NULL) != 0)
		return;
	mesh_up = 1;
	snprintf(certs, sizeof(certs), "%s/certs", mesh.dir);
	snprintf(live, sizeof(live), "%s/live", mesh.dir);
	snprintf(live_cert, sizeof(live_cert), "%s/server.crt", live);
	snprintf(live_key, sizeof(live_key), "%s/server.key", live);
	snprintf(ca, sizeof(ca), "%s/ca.crt", certs);
	if (https_certs(certs, names) != 0 || mkdir(live, 0700) != 0) {
		fprintf(stderr, "https_test: no certificates in %s\n", certs);
		return;
	}
	snprintf(line, sizeof(line), "%s/edge.crt", certs);
	https_copy_atomic(line, live_cert);
	snprintf(line, sizeof(line), "%s/edge.key", certs);
	https_copy_atomic(line, live_key);
	snprintf(line, sizeof(line), "%s/edge-https.log", mesh.dir);
	if (https_edge_start(&edge, mesh.dir, live_cert, live_key, line, extra) != 0)
		return;
	if (harness_wait_for_line(edge.log, "admin on http://", line, sizeof(line), 5000) == 0 &&
	    (at = strrchr(line, ':')) != NULL)
		admin_port = atoi(at + 1);
	/* a new edge finds the instances from the target files: until it has, a call is 503 (a
	 * sanitized build takes longer); every service's route must answer before the tests */
	for (size_t i = 0; i < sizeof(ready_paths) / sizeof(ready_paths[0]); i++) {
		long long until = harness_now_ms() + 15000;
		long status;
		do {
			http_response r;
			char url[256], resolve[96];
			http_options o = {.ca_file = ca, .resolve = resolve};
			snprintf(url, sizeof(url), "https://edge:%d%s", edge.port, ready_paths[i]);
			snprintf(resolve, sizeof(resolve), "edge:%d:127.0.0.1", edge.port);
			http_request("GET", url, &o, &r);
			status = r.status;
			http_response_free(&r);
			if (status != 200)
				harness_sleep_ms(50);
		} while (status != 200 && harness_now_ms() < until);
		if (status != 200)
			fprintf(stderr, "https_test: GET %s over TLS still %ld after 15 s\n",
				ready_paths[i], status);
	}
}

static void mesh_teardown(void)
{
	char report[8192];
	if (edge.pid > 0 && !https_edge_stop(&edge))
		harness_note_unclean("the HTTPS edge", "it did not exit with status 0");
	if (mesh_up && fixture_mesh_stop(&mesh, report, sizeof(report)) != 0)
		fprintf(stderr, "https_test: unclean stop:\n%s", report);
	mesh_up = 0;
}

/* need_edge skips the test where no local mesh can run, and fails it if the HTTPS edge did not
 * start. Returns 1 to go on. */
static int need_edge(void)
{
	if (fixture_external() != NULL) {
		harness_skip("CLEAVE_TEST_EDGE_URL: HTTPS edges are started beside a local mesh");
		return 0;
	}
	ck_assert_msg(mesh_up, "the mesh did not start");
	ck_assert_msg(edge.pid > 0, "the HTTPS edge did not start (see the log above)");
	return 1;
}

/* get_over_tls GETs path from the HTTPS edge as host (its certificate's name, resolved to
 * 127.0.0.1), checked against the CA, over HTTP/2 by ALPN or HTTP/1.1. */
static void get_over_tls(const char *host, const char *path, int http2, http_response *r)
{
	char url[256], resolve[96];
	http_options o = {.ca_file = ca, .resolve = resolve, .http2 = http2};
	snprintf(url, sizeof(url), "https://%s:%d%s", host, edge.port, path);
	snprintf(resolve, sizeof(resolve), "%s:%d:127.0.0.1", host, edge.port);
	http_request("GET", url, &o, r);
}

/* count_lines counts the lines of the HTTPS edge's log that hold needle. */
static int count_lines(const char *needle)
{
	char *text = harness_read_file(edge.log), *p = text;
	int n = 0;
	while (p != NULL && (p = strstr(p, needle)) != NULL) {
		n++;
		p += strlen(needle);
	}
	free(text);
	return n;
}

/* wait_for_cn handshakes with the HTTPS edge until it serves a certificate with CN cn, up to
 * timeout_ms; fills *peer with the last handshake. Returns how long it took, or -1. */
static long long wait_for_cn(const char *cn, https_peer *peer, int timeout_ms)
{
	long long start = harness_now_ms();
	char err[256];
	do {
		if (https_handshake(edge.port, "edge", NULL, 0, peer, err, sizeof(err)) == 0 &&
		    strcmp(peer->cn, cn) == 0)
			return harness_now_ms() - start;
		harness_sleep_ms(50);
	} while (harness_now_ms() - start < timeout_ms);
	return -1;
}

/* keepalive_get sends GET /api/users/1 on c (HTTP/1.1, kept alive) and says whether user 1 came
 * back with a 200. */
static int keepalive_get(https_conn *c)
{
	static const char req[] = "GET /api/users/1 HTTP/1.1\r\nHost: edge\r\n\r\n";
	char *answer;
	int ok;
	if (https_conn_send(c, req, sizeof(req) - 1) != 0)
		return 0;
	answer = https_conn_read(c, 3000, "musician\"}", NULL, NULL);
	ok = strncmp(answer, "HTTP/1.1 200 ", 13) == 0 && strstr(answer, user1_json) != NULL;
	free(answer);
	return ok;
}

START_TEST(test_https_answers_the_api_over_http11)
{
	http_response r;
	char url[128], line[512];
	if (!need_edge())
		return;
	get_over_tls("edge", "/api/users/1", 0, &r);
	ck_assert_msg(r.status == 200, "GET over TLS: %ld (%s)", r.status, r.error);
	ck_assert_int_eq(r.version, 11);
	ck_assert_str_eq(r.body, user1_json);
	http_response_free(&r);
	get_over_tls("edge", "/", 0, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, "Ready to receive requests");
	http_response_free(&r);
	/* a create over TLS */
	{
		char resolve[96], body[160];
		const char *headers[] = {"Idempotency-Key: https-create", NULL};
		http_options o = {.ca_file = ca,
				  .resolve = resolve,
				  .body = body,
				  .content_type = "application/json",
				  .headers = headers};
		snprintf(resolve, sizeof(resolve), "%s", edge.resolve);
		snprintf(body, sizeof(body),
			 "{\"username\":\"tls%d\",\"name\":\"Over TLS\",\"bio\":\"\"}",
			 (int)(getpid() % 100000));
		snprintf(url, sizeof(url), "%s/api/users", edge.base);
		http_request("POST", url, &o, &r);
		ck_assert_msg(r.status == 201, "POST over TLS: %ld %s", r.status, r.body);
		http_response_free(&r);
	}
	/* the admin port stays cleartext HTTP */
	ck_assert_msg(admin_port > 0, "no 'admin on http://' line");
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", admin_port);
	http_get(url, &r);
	ck_assert_msg(r.status == 200, "admin port over cleartext: %ld (%s)", r.status, r.error);
	ck_assert_ptr_nonnull(strstr(r.body, "cleave_http_requests_total"));
	http_response_free(&r);
	/* edge --check https:// (the containers' health check) handshakes and reads the status;
	 * http:// to the HTTPS port gets no answer */
	for (int tls = 1; tls >= 0; tls--) {
		char exe[256], log[300];
		char *argv[] = {exe, "--check", url, NULL};
		int status;
		snprintf(exe, sizeof(exe), "%s/edge", CLEAVE_BUILD_DIR);
		snprintf(url, sizeof(url), "%s://127.0.0.1:%d/", tls ? "https" : "http", edge.port);
		snprintf(log, sizeof(log), "%s/check-%d.log", mesh.dir, tls);
		pid_t pid = harness_spawn(argv, log);
		ck_assert_int_gt(pid, 0);
		if ((status = harness_wait(pid, 10000)) == -1)
			status = harness_stop(pid, SIGKILL, 1000);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == (tls ? 0 : 1),
			      "edge --check %s: status %d", url, status);
	}
	/* under Landlock the edge may read the certificate's directory, which the log names */
	if (harness_wait_for_line(edge.log, "sandbox: landlock", line, sizeof(line), 10) == 0)
		ck_assert_msg(strstr(line, live) != NULL, "the sandbox does not name %s: %s", live,
			      line);
}
END_TEST

START_TEST(test_https_answers_the_api_over_http2_by_alpn)
{
	static const char req[] =
	    "GET /api/users/1 HTTP/1.1\r\nHost: edge\r\nConnection: close\r\n\r\n";
	http_response r;
	https_peer peer;
	char err[256], *answer;
	if (!need_edge())
		return;
	get_over_tls("edge", "/api/users/1", 1, &r);
	ck_assert_msg(r.status == 200, "GET over TLS, HTTP/2: %ld (%s)", r.status, r.error);
	ck_assert_msg(r.version == 2, "ALPN did not give HTTP/2 (version %ld)", r.version);
	ck_assert_str_eq(r.body, user1_json);
	http_response_free(&r);
	get_over_tls("edge", "/api/threads", 1, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_int_eq(r.version, 2);
	http_response_free(&r);
	/* what ALPN settles: h2 first, http/1.1 when asked alone, nothing when not asked */
	ck_assert_msg(
	    https_handshake(edge.port, "edge", "h2,http/1.1", 0, &peer, err, sizeof(err)) == 0,
	    "%s", err);
	ck_assert_str_eq(peer.alpn, "h2");
	ck_assert_int_eq(
	    https_handshake(edge.port, "edge", "http/1.1,h2", 0, &peer, err, sizeof(err)), 0);
	ck_assert_str_eq(peer.alpn, "h2"); /* the server's preference */
	ck_assert_int_eq(https_handshake(edge.port, "edge", "http/1.1", 0, &peer, err, sizeof(err)),
			 0);
	ck_assert_str_eq(peer.alpn, "http/1.1");
	ck_assert_int_eq(https_handshake(edge.port, "edge", NULL, 0, &peer, err, sizeof(err)), 0);
	ck_assert_str_eq(peer.alpn, "");
	/* without ALPN the connection is HTTP/1.1 */
	answer = https_raw(edge.port, NULL, req, sizeof(req) - 1, 3000, NULL);
	ck_assert_ptr_nonnull(answer);
	ck_assert_msg(strncmp(answer, "HTTP/1.1 200 ", 13) == 0, "%s", answer);
	free(answer);
}
END_TEST

START_TEST(test_https_offers_tls12_and_tls13_only)
{
	https_peer peer;
	char err[256];
	if (!need_edge())
		return;
	ck_assert_int_eq(https_handshake(edge.port, "edge", NULL, 0, &peer, err, sizeof(err)), 0);
	ck_assert_str_eq(peer.version, "TLSv1.3");
	ck_assert_msg(
	    https_handshake(edge.port, "edge", "h2", TLS1_2_VERSION, &peer, err, sizeof(err)) == 0,
	    "TLS 1.2: %s", err);
	ck_assert_str_eq(peer.version, "TLSv1.2");
	ck_assert_str_eq(peer.alpn, "h2");
	ck_assert_msg(
	    https_handshake(edge.port, "edge", NULL, TLS1_1_VERSION, &peer, err, sizeof(err)) != 0,
	    "a TLS 1.1 handshake succeeded (%s)", peer.version);
	ck_assert_msg(
	    https_handshake(edge.port, "edge", NULL, TLS1_VERSION, &peer, err, sizeof(err)) != 0,
	    "a TLS 1.0 handshake succeeded (%s)", peer.version);
}
END_TEST

START_TEST(test_https_cleartext_to_the_tls_port_fails)
{
	static const char req[] =
	    "GET /api/users/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	http_response r;
	char url[96], *answer;
	if (!need_edge())
		return;
	/* the bytes are no ClientHello: the handshake fails and the edge closes, answering no
	 * HTTP */
	answer = http_raw(edge.port, req, sizeof(req) - 1, 3000);
	ck_assert_ptr_nonnull(answer);
	ck_assert_msg(strstr(answer, "HTTP/1.1") == NULL && strstr(answer, "marceline") == NULL,
		      "cleartext HTTP was answered on the TLS port: %s", answer);
	free(answer);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/users/1", edge.port);
	http_get(url, &r);
	ck_assert_msg(r.status == 0, "curl over cleartext got %ld", r.status);
	http_response_free(&r);
	/* HTTP/2 prior knowledge over cleartext neither */
	{
		http_options o = {.http2 = 1};
		http_request("GET", url, &o, &r);
		ck_assert_msg(r.status == 0, "h2c on the TLS port got %ld", r.status);
		http_response_free(&r);
	}
	get_over_tls("edge", "/api/users/1", 0, &r);
	ck_assert_int_eq(r.status, 200); /* and TLS is served still */
	http_response_free(&r);
}
END_TEST

START_TEST(test_https_reloads_when_the_files_change)
{
	https_peer peer;
	http_response r;
	char serial[80], err[256];
	https_conn *old;
	long long took;
	if (!need_edge())
		return;
	/* a connection opened before the change keeps its session */
	old = https_conn_open(edge.port, "edge", "http/1.1", 0, err, sizeof(err));
	ck_assert_msg(old != NULL, "%s", err);
	ck_assert(keepalive_get(old));
	install("edge-b");
	took = wait_for_cn("edge-b", &peer, RELOAD_MS);
	ck_assert_msg(took >= 0, "the new certificate was not served within %d ms (CN=%s)",
		      RELOAD_MS, peer.cn);
	fprintf(stderr, "https_test: the new certificate was served %lld ms after its files\n",
		took);
	ck_assert_str_eq(peer.serial, serial_of("edge-b", serial, sizeof(serial)));
	ck_assert_int_eq(count_lines("https: the files changed: now serving CN=edge-b,"), 1);
	/* checked against the CA under its own name */
	get_over_tls("edge-b", "/api/users/1", 1, &r);
	ck_assert_msg(r.status == 200, "as edge-b: %ld (%s)", r.status, r.error);
	ck_assert_int_eq(r.version, 2);
	http_response_free(&r);
	/* the old connection: still served, still on the old certificate */
	ck_assert_msg(keepalive_get(old), "a connection open across the reload was not served");
	https_conn_peer(old, &peer);
	ck_assert_str_eq(peer.cn, "edge");
	https_conn_close(old);
}
END_TEST

START_TEST(test_https_reloads_on_sighup)
{
	https_peer peer;
	char line[512], serial[80];
	if (!need_edge())
		return;
	/* the poll loads a change only once it has seen it twice, a second apart: a SIGHUP right
	 * after the files change is what loads them */
	install("edge-c");
	ck_assert_int_eq(kill(edge.pid, SIGHUP), 0);
	ck_assert_msg(harness_wait_for_line(edge.log, "SIGHUP: now serving CN=edge-c,", line,
					    sizeof(line), 3000) == 0,
		      "no reload on SIGHUP");
	ck_assert_msg(wait_for_cn("edge-c", &peer, 1000) >= 0, "CN=%s after SIGHUP", peer.cn);
	ck_assert_str_eq(peer.serial, serial_of("edge-c", serial, sizeof(serial)));
	harness_sleep_ms(2500);
	ck_assert_int_eq(count_lines("the files changed: now serving CN=edge-c,"), 0);
	ck_assert_int_eq(kill(edge.pid, 0), 0); /* SIGHUP did not stop it */
}
END_TEST

START_TEST(test_https_refuses_a_bad_pair_and_keeps_the_old)
{
	https_peer peer;
	http_response r;
	char from[256], line[512];
	int refused;
	if (!need_edge())
		return;
	refused = count_lines("the files changed: the new certificate and key are refused");
	/* edge's certificate with edge-b's key */
	ck_assert_int_eq(https_copy_atomic(cert_file(from, sizeof(from), "edge", "crt"), live_cert),
			 0);
	ck_assert_int_eq(
	    https_copy_atomic(cert_file(from, sizeof(from), "edge-b", "key"), live_key), 0);
	{
		long long until = harness_now_ms() + RELOAD_MS;
		while (count_lines("the files changed: the new certificate and key are refused") ==
			   refused &&
		       harness_now_ms() < until)
			harness_sleep_ms(50);
	}
	ck_assert_msg(count_lines("the files changed: the new certificate and key are refused") ==
			  refused + 1,
		      "the bad pair was not refused once");
	ck_assert_int_eq(
	    harness_wait_for_line(edge.log, "is not the certificate's", line, sizeof(line), 10), 0);
	ck_assert_ptr_nonnull(strstr(line, "the ones in use kept (CN=edge-c,"));
	ck_assert_msg(wait_for_cn("edge-c", &peer, 10) >= 0, "CN=%s after a bad pair", peer.cn);
	get_over_tls("edge-c", "/api/users/1", 0, &r);
	ck_assert_msg(r.status == 200, "after a bad pair: %ld (%s)", r.status, r.error);
	http_response_free(&r);
	/* nor does SIGHUP take it */
	ck_assert_int_eq(kill(edge.pid, SIGHUP), 0);
	ck_assert_int_eq(harness_wait_for_line(edge.log,
					       "SIGHUP: the new certificate and key are "
					       "refused",
					       line, sizeof(line), 3000),
			 0);
	ck_assert_msg(wait_for_cn("edge-c", &peer, 10) >= 0, "CN=%s after SIGHUP", peer.cn);
	/* a missing key neither */
	ck_assert_int_eq(unlink(live_key), 0);
	ck_assert_int_eq(kill(edge.pid, SIGHUP), 0);
	ck_assert_int_eq(
	    harness_wait_for_line(edge.log, "cannot read the key", line, sizeof(line), 3000), 0);
	ck_assert_ptr_nonnull(strstr(line, "No such file"));
	ck_assert_msg(wait_for_cn("edge-c", &peer, 10) >= 0, "CN=%s after a missing key", peer.cn);
	/* and a good pair again is taken */
	install("edge");
	ck_assert_msg(wait_for_cn("edge", &peer, RELOAD_MS) >= 0, "CN=%s after a good pair",
		      peer.cn);
}
END_TEST

/* start_bad starts an edge with args (after the common ones) and the environment as it is,
 * and returns its exit status (-1 if it did not exit within 10 s) with its output in *log. */
static int start_bad(const char *name, const char *const *args, char **log)
{
	char exe[256], path[300];
	char *argv[24];
	int argc = 0, status;
	pid_t pid;
	snprintf(exe, sizeof(exe), "%s/edge", CLEAVE_BUILD_DIR);
	snprintf(path, sizeof(path), "%s/bad-%s.log", mesh.dir, name);
	argv[argc++] = exe;
	argv[argc++] = "--port";
	argv[argc++] = "0";
	argv[argc++] = "--run-dir";
	argv[argc++] = mesh.dir;
	argv[argc++] = "--access-log";
	argv[argc++] = "off";
	for (; *args != NULL && argc < 23; args++)
		argv[argc++] = (char *)*args;
	argv[argc] = NULL;
	pid = harness_spawn(argv, path);
	ck_assert_int_gt(pid, 0);
	status = harness_wait(pid, 10000);
	if (status == -1)
		harness_stop(pid, SIGKILL, 1000);
	*log = harness_read_file(path);
	return status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* expect_exit asserts that an edge with args exits with status want, saying needle. */
static void expect_exit(const char *name, const char *const *args, int want, const char *needle)
{
	char *log = NULL;
	int got = start_bad(name, args, &log);
	ck_assert_msg(got == want, "%s: exit %d, want %d:\n%s", name, got, want, log);
	ck_assert_msg(log != NULL && strstr(log, needle) != NULL, "%s: no '%s' in:\n%s", name,
		      needle, log);
	ck_assert_msg(strstr(log, "listening on") == NULL, "%s: it listened:\n%s", name, log);
	free(log);
}

START_TEST(test_https_bad_files_at_start_exit_nonzero)
{
	char edge_crt[256], edge_key[256], b_key[256], missing[256], garbage[256];
	FILE *f;
	if (!need_edge())
		return;
	cert_file(edge_crt, sizeof(edge_crt), "edge", "crt");
	cert_file(edge_key, sizeof(edge_key), "edge", "key");
	cert_file(b_key, sizeof(b_key), "edge-b", "key");
	snprintf(missing, sizeof(missing), "%s/missing.crt", mesh.dir);
	snprintf(garbage, sizeof(garbage), "%s/garbage.crt", mesh.dir);
	ck_assert_ptr_nonnull(f = fopen(garbage, "w"));
	fputs("not a certificate\n", f);
	fclose(f);
	expect_exit("missing_cert",
		    (const char *[]){"--https-cert", missing, "--https-key", edge_key, NULL}, 1,
		    "cannot read the certificate");
	expect_exit("missing_key",
		    (const char *[]){"--https-cert", edge_crt, "--https-key", missing, NULL}, 1,
		    "No such file or directory");
	expect_exit("directory",
		    (const char *[]){"--https-cert", certs, "--https-key", edge_key, NULL}, 1,
		    "is not a regular file");
	expect_exit("garbage",
		    (const char *[]){"--https-cert", garbage, "--https-key", edge_key, NULL}, 1,
		    "holds no PEM certificate");
	expect_exit("key_mismatch",
		    (const char *[]){"--https-cert", edge_crt, "--https-key", b_key, NULL}, 1,
		    "is not the certificate's");
	expect_exit("key_as_cert",
		    (const char *[]){"--https-cert", edge_key, "--https-key", edge_key, NULL}, 1,
		    "holds no PEM certificate");
	expect_exit("cert_alone", (const char *[]){"--https-cert", edge_crt, NULL}, 2,
		    "go together");
	/* the variables: alone they configure HTTPS, and a flag wins over them */
	setenv("CLEAVE_HTTPS_CERT", missing, 1);
	setenv("CLEAVE_HTTPS_KEY", edge_key, 1);
	expect_exit("env_missing", (const char *[]){NULL}, 1, missing);
	unsetenv("CLEAVE_HTTPS_KEY");
	expect_exit("env_cert_alone", (const char *[]){NULL}, 2, "go together");
	setenv("CLEAVE_HTTPS_KEY", edge_key, 1);
	{
		https_edge e;
		char log[256];
		snprintf(log, sizeof(log), "%s/flags-win.log", mesh.dir);
		ck_assert_msg(https_edge_start(&e, mesh.dir, edge_crt, edge_key, log, NULL) == 0,
			      "flags did not win over CLEAVE_HTTPS_CERT");
		ck_assert(https_edge_stop(&e));
	}
	unsetenv("CLEAVE_HTTPS_CERT");
	unsetenv("CLEAVE_HTTPS_KEY");
}
END_TEST

START_TEST(test_https_everything_stops_cleanly)
{
	char report[8192];
	if (!need_edge())
		return;
	ck_assert_msg(https_edge_stop(&edge), "the HTTPS edge did not exit with status 0");
	mesh_up = 0;
	ck_assert_msg(fixture_mesh_stop(&mesh, report, sizeof(report)) == 0, "%s", report);
}
END_TEST

static Suite *https_suite(void)
{
	Suite *s = suite_create("https");
	TCase *tc = harness_tcase("https", 180);
	tcase_add_unchecked_fixture(tc, mesh_setup, mesh_teardown);
	tcase_add_test(tc, test_https_answers_the_api_over_http11);
	tcase_add_test(tc, test_https_answers_the_api_over_http2_by_alpn);
	tcase_add_test(tc, test_https_offers_tls12_and_tls13_only);
	tcase_add_test(tc, test_https_cleartext_to_the_tls_port_fails);
	tcase_add_test(tc, test_https_reloads_when_the_files_change);
	tcase_add_test(tc, test_https_reloads_on_sighup);
	tcase_add_test(tc, test_https_refuses_a_bad_pair_and_keeps_the_old);
	tcase_add_test(tc, test_https_bad_files_at_start_exit_nonzero);
	tcase_add_test(tc, test_https_everything_stops_cleanly); /* last: it stops everything */
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return harness_run_suite(https_suite(), 1);
}
