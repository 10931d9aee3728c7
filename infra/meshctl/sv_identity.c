/* sv_identity.c: as root, a system user per process and its directories; each call policy. */
#include <dirent.h>
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "policy.h"
#include "supervisor_internal.h"

/* sv_identity_ensure finds, or as root makes, the system user cleave-<name> (no home, no
 * shell) into out. Returns 0 or -1. */
static int sv_identity_ensure(supervisor *sv, const char *name, sv_identity *out)
{
	struct passwd pw, *found = NULL;
	char buf[2048];
	memset(out, 0, sizeof(*out));
	snprintf(out->user, sizeof(out->user), "cleave-%s", name);
	if (getpwnam_r(out->user, &pw, buf, sizeof(buf), &found) != 0 || found == NULL) {
		char *argv[] = {"useradd",	     "--system",     "--no-create-home",
				"--home-dir",	     "/nonexistent", "--shell",
				"/usr/sbin/nologin", out->user,	     NULL};
		int status = -1;
		pid_t pid = fork();
		if (pid == 0) {
			execvp("useradd", argv);
			_exit(127);
		}
		if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0 ||
		    getpwnam_r(out->user, &pw, buf, sizeof(buf), &found) != 0 || found == NULL) {
			sv_log(sv, "cannot make the system user %s (useradd)", out->user);
			return -1;
		}
		sv_log(sv, "made the system user %s", out->user);
	}
	out->uid = found->pw_uid;
	out->gid = found->pw_gid;
	out->valid = 1;
	return 0;
}

/* sv_identity_chown_tree gives path and everything under it to as, following no symbolic link
 * (a link itself changes owner), as nftw with FTW_PHYS did. Returns 0, or -1 with errno set. */
static int sv_identity_chown_tree(const char *path, const sv_identity *as)
{
	struct stat st;
	struct dirent *e;
	DIR *dir;
	int saved;
	if (lstat(path, &st) != 0 || lchown(path, as->uid, as->gid) != 0)
		return -1;
	if (!S_ISDIR(st.st_mode))
		return 0;
	dir = opendir(path);
	if (dir == NULL) /* a directory it may not read keeps what is in it, as nftw's FTW_DNR */
		return errno == EACCES ? 0 : -1;
	while ((e = readdir(dir)) != NULL) {
		char sub[PATH_MAX];
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name) >= (int)sizeof(sub)) {
			errno = ENAMETOOLONG;
			goto close_dir;
		}
		if (sv_identity_chown_tree(sub, as) != 0)
			goto close_dir;
	}
	closedir(dir);
	return 0;
close_dir:
	saved = errno;
	closedir(dir);
	errno = saved;
	return -1;
}

int sv_identity_assign(supervisor *sv, sv_service *s)
{
	char data[PATH_MAX + 64];
	/* the monolith is one process: every service's files are its user's */
	if (sv->opts->monolith)
		s->as = sv->mono_as;
	else if (sv_identity_ensure(sv, s->m->name, &s->as) != 0)
		return -1;
	/* its data directory (0700) and its socket directory, owned by its user */
	snprintf(data, sizeof(data), "%s/%s", sv->paths->state, s->m->name);
	if (rt_mkdirs(data, 0700) != 0 || sv_identity_chown_tree(data, &s->as) != 0 ||
	    chmod(data, 0700) != 0 || rt_mkdirs(s->sock_dir, 0755) != 0 ||
	    chown(s->sock_dir, s->as.uid, s->as.gid) != 0 || chmod(s->sock_dir, 0755) != 0) {
		sv_log(sv, "cannot give %s its directories: %s", s->as.user, strerror(errno));
		return -1;
	}
	return 0;
}

/* sv_identity_unreachable finds what keeps other users from path: the first directory on the
 * way (path itself included) that is not o+x, copied into out. Returns out, or NULL when other
 * users can reach path. */
static const char *sv_identity_unreachable(const char *path, char *out, size_t outlen)
{
	struct stat st;
	snprintf(out, outlen, "%s", path);
	for (;;) {
		char *slash;
		if (stat(out, &st) != 0 || !(st.st_mode & S_IXOTH))
			return out;
		slash = strrchr(out, '/');
		if (slash == NULL || slash == out)
			return NULL;
		*slash = '\0';
	}
}

/* sv_identity_refuse logs why the processes cannot have their own users; with --allow-root that
 * is only a warning and everything runs as root (returns 0), else the mesh does not start
 * (returns -1). */
static int sv_identity_refuse(supervisor *sv, const char *why)
{
	if (sv->opts->allow_root) {
		sv_log(sv,
		       "%s: with --allow-root, every process runs as root, with no identities "
		       "from uids",
		       why);
		sv->as_users = 0;
		return 0;
	}
	sv_log(sv,
	       "%s; meshctl will not run the edge and the services as root (--allow-root "
	       "would)",
	       why);
	return -1;
}

int sv_identity_prepare(supervisor *sv)
{
	const meshctl_paths *paths = sv->paths;
	char err[512], bin_dir[PATH_MAX], parent[PATH_MAX], why[3 * PATH_MAX];
	if (meshctl_bin_path(bin_dir, sizeof(bin_dir), "") != 0)
		snprintf(bin_dir, sizeof(bin_dir), "/");
	sv->as_users = geteuid() == 0;
	if (!sv->as_users)
		return 0;
	/* the users must run the binaries, read the seeds and manifests */
	if (sv_identity_unreachable(CLEAVE_SOURCE_DIR "/svc", err, sizeof(err)) != NULL ||
	    sv_identity_unreachable(bin_dir, err, sizeof(err)) != NULL ||
	    sv_identity_unreachable(sv->opts->manifests, err, sizeof(err)) != NULL) {
		snprintf(why, sizeof(why),
			 "the system users cannot reach %s (%s, %s and %s must be reachable: chmod "
			 "o+x the directories above them)",
			 err, bin_dir, CLEAVE_SOURCE_DIR "/svc", sv->opts->manifests);
		return sv_identity_refuse(sv, why);
	}
	/* the state directory itself meshctl makes 0711; everything above must let users through */
	snprintf(parent, sizeof(parent), "%s", paths->state);
	if (strrchr(parent, '/') != NULL && strrchr(parent, '/') != parent)
		*strrchr(parent, '/') = '\0';
	if (sv_identity_unreachable(parent, err, sizeof(err)) != NULL) {
		snprintf(why, sizeof(why),
			 "as root, every process runs as its own user and must reach %s, but %s is "
			 "not o+x: chmod o+x it, or choose another --state-dir",
			 paths->state, err);
		return sv_identity_refuse(sv, why);
	}
	if (sv_identity_ensure(sv, "edge", &sv->edge_as) != 0 ||
	    (sv->opts->monolith && sv_identity_ensure(sv, "monolith", &sv->mono_as) != 0))
		return sv_identity_refuse(sv, "the system users cannot be made");
	/* the edge reads its HTTPS certificate and key as cleave-edge, and again on each reload */
	for (int i = 0; sv->opts->https_cert != NULL && i < 2; i++) {
		const char *file = i == 0 ? sv->opts->https_cert : sv->opts->https_key;
		int e = meshctl_readable_as(file, sv->edge_as.uid, sv->edge_as.gid);
		if (e != 0) {
			sv_log(
			    sv,
			    "the edge runs as %s, which cannot read %s (%s): give it read access, "
			    "e.g. chgrp %s FILE && chmod g+r FILE, and o+x to the directories "
			    "above it",
			    sv->edge_as.user, file, strerror(e), sv->edge_as.user);
			return -1;
		}
	}
	if (chmod(paths->state, 0711) != 0 || chmod(paths->run, 0711) != 0 ||
	    chmod(paths->targets, 0711) != 0 || chmod(paths->policy, 0711) != 0) {
		sv_log(sv, "cannot prepare the state directory for the system users: %s",
		       strerror(errno));
		return -1;
	}
	if (sv->opts->monolith)
		sv_log(sv, "running as root: the monolith runs as cleave-monolith and the edge as "
			   "cleave-edge, with no_new_privs");
	else
		sv_log(sv, "running as root: each service and the edge run as their own user "
			   "(cleave-<name>), with no_new_privs");
	return 0;
}

int sv_identity_write_policy(supervisor *sv, size_t k, const char *path)
{
	char tmp[PATH_MAX + 8];
	FILE *f;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (f == NULL) {
		sv_log(sv, "cannot write %s: %s", tmp, strerror(errno));
		return -1;
	}
	policy_write(f, sv->ms, sv->nms, k);
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		sv_log(sv, "cannot write %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}
