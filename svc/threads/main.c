/* main.c: the threads service: list, get and create threads; a creator must exist (Users.Get). */
#include "mesh.h"
#include "store.h"
#include "svc.h"
#include "threads.pb-c.h"
#include "users.pb-c.h"

static store *threads;

static void threads_list(Threads__Threads_Service *service,
			 const Threads__ListThreadsRequest *input,
			 Threads__ListThreadsReply_Closure closure, void *closure_data)
{
	Threads__ListThreadsReply reply = THREADS__LIST_THREADS_REPLY__INIT;
	svc_list(threads, closure_data, NULL, 0, input->limit, input->after, &reply.base, "threads",
		 (ProtobufCClosure)closure);
}

static void threads_get(Threads__Threads_Service *service, const Threads__GetThreadRequest *input,
			Threads__Thread_Closure closure, void *closure_data)
{
	svc_get(threads, closure_data, input->id, "thread", (ProtobufCClosure)closure);
}

static void threads_create(Threads__Threads_Service *service,
			   const Threads__CreateThreadRequest *input,
			   Threads__Thread_Closure closure, void *closure_data)
{
	Threads__Thread row = THREADS__THREAD__INIT;
	Users__GetUserRequest user = USERS__GET_USER_REQUEST__INIT;
	if (svc_create_replayed(threads, closure_data, &input->base, (ProtobufCClosure)closure) !=
	    0)
		return;
	user.id = input->created_by;
	if (svc_check_text(closure_data, "title", input->title, 1, 200) != 0 ||
	    svc_check_id(closure_data, "createdBy", input->created_by) != 0 ||
	    svc_check_exists(closure_data, "users", "user", input->created_by, &user.base) != 0) {
		closure(NULL, closure_data);
		return;
	}
	row.title = input->title;
	row.created_by = input->created_by;
	svc_create(threads, closure_data, &input->base, &row.base, (ProtobufCClosure)closure);
}

static int threads_open(const mesh_service_env *env, char *err, size_t errlen)
{
	store_opts opts = {.dir = env->data_dir,
			   .name = "threads",
			   .row = &threads__thread__descriptor,
			   .seed = env->seed,
			   .sync_full = env->sync_full};
	return store_open(&threads, &opts, err, errlen) == STORE_OK ? 0 : -1;
}

static int64_t threads_count(void)
{
	return store_count(threads);
}

static void threads_close(void)
{
	store_close(threads);
}

static Threads__Threads_Service threads_service = THREADS__THREADS__INIT(threads_);

int main(int argc, char **argv)
{
	static const mesh_dependency calls[] = {{"users", &users__users__descriptor}, {NULL, NULL}};
	const mesh_service_def def = {
	    .name = "threads",
	    .impl = &threads_service.base,
	    .default_seed = CLEAVE_SOURCE_DIR "/svc/threads/seed.json",
	    .calls = calls,
	    .open = threads_open,
	    .count = threads_count,
	    .close = threads_close,
	};
	return mesh_service_main(argc, argv, &def);
}
