/* supervisor.c: meshctl up's run loop: counts kept, exits reaped, the phases of a drained stop. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "supervisor_internal.h"

#define SV_TICK_MS	 50
#define SV_READY_WAIT_US 10000000LL /* at start, wait this long for healthy instances */

/* sv_scale brings s's active instances to its desired count: new ones start, surplus ones are
 * drained (the highest indexes first) and stopped after the deregistration delay. */
static void sv_scale(supervisor *sv, sv_service *s, int64_t now)
{
	int active = sv_service_active_count(s);
	while (active < s->desired) {
		sv_instance *in = sv_service_add_instance(s);
		if (in == NULL)
			break;
		sv_process_start_instance(sv, in);
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

/* sv_failed_as_before says whether a process that ended while the mesh stopped only failed again
 * as it has in its crash loop (an exit status other than 0, after SV_CRASH_LOOP crashes in a row
 * and before its latest start became a stable run):
 * it was (re)starting, not serving, and its failure was already reported, so it is not counted as
 * a process that stopped uncleanly. A signal (a sanitizer abort, a kill) still counts. */
static int sv_failed_as_before(int status, int crashes_in_row, int64_t started_us, int64_t now)
{
	return crashes_in_row >= SV_CRASH_LOOP && now - started_us < SV_STABLE_US &&
	       WIFEXITED(status) && WEXITSTATUS(status) != 0;
}

/* sv_reaped handles the exit of pid. */
static void sv_reaped(supervisor *sv, pid_t pid, int status, int64_t now)
{
	char how[32];
	int64_t delay;
	sv_process_describe_exit(status, how, sizeof(how));
	if (pid == sv->edge_pid) {
		sv_output_close(sv, &sv->edge_out);
		sv->edge_pid = 0;
		if (sv->phase != SV_RUNNING &&
		    sv_failed_as_before(status, sv->edge_crashes, sv->edge_started_us, now)) {
			sv_log(sv, "the edge exited (%s) while stopping, as in its crash loop",
			       how);
		} else if (sv->phase != SV_RUNNING &&
			   !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
			sv_log(sv, "the edge stopped uncleanly (%s)", how);
			sv->unclean_stops++;
		}
		if (sv->phase == SV_RUNNING) {
			delay = sv_process_backoff(&sv->edge_crashes, sv->edge_started_us, now);
			sv->edge_restart_at_us = now + delay;
			sv_log(sv, "the edge exited (%s); restarting it in %" PRId64 " ms", how,
			       delay / 1000);
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
					sv_service_remove_instance(sv, s, i--);
					continue;
				}
				delay =
				    sv_process_backoff(&in->crashes_in_row, in->started_us, now);
				in->restarts++;
				in->restart_at_us = now + delay;
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
				if (sv_failed_as_before(status, in->crashes_in_row, in->started_us,
							now)) {
					sv_log(sv,
					       "%s-%d exited (%s) while stopping, as in its crash "
					       "loop",
					       s->m->name, in->index, how);
				} else if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
					sv_log(sv, "%s-%d stopped uncleanly (%s)", s->m->name,
					       in->index, how);
					sv->unclean_stops++;
				}
				sv_service_remove_instance(sv, s, i);
				return;
			}
			sv_output_close(sv, &in->out);
			delay = sv_process_backoff(&in->crashes_in_row, in->started_us, now);
			in->restarts++;
			in->restart_at_us = now + delay;
			sv_log(sv, "%s-%d exited (%s); restarting in %" PRId64 " ms%s", s->m->name,
			       in->index, how, delay / 1000,
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
	for (size_t k = 0; k < sv->nsvcs; k++)
		sv_service_snapshot_health(&sv->svcs[k]);
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
					sv_service_remove_instance(sv, s, i--);
					continue;
				}
				if (in->draining && now >= in->drain_until_us)
					sv_process_stop(in->pid, &in->kill_at_us, now);
				else if (in->pid == 0 && now >= in->restart_at_us)
					sv_process_start_instance(sv, in);
			}
		}
		if (sv->edge_pid == 0 && now >= sv->edge_restart_at_us)
			sv_process_start_edge(sv);
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
			sv_process_stop(sv->edge_pid, &sv->phase_deadline_us, now);
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
					sv_service_remove_instance(sv, s, i--);
					continue;
				}
				sv_process_stop(s->inst[i]->pid, &s->inst[i]->kill_at_us, now);
			}
		}
		if (sv_all_stopped(sv))
			sv->phase = SV_DONE;
		break;
	default:
		break;
	}
	for (size_t k = 0; k < sv->nsvcs; k++)
		sv_service_publish_targets(sv, &sv->svcs[k]);
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

void sv_wake(supervisor *sv)
{
	uint64_t one = 1;
	if (write(sv->wakefd, &one, sizeof(one)) < 0) {
		/* the counter is full: a wake-up is pending anyway */
	}
}

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

/* sv_services_init sets up a service for each manifest. Returns 0 or -1. */
static int sv_services_init(supervisor *sv)
{
	sv->svcs = calloc(sv->nms ? sv->nms : 1, sizeof(*sv->svcs));
	if (sv->svcs == NULL)
		return -1;
	for (size_t k = 0; k < sv->nms; k++) {
		if (sv_service_init(sv, &sv->svcs[sv->nsvcs], k) != 0)
			return -1;
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
	mesh_policy_free(sv->control_policy);
	for (size_t k = 0; k < sv->nsvcs; k++)
		sv_service_free(sv, &sv->svcs[k]);
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
	char err[512];
	sigset_t mask;
	int rc = 1;
	sv->paths = paths;
	sv->opts = opts;
	sv->edge_out.fd = -1;
	sv->edge_logfd = -1;
	sv->mono_out.fd = -1;
	sv->mono_logfd = -1;
	sv->started_us = mesh_now_us();
	snprintf(sv->edge_listen, sizeof(sv->edge_listen), "%s", opts->listen);
	pthread_mutex_init(&sv->lock, NULL);

	if (manifest_load_dir(opts->manifests, &sv->ms, &sv->nms, err, sizeof(err)) != 0 ||
	    manifest_check_calls(sv->ms, sv->nms, err, sizeof(err)) != 0) {
		sv_log(sv, "%s", err);
		return 1;
	}
	if (rt_mkdirs(paths->state, 0700) != 0 || rt_mkdirs(paths->run, 0700) != 0 ||
	    rt_mkdirs(paths->policy, 0700) != 0 || rt_mkdirs(paths->targets, 0700) != 0 ||
	    rt_mkdirs(paths->logs, 0700) != 0) {
		sv_log(sv, "cannot make %s: %s", paths->run, strerror(errno));
		manifest_free_all(sv->ms, sv->nms);
		return 1;
	}
	if (sv_claim_pidfile(sv) != 0) {
		manifest_free_all(sv->ms, sv->nms);
		return 1;
	}
	/* signals arrive through a descriptor; every thread made from here on blocks them */
	rt_stop_signals(&mask);
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
	if (sv_identity_prepare(sv) != 0)
		goto out;
	sv->edge_logfd = sv_output_open_log(sv, "edge");
	if (opts->monolith)
		sv->mono_logfd = sv_output_open_log(sv, "monolith");
	if (sv_services_init(sv) != 0)
		goto out;
	if (sv_control_start(sv) != 0)
		goto out;
	/* every target file first, so services that call others find them at start */
	pthread_mutex_lock(&sv->lock);
	for (size_t k = 0; k < sv->nsvcs; k++) {
		sv_service *s = &sv->svcs[k];
		for (int i = 0; i < s->desired; i++)
			sv_service_add_instance(s);
		sv_service_publish_targets(sv, s);
	}
	for (size_t k = 0; k < sv->nsvcs; k++)
		for (size_t i = 0; i < sv->svcs[k].n; i++)
			sv_process_start_instance(sv, sv->svcs[k].inst[i]);
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
