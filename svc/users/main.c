/* main.c: the users service: list, get and create users, in its own SQLite store. */
#include "mesh.h"
#include "store.h"
#include "svc.h"
#include "users.pb-c.h"

static store *users;

static void users_list(Users__Users_Service *service, const Users__ListUsersRequest *input,
		       Users__ListUsersReply_Closure closure, void *closure_data)
{
	Users__ListUsersReply reply = USERS__LIST_USERS_REPLY__INIT;
	svc_list(users, closure_data, NULL, 0, input->limit, input->after, &reply.base, "users",
		 (ProtobufCClosure)closure);
}

static void users_get(Users__Users_Service *service, const Users__GetUserRequest *input,
		      Users__User_Closure closure, void *closure_data)
{
	svc_get(users, closure_data, input->id, "user", (ProtobufCClosure)closure);
}

/* username_ok says whether name is 1 to 32 of [a-z0-9_]. */
static int username_ok(const char *name)
{
	size_t n = 0;
	for (; name[n] != '\0'; n++)
		if (!((name[n] >= 'a' && name[n] <= 'z') || (name[n] >= '0' && name[n] <= '9') ||
		      name[n] == '_'))
			return 0;
	return n >= 1 && n <= 32;
}

static void users_create(Users__Users_Service *service, const Users__CreateUserRequest *input,
			 Users__User_Closure closure, void *closure_data)
{
	Users__User row = USERS__USER__INIT;
	if (svc_create_replayed(users, closure_data, &input->base, (ProtobufCClosure)closure) != 0)
		return;
	if (!username_ok(input->username)) {
		mesh_fail(closure_data, MESH_INVALID_ARGUMENT,
			  input->username[0] == '\0'
			      ? "username is required"
			      : "username must be 1 to 32 characters of a-z, 0-9 and _");
		closure(NULL, closure_data);
		return;
	}
	if (svc_check_text(closure_data, "name", input->name, 1, 100) != 0 ||
	    svc_check_text(closure_data, "bio", input->bio, 0, 1000) != 0) {
		closure(NULL, closure_data);
		return;
	}
	row.username = input->username;
	row.name = input->name;
	row.bio = input->bio;
	svc_create(users, closure_data, &input->base, &row.base, (ProtobufCClosure)closure);
}

static int users_open(const mesh_service_env *env, char *err, size_t errlen)
{
	static const char *const unique[] = {"username", NULL};
	store_opts opts = {.dir = env->data_dir,
			   .name = "users",
			   .row = &users__user__descriptor,
			   .unique = unique,
			   .seed = env->seed,
			   .sync_full = env->sync_full};
	return store_open(&users, &opts, err, errlen) == STORE_OK ? 0 : -1;
}

static int64_t users_count(void)
{
	return store_count(users);
}

static void users_close(void)
{
	store_close(users);
}

static Users__Users_Service users_service = USERS__USERS__INIT(users_);

int main(int argc, char **argv)
{
	const mesh_service_def def = {
	    .name = "users",
	    .impl = &users_service.base,
	    .default_seed = CLEAVE_SOURCE_DIR "/svc/users/seed.json",
	    .open = users_open,
	    .count = users_count,
	    .close = users_close,
	};
	return mesh_service_main(argc, argv, &def);
}
