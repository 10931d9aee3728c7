/* service.c: the threads service: list, get and create threads; a creator must exist (Users.Get).
 */
#include "mesh.h"
#include "store.h"
#include "svc.h"
#include "threads.pb-c.h"
#include "users.pb-c.h"

static void threads_create(Threads__Threads_Service *service,
			   const Threads__CreateThreadRequest *input,
			   Threads__Thread_Closure closure, void *closure_data)
{
	Threads__Thread row = THREADS__THREAD__INIT;
	Users__GetUserRequest user = USERS__GET_USER_REQUEST__INIT;
	if (svc_create_replayed(svc_store(service), closure_data, &input->base,
				(ProtobufCClosure)closure) != 0)
		return;
	user.id = input->created_by;
	if (svc_check_text(closure_data, "title", input->title, 1, 200) != 0 ||
	    svc_check_id(closure_data, "createdBy", input->created_by) != 0 ||
	    svc_check_exists(closure_data, svc_deps(service), "users", "user", input->created_by,
			     &user.base) != 0) {
		closure(NULL, closure_data);
		return;
	}
	row.title = input->title;
	row.created_by = input->created_by;
	svc_create(svc_store(service), closure_data, &input->base, &row.base,
		   (ProtobufCClosure)closure);
}

static const Threads__Threads_Service threads_methods = {THREADS__THREADS__BASE_INIT,
							 .create = threads_create};

static const rt_dependency threads_calls[] = {{"users", &users__users__descriptor}, {NULL, NULL}};

/* threads_def: the service, for its executable (runtime/service_entry.c) and the monolith; List
 * and Get are the store's (svc_open) */
SVC_DEFINE(threads, &threads__threads__descriptor, threads_methods, threads_calls,
	   .row = &threads__thread__descriptor);
