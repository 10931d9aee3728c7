/* main.c: the users service: Users.List and Users.Get over its own seed data, indexed by id. */
#include <inttypes.h>

#include "mesh.h"
#include "table.h"
#include "users.pb-c.h"

static table *users;

static void users_list(Users__Users_Service *service, const Users__ListUsersRequest *input,
		       Users__ListUsersReply_Closure closure, void *closure_data)
{
	Users__ListUsersReply reply = USERS__LIST_USERS_REPLY__INIT;
	reply.users = (Users__User **)table_rows(users, &reply.n_users);
	closure(&reply, closure_data);
}

static void users_get(Users__Users_Service *service, const Users__GetUserRequest *input,
		      Users__User_Closure closure, void *closure_data)
{
	const Users__User *user = (const Users__User *)table_get(users, input->id);
	if (user == NULL)
		mesh_fail(closure_data, MESH_NOT_FOUND, "user %" PRId64 " not found", input->id);
	closure(user, closure_data);
}

static int users_load(const char *path, char *err, size_t errlen)
{
	return table_load(&users, path, &users__user__descriptor, "id", err, errlen);
}

static size_t users_count(void)
{
	return table_count(users);
}

static void users_unload(void)
{
	table_free(users);
}

static Users__Users_Service users_service = USERS__USERS__INIT(users_);

int main(int argc, char **argv)
{
	const mesh_service_def def = {
	    .name = "users",
	    .impl = &users_service.base,
	    .default_seed = CLEAVE_SOURCE_DIR "/svc/users/seed.json",
	    .load = users_load,
	    .count = users_count,
	    .unload = users_unload,
	};
	return mesh_service_main(argc, argv, &def);
}
