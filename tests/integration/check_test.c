/* check_test.c: `svc-<name> --check URL` and `edge --check URL`, the images' health checks. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <check.h>

#include "harness.h"

static char dir[128];

static void setup(void)
{
	ck_assert_int_eq(harness_tmpdir(dir, sizeof(dir)), 0);
}

static void teardown(void)
{
	harness_rmtree(dir);
}

/* listener opens a TCP socket listening on 127.0.0.1 at a free port (written to *port) that
 * never accepts: the kernel completes connections, nobody answers. The caller closes it. */
static int listener(int *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(fd, 8), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

/* run_check runs `EXE --check URL` (or EXE with args when url is NULL), waits up to 10 s and
 * returns its exit status; its stdout and stderr are left in *output (malloc'd, the caller's). */
static int run_check(const char *exe, const char *url, const char *const *args, char **output)
{
	char path[512], log[256];
	char *argv[8];
	int argc = 0, status;
	pid_t pid;
	snprintf(path, sizeof(path), "%s/%s", CLEAVE_BUILD_DIR, exe);
	snprintf(log, sizeof(log), "%s/check.out", dir);
	unlink(log);
	argv[argc++] = path;
	if (url != NULL) {
		argv[argc++] = "--check";
		argv[argc++] = (char *)url;
	}
	for (; args != NULL && *args != NULL && argc < 7; args++)
		argv[argc++] = (char *)*args;
	argv[argc] = NULL;
	pid = harness_spawn(argv, log);
	ck_assert_int_gt(pid, 0);
	status = harness_wait(pid, 10000);
	if (status == -1)
		status = harness_stop(pid, SIGKILL, 1000);
	*output = harness_read_file(log);
	ck_assert_ptr_nonnull(*output);
	ck_assert_msg(WIFEXITED(status), "%s --check %s did not exit by itself", exe, url);
	return WEXITSTATUS(status);
}

/* expect_check runs a check and asserts its exit status and that its output holds want. */
static void expect_check(const char *exe, const char *url, int want_status, const char *want)
{
	char *out;
	int status = run_check(exe, url, NULL, &out);
	ck_assert_msg(status == want_status, "%s --check %s: exit %d, want %d; output:\n%s", exe,
		      url, status, want_status, out);
	ck_assert_msg(strstr(out, want) != NULL, "%s --check %s: output lacks '%s':\n%s", exe, url,
		      want, out);
	free(out);
}

/* wait_healthy runs the check until it passes, at most 50 times over 10 s; returns 0 once it
 * does. */
static int wait_healthy(const char *exe, const char *url)
{
	long long until = harness_now_ms() + 10000;
	for (int i = 0; i < 50 && harness_now_ms() < until; i++) {
		char *out;
		int status = run_check(exe, url, NULL, &out);
		free(out);
		if (status == 0)
			return 0;
		harness_sleep_ms(100);
	}
	return -1;
}

/* start_users starts svc-users on ipc://<dir>/users.sock and tcp://127.0.0.1:<port>. */
static pid_t start_users(int port)
{
	char path[512], ipc[256], tcp[64], data[256], log[256];
	snprintf(path, sizeof(path), "%s/svc-users", CLEAVE_BUILD_DIR);
	snprintf(ipc, sizeof(ipc), "ipc://%s/users.sock", dir);
	snprintf(tcp, sizeof(tcp), "tcp://127.0.0.1:%d", port);
	snprintf(data, sizeof(data), "%s/users", dir);
	snprintf(log, sizeof(log), "%s/users.log", dir);
	char *argv[] = {path, "--listen", ipc, "--listen", tcp, "--data-dir", data, NULL};
	pid_t pid = harness_spawn(argv, log);
	ck_assert_int_gt(pid, 0);
	return pid;
}

/* start_edge starts the edge on 127.0.0.1:<port>, with no service running. */
static pid_t start_edge(int port)
{
	char path[512], listen_at[64], log[256];
	snprintf(path, sizeof(path), "%s/edge", CLEAVE_BUILD_DIR);
	snprintf(listen_at, sizeof(listen_at), "127.0.0.1:%d", port);
	snprintf(log, sizeof(log), "%s/edge.log", dir);
	char *argv[] = {path, "--listen", listen_at, "--run-dir", dir, "--access-log", "off", NULL};
	pid_t pid = harness_spawn(argv, log);
	ck_assert_int_gt(pid, 0);
	return pid;
}

START_TEST(test_check_service_ok)
{
	int port = harness_free_port();
	char ipc[256], tcp[64];
	pid_t pid = start_users(port);
	snprintf(ipc, sizeof(ipc), "ipc://%s/users.sock", dir);
	snprintf(tcp, sizeof(tcp), "tcp://127.0.0.1:%d", port);
	ck_assert_msg(wait_healthy("svc-users", tcp) == 0, "svc-users never passed its check");
	expect_check("svc-users", tcp, 0, "users.Users at tcp://127.0.0.1:");
	expect_check("svc-users", ipc, 0, "is healthy");
	/* Health is the runtime's, answered by every service: any binary checks any service */
	expect_check("svc-posts", tcp, 0, "users.Users");
	ck_assert(harness_exited_cleanly(harness_stop(pid, SIGTERM, 5000)));
	/* once it is gone the same check fails */
	expect_check("svc-users", tcp, 1, "no mesh connection");
}
END_TEST

START_TEST(test_check_service_wrong_address)
{
	char url[256];
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", harness_free_port());
	expect_check("svc-users", url, 1, "check failed: no mesh connection to tcp://127.0.0.1:");
	snprintf(url, sizeof(url), "ipc://%s/nobody.sock", dir);
	expect_check("svc-threads", url, 1, "nobody.sock");
	expect_check("svc-users", "bogus://somewhere", 1, "cannot dial bogus://somewhere");
}
END_TEST

START_TEST(test_check_service_not_a_mesh_peer)
{
	int port, edge_port = harness_free_port(), fd = listener(&port);
	char url[64];
	pid_t edge;
	/* something accepts connections but never speaks: the check gives up after 2 s */
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", port);
	expect_check("svc-users", url, 1, "does not speak the mesh's protocol");
	close(fd);
	/* an HTTP server is no mesh peer either */
	edge = start_edge(edge_port);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", edge_port);
	ck_assert_msg(wait_healthy("edge", url) == 0, "the edge never passed its check");
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", edge_port);
	expect_check("svc-posts", url, 1, "no mesh connection");
	ck_assert(harness_exited_cleanly(harness_stop(edge, SIGTERM, 5000)));
}
END_TEST

START_TEST(test_check_edge_ok)
{
	int port = harness_free_port();
	char url[128];
	pid_t edge = start_edge(port);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);
	ck_assert_msg(wait_healthy("edge", url) == 0, "the edge never passed its check");
	expect_check("edge", url, 0, "answered 'HTTP/1.1 200 OK'");
	snprintf(url, sizeof(url), "http://localhost:%d", port); /* a name; no path means / */
	expect_check("edge", url, 0, "200");
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/no/such/page", port);
	expect_check("edge", url, 1, "404");
	ck_assert(harness_exited_cleanly(harness_stop(edge, SIGTERM, 5000)));
}
END_TEST

START_TEST(test_check_edge_wrong_address_or_not_http)
{
	int port, users_port = harness_free_port(), fd;
	char url[128];
	pid_t users;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", harness_free_port());
	expect_check("edge", url, 1, "Connection refused");
	expect_check("edge", "http://no-such-host.invalid:8080/", 1, "cannot resolve");
	/* accepts, never answers: gives up after 2 s */
	fd = listener(&port);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);
	expect_check("edge", url, 1, "no answer from");
	close(fd);
	/* a mesh peer is no HTTP server */
	users = start_users(users_port);
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", users_port);
	ck_assert(wait_healthy("svc-users", url) == 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", users_port);
	expect_check("edge", url, 1, "check failed");
	ck_assert(harness_exited_cleanly(harness_stop(users, SIGTERM, 5000)));
}
END_TEST

START_TEST(test_check_command_line)
{
	static const char *const extra[] = {"--loops", "2", NULL};
	static const char *const alone[] = {"--check", NULL};
	static const char *const help[] = {"--help", NULL};
	char *out;
	ck_assert_int_eq(run_check("svc-users", "tcp://127.0.0.1:7000", extra, &out), 2);
	ck_assert_ptr_nonnull(strstr(out, "--check wants one URL and no other option"));
	free(out);
	ck_assert_int_eq(run_check("svc-users", NULL, alone, &out), 2);
	free(out);
	ck_assert_int_eq(run_check("edge", NULL, alone, &out), 2);
	free(out);
	expect_check("edge", "ftp://example", 2, "not an http://HOST:PORT/PATH URL");
	expect_check("edge", "http://127.0.0.1:99999/", 2, "port is not a number");
	expect_check("edge", "http://[::1/", 2, "no ']'");
	ck_assert_int_eq(run_check("svc-posts", NULL, help, &out), 0);
	ck_assert_ptr_nonnull(strstr(out, "--check URL"));
	free(out);
	ck_assert_int_eq(run_check("edge", NULL, help, &out), 0);
	ck_assert_ptr_nonnull(strstr(out, "--check URL"));
	free(out);
}
END_TEST

static Suite *check_suite(void)
{
	Suite *s = suite_create("Check");
	TCase *tc = harness_tcase("check", 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_check_service_ok);
	tcase_add_test(tc, test_check_service_wrong_address);
	tcase_add_test(tc, test_check_service_not_a_mesh_peer);
	tcase_add_test(tc, test_check_edge_ok);
	tcase_add_test(tc, test_check_edge_wrong_address_or_not_http);
	tcase_add_test(tc, test_check_command_line);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return harness_run_suite(check_suite(), 0);
}
