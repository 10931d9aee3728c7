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

/* harness_freeze stops the child pid with SIGSTOP and returns once every thread of it has
 * stopped (kill alone returns before: a thread could still answer). harness_thaw continues it.
 * Both return 0, or -1 if the child did not change within 4 s. */
int harness_freeze(pid_t pid);
int harness_thaw(pid_t pid);

/* harness_exited_cleanly says whether a wait status is a normal exit with status 0. */
int harness_exited_cleanly(int wait_status);

/* harness_describe_status writes "exit 0", "exit 66" or "signal 9" for a wait status. */
void harness_describe_status(int wait_status, char *out, size_t outlen);

/* harness_free_port returns a TCP port on 127.0.0.1 that nothing listens on now (the kernel's
 * pick), or -1. */
int harness_free_port(void);

/* harness_tmpdir makes a fresh directory under /tmp and writes its path to out (at least 64
 * bytes). Returns 0 or -1. */
int harness_tmpdir(char *out, size_t outlen);

/* harness_rmtree removes dir and everything under it. */
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
 * returns the process exit status: EXIT_SUCCESS when no test failed. Integration suites run in
 * process: one mesh, started by an unchecked fixture, serves their tests in order. */
int harness_run_suite(Suite *suite, int in_process);

#endif
