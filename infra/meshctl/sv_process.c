/* sv_process.c: spawning instances, the monolith and the edge; stopping them; crash back-off. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "supervisor_internal.h"

#define SV_STOP_GRACE_US  5000000LL /* SIGTERM, then SIGKILL after this */
#define SV_BACKOFF_MIN_MS 100
#define SV_BACKOFF_MAX_MS 10000

/* sv_process_spawn starts argv[0] with stdout and stderr on a pipe whose read end goes to *out_fd,
 * in its own process group (a terminal's Ctrl-C reaches meshctl only, which stops the children in
 * order), killed if meshctl dies. Returns the pid, or -1. */
static pid_t sv_process_spawn(char *const argv[], int *out_fd, const sv_identity *as)
{
	int p[2];
	pid_t parent = getpid(), pid;
	if (pipe2(p, O_CLOEXEC) != 0)
		return -1;
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		sigset_t none;
		int devnull = open("/dev/null", O_RDONLY);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		if (devnull >= 0)
			dup2(devnull, 0);
		dup2(p[1], 1);
		dup2(p[1], 2);
		/* its own user when meshctl runs as root: its identity on the mesh, its files */
		if (as != NULL && as->valid &&
		    (setgroups(0, NULL) != 0 || setgid(as->gid) != 0 || setuid(as->uid) != 0)) {
			dprintf(2, "cannot become %s: %s\n", as->user, strerror(errno));
			_exit(126);
		}
		/* changing credentials clears the parent-death signal: set it (again) after */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		/* nothing it runs can gain privileges (setuid binaries, file capabilities) */
		prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
		execv(argv[0], argv);
		dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(p[1]);
	*out_fd = p[0];
	return pid;
}

/* sv_process_launch spawns argv (as as; NULL: as meshctl) with its output read into out, tagged
 * tag and logged to logfd (borrowed). Returns the pid, or 0 after logging that what could not
 * start. */
static pid_t sv_process_launch(supervisor *sv, char *const argv[], const sv_identity *as,
			       const char *what, sv_output *out, const char *tag, int logfd)
{
	int fd;
	pid_t pid = sv_process_spawn(argv, &fd, as);
	if (pid < 0) {
		sv_log(sv, "cannot start %s: %s", what, strerror(errno));
		return 0;
	}
	if (sv_output_open(sv, out, fd, tag, logfd) != 0)
		close(fd);
	return pid;
}

void sv_process_describe_exit(int status, char *out, size_t outlen)
{
	if (WIFEXITED(status))
		snprintf(out, outlen, "exit %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(out, outlen, "signal %d", WTERMSIG(status));
	else
		snprintf(out, outlen, "status %d", status);
}

int64_t sv_process_backoff(int *crashes_in_row, int64_t started_us, int64_t now)
{
	int64_t ms = SV_BACKOFF_MIN_MS;
	*crashes_in_row = now - started_us >= SV_STABLE_US ? 1 : *crashes_in_row + 1;
	for (int i = 1; i < *crashes_in_row && ms < SV_BACKOFF_MAX_MS; i++)
		ms *= 2;
	return (ms < SV_BACKOFF_MAX_MS ? ms : SV_BACKOFF_MAX_MS) * 1000;
}

/* sv_process_start_monolith starts the monolith if it is not running, and points every instance
 * record at it. */
static int sv_process_start_monolith(supervisor *sv)
{
	char bin[PATH_MAX], pattern[PATH_MAX + 32];
	char *argv[] = {bin,
			"--run-dir",
			(char *)sv->paths->run,
			"--state-dir",
			(char *)sv->paths->state,
			"--listen-pattern",
			pattern,
			"--manifests",
			(char *)sv->opts->manifests,
			NULL};
	if (sv->mono_pid == 0) {
		if (meshctl_bin_path(bin, sizeof(bin), "monolith") != 0 ||
		    snprintf(pattern, sizeof(pattern), "ipc://%s/monolith/%%s-1.sock",
			     sv->paths->run) >= (int)sizeof(pattern))
			return -1;
		sv->mono_pid = sv_process_launch(sv, argv, &sv->mono_as, "the monolith",
						 &sv->mono_out, "monolith", sv->mono_logfd);
		if (sv->mono_pid == 0)
			return -1;
		sv->mono_started_us = mesh_now_us();
	}
	for (size_t k = 0; k < sv->nsvcs; k++)
		for (size_t i = 0; i < sv->svcs[k].n; i++) {
			sv_instance *in = sv->svcs[k].inst[i];
			if (in->pid == 0) {
				in->pid = sv->mono_pid;
				in->started_us = sv->mono_started_us;
				in->kill_at_us = 0;
				in->health = MESH_INSTANCE_STARTING;
			}
		}
	return 0;
}

int sv_process_start_instance(supervisor *sv, sv_instance *in)
{
	char bin[PATH_MAX], data[PATH_MAX], tag[64];
	char *argv[] = {bin,
			"--listen",
			in->url,
			"--data-dir",
			data,
			"--run-dir",
			(char *)sv->paths->run,
			"--policy",
			in->svc->policy_path,
			"--policy-mode", /* the manifest's: its policy file does not say */
			in->svc->m->policy_audit ? "audit" : "enforce",
			NULL};
	if (sv->opts->monolith)
		return sv_process_start_monolith(sv);
	if (snprintf(data, sizeof(data), "%s/%s", sv->paths->state, in->svc->m->name) >=
	    (int)sizeof(data))
		return -1;
	snprintf(tag, sizeof(tag), "%s-%d", in->svc->m->name, in->index);
	if (meshctl_bin_path(bin, sizeof(bin), "svc-") != 0)
		return -1;
	snprintf(bin + strlen(bin), sizeof(bin) - strlen(bin), "%s", in->svc->m->name);
	in->pid = sv_process_launch(sv, argv, &in->svc->as, tag, &in->out, tag, in->svc->logfd);
	if (in->pid == 0)
		return -1;
	in->started_us = mesh_now_us();
	in->kill_at_us = 0;
	in->health = MESH_INSTANCE_STARTING;
	return 0;
}

int sv_process_start_edge(supervisor *sv)
{
	char bin[PATH_MAX], manifests[PATH_MAX], targets[PATH_MAX];
	char *argv[20];
	int argc = 0;
	if (meshctl_bin_path(bin, sizeof(bin), "edge") != 0)
		return -1;
	snprintf(manifests, sizeof(manifests), "%s", sv->opts->manifests);
	snprintf(targets, sizeof(targets), "%s", sv->paths->targets);
	argv[argc++] = bin;
	argv[argc++] = "--listen";
	argv[argc++] = sv->edge_listen;
	argv[argc++] = "--manifests";
	argv[argc++] = manifests;
	argv[argc++] = "--run-dir";
	argv[argc++] = (char *)sv->paths->run;
	argv[argc++] = "--targets-dir";
	argv[argc++] = targets;
	argv[argc++] = "--access-log";
	argv[argc++] = "-";
	if (sv->opts->admin_listen != NULL) {
		argv[argc++] = "--admin-listen";
		argv[argc++] = (char *)sv->opts->admin_listen;
	}
	if (sv->opts->https_cert != NULL) {
		/* over $CLEAVE_HTTPS_CERT/_KEY, which the edge would otherwise inherit */
		argv[argc++] = "--https-cert";
		argv[argc++] = (char *)sv->opts->https_cert;
		argv[argc++] = "--https-key";
		argv[argc++] = (char *)sv->opts->https_key;
	}
	argv[argc] = NULL;
	sv->edge_pid = sv_process_launch(sv, argv, &sv->edge_as, "the edge", &sv->edge_out, "edge",
					 sv->edge_logfd);
	if (sv->edge_pid == 0)
		return -1;
	sv->edge_started_us = mesh_now_us();
	return 0;
}

void sv_process_stop(pid_t pid, int64_t *kill_at_us, int64_t now)
{
	if (pid <= 0)
		return;
	if (*kill_at_us == 0) {
		kill(pid, SIGTERM);
		*kill_at_us = now + SV_STOP_GRACE_US;
	} else if (now >= *kill_at_us) {
		kill(pid, SIGKILL);
		*kill_at_us = now + 3600 * 1000000LL; /* once */
	}
}
