/* service.c: the threads service: list, get and create threads; a creator must exist (Users.Get).
 */
#include "mesh.h"
#include "store.h"
#include "svc.h"
#include "threads.pb-c.h"
#include "users.pb-c.h"

/* threads_prepare: what a new thread must be: a title, and a creator who exists. */
static int threads_prepare(ProtobufCService *service, const ProtobufCMessage *request,
			   ProtobufCMessage *row, void *closure_data)
{
	(void)row; /* the request's fields are the whole row */
	const Threads__CreateThreadRequest *input = (const Threads__CreateThreadRequest *)request;
	Users__GetUserRequest user = USERS__GET_USER_REQUEST__INIT;
	user.id = input->created_by;
	return svc_check_text(closure_data, "title", input->title, 1, 200) != 0 ||
		       svc_check_id(closure_data, "createdBy", input->created_by) != 0 ||
		       svc_check_exists(closure_data, svc_deps(service), "users", "user",
					input->created_by, &user.base) != 0
		   ? -1
		   : 0;
}

static const rt_dependency threads_calls[] = {{"users", &users__users__descriptor}, {NULL, NULL}};

/* threads_def: the service, for its executable (runtime/service_entry.c) and the monolith; its
 * List, Get and Create are the store's (svc_open) */
SVC_DEFINE(threads, &threads__threads__descriptor, threads_calls, threads_prepare,
	   .row = &threads__thread__descriptor);
