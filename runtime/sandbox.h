/* sandbox.h: limits what files the calling process may reach (Landlock), for a service. */
#ifndef CLEAVE_RUNTIME_SANDBOX_H
#define CLEAVE_RUNTIME_SANDBOX_H

#include <stddef.h>

#define RT_SANDBOX_MAX_PATHS 16

/* rt_sandbox_mode: --sandbox / CLEAVE_SANDBOX. */
typedef enum rt_sandbox_mode {
	RT_SANDBOX_AUTO = 0, /* apply when the kernel supports Landlock, else run without */
	RT_SANDBOX_ON,	     /* apply, or fail */
	RT_SANDBOX_OFF,	     /* apply nothing */
} rt_sandbox_mode;

/* rt_sandbox_spec: what the process may still reach once restricted. Every string is the
 * caller's, read during rt_sandbox_apply only. Paths that do not exist are left out (a
 * system directory such as /lib64 missing is normal). */
typedef struct rt_sandbox_spec {
	const char *data_dir; /* read-write: every file right beneath it; NULL: nothing writable */
	/* read-only extra files or directories (the seed, the policy, the run dir with its target
	 * files, TLS files), beyond the system paths every process gets (/usr, /lib*, /bin,
	 * /sbin, /etc, /proc, /sys, /dev read-only; /dev/null read-write) */
	const char *read_only[RT_SANDBOX_MAX_PATHS];
	size_t nread_only;
	/* directories where the process makes and removes its ipc:// socket files: it may create
	 * and unlink entries there, and nothing else */
	const char *socket_dirs[RT_SANDBOX_MAX_PATHS];
	size_t nsocket_dirs;
} rt_sandbox_spec;

/* RT_SANDBOX_MAX_WATCHED: files whose directories an edge spec allows reading (the HTTPS
 * certificate and key) */
#define RT_SANDBOX_MAX_WATCHED 2

/* rt_sandbox_paths: the paths a service's or the edge's spec points into, kept while the spec is
 * used. */
typedef struct rt_sandbox_paths {
	char targets[4200];
	char sock_dirs[RT_SANDBOX_MAX_PATHS][4096];
	/* the directory of each watched file as named, and of its real path */
	char watched_dirs[2 * RT_SANDBOX_MAX_WATCHED][4096];
} rt_sandbox_paths;

/* rt_sandbox_service_spec fills spec with what a service may reach once its store is open
 * (runtime/service.c applies it): data_dir read-write; read-only its seed and policy (either
 * may be NULL), <run_dir>/targets (the target files of its callees, re-read) and the TLS files
 * CLEAVE_TLS_CERT, _KEY and _CA name; and in the directory of each ipc:// address of
 * listen[0..nlisten) it may make and remove sockets. Nothing else: not another service's data,
 * sockets, policy, nor a target file to write. The strings are borrowed; paths holds the ones
 * made here, and both must outlive spec's use. */
void rt_sandbox_service_spec(rt_sandbox_spec *spec, rt_sandbox_paths *paths, const char *data_dir,
			     const char *seed, const char *policy, const char *run_dir,
			     const char *const *listen, int nlisten);

/* rt_sandbox_edge_spec fills spec with what the edge may reach once its manifests are read
 * (edge/main.c applies it): read-only, the target files in targets_dir (may be NULL) and the
 * directories of watched[0..nwatched) (at most RT_SANDBOX_MAX_WATCHED files it loads again as
 * they change: the HTTPS certificate and key), both the directory each is named in and that of
 * its real path (a symbolic link's target), since a file replaced by renaming a new one over it,
 * or a link switched to a new target, is a new file there; nothing to write. The strings are
 * borrowed; paths holds the ones made here, and both must outlive spec's use. */
void rt_sandbox_edge_spec(rt_sandbox_spec *spec, rt_sandbox_paths *paths, const char *targets_dir,
			  const char *const *watched, size_t nwatched);

/* rt_sandbox_parse_mode reads "auto", "on" or "off" into *out. Returns 0, or -1 for anything
 * else. */
int rt_sandbox_parse_mode(const char *s, rt_sandbox_mode *out);

/* rt_landlock_abi returns the running kernel's Landlock ABI version (1 and up), or -errno
 * when it has none (-ENOSYS: not built in; -EOPNOTSUPP: disabled at boot). */
int rt_landlock_abi(void);

/* rt_sandbox_apply sets no_new_privs and restricts the calling thread, and every thread and
 * process it creates afterwards, to spec with Landlock, using every filesystem right the
 * running kernel knows. Threads that already exist stay unrestricted (Landlock before ABI 8
 * cannot reach them): call it before the first thread starts. TCP is not restricted.
 *
 * RT_SANDBOX_OFF does nothing. RT_SANDBOX_AUTO on a kernel without Landlock sets
 * no_new_privs only. Writes one line for the log saying what was done (no newline) to msg.
 * Returns 1 when restricted, 0 when not (off, or auto without Landlock), -1 on an error (on
 * without Landlock, or a rule the kernel refused), with the reason in msg. */
int rt_sandbox_apply(const rt_sandbox_spec *spec, rt_sandbox_mode mode, char *msg, size_t msglen);

#endif
