/* sandbox_test.c: the Landlock sandbox of a service: what a restricted process can and cannot
 * open, sandboxed services serving and redialing a restarted callee, and every service
 * sandboxed under meshctl as root. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <check.h>

#include "fixture.h"
#include "harness.h"
#include "http.h"
#include "process.h"
#include "sandbox.h"

#define PROBE	CLEAVE_BUILD_DIR "/tests/sandbox-probe"
#define MESHCTL CLEAVE_BUILD_DIR "/meshctl"

/* landlock_missing says (and prints why) when the kernel has no Landlock: the tests skip. */
static int landlock_missing(const char *test)
{
	int abi = rt_landlock_abi();
	if (abi > 0)
		return 0;
	harness_skip("sandbox_test: %s: this kernel has no Landlock (%s)", test, strerror(-abi));
	return 1;
}

/* what the scratch tests started, for scratch_teardown even when an assertion fails */
static char scratch[128];
static pid_t scratch_pids[2];

/* scratch_setup makes the test's directory. */
static void scratch_setup(void)
{
	if (harness_tmpdir(scratch, sizeof(scratch)) != 0)
		scratch[0] = '\0';
}

/* scratch_teardown stops what the test started and removes its directory. */
static void scratch_teardown(void)
{
	/* what a test left running (it failed, or stops them itself): SIGTERM, as any stop */
	for (size_t i = 0; i < sizeof(scratch_pids) / sizeof(scratch_pids[0]); i++)
		harness_stop_checked(scratch_pids[i], SIGTERM, 5000, "a sandboxed service");
	memset(scratch_pids, 0, sizeof(scratch_pids));
	if (scratch[0] != '\0')
		harness_rmtree(scratch);
	scratch[0] = '\0';
}

/* write_file creates path with content. */
static void write_file(const char *path, const char *content)
{
	FILE *f = fopen(path, "w");
	ck_assert_msg(f != NULL, "cannot create %s: %s", path, strerror(errno));
	fputs(content, f);
	fclose(f);
}

/* expect_line asserts out has the line "OP PATH WANT". */
static void expect_line(const char *out, const char *op, const char *path, const char *want)
{
	char line[1200];
	snprintf(line, sizeof(line), "%s %s %s\n", op, path, want);
	ck_assert_msg(strstr(out, line) != NULL, "want '%s %s %s' in the probe's output:\n%s", op,
		      path, want, out);
}

/* run_probe runs the probe with argv (argv[0] is PROBE) in the scratch dir and returns what it
 * printed (malloc'd, the caller's), asserting it ran and applied its sandbox. */
static char *run_probe(char *const argv[])
{
	char log[300], *out;
	int status;
	pid_t pid;
	snprintf(log, sizeof(log), "%s/probe-%d.out", scratch, (int)harness_now_ms());
	pid = harness_spawn(argv, log);
	ck_assert_int_gt(pid, 0);
	status = harness_wait(pid, 10000);
	if (status == -1)
		status = harness_stop(pid, SIGKILL, 1000);
	out = harness_read_file(log);
	ck_assert_ptr_nonnull(out);
	ck_assert_msg(harness_exited_cleanly(status), "probe failed:\n%s", out);
	ck_assert_msg(strncmp(out, "applied: sandbox: landlock ABI ", 31) == 0, "%s", out);
	return out;
}

START_TEST(test_probe_reaches_only_its_data_dir_and_system_paths)
{
	char *dir = scratch;
	char state[256], a[300], b[300], a_file[400], a_sub[400], b_secret[400];
	char b_new[400], state_file[400], tmp_x[128], args[8][512];
	char *argv[12], *out;
	if (landlock_missing("the probe"))
		return;
	ck_assert(dir[0] != '\0');
	/* a state dir like meshctl's: A is the probe's data, B another service's */
	snprintf(state, sizeof(state), "%s/state", dir);
	snprintf(a, sizeof(a), "%s/a", state);
	snprintf(b, sizeof(b), "%s/b", state);
	ck_assert_int_eq(mkdir(state, 0700), 0);
	ck_assert_int_eq(mkdir(a, 0700), 0);
	ck_assert_int_eq(mkdir(b, 0700), 0);
	snprintf(a_file, sizeof(a_file), "%s/own.db", a);
	snprintf(a_sub, sizeof(a_sub), "%s/sub", a);
	snprintf(b_secret, sizeof(b_secret), "%s/secret.db", b);
	snprintf(b_new, sizeof(b_new), "%s/planted", b);
	snprintf(state_file, sizeof(state_file), "%s/meshctl.pid", state);
	snprintf(tmp_x, sizeof(tmp_x), "/tmp/cleave-sandbox-probe-%d", (int)getpid());
	write_file(b_secret, "b's data\n");
	write_file(state_file, "1\n");
	unlink(tmp_x);

	snprintf(args[0], sizeof(args[0]), "write:%s", a_file);
	snprintf(args[1], sizeof(args[1]), "read:%s", a_file);
	snprintf(args[2], sizeof(args[2]), "mkdir:%s", a_sub);
	snprintf(args[3], sizeof(args[3]), "read:%s", b_secret);
	snprintf(args[4], sizeof(args[4]), "write:%s", b_new);
	snprintf(args[5], sizeof(args[5]), "read:/etc/hostname");
	snprintf(args[6], sizeof(args[6]), "write:%s", tmp_x);
	snprintf(args[7], sizeof(args[7]), "read:%s", state_file);
	argv[0] = PROBE;
	argv[1] = a;
	for (int i = 0; i < 8; i++)
		argv[2 + i] = args[i];
	argv[10] = NULL;
	out = run_probe(argv);
	unlink(tmp_x); /* only there if the sandbox failed */
	expect_line(out, "write", a_file, "ok");
	expect_line(out, "read", a_file, "ok");
	expect_line(out, "mkdir", a_sub, "ok");
	expect_line(out, "read", b_secret, "EACCES");
	expect_line(out, "write", b_new, "EACCES");
	expect_line(out, "read", "/etc/hostname", "ok");
	expect_line(out, "write", tmp_x, "EACCES");
	expect_line(out, "read", state_file, "EACCES");
	ck_assert_int_ne(access(b_new, F_OK), 0);
	free(out);
}
END_TEST

/* make_file makes the directories of path (a file under dir) and the file, with content. */
static void make_file(const char *path, const char *content)
{
	char parent[512], *slash;
	snprintf(parent, sizeof(parent), "%s", path);
	slash = strrchr(parent, '/');
	*slash = '\0';
	ck_assert_int_eq(rt_mkdirs(parent, 0700), 0);
	write_file(path, content);
}

START_TEST(test_a_service_reaches_no_other_services_files)
{
	char state[200], run[300], sock[320], own_sock[400], own_db[400], other_sock[400];
	char planted[400], targets[400], policy[400], other_db[400], stray[400], listen[420];
	char data[300], args[11][512], *argv[20], *out;
	if (landlock_missing("a service's files"))
		return;
	/* meshctl's layout: users' data and sockets, and what belongs to threads and to meshctl */
	snprintf(state, sizeof(state), "%s/state", scratch);
	snprintf(run, sizeof(run), "%s/run", state);
	snprintf(sock, sizeof(sock), "%s/users", run);
	snprintf(own_sock, sizeof(own_sock), "%s/users-1.sock", sock);
	snprintf(listen, sizeof(listen), "ipc://%s", own_sock);
	snprintf(data, sizeof(data), "%s/users", state);
	snprintf(own_db, sizeof(own_db), "%s/users.db", data);
	snprintf(other_sock, sizeof(other_sock), "%s/threads/threads-1.sock", run);
	snprintf(planted, sizeof(planted), "%s/threads/planted.sock", run);
	snprintf(targets, sizeof(targets), "%s/targets/threads", run);
	snprintf(policy, sizeof(policy), "%s/policy/users", run);
	snprintf(other_db, sizeof(other_db), "%s/threads/threads.db", state);
	snprintf(stray, sizeof(stray), "%s/not-a-socket", sock);
	make_file(own_db, "users\n");
	make_file(other_sock, "threads' socket\n");
	make_file(targets, "ipc:///nowhere/threads-1.sock active\n");
	make_file(policy, "edge Get\n");
	make_file(other_db, "threads\n");
	ck_assert_int_eq(rt_mkdirs(sock, 0700), 0);
	snprintf(args[0], sizeof(args[0]), "sock:%s", own_sock);
	snprintf(args[1], sizeof(args[1]), "unlink:%s", own_sock);
	snprintf(args[2], sizeof(args[2]), "write:%s", own_db);
	snprintf(args[3], sizeof(args[3]), "read:%s", targets);
	snprintf(args[4], sizeof(args[4]), "read:%s", policy);
	snprintf(args[5], sizeof(args[5]), "unlink:%s", other_sock);
	snprintf(args[6], sizeof(args[6]), "sock:%s", planted);
	snprintf(args[7], sizeof(args[7]), "write:%s", targets);
	snprintf(args[8], sizeof(args[8]), "write:%s", policy);
	snprintf(args[9], sizeof(args[9]), "read:%s", other_db);
	snprintf(args[10], sizeof(args[10]), "write:%s", stray);
	argv[0] = PROBE;
	argv[1] = "--service";
	argv[2] = data;
	argv[3] = run;
	argv[4] = listen;
	argv[5] = policy;
	for (int i = 0; i < 11; i++)
		argv[6 + i] = args[i];
	argv[17] = NULL;
	out = run_probe(argv);
	/* its own socket directory, data, and what it only reads */
	expect_line(out, "sock", own_sock, "ok");
	expect_line(out, "unlink", own_sock, "ok");
	expect_line(out, "write", own_db, "ok");
	expect_line(out, "read", targets, "ok");
	expect_line(out, "read", policy, "ok");
	/* nothing of another service, nor of meshctl's to change */
	expect_line(out, "unlink", other_sock, "EACCES");
	expect_line(out, "sock", planted, "EACCES");
	expect_line(out, "write", targets, "EACCES");
	expect_line(out, "write", policy, "EACCES");
	expect_line(out, "read", other_db, "EACCES");
	expect_line(out, "write", stray, "EACCES"); /* its socket directory holds sockets only */
	ck_assert_int_eq(access(other_sock, F_OK), 0);
	free(out);
}
END_TEST

START_TEST(test_the_edge_writes_nothing)
{
	char targets[300], target[400], data[400], tmp_x[128], inside[400];
	char args[6][512], *argv[12], *out;
	if (landlock_missing("the edge's files"))
		return;
	snprintf(targets, sizeof(targets), "%s/run/targets", scratch);
	snprintf(target, sizeof(target), "%s/users", targets);
	snprintf(data, sizeof(data), "%s/users/users.db", scratch);
	snprintf(tmp_x, sizeof(tmp_x), "/tmp/cleave-edge-probe-%d", (int)getpid());
	snprintf(inside, sizeof(inside), "%s/planted", scratch);
	make_file(target, "ipc:///nowhere/users-1.sock active\n");
	make_file(data, "users\n");
	unlink(tmp_x);
	snprintf(args[0], sizeof(args[0]), "read:%s", target);
	snprintf(args[1], sizeof(args[1]), "read:/etc/hostname");
	snprintf(args[2], sizeof(args[2]), "write:%s", target);
	snprintf(args[3], sizeof(args[3]), "write:%s", tmp_x);
	snprintf(args[4], sizeof(args[4]), "write:%s", inside);
	snprintf(args[5], sizeof(args[5]), "read:%s", data);
	argv[0] = PROBE;
	argv[1] = "--edge";
	argv[2] = targets;
	for (int i = 0; i < 6; i++)
		argv[3 + i] = args[i];
	argv[9] = NULL;
	out = run_probe(argv);
	unlink(tmp_x); /* only there if the sandbox failed */
	expect_line(out, "read", target, "ok");
	expect_line(out, "read", "/etc/hostname", "ok");
	expect_line(out, "write", target, "EACCES");
	expect_line(out, "write", tmp_x, "EACCES");
	expect_line(out, "write", inside, "EACCES");
	expect_line(out, "read", data, "EACCES");
	free(out);
}
END_TEST

/* ---- sandboxed services, by hand (the fixture) ---- */

static fixture_mesh mesh;
static int mesh_up;

static void mesh_setup(void)
{
	curl_global_init_once();
	if (rt_landlock_abi() <= 0)
		return;
	/* every service the fixture starts fails rather than run unsandboxed */
	setenv("CLEAVE_SANDBOX", "on", 1);
	mesh_up = fixture_mesh_start(&mesh, NULL) == 0;
	unsetenv("CLEAVE_SANDBOX");
}

static void mesh_teardown(void)
{
	char report[8192];
	if (mesh_up && fixture_mesh_stop(&mesh, report, sizeof(report)) != 0)
		fprintf(stderr, "sandbox_test: unclean stop:\n%s", report);
	mesh_up = 0;
}

/* request sends method to path on the edge at base (body: JSON or NULL); returns the status,
 * the body in *body (malloc'd) if body is not NULL. */
static long request(const char *base, const char *method, const char *path, const char *json,
		    char **body)
{
	char url[512];
	http_options o = {.body = json, .content_type = json ? "application/json" : NULL};
	http_response r;
	long status;
	snprintf(url, sizeof(url), "%s%s", base, path);
	if (http_request(method, url, &o, &r) != 0)
		return 0;
	status = r.status;
	if (body != NULL)
		*body = strdup(r.body ? r.body : "");
	http_response_free(&r);
	return status;
}

/* request_until sends method to path until it answers want (a service just started or a
 * callee being redialed may fail the first ones: 503), at most 100 times over about 10 s;
 * returns the last status. */
static long request_until(const char *base, const char *method, const char *path, const char *json,
			  long want)
{
	long status = 0;
	for (int i = 0; i < 100 && status != want; i++) {
		if (i > 0)
			harness_sleep_ms(100);
		status = request(base, method, path, json, NULL);
	}
	return status;
}

/* post_until_created POSTs json to path until it answers 201 (request_until). */
static long post_until_created(const char *base, const char *path, const char *json)
{
	return request_until(base, "POST", path, json, 201);
}

START_TEST(test_sandboxed_services_serve_and_redial_a_restarted_callee)
{
	char log[300], line[1024];
	pid_t users;
	if (landlock_missing("sandboxed services"))
		return;
	ck_assert_msg(mesh_up, "the sandboxed mesh did not start");
	for (const char *const *name = (const char *const[]){"users", "threads", "posts", NULL};
	     *name != NULL; name++) {
		fixture_log_path(&mesh, *name, log, sizeof(log));
		ck_assert_msg(harness_wait_for_line(log, "sandbox: landlock ABI ", line,
						    sizeof(line), 5000) == 0,
			      "%s logged no sandbox line", *name);
		ck_assert_ptr_nonnull(strstr(line, "(rw)"));
	}
	/* the edge too, with nothing writable */
	fixture_log_path(&mesh, "edge", log, sizeof(log));
	ck_assert_msg(harness_wait_for_line(log, "edge: sandbox: landlock ABI ", line, sizeof(line),
					    5000) == 0,
		      "the edge logged no sandbox line");
	ck_assert_msg(strstr(line, "limited to reading system paths") != NULL &&
			  strstr(line, "(rw)") == NULL,
		      "%s", line);
	ck_assert_int_eq(request(mesh.base, "GET", "/api/users/1", NULL, NULL), 200);
	ck_assert_int_eq(request(mesh.base, "GET", "/api/posts/1", NULL, NULL), 200);
	/* posts writes its database and calls threads and users over ipc:// */
	ck_assert_int_eq(post_until_created(mesh.base, "/api/posts",
					    "{\"thread\":1,\"text\":\"sandboxed\",\"user\":1}"),
			 201);
	/* users restarts (sandboxed again); posts redials it, under its own sandbox */
	users = fixture_pid(&mesh, "users");
	ck_assert_int_gt(users, 0);
	ck_assert(harness_exited_cleanly(harness_stop(users, SIGTERM, 5000)));
	fixture_forget(&mesh, "users");
	setenv("CLEAVE_SANDBOX", "on", 1);
	ck_assert_int_gt(fixture_service_start(&mesh, "users"), 0);
	unsetenv("CLEAVE_SANDBOX");
	ck_assert_int_eq(post_until_created(mesh.base, "/api/posts",
					    "{\"thread\":2,\"text\":\"after restart\",\"user\":2}"),
			 201);
	ck_assert_int_eq(post_until_created(mesh.base, "/api/users",
					    "{\"username\":\"boxed\",\"name\":\"Boxed In\"}"),
			 201);
}
END_TEST

/* call_threads_create runs `meshctl call threads.Create` at addr until it succeeds, at most 50
 * times over about 5 s; returns the last exit status, its output in out. */
static int call_threads_create(const char *dir, const char *addr, const char *json, char *out,
			       size_t outlen)
{
	char log[300], *text;
	char *argv[] = {MESHCTL,      "call", "threads.Create", (char *)json, "--address",
			(char *)addr, NULL};
	int status = -1;
	for (int i = 0; i < 50 && status != 0; i++) {
		pid_t pid;
		if (i > 0)
			harness_sleep_ms(100);
		snprintf(log, sizeof(log), "%s/call-%d.out", dir, i);
		pid = harness_spawn(argv, log);
		status = harness_wait(pid, 10000);
		if (status == -1)
			status = harness_stop(pid, SIGKILL, 1000);
		status = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
		text = harness_read_file(log);
		snprintf(out, outlen, "%s", text ? text : "");
		free(text);
	}
	return status;
}

START_TEST(test_sandboxed_service_resolves_and_redials_a_tcp_callee)
{
	char *dir = scratch;
	char exe_users[300], exe_threads[300], users_url[64], dns_url[64];
	char users_data[200], threads_data[200], threads_sock[200], log[300], out[4096];
	char *users_argv[] = {exe_users,  "--listen",	users_url, "--data-dir",
			      users_data, "--run-dir",	dir,	   "--sandbox",
			      "on",	  "--insecure", NULL};
	char *threads_argv[] = {exe_threads, "--listen",   threads_sock, "--call",
				dns_url,     "--data-dir", threads_data, "--run-dir",
				dir,	     "--sandbox",  "on",	 NULL};
	pid_t *users = &scratch_pids[0], *threads = &scratch_pids[1];
	int port;
	if (landlock_missing("tcp callee"))
		return;
	ck_assert(dir[0] != '\0');
	ck_assert_int_gt(port = harness_free_port(), 0);
	snprintf(exe_users, sizeof(exe_users), "%s/svc-users", CLEAVE_BUILD_DIR);
	snprintf(exe_threads, sizeof(exe_threads), "%s/svc-threads", CLEAVE_BUILD_DIR);
	snprintf(users_url, sizeof(users_url), "tcp://127.0.0.1:%d", port);
	/* a DNS name: resolved (and re-resolved) from inside the sandbox */
	snprintf(dns_url, sizeof(dns_url), "users=tcp://localhost:%d", port);
	snprintf(users_data, sizeof(users_data), "%s/users", dir);
	snprintf(threads_data, sizeof(threads_data), "%s/threads", dir);
	snprintf(threads_sock, sizeof(threads_sock), "ipc://%s/threads.sock", dir);
	snprintf(log, sizeof(log), "%s/users-1.log", dir);
	*users = harness_spawn(users_argv, log);
	ck_assert_int_eq(harness_wait_for_line(log, "serving", out, sizeof(out), 10000), 0);
	snprintf(log, sizeof(log), "%s/threads.log", dir);
	*threads = harness_spawn(threads_argv, log);
	ck_assert_int_eq(harness_wait_for_line(log, "serving", out, sizeof(out), 10000), 0);
	ck_assert_int_eq(harness_wait_for_line(log, "sandbox: landlock ABI", out, sizeof(out), 0),
			 0);

	/* threads.Create calls users.Get (the author must exist) */
	ck_assert_msg(call_threads_create(dir, threads_sock,
					  "{\"title\":\"resolved\",\"createdBy\":2}", out,
					  sizeof(out)) == 0,
		      "%s", out);
	ck_assert_ptr_nonnull(strstr(out, "resolved"));
	/* users restarts on the same port; threads redials it */
	ck_assert(harness_exited_cleanly(harness_stop(*users, SIGTERM, 5000)));
	snprintf(log, sizeof(log), "%s/users-2.log", dir);
	*users = harness_spawn(users_argv, log);
	ck_assert_int_eq(harness_wait_for_line(log, "serving", out, sizeof(out), 10000), 0);
	ck_assert_msg(call_threads_create(dir, threads_sock,
					  "{\"title\":\"redialed\",\"createdBy\":3}", out,
					  sizeof(out)) == 0,
		      "%s", out);
	ck_assert_ptr_nonnull(strstr(out, "redialed"));
	ck_assert(harness_exited_cleanly(harness_stop(*threads, SIGTERM, 5000)));
	*threads = 0;
	ck_assert(harness_exited_cleanly(harness_stop(*users, SIGTERM, 5000)));
	*users = 0;
}
END_TEST

/* run_users_without_landlock starts svc-users with --sandbox mode under the probe's seccomp
 * filter (as on a kernel without Landlock), output to log; returns its pid. */
static pid_t run_users_without_landlock(const char *mode, const char *log)
{
	char exe[300], data[300], url[300];
	char *argv[] = {PROBE, "--without-landlock", exe,	   "--listen", url, "--data-dir",
			data,  "--sandbox",	     (char *)mode, NULL};
	snprintf(exe, sizeof(exe), "%s/svc-users", CLEAVE_BUILD_DIR);
	snprintf(data, sizeof(data), "%s/users-%s", scratch, mode);
	snprintf(url, sizeof(url), "ipc://%s/users-%s.sock", scratch, mode);
	return harness_spawn(argv, log);
}

START_TEST(test_without_landlock_auto_runs_and_on_refuses)
{
	char log[300], line[1024], *out;
	int status;
	ck_assert(scratch[0] != '\0');
	/* auto: one line saying so, then it serves as before */
	snprintf(log, sizeof(log), "%s/auto.log", scratch);
	scratch_pids[0] = run_users_without_landlock("auto", log);
	ck_assert_int_gt(scratch_pids[0], 0);
	ck_assert_msg(harness_wait_for_line(log, "serving", line, sizeof(line), 10000) == 0,
		      "svc-users --sandbox auto did not serve without Landlock");
	out = harness_read_file(log);
	ck_assert_ptr_nonnull(out);
	ck_assert_msg(strstr(out, "users: sandbox: landlock not supported by this kernel (ENOSYS): "
				  "not applied") != NULL,
		      "%s", out);
	free(out);
	ck_assert(harness_exited_cleanly(harness_stop(scratch_pids[0], SIGTERM, 5000)));
	scratch_pids[0] = 0;
	/* on: it exits with the reason instead of running unsandboxed */
	snprintf(log, sizeof(log), "%s/on.log", scratch);
	scratch_pids[0] = run_users_without_landlock("on", log);
	status = harness_wait(scratch_pids[0], 10000);
	if (status == -1)
		status = harness_stop(scratch_pids[0], SIGKILL, 1000);
	scratch_pids[0] = 0;
	out = harness_read_file(log);
	ck_assert_ptr_nonnull(out);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 1, "%s", out);
	ck_assert_msg(strstr(out, "(ENOSYS): --sandbox on cannot be met") != NULL, "%s", out);
	ck_assert_msg(strstr(out, "serving") == NULL, "%s", out);
	free(out);
}
END_TEST

START_TEST(test_bad_sandbox_values_are_refused)
{
	char *dir = scratch;
	char exe[300], log[300], data[200], url[200], *out;
	char *argv[] = {exe, "--listen", url, "--data-dir", data, "--sandbox", "maybe", NULL};
	int status;
	pid_t pid;
	ck_assert(dir[0] != '\0');
	snprintf(exe, sizeof(exe), "%s/svc-users", CLEAVE_BUILD_DIR);
	snprintf(data, sizeof(data), "%s/users", dir);
	snprintf(url, sizeof(url), "ipc://%s/users.sock", dir);
	snprintf(log, sizeof(log), "%s/out", dir);
	pid = harness_spawn(argv, log);
	status = harness_wait(pid, 10000);
	if (status == -1)
		status = harness_stop(pid, SIGKILL, 1000);
	out = harness_read_file(log);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 2);
	ck_assert_msg(out != NULL && strstr(out, "--sandbox is auto, on or off, not 'maybe'"), "%s",
		      out ? out : "");
	free(out);
}
END_TEST

/* ---- every service under meshctl, as root ---- */

static char mdir[128], mstate[256], mbase[256];
static pid_t up_pid;

static void meshctl_setup(void)
{
	char log[300], line[512];
	char *argv[] = {MESHCTL, "up", "--port", "0", "--state-dir", mstate, NULL};
	curl_global_init_once();
	if (geteuid() != 0 || rt_landlock_abi() <= 0)
		return;
	if (harness_tmpdir(mdir, sizeof(mdir)) != 0 || chmod(mdir, 0711) != 0)
		return;
	snprintf(mstate, sizeof(mstate), "%s/state", mdir);
	snprintf(log, sizeof(log), "%s/up.log", mdir);
	setenv("CLEAVE_SANDBOX", "on", 1); /* meshctl's children inherit it */
	up_pid = harness_spawn(argv, log);
	unsetenv("CLEAVE_SANDBOX");
	if (harness_wait_for_line(log, "the forum API is at ", line, sizeof(line), 20000) == 0) {
		char *at = strstr(line, "http://");
		char *end = at != NULL ? strstr(at, "/api") : NULL;
		if (end != NULL)
			snprintf(mbase, sizeof(mbase), "%.*s", (int)(end - at), at);
	}
}

static void meshctl_teardown(void)
{
	harness_stop_checked(up_pid, SIGTERM, 15000, "meshctl up");
	up_pid = 0;
	if (mdir[0] != '\0')
		harness_rmtree(mdir);
	mdir[0] = '\0';
}

/* meshctl_logs returns `meshctl logs service` (malloc'd), or NULL. */
static char *meshctl_logs(const char *service)
{
	char log[300];
	char *argv[] = {MESHCTL, "logs", (char *)service, "--state-dir", mstate, NULL};
	pid_t pid;
	int status;
	snprintf(log, sizeof(log), "%s/logs-%s.out", mdir, service);
	pid = harness_spawn(argv, log);
	status = harness_wait(pid, 10000);
	if (status == -1)
		harness_stop(pid, SIGKILL, 1000);
	return harness_read_file(log);
}

START_TEST(test_meshctl_as_root_sandboxes_every_service)
{
	static const struct {
		const char *service, *get, *post, *body;
	} api[] = {
	    {"users", "/api/users/1", "/api/users",
	     "{\"username\":\"rootbox\",\"name\":\"Root Box\"}"},
	    {"threads", "/api/threads/1", "/api/threads", "{\"title\":\"Boxes\",\"createdBy\":1}"},
	    {"posts", "/api/posts/1", "/api/posts", "{\"thread\":1,\"text\":\"boxed\",\"user\":1}"},
	};
	if (geteuid() != 0) {
		harness_skip("sandbox_test: meshctl as root: not root");
		return;
	}
	if (landlock_missing("meshctl as root"))
		return;
	ck_assert_msg(mbase[0] != '\0', "meshctl up did not report the API's address");
	for (size_t i = 0; i < sizeof(api) / sizeof(api[0]); i++) {
		char *logs, *body = NULL, want[300];
		/* up reports the API's address as the edge starts: the services' health checks
		 * may not have passed yet */
		ck_assert_int_eq(request_until(mbase, "GET", api[i].get, NULL, 200), 200);
		ck_assert_int_eq(post_until_created(mbase, api[i].post, api[i].body), 201);
		logs = meshctl_logs(api[i].service);
		ck_assert_ptr_nonnull(logs);
		snprintf(want, sizeof(want), "%s: sandbox: landlock ABI ", api[i].service);
		ck_assert_msg(strstr(logs, want) != NULL, "no '%s' in:\n%s", want, logs);
		/* its data dir is the one read-write path */
		snprintf(want, sizeof(want), "%s/%s (rw)", mstate, api[i].service);
		ck_assert_msg(strstr(logs, want) != NULL, "no '%s' in:\n%s", want, logs);
		free(logs);
		free(body);
	}
	fprintf(stderr, "sandbox_test: under meshctl as root, %zu services sandboxed and serving\n",
		sizeof(api) / sizeof(api[0]));
}
END_TEST

static Suite *sandbox_suite(void)
{
	Suite *s = suite_create("sandbox");
	TCase *tc = harness_tcase("scratch", 60);
	tcase_add_checked_fixture(tc, scratch_setup, scratch_teardown);
	tcase_add_test(tc, test_probe_reaches_only_its_data_dir_and_system_paths);
	tcase_add_test(tc, test_a_service_reaches_no_other_services_files);
	tcase_add_test(tc, test_the_edge_writes_nothing);
	tcase_add_test(tc, test_bad_sandbox_values_are_refused);
	tcase_add_test(tc, test_without_landlock_auto_runs_and_on_refuses);
	tcase_add_test(tc, test_sandboxed_service_resolves_and_redials_a_tcp_callee);
	suite_add_tcase(s, tc);
	tc = harness_tcase("services", 60);
	tcase_add_unchecked_fixture(tc, mesh_setup, mesh_teardown);
	tcase_add_test(tc, test_sandboxed_services_serve_and_redial_a_restarted_callee);
	suite_add_tcase(s, tc);
	tc = harness_tcase("meshctl", 90);
	tcase_add_unchecked_fixture(tc, meshctl_setup, meshctl_teardown);
	tcase_add_test(tc, test_meshctl_as_root_sandboxes_every_service);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return harness_run_suite(sandbox_suite(), 1);
}
