/* echo.c: sample.Echo, the service libmesh's suites serve and call. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "echo.h"
#include "harness.h"
#include "mesh.h"

atomic_int echo_slow_started;
mesh_client *echo_forward;

/* echo_trace writes "trace:<trace id>:<the span the server opened for the call>" (or
 * "trace:(none)") of the call to label. */
static void echo_trace(void *closure_data, char *label, size_t len)
{
	mesh_trace t;
	char trace[2 * MESH_TRACE_ID_LEN + 1], span[2 * MESH_SPAN_ID_LEN + 1];
	if (!mesh_call_trace(closure_data, &t)) {
		snprintf(label, len, "trace:(none)");
		return;
	}
	snprintf(label, len, "trace:%s:%s", mesh_trace_hex(t.trace_id, MESH_TRACE_ID_LEN, trace),
		 mesh_trace_hex(t.parent_id, MESH_SPAN_ID_LEN, span));
}

/* echo_forward_get calls Get with label what ("request-id", "trace") through echo_forward on
 * behalf of the call, and writes "fwd:<its label>" (or "fwd:<STATUS>") to label. */
static void echo_forward_get(void *closure_data, const char *what, char *label, size_t len)
{
	Sample__Inner in = SAMPLE__INNER__INIT;
	ProtobufCMessage *out = NULL;
	char message[MESH_MESSAGE_MAX];
	mesh_status st;
	in.label = (char *)what;
	st = mesh_client_call(echo_forward, "Get", &in.base, &out, closure_data, message,
			      sizeof(message));
	if (st == MESH_OK)
		snprintf(label, len, "fwd:%s", ((Sample__Inner *)out)->label);
	else
		snprintf(label, len, "fwd:%s", mesh_status_name(st));
	if (out != NULL)
		protobuf_c_message_free_unpacked(out, NULL);
}

static void echo_get(Sample__Echo_Service *service, const Sample__Inner *input,
		     Sample__Inner_Closure closure, void *closure_data)
{
	Sample__Inner reply = SAMPLE__INNER__INIT;
	const char *id = mesh_call_request_id(closure_data);
	char label[128], special[MESH_REQUEST_ID_MAX + 256];
	if (input->id == 404) {
		mesh_fail(closure_data, MESH_NOT_FOUND, "no %lld", (long long)input->id);
		closure(NULL, closure_data);
		return;
	}
	if (strncmp(input->label, "log:", 4) == 0)
		mesh_log(closure_data, "%s", input->label + 4);
	if (strcmp(input->label, "request-id") == 0) {
		snprintf(special, sizeof(special), "rid:%s", id != NULL ? id : "(none)");
		reply.label = special;
	} else if (strcmp(input->label, "trace") == 0) {
		echo_trace(closure_data, special, sizeof(special));
		reply.label = special;
	} else if (strcmp(input->label, "forward") == 0 && echo_forward != NULL) {
		echo_forward_get(closure_data, "request-id", special, sizeof(special));
		reply.label = special;
	} else if (strcmp(input->label, "forward-trace") == 0 && echo_forward != NULL) {
		char own[80];
		echo_trace(closure_data, own, sizeof(own));
		echo_forward_get(closure_data, "trace", label, sizeof(label));
		snprintf(special, sizeof(special), "%s|%s", own, label);
		reply.label = special;
	} else {
		snprintf(label, sizeof(label), "echo:%s:%s", input->label,
			 mesh_call_caller(closure_data));
		reply.label = label;
	}
	reply.id = input->id;
	closure(&reply, closure_data);
}

static void echo_slow(Sample__Echo_Service *service, const Sample__Inner *input,
		      Sample__Inner_Closure closure, void *closure_data)
{
	atomic_fetch_add(&echo_slow_started, 1);
	harness_sleep_ms((int)input->id);
	closure(input, closure_data);
}

static void echo_fail(Sample__Echo_Service *service, const Sample__Inner *input,
		      Sample__Inner_Closure closure, void *closure_data)
{
	closure(NULL, closure_data);
}

static long long thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void echo_spin(Sample__Echo_Service *service, const Sample__Inner *input,
		      Sample__Inner_Closure closure, void *closure_data)
{
	long long until = thread_cpu_ns() + (long long)input->id * 1000000;
	volatile unsigned long spins = 0;
	while (thread_cpu_ns() < until)
		spins++;
	closure(input, closure_data);
}

Sample__Echo_Service echo_service = SAMPLE__ECHO__INIT(echo_);

/* the open policy: made once, kept until the process ends */
static mesh_policy *echo_policy;
static pthread_once_t echo_policy_once = PTHREAD_ONCE_INIT;

static void echo_policy_make(void)
{
	if (mesh_policy_new(&echo_policy) != 0 || mesh_policy_allow(echo_policy, "*", "*") != 0)
		abort();
}

const mesh_policy *echo_open_policy(void)
{
	pthread_once(&echo_policy_once, echo_policy_make);
	return echo_policy;
}

int echo_server_new(mesh_server **out, const mesh_server_opts *opts)
{
	int rv = mesh_server_new(out, &echo_service.base, opts);
	if (rv == 0)
		mesh_server_set_policy(*out, echo_open_policy());
	return rv;
}
