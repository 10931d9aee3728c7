/* main.c: the threads service: Threads.List and Threads.Get over its own seed data, indexed by id.
 */
#include <inttypes.h>

#include "mesh.h"
#include "table.h"
#include "threads.pb-c.h"

static table *threads;

static void threads_list(Threads__Threads_Service *service,
			 const Threads__ListThreadsRequest *input,
			 Threads__ListThreadsReply_Closure closure, void *closure_data)
{
	Threads__ListThreadsReply reply = THREADS__LIST_THREADS_REPLY__INIT;
	reply.threads = (Threads__Thread **)table_rows(threads, &reply.n_threads);
	closure(&reply, closure_data);
}

static void threads_get(Threads__Threads_Service *service, const Threads__GetThreadRequest *input,
			Threads__Thread_Closure closure, void *closure_data)
{
	const Threads__Thread *thread = (const Threads__Thread *)table_get(threads, input->id);
	if (thread == NULL)
		mesh_fail(closure_data, MESH_NOT_FOUND, "thread %" PRId64 " not found", input->id);
	closure(thread, closure_data);
}

static int threads_load(const char *path, char *err, size_t errlen)
{
	return table_load(&threads, path, &threads__thread__descriptor, "id", err, errlen);
}

static size_t threads_count(void)
{
	return table_count(threads);
}

static void threads_unload(void)
{
	table_free(threads);
}

static Threads__Threads_Service threads_service = THREADS__THREADS__INIT(threads_);

int main(int argc, char **argv)
{
	const mesh_service_def def = {
	    .name = "threads",
	    .impl = &threads_service.base,
	    .default_seed = CLEAVE_SOURCE_DIR "/svc/threads/seed.json",
	    .load = threads_load,
	    .count = threads_count,
	    .unload = threads_unload,
	};
	return mesh_service_main(argc, argv, &def);
}
