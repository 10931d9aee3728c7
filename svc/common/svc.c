/* svc.c: input checks, idempotent creates, pages and gets shared by the forum's services. */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pbjson.h"
#include "svc.h"

/* svc_state: what an implementation carries besides its methods, just before them in memory
 * (the methods' service argument points at the protobuf-c struct, which must come first). */
typedef struct svc_state {
	store *store;
	const rt_deps *deps;
} svc_state;

#define SVC_HEADER                                                                                 \
	((sizeof(svc_state) + _Alignof(max_align_t) - 1) / _Alignof(max_align_t) *                 \
	 _Alignof(max_align_t))

static svc_state *svc_state_of(const void *service)
{
	return (svc_state *)((char *)service - SVC_HEADER);
}

int svc_open(const rt_service_env *env, const void *impl, size_t impl_size, store_opts *opts,
	     ProtobufCService **out, char *err, size_t errlen)
{
	char *mem = malloc(SVC_HEADER + impl_size);
	svc_state *state = (svc_state *)mem;
	if (mem == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	memcpy(mem + SVC_HEADER, impl, impl_size);
	opts->dir = env->data_dir;
	opts->seed = env->seed;
	opts->sync_full = env->sync_full;
	state->deps = env->deps;
	if (store_open(&state->store, opts, err, errlen) != STORE_OK) {
		free(mem);
		return -1;
	}
	*out = (ProtobufCService *)(mem + SVC_HEADER);
	return 0;
}

store *svc_store(const void *service)
{
	return svc_state_of(service)->store;
}

const rt_deps *svc_deps(const void *service)
{
	return svc_state_of(service)->deps;
}

int64_t svc_count(ProtobufCService *impl)
{
	return store_count(svc_store(impl));
}

void svc_close(ProtobufCService *impl)
{
	if (impl == NULL)
		return;
	store_close(svc_store(impl));
	free(svc_state_of(impl));
}

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

/* svc_fail_store fails the call for a store result other than STORE_OK of the store operation
 * op ("insert"); row, if given, is what was being stored, so a clash can name the value. A
 * store error is logged. */
static void svc_fail_store(void *closure_data, store_result r, const char *err,
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

void svc_list(store *s, void *closure_data, const char *by, int64_t value, int32_t limit,
	      int64_t after, ProtobufCMessage *reply, const char *field, ProtobufCClosure closure)
{
	const ProtobufCFieldDescriptor *items =
	    protobuf_c_message_descriptor_get_field_by_name(reply->descriptor, field);
	const ProtobufCFieldDescriptor *next =
	    protobuf_c_message_descriptor_get_field_by_name(reply->descriptor, "next_after");
	store_rows rows;
	char err[256];
	store_result r;
	if (svc_check_page(closure_data, limit, after) != 0) {
		closure(NULL, closure_data);
		return;
	}
	r = store_list(s, by, value, after, limit, &rows, err, sizeof(err));
	if (r != STORE_OK) {
		svc_fail_store(closure_data, r, err, NULL, "list");
		closure(NULL, closure_data);
		return;
	}
	*(size_t *)((char *)reply + items->quantifier_offset) = rows.n;
	*(ProtobufCMessage ***)((char *)reply + items->offset) = rows.items;
	*(int64_t *)((char *)reply + next->offset) = rows.next_after;
	closure(reply, closure_data);
	store_rows_free(&rows);
}

void svc_get(store *s, void *closure_data, int64_t id, const char *what, ProtobufCClosure closure)
{
	ProtobufCMessage *row = NULL;
	char err[256];
	store_result r = store_get(s, id, &row, err, sizeof(err));
	if (r == STORE_NOT_FOUND)
		mesh_fail(closure_data, MESH_NOT_FOUND, "%s %" PRId64 " not found", what, id);
	else if (r != STORE_OK)
		svc_fail_store(closure_data, r, err, NULL, "get");
	closure(row, closure_data);
	if (row != NULL)
		protobuf_c_message_free_unpacked(row, NULL);
}
