/* service.c: the posts service: list (all, by thread, by user), get and create posts; a post's
 * thread and user must exist (Threads.Get, Users.Get). */
#include "mesh.h"
#include "posts.pb-c.h"
#include "store.h"
#include "svc.h"
#include "threads.pb-c.h"
#include "users.pb-c.h"

/* posts_prepare: what a new post must be: a text, in a thread and by a user who exist. */
static int posts_prepare(ProtobufCService *service, const ProtobufCMessage *request,
			 ProtobufCMessage *row, void *closure_data)
{
	(void)row; /* the request's fields are the whole row */
	const Posts__CreatePostRequest *input = (const Posts__CreatePostRequest *)request;
	Threads__GetThreadRequest thread = THREADS__GET_THREAD_REQUEST__INIT;
	Users__GetUserRequest user = USERS__GET_USER_REQUEST__INIT;
	thread.id = input->thread;
	user.id = input->user;
	return svc_check_id(closure_data, "thread", input->thread) != 0 ||
		       svc_check_text(closure_data, "text", input->text, 1, 10000) != 0 ||
		       svc_check_id(closure_data, "user", input->user) != 0 ||
		       svc_check_exists(closure_data, svc_deps(service), "threads", "thread",
					input->thread, &thread.base) != 0 ||
		       svc_check_exists(closure_data, svc_deps(service), "users", "user",
					input->user, &user.base) != 0
		   ? -1
		   : 0;
}

static const char *const posts_indexes[] = {"thread", "user", NULL};

static const rt_dependency posts_calls[] = {
    {"threads", &threads__threads__descriptor}, {"users", &users__users__descriptor}, {NULL, NULL}};

/* posts_def: the service, for its executable (runtime/service_entry.c) and the monolith; its
 * List, ListByThread, ListByUser, Get and Create are the store's (svc_open) */
SVC_DEFINE(posts, &posts__posts__descriptor, posts_calls, posts_prepare,
	   .row = &posts__post__descriptor, .indexes = posts_indexes);
