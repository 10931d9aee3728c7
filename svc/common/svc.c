/* svc.c: the checks of inputs the forum's services share, and of records in another service. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "pbjson.h"
#include "svc.h"

int svc_check_page(void *closure_data, int32_t *limit, int64_t after)
{
	if (*limit < 0 || *limit > SVC_PAGE_MAX) {
		mesh_fail(closure_data, MESH_INVALID_ARGUMENT,
			  "limit must be 1 to %d (0 or none: a page of %d), not %" PRId32,
			  SVC_PAGE_MAX, SVC_PAGE_DEFAULT, *limit);
		return -1;
	}
	if (after < 0) {
		mesh_fail(closure_data, MESH_INVALID_ARGUMENT, "after must not be negative");
		return -1;
	}
	if (*limit == 0)
		*limit = SVC_PAGE_DEFAULT;
	return 0;
}

int svc_check_text(void *closure_data, const char *field, const char *text, long min, long max)
{
	long n = pbjson_utf8_length(text, strlen(text));
	if (n < 0) {
		mesh_fail(closure_data, MESH_INVALID_ARGUMENT, "%s must be UTF-8 text", field);
		return -1;
	}
	if (n < min || n > max) {
		if (min > 0 && n == 0)
			mesh_fail(closure_data, MESH_INVALID_ARGUMENT, "%s is required", field);
		else
			mesh_fail(closure_data, MESH_INVALID_ARGUMENT,
				  "%s must be %ld to %ld characters, not %ld", field, min, max, n);
		return -1;
	}
	return 0;
}

int svc_check_id(void *closure_data, const char *field, int64_t id)
{
	if (id > 0)
		return 0;
	if (id == 0)
		mesh_fail(closure_data, MESH_INVALID_ARGUMENT, "%s is required", field);
	else
		mesh_fail(closure_data, MESH_INVALID_ARGUMENT, "%s must be a positive id", field);
	return -1;
}

int svc_check_exists(void *closure_data, const rt_deps *deps, const char *dependency,
		     const char *what, int64_t id, const ProtobufCMessage *request)
{
	mesh_client *client = rt_deps_client(deps, dependency);
	char message[MESH_MESSAGE_MAX];
	mesh_status st;
	if (client == NULL) {
		mesh_fail(closure_data, MESH_INTERNAL, "no client of %s", dependency);
		return -1;
	}
	st = mesh_client_call(client, "Get", request, NULL, closure_data, message, sizeof(message));
	if (st == MESH_OK)
		return 0;
	/* a failed check is logged with the dependency's answer, which the caller does not see */
	mesh_log(closure_data, "check failed: %s %" PRId64 ": %s.Get answered %s: %s", what, id,
		 dependency, mesh_status_name(st), message);
	if (st == MESH_NOT_FOUND)
		mesh_fail(closure_data, MESH_FAILED_PRECONDITION, "%s %" PRId64 " does not exist",
			  what, id);
	else
		mesh_fail(closure_data, st, "checking %s %" PRId64 ": %s", what, id, message);
	return -1;
}
