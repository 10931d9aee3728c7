/* service.c: the threads service: list, get and create threads; a creator must exist (Users.Get).
 */
#include "mesh.h"
#include "store.h"
#include "svc.h"
#include "threads.pb-c.h"
#include "users.pb-c.h"

/* threads_prepare: what a new thread must be: a title, and a creator (who must exist:
 * threads_checks). */
static int threads_prepare(ProtobufCService *service, const ProtobufCMessage *request,
			   ProtobufCMessage *row, void *closure_data)
{
	(void)service;
	(void)row; /* the request's fields are the whole row */
	const Threads__CreateThreadRequest *input = (const Threads__CreateThreadRequest *)request;
	return svc_check_text(closure_data, "title", input->title, 1, 200) != 0 ||
		       svc_check_id(closure_data, "createdBy", input->created_by) != 0
		   ? -1
		   : 0;
}

/* threads_checks: a thread's creator exists (Users.Get) */
static const svc_check threads_checks[] = {
    {"created_by", "user", "users", &users__get_user_request__descriptor},
    {NULL, NULL, NULL, NULL},
};

static const rt_dependency threads_calls[] = {{"users", &users__users__descriptor}, {NULL, NULL}};

/* threads_def: the service, for its executable (runtime/service_entry.c) and the monolith; its
 * List, Get and Create are the store's (svc_open) */
SVC_DEFINE_CHECKED(threads, &threads__threads__descriptor, threads_calls, threads_prepare,
		   threads_checks, .row = &threads__thread__descriptor);
