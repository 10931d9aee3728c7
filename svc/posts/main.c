/* main.c: the posts service: list (all, by thread, by user), get and create posts; a post's
 * thread and user must exist (Threads.Get, Users.Get). */
#include "mesh.h"
#include "posts.pb-c.h"
#include "store.h"
#include "svc.h"
#include "threads.pb-c.h"
#include "users.pb-c.h"

static store *posts;

static void posts_list(Posts__Posts_Service *service, const Posts__ListPostsRequest *input,
		       Posts__ListPostsReply_Closure closure, void *closure_data)
{
	Posts__ListPostsReply reply = POSTS__LIST_POSTS_REPLY__INIT;
	svc_list(posts, closure_data, NULL, 0, input->limit, input->after, &reply.base, "posts",
		 (ProtobufCClosure)closure);
}

static void posts_get(Posts__Posts_Service *service, const Posts__GetPostRequest *input,
		      Posts__Post_Closure closure, void *closure_data)
{
	svc_get(posts, closure_data, input->id, "post", (ProtobufCClosure)closure);
}

static void posts_list_by_thread(Posts__Posts_Service *service,
				 const Posts__ListByThreadRequest *input,
				 Posts__ListPostsReply_Closure closure, void *closure_data)
{
	Posts__ListPostsReply reply = POSTS__LIST_POSTS_REPLY__INIT;
	svc_list(posts, closure_data, "thread", input->thread, input->limit, input->after,
		 &reply.base, "posts", (ProtobufCClosure)closure);
}

static void posts_list_by_user(Posts__Posts_Service *service, const Posts__ListByUserRequest *input,
			       Posts__ListPostsReply_Closure closure, void *closure_data)
{
	Posts__ListPostsReply reply = POSTS__LIST_POSTS_REPLY__INIT;
	svc_list(posts, closure_data, "user", input->user, input->limit, input->after, &reply.base,
		 "posts", (ProtobufCClosure)closure);
}

static void posts_create(Posts__Posts_Service *service, const Posts__CreatePostRequest *input,
			 Posts__Post_Closure closure, void *closure_data)
{
	Posts__Post row = POSTS__POST__INIT;
	Threads__GetThreadRequest thread = THREADS__GET_THREAD_REQUEST__INIT;
	Users__GetUserRequest user = USERS__GET_USER_REQUEST__INIT;
	if (svc_create_replayed(posts, closure_data, &input->base, (ProtobufCClosure)closure) != 0)
		return;
	thread.id = input->thread;
	user.id = input->user;
	if (svc_check_id(closure_data, "thread", input->thread) != 0 ||
	    svc_check_text(closure_data, "text", input->text, 1, 10000) != 0 ||
	    svc_check_id(closure_data, "user", input->user) != 0 ||
	    svc_check_exists(closure_data, "threads", "thread", input->thread, &thread.base) != 0 ||
	    svc_check_exists(closure_data, "users", "user", input->user, &user.base) != 0) {
		closure(NULL, closure_data);
		return;
	}
	row.thread = input->thread;
	row.text = input->text;
	row.user = input->user;
	svc_create(posts, closure_data, &input->base, &row.base, (ProtobufCClosure)closure);
}

static int posts_open(const mesh_service_env *env, char *err, size_t errlen)
{
	static const char *const indexes[] = {"thread", "user", NULL};
	store_opts opts = {.dir = env->data_dir,
			   .name = "posts",
			   .row = &posts__post__descriptor,
			   .indexes = indexes,
			   .seed = env->seed,
			   .sync_full = env->sync_full};
	return store_open(&posts, &opts, err, errlen) == STORE_OK ? 0 : -1;
}

static int64_t posts_count(void)
{
	return store_count(posts);
}

static void posts_close(void)
{
	store_close(posts);
}

static Posts__Posts_Service posts_service = POSTS__POSTS__INIT(posts_);

int main(int argc, char **argv)
{
	static const mesh_dependency calls[] = {{"threads", &threads__threads__descriptor},
						{"users", &users__users__descriptor},
						{NULL, NULL}};
	const mesh_service_def def = {
	    .name = "posts",
	    .impl = &posts_service.base,
	    .default_seed = CLEAVE_SOURCE_DIR "/svc/posts/seed.json",
	    .calls = calls,
	    .open = posts_open,
	    .count = posts_count,
	    .close = posts_close,
	};
	return mesh_service_main(argc, argv, &def);
}
