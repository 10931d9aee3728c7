/* process.c: stop signals and directories, the same in every process of the mesh. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/stat.h>

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
