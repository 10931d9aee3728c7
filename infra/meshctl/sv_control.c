/* sv_control.c: the control service of a running mesh: meshctl.Control's Status, Scale, Down. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "supervisor_internal.h"

static const char *sv_control_state_name(const sv_instance *in)
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

static void sv_control_status(Meshctl__Control_Service *service,
			      const Meshctl__StatusRequest *input,
			      Meshctl__StatusReply_Closure closure, void *closure_data)
{
	supervisor *sv = ((sv_control *)service)->sv;
	Meshctl__StatusReply reply = MESHCTL__STATUS_REPLY__INIT;
	Meshctl__Instance *inst = NULL, **instp = NULL;
	Meshctl__Service *svcs = NULL, **svcp = NULL;
	size_t total = 0, k2 = 0;
	int64_t now = mesh_now_us();
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
			o->state = (char *)sv_control_state_name(in);
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

static void sv_control_scale(Meshctl__Control_Service *service, const Meshctl__ScaleRequest *input,
			     Meshctl__ScaleReply_Closure closure, void *closure_data)
{
	supervisor *sv = ((sv_control *)service)->sv;
	Meshctl__ScaleReply reply = MESHCTL__SCALE_REPLY__INIT;
	sv_service *s = NULL;
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

static void sv_control_down(Meshctl__Control_Service *service, const Meshctl__DownRequest *input,
			    Meshctl__DownReply_Closure closure, void *closure_data)
{
	supervisor *sv = ((sv_control *)service)->sv;
	Meshctl__DownReply reply = MESHCTL__DOWN_REPLY__INIT;
	(void)input;
	pthread_mutex_lock(&sv->lock);
	if (!sv->stop_requested)
		sv_log(sv, "down requested: stopping the mesh");
	sv->stop_requested = 1;
	pthread_mutex_unlock(&sv->lock);
	sv_wake(sv);
	closure(&reply, closure_data);
}

int sv_control_start(supervisor *sv)
{
	/* its owner (who runs meshctl up) and root alone may connect; what they connect for they
	 * may call */
	const mesh_server_opts opts = {.name = "meshctl", .owner_only = 1};
	sv->control_impl = (sv_control){MESHCTL__CONTROL__INIT(sv_control_), sv};
	if (mesh_policy_new(&sv->control_policy) != 0 ||
	    mesh_policy_allow(sv->control_policy, "*", "*") != 0 ||
	    mesh_server_new(&sv->control, &sv->control_impl.service.base, &opts) != 0) {
		sv_log(sv, "cannot make the control service: out of memory");
		return -1;
	}
	mesh_server_set_policy(sv->control, sv->control_policy);
	if (mesh_server_listen(sv->control, sv->paths->control) != 0 ||
	    mesh_server_start(sv->control) != 0) {
		sv_log(sv, "cannot serve control calls on %s", sv->paths->control);
		return -1;
	}
	return 0;
}
