/* paths.c: a mesh's paths from its state directory, and the binaries next to meshctl. */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "paths.h"

#define FIT(buf, ...) (snprintf((buf), sizeof(buf), __VA_ARGS__) < (int)sizeof(buf))

int meshctl_paths_init(meshctl_paths *p, const char *dir)
{
	struct sockaddr_un sun;
	char abs[PATH_MAX];
	if (dir == NULL)
		dir = getenv("CLEAVE_STATE_DIR");
	if (dir == NULL || dir[0] == '\0')
		dir = CLEAVE_SOURCE_DIR "/.state";
	/* absolute, so children started elsewhere and later commands agree */
	if (dir[0] != '/') {
		char cwd[PATH_MAX];
		if (getcwd(cwd, sizeof(cwd)) == NULL || !FIT(abs, "%s/%s", cwd, dir))
			return -1;
		dir = abs;
	}
	if (!FIT(p->state, "%s", dir) || !FIT(p->run, "%s/run", p->state) ||
	    !FIT(p->targets, "%s/targets", p->run) || !FIT(p->logs, "%s/logs", p->state) ||
	    !FIT(p->control, "ipc://%s/meshctl.sock", p->run) ||
	    !FIT(p->pidfile, "%s/meshctl.pid", p->run) || !FIT(p->policy, "%s/policy", p->run))
		return -1;
	/* the longest socket, <run>/<name>-NN.sock, must fit a unix socket address */
	if (strlen(p->run) + 48 >= sizeof(sun.sun_path))
		return -1;
	return 0;
}

int meshctl_bin_path(char *out, size_t outlen, const char *name)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return -1;
	self[n] = '\0';
	return snprintf(out, outlen, "%s/%s", dirname(self), name) < (int)outlen ? 0 : -1;
}

int meshctl_abs_path(char *out, size_t outlen, const char *path)
{
	char cwd[PATH_MAX];
	if (path[0] == '/')
		return snprintf(out, outlen, "%s", path) < (int)outlen ? 0 : -1;
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return -1;
	return snprintf(out, outlen, "%s/%s", cwd, path) < (int)outlen ? 0 : -1;
}

int meshctl_readable_as(const char *path, uid_t uid, gid_t gid)
{
	int status;
	pid_t pid = fork();
	if (pid < 0)
		return errno;
	if (pid == 0) {
		int fd;
		if (setgroups(0, NULL) != 0 || setgid(gid) != 0 || setuid(uid) != 0)
			_exit(EPERM);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		_exit(fd >= 0 ? 0 : errno < 256 ? errno : EIO);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return errno;
	return WIFEXITED(status) ? WEXITSTATUS(status) : EIO;
}
