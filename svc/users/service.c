/* service.c: the users service: list, get and create users, in its own SQLite store; a
 * username is unique, 1 to 32 of a-z, 0-9 and _. */
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

/* users_prepare: what a new user must be. */
static int users_prepare(ProtobufCService *service, const ProtobufCMessage *request,
			 ProtobufCMessage *row, void *closure_data)
{
	const Users__CreateUserRequest *input = (const Users__CreateUserRequest *)request;
	(void)service;
	(void)row;
	if (!username_ok(input->username)) {
		mesh_fail(closure_data, MESH_INVALID_ARGUMENT,
			  input->username[0] == '\0'
			      ? "username is required"
			      : "username must be 1 to 32 characters of a-z, 0-9 and _");
		return -1;
	}
	return svc_check_text(closure_data, "name", input->name, 1, 100) != 0 ||
		       svc_check_text(closure_data, "bio", input->bio, 0, 1000) != 0
		   ? -1
		   : 0;
}

static const char *const users_unique[] = {"username", NULL};

/* users_def: the service, for its executable (runtime/service_entry.c) and the monolith; its
 * List, Get and Create are the store's (svc_open) */
SVC_DEFINE(users, &users__users__descriptor, NULL, users_prepare, .row = &users__user__descriptor,
	   .unique = users_unique);
