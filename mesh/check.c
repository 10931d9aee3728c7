/* check.c: mesh_check: one mesh.Mesh/Health call to one address, for health checks. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "mesh.h"
#include "mesh.pb-c.h"

/* check_result: the closure_data of the Health call; the mesh_rpc comes first. */
typedef struct check_result {
	mesh_rpc rpc;
	char service[128];
	int64_t pid, uptime_ms;
} check_result;

static void check_on_health(const Mesh__HealthReply *reply, void *data)
{
	check_result *r = data;
	if (reply == NULL)
		return;
	snprintf(r->service, sizeof(r->service), "%s", reply->service ? reply->service : "");
	r->pid = reply->pid;
	r->uptime_ms = reply->uptime_ms;
}

int mesh_check(const char *url, int timeout_ms, char *out, size_t outlen)
{
	mesh_client_opts opts = {.caller = "check", .timeout_ms = timeout_ms};
	Mesh__HealthRequest in = MESH__HEALTH_REQUEST__INIT;
	check_result r = {0};
	int64_t until = mesh_now_us() + (int64_t)timeout_ms * 1000;
	mesh_client *c;
	int rv;

	if ((rv = mesh_client_new(&c, &mesh__mesh__descriptor, &opts)) != 0) {
		snprintf(out, outlen, "cannot make a client: %s", strerror(rv));
		return rv;
	}
	if ((rv = mesh_client_dial(c, url)) != 0) {
		snprintf(out, outlen, "cannot dial %s: %s", url, strerror(rv));
		mesh_client_free(c);
		return rv;
	}
	/* the dial connects in the background; a blocking client's call fails at once without a
	 * connection, so wait for one (bounded by the same deadline) */
	while (mesh_client_instances(c) == 0 && mesh_now_us() < until)
		usleep(2000);
	if (mesh_client_instances(c) == 0) {
		snprintf(out, outlen,
			 "no mesh connection to %s within %d ms: nothing listens there, it is "
			 "unreachable, or it does not speak the mesh's protocol",
			 url, timeout_ms);
		mesh_client_free(c);
		return ETIMEDOUT;
	}
	r.rpc.deadline_us = until;
	/* a blocking client: the closure has run when this returns */
	mesh__mesh__health(mesh_client_service(c), &in, check_on_health, &r);
	mesh_client_free(c);
	if (r.rpc.status != MESH_OK) {
		snprintf(out, outlen, "Health at %s: %s: %s", url, mesh_status_name(r.rpc.status),
			 r.rpc.message);
		return EPROTO;
	}
	snprintf(out, outlen, "%s at %s is healthy (pid %lld, up %lld ms)", r.service, url,
		 (long long)r.pid, (long long)r.uptime_ms);
	return 0;
}
