/* dispatch.c: serving one call, whatever carried it: envelope, checks, method, reply, stats. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "envelope.h"
#include "mesh.pb-c.h"
#include "server_internal.h"
#include "trace.h"

#define DISPATCH_NAME_MAX 128
#define DISPATCH_LOG_MAX  1024 /* bytes of a mesh_log line, its newline included */

/* dispatch_vfail records how call ends: status, and the message fmt and ap make. */
static void dispatch_vfail(meshi_server_call *call, mesh_status status, const char *fmt, va_list ap)
{
	call->failed = 1;
	call->status = status;
	vsnprintf(call->message, sizeof(call->message), fmt, ap);
}

void mesh_fail(void *closure_data, mesh_status status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	dispatch_vfail(closure_data, status, fmt, ap);
	va_end(ap);
}

const char *mesh_call_caller(const void *closure_data)
{
	return ((const meshi_server_call *)closure_data)->caller;
}

const char *mesh_call_idempotency_key(const void *closure_data)
{
	const meshi_server_call *call = closure_data;
	return call->has_idempotency_key ? call->idempotency_key : NULL;
}

const char *mesh_call_request_id(const void *closure_data)
{
	const meshi_server_call *call = closure_data;
	return call->has_request_id ? call->request_id : NULL;
}

/* dispatch_vlog is mesh_log, for the server named name (NULL: the program's name), the request
 * id id (NULL: none) and the call (NULL: none), whose trace id and span it names if it has a
 * trace. */
static void dispatch_vlog(const char *name, const char *id, const meshi_server_call *call,
			  const char *fmt, va_list ap)
{
	char line[DISPATCH_LOG_MAX];
	char trace[2 * MESH_TRACE_ID_LEN + 1], span[2 * MESH_SPAN_ID_LEN + 1],
	    parent[2 * MESH_SPAN_ID_LEN + 1];
	int n = call != NULL && call->has_trace
		    ? snprintf(line, sizeof(line) - 1, "%s: [%s] trace=%s span=%s parent=%s ",
			       name != NULL ? name : program_invocation_short_name,
			       id != NULL ? id : "-",
			       mesh_trace_hex(call->trace.trace_id, MESH_TRACE_ID_LEN, trace),
			       mesh_trace_hex(call->span_id, MESH_SPAN_ID_LEN, span),
			       mesh_trace_hex(call->trace.parent_id, MESH_SPAN_ID_LEN, parent))
		    : snprintf(line, sizeof(line) - 1, "%s: [%s] ",
			       name != NULL ? name : program_invocation_short_name,
			       id != NULL ? id : "-");
	size_t len;
	if (n < 0)
		return;
	len = (size_t)n < sizeof(line) - 1 ? (size_t)n : sizeof(line) - 2;
	n = vsnprintf(line + len, sizeof(line) - 1 - len, fmt, ap);
	if (n > 0)
		len += (size_t)n < sizeof(line) - 1 - len ? (size_t)n : sizeof(line) - 2 - len;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			line[i] = '?';
	line[len++] = '\n';
	if (write(STDERR_FILENO, line, len) < 0)
		return; /* nowhere to say so */
}

void mesh_log(const void *closure_data, const char *fmt, ...)
{
	const meshi_server_call *call = closure_data;
	va_list ap;
	va_start(ap, fmt);
	dispatch_vlog(call != NULL ? call->server->opts.name : NULL,
		      call != NULL && call->has_request_id ? call->request_id : NULL, call, fmt,
		      ap);
	va_end(ap);
}

void meshi_server_log(const mesh_server *server, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	dispatch_vlog(server->opts.name, NULL, NULL, fmt, ap);
	va_end(ap);
}

void meshi_ratelog_line(meshi_ratelog *r, const mesh_server *server, const char *fmt, ...)
{
	char line[DISPATCH_LOG_MAX / 2];
	int64_t now = mesh_now_us(), last = atomic_load(&r->last_us);
	uint64_t unlogged;
	va_list ap;
	if ((last != 0 && now - last < 1000000) ||
	    !atomic_compare_exchange_strong(&r->last_us, &last, now)) {
		atomic_fetch_add(&r->unlogged, 1);
		return;
	}
	unlogged = atomic_exchange(&r->unlogged, 0);
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (unlogged > 0)
		meshi_server_log(server, "%s (and %" PRIu64 " more since the last such line)", line,
				 unlogged);
	else
		meshi_server_log(server, "%s", line);
}

int64_t mesh_call_deadline(const void *closure_data)
{
	return ((const meshi_server_call *)closure_data)->deadline_us;
}

mesh_loop *mesh_call_loop(const void *closure_data)
{
	return ((const meshi_server_call *)closure_data)->loop;
}

void *mesh_call_context(const void *closure_data)
{
	return ((const meshi_server_call *)closure_data)->context;
}

int mesh_call_defer(void *closure_data)
{
	meshi_server_call *call = closure_data;
	int rv;
	if (call->deferred && !call->closed)
		return 0; /* already: the method's answer is awaited */
	if (call->closed || call->returned)
		return EINVAL;
	if (call->sink->defer == NULL)
		return ENOTSUP;
	if ((rv = call->sink->defer(call->sink, call)) == 0)
		call->deferred = 1;
	return rv;
}

/* dispatch_deferred_end ends a deferred call whose closure ran after its method returned: it is
 * counted, its request freed, and the transport takes it back. */
static void dispatch_deferred_end(meshi_server_call *call)
{
	call->stats.cancelled = call->cancelled;
	meshi_stats_call_end(call->shard, &call->stats, call->status != MESH_OK);
	protobuf_c_message_free_unpacked(call->input, NULL); /* malloc'd, as the budget does */
	call->input = NULL;
	call->sink->done(call->sink, call);
}

int64_t mesh_call_child_deadline(const void *closure_data)
{
	int64_t deadline = mesh_call_deadline(closure_data), margin;
	if (deadline == 0)
		return 0;
	margin = (deadline - mesh_now_us()) / 10;
	if (margin < MESH_CHILD_MARGIN_MIN_US)
		margin = MESH_CHILD_MARGIN_MIN_US;
	if (margin > MESH_CHILD_MARGIN_MAX_US)
		margin = MESH_CHILD_MARGIN_MAX_US;
	return deadline - margin > 0 ? deadline - margin : 1;
}

int mesh_call_trace(const void *closure_data, mesh_trace *out)
{
	const meshi_server_call *call = closure_data;
	memset(out, 0, sizeof(*out));
	if (!call->has_trace)
		return 0;
	memcpy(out->trace_id, call->trace.trace_id, sizeof(out->trace_id));
	memcpy(out->parent_id, call->span_id, sizeof(out->parent_id));
	out->flags = call->trace.flags;
	return 1;
}

int mesh_call_on_cancel(void *closure_data, void (*fn)(void *arg), void *arg)
{
	meshi_server_call *call = closure_data;
	if (fn != NULL && (!call->deferred || call->closed))
		return EINVAL;
	call->on_cancel = fn;
	call->on_cancel_arg = arg;
	return 0;
}

void meshi_call_cancel(meshi_server_call *call)
{
	void (*fn)(void *arg) = call->on_cancel;
	call->cancelled = 1;
	call->on_cancel = NULL;
	if (fn != NULL && !call->closed)
		fn(call->on_cancel_arg);
}

int mesh_call_cancelled(const void *closure_data)
{
	return ((const meshi_server_call *)closure_data)->cancelled;
}

/* dispatch_closure is the closure of every method: it writes the reply envelope. */
static void dispatch_closure(const ProtobufCMessage *output, void *closure_data)
{
	meshi_server_call *call = closure_data;
	size_t size, payload_len;
	uint8_t *p;
	if (call->closed)
		return; /* a second call of the closure is ignored */
	call->closed = 1;
	if (output != NULL) {
		call->status = MESH_OK;
		call->message[0] = '\0';
	} else if (!call->failed) {
		call->status = MESH_INTERNAL;
		snprintf(call->message, sizeof(call->message), "method failed without a status");
	}
	size = meshi_envelope_reply_size(call->status, call->message, output, &payload_len);
	p = call->sink->reserve(call->sink, size);
	if (p == NULL) {
		meshi_stats_call_replied(&call->stats);
		if (call->deferred && call->returned)
			dispatch_deferred_end(call);
		return;
	}
	meshi_envelope_reply_write(p, call->status, call->message, output, payload_len);
	call->written = 1;
	meshi_stats_call_replied(&call->stats);
	/* the server's own failures, the dependencies it could not reach, and the calls that ran
	 * out of time: an operator's business (the caller's mistakes are the caller's) */
	if (call->status == MESH_INTERNAL || call->status == MESH_UNAVAILABLE ||
	    call->status == MESH_DEADLINE_EXCEEDED)
		mesh_log(call, "%s answered %s: %s",
			 call->method_name != NULL ? call->method_name : "a call",
			 mesh_status_name(call->status), call->message);
	if (call->deferred && call->returned)
		dispatch_deferred_end(call);
}

/* dispatch_fail ends the call with status, before or instead of running the method. */
static void dispatch_fail(meshi_server_call *call, mesh_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void dispatch_fail(meshi_server_call *call, mesh_status status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	dispatch_vfail(call, status, fmt, ap);
	va_end(ap);
	dispatch_closure(NULL, call);
}

/* dispatch_who works out who the caller is into *who, and how (for log lines) into *how;
 * *is_root says it is root on ipc://, the operator, who may call anything. The caller is who the
 * transport proves it is (the CN of its verified certificate, on tls+tcp://; its uid's service,
 * on ipc://); the envelope's caller is only a claim, checked against that. A peer nothing proves
 * (plain tcp://, a transport that tells nothing) is "anonymous", whatever it claims. Only when
 * the transport proves nothing of a local peer (the same user on ipc://, inproc://) is the claim
 * used. Returns -1 when the claim contradicts the proven identity (why is in call's message,
 * not yet answered), else 0. */
static int dispatch_who(meshi_server_call *call, const char **who, const char **how, int *is_root)
{
	int proven = 0;
	*is_root = 0;
	*how = "";
	if (call->peer_name != NULL) {
		snprintf(call->identity, sizeof(call->identity), "%s", call->peer_name);
		proven = 1; /* a certificate's CN: "root" is no operator here */
	} else if (call->peer_uid >= 0 &&
		   meshi_identity_of_uid((uid_t)call->peer_uid, call->identity,
					 sizeof(call->identity)) == 1) {
		*is_root = strcmp(call->identity, "root") == 0;
		proven = 1;
	}
	if (proven) {
		*who = call->identity;
		if (*is_root || call->caller[0] == '\0' ||
		    strcmp(call->caller, call->identity) == 0)
			return 0;
		call->status = MESH_PERMISSION_DENIED;
		snprintf(call->message, sizeof(call->message),
			 "the caller claims to be '%s' but %s '%s'", call->caller,
			 call->peer_name != NULL ? "its certificate names" : "runs as",
			 call->identity);
		return -1;
	}
	if (call->peer_unproven) {
		*who = "anonymous";
		*how = " (unproven: a caller its transport does not identify)";
	} else {
		*who = call->caller[0] != '\0' ? call->caller : "anonymous";
		*how = " (claimed)";
	}
	return 0;
}

/* dispatch_health is Health's implementation: to the operator (root) and the callers the
 * policy lets call Health, the counters of every call finished so far; to anyone else, the
 * service's name (that it is up, and what it serves). */
static void dispatch_health(meshi_server_call *call)
{
	mesh_server *s = call->server;
	Mesh__HealthReply reply = MESH__HEALTH_REPLY__INIT;
	Mesh__WireStats wire = MESH__WIRE_STATS__INIT;
	const char *who, *how;
	int is_root, detail;
	meshi_stats_impl_begin(call->shard, &call->stats);
	detail = dispatch_who(call, &who, &how, &is_root) == 0 &&
		 (is_root || meshi_policy_allows(s->policy, who, "Health"));
	call->status = MESH_OK;
	reply.service = (char *)s->impl->descriptor->name;
	if (!detail) {
		dispatch_closure(&reply.base, call);
	} else {
		mesh_server_counters c;
		mesh_server_counters_read(s, &c);
		wire.connections = c.connections;
		wire.accepted = c.accepted;
		wire.oversize_frames = c.oversize_frames;
		wire.idle_closed = c.idle_closed;
		wire.stalled = c.stalled;
		wire.evicted = c.evicted;
		wire.refused = c.refused;
		wire.accept_pauses = c.accept_pauses;
		wire.reads_paused = c.reads_paused;
		wire.costly_requests = c.costly_requests;
		reply.wire = &wire;
		reply.pid = getpid();
		reply.policy_audit = mesh_policy_audits(s->policy);
		reply.uptime_ms = (call->stats.start_ns / 1000 - s->started_us) / 1000;
		if (meshi_stats_health(&s->stats, &reply) != 0) {
			mesh_fail(call, MESH_RESOURCE_EXHAUSTED,
				  "out of memory for the health reply");
			dispatch_closure(NULL, call);
		} else {
			dispatch_closure(&reply.base, call);
		}
		meshi_stats_health_free(&reply);
	}
	meshi_stats_impl_end(&call->stats);
}

/* dispatch_denied checks the call against the server's policy (none: only Health is open); on a
 * denial it answers PERMISSION_DENIED, logs one line and returns 1. */
static int dispatch_denied(meshi_server_call *call, const char *method)
{
	mesh_server *s = call->server;
	char rule[320];
	const char *who, *how;
	int is_root;
	if (dispatch_who(call, &who, &how, &is_root) != 0) {
		mesh_log(call,
			 "denied: %s.%s by %s claiming '%s' (rule: a claim must match the "
			 "caller's identity)",
			 s->impl->descriptor->name, method, call->identity, call->caller);
		call->failed = 1;
		dispatch_closure(NULL, call);
		return 1;
	}
	if (is_root || meshi_policy_allows(s->policy, who, method))
		return 0; /* the hot path: an allowed call needs no rule text */
	mesh_policy_decide(s->policy, who, method, rule, sizeof(rule)); /* why it is denied */
	if (mesh_policy_audits(s->policy)) {
		call->stats.policy = MESHI_STATS_WOULD_DENY;
		mesh_log(call, "audit: would deny %s.%s by %s%s (rule: %s); ran it",
			 s->impl->descriptor->name, method, who, how, rule);
		return 0;
	}
	call->stats.policy = MESHI_STATS_DENIED;
	dispatch_fail(call, MESH_PERMISSION_DENIED, "%s may not call %s.%s", who,
		      s->impl->descriptor->name, method);
	mesh_log(call, "denied: %s.%s by %s%s (rule: %s)", s->impl->descriptor->name, method, who,
		 how, rule);
	return 1;
}

/* dispatch_budget: the allocator a request is unpacked with. protobuf-c allocates, per field of
 * the wire, a scanned-member record (~32 bytes, in slabs that double) and, per unknown field, a
 * record (24 bytes) and a copy of its bytes, and keeps those unknown fields in the message: a
 * payload of 2-byte fields (known and repeated, or unknown) takes 25 to 30 times its size to
 * unpack. The budget bounds every allocation of one unpack together, unknown fields and all,
 * to DISPATCH_UNPACK_SLACK + DISPATCH_UNPACK_FACTOR times the payload's size; past it the
 * allocation fails and protobuf-c gives up (freeing what it took). Every allocation counts
 * once, frees give nothing back: the bound is on the sum, which is above the peak. */
typedef struct dispatch_budget {
	ProtobufCAllocator base;
	size_t left;
	int exceeded;
} dispatch_budget;

/* 8 times: a packed repeated int64 of one-byte values is 8 bytes in memory per byte of wire;
 * strings and bytes about 1 */
#define DISPATCH_UNPACK_FACTOR 8
#define DISPATCH_UNPACK_SLACK  ((size_t)64 << 10)

static void *dispatch_budget_alloc(void *data, size_t size)
{
	dispatch_budget *b = data;
	if (size > b->left) {
		b->exceeded = 1;
		return NULL;
	}
	b->left -= size;
	return malloc(size);
}

static void dispatch_budget_free(void *data, void *p)
{
	(void)data;
	free(p);
}

static int name_is(const char *s, size_t len, const char *name)
{
	return len == strlen(name) && memcmp(s, name, len) == 0;
}

/* copy_name copies the name of len bytes at s (up to its first NUL) into out, of outlen bytes
 * (cut to fit), NUL-terminated: what snprintf "%.*s" does, without its cost on every call. */
static void copy_name(char *out, size_t outlen, const char *s, size_t len)
{
	size_t n = len > 0 ? strnlen(s, len) : 0; /* s may be NULL when len is 0 */
	if (n >= outlen)
		n = outlen - 1;
	if (n > 0)
		memcpy(out, s, n);
	out[n] = '\0';
}

/* dispatch_trace takes the trace context of env, a W3C trace id of 16 bytes not all zero (else
 * the call has none), and opens the call's own span. */
static void dispatch_trace(meshi_server_call *call, const meshi_envelope_call *env)
{
	call->has_trace = 0;
	if (env->trace_id_len != MESH_TRACE_ID_LEN)
		return;
	memcpy(call->trace.trace_id, env->trace_id, MESH_TRACE_ID_LEN);
	if (!mesh_trace_valid(&call->trace))
		return;
	if (env->parent_id_len == MESH_SPAN_ID_LEN)
		memcpy(call->trace.parent_id, env->parent_id, MESH_SPAN_ID_LEN);
	else
		memset(call->trace.parent_id, 0, MESH_SPAN_ID_LEN);
	call->trace.flags = (uint8_t)env->trace_flags;
	meshi_span_new(&call->span_seed, call->span_id);
	call->has_trace = 1;
}

/* dispatch_run decodes the envelope, checks it and runs the method. */
static void dispatch_run(meshi_server_call *call, const uint8_t *data, size_t len)
{
	mesh_server *s = call->server;
	const ProtobufCServiceDescriptor *desc = s->impl->descriptor;
	const ProtobufCMethodDescriptor *method = NULL;
	ProtobufCMessage *input;
	char method_name[DISPATCH_NAME_MAX];
	meshi_envelope_call env;
	dispatch_budget budget = {.base = {dispatch_budget_alloc, dispatch_budget_free, &budget}};

	if (meshi_envelope_call_read(&env, data, len) != 0) {
		dispatch_fail(call, MESH_INVALID_ARGUMENT, "malformed call envelope");
		return;
	}
	if (name_is(env.service, env.service_len, MESHI_CANCEL_SERVICE) &&
	    name_is(env.method, env.method_len, MESHI_CANCEL_METHOD)) {
		/* the call it names was served before it, in the connection's order (a Cancel
		 * for a call still waiting is found by its transport first): nothing to answer */
		call->uncounted = 1;
		return;
	}
	/* The call counts under its method as soon as that is known: refused, it is an error of
	 * the method. */
	if (name_is(env.service, env.service_len, "mesh.Mesh") &&
	    name_is(env.method, env.method_len, "Health")) {
		call->stats.slot = meshi_stats_health_slot(&s->stats);
	} else if (name_is(env.service, env.service_len, desc->name)) {
		copy_name(method_name, sizeof(method_name), env.method, env.method_len);
		method = protobuf_c_service_descriptor_get_method_by_name(desc, method_name);
		if (method != NULL)
			call->stats.slot = (size_t)(method - desc->methods);
	}
	if (env.request_id_len > 0) {
		if (env.request_id_len > MESH_REQUEST_ID_MAX) {
			dispatch_fail(call, MESH_INVALID_ARGUMENT,
				      "the request id is longer than %d bytes",
				      MESH_REQUEST_ID_MAX);
			return;
		}
		memcpy(call->request_id, env.request_id, env.request_id_len);
		call->request_id[env.request_id_len] = '\0';
		call->has_request_id = 1;
	}
	copy_name(call->caller, sizeof(call->caller), env.caller, env.caller_len);
	if (env.idempotency_key_len > 0) {
		if (env.idempotency_key_len >= sizeof(call->idempotency_key)) {
			dispatch_fail(call, MESH_INVALID_ARGUMENT,
				      "the idempotency key is longer than %zu bytes",
				      sizeof(call->idempotency_key) - 1);
			return;
		}
		if (memchr(env.idempotency_key, '\0', env.idempotency_key_len) != NULL) {
			/* services read it as a C string: "a\0b" would be key "a" */
			dispatch_fail(call, MESH_INVALID_ARGUMENT,
				      "the idempotency key holds a NUL");
			return;
		}
		memcpy(call->idempotency_key, env.idempotency_key, env.idempotency_key_len);
		call->idempotency_key[env.idempotency_key_len] = '\0';
		call->has_idempotency_key = 1;
	}
	dispatch_trace(call, &env);
	{
		/* the budget counts from when the transport read the call (mesh_now_us()'s
		 * clock, as the stats' start); a timeout past the end of that clock (any int64
		 * comes off the wire) is no overflow but the clock's end */
		int64_t from =
		    call->arrived_us != 0 ? call->arrived_us : call->stats.start_ns / 1000;
		call->deadline_us = env.timeout_us <= 0			? 0
				    : env.timeout_us > INT64_MAX - from ? INT64_MAX
									: from + env.timeout_us;
	}
	if (env.timeout_us < 0 ||
	    (call->deadline_us != 0 && call->deadline_us <= call->stats.start_ns / 1000)) {
		dispatch_fail(call, MESH_DEADLINE_EXCEEDED,
			      "%.*s.%.*s: deadline passed before the call started",
			      (int)env.service_len, env.service, (int)env.method_len, env.method);
		return;
	}
	if (call->stats.slot == meshi_stats_health_slot(&s->stats)) {
		call->method_name = "Health";
		dispatch_health(call);
		return;
	}
	if (!name_is(env.service, env.service_len, desc->name)) {
		dispatch_fail(call, MESH_UNIMPLEMENTED, "this instance serves %s, not %.*s",
			      desc->name, (int)env.service_len, env.service);
		return;
	}
	if (method == NULL) {
		dispatch_fail(call, MESH_UNIMPLEMENTED, "%s has no method %s", desc->name,
			      method_name);
		return;
	}
	call->method_name = method->name;
	if (call->cancelled) {
		dispatch_fail(call, MESH_CANCELLED,
			      "%s.%s: cancelled by its caller before it started", desc->name,
			      method_name);
		return;
	}
	if (dispatch_denied(call, method->name))
		return;
	budget.left = DISPATCH_UNPACK_SLACK + DISPATCH_UNPACK_FACTOR * env.payload_len;
	input =
	    protobuf_c_message_unpack(method->input, &budget.base, env.payload_len, env.payload);
	if (input == NULL && budget.exceeded) {
		meshi_count(&s->counters.costly_requests, 1);
		dispatch_fail(call, MESH_INVALID_ARGUMENT,
			      "%s.%s: the request of %zu bytes would take more than %zu to unpack "
			      "(too many fields, unknown ones included)",
			      desc->name, method_name, env.payload_len,
			      DISPATCH_UNPACK_SLACK + DISPATCH_UNPACK_FACTOR * env.payload_len);
		return;
	}
	if (input == NULL) {
		dispatch_fail(call, MESH_INVALID_ARGUMENT, "%s.%s: malformed request payload",
			      desc->name, method_name);
		return;
	}
	meshi_stats_impl_begin(call->shard, &call->stats);
	s->impl->invoke(s->impl, (unsigned)(method - desc->methods), input, dispatch_closure, call);
	meshi_stats_impl_end(&call->stats);
	call->returned = 1;
	if (call->deferred && !call->closed) {
		call->input = input; /* the method answers later, reading it */
		return;
	}
	protobuf_c_message_free_unpacked(input, &budget.base);
	if (!call->closed)
		dispatch_fail(call, MESH_INTERNAL, "%s.%s returned without answering", desc->name,
			      method_name);
}

int meshi_dispatch_call(mesh_server *s, meshi_server_call *call, meshi_dispatch_sink *sink,
			const uint8_t *data, size_t len)
{
	call->server = s;
	call->sink = sink;
	call->closed = 0;
	call->failed = 0;
	call->written = 0;
	call->deferred = 0;
	call->returned = 0;
	call->input = NULL;
	call->status = MESH_OK;
	call->message[0] = '\0';
	call->caller[0] = '\0';
	call->has_idempotency_key = 0;
	call->has_request_id = 0;
	call->method_name = NULL;
	call->identity[0] = '\0';
	call->deadline_us = 0;
	call->has_trace = 0;
	call->uncounted = 0;
	call->on_cancel = NULL;
	call->on_cancel_arg = NULL;
	meshi_stats_call_start(&s->stats, &call->stats);
	dispatch_run(call, data, len);
	if (call->deferred && !call->closed)
		return 1; /* counted when it ends (dispatch_deferred_end) */
	call->stats.cancelled = call->cancelled;
	if (!call->uncounted)
		meshi_stats_call_end(call->shard, &call->stats, call->status != MESH_OK);
	return call->written ? 0 : -1;
}
