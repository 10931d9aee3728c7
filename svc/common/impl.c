/* impl.c: a service's implementation as the runtime serves it: the methods the service wrote,
 * the standard Get, List and Create its store answers, and the state they share. */
#include <ctype.h>
#include <inttypes.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pbjson.h"
#include "svc.h"

/* svc_standard: what the store does for a method the service left NULL. */
typedef enum svc_standard {
	SVC_OWN,    /* the service's own method */
	SVC_GET,    /* the row whose id the request's id names */
	SVC_LIST,   /* a page of rows, of every row or those whose `by` is the request's */
	SVC_CREATE, /* a new row of the request's fields, once checked */
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

typedef struct svc_batch svc_batch;

/* svc_state: what an implementation carries besides its methods, just before them in memory
 * (the methods' service argument points at the protobuf-c struct, which must come first). */
typedef struct svc_state {
	store *store;
	const rt_deps *deps;
	svc_plan *plans;	 /* one per method of the service */
	svc_prepare prepare;	 /* what a standard Create does first, or NULL */
	const svc_check *checks; /* what a standard Create checks exists (svc_check), or NULL */
	char what[64];		 /* the row's name in messages, "user" for users.User */
	pthread_mutex_t batches_lock; /* batches */
	svc_batch *batches;	      /* one per event-loop thread that served a Create */
} svc_state;

#define SVC_MESSAGE_MAX 256 /* bytes of a List's reply or a Create's row, built on the stack */

/* svc_pending: a Create deferred until its batch commits: its row (borrowing the request's
 * strings, which stay valid until the call is answered) and its call. */
typedef struct svc_pending {
	union {
		max_align_t align;
		char bytes[SVC_MESSAGE_MAX];
	} row;
	store_key key;
	int has_key;
	ProtobufCClosure closure;
	void *closure_data;
} svc_pending;

/* svc_batch: the Creates one event-loop thread took in this turn of its loop, committed together
 * by a timer due at once (it runs at the end of the turn). Only that thread touches it. */
struct svc_batch {
	mesh_loop *loop;
	mesh_timer *timer; /* the loop's: freed with it */
	svc_state *st;
	svc_pending *pending;
	store_insert_item *items;
	size_t n, cap;
	svc_batch *next; /* in svc_state.batches */
};

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
	    out->n_fields != 2 || out->sizeof_message > SVC_MESSAGE_MAX)
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

/* svc_plan_create plans a Create: a request whose fields are fields of the row (the same name
 * and type, not repeated, not id), a reply of the row. Returns 0 or -1. */
static int svc_plan_create(svc_plan *p, const ProtobufCMethodDescriptor *m, const store_opts *opts)
{
	if (m->output != opts->row || opts->row->sizeof_message > SVC_MESSAGE_MAX)
		return -1;
	for (unsigned i = 0; i < m->input->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &m->input->fields[i];
		if (f->label == PROTOBUF_C_LABEL_REPEATED || strcmp(f->name, "id") == 0 ||
		    f->type == PROTOBUF_C_TYPE_MESSAGE ||
		    svc_field(opts->row, f->name, f->type) == NULL)
			return -1;
	}
	p->kind = SVC_CREATE;
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
		if (svc_plan_list(p, m, opts) != 0 && svc_plan_create(p, m, opts) != 0) {
			snprintf(err, errlen,
				 "%s.%s has no implementation, and is not a Get (id to %s), a List "
				 "(limit, after and an indexed field to rows and next_after) or a "
				 "Create (fields of %s to %s) the store can answer",
				 desc->name, m->name, opts->row->name, opts->row->name,
				 opts->row->name);
			return -1;
		}
	}
	return 0;
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
 * store error is logged. err is the store's reason. */
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
	case STORE_UNAVAILABLE:
		/* the database's address and state are the operator's: logged, not answered */
		mesh_log(closure_data, "store %s: database unavailable: %s", op, err);
		if (strstr(err, "outcome is unknown") != NULL)
			mesh_fail(closure_data, MESH_UNAVAILABLE,
				  "the store lost its database during the create, whose outcome is "
				  "unknown: retry it with the same Idempotency-Key");
		else
			mesh_fail(closure_data, MESH_UNAVAILABLE,
				  "the store's database is unavailable%s; try again",
				  strcmp(op, "insert") == 0 ? ": nothing was written" : "");
		break;
	default:
		mesh_log(closure_data, "store %s failed: %s", op, err);
		mesh_fail(closure_data, MESH_INTERNAL, "store: %s", err);
		break;
	}
}

/* svc_replay answers the call from an earlier create with the same idempotency key, if there
 * was one. Returns 1 if it answered (the closure was called), 0 if the create must go on, -1 if
 * it failed the call (the key was used with another request). */
static int svc_replay(store *s, void *closure_data, const ProtobufCMessage *request,
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

/* svc_insert inserts row, recording the call's idempotency key with request, and answers the
 * call with the stored row (ALREADY_EXISTS naming the field, or another failure, otherwise). */
static void svc_insert(store *s, void *closure_data, const ProtobufCMessage *request,
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
		char bytes[SVC_MESSAGE_MAX];
	} reply;
	char err[256];
	store_rows rows;
	store_result r;
	/* never 0 past this: the store would read every row */
	if (svc_check_page(closure_data, &limit, after) != 0) {
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

/* svc_batch_commit commits a loop thread's batch of Creates in one transaction, then answers
 * each: the stored row, or why it was not stored. */
static void svc_batch_commit(void *arg)
{
	svc_batch *b = arg;
	char err[256];
	size_t n = b->n;
	b->n = 0;
	for (size_t i = 0; i < n; i++) {
		b->items[i].row = (const ProtobufCMessage *)b->pending[i].row.bytes;
		b->items[i].key = b->pending[i].has_key ? &b->pending[i].key : NULL;
	}
	store_insert_many(b->st->store, b->items, n, err, sizeof(err));
	for (size_t i = 0; i < n; i++) {
		store_insert_item *it = &b->items[i];
		svc_pending *p = &b->pending[i];
		if (it->result != STORE_OK) {
			svc_fail_store(p->closure_data, it->result, it->err, it->row, "insert");
			p->closure(NULL, p->closure_data);
			continue;
		}
		p->closure(it->created, p->closure_data);
		protobuf_c_message_free_unpacked(it->created, NULL);
		it->created = NULL;
	}
}

/* svc_batch_of returns the batch of the loop thread serving the call, made on its first Create;
 * NULL if memory ran out. */
static svc_batch *svc_batch_of(svc_state *st, mesh_loop *loop)
{
	svc_batch *b;
	pthread_mutex_lock(&st->batches_lock);
	for (b = st->batches; b != NULL && b->loop != loop; b = b->next)
		;
	if (b == NULL && (b = calloc(1, sizeof(*b))) != NULL) {
		b->loop = loop;
		b->st = st;
		if ((b->timer = loop->ops->timer_new(loop, svc_batch_commit, b)) == NULL) {
			free(b);
			b = NULL;
		} else {
			b->next = st->batches;
			st->batches = b;
		}
	}
	pthread_mutex_unlock(&st->batches_lock);
	return b;
}

/* svc_batch_add defers the call and puts its row in its thread's batch, committed at the end of
 * the loop's turn. Returns 0, or -1 if it cannot (no loop, out of memory): the caller inserts
 * the row itself. */
static int svc_batch_add(svc_state *st, void *closure_data, const ProtobufCMessage *request,
			 const ProtobufCMessage *row, ProtobufCClosure closure)
{
	mesh_loop *loop = mesh_call_loop(closure_data);
	svc_batch *b;
	svc_pending *p;
	if (loop == NULL || (b = svc_batch_of(st, loop)) == NULL)
		return -1;
	if (b->n == b->cap) {
		size_t cap = b->cap > 0 ? 2 * b->cap : 64;
		svc_pending *pending = realloc(b->pending, cap * sizeof(*pending));
		store_insert_item *items;
		if (pending == NULL)
			return -1;
		b->pending = pending;
		if ((items = realloc(b->items, cap * sizeof(*items))) == NULL)
			return -1;
		b->items = items;
		b->cap = cap;
	}
	if (mesh_call_defer(closure_data) != 0)
		return -1;
	p = &b->pending[b->n];
	memcpy(p->row.bytes, row, row->descriptor->sizeof_message);
	p->has_key = svc_key(&p->key, closure_data, request) != NULL;
	p->closure = closure;
	p->closure_data = closure_data;
	if (b->n++ == 0)
		loop->ops->timer_arm(loop, b->timer, 0);
	return 0;
}

/* svc_check_id_of returns the id the request's field of check holds (0 if there is no such
 * int64 field). */
static int64_t svc_check_id_of(const svc_check *check, const ProtobufCMessage *input)
{
	const ProtobufCFieldDescriptor *f =
	    svc_field(input->descriptor, check->field, PROTOBUF_C_TYPE_INT64);
	return f != NULL ? *(const int64_t *)((const char *)input + f->offset) : 0;
}

/* svc_get_request fills buf (SVC_MESSAGE_MAX bytes) with check's Get request for id; returns
 * it, or NULL if the request is not one int64 id. */
static ProtobufCMessage *svc_get_request(const svc_check *check, void *buf, int64_t id)
{
	const ProtobufCFieldDescriptor *f =
	    svc_field(check->get_request, "id", PROTOBUF_C_TYPE_INT64);
	if (f == NULL || check->get_request->sizeof_message > SVC_MESSAGE_MAX)
		return NULL;
	check->get_request->message_init(buf);
	*(int64_t *)((char *)buf + f->offset) = id;
	return buf;
}

/* svc_checks_blocking makes the checks of st one after the other with the blocking clients.
 * Returns 0 if every record exists, -1 after mesh_fail. */
static int svc_checks_blocking(svc_state *st, const ProtobufCMessage *input, void *closure_data)
{
	for (const svc_check *c = st->checks; c != NULL && c->field != NULL; c++) {
		union {
			max_align_t align;
			char bytes[SVC_MESSAGE_MAX];
		} req;
		int64_t id = svc_check_id_of(c, input);
		ProtobufCMessage *get = svc_get_request(c, req.bytes, id);
		if (get == NULL) {
			mesh_fail(closure_data, MESH_INTERNAL, "cannot check %s", c->what);
			return -1;
		}
		if (svc_check_exists(closure_data, st->deps, c->dependency, c->what, id, get) != 0)
			return -1;
	}
	return 0;
}

typedef struct svc_create_op svc_create_op;

/* svc_check_call: one check in flight on a loop thread's client. */
typedef struct svc_check_call {
	mesh_rpc rpc; /* first: the closure_data of the call */
	svc_create_op *op;
	int64_t id;
	int done;
} svc_check_call;

/* svc_create_op: a Create whose checks are out; deferred, it is answered once they are back. */
struct svc_create_op {
	svc_state *st;
	const ProtobufCMessage *input; /* the call's, valid until it is answered */
	ProtobufCClosure closure;
	void *closure_data;
	union {
		max_align_t align;
		char bytes[SVC_MESSAGE_MAX];
	} row;
	int outstanding; /* checks not back yet */
	svc_check_call calls[SVC_MAX_CHECKS];
	mesh_client *clients[SVC_MAX_CHECKS]; /* the loop thread's, each check's (borrowed) */
};

/* svc_create_op_cancelled answers op's Create CANCELLED (its caller cancelled it) and frees op;
 * no check of it is out any more. */
static void svc_create_op_cancelled(svc_create_op *op)
{
	mesh_call_on_cancel(op->closure_data, NULL, NULL);
	mesh_log(op->closure_data, "cancelled by its caller while it checked its records");
	mesh_fail(op->closure_data, MESH_CANCELLED,
		  "cancelled by its caller while it checked its records");
	op->closure(NULL, op->closure_data);
	free(op);
}

/* svc_create_cancel is a deferred Create's mesh_call_on_cancel hook: its caller gave up, so the
 * checks still out are cancelled (each dependency is told, if it has not started them) and, once
 * none is out, the Create is answered CANCELLED; a check that cannot be taken back (its closure
 * runs) finishes it instead. */
static void svc_create_cancel(void *arg)
{
	svc_create_op *op = arg;
	for (int i = 0; op->st->checks[i].field != NULL; i++) {
		svc_check_call *k = &op->calls[i];
		if (k->done || op->clients[i] == NULL ||
		    mesh_client_cancel(op->clients[i], &k->rpc) != 0)
			continue;
		k->done = 1;
		op->outstanding--;
	}
	if (op->outstanding == 0)
		svc_create_op_cancelled(op);
}

/* svc_check_done is a check's closure: once every check of the Create is back, the first that
 * failed (in the spec's order) answers it, else its row joins the turn's batch. */
static void svc_check_done(const ProtobufCMessage *reply, void *closure_data)
{
	svc_check_call *call = closure_data;
	svc_create_op *op = call->op;
	svc_state *st = op->st;
	(void)reply;
	call->done = 1;
	if (--op->outstanding > 0)
		return;
	if (mesh_call_cancelled(op->closure_data)) {
		svc_create_op_cancelled(op);
		return;
	}
	mesh_call_on_cancel(op->closure_data, NULL, NULL);
	for (int i = 0; st->checks[i].field != NULL; i++) {
		const svc_check *c = &st->checks[i];
		svc_check_call *k = &op->calls[i];
		if (k->rpc.status == MESH_OK)
			continue;
		/* as svc_check_exists answers */
		mesh_log(op->closure_data, "check failed: %s %" PRId64 ": %s.Get answered %s: %s",
			 c->what, k->id, c->dependency, mesh_status_name(k->rpc.status),
			 k->rpc.message);
		if (k->rpc.status == MESH_NOT_FOUND)
			mesh_fail(op->closure_data, MESH_FAILED_PRECONDITION,
				  "%s %" PRId64 " does not exist", c->what, k->id);
		else
			mesh_fail(op->closure_data, k->rpc.status, "checking %s %" PRId64 ": %s",
				  c->what, k->id, k->rpc.message);
		op->closure(NULL, op->closure_data);
		free(op);
		return;
	}
	if (svc_batch_add(st, op->closure_data, op->input, (ProtobufCMessage *)op->row.bytes,
			  op->closure) != 0)
		svc_insert(st->store, op->closure_data, op->input,
			   (ProtobufCMessage *)op->row.bytes, op->closure);
	free(op);
}

/* svc_checks_async starts the checks of st at once on the serving loop thread's own clients, and
 * defers the call: svc_check_done goes on. Returns 0 if it did, -1 if it cannot (not on a loop
 * thread with clients, out of memory): nothing was started, the caller checks blocking. */
static int svc_checks_async(svc_state *st, const ProtobufCMessage *input,
			    const ProtobufCMessage *row, ProtobufCClosure closure,
			    void *closure_data)
{
	const rt_deps *deps = mesh_call_context(closure_data);
	ProtobufCService *clients[SVC_MAX_CHECKS];
	union {
		max_align_t align;
		char bytes[SVC_MESSAGE_MAX];
	} req;
	svc_create_op *op;
	int n = 0;
	if (deps == NULL)
		return -1;
	for (; st->checks[n].field != NULL; n++) {
		mesh_client *c = rt_deps_client(deps, st->checks[n].dependency);
		if (n == SVC_MAX_CHECKS || c == NULL)
			return -1;
		clients[n] = mesh_client_service(c);
	}
	if ((op = calloc(1, sizeof(*op))) == NULL)
		return -1;
	if (mesh_call_defer(closure_data) != 0) {
		free(op);
		return -1;
	}
	op->st = st;
	op->input = input;
	op->closure = closure;
	op->closure_data = closure_data;
	memcpy(op->row.bytes, row, row->descriptor->sizeof_message);
	op->outstanding = n;
	mesh_call_on_cancel(closure_data, svc_create_cancel, op);
	for (int i = 0; i < n; i++) {
		const svc_check *c = &st->checks[i];
		svc_check_call *k = &op->calls[i];
		const ProtobufCMethodDescriptor *m =
		    protobuf_c_service_descriptor_get_method_by_name(clients[i]->descriptor, "Get");
		ProtobufCMessage *get;
		k->op = op;
		k->done = 1; /* until it is invoked: nothing to cancel */
		k->id = svc_check_id_of(c, input);
		/* as mesh_client_call does on a call's behalf */
		k->rpc.deadline_us = mesh_call_child_deadline(closure_data);
		k->rpc.request_id = mesh_call_request_id(closure_data);
		mesh_call_trace(closure_data, &k->rpc.trace);
		get = svc_get_request(c, req.bytes, k->id);
		if (m == NULL || get == NULL) {
			/* a spec's mistake: this check fails, after the others are back */
			k->rpc.status = MESH_INTERNAL;
			snprintf(k->rpc.message, sizeof(k->rpc.message), "no Get to call");
			if (--op->outstanding == 0) {
				op->outstanding = 1;
				svc_check_done(NULL, k);
				return 0;
			}
			continue;
		}
		/* the closure runs on this thread from a later callback, never within invoke */
		k->done = 0;
		op->clients[i] = rt_deps_client(deps, c->dependency);
		clients[i]->invoke(clients[i], (unsigned)(m - clients[i]->descriptor->methods), get,
				   svc_check_done, &k->rpc);
	}
	return 0;
}

/* svc_create answers a Create: an earlier answer to the same idempotency key, or a new row of
 * the request's fields (borrowed from it), prepared (st->prepare), its records checked
 * (st->checks), then stored. On an event-loop thread the call is deferred: the checks go out at
 * once without blocking the thread, and the row is committed with the other Creates of the
 * loop's turn (svc_batch_add). */
static void svc_create(svc_state *st, ProtobufCService *service,
		       const ProtobufCMessageDescriptor *row_type, const ProtobufCMessage *input,
		       ProtobufCClosure closure, void *closure_data)
{
	union {
		max_align_t align;
		char bytes[SVC_MESSAGE_MAX];
	} row;
	if (svc_replay(st->store, closure_data, input, closure) != 0)
		return;
	row_type->message_init((ProtobufCMessage *)row.bytes);
	for (unsigned i = 0; i < input->descriptor->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &input->descriptor->fields[i];
		const ProtobufCFieldDescriptor *g =
		    protobuf_c_message_descriptor_get_field_by_name(row_type, f->name);
		memcpy(row.bytes + g->offset, (const char *)input + f->offset,
		       pbjson_member_size(f->type));
	}
	if (st->prepare != NULL &&
	    st->prepare(service, input, (ProtobufCMessage *)row.bytes, closure_data) != 0) {
		closure(NULL, closure_data);
		return;
	}
	if (st->checks != NULL && st->checks[0].field != NULL) {
		if (svc_checks_async(st, input, (ProtobufCMessage *)row.bytes, closure,
				     closure_data) == 0)
			return;
		if (svc_checks_blocking(st, input, closure_data) != 0) {
			closure(NULL, closure_data);
			return;
		}
	}
	/* on an event-loop thread, with the other Creates of this turn: one commit for all */
	if (svc_batch_add(st, closure_data, input, (ProtobufCMessage *)row.bytes, closure) == 0)
		return;
	svc_insert(st->store, closure_data, input, (ProtobufCMessage *)row.bytes, closure);
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
	case SVC_CREATE:
		svc_create(st, service, service->descriptor->methods[method_index].output, input,
			   closure, closure_data);
		break;
	default:
		methods[method_index](service, input, closure, closure_data);
		break;
	}
}

int svc_open(const rt_service_env *env, const svc_spec *spec, ProtobufCService **out, char *err,
	     size_t errlen)
{
	const ProtobufCServiceDescriptor *desc = spec->service;
	size_t size = sizeof(ProtobufCService) + desc->n_methods * sizeof(svc_method);
	char *mem = calloc(1, SVC_HEADER + size);
	svc_state *st = (svc_state *)mem;
	ProtobufCService *service = (ProtobufCService *)(mem + SVC_HEADER);
	store_opts opts = spec->store;
	const char *dot;
	if (mem == NULL || (st->plans = calloc(desc->n_methods, sizeof(*st->plans))) == NULL) {
		free(mem);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	/* the service's own methods, or none: every one is then the store's */
	if (spec->methods != NULL)
		memcpy(service, spec->methods, size);
	service->descriptor = desc;
	service->invoke = svc_invoke;
	service->destroy = NULL;
	st->prepare = spec->prepare;
	st->checks = spec->checks;
	pthread_mutex_init(&st->batches_lock, NULL);
	dot = strrchr(opts.row->name, '.');
	snprintf(st->what, sizeof(st->what), "%s", dot != NULL ? dot + 1 : opts.row->name);
	st->what[0] = (char)tolower((unsigned char)st->what[0]);
	opts.url = env->store_url;
	opts.dir = env->data_dir;
	opts.seed = env->seed;
	opts.sync_full = env->sync_full;
	st->deps = env->deps;
	if (svc_plan_methods(st, service, &opts, err, errlen) != 0 ||
	    store_open(&st->store, &opts, err, errlen) != STORE_OK) {
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

void svc_read_batch(ProtobufCService *impl, int on)
{
	store_read_batch(svc_store(impl), on);
}

void svc_close(ProtobufCService *impl)
{
	svc_state *st;
	if (impl == NULL)
		return;
	st = svc_state_of(impl);
	/* the server is gone, every batch answered; the timers were its loops' */
	while (st->batches != NULL) {
		svc_batch *b = st->batches;
		st->batches = b->next;
		free(b->pending);
		free(b->items);
		free(b);
	}
	pthread_mutex_destroy(&st->batches_lock);
	store_close(st->store);
	free(st->plans);
	free(st);
}
