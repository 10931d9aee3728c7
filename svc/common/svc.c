/* svc.c: input checks, idempotent creates, pages and gets shared by the forum's services. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "pbjson.h"
#include "svc.h"

int svc_check_page(void *closure_data, int32_t limit, int64_t after)
{
	if (limit < 0 || limit > SVC_PAGE_MAX) {
		mesh_fail(closure_data, MESH_INVALID_ARGUMENT,
			  "limit must be 1 to %d, not %" PRId32, SVC_PAGE_MAX, limit);
		return -1;
	}
	if (after < 0) {
		mesh_fail(closure_data, MESH_INVALID_ARGUMENT, "after must not be negative");
		return -1;
	}
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

/* svc_key fills key from the call; returns it, or NULL if the call carries no key. */
static const store_key *svc_key(store_key *key, void *closure_data, const ProtobufCMessage *request)
{
	key->key = mesh_call_idempotency_key(closure_data);
	key->method = "Create";
	key->request = request;
	return key->key != NULL ? key : NULL;
}

void svc_fail_store(void *closure_data, store_result r, const char *err,
		    const ProtobufCMessage *row, const char *op)
{
	const ProtobufCFieldDescriptor *f =
	    row != NULL ? protobuf_c_message_descriptor_get_field_by_name(row->descriptor, err)
			: NULL;
	switch (r) {
	case STORE_EXISTS:
		if (f != NULL && f->type == PROTOBUF_C_TYPE_STRING)
			mesh_fail(closure_data, MESH_ALREADY_EXISTS, "%s '%s' is taken", err,
				  *(char *const *)((const char *)row + f->offset));
		else
			mesh_fail(closure_data, MESH_ALREADY_EXISTS, "that %s is taken", err);
		break;
	case STORE_CONFLICT:
		mesh_fail(closure_data, MESH_ABORTED, "%s", err);
		break;
	case STORE_NOT_FOUND:
		mesh_fail(closure_data, MESH_NOT_FOUND, "%s", err);
		break;
	default:
		mesh_log(closure_data, "store %s failed: %s", op, err);
		mesh_fail(closure_data, MESH_INTERNAL, "store: %s", err);
		break;
	}
}

int svc_create_replayed(store *s, void *closure_data, const ProtobufCMessage *request,
			ProtobufCClosure closure)
{
	store_key key;
	ProtobufCMessage *created = NULL;
	char err[256];
	store_result r;
	if (svc_key(&key, closure_data, request) == NULL)
		return 0;
	r = store_replay(s, &key, &created, err, sizeof(err));
	if (r == STORE_NOT_FOUND)
		return 0;
	if (r != STORE_OK) {
		svc_fail_store(closure_data, r, err, NULL, "replay");
		closure(NULL, closure_data);
		return -1;
	}
	closure(created, closure_data);
	protobuf_c_message_free_unpacked(created, NULL);
	return 1;
}

void svc_create(store *s, void *closure_data, const ProtobufCMessage *request,
		const ProtobufCMessage *row, ProtobufCClosure closure)
{
	store_key key;
	ProtobufCMessage *created = NULL;
	char err[256];
	int replayed;
	store_result r = store_insert(s, row, svc_key(&key, closure_data, request), &created,
				      &replayed, err, sizeof(err));
	if (r != STORE_OK) {
		svc_fail_store(closure_data, r, err, row, "insert");
		closure(NULL, closure_data);
		return;
	}
	closure(created, closure_data);
	protobuf_c_message_free_unpacked(created, NULL);
}
