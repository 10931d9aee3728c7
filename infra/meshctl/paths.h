/* paths.h: where a mesh keeps its state: data, sockets, target files, logs, the control socket. */
#ifndef CLEAVE_MESHCTL_PATHS_H
#define CLEAVE_MESHCTL_PATHS_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

/* meshctl_paths: every path of one mesh, derived from its state directory. */
typedef struct meshctl_paths {
	char state[PATH_MAX];	/* the state directory; each service's data is in state/<name> */
	char run[PATH_MAX];	/* state/run: sockets, the pid file */
	char targets[PATH_MAX]; /* state/run/targets: one target file per service */
	char logs[PATH_MAX];	/* state/logs: <service>.log, edge.log, meshctl.log */
	char control[PATH_MAX]; /* ipc:// URL of the supervisor's control socket */
	char pidfile[PATH_MAX]; /* state/run/meshctl.pid */
	char policy[PATH_MAX];	/* state/run/policy: one call policy per service */
} meshctl_paths;

/* meshctl_paths_init fills p for the state directory dir, or when dir is NULL for
 * $CLEAVE_STATE_DIR, else .state/ in the source checkout. Returns 0, or -1 if a path is too long
 * for a socket. */
int meshctl_paths_init(meshctl_paths *p, const char *dir);

/* meshctl_bin_path writes into out the path of the cleave binary name ("edge", "svc-users"),
 * found next to the running meshctl. Returns 0 or -1. */
int meshctl_bin_path(char *out, size_t outlen, const char *name);

#endif
