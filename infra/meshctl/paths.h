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

/* meshctl_abs_path writes path into out made absolute against the working directory, symbolic
 * links left as they are (a certificate's link replaced on renewal is seen as a change). Returns
 * 0, or -1 if it does not fit. */
int meshctl_abs_path(char *out, size_t outlen, const char *path);

/* meshctl_readable_as says whether the user uid (group gid, no other groups) can open path for
 * reading, by trying it in a child process of those ids (directories on the way, modes, ACLs:
 * all as the kernel decides). Call it as root, before any other child may be waited for.
 * Returns 0, or the errno that open gave (EACCES, ENOENT...). */
int meshctl_readable_as(const char *path, uid_t uid, gid_t gid);

#endif
