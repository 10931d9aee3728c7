/* policy_test.c: the service boundaries played by an attacker: calls the manifests do not allow
 * are denied by the callee (default deny), a claimed caller must match who the caller runs as,
 * and a service's user cannot open another service's data. */
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>

#include "harness.h"
#include "http.h"

#define MESHCTL CLEAVE_BUILD_DIR "/meshctl"

static char dir[256], state[512], base[256], posts_address[512], users_address[512];
static pid_t up_pid;
static int monolith; /* the fixture runs meshctl up --monolith */

/* run runs argv (NULL-terminated) as user (through setpriv; NULL: as this process) and returns
 * its exit status, with its output in *out (malloc'd) if out is not NULL. */
static int run(char **out, const char *user, char *const argv[])
{
	char *full[40], log[600], uid_arg[96], gid_arg[96];
	int argc = 0, status;
	static int seq;
	pid_t pid;
	if (user != NULL) {
		snprintf(uid_arg, sizeof(uid_arg), "--reuid=%s", user);
		snprintf(gid_arg, sizeof(gid_arg), "--regid=%s",
			 strcmp(user, "nobody") == 0 ? "nogroup" : user);
		full[argc++] = "/usr/bin/setpriv";
		full[argc++] = uid_arg;
		full[argc++] = gid_arg;
		full[argc++] = "--clear-groups";
	}
	for (int i = 0; argv[i] != NULL && argc < 38; i++)
		full[argc++] = argv[i];
	full[argc] = NULL;
	snprintf(log, sizeof(log), "%s/run-%d.out", dir, seq++);
	pid = harness_spawn(full, log);
	status = harness_wait(pid, 20000);
	if (status == -1)
		status = harness_stop(pid, SIGKILL, 1000);
	if (out != NULL)
		*out = harness_read_file(log);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* call_posts calls posts' Method with json directly over the mesh, claiming to be as, running
 * as user; returns the exit status of meshctl call, its output in *out. */
static int call_posts(char **out, const char *user, const char *method, const char *json,
		      const char *as)
{
	char target[64];
	char *argv[] = {MESHCTL,       "call",	      target, (char *)json,
			"--address",   posts_address, "--as", (char *)as,
			"--state-dir", state,	      NULL};
	snprintf(target, sizeof(target), "posts.%s", method);
	return run(out, user, argv);
}

/* reachable says whether other users can reach path (it and every directory above are o+x) */
static int reachable(const char *path)
{
	char p[512];
	struct stat st;
	snprintf(p, sizeof(p), "%s", path);
	for (;;) {
		char *slash;
		if (stat(p, &st) != 0 || !(st.st_mode & S_IXOTH))
			return 0;
		slash = strrchr(p, '/');
		if (slash == NULL || slash == p)
			return 1;
		*slash = '\0';
	}
}

/* own_users says whether the services run as their own users here: meshctl does that as root
 * when the users can reach the build and the sources. */
static int own_users(void)
{
	return geteuid() == 0 && reachable(CLEAVE_BUILD_DIR) && reachable(CLEAVE_SOURCE_DIR "/svc");
}

static size_t count_posts(void)
{
	char url[300];
	long n;
	snprintf(url, sizeof(url), "%s/api/posts", base);
	n = http_get_array_length(url);
	ck_assert_msg(n >= 0, "GET %s did not answer 200 with an array", url);
	return (size_t)n;
}

static void mesh_setup(void)
{
	char log[600], line[512], *out = NULL;
	char *up[] = {MESHCTL, "up", "--port", "0", "--state-dir", state, NULL, NULL};
	char *status[] = {MESHCTL, "status", "--json", "--state-dir", state, NULL};
	json_t *st, *in;
	size_t i;
	curl_global_init_once();
	posts_address[0] = users_address[0] = base[0] = '\0';
	if (harness_tmpdir(dir, sizeof(dir)) != 0 || chmod(dir, 0711) != 0)
		return;
	snprintf(state, sizeof(state), "%s/state", dir);
	snprintf(log, sizeof(log), "%s/up.log", dir);
	if (monolith)
		up[6] = "--monolith";
	up_pid = harness_spawn(up, log);
	if (harness_wait_for_line(log, "the forum API is at ", line, sizeof(line), 20000) != 0)
		return;
	snprintf(base, sizeof(base), "%.*s", (int)(strstr(line, "/api") - strstr(line, "http://")),
		 strstr(line, "http://"));
	/* the edge connects to the services on its own schedule */
	for (long long until = harness_now_ms() + 10000; harness_now_ms() < until;
	     harness_sleep_ms(20)) {
		char url[300];
		http_response r;
		int ok;
		snprintf(url, sizeof(url), "%s/api/posts/1", base);
		ok = http_get(url, &r) == 0 && r.status == 200;
		http_response_free(&r);
		if (ok)
			break;
	}
	if (run(&out, NULL, status) == 0 && (st = json_loads(out, 0, NULL)) != NULL) {
		json_array_foreach(st, i, in)
		{
			const char *svc = json_string_value(json_object_get(in, "service"));
			const char *address = json_string_value(json_object_get(in, "address"));
			if (strcmp(svc, "posts") == 0)
				snprintf(posts_address, sizeof(posts_address), "%s", address);
			if (strcmp(svc, "users") == 0)
				snprintf(users_address, sizeof(users_address), "%s", address);
		}
		json_decref(st);
	}
	free(out);
}

static void monolith_setup(void)
{
	monolith = 1;
	mesh_setup();
}

static void mesh_teardown(void)
{
	harness_stop_checked(up_pid, SIGTERM, 15000, "meshctl up");
	up_pid = 0;
	harness_rmtree(dir);
}

START_TEST(test_policy_lists_what_the_manifests_allow)
{
	char *out = NULL;
	char *argv[] = {MESHCTL, "policy", NULL};
	ck_assert_int_eq(run(&out, NULL, argv), 0);
	/* the edge may call what routes name; posts may call threads.Get and users.Get only */
	ck_assert_ptr_nonnull(strstr(out, "edge Create\t# POST /api/posts"));
	ck_assert_ptr_nonnull(strstr(out, "posts Get\t# calls: in"));
	ck_assert_ptr_null(strstr(out, "users Create"));
	free(out);
}
END_TEST

START_TEST(test_a_service_may_not_call_what_its_manifest_does_not_allow)
{
	char *out = NULL;
	size_t before;
	const char *user = own_users() ? "cleave-users" : NULL;
	ck_assert_msg(posts_address[0] != '\0', "the mesh did not start");
	before = count_posts();
	/* users' identity creating a post directly: its manifest has no posts.Create */
	ck_assert_int_eq(call_posts(&out, user, "Create",
				    "{\"thread\":1,\"text\":\"forged\",\"user\":1}", "users"),
			 1);
	ck_assert_msg(strstr(out, "PERMISSION_DENIED") != NULL, "%s", out);
	free(out);
	/* nor a read */
	ck_assert_int_eq(call_posts(&out, user, "Get", "{\"id\":1}", "users"), 1);
	ck_assert_msg(strstr(out, "PERMISSION_DENIED") != NULL, "%s", out);
	free(out);
	ck_assert_int_eq(count_posts(), before);
	/* the same create through the edge, which its route allows, works */
	{
		char url[300];
		const char *body = "{\"thread\":1,\"text\":\"allowed\",\"user\":1}";
		http_options o = {.body = body, .content_type = "application/json"};
		http_response r;
		snprintf(url, sizeof(url), "%s/api/posts", base);
		ck_assert_int_eq(http_request("POST", url, &o, &r), 0);
		ck_assert_int_eq(r.status, 201);
		http_response_free(&r);
	}
	ck_assert_int_eq(count_posts(), before + 1);
}
END_TEST

START_TEST(test_a_claimed_caller_must_match_who_calls)
{
	char *out = NULL;
	size_t before;
	if (!own_users()) {
		harness_skip("policy_test: identities from uids need root and a build the service "
			     "users can reach; without them a caller is who it claims to be");
		return;
	}
	before = count_posts();
	/* the users service's user claiming to be the edge */
	ck_assert_int_eq(call_posts(&out, "cleave-users", "Create",
				    "{\"thread\":1,\"text\":\"forged\",\"user\":1}", "edge"),
			 1);
	ck_assert_msg(strstr(out, "PERMISSION_DENIED") != NULL &&
			  strstr(out, "runs as 'users'") != NULL,
		      "%s", out);
	free(out);
	/* a process of no service at all (nobody) claiming to be the edge */
	ck_assert_int_eq(call_posts(&out, "nobody", "Get", "{\"id\":1}", "edge"), 1);
	ck_assert_msg(strstr(out, "PERMISSION_DENIED") != NULL, "%s", out);
	free(out);
	ck_assert_int_eq(count_posts(), before);
	/* Health is open to anyone */
	{
		char *argv[] = {MESHCTL,       "call",	    "mesh.Mesh.Health",
				"{}",	       "--address", posts_address,
				"--state-dir", state,	    NULL};
		ck_assert_int_eq(run(&out, "nobody", argv), 0);
		ck_assert_ptr_nonnull(strstr(out, "posts.Posts"));
		free(out);
	}
}
END_TEST

START_TEST(test_a_service_user_cannot_open_another_services_data)
{
	char path[700], *out = NULL;
	char *cat[] = {"/bin/cat", path, NULL};
	struct stat st;
	if (!own_users()) {
		harness_skip("policy_test: users of their own need root and a build they can "
			     "reach");
		return;
	}
	snprintf(path, sizeof(path), "%s/posts", state);
	ck_assert_int_eq(stat(path, &st), 0);
	/* as root with a reachable build, every service runs as its own user: a data dir still
	 * root's is that boundary lost, not something to skip */
	ck_assert_msg(st.st_uid != 0, "%s is root's: meshctl ran posts as root (see %s/logs)", path,
		      state);
	ck_assert_int_eq(st.st_mode & 0777, 0700);
	snprintf(path, sizeof(path), "%s/posts/posts.db", state);
	ck_assert_int_eq(stat(path, &st), 0);
	/* posts' own user can, users' cannot */
	ck_assert_int_eq(run(&out, "cleave-posts", cat), 0);
	free(out);
	ck_assert_int_ne(run(&out, "cleave-users", cat), 0);
	ck_assert_ptr_nonnull(strstr(out, "Permission denied"));
	free(out);
}
END_TEST

/* uid_of returns the real uid of process pid (from /proc), or -1. */
static long uid_of(long pid)
{
	char path[64], *text, *at;
	long uid = -1;
	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	text = harness_read_file(path);
	if (text != NULL && (at = strstr(text, "\nUid:")) != NULL)
		uid = strtol(at + 5, NULL, 10);
	free(text);
	return uid;
}

/* user_uid returns the uid of user name, or -1. */
static long user_uid(const char *name)
{
	struct passwd *pw = getpwnam(name);
	return pw != NULL ? (long)pw->pw_uid : -1;
}

/* mesh_pids fills pids with the pid of each instance (status --json) and *edge with the edge's
 * (status's text); returns how many instances. */
static size_t mesh_pids(long pids[], const char *services[], size_t max, long *edge)
{
	char *out = NULL, *at;
	char *json_argv[] = {MESHCTL, "status", "--json", "--state-dir", state, NULL};
	char *text_argv[] = {MESHCTL, "status", "--state-dir", state, NULL};
	json_t *st, *in;
	size_t i, n = 0;
	static char names[16][32];
	ck_assert_int_eq(run(&out, NULL, json_argv), 0);
	st = json_loads(out, 0, NULL);
	ck_assert_ptr_nonnull(st);
	json_array_foreach(st, i, in)
	{
		if (n == max)
			break;
		pids[n] = (long)json_integer_value(json_object_get(in, "pid"));
		snprintf(names[n], sizeof(names[n]), "%s",
			 json_string_value(json_object_get(in, "service")));
		services[n] = names[n];
		n++;
	}
	json_decref(st);
	free(out);
	ck_assert_int_eq(run(&out, NULL, text_argv), 0);
	at = strstr(out, "edge: ");
	ck_assert_msg(at != NULL && strstr(at, "(pid ") != NULL, "%s", out);
	*edge = strtol(strstr(at, "(pid ") + 5, NULL, 10);
	free(out);
	return n;
}

/* test_every_process_runs_as_its_own_user: as root, each instance runs as cleave-<service> and
 * the edge as cleave-edge, as the kernel says, not as root. */
START_TEST(test_every_process_runs_as_its_own_user)
{
	long pids[16], edge;
	const char *services[16];
	size_t n;
	if (geteuid() != 0) {
		harness_skip("policy_test: users of their own need meshctl to run as root");
		return;
	}
	ck_assert_msg(posts_address[0] != '\0', "the mesh did not start");
	n = mesh_pids(pids, services, 16, &edge);
	ck_assert_uint_ge(n, 3);
	for (size_t i = 0; i < n; i++) {
		char user[64];
		snprintf(user, sizeof(user), "cleave-%s", services[i]);
		ck_assert_msg(user_uid(user) > 0, "no user %s", user);
		ck_assert_msg(uid_of(pids[i]) == user_uid(user),
			      "%s (pid %ld) runs as uid %ld, not %s", services[i], pids[i],
			      uid_of(pids[i]), user);
	}
	ck_assert_msg(user_uid("cleave-edge") > 0 && uid_of(edge) == user_uid("cleave-edge"),
		      "the edge (pid %ld) runs as uid %ld, not cleave-edge", edge, uid_of(edge));
}
END_TEST

/* test_the_control_socket_admits_only_its_owner: nobody can neither scale nor stop the mesh,
 * through meshctl or a raw call on the control socket; the mesh is unchanged after. */
START_TEST(test_the_control_socket_admits_only_its_owner)
{
	char *out = NULL, sock[700];
	char *scale[] = {MESHCTL, "scale", "users", "3", "--state-dir", state, NULL};
	char *down[] = {MESHCTL, "down", "--state-dir", state, NULL};
	char *raw[] = {
	    MESHCTL,	 "call", "meshctl.Control.Scale", "{\"service\":\"users\",\"count\":3}",
	    "--address", sock,	 "--timeout-ms",	  "2000",
	    NULL};
	long pids[16], edge, edge_after;
	const char *services[16];
	size_t before, after;
	struct stat st;
	if (geteuid() != 0) {
		harness_skip("policy_test: running meshctl as another user needs root");
		return;
	}
	ck_assert_msg(posts_address[0] != '\0', "the mesh did not start");
	snprintf(sock, sizeof(sock), "ipc://%s/run/meshctl.sock", state);
	ck_assert_int_eq(stat(sock + 6, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	before = mesh_pids(pids, services, 16, &edge);
	ck_assert_int_ne(run(&out, "nobody", scale), 0);
	free(out);
	ck_assert_int_ne(run(&out, "nobody", down), 0);
	free(out);
	ck_assert_int_ne(run(&out, "nobody", raw), 0);
	ck_assert_msg(strstr(out, "\"previous\"") == NULL, "%s", out);
	free(out);
	/* the service users, who can reach run/, fare no better */
	ck_assert_int_ne(run(&out, "cleave-users", raw), 0);
	free(out);
	after = mesh_pids(pids, services, 16, &edge_after);
	ck_assert_uint_eq(after, before);
	ck_assert_int_eq(edge_after, edge);
	ck_assert_int_eq(kill((pid_t)edge, 0), 0);
	/* its owner (root) is still obeyed */
	{
		char *status[] = {MESHCTL, "status", "--state-dir", state, NULL};
		ck_assert_int_eq(run(&out, NULL, status), 0);
		free(out);
	}
}
END_TEST

/* test_the_monolith_runs_as_users_of_its_own: under meshctl up --monolith as root, the monolith
 * runs as cleave-monolith and the edge as cleave-edge; the monolith answers its services' calls
 * only as the manifests allow: the edge may create a user, threads (whose manifest calls only
 * users.Get) may not, nor may nobody. */
START_TEST(test_the_monolith_runs_as_users_of_its_own)
{
	long pids[16], edge;
	const char *services[16];
	char *out = NULL, url[300];
	char *create[] = {
	    MESHCTL,	 "call",	"users.Create", "{\"username\":\"forged\",\"name\":\"F\"}",
	    "--address", users_address, "--as",		"threads",
	    NULL};
	char *get[] = {MESHCTL,	      "call", "users.Get", "{\"id\":1}", "--address",
		       users_address, "--as", "threads",   NULL};
	size_t n;
	long users_before;
	if (geteuid() != 0) {
		harness_skip("policy_test: users of their own need meshctl to run as root");
		return;
	}
	ck_assert_msg(users_address[0] != '\0', "the monolith did not start");
	n = mesh_pids(pids, services, 16, &edge);
	ck_assert_uint_ge(n, 3);
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(uid_of(pids[i]) == user_uid("cleave-monolith"),
			      "the monolith (pid %ld) runs as uid %ld, not cleave-monolith",
			      pids[i], uid_of(pids[i]));
	ck_assert_msg(user_uid("cleave-edge") > 0 && uid_of(edge) == user_uid("cleave-edge"),
		      "the edge (pid %ld) runs as uid %ld, not cleave-edge", edge, uid_of(edge));
	snprintf(url, sizeof(url), "%s/api/users", base);
	users_before = http_get_array_length(url);
	ck_assert_int_ge(users_before, 1);
	/* as the threads service's user: it may read a user, not make one */
	ck_assert_int_eq(run(&out, "cleave-threads", get), 0);
	ck_assert_msg(strstr(out, "marceline") != NULL, "%s", out);
	free(out);
	ck_assert_int_eq(run(&out, "cleave-threads", create), 1);
	ck_assert_msg(strstr(out, "PERMISSION_DENIED") != NULL, "%s", out);
	free(out);
	ck_assert_int_eq(run(&out, "nobody", create), 1);
	ck_assert_msg(strstr(out, "PERMISSION_DENIED") != NULL, "%s", out);
	free(out);
	ck_assert_int_eq(http_get_array_length(url), users_before);
	/* through the edge, whose route allows it */
	{
		const char *body = "{\"username\":\"through_edge\",\"name\":\"E\"}";
		http_options o = {.body = body, .content_type = "application/json"};
		http_response r;
		ck_assert_int_eq(http_request("POST", url, &o, &r), 0);
		ck_assert_int_eq(r.status, 201);
		http_response_free(&r);
	}
	ck_assert_int_eq(http_get_array_length(url), users_before + 1);
}
END_TEST

/* test_policy_test_says_which_rule_decides: meshctl policy test answers allow or deny, with the
 * deciding rule, and its exit status says which. */
START_TEST(test_policy_test_says_which_rule_decides)
{
	static const struct {
		const char *caller, *target;
		int status;
		const char *says;
	} cases[] = {
	    {"edge", "posts.Create", 0,
	     "allow: edge may call posts.Posts.Create (rule: edge Create # POST /api/posts)"},
	    {"users", "posts.Posts.Create", 1,
	     "deny: users may not call posts.Posts.Create (rule: default deny; allowed callers: "
	     "edge, meshctl)"},
	    {"threads", "users.Get", 0,
	     "allow: threads may call users.Users.Get (rule: threads Get"},
	    {"threads", "users.Create", 1, "deny: threads may not call users.Users.Create"},
	    {"anonymous", "posts.Health", 0, "its detail: no, only its status"},
	    {"edge", "posts.Health", 0, "its detail: yes"},
	    {"meshctl", "users.Create", 0, "(rule: meshctl Create # the operator's meshctl call)"},
	    {"edge", "posts.Nope", 2, "posts.Posts has no method 'Nope'"},
	    {"edge", "nope.Get", 2, "no manifest serves 'nope'"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *out = NULL;
		char *argv[] = {
		    MESHCTL, "policy", "test", (char *)cases[i].caller, (char *)cases[i].target,
		    NULL};
		int status = run(&out, NULL, argv);
		ck_assert_msg(status == cases[i].status && strstr(out, cases[i].says) != NULL,
			      "policy test %s %s: exit %d, want %d with '%s':\n%s", cases[i].caller,
			      cases[i].target, status, cases[i].status, cases[i].says, out);
		free(out);
	}
}
END_TEST

/* posts_under starts posts by hand (as root) at DIR/<name>.sock with extra arguments (a
 * --policy-mode), has nobody call posts.Get, and returns meshctl call's exit status with its
 * output in *out; *would and *denied are Get's counters from Health, as the operator asks. */
static int posts_under(const char *name, const char *mode, char **out, long long *would,
		       long long *denied)
{
	char sock[400], data[400], log[400], address[420], *health = NULL, *at;
	char *serve[] = {CLEAVE_BUILD_DIR "/svc-posts",
			 "--listen",
			 address,
			 "--data-dir",
			 data,
			 "--policy-mode",
			 (char *)mode,
			 NULL};
	/* nobody claims to be who it is (a claim of anyone else is denied in either mode) */
	char *get[] = {MESHCTL, "call", "posts.Get", "{\"id\":1}", "--address",
		       address, "--as", "uid:65534", NULL};
	char *ask[] = {MESHCTL, "call", "mesh.Mesh.Health", "{}", "--address", address, NULL};
	pid_t pid;
	int status;
	snprintf(sock, sizeof(sock), "%s/%s", dir, name);
	snprintf(data, sizeof(data), "%s/%s-data", dir, name);
	snprintf(log, sizeof(log), "%s/%s.log", dir, name);
	snprintf(address, sizeof(address), "ipc://%s.sock", sock);
	pid = harness_spawn(serve, log);
	ck_assert_int_eq(harness_wait_for_line(log, "serving", NULL, 0, 10000), 0);
	status = run(out, "nobody", get);
	ck_assert_int_eq(run(&health, NULL, ask), 0);
	*would = (at = strstr(health, "\"wouldDeny\"")) != NULL ? atoll(strchr(at, ':') + 1) : 0;
	*denied = (at = strstr(health, "\"denied\"")) != NULL ? atoll(strchr(at, ':') + 1) : 0;
	free(health);
	harness_stop_clean(pid, SIGTERM, 5000, name, log);
	return status;
}

/* test_a_policy_in_audit_mode_logs_and_runs: a service whose policy runs in audit mode answers
 * a call its policy does not allow, logs "audit: would deny" with the rule, and counts it in
 * Health; in enforce mode the same call is denied and counted as a denial. */
START_TEST(test_a_policy_in_audit_mode_logs_and_runs)
{
	char *out = NULL, log[400], *text;
	long long would, denied;
	if (geteuid() != 0) {
		harness_skip("policy_test: calling as another user (nobody) needs root");
		return;
	}
	ck_assert_int_eq(chmod(dir, 0711), 0);
	ck_assert_int_eq(posts_under("audited", "audit", &out, &would, &denied), 0);
	ck_assert_msg(strstr(out, "\"id\"") != NULL, "%s", out);
	free(out);
	ck_assert_int_eq(would, 1);
	ck_assert_int_eq(denied, 0);
	snprintf(log, sizeof(log), "%s/audited.log", dir);
	text = harness_read_file(log);
	ck_assert_msg(strstr(text, "AUDIT MODE") != NULL &&
			  strstr(text, "audit: would deny posts.Posts.Get by uid:65534") != NULL &&
			  strstr(text, "(rule: default deny; allowed callers: edge, meshctl)") !=
			      NULL,
		      "%s", text);
	free(text);
	ck_assert_int_eq(posts_under("enforced", "enforce", &out, &would, &denied), 1);
	ck_assert_msg(strstr(out, "PERMISSION_DENIED") != NULL, "%s", out);
	free(out);
	ck_assert_int_eq(would, 0);
	ck_assert_int_eq(denied, 1);
}
END_TEST

static Suite *policy_suite(void)
{
	Suite *s = suite_create("policy");
	TCase *tc = harness_tcase("policy", 120);
	tcase_add_unchecked_fixture(tc, mesh_setup, mesh_teardown);
	tcase_add_test(tc, test_policy_lists_what_the_manifests_allow);
	tcase_add_test(tc, test_policy_test_says_which_rule_decides);
	tcase_add_test(tc, test_a_policy_in_audit_mode_logs_and_runs);
	tcase_add_test(tc, test_a_service_may_not_call_what_its_manifest_does_not_allow);
	tcase_add_test(tc, test_a_claimed_caller_must_match_who_calls);
	tcase_add_test(tc, test_a_service_user_cannot_open_another_services_data);
	tcase_add_test(tc, test_every_process_runs_as_its_own_user);
	tcase_add_test(tc, test_the_control_socket_admits_only_its_owner);
	suite_add_tcase(s, tc);
	tc = harness_tcase("monolith", 120);
	tcase_add_unchecked_fixture(tc, monolith_setup, mesh_teardown);
	tcase_add_test(tc, test_the_monolith_runs_as_users_of_its_own);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return harness_run_suite(policy_suite(), 1);
}
