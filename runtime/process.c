/* process.c: stop signals and directories, the same in every process of the mesh. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "process.h"

void rt_stop_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
}

void rt_stop_signals_block(sigset_t *set)
{
	rt_stop_signals(set);
	pthread_sigmask(SIG_BLOCK, set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

int rt_stop_signals_wait(const sigset_t *set)
{
	int sig;
	while (sigwait(set, &sig) != 0)
		;
	return sig;
}

/* stop_deadline: what rt_stop_deadline's thread needs; one per process */
static struct {
	const char *who;
	int ms;
	_Atomic(const char *) stage;
} stop_deadline;

/* stop_deadline_wait is the deadline's thread: it sleeps ms, then ends the process. */
static void *stop_deadline_wait(void *arg)
{
	struct timespec ts = {stop_deadline.ms / 1000, (long)(stop_deadline.ms % 1000) * 1000000};
	(void)arg;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
	fprintf(stderr, "%s: still stopping after %d ms (in %s): exiting\n", stop_deadline.who,
		stop_deadline.ms, atomic_load(&stop_deadline.stage));
	_exit(0);
	return NULL;
}

int rt_stop_deadline(const char *who, int ms)
{
	pthread_attr_t attr;
	pthread_t thread;
	int rv;
	stop_deadline.who = who;
	stop_deadline.ms = ms;
	if (atomic_load(&stop_deadline.stage) == NULL)
		atomic_store(&stop_deadline.stage, "freeing");
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rv = pthread_create(&thread, &attr, stop_deadline_wait, NULL);
	pthread_attr_destroy(&attr);
	return rv;
}

void rt_stop_stage(const char *stage)
{
	atomic_store(&stop_deadline.stage, stage);
}

int rt_mkdirs(const char *path, mode_t mode)
{
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
		return errno = ENAMETOOLONG;
	for (char *p = tmp + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, mode) != 0 && errno != EEXIST)
			return errno;
		*p = '/';
	}
	return mkdir(tmp, mode) != 0 && errno != EEXIST ? errno : 0;
}
