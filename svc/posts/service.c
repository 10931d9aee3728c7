/* service.c: the posts service: list (all, by thread, by user), get and create posts; a post's
 * thread and user must exist (Threads.Get, Users.Get). */
#include "mesh.h"
#include "posts.pb-c.h"
#include "store.h"
#include "svc.h"
#include "threads.pb-c.h"
#include "users.pb-c.h"

static void posts_create(Posts__Posts_Service *service, const Posts__CreatePostRequest *input,
			 Posts__Post_Closure closure, void *closure_data)
{
	Posts__Post row = POSTS__POST__INIT;
	Threads__GetThreadRequest thread = THREADS__GET_THREAD_REQUEST__INIT;
	Users__GetUserRequest user = USERS__GET_USER_REQUEST__INIT;
	if (svc_create_replayed(svc_store(service), closure_data, &input->base,
				(ProtobufCClosure)closure) != 0)
		return;
	thread.id = input->thread;
	user.id = input->user;
	if (svc_check_id(closure_data, "thread", input->thread) != 0 ||
	    svc_check_text(closure_data, "text", input->text, 1, 10000) != 0 ||
	    svc_check_id(closure_data, "user", input->user) != 0 ||
	    svc_check_exists(closure_data, svc_deps(service), "threads", "thread", input->thread,
			     &thread.base) != 0 ||
	    svc_check_exists(closure_data, svc_deps(service), "users", "user", input->user,
			     &user.base) != 0) {
		closure(NULL, closure_data);
		return;
	}
	row.thread = input->thread;
	row.text = input->text;
	row.user = input->user;
	svc_create(svc_store(service), closure_data, &input->base, &row.base,
		   (ProtobufCClosure)closure);
}

static const char *const posts_indexes[] = {"thread", "user", NULL};
static const Posts__Posts_Service posts_methods = {POSTS__POSTS__BASE_INIT, .create = posts_create};

static const rt_dependency posts_calls[] = {
    {"threads", &threads__threads__descriptor}, {"users", &users__users__descriptor}, {NULL, NULL}};

/* posts_def: the service, for its executable (runtime/service_entry.c) and the monolith; List
 * and Get are the store's (svc_open) */
SVC_DEFINE(posts, &posts__posts__descriptor, posts_methods, posts_calls,
	   .row = &posts__post__descriptor, .indexes = posts_indexes);
