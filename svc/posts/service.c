/* service.c: the posts service: list (all, by thread, by user), get and create posts; a post's
 * thread and user must exist (Threads.Get, Users.Get, made at once without blocking on an
 * event-loop thread). */
#include "mesh.h"
#include "posts.pb-c.h"
#include "store.h"
#include "svc.h"
#include "threads.pb-c.h"
#include "users.pb-c.h"

/* posts_prepare: what a new post must be: a text, in a thread and by a user (who must exist:
 * posts_checks). */
static int posts_prepare(ProtobufCService *service, const ProtobufCMessage *request,
			 ProtobufCMessage *row, void *closure_data)
{
	(void)service;
	(void)row; /* the request's fields are the whole row */
	const Posts__CreatePostRequest *input = (const Posts__CreatePostRequest *)request;
	return svc_check_id(closure_data, "thread", input->thread) != 0 ||
		       svc_check_text(closure_data, "text", input->text, 1, 10000) != 0 ||
		       svc_check_id(closure_data, "user", input->user) != 0
		   ? -1
		   : 0;
}

/* posts_checks: a post's thread and user exist (Threads.Get, Users.Get) */
static const svc_check posts_checks[] = {
    {"thread", "thread", "threads", &threads__get_thread_request__descriptor},
    {"user", "user", "users", &users__get_user_request__descriptor},
    {NULL, NULL, NULL, NULL},
};

static const char *const posts_indexes[] = {"thread", "user", NULL};

static const rt_dependency posts_calls[] = {
    {"threads", &threads__threads__descriptor}, {"users", &users__users__descriptor}, {NULL, NULL}};

/* posts_def: the service, for its executable (runtime/service_entry.c) and the monolith; its
 * List, ListByThread, ListByUser, Get and Create are the store's (svc_open) */
SVC_DEFINE_CHECKED(posts, &posts__posts__descriptor, posts_calls, posts_prepare, posts_checks,
		   .row = &posts__post__descriptor, .indexes = posts_indexes);
