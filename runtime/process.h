/* process.h: what every long-running process of the mesh does the same way: the signals that
 * stop it, and the directories it makes. */
#ifndef CLEAVE_RUNTIME_PROCESS_H
#define CLEAVE_RUNTIME_PROCESS_H

#include <signal.h>
#include <sys/types.h>

/* rt_stop_signals fills set with the signals that stop a process of the mesh: SIGINT, SIGTERM
 * (for a signalfd, or sigwait). */
void rt_stop_signals(sigset_t *set);

/* rt_stop_signals_block fills set with the stop signals (SIGINT, SIGTERM) and blocks them in the
 * calling thread, so that the threads it starts afterwards inherit the mask and only sigwait or
 * a signalfd on set sees them; it also ignores SIGPIPE (a peer that closes must not kill the
 * process). Call it before the first thread starts. */
void rt_stop_signals_block(sigset_t *set);

/* rt_stop_signals_wait waits until one of set (rt_stop_signals_block's) arrives and returns it. */
int rt_stop_signals_wait(const sigset_t *set);

/* rt_stop_deadline bounds the rest of a stopping process: unless it has exited within ms, a
 * thread it starts says so on stderr, as "<who>: still stopping after <ms> ms (in <stage>):
 * exiting", and ends it with _exit(0). Call it once the process has answered everything it
 * will (the work is done; only freeing is left), and rt_stop_stage to name each step of the
 * freeing. who is borrowed and must outlive the process. Why: nng 1.5.2's nng_close can
 * deadlock now and then (nanomsg/nng#1543, fixed after 1.5.2), and a process asked to stop must
 * stop. Returns 0, or an errno value (no thread: the stop is then unbounded). */
int rt_stop_deadline(const char *who, int ms);

/* rt_stop_stage names the step of the freeing rt_stop_deadline reports; stage is borrowed and
 * must be a string literal (or outlive the process). */
void rt_stop_stage(const char *stage);

/* rt_mkdirs makes path and every missing directory above it, new ones with mode. path is
 * borrowed. Returns 0, or an errno value, also left in errno (ENAMETOOLONG for a path over
 * PATH_MAX). */
int rt_mkdirs(const char *path, mode_t mode);

#endif
