/* supervisor.c: meshctl up's running mesh: instances at their counts, crash restarts with
 * backoff, target files, health through a target group per service, the edge, control calls. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <inttypes.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "manifest.h"
#include "mesh.h"
#include "meshctl.pb-c.h"
#include "policy.h"
#include "registry.h"
#include "supervisor.h"
#include "targets.h"

#define SV_MAX_INSTANCES  64
#define SV_SLOTS	  (2 * SV_MAX_INSTANCES) /* active plus draining */
#define SV_TICK_MS	  50
#define SV_STOP_GRACE_US  5000000LL  /* SIGTERM, then SIGKILL after this */
#define SV_STABLE_US	  10000000LL /* up this long: the next crash starts a new series */
#define SV_BACKOFF_MIN_MS 100
#define SV_BACKOFF_MAX_MS 10000
#define SV_CRASH_LOOP	  3	     /* crashes in a row reported as a crash loop */
#define SV_READY_WAIT_US  10000000LL /* at start, wait this long for healthy instances */

struct supervisor;

/* sv_output: a child's stdout+stderr, split into lines, tagged, logged. */
typedef struct sv_output {
	struct supervisor *sv;
	int fd;	     /* the read end of the pipe; the loop's once watched */
	void *watch; /* NULL once closed */
	char tag[64];
	int logfd; /* borrowed: the service's log file */
	char buf[8192];
	size_t len;
} sv_output;

/* sv_instance: one process slot of a service. */
typedef struct sv_instance {
	struct sv_service *svc;
	int index;
	char url[RT_TARGET_URL_MAX];
	pid_t pid; /* 0 while not running */
	sv_output out;
	int64_t started_us;
	int restarts;
	int crashes_in_row;
	int64_t restart_at_us; /* while pid is 0: when to start it again */
	char last_exit[32];
	int draining;
	int64_t drain_until_us; /* while draining: when to stop it */
	int64_t kill_at_us;	/* after SIGTERM: when to SIGKILL; 0 before */
	mesh_instance_state health;
} sv_instance;

/* sv_identity: the system user a process runs as, when meshctl runs as root. */
typedef struct sv_identity {
	int valid;
	char user[64]; /* "cleave-users" */
	uid_t uid;
	gid_t gid;
} sv_identity;

/* sv_service: one manifest's instances and its target group. */
typedef struct sv_service {
	const manifest *m;
	const ProtobufCServiceDescriptor *desc;
	int desired;
	sv_instance *inst[SV_SLOTS];
	size_t n;
	mesh_client *group; /* health-checked target group over every instance */
	int logfd;
	char targets_path[PATH_MAX];
	int targets_dirty;
	char policy_path[PATH_MAX]; /* who may call it: <run>/policy/<name> */
	sv_identity as;		    /* its user, when meshctl runs as root */
	char sock_dir[PATH_MAX];    /* where its instances' sockets are */
} sv_service;

enum { SV_RUNNING, SV_STOPPING_EDGE, SV_STOPPING_SERVICES, SV_DONE };

typedef struct supervisor {
	const meshctl_paths *paths;
	const supervisor_opts *opts;
	manifest **ms;
	size_t nms;
	sv_service *svcs;
	size_t nsvcs;
	mesh_epoll *ep;
	int sigfd;
	int wakefd;
	void *sigwatch, *wakewatch; /* the loop's handles of sigfd and wakefd */
	pthread_mutex_t lock;	    /* the state below, shared with the control server's threads */
	mesh_server *control;
	int phase;
	int64_t phase_deadline_us;
	int stop_requested;
	/* the edge */
	pid_t edge_pid;
	sv_output edge_out;
	int edge_logfd;
	char edge_listen[128];
	char edge_url[160];
	int edge_crashes;
	int64_t edge_started_us;
	int64_t edge_restart_at_us;
	int ready_sent;
	int64_t started_us;
	int unclean_stops; /* processes told to stop that did not exit 0 */
	int as_users;	   /* root: each service and the edge run as their own system user */
	sv_identity edge_as;
	/* with --monolith: the one process every instance record points at */
	pid_t mono_pid;
	sv_output mono_out;
	int mono_logfd;
	int64_t mono_started_us;
} supervisor;

static supervisor *the_supervisor; /* for the control service's handlers */

static void sv_log(supervisor *sv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* sv_log prints a line of meshctl's own on stderr. */
static void sv_log(supervisor *sv, const char *fmt, ...)
{
	va_list ap;
	(void)sv;
	fprintf(stderr, "meshctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---- child output --------------------------------------------------------------------------- */

static void sv_output_line(sv_output *o, const char *line, size_t len)
{
	char stamp[64], head[160];
	struct timespec ts;
	struct tm tm;
	int n;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	n = snprintf(head, sizeof(head), "%s.%03ldZ %s ", stamp, ts.tv_nsec / 1000000, o->tag);
	if (o->logfd >= 0) {
		/* one write per line, so lines of several instances never interleave */
		char whole[sizeof(o->buf) + sizeof(head) + 2];
		size_t w = (size_t)n;
		memcpy(whole, head, w);
		memcpy(whole + w, line, len);
		w += len;
		whole[w++] = '\n';
		if (write(o->logfd, whole, w) < 0) {
			/* a full disk must not stop the mesh */
		}
	}
	if (o->sv->opts->foreground) {
		fprintf(stdout, "%-10s| %.*s\n", o->tag, (int)len, line);
		fflush(stdout);
	}
	if (o == &o->sv->edge_out && o->sv->edge_url[0] == '\0') {
		const char *at = memmem(line, len, "listening on http://", 20);
		if (at != NULL) {
			size_t skip = (size_t)(at - line) + 13, k = 0;
			while (skip + k < len && line[skip + k] != ' ' &&
			       k + 1 < sizeof(o->sv->edge_url))
				k++;
			memcpy(o->sv->edge_url, line + skip, k);
			o->sv->edge_url[k] = '\0';
		}
	}
}

static void sv_output_close(supervisor *sv, sv_output *o)
{
	if (o->len > 0)
		sv_output_line(o, o->buf, o->len);
	o->len = 0;
	if (o->watch != NULL)
		mesh_epoll_loop(sv->ep)->ops->unwatch(mesh_epoll_loop(sv->ep), o->watch);
	o->watch = NULL;
	o->fd = -1;
}

static void sv_output_cb(void *arg, int events)
{
	sv_output *o = arg;
	supervisor *sv = o->sv;
	ssize_t got;
	(void)events;
	pthread_mutex_lock(&sv->lock);
	got = read(o->fd, o->buf + o->len, sizeof(o->buf) - o->len);
	if (got <= 0) {
		if (got == 0 || (errno != EAGAIN && errno != EINTR))
			sv_output_close(sv, o);
		pthread_mutex_unlock(&sv->lock);
		return;
	}
	o->len += (size_t)got;
	for (;;) {
		char *nl = memchr(o->buf, '\n', o->len);
		size_t line;
		if (nl == NULL) {
			if (o->len == sizeof(o->buf)) { /* a line longer than the buffer: cut it */
				sv_output_line(o, o->buf, o->len);
				o->len = 0;
			}
			break;
		}
		line = (size_t)(nl - o->buf);
		sv_output_line(o, o->buf, line);
		memmove(o->buf, nl + 1, o->len - line - 1);
		o->len -= line + 1;
	}
	pthread_mutex_unlock(&sv->lock);
}

/* sv_output_open starts reading fd (taken) into lines tagged tag. Returns 0 or -1. */
static int sv_output_open(supervisor *sv, sv_output *o, int fd, const char *tag, int logfd)
{
	mesh_loop *loop = mesh_epoll_loop(sv->ep);
	o->sv = sv;
	o->fd = fd;
	o->len = 0;
	o->logfd = logfd;
	snprintf(o->tag, sizeof(o->tag), "%s", tag);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	o->watch = loop->ops->watch(loop, fd, sv_output_cb, o);
	return o->watch != NULL ? 0 : -1;
}

/* ---- processes ------------------------------------------------------------------------------ */

/* sv_spawn starts argv[0] with stdout and stderr on a pipe whose read end goes to *out_fd, in
 * its own process group (a terminal's Ctrl-C reaches meshctl only, which stops the children in
 * order), killed if meshctl dies. Returns the pid, or -1. */
static pid_t sv_spawn(char *const argv[], int *out_fd, const sv_identity *as)
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

static void describe_exit(int status, char *out, size_t outlen)
{
	if (WIFEXITED(status))
		snprintf(out, outlen, "exit %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(out, outlen, "signal %d", WTERMSIG(status));
	else
		snprintf(out, outlen, "status %d", status);
}

static int64_t backoff_us(int crashes_in_row)
{
	int64_t ms = SV_BACKOFF_MIN_MS;
	for (int i = 1; i < crashes_in_row && ms < SV_BACKOFF_MAX_MS; i++)
		ms *= 2;
	return (ms < SV_BACKOFF_MAX_MS ? ms : SV_BACKOFF_MAX_MS) * 1000;
}

/* sv_monolith_start starts the monolith if it is not running, and points every instance
 * record at it. */
static int sv_monolith_start(supervisor *sv)
{
	char bin[PATH_MAX], pattern[PATH_MAX + 16];
	char *argv[] = {bin,
			"--run-dir",
			(char *)sv->paths->run,
			"--state-dir",
			(char *)sv->paths->state,
			"--listen-pattern",
			pattern,
			NULL};
	int fd;
	if (sv->mono_pid == 0) {
		if (meshctl_bin_path(bin, sizeof(bin), "monolith") != 0 ||
		    snprintf(pattern, sizeof(pattern), "ipc://%s/%%s-1.sock", sv->paths->run) >=
			(int)sizeof(pattern))
			return -1;
		sv->mono_pid = sv_spawn(argv, &fd, NULL);
		if (sv->mono_pid < 0) {
			sv->mono_pid = 0;
			sv_log(sv, "cannot start the monolith: %s", strerror(errno));
			return -1;
		}
		sv->mono_started_us = mesh_now_us();
		if (sv_output_open(sv, &sv->mono_out, fd, "monolith", sv->mono_logfd) != 0)
			close(fd);
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

static int sv_instance_start(supervisor *sv, sv_instance *in)
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
			NULL};
	int fd;
	if (sv->opts->monolith)
		return sv_monolith_start(sv);
	if (snprintf(data, sizeof(data), "%s/%s", sv->paths->state, in->svc->m->name) >=
	    (int)sizeof(data))
		return -1;
	snprintf(tag, sizeof(tag), "%s-%d", in->svc->m->name, in->index);
	if (meshctl_bin_path(bin, sizeof(bin), "svc-") != 0)
		return -1;
	snprintf(bin + strlen(bin), sizeof(bin) - strlen(bin), "%s", in->svc->m->name);
	in->pid = sv_spawn(argv, &fd, &in->svc->as);
	if (in->pid < 0) {
		in->pid = 0;
		sv_log(sv, "cannot start %s: %s", tag, strerror(errno));
		return -1;
	}
	in->started_us = mesh_now_us();
	in->kill_at_us = 0;
	in->health = MESH_INSTANCE_STARTING;
	if (sv_output_open(sv, &in->out, fd, tag, in->svc->logfd) != 0)
		close(fd);
	return 0;
}

static int sv_edge_start(supervisor *sv)
{
	char bin[PATH_MAX], manifests[PATH_MAX], targets[PATH_MAX];
	char *argv[16];
	int argc = 0, fd;
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
	argv[argc] = NULL;
	sv->edge_pid = sv_spawn(argv, &fd, &sv->edge_as);
	if (sv->edge_pid < 0) {
		sv->edge_pid = 0;
		sv_log(sv, "cannot start the edge: %s", strerror(errno));
		return -1;
	}
	sv->edge_started_us = mesh_now_us();
	if (sv_output_open(sv, &sv->edge_out, fd, "edge", sv->edge_logfd) != 0)
		close(fd);
	return 0;
}

/* ---- instances and targets ------------------------------------------------------------------ */

static int sv_active_count(const sv_service *s)
{
	int n = 0;
	for (size_t i = 0; i < s->n; i++)
		n += !s->inst[i]->draining;
	return n;
}

static sv_instance *sv_instance_add(supervisor *sv, sv_service *s)
{
	sv_instance *in;
	int index = 1;
	/* the lowest index no current instance (draining included) holds */
	for (;;) {
		size_t i;
		for (i = 0; i < s->n && s->inst[i]->index != index; i++)
			;
		if (i == s->n)
			break;
		index++;
	}
	if (s->n == SV_SLOTS || (in = calloc(1, sizeof(*in))) == NULL)
		return NULL;
	in->svc = s;
	in->index = index;
	in->out.fd = -1;
	if (snprintf(in->url, sizeof(in->url), "ipc://%s/%s-%d.sock", s->sock_dir, s->m->name,
		     index) >= (int)sizeof(in->url)) {
		free(in);
		return NULL;
	}
	s->inst[s->n++] = in;
	s->targets_dirty = 1;
	mesh_client_dial(s->group, in->url);
	return in;
}

static void sv_instance_remove(supervisor *sv, sv_service *s, size_t i)
{
	sv_instance *in = s->inst[i];
	char sock[PATH_MAX];
	sv_output_close(sv, &in->out);
	mesh_client_undial(s->group, in->url);
	snprintf(sock, sizeof(sock), "%s", in->url + strlen("ipc://"));
	unlink(sock);
	memmove(&s->inst[i], &s->inst[i + 1], (s->n - i - 1) * sizeof(s->inst[0]));
	s->n--;
	s->targets_dirty = 1;
	free(in);
}

static void sv_targets_publish(supervisor *sv, sv_service *s)
{
	rt_target t[SV_SLOTS];
	if (!s->targets_dirty)
		return;
	for (size_t i = 0; i < s->n; i++) {
		memset(&t[i], 0, sizeof(t[i]));
		snprintf(t[i].url, sizeof(t[i].url), "%s", s->inst[i]->url);
		t[i].draining = s->inst[i]->draining;
	}
	if (rt_targets_write(s->targets_path, t, s->n) != 0)
		sv_log(sv, "cannot write %s: %s", s->targets_path, strerror(errno));
	else
		s->targets_dirty = 0;
}

/* sv_scale brings s's active instances to its desired count: new ones start, surplus ones are
 * drained (the highest indexes first) and stopped after the deregistration delay. */
static void sv_scale(supervisor *sv, sv_service *s, int64_t now)
{
	int active = sv_active_count(s);
	while (active < s->desired) {
		sv_instance *in = sv_instance_add(sv, s);
		if (in == NULL)
			break;
		sv_instance_start(sv, in);
		active++;
	}
	while (active > s->desired) {
		sv_instance *victim = NULL;
		for (size_t i = 0; i < s->n; i++)
			if (!s->inst[i]->draining &&
			    (victim == NULL || s->inst[i]->index > victim->index))
				victim = s->inst[i];
		victim->draining = 1;
		victim->drain_until_us = now + s->m->deregistration_delay_ms * 1000;
		s->targets_dirty = 1;
		sv_log(sv, "%s-%d: draining for %" PRId64 " ms, then stopping", s->m->name,
		       victim->index, (int64_t)s->m->deregistration_delay_ms);
		active--;
	}
}

static void sv_stop_process(pid_t pid, int64_t *kill_at_us, int64_t now)
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

/* sv_reaped handles the exit of pid. */
static void sv_reaped(supervisor *sv, pid_t pid, int status, int64_t now)
{
	char how[32];
	describe_exit(status, how, sizeof(how));
	if (pid == sv->edge_pid) {
		sv_output_close(sv, &sv->edge_out);
		sv->edge_pid = 0;
		if (sv->phase != SV_RUNNING && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
			sv_log(sv, "the edge stopped uncleanly (%s)", how);
			sv->unclean_stops++;
		}
		if (sv->phase == SV_RUNNING) {
			sv->edge_crashes =
			    now - sv->edge_started_us >= SV_STABLE_US ? 1 : sv->edge_crashes + 1;
			sv->edge_restart_at_us = now + backoff_us(sv->edge_crashes);
			sv_log(sv, "the edge exited (%s); restarting it in %" PRId64 " ms", how,
			       backoff_us(sv->edge_crashes) / 1000);
		}
		return;
	}
	if (pid == sv->mono_pid) {
		/* every instance record was this one process */
		sv_output_close(sv, &sv->mono_out);
		sv->mono_pid = 0;
		for (size_t k = 0; k < sv->nsvcs; k++) {
			sv_service *s = &sv->svcs[k];
			for (size_t i = 0; i < s->n; i++) {
				sv_instance *in = s->inst[i];
				in->pid = 0;
				snprintf(in->last_exit, sizeof(in->last_exit), "%s", how);
				if (sv->phase != SV_RUNNING) {
					sv_instance_remove(sv, s, i--);
					continue;
				}
				in->crashes_in_row = now - in->started_us >= SV_STABLE_US
							 ? 1
							 : in->crashes_in_row + 1;
				in->restarts++;
				in->restart_at_us = now + backoff_us(in->crashes_in_row);
			}
		}
		if (sv->phase != SV_RUNNING && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
			sv_log(sv, "the monolith stopped uncleanly (%s)", how);
			sv->unclean_stops++;
		} else if (sv->phase == SV_RUNNING) {
			sv_log(sv, "the monolith exited (%s); restarting it", how);
		}
		return;
	}
	for (size_t k = 0; k < sv->nsvcs; k++) {
		sv_service *s = &sv->svcs[k];
		for (size_t i = 0; i < s->n; i++) {
			sv_instance *in = s->inst[i];
			if (in->pid != pid)
				continue;
			in->pid = 0;
			snprintf(in->last_exit, sizeof(in->last_exit), "%s", how);
			if (in->draining || sv->phase != SV_RUNNING) {
				if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
					sv_log(sv, "%s-%d stopped uncleanly (%s)", s->m->name,
					       in->index, how);
					sv->unclean_stops++;
				}
				sv_instance_remove(sv, s, i);
				return;
			}
			sv_output_close(sv, &in->out);
			in->crashes_in_row =
			    now - in->started_us >= SV_STABLE_US ? 1 : in->crashes_in_row + 1;
			in->restarts++;
			in->restart_at_us = now + backoff_us(in->crashes_in_row);
			sv_log(sv, "%s-%d exited (%s); restarting in %" PRId64 " ms%s", s->m->name,
			       in->index, how, backoff_us(in->crashes_in_row) / 1000,
			       in->crashes_in_row >= SV_CRASH_LOOP ? " (crash loop)" : "");
			return;
		}
	}
}

static void sv_reap_all(supervisor *sv, int64_t now)
{
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		sv_reaped(sv, pid, status, now);
}

static int sv_all_stopped(const supervisor *sv)
{
	for (size_t k = 0; k < sv->nsvcs; k++)
		for (size_t i = 0; i < sv->svcs[k].n; i++)
			if (sv->svcs[k].inst[i]->pid != 0)
				return 0;
	return 1;
}

/* sv_snapshot_health copies each instance's state from its service's target group. */
static void sv_snapshot_health(supervisor *sv)
{
	mesh_instance_info info[SV_SLOTS];
	for (size_t k = 0; k < sv->nsvcs; k++) {
		sv_service *s = &sv->svcs[k];
		size_t n = mesh_client_instance_info(s->group, info, SV_SLOTS);
		if (n > SV_SLOTS)
			n = SV_SLOTS;
		for (size_t i = 0; i < s->n; i++)
			for (size_t j = 0; j < n; j++)
				if (strcmp(info[j].url, s->inst[i]->url) == 0)
					s->inst[i]->health = info[j].state;
	}
}

static int sv_ready(const supervisor *sv)
{
	if (sv->edge_url[0] == '\0')
		return 0;
	for (size_t k = 0; k < sv->nsvcs; k++) {
		int healthy = 0;
		for (size_t i = 0; i < sv->svcs[k].n; i++)
			healthy += sv->svcs[k].inst[i]->health == MESH_INSTANCE_HEALTHY;
		if (healthy == 0 && sv->svcs[k].desired > 0)
			return 0;
	}
	return 1;
}

/* sv_tick does everything that is due; called with the lock held. */
static void sv_tick(supervisor *sv)
{
	int64_t now = mesh_now_us();
	sv_reap_all(sv, now);
	sv_snapshot_health(sv);
	if (sv->phase == SV_RUNNING && sv->stop_requested) {
		sv->phase = SV_STOPPING_EDGE;
		sv_log(sv, "stopping: the edge first, then the services");
	}
	switch (sv->phase) {
	case SV_RUNNING:
		for (size_t k = 0; k < sv->nsvcs; k++) {
			sv_service *s = &sv->svcs[k];
			sv_scale(sv, s, now);
			for (size_t i = 0; i < s->n; i++) {
				sv_instance *in = s->inst[i];
				if (in->draining && in->pid == 0) {
					sv_instance_remove(sv, s, i--);
					continue;
				}
				if (in->draining && now >= in->drain_until_us)
					sv_stop_process(in->pid, &in->kill_at_us, now);
				else if (in->pid == 0 && now >= in->restart_at_us)
					sv_instance_start(sv, in);
			}
		}
		if (sv->edge_pid == 0 && now >= sv->edge_restart_at_us)
			sv_edge_start(sv);
		if (!sv->ready_sent &&
		    (sv_ready(sv) ||
		     (sv->edge_url[0] != '\0' && now - sv->started_us > SV_READY_WAIT_US))) {
			sv->ready_sent = 1;
			if (sv->opts->ready_fd >= 0) {
				dprintf(sv->opts->ready_fd, "ready %s\n", sv->edge_url);
				close(sv->opts->ready_fd);
			}
			sv_log(sv, "the forum API is at %s/api (meshctl status shows the mesh)",
			       sv->edge_url);
		}
		break;
	case SV_STOPPING_EDGE:
		if (sv->edge_pid != 0) {
			sv_stop_process(sv->edge_pid, &sv->phase_deadline_us, now);
			break;
		}
		sv->phase = SV_STOPPING_SERVICES;
		for (size_t k = 0; k < sv->nsvcs; k++)
			for (size_t i = 0; i < sv->svcs[k].n; i++)
				sv->svcs[k].inst[i]->kill_at_us = 0;
		/* fall through */
	case SV_STOPPING_SERVICES:
		for (size_t k = 0; k < sv->nsvcs; k++) {
			sv_service *s = &sv->svcs[k];
			for (size_t i = 0; i < s->n; i++) {
				if (s->inst[i]->pid == 0) {
					sv_instance_remove(sv, s, i--);
					continue;
				}
				sv_stop_process(s->inst[i]->pid, &s->inst[i]->kill_at_us, now);
			}
		}
		if (sv_all_stopped(sv))
			sv->phase = SV_DONE;
		break;
	default:
		break;
	}
	for (size_t k = 0; k < sv->nsvcs; k++)
		sv_targets_publish(sv, &sv->svcs[k]);
}

/* ---- signals and wake-ups ------------------------------------------------------------------- */

static void sv_signal_cb(void *arg, int events)
{
	supervisor *sv = arg;
	struct signalfd_siginfo si;
	(void)events;
	pthread_mutex_lock(&sv->lock);
	while (read(sv->sigfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM) {
			if (!sv->stop_requested)
				sv_log(sv, "%s: stopping the mesh", strsignal((int)si.ssi_signo));
			sv->stop_requested = 1;
		}
	}
	sv_tick(sv);
	pthread_mutex_unlock(&sv->lock);
}

static void sv_wake_cb(void *arg, int events)
{
	supervisor *sv = arg;
	uint64_t v;
	(void)events;
	pthread_mutex_lock(&sv->lock);
	while (read(sv->wakefd, &v, sizeof(v)) == sizeof(v))
		;
	sv_tick(sv);
	pthread_mutex_unlock(&sv->lock);
}

static void sv_wake(supervisor *sv)
{
	uint64_t one = 1;
	if (write(sv->wakefd, &one, sizeof(one)) < 0) {
		/* the counter is full: a wake-up is pending anyway */
	}
}

/* ---- the control service -------------------------------------------------------------------- */

static const char *sv_state_name(const sv_instance *in)
{
	if (in->draining)
		return "draining";
	if (in->pid == 0)
		return "restarting";
	switch (in->health) {
	case MESH_INSTANCE_HEALTHY:
		return "healthy";
	case MESH_INSTANCE_UNHEALTHY:
		return "unhealthy";
	default:
		return "starting";
	}
}

static void control_status(Meshctl__Control_Service *service, const Meshctl__StatusRequest *input,
			   Meshctl__StatusReply_Closure closure, void *closure_data)
{
	supervisor *sv = the_supervisor;
	Meshctl__StatusReply reply = MESHCTL__STATUS_REPLY__INIT;
	Meshctl__Instance *inst = NULL, **instp = NULL;
	Meshctl__Service *svcs = NULL, **svcp = NULL;
	size_t total = 0, k2 = 0;
	int64_t now = mesh_now_us();
	(void)service;
	(void)input;
	pthread_mutex_lock(&sv->lock);
	for (size_t k = 0; k < sv->nsvcs; k++)
		total += sv->svcs[k].n;
	inst = calloc(total ? total : 1, sizeof(*inst));
	instp = calloc(total ? total : 1, sizeof(*instp));
	svcs = calloc(sv->nsvcs ? sv->nsvcs : 1, sizeof(*svcs));
	svcp = calloc(sv->nsvcs ? sv->nsvcs : 1, sizeof(*svcp));
	if (inst == NULL || instp == NULL || svcs == NULL || svcp == NULL) {
		pthread_mutex_unlock(&sv->lock);
		mesh_fail(closure_data, MESH_RESOURCE_EXHAUSTED, "out of memory");
		closure(NULL, closure_data);
		goto out;
	}
	for (size_t k = 0; k < sv->nsvcs; k++) {
		sv_service *s = &sv->svcs[k];
		int running = 0;
		for (size_t i = 0; i < s->n; i++, k2++) {
			sv_instance *in = s->inst[i];
			Meshctl__Instance *o = &inst[k2];
			meshctl__instance__init(o);
			o->service = (char *)s->m->name;
			o->index = in->index;
			o->pid = in->pid;
			o->address = in->url;
			o->state = (char *)sv_state_name(in);
			o->restarts = in->restarts;
			o->uptime_ms = in->pid != 0 ? (now - in->started_us) / 1000 : 0;
			o->last_exit = in->last_exit;
			o->crash_loop = in->crashes_in_row >= SV_CRASH_LOOP;
			instp[k2] = o;
			running += in->pid != 0;
		}
		meshctl__service__init(&svcs[k]);
		svcs[k].name = (char *)s->m->name;
		svcs[k].desired = s->desired;
		svcs[k].running = running;
		svcp[k] = &svcs[k];
	}
	reply.n_instances = total;
	reply.instances = instp;
	reply.n_services = sv->nsvcs;
	reply.services = svcp;
	reply.edge_url = sv->edge_url;
	reply.edge_pid = sv->edge_pid;
	reply.pid = getpid();
	reply.state_dir = (char *)sv->paths->state;
	closure(&reply, closure_data); /* packed at once, under the lock */
	pthread_mutex_unlock(&sv->lock);
out:
	free(inst);
	free(instp);
	free(svcs);
	free(svcp);
}

static void control_scale(Meshctl__Control_Service *service, const Meshctl__ScaleRequest *input,
			  Meshctl__ScaleReply_Closure closure, void *closure_data)
{
	supervisor *sv = the_supervisor;
	Meshctl__ScaleReply reply = MESHCTL__SCALE_REPLY__INIT;
	sv_service *s = NULL;
	(void)service;
	if (input->count < 0 || input->count > SV_MAX_INSTANCES) {
		mesh_fail(closure_data, MESH_INVALID_ARGUMENT, "count must be 0 to %d, not %d",
			  SV_MAX_INSTANCES, input->count);
		closure(NULL, closure_data);
		return;
	}
	pthread_mutex_lock(&sv->lock);
	for (size_t k = 0; k < sv->nsvcs; k++)
		if (strcmp(sv->svcs[k].m->name, input->service) == 0)
			s = &sv->svcs[k];
	if (s == NULL || sv->phase != SV_RUNNING) {
		pthread_mutex_unlock(&sv->lock);
		if (s == NULL)
			mesh_fail(closure_data, MESH_NOT_FOUND, "no service '%s'", input->service);
		else
			mesh_fail(closure_data, MESH_FAILED_PRECONDITION, "the mesh is stopping");
		closure(NULL, closure_data);
		return;
	}
	if (sv->opts->monolith && input->count != 1) {
		pthread_mutex_unlock(&sv->lock);
		mesh_fail(closure_data, MESH_FAILED_PRECONDITION,
			  "the monolith runs every service once; scaling needs meshctl up without "
			  "--monolith");
		closure(NULL, closure_data);
		return;
	}
	reply.previous = s->desired;
	reply.count = s->desired = input->count;
	sv_log(sv, "scale %s: %d -> %d", s->m->name, reply.previous, reply.count);
	pthread_mutex_unlock(&sv->lock);
	sv_wake(sv);
	closure(&reply, closure_data);
}

static void control_down(Meshctl__Control_Service *service, const Meshctl__DownRequest *input,
			 Meshctl__DownReply_Closure closure, void *closure_data)
{
	supervisor *sv = the_supervisor;
	Meshctl__DownReply reply = MESHCTL__DOWN_REPLY__INIT;
	(void)service;
	(void)input;
	pthread_mutex_lock(&sv->lock);
	if (!sv->stop_requested)
		sv_log(sv, "down requested: stopping the mesh");
	sv->stop_requested = 1;
	pthread_mutex_unlock(&sv->lock);
	sv_wake(sv);
	closure(&reply, closure_data);
}

static Meshctl__Control_Service control_impl = MESHCTL__CONTROL__INIT(control_);

/* ---- start and stop ------------------------------------------------------------------------- */

/* sv_claim_pidfile records this supervisor, failing if another one runs on the state dir. */
static int sv_claim_pidfile(supervisor *sv)
{
	FILE *f = fopen(sv->paths->pidfile, "r");
	long other = 0;
	if (f != NULL) {
		if (fscanf(f, "%ld", &other) != 1)
			other = 0;
		fclose(f);
		if (other > 0 && other != getpid() && kill((pid_t)other, 0) == 0) {
			sv_log(sv,
			       "a mesh already runs from %s (meshctl pid %ld); meshctl down first",
			       sv->paths->state, other);
			return -1;
		}
	}
	f = fopen(sv->paths->pidfile, "w");
	if (f == NULL) {
		sv_log(sv, "cannot write %s: %s", sv->paths->pidfile, strerror(errno));
		return -1;
	}
	fprintf(f, "%ld\n", (long)getpid());
	fclose(f);
	return 0;
}

static int sv_open_log(supervisor *sv, const char *name)
{
	char path[PATH_MAX];
	int fd;
	if (snprintf(path, sizeof(path), "%s/%s.log", sv->paths->logs, name) >= (int)sizeof(path))
		return -1;
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		sv_log(sv, "cannot open %s: %s", path, strerror(errno));
	return fd;
}

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

/* sv_chown_tree gives path and everything under it to as. */
static uid_t chown_uid;
static gid_t chown_gid;
static int chown_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return lchown(path, chown_uid, chown_gid) != 0 ? -1 : 0;
}

static int sv_chown_tree(const char *path, const sv_identity *as)
{
	chown_uid = as->uid;
	chown_gid = as->gid;
	return nftw(path, chown_one, 16, FTW_PHYS);
}

/* sv_own_dirs, as root: the state, run, target and policy directories become traversable by
 * the service users (0711: nothing listed); each service gets its data directory (0700) and its
 * socket directory, owned by its user. */
static int sv_own_dirs(supervisor *sv, sv_service *s)
{
	char data[PATH_MAX + 64];
	snprintf(data, sizeof(data), "%s/%s", sv->paths->state, s->m->name);
	if (meshctl_mkdirs(data, 0700) != 0 || sv_chown_tree(data, &s->as) != 0 ||
	    chmod(data, 0700) != 0 || meshctl_mkdirs(s->sock_dir, 0755) != 0 ||
	    chown(s->sock_dir, s->as.uid, s->as.gid) != 0 || chmod(s->sock_dir, 0755) != 0) {
		sv_log(sv, "cannot give %s its directories: %s", s->as.user, strerror(errno));
		return -1;
	}
	return 0;
}

/* sv_unreachable finds what keeps other users from path: the first directory on the way
 * (path itself included) that is not o+x, copied into out. Returns out, or NULL when other users
 * can reach path. */
static const char *sv_unreachable(const char *path, char *out, size_t outlen)
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

/* sv_write_policy writes manifest k's call policy to path (replaced atomically). */
static int sv_write_policy(supervisor *sv, size_t k, const char *path)
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

static int sv_services_init(supervisor *sv)
{
	mesh_loop *loop = mesh_epoll_loop(sv->ep);
	sv->svcs = calloc(sv->nms ? sv->nms : 1, sizeof(*sv->svcs));
	if (sv->svcs == NULL)
		return -1;
	for (size_t k = 0; k < sv->nms; k++) {
		sv_service *s = &sv->svcs[sv->nsvcs];
		const manifest *m = sv->ms[k];
		mesh_client_opts co = {
		    .caller = "meshctl", .loop = loop, .timeout_ms = m->health.timeout_ms};
		mesh_health_opts ho = {.interval_ms = (int)m->health.interval_ms,
				       .timeout_ms = (int)m->health.timeout_ms,
				       .healthy_threshold = m->health.healthy_threshold,
				       .unhealthy_threshold = m->health.unhealthy_threshold,
				       .grace_ms = (int)m->health.grace_period_ms};
		s->m = m;
		s->desc = registry_find_service(m->service);
		s->desired = sv->opts->monolith ? 1 : m->count;
		s->logfd = sv_open_log(sv, m->name);
		if (snprintf(s->targets_path, sizeof(s->targets_path), "%s/%s", sv->paths->targets,
			     m->name) >= (int)sizeof(s->targets_path)) {
			sv_log(sv, "%s: the state directory's path is too long", m->name);
			return -1;
		}
		if (s->desc == NULL) {
			sv_log(sv, "%s: no service %s is built in", m->file, m->service);
			return -1;
		}
		if (snprintf(s->policy_path, sizeof(s->policy_path), "%s/policy/%s", sv->paths->run,
			     m->name) >= (int)sizeof(s->policy_path) ||
		    sv_write_policy(sv, k, s->policy_path) != 0)
			return -1;
		/* its sockets are in a directory of its own (as root, owned by its user): a
		 * sandboxed service may make and remove entries there, and nowhere else in run/.
		 * The monolith (one process, not sandboxed) listens at run/<name>-1.sock. */
		if ((sv->opts->monolith
			 ? snprintf(s->sock_dir, sizeof(s->sock_dir), "%s", sv->paths->run)
			 : snprintf(s->sock_dir, sizeof(s->sock_dir), "%s/%s", sv->paths->run,
				    m->name)) >= (int)sizeof(s->sock_dir))
			return -1;
		if (sv->as_users &&
		    (sv_identity_ensure(sv, m->name, &s->as) != 0 || sv_own_dirs(sv, s) != 0))
			return -1;
		if (!sv->as_users && !sv->opts->monolith &&
		    meshctl_mkdirs(s->sock_dir, 0755) != 0) {
			sv_log(sv, "cannot make %s: %s", s->sock_dir, strerror(errno));
			return -1;
		}
		if (mesh_client_new(&s->group, s->desc, &co) != 0 ||
		    mesh_client_set_health(s->group, &ho) != 0) {
			sv_log(sv, "%s: cannot make its target group", m->name);
			return -1;
		}
		sv->nsvcs++;
	}
	return 0;
}

static int sv_watch_fd(supervisor *sv, int fd, void (*cb)(void *, int), void **handle)
{
	mesh_loop *loop = mesh_epoll_loop(sv->ep);
	*handle = loop->ops->watch(loop, fd, cb, sv);
	return *handle != NULL ? 0 : -1;
}

static void sv_cleanup(supervisor *sv)
{
	char path[PATH_MAX];
	if (sv->control != NULL)
		mesh_server_free(sv->control);
	for (size_t k = 0; k < sv->nsvcs; k++) {
		sv_service *s = &sv->svcs[k];
		while (s->n > 0)
			sv_instance_remove(sv, s, s->n - 1);
		unlink(s->targets_path);
		if (s->policy_path[0] != '\0')
			unlink(s->policy_path);
		if (s->sock_dir[0] != '\0' && !sv->opts->monolith)
			rmdir(s->sock_dir);
		if (s->group != NULL)
			mesh_client_free(s->group);
		if (s->logfd >= 0)
			close(s->logfd);
	}
	sv_output_close(sv, &sv->edge_out);
	sv_output_close(sv, &sv->mono_out);
	if (sv->edge_logfd >= 0)
		close(sv->edge_logfd);
	if (sv->mono_logfd >= 0)
		close(sv->mono_logfd);
	free(sv->svcs);
	snprintf(path, sizeof(path), "%s", sv->paths->control + strlen("ipc://"));
	unlink(path);
	unlink(sv->paths->pidfile);
	rmdir(sv->paths->targets);
	rmdir(sv->paths->policy);
	if (sv->ep != NULL) {
		/* the signal and wake descriptors are the loop's: unwatching closes them */
		mesh_loop *loop = mesh_epoll_loop(sv->ep);
		if (sv->sigwatch != NULL)
			loop->ops->unwatch(loop, sv->sigwatch);
		if (sv->wakewatch != NULL)
			loop->ops->unwatch(loop, sv->wakewatch);
		mesh_epoll_free(sv->ep);
	}
	manifest_free_all(sv->ms, sv->nms);
}

/* sv_run_until_done runs the loop until the mesh has stopped. A busy mesh wakes it for every
 * batch of log lines; the periodic work runs every SV_TICK_MS, not on each wake-up (signals
 * and control calls run it at once from their own callbacks). */
static void sv_run_until_done(supervisor *sv)
{
	int64_t next_tick = 0;
	while (sv->phase != SV_DONE) {
		int64_t now;
		mesh_epoll_run(sv->ep, SV_TICK_MS);
		now = mesh_now_us();
		if (now < next_tick)
			continue;
		next_tick = now + SV_TICK_MS * 1000;
		pthread_mutex_lock(&sv->lock);
		sv_tick(sv);
		pthread_mutex_unlock(&sv->lock);
	}
}

int supervisor_run(const meshctl_paths *paths, const supervisor_opts *opts)
{
	supervisor svs = {0}, *sv = &svs;
	char err[512], bin_dir[PATH_MAX];
	sigset_t mask;
	int rc = 1;
	if (meshctl_bin_path(bin_dir, sizeof(bin_dir), "") != 0)
		snprintf(bin_dir, sizeof(bin_dir), "/");
	sv->paths = paths;
	sv->opts = opts;
	sv->edge_out.fd = -1;
	sv->edge_logfd = -1;
	sv->mono_out.fd = -1;
	sv->mono_logfd = -1;
	sv->started_us = mesh_now_us();
	snprintf(sv->edge_listen, sizeof(sv->edge_listen), "%s", opts->listen);
	pthread_mutex_init(&sv->lock, NULL);
	the_supervisor = sv;

	if (manifest_load_dir(opts->manifests, &sv->ms, &sv->nms, err, sizeof(err)) != 0 ||
	    manifest_check_calls(sv->ms, sv->nms, err, sizeof(err)) != 0) {
		sv_log(sv, "%s", err);
		return 1;
	}
	if (meshctl_mkdirs(paths->state, 0700) != 0 || meshctl_mkdirs(paths->run, 0700) != 0 ||
	    meshctl_mkdirs(paths->policy, 0700) != 0 || meshctl_mkdirs(paths->targets, 0700) != 0 ||
	    meshctl_mkdirs(paths->logs, 0700) != 0) {
		sv_log(sv, "cannot make %s: %s", paths->run, strerror(errno));
		manifest_free_all(sv->ms, sv->nms);
		return 1;
	}
	if (sv_claim_pidfile(sv) != 0) {
		manifest_free_all(sv->ms, sv->nms);
		return 1;
	}
	/* signals arrive through a descriptor; every thread made from here on blocks them */
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	sv->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	sv->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (sv->sigfd < 0 || sv->wakefd < 0 || mesh_epoll_new(&sv->ep) != 0 ||
	    sv_watch_fd(sv, sv->sigfd, sv_signal_cb, &sv->sigwatch) != 0 ||
	    sv_watch_fd(sv, sv->wakefd, sv_wake_cb, &sv->wakewatch) != 0) {
		sv_log(sv, "cannot set up the event loop: %s", strerror(errno));
		goto out;
	}
	sv->as_users = geteuid() == 0 && !opts->monolith;
	if (sv->as_users && (sv_unreachable(CLEAVE_SOURCE_DIR "/svc", err, sizeof(err)) != NULL ||
			     sv_unreachable(bin_dir, err, sizeof(err)) != NULL)) {
		/* the users could not run the binaries or read the seeds */
		sv_log(sv,
		       "the service users cannot reach %s and %s (a directory above is not "
		       "o+x): every process runs as root, with no identities from uids",
		       bin_dir, CLEAVE_SOURCE_DIR "/svc");
		sv->as_users = 0;
	}
	/* the state directory itself meshctl makes 0711; everything above must let users through */
	if (sv->as_users) {
		char parent[PATH_MAX];
		snprintf(parent, sizeof(parent), "%s", paths->state);
		if (strrchr(parent, '/') != NULL && strrchr(parent, '/') != parent)
			*strrchr(parent, '/') = '\0';
		if (sv_unreachable(parent, err, sizeof(err)) != NULL) {
			sv_log(
			    sv,
			    "as root, every service runs as its own user and must reach %s, but %s "
			    "is not o+x: chmod o+x it, or choose another --state-dir",
			    paths->state, err);
			goto out;
		}
	}
	if (sv->as_users) {
		if (sv_identity_ensure(sv, "edge", &sv->edge_as) != 0 ||
		    chmod(paths->state, 0711) != 0 || chmod(paths->run, 0711) != 0 ||
		    chmod(paths->targets, 0711) != 0 || chmod(paths->policy, 0711) != 0) {
			sv_log(sv, "cannot prepare the state directory for the service users");
			goto out;
		}
		sv_log(sv, "running as root: each service and the edge run as their own user "
			   "(cleave-<name>), with no_new_privs");
	}
	sv->edge_logfd = sv_open_log(sv, "edge");
	if (opts->monolith)
		sv->mono_logfd = sv_open_log(sv, "monolith");
	if (sv_services_init(sv) != 0)
		goto out;
	if (mesh_server_new(&sv->control, (ProtobufCService *)&control_impl, NULL) != 0 ||
	    mesh_server_listen(sv->control, paths->control) != 0 ||
	    mesh_server_start(sv->control) != 0) {
		sv_log(sv, "cannot serve control calls on %s", paths->control);
		goto out;
	}
	/* every target file first, so services that call others find them at start */
	pthread_mutex_lock(&sv->lock);
	for (size_t k = 0; k < sv->nsvcs; k++) {
		sv_service *s = &sv->svcs[k];
		for (int i = 0; i < s->desired; i++)
			sv_instance_add(sv, s);
		sv_targets_publish(sv, s);
	}
	for (size_t k = 0; k < sv->nsvcs; k++)
		for (size_t i = 0; i < sv->svcs[k].n; i++)
			sv_instance_start(sv, sv->svcs[k].inst[i]);
	sv->edge_restart_at_us = mesh_now_us(); /* the edge starts on the first tick */
	pthread_mutex_unlock(&sv->lock);

	sv_run_until_done(sv);
	sv_log(sv, "stopped%s", sv->unclean_stops ? "; some processes did not stop cleanly" : "");
	rc = sv->unclean_stops ? 1 : 0;
out:
	if (sv->phase != SV_DONE) {
		/* a failed start: stop what did start */
		pthread_mutex_lock(&sv->lock);
		sv->stop_requested = 1;
		pthread_mutex_unlock(&sv->lock);
		if (sv->ep != NULL)
			sv_run_until_done(sv);
	}
	sv_cleanup(sv);
	if (opts->ready_fd >= 0 && !sv->ready_sent)
		close(opts->ready_fd);
	pthread_mutex_destroy(&sv->lock);
	return rc;
}
