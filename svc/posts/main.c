/* main.c: the posts service: list, get, and list by thread or user, each a binary search. */
#include <inttypes.h>

#include "mesh.h"
#include "posts.pb-c.h"
#include "table.h"

static table *posts;
static int by_thread, by_user; /* index numbers in posts */

static void posts_list(Posts__Posts_Service *service, const Posts__ListPostsRequest *input,
		       Posts__ListPostsReply_Closure closure, void *closure_data)
{
	Posts__ListPostsReply reply = POSTS__LIST_POSTS_REPLY__INIT;
	reply.posts = (Posts__Post **)table_rows(posts, &reply.n_posts);
	closure(&reply, closure_data);
}

static void posts_get(Posts__Posts_Service *service, const Posts__GetPostRequest *input,
		      Posts__Post_Closure closure, void *closure_data)
{
	const Posts__Post *post = (const Posts__Post *)table_get(posts, input->id);
	if (post == NULL)
		mesh_fail(closure_data, MESH_NOT_FOUND, "post %" PRId64 " not found", input->id);
	closure(post, closure_data);
}

static void posts_list_by_thread(Posts__Posts_Service *service,
				 const Posts__ListByThreadRequest *input,
				 Posts__ListPostsReply_Closure closure, void *closure_data)
{
	Posts__ListPostsReply reply = POSTS__LIST_POSTS_REPLY__INIT;
	reply.posts = (Posts__Post **)table_range(posts, by_thread, input->thread, &reply.n_posts);
	closure(&reply, closure_data);
}

static void posts_list_by_user(Posts__Posts_Service *service, const Posts__ListByUserRequest *input,
			       Posts__ListPostsReply_Closure closure, void *closure_data)
{
	Posts__ListPostsReply reply = POSTS__LIST_POSTS_REPLY__INIT;
	reply.posts = (Posts__Post **)table_range(posts, by_user, input->user, &reply.n_posts);
	closure(&reply, closure_data);
}

static int posts_load(const char *path, char *err, size_t errlen)
{
	if (table_load(&posts, path, &posts__post__descriptor, "id", err, errlen) != 0)
		return -1;
	if ((by_thread = table_add_index(posts, "thread", err, errlen)) < 0 ||
	    (by_user = table_add_index(posts, "user", err, errlen)) < 0) {
		table_free(posts);
		return -1;
	}
	return 0;
}

static size_t posts_count(void)
{
	return table_count(posts);
}

static void posts_unload(void)
{
	table_free(posts);
}

static Posts__Posts_Service posts_service = POSTS__POSTS__INIT(posts_);

int main(int argc, char **argv)
{
	const mesh_service_def def = {
	    .name = "posts",
	    .impl = &posts_service.base,
	    .default_seed = CLEAVE_SOURCE_DIR "/svc/posts/seed.json",
	    .load = posts_load,
	    .count = posts_count,
	    .unload = posts_unload,
	};
	return mesh_service_main(argc, argv, &def);
}
