/* harness.h: test helpers for real processes: spawn, stop, temporary directories, log files. */
#ifndef CLEAVE_TEST_HARNESS_H
#define CLEAVE_TEST_HARNESS_H

#include <stddef.h>
#include <sys/types.h>

#include <check.h>

/* harness_spawn starts argv[0] (a path) with argv, its stdout and stderr appended to log_path
 * (NULL: /dev/null). The child dies with the test process (PR_SET_PDEATHSIG), so a crashed test
 * leaves nothing behind. Returns the child's pid, or -1. */
pid_t harness_spawn(char *const argv[], const char *log_path);

/* harness_stop sends sig to pid and waits up to timeout_ms for it to exit, then kills it with
 * SIGKILL. Returns the raw wait status, or -1 if pid was not a child. */
int harness_stop(pid_t pid, int sig, int timeout_ms);

/* harness_wait waits up to timeout_ms for pid to exit. Returns the raw wait status, or -1 if it
 * is still running (or not a child). */
int harness_wait(pid_t pid, int timeout_ms);

/* harness_freeze stops pid (any process, not only a child) with SIGSTOP and returns once every
 * thread of it has stopped (kill alone returns before: a thread could still answer).
 * harness_thaw continues it. Both return 0, or -1 if it did not change within 4 s. */
int harness_freeze(pid_t pid);
int harness_thaw(pid_t pid);

/* harness_exited_cleanly says whether a wait status is a normal exit with status 0. */
int harness_exited_cleanly(int wait_status);

/* harness_stopped_cleanly says whether a wait status is what stopping a process with sig should
 * give: exit 0 (it handled sig and stopped in order), or death by sig itself (it does not
 * handle sig, as no process handles SIGKILL). A sanitizer's report (exit 66 or 67), a crash or
 * a stop that needed SIGKILL after sig is not clean. */
int harness_stopped_cleanly(int wait_status, int sig);

/* harness_stop_clean stops pid with sig (harness_stop, waiting up to timeout_ms) and fails the
 * running test unless it stopped cleanly, naming what (and log, a file to look at, or NULL).
 * pid 0 (nothing started) passes. */
void harness_stop_clean(pid_t pid, int sig, int timeout_ms, const char *what, const char *log);

/* harness_stop_checked stops pid with sig (harness_stop) for a fixture's teardown, where no test
 * is running to fail: a process that does not stop cleanly (harness_stopped_cleanly) is
 * reported on stderr, naming what, and fails the whole suite (harness_run_suite). Returns the
 * wait status; pid 0 does nothing and returns 0. */
int harness_stop_checked(pid_t pid, int sig, int timeout_ms, const char *what);

/* harness_note_unclean reports that what did not stop cleanly (report says how, and may hold
 * its log's tail) and fails the whole suite, for teardowns that stop processes themselves. */
void harness_note_unclean(const char *what, const char *report);

/* harness_skip says that the running test is skipped, and why (fmt is printf's): it prints
 * "skipped: <reason>" and counts it; the test then returns. harness_run_suite reports the skips:
 * a suite whose every test skipped exits HARNESS_EXIT_SKIPPED, which ctest counts as skipped.
 * Skip only for what the environment truly lacks, never for a state a regression could make. */
#define HARNESS_EXIT_SKIPPED 77
void harness_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* harness_tcase makes a test case whose every test must end within timeout_s: Check's own
 * timeout when it forks, a watchdog when the suite runs in process (where Check ignores
 * timeouts), which ends the process with the test's name. */
TCase *harness_tcase(const char *name, int timeout_s);

/* harness_describe_status writes "exit 0", "exit 66" or "signal 9" for a wait status. */
void harness_describe_status(int wait_status, char *out, size_t outlen);

/* harness_free_port returns a TCP port on 127.0.0.1 that nothing holds now, drawn at random
 * below the kernel's ephemeral range (where no outgoing connection takes it meanwhile), or -1. */
int harness_free_port(void);

/* harness_free_port6 is harness_free_port on [::1]; -1 also when there is no IPv6 loopback. */
int harness_free_port6(void);

/* harness_tmpdir makes a fresh directory under /tmp and writes its path to out (at least 64
 * bytes). Returns 0 or -1. */
int harness_tmpdir(char *out, size_t outlen);

/* harness_rmtree removes dir and everything under it (not with CLEAVE_TEST_KEEP set: it says
 * it kept it). */
void harness_rmtree(const char *dir);

/* harness_wait_for_line waits up to timeout_ms for a line containing needle to appear in the
 * file at path, and copies that line (without its newline) to out. Returns 0 or -1. */
int harness_wait_for_line(const char *path, const char *needle, char *out, size_t outlen,
			  int timeout_ms);

/* harness_read_file returns the file's content, NUL-terminated, malloc'd (the caller's to free),
 * or NULL. */
char *harness_read_file(const char *path);

/* harness_sleep_ms sleeps for ms milliseconds. */
void harness_sleep_ms(int ms);

/* harness_now_ms returns milliseconds on the monotonic clock. */
long long harness_now_ms(void);

/* harness_run_suite runs every test of suite (forking per test unless in_process), frees it and
 * returns the process exit status: EXIT_FAILURE when a test failed or a process stopped
 * uncleanly in a teardown (harness_stop_checked, harness_note_unclean), HARNESS_EXIT_SKIPPED when
 * every test skipped (harness_skip), else EXIT_SUCCESS (printing how many skipped, if any).
 * Integration suites run in process: one mesh, started by an unchecked fixture, serves their
 * tests in order. */
int harness_run_suite(Suite *suite, int in_process);

#endif
