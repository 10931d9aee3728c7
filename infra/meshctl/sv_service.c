/* sv_service.c: each service's instance slots, its health-checked target group and target file. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "registry.h"
#include "supervisor_internal.h"

/* sv_group_new makes s's target group: a client of its service over every instance, checked
 * with its manifest's healthcheck, into s->group (s's, freed by sv_service_free); the
 * supervisor dials and undials the instances itself. Returns 0 or -1 after logging why. */
static int sv_group_new(supervisor *sv, sv_service *s)
{
	const manifest *m = s->m;
	rt_group_opts go = {
	    .name = m->name,
	    .service = s->desc,
	    .log_prefix = "meshctl",
	    .client = {.caller = "meshctl",
		       .loop = mesh_epoll_loop(sv->ep),
		       .timeout_ms = m->health.timeout_ms},
	    .health = manifest_health_opts(m),
	};
	char err[512];
	if (rt_group_new(&s->group, &go, err, sizeof(err)) != 0) {
		sv_log(sv, "%s", err);
		return -1;
	}
	return 0;
}

/* sv_service_uid is the user s's instances run as: its own, or meshctl's. */
static uid_t sv_service_uid(const sv_service *s)
{
	return s->as.valid ? s->as.uid : geteuid();
}

int sv_service_init(supervisor *sv, sv_service *s, size_t k)
{
	const manifest *m = sv->ms[k];
	s->m = m;
	s->desc = registry_find_service(m->service);
	s->desired = sv->opts->monolith ? 1 : m->count;
	s->logfd = sv_output_open_log(sv, m->name);
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
	    sv_identity_write_policy(sv, k, s->policy_path) != 0)
		return -1;
	/* its sockets are in a directory of its own (as root, owned by its user): a sandboxed
	 * service may make and remove entries there, and nowhere else in run/. The monolith (one
	 * process) listens at run/monolith/<name>-1.sock. */
	if (snprintf(s->sock_dir, sizeof(s->sock_dir), "%s/%s", sv->paths->run,
		     sv->opts->monolith ? "monolith" : m->name) >= (int)sizeof(s->sock_dir))
		return -1;
	if (sv->as_users && sv_identity_assign(sv, s) != 0)
		return -1;
	if (!sv->as_users && rt_mkdirs(s->sock_dir, 0755) != 0) {
		sv_log(sv, "cannot make %s: %s", s->sock_dir, strerror(errno));
		return -1;
	}
	return sv_group_new(sv, s);
}

int sv_service_active_count(const sv_service *s)
{
	int n = 0;
	for (size_t i = 0; i < s->n; i++)
		n += !s->inst[i]->draining;
	return n;
}

sv_instance *sv_service_add_instance(sv_service *s)
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
	mesh_client_dial_uid(rt_group_client(s->group), in->url, sv_service_uid(s));
	return in;
}

void sv_service_remove_instance(supervisor *sv, sv_service *s, size_t i)
{
	sv_instance *in = s->inst[i];
	char sock[PATH_MAX];
	sv_output_close(sv, &in->out);
	mesh_client_undial(rt_group_client(s->group), in->url);
	snprintf(sock, sizeof(sock), "%s", in->url + strlen("ipc://"));
	unlink(sock);
	memmove(&s->inst[i], &s->inst[i + 1], (s->n - i - 1) * sizeof(s->inst[0]));
	s->n--;
	s->targets_dirty = 1;
	free(in);
}

void sv_service_publish_targets(supervisor *sv, sv_service *s)
{
	rt_target t[SV_SLOTS];
	if (!s->targets_dirty)
		return;
	for (size_t i = 0; i < s->n; i++) {
		memset(&t[i], 0, sizeof(t[i]));
		snprintf(t[i].url, sizeof(t[i].url), "%s", s->inst[i]->url);
		t[i].draining = s->inst[i]->draining;
		t[i].has_uid = 1; /* its callers refuse a socket anyone else serves there */
		t[i].uid = sv_service_uid(s);
	}
	if (rt_targets_write(s->targets_path, t, s->n) != 0)
		sv_log(sv, "cannot write %s: %s", s->targets_path, strerror(errno));
	else
		s->targets_dirty = 0;
}

void sv_service_snapshot_health(sv_service *s)
{
	mesh_instance_info info[SV_SLOTS];
	size_t n = mesh_client_instance_info(rt_group_client(s->group), info, SV_SLOTS);
	if (n > SV_SLOTS)
		n = SV_SLOTS;
	for (size_t i = 0; i < s->n; i++)
		for (size_t j = 0; j < n; j++)
			if (strcmp(info[j].url, s->inst[i]->url) == 0)
				s->inst[i]->health = info[j].state;
}

void sv_service_free(supervisor *sv, sv_service *s)
{
	while (s->n > 0)
		sv_service_remove_instance(sv, s, s->n - 1);
	unlink(s->targets_path);
	if (s->policy_path[0] != '\0')
		unlink(s->policy_path);
	if (s->sock_dir[0] != '\0')
		rmdir(s->sock_dir); /* the monolith's: once its last service is freed */
	rt_group_free(s->group);
	if (s->logfd >= 0)
		close(s->logfd);
}
