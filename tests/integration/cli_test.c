/* cli_test.c: the executables' command lines: --help, bad options, bad input files, clear errors.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
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

/* run starts exe with args (NULL-terminated, after argv[0]), waits up to 10 s, and returns its
 * exit status; its output is left in *output (malloc'd). */
static int run(const char *exe, const char *const *args, char **output)
{
	char path[512], log[256];
	char *argv[16];
	int argc = 0, status;
	pid_t pid;
	snprintf(path, sizeof(path), "%s/%s", CLEAVE_BUILD_DIR, exe);
	snprintf(log, sizeof(log), "%s/%s.out", dir, exe);
	unlink(log);
	argv[argc++] = path;
	for (; args != NULL && *args != NULL && argc < 15; args++)
		argv[argc++] = (char *)*args;
	argv[argc] = NULL;
	pid = harness_spawn(argv, log);
	ck_assert_int_gt(pid, 0);
	status = harness_wait(pid, 10000);
	if (status == -1)
		status = harness_stop(pid, SIGKILL, 1000);
	*output = harness_read_file(log);
	ck_assert_ptr_nonnull(*output);
	ck_assert_msg(WIFEXITED(status), "%s did not exit by itself", exe);
	return WEXITSTATUS(status);
}

static void expect_run(const char *exe, const char *const *args, int want_status,
		       const char *want_text)
{
	char *out;
	int status = run(exe, args, &out);
	ck_assert_msg(status == want_status, "%s: exit %d, want %d; output:\n%s", exe, status,
		      want_status, out);
	ck_assert_msg(strstr(out, want_text) != NULL, "%s: output lacks '%s':\n%s", exe, want_text,
		      out);
	free(out);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

START_TEST(test_cli_help_everywhere)
{
	static const char *const exes[] = {"edge", "svc-users", "svc-threads", "svc-posts"};
	static const char *const help[] = {"--help", NULL};
	for (size_t i = 0; i < sizeof(exes) / sizeof(*exes); i++)
		expect_run(exes[i], help, 0, "usage:");
	expect_run("edge", help, 0, "--admin-port N");
}
END_TEST

START_TEST(test_cli_bad_options_exit_2)
{
	static const char *const unknown[] = {"--bogus", NULL};
	static const char *const no_listen[] = {NULL};
	static const char *const bad_workers[] = {"--listen", "ipc:///tmp/x.sock", "--workers", "0",
						  NULL};
	static const char *const bad_port[] = {"--port", "70000", NULL};
	static const char *const bad_listen[] = {"--listen", "nocolon", NULL};
	static const char *const bad_timeout[] = {"--timeout-ms", "-3", NULL};
	static const char *const bad_upstream[] = {"--upstream", "users", NULL};
	static const char *const bad_admin_port[] = {"--admin-port", "x", NULL};
	static const char *const bad_admin_listen[] = {"--admin-listen", "127.0.0.1", NULL};
	expect_run("svc-users", unknown, 2, "usage:");
	expect_run("svc-users", no_listen, 2, "--listen");
	expect_run("svc-posts", bad_workers, 2, "--workers");
	expect_run("edge", unknown, 2, "usage:");
	expect_run("edge", bad_port, 2, "--port");
	expect_run("edge", bad_listen, 2, "--listen");
	expect_run("edge", bad_timeout, 2, "--timeout-ms");
	expect_run("edge", bad_upstream, 2, "--upstream");
	expect_run("edge", bad_admin_port, 2, "--admin-port");
	expect_run("edge", bad_admin_listen, 2, "--admin-listen");
}
END_TEST

START_TEST(test_cli_service_reports_a_bad_seed)
{
	char seed[256], url[256], data[256];
	const char *args[] = {"--listen", url, "--seed", seed, "--data-dir", data, NULL};
	snprintf(url, sizeof(url), "ipc://%s/u.sock", dir);
	snprintf(data, sizeof(data), "%s/users-data", dir); /* never seeded: each start seeds */
	snprintf(seed, sizeof(seed), "%s/seed.json", dir);
	write_file(seed, "[{\"id\": 1, \"username\": \"a\"}, {\"id\": 1, \"username\": \"b\"}]");
	expect_run("svc-users", args, 1, "not unique");
	write_file(seed, "[{\"id\": 1, \"nickname\": \"a\"}]");
	expect_run("svc-users", args, 1, "unknown field 'nickname'");
	write_file(seed, "[{\"id\": 1,");
	expect_run("svc-users", args, 1, "seed.json:1:");
	snprintf(seed, sizeof(seed), "%s/missing.json", dir);
	expect_run("svc-users", args, 1, "missing.json");
}
END_TEST

START_TEST(test_cli_service_reports_a_bad_address)
{
	char data[256];
	const char *args[] = {"--listen", "nope://where", "--data-dir", data, NULL};
	snprintf(data, sizeof(data), "%s/threads-data", dir);
	expect_run("svc-threads", args, 1, "cannot listen on nope://where");
}
END_TEST

START_TEST(test_cli_edge_reports_a_bad_manifest)
{
	char svc[256], manifest[300];
	const char *args[] = {"--port", "0", "--manifests", dir, NULL};
	snprintf(svc, sizeof(svc), "%s/users", dir);
	ck_assert_int_eq(mkdir(svc, 0700), 0);
	snprintf(manifest, sizeof(manifest), "%s/manifest.yml", svc);
	write_file(manifest, "name: users\nservice: users.Users\ncolour: blue\n");
	expect_run("edge", args, 1, "manifest.yml:3: unknown key 'colour'");
	write_file(manifest, "name: users\nservice: users.Users\nroutes:\n  - method: GET\n"
			     "    path: /api/users/{uid}\n    rpc: Get\n");
	expect_run("edge", args, 1, "manifest.yml:4: {uid} is not a field of users.GetUserRequest");
	write_file(manifest, "name: users\nservice: users.Nope\n");
	expect_run("edge", args, 1, "manifest.yml:2: no service 'users.Nope'");
	write_file(manifest, "name: users\nservice: users.Users\nroutes:\n  - method: GET\n"
			     "    path: /api/users\n    rpc: List\n  - method: GET\n"
			     "    path: /api/users/\n    rpc: List\n");
	expect_run("edge", args, 1, "manifest.yml:7: path '/api/users/' must not end with '/'");
	write_file(manifest, "name: users\nservice: users.Users\nhealthcheck:\n  interval: 5\n");
	expect_run("edge", args, 1, "manifest.yml:4: 'interval' wants a unit");
	write_file(manifest, "name: users\nservice: users.Users\ncalls: [threads.Get]\n");
	expect_run("edge", args, 1, "manifest.yml:3: calls: no service 'threads'");
	write_file(manifest, "name: users\nservice: users.Users\ncalls:\n  - users.Delete\n");
	expect_run("edge", args, 1, "manifest.yml:4: calls: users has no method 'Delete'");
}
END_TEST

START_TEST(test_cli_edge_reports_missing_manifests_and_busy_port)
{
	char empty[256], port_arg[16];
	const char *args[] = {"--port", "0", "--manifests", empty, NULL};
	struct sockaddr_in addr = {.sin_family = AF_INET};
	socklen_t len = sizeof(addr);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	snprintf(empty, sizeof(empty), "%s/none", dir);
	ck_assert_int_eq(mkdir(empty, 0700), 0);
	expect_run("edge", args, 1, "no */manifest.yml found");

	/* a port someone else holds */
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	ck_assert_int_eq(listen(fd, 1), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
	snprintf(port_arg, sizeof(port_arg), "%d", ntohs(addr.sin_port));
	{
		char run_dir[256];
		const char *busy[] = {"--port", port_arg, "--run-dir", run_dir, NULL};
		snprintf(run_dir, sizeof(run_dir), "%s", dir);
		expect_run("edge", busy, 1, "cannot listen on 127.0.0.1:");
	}
	{
		/* the admin port too */
		char run_dir[256];
		const char *busy[] = {"--port", "0", "--admin-port", port_arg, "--run-dir",
				      run_dir,	NULL};
		snprintf(run_dir, sizeof(run_dir), "%s", dir);
		expect_run("edge", busy, 1, "cannot listen on 127.0.0.1:");
	}
	close(fd);
}
END_TEST

static Suite *cli_suite(void)
{
	Suite *s = suite_create("cli");
	TCase *tc = harness_tcase("cli", 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_cli_help_everywhere);
	tcase_add_test(tc, test_cli_bad_options_exit_2);
	tcase_add_test(tc, test_cli_service_reports_a_bad_seed);
	tcase_add_test(tc, test_cli_service_reports_a_bad_address);
	tcase_add_test(tc, test_cli_edge_reports_a_bad_manifest);
	tcase_add_test(tc, test_cli_edge_reports_missing_manifests_and_busy_port);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return harness_run_suite(cli_suite(), 0);
}
