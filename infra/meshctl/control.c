/* control.c: blocking calls from meshctl's subcommands to the supervisor and to instances. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "control.h"
#include "meshctl.pb-c.h"

long control_pid(const meshctl_paths *paths)
{
	FILE *f = fopen(paths->pidfile, "r");
	long pid = 0;
	if (f == NULL)
		return 0;
	if (fscanf(f, "%ld", &pid) != 1)
		pid = 0;
	fclose(f);
	return pid > 0 && kill((pid_t)pid, 0) == 0 ? pid : 0;
}

mesh_status instance_call(const ProtobufCServiceDescriptor *desc, const char *url,
			  const char *method, const ProtobufCMessage *input, ProtobufCMessage **out,
			  int timeout_ms, char *message, size_t message_len)
{
	mesh_client *c;
	mesh_client_opts o = {.caller = "meshctl", .timeout_ms = timeout_ms};
	int64_t until = mesh_now_us() + (int64_t)timeout_ms * 1000;
	mesh_status st;
	if (mesh_client_new(&c, desc, &o) != 0 || mesh_client_dial(c, url) != 0) {
		snprintf(message, message_len, "cannot reach %s", url);
		return MESH_UNAVAILABLE;
	}
	/* the connection comes up in the background */
	while (mesh_client_instances(c) == 0 && mesh_now_us() < until) {
		struct timespec ts = {0, 5 * 1000000};
		nanosleep(&ts, NULL);
	}
	st = mesh_client_call(c, method, input, out, NULL, message, message_len);
	mesh_client_free(c);
	return st;
}

mesh_status control_call(const meshctl_paths *paths, const char *method,
			 const ProtobufCMessage *input, ProtobufCMessage **out, char *message,
			 size_t message_len)
{
	if (control_pid(paths) == 0) {
		snprintf(message, message_len, "no mesh is running from %s (meshctl up starts one)",
			 paths->state);
		return MESH_UNAVAILABLE;
	}
	return instance_call(&meshctl__control__descriptor, paths->control, method, input, out,
			     3000, message, message_len);
}
