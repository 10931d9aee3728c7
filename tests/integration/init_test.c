/* init_test.c: meshctl init in a copy of the checkout: a scaffolded service adds only its own
 * files, builds with the rest, and serves through the edge; bad and taken names change nothing.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>

#include "harness.h"
#include "http.h"

/* The copy's build, configure and compile together, has BUILD_BUDGET_MS (it takes 5 s on an
 * idle 2-core machine, 10 s with both cores busy); the rest of its test case's CASE_TIMEOUT_S
 * bounds the test's other waits (the copy's edge and routes, 10 s each at most; stopping five
 * processes, 5 s each). ctest's TIMEOUT for the suite (360 s, tests/CMakeLists.txt) comes after
 * both test cases (60 s and CASE_TIMEOUT_S), so a slow build fails as a timed-out build, with
 * its log, not as a killed suite. */
#define BUILD_BUDGET_MS 180000
#define CASE_TIMEOUT_S	270

/* top: every test's files, made and removed by main() (so even a test killed on its timeout
 * leaves nothing behind), and the process groups of builds in flight, as top/group.PGID. */
static char top[128];

/* --- the checkout, copied and compared --- */

/* copy_tree copies the tree at from to to (made), keeping modes and symbolic links; at the top
 * it leaves out build*, .git and .state. */
static void copy_tree(const char *from, const char *to, int at_top)
{
	DIR *d = opendir(from);
	struct dirent *e;
	ck_assert_msg(d != NULL, "opendir %s: %s", from, strerror(errno));
	while ((e = readdir(d)) != NULL) {
		char src[PATH_MAX], dst[PATH_MAX];
		struct stat st;
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (at_top && (strncmp(e->d_name, "build", 5) == 0 ||
			       strcmp(e->d_name, ".git") == 0 || strcmp(e->d_name, ".state") == 0))
			continue;
		snprintf(src, sizeof(src), "%s/%s", from, e->d_name);
		snprintf(dst, sizeof(dst), "%s/%s", to, e->d_name);
		ck_assert_msg(lstat(src, &st) == 0, "lstat %s: %s", src, strerror(errno));
		if (S_ISDIR(st.st_mode)) {
			ck_assert_msg(mkdir(dst, st.st_mode & 07777) == 0, "mkdir %s", dst);
			copy_tree(src, dst, 0);
		} else if (S_ISLNK(st.st_mode)) {
			char target[PATH_MAX];
			ssize_t n = readlink(src, target, sizeof(target) - 1);
			ck_assert_msg(n >= 0, "readlink %s", src);
			target[n] = '\0';
			ck_assert_msg(symlink(target, dst) == 0, "symlink %s", dst);
		} else if (S_ISREG(st.st_mode)) {
			char buf[65536];
			ssize_t n;
			int in = open(src, O_RDONLY), out;
			ck_assert_msg(in >= 0, "open %s: %s", src, strerror(errno));
			out = open(dst, O_WRONLY | O_CREAT | O_EXCL, st.st_mode & 07777);
			ck_assert_msg(out >= 0, "create %s: %s", dst, strerror(errno));
			while ((n = read(in, buf, sizeof(buf))) > 0)
				ck_assert_msg(write(out, buf, (size_t)n) == n, "write %s", dst);
			ck_assert_msg(n == 0, "read %s", src);
			close(in);
			close(out);
		}
	}
	closedir(d);
}

/* entry: one file, directory or link of a tree, by its path in the tree. */
typedef struct entry {
	char *path;
	mode_t mode; /* type and permissions */
	char *data;  /* a file's content or a link's target */
	size_t len;
} entry;

typedef struct snapshot {
	entry *e;
	size_t n, cap;
} snapshot;

static char *read_all(const char *path, size_t *len)
{
	size_t cap = 4096;
	char *data = malloc(cap);
	ssize_t n;
	int fd = open(path, O_RDONLY);
	ck_assert_msg(fd >= 0 && data != NULL, "open %s: %s", path, strerror(errno));
	*len = 0;
	while ((n = read(fd, data + *len, cap - *len)) > 0) {
		*len += (size_t)n;
		if (*len == cap) {
			data = realloc(data, cap *= 2);
			ck_assert_ptr_nonnull(data);
		}
	}
	ck_assert_msg(n == 0, "read %s", path);
	close(fd);
	return data;
}

static void snap_walk(const char *root, const char *rel, snapshot *s)
{
	char dir[PATH_MAX];
	DIR *d;
	struct dirent *e;
	snprintf(dir, sizeof(dir), "%s%s%s", root, rel[0] ? "/" : "", rel);
	d = opendir(dir);
	ck_assert_msg(d != NULL, "opendir %s: %s", dir, strerror(errno));
	while ((e = readdir(d)) != NULL) {
		char path[PATH_MAX], sub[PATH_MAX];
		struct stat st;
		entry *x;
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(sub, sizeof(sub), "%s%s%s", rel, rel[0] ? "/" : "", e->d_name);
		ck_assert_int_lt(snprintf(path, sizeof(path), "%s/%s", root, sub),
				 (int)sizeof(path));
		ck_assert_msg(lstat(path, &st) == 0, "lstat %s", path);
		if (s->n == s->cap) {
			s->cap = s->cap ? s->cap * 2 : 256;
			s->e = realloc(s->e, s->cap * sizeof(*s->e));
			ck_assert_ptr_nonnull(s->e);
		}
		x = &s->e[s->n++];
		*x = (entry){.path = strdup(sub), .mode = st.st_mode};
		if (S_ISREG(st.st_mode)) {
			x->data = read_all(path, &x->len);
		} else if (S_ISLNK(st.st_mode)) {
			x->data = calloc(1, PATH_MAX);
			ssize_t n = readlink(path, x->data, PATH_MAX - 1);
			x->len = n > 0 ? (size_t)n : 0;
		} else if (S_ISDIR(st.st_mode)) {
			snap_walk(root, sub, s);
		}
	}
	closedir(d);
}

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const entry *)a)->path, ((const entry *)b)->path);
}

/* snap reads the whole tree at root: every path, its mode and content. */
static snapshot snap(const char *root)
{
	snapshot s = {0};
	snap_walk(root, "", &s);
	qsort(s.e, s.n, sizeof(*s.e), entry_cmp);
	return s;
}

static void snap_free(snapshot *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->e[i].path);
		free(s->e[i].data);
	}
	free(s->e);
	*s = (snapshot){0};
}

static void append(char *out, size_t outlen, const char *what, const char *path)
{
	size_t used = strlen(out);
	if (used < outlen)
		snprintf(out + used, outlen - used, "%s %s\n", what, path);
}

/* diff writes what changed from a to b, like git status: "new PATH", "deleted PATH",
 * "changed PATH", one a line. */
static void diff(const snapshot *a, const snapshot *b, char *out, size_t outlen)
{
	size_t i = 0, k = 0;
	out[0] = '\0';
	while (i < a->n || k < b->n) {
		int c = i == a->n ? 1 : k == b->n ? -1 : strcmp(a->e[i].path, b->e[k].path);
		if (c < 0) {
			append(out, outlen, "deleted", a->e[i++].path);
		} else if (c > 0) {
			append(out, outlen, "new", b->e[k++].path);
		} else {
			const entry *x = &a->e[i++], *y = &b->e[k++];
			if (x->mode != y->mode || x->len != y->len ||
			    (x->len > 0 && memcmp(x->data, y->data, x->len) != 0))
				append(out, outlen, "changed", x->path);
		}
	}
}

/* copy_checkout copies the source checkout to top/name/src and writes that path to src. */
static void copy_checkout(const char *name, char *src, size_t srclen)
{
	char dir[256];
	snprintf(dir, sizeof(dir), "%s/%s", top, name);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	ck_assert_int_lt(snprintf(src, srclen, "%s/src", dir), (int)srclen);
	ck_assert_int_eq(mkdir(src, 0755), 0);
	copy_tree(CLEAVE_SOURCE_DIR, src, 1);
}

/* --- processes --- */

/* meshctl runs meshctl with args (NULL-terminated), waits up to 20 s, and returns its exit
 * status; its output (stdout and stderr) is left in *output (malloc'd). */
static int meshctl(const char *const *args, char **output)
{
	char exe[512], log[256];
	char *argv[16];
	int argc = 0, status;
	pid_t pid;
	snprintf(exe, sizeof(exe), "%s/meshctl", CLEAVE_BUILD_DIR);
	snprintf(log, sizeof(log), "%s/meshctl.%d.out", top, (int)getpid());
	unlink(log);
	argv[argc++] = exe;
	for (; *args != NULL && argc < 15; args++)
		argv[argc++] = (char *)*args;
	argv[argc] = NULL;
	pid = harness_spawn(argv, log);
	ck_assert_int_gt(pid, 0);
	status = harness_wait(pid, 20000);
	if (status == -1)
		status = harness_stop(pid, SIGKILL, 1000);
	*output = harness_read_file(log);
	unlink(log);
	ck_assert_ptr_nonnull(*output);
	ck_assert_msg(WIFEXITED(status), "meshctl did not exit by itself; output:\n%s", *output);
	return WEXITSTATUS(status);
}

static void expect_meshctl(const char *const *args, int want_status, const char *want_text)
{
	char *out;
	int status = meshctl(args, &out);
	ck_assert_msg(status == want_status, "meshctl init %s: exit %d, want %d; output:\n%s",
		      args[1] != NULL ? args[1] : "", status, want_status, out);
	ck_assert_msg(strstr(out, want_text) != NULL, "meshctl %s %s: output lacks '%s':\n%s",
		      args[0], args[1] != NULL ? args[1] : "", want_text, out);
	free(out);
}

/* run_group runs argv (argv[0] looked up on PATH) in a process group of its own, its output
 * appended to log, for up to timeout_ms; then whatever is left of the group (all of it after a
 * timeout: make and the compilers too, not only argv[0]) is killed. While it runs the group is
 * recorded in top, so main() kills it if this test process dies first. Returns the wait
 * status, or -1 after a timeout. */
static int run_group(char *const argv[], const char *log, int timeout_ms)
{
	char record[256];
	pid_t parent = getpid(), pid;
	int status, fd;
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		sigset_t none;
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		unsetenv("MAKEFLAGS"); /* an outer make's jobserver is not this build's */
		unsetenv("MFLAGS");
		unsetenv("MAKELEVEL");
		execvp(argv[0], argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	setpgid(pid, pid); /* as the child does: whichever runs first */
	snprintf(record, sizeof(record), "%s/group.%d", top, (int)pid);
	fd = open(record, O_WRONLY | O_CREAT, 0600);
	if (fd >= 0)
		close(fd);
	status = harness_wait(pid, timeout_ms);
	kill(-pid, SIGKILL);
	if (status == -1)
		waitpid(pid, NULL, 0);
	unlink(record);
	return status;
}

/* kill_recorded_groups kills the build groups a test process left behind when it died. */
static void kill_recorded_groups(void)
{
	DIR *d = opendir(top);
	struct dirent *e;
	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		int pgid;
		if (sscanf(e->d_name, "group.%d", &pgid) == 1 && pgid > 1)
			kill(-pgid, SIGKILL);
	}
	closedir(d);
}

/* reap_orphans waits (up to 5 s) for the processes that the tests' children left to main(). */
static void reap_orphans(void)
{
	long long until = harness_now_ms() + 5000;
	for (;;) {
		pid_t r = waitpid(-1, NULL, WNOHANG);
		if (r > 0)
			continue;
		if (r < 0 || harness_now_ms() > until)
			break;
		harness_sleep_ms(10);
	}
}

/* tail returns the end of the file at path (at most 3000 bytes), malloc'd. */
static char *tail(const char *path)
{
	char *text = harness_read_file(path);
	size_t len;
	if (text == NULL)
		return strdup("(no log)");
	len = strlen(text);
	if (len > 3000)
		memmove(text, text + len - 3000, 3001);
	return text;
}

/* build configures and builds the copy at src (only targets: the edge and the services the
 * test runs, not the tests), both within BUILD_BUDGET_MS. */
static void build(const char *src, const char *const *targets)
{
	char bdir[PATH_MAX], log[PATH_MAX];
	char *argv[32];
	int argc = 0, status;
	long long deadline = harness_now_ms() + BUILD_BUDGET_MS;
	snprintf(bdir, sizeof(bdir), "%s/build", src);
	snprintf(log, sizeof(log), "%s/../build.log", src);
	{
		/* the project's own configuration (infra/up's and infra/test's build type), with
		 * warnings as errors: the scaffold must build as cleanly as the rest */
		char *configure[] = {"cmake", "-S", (char *)src, "-B", bdir, "-DCLEAVE_WERROR=ON",
				     NULL};
		status = run_group(configure, log, BUILD_BUDGET_MS);
		if (!harness_exited_cleanly(status)) {
			char *t = tail(log);
			ck_abort_msg("cmake -S %s %s:\n%s", src,
				     status == -1 ? "timed out" : "failed", t);
		}
	}
	argv[argc++] = "cmake";
	argv[argc++] = "--build";
	argv[argc++] = bdir;
	argv[argc++] = "-j2";
	argv[argc++] = "--target";
	for (; *targets != NULL && argc < 30; targets++)
		argv[argc++] = (char *)*targets;
	argv[argc] = NULL;
	status = run_group(argv, log, (int)(deadline - harness_now_ms()));
	if (!harness_exited_cleanly(status)) {
		char *t = tail(log);
		ck_abort_msg("cmake --build %s %s (configure and build have %d s):\n%s", bdir,
			     status == -1 ? "timed out" : "failed", BUILD_BUDGET_MS / 1000, t);
	}
}

/* procs: what a test started, by name, so that it stops them (the edge first). */
typedef struct procs {
	char dir[PATH_MAX];
	char names[8][32];
	pid_t pids[8];
	int n;
} procs;

static pid_t start(procs *p, const char *name, char *const argv[])
{
	char log[PATH_MAX + 64];
	ck_assert_int_lt(p->n, 8);
	snprintf(log, sizeof(log), "%s/%s.log", p->dir, name);
	snprintf(p->names[p->n], sizeof(p->names[p->n]), "%s", name);
	p->pids[p->n] = harness_spawn(argv, log);
	ck_assert_msg(p->pids[p->n] > 0, "cannot start %s", name);
	return p->pids[p->n++];
}

/* stop_all stops every process of p, the newest (the edge) first, and asserts each exited
 * cleanly on SIGTERM. */
static void stop_all(procs *p)
{
	char bad[8192] = "";
	for (int i = p->n - 1; i >= 0; i--) {
		int status = harness_stop(p->pids[i], SIGTERM, 5000);
		if (!harness_exited_cleanly(status)) {
			char how[64], log[PATH_MAX + 64], *t;
			size_t used = strlen(bad);
			harness_describe_status(status, how, sizeof(how));
			snprintf(log, sizeof(log), "%s/%s.log", p->dir, p->names[i]);
			t = tail(log);
			snprintf(bad + used, sizeof(bad) - used, "%s: %s\n%s\n", p->names[i], how,
				 t);
			free(t);
		}
		p->pids[i] = -1;
	}
	p->n = 0;
	ck_assert_msg(bad[0] == '\0', "unclean stops:\n%s", bad);
}

/* --- the tests --- */

START_TEST(test_init_help_usage_and_taken_names)
{
	char src[256], long_name[40], fake[256], proc_link[300], changes[4096];
	snapshot before, after;
	const char *help[] = {"init", "--help", NULL};
	const char *no_name[] = {"init", "--root", src, NULL};
	const char *upper[] = {"init", "Comments", "--root", src, NULL};
	const char *digit[] = {"init", "1comments", "--root", src, NULL};
	const char *dash[] = {"init", "blog-posts", "--root", src, NULL};
	const char *too_long[] = {"init", long_name, "--root", src, NULL};
	const char *keyword[] = {"init", "order", "--root", src, NULL};
	const char *bogus[] = {"init", "comments", "--bogus", "--root", src, NULL};
	const char *two[] = {"init", "comments", "notes", "--root", src, NULL};
	const char *no_root[] = {"init", "comments", "--root", "/nonexistent-cleave", NULL};
	const char *users[] = {"init", "users", "--root", src, NULL};
	const char *camel_twin[] = {"init", "users_", "--root", src, NULL};
	const char *test_proto[] = {"init", "sample", "--root", src, NULL};
	const char *unwritable[] = {"init", "notes", "--root", fake, NULL};

	copy_checkout("usage", src, sizeof(src));
	before = snap(src);
	expect_meshctl(help, 0, "usage: meshctl init NAME [--root DIR]");
	expect_meshctl(no_name, 2, "usage: meshctl init");
	expect_meshctl(upper, 2, "'Comments' cannot name a service");
	expect_meshctl(digit, 2, "starting with a letter");
	expect_meshctl(dash, 2, "1 to 31 of a-z, 0-9 and _");
	memset(long_name, 'a', 32);
	long_name[32] = '\0';
	expect_meshctl(too_long, 2, "cannot name a service");
	expect_meshctl(keyword, 2, "SQL keyword");
	expect_meshctl(bogus, 2, "unknown option '--bogus'");
	expect_meshctl(two, 2, "one NAME only");
	expect_meshctl(no_root, 2, "not a cleave checkout");
	expect_meshctl(users, 1, "proto/users.proto already exists");
	expect_meshctl(users, 1, "svc/users/ already exists");
	expect_meshctl(camel_twin, 1, "proto/users.proto clashes with users_"); /* Users__ */
	expect_meshctl(test_proto, 1, "tests/proto/sample.proto clashes with sample");
	after = snap(src);
	diff(&before, &after, changes, sizeof(changes));
	ck_assert_msg(changes[0] == '\0', "failed inits changed the checkout:\n%s", changes);
	snap_free(&before);
	snap_free(&after);

	/* a write that fails (proto/ cannot take files) takes back the ones before it */
	snprintf(fake, sizeof(fake), "%s/usage/fake", top);
	snprintf(proc_link, sizeof(proc_link), "%s/proto", fake);
	ck_assert_int_eq(mkdir(fake, 0700), 0);
	ck_assert_int_eq(symlink("/proc/self", proc_link), 0);
	snprintf(proc_link, sizeof(proc_link), "%s/svc", fake);
	ck_assert_int_eq(mkdir(proc_link, 0700), 0);
	before = snap(fake);
	expect_meshctl(unwritable, 1, "removing what it wrote");
	after = snap(fake);
	diff(&before, &after, changes, sizeof(changes));
	ck_assert_msg(changes[0] == '\0', "a failed init left:\n%s", changes);
	snap_free(&before);
	snap_free(&after);
}
END_TEST

/* request sends method path (with a JSON body if body is not NULL) to the edge at base. */
static void request(const char *base, const char *method, const char *path, const char *body,
		    http_response *r)
{
	char url[512];
	http_options o = {.body = body, .content_type = body != NULL ? "application/json" : NULL};
	snprintf(url, sizeof(url), "%s%s", base, path);
	ck_assert_msg(http_request(method, url, &o, r) == 0, "%s %s: %s", method, path, r->error);
}

/* wait_ok waits up to 10 s for GET path to answer 200. */
static void wait_ok(const char *base, const char *path)
{
	long long until = harness_now_ms() + 10000;
	http_response r;
	for (;;) {
		request(base, "GET", path, NULL, &r);
		if (r.status == 200 || harness_now_ms() > until)
			break;
		http_response_free(&r);
		harness_sleep_ms(20);
	}
	ck_assert_msg(r.status == 200, "GET %s: %ld %s", path, r.status, r.body);
	http_response_free(&r);
}

START_TEST(test_init_comments_builds_and_serves)
{
	static const char *const services[] = {"users", "threads", "posts", "comments"};
	static const char *const targets[] = {"edge",	     "svc-comments", "svc-users",
					      "svc-threads", "svc-posts",    NULL};
	static const char *const want_new =
	    "new proto/comments.proto\nnew svc/comments\nnew svc/comments/manifest.yml\n"
	    "new svc/comments/seed.json\nnew svc/comments/service.c\n";
	char src[256], changes[4096], run[PATH_MAX], manifests[PATH_MAX], line[512];
	char exe[PATH_MAX + 32], url[PATH_MAX + 32], data[PATH_MAX + 32], base[64], log[PATH_MAX];
	char location[256], *out, *main_c;
	const char *init[] = {"init", "comments", "--root", src, NULL};
	const char *at;
	snapshot before, after;
	procs p = {0};
	http_response r;
	json_t *items;
	int status, port;

	copy_checkout("mesh", src, sizeof(src));
	before = snap(src);
	status = meshctl(init, &out);
	ck_assert_msg(status == 0, "meshctl init comments: exit %d:\n%s", status, out);
	ck_assert_msg(strstr(out, "proto/comments.proto") != NULL &&
			  strstr(out, "svc/comments/manifest.yml") != NULL &&
			  strstr(out, "cmake --build build") != NULL &&
			  strstr(out, "serves /api/comments") != NULL,
		      "meshctl init comments said:\n%s", out);
	free(out);
	after = snap(src);
	diff(&before, &after, changes, sizeof(changes));
	ck_assert_msg(strcmp(changes, want_new) == 0, "meshctl init comments changed:\n%swant:\n%s",
		      changes, want_new);
	snap_free(&before);
	snap_free(&after);
	snprintf(exe, sizeof(exe), "%s/svc/comments/service.c", src);
	main_c = harness_read_file(exe);
	ck_assert_ptr_nonnull(main_c);
	ck_assert_msg(strncmp(main_c, "/* service.c: the comments service: ", 36) == 0 &&
			  strchr(main_c, '\n') - main_c <= 100,
		      "service.c starts:\n%.200s", main_c);
	free(main_c);

	build(src, targets);

	/* the copy's four services and its edge, on sockets in their own directory */
	snprintf(p.dir, sizeof(p.dir), "%s/mesh/run", top);
	ck_assert_int_eq(mkdir(p.dir, 0700), 0);
	for (size_t i = 0; i < sizeof(services) / sizeof(*services); i++) {
		snprintf(exe, sizeof(exe), "%s/build/svc-%s", src, services[i]);
		snprintf(url, sizeof(url), "ipc://%s/%s.sock", p.dir, services[i]);
		snprintf(data, sizeof(data), "%s/data-%s", p.dir, services[i]);
		/* no --seed: each finds its seed.json in the copy, as built */
		char *argv[] = {exe, "--listen", url, "--data-dir", data, "--run-dir", p.dir, NULL};
		start(&p, services[i], argv);
	}
	snprintf(exe, sizeof(exe), "%s/build/edge", src);
	snprintf(manifests, sizeof(manifests), "%s/svc", src);
	snprintf(run, sizeof(run), "%s", p.dir);
	{
		char *argv[] = {exe, "--port",	     "0",   "--manifests", manifests, "--run-dir",
				run, "--access-log", "off", NULL};
		start(&p, "edge", argv);
	}
	ck_assert_int_lt(snprintf(log, sizeof(log), "%s/edge.log", p.dir), (int)sizeof(log));
	if (harness_wait_for_line(log, "listening on http://", line, sizeof(line), 10000) != 0) {
		char *t = tail(log);
		ck_abort_msg("the copy's edge did not start:\n%s", t);
	}
	ck_assert_ptr_nonnull(at = strrchr(line, ':'));
	ck_assert_int_gt(port = atoi(at + 1), 0);
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", port);
	main_c = harness_read_file(log);
	ck_assert_msg(main_c != NULL && strstr(main_c, "comments (comments.Comments)") != NULL,
		      "the edge did not route comments:\n%s", main_c);
	free(main_c);

	/* every service up: a route of each answers */
	for (size_t i = 0; i < sizeof(services) / sizeof(*services); i++) {
		char path[64];
		snprintf(path, sizeof(path), "/api/%s/1", services[i]);
		wait_ok(base, path);
	}

	/* GET /api/comments: the two seed items */
	request(base, "GET", "/api/comments", NULL, &r);
	ck_assert_msg(r.status == 200, "GET /api/comments: %ld %s", r.status, r.body);
	items = json_loads(r.body, 0, NULL);
	ck_assert_msg(json_is_array(items) && json_array_size(items) == 2, "GET /api/comments: %s",
		      r.body);
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(items, 0), "id")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(items, 1), "id")), 2);
	ck_assert_msg(strstr(r.body, "An example comment") != NULL, "%s", r.body);
	json_decref(items);
	http_response_free(&r);

	/* POST, then GET what it made */
	request(base, "POST", "/api/comments", "{\"text\":\"hi\"}", &r);
	ck_assert_msg(r.status == 201, "POST /api/comments: %ld %s", r.status, r.body);
	ck_assert_ptr_nonnull(http_header(&r, "Location", location, sizeof(location)));
	ck_assert_str_eq(location, "/api/comments/3");
	http_response_free(&r);
	request(base, "GET", location, NULL, &r);
	ck_assert_msg(r.status == 200 && strstr(r.body, "\"id\":3") != NULL &&
			  strstr(r.body, "\"text\":\"hi\"") != NULL,
		      "GET %s: %ld %s", location, r.status, r.body);
	http_response_free(&r);

	/* Create checks its text; paging works; the other services still answer */
	request(base, "POST", "/api/comments", "{\"text\":\"\"}", &r);
	ck_assert_msg(r.status == 400 && strstr(r.body, "text is required") != NULL, "%ld %s",
		      r.status, r.body);
	http_response_free(&r);
	request(base, "GET", "/api/comments/99", NULL, &r);
	ck_assert_msg(r.status == 404 && strstr(r.body, "comment 99 not found") != NULL, "%ld %s",
		      r.status, r.body);
	http_response_free(&r);
	request(base, "GET", "/api/comments?limit=2", NULL, &r);
	ck_assert_msg(r.status == 200 && http_header(&r, "Link", line, sizeof(line)) != NULL &&
			  strstr(line, "after=2") != NULL,
		      "GET /api/comments?limit=2: %ld %s", r.status, r.headers);
	http_response_free(&r);
	request(base, "GET", "/api/users/1", NULL, &r);
	ck_assert_msg(r.status == 200, "GET /api/users/1: %ld %s", r.status, r.body);
	http_response_free(&r);

	/* the edge's OpenAPI document has the new routes, and the limits its manifest declares */
	request(base, "GET", "/api/openapi.json", NULL, &r);
	items = json_loads(r.body, 0, NULL);
	ck_assert_msg(r.status == 200 && items != NULL, "GET /api/openapi.json: %ld", r.status);
	ck_assert_ptr_nonnull(json_object_get(
	    json_object_get(json_object_get(items, "paths"), "/api/comments/{id}"), "get"));
	ck_assert_int_eq(
	    json_integer_value(json_object_get(
		json_object_get(
		    json_object_get(
			json_object_get(
			    json_object_get(json_object_get(items, "components"), "schemas"),
			    "comments.CreateCommentRequest"),
			"properties"),
		    "text"),
		"maxLength")),
	    1000);
	json_decref(items);
	http_response_free(&r);

	stop_all(&p);
}
END_TEST

static Suite *init_suite(void)
{
	Suite *s = suite_create("init");
	TCase *fast = harness_tcase("names", 60);
	TCase *slow = harness_tcase("build", CASE_TIMEOUT_S);
	tcase_add_test(fast, test_init_help_usage_and_taken_names);
	suite_add_tcase(s, fast);
	/* configures and builds a copy of the checkout (BUILD_BUDGET_MS): ctest gives the suite
	 * 360 s */
	tcase_add_test(slow, test_init_comments_builds_and_serves);
	suite_add_tcase(s, slow);
	return s;
}

int main(void)
{
	int status;
	if (harness_tmpdir(top, sizeof(top)) != 0) {
		perror("init_test: mkdtemp");
		return EXIT_FAILURE;
	}
	/* Each test runs in a child process; what it starts dies with it (a parent-death signal),
	 * except a build's make and compilers, which main() kills by their recorded group. As the
	 * subreaper, main() then reaps them all, rather than leave zombies to pid 1. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	status = harness_run_suite(init_suite(), 0);
	kill_recorded_groups();
	reap_orphans();
	harness_rmtree(top);
	return status;
}
