/* meshctl_test.c: meshctl runs the mesh like a container platform: status, call, logs,
 * restarts after kill -9 with no errors elsewhere, live scaling under load, down leaves nothing. */
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <check.h>
#include <jansson.h>

#include "harness.h"
#include "http.h"
#include "https.h"

#define MESHCTL CLEAVE_BUILD_DIR "/meshctl"

static char dir[256], state[512], base[256], admin[256];
static pid_t up_pid;

/* mesh_tmpdir makes the test's directory, reachable by the services' own users when meshctl
 * runs as root. */
static int mesh_tmpdir(void)
{
	if (harness_tmpdir(dir, sizeof(dir)) != 0)
		return -1;
	return chmod(dir, 0711);
}

/* meshctl runs meshctl with args (NULL-terminated, after the subcommand's name) and the test's
 * state dir; returns its exit status, with its output in a malloc'd *out if out is not NULL. */
static int meshctl(char **out, const char *cmd, ...)
{
	char *argv[32], log[600];
	int argc = 0, status;
	va_list ap;
	pid_t pid;
	static int seq;
	argv[argc++] = MESHCTL;
	argv[argc++] = (char *)cmd;
	va_start(ap, cmd);
	for (char *a; (a = va_arg(ap, char *)) != NULL && argc < 28;)
		argv[argc++] = a;
	va_end(ap);
	argv[argc++] = "--state-dir";
	argv[argc++] = state;
	argv[argc] = NULL;
	snprintf(log, sizeof(log), "%s/cmd-%d.out", dir, seq++);
	pid = harness_spawn(argv, log);
	status = harness_wait(pid, 20000);
	if (status == -1)
		status = harness_stop(pid, SIGKILL, 1000);
	if (out != NULL)
		*out = harness_read_file(log);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* status_json returns meshctl status --json parsed, or NULL. */
static json_t *status_json(void)
{
	char *out = NULL;
	json_t *j = NULL;
	if (meshctl(&out, "status", "--json", NULL) == 0)
		j = json_loads(out, 0, NULL);
	free(out);
	return j;
}

/* count_state counts service's instances in state (NULL: any). */
static int count_state(json_t *st, const char *service, const char *state_name)
{
	size_t i;
	json_t *in;
	int n = 0;
	json_array_foreach(st, i, in)
	{
		if (strcmp(json_string_value(json_object_get(in, "service")), service) != 0)
			continue;
		if (state_name == NULL ||
		    strcmp(json_string_value(json_object_get(in, "state")), state_name) == 0)
			n++;
	}
	return n;
}

/* wait_for waits up to ms for service to have exactly `total` instances, `healthy` of them
 * healthy. */
static int wait_for(const char *service, int total, int healthy, int ms)
{
	long long until = harness_now_ms() + ms;
	while (harness_now_ms() < until) {
		json_t *st = status_json();
		int ok = st != NULL && count_state(st, service, NULL) == total &&
			 count_state(st, service, "healthy") == healthy;
		json_decref(st);
		if (ok)
			return 0;
		harness_sleep_ms(100);
	}
	return -1;
}

/* instance_pid returns the pid of instance ("users-1") from status, or 0. */
static pid_t instance_pid(const char *instance)
{
	json_t *st = status_json(), *in;
	size_t i;
	pid_t pid = 0;
	json_array_foreach(st, i, in)
	{
		if (strcmp(json_string_value(json_object_get(in, "instance")), instance) == 0)
			pid = (pid_t)json_integer_value(json_object_get(in, "pid"));
	}
	json_decref(st);
	return pid;
}

/* nng_transport says whether the suite runs with CLEAVE_MESH_TRANSPORT=nng, whose clients have
 * no per-instance health, drain or read retry (README, "Target groups"): the tests of those
 * skip, saying so. */
static int nng_transport(const char *test)
{
	const char *transport = getenv("CLEAVE_MESH_TRANSPORT");
	if (transport == NULL || strcmp(transport, "nng") != 0)
		return 0;
	harness_skip("meshctl_test: %s needs the loop transport's target groups, which "
		     "CLEAVE_MESH_TRANSPORT=nng has not",
		     test);
	return 1;
}

/* ---- bounded load -----------------------------------------------------------------------------
 */

typedef struct load {
	const char *path;
	pthread_t thread;
	atomic_int stop;
	int requests, failures;
	char last_failure[256];
} load;

static void *load_run(void *arg)
{
	load *l = arg;
	char url[512];
	snprintf(url, sizeof(url), "%s%s", base, l->path);
	/* bounded: at most 20000 requests or until stopped */
	for (int i = 0; i < 20000 && !atomic_load(&l->stop); i++) {
		http_response r;
		int ok = http_get(url, &r) == 0 && r.status == 200;
		l->requests++;
		if (!ok) {
			l->failures++;
			snprintf(l->last_failure, sizeof(l->last_failure), "HTTP %ld %.200s",
				 r.status, r.status ? r.body : r.error);
		}
		http_response_free(&r);
		harness_sleep_ms(2);
	}
	return NULL;
}

static void load_start(load *l, const char *path)
{
	memset(l, 0, sizeof(*l));
	l->path = path;
	pthread_create(&l->thread, NULL, load_run, l);
}

/* load_wait waits up to ms for l to have sent n requests. */
static int load_wait(load *l, int n, int ms)
{
	long long until = harness_now_ms() + ms;
	while (l->requests < n && harness_now_ms() < until)
		harness_sleep_ms(10);
	return l->requests >= n ? 0 : -1;
}

static void load_stop(load *l)
{
	atomic_store(&l->stop, 1);
	pthread_join(l->thread, NULL);
}

/* ---- the mesh ---------------------------------------------------------------------------------
 */

static void mesh_setup(void)
{
	char log[600], line[512];
	char *argv[] = {MESHCTL, "up",		"--port", "0", "--admin-port",
			"0",	 "--state-dir", state,	  NULL};
	curl_global_init_once();
	ck_assert_int_eq(mesh_tmpdir(), 0);
	snprintf(state, sizeof(state), "%s/state", dir);
	snprintf(log, sizeof(log), "%s/up.log", dir);
	up_pid = harness_spawn(argv, log);
	if (harness_wait_for_line(log, "the forum API is at ", line, sizeof(line), 20000) == 0) {
		char *at = strstr(line, "http://");
		char *end = at != NULL ? strstr(at, "/api") : NULL;
		if (end != NULL)
			snprintf(base, sizeof(base), "%.*s", (int)(end - at), at);
	}
	/* the edge's metrics: what it thinks of each instance */
	if (harness_wait_for_line(log, "admin on http://", line, sizeof(line), 5000) == 0)
		snprintf(admin, sizeof(admin), "%s/metrics", strstr(line, "http://"));
}

/* edge_states writes into out what the edge's metrics say of each instance of service (its
 * instance_state lines whose value is 1), or why it could not tell; returns out. */
static const char *edge_states(const char *service, char *out, size_t outlen)
{
	http_response r;
	char prefix[128];
	snprintf(prefix, sizeof(prefix), "cleave_upstream_instance_state{service=\"%s\"", service);
	out[0] = '\0';
	if (http_get(admin, &r) != 0 || r.status != 200) {
		snprintf(out, outlen, "no metrics: %s", r.error);
		http_response_free(&r);
		return out;
	}
	for (const char *at = r.body; (at = strstr(at, prefix)) != NULL; at++) {
		int len = (int)strcspn(at, "\n");
		if (len > 2 && strncmp(at + len - 2, " 1", 2) == 0)
			snprintf(out + strlen(out), outlen - strlen(out), "%.*s; ", len, at);
	}
	if (out[0] == '\0')
		snprintf(out, outlen, "no instance of %s listed", service);
	http_response_free(&r);
	return out;
}

/* edge_reports waits up to ms for the edge's metrics to say the instance whose address ends in
 * suffix is in state; returns 0, or -1 if they never did. */
static int edge_reports(const char *suffix, const char *state, int ms)
{
	char want[256];
	long long until = harness_now_ms() + ms;
	snprintf(want, sizeof(want), "%s\",state=\"%s\"} 1", suffix, state);
	do {
		http_response r;
		int seen =
		    http_get(admin, &r) == 0 && r.status == 200 && strstr(r.body, want) != NULL;
		http_response_free(&r);
		if (seen)
			return 0;
		harness_sleep_ms(50);
	} while (harness_now_ms() < until);
	return -1;
}

/* edge_takes_out waits up to ms for the edge's metrics to show the instance whose address ends
 * with suffix ("posts-2.sock") out of rotation: unhealthy, or down (its connection dropped as
 * dead after its checks went unanswered). Returns 0, or -1 if they never did. */
static int edge_takes_out(const char *suffix, int ms)
{
	char unhealthy[256], down[256];
	long long until = harness_now_ms() + ms;
	snprintf(unhealthy, sizeof(unhealthy), "%s\",state=\"unhealthy\"} 1", suffix);
	snprintf(down, sizeof(down), "%s\",state=\"down\"} 1", suffix);
	do {
		http_response r;
		int out = http_get(admin, &r) == 0 && r.status == 200 &&
			  (strstr(r.body, unhealthy) != NULL || strstr(r.body, down) != NULL);
		http_response_free(&r);
		if (out)
			return 0;
		harness_sleep_ms(50);
	} while (harness_now_ms() < until);
	return -1;
}

static void mesh_teardown(void)
{
	harness_stop_checked(up_pid, SIGTERM, 15000, "meshctl up");
	up_pid = 0;
	harness_rmtree(dir);
}

START_TEST(test_status_lists_every_instance_healthy)
{
	json_t *st, *in;
	size_t i;
	char *text = NULL;
	ck_assert_msg(base[0] != '\0', "meshctl up did not report the API's address");
	ck_assert_int_eq(wait_for("users", 1, 1, 10000), 0);
	ck_assert_int_eq(wait_for("threads", 1, 1, 10000), 0);
	ck_assert_int_eq(wait_for("posts", 1, 1, 10000), 0);
	st = status_json();
	ck_assert(json_is_array(st));
	ck_assert_int_eq(json_array_size(st), 3);
	json_array_foreach(st, i, in)
	{
		ck_assert(json_is_string(json_object_get(in, "service")));
		ck_assert_int_gt(json_integer_value(json_object_get(in, "pid")), 0);
		ck_assert(strncmp(json_string_value(json_object_get(in, "address")), "ipc://", 6) ==
			  0);
		ck_assert_str_eq(json_string_value(json_object_get(in, "state")), "healthy");
		ck_assert_int_eq(json_integer_value(json_object_get(in, "restarts")), 0);
		ck_assert_int_eq(kill((pid_t)json_integer_value(json_object_get(in, "pid")), 0), 0);
		/* its connections and their bounds at work: the edge's and meshctl's at least */
		ck_assert(json_is_object(json_object_get(in, "wire")));
		ck_assert_int_ge(
		    json_integer_value(json_object_get(json_object_get(in, "wire"), "connections")),
		    1);
		ck_assert(json_is_integer(
		    json_object_get(json_object_get(in, "wire"), "oversize_frames")));
	}
	json_decref(st);
	/* the table form names each instance and the methods called so far */
	ck_assert_int_eq(meshctl(&text, "status", NULL), 0);
	ck_assert_ptr_nonnull(strstr(text, "users-1"));
	ck_assert_ptr_nonnull(strstr(text, "healthy"));
	ck_assert_ptr_nonnull(strstr(text, "Health"));
	free(text);
}
END_TEST

START_TEST(test_call_and_logs)
{
	char *out = NULL;
	json_t *user;
	ck_assert_int_eq(meshctl(&out, "call", "users.Get", "{\"id\": 1}", NULL), 0);
	user = json_loads(out, 0, NULL);
	ck_assert_msg(user != NULL, "not JSON: %s", out);
	ck_assert_int_eq(json_integer_value(json_object_get(user, "id")), 1);
	ck_assert(json_is_string(json_object_get(user, "username")));
	json_decref(user);
	free(out);
	/* a missing id is the service's NOT_FOUND, exit 1 */
	ck_assert_int_eq(meshctl(&out, "call", "users.Get", "{\"id\": 999999}", NULL), 1);
	ck_assert_ptr_nonnull(strstr(out, "NOT_FOUND"));
	free(out);
	ck_assert_int_eq(meshctl(&out, "call", "users.Nope", "{}", NULL), 2);
	free(out);
	/* logs: the service's own lines, tagged with the instance */
	ck_assert_int_eq(meshctl(&out, "logs", "users", NULL), 0);
	ck_assert_ptr_nonnull(strstr(out, " users-1 users: serving users.Users"));
	free(out);
	ck_assert_int_eq(meshctl(&out, "logs", "nosuch", NULL), 1);
	free(out);
}
END_TEST

START_TEST(test_kill9_restarts_and_spares_other_services)
{
	load others, own;
	pid_t users = instance_pid("users-1"), again;
	long long killed_at, back_at = 0;
	json_t *st;
	ck_assert_int_gt(users, 0);
	load_start(&others, "/api/posts/1");
	load_start(&own, "/api/users/1");
	ck_assert_int_eq(load_wait(&others, 10, 10000), 0);
	ck_assert_int_eq(kill(users, SIGKILL), 0);
	killed_at = harness_now_ms();
	/* restarted after the first backoff step, and its route answers again */
	while (harness_now_ms() - killed_at < 10000) {
		again = instance_pid("users-1");
		if (again > 0 && again != users) {
			http_response r;
			char url[512];
			snprintf(url, sizeof(url), "%s/api/users/1", base);
			if (http_get(url, &r) == 0 && r.status == 200)
				back_at = harness_now_ms();
			http_response_free(&r);
			if (back_at)
				break;
		}
		harness_sleep_ms(20);
	}
	ck_assert_int_eq(load_wait(&others, others.requests + 10, 10000), 0);
	load_stop(&others);
	load_stop(&own);
	ck_assert_msg(back_at > 0, "users did not come back within 10 s");
	{
		/* after the first step of the back-off, not a later one */
		char log[600], line[512];
		snprintf(log, sizeof(log), "%s/up.log", dir);
		ck_assert_int_eq(harness_wait_for_line(log,
						       "users-1 exited (signal 9); restarting in "
						       "100 ms",
						       line, sizeof(line), 0),
				 0);
	}
	ck_assert_msg(others.failures == 0, "%d of %d requests to posts failed: %s",
		      others.failures, others.requests, others.last_failure);
	ck_assert_int_gt(others.requests, 10);
	st = status_json();
	ck_assert_int_eq(count_state(st, "users", NULL), 1);
	{
		json_t *in;
		size_t i;
		json_array_foreach(st, i, in)
		{
			if (strcmp(json_string_value(json_object_get(in, "service")), "users") ==
			    0) {
				ck_assert_int_eq(
				    json_integer_value(json_object_get(in, "restarts")), 1);
				ck_assert_str_eq(
				    json_string_value(json_object_get(in, "last_exit")),
				    "signal 9");
			}
		}
	}
	json_decref(st);
}
END_TEST

START_TEST(test_scale_out_and_in_under_load_loses_nothing)
{
	load l;
	char *out = NULL;
	if (nng_transport("scaling in with no failed request"))
		return;
	load_start(&l, "/api/posts/1");
	ck_assert_int_eq(meshctl(&out, "scale", "posts=3", NULL), 0);
	ck_assert_ptr_nonnull(strstr(out, "posts: 1 -> 3"));
	free(out);
	ck_assert_int_eq(wait_for("posts", 3, 3, 10000), 0);
	ck_assert_int_eq(load_wait(&l, l.requests + 20, 10000), 0);
	ck_assert_int_eq(meshctl(&out, "scale", "posts=1", NULL), 0);
	free(out);
	/* the two surplus instances drain (deregistration_delay), then stop */
	ck_assert_int_eq(wait_for("posts", 1, 1, 15000), 0);
	ck_assert_int_eq(load_wait(&l, l.requests + 10, 10000), 0);
	load_stop(&l);
	ck_assert_msg(l.failures == 0, "%d of %d requests failed while scaling: %s", l.failures,
		      l.requests, l.last_failure);
	ck_assert_int_gt(l.requests, 50);
	ck_assert_int_eq(meshctl(&out, "scale", "nosuch=2", NULL), 1);
	free(out);
	ck_assert_int_eq(meshctl(&out, "scale", "posts", NULL), 2);
	free(out);
}
END_TEST

START_TEST(test_kill9_with_two_instances_loses_nothing)
{
	load l;
	char *out = NULL;
	pid_t victim;
	if (nng_transport("losing an instance with no failed request"))
		return;
	ck_assert_int_eq(meshctl(&out, "scale", "posts=2", NULL), 0);
	free(out);
	ck_assert_int_eq(wait_for("posts", 2, 2, 10000), 0);
	load_start(&l, "/api/posts/1");
	ck_assert_int_eq(load_wait(&l, 10, 10000), 0);
	victim = instance_pid("posts-2");
	ck_assert_int_gt(victim, 0);
	ck_assert_int_eq(kill(victim, SIGKILL), 0);
	ck_assert_int_eq(wait_for("posts", 2, 2, 10000), 0);
	ck_assert_int_eq(load_wait(&l, l.requests + 10, 10000), 0);
	load_stop(&l);
	ck_assert_msg(l.failures == 0, "%d of %d requests failed: %s", l.failures, l.requests,
		      l.last_failure);
	ck_assert_int_eq(meshctl(&out, "scale", "posts=1", NULL), 0);
	free(out);
	ck_assert_int_eq(wait_for("posts", 1, 1, 15000), 0);
}
END_TEST

/* instance_state returns the state of instance ("posts-2") from status, in out. */
static void instance_state(const char *instance, char *out, size_t outlen)
{
	json_t *st = status_json(), *in;
	size_t i;
	snprintf(out, outlen, "absent");
	json_array_foreach(st, i, in)
	{
		if (strcmp(json_string_value(json_object_get(in, "instance")), instance) == 0)
			snprintf(out, outlen, "%s",
				 json_string_value(json_object_get(in, "state")));
	}
	json_decref(st);
}

static int wait_state(const char *instance, const char *want, int ms)
{
	char now[32];
	long long until = harness_now_ms() + ms;
	do {
		instance_state(instance, now, sizeof(now));
		if (strcmp(now, want) == 0)
			return 0;
		harness_sleep_ms(100);
	} while (harness_now_ms() < until);
	return -1;
}

START_TEST(test_failing_health_checks_take_an_instance_out_of_rotation)
{
	load l;
	char *out = NULL;
	pid_t hung;
	int waited;
	if (nng_transport("health-based rotation"))
		return;
	ck_assert_int_eq(meshctl(&out, "scale", "posts=2", NULL), 0);
	free(out);
	ck_assert_int_eq(wait_for("posts", 2, 2, 10000), 0);
	hung = instance_pid("posts-2");
	ck_assert_int_gt(hung, 0);
	/* the edge checks on its own schedule: it must have posts-2 in rotation first (an instance
	 * that never passed its checks stays "starting", never "unhealthy") */
	if (edge_reports("posts-2.sock", "healthy", 15000) != 0) {
		char said[2048];
		ck_abort_msg("the edge never had posts-2 healthy: %s",
			     edge_states("posts", said, sizeof(said)));
	}
	/* a hung instance fails its checks (timeout 1 s, 2 in a row, every 2 s) */
	ck_assert_int_eq(kill(hung, SIGSTOP), 0);
	if (wait_state("posts-2", "unhealthy", 10000) != 0) {
		kill(hung, SIGCONT);
		ck_abort_msg("posts-2 was not reported unhealthy");
	}
	/* the edge checks on its own schedule: until it too sees it unhealthy */
	if (edge_takes_out("posts-2.sock", 10000) != 0) {
		char said[2048];
		kill(hung, SIGCONT);
		ck_abort_msg("the edge did not take posts-2 out: %s",
			     edge_states("posts", said, sizeof(said)));
	}
	load_start(&l, "/api/posts/1");
	waited = load_wait(&l, 30, 10000);
	load_stop(&l);
	kill(hung, SIGCONT);
	ck_assert_msg(waited == 0, "only %d requests in 10 s with posts-2 hung", l.requests);
	ck_assert_msg(l.failures == 0, "%d of %d requests failed with posts-2 hung: %s", l.failures,
		      l.requests, l.last_failure);
	ck_assert_int_gt(l.requests, 20);
	/* it passes its checks again and is back in rotation */
	ck_assert_int_eq(wait_state("posts-2", "healthy", 10000), 0);
	ck_assert_int_eq(meshctl(&out, "scale", "posts=1", NULL), 0);
	free(out);
	ck_assert_int_eq(wait_for("posts", 1, 1, 15000), 0);
}
END_TEST

START_TEST(test_logs_follow_prints_new_lines_until_stopped)
{
	char log[600], line[512], *out = NULL;
	char *argv[] = {MESHCTL, "logs", "users", "-f", "--state-dir", state, NULL};
	pid_t follow;
	snprintf(log, sizeof(log), "%s/follow.out", dir);
	follow = harness_spawn(argv, log);
	ck_assert_int_gt(follow, 0);
	/* what was there already, then what comes: a second instance's start-up */
	ck_assert_int_eq(
	    harness_wait_for_line(log, "users-1 users: serving", line, sizeof(line), 10000), 0);
	ck_assert_int_eq(meshctl(&out, "scale", "users=2", NULL), 0);
	free(out);
	ck_assert_msg(
	    harness_wait_for_line(log, "users-2 users: serving", line, sizeof(line), 15000) == 0,
	    "logs -f did not print users-2's start (output in %s)", log);
	harness_stop_clean(follow, SIGINT, 5000, "meshctl logs -f", log);
	ck_assert_int_eq(meshctl(&out, "scale", "users=1", NULL), 0);
	free(out);
	ck_assert_int_eq(wait_for("users", 1, 1, 15000), 0);
}
END_TEST

START_TEST(test_down_stops_everything)
{
	json_t *st = status_json(), *in;
	pid_t pids[16];
	size_t i, n = 0;
	char *out = NULL;
	int status;
	ck_assert_ptr_nonnull(st);
	json_array_foreach(st, i, in)
	{
		if (n < 16)
			pids[n++] = (pid_t)json_integer_value(json_object_get(in, "pid"));
	}
	json_decref(st);
	ck_assert_int_eq(meshctl(&out, "down", NULL), 0);
	free(out);
	status = harness_wait(up_pid, 15000);
	ck_assert_msg(harness_exited_cleanly(status), "meshctl up did not exit 0");
	up_pid = 0;
	for (i = 0; i < n; i++)
		ck_assert_msg(kill(pids[i], 0) != 0, "pid %d still runs", (int)pids[i]);
	/* no mesh now: status says so and fails */
	ck_assert_int_eq(meshctl(&out, "status", NULL), 1);
	ck_assert_ptr_nonnull(strstr(out, "no mesh is running"));
	free(out);
}
END_TEST

START_TEST(test_help_and_bad_usage)
{
	const char *cmds[] = {"up", "down", "status", "scale", "logs", "call", "init"};
	char *out = NULL;
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		ck_assert_int_eq(meshctl(&out, cmds[i], "--help", NULL), 0);
		ck_assert_ptr_nonnull(strstr(out, "usage: meshctl"));
		free(out);
	}
	ck_assert_int_eq(meshctl(&out, "up", "--port", "x", NULL), 2);
	free(out);
	ck_assert_int_eq(meshctl(&out, "frobnicate", NULL), 2);
	free(out);
	/* the containers' flags: documented, and only where they apply */
	ck_assert_int_eq(meshctl(&out, "up", "--help", NULL), 0);
	for (const char *const *f = (const char *const[]){"--containers", "--project", "--tag",
							  "--build", "--wait", NULL};
	     *f != NULL; f++)
		ck_assert_msg(strstr(out, *f) != NULL, "up --help lacks %s", *f);
	free(out);
	ck_assert_int_eq(meshctl(&out, "down", "--help", NULL), 0);
	ck_assert_ptr_nonnull(strstr(out, "--containers"));
	ck_assert_ptr_nonnull(strstr(out, "--volumes"));
	free(out);
	ck_assert_int_eq(meshctl(&out, "up", "--containers", "--detach", NULL), 2);
	ck_assert_ptr_nonnull(strstr(out, "not --containers"));
	free(out);
	ck_assert_int_eq(meshctl(&out, "up", "--project", "p", NULL), 2);
	ck_assert_ptr_nonnull(strstr(out, "go with --containers"));
	free(out);
	ck_assert_int_eq(meshctl(&out, "up", "--containers", "--wait", "0", NULL), 2);
	free(out);
	ck_assert_int_eq(meshctl(&out, "up", "--containers", "--project", "-x", NULL), 2);
	free(out);
	ck_assert_int_eq(meshctl(&out, "down", "--volumes", NULL), 2);
	free(out);
	/* nothing was started in containers from this state directory (or, without root or
	 * podman, it says what is missing): nothing to take down */
	ck_assert_int_eq(meshctl(&out, "down", "--containers", NULL), 1);
	ck_assert_msg(strstr(out, "no containers were started from") != NULL ||
			  strstr(out, "run it as root") != NULL ||
			  strstr(out, "is not installed") != NULL,
		      "%s", out);
	free(out);
}
END_TEST

/* ---- the monolith ---------------------------------------------------------------------------- */

START_TEST(test_monolith_serves_every_route_from_one_process)
{
	char log[600], line[512], *out = NULL, url[600];
	char *argv[] = {MESHCTL, "up", "--monolith", "--port", "0", "--state-dir", state, NULL};
	const char *body = "{\"thread\":1,\"text\":\"from the monolith\",\"user\":1}";
	http_options post = {.body = body, .content_type = "application/json"};
	http_response r;
	json_t *st, *in;
	size_t i;
	pid_t pid = 0;
	int status;
	curl_global_init_once();
	ck_assert_int_eq(mesh_tmpdir(), 0);
	snprintf(state, sizeof(state), "%s/state", dir);
	snprintf(log, sizeof(log), "%s/up.log", dir);
	up_pid = harness_spawn(argv, log);
	ck_assert_int_eq(
	    harness_wait_for_line(log, "the forum API is at ", line, sizeof(line), 20000), 0);
	snprintf(base, sizeof(base), "%.*s", (int)(strstr(line, "/api") - strstr(line, "http://")),
		 strstr(line, "http://"));
	/* one process is every service */
	st = status_json();
	ck_assert_int_eq(json_array_size(st), 3);
	json_array_foreach(st, i, in)
	{
		pid_t p = (pid_t)json_integer_value(json_object_get(in, "pid"));
		ck_assert_int_gt(p, 0);
		ck_assert(pid == 0 || p == pid);
		pid = p;
	}
	json_decref(st);
	/* the same API through the same edge, creates checking users and threads in-process */
	/* the edge connects to each service on its own schedule (with nng, a little after meshctl
	 * saw health, and to each upstream separately): every one answers before the create */
	for (i = 0; i < 3; i++) {
		static const char *const paths[] = {"/api/users/1", "/api/threads/1",
						    "/api/posts/1"};
		snprintf(url, sizeof(url), "%s%s", base, paths[i]);
		for (long long until = harness_now_ms() + 10000;; harness_sleep_ms(20)) {
			ck_assert_int_eq(http_get(url, &r), 0);
			if (r.status == 200 || harness_now_ms() > until)
				break;
			http_response_free(&r);
		}
		ck_assert_msg(r.status == 200, "GET %s answered %ld", paths[i], (long)r.status);
		http_response_free(&r);
	}
	snprintf(url, sizeof(url), "%s/api/posts", base);
	ck_assert_int_eq(http_request("POST", url, &post, &r), 0);
	ck_assert_int_eq(r.status, 201);
	ck_assert_ptr_nonnull(strstr(r.body, "from the monolith"));
	http_response_free(&r);
	/* it cannot scale */
	ck_assert_int_eq(meshctl(&out, "scale", "posts=2", NULL), 1);
	ck_assert_ptr_nonnull(strstr(out, "monolith"));
	free(out);
	ck_assert_int_eq(meshctl(&out, "down", NULL), 0);
	free(out);
	status = harness_wait(up_pid, 15000);
	ck_assert_msg(harness_exited_cleanly(status), "meshctl up --monolith did not exit 0");
	up_pid = 0;
	ck_assert_int_ne(kill(pid, 0), 0);
}
END_TEST

START_TEST(test_children_die_with_a_killed_meshctl)
{
	char log[600], line[512];
	char *argv[] = {MESHCTL, "up", "--port", "0", "--state-dir", state, NULL};
	json_t *st, *in;
	pid_t pids[8];
	size_t i, n = 0;
	long long until;
	ck_assert_int_eq(mesh_tmpdir(), 0);
	snprintf(state, sizeof(state), "%s/state", dir);
	snprintf(log, sizeof(log), "%s/up.log", dir);
	up_pid = harness_spawn(argv, log);
	ck_assert_int_eq(
	    harness_wait_for_line(log, "the forum API is at ", line, sizeof(line), 20000), 0);
	st = status_json();
	json_array_foreach(st, i, in)
	{
		if (n < 8)
			pids[n++] = (pid_t)json_integer_value(json_object_get(in, "pid"));
	}
	json_decref(st);
	ck_assert_int_eq(n, 3);
	/* meshctl itself crashes: every service dies with it (the edge too) */
	ck_assert_int_eq(kill(up_pid, SIGKILL), 0);
	ck_assert(harness_wait(up_pid, 5000) != -1);
	up_pid = 0;
	until = harness_now_ms() + 5000;
	for (i = 0; i < n; i++) {
		while (kill(pids[i], 0) == 0 && harness_now_ms() < until)
			harness_sleep_ms(20);
		ck_assert_msg(kill(pids[i], 0) != 0, "pid %d outlived meshctl", (int)pids[i]);
	}
	/* a new up on the same state dir takes over from the dead one's files */
	up_pid = harness_spawn(argv, log);
	ck_assert_int_eq(wait_for("users", 1, 1, 10000), 0);
	harness_stop_clean(up_pid, SIGTERM, 15000, "the second meshctl up", log);
	up_pid = 0;
}
END_TEST

START_TEST(test_bad_manifests_stop_up_with_the_reason)
{
	char manifests[600], svcdir[700], file[800], *out = NULL;
	FILE *f;
	ck_assert_int_eq(mesh_tmpdir(), 0);
	snprintf(state, sizeof(state), "%s/state", dir);
	snprintf(manifests, sizeof(manifests), "%s/svc", dir);
	snprintf(svcdir, sizeof(svcdir), "%s/users", manifests);
	ck_assert_int_eq(mkdir(manifests, 0700), 0);
	ck_assert_int_eq(mkdir(svcdir, 0700), 0);
	snprintf(file, sizeof(file), "%s/manifest.yml", svcdir);
	f = fopen(file, "w");
	ck_assert_ptr_nonnull(f);
	fputs("name: users\nservice: users.Users\ncount: 2\nreplicas: 3\nroutes: []\n", f);
	fclose(f);
	ck_assert_int_eq(meshctl(&out, "up", "--port", "0", "--manifests", manifests, NULL), 1);
	ck_assert_msg(strstr(out, "manifest.yml:4:") != NULL && strstr(out, "replicas") != NULL,
		      "no file:line reason in: %s", out);
	free(out);
}
END_TEST

static void monolith_teardown(void)
{
	harness_stop_checked(up_pid, SIGTERM, 15000, "meshctl up --monolith");
	up_pid = 0;
	harness_rmtree(dir);
}

/* ---- a mesh's life: detached, crashing, stopped uncleanly ------------------------------------ */

/* lifecycle_setup makes a fresh test directory and state dir for one test's own mesh. */
static void lifecycle_setup(void)
{
	curl_global_init_once();
	ck_assert_int_eq(mesh_tmpdir(), 0);
	snprintf(state, sizeof(state), "%s/state", dir);
}

/* detached_pid returns the pid a detached mesh of the state dir recorded, or 0. */
static pid_t detached_pid(void)
{
	char path[600], *text;
	pid_t pid = 0;
	snprintf(path, sizeof(path), "%s/run/meshctl.pid", state);
	if ((text = harness_read_file(path)) != NULL)
		pid = (pid_t)atol(text);
	free(text);
	return pid;
}

/* lifecycle_teardown stops what a test left: its foreground up, or a detached mesh (down, then
 * its recorded pid), and removes the directory. */
static void lifecycle_teardown(void)
{
	pid_t detached = detached_pid();
	harness_stop_checked(up_pid, SIGTERM, 15000, "meshctl up");
	up_pid = 0;
	if (detached > 0 && kill(detached, 0) == 0) {
		meshctl(NULL, "down", NULL);
		if (kill(detached, 0) == 0) {
			harness_note_unclean("a detached meshctl up", "it outlived meshctl down");
			kill(detached, SIGKILL);
		}
	}
	harness_rmtree(dir);
}

/* up_foreground starts meshctl up --port 0 in the foreground, its output in DIR/up.log (log,
 * 600 bytes), and returns once it says where the API is (or after 20 s). */
static void up_foreground(char *log)
{
	char line[512];
	char *argv[] = {MESHCTL, "up", "--port", "0", "--state-dir", state, NULL};
	snprintf(log, 600, "%s/up.log", dir);
	up_pid = harness_spawn(argv, log);
	ck_assert_int_gt(up_pid, 0);
	ck_assert_int_eq(
	    harness_wait_for_line(log, "the forum API is at ", line, sizeof(line), 20000), 0);
}

/* test_up_as_root_needs_its_users_or_allow_root: as root, when the system users could not read
 * the manifests (a directory above them is 0700), up refuses to run everything as root instead,
 * and says how to opt in; with --allow-root it runs, as root. */
START_TEST(test_up_as_root_needs_its_users_or_allow_root)
{
	char private_dir[600], manifests[700], *out = NULL;
	json_t *st, *in;
	size_t i;
	if (geteuid() != 0) {
		harness_skip("meshctl_test: system users need root");
		return;
	}
	snprintf(private_dir, sizeof(private_dir), "%s/private", dir);
	snprintf(manifests, sizeof(manifests), "%s/svc", private_dir);
	ck_assert_int_eq(mkdir(private_dir, 0700), 0);
	ck_assert_int_eq(symlink(CLEAVE_SOURCE_DIR "/svc", manifests), 0);
	ck_assert_int_eq(meshctl(&out, "up", "--port", "0", "--manifests", manifests, NULL), 1);
	ck_assert_msg(strstr(out, "the system users cannot reach") != NULL &&
			  strstr(out, "--allow-root") != NULL,
		      "up said: %s", out);
	free(out);
	ck_assert_int_eq(detached_pid(), 0);
	ck_assert_int_eq(meshctl(&out, "up", "--detach", "--port", "0", "--manifests", manifests,
				 "--allow-root", NULL),
			 0);
	free(out);
	ck_assert_int_eq(wait_for("users", 1, 1, 10000), 0);
	st = status_json();
	json_array_foreach(st, i, in)
	{
		char path[64], *text;
		snprintf(path, sizeof(path), "/proc/%lld/status",
			 (long long)json_integer_value(json_object_get(in, "pid")));
		text = harness_read_file(path);
		ck_assert_ptr_nonnull(text);
		ck_assert_msg(strstr(text, "\nUid:\t0\t") != NULL, "not root:\n%s", text);
		free(text);
	}
	json_decref(st);
	ck_assert_int_eq(meshctl(&out, "down", NULL), 0);
	free(out);
}
END_TEST

START_TEST(test_up_detach_then_down)
{
	char *out = NULL, url[300];
	pid_t supervisor, pids[8];
	json_t *st, *in;
	size_t i, n = 0;
	http_response r;
	ck_assert_int_eq(meshctl(&out, "up", "--detach", "--port", "0", NULL), 0);
	/* it says where the API is, and returns while the mesh runs on */
	ck_assert_msg(strstr(out, "http://127.0.0.1:") != NULL, "up --detach said: %s", out);
	/* "the forum API is at http://127.0.0.1:PORT/api" */
	snprintf(url, sizeof(url), "%.*s/users/1", (int)strcspn(strstr(out, "http://"), " \n"),
		 strstr(out, "http://"));
	free(out);
	supervisor = detached_pid();
	ck_assert_int_gt(supervisor, 0);
	ck_assert_int_eq(kill(supervisor, 0), 0);
	ck_assert_int_eq(wait_for("users", 1, 1, 10000), 0);
	ck_assert_int_eq(http_get(url, &r), 0);
	ck_assert_msg(r.status == 200, "GET %s: %ld", url, r.status);
	http_response_free(&r);
	st = status_json();
	json_array_foreach(st, i, in)
	{
		if (n < 8)
			pids[n++] = (pid_t)json_integer_value(json_object_get(in, "pid"));
	}
	json_decref(st);
	ck_assert_int_eq(n, 3);
	/* down stops it all, the detached supervisor included */
	ck_assert_int_eq(meshctl(&out, "down", NULL), 0);
	free(out);
	/* down returns once the supervisor removed its pid file, its last act */
	for (long long until = harness_now_ms() + 5000;
	     kill(supervisor, 0) == 0 && harness_now_ms() < until;)
		harness_sleep_ms(20);
	ck_assert_msg(kill(supervisor, 0) != 0, "the detached meshctl %d outlived down",
		      (int)supervisor);
	for (i = 0; i < n; i++)
		ck_assert_msg(kill(pids[i], 0) != 0, "pid %d outlived down", (int)pids[i]);
}
END_TEST

/* test_up_https_then_down: meshctl up --https-cert/--https-key runs the edge over HTTPS (HTTP/2
 * by ALPN, HTTP/1.1), which meshctl says and status shows; as root the edge's own user must be
 * able to read the key, or up refuses with the reason and starts nothing. */
START_TEST(test_up_https_then_down)
{
	const char *names[] = {"localhost", NULL};
	char tls[600], crt[700], key[700], *out = NULL, url[300], *at;
	http_response r;
	snprintf(tls, sizeof(tls), "%s/tls", dir);
	snprintf(crt, sizeof(crt), "%s/localhost.crt", tls);
	snprintf(key, sizeof(key), "%s/localhost.key", tls);
	ck_assert_int_eq(https_certs(tls, names), 0);
	ck_assert_int_eq(chmod(tls, 0711), 0);
	/* one without the other is a usage error */
	ck_assert_int_eq(meshctl(&out, "up", "--port", "0", "--https-cert", crt, NULL), 2);
	ck_assert_msg(strstr(out, "go together") != NULL, "up said: %s", out);
	free(out);
	if (geteuid() == 0) {
		char log[700], *text;
		/* the key is root's, mode 0600: cleave-edge cannot read it */
		ck_assert_int_eq(meshctl(&out, "up", "--detach", "--port", "0", "--https-cert", crt,
					 "--https-key", key, NULL),
				 1);
		free(out);
		snprintf(log, sizeof(log), "%s/logs/meshctl.log", state);
		text = harness_read_file(log);
		ck_assert_msg(text != NULL &&
				  strstr(text, "cleave-edge, which cannot read") != NULL &&
				  strstr(text, key) != NULL,
			      "meshctl.log: %s", text != NULL ? text : "(none)");
		free(text);
		ck_assert_int_eq(detached_pid(), 0);
		ck_assert_int_eq(chmod(key, 0644), 0);
	}
	ck_assert_int_eq(meshctl(&out, "up", "--detach", "--port", "0", "--https-cert", crt,
				 "--https-key", key, NULL),
			 0);
	ck_assert_msg((at = strstr(out, "https://127.0.0.1:")) != NULL, "up --detach said: %s",
		      out);
	/* https://127.0.0.1:PORT/api: the certificate names localhost */
	snprintf(url, sizeof(url), "https://localhost:%d/api/users/1",
		 atoi(at + strlen("https://127.0.0.1:")));
	free(out);
	ck_assert_int_eq(wait_for("users", 1, 1, 10000), 0);
	for (int http2 = 1; http2 >= 0; http2--) {
		char ca[700];
		http_options o = {.ca_file = ca, .http2 = http2};
		snprintf(ca, sizeof(ca), "%s/ca.crt", tls);
		http_request("GET", url, &o, &r);
		ck_assert_msg(r.status == 200, "GET %s: %ld (%s)", url, r.status, r.error);
		ck_assert_int_eq(r.version, http2 ? 2 : 11);
		ck_assert_ptr_nonnull(strstr(r.body, "marceline"));
		http_response_free(&r);
	}
	ck_assert_int_eq(meshctl(&out, "status", NULL), 0);
	ck_assert_msg(strstr(out, "edge: https://127.0.0.1:") != NULL, "status: %s", out);
	free(out);
	ck_assert_int_eq(meshctl(&out, "down", NULL), 0);
	free(out);
	ck_assert_int_eq(detached_pid(), 0);
}
END_TEST

START_TEST(test_up_exits_1_when_a_child_stops_uncleanly)
{
	char log[600], line[512];
	pid_t users;
	int status;
	up_foreground(log);
	users = instance_pid("users-1");
	ck_assert_int_gt(users, 0);
	/* frozen, it cannot answer SIGTERM: after the grace period meshctl kills it */
	ck_assert_int_eq(harness_freeze(users), 0);
	ck_assert_int_eq(kill(up_pid, SIGTERM), 0);
	status = harness_wait(up_pid, 20000);
	up_pid = 0;
	ck_assert_msg(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 1,
		      "meshctl up did not exit 1 (log in %s)", log);
	ck_assert_int_eq(harness_wait_for_line(log, "users-1 stopped uncleanly (signal 9)", line,
					       sizeof(line), 0),
			 0);
	ck_assert_msg(kill(users, 0) != 0, "users-1 (%d) outlived meshctl up", (int)users);
}
END_TEST

START_TEST(test_a_crashing_service_backs_off_to_10_s)
{
	static const char *const steps[] = {"100 ms",  "200 ms",  "400 ms",  "800 ms",
					    "1600 ms", "3200 ms", "6400 ms", "10000 ms"};
	char log[600], line[512], want[128];
	char *argv[] = {MESHCTL, "up", "--port", "0", "--state-dir", state, NULL};
	json_t *st, *in;
	size_t i;
	int crash_loop = 0;
	snprintf(log, sizeof(log), "%s/up.log", dir);
	/* every child refuses this environment and exits 2 at once, again and again */
	setenv("CLEAVE_SANDBOX", "bogus", 1);
	up_pid = harness_spawn(argv, log);
	unsetenv("CLEAVE_SANDBOX");
	ck_assert_int_gt(up_pid, 0);
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		snprintf(want, sizeof(want), "users-1 exited (exit 2); restarting in %s", steps[i]);
		ck_assert_msg(harness_wait_for_line(log, want, line, sizeof(line), 15000) == 0,
			      "no '%s' in %s", want, log);
		/* the third crash in a row is a crash loop, and so are the next */
		ck_assert_msg((strstr(line, "(crash loop)") != NULL) == (i >= 2), "%s", line);
	}
	/* it stays at 10 s, and status says crash loop */
	st = status_json();
	json_array_foreach(st, i, in)
	{
		if (strcmp(json_string_value(json_object_get(in, "instance")), "users-1") == 0)
			crash_loop = json_is_true(json_object_get(in, "crash_loop"));
	}
	json_decref(st);
	ck_assert(crash_loop);
	ck_assert_int_eq(harness_wait_for_line(log, "the edge exited (exit 2); restarting it in",
					       line, sizeof(line), 0),
			 0);
	/* stopped, with nothing running that could stop uncleanly (all wait out 10 s) */
	harness_stop_clean(up_pid, SIGTERM, 15000, "meshctl up", log);
	up_pid = 0;
}
END_TEST

static Suite *meshctl_suite(void)
{
	Suite *s = suite_create("meshctl");
	TCase *tc = harness_tcase("mesh", 120);
	tcase_add_unchecked_fixture(tc, mesh_setup, mesh_teardown);
	tcase_add_test(tc, test_status_lists_every_instance_healthy);
	tcase_add_test(tc, test_call_and_logs);
	tcase_add_test(tc, test_kill9_restarts_and_spares_other_services);
	tcase_add_test(tc, test_scale_out_and_in_under_load_loses_nothing);
	tcase_add_test(tc, test_kill9_with_two_instances_loses_nothing);
	tcase_add_test(tc, test_failing_health_checks_take_an_instance_out_of_rotation);
	tcase_add_test(tc, test_logs_follow_prints_new_lines_until_stopped);
	tcase_add_test(tc, test_down_stops_everything);
	tcase_add_test(tc, test_help_and_bad_usage);
	suite_add_tcase(s, tc);
	tc = harness_tcase("monolith", 60);
	tcase_add_unchecked_fixture(tc, NULL, monolith_teardown);
	tcase_add_test(tc, test_monolith_serves_every_route_from_one_process);
	suite_add_tcase(s, tc);
	tc = harness_tcase("crashes", 60);
	tcase_add_checked_fixture(tc, NULL, monolith_teardown);
	tcase_add_test(tc, test_children_die_with_a_killed_meshctl);
	tcase_add_test(tc, test_bad_manifests_stop_up_with_the_reason);
	suite_add_tcase(s, tc);
	tc = harness_tcase("lifecycle", 90);
	tcase_add_checked_fixture(tc, lifecycle_setup, lifecycle_teardown);
	tcase_add_test(tc, test_up_detach_then_down);
	tcase_add_test(tc, test_up_https_then_down);
	tcase_add_test(tc, test_up_as_root_needs_its_users_or_allow_root);
	tcase_add_test(tc, test_up_exits_1_when_a_child_stops_uncleanly);
	tcase_add_test(tc, test_a_crashing_service_backs_off_to_10_s);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return harness_run_suite(meshctl_suite(), 1);
}
