/* harness.c: real processes for tests: spawned with a parent-death signal, stopped by pid. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

pid_t harness_spawn(char *const argv[], const char *log_path)
{
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	/* child */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127); /* the parent died before the signal was armed */
	int fd =
	    open(log_path != NULL ? log_path : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
		close(fd);
	}
	/* The test process may block signals; the child starts with none blocked. */
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execv(argv[0], argv);
	fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

long long harness_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void harness_sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

int harness_wait(pid_t pid, int timeout_ms)
{
	long long until = harness_now_ms() + timeout_ms;
	int status;
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			return status;
		if (r < 0 && errno != EINTR)
			return -1;
		if (harness_now_ms() >= until)
			return -1;
		harness_sleep_ms(5);
	}
}

int harness_stop(pid_t pid, int sig, int timeout_ms)
{
	int status;
	if (pid <= 0)
		return -1;
	if (kill(pid, sig) != 0 && errno == ESRCH) {
		/* already gone: reap it if it is ours */
		return waitpid(pid, &status, 0) == pid ? status : -1;
	}
	status = harness_wait(pid, timeout_ms);
	if (status != -1)
		return status;
	kill(pid, SIGKILL);
	return waitpid(pid, &status, 0) == pid ? status : -1;
}

/* harness_all_threads says whether every thread of pid is stopped (want_stopped) or none is,
 * from /proc/PID/task/TID/stat; pid need not be a child. */
static int harness_all_threads(pid_t pid, int want_stopped)
{
	char path[64];
	struct dirent *e;
	DIR *d;
	int all = 1, seen = 0;
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	if ((d = opendir(path)) == NULL)
		return 0;
	while (all && (e = readdir(d)) != NULL) {
		char stat_path[340], *text, *paren;
		if (e->d_name[0] == '.')
			continue;
		snprintf(stat_path, sizeof(stat_path), "%s/%s/stat", path, e->d_name);
		if ((text = harness_read_file(stat_path)) == NULL)
			continue; /* the thread ended */
		/* the state follows the command's closing parenthesis: "pid (comm) S ..." */
		paren = strrchr(text, ')');
		if (paren != NULL && paren[1] == ' ') {
			int stopped = paren[2] == 'T' || paren[2] == 't';
			seen = 1;
			all = stopped == want_stopped;
		}
		free(text);
	}
	closedir(d);
	return all && seen;
}

/* harness_wait_threads waits up to 4 s for harness_all_threads(pid, want_stopped). */
static int harness_wait_threads(pid_t pid, int want_stopped)
{
	long long until = harness_now_ms() + 4000;
	while (!harness_all_threads(pid, want_stopped)) {
		if (harness_now_ms() >= until)
			return -1;
		harness_sleep_ms(1);
	}
	return 0;
}

int harness_freeze(pid_t pid)
{
	if (kill(pid, SIGSTOP) != 0)
		return -1;
	return harness_wait_threads(pid, 1);
}

int harness_thaw(pid_t pid)
{
	if (kill(pid, SIGCONT) != 0)
		return -1;
	return harness_wait_threads(pid, 0);
}

int harness_exited_cleanly(int wait_status)
{
	return wait_status != -1 && WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0;
}

int harness_stopped_cleanly(int wait_status, int sig)
{
	return harness_exited_cleanly(wait_status) ||
	       (wait_status != -1 && WIFSIGNALED(wait_status) && WTERMSIG(wait_status) == sig);
}

void harness_stop_clean(pid_t pid, int sig, int timeout_ms, const char *what, const char *log)
{
	char how[64];
	int status;
	if (pid == 0)
		return;
	status = harness_stop(pid, sig, timeout_ms);
	harness_describe_status(status, how, sizeof(how));
	ck_assert_msg(harness_stopped_cleanly(status, sig),
		      "%s did not stop cleanly on signal %d: %s%s%s", what, sig, how,
		      log != NULL ? " (log in " : "", log != NULL ? log : "");
}

/* unclean: processes that did not stop cleanly in a teardown (the suite fails) */
static int unclean;

void harness_note_unclean(const char *what, const char *report)
{
	fprintf(stderr, "harness: %s did not stop cleanly: %s\n", what, report);
	unclean++;
}

int harness_stop_checked(pid_t pid, int sig, int timeout_ms, const char *what)
{
	char how[64];
	int status;
	if (pid <= 0)
		return 0;
	status = harness_stop(pid, sig, timeout_ms);
	if (!harness_stopped_cleanly(status, sig)) {
		harness_describe_status(status, how, sizeof(how));
		harness_note_unclean(what, how);
	}
	return status;
}

/* skips: where harness_skip counts, a file every test process (forked or not) appends to */
static char skips_path[64];

void harness_skip(const char *fmt, ...)
{
	char reason[512];
	va_list ap;
	FILE *f;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	printf("skipped: %s\n", reason);
	fflush(stdout);
	for (char *p = reason; *p != '\0'; p++)
		if (*p == '\n')
			*p = ' '; /* one line a skip: harness_run_suite counts lines */
	if (skips_path[0] != '\0' && (f = fopen(skips_path, "a")) != NULL) {
		fprintf(f, "%s\n", reason);
		fclose(f);
	}
}

/* the watchdog of in-process suites (Check times only forked tests): the limit of any test */
static int watchdog_s;
static int watchdog_on; /* the suite runs in process */

static void watchdog_fire(int sig)
{
	char line[128];
	int n =
	    snprintf(line, sizeof(line), "\nharness: a test ran past its %d s limit\n", watchdog_s);
	(void)sig;
	if (write(2, line, (size_t)n) < 0) {
		/* nothing left to tell it with */
	}
	_exit(EXIT_FAILURE); /* children die with us (PR_SET_PDEATHSIG) */
}

static void watchdog_arm(void)
{
	struct sigaction sa = {.sa_handler = watchdog_fire};
	if (!watchdog_on)
		return;
	sigaction(SIGALRM, &sa, NULL);
	alarm((unsigned)watchdog_s);
}

static void watchdog_disarm(void)
{
	if (watchdog_on)
		alarm(0);
}

TCase *harness_tcase(const char *name, int timeout_s)
{
	TCase *tc = tcase_create(name);
	tcase_set_timeout(tc, timeout_s);
	/* one limit for every case of a suite: the largest asked for */
	if (timeout_s > watchdog_s)
		watchdog_s = timeout_s;
	tcase_add_checked_fixture(tc, watchdog_arm, watchdog_disarm);
	return tc;
}

void harness_describe_status(int wait_status, char *out, size_t outlen)
{
	if (wait_status == -1)
		snprintf(out, outlen, "not reaped");
	else if (WIFEXITED(wait_status))
		snprintf(out, outlen, "exit %d", WEXITSTATUS(wait_status));
	else if (WIFSIGNALED(wait_status))
		snprintf(out, outlen, "signal %d", WTERMSIG(wait_status));
	else
		snprintf(out, outlen, "status %d", wait_status);
}

/* bind_probe binds addr (family's loopback, port set) and says whether the port was free. No
 * SO_REUSEADDR: a port a connection still holds (TIME_WAIT) counts as taken. */
static int bind_probe(struct sockaddr *addr, socklen_t len, int family)
{
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0), ok;
	if (fd < 0)
		return 0;
	ok = bind(fd, addr, len) == 0;
	close(fd);
	return ok;
}

/* ephemeral_low reads the first port the kernel hands to outgoing connections (32768 unless
 * set otherwise), or 32768. */
static int ephemeral_low(void)
{
	char *text = harness_read_file("/proc/sys/net/ipv4/ip_local_port_range");
	int low = text != NULL ? atoi(text) : 0;
	free(text);
	return low > 0 ? low : 32768;
}

/* free_port returns a port that binds on addr now, or -1. It is drawn at random below the
 * ephemeral range: a port the kernel picked from that range (bind to port 0) may be handed a
 * moment later to an outgoing connection of a test running beside this one, before the process
 * meant to listen on it has bound it, and that process then fails to start (a flake seen in
 * tls_test). Ports below the range are taken only by explicit binds. */
static int free_port(struct sockaddr *addr, socklen_t len, int family)
{
	static unsigned seed;
	int low = 20000, high = ephemeral_low();
	if (seed == 0)
		seed = (unsigned)getpid() * 2654435761u ^ (unsigned)harness_now_ms();
	for (int tries = 0; high - low > 100 && tries < 200; tries++) {
		int port = low + (int)(rand_r(&seed) % (unsigned)(high - low));
		if (family == AF_INET)
			((struct sockaddr_in *)addr)->sin_port = htons((uint16_t)port);
		else
			((struct sockaddr_in6 *)addr)->sin6_port = htons((uint16_t)port);
		if (bind_probe(addr, len, family))
			return port;
	}
	return -1;
}

int harness_free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	return free_port((struct sockaddr *)&a, sizeof(a), AF_INET);
}

int harness_free_port6(void)
{
	struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	return free_port((struct sockaddr *)&a, sizeof(a), AF_INET6);
}

int harness_tmpdir(char *out, size_t outlen)
{
	if (snprintf(out, outlen, "/tmp/cleave-test-XXXXXX") >= (int)outlen)
		return -1;
	return mkdtemp(out) != NULL ? 0 : -1;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

void harness_rmtree(const char *dir)
{
	if (getenv("CLEAVE_TEST_KEEP") != NULL && dir[0] != '\0') {
		fprintf(stderr, "%s kept (CLEAVE_TEST_KEEP)\n", dir);
		return;
	}
	nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

char *harness_read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *data = NULL;
	size_t len = 0, cap = 0, n;
	if (f == NULL)
		return NULL;
	do {
		if (cap - len < 4096) {
			char *grown = realloc(data, cap + 65536);
			if (grown == NULL) {
				free(data);
				fclose(f);
				return NULL;
			}
			data = grown;
			cap += 65536;
		}
		n = fread(data + len, 1, cap - len - 1, f);
		len += n;
	} while (n > 0);
	fclose(f);
	data[len] = '\0';
	return data;
}

/* print_tail says on stderr that path never showed needle, with its last lines: why a process
 * did not start is in its log, which the test's teardown removes. */
static void print_tail(const char *path, const char *needle, int timeout_ms)
{
	char *text = harness_read_file(path);
	size_t n = text != NULL ? strlen(text) : 0;
	const char *from = text != NULL && n > 2000 ? text + n - 2000 : text;
	fprintf(stderr, "harness: no line with \"%s\" in %s after %d ms; %s\n%s", needle, path,
		timeout_ms, text == NULL ? "no such file" : "it ends:", from != NULL ? from : "");
	if (n > 0 && text[n - 1] != '\n')
		fputc('\n', stderr);
	free(text);
}

int harness_wait_for_line(const char *path, const char *needle, char *out, size_t outlen,
			  int timeout_ms)
{
	long long until = harness_now_ms() + timeout_ms;
	do {
		char *text = harness_read_file(path);
		char *hit = text != NULL ? strstr(text, needle) : NULL;
		if (hit != NULL) {
			char *start = hit, *end = strchr(hit, '\n');
			while (start > text && start[-1] != '\n')
				start--;
			if (end == NULL)
				end = hit + strlen(hit);
			snprintf(out, outlen, "%.*s", (int)(end - start), start);
			free(text);
			return 0;
		}
		free(text);
		harness_sleep_ms(10);
	} while (harness_now_ms() < until);
	print_tail(path, needle, timeout_ms);
	return -1;
}

int harness_run_suite(Suite *suite, int in_process)
{
	SRunner *sr = srunner_create(suite);
	int failed, run, skipped = 0, fd;
	char *text;
	snprintf(skips_path, sizeof(skips_path), "/tmp/cleave-skips-XXXXXX");
	if ((fd = mkstemp(skips_path)) >= 0)
		close(fd);
	else
		skips_path[0] = '\0';
	if (in_process)
		srunner_set_fork_status(sr, CK_NOFORK);
	watchdog_on = in_process;
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	run = srunner_ntests_run(sr);
	srunner_free(sr);
	if ((text = harness_read_file(skips_path)) != NULL) {
		for (char *p = text; *p != '\0'; p++)
			skipped += *p == '\n';
		free(text);
	}
	unlink(skips_path);
	if (unclean > 0)
		printf("harness: %d processes did not stop cleanly (see above)\n", unclean);
	if (failed > 0 || unclean > 0)
		return EXIT_FAILURE;
	if (skipped > 0)
		printf("harness: %d of %d tests skipped\n", skipped, run);
	return skipped > 0 && skipped >= run ? HARNESS_EXIT_SKIPPED : EXIT_SUCCESS;
}
