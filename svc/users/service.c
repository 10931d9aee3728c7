/* service.c: the users service: list, get and create users, in its own SQLite store. */
#include "mesh.h"
#include "store.h"
#include "svc.h"
#include "users.pb-c.h"

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
	if (svc_create_replayed(svc_store(service), closure_data, &input->base,
				(ProtobufCClosure)closure) != 0)
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
	svc_create(svc_store(service), closure_data, &input->base, &row.base,
		   (ProtobufCClosure)closure);
}

static const char *const users_unique[] = {"username", NULL};
static const Users__Users_Service users_methods = {USERS__USERS__BASE_INIT, .create = users_create};

/* users_def: the service, for its executable (runtime/service_entry.c) and the monolith; List
 * and Get are the store's (svc_open) */
SVC_DEFINE(users, &users__users__descriptor, users_methods, NULL, .row = &users__user__descriptor,
	   .unique = users_unique);
