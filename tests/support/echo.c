/* echo.c: sample.Echo, the service libmesh's suites serve and call. */
#include <stdio.h>
#include <time.h>

#include "echo.h"
#include "harness.h"
#include "mesh.h"

atomic_int echo_slow_started;

static void echo_get(Sample__Echo_Service *service, const Sample__Inner *input,
		     Sample__Inner_Closure closure, void *closure_data)
{
	Sample__Inner reply = SAMPLE__INNER__INIT;
	char label[128];
	if (input->id == 404) {
		mesh_fail(closure_data, MESH_NOT_FOUND, "no %lld", (long long)input->id);
		closure(NULL, closure_data);
		return;
	}
	snprintf(label, sizeof(label), "echo:%s:%s", input->label, mesh_call_caller(closure_data));
	reply.id = input->id;
	reply.label = label;
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
