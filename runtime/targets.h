/* targets.h: target files, the instance lists an operator (meshctl) publishes for callers.
 *
 * RUN/targets/<service> lists one instance per line: "URL active" or "URL draining", then
 * optionally "uid=N", the user who serves it (ipc:// callers refuse a server of any other
 * user but root: a socket planted by someone else gets no call). Writers
 * replace the file atomically (write, then rename); readers poll it and bring a mesh client in
 * line: new instances are dialed, draining ones get no new calls, missing ones are closed. */
#ifndef CLEAVE_RUNTIME_TARGETS_H
#define CLEAVE_RUNTIME_TARGETS_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "mesh.h"

#define RT_TARGET_URL_MAX 256

/* rt_target: one instance of a service. */
typedef struct rt_target {
	char url[RT_TARGET_URL_MAX];
	int draining; /* 1: finish the calls it has, send it no new ones */
	int has_uid;  /* 1: uid is who serves it */
	uid_t uid;
} rt_target;

/* rt_targets_write replaces the file at path with the n targets. Returns 0, or -1 with errno
 * set. */
int rt_targets_write(const char *path, const rt_target *targets, size_t n);

/* rt_targets_read reads the file at path. On success *out is a malloc'd array of *n targets,
 * the caller's to free (NULL when n is 0). Returns 0, or -1 with errno set (ENOENT: no file;
 * EINVAL: a malformed line). */
int rt_targets_read(const char *path, rt_target **out, size_t *n);

/* rt_targets_watch: what a caller last applied from one target file. */
typedef struct rt_targets_watch {
	char *path;	       /* owned */
	struct timespec mtime; /* of the version applied */
	ino_t ino;
	off_t size;
	rt_target *applied; /* owned */
	size_t napplied;
	int seen; /* a version has been applied */
} rt_targets_watch;

/* rt_targets_watch_init starts watching path (copied). Returns 0 or -1 (out of memory). */
int rt_targets_watch_init(rt_targets_watch *w, const char *path);

/* rt_targets_sync brings client in line with the file if it changed since the last sync:
 * dials new instances, drains those marked draining, undials those gone. A missing or malformed
 * file changes nothing. Returns 1 if the file changed, 0 if not, -1 if it cannot be read. */
int rt_targets_sync(rt_targets_watch *w, mesh_client *client);

/* rt_targets_apply brings client from the targets was[0..nwas) to now[0..n): dials those new
 * in now (and, after undialing them, those whose uid changed), drains those newly marked draining,
 * undials those gone (on nng clients, which cannot undial, they stay dialed). Both arrays stay the
 * caller's. Called where client's calls may be made (a loop client's loop thread). Shared by target
 * files and resolved names (resolve.h). */
void rt_targets_apply(const rt_target *was, size_t nwas, const rt_target *now, size_t n,
		      mesh_client *client);

/* rt_targets_watch_fini frees what w holds. */
void rt_targets_watch_fini(rt_targets_watch *w);

#endif
