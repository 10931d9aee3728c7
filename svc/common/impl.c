/* impl.c: a service's implementation as the runtime serves it: the methods the service wrote,
 * the standard Get and List methods its store answers, and the state they share. */
#include <ctype.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svc.h"

/* svc_standard: what the store does for a method the service left NULL. */
typedef enum svc_standard {
	SVC_OWN,  /* the service's own method */
	SVC_GET,  /* the row whose id the request's id names */
	SVC_LIST, /* a page of rows, of every row or those whose `by` is the request's */
} svc_standard;

/* svc_plan: how one method is served. */
typedef struct svc_plan {
	svc_standard kind;
	const ProtobufCFieldDescriptor *id;    /* SVC_GET: the request's id */
	const ProtobufCFieldDescriptor *limit; /* SVC_LIST: the request's page */
	const ProtobufCFieldDescriptor *after;
	const ProtobufCFieldDescriptor *by;    /* SVC_LIST: the filter, or NULL for every row */
	const ProtobufCFieldDescriptor *items; /* SVC_LIST: the reply's repeated rows */
	const ProtobufCFieldDescriptor *next;  /* SVC_LIST: the reply's next_after */
} svc_plan;

/* svc_state: what an implementation carries besides its methods, just before them in memory
 * (the methods' service argument points at the protobuf-c struct, which must come first). */
typedef struct svc_state {
	store *store;
	const rt_deps *deps;
	svc_plan *plans; /* one per method of the service */
	char what[64];	 /* the row's name in messages, "user" for users.User */
} svc_state;

#define SVC_REPLY_MAX 256 /* bytes of a List's reply message, built on the stack */

#define SVC_HEADER                                                                                 \
	((sizeof(svc_state) + _Alignof(max_align_t) - 1) / _Alignof(max_align_t) *                 \
	 _Alignof(max_align_t))

/* svc_method: a method of a generated service struct, as protobuf-c calls it. */
typedef void (*svc_method)(ProtobufCService *service, const ProtobufCMessage *input,
			   ProtobufCClosure closure, void *closure_data);

static svc_state *svc_state_of(const void *service)
{
	return (svc_state *)((char *)service - SVC_HEADER);
}

/* svc_field returns message's field called name if it has type (and is not repeated), else
 * NULL. */
static const ProtobufCFieldDescriptor *svc_field(const ProtobufCMessageDescriptor *message,
						 const char *name, ProtobufCType type)
{
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field_by_name(message, name);
	return f != NULL && f->type == type && f->label != PROTOBUF_C_LABEL_REPEATED ? f : NULL;
}

/* svc_plan_list plans a List: a request of limit, after and at most one indexed int64 filter;
 * a reply of the repeated rows and next_after. Returns 0 or -1. */
static int svc_plan_list(svc_plan *p, const ProtobufCMethodDescriptor *m, const store_opts *opts)
{
	const ProtobufCMessageDescriptor *in = m->input, *out = m->output;
	p->limit = svc_field(in, "limit", PROTOBUF_C_TYPE_INT32);
	p->after = svc_field(in, "after", PROTOBUF_C_TYPE_INT64);
	p->next = svc_field(out, "next_after", PROTOBUF_C_TYPE_INT64);
	if (p->limit == NULL || p->after == NULL || p->next == NULL || in->n_fields > 3 ||
	    out->n_fields != 2 || out->sizeof_message > SVC_REPLY_MAX)
		return -1;
	for (unsigned i = 0; i < out->n_fields; i++)
		if (out->fields[i].label == PROTOBUF_C_LABEL_REPEATED &&
		    out->fields[i].type == PROTOBUF_C_TYPE_MESSAGE &&
		    out->fields[i].descriptor == opts->row)
			p->items = &out->fields[i];
	for (unsigned i = 0; i < in->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &in->fields[i];
		if (f == p->limit || f == p->after)
			continue;
		for (size_t k = 0; opts->indexes != NULL && opts->indexes[k] != NULL; k++)
			if (strcmp(opts->indexes[k], f->name) == 0 &&
			    svc_field(in, f->name, PROTOBUF_C_TYPE_INT64) != NULL)
				p->by = f;
		if (p->by == NULL)
			return -1;
	}
	if (p->items == NULL)
		return -1;
	p->kind = SVC_LIST;
	return 0;
}

/* svc_plan_methods plans every method of impl the service left NULL: a Get or a List the store
 * answers. Returns 0, or -1 with the method that is neither in err. */
static int svc_plan_methods(svc_state *st, const ProtobufCService *impl, const store_opts *opts,
			    char *err, size_t errlen)
{
	const ProtobufCServiceDescriptor *desc = impl->descriptor;
	const svc_method *methods = (const svc_method *)(impl + 1);
	for (unsigned i = 0; i < desc->n_methods; i++) {
		const ProtobufCMethodDescriptor *m = &desc->methods[i];
		svc_plan *p = &st->plans[i];
		if (methods[i] != NULL)
			continue;
		p->id = svc_field(m->input, "id", PROTOBUF_C_TYPE_INT64);
		if (m->output == opts->row && p->id != NULL && m->input->n_fields == 1) {
			p->kind = SVC_GET;
			continue;
		}
		if (svc_plan_list(p, m, opts) != 0) {
			snprintf(err, errlen,
				 "%s.%s has no implementation, and is neither a Get (id to %s) nor "
				 "a List (limit, after and an indexed field to rows and "
				 "next_after) the store can answer",
				 desc->name, m->name, opts->row->name);
			return -1;
		}
	}
	return 0;
}

/* svc_get answers a Get with the row whose id is the request's, or NOT_FOUND ("user 9 not
 * found"). */
static void svc_get(svc_state *st, const svc_plan *p, const ProtobufCMessage *input,
		    ProtobufCClosure closure, void *closure_data)
{
	int64_t id = *(const int64_t *)((const char *)input + p->id->offset);
	ProtobufCMessage *row = NULL;
	char err[256];
	store_result r = store_get(st->store, id, &row, err, sizeof(err));
	if (r == STORE_NOT_FOUND)
		mesh_fail(closure_data, MESH_NOT_FOUND, "%s %" PRId64 " not found", st->what, id);
	else if (r != STORE_OK)
		svc_fail_store(closure_data, r, err, NULL, "get");
	closure(row, closure_data);
	if (row != NULL)
		protobuf_c_message_free_unpacked(row, NULL);
}

/* svc_list answers a List with a page of rows: the reply's rows and the next page's cursor. */
static void svc_list(svc_state *st, const svc_plan *p, const ProtobufCMethodDescriptor *m,
		     const ProtobufCMessage *input, ProtobufCClosure closure, void *closure_data)
{
	const char *in = (const char *)input;
	int32_t limit = *(const int32_t *)(in + p->limit->offset);
	int64_t after = *(const int64_t *)(in + p->after->offset);
	int64_t value = p->by != NULL ? *(const int64_t *)(in + p->by->offset) : 0;
	union {
		max_align_t align;
		char bytes[SVC_REPLY_MAX];
	} reply;
	char err[256];
	store_rows rows;
	store_result r;
	if (svc_check_page(closure_data, limit, after) != 0) {
		closure(NULL, closure_data);
		return;
	}
	r = store_list(st->store, p->by != NULL ? p->by->name : NULL, value, after, limit, &rows,
		       err, sizeof(err));
	if (r != STORE_OK) {
		svc_fail_store(closure_data, r, err, NULL, "list");
		closure(NULL, closure_data);
		return;
	}
	/* the reply is two fields, a repeated one and an int64 (svc_plan_list) */
	m->output->message_init((ProtobufCMessage *)reply.bytes);
	*(size_t *)(reply.bytes + p->items->quantifier_offset) = rows.n;
	*(ProtobufCMessage ***)(reply.bytes + p->items->offset) = rows.items;
	*(int64_t *)(reply.bytes + p->next->offset) = rows.next_after;
	closure((ProtobufCMessage *)reply.bytes, closure_data);
	store_rows_free(&rows);
}

/* svc_invoke is the implementation's invoke: the service's own method, or a standard one. */
static void svc_invoke(ProtobufCService *service, unsigned method_index,
		       const ProtobufCMessage *input, ProtobufCClosure closure, void *closure_data)
{
	svc_state *st = svc_state_of(service);
	const svc_method *methods = (const svc_method *)(service + 1);
	const svc_plan *p = &st->plans[method_index];
	switch (p->kind) {
	case SVC_GET:
		svc_get(st, p, input, closure, closure_data);
		break;
	case SVC_LIST:
		svc_list(st, p, &service->descriptor->methods[method_index], input, closure,
			 closure_data);
		break;
	default:
		methods[method_index](service, input, closure, closure_data);
		break;
	}
}

int svc_open(const rt_service_env *env, const void *impl, size_t impl_size, store_opts *opts,
	     ProtobufCService **out, char *err, size_t errlen)
{
	const ProtobufCServiceDescriptor *desc = ((const ProtobufCService *)impl)->descriptor;
	char *mem = calloc(1, SVC_HEADER + impl_size);
	svc_state *st = (svc_state *)mem;
	ProtobufCService *service = (ProtobufCService *)(mem + SVC_HEADER);
	const char *dot;
	if (mem == NULL || (st->plans = calloc(desc->n_methods, sizeof(*st->plans))) == NULL) {
		free(mem);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	memcpy(service, impl, impl_size);
	service->invoke = svc_invoke;
	dot = strrchr(opts->row->name, '.');
	snprintf(st->what, sizeof(st->what), "%s", dot != NULL ? dot + 1 : opts->row->name);
	st->what[0] = (char)tolower((unsigned char)st->what[0]);
	opts->dir = env->data_dir;
	opts->seed = env->seed;
	opts->sync_full = env->sync_full;
	st->deps = env->deps;
	if (svc_plan_methods(st, service, opts, err, errlen) != 0 ||
	    store_open(&st->store, opts, err, errlen) != STORE_OK) {
		free(st->plans);
		free(mem);
		return -1;
	}
	*out = service;
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
	svc_state *st;
	if (impl == NULL)
		return;
	st = svc_state_of(impl);
	store_close(st->store);
	free(st->plans);
	free(st);
}
