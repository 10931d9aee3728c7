/* sandbox.c: Landlock for a service process: its data dir read-write, what it must read
 * read-only, everything else (other services' data, the state dir, /tmp, /root, /home) denied. */
#include "sandbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/landlock.h>

/* The header may be older than the running kernel: what later ABIs added, from the kernel's
 * UAPI (the values never change). */
#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444
#endif
#ifndef __NR_landlock_add_rule
#define __NR_landlock_add_rule 445
#endif
#ifndef __NR_landlock_restrict_self
#define __NR_landlock_restrict_self 446
#endif
#ifndef LANDLOCK_CREATE_RULESET_VERSION
#define LANDLOCK_CREATE_RULESET_VERSION (1U << 0)
#endif
#define SANDBOX_RULE_PATH_BENEATH   1
#define SANDBOX_FS_EXECUTE	    (1ULL << 0)
#define SANDBOX_FS_WRITE_FILE	    (1ULL << 1)
#define SANDBOX_FS_READ_FILE	    (1ULL << 2)
#define SANDBOX_FS_READ_DIR	    (1ULL << 3)
#define SANDBOX_FS_REMOVE_DIR	    (1ULL << 4)
#define SANDBOX_FS_REMOVE_FILE	    (1ULL << 5)
#define SANDBOX_FS_MAKE_CHAR	    (1ULL << 6)
#define SANDBOX_FS_MAKE_DIR	    (1ULL << 7)
#define SANDBOX_FS_MAKE_REG	    (1ULL << 8)
#define SANDBOX_FS_MAKE_SOCK	    (1ULL << 9)
#define SANDBOX_FS_MAKE_FIFO	    (1ULL << 10)
#define SANDBOX_FS_MAKE_BLOCK	    (1ULL << 11)
#define SANDBOX_FS_MAKE_SYM	    (1ULL << 12)
#define SANDBOX_FS_REFER	    (1ULL << 13) /* ABI 2 */
#define SANDBOX_FS_TRUNCATE	    (1ULL << 14) /* ABI 3 */
#define SANDBOX_FS_IOCTL_DEV	    (1ULL << 15) /* ABI 5 */
#define SANDBOX_FS_ABI1		    ((1ULL << 13) - 1)
#define SANDBOX_SCOPE_ABSTRACT_UNIX (1ULL << 0) /* ABI 6 */
#define SANDBOX_SCOPE_SIGNAL	    (1ULL << 1) /* ABI 6 */

/* the rights a rule on a file (not a directory) may carry */
#define SANDBOX_FILE_RIGHTS                                                                        \
	(SANDBOX_FS_EXECUTE | SANDBOX_FS_WRITE_FILE | SANDBOX_FS_READ_FILE | SANDBOX_FS_TRUNCATE | \
	 SANDBOX_FS_IOCTL_DEV)

/* sandbox_ruleset_attr: struct landlock_ruleset_attr as of ABI 6; older kernels are given only
 * the leading fields they know (its size says which). */
struct sandbox_ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net; /* ABI 4; left 0: TCP not restricted */
	uint64_t scoped;	     /* ABI 6 */
};

/* sandbox_path_beneath: struct landlock_path_beneath_attr (packed, as the kernel reads it). */
struct sandbox_path_beneath {
	uint64_t allowed_access;
	int32_t parent_fd;
} __attribute__((packed));

int rt_sandbox_parse_mode(const char *s, rt_sandbox_mode *out)
{
	if (s == NULL)
		return -1;
	if (strcmp(s, "auto") == 0)
		*out = RT_SANDBOX_AUTO;
	else if (strcmp(s, "on") == 0)
		*out = RT_SANDBOX_ON;
	else if (strcmp(s, "off") == 0)
		*out = RT_SANDBOX_OFF;
	else
		return -1;
	return 0;
}

int rt_landlock_abi(void)
{
	long v = syscall(__NR_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
	return v >= 1 ? (int)v : -errno;
}

/* sandbox_errname names the errno values a kernel (or container) without Landlock answers. */
static const char *sandbox_errname(int err)
{
	switch (err) {
	case ENOSYS:
		return "ENOSYS";
	case EOPNOTSUPP:
		return "EOPNOTSUPP";
	case EPERM: /* a seccomp profile (containers) refusing the calls */
		return "EPERM";
	default:
		return strerror(err);
	}
}

/* sandbox_rule: one path and what may be done beneath it. */
typedef struct sandbox_rule {
	const char *path;
	uint64_t access;
	int required; /* fail when the path is missing, instead of leaving it out */
} sandbox_rule;

/* sandbox_add allows access (masked to handled) beneath path in ruleset fd. A missing path
 * that is not required is skipped. Returns 1 when added, 0 when skipped, or -1 with the reason
 * in msg. */
static int sandbox_add(int ruleset, const sandbox_rule *r, uint64_t handled, char *msg,
		       size_t msglen)
{
	struct sandbox_path_beneath pb;
	struct stat st;
	int fd = open(r->path, O_PATH | O_CLOEXEC), rv;
	if (fd < 0) {
		if (!r->required && (errno == ENOENT || errno == ENOTDIR))
			return 0;
		snprintf(msg, msglen, "sandbox: cannot open %s: %s", r->path, strerror(errno));
		return -1;
	}
	pb.allowed_access = r->access & handled;
	if (fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode))
		pb.allowed_access &= SANDBOX_FILE_RIGHTS;
	pb.parent_fd = fd;
	rv = pb.allowed_access == 0
		 ? 0
		 : (int)syscall(__NR_landlock_add_rule, ruleset, SANDBOX_RULE_PATH_BENEATH, &pb, 0);
	if (rv != 0)
		snprintf(msg, msglen, "sandbox: cannot add a rule for %s: %s", r->path,
			 strerror(errno));
	close(fd);
	return rv != 0 ? -1 : pb.allowed_access != 0;
}

/* sandbox_resolver_dir writes to out the directory of /etc/resolv.conf's target when it is a
 * symbolic link out of /etc (systemd-resolved's /run/systemd/resolve/): the resolver reads
 * it on every re-resolution, and it is replaced (renamed over), so its directory is allowed.
 * Returns 0 when there is one, else -1. */
static int sandbox_resolver_dir(char *out, size_t outlen)
{
	char real[PATH_MAX], *slash;
	if (realpath("/etc/resolv.conf", real) == NULL || strncmp(real, "/etc/", 5) == 0)
		return -1;
	if ((slash = strrchr(real, '/')) == NULL || slash == real)
		return -1;
	*slash = '\0';
	return snprintf(out, outlen, "%s", real) < (int)outlen ? 0 : -1;
}

/* sandbox_threads counts this process's threads (/proc/self/task); -1 if it cannot tell. */
static int sandbox_threads(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;
	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

int rt_sandbox_apply(const rt_sandbox_spec *spec, rt_sandbox_mode mode, char *msg, size_t msglen)
{
	const uint64_t ro = SANDBOX_FS_READ_FILE | SANDBOX_FS_READ_DIR;
	const uint64_t rox = ro | SANDBOX_FS_EXECUTE;
	struct sandbox_ruleset_attr attr = {0};
	sandbox_rule rules[16 + 2 * RT_SANDBOX_MAX_PATHS];
	char resolver[PATH_MAX], self[PATH_MAX], extra[512] = "";
	size_t nrules = 0, nsystem, attr_size, used = 0;
	uint64_t handled, rw;
	int abi, ruleset, threads;

	if (mode == RT_SANDBOX_OFF) {
		snprintf(msg, msglen, "sandbox: off: not applied");
		return 0;
	}
	if (spec == NULL || spec->nread_only > RT_SANDBOX_MAX_PATHS ||
	    spec->nsocket_dirs > RT_SANDBOX_MAX_PATHS) {
		snprintf(msg, msglen, "sandbox: no spec given, or too many paths");
		return -1;
	}
	/* Landlock needs it of a process without CAP_SYS_ADMIN; and nothing the service runs
	 * should gain privileges (setuid) anyway, sandboxed or not. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		snprintf(msg, msglen, "sandbox: cannot set no_new_privs: %s", strerror(errno));
		return -1;
	}
	if ((abi = rt_landlock_abi()) < 0) {
		snprintf(msg, msglen, "sandbox: landlock not supported by this kernel (%s): %s",
			 sandbox_errname(-abi),
			 mode == RT_SANDBOX_ON ? "--sandbox on cannot be met"
					       : "not applied (no_new_privs only)");
		return mode == RT_SANDBOX_ON ? -1 : 0;
	}

	/* a thread that runs already would stay outside, and share memory with those inside */
	if ((threads = sandbox_threads()) > 1) {
		snprintf(msg, msglen,
			 "sandbox: %d threads run already; Landlock would restrict only this one",
			 threads);
		return -1;
	}
	/* every filesystem right this kernel knows is handled: denied unless a rule allows it */
	handled = SANDBOX_FS_ABI1;
	if (abi >= 2)
		handled |= SANDBOX_FS_REFER;
	if (abi >= 3)
		handled |= SANDBOX_FS_TRUNCATE;
	if (abi >= 5)
		handled |= SANDBOX_FS_IOCTL_DEV;
	attr.handled_access_fs = handled;
	attr_size = sizeof(attr.handled_access_fs);
	if (abi >= 4)
		attr_size += sizeof(attr.handled_access_net);
	if (abi >= 6) {
		/* no connecting to abstract unix sockets of processes outside this sandbox, no
		 * signals to them: the mesh uses pathname sockets only */
		attr.scoped = SANDBOX_SCOPE_ABSTRACT_UNIX | SANDBOX_SCOPE_SIGNAL;
		attr_size += sizeof(attr.scoped);
	}
	/* the data dir: everything but executing and making device nodes */
	rw = handled & ~(SANDBOX_FS_EXECUTE | SANDBOX_FS_MAKE_CHAR | SANDBOX_FS_MAKE_BLOCK |
			 SANDBOX_FS_IOCTL_DEV);

	if (spec->data_dir != NULL && spec->data_dir[0] != '\0')
		rules[nrules++] = (sandbox_rule){spec->data_dir, rw, 1};
	/* code and libraries (the resolver's NSS modules are loaded at the first lookup; the
	 * sanitizers run llvm-symbolizer from /usr/bin for a report) */
	rules[nrules++] = (sandbox_rule){"/usr", rox, 0};
	rules[nrules++] = (sandbox_rule){"/lib", rox, 0};
	rules[nrules++] = (sandbox_rule){"/lib64", rox, 0};
	rules[nrules++] = (sandbox_rule){"/lib32", rox, 0};
	rules[nrules++] = (sandbox_rule){"/libx32", rox, 0};
	rules[nrules++] = (sandbox_rule){"/bin", rox, 0};
	rules[nrules++] = (sandbox_rule){"/sbin", rox, 0};
	/* resolv.conf, hosts, nsswitch.conf, gai.conf for DNS; readable to this user anyway */
	rules[nrules++] = (sandbox_rule){"/etc", ro, 0};
	/* /proc/self/stat(m) for the stats, /proc/self/maps for LSan; /sys for the CPU count */
	rules[nrules++] = (sandbox_rule){"/proc", ro, 0};
	rules[nrules++] = (sandbox_rule){"/sys", ro, 0};
	/* /dev/urandom; no device ioctl */
	rules[nrules++] = (sandbox_rule){"/dev", ro, 0};
	rules[nrules++] = (sandbox_rule){
	    "/dev/null", SANDBOX_FS_READ_FILE | SANDBOX_FS_WRITE_FILE | SANDBOX_FS_TRUNCATE, 0};
	/* its own executable (outside /usr in a build tree): the sanitizers' symbolizer reads it
	 * for a report's stack */
	if (realpath("/proc/self/exe", self) != NULL)
		rules[nrules++] =
		    (sandbox_rule){self, SANDBOX_FS_READ_FILE | SANDBOX_FS_EXECUTE, 0};
	if (sandbox_resolver_dir(resolver, sizeof(resolver)) == 0)
		rules[nrules++] = (sandbox_rule){resolver, SANDBOX_FS_READ_FILE, 0};
	nsystem = nrules;
	for (size_t i = 0; i < spec->nread_only; i++) {
		if (spec->read_only[i] == NULL)
			continue;
		rules[nrules++] = (sandbox_rule){spec->read_only[i], ro, 0};
	}
	/* an ipc:// listener binds its socket file there, and unlinks it (or a stale one) */
	for (size_t i = 0; i < spec->nsocket_dirs; i++)
		if (spec->socket_dirs[i] != NULL)
			rules[nrules++] = (sandbox_rule){
			    spec->socket_dirs[i], SANDBOX_FS_MAKE_SOCK | SANDBOX_FS_REMOVE_FILE, 0};

	ruleset = (int)syscall(__NR_landlock_create_ruleset, &attr, attr_size, 0);
	if (ruleset < 0) {
		snprintf(msg, msglen, "sandbox: landlock ABI %d: cannot create a ruleset: %s", abi,
			 strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < nrules; i++) {
		int added = sandbox_add(ruleset, &rules[i], handled, msg, msglen);
		if (added < 0) {
			close(ruleset);
			return -1;
		}
		/* the log names the read-only paths beyond the system's that exist */
		if (added && i >= nsystem && rules[i].access == ro && used < sizeof(extra))
			used += (size_t)snprintf(extra + used, sizeof(extra) - used, ", %s",
						 rules[i].path);
	}
	if (syscall(__NR_landlock_restrict_self, ruleset, 0) != 0) {
		snprintf(msg, msglen, "sandbox: landlock ABI %d: cannot restrict this process: %s",
			 abi, strerror(errno));
		close(ruleset);
		return -1;
	}
	close(ruleset);
	snprintf(msg, msglen,
		 "sandbox: landlock ABI %d: filesystem limited to %s%s%ssystem paths%s "
		 "(ro)%s%s; tcp not restricted",
		 abi, spec->data_dir != NULL && spec->data_dir[0] != '\0' ? "" : "reading ",
		 spec->data_dir != NULL ? spec->data_dir : "",
		 spec->data_dir != NULL && spec->data_dir[0] != '\0' ? " (rw) and " : "", extra,
		 spec->nsocket_dirs > 0 ? ", ipc sockets" : "",
		 abi >= 6 ? "; signals and abstract unix sockets scoped" : "");
	return 1;
}

void rt_sandbox_service_spec(rt_sandbox_spec *spec, rt_sandbox_paths *paths, const char *data_dir,
			     const char *seed, const char *policy, const char *run_dir,
			     const char *const *listen, int nlisten)
{
	static const char *const tls_env[] = {"CLEAVE_TLS_CERT", "CLEAVE_TLS_KEY", "CLEAVE_TLS_CA"};
	memset(spec, 0, sizeof(*spec));
	spec->data_dir = data_dir;
	snprintf(paths->targets, sizeof(paths->targets), "%s/targets", run_dir);
	spec->read_only[spec->nread_only++] = paths->targets;
	if (seed != NULL)
		spec->read_only[spec->nread_only++] = seed;
	if (policy != NULL)
		spec->read_only[spec->nread_only++] = policy;
	for (size_t i = 0; i < sizeof(tls_env) / sizeof(tls_env[0]); i++)
		if (getenv(tls_env[i]) != NULL && getenv(tls_env[i])[0] != '\0')
			spec->read_only[spec->nread_only++] = getenv(tls_env[i]);
	for (int i = 0; i < nlisten && spec->nsocket_dirs < RT_SANDBOX_MAX_PATHS; i++) {
		char *dir = paths->sock_dirs[spec->nsocket_dirs], *slash;
		if (strncmp(listen[i], "ipc://", 6) != 0)
			continue;
		snprintf(dir, sizeof(paths->sock_dirs[0]), "%s", listen[i] + 6);
		if ((slash = strrchr(dir, '/')) == NULL)
			snprintf(dir, sizeof(paths->sock_dirs[0]), ".");
		else if (slash == dir)
			slash[1] = '\0';
		else
			*slash = '\0';
		spec->socket_dirs[spec->nsocket_dirs++] = dir;
	}
}

/* sandbox_dir_of writes the directory path is in to out ("." for a bare name). */
static void sandbox_dir_of(const char *path, char *out, size_t outlen)
{
	char *slash;
	snprintf(out, outlen, "%s", path);
	if ((slash = strrchr(out, '/')) == NULL)
		snprintf(out, outlen, ".");
	else if (slash == out)
		slash[1] = '\0';
	else
		*slash = '\0';
}

void rt_sandbox_edge_spec(rt_sandbox_spec *spec, rt_sandbox_paths *paths, const char *targets_dir,
			  const char *const *watched, size_t nwatched)
{
	size_t ndirs = 0;
	memset(spec, 0, sizeof(*spec));
	if (targets_dir != NULL)
		spec->read_only[spec->nread_only++] = targets_dir;
	for (size_t i = 0; i < nwatched && i < RT_SANDBOX_MAX_WATCHED; i++) {
		char real[PATH_MAX], dir[4096];
		const char *candidates[2] = {watched[i], realpath(watched[i], real)};
		for (size_t c = 0; c < 2; c++) {
			int known = 0;
			if (candidates[c] == NULL)
				continue;
			sandbox_dir_of(candidates[c], dir, sizeof(dir));
			for (size_t k = 0; k < ndirs; k++)
				known |= strcmp(paths->watched_dirs[k], dir) == 0;
			if (known)
				continue;
			snprintf(paths->watched_dirs[ndirs], sizeof(paths->watched_dirs[0]), "%s",
				 dir);
			spec->read_only[spec->nread_only++] = paths->watched_dirs[ndirs++];
		}
	}
}
